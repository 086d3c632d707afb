"""`simulate-logs` on a fleet: the split by visitor, the lake's partitions, and (on the
emulator) the log groups and the lake each holding exactly the generated log, read back by
`insights --source s3://<bucket>/archive/` as the generator's truth."""

from __future__ import annotations

import gzip
import json
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cafepipe.aws import AwsClients
from cafepipe.cafe.traffic import SCHEMA_KEYS
from cafepipe.cli import main
from cafepipe.config import load_config
from cafepipe.deploy import lake
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.errors import AwsError
from cafepipe.logs import fleet, ship, simulate
from cafepipe.logs.generate import build_options, generate_log
from cafepipe.logs.simulate import SimulateOptions

SERVERS = ("i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3")
END = datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)


def cafe_log(tmp_path: Path, lines: int = 6_000, days: float = 3) -> tuple[Path, dict]:
    options = build_options(lines=lines, start=END - timedelta(days=days), end=END, seed=5)
    path = tmp_path / "access_log"
    return path, generate_log(options, path)


def visitor(line: str) -> tuple[str, str]:
    record = json.loads(line)
    return record["remoteIP"], record["userAgent"]


def day_of(line: str) -> str:
    return json.loads(line)["time"][:10]


# --------------------------------------------------------------------------- the split


def test_split_is_by_visitor_covers_every_line_once_and_keeps_order(tmp_path: Path) -> None:
    log, _ = cafe_log(tmp_path)
    original = log.read_text().splitlines()
    split = fleet.split_log(log, SERVERS, tmp_path / "run", whole_log_is_share=False)

    shares = {s.instance_id: s.path.read_text().splitlines() for s in split.shares}
    # Every line exactly once, over all servers together.
    assert Counter(line for lines in shares.values() for line in lines) == Counter(original)
    assert split.events == len(original)
    # Each visitor (address + user agent) on exactly one server.
    owner: dict[tuple[str, str], str] = {}
    for instance, lines in shares.items():
        for line in lines:
            assert owner.setdefault(visitor(line), instance) == instance
    # No server is left out on a log of this size, and each share keeps the log's order.
    position = {line: index for index, line in enumerate(original)}
    for share in split.shares:
        lines = shares[share.instance_id]
        assert lines and share.events == share.lines == len(lines)
        assert [position[line] for line in lines] == sorted(position[line] for line in lines)
        stamps = [ship.parse_timestamp_ms(line) for line in lines]
        assert (share.first_ms, share.last_ms) == (min(stamps), max(stamps))  # type: ignore[type-var]


def test_split_is_deterministic(tmp_path: Path) -> None:
    log, _ = cafe_log(tmp_path, lines=2_000)
    first = fleet.split_log(log, SERVERS, tmp_path / "a", whole_log_is_share=False)
    second = fleet.split_log(log, SERVERS, tmp_path / "b", whole_log_is_share=False)
    for one, two in zip(first.shares, second.shares, strict=True):
        assert one.path.read_bytes() == two.path.read_bytes()
    assert [p.key for p in first.partitions] == [p.key for p in second.partitions]
    for one_p, two_p in zip(first.partitions, second.partitions, strict=True):
        assert one_p.path.read_bytes() == two_p.path.read_bytes()  # no mtime in the gzip
    # The hash is a fixed function of the visitor, not Python's per-process hash().
    assert fleet.server_for(b"203.0.113.7\x00Mozilla/5.0", 3) == 2
    assert fleet.server_for(b"203.0.113.7\x00Mozilla/5.0", 1) == 0


def test_lines_without_an_address_still_land_on_exactly_one_server() -> None:
    assert fleet.visitor_of("not json at all") == b"not json at all"
    assert fleet.visitor_of("[1, 2]") == b"[1, 2]"
    assert fleet.visitor_of('{"remoteIP": "1.2.3.4", "userAgent": "x"}') == b"1.2.3.4\x00x"


def test_lake_partitions_one_per_day_and_server_with_that_servers_lines(tmp_path: Path) -> None:
    log, _ = cafe_log(tmp_path, days=3)
    split = fleet.split_log(log, SERVERS, tmp_path / "run", whole_log_is_share=False)
    shares = {s.instance_id: Counter(s.path.read_text().splitlines()) for s in split.shares}
    expected_keys = sorted(
        {
            lake.partition_key(datetime.fromisoformat(day_of(line)).date(), instance)
            for instance, lines in shares.items()
            for line in lines
        }
    )
    assert [p.key for p in split.partitions] == expected_keys
    assert len({p.day for p in split.partitions}) == 4  # 06:00 three days back → 06:00 today
    together: Counter[str] = Counter()
    for partition in split.partitions:
        assert partition.key.startswith(f"archive/dt={partition.day}/instance=")
        assert partition.key.endswith(f"instance={partition.instance_id}/access.log.gz")
        assert partition.path == tmp_path / "run" / "lake" / partition.key
        lines = gzip.decompress(partition.path.read_bytes()).decode().splitlines()
        assert len(lines) == partition.events
        assert {day_of(line) for line in lines} == {partition.day.isoformat()}
        assert all(shares[partition.instance_id][line] for line in lines)
        together.update(lines)
    assert together == Counter(log.read_text().splitlines())  # the lake holds the log, once


