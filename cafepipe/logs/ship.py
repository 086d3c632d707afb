"""Backfill a log file into CloudWatch Logs with PutLogEvents, inside every limit of the API.

Limits (PutLogEvents API reference, https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/
APIReference/API_PutLogEvents.html, and InputLogEvent): at most 10,000 events and 1,048,576
bytes per call, counting each message's UTF-8 bytes plus 26 bytes per event; events in
chronological order; none more than 2 hours in the future, none older than 14 days or than the
log group's retention. One event may be up to 1 MB since April 2025 (it was 256 KB before:
https://aws.amazon.com/about-aws/whats-new/2025/04/amazon-cloudwatch-logs-increases-log-event-size-1-mb/),
and it must still fit in one call with its overhead. Older revisions of the reference also say
one call must not span more than 24 hours; we keep that rule, since it costs next to nothing.

Events the service would refuse are counted by reason and reported, never silently dropped.
The sequence token is no longer needed, so calls go one after another into one stream.
"""

from __future__ import annotations

import calendar
import gzip
import re
import time
import zlib
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

import botocore.exceptions

from cafepipe.aws import aws_error_hint, describe_client_error
from cafepipe.cafe.limits import (
    LOGS_EVENT_OVERHEAD_BYTES,
    LOGS_MAX_BATCH_BYTES,
    LOGS_MAX_BATCH_EVENTS,
    LOGS_MAX_BATCH_SPAN,
    LOGS_MAX_EVENT_AGE_DAYS,
    LOGS_MAX_EVENT_FUTURE,
)
from cafepipe.errors import AwsError, UsageError
from cafepipe.reporting import SILENT, Reporter

MAX_BATCH_EVENTS = LOGS_MAX_BATCH_EVENTS
MAX_BATCH_BYTES = LOGS_MAX_BATCH_BYTES
EVENT_OVERHEAD_BYTES = LOGS_EVENT_OVERHEAD_BYTES
# 1 MB per event, but an event must also fit into one call together with its overhead.
MAX_EVENT_BYTES = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES
MAX_BATCH_SPAN_MS = int(LOGS_MAX_BATCH_SPAN.total_seconds() * 1000)
MAX_AGE_DAYS = LOGS_MAX_EVENT_AGE_DAYS
MAX_FUTURE_MS = int(LOGS_MAX_EVENT_FUTURE.total_seconds() * 1000)
DAY_MS = 24 * 3600 * 1000
# Lines held in memory at once by ship_file (about 500 bytes each for the café's JSON log).
# Chunks are sorted one by one: order matters only inside one PutLogEvents call.
CHUNK_LINES = 100_000

THROTTLING_CODES = frozenset({"ThrottlingException", "ServiceUnavailableException"})

# Why an event was not delivered (keys of ShipResult.rejected; stable for --json).
REJECT_REASONS = ("no_timestamp", "too_large", "too_old", "too_new", "expired")

ProgressCallback = Callable[[int], None]

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# The JSON access log's "time" value: 2026-11-27T04:47:33.123Z; offsets tolerated.
_JSON_TIME_RE = re.compile(
    r'"time"\s*:\s*"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?'
    r'(Z|[+-]\d{2}:?\d{2})?"'
)
# The combined log's [27/Nov/2026:04:47:33 +0000].
_COMBINED_TIME_RE = re.compile(
    r"\[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\]"
)
_STREAM_NAME_BAD = re.compile(r"[:*]")


class _EpochCache:
    """Epoch seconds of a date: timegm once per distinct day, then plain arithmetic."""

    def __init__(self) -> None:
        self._days: dict[str, int] = {}

    def iso_day(self, day: str) -> int | None:
        seconds = self._days.get(day)
        if seconds is None:
            try:
                year, month, mday = int(day[0:4]), int(day[5:7]), int(day[8:10])
                if not (1 <= month <= 12 and 1 <= mday <= 31):
                    return None
                seconds = calendar.timegm((year, month, mday, 0, 0, 0))
            except ValueError:
                return None
            self._days[day] = seconds
        return seconds


_CACHE = _EpochCache()


