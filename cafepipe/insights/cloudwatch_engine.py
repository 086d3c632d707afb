"""The cloud engine: the catalog's Logs Insights queries on the stack's log group.

All queries are started at once (Logs Insights runs up to 30 concurrently), then polled
until each is complete. The poll interval, the timeout and the clock are parameters, so
tests never sleep. Bytes scanned are summed and priced at Logs Insights' price per GB
(`cafepipe.cost.prices`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import botocore.exceptions

from cafepipe.aws import AwsClients, describe_client_error
from cafepipe.cafe import catalog
from cafepipe.cost.prices import GB, LOGS_INSIGHTS_USD_PER_GB
from cafepipe.errors import AwsError
from cafepipe.insights.queries import INSIGHTS, Insight

DONE_STATES = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")


@dataclass
class CloudWatchRun:
    """Rows per insight id, and what the queries cost."""

    rows: dict[str, list[list[Any]]] = field(default_factory=dict)
    bytes_scanned: float = 0.0
    records_scanned: float = 0.0
    query_ids: dict[str, str] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        return round(self.bytes_scanned / GB * LOGS_INSIGHTS_USD_PER_GB, 6)


def _epoch_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def result_rows(insight: Insight, results: list[list[dict[str, str]]]) -> list[list[Any]]:
    """GetQueryResults rows → rows in the insight's column order.

    Columns are matched by name; a column Logs Insights names after its expression
    (`bin(1d)`) is taken by position.
    """
    rows: list[list[Any]] = []
    for result in results:
        cells = [cell for cell in result if not cell.get("field", "").startswith("@ptr")]
        by_name = {cell.get("field"): cell.get("value") for cell in cells}
        row = []
        for position, column in enumerate(insight.columns):
            if column in by_name:
                row.append(_typed(by_name[column]))
            elif position < len(cells):
                row.append(_typed(cells[position].get("value")))
            else:
                row.append(None)
        rows.append(row)
    return _post_process(insight, rows, results)


def _typed(value: str | None) -> Any:
    # Logs Insights returns every value as text; numbers become numbers again.
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def _post_process(
    insight: Insight, rows: list[list[Any]], results: list[list[dict[str, str]]]
) -> list[list[Any]]:
    if insight.id == "items_ordered":
        # Logs Insights cannot split a basket into items: count baskets there, items here.
        quantity: dict[str, int] = {}
        orders: dict[str, int] = {}
        for result in results:
            cells = {cell.get("field"): cell.get("value") for cell in result}
            count = int(float(cells.get("orders") or 0))
            for item, qty in catalog.parse_order_query("items=" + (cells.get("basket") or "")):
                quantity[item] = quantity.get(item, 0) + qty * count
                orders[item] = orders.get(item, 0) + count
        ranked = sorted(quantity, key=lambda item: (-quantity[item], item))[:10]
        return [[item, quantity[item], orders[item]] for item in ranked]
    if insight.id == "devices" and results:
        # One row of sums (iPads, mobiles, all) → one row per device family.
        sums = {cell.get("field"): int(float(cell.get("value") or 0)) for cell in results[0]}
        tablet = sums.get("Tablet", 0)
        phone = max(sums.get("Phone", 0) - tablet, 0)
        pairs = [
            ("Tablet", tablet),
            ("Phone", phone),
            ("Computer", max(sums.get("All", 0) - tablet - phone, 0)),
        ]
        families = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))
        return [[name, count] for name, count in families if count]
    if insight.id == "customer_cities":
        # One row per (city, page) there → one row per city: menu visitors, buyers, orders.
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
            else:
                entry[1:] = [people, int(float(cells.get("requests") or 0))]
        by_audience = sorted(places.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        return [[name, *counts] for name, counts in by_audience[:10]]
    if insight.id in ("daily", "menu_and_orders_daily"):
        return [[str(row[0])[:10], *row[1:]] for row in sorted(rows, key=lambda r: str(r[0]))]
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
    try:
        for insight in insights:
            started = logs.start_query(
                logGroupName=log_group,
                startTime=_epoch_seconds(start),
                endTime=_epoch_seconds(end),
                queryString=insight.logs_insights,
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
        _fill_place_orders(run.rows)
    except botocore.exceptions.ClientError as exc:
        raise AwsError(
            f"Logs Insights on {log_group} failed: {describe_client_error(exc)}",
            "check the log group exists (cafepipe status) and the region",
        ) from None
    return run


def _fill_place_orders(rows: dict[str, list[list[Any]]]) -> None:
    # The menu-views-by-place queries count menu views only; orders per place come from the
    # orders-by-place queries (their top 10), 0 where a place is not among them.
    for views, orders in (("by_city", "orders_by_city"), ("by_region", "orders_by_region"),
                          ("by_country", None)):  # fmt: skip
        counted = {row[0]: row[1] for row in rows.get(orders or "", [])}
        for row in rows.get(views, []):
            row[2] = counted.get(row[0], 0)


def _stop_quietly(logs: Any, query_id: str) -> None:
    # It may have finished meanwhile; then there is nothing to stop.
    with contextlib.suppress(botocore.exceptions.ClientError):
        logs.stop_query(queryId=query_id)
