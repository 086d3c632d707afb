"""The cloud engine: the catalog's Logs Insights queries on the stack's log group.

All queries are started at once (Logs Insights runs up to 30 concurrently), then polled
until each is complete. The poll interval, the timeout and the clock are parameters, so
tests never sleep. Bytes scanned are summed and priced at Logs Insights' price per GB
(`cafepipe.cost.prices`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import botocore.exceptions

from cafepipe.aws import AwsClients, describe_client_error
from cafepipe.cafe import catalog
from cafepipe.cost.prices import GB, LOGS_INSIGHTS_USD_PER_GB
from cafepipe.errors import AwsError
from cafepipe.insights.queries import INSIGHTS, TOP, Insight

DONE_STATES = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")
# Why an insight without a Logs Insights query (visits, the funnel…) is not in this engine's run.
NOT_COMPUTED_WHY = (
    "needs visits (a visitor's requests in time order), which Logs Insights cannot compute: "
    "DuckDB and Athena only (--engine duckdb)"
)


@dataclass
class CloudWatchRun:
    """Rows per insight id, and what the queries cost."""

    rows: dict[str, list[list[Any]]] = field(default_factory=dict)
    bytes_scanned: float = 0.0
    records_scanned: float = 0.0
    query_ids: dict[str, str] = field(default_factory=dict)
    not_computed: list[str] = field(default_factory=list)  # ids: no Logs Insights query

    @property
    def not_computed_note(self) -> dict[str, Any]:
        """What `meta` says of the insights left out, and where they come from."""
        return {"insights": list(self.not_computed), "why": NOT_COMPUTED_WHY}

    @property
    def cost_usd(self) -> float:
        return round(self.bytes_scanned / GB * LOGS_INSIGHTS_USD_PER_GB, 6)


def _epoch_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


# Columns that name things (paths, places, agents, days): kept as text, even when a name looks
# like a number, as the SQL keeps them.
LABEL_COLUMNS = frozenset(
    {"day", "path", "class", "referrer", "source", "medium", "campaign", "device", "browser",
     "item", "city", "region", "country", "bot", "address"}
)  # fmt: skip
# The Logs Insights field behind a catalog column of another name.
FIELD_OF_COLUMN = {"day": "bin(1d)", "path": "request", "address": "remoteIP"}

# How the SQL ranks each list, (column, descending) in order: the dashboard's queries end in
# `limit 10`, which would cut ties arbitrarily, so the engine runs them without that limit and
# ranks and cuts here, ties broken as the SQL breaks them.
RANKING: dict[str, tuple[tuple[int, bool], ...]] = {
    "top_paths": ((1, True), (0, False)),
    "referrers": ((1, True), (0, False)),
    "campaigns": ((3, True), (0, False), (1, False), (2, False)),
    "devices": ((1, True), (0, False)),
    "browsers": ((1, True), (0, False)),
    "top_items_viewed": ((1, True), (0, False)),
    "by_city": ((1, True), (0, False)),
    "by_region": ((1, True), (0, False)),
    "by_country": ((1, True), (0, False)),
    "orders_by_city": ((1, True), (0, False)),
    "visits_by_region": ((1, True), (0, False)),
    "orders_by_region": ((1, True), (0, False)),
    "top_bots": ((1, True), (0, False)),
    "scanner_addresses": ((1, True), (0, False)),
    "scanner_paths": ((1, True), (0, False)),
    "errors": ((2, True), (0, False), (1, False)),
    "slowest_pages": ((2, True), (0, False)),
    "top_pages": ((1, True), (0, False)),
}
_FINAL_LIMIT = re.compile(r"\s*\|\s*limit\s+\d+\s*$")


def engine_query(insight: Insight) -> str:
    """The query the engine runs: the dashboard's, without its final `limit` (ranked here)."""
    if insight.logs_insights is None:
        raise ValueError(f"{insight.id} has no Logs Insights query")
    return _FINAL_LIMIT.sub("", insight.logs_insights)


def result_rows(insight: Insight, results: list[list[dict[str, str]]]) -> list[list[Any]]:
    """GetQueryResults rows → rows in the insight's column order, ranked as the SQL ranks them.

    Columns are matched by name (`FIELD_OF_COLUMN` where the query's field is named
    otherwise, such as `bin(1d)`); a field Logs Insights leaves out (null) is None.
    """
    rows: list[list[Any]] = []
    for result in results:
        by_name = {cell.get("field"): cell.get("value") for cell in result}
        row = []
        for column in insight.columns:
            value = by_name.get(FIELD_OF_COLUMN.get(column, column))
            row.append(value if column in LABEL_COLUMNS else _typed(value))
        rows.append(row)
    rows = _post_process(insight, rows, results)
    ranking = RANKING.get(insight.id)
    return rows if ranking is None else _ranked(rows, ranking)[:TOP]


def _typed(value: str | None) -> Any:
    # Logs Insights returns every value as text; numbers become numbers again (whole numbers
    # exactly: a byte total can pass 2**53).
    if value is None:
        return None
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def _ranked(rows: list[list[Any]], ranking: tuple[tuple[int, bool], ...]) -> list[list[Any]]:
    # Stable sorts from the last key to the first: the SQL's ORDER BY a DESC, b ASC, ….
    ordered = list(rows)
    for column, descending in reversed(ranking):
        ordered.sort(key=lambda row: _sort_key(row[column]), reverse=descending)
    return ordered


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        return (0, "")
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def round_half_up(value: Any, digits: int = 1) -> Any:
    """`round(x, 1)` as DuckDB rounds a double: halves away from zero, on the exact value."""
    if not isinstance(value, (int, float)):
        return value
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return float(rounded)


