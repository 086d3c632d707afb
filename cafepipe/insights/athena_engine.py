"""The distributed engine: the catalog's SQL on Amazon Athena, over the stack's S3 data lake.

Each insight's Trino form (`cafepipe.insights.athena_sql`) runs in the stack's workgroup, a few
at a time (`concurrency`; Athena queues what is over the account's quota and answers
TooManyRequestsException to a start it cannot take, which is retried when a query finishes).
Running queries are polled with a growing interval up to a bounded total wait; a query that
ends FAILED or CANCELLED stops the run with Athena's reason. Results are read page by page
(the first row of the first page is the header), typed from the result set's metadata. Each
query's DataScannedInBytes is priced at Athena's price per TB, with its 10 MB minimum
(`cafepipe.cost.prices`). The interval, the timeout, the sleep and the clock are parameters, so
tests never sleep.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import botocore.exceptions

from cafepipe.aws import AwsClients, describe_client_error
from cafepipe.cost.prices import ATHENA_MIN_BYTES_PER_QUERY, ATHENA_USD_PER_TB, MB, TB
from cafepipe.errors import AwsError
from cafepipe.insights.athena_sql import athena_statement
from cafepipe.insights.queries import INSIGHTS, Insight

RUNNING_STATES = ("QUEUED", "RUNNING")
MAX_PAGE = 1000  # GetQueryResults' largest page
_THROTTLED = ("TooManyRequestsException", "ThrottlingException")
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_FLOAT_TYPES = frozenset({"double", "float", "real"})


def query_cost_usd(bytes_scanned: int) -> float:
    """What one query costs: its bytes, rounded up to the MB, at least 10 MB, at $/TB."""
    billed = max(math.ceil(bytes_scanned / MB) * MB, ATHENA_MIN_BYTES_PER_QUERY)
    return billed / TB * ATHENA_USD_PER_TB


@dataclass
class AthenaQuery:
    """One query of a run: its id, the bytes it scanned and their price."""

    insight_id: str
    query_id: str
    bytes_scanned: int = 0

    @property
    def cost_usd(self) -> float:
        return round(query_cost_usd(self.bytes_scanned), 8)


@dataclass
class AthenaRun:
    """Rows per insight id, and the queries with what each scanned."""

    rows: dict[str, list[list[Any]]] = field(default_factory=dict)
    queries: list[AthenaQuery] = field(default_factory=list)

    @property
    def bytes_scanned(self) -> int:
        return sum(query.bytes_scanned for query in self.queries)

    @property
    def cost_usd(self) -> float:
        return round(sum(query_cost_usd(query.bytes_scanned) for query in self.queries), 8)


def typed_value(value: str | None, athena_type: str) -> Any:
    """A result cell (always text in GetQueryResults) as the type Athena names for its column."""
    if value is None:
        return None
    kind = athena_type.lower().split("(", 1)[0]
    if kind in _INTEGER_TYPES:
        return int(value)
    if kind in _FLOAT_TYPES:
        return float(value)
    if kind == "decimal":
        return float(Decimal(value))
    if kind == "boolean":
        return value.lower() == "true"
    return value


def result_rows(pages: list[dict[str, Any]], insight: Insight) -> list[list[Any]]:
    """GetQueryResults pages → the rows, typed (the header row, first of all, dropped)."""
    rows: list[list[Any]] = []
    header: list[str] | None = None
    types: list[str] = []
    for page in pages:
        result_set = page.get("ResultSet", {})
        if not types:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            types = [column.get("Type", "varchar") for column in info]
        for row in result_set.get("Rows", []):
            cells = [datum.get("VarCharValue") for datum in row.get("Data", [])]
            if header is None:  # the first row of the first page names the columns
                header = [str(cell) for cell in cells]
                continue
            rows.append([typed_value(cell, kind) for cell, kind in zip(cells, types, strict=True)])
    # By position, as the DuckDB engine reads them: a statement may name a column otherwise
    # (`by_city` selects `name`).
    return rows


def run_athena(
    clients: AwsClients,
    database: str,
    table: str,
    workgroup: str,
    since: datetime | None = None,
    until: datetime | None = None,
    where_sql: str | None = None,
    zone: str = "UTC",
    insights: tuple[Insight, ...] = INSIGHTS,
    concurrency: int = 4,
    poll_interval: float = 0.5,
    max_poll_interval: float = 5.0,
    timeout: float = 600.0,
    page_size: int = MAX_PAGE,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AthenaRun:
    """Run every insight on Athena in `workgroup`, `concurrency` queries at a time."""
    athena = clients.client("athena")
    run = AthenaRun()
    waiting = list(insights)
    running: dict[str, tuple[Insight, AthenaQuery]] = {}  # by query id
    deadline = clock() + timeout
    interval = poll_interval
    try:
        while waiting or running:
            progressed = False
            while waiting and len(running) < concurrency:
                insight = waiting[0]
                query_id = _start(athena, insight, database, table, workgroup,
                                  since, until, where_sql, zone)  # fmt: skip
                if query_id is None:  # throttled: started again after a back-off
                    break
                waiting.pop(0)
                query = AthenaQuery(insight.id, query_id)
                run.queries.append(query)
                running[query_id] = (insight, query)
                progressed = True
            for query_id in list(running):
                execution = athena.get_query_execution(QueryExecutionId=query_id)
                status = execution["QueryExecution"].get("Status", {})
                state = status.get("State", "QUEUED")
                if state in RUNNING_STATES:
                    continue
                insight, query = running.pop(query_id)
                statistics = execution["QueryExecution"].get("Statistics", {})
                query.bytes_scanned = int(statistics.get("DataScannedInBytes", 0))
                if state != "SUCCEEDED":
                    _stop_all(athena, running)
                    reason = status.get("StateChangeReason") or "no reason given"
                    raise AwsError(
                        f"Athena query {insight.id!r} ({query_id}) ended {state}: {reason}",
                        "see it with `cafepipe insights --engine athena --show-sql`; if the "
                        "workgroup's bytes-scanned cutoff stopped it, narrow --since/--until",
                    )
                run.rows[insight.id] = result_rows(_pages(athena, query_id, page_size), insight)
                progressed = True
            if not (waiting or running):
                break
            if clock() >= deadline:
                _stop_all(athena, running)
                names = sorted(insight.id for insight, _ in running.values())
                raise AwsError(
                    f"Athena queries not done after {timeout:.0f}s: "
                    + ", ".join(names or [i.id for i in waiting]),
                    "narrow the period with --since/--until, or try again",
                )
            # When a query finished or started, look again at once (start the next, poll the new
            # one); while nothing changes, back off.
            if progressed:
                interval = poll_interval
                continue
            sleep(interval)
            interval = min(interval * 2, max_poll_interval)
    except botocore.exceptions.ClientError as exc:
        _stop_all(athena, running)
        raise AwsError(
            f"Athena in workgroup {workgroup} failed: {describe_client_error(exc)}",
            "check the stack has its data lake (cafepipe status: lake_database, "
            "athena_workgroup) and the region",
        ) from None
    return run


def _start(
    athena: Any,
    insight: Insight,
    database: str,
    table: str,
    workgroup: str,
    since: datetime | None,
    until: datetime | None,
    where_sql: str | None,
    zone: str,
) -> str | None:
    """Start one query; None when Athena refuses it for now (too many running)."""
    statement = athena_statement(insight, database, table, since, until, where_sql, zone)
    try:
        started = athena.start_query_execution(
            QueryString=statement,
            QueryExecutionContext={"Database": database},
            WorkGroup=workgroup,
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _THROTTLED:
            return None
        raise
    return str(started["QueryExecutionId"])


def _pages(athena: Any, query_id: str, page_size: int = MAX_PAGE) -> list[dict[str, Any]]:
    pages = []
    token: str | None = None
    while True:
        arguments: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": page_size}
        if token:
            arguments["NextToken"] = token
        page = athena.get_query_results(**arguments)
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages


def _stop_all(athena: Any, running: dict[str, tuple[Insight, AthenaQuery]]) -> None:
    # Nobody reads their answers any more; Athena would bill them to the end.
    for query_id in running:
        with contextlib.suppress(botocore.exceptions.ClientError):
            athena.stop_query_execution(QueryExecutionId=query_id)
