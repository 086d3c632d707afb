"""The catalog's SQL in its Athena (Trino) form, over the lake's raw Glue table.

The catalog is written once, in DuckDB's dialect, restricted to forms that port (see
`cafepipe.insights.queries`). Here `sqlglot` transpiles each statement to Trino and puts the
tables it reads in front of it as CTEs: `lake_lines`, the valid lines of the period with the
same columns and the same validity rules as the DuckDB engine builds from a JSON line
(`duckdb_engine._json_sql`, `_VALID`, `_with_flags`), computed from the Glue table whose columns
are the LogFormat's keys, lower-cased, all strings (`cafepipe.deploy.lake.LAKE_COLUMNS`,
partition `dt`); `agents` (`queries.AGENTS_SQL` over them); `logs`, the lines `--where` keeps,
with `cafe_ts` (the DuckDB engine's `scope_logs`); and, for a statement that reads it, `visits`
(`queries.VISITS_SQL`, a table per scope in the DuckDB engine). Trino inlines a CTE: a statement
that reads `agents` scans the table twice, and Athena bills both scans.

Where the lake differs from a file: the JSON SerDe has already parsed each line (a line that is
not JSON becomes a row of NULLs: invalid, as in DuckDB), and the DuckDB engine's "ten years
from the log's median time" bound needs a second pass over the data (a second scan, paid for);
on Athena a line's time must instead lie within that window of its partition's day, which the
archive writes from the same clock.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlglot
from sqlglot import exp

from cafepipe.cafe.limits import LOGS_MAX_RETENTION
from cafepipe.deploy import lake
from cafepipe.insights.duckdb_engine import (
    _ADDRESS_RE,
    MAX_PROCESS_MICROSECONDS,
    MAX_RESPONSE_BYTES,
    count_sql,
    status_sql,
)
from cafepipe.insights.queries import (
    AGENTS_SQL,
    VISITS_SQL,
    Insight,
    reads_visits,
    scanner_condition_sql,
)
from cafepipe.insights.scope import cafe_time_sql

# The columns of `logs`, in the DuckDB engine's order (its `logs` view; then `cafe_ts`).
LINE_COLUMNS = (
    "ts", "remoteip", "method", "request", "query", "status", "bytes", "referer", "useragent",
    "process", "host", "city", "region", "country", "bad_fields", "is_scanner",
)  # fmt: skip
# The raw table's columns the `logs` CTE reads (all in lake.LAKE_COLUMNS, plus the partition).
RAW_COLUMNS_READ = (
    "time", "remoteip", "method", "request", "query", "status", "bytes", "referer",
    "useragent", "process", "host", "city", "region", "country", "dt",
)  # fmt: skip
# The CTE of the valid lines of the period: a name no catalog entry uses for its own CTE.
LINES = "lake_lines"
_WINDOW_DAYS = LOGS_MAX_RETENTION.days + 1


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _raw_sql(database: str, table: str, since: datetime | None, until: datetime | None) -> str:
    pruning = []
    if since is not None:
        # The file of day D is rotated just after midnight and holds D+1's first minutes too.
        first, _ = lake.partition_range(since.date(), since.date())
        pruning.append(f"dt >= {_quote(first.isoformat())}")
    if until is not None:
        # `until` is exclusive: midnight needs no partition of its own day.
        last = until.date() if until.time() != datetime.min.time() else until.date() - timedelta(1)
        pruning.append(f"dt <= {_quote(last.isoformat())}")
    where = f"\n    WHERE {' AND '.join(pruning)}" if pruning else ""
    size = _to_trino(count_sql('"bytes"', MAX_RESPONSE_BYTES, portable=True))
    took = _to_trino(count_sql('"process"', MAX_PROCESS_MICROSECONDS, portable=True))
    return f"""SELECT *, {size} AS size, {took} AS took
    FROM {_identifier(database)}.{_identifier(table)}{where}"""


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lines_sql(
    database: str, table: str, since: datetime | None = None, until: datetime | None = None
) -> str:
    """Trino SQL of the valid lines of the raw table within since/until (`logs` before --where)."""
    # A timestamp the JSON SerDe leaves as text: ISO 8601 as the LogFormat writes it, in UTC.
    ts = "CAST(try(from_iso8601_timestamp(\"time\")) AT TIME ZONE 'UTC' AS TIMESTAMP)"
    status = _to_trino(status_sql('"status"', portable=True))
    bounds = []
    if since is not None:
        bounds.append(f"ts >= TIMESTAMP {_quote(since.isoformat(sep=' '))}")
    if until is not None:
        bounds.append(f"ts < TIMESTAMP {_quote(until.isoformat(sep=' '))}")
    extra = "".join(f"\n  AND {bound}" for bound in bounds)
    window = f"INTERVAL '{_WINDOW_DAYS}' DAY"
    valid = f"""ts IS NOT NULL AND status BETWEEN 100 AND 599
        AND regexp_like(remoteip, {_quote(_ADDRESS_RE)}) AND request <> '' AND NOT bad_fields
        AND ts BETWEEN day - {window} AND day + {window}"""
    return f"""SELECT {", ".join(LINE_COLUMNS)}
