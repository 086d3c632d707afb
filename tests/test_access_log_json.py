"""Every line of the shipped access log is strict JSON with UTF-8 text.

Apache escapes values its own way (`\\xhh`, `\\v`: not JSON); its piped logger
(`cafepipe/logs/access_logger.py`, installed on the instance as cafepipe-access-logger)
re-encodes each line. Unit tests take each escape and rule; the integration tests run the
rendered config in a real Apache (Debian apache2 + mod_php) with a hostile request set, then
rotate the log and restart Apache gracefully under traffic, and kill the logger.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

import apache_harness as harness
import pytest

from cafepipe.insights.duckdb_engine import load_log
from cafepipe.logs import access_logger
from cafepipe.logs.access_logger import MAX_LINE_BYTES, reencode_line, repair_line

LOG_KEYS = [
    "time", "process", "filename", "remoteIP", "host", "request", "query", "method", "status",
    "bytes", "userAgent", "referer", "country", "region", "city", "lat", "lon",
]  # fmt: skip


# Amazon Linux 2023's python3 is 3.9: the logger runs there, so the tests run it there too.
def _python39() -> str:
    for candidate in (shutil.which("python3.9"), "/root/.pyenv/versions/3.9.18/bin/python"):
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return sys.executable  # still the same program, on this Python


LOGGER_PYTHON = _python39()


def apache_line(**values: str) -> bytes:
    """A line as Apache writes it: the format's keys, each value already Apache-escaped."""
    fields = dict.fromkeys(LOG_KEYS, "-") | {"time": "2026-11-20T10:00:00.123Z"} | values
    return ("{" + ",".join(f'"{key}":"{value}"' for key, value in fields.items()) + "}").encode()


def reencoded(**values: str) -> dict[str, str]:
    out = reencode_line(apache_line(**values))
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    text = out.decode("utf-8")  # strict UTF-8: raises on anything else
    assert not any(ord(char) < 0x20 for char in text[:-1]), text  # control chars escaped
    record: dict[str, str] = json.loads(text)
    return record


# -------------------------------------------------------------------------- each escape


@pytest.mark.parametrize(
    ("apache_escaped", "text"),
    [
        ("caf\\xc3\\xa9-bot", "café-bot"),  # UTF-8 User-Agent
        ("S\\xc3\\xa3o Paulo", "São Paulo"),  # UTF-8 CloudFront-Viewer-City
        ("\\xf0\\x9f\\x98\\x80", "\U0001f600"),  # a 4-byte sequence
        ('say \\"hi\\"', 'say "hi"'),
        ("back\\\\slash", "back\\slash"),
        ("\\\\x41", "\\x41"),  # an escaped backslash before x41 is text, not a byte
        ("\\\\\\xc3\\xa9", "\\é"),
        ("a\\vb", "a\x0bb"),  # %0b: Apache's \v is not JSON
        ("a\\bb\\nc\\rd\\te", "a\bb\nc\rd\te"),
        ("\\x01\\x1f\\x7f", "\x01\x1f\x7f"),
        ("\\x01caf\\xc3\\xa9\\x02", "\x01café\x02"),
        ("\\u00e9", "é"),  # JSON's own escapes stay (not Apache's, but valid JSON)
        ("\\ud83d\\ude00", "\U0001f600"),
        ("\\ud800 lone", "\ufffd lone"),  # a lone surrogate has no UTF-8 form
        ("\\q", "\\q"),  # not an escape: the backslash is text
    ],
)
def test_each_apache_escape_becomes_json_text(apache_escaped: str, text: str) -> None:
    assert reencoded(userAgent=apache_escaped)["userAgent"] == text


@pytest.mark.parametrize(
    ("sent", "text"),
    [
        # One U+FFFD per maximal ill-formed subpart (Unicode Standard §3.9, "U+FFFD
        # Substitution of Maximal Subparts"), as Python's errors="replace" does.
        (b"/..\xc0\xaf../", "/..\ufffd\ufffd../"),  # overlong "/": C0 is never a lead byte
        (b"/\xc0\xae\xc0\xae/etc", "/\ufffd\ufffd\ufffd\ufffd/etc"),  # overlong "."
        (b"\xe0\x80\xaf", "\ufffd\ufffd\ufffd"),  # overlong 3-byte "/"
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # a UTF-16 surrogate in UTF-8
        (b"\xf0\x9f\x98", "\ufffd"),  # a truncated 4-byte sequence: one subpart
        (b"\xe2\x28\xa1", "\ufffd(\ufffd"),
        (b"\xff\xfe", "\ufffd\ufffd"),
        (b"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"),  # above U+10FFFF
        (b"caf\xe9", "caf\ufffd"),  # Latin-1, not UTF-8
    ],
)
def test_bytes_that_are_not_utf8_become_replacement_characters(sent: bytes, text: str) -> None:
    escaped = "".join(f"\\x{byte:02x}" if byte >= 0x80 else chr(byte) for byte in sent)
    assert reencoded(request=escaped)["request"] == text == sent.decode("utf-8", "replace")


