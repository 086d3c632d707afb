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


# --------------------------------------------------------------------------- the lake


def test_lake_sources_are_prefixes() -> None:
    from cafepipe.errors import UsageError
    from cafepipe.insights.sources import Source, parse_source

    assert parse_source("s3://b/archive/") == Source("lake", "b/archive/")
    assert parse_source("s3://b/archive") == Source("lake", "b/archive/")  # the lake's prefix
    assert parse_source("s3://b/archive/dt=2026-11-26/") == Source(
        "lake", "b/archive/dt=2026-11-26/"
    )
    assert parse_source("s3://b/") == Source("lake", "b/")
    assert parse_source("s3://b/archive.gz") == Source("s3", "b/archive.gz")
    assert parse_source("s3://b/archive/").label == "s3://b/archive/"
    with pytest.raises(UsageError, match="not an S3 object or prefix"):
        parse_source("s3://b")


def test_partitions_outside_the_period_are_pruned() -> None:
    from cafepipe.insights.sources import in_period, lake_partition

    day = lake_partition("archive/dt=2026-11-20/instance=i-0abc12345/access.log.gz")
    assert day is not None and day[1] == "i-0abc12345"
    assert lake_partition("archive/dt=2026-02-30/instance=i-0abc12345/access.log.gz") is None
    assert lake_partition("archive/i-0abc12345/access_log-20261120.gz") is None
    nov20 = day[0]
    assert in_period(nov20, None, None)
    assert not in_period(nov20, None, datetime(2026, 11, 20))  # until is exclusive
    assert in_period(nov20, None, datetime(2026, 11, 20, 0, 1))
    assert in_period(nov20, datetime(2026, 11, 21, 12), None)  # a day of margin: rotation
    assert not in_period(nov20, datetime(2026, 11, 22), None)


def test_a_joined_multi_member_gzip_is_read_whole(tmp_path: Path) -> None:
    from cafepipe.insights.duckdb_engine import load_log, run_catalog
    from cafepipe.insights.summary import summarize

    path, truth = simulated_json(tmp_path, 3000)
    lines = path.read_bytes().splitlines(keepends=True)
    joined = tmp_path / "joined.log.gz"
    # Three members, as three lake objects joined end to end.
    joined.write_bytes(b"".join(gzip.compress(b"".join(lines[i::3])) for i in range(3)))
    loaded = load_log(joined)
    try:
        data = summarize(run_catalog(loaded), loaded.invalid_lines)
    finally:
        loaded.close()
    assert_matches_truth(data, truth)


def test_lake_read_prunes_before_downloading_and_counts(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    from cafepipe.insights.sources import Source, local_copy

    clients = AwsClients("us-east-1", emulator.url)
    s3 = clients.client("s3")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    bodies = {}
    for day in ("2026-11-20", "2026-11-21", "2026-11-24"):
        for server in ("i-0aaaaaaaa", "i-0bbbbbbbb"):
            key = f"archive/dt={day}/instance={server}/access.log.gz"
            bodies[key] = gzip.compress(f'{{"time":"{day}T10:00:00Z","n":"{server}"}}\n'.encode())
            s3.put_object(Bucket=bucket, Key=key, Body=bodies[key])
    s3.put_object(Bucket=bucket, Key="archive/i-0aaaaaaaa/old.gz", Body=b"x")
    read: dict[str, Any] = {}
    since, until = datetime(2026, 11, 22, 12), datetime(2026, 11, 25)
    with local_copy(
        Source("lake", f"{bucket}/archive/"),
        clients,
        since,
        until,
        scratch_dir=tmp_path / "state",
        read=read,
    ) as path:
        assert path.parent.parent == tmp_path / "state"  # downloaded under the state dir
        text = gzip.decompress(path.read_bytes()).decode().splitlines()
    kept = sorted(k for k in bodies if "2026-11-21" in k or "2026-11-24" in k)
    assert text == [gzip.decompress(bodies[k]).decode().rstrip("\n") for k in kept]
    assert read["partitions"] == 2 and read["objects"] == 4
    assert read["bytes"] == sum(len(bodies[k]) for k in kept)
    assert read["objects_pruned"] == 2 and read["objects_other"] == 1
    assert not any((tmp_path / "state").iterdir())  # the download is gone afterwards
