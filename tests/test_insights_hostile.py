"""No line in the access log — sent by a visitor, or left by a crash — breaks or bends the insights.

A log from the generator is mixed with many kinds of malformed and extreme lines: broken and
lax JSON, every field with the wrong type, impossible statuses, byte counts and times, lines
over 10 MB, NUL runs, bytes that are not UTF-8, orders the site refuses. `cafepipe insights
--format json` must exit 0, count exactly the invalid lines, and give every other answer
exactly as for the same log without them (docs/insights.md, "What counts as a valid line").
Peak memory is measured around each run, in a process of its own.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cafepipe.cafe import catalog
from cafepipe.errors import UsageError
from cafepipe.insights.duckdb_engine import (
    MAX_LINE_BYTES,
    MAX_PROCESS_MICROSECONDS,
    MAX_RESPONSE_BYTES,
    TIME_WINDOW,
    _lines_sql,
    _scan,
    load_log,
    run_catalog,
    strict_json,
)
from cafepipe.insights.summary import summarize
from cafepipe.logs.generate import build_options, generate_log

START = datetime(2026, 11, 20, tzinfo=timezone.utc)
END = datetime(2026, 11, 27, tzinfo=timezone.utc)
HUGE = 11 * 1024 * 1024  # a line over 10 MB
# Runs cafepipe and prints its peak RSS (KiB) on stderr's last line; the JSON is on stdout.
MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=sys.stdout, stderr=sys.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(done.returncode)
"""


@dataclass
class Mix:
    """Two logs that must give the same answers: the clean one, and the one with hostile lines."""

    clean: list[bytes]
    hostile: list[bytes]
    invalid: int = 0
    kinds: list[str] = field(default_factory=list)

    def bad(self, kind: str, line: bytes, count: int = 1) -> None:
        """A line that is no request: `count` invalid lines in the hostile log only."""
        self.hostile.append(line)
        self.invalid += count
        self.kinds.append(kind)

    def same(self, kind: str, hostile: bytes, clean: bytes) -> None:
        """A request whose extreme value is left out of the one answer it would distort."""
        self.hostile.append(hostile)
        self.clean.append(clean)
        self.kinds.append(kind)


def generated(tmp_path: Path, log_format: str) -> list[bytes]:
    options = build_options(lines=3000, start=START, end=END, seed=12, log_format=log_format)
    path = tmp_path / f"generated.{log_format}"
    generate_log(options, path)
    return path.read_bytes().splitlines()


def _json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _with(base: dict[str, Any], **changes: Any) -> bytes:
    return _json({**base, **changes})


def _without(base: dict[str, Any], key: str) -> bytes:
    return _json({k: v for k, v in base.items() if k != key})


def _order(base: dict[str, Any], query: str, status: str) -> dict[str, Any]:
    return {**base, "request": catalog.ORDER_PATH, "method": "POST", "query": query,
            "status": status, "filename": "/var/www/html/cafe/processOrder.php"}  # fmt: skip


BAD_BASKETS = [
    "?items=latte:99999999999999999999",
    "?items=latte:0",
    f"?items=latte:{catalog.MAX_QUANTITY + 1}",
    "?items=latte:-1",
    "?items=latte:1.5",
    "?items=latte:01",
    "?items=latte:%C2%B2",
    "?items=bogus:1",
    "?items=latte:1,latte:1",
    "?items=latte:2,",
    "?items=latte:1&items=mocha:2",
    "?items=latte%3A2",
    "?items=" + ",".join(f"{item.id}:{catalog.MAX_QUANTITY}" for item in catalog.MENU) + ",x:1",
    "?items=" + "latte:1," * 5000 + "latte:1",
]