def test_every_control_character_is_escaped_and_decodes_back() -> None:
    controls = [*range(1, 0x20), 0x7F]
    # Apache's form: \b \n \r \t \v for five of them, \xhh for the others.
    short = {0x08: "\\b", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}
    escaped = "".join(short.get(code, f"\\x{code:02x}") for code in controls)
    out = reencode_line(apache_line(request=escaped))
    assert all(byte >= 0x20 for byte in out[:-1])
    assert json.loads(out)["request"] == "".join(map(chr, controls))


def test_keys_order_and_values_stay_and_the_line_is_compact() -> None:
    line = apache_line(request="/cafe/menu.php", query="?id=latte", status="200")
    out = reencode_line(line)
    assert out == line + b"\n"  # plain ASCII: byte for byte what Apache wrote
    assert list(json.loads(out)) == LOG_KEYS  # the agent takes the first time in the line


def test_raw_bytes_and_raw_control_characters_from_elsewhere_are_still_json() -> None:
    line = apache_line(userAgent="x").replace(b'"x"', b'"caf\xc3\xa9 \xff\ttab"')
    assert reencoded_raw(line)["userAgent"] == "café \ufffd\ttab"


def reencoded_raw(line: bytes) -> dict[str, str]:
    record: dict[str, str] = json.loads(reencode_line(line).decode("utf-8"))
    return record


@pytest.mark.parametrize(
    "line",
    [b"not json at all", b'["a", "list"]', b'{"time": "x", "broken', b"[" * 100_000, b"\xff\xfe"],
)
def test_a_line_that_is_no_json_object_is_kept_as_one(line: bytes) -> None:
    record = reencoded_raw(line)
    assert list(record) == ["time", "loggerError", "line"]
    assert record["line"] == line.decode("utf-8", "replace")
    assert record["time"].endswith("Z") and len(record["time"]) == 24
    assert repair_line(line.decode("utf-8", "replace")) is None


@pytest.mark.parametrize("unit", ["a", "é", "\U0001f600", "\\x01", '\\"'])
def test_a_line_too_long_for_cloudwatch_has_its_longest_value_cut(unit: str) -> None:
    line = apache_line(request="/cafe/menu.php", userAgent=unit * 300_000, referer="r" * 50_000)
    out = reencode_line(line)
    assert len(out) <= MAX_LINE_BYTES
    record = json.loads(out)
    assert record["userAgent"].endswith("…") and record["request"] == "/cafe/menu.php"
    assert record["referer"] == "r" * 50_000  # only as much is cut as needed
    assert len(out) > MAX_LINE_BYTES - 64
    small = reencode_line(line, limit=300)
    assert len(small) <= 300 and json.loads(small)["request"] == "/cafe/menu.php"


def test_the_local_engine_repairs_apache_lines_by_the_same_rule(tmp_path: Path) -> None:
    """A raw Apache log (no piped logger) read locally: UTF-8 as UTF-8, not Latin-1."""
    log = tmp_path / "access_log"
    log.write_bytes(
        apache_line(
            remoteIP="203.0.113.9",
            request="/caf\\xc3\\xa9",
            status="200",
            method="GET",
            city="S\\xc3\\xa3o Paulo",
            userAgent="caf\\xc3\\xa9-bot \\xc0\\xaf \\v",
        )
        + b"\n"
    )
    loaded = load_log(log)
    assert (loaded.lines, loaded.invalid_lines) == (1, 0)
    assert loaded.connection.execute("SELECT request, city, useragent FROM logs").fetchall() == [
        ("/café", "São Paulo", "café-bot \ufffd\ufffd \x0b")
    ]


# ----------------------------------------------------------------- the logger as a program


