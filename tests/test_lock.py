"""One lock per stack: a real OS file lock held by another real process; the waiting side
runs on a fake clock (no real sleeping). The S3 backend's lock object against moto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cafepipe.config import StackConfig, load_config
from cafepipe.deploy.lock import (
    HOLDER_FILE,
    LockHolder,
    S3Lock,
    StackLockedError,
    holder,
    new_holder,
    stack_lock,
)
from cafepipe.reporting import Reporter

# A second cafepipe process holding the stack's lock until its stdin closes.
HOLD = """
import sys
from cafepipe.config import load_config
from cafepipe.deploy.lock import stack_lock
config = load_config(None, {"state_dir": sys.argv[1], "stack": "shop"}, environ={})
with stack_lock(config, sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


class Recorder(Reporter):
    """Keeps what a command would show: warnings and the live line's updates."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.lines: list[str] = []

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    @contextmanager
    def status(self, text: str) -> Iterator[object]:
        self.lines.append(text)
        yield lambda detail: self.lines.append(f"{text} {detail}")


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self, on_sleep: object = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if callable(self.on_sleep):
            self.on_sleep(self.sleeps)


def _config(tmp_path: Path) -> StackConfig:
    return load_config(None, {"state_dir": str(tmp_path), "stack": "shop"}, environ={})


@contextmanager
def held_elsewhere(tmp_path: Path, command: str = "destroy") -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_the_holder_is_recorded_while_held_and_gone_after(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with stack_lock(config, "up") as me:
        recorded = json.loads((config.stack_dir / HOLDER_FILE).read_text())
        assert recorded["pid"] == os.getpid() == me.pid
        assert recorded["command"] == "up" and recorded["started"].endswith("+00:00")
        assert holder(config) == me  # what `plan`/`status` see, without waiting
    assert not (config.stack_dir / HOLDER_FILE).exists()
    assert holder(config) is None


def test_a_second_command_waits_naming_the_holder_then_exits_1(tmp_path: Path) -> None:
    config = _config(tmp_path)
    reporter, time = Recorder(), FakeTime()
    with held_elsewhere(tmp_path) as other, pytest.raises(StackLockedError) as refused:
        stack_lock(
            config, "up", timeout=30, reporter=reporter, clock=time.clock, sleep=time.sleep
        ).__enter__()
    message = str(refused.value)
    assert f"`cafepipe destroy` (pid {other.pid}" in message and "waited 30s" in message
    assert "--lock-timeout" in message
    assert refused.value.exit_code == 1
    # The live line named the holder and counted the wait, without sleeping for real.
    assert reporter.lines[0] == "waiting for the lock of stack 'shop'"
    assert f"held by `cafepipe destroy` (pid {other.pid}" in reporter.lines[1]
    assert reporter.lines[1].endswith("(0s of 30s)") and reporter.lines[-1].endswith("of 30s)")
    assert time.sleeps == 60 == len(reporter.lines) - 1  # one update per 0.5 s poll


def test_the_wait_ends_when_the_holder_lets_go(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with held_elsewhere(tmp_path) as other:

        def release_on_third_poll(polls: int) -> None:
            if polls == 3:
                assert other.stdin is not None
                other.stdin.close()
                other.wait(timeout=10)

        time = FakeTime(release_on_third_poll)
        with stack_lock(config, "up", timeout=60, clock=time.clock, sleep=time.sleep) as me:
            assert holder(config) == me
        assert time.sleeps == 3


def test_a_lock_whose_process_is_gone_is_taken_over_with_a_notice(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with held_elsewhere(tmp_path, "simulate-logs") as other:
        other.send_signal(signal.SIGKILL)  # killed: no chance to let go or tidy up
        other.wait()
    left = LockHolder.parse((config.stack_dir / HOLDER_FILE).read_text())
    assert left is not None and left.pid == other.pid and left.alive() is False
    reporter = Recorder()
    with stack_lock(config, "up", timeout=0, reporter=reporter):
        pass
    assert len(reporter.warnings) == 1
    assert "took over the lock" in reporter.warnings[0]
    assert f"`cafepipe simulate-logs` (pid {other.pid}" in reporter.warnings[0]


def test_timeout_zero_refuses_at_once(tmp_path: Path) -> None:
    config = _config(tmp_path)
    time = FakeTime()
    with held_elsewhere(tmp_path, "up"), pytest.raises(StackLockedError, match="`cafepipe up`"):
        stack_lock(config, "plan", timeout=0, clock=time.clock, sleep=time.sleep).__enter__()
    assert time.sleeps == 0


@pytest.mark.integration
def test_s3_backend_lock_object(emulator: object, tmp_path: Path) -> None:
    """With the S3 backend the lock is an object beside the state, created only if absent."""
    from cafepipe.aws import AwsClients

    url = emulator.url  # type: ignore[attr-defined]
    s3 = AwsClients("us-east-1", url).client("s3")
    s3.create_bucket(Bucket="tf-state-lock-test")
    toml = tmp_path / "cafepipe.toml"
    toml.write_text('[backend]\nbucket = "tf-state-lock-test"\nkey = "shop/state"\n')
    config = load_config(
        toml, {"state_dir": str(tmp_path), "endpoint_url": url, "stack": "shop"}, environ={}
    )
    time = FakeTime()
    with stack_lock(config, "up", s3=s3):
        body = s3.get_object(Bucket="tf-state-lock-test", Key="shop/state.cafepipe-lock")["Body"]
        assert json.loads(body.read())["command"] == "up"
        # Another machine (another host name) cannot take it: it waits, then names it.
        elsewhere = S3Lock(s3, config, LockHolder(1, "other-host", "destroy", "t"))
        with pytest.raises(StackLockedError) as refused:
            elsewhere.acquire(2, Recorder(), time.clock, time.sleep, 0.5)
        assert "`cafepipe up`" in str(refused.value)
        assert "aws s3 rm s3://tf-state-lock-test/shop/state.cafepipe-lock" in str(refused.value)
    listed = s3.list_objects_v2(Bucket="tf-state-lock-test").get("Contents", [])
    assert listed == []  # let go at the end

    # Left by a process of this machine that is gone: taken over, with a notice.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    stale = LockHolder(int(gone.stdout), new_holder("x").host, "up", "t")
    s3.put_object(Bucket="tf-state-lock-test", Key="shop/state.cafepipe-lock", Body=stale.to_json())
    reporter = Recorder()
    taker = S3Lock(s3, config, new_holder("destroy"))
    taker.acquire(2, reporter, time.clock, time.sleep, 0.5)
    assert "took over the S3 lock" in reporter.warnings[0]
    taker.release()
    assert s3.list_objects_v2(Bucket="tf-state-lock-test").get("Contents", []) == []


@pytest.mark.parametrize(
    "command",
    [
        ["ship", "{log}"],  # into the stack's own log group: its lock
        ["simulate-logs", "--yes"],
    ],
)
def test_log_commands_take_the_stack_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    from cafepipe.cli.app import main

    log = tmp_path / "access_log"
    log.write_text('{"time": "2026-01-01T00:00:00Z"}\n')
    args = [arg.replace("{log}", str(log)) for arg in command]
    # Nothing listens at the endpoint: the lock refuses before any cloud call is made.
    base = ["--stack", "shop", "--state-dir", str(tmp_path), "--endpoint-url", "http://127.0.0.1:9"]
    with held_elsewhere(tmp_path, "up") as other, pytest.raises(SystemExit) as exited:
        main([*base, *args, "--lock-timeout", "0"])
    err = capsys.readouterr().err
    assert exited.value.code == 1, err
    assert f"locked by `cafepipe up` (pid {other.pid}" in err and "Traceback" not in err


def test_shipping_elsewhere_needs_no_stack_lock(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cafepipe.cli import cli

    log = tmp_path / "access_log"
    log.write_text("")
    base = ["--stack", "shop", "--state-dir", str(tmp_path), "--endpoint-url", "http://127.0.0.1:9"]
    with held_elsewhere(tmp_path, "up"):
        result = CliRunner().invoke(
            cli, [*base, "ship", str(log), "--log-group", "other/group", "--lock-timeout", "0"]
        )
    # It went on to ship (and failed there: nothing answers at the endpoint).
    assert result.exit_code == 1 and "nothing answers at" in str(result.exception)