def test_one_server_gets_the_log_itself_and_its_partitions(tmp_path: Path) -> None:
    log, _ = cafe_log(tmp_path, lines=1_000, days=1)
    split = fleet.split_log(log, SERVERS[:1], tmp_path / "run", whole_log_is_share=True)
    (share,) = split.shares
    assert share.path == log and not (tmp_path / "run" / "instances").exists()
    assert share.lines == share.events == 1_000
    joined = b"".join(gzip.decompress(p.path.read_bytes()) for p in split.partitions)
    assert sorted(joined.decode().splitlines()) == sorted(log.read_text().splitlines())


def test_a_new_split_leaves_nothing_of_the_last_one(tmp_path: Path) -> None:
    log, _ = cafe_log(tmp_path, lines=1_000)
    fleet.split_log(log, SERVERS, tmp_path / "run", whole_log_is_share=False)
    again = fleet.split_log(log, SERVERS[:2], tmp_path / "run", whole_log_is_share=False)
    assert sorted(p.name for p in (tmp_path / "run" / "instances").iterdir()) == list(SERVERS[:2])
    on_disk = sorted(str(p.relative_to(tmp_path / "run" / "lake")) for p in
                     (tmp_path / "run" / "lake").rglob("*.gz"))  # fmt: skip
    assert on_disk == [p.key for p in again.partitions]


def test_lake_keys_are_parsed_only_in_the_stacks_layout() -> None:
    assert fleet.parse_lake_key("archive/dt=2026-11-26/instance=i-0abc12345/access.log.gz") == (
        datetime(2026, 11, 26).date(),
        "i-0abc12345",
    )
    for key in (
        "archive/i-0abc12345/access_log-20261126.gz",  # the old, flat archive copy
        "archive/dt=2026-13-45/instance=i-0abc12345/access.log.gz",
        "archive/dt=2026-11-26/instance=i-0abc12345/access.log",
        "other/dt=2026-11-26/instance=i-0abc12345/access.log.gz",
        "archive/x/dt=2026-11-26/instance=i-0abc12345/access.log.gz",
    ):
        assert fleet.parse_lake_key(key) is None, key


# --------------------------------------------------------------------------- the fleet's servers