def test_each_line_is_in_the_file_before_the_next_is_read(tmp_path: Path) -> None:
    """One write per line (no buffering), and a renamed file is left for a new one."""
    path = tmp_path / "access_log"
    seen: list[list[str]] = []

    def apache() -> Iterator[bytes]:
        for number in range(3):
            if number == 2:
                path.rename(tmp_path / "access_log-rotated")  # logrotate, no reload
            yield apache_line(query=f"?n={number}") + b"\n"
            seen.append(path.read_text().splitlines())

    access_logger.run(str(path), apache(), io.StringIO())  # type: ignore[arg-type]
    assert [len(lines) for lines in seen] == [1, 2, 1]
    assert json.loads((tmp_path / "access_log-rotated").read_text().splitlines()[1])["query"] == (
        "?n=1"
    )
    assert json.loads(path.read_text())["query"] == "?n=2"


def test_a_line_it_cannot_write_goes_to_apaches_error_log(tmp_path: Path) -> None:
    errors = io.StringIO()
    missing = tmp_path / "no-such-dir" / "access_log"
    access_logger.run(str(missing), iter([apache_line(query="?n=1") + b"\n"]), errors)  # type: ignore[arg-type]
    assert "No such file or directory" in errors.getvalue()
    assert '"query":"?n=1"' in errors.getvalue()  # the line itself, for the record


