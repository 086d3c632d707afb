"""`insights --engine athena` against the emulator: the query flow and the same answers as DuckDB.

A started emulator (moto with cafepipe's extensions, `evaluate_athena_queries` among them), a
few lake objects put in S3 as the archive writes them (`archive/dt=…/instance=…/access.log.gz`),
the Glue database and table and the Athena workgroup created with boto3 — no stack applied.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

from cafepipe.aws import AwsClients
from cafepipe.cli import main
from cafepipe.deploy import lake
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.insights.athena_engine import query_cost_usd, run_athena
from cafepipe.insights.queries import INSIGHTS
from cafepipe.logs.generate import build_options, generate_log

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc)
INSTANCES = ("i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb")
STACK = "lake" + uuid.uuid4().hex[:6]


def put_lake(clients: AwsClients, bucket: str, path: Path) -> dict[str, int]:
    """The log as the fleet's archive: per day and server (by visitor), gzip JSON lines."""
    parts: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for line in path.read_bytes().splitlines():
        document = json.loads(line)
        server = INSTANCES[sum(document["remoteIP"].encode()) % len(INSTANCES)]
        parts[(document["time"][:10], server)].append(line)
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=bucket)
    sizes: dict[str, int] = defaultdict(int)
    for (day, server), lines in sorted(parts.items()):
        body = gzip.compress(b"\n".join(lines) + b"\n")
        key = lake.partition_key(datetime.fromisoformat(day).date(), server)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        sizes[day] += len(body)
    return dict(sizes)


def create_catalog(
    clients: AwsClients, bucket: str, stack: str = STACK, cutoff: int | None = None
) -> None:
    database, workgroup = lake.database_name(stack), lake.WORKGROUP(stack)
    glue = clients.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": lake.TABLE,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": n, "Type": t} for n, t in lake.PARTITION_COLUMNS],
            "Parameters": {
                "projection.enabled": "true",
                "projection.dt.type": "date",
                "projection.dt.format": lake.DATE_FORMAT,
                "storage.location.template": lake.location_template(bucket),
            },
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in lake.LAKE_COLUMNS],
                "Location": f"s3://{bucket}/{lake.ARCHIVE_PREFIX}",
                "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
            },
        },
    )
    configuration: dict[str, Any] = {
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/{lake.RESULTS_PREFIX}"},
        "EnforceWorkGroupConfiguration": True,
    }
    if cutoff:
        configuration["BytesScannedCutoffPerQuery"] = cutoff
    # A cutoff below AWS's minimum (10 MB) needs a small lake only: botocore's check is off.
    athena = boto3.client(
        "athena",
        region_name="us-east-1",
        endpoint_url=clients.endpoint_url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=botocore.config.Config(parameter_validation=False),
    )
    athena.create_work_group(Name=workgroup, Configuration=configuration)


@pytest.fixture(scope="module")
def lake_log(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorInfo
) -> tuple[Path, str, dict[str, int]]:
    folder = tmp_path_factory.mktemp("athena")
    path = folder / "access_log"
    # More than one GetQueryResults page: 1,000 rows a page, so `daily` etc. are small, but the
    # log is large enough for every insight to have an answer.
    generate_log(build_options(lines=6_000, start=START, end=END, seed=5), path)
    clients = AwsClients("us-east-1", emulator.url)
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    sizes = put_lake(clients, bucket, path)
    create_catalog(clients, bucket)
    return path, bucket, sizes


def run_cli(
    emulator: EmulatorInfo, args: list[str], capsys: Any, stack: str = STACK
) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(["--endpoint-url", emulator.url, "--region", "us-east-1", "--stack", stack, *args])
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


