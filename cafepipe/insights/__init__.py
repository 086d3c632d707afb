"""Insights: the café owner's answers from the access log.

One catalog (`queries.INSIGHTS`) of SQL + Logs Insights queries; two engines (DuckDB over a
local copy of a file, an S3 object or a log group; Logs Insights on the log group); one
JSON shape (`summary.summarize`, documented by `docs/insights.schema.json`); tables, CSV and an
HTML report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cafepipe.errors import UsageError
from cafepipe.insights.queries import INSIGHTS, Insight
from cafepipe.insights.scope import (
    Filters,
    Period,
    compare_mode,
    offset_changes,
    parse_moment,
    parse_period,
    parse_where,
    previous_figures,
)
from cafepipe.insights.sources import Source, local_copy, parse_source
from cafepipe.insights.summary import summarize

if TYPE_CHECKING:  # boto3 is imported only when a cloud source or engine is used
    from cafepipe.aws import AwsClients

ENGINES = ("duckdb", "cloudwatch", "athena")
DEFAULT_CLOUDWATCH_WINDOW = timedelta(days=14)  # CloudWatch keeps what the agent sent lately
# What `--compare previous` runs again over the period before: the one-row figures.
HEADLINE_INSIGHTS: tuple[Insight, ...] = tuple(i for i in INSIGHTS if i.shape == "fields")
# The café-time insights and the part of the café's time each counts requests by.
CAFE_TIME_INSIGHTS = {"cafe_hourly": "hour", "cafe_weekday": "weekday"}


@dataclass
class InsightsRun:
    """The insights JSON (`data`) and where it came from (`meta`)."""

    data: dict[str, Any]
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        self.meta.setdefault("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """`7d`, `24h`, `30m`, `2w` or an ISO date/time (UTC) → naive UTC (None for None).

    `parse_period` reads `--since` and `--until` together, dates in the café's zone.
    """
    return None if value is None else parse_moment(value, "--since", "UTC", now)


def _finish(data: dict[str, Any], zone: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The keys every engine's result gets: the café's zone, country names, the comparison."""
    from cafepipe.cafe.geography import country_name

    data["cafe_timezone"] = zone
    codes = [row[0] for row in data.get("by_country", []) if row and isinstance(row[0], str)]
    data["country_names"] = {code: country_name(code) for code in codes}
    if previous is not None:
        data["previous"] = previous_figures(data, previous)
    return data


def _scope_meta(
    period: Period, previous: Period | None, filters: Filters, zone: str
) -> dict[str, Any]:
    return {
        "since": period.since.isoformat() if period.since else None,
        "until": period.until.isoformat() if period.until else None,
        "compare": "previous" if previous else "none",
        "previous_since": previous.since.isoformat() if previous and previous.since else None,
        "previous_until": previous.until.isoformat() if previous and previous.until else None,
        "where": filters.to_json(),
        "timezone": zone,
    }


def run_duckdb(
    source: Source,
    clients: AwsClients | None,
    log_format: str = "auto",
    since: datetime | None = None,
    *,
    period: Period | None = None,
    filters: Filters | None = None,
    zone: str = "UTC",
    compare: str = "none",
    now: datetime | None = None,
    temp_dir: Path | None = None,
) -> InsightsRun:
    """Every insight of the catalog, computed by DuckDB over the source's lines.

    The log is parsed once; the `logs` view is the period's lines that pass the filters, and
    with `compare="previous"` the headline insights run again over the period before.
    """
    # Imported here: DuckDB is only needed when the local engine runs.
    from cafepipe.insights.duckdb_engine import load_log, run_catalog, scope_logs

    period = period or Period(since)
    filters = filters or Filters()
    before = period.previous(now) if compare == "previous" else None
    earliest = before.since if before is not None else period.since
    previous_rows = None
    lake_read: dict[str, Any] = {}
    with local_copy(
        source, clients, earliest, period.until, scratch_dir=temp_dir, read=lake_read
    ) as path:
        loaded = load_log(path, log_format, temp_dir=temp_dir)
        try:
            where = filters.sql()
            scope_logs(loaded.connection, f"{period.sql()} AND {where}", zone)
            rows = run_catalog(loaded)
            # When the log ends: the report marks a last day that ends early as partial.
            ended = loaded.connection.execute("SELECT max(ts) FROM logs").fetchone()
            last_event = ended[0] if ended else None
            if before is not None:
                scope_logs(loaded.connection, f"{before.sql()} AND {where}", zone)
                previous_rows = run_catalog(loaded, HEADLINE_INSIGHTS)
        finally:
            loaded.close()
    data = summarize(rows, loaded.invalid_lines)
    previous = None
    if previous_rows is not None:
        previous = summarize(previous_rows, loaded.invalid_lines, HEADLINE_INSIGHTS)
    meta = {
        "source": source.label,
        "engine": "duckdb",
        "log_format": loaded.log_format,
        "lines": loaded.lines,
        **_scope_meta(period, before, filters, zone),
    }
    if last_event is not None:
        meta["last_event"] = last_event.isoformat()
    if lake_read:
        meta["lake"] = lake_read  # partitions, objects and bytes read from the S3 lake
    return InsightsRun(_finish(data, zone, previous), meta)