def autoscaling_stub() -> tuple[Any, Stubber]:
    client = boto3.client(
        "autoscaling", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def group(*instances: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "AutoScalingGroups": [
            {
                "AutoScalingGroupName": "cafe-fleet",
                "MinSize": 2,
                "MaxSize": 4,
                "DesiredCapacity": 2,
                "DefaultCooldown": 300,
                "AvailabilityZones": ["us-east-1a"],
                "HealthCheckType": "ELB",
                "CreatedTime": datetime(2026, 11, 1),
                "Instances": [
                    {
                        "InstanceId": i,
                        "AvailabilityZone": "us-east-1a",
                        "LifecycleState": state,
                        "HealthStatus": health,
                        "ProtectedFromScaleIn": False,
                    }
                    for i, state, health in instances
                ],
            }
        ]
    }


def test_fleet_instances_are_the_healthy_in_service_ones_sorted() -> None:
    client, stub = autoscaling_stub()
    stub.add_response(
        "describe_auto_scaling_groups",
        group(
            ("i-0b", "InService", "Healthy"),
            ("i-0c", "Pending", "Healthy"),
            ("i-0a", "InService", "Healthy"),
            ("i-0d", "InService", "Unhealthy"),
            ("i-0e", "Terminating", "Healthy"),
        ),
        {"AutoScalingGroupNames": ["cafe-fleet"]},
    )
    with stub:
        assert fleet.fleet_instances(client, "cafe-fleet") == ["i-0a", "i-0b"]


def test_a_missing_or_empty_fleet_says_what_to_do() -> None:
    client, stub = autoscaling_stub()
    stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": []})
    stub.add_response("describe_auto_scaling_groups", group(("i-0c", "Pending", "Healthy")))
    stub.add_client_error("describe_auto_scaling_groups", "AccessDenied", "not allowed")
    with stub:
        with pytest.raises(AwsError, match="cafe-fleet does not exist") as missing:
            fleet.fleet_instances(client, "cafe-fleet")
        assert "cafepipe up" in str(missing.value)
        with pytest.raises(AwsError, match=r"no instance in service \(i-0c Pending\)"):
            fleet.fleet_instances(client, "cafe-fleet")
        with pytest.raises(AwsError, match="cannot read the fleet's Auto Scaling group"):
            fleet.fleet_instances(client, "cafe-fleet")


def test_a_fleet_config_on_a_single_stack_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cafepipe.toml"
    path.write_text('profile = "fleet"\n[fleet]\nmin_size = 2\n')
    config = load_config(path, {"state_dir": str(tmp_path / "st")}, environ={})
    with pytest.raises(simulate.CafepipeError, match="applied as one instance"):
        simulate.target_servers({"instance_id": "i-0abc12345"}, AwsClients("us-east-1"), config)


# --------------------------------------------------------------------------- on the emulator


def fleet_stack(url: str, tmp_path: Path, servers: int = 3) -> tuple[Any, dict[str, str], Any]:
    """A bucket, a log group and an Auto Scaling group whose instances moto launches."""
    config = load_config(
        None, {"endpoint_url": url, "state_dir": str(tmp_path / "state")}, environ={}
    )
    clients = AwsClients.for_config(config)
    suffix = uuid.uuid4().hex[:8]
    bucket, log_group, asg = f"fleet-{suffix}", f"fleet-{suffix}/apache/access", f"fleet-{suffix}"
    clients.client("s3").create_bucket(Bucket=bucket)
    clients.client("logs").create_log_group(logGroupName=log_group)
    ec2 = clients.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=f"lt-{suffix}",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t4g.nano"},
    )
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    clients.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=asg,
        LaunchTemplate={"LaunchTemplateName": f"lt-{suffix}"},
        MinSize=servers,
        MaxSize=servers + 2,
        DesiredCapacity=servers,
        VPCZoneIdentifier=",".join(subnets),
    )
    outputs = {"bucket_name": bucket, "access_log_group": log_group, "fleet_asg_name": asg}
    return config, outputs, clients


def lake_lines(s3: Any, bucket: str) -> dict[str, list[str]]:
    """Every object under archive/: a lake object's lines, [] for any other object."""
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="archive/").get("Contents", [])
    found = {}
    for entry in objects:
        body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
        lake_object = fleet.parse_lake_key(entry["Key"]) is not None
        found[entry["Key"]] = gzip.decompress(body).decode().splitlines() if lake_object else []
    return found


def group_messages(logs: Any, log_group: str) -> dict[str, list[str]]:
    """Every stream's messages, from GetLogEvents (forward, every page)."""
    result: dict[str, list[str]] = {}
    for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=log_group):
        for stream in page["logStreams"]:
            name, messages, token = stream["logStreamName"], [], None
            while True:
                kwargs: dict[str, Any] = {"nextToken": token} if token else {}
                answer = logs.get_log_events(
                    logGroupName=log_group, logStreamName=name, startFromHead=True, **kwargs
                )
                messages += [e["message"] for e in answer["events"]]
                if answer["nextForwardToken"] == token or not answer["events"]:
                    break
                token = answer["nextForwardToken"]
            result[name] = messages
    return result


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