def test_athena_answers_equal_duckdb_and_are_priced(
    lake_log: tuple[Path, str, dict[str, int]],
    emulator: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CAFEPIPE_STATE_DIR", str(tmp_path))
    path, bucket, sizes = lake_log
    code, out, err = run_cli(
        emulator, ["insights", "--engine", "athena", "--format", "json"], capsys
    )
    assert code == 0, err
    cloud = json.loads(out)
    code, out, err = run_cli(
        emulator, ["insights", "--source", str(path), "--format", "json"], capsys
    )
    assert code == 0, err
    local = json.loads(out)
    differing = {
        key: {"athena": cloud.get(key), "duckdb": value}
        for key, value in local.items()
        if key != "meta" and cloud.get(key) != value
    }
    assert not differing, json.dumps(differing, indent=1, ensure_ascii=False)[:4000]
    meta = cloud["meta"]
    assert meta["engine"] == "athena" and meta["workgroup"] == lake.WORKGROUP(STACK)
    # Every query read every object once (no bounds: no pruning), and is priced on its own.
    assert len(meta["queries"]) == len(INSIGHTS)
    total = sum(sizes.values())
    assert {q["bytes_scanned"] for q in meta["queries"]} == {total}
    assert meta["bytes_scanned"] == total * len(INSIGHTS)
    assert meta["cost_usd"] == pytest.approx(len(INSIGHTS) * query_cost_usd(total))
    # Athena writes each result as CSV under the workgroup's output location.
    s3 = AwsClients("us-east-1", emulator.url).client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=lake.RESULTS_PREFIX)
    query_id = next(q["query_id"] for q in meta["queries"] if q["insight"] == "top_paths")
    body = s3.get_object(Bucket=bucket, Key=f"{lake.RESULTS_PREFIX}{query_id}.csv")["Body"]
    assert body.read().decode().splitlines()[0] == '"path","requests"'
    assert listed["KeyCount"] >= len(INSIGHTS)


def test_bounds_prune_partitions(
    lake_log: tuple[Path, str, dict[str, int]],
    emulator: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CAFEPIPE_STATE_DIR", str(tmp_path))
    path, _, sizes = lake_log
    window = ["--since", "2026-11-24T00:00Z", "--until", "2026-11-25T00:00Z", "--compare", "none"]
    args = ["insights", "--engine", "athena", "--format", "json", *window]
    code, out, err = run_cli(emulator, args, capsys)
    assert code == 0, err
    cloud = json.loads(out)
    # Only the 24th's partition and the 23rd's (whose file holds the 24th's first minutes)
    # were read, by every query.
    read = sizes["2026-11-23"] + sizes["2026-11-24"]
    assert {q["bytes_scanned"] for q in cloud["meta"]["queries"]} == {read}
    assert read < sum(sizes.values())
    code, out, err = run_cli(
        emulator, ["insights", "--source", str(path), "--format", "json", *window], capsys
    )
    local = json.loads(out)
    assert cloud["requests"] == local["requests"] > 0
    assert cloud["hourly"] == local["hourly"] and cloud["top_paths"] == local["top_paths"]


def test_cutoff_fails_the_run_with_athenas_reason(
    emulator: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A workgroup whose bytes-scanned cutoff is below one partition: FAILED, exit 1."""
    monkeypatch.setenv("CAFEPIPE_STATE_DIR", str(tmp_path))
    small = "cut" + uuid.uuid4().hex[:6]
    clients = AwsClients("us-east-1", emulator.url)
    path = tmp_path / "access_log"
    generate_log(build_options(lines=500, start=START, end=END, seed=2), path)
    bucket = f"cut-{uuid.uuid4().hex[:10]}"
    put_lake(clients, bucket, path)
    create_catalog(clients, bucket, small, cutoff=100)
    code, _, err = run_cli(emulator, ["insights", "--engine", "athena"], capsys, small)
    assert code == 1
    assert "ended FAILED" in err and "bytes scanned limit" in err


def test_results_are_read_page_by_page(
    lake_log: tuple[Path, str, dict[str, int]], emulator: EmulatorInfo
) -> None:
    """Pages of 3 rows (NextToken) give the rows one page of 1,000 gives."""
    clients = AwsClients("us-east-1", emulator.url)
    names = (lake.database_name(STACK), lake.TABLE, lake.WORKGROUP(STACK))
    chosen = tuple(i for i in INSIGHTS if i.id in ("top_paths", "hourly", "daily", "totals"))
    whole = run_athena(clients, *names, insights=chosen, poll_interval=0.05)
    paged = run_athena(clients, *names, insights=chosen, page_size=3, poll_interval=0.05)
    assert paged.rows == whole.rows
    assert len(whole.rows["hourly"]) == 24 and len(whole.rows["top_paths"]) == 10
