"""The local engine: parse an access log (JSON or combined) into DuckDB and run the catalog.

Parsing is done once, in SQL, into the `parsed` table behind the `logs` view the catalog's
queries read. A combined log goes through DuckDB's CSV reader (space-separated, quoted
fields, Apache's \\" escapes) on both cores; if it rejects any line (another shape, a
truncated quote that ran into the next line), the whole file is parsed again line by line
(split on quotes, else one regular expression), so every line counts exactly once. JSON
lines of the stack's own shape (its LogFormat's keys in order, string values, no escape) are
found by a LIKE and read by one `json_extract_string` of all their members; any other line
is validated and read by its types and paths. A line that is not valid JSON because of
Apache's `\\xhh` or `\\v` escapes is repaired by the piped logger's own rule
(`cafepipe.logs.access_logger.repair_line`: UTF-8 decoded, bytes that are not UTF-8 become
U+FFFD) and read like the others. Bytes that are not UTF-8, NUL bytes and CRLF line
ends are handled on a sanitized copy. A line without a usable address, time, request and
status is counted in `invalid_lines`; blank lines are not lines.

No line is trusted (docs/insights.md, "What counts as a valid line"): a JSON line must be
strict JSON (as json.loads reads it, without NaN, trailing commas or a key twice) with every
field of its type, and status, bytes, time to serve and time must be within bounds, or the line
is invalid. A line over MAX_LINE_BYTES and a NUL run are one invalid line each; a file holding
one is read from a clean copy made in bounded memory (`_clean_blocks`).
"""

from __future__ import annotations

import atexit
import functools
import gzip
import json
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from cafepipe.cafe.geography import CITIES, CITY_BLOCKS, CITY_INDEX, NETWORK_CITIES
from cafepipe.cafe.limits import LOGS_MAX_RETENTION
from cafepipe.errors import CafepipeError, UsageError
from cafepipe.insights.queries import (
    AGENTS_SQL,
    INSIGHTS,
    VISITS_SQL,
    Insight,
    full_match_sql,
    reads_visits,
    scanner_condition_sql,
)
from cafepipe.insights.scope import cafe_time_sql
from cafepipe.logs.access_logger import repair_line

LOG_FORMATS = ("auto", "json", "combined")
_CHUNK = 16 * 1024 * 1024
# What a corrupt (zlib.error, BadGzipFile) or truncated (EOFError) .gz raises while it is read.
_CORRUPT_GZIP = (gzip.BadGzipFile, zlib.error, EOFError)
# DuckDB errors that mean "this input is not something the reader can take" (exit 2).
_INPUT_ERRORS = (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException)
_HINT = "pass a JSON or combined Apache access log, plain or .gz (--log-format forces one)"

# Combined: host ident user [time] "request" status bytes "referer" "user-agent".
# Only lines the quote split cannot take (escaped quotes, no referer/agent) meet this regex.
_COMBINED_RE = r'^([^"]*)"((?:[^"\\]|\\.)*)"([^"]*)(?:"((?:[^"\\]|\\.)*)"[ ]+"((?:[^"\\]|\\.)*)")?'
# A UTC offset a clock can show (-1200 to +1400); strptime's %z takes +2500 or +0075 too.
_ZONE_RE = "[+-](0[0-9]|1[0-4])[0-5][0-9]"
_ADDRESS_RE = r"^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$"

# The bounds on what a line may say (docs/insights.md, "What counts as a valid line"). A line
# outside them is counted in `invalid_lines`, so no visitor's request can distort an answer.
# The largest CloudWatch Logs event; Apache's own lines stay far below it (8 KB per header).
MAX_LINE_BYTES = 1024 * 1024
# One response of more than a tebibyte is no response a café's web server sent.
MAX_RESPONSE_BYTES = 2**40
# Apache's %D (µs to serve a request): more than a day is no request it served.
MAX_PROCESS_MICROSECONDS = 86_400 * 1_000_000
# A time more than ten years (the longest CloudWatch Logs keeps events) from the log's median
# time is no time this log covers. The generator's windows are no longer.
TIME_WINDOW = LOGS_MAX_RETENTION
# Read 1 MiB at a time when a copy is cleaned: a line longer than MAX_LINE_BYTES is never held.
_CLEAN_CHUNK = 1024 * 1024
# What `_scan` reads at a time.
_SCAN_CHUNK = 16 * _CLEAN_CHUNK
# What a NUL run or an over-long line becomes in a cleaned copy: one line no parser takes.
_INVALID_MARK = "\ufffd"
# What the line reader raises at a line with a NUL byte (an InvalidInputException).
_NUL_ERROR = "cafepipe: a line holds a NUL byte"

# The essential fields GoAccess also insists on: a client address, a time, a request, a status;
# and none of the others out of bounds (`bad_fields`). Whether the address has an address's
# shape (`_ADDRESS_RE`) is checked once per distinct address after the parse
# (`_invalidate_bad_addresses`), not on every line: a log has far fewer addresses than lines.
_VALID = """ts IS NOT NULL AND isfinite(ts) AND status BETWEEN 100 AND 599
    AND remoteip IS NOT NULL AND request <> '' AND NOT bad_fields"""
_JSON_FIELDS = (
    "time", "remoteIP", "request", "query", "method", "status", "userAgent", "useragent",
    "referer", "bytes", "process", "host", "city", "region", "country",
)  # fmt: skip
# The fields Apache writes as numbers (as strings of digits); every other field is text.
_COUNT_FIELDS = ("status", "bytes", "process")
_NOT_TEXT = ["NULL", "OBJECT", "ARRAY", "BOOLEAN", "BIGINT", "UBIGINT", "DOUBLE"]
# The keys of the stack's LogFormat (templates/instance/httpd-cafe.conf.j2) and of the
# generator, in its order: a line with these once each, all strings, needs no slower check.
_APACHE_KEYS = (
    "time", "process", "filename", "remoteIP", "host", "request", "query", "method", "status",
    "bytes", "userAgent", "referer", "country", "region", "city", "lat", "lon",
)  # fmt: skip
# What DuckDB's JSON reader takes and json.loads does not (a trailing comma, NaN, Infinity),
# and nesting (where a key may be twice): a line that may hold one is checked by json.loads.
_LAX_JSON_RE = r",\s*[\]}]|[:,\[]\s*-?[NnIi][AaNn]|[:,]\s*[\[{]"
_STRICT_FUNCTION = "cafepipe_strict_json"
# An escape JSON has not: an odd run of backslashes before anything but " \ / b f n r t u.
# Inside a string or out of one, a line holding it is not JSON (tests/test_json_fast_path.py).
_BAD_ESCAPE_RE = r'(?:^|[^\\])(?:\\\\)*\\[^"\\/bfnrtu]'
# How DuckDB's JSON functions say a text is not JSON (tests/test_json_fast_path.py holds it).
_MALFORMED_JSON = "Malformed JSON"