FROM (
  SELECT *, coalesce({valid}, false) AS valid,
         coalesce({scanner_condition_sql()}, false) AS is_scanner
  FROM (
    SELECT {ts} AS ts,
           "remoteip" AS remoteip,
           coalesce("method", '') AS method,
           "request" AS request,
           coalesce("query", '') AS query,
           {status} AS status,
           coalesce(size, 0) AS bytes,
           coalesce("referer", '') AS referer,
           coalesce("useragent", '') AS useragent,
           took AS process,
           "host" AS host, "city" AS city, "region" AS region, "country" AS country,
           coalesce(size, 0) = -1 OR coalesce(took, 0) = -1 AS bad_fields,
           CAST(try(from_iso8601_date(dt)) AS TIMESTAMP) AS day
    FROM ({_raw_sql(database, table, since, until)}) AS raw
  ) AS fields
) AS flagged
WHERE valid{extra}"""


def logs_sql(
    where_sql: str | None = None,
    zone: str = "UTC",
    span: tuple[datetime, datetime] | None = None,
) -> str:
    """Trino SQL of `logs` over `lake_lines`: the lines `where_sql` holds for, with `cafe_ts`.

    `where_sql` (DuckDB dialect, `cafepipe.insights.scope.Filters.sql`) may read `agents`.
    `span` bounds the café-time offsets looked up (default: the retention window to now).
    """
    cafe_ts = "ts"
    if zone != "UTC":
        if span is None:
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            span = (now - LOGS_MAX_RETENTION, now + timedelta(days=1))
        cafe_ts = cafe_time_sql(zone, span[0], span[1])
    where = _to_trino(where_sql) if where_sql else "TRUE"
    return f"SELECT *, {cafe_ts} AS cafe_ts FROM {LINES} WHERE {where}"


def _to_trino(expression: str) -> str:
    """A DuckDB-dialect SQL expression (a condition, a CASE) in Trino."""
    return sqlglot.transpile(expression, read="duckdb", write="trino")[0]


def to_trino(duckdb_sql: str) -> str:
    """One DuckDB-dialect statement of the catalog in Trino's dialect."""
    return sqlglot.transpile(duckdb_sql, read="duckdb", write="trino")[0]


def _cte(name: str, sql: str, dialect: str) -> exp.CTE:
    tree = sqlglot.parse_one(sql, read=dialect)
    return exp.CTE(this=tree, alias=exp.TableAlias(this=exp.to_identifier(name)))


