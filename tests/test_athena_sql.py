"""The catalog's Athena (Trino) form: valid Trino, portable forms, and the same answers.

Every test iterates over `queries.INSIGHTS` as it is when the tests run, so an insight added
to the catalog is checked without touching this file. Two Trino checkers, as neither is
enough alone: `trino-sql-validator` (function names and argument counts of Trino's documented
catalog; it accepts `x[2:]`) and Trino's own ANTLR grammar (`trino-query-parser`, which does not
know functions). A third check reads the types sqlglot infers for the DuckDB SQL, for the traps
both validators let through: `len` of a list and `contains` of a string (Trino's `length` and
`contains` take a string and an array), and indexing a string.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
import trino_sql_validator
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from trino_query_parser import TrinoSyntaxError, parse_statement

from cafepipe.deploy.lake import LAKE_COLUMNS, PARTITION_KEY
from cafepipe.insights.athena_sql import (
    RAW_COLUMNS_READ,
    athena_statement,
    duckdb_form,
    insert_rows,
    lake_row,
    lines_sql,
)
from cafepipe.insights.duckdb_engine import LoadedLog, load_log, run_insight, scope_logs
from cafepipe.insights.queries import AGENTS_SQL, INSIGHTS, VISITS_SQL, Insight
from cafepipe.insights.scope import parse_where
from cafepipe.logs.generate import build_options, generate_log

START = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 27, 18, 0, tzinfo=timezone.utc)
SINCE = datetime(2026, 11, 25, 12, 0)
UNTIL = datetime(2026, 11, 27, 0, 0)
DATABASE, TABLE = "cafepipe_cafe", "access_log"
BY_ID = pytest.mark.parametrize("insight", INSIGHTS, ids=[i.id for i in INSIGHTS])

# Lines both readers must refuse (each one invalid line to the DuckDB engine, no row in `logs`).
HOSTILE = [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"time":"2026-11-25T10:00:00.000Z","remoteIP":"10.0.0.1","request":"/cafe/","status":"2000"}',
    b'{"time":"2026-11-25T10:00:00.000Z","remoteIP":"10.0.0.1","request":"/cafe/","status":"200",'
    b'"bytes":"1e3"}',
    b'{"time":"2026-11-25T10:00:00.000Z","remoteIP":"10.0.0.1","request":"/cafe/","status":"200",'
    b'"process":"-5"}',
    b'{"time":"2026-11-25T10:00:00.000Z","remoteIP":"not-an-ip","request":"/cafe/","status":"200"}',
    b'{"time":"2026-11-25T10:00:00.000Z","remoteIP":"10.0.0.1","request":"","status":"200"}',
    b'{"time":"yesterday","remoteIP":"10.0.0.1","request":"/cafe/","status":"200"}',
]


def where_sql(*conditions: str) -> str:
    return parse_where(conditions).sql()


def statements(insight: Insight) -> list[str]:
    """The Athena forms a run can send: unbounded; bounded, filtered, in a café's zone."""
    where = where_sql("city=Seattle", "device=Phone", "campaign=autumn-menu")
    return [
        athena_statement(insight, DATABASE, TABLE),
        athena_statement(insight, DATABASE, TABLE, SINCE, UNTIL, where, zone="Europe/Paris"),
    ]


@BY_ID
def test_athena_form_passes_the_trino_validator(insight: Insight) -> None:
    for statement in statements(insight):
        result = trino_sql_validator.validate(statement)
        assert result.valid, f"{insight.id}: {result.error}"
        # Unknown functions and types are only warnings to the validator; here they fail.
        assert not result.warnings, f"{insight.id}: {[str(w) for w in result.warnings]}"


@BY_ID
def test_athena_form_parses_with_trinos_grammar(insight: Insight) -> None:
    for statement in statements(insight):
        try:
            parse_statement(statement)
        except TrinoSyntaxError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{insight.id}: {exc}")


def test_the_validators_catch_the_known_traps() -> None:
    """The checks above can fail: each trap found in planning is refused by one of them."""
    group_by_all = trino_sql_validator.validate("SELECT a, count(*) FROM t GROUP BY ALL")
    assert not group_by_all.valid
    full_match = trino_sql_validator.validate("SELECT regexp_full_match(a, 'x') FROM t")
    assert full_match.unknown_functions == ["regexp_full_match"]
    with pytest.raises(TrinoSyntaxError):
        parse_statement("SELECT query[2:] FROM t")
    assert portability_problems("SELECT len(string_split(query, '&')) AS n FROM logs")
    assert portability_problems("SELECT contains(query, 'items=') AS c FROM logs")
    assert portability_problems("SELECT query[1] AS c FROM logs")
    assert portability_problems("SELECT regexp_extract(query, 'a(b)', 1) AS c FROM logs")
    assert not portability_problems("SELECT length(query) AS n FROM logs")


