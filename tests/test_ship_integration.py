"""`ship` against the emulator (a real moto server over HTTP): every line comes back."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from cafepipe.aws import AwsClients
from cafepipe.cli import main
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.logs import ship

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