def _cafe_time_queries(
    zone: str, start: datetime, end: datetime, filters: Filters | None = None
) -> tuple[Insight, ...]:
    """The catalog with its café-time Logs Insights queries shifted by the zone's offsets, and
    the `--where` commands in front of each query (`Filters.logs_insights`).

    UsageError when a query would pass StartQuery's length limit (many long `--where` values).
    """
    from cafepipe.deploy.logs_insights import MAX_QUERY_LENGTH
    from cafepipe.insights.cloudwatch_engine import engine_query
    from cafepipe.insights.queries import cafe_time_logs_insights

    epoch = datetime(1970, 1, 1)
    changes = tuple(
        (int((moment - epoch).total_seconds() * 1000), minutes)
        for moment, minutes in offset_changes(zone, start, end)
    )
    # The whole catalog: the engine leaves out, and names in `meta`, what Logs Insights cannot
    # answer (visits need sessions: DuckDB and Athena).
    shifted = tuple(
        replace(
            insight,
            logs_insights=cafe_time_logs_insights(CAFE_TIME_INSIGHTS[insight.id], changes),
        )
        if insight.id in CAFE_TIME_INSIGHTS
        else insight
        for insight in INSIGHTS
    )
    where = filters.logs_insights() if filters else ""
    if not where:
        return shifted
    filtered = tuple(
        replace(insight, logs_insights=f"{where} | {insight.logs_insights}")
        if insight.logs_insights is not None
        else insight
        for insight in shifted
    )
    longest = max(len(engine_query(i)) for i in filtered if i.logs_insights is not None)
    if longest > MAX_QUERY_LENGTH:
        raise UsageError(
            f"--where: with these filters a Logs Insights query is {longest:,} characters, "
            f"over the {MAX_QUERY_LENGTH:,} Logs Insights takes",
            "give fewer or shorter --where values, or use --engine duckdb --source logs:<group>",
        )
    return filtered


def _cloudwatch_window(period: Period, now: datetime | None = None) -> tuple[datetime, datetime]:
    """What `--engine cloudwatch` reads: the period, by default the last 14 days to now."""
    end = period.until or now or datetime.now(timezone.utc).replace(tzinfo=None)
    return period.since or end - DEFAULT_CLOUDWATCH_WINDOW, end