def _post_process(
    insight: Insight, rows: list[list[Any]], results: list[list[dict[str, str]]]
) -> list[list[Any]]:
    if insight.id == "items_ordered":
        # Logs Insights cannot split a basket into items: count baskets there, items here, of
        # the baskets the site takes (as the SQL counts them).
        quantity: dict[str, int] = {}
        orders: dict[str, int] = {}
        for result in results:
            cells = {cell.get("field"): cell.get("value") for cell in result}
            count = int(float(cells.get("orders") or 0))
            for item, qty in catalog.parse_basket(cells.get("basket") or "") or []:
                quantity[item] = quantity.get(item, 0) + qty * count
                orders[item] = orders.get(item, 0) + count
        ranked = sorted(quantity, key=lambda item: (-quantity[item], item))[:TOP]
        return [[item, quantity[item], orders[item]] for item in ranked]
    if insight.id == "campaigns":
        # A tag the link left out is no field in Logs Insights, and '' in the SQL.
        return [["" if value is None else value for value in row] for row in rows]
    if insight.id == "customer_cities":
        # One row per (city, page, order placed or not) there → one row per city: menu
        # visitors, buyers and orders (of the orders placed; a city with refused orders only
        # keeps its row of zeros, as in the SQL).
        places: dict[str, list[int]] = {}
        for result in results:
            cells = {cell.get("field"): cell.get("value") for cell in result}
            city = cells.get("city") or ""
            if city in ("", "-"):
                continue
            entry = places.setdefault(city, [0, 0, 0])
            people = int(float(cells.get("people") or 0))
            if cells.get("request") == catalog.MENU_PATH:
                entry[0] = people
            elif cells.get("placed") != "0":
                entry[1:] = [people, int(float(cells.get("requests") or 0))]
        by_audience = sorted(places.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        return [[name, *counts] for name, counts in by_audience[:TOP]]
    if insight.id in ("daily", "menu_and_orders_daily"):
        return [[str(row[0])[:10], *row[1:]] for row in sorted(rows, key=lambda r: str(r[0]))]
    if insight.id == "slowest_pages":
        # The SQL rounds to 0.1 ms before it ranks; so does this, the same way.
        return [[path, requests, round_half_up(avg), round_half_up(top)]
                for path, requests, avg, top in rows]  # fmt: skip
    if insight.id in ("by_city", "by_region", "by_country"):
        return [[name, views or 0, orders or 0] for name, views, orders in rows]
    return rows


def run_cloudwatch(
    clients: AwsClients,
    log_group: str,
    start: datetime,
    end: datetime,
    insights: tuple[Insight, ...] = INSIGHTS,
    poll_interval: float = 1.0,
    timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CloudWatchRun:
    """Run every insight's Logs Insights query over `log_group` between `start` and `end`."""
    logs = clients.client("logs")
    run = CloudWatchRun()
    run.not_computed = [insight.id for insight in insights if insight.logs_insights is None]
    insights = tuple(insight for insight in insights if insight.logs_insights is not None)
    try:
        for insight in insights:
            started = logs.start_query(
                logGroupName=log_group,
                startTime=_epoch_seconds(start),
                endTime=_epoch_seconds(end),
                queryString=engine_query(insight),
                limit=10000,
            )
            run.query_ids[insight.id] = started["queryId"]
        deadline = clock() + timeout
        pending = dict(run.query_ids)
        while pending:
            for insight_id, query_id in list(pending.items()):
                answer = logs.get_query_results(queryId=query_id)
                status = answer.get("status", "Unknown")
                if status not in DONE_STATES:
                    continue
                if status != "Complete":
                    raise AwsError(
                        f"Logs Insights query {insight_id!r} ended {status}",
                        "re-run; if it keeps failing, narrow the range with --since",
                    )
                statistics = answer.get("statistics", {})
                run.bytes_scanned += float(statistics.get("bytesScanned", 0))
                run.records_scanned += float(statistics.get("recordsScanned", 0))
                insight = next(i for i in insights if i.id == insight_id)
                run.rows[insight_id] = result_rows(insight, answer.get("results", []))
                del pending[insight_id]
            if pending:
                if clock() >= deadline:
                    for query_id in pending.values():
                        _stop_quietly(logs, query_id)
                    raise AwsError(
                        f"Logs Insights queries still running after {timeout:.0f}s: "
                        + ", ".join(sorted(pending)),
                        "narrow the time range with --since, or try again",
                    )
                sleep(poll_interval)
    except botocore.exceptions.ClientError as exc:
        raise AwsError(
            f"Logs Insights on {log_group} failed: {describe_client_error(exc)}",
            "check the log group exists (cafepipe status) and the region",
        ) from None
    return run


def _stop_quietly(logs: Any, query_id: str) -> None:
    # It may have finished meanwhile; then there is nothing to stop.
    with contextlib.suppress(botocore.exceptions.ClientError):
        logs.stop_query(queryId=query_id)
