"""`ship` against the emulator (a real moto server over HTTP): every line comes back, once,
across Ctrl-C, kills and connections reset by a fault-injecting proxy."""

from __future__ import annotations

import http.client
import http.server
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cafepipe.aws import AwsClients
from cafepipe.cli import main
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.errors import AwsError
from cafepipe.logs import ship
from cafepipe.logs.checkpoint import CheckpointStore

pytestmark = pytest.mark.integration


def write_log(path: Path, count: int, end_ms: int, span_ms: int) -> list[int]:
    """`count` JSON lines spread evenly over `span_ms` ending at `end_ms`; their timestamps."""
    timestamps = [end_ms - span_ms + (span_ms * i) // count for i in range(count)]
    with path.open("w", encoding="utf-8") as handle:
        for index, stamp in enumerate(timestamps):
            seconds, millis = divmod(stamp, 1000)
            iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
            handle.write(
                json.dumps(
                    {
                        "time": iso,
                        "remoteIP": f"198.51.100.{index % 250}",
                        "request": "/cafe/menu.php",
                        "method": "GET",
                        "status": "200",
                        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
                        "city": "Zürich",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    return timestamps


def test_ships_120k_lines_and_reads_back_exactly_that_many(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    clients = AwsClients("us-east-1", emulator.url)
    logs = clients.client("logs")
    group = f"ship-test/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    now_ms = int(time.time() * 1000)
    path = tmp_path / "access_log"
    # Three days: the batches must break at every 24 h as well as at the size limits.
    write_log(path, 120_000, now_ms - 60_000, 3 * 24 * 3600 * 1000)

    result = ship.ship_file(logs, path, group, "i-0123456789abcdef0")

    assert result.events_sent == 120_000
    assert result.events_rejected == 0
    assert result.calls >= 4
    assert ship.count_stream_events(logs, group, "i-0123456789abcdef0") == 120_000
    assert 0.5 < result.batch_fullness <= 1.0


def test_streams_in_chunks_each_sorted_on_its_own(tmp_path: Path, emulator: EmulatorInfo) -> None:
    clients = AwsClients("us-east-1", emulator.url)
    logs = clients.client("logs")
    group = f"ship-chunks/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    forward = tmp_path / "forward"
    write_log(forward, 5_000, int(time.time() * 1000) - 60_000, 2 * 3600 * 1000)
    # Newest first: every chunk must be sorted, or the emulator refuses the call, as AWS does.
    backward = tmp_path / "backward.log"
    backward.write_text("".join(reversed(forward.read_text().splitlines(keepends=True))))
    advanced: list[int] = []

    result = ship.ship_file(logs, backward, group, chunk_lines=1_234)
    assert result.events_sent == 5_000 and result.reordered
    assert result.calls >= 5  # at least one call per chunk
    assert ship.count_stream_events(logs, group, "backward.log") == 5_000

    parsed_chunks = ship.iter_log_chunks(forward, 700)
    ship.ship_chunks(logs, parsed_chunks, group, "forward", on_progress=advanced.append)
    assert sum(advanced) == 5_000


def test_cli_ship_reports_refused_events_and_exits_1(
    tmp_path: Path, emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    clients = AwsClients("us-east-1", emulator.url)
    logs = clients.client("logs")
    group = f"ship-cli/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    now_ms = int(time.time() * 1000)
    day = 24 * 3600 * 1000
    good = tmp_path / "good"
    write_log(good, 1_000, now_ms - 1_000, day)
    old = tmp_path / "old"
    write_log(old, 10, now_ms - 20 * day, day)
    future = tmp_path / "future"
    write_log(future, 5, now_ms + 5 * 3600 * 1000, 1000)
    # Out of order on purpose: the future lines first, then the old ones, then the rest.
    mixed = tmp_path / "mixed.log"
    mixed.write_text(future.read_text() + old.read_text() + "\n" + good.read_text() + "junk\n")

    with pytest.raises(SystemExit) as exited:
        main(["--endpoint-url", emulator.url, "ship", str(mixed), "--log-group", group, "--json"])
    assert exited.value.code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["events_sent"] == 1_001  # "junk" takes the time of the line before it
    assert data["rejected"]["too_old"] == 10
    assert data["rejected"]["too_new"] == 5
    assert data["inherited_timestamps"] == 1
    assert data["empty_lines"] == 1
    assert data["reordered"] is True
    assert data["log_stream"] == "mixed.log"
    assert ship.count_stream_events(logs, group, "mixed.log") == 1_001


def test_cli_ship_into_a_missing_group_is_a_clear_error(
    tmp_path: Path, emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.log"
    write_log(path, 3, int(time.time() * 1000), 1000)
    with pytest.raises(SystemExit) as exited:
        main(["--endpoint-url", emulator.url, "ship", str(path), "--log-group", "nope/none"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "log group nope/none does not exist" in err
    assert "Traceback" not in err


def test_cli_ship_of_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ship", str(tmp_path / "nope.log")])
    assert exited.value.code == 2
    assert "no such file" in capsys.readouterr().err


# --- exactly once: interrupts, kills, lost answers ------------------------------------------

BIG = 300_000


class FaultyProxy:
    """An HTTP proxy in front of the emulator that can reset the connection of chosen
    PutLogEvents calls: before forwarding them, or after the emulator stored the batch."""

    def __init__(self, upstream: str, fault: Callable[[int], str | None]) -> None:
        self.upstream = urllib.parse.urlparse(upstream)
        self.fault = fault  # call number (1, 2, …) → "before", "after" or None
        self.put_calls = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fault = None
                if self.headers.get("X-Amz-Target", "").endswith(".PutLogEvents"):
                    with proxy.lock:
                        proxy.put_calls += 1
                        fault = proxy.fault(proxy.put_calls)
                if fault == "before":
                    self._reset()
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=60
                )
                upstream.request("POST", self.path, body, dict(self.headers.items()))
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                if fault == "after":  # stored upstream; the client never hears of it
                    self._reset()
                    return
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends a TCP RST, what a dropped connection looks like.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A reset connection is the point here, not an error to print.
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def new_group(logs: Any, prefix: str) -> str:
    group = f"{prefix}/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    return group


def cafepipe_command(state_dir: Path, endpoint: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cafepipe",
        "--state-dir",
        str(state_dir),
        "--endpoint-url",
        endpoint,
        *args,
    ]


def delivered_so_far(state_dir: Path) -> int:
    """What the checkpoint of the one shipment under `state_dir` says was delivered."""
    for path in (state_dir / "cafe" / "ship-checkpoints").glob("*.json"):
        try:
            return int(json.loads(path.read_text())["delivered"])
        except (OSError, ValueError, KeyError):
            return 0
    return 0


def start_and_stop(command: list[str], state_dir: Path, after: int, how: int) -> str:
    """Run `command`, send signal `how` once `after` events are delivered; its stderr."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A test runner may start us with SIGINT ignored; a user's shell does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while delivered_so_far(state_dir) < after and process.poll() is None:
        assert time.monotonic() < deadline, "the shipment did not get going"
        time.sleep(0.02)
    process.send_signal(how)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (130, -signal.SIGKILL), (process.returncode, err)
    return err


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "access_log"
    write_log(path, BIG, int(time.time() * 1000) - 60_000, 3 * 24 * 3600 * 1000)
    return path


def test_ctrl_c_midway_then_a_rerun_leaves_exactly_every_line_once(
    tmp_path: Path, emulator: EmulatorInfo, big_log: Path
) -> None:
    logs = AwsClients("us-east-1", emulator.url).client("logs")
    group = new_group(logs, "ship-sigint")
    command = cafepipe_command(tmp_path, emulator.url, "ship", str(big_log), "--log-group", group)

    err = start_and_stop(command, tmp_path, 50_000, signal.SIGINT)
    assert "interrupted:" in err and "events of access_log are in" in err
    assert "run the same command again: `cafepipe --state-dir" in err.lower()
    assert "Traceback" not in err
    stored = ship.count_stream_events(logs, group, "access_log")
    assert 50_000 <= stored < BIG

    again = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["resumed_from"] + data["found_in_stream"] >= 50_000
    assert data["events_delivered"] == BIG
    assert data["events_sent"] == BIG - stored
    assert ship.count_stream_events(logs, group, "access_log") == BIG

    # Once complete, running it again sends nothing.
    third = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert json.loads(third.stdout)["events_sent"] == 0
    assert "already in" in third.stderr
    assert ship.count_stream_events(logs, group, "access_log") == BIG


def test_killed_twice_then_a_rerun_leaves_exactly_every_line_once(
    tmp_path: Path, emulator: EmulatorInfo, big_log: Path
) -> None:
    logs = AwsClients("us-east-1", emulator.url).client("logs")
    group = new_group(logs, "ship-sigkill")
    command = cafepipe_command(tmp_path, emulator.url, "ship", str(big_log), "--log-group", group)

    start_and_stop(command, tmp_path, 40_000, signal.SIGKILL)
    first = ship.count_stream_events(logs, group, "access_log")
    start_and_stop(command, tmp_path, first + 60_000, signal.SIGKILL)
    assert ship.count_stream_events(logs, group, "access_log") < BIG

    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert ship.count_stream_events(logs, group, "access_log") == BIG


class KilledAfterAcceptance(KeyboardInterrupt):
    """Stands for a kill between the service storing a batch and the checkpoint's update."""


class DiesAfterPut:
    """A logs client whose `calls`-th PutLogEvents is stored, then the process "dies"."""

    def __init__(self, logs: Any, calls: int) -> None:
        self._logs, self._left = logs, calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)

    def put_log_events(self, **kwargs: Any) -> Any:
        answer = self._logs.put_log_events(**kwargs)
        self._left -= 1
        if not self._left:
            raise KilledAfterAcceptance
        return answer


def test_a_batch_stored_just_before_a_kill_is_found_in_the_stream_not_resent(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    logs = AwsClients("us-east-1", emulator.url).single_attempt_client("logs")
    group = new_group(logs, "ship-inflight")
    path = tmp_path / "access_log"
    write_log(path, 25_000, int(time.time() * 1000) - 60_000, 3600 * 1000)
    store = CheckpointStore(tmp_path / "checkpoints", emulator.url, "us-east-1")

    with pytest.raises(ship.ShipInterrupted) as interrupted:
        ship.ship_file(DiesAfterPut(logs, 2), path, group, "s", checkpoints=store)
    # The second batch is in the stream, but the checkpoint still calls it in flight.
    (saved,) = store.directory.glob("*.json")
    checkpoint = json.loads(saved.read_text())
    start, end = checkpoint["in_flight"]["start"], checkpoint["in_flight"]["end"]
    assert checkpoint["delivered"] == start > 0
    assert f"{start:,} events of access_log are in" in str(interrupted.value)
    assert ship.count_stream_events(logs, group, "s") == end

    result = ship.ship_file(logs, path, group, "s", checkpoints=store, confirm_wait=0)
    assert result.resumed_from == start
    assert result.found_in_stream == end - start  # the in-flight batch: found, not resent
    assert result.events_sent == 25_000 - end
    assert ship.count_stream_events(logs, group, "s") == 25_000


def test_without_a_checkpoint_the_stream_itself_says_what_is_missing(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    logs = AwsClients("us-east-1", emulator.url).single_attempt_client("logs")
    group = new_group(logs, "ship-reconcile")
    path = tmp_path / "access_log"
    write_log(path, 12_000, int(time.time() * 1000) - 60_000, 3600 * 1000)
    # An earlier run elsewhere delivered the first 7,000 lines; no checkpoint here.
    head = tmp_path / "head"
    head.write_text("".join(path.read_text().splitlines(keepends=True)[:7_000]))
    ship.ship_file(logs, head, group, "s")
    store = CheckpointStore(tmp_path / "checkpoints", emulator.url, "us-east-1")

    result = ship.ship_file(logs, path, group, "s", checkpoints=store, confirm_wait=0)
    assert (result.found_in_stream, result.events_sent) == (7_000, 5_000)
    assert ship.count_stream_events(logs, group, "s") == 12_000
    # A deleted stream makes the checkpoint stale: the file goes in again, whole.
    logs.delete_log_stream(logGroupName=group, logStreamName="s")
    again = ship.ship_file(logs, path, group, "s", checkpoints=store, confirm_wait=0)
    assert again.events_sent == 12_000 and again.resumed_from == 0
    assert ship.count_stream_events(logs, group, "s") == 12_000


@pytest.mark.parametrize(
    ("fault", "found", "resent"),
    [("after", 1, 0), ("before", 0, 1)],
    ids=["reset-after-the-batch-was-stored", "reset-before-it-was-forwarded"],
)
def test_a_reset_connection_is_reported_and_never_doubles(
    tmp_path: Path,
    emulator: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    found: int,
    resent: int,
) -> None:
    proxy = FaultyProxy(emulator.url, lambda call: fault if call == 3 else None)
    try:
        logs = AwsClients("us-east-1", emulator.url).client("logs")
        group = new_group(logs, "ship-reset")
        path = tmp_path / "access_log"
        write_log(path, 50_000, int(time.time() * 1000) - 60_000, 3600 * 1000)
        command = [
            *("--state-dir", str(tmp_path), "--endpoint-url", proxy.url),
            *("ship", str(path), "--log-group", group),
        ]
        assert exit_code_of([*command, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        batch = data["confirmed_after_unanswered"] + data["resent_unconfirmed"]
        assert data["unanswered_calls"] == 1
        assert batch > 4_000  # one whole batch (about 4,450 of these lines fill 1 MB)
        assert (data["confirmed_after_unanswered"], data["resent_unconfirmed"]) == (
            found * batch,
            resent * batch,
        )
        assert data["events_delivered"] == 50_000
        assert ship.count_stream_events(logs, group, "access_log") == 50_000

        # A re-run converges: nothing is missing, nothing is sent.
        proxy.fault = lambda call: None
        assert exit_code_of([*command, "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert (again["events_sent"], again["resumed_from"]) == (0, 50_000)
        assert proxy.put_calls == len(ship.plan_batches(*sizes_of(path))) + 1 - found
        assert ship.count_stream_events(logs, group, "access_log") == 50_000
    finally:
        proxy.close()


def exit_code_of(args: list[str]) -> int | str | None:
    try:
        main(args)
    except SystemExit as exited:
        return exited.code
    return 0


def sizes_of(path: Path) -> tuple[list[int], list[int]]:
    parsed = ship.read_log_events(path)
    return parsed.timestamps, parsed.sizes


def test_an_endpoint_that_stays_down_fails_with_the_count_and_the_way_on(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    healthy = [True]
    proxy = FaultyProxy(emulator.url, lambda call: None if healthy[0] and call <= 2 else "before")
    try:
        clients = AwsClients("us-east-1", proxy.url)
        logs = clients.single_attempt_client("logs")
        group = new_group(clients.client("logs"), "ship-down")
        path = tmp_path / "access_log"
        write_log(path, 35_000, int(time.time() * 1000) - 60_000, 3600 * 1000)
        store = CheckpointStore(tmp_path / "checkpoints", proxy.url, "us-east-1")
        sleeps: list[float] = []
        with pytest.raises(AwsError) as failed:
            ship.ship_file(
                logs,
                path,
                group,
                "s",
                checkpoints=store,
                resume_hint="run the same command again: `cafepipe ship access_log`",
                sleep=sleeps.append,
                confirm_wait=0,
                policy=ship.RetryPolicy(max_attempts=4),
            )
        message = str(failed.value)
        parsed = ship.read_log_events(path)
        two_batches = ship.plan_batches(parsed.timestamps, parsed.sizes)[1][1]
        assert "failed (4 attempts)" in message
        assert "closed the connection before answering" in message
        assert f"{two_batches:,} events of this file are in the stream" in message
        assert "run the same command again: `cafepipe ship access_log`" in message
        assert sleeps == [0.5, 1.0, 2.0]  # one bounded retry layer
        assert proxy.put_calls == 2 + 4

        proxy.fault = lambda call: None  # the network is back
        result = ship.ship_file(logs, path, group, "s", checkpoints=store, confirm_wait=0)
        assert result.resumed_from == two_batches
        assert result.events_sent == 35_000 - two_batches
        assert ship.count_stream_events(logs, group, "s") == 35_000
    finally:
        proxy.close()