def run_logs_insights(
    group: str,
    clients: AwsClients,
    since: datetime | None = None,
    now: datetime | None = None,
    poll_interval: float = 1.0,
    timeout: float = 300.0,
    *,
    until: datetime | None = None,
    zone: str = "UTC",
    compare: str = "none",
    filters: Filters | None = None,
) -> InsightsRun:
    """Every insight, computed by CloudWatch Logs Insights on a log group.

    With `compare="previous"` the headline queries run again over the period before (and
    are priced in `cost_usd` too). `filters` (`--where`) lead every query, both periods'.
    """
    from cafepipe.cost.prices import LOGS_INSIGHTS_USD_PER_GB
    from cafepipe.insights.cloudwatch_engine import run_cloudwatch

    end = until or now or datetime.now(timezone.utc).replace(tzinfo=None)
    start = since or end - DEFAULT_CLOUDWATCH_WINDOW
    filters = filters or Filters()
    insights = _cafe_time_queries(zone, start, end, filters)
    run = run_cloudwatch(
        clients, group, start, end, insights, poll_interval=poll_interval, timeout=timeout
    )
    data = summarize(run.rows, 0, insights)
    period = Period(start, end)
    before = period.previous() if compare == "previous" else None
    previous = None
    scanned, records, cost = run.bytes_scanned, run.records_scanned, run.cost_usd
    headline_ids = {insight.id for insight in HEADLINE_INSIGHTS}
    headline = tuple(i for i in insights if i.id in headline_ids and i.logs_insights)
    if before is not None and before.since is not None and before.until is not None:
        earlier = run_cloudwatch(
            clients, group, before.since, before.until, headline,
            poll_interval=poll_interval, timeout=timeout,
        )  # fmt: skip
        previous = summarize(earlier.rows, 0, headline)
        scanned, records = scanned + earlier.bytes_scanned, records + earlier.records_scanned
        cost = round(cost + earlier.cost_usd, 6)
    meta = {
        "source": f"logs:{group}",
        "engine": "cloudwatch",
        "log_format": "json",
        **_scope_meta(period, before, filters, zone),
        "bytes_scanned": int(scanned),
        "records_scanned": int(records),
        "cost_usd": cost,
        "price_per_gb_usd": LOGS_INSIGHTS_USD_PER_GB,
        "not_computed": run.not_computed_note,
    }
    return InsightsRun(_finish(data, zone, previous), meta)


@dataclass(frozen=True)
class LakeNames:
    """Where `--engine athena` runs: the Glue database and table, and the Athena workgroup."""

    database: str
    table: str
    workgroup: str

    @classmethod
    def of_stack(cls, stack: str, outputs: Mapping[str, Any]) -> LakeNames:
        """The stack's names: its outputs, else the ones `cafepipe.deploy.lake` gives it."""
        from cafepipe.deploy import lake

        return cls(
            outputs.get("lake_database") or lake.database_name(stack),
            outputs.get("lake_table") or lake.TABLE,
            outputs.get("athena_workgroup") or lake.WORKGROUP(stack),
        )


def run_athena_insights(
    lake: LakeNames,
    clients: AwsClients,
    period: Period,
    filters: Filters,
    *,
    zone: str = "UTC",
    compare: str = "none",
    poll_interval: float = 0.5,
    timeout: float = 600.0,
) -> InsightsRun:
    """Every insight, computed by Athena over the stack's data lake, each query priced."""
    from cafepipe.cost.prices import ATHENA_USD_PER_TB
    from cafepipe.insights.athena_engine import run_athena

    def athena(scope: Period, insights: tuple[Insight, ...]) -> Any:
        return run_athena(
            clients, lake.database, lake.table, lake.workgroup, scope.since, scope.until,
            filters.sql() if filters else None, zone, insights,
            poll_interval=poll_interval, timeout=timeout,
        )  # fmt: skip

    run = athena(period, INSIGHTS)
    data = summarize(run.rows, 0)
    queries = list(run.queries)
    before = period.previous() if compare == "previous" else None
    previous = None
    if before is not None:
        earlier = athena(before, HEADLINE_INSIGHTS)
        previous = summarize(earlier.rows, 0, HEADLINE_INSIGHTS)
        queries += earlier.queries
    meta = {
        "source": f"athena:{lake.database}.{lake.table}",
        "engine": "athena",
        "log_format": "json",
        "workgroup": lake.workgroup,
        **_scope_meta(period, before, filters, zone),
        "bytes_scanned": sum(query.bytes_scanned for query in queries),
        "cost_usd": round(sum(query.cost_usd for query in queries), 8),
        "price_per_tb_usd": ATHENA_USD_PER_TB,
        "queries": [
            {
                "insight": q.insight_id,
                "query_id": q.query_id,
                "bytes_scanned": q.bytes_scanned,
                "cost_usd": q.cost_usd,
            }
            for q in queries
        ],
    }
    return InsightsRun(_finish(data, zone, previous), meta)


