#!/usr/bin/python3
"""cafepipe-access-logger: Apache's JSON access-log lines in, strict UTF-8 JSON lines out.

Apache's piped logger (`CustomLog "||/usr/bin/python3 -I -S <this file> <log file>"`). Apache
escapes values its own way: `\\xhh` for control bytes and bytes >= 0x80, `\\v`; neither is
JSON. Each line is re-encoded (docs/access-log.md has the rules): `\\xhh` runs are decoded
as UTF-8, bytes that are not UTF-8 become U+FFFD (one per maximal ill-formed subpart, as
Python's errors="replace"), control characters become JSON escapes, keys keep their order,
a line over MAX_LINE_BYTES has its longest values cut, and a line that is still no JSON
object becomes {"time", "loggerError", "line"}.

Each line is one O_APPEND write to the file at the path, reopened when the file there is
another (rotated, swapped): no buffering, no line into a renamed file. The signals Apache
and systemd send its process group are ignored: it reads until the pipe's last writer (an
old Apache child still finishing a request) is gone. Standard library only, Python 3.9
(Amazon Linux 2023). The local insights engine uses `repair_line` for old or raw logs.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO

# A backslash, then: a run of xhh escapes (group 1), or any other escape (group 2), or the
# end of the line. One literal first, so the scan jumps from backslash to backslash.
_ESCAPE = re.compile(
    r"\\(?:(x[0-9A-Fa-f]{2}(?:\\x[0-9A-Fa-f]{2})*)|(u[0-9A-Fa-f]{4}|.)?)", re.DOTALL
)
_JSON_ESCAPES = frozenset('"\\/bfnrt')
_SURROGATE = re.compile("[\ud800-\udfff]")
# CloudWatch Logs' smallest event limit (256 KiB, less its 26 bytes of metadata): older
# CloudWatch agents cut longer lines, and a cut line is no JSON.
MAX_LINE_BYTES = 256 * 1024 - 26
_CUT_MARK = "…"
_IGNORED_SIGNALS = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGWINCH")


def _unescape(match: re.Match[str]) -> str:
    token, hex_run, escaped = match.group(0, 1, 2)
    if hex_run:
        text = bytes.fromhex(hex_run[1:].replace("\\x", "")).decode("utf-8", "replace")
        if text.isprintable() and '"' not in text and "\\" not in text:
            return text  # the usual case, UTF-8 letters: nothing to escape
        return json.dumps(text, ensure_ascii=False)[1:-1]
    if escaped is None:
        return "\\\\"  # a lone backslash at the end of the line
    if escaped == "v":
        return "\\u000b"
    if len(escaped) == 5 or escaped in _JSON_ESCAPES:
        return token  # JSON's own escapes (\uXXXX included)
    # No escape at all: the backslash is text, and so is the character after it.
    return "\\\\" + json.dumps(escaped, ensure_ascii=False)[1:-1]


def _parse(line: str) -> dict[str, Any] | None:
    try:
        # strict=False: a raw control character in a string (not Apache's) is read as text.
        record = json.loads(_ESCAPE.sub(_unescape, line), strict=False)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting, [[[[…
        return None
    return record if isinstance(record, dict) else None


def _dump(record: dict[str, Any]) -> str:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate (from a JSON \ud800 escape) has no UTF-8 form.
    return _SURROGATE.sub("\ufffd", text)


def repair_line(line: str) -> str | None:
    """One Apache-escaped JSON line as strict compact JSON, or None if it is no JSON object."""
    record = _parse(line)
    return None if record is None else _dump(record)


def _fit(record: dict[str, Any], limit: int) -> str:
    """`record` as JSON of at most `limit` UTF-8 bytes: its longest values cut until it fits."""

    def size() -> int:
        return len(_dump(record).encode("utf-8"))

    longest_first = sorted(
        (key for key, value in record.items() if isinstance(value, str)),
        key=lambda key: -len(record[key]),
    )
    for key in longest_first:
        value = record[key]
        if size() <= limit or len(value) <= 1:
            break
        # The longest prefix that fits, by bisection (a character is 1 to 6 bytes in JSON).
        low, high = 0, len(value) - 1
        while low < high:
            middle = (low + high + 1) // 2
            record[key] = value[:middle] + _CUT_MARK
            low, high = (middle, high) if size() <= limit else (low, middle - 1)
        record[key] = value[:low] + _CUT_MARK
    text = _dump(record)
    if len(text.encode("utf-8")) > limit:
        return _dump({"time": record.get("time"), "loggerError": "line too long"})
    return text


def _now() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def reencode_line(raw: bytes, limit: int = MAX_LINE_BYTES) -> bytes:
    """One line from Apache (without its newline) as one strict UTF-8 JSON line (with it)."""
    # Apache escapes every byte >= 0x80; raw ones came from elsewhere: U+FFFD if not UTF-8.
    line = raw.decode("utf-8", "replace").rstrip("\r")
    record = _parse(line)
    if record is None:
        record = {"time": _now(), "loggerError": "not a JSON object", "line": line}
    return (_fit(record, limit - 1) + "\n").encode("utf-8")


class AppendingFile:
    """The log file at `path`, appended to line by line, reopened when the path changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    def _current(self) -> int:
        if self.fd is not None:
            try:
                here, mine = Path(self.path).stat(), os.fstat(self.fd)
                if (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
                    return self.fd
            except FileNotFoundError:
                pass  # renamed away and not yet recreated: create it
            self.close()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self.fd = os.open(self.path, flags, 0o644)
        return self.fd

    def write(self, data: bytes) -> None:
        fd = self._current()
        while data:
            data = data[os.write(fd, data) :]

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def run(path: str, source: BinaryIO, errors: TextIO) -> None:
    """Re-encode every line of `source` into the file at `path`, until end of input."""
    log = AppendingFile(path)
    try:
        log.write(b"")  # the file exists from the start, as when Apache writes it itself
    except OSError as exc:
        errors.write(f"cafepipe-access-logger: {path}: {exc}\n")
        errors.flush()
    for raw in source:
        if not raw.strip():
            continue
        line = reencode_line(raw.rstrip(b"\n"))
        try:
            log.write(line)
        except OSError as exc:
            # Not lost: Apache writes a piped logger's stderr to its error log.
            log.close()
            errors.write(f"cafepipe-access-logger: {path}: {exc}: {line.decode('utf-8')}")
            errors.flush()
    log.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: cafepipe-access-logger LOG_FILE  (Apache's log lines on stdin)\n")
        return 2
    for name in _IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    run(argv[1], sys.stdin.buffer, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
