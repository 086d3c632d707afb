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

Exactly once (docs/delivery.md): `ship_file` keeps a checkpoint (cafepipe.logs.checkpoint)
advanced only after a batch is accepted, so a re-run after Ctrl-C, a kill or an error sends
only what is missing. A call whose answer was lost (a reset connection, a timeout, a 5xx) is
not sent again blindly: its events are looked for in the stream first. There is one retry
layer, RetryPolicy, bounded; the client given should have botocore's retries off
(AwsClients.single_attempt_client).
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import re
import time
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import botocore.exceptions

from cafepipe.aws import aws_error, aws_error_hint, describe_client_error
from cafepipe.cafe.limits import (
    LOGS_EVENT_OVERHEAD_BYTES,
    LOGS_MAX_BATCH_BYTES,
    LOGS_MAX_BATCH_EVENTS,
    LOGS_MAX_BATCH_SPAN,
    LOGS_MAX_EVENT_AGE_DAYS,
    LOGS_MAX_EVENT_FUTURE,
)
from cafepipe.errors import EXIT_INTERRUPTED, AwsError, CafepipeError, UsageError
from cafepipe.logs.checkpoint import Checkpoint, CheckpointStore, InFlight, file_sha256
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
# Under the stack's state folder: where ship keeps its checkpoints (cafepipe.logs.checkpoint).
SHIP_CHECKPOINT_DIR = "ship-checkpoints"

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


@dataclass(frozen=True)
class RetryPolicy:
    """ship's one retry layer (its client has botocore's retries off): bounded, with backoff."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1, 2, …)."""
        return min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))


# How a failed PutLogEvents call ended, which decides what may happen next.
THROTTLED = "throttled"  # answered "not now": nothing was stored; send again after a pause
NOT_SENT = "not_sent"  # no connection was made: nothing was stored; send again
UNANSWERED = "unanswered"  # sent, but the answer was lost: the batch may be stored
FATAL = "fatal"  # answered with an error a resend cannot fix

SERVER_ERROR_CODES = frozenset({"InternalFailure", "InternalServerError", "InternalError"})