def _unique_keys(pairs: list[tuple[str, Any]]) -> None:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("a key is there twice")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str) -> bool:
    """Whether `text` is JSON as json.loads reads it, without NaN, Infinity or a key twice."""
    try:
        json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: [[[[… nested past Python's stack
        return False
    return True


# DuckDB's working memory: what it holds beyond this (the parsed table's blocks, a large
# aggregate's hash table) goes to its database file and temp space, so a log of any size is
# read in bounded memory. A quarter of the log's size as text (a .gz's too: at 10M lines, 640 MB
# instead of a quarter of its 105 MB cost 8% less, peak 481 MiB instead of 360), from 256 MB to
# 640 MB: at 1M lines (250 MB) more memory buys no speed, at 10M lines 640 MB spill less and
# cost 13% less CPU (measured side by side; peak ~550 MiB). Two cores share the machine: one
# thread each.
MEMORY_LIMIT = 256 * 1024 * 1024
MEMORY_LIMIT_MAX = 640 * 1024 * 1024
THREADS = 2


def memory_limit(path: Path) -> int:
    """DuckDB's memory limit (bytes) for reading `path`: bounded, whatever its size."""
    return max(MEMORY_LIMIT, min(MEMORY_LIMIT_MAX, text_bytes(path) // 4))


# Rows per row group of the scratch database for a log of up to SMALL_LOG_BYTES. With DuckDB's
# default (122,880 rows) such a log fills one or two row groups: one thread compresses and
# writes each (a table of less than one goes to the write-ahead log and is checkpointed, on one
# thread), and one thread scans each in every query. 16,384 rows keep both cores busy: 100k
# lines cost 24% less (combined) and 17% less (JSON), 250k combined lines 13% less. A larger
# log has enough row groups: at 1M lines the same either way, at 10M 7% more with small ones.
SMALL_LOG_BYTES = 64 * 1024 * 1024
SMALL_ROW_GROUP = 16_384
# The scratch database's name in DuckDB (attached to an in-memory instance, which has the
# memory limit and the spill folder).
_DATABASE = "log"
# The smallest gzip file: its header and trailer (a shorter one is truncated, refused later).
_GZIP_LEAST_BYTES = 18


def text_bytes(path: Path) -> int:
    """How many bytes `path` holds as text: a .gz's own trailer says it (modulo 4 GiB, so a
    larger log may be taken for a smaller one, which costs speed, not memory)."""
    size = path.stat().st_size
    if size < _GZIP_LEAST_BYTES or not _is_gzip(path):
        return size
    with path.open("rb") as handle:
        handle.seek(-4, 2)
        return int.from_bytes(handle.read(4), "little")


def row_group_size(path: Path) -> int | None:
    """The row group size for reading `path` (None: DuckDB's default)."""
    return SMALL_ROW_GROUP if text_bytes(path) <= SMALL_LOG_BYTES else None


@dataclass
class LoadedLog:
    """A log parsed into a DuckDB connection's `logs` table."""

    connection: duckdb.DuckDBPyConnection
    log_format: str
    lines: int
    invalid_lines: int
    workdir: Path | None = None  # the database file and temp space, removed by close()

    def close(self) -> None:
        """Close the connection and remove its database file (idempotent)."""
        self.connection.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _open_database(
    temp_dir: Path | None = None, limit: int = MEMORY_LIMIT, row_group: int | None = None
) -> tuple[duckdb.DuckDBPyConnection, Path]:
    # A database file, not memory: DuckDB stores the parsed table compressed (dictionary,
    # FSST, bit-packing: a million lines in ~15 MB), and spills to the same folder past
    # its memory limit. Measured against an in-memory compressed database: the parse costs 20%
    # more CPU, but the catalog's queries scan the file's checkpointed blocks 3× faster.
    # The folder is in `temp_dir` (the stack's state dir when the CLI runs), removed when the
    # log is closed, or at exit at the latest.
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cafepipe-duckdb-", dir=temp_dir))
    atexit.register(shutil.rmtree, workdir, True)
    con = duckdb.connect(
        config={
            "memory_limit": f"{limit // (1024 * 1024)}MiB",
            "threads": THREADS,
            "temp_directory": str(workdir / "spill"),
            "preserve_insertion_order": False,
            # A scratch database, removed when the log is closed: nothing in it must survive
            # a crash, so no commit waits for the disk (an fsync each cost ~5 ms).
            "fsync_mode": "none",
        },
    )
    options = "" if row_group is None else f" (ROW_GROUP_SIZE {row_group})"
    database = str(workdir / "log.duckdb").replace("'", "''")
    con.execute(f"ATTACH '{database}' AS {_DATABASE}{options}")
    con.execute(f"USE {_DATABASE}")
    # Nor is it checkpointed when closed: the tables written after the parse (agents, visits)
    # are in its write-ahead log, and are deleted with it.
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    return con, workdir


def _cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of `con` on the log's database (a cursor starts in the in-memory one)."""
    cursor = con.cursor()
    cursor.execute(f"USE {_DATABASE}")
    return cursor


def detect_format(path: Path) -> str:
    """'json' if most of the first non-blank lines start with '{', else 'combined'."""
    opener: Any = gzip.open if _is_gzip(path) else open
    json_votes = combined_votes = 0
    with _reading_gzip(path), opener(path, "rb") as handle:
        for block in _clean_blocks(handle):
            for raw in block.splitlines():
                line = raw.strip()
                if not line or line == _INVALID_MARK:  # a NUL run or an over-long line: no vote
                    continue
                if line.startswith("{"):
                    json_votes += 1
                else:
                    combined_votes += 1
            if json_votes + combined_votes >= 50:
                break
    return "json" if json_votes > combined_votes else "combined"


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


@contextmanager
def _reading_gzip(path: Path) -> Iterator[None]:
    """A corrupt or truncated .gz met while reading becomes a UsageError naming the file."""
    try:
        yield
    except _CORRUPT_GZIP as exc:
        raise UsageError(
            f"{path} is a corrupt or truncated gzip file ({exc})",
            f"check it with gzip -t {path}; copy or download it again",
        ) from None


def _check_gzip_name(path: Path) -> None:
    # DuckDB decompresses by the name: a plain log named .gz would fail deep in its reader.
    if path.suffix == ".gz" and path.stat().st_size and not _is_gzip(path):
        raise UsageError(
            f"{path} is named .gz but is not gzip-compressed",
            "rename it without .gz (it is read as plain text then), or compress it with gzip",
        )


def _looks_binary(path: Path) -> bool:
    """Whether the start of a file is binary data: a tenth of it control bytes or not UTF-8."""
    opener: Any = gzip.open if _is_gzip(path) else open
    with _reading_gzip(path), opener(path, "rb") as handle:
        head = handle.read(64 * 1024)
    if not head:
        return False
    text = head.decode("utf-8", "replace")
    odd = sum(1 for char in text if char == "\ufffd" or (char < " " and char not in "\t\n\r"))
    return odd > len(text) // 10  # a junk line in a log is not enough


def _first_line(text: str) -> str:
    # DuckDB's messages quote the offending line, binary bytes and all: keep the first line.
    lines = text.strip().splitlines()
    first = lines[0] if lines else "unreadable"
    return "".join(char if char.isprintable() else "\ufffd" for char in first)[:200]


def _not_an_access_log(path: Path, reason: str, fmt: str) -> UsageError:
    return UsageError(
        f"{path} is not an access log this tool reads ({_first_line(reason)}; read as {fmt})",
        _HINT,
    )


def _has_crlf(path: Path) -> bool:
    opener: Any = gzip.open if _is_gzip(path) else open
    with _reading_gzip(path), opener(path, "rb") as handle:
        return bool(handle.readline(MAX_LINE_BYTES + 2).endswith(b"\r\n"))


def _scan(path: Path, count_lines: bool = True) -> tuple[bool, int]:
    """Whether the file holds a NUL byte, and how many lines it has (a last one unended too).

    DuckDB keeps NUL bytes inside a line; the rule splits the line there (_clean_blocks).
    One reused buffer, searched at memory speed: a few MB, whatever the size of the log.
    A .gz is decompressed as it is read (a corrupt one raises one of _CORRUPT_GZIP).
    Without `count_lines` (0 lines), only the NUL search: counting costs as much as reading.
    """
    buffer = bytearray(_SCAN_CHUNK)
    lines = 0
    last = b"\n"
    opener: Any = gzip.open if _is_gzip(path) else functools.partial(open, buffering=0)
    with opener(path, "rb") as handle:
        while size := handle.readinto(buffer):
            if buffer.find(b"\x00", 0, size) >= 0:
                return True, 0
            if count_lines:
                lines += buffer.count(b"\n", 0, size)
            last = bytes(buffer[size - 1 : size])
    return False, lines + (count_lines and last != b"\n")


class _Readable(Protocol):
    """A binary file (plain or gzip) as _clean_blocks reads it."""

    def read(self, size: int = -1, /) -> bytes: ...


_NUL_RUN = re.compile(rb"\x00+")
_MARK = _INVALID_MARK.encode()


def _clean_lines(head: bytes) -> str:
    # Whole lines: CRLF ends become LF, a CR left inside a line U+FFFD, an over-long line the
    # mark, bytes that are not UTF-8 U+FFFD.
    head = head.replace(b"\r\n", b"\n").replace(b"\r", "\ufffd".encode())
    lines = head.split(b"\n")
    if max(map(len, lines)) > MAX_LINE_BYTES:
        head = b"\n".join(_MARK if len(line) > MAX_LINE_BYTES else line for line in lines)
    return head.decode("utf-8", "replace")


def _clean_blocks(source: _Readable) -> Iterator[str]:
    """`source` as text in blocks of whole lines, holding a few MiB at most.

    Undecodable bytes become U+FFFD and CRLF line ends LF (a carriage return inside a line
    becomes U+FFFD). A run of NUL bytes (what a crash leaves where lines were not written)
    ends the line before it and is one invalid line of its own; a line longer than
    MAX_LINE_BYTES is one invalid line. Both are written as `_INVALID_MARK`.
    """
    pending = b""  # the start of a line not ended yet, at most MAX_LINE_BYTES + 1
    too_long = False  # dropping the rest of an over-long line
    in_nul_run = False  # the last chunk ended inside a NUL run (already marked)
    while chunk := source.read(_CLEAN_CHUNK):
        if in_nul_run:
            chunk = chunk.lstrip(b"\x00")
            if not chunk:
                continue
        in_nul_run = chunk.endswith(b"\x00")
        if b"\x00" in chunk:
            chunk = _NUL_RUN.sub(b"\n" + _MARK + b"\n", chunk)
        data = pending + chunk
        end = data.rfind(b"\n")
        if end < 0:
            too_long = too_long or len(data) > MAX_LINE_BYTES + 1  # + a CR of a CRLF
            pending = b"" if too_long else data
            continue
        head, pending = data[: end + 1], data[end + 1 :]
        if too_long:  # the over-long line ends at the block's first line end
            head = _MARK + head[head.index(b"\n") :]
        too_long = len(pending) > MAX_LINE_BYTES + 1
        if too_long:
            pending = b""
        yield _clean_lines(head)
    if too_long or pending:  # the last line has no line end
        yield _clean_lines(_MARK + b"\n" if too_long else pending + b"\n")


def _write_sanitized(source: _Readable, target: Path) -> None:
    # Binary junk must not stop the reader, nor a line of any length fill the memory.
    with target.open("w", encoding="utf-8", newline="\n") as out:
        for block in _clean_blocks(source):
            out.write(block)


@contextmanager
def sanitized_copy(path: Path, temp_dir: Path | None = None) -> Iterator[Path]:
    """An uncompressed UTF-8 copy of `path` with LF line ends (in `temp_dir`), removed on exit."""
    with tempfile.TemporaryDirectory(prefix="cafepipe-log-", dir=temp_dir) as tmp:
        target = Path(tmp) / "access.log"
        # Other OSErrors (the disk full under the temporary copy…) are not the input's fault:
        # they reach cafepipe's error boundary as they are.
        with _reading_gzip(path):
            if _is_gzip(path):
                with gzip.open(path, "rb") as source:
                    _write_sanitized(source, target)
            else:
                with path.open("rb") as source:
                    _write_sanitized(source, target)
        yield target


def _compression(path: Path) -> str:
    # By the content, not the name: DuckDB reads a .gz itself, streaming (on one core).
    return "gzip" if _is_gzip(path) else "none"


def _lines_sql(path: Path) -> str:
    quoted = str(path).replace("'", "''")
    # One VARCHAR per line: no delimiter, no quoting. A line holding a NUL byte (which DuckDB
    # keeps inside it) stops the read with _NUL_ERROR: the file is read from a clean copy. A
    # line over MAX_LINE_BYTES is invalid: up to 3 × MAX_LINE_BYTES (what a clean copy's
    # U+FFFD can make of one) it is read and marked here; a longer one stops the reader, and
    # the clean copy marks it without holding it.
    return (
        f"SELECT CASE WHEN strpos(line, chr(0)) > 0 THEN error('{_NUL_ERROR}') "
        f"WHEN strlen(line) > {MAX_LINE_BYTES} THEN '{_INVALID_MARK}' ELSE line END "
        f"AS line FROM read_csv('{quoted}', columns={{'line': 'VARCHAR'}}, delim='\\0', "
        f"compression='{_compression(path)}', "
        "quote='', escape='', header=false, auto_detect=false, "
        f"max_line_size={3 * MAX_LINE_BYTES + 1}, new_line='\\n') "
        # Blank lines (spaces and tabs only) are no lines. trim() with a character set is slow:
        # only a line that starts with a blank is trimmed.
        # Nor an IN list first: DuckDB makes it a join, which cost 5% of reading a JSON log.
        "WHERE line IS NOT NULL AND CASE WHEN ascii(line) > 32 THEN true "
        "WHEN ascii(line) NOT IN (0, 9, 11, 12, 32) THEN true "
        "ELSE trim(line, ' ' || chr(9) || chr(11) || chr(12)) <> '' END"
    )


# The status and count rules, in DuckDB's SQL for the parse and in the catalog's portable SQL
# (`portable=True`), which the Athena engine (cafepipe.insights.athena_sql) transpiles for the
# lake. Both forms say the same (tests/test_catalog_speed_forms.py): DuckDB's GLOB tests digits
# at a quarter of the cost of a regular expression, and Trino has no GLOB.
def status_sql(text: str, portable: bool = False) -> str:
    """Three digits from 100 to 599: try_cast alone would also take '2e2', ' 200' or '200.4'."""
    pattern = "[1-5][0-9][0-9]"
    match = full_match_sql(text, pattern) if portable else f"{text} GLOB '{pattern}'"
    return f"CASE WHEN {match} THEN try_cast({text} AS INTEGER) END"


def count_sql(text: str, limit: int, portable: bool = False) -> str:
    """A count as Apache writes it: digits, or '-' (or nothing) for none, which is NULL.

    Anything else — a sign, a fraction, an exponent, more than `limit` — is -1: the line is
    invalid.
    """
    most = len(str(limit))
    digits = (
        full_match_sql(text, f"[0-9]{{1,{most}}}")
        if portable
        else f"({text} <> '' AND strlen({text}) <= {most} AND NOT {text} GLOB '*[!0-9]*')"
    )
    return f"""CASE WHEN {text} IS NULL OR {text} IN ('-', '') THEN NULL
        WHEN {digits}
             AND try_cast({text} AS BIGINT) <= {limit} THEN try_cast({text} AS BIGINT)
        ELSE -1 END"""


_COMBINED_COLUMNS = (
    "{'remoteip': 'VARCHAR', 'ident': 'VARCHAR', 'user': 'VARCHAR', 'time': 'VARCHAR', "
    "'zone': 'VARCHAR', 'req': 'VARCHAR', 'status': 'VARCHAR', 'bytes': 'VARCHAR', "
    "'referer': 'VARCHAR', 'useragent': 'VARCHAR'}"
)


def _combined_fast_sql(path: Path) -> str:
    # DuckDB's CSV reader splits a combined line on spaces, honouring quotes and Apache's \"
    # escapes, on both cores. A line it rejects (another shape, a truncated quote that ran
    # into the next line, bytes that are not UTF-8) is skipped, so the table has fewer rows
    # than the file has lines, and the file is parsed again by `_combined_sql`.
    quoted = str(path).replace("'", "''")
    return f"""
WITH fields AS (
    SELECT remoteip, time, zone, req, status AS sb_status, bytes AS sb_bytes,
           referer, useragent, split_part(req, ' ', 2) AS target
    FROM read_csv('{quoted}', columns={_COMBINED_COLUMNS}, delim=' ', quote='"', escape='\\',
                  compression='{_compression(path)}',
                  header=false, auto_detect=false, ignore_errors=true,
                  new_line='\\n', max_line_size={MAX_LINE_BYTES + 1})
),
located AS (SELECT *, strpos(target, '?') AS qpos FROM fields)
SELECT {_utc_sql("time", "zone")} AS ts, remoteip,
       CASE WHEN qpos = 0 THEN target ELSE left(target, qpos - 1) END AS request,
       CASE WHEN qpos = 0 THEN '' ELSE substr(target, qpos) END AS query,
       {status_sql("sb_status")} AS status,
       coalesce(size, 0) AS bytes,
       coalesce(referer, '') AS referer, coalesce(useragent, '') AS useragent,
       NULL::BIGINT AS process, NULL::VARCHAR AS host,
       NULL::VARCHAR AS city, NULL::VARCHAR AS region, NULL::VARCHAR AS country,
       coalesce(size, 0) = -1 AS bad_fields
FROM (SELECT *, {count_sql("sb_bytes", MAX_RESPONSE_BYTES)} AS size FROM located)
"""


def _utc_sql(time: str, zone: str) -> str:
    # `[20/Nov/2026:05:00:03` and `+0200]` → UTC. strptime's %z costs twice as much as the
    # rest, and almost every server logs in UTC, so the offset is applied by hand.
    offset = (
        f"to_minutes((CASE WHEN {zone}[1] = '-' THEN -1 ELSE 1 END) * "
        f"(CAST({zone}[2:3] AS INTEGER) * 60 + CAST({zone}[4:5] AS INTEGER)))"
    )
    return f"""(try_strptime({time}, '[%d/%b/%Y:%H:%M:%S')
        - CASE WHEN {zone} = '+0000]' THEN INTERVAL 0 MINUTE
               WHEN regexp_full_match({zone}, '{_ZONE_RE}\\]') THEN {offset} END)"""


def _combined_sql(lines_sql: str) -> str:
    regex = f"regexp_extract(line, '{_COMBINED_RE}', ['head', 'req', 'sb', 'ref', 'ua'])"
    # Apache writes a quote inside a header as \"; only lines that took the regex can hold one.
    return f"""
WITH raw AS (SELECT line, string_split(line, '"') AS p FROM ({lines_sql})),
parts AS (
    SELECT len(p) = 7 AND p[5] = ' ' AND p[7] = '' AS plain,
           CASE WHEN plain
                THEN {{'head': p[1], 'req': p[2], 'sb': p[3], 'ref': p[4], 'ua': p[6]}}
                ELSE {regex}
           END AS f
    FROM raw
),
fields AS (
    SELECT split_part(f.head, ' ', 1) AS remoteip,
           CASE WHEN regexp_matches(f.head, ' {_ZONE_RE}\\]')
                THEN try_strptime(
                    split_part(split_part(f.head, '[', 2), ']', 1), '%d/%b/%Y:%H:%M:%S %z'
                )::TIMESTAMP END AS ts,
           CASE WHEN plain THEN f.req ELSE replace(f.req, '\\"', '"') END AS req,
           trim(f.sb) AS sb,
           CASE WHEN plain THEN f.ref ELSE replace(f.ref, '\\"', '"') END AS referer,
           CASE WHEN plain THEN f.ua ELSE replace(f.ua, '\\"', '"') END AS useragent
    FROM parts
),
request_parts AS (
    SELECT *, split_part(req, ' ', 2) AS target FROM fields
)
SELECT ts, remoteip,
       split_part(target, '?', 1) AS request,
       CASE WHEN strpos(target, '?') > 0 THEN substr(target, strpos(target, '?')) ELSE '' END
           AS query,
       {status_sql("split_part(sb, ' ', 1)")} AS status,
       coalesce(size, 0) AS bytes,
       coalesce(referer, '') AS referer, coalesce(useragent, '') AS useragent,
       NULL::BIGINT AS process, NULL::VARCHAR AS host,
       NULL::VARCHAR AS city, NULL::VARCHAR AS region, NULL::VARCHAR AS country,
       coalesce(size, 0) = -1 AS bad_fields
FROM (SELECT *, {count_sql("split_part(sb, ' ', 2)", MAX_RESPONSE_BYTES)} AS size
      FROM request_parts)
"""


_REPAIR_FUNCTION = "cafepipe_repair_apache_json"


def _register_repair(con: duckdb.DuckDBPyConnection) -> None:
    """The Apache-escape repair as a SQL function (once per connection; only invalid lines)."""
    known = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [_REPAIR_FUNCTION]
    ).fetchall()
    if not known[0][0]:
        con.create_function(_REPAIR_FUNCTION, repair_line, ["VARCHAR"], "VARCHAR")


def _register_strict_json(con: duckdb.DuckDBPyConnection) -> None:
    """`strict_json` as a SQL function (once per connection; only lines that may need it)."""
    known = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [_STRICT_FUNCTION]
    ).fetchall()
    if not known[0][0]:
        con.create_function(_STRICT_FUNCTION, strict_json, ["VARCHAR"], "BOOLEAN")


def _stack_members_sql(line: str, guarded: bool = True) -> str:
    """The values of `line`'s members in order if it may be the stack's own line, else NULL.

    The stack's line is `{"time":"…","process":"…",…,"lon":"…"}`, the LogFormat's keys in
    order: LIKE finds that shape with a few substring searches, and a line of it without a
    backslash is read by one lookup of all its members (`$.*`). It is the stack's line
    exactly when it has as many members as the LogFormat has keys (`_json_sql`). Unguarded,
    a line of that shape that is not JSON raises InvalidInputException: try() costs about
    0.3 s of CPU per million lines, errors or not.
    """
    shape = "{" + ",".join(f'"{name}":"%"' for name in _APACHE_KEYS) + "}"
    members = f"json_extract_string({line}, '$.*')"
    return (
        f"CASE WHEN strpos({line}, '\\') = 0 AND {line} LIKE '{shape}' "
        f"THEN {f'try({members})' if guarded else members} END"
    )


def _json_sql(lines_sql: str, fast: bool = True, guarded: bool = False, python: bool = True) -> str:
    # fast=False reads every line the general way: the tests' reference for the fast path.
    # guarded: a stack-shaped line that is not JSON is invalid, not an error (_parse_into).
    # python=False calls no Python function: a line that needs one gets no values, and is
    # kept to be read again with them (`_read_pending`): in `to_repair` a line that is not
    # JSON for an Apache escape, in `to_check` one with a lax construct json.loads may refuse.
    # Registering them imports numpy (DuckDB's Python functions do), a tenth of a second the
    # stack's own lines never need.
    # v: the LogFormat's keys in its order (as the fast path reads them), then `useragent`;
    # t: the types of the line and of each of those keys.
    keys = [*_APACHE_KEYS, *(name for name in _JSON_FIELDS if name not in _APACHE_KEYS)]
    paths = ", ".join(f"'$.{name}'" for name in keys)
    # A compact line of the LogFormat's keys, all strings without escapes, is this long.
    apache_length = 2 + len(_APACHE_KEYS) - 1 + sum(len(name) + 5 for name in _APACHE_KEYS)
    values_length = " + ".join(f"strlen(v[{keys.index(name) + 1}])" for name in _APACHE_KEYS)
    at = {name: i + 2 for i, name in enumerate(keys)}
    apache_shape = ", ".join(["'OBJECT'", *["'VARCHAR'"] * len(_APACHE_KEYS)])
    apache_shape += ", NULL" * (len(keys) - len(_APACHE_KEYS))
    text_types = ", ".join(f"t[{at[name]}]" for name in _JSON_FIELDS if name not in _COUNT_FIELDS)
    count_types = ", ".join(f"t[{at[name]}]" for name in _COUNT_FIELDS)
    index = {name: i + 1 for i, name in enumerate(keys)}
    members = _stack_members_sql("line", guarded) if fast else "NULL::VARCHAR[]"
    repair = f"{_REPAIR_FUNCTION}(line)" if python else "NULL::VARCHAR"
    strict = f"{_STRICT_FUNCTION}(doc)" if python else "NULL::BOOLEAN"
    to_repair = (
        "NULL::VARCHAR"
        if python
        else "CASE WHEN t IS NULL AND strpos(line, '\\') > 0 THEN line END"
    )
    to_check = "NULL::VARCHAR" if python else "CASE WHEN lax THEN doc END"

    def field(name: str) -> str:
        return f"v[{index[name]}]"

    return f"""
WITH members AS (
    -- The stack's own lines (`_stack_members_sql`). In a line that takes the LIKE and has no
    -- backslash, each "key":" of the pattern is a member with a string value, and a quote in
    -- one of the pattern's values would make one more member: with 17 members the line is
    -- the pattern itself, each key once, no whitespace, NaN or trailing comma, the values
    -- without quotes or escapes; strict JSON exactly when yyjson reads it (a control
    -- character in a value is not). Its values are the general way's, which others take.
    SELECT line, {members} AS m FROM ({lines_sql})
),
raw AS (
    -- One parse finds both whether the line is JSON (try(): NULL if not) and its types. A
    -- line with an escape JSON has not (Apache's \\xhh) is not JSON and is not parsed: a
    -- parse that fails costs about 5 µs a line (an exception caught).
    SELECT line, stack, m,
           CASE WHEN NOT stack AND NOT (strpos(line, '\\') > 0
                                        AND regexp_matches(line, '{_BAD_ESCAPE_RE}'))
                THEN try(json_type(line, ['$', {paths}])) END AS t
    FROM (SELECT *, coalesce(len(m) = {len(_APACHE_KEYS)}, false) AS stack FROM members)
),
repaired AS (
    SELECT stack, m, t,
           CASE WHEN t IS NOT NULL THEN line
                WHEN strpos(line, '\\') > 0 THEN {repair}
           END AS doc,
           {to_repair} AS to_repair
    FROM raw
),
valid_docs AS (
    -- The line itself was found valid; only a repaired line is parsed again.
    SELECT stack, m, CASE WHEN t IS NOT NULL OR typed IS NOT NULL THEN doc END AS doc,
           coalesce(t, typed) AS t, to_repair
    FROM (SELECT *, CASE WHEN t IS NULL AND doc IS NOT NULL
                         THEN try(json_type(doc, ['$', {paths}])) END AS typed
          FROM repaired)
),
extracted AS (
    SELECT stack, m, doc, t, to_repair,
           CASE WHEN t[1] = 'OBJECT' THEN json_extract_string(doc, [{paths}]) END AS v
    FROM valid_docs
),
checked AS (
    -- One JSON object, read as json.loads reads it, every text field a string, no field null.
    -- Other lines of the LogFormat's keys (in another order, say) are checked by their
    -- length: with those keys all strings and no escape, only a compact line of those keys
    -- once each (no trailing comma, no NaN, no nesting, no key twice) is exactly that long.
    -- Any other line is checked in full; `lax`: it may hold what json.loads refuses.
    -- (NULL: the line is not read.)
    SELECT CASE WHEN stack THEN m ELSE v END AS v, doc, to_repair,
           CASE WHEN stack THEN false
                WHEN t IS NOT DISTINCT FROM [{apache_shape}] AND strpos(doc, '\\') = 0
                     AND strlen(doc) = {apache_length} + {values_length}
                THEN false
                WHEN t[1] = 'OBJECT'
                     AND NOT list_has_any([{text_types}], [{_sql_strings(_NOT_TEXT)}])
                     AND NOT list_contains([{count_types}], 'NULL')
                     AND len(list_distinct(json_keys(doc))) = len(json_keys(doc))
                THEN regexp_matches(doc, '{_LAX_JSON_RE}') END AS lax
    FROM extracted
),
docs AS (
    -- CASE, not AND: the Python function is called on the lax lines alone.
    SELECT CASE WHEN NOT lax THEN v WHEN lax THEN CASE WHEN {strict} THEN v END END AS v,
           to_repair, {to_check} AS to_check
    FROM checked
),
values AS (
    SELECT *, {count_sql(field("bytes"), MAX_RESPONSE_BYTES)} AS size,
           {count_sql(field("process"), MAX_PROCESS_MICROSECONDS)} AS took
    FROM docs
)
SELECT try_cast({field("time")} AS TIMESTAMPTZ)::TIMESTAMP AS ts,
       {field("remoteIP")} AS remoteip,
       {field("request")} AS request,
       coalesce({field("query")}, '') AS query,
       {status_sql(field("status"))} AS status,
       coalesce(size, 0) AS bytes,
       coalesce({field("referer")}, '') AS referer,
       coalesce({field("userAgent")}, {field("useragent")}, '') AS useragent,
       took AS process,
       {field("host")} AS host,
       {field("city")} AS city, {field("region")} AS region, {field("country")} AS country,
       coalesce(size, 0) = -1 OR coalesce(took, 0) = -1 AS bad_fields,
       to_repair, to_check
FROM values
"""


class _NeedsCleanCopy(Exception):
    """The file has bytes DuckDB's reader refuses; parse a sanitized copy instead."""


def _with_flags(select_sql: str) -> str:
    # Only what the catalog reads is stored: `bad_fields` is folded into `valid`.
    return f"""SELECT * EXCLUDE (bad_fields), coalesce({_VALID}, false) AS valid,
       coalesce({scanner_condition_sql()}, false) AS is_scanner
FROM ({select_sql})"""


def _create_ip_places(con: duckdb.DuckDBPyConnection) -> None:
    # A combined line has no geo fields: its place comes from its client address, by the
    # address blocks of cafepipe.cafe.geography (a /24 network, else a /16 city block). Keyed by the
    # /16 as a number, so one integer hash join places every line.
    rows = [
        (*_octets(prefix), CITIES[CITY_INDEX[name]]) for prefix, name in NETWORK_CITIES.items()
    ] + [
        (first, second, None, city)
        for city, blocks in zip(CITIES, CITY_BLOCKS, strict=True)
        for first, second in blocks
    ]
    # ENUM columns: a place is stored as a small number on each of a million rows, which
    # costs far less than three strings per row. IF NOT EXISTS: an earlier attempt on this
    # connection (before a clean copy is read) made them already.
    names: tuple[tuple[str, set[str]], ...] = (
        ("city_name", {city.name for city in CITIES}),
        ("region_name", {city.region for city in CITIES}),
        ("country_code", {city.country for city in CITIES}),
    )
    for type_name, names_of_type in names:
        con.execute(
            f"CREATE TYPE IF NOT EXISTS {type_name} AS ENUM ({_sql_strings(sorted(names_of_type))})"
        )
    # The rows as list parameters, unnested side by side: a fifth of the time the same rows
    # take as a VALUES list in the SQL text (2 ms against 10 in each run).
    con.execute(
        "CREATE TABLE IF NOT EXISTS ip_places AS "
        "SELECT unnest($1)::INTEGER AS k16, unnest($2)::INTEGER AS third, "
        "unnest($3)::city_name AS city, unnest($4)::region_name AS region, "
        "unnest($5)::country_code AS country",
        [
            [first * 256 + second for first, second, _, _ in rows],
            [third for _, _, third, _ in rows],
            [city.name for *_, city in rows],
            [city.region for *_, city in rows],
            [city.country for *_, city in rows],
        ],
    )


def _sql_strings(values: list[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def _octets(prefix: str) -> tuple[int, int, int]:
    first, second, third = (int(part) for part in prefix.split("."))
    return first, second, third


def _with_places(select_sql: str) -> str:
    return f"""SELECT l.* EXCLUDE (city, region, country, o), g.city, g.region, g.country
FROM (SELECT *, string_split(remoteip, '.') AS o FROM ({select_sql})) AS l
LEFT JOIN ip_places AS g
       ON g.k16 = try_cast(l.o[1] AS INTEGER) * 256 + try_cast(l.o[2] AS INTEGER)
      AND (g.third IS NULL OR g.third = try_cast(l.o[3] AS INTEGER))"""


def _scanned(path: Path, scan: Future[tuple[bool, int]] | None) -> int:
    """How many lines `path` has, by `scan` (made while DuckDB read it) or counted now.

    A NUL byte, or a .gz that turns out corrupt, means a clean copy is read instead.
    """
    try:
        has_nul, lines = scan.result() if scan is not None else _scan(path)
    except _CORRUPT_GZIP:
        raise _NeedsCleanCopy from None
    if has_nul:
        raise _NeedsCleanCopy
    return lines


def _parse_into(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: str,
    scan: Future[tuple[bool, int]] | None = None,
) -> None:
    """Parse `path` into `parsed`; `scan`: its `_scan`, running beside the parse, if started."""
    if fmt == "json":
        each_line = _lines_sql(path)
        try:
            first = _with_flags(_json_sql(each_line, python=False))
            con.execute(f"CREATE OR REPLACE TABLE parsed AS {first}")
        except duckdb.InvalidInputException as exc:
            # A line of the stack's shape that is not JSON (a control character, a stray
            # quote: never Apache's, which escapes them) stops the unguarded read: read the
            # file again with that read in try(). Bytes the reader refuses are its own error,
            # for _load, which reads a clean copy.
            if _MALFORMED_JSON not in str(exc):
                raise
            guarded = _with_flags(_json_sql(each_line, guarded=True, python=False))
            con.execute(f"CREATE OR REPLACE TABLE parsed AS {guarded}")
        if scan is not None:  # a .gz: its checksum, which DuckDB's gzip reader does not check
            _scanned(path, scan)
        _read_pending(con)
        return
    _create_ip_places(con)
    # The address blocks (a few hundred rows) are the join's build side, whatever DuckDB
    # estimates the log's size to be: built on the log's side, the join costs 3× the read.
    con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    try:
        con.execute(
            "CREATE OR REPLACE TABLE parsed AS "
            + _with_flags(_with_places(_combined_fast_sql(path)))
        )
        rows = con.execute("SELECT count(*) FROM parsed").fetchone()
        lines = _scanned(path, scan)
        if rows and rows[0] == lines:
            # The CSV reader took every line as one row: it never makes two rows of one line,
            # and a line it rejects, or a truncated quote that swallows the next line, leaves
            # fewer rows than lines. (A blank line, no line at all, is dropped by it too, and
            # the file is parsed line by line below.)
            return
        # Some line had another shape (or a truncated quote swallowed the next line): parse
        # line by line, exactly, and replace what the fast path made. Bytes that are not
        # UTF-8 stop this reader, and a clean copy is read instead.
        con.execute(
            "CREATE OR REPLACE TABLE parsed AS "
            + _with_flags(_with_places(_combined_sql(_lines_sql(path))))
        )
    finally:
        con.execute("RESET disabled_optimizers")


def _read_pending(con: duckdb.DuckDBPyConnection) -> None:
    """Read the JSON lines the first read left to repair or to check again, with the Python
    functions.

    Each such line is one row without values: it is replaced by the row read again, so every
    line still counts once. A line to repair is read as its repair (strict JSON, or NULL: an
    invalid line), which is what the first read would have made of it with the functions; so
    the failed JSON parse of such a line is not paid twice.
    """
    kept = "to_repair IS NOT NULL OR to_check IS NOT NULL"
    found = con.execute(f"SELECT count(*) FROM parsed WHERE {kept}").fetchone()
    if found and found[0]:
        _register_repair(con)
        _register_strict_json(con)
        lines = (
            f"SELECT coalesce(to_check, {_REPAIR_FUNCTION}(to_repair)) AS line "
            f"FROM parsed WHERE {kept}"
        )
        again = _with_flags(_json_sql(lines, guarded=True))
        con.execute(f"INSERT INTO parsed BY NAME {again}")
        con.execute(f"DELETE FROM parsed WHERE {kept}")
    con.execute("ALTER TABLE parsed DROP COLUMN to_repair")
    con.execute("ALTER TABLE parsed DROP COLUMN to_check")


# Up to this many lines the median is quantile_disc's (8 bytes a line, held in memory).
_QUANTILE_MAX_LINES = 4_000_000
# The widths (µs) by which the median time is narrowed: a day, a second, the time itself.
_MEDIAN_STEPS = (86_400_000_000, 1_000_000, 1)


def _median_time_us(con: duckdb.DuckDBPyConnection) -> int | None:
    """The median time (epoch µs) of the valid lines, as `quantile_disc(ts, 0.5)` picks it.

    quantile_disc holds every value in memory, past the memory limit (400 MB at 50M lines):
    the value is found by counts instead, which spill. The lines are counted by day, then by
    second within the median's day, then by time within its second.
    """
    found = con.execute("SELECT count(*), min(epoch_us(ts)) FROM parsed WHERE valid").fetchone()
    if found is None or not found[0]:
        return None
    if found[0] <= _QUANTILE_MAX_LINES:  # one pass, in a few tens of MB
        picked = con.execute(
            "SELECT epoch_us(quantile_disc(ts, 0.5)) FROM parsed WHERE valid"
        ).fetchone()
        assert picked is not None
        return int(picked[0])
    rank = (found[0] - 1) // 2  # quantile_disc's pick: the lower middle, counted from 0
    low, width = int(found[1]), None  # the median is in [low, low + width) (µs)
    for step in _MEDIAN_STEPS:
        inside = "" if width is None else f"AND us < {low + width}"
        row = con.execute(f"""
SELECT bucket, before FROM (
    SELECT bucket, sum(lines) OVER (ORDER BY bucket) - lines AS before, lines
    FROM (SELECT (us - {low}) // {step} AS bucket, count(*) AS lines
          FROM (SELECT epoch_us(ts)::HUGEINT AS us FROM parsed WHERE valid)
          WHERE us >= {low} {inside} GROUP BY bucket))
WHERE before <= {rank} AND {rank} < before + lines""").fetchone()
        assert row is not None
        low, width = low + int(row[0]) * step, step
        rank -= int(row[1])
    return low


def _invalidate_bad_addresses(con: duckdb.DuckDBPyConnection) -> None:
    # The address rule of `_VALID`, on each distinct address of the valid lines: the regular
    # expression on every line cost more than the rest of the validity check together.
    # GROUP BY, not DISTINCT: DuckDB pushes a filter on a DISTINCT's output below it, which
    # would run the expression on every line again (0.4 s at 10M lines instead of 0.07 s).
    bad = f"""SELECT remoteip FROM (SELECT remoteip FROM parsed WHERE valid GROUP BY remoteip)
              WHERE NOT regexp_matches(remoteip, '{_ADDRESS_RE}')"""
    found = con.execute(f"SELECT count(*) FROM ({bad})").fetchone()
    if found and found[0]:
        con.execute(f"UPDATE parsed SET valid = false WHERE valid AND remoteip IN ({bad})")


def _invalidate_far_off_times(con: duckdb.DuckDBPyConnection) -> None:
    # More than TIME_WINDOW from the median time of the readable lines: no time of this log.
    # The median, as one line far off cannot move it; in µs as HUGEINT, as no bound overflows.
    span = int(TIME_WINDOW.total_seconds()) * 1_000_000
    ends = con.execute(
        "SELECT min(epoch_us(ts)), max(epoch_us(ts)) FROM parsed WHERE valid"
    ).fetchone()
    if ends is None or ends[0] is None or int(ends[1]) - int(ends[0]) <= span:
        # The whole log spans less than the window: every line is within it of the median,
        # which lies between them. The usual case, known from the table's statistics, without
        # the median's pass over every time.
        return
    middle = _median_time_us(con)
    if middle is None:
        return
    con.execute(f"""
UPDATE parsed SET valid = false
WHERE valid AND NOT epoch_us(ts)::HUGEINT BETWEEN {middle - span} AND {middle + span}""")


def load_log(
    path: Path,
    log_format: str = "auto",
    since: datetime | None = None,
    temp_dir: Path | None = None,
) -> LoadedLog:
    """Parse `path` (plain or .gz, JSON or combined) into the `logs` view of a DuckDB connection.

    `since` (naive UTC) keeps only lines at or after that time; older lines are neither
    requests nor invalid. `temp_dir`: where DuckDB spills and a clean copy is written (the
    stack's state dir's `tmp`; the system's temp dir by default), cleaned up by close().
    """
    if log_format not in LOG_FORMATS:
        raise UsageError(f"unknown log format {log_format!r}", "use auto, json or combined")
    if not path.is_file():
        raise UsageError(f"log file {path} does not exist", "pass --source FILE")
    _check_gzip_name(path)
    con, workdir = _open_database(temp_dir, memory_limit(path), row_group_size(path))
    try:
        return _load(con, path, log_format, since, workdir, temp_dir)
    except BaseException:
        con.close()
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _load(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    log_format: str,
    since: datetime | None,
    workdir: Path,
    temp_dir: Path | None = None,
) -> LoadedLog:
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # the CLI shows its own progress
    fmt = detect_format(path) if log_format == "auto" else log_format
    try:
        try:
            if _has_crlf(path):
                raise _NeedsCleanCopy
            # A combined log's lines and NUL bytes are counted on a thread while DuckDB parses
            # it (a plain read from the page cache, or a second decompression of a .gz): beside
            # the parse, not one more pass before it. A JSON log's rows are its lines, and its
            # line reader stops at a NUL byte: only a .gz is decompressed again, for its
            # checksum (DuckDB's gzip reader does not check it).
            with ThreadPoolExecutor(max_workers=1) as pool:
                count_lines = fmt != "json"
                scans = count_lines or _is_gzip(path)
                scan = pool.submit(_scan, path, count_lines) if scans else None
                _parse_into(con, path, fmt, scan)
        # NotImplementedException: a line longer than the reader's buffer (~100 MB).
        except (_NeedsCleanCopy, duckdb.InvalidInputException, duckdb.NotImplementedException):
            with sanitized_copy(path, temp_dir) as clean:
                _parse_into(con, clean, fmt)
        except duckdb.IOException:
            if not _is_gzip(path):
                raise
            # DuckDB's gzip reader stops at a corrupt or truncated .gz: Python's names it.
            with sanitized_copy(path, temp_dir) as clean:
                _parse_into(con, clean, fmt)
    except _NeedsCleanCopy:  # even the cleaned copy has bytes the reader refuses
        raise _not_an_access_log(path, "bytes the CSV reader refuses", fmt) from None
    except _INPUT_ERRORS as exc:
        raise _not_an_access_log(path, str(exc), fmt) from None
    except duckdb.Error as exc:  # not the input's fault: memory, an internal error…
        raise CafepipeError(
            f"DuckDB failed reading {path}: {_first_line(str(exc))}",
            "re-run with --debug for the traceback, and report it",
        ) from None
    _invalidate_bad_addresses(con)
    _invalidate_far_off_times(con)
    # The agents of every valid line: any window or filter applied later finds its own.
    scope_logs(con)
    con.execute(f"CREATE OR REPLACE TABLE agents AS {AGENTS_SQL}")
    if since is not None:
        scope_logs(con, f"ts >= TIMESTAMP '{since.isoformat(sep=' ')}'")
    counts = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT valid) FROM parsed"
    ).fetchone()
    assert counts is not None
    if counts[0] and counts[0] == counts[1] and _looks_binary(path):
        # Text in another format is counted as invalid lines; binary data is no log at all.
        raise _not_an_access_log(path, f"binary data: no log line in {counts[0]} lines", fmt)
    return LoadedLog(con, fmt, int(counts[0]), int(counts[1]), workdir)


def scope_logs(con: duckdb.DuckDBPyConnection, where: str = "TRUE", zone: str = "UTC") -> None:
    """(Re)create the `logs` view: the valid lines where `where` holds (a period, `--where`:
    `cafepipe.insights.scope`), with `cafe_ts`, each line's time at the café in `zone`.

    A view, not a copy: the parsed table is only read by the catalog's queries, and the
    previous period of `--compare` is the same table under another condition. The `visits`
    of the scope before are dropped; `scope_visits` builds this scope's when one is read.
    """
    cafe_ts = "ts"
    if zone != "UTC":
        span = con.execute("SELECT min(ts), max(ts) FROM parsed WHERE valid").fetchone()
        if span is not None and span[0] is not None:
            cafe_ts = cafe_time_sql(zone, span[0], span[1])
    con.execute(
        f"CREATE OR REPLACE VIEW logs AS SELECT * EXCLUDE (valid), {cafe_ts} AS cafe_ts "
        f"FROM parsed WHERE valid AND ({where})"
    )
    con.execute("DROP TABLE IF EXISTS visits")


def scope_visits(con: duckdb.DuckDBPyConnection) -> None:
    """Build the scope's `visits` table unless it is built: one sort of the page views for
    every visit insight, not one each (a table, not a view, so cursors share it)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS visits AS {VISITS_SQL}")


def run_insight(con: duckdb.DuckDBPyConnection, insight: Insight) -> list[list[Any]]:
    """The rows of one insight's SQL (the scope's `visits` built first if it reads them)."""
    if reads_visits(insight.sql):
        scope_visits(con)
    return _rows(con, insight.sql)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[list[Any]]:
    return [list(row) for row in con.execute(sql).fetchall()]


# Up to this many lines the visits table is built beside the other insights: its windows
# leave a core idle on a small log (the catalog at 1M lines: 0.36 → 0.33 s; at 3M: 0.90 → 0.86 s),
# and keep both busy on a large one, where other queries beside them cost more (6M: the same;
# 10M: 2.6 → 2.7 s).
VISITS_BESIDE_MAX_LINES = 4_000_000


def run_catalog(
    loaded: LoadedLog, insights: tuple[Insight, ...] = INSIGHTS
) -> dict[str, list[list[Any]]]:
    """Every insight's rows, by insight id."""

    # Two at a time, each on its own cursor: a small query leaves a core idle while it plans
    # and hands back its rows, and the other query uses it. The visits table is built first:
    # on a small log beside the insights that do not read it, on a large one before them all.
    # Those that read it wait for it, so only one cursor builds it, and then read it without
    # `scope_visits`: its CREATE … IF NOT EXISTS plans the whole visits query (4 ms) each time.
    visit_insights = [insight for insight in insights if reads_visits(insight.sql)]
    others = [insight for insight in insights if not reads_visits(insight.sql)]
    beside = bool(visit_insights) and loaded.lines <= VISITS_BESIDE_MAX_LINES
    if visit_insights and not beside:
        scope_visits(loaded.connection)
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = pool.submit(scope_visits, _cursor(loaded.connection)) if beside else None

        def run(insight: Insight) -> list[list[Any]]:
            if built is not None and reads_visits(insight.sql):
                built.result()
            return _rows(_cursor(loaded.connection), insight.sql)

        ordered = others + visit_insights
        answers = {
            insight.id: answer
            for insight, answer in zip(ordered, pool.map(run, ordered), strict=True)
        }
    return {insight.id: answers[insight.id] for insight in insights}
