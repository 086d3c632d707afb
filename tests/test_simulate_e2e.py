"""End to end on the emulator: `up` → `simulate-logs --lines 50000` → exactly 50,000 events in
the run's stream (the only one in the group) and the file in the bucket → `destroy` → nothing
of the stack is left."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cafepipe.aws import AwsClients
from cafepipe.cli import cli
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.logs import ship

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]

STACK = "simtest"
LINES = 50_000


def run_cli(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_up_simulate_logs_destroy(tmp_path: Path, emulator: EmulatorInfo) -> None:
    base = ["--stack", STACK, "--state-dir", str(tmp_path), "--endpoint-url", emulator.url]
    outputs = run_cli([*base, "up", "--yes", "--json"])
    destroyed = False
    try:
        # The stack's TLS-only bucket policy stays in place: the emulator counts its own
        # requests as TLS (cafepipe.deploy.emulator.evaluate_bucket_policy_conditions).
        result = run_cli([*base, "simulate-logs", "--lines", str(LINES), "--yes", "--json"])
        clients = AwsClients("us-east-1", emulator.url)
        logs = clients.client("logs")
        group, instance = outputs["access_log_group"], outputs["instance_id"]
        assert result["log_stream"] == f"{instance}/simulated-{result['run_id']}"
        assert result["log_group"] == group
        assert result["events_arrived"] == LINES and result["verified"] is True
        assert ship.count_stream_events(logs, group, result["log_stream"]) == LINES
        # The whole group is the new log: what insights and the dashboard read.
        in_group = logs.describe_log_streams(logGroupName=group)["logStreams"]
        assert [s["logStreamName"] for s in in_group] == [result["log_stream"]]

        body = clients.client("s3").get_object(Bucket=outputs["bucket_name"], Key=result["key"])
        uploaded = gzip.decompress(body["Body"].read())
        assert uploaded.count(b"\n") == LINES
        local = Path(result["local_log"])
        assert uploaded == local.read_bytes()
        truth = json.loads(Path(result["truth_file"]).read_text())
        assert truth["requests"] + truth.get("invalid_lines", 0) == LINES

        report = run_cli([*base, "destroy", "--yes", "--json"])
        destroyed = True
        assert report["leftovers"] == []
        assert report["destroyed"] >= 15
        assert_nothing_left(clients, outputs)
        assert run_cli([*base, "status", "--json"])["deployed"] is False
    finally:
        if not destroyed:
            run_cli([*base, "destroy", "--yes"])


def assert_nothing_left(clients: AwsClients, outputs: dict[str, Any]) -> None:
    """Asked of AWS itself, not of cafepipe's own check: every kind of resource is gone."""
    s3 = clients.client("s3")
    assert outputs["bucket_name"] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    logs = clients.client("logs")
    assert logs.describe_log_groups(logGroupNamePrefix=f"{STACK}/apache/")["logGroups"] == []
    iam = clients.client("iam")
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(STACK)]
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    assert not [p for p in profiles if p["InstanceProfileName"].startswith(STACK)]
    dashboards = clients.client("cloudwatch").list_dashboards(
        DashboardNamePrefix=outputs["dashboard_name"]
    )
    assert dashboards["DashboardEntries"] == []
    reservations = clients.client("ec2").describe_instances(InstanceIds=[outputs["instance_id"]])
    states = [i["State"]["Name"] for r in reservations["Reservations"] for i in r["Instances"]]
    assert states == ["terminated"]