def _zone_offset_seconds(zone: str | None) -> int:
    if not zone or zone == "Z":
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def parse_timestamp_ms(line: str) -> int | None:
    """Milliseconds since the epoch of a log line: JSON `time` or combined `[dd/Mon/yyyy:…]`.

    None when the line has neither (the caller decides what that means).
    """
    # Fast path: the JSON log writes "time" first; find() is much cheaper than a regex search.
    position = line.find('"time"')
    if position >= 0:
        match = _JSON_TIME_RE.match(line, position)
        if match:
            day, hour, minute, second, fraction, zone = match.groups()
            day_seconds = _CACHE.iso_day(day)
            hour_i, minute_i, second_i = int(hour), int(minute), int(second)
            if day_seconds is None or hour_i > 23 or minute_i > 59 or second_i > 60:
                return None
            seconds = day_seconds + hour_i * 3600 + minute_i * 60 + second_i
            seconds -= _zone_offset_seconds(zone)
            millis = int((fraction + "00")[:3]) if fraction else 0
            return seconds * 1000 + millis
    match = _COMBINED_TIME_RE.search(line)
    if match:
        mday, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        month = _MONTHS.get(month_name)
        if month is None:
            return None
        day_seconds = _CACHE.iso_day(f"{year}-{month:02d}-{mday}")
        if day_seconds is None:
            return None
        offset = (int(zone_h) * 3600 + int(zone_m) * 60) * (-1 if sign == "-" else 1)
        seconds = day_seconds + int(hour) * 3600 + int(minute) * 60 + int(second) - offset
        return seconds * 1000
    return None


def message_bytes(message: str) -> int:
    """UTF-8 size of a message, as CloudWatch Logs counts it."""
    # isascii() is O(1) on CPython's compact strings: skip the encode for plain lines.
    return len(message) if message.isascii() else len(message.encode("utf-8"))


@dataclass
class ParsedLog:
    """A log file as events: parallel lists (cheap at millions of lines), in file order."""

    lines_read: int = 0
    empty_lines: int = 0
    # Lines without a timestamp of their own take the previous line's, as the agent does.
    inherited_timestamps: int = 0
    timestamps: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)


GZIP_MAGIC = b"\x1f\x8b"
# What a corrupt (zlib.error, BadGzipFile) or truncated (EOFError) .gz raises while it is read.
CORRUPT_GZIP_ERRORS = (gzip.BadGzipFile, zlib.error, EOFError)


def _check_gzip_name(path: Path) -> None:
    """A file named .gz is read as gzip: refuse one that is not (a plain log renamed)."""
    if path.suffix != ".gz":
        return
    with path.open("rb") as handle:
        magic = handle.read(2)
    if magic and magic != GZIP_MAGIC:
        raise UsageError(
            f"{path} is named .gz but is not gzip-compressed",
            "rename it without .gz to ship it as plain text, or compress it with gzip",
        )


@contextmanager
def _reading_gzip(path: Path) -> Iterator[None]:
    """A corrupt or truncated .gz met while reading becomes a UsageError naming the file."""
    try:
        yield
    except CORRUPT_GZIP_ERRORS as exc:
        raise UsageError(
            f"{path} is a corrupt or truncated gzip file ({exc})",
            f"check it with gzip -t {path}; copy or download it again",
        ) from None


def _open_text(path: Path) -> IO[str]:
    # Invalid UTF-8 is replaced rather than fatal: a log line is data, never a crash.
    # newline="\n": only LF ends a line, as for the agent (a stray CR stays in its line).
    if path.suffix == ".gz":
        _check_gzip_name(path)
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return path.open(encoding="utf-8", errors="replace", newline="\n")


def iter_log_chunks(path: Path, chunk_lines: int = CHUNK_LINES) -> Iterator[ParsedLog]:
    """Read a log file (plain or .gz) as events, `chunk_lines` lines at a time (bounded memory).

    Bad lines are counted, never fatal.
    """
    if not path.is_file():
        raise UsageError(f"{path}: no such file", "give the path of an access log to ship")
    last_timestamp: int | None = None
    with _reading_gzip(path), _open_text(path) as handle:
        while True:
            parsed = ParsedLog()
            timestamps, messages, sizes = parsed.timestamps, parsed.messages, parsed.sizes
            lines_read = empty = inherited = no_timestamp = too_large = 0
            for raw in handle:
                lines_read += 1
                message = raw.rstrip("\r\n")
                if not message:
                    empty += 1
                elif (
                    size := len(message) if message.isascii() else len(message.encode("utf-8"))
                ) > MAX_EVENT_BYTES:
                    too_large += 1
                else:
                    timestamp = parse_timestamp_ms(message)
                    if timestamp is not None:
                        last_timestamp = timestamp
                    elif last_timestamp is not None:
                        timestamp = last_timestamp
                        inherited += 1
                    else:
                        no_timestamp += 1
                        continue
                    timestamps.append(timestamp)
                    messages.append(message)
                    sizes.append(size)
                if lines_read == chunk_lines:
                    break
            if not lines_read:
                return
            parsed.lines_read, parsed.empty_lines = lines_read, empty
            parsed.inherited_timestamps = inherited
            if no_timestamp:
                parsed.rejected["no_timestamp"] = no_timestamp
            if too_large:
                parsed.rejected["too_large"] = too_large
            yield parsed
            if lines_read < chunk_lines:
                return