@pytest.mark.integration
def test_fleet_simulation_on_the_emulator_streams_lake_and_insights_equal_the_truth(
    tmp_path: Path, emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    config, outputs, clients = fleet_stack(emulator.url, tmp_path)
    logs, s3 = clients.client("logs"), clients.client("s3")
    bucket, log_group = outputs["bucket_name"], outputs["access_log_group"]
    serving = fleet.fleet_instances(clients.client("autoscaling"), outputs["fleet_asg_name"])
    assert len(serving) == 3
    # A server that left the fleet, and a lake partition of an earlier run.
    departed = "i-0dddddddddddddddd"
    logs.create_log_stream(logGroupName=log_group, logStreamName=f"{departed}/simulated-old")
    s3.put_object(
        Bucket=bucket,
        Key=lake.partition_key(END.date() - timedelta(days=30), departed),
        Body=gzip.compress(b'{"time":"2026-10-28T00:00:00Z"}\n'),
    )
    s3.put_object(Bucket=bucket, Key="archive/i-0abc/flat-copy.gz", Body=b"not the lake")

    result = simulate.simulate_logs(
        config,
        outputs,
        clients,
        SimulateOptions(lines=6_000, seed=3, profile="week"),
        simulate.default_generator(),
    )
    generated = Path(result.local_log).read_text().splitlines()
    truth = json.loads(Path(result.truth_file).read_text())

    assert result.verified and result.profile == "fleet"
    assert [r.instance_id for r in result.instances] == serving
    assert result.events_arrived == result.events_expected == 6_000
    # The log groups: one stream per server, together exactly the generated log.
    streams = group_messages(logs, log_group)
    assert sorted(streams) == sorted(r.log_stream for r in result.instances)
    assert Counter(m for ms in streams.values() for m in ms) == Counter(generated)
    for member in result.instances:
        assert member.log_stream == f"{member.instance_id}/simulated-{result.run_id}"
        assert len(streams[member.log_stream]) == member.events_arrived == member.events_expected
        recorded = clients.client("ssm").list_commands(CommandId=member.command_id)["Commands"]
        # (moto adds every instance of the region to a command sent without Targets, so
        # only membership can be checked here; the script is this server's own.)
        assert member.instance_id in recorded[0]["InstanceIds"]
        script = recorded[0]["Parameters"]["commands"][0]
        assert f"s3://{bucket}/{member.key}" in script
        assert f"log_stream={member.log_stream}" in script
        assert f"expected_lines={member.events_expected}" in script
    assert f"{departed}/simulated-old" in result.earlier_streams_removed
    # The lake: exactly this run's partitions, together exactly the generated log, each
    # partition one server's lines of its day (a visitor's lines all on one server).
    in_lake = lake_lines(s3, bucket)
    lake_objects = sorted(k for k in in_lake if fleet.parse_lake_key(k))
    assert lake_objects == result.lake["objects"]
    assert Counter(line for k in lake_objects for line in in_lake[k]) == Counter(generated)
    for key in lake_objects:
        day, instance = fleet.parse_lake_key(key)  # type: ignore[misc]
        assert {day_of(line) for line in in_lake[key]} == {day.isoformat()}
        assert Counter(in_lake[key]) <= Counter(streams[f"{instance}/simulated-{result.run_id}"])
    assert result.lake["earlier_objects_removed"] == [
        lake.partition_key(END.date() - timedelta(days=30), departed)
    ]
    assert "archive/i-0abc/flat-copy.gz" in in_lake  # not of the layout: not touched

    # The same lake read back locally equals the generator's truth.
    code, out, err = run_cli(
        [
            "--endpoint-url",
            emulator.url,
            "--state-dir",
            str(tmp_path / "state"),
            "insights",
            "--format",
            "json",
            "--source",
            f"s3://{bucket}/archive/",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    for key in SCHEMA_KEYS:
        assert data[key] == truth[key], key
    assert data["meta"]["source"] == f"s3://{bucket}/archive/"

    # A re-run on a smaller fleet converges: the departed server's stream and partitions go.
    clients.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=outputs["fleet_asg_name"], MinSize=2, DesiredCapacity=2
    )
    again = simulate.simulate_logs(
        config, outputs, clients, SimulateOptions(lines=3_000, seed=4), simulate.default_generator()
    )
    assert again.verified and len(again.instances) == 2
    streams = group_messages(logs, log_group)
    assert sorted(streams) == sorted(r.log_stream for r in again.instances)
    assert Counter(m for ms in streams.values() for m in ms) == Counter(
        Path(again.local_log).read_text().splitlines()
    )
    in_lake = lake_lines(s3, bucket)
    assert sorted(k for k in in_lake if fleet.parse_lake_key(k)) == again.lake["objects"]


@pytest.mark.integration
def test_insights_over_the_lake_refuses_what_is_no_lake(
    tmp_path: Path, emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    _, outputs, clients = fleet_stack(emulator.url, tmp_path, servers=1)
    bucket = outputs["bucket_name"]
    common = ["--endpoint-url", emulator.url, "--state-dir", str(tmp_path / "state"), "insights"]
    code, _, err = run_cli([*common, "--source", f"s3://{bucket}/archive/"], capsys)
    assert code == 2 and "holds no objects" in err
    clients.client("s3").put_object(Bucket=bucket, Key="archive/readme.txt", Body=b"x")
    code, _, err = run_cli([*common, "--source", f"s3://{bucket}/archive"], capsys)
    assert code == 2 and "holds no lake partitions" in err
    code, _, err = run_cli([*common, "--source", "s3://no-such-bucket-cafepipe/archive/"], capsys)
    assert code == 1 and "cannot read s3://no-such-bucket-cafepipe/archive/" in err