def engine_statements(
    engine: str,
    since: str | None = None,
    until: str | None = None,
    where: tuple[str, ...] = (),
    zone: str = "UTC",
    lake: LakeNames | None = None,
) -> list[tuple[Insight, str]]:
    """What `engine` would run, one statement per insight, without running anything.

    duckdb: the catalog's SQL (the period and filters are applied to its `logs` view; the
    visit insights read the `visits` table, `queries.VISITS_SQL`, built once per period);
    cloudwatch: the Logs Insights queries; athena: the Trino statements, bounds and filters
    included.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}", "use duckdb, cloudwatch or athena")
    period = parse_period(since, until, zone)
    filters = parse_where(where)
    if engine == "duckdb":
        return [(insight, insight.sql) for insight in INSIGHTS]
    if engine == "cloudwatch":
        from cafepipe.insights.cloudwatch_engine import engine_query

        start, end = _cloudwatch_window(period)
        queries = _cafe_time_queries(zone, start, end, filters)
        return [(i, engine_query(i)) for i in queries if i.logs_insights is not None]
    from cafepipe.insights.athena_sql import athena_statement

    assert lake is not None
    where_sql = filters.sql() if filters else None
    return [
        (i, athena_statement(i, lake.database, lake.table, period.since, period.until,
                             where_sql, zone))
        for i in INSIGHTS
    ]  # fmt: skip


def check_scope(
    engine: str,
    since: str | None,
    until: str | None,
    compare: str | None,
    where: tuple[str, ...],
    zone: str = "UTC",
) -> tuple[Period, str, Filters]:
    """`--since/--until/--compare/--where` checked (UsageError) before anything runs."""
    period = parse_period(since, until, zone)
    mode = compare_mode(compare, period)
    filters = parse_where(where)
    if filters and engine == "cloudwatch":
        _cafe_time_queries(zone, *_cloudwatch_window(period), filters)  # within the length limit
    return period, mode, filters


def compute_insights(
    source_value: str | None,
    default_source: Path | None,
    default_group: str,
    clients: AwsClients | None,
    engine: str = "duckdb",
    log_format: str = "auto",
    since: str | None = None,
    *,
    until: str | None = None,
    compare: str | None = None,
    where: tuple[str, ...] = (),
    zone: str = "UTC",
    lake: LakeNames | None = None,
    temp_dir: Path | None = None,
) -> InsightsRun:
    """Resolve the source, engine, period and filters (UsageError when they do not fit), then
    run. `zone`: the café's IANA time zone (config `timezone`): café hours, and dates given
    without an offset. `temp_dir`: where the local engine spills (the stack's state dir)."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}", "use duckdb, cloudwatch or athena")
    period, mode, filters = check_scope(engine, since, until, compare, where, zone)
    if engine == "athena":
        if source_value:
            raise UsageError(
                "--engine athena reads the stack's data lake, not --source",
                "leave out --source (or use --engine duckdb --source s3://BUCKET/archive/)",
            )
        if clients is None or lake is None:
            raise UsageError("--engine athena needs AWS access and the stack's data lake")
        return run_athena_insights(lake, clients, period, filters, zone=zone, compare=mode)
    if engine == "cloudwatch":
        source = parse_source(source_value) if source_value else Source("logs", default_group)
        if source.kind != "logs":
            raise UsageError(
                "--engine cloudwatch reads a log group",
                f"pass --source logs:{default_group} (or use --engine duckdb for files)",
            )
        if clients is None:
            raise UsageError("--engine cloudwatch needs AWS access")
        return run_logs_insights(
            source.location, clients, period.since, until=period.until, zone=zone, compare=mode,
            filters=filters,
        )  # fmt: skip
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
    return run_duckdb(
        source, clients, log_format, period=period, filters=filters, zone=zone, compare=mode,
        temp_dir=temp_dir,
    )  # fmt: skip
