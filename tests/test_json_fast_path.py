"""The JSON fast path reads the stack's own lines exactly as the general path does, and no other.

`duckdb_engine._json_sql` takes a line of the LogFormat's exact shape — its keys in order,
string values, no backslash, 17 members — by one LIKE and one lookup of all its members
(`_stack_members_sql`); every other line goes the general way (types, paths, json.loads where
the line may be lax). Each line below, hostile or not, must get the same verdict and the same
fields both ways (`fast=False` is the general way alone), and must take the path it should.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cafepipe.insights import duckdb_engine
from cafepipe.insights.duckdb_engine import (
    _APACHE_KEYS,
    _BAD_ESCAPE_RE,
    _json_sql,
    _lines_sql,
    _register_repair,
    _register_strict_json,
    _stack_members_sql,
    _with_flags,
    load_log,
)
from cafepipe.logs.generate import build_options, generate_log

BASE = {
    "time": "2026-11-24T13:59:28.313Z", "process": "2772",
    "filename": "/var/www/html/cafe/index.php", "remoteIP": "108.193.184.253",
    "host": "cafe.example.com", "request": "/cafe/menu.php", "query": "?utm_source=mail",
    "method": "GET", "status": "200", "bytes": "3641",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "referer": "https://www.google.com/", "country": "US", "region": "Texas", "city": "Austin",
    "lat": "30.27", "lon": "-97.74",
}  # fmt: skip
assert tuple(BASE) == _APACHE_KEYS
# The LIKE pattern holds the keys as they are: no LIKE wildcard, quote or backslash in one.
assert not set("%_'\"\\").intersection("".join(_APACHE_KEYS))


def compact(record: dict[str, Any]) -> str:
    """A record as Apache's LogFormat writes it: compact, in the record's key order."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def stack(**changes: Any) -> str:
    """The stack's line with some values changed (json.dumps escapes what needs it)."""
    return compact({**BASE, **changes})


def raw(key: str, text: str) -> str:
    """The stack's line with the value of `key` replaced by `text` as it is, unescaped."""
    return stack(**{key: "\x00"}).replace('"\\u0000"', f'"{text}"', 1)


def moved(key: str, value: str) -> str:
    """The stack's line with `key`'s member written as `"key":value` (a number, null, …)."""
    return stack(**{key: "\x00"}).replace('"\\u0000"', value, 1)


# (name, line, takes the fast path, valid).
CASES: list[tuple[str, str, bool, bool]] = [
    ("the stack's line", stack(), True, True),
    ("empty values", stack(query="", referer="", userAgent="", host=""), True, True),
    ("JSON punctuation in values", stack(userAgent="a,b:{c}[d] ,: x", query="?a=1,2"), True, True),
    ("LIKE wildcards in values", stack(userAgent="100% _real_ agent", request="/%_"), True, True),
    ("non-ASCII values", stack(city="Zürich", userAgent="café \u2028 \u00a0 😀"), True, True),
    ("a DEL byte in a value", stack(userAgent="a\x7fb"), True, True),
    ("a 100 KB user agent", stack(userAgent="x" * 100_000), True, True),
    ("status not three digits", stack(status="2e2"), True, False),
    ("bytes '-'", stack(bytes="-"), True, True),
    ("bytes past 1 TiB", stack(bytes=str(2**40 + 1)), True, False),
    ("a string NaN", stack(status="NaN", bytes="NaN"), True, False),
    # Escapes: the general way, and Apache's own repaired.
    ("an escaped quote", stack(userAgent='Mo"zilla'), False, True),
    ("an escaped field separator", stack(userAgent='a","referer":"evil'), False, True),
    ("an escaped backslash", stack(userAgent="a\\b"), False, True),
    ("a \\u escape", raw("userAgent", "caf\\u00e9"), False, True),
    ("Apache's \\xhh escape", raw("userAgent", "caf\\xc3\\xa9"), False, True),
    ("Apache's \\v escape", raw("userAgent", "a\\vb"), False, True),
    # A value holding the pattern's own text, raw: it makes members of its own.
    ("a raw field separator (referer twice)", raw("userAgent", 'a","referer":"evil'), False, False),
    ("a raw extra key inside a value", raw("userAgent", 'ua","extra":"x'), False, True),
    ("a raw useragent inside a value", raw("userAgent", 'ua","useragent":"x'), False, True),
    (
        "a number put before its own key (status twice), spaces after it",
        raw("time", BASE["time"] + '","status":1E15,' + " " * 10 + '"x":"'),
        False,
        False,
    ),
    ("a raw nested object", raw("userAgent", 'ua","z":{"a":"b"},"y":"'), False, True),
    ("a raw nested key twice", raw("userAgent", 'ua","z":{"a":"b","a":"c"},"y":"'), False, False),
    ("a stray quote", raw("userAgent", 'a"b'), False, False),
    ("a key twice, appended", stack()[:-1] + f',"time":"{BASE["time"]}"}}', False, False),
    ("an extra key, appended", stack()[:-1] + ',"extra":"x"}', False, True),
    # Not the pattern: the general way.
    ("keys reordered", compact({"process": "2772", **BASE}), False, True),
    ("spaces after colons", json.dumps(BASE), False, True),
    ("a count as a number", moved("status", "200"), False, True),
    ("bytes as a number", moved("bytes", "3641"), False, True),
    ("a text field as a number", moved("request", "5"), False, False),
    ("a text field null", moved("city", "null"), False, False),
    ("an unread key as a number", moved("lat", "30.27"), False, True),
    ("NaN", moved("status", "NaN"), False, False),
    ("Infinity", moved("bytes", "Infinity"), False, False),
    ("-Infinity in an unread key", moved("lon", "-Infinity"), False, False),
    ("a trailing comma", stack()[:-1] + ",}", False, False),
    ("truncated", stack()[:150], False, False),
    ("truncated in the last value", stack()[:-4], False, False),
    ("a CR at the end", stack() + "\r", False, True),
    ("a space at the start", " " + stack(), False, True),
    ("a key missing", compact({k: v for k, v in BASE.items() if k != "lon"}), False, True),
    (
        "useragent instead",
        compact({k.lower() if k == "userAgent" else k: v for k, v in BASE.items()}),
        False,
        True,
    ),
    ("an array of the same strings", json.dumps(list(BASE.items())), False, False),
    ("an empty object", "{}", False, False),
    ("not JSON", "GET /cafe HTTP/1.1", False, False),
    # The shape, but not JSON: invalid, and the unguarded read stops (see _parse_into).
    ("a raw tab in a value", raw("userAgent", "a\tb"), False, False),
    ("a raw control character in a value", raw("city", "a\x01b"), False, False),
    ("a raw unit separator in a value", raw("lat", "\x1f"), False, False),
]
NOT_JSON_OF_THE_SHAPE = {
    "a stray quote",
    "a raw tab in a value",
    "a raw control character in a value",
    "a raw unit separator in a value",
}


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE TABLE one (line VARCHAR)")
    _register_repair(connection)
    _register_strict_json(connection)
    yield connection
    connection.close()