def failure_kind(exc: Exception) -> str:
    """Which of THROTTLED, NOT_SENT, UNANSWERED, FATAL a botocore failure of one call is."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLING_CODES:
            return THROTTLED
        if code in SERVER_ERROR_CODES or (isinstance(status, int) and status >= 500):
            return UNANSWERED  # the service may have stored the batch before it failed
        return FATAL
    if isinstance(
        exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)
    ):
        return NOT_SENT
    if isinstance(
        exc,
        (
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.HTTPClientError,
        ),
    ):
        return UNANSWERED
    return FATAL


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


def event_digest(timestamp: int, message: str) -> int:
    """64 bits that stand for one event (its timestamp and text) when comparing with a stream."""
    data = b"%d\x00" % timestamp + message.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class EventSet:
    """A multiset of events by digest, 9 bytes each: what a stream already holds.

    `take` answers "is this event there?" once per copy: a file with two identical lines
    finds two only if the stream holds two.
    """

    def __init__(self, events: Iterable[tuple[int, str]] = ()) -> None:
        self._digests = array("Q", sorted(event_digest(t, m) for t, m in events))
        self._taken = bytearray(len(self._digests))

    def __len__(self) -> int:
        return len(self._digests)

    def take(self, timestamp: int, message: str) -> bool:
        digest = event_digest(timestamp, message)
        index = bisect_left(self._digests, digest)
        while index < len(self._digests) and self._digests[index] == digest:
            if not self._taken[index]:
                self._taken[index] = 1
                return True
            index += 1
        return False


def read_stream_events(
    logs: Any,
    log_group: str,
    log_stream: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Iterator[tuple[int, str]]:
    """(timestamp, message) of the events in one stream, from the oldest (GetLogEvents pages).

    `end_ms` is exclusive. The end is the forward token handed back unchanged: GetLogEvents
    may answer an empty page before the end.
    """
    kwargs: dict[str, Any] = {
        "logGroupName": log_group,
        "logStreamName": log_stream,
        "startFromHead": True,
        "limit": 10_000,
    }
    if start_ms is not None:
        kwargs["startTime"] = start_ms
    if end_ms is not None:
        kwargs["endTime"] = end_ms
    token: str | None = None
    while True:
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        for event in page.get("events", []):
            timestamp = int(event["timestamp"])
            # The end is exclusive on AWS; some emulators include it: the same answer either way.
            if end_ms is None or timestamp < end_ms:
                yield timestamp, event["message"]
        next_token = page.get("nextForwardToken")
        if not next_token or next_token == token:
            return
        token = next_token


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
    # Events of this file the stream held already, so not sent again: by the checkpoint
    # (resumed_from) or found in the stream (found_in_stream).
    resumed_from: int = 0
    found_in_stream: int = 0
    # Calls whose answer was lost (connection reset, timeout, a 5xx): their events were looked
    # for in the stream; those found were not sent again, the others were (resent_unconfirmed).
    unanswered_calls: int = 0
    confirmed_after_unanswered: int = 0
    resent_unconfirmed: int = 0
    checkpoint: str | None = None

    @property
    def events_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def events_delivered(self) -> int:
        """Events of this file the stream now holds."""
        return (
            self.resumed_from
            + self.found_in_stream
            + self.confirmed_after_unanswered
            + self.events_sent
        )

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
            "events_delivered": self.events_delivered,
            "resumed_from": self.resumed_from,
            "found_in_stream": self.found_in_stream,
            "events_rejected": self.events_rejected,
            "rejected": {reason: self.rejected.get(reason, 0) for reason in REJECT_REASONS},
            "empty_lines": self.empty_lines,
            "inherited_timestamps": self.inherited_timestamps,
            "reordered": self.reordered,
            "calls": self.calls,
            "unanswered_calls": self.unanswered_calls,
            "confirmed_after_unanswered": self.confirmed_after_unanswered,
            "resent_unconfirmed": self.resent_unconfirmed,
            "payload_bytes": self.payload_bytes,
            "batch_fullness": round(self.batch_fullness, 4),
            "events_per_second": round(self.events_sent / self.seconds) if self.seconds else 0,
            "seconds": round(self.seconds, 3),
            "checkpoint": self.checkpoint,
        }


class ShipInterrupted(CafepipeError):
    """Ctrl-C during a shipment: exit 130, with what was delivered and how to resume."""

    exit_code = EXIT_INTERRUPTED


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


def ensure_log_stream(logs: Any, log_group: str, log_stream: str) -> bool:
    """Create the stream unless it exists; True when it was created (so it is empty)."""
    try:
        logs.create_log_stream(logGroupName=log_group, logStreamName=log_stream)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
        return False
    return True


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
    resumed_from: int = 0
    found: int = 0
    unanswered: int = 0
    confirmed: int = 0
    resent_unconfirmed: int = 0


def _no_save(_checkpoint: Checkpoint) -> None:
    """A shipment without a checkpoint file (ship_events, ship_chunks)."""


@dataclass
class _Shipment:
    """One run of one file into one stream: the position lives in `checkpoint`."""

    logs: Any
    retention: int | None
    checkpoint: Checkpoint
    save: Callable[[Checkpoint], None] = _no_save
    known: EventSet | None = None  # the whole stream's events, when it was compared first
    clock: Callable[[], int] = lambda: int(time.time() * 1000)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    on_progress: ProgressCallback | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    confirm_wait: float = 0.0
    confirm_interval: float = 2.0
    resume_hint: str = ""
    tally: _Tally = field(default_factory=_Tally)

    @property
    def group(self) -> str:
        return self.checkpoint.log_group

    @property
    def stream(self) -> str:
        return self.checkpoint.log_stream

    def _advance(self, count: int) -> None:
        if self.on_progress is not None and count:
            self.on_progress(count)

    def run(self, chunks: Iterable[ParsedLog]) -> None:
        checkpoint = self.checkpoint
        self.tally.resumed_from = checkpoint.delivered
        for index, parsed in enumerate(chunks):
            self.tally.lines_read += parsed.lines_read
            self.tally.empty_lines += parsed.empty_lines
            self.tally.inherited_timestamps += parsed.inherited_timestamps
            if index < checkpoint.chunk:  # handled by an earlier run
                self._advance(parsed.lines_read)
                continue
            self._ship_chunk(index, parsed)
        checkpoint.lines_total = self.tally.lines_read
        checkpoint.complete = True
        checkpoint.in_flight = None
        self.save(checkpoint)

    def _ship_chunk(self, index: int, parsed: ParsedLog) -> None:
        checkpoint = self.checkpoint
        order = chronological_order(parsed.timestamps)
        timestamps, messages, sizes = parsed.timestamps, parsed.messages, parsed.sizes
        if order is not None:
            self.tally.reordered = True
            timestamps = [timestamps[i] for i in order]
            messages = [messages[i] for i in order]
            sizes = [sizes[i] for i in order]
        if not (index == checkpoint.chunk and checkpoint.chunk_open):
            _add(checkpoint.rejected, parsed.rejected)
            checkpoint.chunk, checkpoint.offset, checkpoint.chunk_open = index, 0, True
        start = checkpoint.offset

        # A batch whose call a killed run never saw answered: find its events in the stream.
        flight_known: EventSet | None = None
        flight_end = 0
        flight = checkpoint.in_flight
        if flight is not None and flight.chunk == index and self.known is None:
            flight_known = self._stream_events_around(
                timestamps, messages, flight.start, flight.end
            )
            flight_end = flight.end

        oldest, newest = acceptance_window(self.clock(), self.retention)
        # Time-ordered: the refused ones are a prefix (too old) and a suffix (too new).
        first = bisect_left(timestamps, oldest, lo=start)
        last = bisect_right(timestamps, newest, lo=first)
        _add(checkpoint.rejected, {"too_old": first - start})
        checkpoint.offset = first
        self._advance(first)

        for batch_start, batch_end in plan_batches(timestamps[first:last], sizes[first:last]):
            begin, end = first + batch_start, first + batch_end
            events: list[dict[str, Any]] = []
            found = payload = 0
            for i in range(begin, end):
                stamp, message = timestamps[i], messages[i]
                if (
                    flight_known is not None
                    and i < flight_end
                    and flight_known.take(stamp, message)
                ) or (self.known is not None and self.known.take(stamp, message)):
                    found += 1
                    continue
                events.append({"timestamp": stamp, "message": message})
                payload += sizes[i] + EVENT_OVERHEAD_BYTES
            accepted, refused = 0, Counter[str]()
            if events:
                checkpoint.in_flight = InFlight(
                    index, begin, end, timestamps[begin], timestamps[end - 1]
                )
                self.save(checkpoint)
                accepted, refused = self._put(events, timestamps, messages, begin)
                self.tally.payload += payload
            self.tally.found += found
            checkpoint.offset = end
            checkpoint.delivered += found + accepted
            checkpoint.in_flight = None
            _add(checkpoint.rejected, refused)
            self.save(checkpoint)
            self._advance(end - begin)

        _add(checkpoint.rejected, {"too_new": len(timestamps) - last})
        checkpoint.chunk, checkpoint.offset, checkpoint.chunk_open = index + 1, 0, False
        checkpoint.in_flight = None
        self.save(checkpoint)
        self._advance(parsed.lines_read - last)

    def _stream_events_around(
        self, timestamps: Sequence[int], messages: Sequence[str], begin: int, end: int
    ) -> EventSet:
        """The stream's events in the time range of [begin, end), less the earlier events of
        this chunk in that range (delivered before: they are there, and are not this batch)."""
        first_ms, last_ms = timestamps[begin], timestamps[end - 1]
        try:
            found = EventSet(
                read_stream_events(self.logs, self.group, self.stream, first_ms, last_ms + 1)
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise AwsError(
                f"cannot look in {self.group}/{self.stream} for the batch of events "
                f"{first_ms}–{last_ms} ms whose delivery was not confirmed: "
                f"{describe_client_error(exc)}; {self.checkpoint.delivered:,} events of this "
                "file are in the stream",
                (aws_error_hint(exc) or "the credentials need logs:GetLogEvents")
                + self._then_resume(),
            ) from exc
        earlier = begin - 1
        while earlier >= 0 and timestamps[earlier] >= first_ms:
            found.take(timestamps[earlier], messages[earlier])
            earlier -= 1
        return found

    def _confirm(
        self,
        pending: list[dict[str, Any]],
        timestamps: Sequence[int],
        messages: Sequence[str],
        begin: int,
    ) -> list[bool]:
        """Which events of an unanswered call the stream holds, waiting up to confirm_wait
        seconds for all of them to show (AWS shows new events after a short delay)."""
        deadline = self.monotonic() + self.confirm_wait
        # The pending events are a time-ordered subset of [begin, …): look around them.
        end = begin
        while end < len(timestamps) and timestamps[end] <= pending[-1]["timestamp"]:
            end += 1
        while True:
            found = self._stream_events_around(timestamps, messages, begin, end)
            present = [found.take(e["timestamp"], e["message"]) for e in pending]
            if all(present) or self.monotonic() >= deadline:
                return present
            self.sleep(self.confirm_interval)

    def _put(
        self,
        events: list[dict[str, Any]],
        timestamps: Sequence[int],
        messages: Sequence[str],
        begin: int,
    ) -> tuple[int, Counter[str]]:
        """One batch into the stream, retried within the policy; (accepted, refused)."""
        pending = events
        confirmed = 0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.logs.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=pending
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                kind = failure_kind(exc)
                if kind == FATAL or attempt >= self.policy.max_attempts:
                    raise self._failure(exc, attempt, kind) from exc
                if kind == UNANSWERED:
                    self.tally.unanswered += 1
                    present = self._confirm(pending, timestamps, messages, begin)
                    found = sum(present)
                    confirmed += found
                    self.tally.confirmed += found
                    pending = [e for e, there in zip(pending, present, strict=True) if not there]
                    if not pending:
                        return confirmed, Counter()
                    self.tally.resent_unconfirmed += len(pending)
                self.sleep(self.policy.delay(attempt))
                continue
            refused = server_rejections(response.get("rejectedLogEventsInfo"), len(pending))
            accepted = len(pending) - sum(refused.values())
            self.tally.calls += 1
            self.tally.sent += accepted
            return confirmed + accepted, refused

    def _then_resume(self) -> str:
        return f"; then {self.resume_hint}" if self.resume_hint else ""

    def _failure(self, exc: Exception, attempts: int, kind: str) -> AwsError:
        delivered = self.checkpoint.delivered
        tried = f" ({attempts} attempts)" if attempts > 1 else ""
        where = f"PutLogEvents into {self.group}/{self.stream} failed{tried}"
        status = f"{delivered:,} events of this file are in the stream"
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "Error")
            message = f"{where}: {code}: {error.get('Message', str(exc))}; {status}"
            if code in THROTTLING_CODES:
                hint = "CloudWatch Logs kept throttling; wait a minute"
            elif code in ("AccessDeniedException", "UnrecognizedClientException"):
                hint = (
                    "the credentials need logs:PutLogEvents, logs:CreateLogStream, "
                    "logs:DescribeLogGroups and logs:GetLogEvents"
                )
            else:
                hint = aws_error_hint(exc) or "see the error above"
        else:
            message = f"{where}: {describe_client_error(exc)}; {status}"
            hint = aws_error_hint(exc) or "check the network and the region"
        if kind == UNANSWERED:
            message += " (the last batch may have arrived: the next run looks for it first)"
        return AwsError(message, hint + self._then_resume())

    def result(self, started: float) -> ShipResult:
        tally = self.tally
        return ShipResult(
            log_group=self.group,
            log_stream=self.stream,
            lines_read=tally.lines_read,
            events_sent=tally.sent,
            rejected={k: v for k, v in self.checkpoint.rejected.items() if v},
            empty_lines=tally.empty_lines,
            inherited_timestamps=tally.inherited_timestamps,
            reordered=tally.reordered,
            calls=tally.calls,
            payload_bytes=tally.payload,
            seconds=time.perf_counter() - started,
            resumed_from=tally.resumed_from,
            found_in_stream=tally.found,
            unanswered_calls=tally.unanswered,
            confirmed_after_unanswered=tally.confirmed,
            resent_unconfirmed=tally.resent_unconfirmed,
        )


def _add(counts: dict[str, int], more: Mapping[str, int]) -> None:
    for key, value in more.items():
        if value:
            counts[key] = counts.get(key, 0) + value


def _prepare(logs: Any, log_group: str, log_stream: str) -> tuple[int | None, bool]:
    """The group's retention, and whether the stream had to be created."""
    try:
        return log_group_retention(logs, log_group), ensure_log_stream(logs, log_group, log_stream)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise AwsError(
            f"cannot ship into {log_group}/{log_stream}: {describe_client_error(exc)}",
            aws_error_hint(exc)
            or "the credentials need logs:DescribeLogGroups and logs:CreateLogStream",
        ) from exc


