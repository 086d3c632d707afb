"""`simulate-logs` orchestration: on the emulator for real, and the AWS path with the
instance-side states (SSM online, command status, Logs Insights count) faked by Stubber."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from cafepipe.aws import AwsClients
from cafepipe.cli import main
from cafepipe.config import load_config
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.errors import CafepipeError, UsageError
from cafepipe.insights.sources import latest_simulated_log
from cafepipe.logs import ship, simulate
from cafepipe.logs.simulate import SimulateOptions

COMMAND_ID = "11111111-2222-3333-4444-555555555555"


def small_generator(path: Path, options: SimulateOptions) -> Mapping[str, Any]:
    """Stands in for the café generator in these tests: N JSON lines ending now, seeded."""
    count = options.lines or 100
    end = int(time.time()) - 5
    with path.open("w") as handle:
        for index in range(count):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end - (count - index) // 10))
            path_ = "/cafe/menu.php" if (index + options.seed) % 3 else "/cafe/processOrder.php"
            handle.write(json.dumps({"time": f"{stamp}.000Z", "request": path_}) + "\n")
    return {"requests": count, "invalid_lines": 0}


def test_options_are_checked_before_anything_happens() -> None:
    assert simulate.validate_options(SimulateOptions(), 180).lines == simulate.DEFAULT_LINES
    with pytest.raises(UsageError, match="not both"):
        simulate.validate_options(SimulateOptions(lines=5, days=1), 180)
    assert simulate.validate_options(SimulateOptions(days=13.5), 180).days == 13.5
    with pytest.raises(UsageError, match=r"at most 13\.5"):
        simulate.validate_options(SimulateOptions(days=14), 180)
    with pytest.raises(UsageError, match=r"at most 2\.5"):
        simulate.validate_options(SimulateOptions(days=3), 3)
    with pytest.raises(UsageError, match="--lines must be between"):
        simulate.validate_options(SimulateOptions(lines=0), 180)
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        simulate.validate_options(SimulateOptions(profile="nope"), 180)


@pytest.mark.parametrize("profile", ["week", "busy-month", "attack"])
def test_the_cafe_generator_writes_a_window_cloudwatch_accepts(
    tmp_path: Path, profile: str
) -> None:
    generate = simulate.default_generator()
    path = tmp_path / "access_log"
    truth = generate(path, SimulateOptions(lines=2_000, seed=5, profile=profile))
    parsed = ship.read_log_events(path)
    assert parsed.lines_read == 2_000 == truth["requests"]
    assert not parsed.rejected and parsed.inherited_timestamps == 0
    now_ms = int(time.time() * 1000)
    oldest, _ = ship.acceptance_window(now_ms, 180)
    # Half a day left for the delivery, even for the 14-day profile.
    assert min(parsed.timestamps) >= oldest + 12 * 3600 * 1000 - 60_000
    assert max(parsed.timestamps) <= now_ms


def test_object_key_depends_only_on_the_options() -> None:
    key = simulate.object_key(SimulateOptions(lines=500, seed=7, profile="week"))
    assert key == "simulated-logs/access_log-seed7-500lines-week.json.gz"
    assert simulate.object_key(SimulateOptions(days=2.5)) == (
        "simulated-logs/access_log-seed1-2.5days-week.json.gz"
    )


def test_gzip_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "a"
    source.write_text("same\n" * 1000)
    # gzip stamps the current time into its header unless told not to: two different clocks.
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    simulate.gzip_deterministic(source, tmp_path / "1.gz")
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    simulate.gzip_deterministic(source, tmp_path / "2.gz")
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def emulated_stack(url: str, tmp_path: Path) -> tuple[Any, dict[str, str], AwsClients]:
    config = load_config(
        None, {"endpoint_url": url, "state_dir": str(tmp_path / "state")}, environ={}
    )
    clients = AwsClients.for_config(config)
    suffix = uuid.uuid4().hex[:8]
    bucket, group = f"sim-{suffix}", f"sim-{suffix}/apache/access"
    clients.client("s3").create_bucket(Bucket=bucket)
    clients.client("logs").create_log_group(logGroupName=group)
    ec2 = clients.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    outputs = {
        "instance_id": instance["InstanceId"],
        "bucket_name": bucket,
        "access_log_group": group,
    }
    return config, outputs, clients


@pytest.mark.integration
def test_emulator_delivers_every_line_and_a_rerun_leaves_exactly_the_new_log(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    config, outputs, clients = emulated_stack(emulator.url, tmp_path)
    options = SimulateOptions(lines=3_000, seed=3)
    logs = clients.client("logs")
    group, instance = outputs["access_log_group"], outputs["instance_id"]
    # What the agent shipped before any simulation (its first config's stream).
    logs.create_log_stream(logGroupName=group, logStreamName=instance)
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=instance,
        logEvents=[{"timestamp": now_ms - 1000 + i, "message": f"real {i}"} for i in range(7)],
    )

    result = simulate.simulate_logs(config, outputs, clients, options, small_generator)

    assert result.emulated and result.verified
    assert result.events_arrived == result.events_expected == 3_000
    assert result.log_stream == f"{instance}/simulated-{result.run_id}"
    assert result.command_status == "Success"
    # Verified: the agent's earlier stream goes, and the group holds exactly the new log.
    assert result.earlier_streams_removed == [instance]
    assert group_streams(logs, group) == {result.log_stream: 3_000}
    local_log = config.stack_dir / "simulated" / "access_log"
    assert result.local_log == str(local_log)
    body = clients.client("s3").get_object(Bucket=outputs["bucket_name"], Key=result.key)
    assert gzip.decompress(body["Body"].read()) == local_log.read_bytes()
    assert (
        json.loads((config.stack_dir / "simulated" / "truth.json").read_text())["requests"] == 3000
    )
    run = json.loads((config.stack_dir / "simulated" / "last-run" / "run.json").read_text())
    assert run["events_arrived"] == 3_000 and run["verified"] is True
    # insights finds the log there: the newest plain file that is not the truth
    assert latest_simulated_log(config.stack_dir) == local_log

    # The command SSM recorded carries the script that swaps this very object.
    ssm_client = clients.client("ssm")
    recorded = ssm_client.list_commands(CommandId=result.command_id)["Commands"][0]
    script = recorded["Parameters"]["commands"][0]
    assert f"s3://{outputs['bucket_name']}/{result.key}" in script
    assert "expected_lines=3000" in script

    # The agent config the command carries sends the access log to the run's stream.
    assert f"log_stream={result.log_stream}" in script
    assert f'"log_stream_name": "{result.log_stream}"' in script

    again = simulate.simulate_logs(
        config, outputs, clients, SimulateOptions(lines=2_000, seed=3), small_generator
    )
    assert again.log_stream != result.log_stream
    assert again.earlier_streams_removed == [result.log_stream]
    assert again.events_arrived == 2_000
    assert group_streams(logs, group) == {again.log_stream: 2_000}  # not 5,000

    kept = simulate.simulate_logs(
        config,
        outputs,
        clients,
        SimulateOptions(lines=500, seed=4),
        small_generator,
        keep_earlier=True,
    )
    assert kept.earlier_streams_kept == [again.log_stream]
    assert group_streams(logs, group) == {again.log_stream: 2_000, kept.log_stream: 500}


def group_streams(logs: Any, group: str) -> dict[str, int]:
    """Every stream of the group and how many events it holds."""
    names = [
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
    ]
    return {name: ship.count_stream_events(logs, group, name) for name in names}


@pytest.mark.integration
def test_emulator_without_the_instance_says_so(tmp_path: Path, emulator: EmulatorInfo) -> None:
    config, outputs, clients = emulated_stack(emulator.url, tmp_path)
    clients.client("ec2").terminate_instances(InstanceIds=[outputs["instance_id"]])
    with pytest.raises(CafepipeError, match="is terminated, not running"):
        simulate.simulate_logs(config, outputs, clients, SimulateOptions(lines=10), small_generator)


class StubbedClients(AwsClients):
    """Real S3 on the emulator; SSM and Logs from the test (their instance-side states)."""

    def __init__(self, url: str, stubbed: dict[str, Any]) -> None:
        super().__init__("us-east-1", url)
        self.stubbed = stubbed

    def client(self, service: str) -> Any:
        return self.stubbed.get(service) or super().client(service)


def fake_client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def aws_stack_inputs(tmp_path: Path, emulator: EmulatorInfo) -> tuple[Any, ...]:
    """An AWS stack (no endpoint): its bucket lives on the emulator, SSM and Logs are stubbed."""
    s3 = AwsClients("us-east-1", emulator.url).client("s3")
    bucket = f"real-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    config = load_config(None, {"state_dir": str(tmp_path / "state")}, environ={})
    instance = "i-0123456789abcdef0"
    outputs = {"instance_id": instance, "bucket_name": bucket, "access_log_group": "apache/access"}
    return s3, config, instance, outputs, fake_client("ssm"), fake_client("logs")


@pytest.mark.integration
def test_aws_path_waits_runs_the_script_and_counts_with_insights(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    s3, config, instance, outputs, ssm_client, logs = aws_stack_inputs(tmp_path, emulator)
    bucket = outputs["bucket_name"]
    sleeps: list[float] = []
    with Stubber(ssm_client) as ssm_stub, Stubber(logs) as logs_stub:
        ssm_stub.add_response(
            "describe_instance_information",
            {"InstanceInformationList": [{"InstanceId": instance, "PingStatus": "Online"}]},
        )
        ssm_stub.add_response(
            "send_command",
            {"Command": {"CommandId": COMMAND_ID}},
            {
                "InstanceIds": [instance],
                "DocumentName": "AWS-RunShellScript",
                "Comment": ANY,
                "TimeoutSeconds": ANY,
                "Parameters": ANY,
            },
        )
        ssm_stub.add_response("get_command_invocation", {"Status": "InProgress"})
        ssm_stub.add_response(
            "get_command_invocation",
            {"Status": "Success", "StandardOutputContent": "summary:\n  agent: running\n"},
        )
        for arrived in (400, 1_000):
            logs_stub.add_response("start_query", {"queryId": f"q{arrived}"})
            logs_stub.add_response("get_query_results", {"status": "Running", "results": []})
            logs_stub.add_response(
                "get_query_results",
                {"status": "Complete", "results": [[{"field": "events", "value": str(arrived)}]]},
            )
        # Only now, verified: the instance's earlier streams are listed and removed.
        logs_stub.add_response(
            "describe_log_streams",
            {
                "logStreams": [
                    {"logStreamName": instance},
                    {"logStreamName": f"{instance}/simulated-20261101T000000Z-abcd"},
                    {"logStreamName": f"{instance}/simulated-run1"},
                    {"logStreamName": f"{instance}-other"},
                ]
            },
            {"logGroupName": "apache/access", "logStreamNamePrefix": instance},
        )
        for name in (instance, f"{instance}/simulated-20261101T000000Z-abcd"):
            logs_stub.add_response(
                "delete_log_stream", {}, {"logGroupName": "apache/access", "logStreamName": name}
            )
        result = simulate.simulate_logs(
            config,
            outputs,
            StubbedClients(emulator.url, {"ssm": ssm_client, "logs": logs}),
            SimulateOptions(lines=1_000),
            small_generator,
            sleep=sleeps.append,
            verify_interval=7,
            run_id="run1",
        )
        ssm_stub.assert_no_pending_responses()
        logs_stub.assert_no_pending_responses()
    assert not result.emulated and result.verified
    assert result.log_stream == f"{instance}/simulated-run1"
    assert result.events_arrived == 1_000
    assert result.earlier_streams_removed == [
        instance,
        f"{instance}/simulated-20261101T000000Z-abcd",
    ]
    assert "agent: running" in result.instance_output
    assert 7 in sleeps  # polled the count again after 400 of 1,000
    assert s3.head_object(Bucket=bucket, Key=result.key)["ContentLength"] > 0


@pytest.mark.integration
def test_aws_path_reports_how_many_arrived_after_the_timeout(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    _, config, instance, outputs, ssm_client, logs = aws_stack_inputs(tmp_path, emulator)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with Stubber(ssm_client) as ssm_stub, Stubber(logs) as logs_stub:
        ssm_stub.add_response(
            "describe_instance_information",
            {"InstanceInformationList": [{"InstanceId": instance, "PingStatus": "Online"}]},
        )
        ssm_stub.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}})
        ssm_stub.add_response("get_command_invocation", {"Status": "Success"})
        for _ in range(3):
            logs_stub.add_response("start_query", {"queryId": "q"})
            logs_stub.add_response(
                "get_query_results",
                {"status": "Complete", "results": [[{"field": "events", "value": "10"}]]},
            )
        with pytest.raises(CafepipeError) as info:
            simulate.simulate_logs(
                config,
                outputs,
                StubbedClients(emulator.url, {"ssm": ssm_client, "logs": logs}),
                SimulateOptions(lines=50),
                small_generator,
                sleep=sleep,
                clock=lambda: now[0],
                verify_interval=10,
                verify_timeout=20,
            )
    message = str(info.value)
    assert "only 10 of 50 events arrived" in message
    assert "amazon-cloudwatch-agent.log" in message
    assert "nothing was removed from apache/access" in message  # no stream was deleted
    run = json.loads((config.stack_dir / "simulated" / "last-run" / "run.json").read_text())
    assert run["verified"] is False and run["events_arrived"] == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lines", "5", "--days", "1"], "not both"),
        (["--days", "14"], "at most 13.5"),
        (["--profile", "nope"], "unknown profile 'nope'"),
    ],
)
def test_cli_refuses_bad_flags_before_any_cloud_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(tmp_path), "simulate-logs", *args, "--yes"])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cafe").exists()  # nothing generated either