def parse(con: duckdb.DuckDBPyConnection, line: str, **options: bool) -> list[tuple[Any, ...]]:
    """The parsed row of `line` (every column of `parsed`), read with `_json_sql(**options)`."""
    con.execute("DELETE FROM one")
    con.execute("INSERT INTO one VALUES (?)", [line])
    return con.execute(_with_flags(_json_sql("SELECT line FROM one", **options))).fetchall()


def members(con: duckdb.DuckDBPyConnection, line: str) -> list[str] | None:
    query = f"SELECT {_stack_members_sql('line')} FROM (SELECT ?::VARCHAR AS line)"
    found = con.execute(query, [line]).fetchone()
    assert found is not None
    values: list[str] | None = found[0]
    return values


def columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    query = _with_flags(_json_sql("SELECT line FROM one"))
    return [column[0] for column in con.execute(f"DESCRIBE {query}").fetchall()]


def row(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The one parsed row, by column name."""
    (only,) = rows
    return dict(zip(columns(con), only, strict=True))


@pytest.mark.parametrize(("name", "line", "fast", "valid"), CASES, ids=[c[0] for c in CASES])
def test_each_line_reads_the_same_both_ways(
    con: duckdb.DuckDBPyConnection, name: str, line: str, fast: bool, valid: bool
) -> None:
    found = members(con, line)
    assert (found is not None and len(found) == len(_APACHE_KEYS)) == fast
    general = parse(con, line, fast=False)
    assert parse(con, line, guarded=True) == general
    if name in NOT_JSON_OF_THE_SHAPE:
        with pytest.raises(duckdb.InvalidInputException, match="Malformed JSON"):
            parse(con, line)
    else:
        assert parse(con, line) == general
    parsed = row(con, general)  # every line is one row, valid or not
    assert parsed["valid"] is valid
    if fast:  # the stack's values, as json.loads reads them
        record = json.loads(line)
        assert found == [record[key] for key in _APACHE_KEYS]
        assert (parsed["remoteip"], parsed["request"], parsed["query"], parsed["useragent"]) == (
            record["remoteIP"], record["request"], record["query"], record["userAgent"]
        )  # fmt: skip
        assert (parsed["referer"], parsed["host"], parsed["city"]) == (
            record["referer"], record["host"], record["city"]
        )  # fmt: skip


def test_hostile_values_do_not_shift_fields(con: duckdb.DuckDBPyConnection) -> None:
    # Escaped, the separator is the user agent's text; raw, it is a second referer: invalid.
    escaped = row(con, parse(con, stack(userAgent='a","referer":"evil')))
    assert escaped["useragent"] == 'a","referer":"evil'
    assert escaped["referer"] == BASE["referer"] and escaped["valid"]
    extra = row(con, parse(con, raw("userAgent", 'ua","extra":"x')))
    assert extra["useragent"] == "ua" and extra["referer"] == BASE["referer"]
    both = row(con, parse(con, raw("userAgent", 'ua","useragent":"x')))
    assert both["useragent"] == "ua"  # userAgent first, as on the general way
    repaired = row(con, parse(con, raw("userAgent", "caf\\xc3\\xa9")))
    assert repaired["useragent"] == "café" and repaired["valid"]


def _log(tmp_path: Path, lines: int = 2000) -> list[str]:
    start, end = (datetime(2026, 11, day, tzinfo=timezone.utc) for day in (20, 27))
    options = build_options(lines=lines, start=start, end=end, seed=17, log_format="json")
    path = tmp_path / "generated.json.log"
    generate_log(options, path)
    return path.read_text(encoding="utf-8").splitlines()


def test_the_generators_lines_all_take_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("\n".join(_log(tmp_path)) + "\n", encoding="utf-8")
    con = duckdb.connect()
    found = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE len({_stack_members_sql('line', False)}) = 17)"
        f" FROM ({_lines_sql(path)})"
    ).fetchone()
    assert found == (2000, 2000)


def _parsed(path: Path) -> tuple[int, int, list[tuple[Any, ...]]]:
    loaded = load_log(path, "json")
    try:
        rows = loaded.connection.execute("SELECT * FROM parsed").fetchall()
        return loaded.lines, loaded.invalid_lines, sorted(rows, key=repr)
    finally:
        loaded.close()


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("shape_errors", [False, True], ids=["JSON", "not-JSON-of-the-shape"])
def test_a_mixed_log_parses_as_the_general_way_parses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line_end: str, shape_errors: bool
) -> None:
    lines = _log(tmp_path)
    # (A CR inside a line is U+FFFD in a file: "What counts as a valid line".)
    cases = [
        case
        for case in CASES
        if case[0] != "a CR at the end" and (shape_errors or case[0] not in NOT_JSON_OF_THE_SHAPE)
    ]
    hostile = [line for _, line, _, _ in cases]
    mixed = [*lines[:1000], *hostile, "", "   ", *lines[1000:], *hostile]
    path = tmp_path / "mixed.log"
    path.write_bytes(line_end.join(mixed).encode() + line_end.encode())
    reads: list[tuple[bool, bool]] = []

    def spied(lines_sql: str, fast: bool = True, guarded: bool = False, python: bool = True) -> str:
        reads.append((guarded, python))
        return _json_sql(lines_sql, fast, guarded, python)

    monkeypatch.setattr(duckdb_engine, "_json_sql", spied)
    found = _parsed(path)
    # The unguarded read stops only at a line of the stack's shape that is not JSON. The
    # lines that need a Python function (an escape to repair, NaN…) are read again with them.
    first = [(False, False), (True, False)] if shape_errors else [(False, False)]
    assert reads == [*first, (True, True)]
    # Every line once: the generator's valid, the others as CASES say; blank lines no line.
    invalid = sum(1 for _, _, _, valid in cases if not valid)
    assert found[0] == len(lines) + 2 * len(cases)
    assert found[1] == 2 * invalid
    general = functools.partial(_json_sql, fast=False)
    monkeypatch.setattr(duckdb_engine, "_json_sql", general)
    assert _parsed(path) == found


def test_a_line_the_escape_rule_skips_is_never_json() -> None:
    """A line with an escape JSON has not is not parsed (`_BAD_ESCAPE_RE`): on thousands of
    texts of backslashes, quotes and escape letters, none it flags is JSON to DuckDB or to
    json.loads, and it flags Apache's \\xhh (the rule must skip something to save anything)."""
    generator = random.Random(18)
    alphabet = ["\\", '"', "x", "u", "n", "v", "a", "0", "{", "}", ":", ",", "/", "é"]
    bodies = [
        "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 12)))
        for _ in range(10_000)
    ]
    texts = [*bodies, *('{"a":"' + body + '"}' for body in bodies)]
    texts += ['{"a":"\\x41"}', '{"a":"\\\\x41"}', '{"a":"\\\\\\x41"}', '{"a":"\\u00e9"}']
    con = duckdb.connect()
    con.execute("CREATE TABLE texts (line VARCHAR)")
    con.executemany("INSERT INTO texts VALUES (?)", [[text] for text in texts])
    flagged = [
        line
        for (line,) in con.execute(
            f"SELECT line FROM texts WHERE regexp_matches(line, '{_BAD_ESCAPE_RE}')"
        ).fetchall()
    ]
    assert '{"a":"\\x41"}' in flagged and '{"a":"\\\\\\x41"}' in flagged
    assert '{"a":"\\\\x41"}' not in flagged and '{"a":"\\u00e9"}' not in flagged
    assert len(flagged) > 1000
    parsed = con.execute(
        f"SELECT count(*) FROM texts WHERE regexp_matches(line, '{_BAD_ESCAPE_RE}') "
        "AND try(json_type(line)) IS NOT NULL"
    ).fetchone()
    assert parsed == (0,)
    for line in flagged:
        with pytest.raises(ValueError):
            json.loads(line)
