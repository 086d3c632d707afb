"""Ctrl-C in the middle of `up`: Terraform stops cleanly, cafepipe exits 130, and running
`up` again finishes the stack (the bundled Terraform, the real provider, moto)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cafepipe.deploy.emulator import EmulatorInfo

pytestmark = pytest.mark.integration


def test_interrupted_up_exits_130_and_a_rerun_completes(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    base = [
        sys.executable,
        "-m",
        "cafepipe",
        "--stack",
        "intr",
        "--state-dir",
        str(tmp_path),
        "--endpoint-url",
        emulator.url,
    ]
    up = subprocess.Popen(
        [*base, "-v", "up", "--yes"],  # -v prints each resource as it is created
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test runner may start us with SIGINT ignored; a user's shell does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert up.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in up.stderr:  # wait until resources are being created, then press "Ctrl-C"
        seen.append(line)
        if "✓ created" in line or time.monotonic() > deadline:
            break
    up.send_signal(signal.SIGINT)
    _, rest = up.communicate(timeout=180)
    messages = "".join(seen) + rest
    assert up.returncode == 130, messages
    assert "safe to re-run" in messages
    assert "Traceback" not in messages

    again = subprocess.run(
        [*base, "up", "--yes", "--json"], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["instance_id"].startswith("i-")
    plan = subprocess.run([*base, "plan", "--json"], capture_output=True, text=True, timeout=300)
    assert json.loads(plan.stdout)["add"] == 0
    subprocess.run(
        [*base, "destroy", "--yes"], capture_output=True, text=True, timeout=300, check=True
    )
