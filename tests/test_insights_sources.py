"""Insights from the S3 copy and from a log group, on a real moto server over HTTP."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cafepipe.aws import AwsClients
from cafepipe.cafe.traffic import SCHEMA_KEYS
from cafepipe.cli import main
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.logs.generate import build_options, generate_log

pytestmark = pytest.mark.integration


def assert_matches_truth(data: dict[str, Any], truth: dict[str, Any]) -> None:
    for key in SCHEMA_KEYS:
        assert data[key] == truth[key], key


def simulated_json(tmp_path: Path, lines: int) -> tuple[Path, dict[str, Any]]:
    end = datetime.now(timezone.utc) - timedelta(minutes=5)
    options = build_options(lines=lines, start=end - timedelta(days=2), end=end, seed=11)
    path = tmp_path / "access_log"
    return path, generate_log(options, path)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


def test_s3_object(tmp_path: Path, emulator: EmulatorInfo, capsys: pytest.CaptureFixture) -> None:
    path, truth = simulated_json(tmp_path, 4000)
    s3 = AwsClients("us-east-1", emulator.url).client("s3")
    bucket = f"insights-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket,
        Key="simulated-logs/access_log.json.gz",
        Body=gzip.compress(path.read_bytes()),
    )
    code, out, _ = run_cli(
        [
            "--endpoint-url",
            emulator.url,
            "insights",
            "--format",
            "json",
            "--source",
            f"s3://{bucket}/simulated-logs/access_log.json.gz",
        ],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert_matches_truth(data, truth)
    assert data["meta"]["source"] == f"s3://{bucket}/simulated-logs/access_log.json.gz"

    code, _, err = run_cli(
        ["--endpoint-url", emulator.url, "insights", "--source", f"s3://{bucket}/missing.log"],
        capsys,
    )
    assert code == 1
    assert f"cannot read s3://{bucket}/missing.log" in err


def test_log_group(tmp_path: Path, emulator: EmulatorInfo, capsys: pytest.CaptureFixture) -> None:
    path, truth = simulated_json(tmp_path, 3000)
    logs = AwsClients("us-east-1", emulator.url).client("logs")
    group = f"insights/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="i-0123456789")
    events = []
    for line in path.read_text().splitlines():
        moment = datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00"))
        events.append({"timestamp": int(moment.timestamp() * 1000), "message": line})
    for start in range(0, len(events), 1000):
        logs.put_log_events(
            logGroupName=group, logStreamName="i-0123456789", logEvents=events[start : start + 1000]
        )
    code, out, _ = run_cli(
        [
            "--endpoint-url",
            emulator.url,
            "insights",
            "--format",
            "json",
            "--source",
            f"logs:{group}",
        ],
        capsys,
    )
    assert code == 0
    assert_matches_truth(json.loads(out), truth)

    code, _, err = run_cli(
        ["--endpoint-url", emulator.url, "insights", "--source", "logs:no/such-group"], capsys
    )
    assert code == 1
    assert "cannot read log group no/such-group" in err


def test_cloudwatch_engine_over_http(
    emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The plumbing (start, poll, statistics, pricing) over HTTP, on an empty group; the
    # answers are checked against DuckDB's in test_logs_insights_equality.py.
    logs = AwsClients("us-east-1", emulator.url).client("logs")
    group = f"insights/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    code, out, err = run_cli(
        [
            "--endpoint-url",
            emulator.url,
            "insights",
            "--engine",
            "cloudwatch",
            "--since",
            "1d",
            "--source",
            f"logs:{group}",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    meta = json.loads(out)["meta"]
    assert meta["engine"] == "cloudwatch" and meta["source"] == f"logs:{group}"
    assert meta["price_per_gb_usd"] == 0.005 and meta["cost_usd"] >= 0
    code, _, err = run_cli(
        [
            "--endpoint-url",
            emulator.url,
            "insights",
            "--engine",
            "cloudwatch",
            "--since",
            "1d",
            "--source",
            f"logs:{group}",
        ],
        capsys,
    )
    assert code == 0 and "Logs Insights scanned" in err
