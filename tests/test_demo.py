"""`cafepipe demo` — what `make demo` runs — end to end, on a fresh emulator of its own.

One demo run per profile: the single server (the default), and the fleet (two servers behind a
load balancer; slower, because the provider waits on the load balancer).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cafepipe.demo import TRUTH_KEYS

pytestmark = pytest.mark.integration

STEPS = (
    "emulator start",
    "up",
    "check",
    "status",
    "simulate-logs",
    "insights",
    "insights (athena)",
    "destroy",
    "emulator stop",
)


def run_demo(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cafepipe", "--state-dir", str(tmp_path), "demo", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "400"},  # one table row per line
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def step_rows(summary: str) -> dict[str, str]:
    """The summary table's rows: step → result."""
    rows = {}
    for line in summary.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 3 and cells[0] in STEPS:
            rows[cells[0]] = cells[2]
    return rows


def assert_both_engines_equal_truth(rows: dict[str, str]) -> None:
    keys = len(TRUTH_KEYS)
    assert f"all {keys} schema and visit keys equal the generator's truth" in rows["insights"]
    athena = rows["insights (athena)"]
    assert f"all {keys} keys equal the generator's truth" in athena
    scanned = re.search(r"Athena scanned ([\d,]+) bytes in (\d+) queries \(\$([\d.]+)", athena)
    assert scanned, athena
    assert int(scanned[1].replace(",", "")) > 0 and int(scanned[2]) > 30
    assert float(scanned[3]) > 0  # at least the 10 MB minimum of each query


def test_demo_runs_the_whole_lifecycle_and_leaves_nothing(tmp_path: Path) -> None:
    summary = run_demo(tmp_path, "--lines", "5000")
    rows = step_rows(summary)
    assert set(rows) == set(STEPS), summary
    assert rows["simulate-logs"].startswith("5,000 events in apache/access, file in S3")
    assert "lake partitions" in rows["simulate-logs"]
    # The probe ran on the emulator: the log-group leg, the others skipped, said so.
    assert "stand-in event reached apache/access" in rows["check"]
    assert "skipped (nothing runs on the emulator): site, ssm, agent, access_log" in rows["check"]
    assert rows["status"].startswith("instance running")
    assert_both_engines_equal_truth(rows)
    assert "Nothing is left" in summary
    report = tmp_path / "demo" / "report.html"
    assert 'data-insight="by_city"' in report.read_text()
    assert not (tmp_path / "demo" / "emulator.json").exists()  # the emulator was stopped


def test_demo_on_the_fleet_splits_the_log_and_leaves_nothing(tmp_path: Path) -> None:
    summary = run_demo(tmp_path, "--profile", "fleet", "--lines", "5000")
    rows = step_rows(summary)
    assert set(rows) == set(STEPS), summary
    assert "a fleet cafepipe-cafe-web of 2+ servers" in rows["up"]
    assert rows["status"].startswith("2 of 2 servers in service in 2 zones")
    # Split by visitor: each server got a share, in its own stream, with its own partitions.
    simulated = rows["simulate-logs"]
    assert "split by visitor over 2 servers, one stream each (<instance id>/simulated-" in simulated
    split = re.findall(r"(i-[0-9a-f]+): ([\d,]+) events, (\d+) partitions", simulated)
    assert len(split) == 2, simulated
    assert sum(int(events.replace(",", "")) for _, events, _ in split) == 5000
    assert all(int(events.replace(",", "")) > 0 and int(parts) > 0 for _, events, parts in split)
    total = re.search(r"; (\d+) lake partitions", simulated)
    assert total and int(total[1]) == sum(int(parts) for _, _, parts in split)
    # The truth file is the whole log's: both engines answer it from the two servers' shares.
    truth = json.loads(next((tmp_path / "demo" / "cafe").rglob("*truth*.json")).read_text())
    assert truth["requests"] == 5000
    assert_both_engines_equal_truth(rows)
    assert "Nothing is left" in summary
    assert "aws_autoscaling_group" in summary and "aws_lb" in summary
    assert not (tmp_path / "demo" / "emulator.json").exists()


def test_bad_config_is_refused_before_an_emulator_starts(tmp_path: Path) -> None:
    config = tmp_path / "cafepipe.toml"
    config.write_text("[fleet]\nmin_size = 0\n")
    args = ["--state-dir", str(tmp_path), "--config", str(config), "demo", "--profile", "fleet"]
    done = subprocess.run(
        [sys.executable, "-m", "cafepipe", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "fleet.min_size" in done.stderr
    assert not (tmp_path / "demo" / "emulator.json").exists()