@pytest.mark.integration  # a real process, waited for
def test_the_logger_runs_on_python_39_and_outlives_the_signals_apache_sends(
    tmp_path: Path,
) -> None:
    """SIGTERM/SIGHUP/SIGUSR1 (Apache's restarts) are ignored; it ends at end of input."""
    path = tmp_path / "access_log"
    logger = subprocess.Popen(
        [LOGGER_PYTHON, "-I", "-S", access_logger.__file__, str(path)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert logger.stdin is not None
    logger.stdin.write(apache_line(userAgent="caf\\xc3\\xa9") + b"\n")
    logger.stdin.flush()
    # The file exists from the start; the first line is in it once it has been written.
    deadline = time.monotonic() + 10
    while not path.is_file() or not path.read_bytes().endswith(b"\n"):
        assert time.monotonic() < deadline, "the logger wrote nothing"
        time.sleep(0.01)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGWINCH):
        logger.send_signal(sig)
    # After the signals: every rule, the same bytes on this Python 3.9 as in the tests above.
    after = [
        apache_line(userAgent='\\xf0\\x9f\\x98\\x80 \\xc0\\xaf \\v \\x01 \\\\x41 \\"q\\" \\ud800'),
        apache_line(request="/caf\\xc3\\xa9", userAgent="\\xff" * 100_000 + "a" * 100_000),
    ]
    logger.stdin.write(b"".join(line + b"\n" for line in after))
    logger.stdin.close()
    assert logger.wait(timeout=10) == 0, logger.stderr.read() if logger.stderr else ""
    written = path.read_bytes()
    assert written == b"".join(map(reencode_line, [apache_line(userAgent="caf\\xc3\\xa9"), *after]))
    assert json.loads(written.splitlines()[0])["userAgent"] == "café"


def test_the_logger_wants_exactly_one_argument() -> None:
    done = subprocess.run(
        [LOGGER_PYTHON, "-I", "-S", access_logger.__file__], capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage: cafepipe-access-logger LOG_FILE" in done.stderr


# ------------------------------------------------------------------ a real Apache, hostile


def needs_apache(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test that runs the real Apache: integration, skipped where it is not installed."""
    for mark in harness.NEEDS_APACHE:
        test = mark(test)
    return test


class Apache(harness.Apache):
    """The rendered config (behind CloudFront, the default) in a real Apache on loopback."""

    def send(self, request: bytes) -> bytes:
        """One raw HTTP request, bytes exactly as given; the response's status line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        return response.split(b"\r\n", 1)[0]

    def get(self, target: str) -> bytes:
        return self.send(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())

    def lines(self, expected: int, directory: Path | None = None) -> list[bytes]:
        """Every access-log line (all files of the log's folder), once `expected` are there."""
        folder = directory or self.access_log.parent
        deadline = time.monotonic() + 10
        while True:
            lines = [line for f in sorted(folder.iterdir()) for line in f.read_bytes().splitlines()]
            if len(lines) >= expected or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def logger_pids(self) -> list[int]:
        pids = []
        for proc in Path("/proc").iterdir():
            try:
                command = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                access_logger.__file__.encode() in command
                and str(self.access_log).encode() in command
            ):
                pids.append(int(proc.name))
        return pids


@pytest.fixture
def apache() -> Iterator[Apache]:
    with harness.serve(
        Apache,
        behind_cloudfront=True,
        logger_python=LOGGER_PYTHON,
        servers=(2, 2, 4),
        types_config="/dev/null",
    ) as server:
        yield server


@dataclass(frozen=True)
class Hostile:
    """One request, raw: its target and headers as bytes, and what the log must say."""

    name: str
    path: bytes = b"/cafe/menu.php"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    method: bytes = b"GET"
    query: bytes = b""
    expect: tuple[tuple[str, str], ...] = ()  # log field → text; default: what was sent

    def request(self, number: int) -> bytes:
        target = self.path + b"?n=" + str(number).encode() + self.query
        head = b"".join(name + b": " + value + b"\r\n" for name, value in self.headers)
        return (
            self.method
            + b" "
            + target
            + b" HTTP/1.1\r\nHost: cafe.example\r\n"
            + head
            + (b"Connection: close\r\n\r\n")
        )

    def expected(self, number: int) -> dict[str, str]:
        """The text each field must decode to: what was sent, UTF-8, invalid bytes → U+FFFD."""
        text = {
            "request": unquote_to_bytes(self.path).split(b"\0")[0].decode("utf-8", "replace"),
            "query": f"?n={number}" + self.query.decode("utf-8", "replace"),
            "method": self.method.decode("utf-8", "replace"),
        }
        fields = {b"User-Agent": "userAgent", b"Referer": "referer"} | {
            f"CloudFront-Viewer-{name}".encode(): key
            for name, key in (("Country", "country"), ("Country-Region-Name", "region"),
                              ("City", "city"), ("Latitude", "lat"), ("Longitude", "lon"))
        }  # fmt: skip
        for name, value in self.headers:
            if name in fields:
                text[fields[name]] = value.decode("utf-8", "replace")
        return text | dict(self.expect)


ALL_CONTROLS = "".join(f"%{code:02x}" for code in [*range(1, 0x20), 0x7F]).encode()
HOSTILE = [
    Hostile("UTF-8 User-Agent", headers=((b"User-Agent", "Mozilla/5.0 (café-bot)".encode()),)),
    Hostile("percent-encoded UTF-8 path", path=b"/cafe/caf%C3%A9.php"),
    Hostile("raw UTF-8 path", path="/cafe/menü-ßpecial-東京.php".encode()),
    Hostile("overlong-encoded dots", path=b"/cafe/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd"),
    Hostile("overlong-encoded slash", path=b"/cafe/..%c0%af..%c0%af..%e0%80%afetc/passwd"),
    Hostile("%0b in the path", path=b"/cafe/menu.php%0b"),
    Hostile("every control character", path=b"/cafe/" + ALL_CONTROLS),
    Hostile("NUL ends Apache's path", path=b"/cafe/menu%00.php"),  # Apache keeps C strings
    Hostile("encoded slash and quote", path=b"/cafe/a%2fb%22c%5cx41"),
    Hostile(
        "invalid UTF-8 User-Agent", headers=((b"User-Agent", b"bot \xff\xfe \xc3 \xed\xa0\x80"),)
    ),
    Hostile(
        "UTF-8 CloudFront geo headers",
        headers=(
            (b"CloudFront-Viewer-Country", b"BR"),
            (b"CloudFront-Viewer-Country-Region-Name", "São Paulo".encode()),
            (b"CloudFront-Viewer-City", "São Paulo".encode()),
            (b"CloudFront-Viewer-Latitude", b"-23.55"),
            (b"CloudFront-Viewer-Longitude", b"-46.63"),
        ),
    ),
    Hostile("Latin-1 city", headers=((b"CloudFront-Viewer-City", b"Z\xfcrich"),)),
    Hostile(
        "quotes and backslashes",
        headers=((b"User-Agent", b'a "quoted" \\back\\ \\\\x41 \\u00e9 \\" \\'),),
    ),
    Hostile(
        "JSON injection",
        headers=((b"User-Agent", b'x","status":"200","injected":"y'),),
    ),
    Hostile("tab in a header", headers=((b"Referer", b"https://example.com/\ta"),)),
    Hostile(
        "percent escapes in a header stay", headers=((b"Referer", b"https://e.com/?q=%0b%22%c3"),)
    ),
    Hostile("raw quote and backslash in the query", query=b'&q="a\\b"'),
    Hostile("raw UTF-8 in the query", query="&q=café".encode()),
    Hostile("very long User-Agent", headers=((b"User-Agent", "é".encode() * 3500 + b"!"),)),
    Hostile("very long path", path=b"/cafe/" + b"%C3%A9" * 1300),
    Hostile(
        "forged forwarded address",
        headers=((b"X-Forwarded-For", "1.2.3.4, café".encode()),),
        expect=(("remoteIP", "café"),),
    ),
    # Apache refuses these (400), and still logs them: the line must be JSON too.
    Hostile(
        "control character in a header",
        headers=((b"User-Agent", b"a\x01b"),),
        expect=(("status", "400"), ("userAgent", "-")),
    ),
    Hostile("UTF-8 method", method="GéT".encode(), expect=(("status", "400"),)),
]


@needs_apache
def test_every_line_of_a_hostile_request_set_is_strict_json_with_the_text_sent(
    apache: Apache,
) -> None:
    statuses = {}
    for number, hostile in enumerate(HOSTILE):
        statuses[number] = apache.send(hostile.request(number))
        assert statuses[number].startswith(b"HTTP/1.1 "), (hostile.name, statuses[number])
    lines = apache.lines(len(HOSTILE))
    assert len(lines) == len(HOSTILE)
    records = {}
    for line in lines:
        text = line.decode("utf-8")  # strict: UTF-8 or an exception
        assert not any(ord(char) < 0x20 for char in text), text
        record = json.loads(text)
        assert list(record) == LOG_KEYS, record
        records[int(record["query"].split("&")[0].removeprefix("?n="))] = record
    for number, hostile in enumerate(HOSTILE):
        record = records[number]
        for field, text in hostile.expected(number).items():
            assert record[field] == text, (hostile.name, field)
        # The JSON metric filters match on `status`: every 4xx counts for the 4xx alarm.
        assert statuses[number].split()[1].decode() == record["status"], hostile.name
    # The local engine reads every line as JSON; the only ones it does not count as requests
    # have no client address: the forged one, and the two Apache refused before it read
    # X-Forwarded-For (remoteIP "-").
    loaded = load_log(apache.access_log)
    assert loaded.lines == len(HOSTILE)
    invalid = loaded.connection.execute("SELECT remoteip FROM parsed WHERE NOT valid").fetchall()
    assert sorted(invalid) == [("-",), ("-",), ("café",)]


@needs_apache
def test_no_line_is_lost_across_rotation_and_graceful_restarts_under_traffic(
    apache: Apache,
) -> None:
    """logrotate renames the log (no reload), simulate-logs reloads Apache: every request
    is logged exactly once, in the file that was at the path when it was written."""
    answered: list[int] = []
    stop = threading.Event()

    def visitor(first: int) -> None:
        # Four at a time, so that requests are in flight in old children at each restart.
        for number in itertools.count(first, 4):
            if stop.is_set():
                return
            if apache.get(f"/cafe/about.php?n={number}") == b"HTTP/1.1 200 OK":
                answered.append(number)

    threads = [threading.Thread(target=visitor, args=(first,)) for first in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        apache.access_log.rename(apache.access_log.with_name("access_log-1"))  # logrotate
        time.sleep(0.3)
        for rotation in (None, "access_log-2", None, None):
            if rotation:  # logrotate, then simulate-logs' reload at once
                apache.access_log.rename(apache.access_log.with_name(rotation))
            # A graceful restart: Apache closes the logger's pipe and starts a new one.
            apache.process.send_signal(signal.SIGUSR1)
            time.sleep(0.4)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    lines = apache.lines(len(answered))
    numbers = [int(json.loads(line)["query"].removeprefix("?n=")) for line in lines]
    assert len(answered) > 20  # traffic across every restart (thousands when idle)
    assert sorted(numbers) == sorted(answered)  # none lost, none twice
    files = sorted(p.name for p in apache.access_log.parent.iterdir())
    assert files == ["access_log", "access_log-1", "access_log-2"]
    assert all(p.stat().st_size for p in apache.access_log.parent.iterdir())


@needs_apache
def test_apache_starts_the_logger_again_when_it_dies(apache: Apache) -> None:
    (first,) = apache.logger_pids()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while not (pids := apache.logger_pids()) or pids == [first]:
        assert time.monotonic() < deadline, "Apache did not start the logger again"
        time.sleep(0.05)
    for number in range(5):
        assert apache.get(f"/cafe?n={number}") == b"HTTP/1.1 200 OK"
    lines = apache.lines(5)
    assert [json.loads(line)["query"] for line in lines] == [f"?n={n}" for n in range(5)]
