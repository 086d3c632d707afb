"""`cafepipe demo` — what `make demo` runs — end to end, on a fresh emulator of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_lifecycle_and_leaves_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cafepipe", "--state-dir", str(tmp_path), "demo", "--lines", "5000"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},  # one table row per line
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout
    for step in (
        "emulator start",
        "up",
        "check",
        "status",
        "simulate-logs",
        "insights",
        "destroy",
        "emulator stop",
    ):
        assert step in summary, step
    assert "5,000 events in apache/access" in summary
    # The probe ran on the emulator: the log-group leg, the others skipped, said so.
    assert "stand-in event reached apache/access" in summary
    assert "skipped (nothing runs on the emulator): site, ssm, agent, access_log" in summary
    assert "schema keys equal the generator's truth" in summary
    assert "Nothing is left" in summary
    report = tmp_path / "demo" / "report.html"
    assert 'data-insight="by_city"' in report.read_text()
    assert not (tmp_path / "demo" / "emulator.json").exists()  # the emulator was stopped
