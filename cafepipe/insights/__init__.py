"""Insights: the café owner's answers from the access log.

One catalog (`queries.INSIGHTS`) of SQL + Logs Insights queries; two engines (DuckDB over a
local copy of a file, an S3 object or a log group; Logs Insights on the log group); one
JSON shape (`summary.summarize`, documented by `docs/insights.schema.json`); tables, CSV and an
HTML report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cafepipe.errors import UsageError
from cafepipe.insights.sources import Source, local_copy, parse_source
from cafepipe.insights.summary import summarize

if TYPE_CHECKING:  # boto3 is imported only when a cloud source or engine is used
    from cafepipe.aws import AwsClients

ENGINES = ("duckdb", "cloudwatch", "athena")
DEFAULT_CLOUDWATCH_WINDOW = timedelta(days=14)  # CloudWatch keeps what the agent sent lately
_SINCE_RE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class InsightsRun:
    """The insights JSON (`data`) and where it came from (`meta`)."""

    data: dict[str, Any]
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        self.meta.setdefault("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """`7d`, `24h`, `30m`, `2w` or an ISO date/time → a naive UTC datetime (None for None)."""
    if value is None:
        return None
    now = now or datetime.now(timezone.utc)
    match = _SINCE_RE.match(value.strip())
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now - delta).astimezone(timezone.utc).replace(tzinfo=None)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {value!r} is not a duration or a date",
            "use e.g. 7d, 24h, 30m, 2w or 2026-11-01",
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def run_duckdb(
    source: Source,
    clients: AwsClients | None,
    log_format: str = "auto",
    since: datetime | None = None,
) -> InsightsRun:
    """Every insight of the catalog, computed by DuckDB over the source's lines."""
    # Imported here: DuckDB is only needed when the local engine runs.
    from cafepipe.insights.duckdb_engine import load_log, run_catalog

    with local_copy(source, clients, since) as path:
        loaded = load_log(path, log_format, since)
        try:
            rows = run_catalog(loaded)
        finally:
            loaded.close()
    data = summarize(rows, loaded.invalid_lines)
    meta = {
        "source": source.label,
        "engine": "duckdb",
        "log_format": loaded.log_format,
        "lines": loaded.lines,
        "since": since.isoformat() if since else None,
    }
    return InsightsRun(data, meta)


def run_logs_insights(
    group: str,
    clients: AwsClients,
    since: datetime | None = None,
    now: datetime | None = None,
    poll_interval: float = 1.0,
    timeout: float = 300.0,
) -> InsightsRun:
    """Every insight, computed by CloudWatch Logs Insights on a log group."""
    from cafepipe.cost.prices import LOGS_INSIGHTS_USD_PER_GB
    from cafepipe.insights.cloudwatch_engine import run_cloudwatch

    end = now or datetime.now(timezone.utc).replace(tzinfo=None)
    start = since or end - DEFAULT_CLOUDWATCH_WINDOW
    run = run_cloudwatch(clients, group, start, end, poll_interval=poll_interval, timeout=timeout)
    data = summarize(run.rows, 0)
    meta = {
        "source": f"logs:{group}",
        "engine": "cloudwatch",
        "log_format": "json",
        "since": start.isoformat(),
        "until": end.isoformat(),
        "bytes_scanned": int(run.bytes_scanned),
        "records_scanned": int(run.records_scanned),
        "cost_usd": run.cost_usd,
        "price_per_gb_usd": LOGS_INSIGHTS_USD_PER_GB,
    }
    return InsightsRun(data, meta)


def compute_insights(
    source_value: str | None,
    default_source: Path | None,
    default_group: str,
    clients: AwsClients | None,
    engine: str = "duckdb",
    log_format: str = "auto",
    since: str | None = None,
) -> InsightsRun:
    """Resolve the source and engine (UsageError when they do not fit), then run."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}", "use duckdb, cloudwatch or athena")
    if engine == "athena":
        raise UsageError(
            "--engine athena is not available in this version",
            "use --engine duckdb (local files, the S3 copy, a log group) or --engine cloudwatch",
        )
    since_time = parse_since(since)
    if engine == "cloudwatch":
        source = parse_source(source_value) if source_value else Source("logs", default_group)
        if source.kind != "logs":
            raise UsageError(
                "--engine cloudwatch reads a log group",
                f"pass --source logs:{default_group} (or use --engine duckdb for files)",
            )
        if clients is None:
            raise UsageError("--engine cloudwatch needs AWS access")
        return run_logs_insights(source.location, clients, since_time)
    if source_value:
        source = parse_source(source_value)
    elif default_source is not None:
        source = Source("file", str(default_source))
    else:
        raise UsageError(
            "no log to analyse: this stack has no simulated log yet",
            "pass --source FILE (plain or .gz, JSON or combined), --source s3://bucket/key, "
            f"or --source logs:{default_group}; or run `cafepipe simulate-logs` first",
        )
    return run_duckdb(source, clients, log_format, since_time)