def json_mix(lines: list[bytes]) -> Mix:
    base = json.loads(lines[0])
    good = _json(base)
    # Two clean lines carry the oddities of a crash and of Windows: their requests still count.
    mix = Mix(clean=list(lines), hostile=[lines[0], *lines[3:]])
    mix.hostile.append(b"\x00" * 4096 + lines[1])  # a NUL run, then the line after the crash
    mix.invalid += 1
    mix.hostile.append(lines[2] + b"\r")  # a CRLF line end (the join adds the LF)

    # Broken or lax JSON: not what json.loads reads.
    mix.bad("trailing comma", good[:-1] + b",}")
    mix.bad("trailing comma, spaced", good[:-1] + b" ,\t }")
    mix.bad("trailing comma in an array", good[:-1] + b',"x":[1,2,]}')
    for constant in (b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"INF", b"-inf"):
        mix.bad(f"{constant!r} value", good[:-1] + b',"lat":' + constant + b"}")
    mix.bad("NaN bytes", good.replace(b'"bytes":"' + base["bytes"].encode() + b'"', b'"bytes":NaN'))
    mix.bad("duplicate status", good[:-1] + b',"status":"500"}')
    mix.bad("duplicate unknown key", good[:-1] + b',"lat":"1","lat":"2"}')
    mix.bad("duplicate nested key", good[:-1] + b',"x":{"a":1,"a":2}}')
    mix.bad("deep nesting", good[:-1] + b',"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    mix.bad("deep top-level array", b"[" * 200_000 + b"]" * 200_000)
    mix.bad("comment", good[:-1] + b"/* note */}")
    mix.bad("single quotes", good.replace(b'"', b"'"))
    mix.bad("unquoted key", good.replace(b'"time"', b"time"))
    mix.bad("two objects", good + b" " + good)
    mix.bad("garbage after", good + b"x")
    mix.bad("truncated", good[: len(good) // 2])
    mix.bad("raw control character", _with(base, userAgent="a\x01b").replace(b"\\u0001", b"\x01"))
    for other in (b"[1, 2, 3]", b'"a string"', b"42", b"null", b"true", b"{}", b"-"):
        mix.bad(f"not an object {other!r}", other)

    # Every field with the wrong type (text fields must be strings; counts digits).
    for key in ("time", "remoteIP", "request", "query", "method", "userAgent", "referer",
                "host", "city", "region", "country"):  # fmt: skip
        for wrong in (5, 1.5, True, None, [], {}, [base[key]], {"v": base[key]}):
            mix.bad(f"{key}={wrong!r}", _with(base, **{key: wrong}))
    for wrong in (5, True, None, [], {"v": 1}):
        mix.bad(f"useragent={wrong!r}", _without(base, "userAgent")[:-1] + b',"useragent":'
                + json.dumps(wrong).encode() + b"}")  # fmt: skip
    for key in ("status", "bytes", "process"):
        for wrong in (True, None, [], {}, [200], 200.0, 2e2, -1, "abc", "1e3", " 2", "+2", "0x1"):
            mix.bad(f"{key}={wrong!r}", _with(base, **{key: wrong}))
    for key in ("time", "remoteIP", "request", "status"):
        mix.bad(f"no {key}", _without(base, key))

    # Values out of bounds.
    for status in ("99", "600", "1000", "0200", "-200", "200.0", "2e2", " 200", "", 99, 600):
        mix.bad(f"status {status!r}", _with(base, status=status))
    for size in ("-1", "-1000000000", str(MAX_RESPONSE_BYTES + 1), "9" * 20, "1.5", "5 ", -5):
        mix.bad(f"bytes {size!r}", _with(base, bytes=size))
    for took in ("-1", str(MAX_PROCESS_MICROSECONDS + 1), "9" * 30, 1e20):
        mix.bad(f"process {took!r}", _with(base, process=took))
    for when in ("1970-01-01T00:00:00Z", "2000-01-01T00:00:00.000Z", "2050-01-01T00:00:00Z",
                 "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "12345-01-01T00:00:00Z",
                 "-0001-01-01T00:00:00Z", "infinity", "-infinity", "epoch", "allballs",
                 "2026-13-40T00:00:00Z", "2026-11-20T25:00:00Z", "yesterday", ""):  # fmt: skip
        mix.bad(f"time {when!r}", _with(base, time=when))
    for address in ("", "1.1.1", "a.b.c.d", "1.1.1.1, 2.2.2.2", "1.1.1.1 ", "::1\n"):
        mix.bad(f"address {address!r}", _with(base, remoteIP=address))
    mix.bad("empty request", _with(base, request=""))

    # Lines no reader may hold whole, NUL runs, bytes that are not text.
    mix.bad("a line over 10 MB", _with(base, userAgent="A" * HUGE))
    mix.bad("a 2 MB line", _with(base, referer="https://x.example/" + "r" * 2_000_000))
    mix.bad("a line just over the limit", good[:-1] + b',"pad":"' + b"p" * MAX_LINE_BYTES + b'"}')
    mix.bad("a NUL run", b"\x00" * (3 * 1024 * 1024))
    mix.bad("NULs inside a line", good[:40] + b"\x00\x00" + good[40:], count=3)
    mix.bad("NUL after a line", good + b"\x00")  # the NUL run is invalid, the line before counts
    mix.clean.append(good)
    mix.bad("not UTF-8", b"\xff\xfe\xfd binary \x80\x81")
    mix.bad("a lone carriage return", b"abc\rdef")
    mix.bad("a combined line", b'1.2.3.4 - - [20/Nov/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 5')
    mix.hostile += [b"", b"   ", b"\t"]  # blank lines are no lines at all

    # Requests the answers keep, with the extreme part left out of the one answer it distorts.
    for query in BAD_BASKETS:
        for status in ("200", "400"):  # an old site took them; this one refuses them
            mix.same(f"basket {query[:40]}", _json(_order(base, query, status)),
                     _json(_order(base, "", status)))  # fmt: skip
    item = {**base, "request": catalog.ITEM_PATH, "status": "404"}
    for query in ("?id=" + "x" * 5000, "?id=latte%00", "?id=../../etc/passwd"):
        mix.same("odd item id", _json({**item, "query": query}), _json({**item, "query": "?id="}))
    return mix


def _combined(ip: str, when: str, request: str, status: str, size: str, ua: str = "x") -> bytes:
    return f'{ip} - - [{when}] "{request}" {status} {size} "-" "{ua}"'.encode()


def combined_mix(lines: list[bytes]) -> Mix:
    ip = lines[0].split(b" ")[0].decode()
    when = "20/Nov/2026:08:15:00 +0000"

    def line(**kw: str) -> bytes:
        values = {"ip": ip, "when": when, "request": "GET /cafe HTTP/1.1", "status": "200",
                  "size": "10", "ua": "Mozilla/5.0"} | kw  # fmt: skip
        return _combined(**values)

    mix = Mix(clean=list(lines), hostile=list(lines))
    for status in ("2OO", "99", "600", "-200", "2e2", "200.0", "+200", "0200"):
        mix.bad(f"status {status}", line(status=status))
    for size in ("-5000", "abc", "1.5", str(MAX_RESPONSE_BYTES + 1), "9" * 20, "+5", "0x10"):
        mix.bad(f"bytes {size}", line(size=size))
    for bad_when in ("01/Jan/1970:00:00:00 +0000", "31/Dec/9999:23:59:59 +0000",
                     "20/Nov/2050:08:15:00 +0000", "20/Nov/2026:08:15:00 +2500",
                     "99/Foo/2026:08:15:00 +0000", "20/Nov/99999:08:15:00 +0000"):  # fmt: skip
        mix.bad(f"time {bad_when}", line(when=bad_when))
    for address in ("999.1.1", "x", "-"):
        mix.bad(f"address {address}", line(ip=address))
    mix.bad("no request", line(request="-"))
    mix.bad("truncated", line()[:30])
    mix.bad("a JSON line", b'{"time":"2026-11-20T08:00:00Z","remoteIP":"1.2.3.4"}')
    mix.bad("a line over 10 MB", line(ua="A" * HUGE))
    mix.bad("a NUL run", b"\x00" * (3 * 1024 * 1024))
    mix.bad("NULs inside a line", line()[:20] + b"\x00" + line()[20:], count=3)
    mix.bad("not UTF-8", b"\xff\xfe\xfd binary \x80\x81")
    for query in BAD_BASKETS:
        order = f"POST {catalog.ORDER_PATH}{{}} HTTP/1.1"
        mix.same("basket", line(request=order.format(query)), line(request=order.format("")))
    return mix


def run_insights(path: Path) -> tuple[dict[str, Any], int]:
    """`cafepipe insights --format json` on `path` in a process of its own: answers, peak KiB."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, sys.executable, "-m", "cafepipe", "insights",
         "--source", str(path), "--format", "json"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    data.pop("meta")
    return data, int(done.stderr.strip().splitlines()[-1])


def _write(path: Path, lines: list[bytes], seed: int) -> Path:
    random.Random(seed).shuffle(lines)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("log_format", ["json", "combined"])
def test_hostile_lines_change_nothing_but_invalid_lines(tmp_path: Path, log_format: str) -> None:
    lines = generated(tmp_path, log_format)
    mix = json_mix(lines) if log_format == "json" else combined_mix(lines)
    clean = _write(tmp_path / "clean.log", mix.clean, 1)
    hostile = _write(tmp_path / "hostile.log", mix.hostile, 2)

    clean_data, clean_kib = run_insights(clean)
    hostile_data, hostile_kib = run_insights(hostile)
    print(
        f"\n{log_format}: {len(mix.kinds)} hostile lines ({mix.invalid} invalid), "
        f"{hostile.stat().st_size / 1e6:.1f} MB; peak {clean_kib / 1024:.0f} MiB clean, "
        f"{hostile_kib / 1024:.0f} MiB hostile"
    )
    assert clean_data["invalid_lines"] == 0 and clean_data["requests"] > 3000
    assert hostile_data["invalid_lines"] == mix.invalid
    assert {k: v for k, v in hostile_data.items() if k != "invalid_lines"} == {
        k: v for k, v in clean_data.items() if k != "invalid_lines"
    }
    assert clean_data["items_ordered"], "the generated orders are still counted"
    # Lines over 10 MB and MiB-long NUL runs cost far less than ~100 MB: nothing holds them.
    assert hostile_kib - clean_kib < 100 * 1024


def test_one_long_line_costs_under_100_mb(tmp_path: Path) -> None:
    """Without NULs the reader meets the 11 MB line itself before the clean copy is made."""
    lines = generated(tmp_path, "json")
    clean = _write(tmp_path / "clean.log", list(lines), 1)
    long = _write(
        tmp_path / "long.log", [*lines, _with(json.loads(lines[0]), referer="r" * HUGE)], 1
    )
    clean_data, clean_kib = run_insights(clean)
    long_data, long_kib = run_insights(long)
    print(f"\npeak {clean_kib / 1024:.0f} MiB clean, {long_kib / 1024:.0f} MiB with 11 MB line")
    assert long_data == {**clean_data, "invalid_lines": 1}
    assert long_kib - clean_kib < 100 * 1024


def test_strict_json_is_json_loads_without_its_extensions() -> None:
    assert strict_json('{"a": [1, {"b": "c"}], "d": 1e400, "e": null}')
    for text in ('{"a":1,}', '{"a":NaN}', '{"a":-Infinity}', '{"a":1,"a":2}',
                 '{"a":{"b":1,"b":1}}', "[" * 100_000 + "]" * 100_000, "{'a':1}"):  # fmt: skip
        assert not strict_json(text), text


# 0: the median by counting (what a log of more than 4M lines gets), not quantile_disc.
@pytest.mark.parametrize("quantile_max_lines", [None, 0], ids=["quantile", "counted-median"])
def test_bounds_hold_exactly_at_the_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quantile_max_lines: int | None
) -> None:
    """The largest allowed values are read; one more is an invalid line."""
    if quantile_max_lines is not None:
        from cafepipe.insights import duckdb_engine

        monkeypatch.setattr(duckdb_engine, "_QUANTILE_MAX_LINES", quantile_max_lines)
    base = {"time": "2026-11-20T08:00:00Z", "remoteIP": "1.2.3.4", "request": "/cafe",
            "status": "200", "bytes": "1", "process": "1"}  # fmt: skip
    day = timedelta(days=1)

    def at(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    middle = datetime(2026, 11, 20, 8, tzinfo=timezone.utc)
    padded = _with(base, userAgent="")
    fill = MAX_LINE_BYTES - len(padded)
    valid = [
        _with(base, bytes=str(MAX_RESPONSE_BYTES), process=str(MAX_PROCESS_MICROSECONDS)),
        _with(base, status="100"),
        _with(base, status="599"),
        _with(base, time=at(middle + TIME_WINDOW - day)),
        _with(base, time=at(middle - TIME_WINDOW + day)),
        padded[:-2] + b"u" * fill + b'"}',
        *[_json(base)] * 5,
    ]
    invalid = [
        _with(base, bytes=str(MAX_RESPONSE_BYTES + 1)),
        _with(base, process=str(MAX_PROCESS_MICROSECONDS + 1)),
        _with(base, status="099"),
        _with(base, status="600"),
        _with(base, time=at(middle + TIME_WINDOW + day)),
        _with(base, time=at(middle - TIME_WINDOW - day)),
        padded[:-2] + b"u" * (fill + 1) + b'"}',
    ]
    assert len(valid[5]) == MAX_LINE_BYTES
    path = tmp_path / "edges.log"
    path.write_bytes(b"\n".join(valid + invalid) + b"\n")
    loaded = load_log(path)
    assert (loaded.lines, loaded.invalid_lines) == (len(valid) + len(invalid), len(invalid))
    data = summarize(run_catalog(loaded), loaded.invalid_lines)
    # A byte total past 2**53 stays exact in the JSON (a float would round it).
    assert data["bytes"] == MAX_RESPONSE_BYTES + len(valid) - 1
    assert data["requests"] == len(valid)


def test_the_generator_writes_no_time_the_insights_reject() -> None:
    """Every generated time lies within TIME_WINDOW of the log's median: the window is capped."""
    build_options(lines=10, start=START, end=START + TIME_WINDOW, seed=1)
    with pytest.raises(UsageError, match="more than the 3653 days"):
        build_options(lines=10, start=START, end=START + TIME_WINDOW + timedelta(days=1))


def test_a_line_that_grows_when_cleaned_is_invalid_not_fatal(tmp_path: Path) -> None:
    """0.7 MB of bytes that are not UTF-8 become 2.1 MB of U+FFFD in the clean copy."""
    lines = generated(tmp_path, "json")[:50]
    path = tmp_path / "grows.log"
    path.write_bytes(b"\n".join([*lines, b"\xff" * 700_000, b"\r" * 700_000]) + b"\n")
    loaded = load_log(path)
    assert (loaded.lines, loaded.invalid_lines) == (52, 2)


def _reference_lines(data: bytes, limit: int) -> list[str]:
    """The line rule written plainly: NUL runs split lines and are one line each; a CR just
    before a line end (LF, or a NUL run) belongs to the line end."""
    lines = []
    for raw in data.split(b"\n"):
        raw = raw.removesuffix(b"\r")
        pieces = re.split(rb"(\x00+)", raw)
        for index, piece in enumerate(pieces):
            if index + 1 < len(pieces):  # a NUL run follows
                piece = piece.removesuffix(b"\r")
            if piece.startswith(b"\x00"):
                lines.append("\ufffd")
            elif piece:
                cleaned = piece.replace(b"\r", "\ufffd".encode())
                lines.append(
                    "\ufffd" if len(cleaned) > limit else cleaned.decode("utf-8", "replace")
                )
    return [line for line in lines if line]


def test_clean_copy_follows_the_line_rule_across_chunk_edges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tiny chunks and limit: every NUL run, over-long line and CRLF meets a chunk edge."""
    from cafepipe.insights import duckdb_engine

    monkeypatch.setattr(duckdb_engine, "_CLEAN_CHUNK", 7)
    monkeypatch.setattr(duckdb_engine, "MAX_LINE_BYTES", 20)
    rng = random.Random(5)
    pieces = [b"a", b"line", b"\n", b"\r\n", b"\r", b"\x00", b"\x00" * 30, b"x" * 25, b"\xff",
              "é".encode(), b" ", b"{}"]  # fmt: skip
    for _ in range(300):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        text = "".join(duckdb_engine._clean_blocks(io.BytesIO(data)))
        assert [line for line in text.split("\n") if line] == _reference_lines(data, 20), data


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b'{"a": "b"}\n' * 3, b'{"a": "b"}\n\x00', b"\x00" + b"x" * 100, b"a\nb"],
    ids=["empty", "only-nul", "no-nul", "nul-last", "nul-first", "no-last-line-end"],
)
@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_the_nul_search_without_a_line_count_finds_what_the_count_finds(
    tmp_path: Path, data: bytes, packed: bool
) -> None:
    """A JSON .gz is only decompressed (its checksum) and searched for NUL bytes, its lines not
    counted: the same verdict."""
    path = tmp_path / ("log.gz" if packed else "log")
    path.write_bytes(gzip.compress(data) if packed else data)
    has_nul, lines = _scan(path)
    assert _scan(path, count_lines=False) == (has_nul, 0)
    assert has_nul == (b"\x00" in data)
    assert lines == (0 if has_nul else len(data.splitlines()))


def _crc_only_corruption(packed: bytes) -> bytes:
    """`packed` with one byte of its deflate stream changed so that it still inflates, to
    other UTF-8 text of the same length: only the gzip trailer's CRC says it is corrupt."""
    for offset in range(len(packed) // 2, len(packed) - 8):
        changed = bytearray(packed)
        changed[offset] ^= 0x01
        try:
            gzip.decompress(bytes(changed))
        except gzip.BadGzipFile as exc:
            if "CRC check failed" in str(exc):
                inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(bytes(changed)[10:])
                if len(inflated) == len(gzip.decompress(packed)) and _is_utf8(inflated):
                    return bytes(changed)
        except (zlib.error, EOFError):
            pass
    raise AssertionError("no byte of the stream changes only its CRC")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("log_format", ["combined", "json"])
def test_a_gz_whose_only_fault_is_its_crc_is_refused_not_read(
    tmp_path: Path, log_format: str
) -> None:
    """DuckDB's gzip reader does not check the CRC: it reads such a file as if it were whole
    (other bytes than were written). The scan beside the parse decompresses it with Python's
    gzip, which does, and the log is refused: this keeps that scan for every .gz."""
    path = tmp_path / "access_log.gz"
    whole = gzip.compress(b"\n".join(generated(tmp_path, log_format)) + b"\n")
    path.write_bytes(_crc_only_corruption(whole))
    # The engine's own line reader, alone, reads it without an error.
    rows = duckdb.connect().execute(f"SELECT count(*) FROM ({_lines_sql(path)})").fetchone()
    assert rows is not None and rows[0] > 2000
    with pytest.raises(UsageError, match="corrupt or truncated gzip file"):
        load_log(path, log_format)


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("log_format", ["combined", "json"])
def test_nul_bytes_alone_split_lines_by_the_rule(
    tmp_path: Path, log_format: str, packed: bool
) -> None:
    """NUL bytes in an otherwise clean log (UTF-8, LF, no long line: nothing else sends it to
    a clean copy) are found by the first read, and the log is read by the line rule: a NUL run
    is one invalid line and ends the line before it. A JSON log's line reader finds them, a
    combined log's scan beside the parse."""
    lines = generated(tmp_path, log_format)
    nul = [
        lines[0],
        b"\x00" * 4096 + lines[1],  # a crash's NUL run (1 invalid line), then the line after it
        lines[2][:30] + b"\x00\x00" + lines[2][30:],  # a line cut by a NUL run: 3 invalid
        *lines[3:],
    ]
    data = b"\n".join(nul) + b"\n"
    path = tmp_path / ("nul.log.gz" if packed else "nul.log")
    path.write_bytes(gzip.compress(data) if packed else data)
    reference = tmp_path / "reference.log"
    reference.write_text("\n".join(_reference_lines(data, MAX_LINE_BYTES)) + "\n")
    got, expected = load_log(path, log_format), load_log(reference, log_format)
    assert (got.lines, got.invalid_lines) == (expected.lines, expected.invalid_lines)
    assert (got.lines, got.invalid_lines) == (len(lines) + 3, 4)
    assert run_catalog(got) == run_catalog(expected)