def athena_statement(
    insight: Insight,
    database: str,
    table: str,
    since: datetime | None = None,
    until: datetime | None = None,
    where_sql: str | None = None,
    zone: str = "UTC",
) -> str:
    """The insight's statement as Athena runs it: `logs`, `agents` (and `visits` if read) built
    from the raw table.

    `since`/`until` (naive UTC; until exclusive) prune `dt` partitions and bound `ts` exactly;
    `where_sql` (DuckDB dialect, over `logs` and `agents`) keeps only the lines it holds true
    for; `zone` is the café's time zone of `cafe_ts`. As in the DuckDB engine, `agents` are
    those of every line of the period, whatever the filter.
    """
    statement = sqlglot.parse_one(insight.sql, read="duckdb")
    span = (since, until) if since is not None and until is not None else None
    agents = sqlglot.parse_one(AGENTS_SQL, read="duckdb")
    for source in agents.find_all(exp.Table):
        if source.name == "logs":
            source.set("this", exp.to_identifier(LINES))
    ctes = [
        _cte(LINES, lines_sql(database, table, since, until), "trino"),
        exp.CTE(this=agents, alias=exp.TableAlias(this=exp.to_identifier("agents"))),
        _cte("logs", logs_sql(where_sql, zone, span), "trino"),
    ]
    if reads_visits(insight.sql):
        ctes.append(_cte("visits", VISITS_SQL, "duckdb"))
    existing = statement.args.get("with_")
    if existing is not None:
        taken = {cte.alias for cte in ctes}
        clash = taken & {cte.alias for cte in existing.expressions}
        if clash:  # a catalog entry's own CTE would hide the table it reads
            raise ValueError(f"{insight.id}: CTE name {', '.join(sorted(clash))} is taken")
        existing.set("expressions", [*ctes, *existing.expressions])
    else:
        statement.set("with_", exp.With(expressions=ctes))
    return statement.sql(dialect="trino", pretty=True)


def lake_reads(sql: str) -> int:
    """How many times Athena reads a table to run a Trino statement (`athena_statement`'s).

    Trino inlines a CTE at every reference, so each reference to one costs that CTE's own
    reads again; every other table named (the lake's) is one read, billed by Athena.
    """
    return _reads(sqlglot.parse_one(sql, read="trino"), {})


def _reads(node: exp.Expr, ctes: dict[str, int]) -> int:
    own = 0
    if isinstance(node, exp.Table):  # a qualified name is never a CTE
        own = 1 if node.args.get("db") else ctes.get(node.name.lower(), 1)
    with_ = node.args.get("with_")
    if isinstance(with_, exp.With):
        ctes = dict(ctes)
        for cte in with_.expressions:  # each CTE sees the ones before it, not itself
            ctes[cte.alias.lower()] = _reads(cte.this, ctes)
    return own + sum(_reads(child, ctes) for child in node.iter_expressions() if child is not with_)


def duckdb_form(trino_sql: str) -> str:
    """A Trino statement in DuckDB's dialect: how the emulator and the tests evaluate it."""
    tree = sqlglot.parse_one(trino_sql, read="trino").transform(_at_time_zone)
    return tree.sql(dialect="duckdb")


def _at_time_zone(node: exp.Expression) -> exp.Expression:
    # sqlglot writes `x AT TIME ZONE z` as Trino's at_timezone(x, z) and reads it back as an
    # unknown function; DuckDB has only the operator.
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "at_timezone":
        this, zone = node.expressions
        return exp.AtTimeZone(this=this, zone=zone)
    return node


def serde_row(line: bytes | str, columns: list[str] | tuple[str, ...]) -> list[str | None]:
    """One JSON line as a Glue table of string `columns` reads it (the OpenX JSON SerDe).

    Keys match case-insensitively; any JSON value is read into a string column as its text;
    a line that is not a JSON object is a row of NULLs.
    """
    try:
        document = json.loads(line)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return [None for _ in columns]
    lowered = {str(key).lower(): value for key, value in document.items()}
    return [_as_text(lowered.get(name)) for name in columns]


def lake_row(line: bytes | str, dt: str) -> tuple[str | None, ...]:
    """One JSON line as the lake's Glue table reads it: LAKE_COLUMNS' values, then `dt`."""
    from cafepipe.deploy.lake import LAKE_COLUMNS

    return (*serde_row(line, [name for name, _ in LAKE_COLUMNS]), dt)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def insert_rows(con: Any, table_sql: str, rows: list[list[str | None]], width: int) -> None:
    """Insert text rows into `table_sql` in one statement (executemany is ~25× slower)."""
    if not rows:
        return
    picked = ", ".join(f"r[{index + 1}]" for index in range(width))
    con.execute(f"INSERT INTO {table_sql} SELECT {picked} FROM (SELECT unnest($rows) AS r)",
                {"rows": rows})  # fmt: skip