_LOGS_TYPES = {
    "ts": "TIMESTAMP", "remoteip": "VARCHAR", "method": "VARCHAR", "request": "VARCHAR",
    "query": "VARCHAR", "status": "INT", "bytes": "BIGINT", "referer": "VARCHAR",
    "useragent": "VARCHAR", "process": "BIGINT", "host": "VARCHAR", "city": "VARCHAR",
    "region": "VARCHAR", "country": "VARCHAR", "bad_fields": "BOOLEAN", "is_scanner": "BOOLEAN",
    "cafe_ts": "TIMESTAMP",
}  # fmt: skip
_SCHEMA = {
    "logs": _LOGS_TYPES,
    "agents": {"useragent": "VARCHAR", "is_bot": "BOOLEAN", "device": "VARCHAR",
               "browser": "VARCHAR", "bot": "VARCHAR"},
    "visits": {"remoteip": "VARCHAR", "useragent": "VARCHAR", "visit": "BIGINT",
               "pages": "BIGINT", "duration_ms": "BIGINT", "entry_page": "VARCHAR",
               "exit_page": "VARCHAR", "saw_menu": "BOOLEAN", "saw_item": "BOOLEAN",
               "ordered": "BOOLEAN", "device": "VARCHAR", "source": "VARCHAR",
               "campaign": "VARCHAR"},
}  # fmt: skip


def portability_problems(duckdb_sql: str) -> list[str]:
    """What in a DuckDB statement sqlglot would carry into Trino with another meaning."""
    tree = qualify(sqlglot.parse_one(duckdb_sql, read="duckdb"), schema=_SCHEMA, dialect="duckdb")
    tree = annotate_types(tree, schema=_SCHEMA, dialect="duckdb")
    problems = []
    for node in tree.find_all(exp.Length):
        if not node.this.is_type(*exp.DataType.TEXT_TYPES):
            problems.append(f"length of a non-string ({node.sql('duckdb')}): use array_length")
    for node in tree.find_all(exp.Contains):
        if node.this.is_type(*exp.DataType.TEXT_TYPES):
            problems.append(f"contains on a string ({node.sql('duckdb')}): use strpos")
    for node in tree.find_all(exp.Bracket):
        if node.this.is_type(*exp.DataType.TEXT_TYPES):
            problems.append(f"indexing a string ({node.sql('duckdb')}): use substr")
    for node in tree.find_all(exp.RegexpExtract):
        # Trino gives NULL where DuckDB gives '' (no match): only a coalesced one is the same.
        if not isinstance(node.parent, exp.Coalesce):
            problems.append(f"bare regexp_extract ({node.sql('duckdb')}): use extract_sql")
    return problems


@BY_ID
def test_catalog_sql_uses_portable_forms(insight: Insight) -> None:
    assert portability_problems(insight.sql) == []


def test_agents_sql_uses_portable_forms() -> None:
    schema_logs = f"SELECT * FROM ({AGENTS_SQL}) AS agents_check"
    assert portability_problems(schema_logs) == []


def test_visits_sql_uses_portable_forms() -> None:
    assert portability_problems(f"SELECT * FROM ({VISITS_SQL}) AS visits_check") == []


def test_logs_reads_only_the_lake_columns() -> None:
    assert set(RAW_COLUMNS_READ) <= {name for name, _ in LAKE_COLUMNS} | {PARTITION_KEY}
    sql = lines_sql(DATABASE, TABLE)
    read = {column.name for column in sqlglot.parse_one(sql, read="trino").find_all(exp.Column)}
    lake = {name for name, _ in LAKE_COLUMNS} | {PARTITION_KEY}
    # Every column the innermost SELECT names is a lake column or one it defines itself.
    derived = {"size", "took", "day", "valid", *_LOGS_TYPES}
    assert read <= lake | derived, read - lake - derived


def bounds(statement: str) -> set[tuple[str, str, str]]:
    """(column, operator, literal) of every comparison of `dt` or `ts` with a constant."""
    found = set()
    for node in sqlglot.parse_one(statement, read="trino").find_all(exp.GTE, exp.LTE, exp.LT):
        column, value = node.this, node.expression
        if isinstance(column, exp.Column) and column.name in ("dt", "ts"):
            literal = value.find(exp.Literal)
            if literal is not None and not value.find(exp.Column):
                found.add((column.name, node.key, literal.this))
    return found


def test_bounds_prune_partitions_and_cut_exactly() -> None:
    statement = athena_statement(INSIGHTS[0], DATABASE, TABLE, SINCE, UNTIL)
    # `until` is exclusive: midnight of the 27th needs no partition of the 27th; the 24th's
    # file holds the 25th's first minutes (it is rotated just after midnight).
    assert bounds(statement) == {
        ("dt", "gte", "2026-11-24"),
        ("dt", "lte", "2026-11-26"),
        ("ts", "gte", "2026-11-25 12:00:00"),
        ("ts", "lt", "2026-11-27 00:00:00"),
    }
    later = athena_statement(INSIGHTS[0], DATABASE, TABLE, SINCE, datetime(2026, 11, 27, 0, 1))
    assert ("dt", "lte", "2026-11-27") in bounds(later)
    assert bounds(athena_statement(INSIGHTS[0], DATABASE, TABLE)) == set()