def read_log_events(path: Path) -> ParsedLog:
    """Read a whole log file into events (fine for small files; ship_file streams)."""
    whole = ParsedLog()
    for chunk in iter_log_chunks(path):
        whole.lines_read += chunk.lines_read
        whole.empty_lines += chunk.empty_lines
        whole.inherited_timestamps += chunk.inherited_timestamps
        whole.timestamps += chunk.timestamps
        whole.messages += chunk.messages
        whole.sizes += chunk.sizes
        whole.rejected.update(chunk.rejected)
    return whole


def chronological_order(timestamps: Sequence[int]) -> list[int] | None:
    """Indices that sort the events by time (stable), or None when they already are."""
    previous = -1
    for value in timestamps:
        if value < previous:
            return sorted(range(len(timestamps)), key=timestamps.__getitem__)
        previous = value
    return None


def acceptance_window(now_ms: int, retention_days: int | None) -> tuple[int, int]:
    """(oldest, newest) timestamps PutLogEvents accepts now, for a group with this retention."""
    max_age_days = MAX_AGE_DAYS if retention_days is None else min(MAX_AGE_DAYS, retention_days)
    return now_ms - max_age_days * DAY_MS, now_ms + MAX_FUTURE_MS


def plan_batches(timestamps: Sequence[int], sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Split time-ordered events into [start, end) ranges that each fit one PutLogEvents call.

    A call holds at most MAX_BATCH_EVENTS events and MAX_BATCH_BYTES bytes (messages + 26
    bytes each) and spans less than 24 hours.
    """
    batches: list[tuple[int, int]] = []
    start = count = batch_bytes = 0
    first_timestamp = 0
    for index, size in enumerate(sizes):
        cost = size + EVENT_OVERHEAD_BYTES
        timestamp = timestamps[index]
        if count and (
            count == MAX_BATCH_EVENTS
            or batch_bytes + cost > MAX_BATCH_BYTES
            or timestamp - first_timestamp >= MAX_BATCH_SPAN_MS
        ):
            batches.append((start, index))
            start, count, batch_bytes = index, 0, 0
        if not count:
            first_timestamp = timestamp
        count += 1
        batch_bytes += cost
    if count:
        batches.append((start, len(sizes)))
    return batches


def call_with_backoff(
    call: Callable[[], Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 8,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
) -> Any:
    """Run `call`, retrying throttling errors with exponential backoff; others propagate."""
    for attempt in range(1, max_attempts + 1):
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in THROTTLING_CODES or attempt == max_attempts:
                raise
            sleep(min(max_delay, base_delay * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")  # pragma: no cover


def server_rejections(info: dict[str, int] | None, batch_size: int) -> Counter[str]:
    """Count the events of one call that the service refused (rejectedLogEventsInfo)."""
    counts: Counter[str] = Counter()
    if not info:
        return counts
    too_old_end = info.get("tooOldLogEventEndIndex")
    expired_end = info.get("expiredLogEventEndIndex")
    too_new_start = info.get("tooNewLogEventStartIndex")
    # The index ranges overlap (expired events can also be too old): count each event once.
    old_end = -1 if too_old_end is None else too_old_end
    if old_end >= 0:
        counts["too_old"] = old_end + 1
    if expired_end is not None and expired_end > old_end:
        counts["expired"] = expired_end - old_end
    if too_new_start is not None:
        counts["too_new"] = batch_size - too_new_start
    return counts


@dataclass
class ShipResult:
    """What a shipment did: stable keys, the same data as the table."""

    log_group: str
    log_stream: str
    lines_read: int
    events_sent: int
    rejected: dict[str, int]
    empty_lines: int
    inherited_timestamps: int
    reordered: bool
    calls: int
    payload_bytes: int
    seconds: float

    @property
    def events_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def batch_fullness(self) -> float:
        """Mean bytes per call as a share of the 1,048,576-byte limit."""
        return self.payload_bytes / (self.calls * MAX_BATCH_BYTES) if self.calls else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "log_group": self.log_group,
            "log_stream": self.log_stream,
            "lines_read": self.lines_read,
            "events_sent": self.events_sent,
            "events_rejected": self.events_rejected,
            "rejected": {reason: self.rejected.get(reason, 0) for reason in REJECT_REASONS},
            "empty_lines": self.empty_lines,
            "inherited_timestamps": self.inherited_timestamps,
            "reordered": self.reordered,
            "calls": self.calls,
            "payload_bytes": self.payload_bytes,
            "batch_fullness": round(self.batch_fullness, 4),
            "events_per_second": round(self.events_sent / self.seconds) if self.seconds else 0,
            "seconds": round(self.seconds, 3),
        }


def default_stream_name(path: Path) -> str:
    """A stream name from a file name (':' and '*' are not allowed in stream names)."""
    name = path.name.removesuffix(".gz") or "cafepipe-ship"
    return _STREAM_NAME_BAD.sub("-", name)[:512]


def log_group_retention(logs: Any, log_group: str) -> int | None:
    """The group's retention in days (None = never expire); AwsError when it doesn't exist."""
    paginator = logs.get_paginator("describe_log_groups")
    for page in paginator.paginate(logGroupNamePrefix=log_group):
        for group in page.get("logGroups", []):
            if group.get("logGroupName") == log_group:
                retention = group.get("retentionInDays")
                return int(retention) if retention is not None else None
    raise AwsError(
        f"log group {log_group} does not exist",
        "create the stack first (cafepipe up), or name an existing group with --log-group",
    )


def ensure_log_stream(logs: Any, log_group: str, log_stream: str) -> None:
    """Create the stream unless it exists."""
    try:
        logs.create_log_stream(logGroupName=log_group, logStreamName=log_stream)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise


def ship_events(
    logs: Any,
    parsed: ParsedLog,
    log_group: str,
    log_stream: str,
    *,
    now_ms: Callable[[], int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: ProgressCallback | None = None,
) -> ShipResult:
    """Deliver parsed events into one stream: filter what would be refused, sort, batch, put."""
    return ship_chunks(
        logs, [parsed], log_group, log_stream, now_ms=now_ms, sleep=sleep, on_progress=on_progress
    )


@dataclass
class _Tally:
    lines_read: int = 0
    empty_lines: int = 0
    inherited_timestamps: int = 0
    reordered: bool = False
    sent: int = 0
    calls: int = 0
    payload: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def ship_chunks(
    logs: Any,
    chunks: Iterable[ParsedLog],
    log_group: str,
    log_stream: str,
    *,
    now_ms: Callable[[], int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: ProgressCallback | None = None,
) -> ShipResult:
    """Deliver chunks of parsed events into one stream, one chunk after the other."""
    started = time.perf_counter()
    clock = now_ms or (lambda: int(time.time() * 1000))
    try:
        retention = log_group_retention(logs, log_group)
        ensure_log_stream(logs, log_group, log_stream)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise _aws_error(exc, log_group, log_stream) from exc
    tally = _Tally()
    for parsed in chunks:
        tally.lines_read += parsed.lines_read
        tally.empty_lines += parsed.empty_lines
        tally.inherited_timestamps += parsed.inherited_timestamps
        tally.rejected.update(parsed.rejected)
        batched = _ship_chunk(
            logs, parsed, log_group, log_stream, retention, clock(), tally, sleep, on_progress
        )
        if on_progress is not None:
            on_progress(parsed.lines_read - batched)  # the lines that were not events to send
    return ShipResult(
        log_group=log_group,
        log_stream=log_stream,
        lines_read=tally.lines_read,
        events_sent=tally.sent,
        rejected={k: v for k, v in tally.rejected.items() if v},
        empty_lines=tally.empty_lines,
        inherited_timestamps=tally.inherited_timestamps,
        reordered=tally.reordered,
        calls=tally.calls,
        payload_bytes=tally.payload,
        seconds=time.perf_counter() - started,
    )


def _ship_chunk(
    logs: Any,
    parsed: ParsedLog,
    log_group: str,
    log_stream: str,
    retention: int | None,
    now: int,
    tally: _Tally,
    sleep: Callable[[float], None],
    on_progress: ProgressCallback | None,
) -> int:
    """Sort, filter and put one chunk; return how many events went into calls."""
    order = chronological_order(parsed.timestamps)
    timestamps, messages, sizes = parsed.timestamps, parsed.messages, parsed.sizes
    if order is not None:
        tally.reordered = True
        timestamps = [timestamps[i] for i in order]
        messages = [messages[i] for i in order]
        sizes = [sizes[i] for i in order]

    oldest, newest = acceptance_window(now, retention)
    # Time-ordered: the refused ones are a prefix (too old) and a suffix (too new).
    first = bisect_left(timestamps, oldest)
    last = bisect_right(timestamps, newest, lo=first)
    tally.rejected["too_old"] += first
    tally.rejected["too_new"] += len(timestamps) - last
    timestamps, messages, sizes = timestamps[first:last], messages[first:last], sizes[first:last]

    for start, end in plan_batches(timestamps, sizes):
        events = [
            {"timestamp": t, "message": m}
            for t, m in zip(timestamps[start:end], messages[start:end], strict=True)
        ]
        try:
            response = call_with_backoff(
                partial(
                    logs.put_log_events,
                    logGroupName=log_group,
                    logStreamName=log_stream,
                    logEvents=events,
                ),
                sleep=sleep,
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise _aws_error(exc, log_group, log_stream, tally.sent) from exc
        refused = server_rejections(response.get("rejectedLogEventsInfo"), len(events))
        tally.rejected.update(refused)
        tally.sent += len(events) - sum(refused.values())
        tally.calls += 1
        tally.payload += sum(sizes[start:end]) + EVENT_OVERHEAD_BYTES * len(events)
        if on_progress is not None:
            on_progress(len(events))
    return len(timestamps)


def _aws_error(
    exc: botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError,
    log_group: str,
    log_stream: str,
    sent: int = 0,
) -> AwsError:
    done = f" after {sent} events were delivered" if sent else ""
    if not isinstance(exc, botocore.exceptions.ClientError):  # no answer: connection, creds…
        again = " (re-running ships the whole file again)" if sent else ""
        return AwsError(
            f"cannot ship into {log_group}/{log_stream}{done}: {describe_client_error(exc)}",
            (aws_error_hint(exc) or "check the network and the region") + again,
        )
    error = exc.response.get("Error", {})
    code = error.get("Code", "Error")
    hint = "re-running ships the whole file again into the same stream"
    if code in THROTTLING_CODES:
        hint = "CloudWatch Logs kept throttling; wait a minute and re-run"
    elif code in ("AccessDeniedException", "UnrecognizedClientException"):
        hint = (
            "the credentials need logs:PutLogEvents, logs:CreateLogStream, logs:DescribeLogGroups"
        )
    return AwsError(
        f"PutLogEvents into {log_group}/{log_stream} failed{done}: "
        f"{code}: {error.get('Message', str(exc))}",
        hint,
    )


def count_lines(path: Path) -> int:
    """Lines of a file (plain or .gz), as the progress bar's total: fast, no parsing."""
    if path.suffix == ".gz":
        _check_gzip_name(path)
    opener = gzip.open if path.suffix == ".gz" else Path.open
    count = 0
    last = b"\n"
    with _reading_gzip(path), opener(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def ship_file(
    logs: Any,
    path: Path,
    log_group: str,
    log_stream: str | None = None,
    *,
    reporter: Reporter = SILENT,
    now_ms: Callable[[], int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    chunk_lines: int = CHUNK_LINES,
) -> ShipResult:
    """Stream `path` into `log_group` (stream named after the file by default).

    Memory stays bounded by `chunk_lines`, however big the file.
    """
    chunks = iter_log_chunks(path, chunk_lines)
    stream = log_stream or default_stream_name(path)
    with reporter.progress(f"shipping to {log_group}", count_lines(path)) as advance:
        return ship_chunks(
            logs, chunks, log_group, stream, now_ms=now_ms, sleep=sleep, on_progress=advance
        )


def count_stream_events(logs: Any, log_group: str, log_stream: str) -> int:
    """Count the events stored in one stream by paging GetLogEvents (exact, but slow at scale)."""
    total = 0
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "logGroupName": log_group,
            "logStreamName": log_stream,
            "startFromHead": True,
            "limit": 10_000,
        }
        if token:
            kwargs["nextToken"] = token
        try:
            page = logs.get_log_events(**kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise AwsError(
                f"cannot count the events in {log_group}/{log_stream}: "
                f"{describe_client_error(exc)}",
                aws_error_hint(exc) or "the credentials need logs:GetLogEvents",
            ) from exc
        events = page.get("events", [])
        total += len(events)
        next_token = page.get("nextForwardToken")
        # The end: an empty page, or the same token handed back (AWS's way of saying so).
        if not events or next_token == token:
            return total
        token = next_token
