"""Orphans made by hand are listed and removed (their untagged look-alikes left alone); a
restarted emulator does not trap the stack in a state that describes nothing; `destroy
--forget` sets a state aside and removes what carries the tag. Real moto, real Terraform."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cafepipe.aws import AwsClients
from cafepipe.deploy.emulator import EmulatorInfo, start_emulator, stop_emulator

pytestmark = pytest.mark.integration

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                  "Resource": "*"}]}  # fmt: skip


def _cafepipe(base: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cafepipe", *base, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _network(ec2: Any, stack: str | None) -> dict[str, str]:
    """A VPC with a subnet and a running instance, tagged with `stack` (or not at all)."""

    def spec(kind: str) -> list[dict[str, Any]]:
        tags = [{"Key": "Name", "Value": f"{stack or 'look-alike'}-made-by-hand"}]
        if stack:
            tags.append({"Key": "cafepipe:stack", "Value": stack})
        return [{"ResourceType": kind, "Tags": tags}]

    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16", TagSpecifications=spec("vpc"))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.7.1.0/24", TagSpecifications=spec("subnet")
    )["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=subnet,
        TagSpecifications=spec("instance"),
    )["Instances"][0]["InstanceId"]
    return {"vpc": vpc, "subnet": subnet, "instance": instance}


def _running(ec2: Any, instance: str) -> bool:
    reply = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    return bool(reply["State"]["Name"] == "running")


def test_orphans_made_by_hand_are_listed_and_removed_and_look_alikes_left(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    stack = "byhand"
    clients = AwsClients("us-east-1", emulator.url)
    ec2, s3, logs, iam = (clients.client(s) for s in ("ec2", "s3", "logs", "iam"))
    tag = [{"Key": "cafepipe:stack", "Value": stack}]
    mine, other = _network(ec2, stack), _network(ec2, None)
    for bucket, tags in (("byhand-orphan-logs", tag), ("byhand-look-alike-logs", None)):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        if tags:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
        for key in ("a.log", "b.log", "a.log"):  # two versions of a.log
            s3.put_object(Bucket=bucket, Key=key, Body=b"GET /cafe/menu.php\n")
    logs.create_log_group(logGroupName=f"{stack}/apache/access", tags={"cafepipe:stack": stack})
    logs.create_log_group(logGroupName=f"{stack}/apache/look-alike")
    for role, tags in ((f"cafepipe-{stack}-instance", tag), (f"cafepipe-{stack}-look-alike", None)):
        extra = {"Tags": tags} if tags else {}
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(POLICY), **extra)
        iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps(POLICY))
        iam.create_instance_profile(InstanceProfileName=f"{role}-profile", **extra)
        iam.add_role_to_instance_profile(InstanceProfileName=f"{role}-profile", RoleName=role)

    sns, events, kms = (clients.client(s) for s in ("sns", "events", "kms"))
    topic = sns.create_topic(Name=f"cafepipe-{stack}-alerts", Tags=tag)["TopicArn"]
    other_topic = sns.create_topic(Name=f"cafepipe-{stack}-look-alike")["TopicArn"]
    rule = f"cafepipe-{stack}-weekly-report"
    events.put_rule(Name=rule, ScheduleExpression="rate(7 days)", Tags=tag)
    events.put_targets(Rule=rule, Targets=[{"Id": "report", "Arn": topic}])
    key = kms.create_key(Tags=[{"TagKey": "cafepipe:stack", "TagValue": stack}])["KeyMetadata"]
    other_key = kms.create_key()["KeyMetadata"]["KeyId"]

    base = ["--stack", stack, "--state-dir", str(tmp_path), "--endpoint-url", emulator.url]
    status = _cafepipe(base, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["deployed"] is False
    listed = {(o["kind"], o["id"]) for o in report["orphans"]}
    assert listed == {
        ("instance", mine["instance"]),
        ("subnet", mine["subnet"]),
        ("vpc", mine["vpc"]),
        ("bucket", "byhand-orphan-logs"),
        ("log_group", f"{stack}/apache/access"),
        ("role", f"cafepipe-{stack}-instance"),
        ("instance_profile", f"cafepipe-{stack}-instance-profile"),
        ("topic", topic),
        ("event_rule", rule),
        ("kms_key", key["KeyId"]),
    }
    table = _cafepipe(base, "status")
    assert "10 orphaned resource(s)" in table.stdout and mine["vpc"] in table.stdout

    destroyed = _cafepipe(base, "destroy", "--yes", "--json")
    assert destroyed.returncode == 0, destroyed.stderr
    result = json.loads(destroyed.stdout)
    assert {(o["kind"], o["id"]) for o in result["orphans_deleted"]} == listed
    assert result["leftovers"] == []
    assert mine["vpc"] in destroyed.stderr  # shown before deleting

    vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert mine["vpc"] not in vpcs and other["vpc"] in vpcs
    assert not _running(ec2, mine["instance"]) and _running(ec2, other["instance"])
    assert [b["Name"] for b in s3.list_buckets()["Buckets"] if "byhand" in b["Name"]] == [
        "byhand-look-alike-logs"
    ]
    groups = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=stack)[
        "logGroups"]]  # fmt: skip
    assert groups == [f"{stack}/apache/look-alike"]
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if stack in r["RoleName"]]
    assert roles == [f"cafepipe-{stack}-look-alike"]
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles if stack in p["InstanceProfileName"]] == [
        f"cafepipe-{stack}-look-alike-profile"
    ]
    topics = {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    assert topic not in topics and other_topic in topics
    assert events.list_rules(NamePrefix=rule)["Rules"] == []
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=other_key)["KeyMetadata"]["KeyState"] == "Enabled"
    again = json.loads(_cafepipe(base, "status", "--json").stdout)
    assert again["orphans"] == []


def test_an_emulator_restart_does_not_trap_the_stack(tmp_path: Path) -> None:
    """The second `up` on the old state dir succeeds; `destroy --forget` then works too."""
    root = tmp_path / "emulator"
    info = start_emulator(root)
    try:
        base = ["--stack", "restart", "--state-dir", str(tmp_path / "state"),
                "--endpoint-url", info.url]  # fmt: skip
        # A first `up`, stopped once the network is in the state (its default security
        # group is what Terraform cannot read back from a restarted emulator).
        first = subprocess.Popen(
            [sys.executable, "-m", "cafepipe", *base, "-v", "up", "--yes"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert first.stderr is not None
        seen = []
        for line in first.stderr:
            seen.append(line)
            if "created module.network.aws_default_security_group.default" in line:
                os.killpg(first.pid, signal.SIGINT)
                break
        seen.append(first.communicate(timeout=120)[1])
        assert first.returncode == 130, "".join(seen)
        state = (tmp_path / "state" / "restart" / "terraform" / "terraform.tfstate").read_text()
        assert "aws_default_security_group" in state

        stop_emulator(root)
        info = start_emulator(root, info.port)  # the same endpoint, nothing in it
        started = time.monotonic()
        second = _cafepipe(base, "up", "--yes", "--json")
        assert second.returncode == 0, second.stderr
        assert "starting from an empty state" in second.stderr
        assert time.monotonic() - started < 150  # no minutes of retries on a vanished group
        instance = json.loads(second.stdout)["instance_id"]
        ec2 = AwsClients("us-east-1", info.url).client("ec2")
        assert _running(ec2, instance)
        kept = list((tmp_path / "state" / "restart").glob("forgotten-*.tfstate"))
        assert len(kept) == 1 and "aws_default_security_group" in kept[0].read_text()

        # The way out where nothing is set aside by itself (AWS): forget the state, and
        # remove what carries the stack's tag without Terraform.
        forgot = _cafepipe(base, "destroy", "--forget", "--yes", "--json")
        assert forgot.returncode == 0, forgot.stderr
        report = json.loads(forgot.stdout)
        assert report["destroyed"] == 0 and report["forgotten_state"]
        assert report["leftovers"] == []
        assert ("instance", instance) in {(o["kind"], o["id"]) for o in report["orphans_deleted"]}
        assert not _running(ec2, instance)
        listed = _cafepipe(base, "status", "--json")
        assert json.loads(listed.stdout)["deployed"] is False
        assert json.loads(listed.stdout)["orphans"] == []
    finally:
        stop_emulator(root)
