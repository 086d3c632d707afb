"""Unit tests of `cafepipe.logs.ship`: timestamps, batch limits, refusals, retries, lost answers
and the checkpoint (Stubber at the client boundary)."""

from __future__ import annotations

import calendar
import gzip
import json
import random
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.stub import ANY, Stubber

from cafepipe.aws import AwsClients
from cafepipe.errors import AwsError, UsageError
from cafepipe.logs import ship
from cafepipe.logs.checkpoint import CheckpointStore, InFlight

NOW_MS = calendar.timegm((2026, 11, 27, 12, 0, 0)) * 1000
HOUR_MS = 3600 * 1000


def json_line(timestamp_ms: int, path: str = "/cafe/menu.php", **extra: Any) -> str:
    seconds, millis = divmod(timestamp_ms, 1000)
    stamp = f"{_iso(seconds)}.{millis:03d}Z"
    return json.dumps({"time": stamp, "request": path, "status": "200", **extra})


def _iso(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def logs_client() -> Any:
    return boto3.client(
        "logs",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# --- timestamps --------------------------------------------------------------------------


def test_parses_the_json_time_field_with_milliseconds() -> None:
    line = '{"time":"2026-11-27T04:47:33.123Z","process":"10","request":"/cafe"}'
    assert ship.parse_timestamp_ms(line) == calendar.timegm((2026, 11, 27, 4, 47, 33)) * 1000 + 123


def test_parses_json_time_with_an_offset_and_no_fraction() -> None:
    line = '{"time": "2026-11-27T06:47:33+02:00"}'
    assert ship.parse_timestamp_ms(line) == calendar.timegm((2026, 11, 27, 4, 47, 33)) * 1000


def test_parses_the_combined_log_time_with_its_zone() -> None:
    line = (
        '203.0.113.9 - - [27/Nov/2026:06:47:33 +0200] "GET /cafe/menu.php HTTP/1.1" 200 512 '
        '"-" "Mozilla/5.0"'
    )
    assert ship.parse_timestamp_ms(line) == calendar.timegm((2026, 11, 27, 4, 47, 33)) * 1000
    west = line.replace("+0200", "-0130")
    assert ship.parse_timestamp_ms(west) == calendar.timegm((2026, 11, 27, 8, 17, 33)) * 1000


def test_survives_apache_hex_escapes_which_are_not_json() -> None:
    line = r'{"time":"2026-11-27T04:47:33.5Z","userAgent":"bad \xff\xfe agent"}'
    assert ship.parse_timestamp_ms(line) == calendar.timegm((2026, 11, 27, 4, 47, 33)) * 1000 + 500


@pytest.mark.parametrize(
    "line",
    ["", "garbage", '{"time":"not a time"}', '{"time":"2026-13-40T04:47:33Z"}', "[40/Foo/2026:1]"],
)
def test_lines_without_a_usable_time_give_none(line: str) -> None:
    assert ship.parse_timestamp_ms(line) is None


def test_message_bytes_counts_utf8() -> None:
    assert ship.message_bytes("abc") == 3
    assert ship.message_bytes("café") == 5
    assert ship.message_bytes("☕") == 3


# --- reading files -----------------------------------------------------------------------


def test_read_counts_bad_lines_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    lines = [
        "no time before any timed line",  # nothing to inherit: refused
        json_line(NOW_MS - HOUR_MS),
        "",  # empty: not an event
        "a continuation without a time",  # inherits the previous line's time
        json_line(NOW_MS - HOUR_MS + 1000, path="/é"),
        '{"time":"2026-11-27T11:00:00Z","pad":"' + "x" * ship.MAX_EVENT_BYTES + '"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = ship.read_log_events(path)
    assert parsed.lines_read == 6
    assert parsed.empty_lines == 1
    assert parsed.inherited_timestamps == 1
    assert parsed.rejected == {"no_timestamp": 1, "too_large": 1}
    assert parsed.timestamps == [NOW_MS - HOUR_MS, NOW_MS - HOUR_MS, NOW_MS - HOUR_MS + 1000]
    assert parsed.messages[1] == "a continuation without a time"
    assert parsed.sizes == [len(lines[1]), len(lines[3]), len(lines[4].encode())]


def test_read_accepts_gzip_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "access_log.json.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(json_line(NOW_MS) + "\r\n" + json_line(NOW_MS + 1) + "\r\n")
    parsed = ship.read_log_events(path)
    assert parsed.timestamps == [NOW_MS, NOW_MS + 1]
    assert not parsed.messages[0].endswith("\r")


def test_chunks_carry_the_last_time_across_their_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    lines = [json_line(NOW_MS), "untimed", "", json_line(NOW_MS + 5), "untimed", "x" * 10]
    path.write_text("\n".join(lines) + "\n")
    chunks = list(ship.iter_log_chunks(path, chunk_lines=2))
    assert [c.lines_read for c in chunks] == [2, 2, 2]
    assert [c.timestamps for c in chunks] == [[NOW_MS, NOW_MS], [NOW_MS + 5], [NOW_MS + 5] * 2]
    assert sum(c.inherited_timestamps for c in chunks) == 3
    assert chunks[1].empty_lines == 1
    whole = ship.read_log_events(path)
    assert whole.timestamps == [t for c in chunks for t in c.timestamps]
    assert whole.lines_read == 6 and whole.inherited_timestamps == 3


def test_an_exact_multiple_of_the_chunk_size_gives_no_empty_chunk(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    path.write_text("".join(json_line(NOW_MS + i) + "\n" for i in range(4)))
    assert [c.lines_read for c in ship.iter_log_chunks(path, chunk_lines=2)] == [2, 2]
    assert [c.lines_read for c in ship.iter_log_chunks(path, chunk_lines=3)] == [3, 1]


def test_count_lines_counts_a_last_line_without_newline(tmp_path: Path) -> None:
    plain = tmp_path / "a"
    plain.write_text("a\nb\nc")
    assert ship.count_lines(plain) == 3
    packed = tmp_path / "a.gz"
    packed.write_bytes(gzip.compress(b"a\nb\n"))
    assert ship.count_lines(packed) == 2
    empty = tmp_path / "e"
    empty.write_text("")
    assert ship.count_lines(empty) == 0


def test_read_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        ship.read_log_events(tmp_path / "nope")


def test_default_stream_name_is_the_file_name_without_forbidden_characters() -> None:
    assert ship.default_stream_name(Path("/x/access_log:2026*.gz")) == "access_log-2026-"


# --- batching ----------------------------------------------------------------------------


def assert_batches_within_limits(
    batches: list[tuple[int, int]], timestamps: list[int], sizes: list[int]
) -> None:
    """Every batch obeys every limit, and together they cover each event exactly once."""
    position = 0
    for start, end in batches:
        assert start == position and end > start
        assert end - start <= ship.MAX_BATCH_EVENTS
        assert sum(sizes[start:end]) + 26 * (end - start) <= ship.MAX_BATCH_BYTES
        assert timestamps[end - 1] - timestamps[start] < ship.MAX_BATCH_SPAN_MS
        position = end
    assert position == len(sizes)


def test_batches_hold_at_most_10000_events() -> None:
    timestamps = [NOW_MS] * 25_000
    sizes = [10] * 25_000
    assert ship.plan_batches(timestamps, sizes) == [(0, 10_000), (10_000, 20_000), (20_000, 25_000)]


def test_batch_bytes_count_the_26_byte_overhead() -> None:
    # 1,000-byte messages cost 1,026 each: floor(1,048,576 / 1,026) = 1,022 fit in one call
    # (1,048 would, if the overhead were forgotten).
    sizes = [1000] * 3000
    batches = ship.plan_batches([NOW_MS] * 3000, sizes)
    assert batches[0] == (0, 1022)
    assert_batches_within_limits(batches, [NOW_MS] * 3000, sizes)


def test_a_batch_exactly_at_the_byte_limit_is_one_call() -> None:
    sizes = [ship.MAX_BATCH_BYTES // 4 - 26] * 4
    assert ship.plan_batches([NOW_MS] * 4, sizes) == [(0, 4)]
    sizes[-1] += 1
    assert ship.plan_batches([NOW_MS] * 4, sizes) == [(0, 3), (3, 4)]


def test_the_largest_event_fits_alone() -> None:
    batches = ship.plan_batches([NOW_MS] * 3, [5, ship.MAX_EVENT_BYTES, 5])
    assert batches == [(0, 1), (1, 2), (2, 3)]


def test_one_batch_never_spans_24_hours() -> None:
    day = ship.MAX_BATCH_SPAN_MS
    timestamps = [NOW_MS, NOW_MS + day - 1, NOW_MS + day, NOW_MS + day + 5]
    assert ship.plan_batches(timestamps, [10] * 4) == [(0, 2), (2, 4)]


def test_random_logs_always_batch_within_every_limit() -> None:
    rng = random.Random(7)
    timestamps, sizes, now = [], [], NOW_MS
    for _ in range(40_000):
        now += rng.choice((0, 1, 500, 60_000, 4 * HOUR_MS))
        timestamps.append(now)
        sizes.append(rng.choice((1, 80, 400, 2_000, 60_000, 300_000)))
    assert_batches_within_limits(ship.plan_batches(timestamps, sizes), timestamps, sizes)


def test_chronological_order_is_stable_and_none_when_already_sorted() -> None:
    assert ship.chronological_order([1, 2, 2, 3]) is None
    assert ship.chronological_order([5, 1, 5, 1]) == [1, 3, 0, 2]


def test_acceptance_window_uses_the_shorter_of_14_days_and_the_retention() -> None:
    day = 24 * HOUR_MS
    assert ship.acceptance_window(NOW_MS, None) == (NOW_MS - 14 * day, NOW_MS + 2 * HOUR_MS)
    assert ship.acceptance_window(NOW_MS, 180)[0] == NOW_MS - 14 * day
    assert ship.acceptance_window(NOW_MS, 3)[0] == NOW_MS - 3 * day


def test_server_rejections_count_each_event_once() -> None:
    assert ship.server_rejections(None, 10) == {}
    assert ship.server_rejections({"tooOldLogEventEndIndex": 2}, 10) == {"too_old": 3}
    assert ship.server_rejections({"tooNewLogEventStartIndex": 7}, 10) == {"too_new": 3}
    info = {"tooOldLogEventEndIndex": 1, "expiredLogEventEndIndex": 4}
    assert ship.server_rejections(info, 10) == {"too_old": 2, "expired": 3}


# --- shipping, faked at the client boundary ----------------------------------------------


def parsed_log(timestamps: list[int]) -> ship.ParsedLog:
    parsed = ship.ParsedLog(lines_read=len(timestamps))
    for index, timestamp in enumerate(timestamps):
        message = f"event {index}"
        parsed.timestamps.append(timestamp)
        parsed.messages.append(message)
        parsed.sizes.append(len(message))
    return parsed


def expect_setup(stubber: Stubber, group: str, retention: int | None = 180) -> None:
    description: dict[str, Any] = {"logGroupName": group}
    if retention is not None:
        description["retentionInDays"] = retention
    stubber.add_response(
        "describe_log_groups", {"logGroups": [description]}, {"logGroupNamePrefix": group}
    )
    stubber.add_response("create_log_stream", {}, {"logGroupName": group, "logStreamName": "s"})


def test_old_and_future_events_are_reported_not_sent_and_the_rest_is_sorted() -> None:
    logs = logs_client()
    day = 24 * HOUR_MS
    timestamps = [
        NOW_MS - HOUR_MS,  # fine
        NOW_MS - 15 * day,  # older than 14 days
        NOW_MS + 3 * HOUR_MS,  # more than 2 h ahead
        NOW_MS - 2 * HOUR_MS,  # fine, out of order
        NOW_MS - 4 * day,  # older than the 3-day retention
    ]
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g", retention=3)
        stubber.add_response(
            "put_log_events",
            {},
            {
                "logGroupName": "g",
                "logStreamName": "s",
                "logEvents": [
                    {"timestamp": NOW_MS - 2 * HOUR_MS, "message": "event 3"},
                    {"timestamp": NOW_MS - HOUR_MS, "message": "event 0"},
                ],
            },
        )
        result = ship.ship_events(logs, parsed_log(timestamps), "g", "s", now_ms=lambda: NOW_MS)
        stubber.assert_no_pending_responses()
    assert result.events_sent == 2
    assert result.rejected == {"too_old": 2, "too_new": 1}
    assert result.events_rejected == 3
    assert result.reordered is True
    assert result.calls == 1
    assert result.payload_bytes == len("event 3") + len("event 0") + 2 * 26
    summary = result.to_json()
    assert summary["rejected"] == {
        "no_timestamp": 0,
        "too_large": 0,
        "too_old": 2,
        "too_new": 1,
        "expired": 0,
    }


def test_an_existing_stream_is_reused() -> None:
    logs = logs_client()
    with Stubber(logs) as stubber:
        stubber.add_response("describe_log_groups", {"logGroups": [{"logGroupName": "g"}]})
        stubber.add_client_error("create_log_stream", "ResourceAlreadyExistsException")
        stubber.add_response("put_log_events", {})
        result = ship.ship_events(logs, parsed_log([NOW_MS]), "g", "s", now_ms=lambda: NOW_MS)
    assert result.events_sent == 1


def test_a_missing_log_group_says_what_to_do() -> None:
    logs = logs_client()
    with Stubber(logs) as stubber:
        stubber.add_response("describe_log_groups", {"logGroups": [{"logGroupName": "g2"}]})
        with pytest.raises(AwsError, match="log group g does not exist") as info:
            ship.ship_events(logs, parsed_log([NOW_MS]), "g", "s", now_ms=lambda: NOW_MS)
    assert "cafepipe up" in str(info.value)


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailableException"])
def test_throttling_is_retried_with_growing_backoff(code: str) -> None:
    logs = logs_client()
    sleeps: list[float] = []
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        stubber.add_client_error("put_log_events", code, http_status_code=400)
        stubber.add_client_error("put_log_events", code, http_status_code=400)
        stubber.add_response(
            "put_log_events", {}, {"logGroupName": "g", "logStreamName": "s", "logEvents": ANY}
        )
        result = ship.ship_events(
            logs,
            parsed_log([NOW_MS, NOW_MS]),
            "g",
            "s",
            now_ms=lambda: NOW_MS,
            sleep=sleeps.append,
        )
        stubber.assert_no_pending_responses()
    assert result.events_sent == 2
    assert sleeps == [0.5, 1.0]


def test_throttling_that_never_ends_fails_with_the_cause() -> None:
    logs = logs_client()
    sleeps: list[float] = []
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        for _ in range(8):
            stubber.add_client_error("put_log_events", "ThrottlingException", "Rate exceeded")
        with pytest.raises(AwsError, match="ThrottlingException: Rate exceeded"):
            ship.ship_events(
                logs, parsed_log([NOW_MS]), "g", "s", now_ms=lambda: NOW_MS, sleep=sleeps.append
            )
    assert len(sleeps) == 7
    assert sleeps[-1] == 20.0  # capped


def test_other_errors_are_not_retried() -> None:
    logs = logs_client()
    sleeps: list[float] = []
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        stubber.add_client_error("put_log_events", "InvalidParameterException", "bad batch")
        with pytest.raises(AwsError, match="InvalidParameterException: bad batch"):
            ship.ship_events(
                logs, parsed_log([NOW_MS]), "g", "s", now_ms=lambda: NOW_MS, sleep=sleeps.append
            )
    assert sleeps == []


def test_events_the_service_refuses_are_counted_by_reason() -> None:
    logs = logs_client()
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        stubber.add_response(
            "put_log_events",
            {"rejectedLogEventsInfo": {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 3}},
        )
        result = ship.ship_events(logs, parsed_log([NOW_MS] * 4), "g", "s", now_ms=lambda: NOW_MS)
    assert result.events_sent == 2
    assert result.rejected == {"too_old": 1, "too_new": 1}


# --- exactly once: the retry layer, lost answers, the checkpoint ---------------------------


def test_one_bounded_retry_layer_knows_what_each_failure_means() -> None:
    def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
        response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return botocore.exceptions.ClientError(response, "PutLogEvents")

    assert ship.failure_kind(client_error("ThrottlingException", 400)) == ship.THROTTLED
    assert ship.failure_kind(client_error("InternalFailure", 500)) == ship.UNANSWERED
    assert ship.failure_kind(client_error("Whatever", 503)) == ship.UNANSWERED
    assert ship.failure_kind(client_error("InvalidParameterException", 400)) == ship.FATAL
    url = "https://logs.us-east-1.amazonaws.com/"
    closed = botocore.exceptions.ConnectionClosedError(endpoint_url=url)
    assert ship.failure_kind(closed) == ship.UNANSWERED
    timeout = botocore.exceptions.ReadTimeoutError(endpoint_url=url)
    assert ship.failure_kind(timeout) == ship.UNANSWERED
    refused = botocore.exceptions.EndpointConnectionError(endpoint_url=url)
    assert ship.failure_kind(refused) == ship.NOT_SENT
    assert ship.failure_kind(botocore.exceptions.NoCredentialsError()) == ship.FATAL
    policy = ship.RetryPolicy()
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 16, 20]


def test_the_client_ship_uses_has_botocore_retries_off() -> None:
    clients = AwsClients("us-east-1", "http://127.0.0.1:1")
    single = clients.single_attempt_client("logs")
    assert single.meta.config.retries["total_max_attempts"] == 1
    assert clients.client("logs").meta.config.retries.get("total_max_attempts") != 1


def test_event_set_finds_each_copy_once() -> None:
    found = ship.EventSet([(1, "a"), (1, "a"), (2, "b")])
    assert len(found) == 3
    assert found.take(1, "a") and found.take(1, "a")
    assert not found.take(1, "a")  # only two copies in the stream
    assert not found.take(2, "a") and not found.take(1, "b")
    assert found.take(2, "b")


def test_a_5xx_after_which_the_batch_is_in_the_stream_is_not_sent_again() -> None:
    logs = logs_client()
    parsed = parsed_log([NOW_MS, NOW_MS + 1, NOW_MS + 2])
    stored = [
        {"timestamp": t, "message": m}
        for t, m in zip(parsed.timestamps, parsed.messages, strict=True)
    ]
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        stubber.add_client_error("put_log_events", "InternalFailure", http_status_code=500)
        stubber.add_response(
            "get_log_events",
            {"events": stored, "nextForwardToken": "f/1"},
            {
                "logGroupName": "g",
                "logStreamName": "s",
                "startFromHead": True,
                "limit": 10_000,
                "startTime": NOW_MS,
                "endTime": NOW_MS + 3,
            },
        )
        stubber.add_response("get_log_events", {"events": [], "nextForwardToken": "f/1"})
        sleeps: list[float] = []
        result = ship.ship_events(
            logs, parsed, "g", "s", now_ms=lambda: NOW_MS, sleep=sleeps.append
        )
        stubber.assert_no_pending_responses()  # no second put_log_events
    assert sleeps == []  # found at the first look: no wait, no resend
    assert result.unanswered_calls == 1
    assert result.confirmed_after_unanswered == 3
    assert result.events_sent == 0 and result.resent_unconfirmed == 0
    assert result.events_delivered == 3


def test_a_5xx_whose_batch_is_not_in_the_stream_is_resent_and_said_so() -> None:
    logs = logs_client()
    sleeps: list[float] = []
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        stubber.add_client_error("put_log_events", "ServiceFailure", http_status_code=500)
        stubber.add_response("get_log_events", {"events": [], "nextForwardToken": "f/0"})
        stubber.add_response("get_log_events", {"events": [], "nextForwardToken": "f/0"})
        stubber.add_response("put_log_events", {})
        result = ship.ship_events(
            logs, parsed_log([NOW_MS, NOW_MS]), "g", "s", now_ms=lambda: NOW_MS, sleep=sleeps.append
        )
        stubber.assert_no_pending_responses()
    assert (result.unanswered_calls, result.resent_unconfirmed, result.events_sent) == (1, 2, 2)
    assert sleeps == [0.5]


def test_a_failure_names_the_delivered_count_and_the_way_to_resume(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    path.write_text("".join(json_line(NOW_MS - HOUR_MS + i) + "\n" for i in range(3)))
    logs = logs_client()
    store = CheckpointStore(tmp_path / "cp", None, "us-east-1")
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        stubber.add_client_error("put_log_events", "AccessDeniedException", "no")
        with pytest.raises(AwsError) as failed:
            ship.ship_file(
                logs,
                path,
                "g",
                "s",
                checkpoints=store,
                now_ms=lambda: NOW_MS,
                resume_hint="run the same command again: `cafepipe ship access_log`",
            )
    message = str(failed.value)
    assert "AccessDeniedException: no; 0 events of this file are in the stream" in message
    assert "logs:PutLogEvents" in message
    assert message.endswith("then run the same command again: `cafepipe ship access_log`")
    # The batch was written down as in flight before the call: a re-run looks for it first.
    (saved,) = store.directory.glob("*.json")
    assert json.loads(saved.read_text())["in_flight"]["end"] == 3


def test_checkpoints_are_kept_per_destination_and_file_content(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "http://127.0.0.1:5000", "us-east-1")
    checkpoint = store.new(tmp_path / "a", "ab" * 32, "g", "s", 100)
    checkpoint.delivered, checkpoint.in_flight = 7, InFlight(0, 7, 9, 1, 2)
    store.save(checkpoint)
    loaded = store.load("g", "s", "ab" * 32)
    assert loaded is not None and loaded.delivered == 7
    assert loaded.in_flight == InFlight(0, 7, 9, 1, 2)
    assert store.load("g", "other", "ab" * 32) is None
    assert store.load("g", "s", "cd" * 32) is None  # another file
    assert CheckpointStore(tmp_path, None, "us-east-1").load("g", "s", "ab" * 32) is None  # AWS
    assert [p.name for p in tmp_path.iterdir()] == [store.path("g", "s", "ab" * 32).name]
    store.path("g", "s", "ab" * 32).write_text("{not json")
    assert store.load("g", "s", "ab" * 32) is None  # unreadable: the stream decides


def test_a_complete_file_is_not_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    path.write_text("".join(json_line(NOW_MS - HOUR_MS + i) + "\n" for i in range(4)))
    store = CheckpointStore(tmp_path / "cp", None, "us-east-1")
    logs = logs_client()
    with Stubber(logs) as stubber:
        expect_setup(stubber, "g")
        stubber.add_response("put_log_events", {})
        first = ship.ship_file(logs, path, "g", "s", checkpoints=store, now_ms=lambda: NOW_MS)
        stubber.add_response("describe_log_groups", {"logGroups": [{"logGroupName": "g"}]})
        stubber.add_client_error("create_log_stream", "ResourceAlreadyExistsException")
        again = ship.ship_file(logs, path, "g", "s", checkpoints=store, now_ms=lambda: NOW_MS)
        stubber.assert_no_pending_responses()
    assert first.events_sent == 4
    assert (again.events_sent, again.resumed_from, again.events_delivered) == (0, 4, 4)