def ship_chunks(
    logs: Any,
    chunks: Iterable[ParsedLog],
    log_group: str,
    log_stream: str,
    *,
    now_ms: Callable[[], int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: ProgressCallback | None = None,
    policy: RetryPolicy | None = None,
) -> ShipResult:
    """Deliver chunks of parsed events into one stream, one chunk after the other.

    No checkpoint: every event is sent (ship_file is the one that resumes).
    """
    started = time.perf_counter()
    retention, _ = _prepare(logs, log_group, log_stream)
    checkpoint = Checkpoint("", "", "", "", log_group, log_stream, CHUNK_LINES)
    shipment = _Shipment(
        logs,
        retention,
        checkpoint,
        clock=now_ms or (lambda: int(time.time() * 1000)),
        sleep=sleep,
        on_progress=on_progress,
        policy=policy or RetryPolicy(),
    )
    shipment.run(chunks)
    return shipment.result(started)


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


def _stream_is_empty(logs: Any, log_group: str, log_stream: str) -> bool:
    for _event in read_stream_events(logs, log_group, log_stream):
        return False
    return True


def ship_file(
    logs: Any,
    path: Path,
    log_group: str,
    log_stream: str | None = None,
    *,
    reporter: Reporter = SILENT,
    checkpoints: CheckpointStore | None = None,
    resume_hint: str = "",
    now_ms: Callable[[], int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    chunk_lines: int = CHUNK_LINES,
    policy: RetryPolicy | None = None,
    confirm_wait: float = 30.0,
) -> ShipResult:
    """Stream `path` into `log_group` (stream named after the file by default), exactly once.

    With `checkpoints`, a run resumes where the last one stopped (its checkpoint), and a
    batch whose call was never seen answered is looked for in the stream before anything of
    it is sent again. With no checkpoint for this file and a stream that holds events, the
    file is compared with the whole stream first and only what is missing is sent.
    `resume_hint` says how to run again (it ends every failure's hint). Memory stays bounded
    by `chunk_lines` (plus 9 bytes per event of the stream when it is compared).
    """
    started = time.perf_counter()
    stream = log_stream or default_stream_name(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file", "give the path of an access log to ship")
    total = count_lines(path)
    sha256 = file_sha256(path)
    retention, created = _prepare(logs, log_group, stream)
    store = checkpoints or CheckpointStore(Path(), None, "")
    checkpoint = store.load(log_group, stream, sha256) if checkpoints else None
    if checkpoint is not None and created and checkpoint.started:
        reporter.warn(
            f"{log_group}/{stream} was deleted since the last run: shipping from the start"
        )
        checkpoint = None
    if checkpoint is not None and checkpoint.complete:
        reporter.say(f"{path.name} is already in {log_group}/{stream}: nothing to send")
        shipment = _Shipment(logs, retention, checkpoint)
        shipment.tally = _Tally(
            lines_read=checkpoint.lines_total, resumed_from=checkpoint.delivered
        )
        result = shipment.result(started)
        result.checkpoint = str(store.path(log_group, stream, sha256))
        return result
    known: EventSet | None = None
    whole_stream = checkpoint.reconcile_whole_stream if checkpoint else False
    if checkpoint is None and not created:
        try:
            whole_stream = not _stream_is_empty(logs, log_group, stream)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise _read_error(exc, log_group, stream) from exc
    if whole_stream:
        with reporter.status(f"comparing {path.name} with the events in {log_group}/{stream}…"):
            try:
                known = EventSet(read_stream_events(logs, log_group, stream))
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                raise _read_error(exc, log_group, stream) from exc
        reporter.say(
            f"{log_group}/{stream} holds {len(known):,} events: only the lines of "
            f"{path.name} that are not among them are sent"
        )
    if checkpoint is None:
        checkpoint = store.new(path, sha256, log_group, stream, chunk_lines)
        checkpoint.reconcile_whole_stream = whole_stream
    elif checkpoint.delivered:
        reporter.say(
            f"resuming: {checkpoint.delivered:,} events of {path.name} are in "
            f"{log_group}/{stream} already"
        )
    shipment = _Shipment(
        logs,
        retention,
        checkpoint,
        save=store.save if checkpoints else _no_save,
        known=known,
        clock=now_ms or (lambda: int(time.time() * 1000)),
        sleep=sleep,
        monotonic=monotonic,
        policy=policy or RetryPolicy(),
        confirm_wait=confirm_wait,
        resume_hint=resume_hint,
    )
    try:
        with reporter.progress(f"shipping to {log_group}", total) as advance:
            shipment.on_progress = advance
            shipment.run(iter_log_chunks(path, checkpoint.chunk_lines))
    except KeyboardInterrupt:
        raise ShipInterrupted(
            f"interrupted: {checkpoint.delivered:,} events of {path.name} are in "
            f"{log_group}/{stream}",
            f"{resume_hint[:1].upper()}{resume_hint[1:]} (it resumes after the last accepted batch)"
            if resume_hint
            else None,
        ) from None
    result = shipment.result(started)
    if checkpoints:
        result.checkpoint = str(store.path(log_group, stream, sha256))
    return result


def _read_error(
    exc: botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError,
    log_group: str,
    log_stream: str,
) -> AwsError:
    return aws_error(
        f"cannot read the events already in {log_group}/{log_stream}",
        exc,
        "the credentials need logs:GetLogEvents",
    )


def count_stream_events(logs: Any, log_group: str, log_stream: str) -> int:
    """Count the events stored in one stream by paging GetLogEvents (exact, but slow at scale)."""
    try:
        return sum(1 for _ in read_stream_events(logs, log_group, log_stream))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise aws_error(
            f"cannot count the events in {log_group}/{log_stream}",
            exc,
            "the credentials need logs:GetLogEvents",
        ) from exc