# ---- the same answers --------------------------------------------------------------------


@dataclass
class Lake:
    """A generated log read by the DuckDB engine, and the same lines as the lake's raw table."""

    engine: LoadedLog
    raw: duckdb.DuckDBPyConnection


def raw_table(con: duckdb.DuckDBPyConnection, lines: list[bytes]) -> None:
    """The lake's Glue table in DuckDB, every line in the partition of its day."""
    columns = ", ".join(f'"{name}" VARCHAR' for name, _ in LAKE_COLUMNS)
    con.execute(f"CREATE SCHEMA {DATABASE}")
    con.execute(f'CREATE TABLE {DATABASE}.{TABLE} ({columns}, "{PARTITION_KEY}" VARCHAR)')
    rows = []
    for line in lines:
        try:
            day = str(json.loads(line).get("time", ""))[:10] or "2026-11-25"
        except (ValueError, AttributeError):
            day = "2026-11-25"
        rows.append(list(lake_row(line, day if day.startswith("2026-") else "2026-11-25")))
    insert_rows(con, f"{DATABASE}.{TABLE}", rows, len(LAKE_COLUMNS) + 1)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    folder = tmp_path_factory.mktemp("lake")
    options = build_options(lines=8_000, start=START, end=END, seed=11, log_format="json")
    path = folder / "access_log"
    generate_log(options, path)
    lines = path.read_bytes().splitlines() + HOSTILE
    path.write_bytes(b"\n".join(lines) + b"\n")
    engine = load_log(path)
    raw = duckdb.connect()
    raw.execute("SET TimeZone = 'UTC'")
    raw_table(raw, lines)
    yield Lake(engine, raw)
    engine.close()
    raw.close()


def run_transpiled(con: duckdb.DuckDBPyConnection, statement: str) -> list[list[Any]]:
    return [list(row) for row in con.execute(duckdb_form(statement)).fetchall()]


def engine_rows(loaded: LoadedLog, insight: Insight, condition: str, zone: str) -> list[list[Any]]:
    """The insight by the DuckDB engine, its `logs` scoped to `condition` in `zone`."""
    scope_logs(loaded.connection, condition, zone)
    try:
        return run_insight(loaded.connection, insight)
    finally:
        scope_logs(loaded.connection)


@BY_ID
def test_transpiled_form_gives_the_engines_answers(lake: Lake, insight: Insight) -> None:
    expected = run_insight(lake.engine.connection, insight)
    assert expected or insight.id in {"campaigns"}, "the log must exercise the insight"
    assert run_transpiled(lake.raw, athena_statement(insight, DATABASE, TABLE)) == expected


@BY_ID
def test_bounded_and_filtered_forms_give_the_engines_answers(lake: Lake, insight: Insight) -> None:
    # Filters that keep a good share of the lines: two cities, phones and computers.
    where = where_sql("city=Seattle", "city=Portland", "device=Phone", "device=Computer")
    zone = "Europe/Paris"
    statement = athena_statement(insight, DATABASE, TABLE, SINCE, UNTIL, where, zone=zone)
    condition = f"ts >= TIMESTAMP '{SINCE}' AND ts < TIMESTAMP '{UNTIL}' AND ({where})"
    expected = engine_rows(lake.engine, insight, condition, zone)
    assert run_transpiled(lake.raw, statement) == expected


def test_hostile_lines_are_no_rows(lake: Lake) -> None:
    assert lake.engine.invalid_lines == len(HOSTILE)
    logs = duckdb_form(f"WITH v AS ({lines_sql(DATABASE, TABLE)}) SELECT count(*) FROM v")
    valid = lake.raw.execute(logs).fetchone()
    assert valid is not None and valid[0] == lake.engine.lines - len(HOSTILE)


def test_gzip_objects_read_as_lake_rows(tmp_path: Path) -> None:
    """lake_row reads what the archive writes: gzip JSON lines, keys in the LogFormat's case."""
    line = json.dumps({"time": "2026-11-25T10:00:00.000Z", "remoteIP": "10.0.0.1", "status": 200})
    (tmp_path / "a.gz").write_bytes(gzip.compress(line.encode() + b"\n"))
    (raw,) = gzip.decompress((tmp_path / "a.gz").read_bytes()).splitlines()
    row = dict(
        zip([*(name for name, _ in LAKE_COLUMNS), PARTITION_KEY], lake_row(raw, "x"), strict=True)
    )
    assert row["remoteip"] == "10.0.0.1" and row["status"] == "200" and row["dt"] == "x"
    assert row["useragent"] is None
