"""The instance script, run for real: a sandbox stands in for `/`, the AWS CLI fetches from
the emulator, and a recording stand-in plays amazon-cloudwatch-agent-ctl."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest

from cafepipe import config as cfg
from cafepipe.aws import AwsClients
from cafepipe.config import load_config
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.render import ARCHIVED_DAYS_DIR, SIMULATED_HEADS_DIR
from cafepipe.logs.simulate import agent_config_for_run, agent_state_file_name
from cafepipe.logs.simulate import render_simulate_script as render_script

VENV_BIN = Path(sys.executable).parent
STATE_NAME = "_var_log_www_access_access_log"

CTL_STAND_IN = f"""#!/usr/bin/env bash
# Records each call, and at fetch-config what the agent would find on disk.
root="$(cd "$(dirname "$0")/../../../.." && pwd)"
echo "$*" >> "$root/ctl-calls"
if [[ "$*" == *fetch-config* ]]; then
  if [[ -e "$root/opt/aws/amazon-cloudwatch-agent/logs/state/{STATE_NAME}" ]]; then
    echo "state-present" >> "$root/ctl-calls"
  else
    echo "state-absent" >> "$root/ctl-calls"
  fi
  echo "log-lines $(wc -l < "$root/var/log/www/access/access_log")" >> "$root/ctl-calls"
fi
if [[ "$*" == *"-a status"* ]]; then
  echo '{{"status": "running", "starttime": "2026-11-27T05:00:00+00:00", "version": "1.3"}}'
fi
"""


RUN_ID = "20261127T050000Z-beef"
STREAM = f"i-0123456789abcdef0/simulated-{RUN_ID}"
LAKE_DAYS = (date(2026, 11, 26), date(2026, 11, 27))
FIRST_CONFIG = '{"logs": "the agent config written at first boot"}'


def render_simulate_script(
    *,
    source_url: str,
    region: str,
    expected_lines: int,
    root: str = "",
    lake_days: tuple[date, ...] = LAKE_DAYS,
) -> str:
    """The script as simulate-logs renders it, for this run's stream."""
    config = load_config(None, {}, environ={})
    return render_script(
        source_url=source_url,
        region=region,
        expected_lines=expected_lines,
        root=root,
        log_stream=STREAM,
        agent_config=agent_config_for_run(config, STREAM),
        run_id=RUN_ID,
        lake_days=lake_days,
    )


def head_records(root: Path) -> dict[str, str]:
    """The swap's records of what it put at the head of the access log: sha256 → run."""
    records = {}
    for path in sorted((root / SIMULATED_HEADS_DIR.lstrip("/")).glob("*.head")):
        fields = dict(line.split("=", 1) for line in path.read_text().splitlines())
        records[fields["sha256"]] = f"{fields['run']} {fields['bytes']}"
    return records


def sha256(lines: list[str]) -> str:
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def access_log_stream(agent_config: Path) -> str:
    """Where the agent config on disk sends the access log."""
    entries = json.loads(agent_config.read_text())["logs"]["logs_collected"]["files"]
    (access,) = [e for e in entries["collect_list"] if e["file_path"] == cfg.ACCESS_LOG_PATH]
    return str(access["log_stream_name"])


def test_state_file_name_matches_the_agents_escaping() -> None:
    assert agent_state_file_name(cfg.ACCESS_LOG_PATH) == STATE_NAME
    assert agent_state_file_name("/a b/c:d") == "_a_b_c_d"


def make_sandbox(root: Path, old_lines: int = 3, with_state: bool = True) -> None:
    log = root / cfg.ACCESS_LOG_PATH.lstrip("/")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f'{{"time":"old {i}"}}\n' for i in range(old_lines)))
    log.chmod(0o640)
    ctl = root / cfg.AGENT_CTL.lstrip("/")
    ctl.parent.mkdir(parents=True)
    ctl.write_text(CTL_STAND_IN)
    ctl.chmod(0o755)
    agent_config = root / cfg.AGENT_CONFIG_PATH.lstrip("/")
    agent_config.parent.mkdir(parents=True)
    agent_config.write_text(FIRST_CONFIG)
    state_dir = root / cfg.AGENT_STATE_DIR.lstrip("/")
    state_dir.mkdir(parents=True)
    if with_state:
        (state_dir / STATE_NAME).write_text("1048576\n/var/log/www/access/access_log\n")
    (state_dir / "_var_log_httpd_error_log").write_text("77\n")


def upload_lines(endpoint: str, bucket: str, key: str, lines: list[str]) -> None:
    s3 = AwsClients("us-east-1", endpoint).client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress("".join(lines).encode()))


def run_script(script: str, root: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    path = root.parent / f"simulate-{uuid.uuid4().hex[:6]}.sh"
    path.write_text(script)
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root.parent),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(root.parent / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(root.parent / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        ["bash", str(path)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def new_lines(count: int) -> list[str]:
    return [f'{{"time":"2026-11-27T04:00:{i % 60:02d}.000Z","n":{i}}}\n' for i in range(count)]


@pytest.mark.integration
def test_script_swaps_the_log_clears_the_offset_and_restarts_the_agent(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    root = tmp_path / "root"
    make_sandbox(root)
    bucket, key = f"b-{uuid.uuid4().hex[:10]}", "simulated-logs/access_log-x.json.gz"
    lines = new_lines(500)
    upload_lines(emulator.url, bucket, key, lines)
    script = render_simulate_script(
        source_url=f"s3://{bucket}/{key}", region="us-east-1", expected_lines=500, root=str(root)
    )

    done = run_script(script, root, emulator.url)
    assert done.returncode == 0, done.stderr + done.stdout

    log = root / cfg.ACCESS_LOG_PATH.lstrip("/")
    assert log.read_text() == "".join(lines)
    assert stat.S_IMODE(log.stat().st_mode) == 0o640  # the mode of the log it replaced
    backup = log.with_name("access_log.before-cafepipe")
    assert backup.read_text().startswith('{"time":"old 0"}')
    state_dir = root / cfg.AGENT_STATE_DIR.lstrip("/")
    assert not (state_dir / STATE_NAME).exists()
    assert (state_dir / "_var_log_httpd_error_log").exists()  # other files keep their offsets
    calls = (root / "ctl-calls").read_text().splitlines()
    config_path = root / cfg.AGENT_CONFIG_PATH.lstrip("/")
    assert calls == [
        "-a stop",
        f"-a fetch-config -m ec2 -s -c file:{config_path}",
        "state-absent",
        "log-lines 500",
        "-a status",
    ]
    assert "500 lines" in done.stdout and "cleared: yes" in done.stdout
    # The agent restarted with the stack's config, the access log going to the run's stream.
    assert access_log_stream(config_path) == STREAM
    assert f"log stream:    {STREAM}" in done.stdout
    assert f"stream={STREAM}" in log.with_name("access_log.cafepipe-simulated").read_text()
    assert not list(log.parent.glob(".cafepipe-simulate.*"))  # work dir removed
    # For the archive: exactly which bytes lead the log now, and the days the run writes.
    size = len("".join(lines).encode())
    assert head_records(root) == {sha256(lines): f"{RUN_ID} {size}"}
    days_dir = root / ARCHIVED_DAYS_DIR.lstrip("/")
    assert sorted(p.name for p in days_dir.iterdir()) == ["2026-11-26", "2026-11-27"]

    # A re-run keeps the original log and replaces only the previous simulation's copy.
    lines2 = new_lines(200)
    upload_lines(emulator.url, bucket + "x", key, lines2)
    script2 = render_simulate_script(
        source_url=f"s3://{bucket}x/{key}", region="us-east-1", expected_lines=200, root=str(root)
    )
    again = run_script(script2, root, emulator.url)
    assert again.returncode == 0, again.stderr
    assert log.read_text() == "".join(lines2)
    assert backup.read_text().startswith('{"time":"old 0"}')
    assert log.with_name("access_log.previous-simulation").read_text() == "".join(lines)
    assert "cleared: no" in again.stdout
    # The first simulated log was set aside, never to be rotated: its record went with it.
    assert head_records(root) == {sha256(lines2): f"{RUN_ID} {len(''.join(lines2))}"}


@pytest.mark.integration
def test_a_rotated_simulated_log_keeps_its_record_through_a_second_run(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    """Rotated before the next run, the first simulated log will still be archived: both
    records stay, each for its own file."""
    root = tmp_path / "root"
    make_sandbox(root)
    bucket, key = f"b-{uuid.uuid4().hex[:10]}", "simulated-logs/a.json.gz"
    lines, lines2 = new_lines(30), new_lines(40)
    upload_lines(emulator.url, bucket, key, lines)
    upload_lines(emulator.url, bucket + "x", key, lines2)
    log = root / cfg.ACCESS_LOG_PATH.lstrip("/")
    for source, count in ((bucket, 30), (bucket + "x", 40)):
        script = render_simulate_script(
            source_url=f"s3://{source}/{key}",
            region="us-east-1",
            expected_lines=count,
            root=str(root),
        )
        done = run_script(script, root, emulator.url)
        assert done.returncode == 0, done.stderr
        if count == 30:  # logrotate renames the log, the server goes on logging
            log.rename(log.with_name("access_log-20261127-1795700000"))
            log.write_text('{"time":"real"}\n')
    assert head_records(root) == {
        sha256(lines): f"{RUN_ID} {len(''.join(lines))}",
        sha256(lines2): f"{RUN_ID} {len(''.join(lines2))}",
    }
    assert log.with_name("access_log.previous-simulation").read_text() == '{"time":"real"}\n'


@pytest.mark.integration
def test_script_changes_nothing_when_the_object_is_not_what_was_expected(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    root = tmp_path / "root"
    make_sandbox(root)
    bucket, key = f"b-{uuid.uuid4().hex[:10]}", "simulated-logs/a.json.gz"
    upload_lines(emulator.url, bucket, key, new_lines(10))
    script = render_simulate_script(
        source_url=f"s3://{bucket}/{key}", region="us-east-1", expected_lines=11, root=str(root)
    )
    done = run_script(script, root, emulator.url)
    assert done.returncode == 3
    assert "has 10 lines, expected 11; nothing was changed" in done.stderr
    assert not (root / "ctl-calls").exists()
    log = root / cfg.ACCESS_LOG_PATH.lstrip("/")
    assert log.read_text().startswith('{"time":"old 0"}')
    # The agent keeps its config: whatever it ships still goes to the earlier stream.
    assert (root / cfg.AGENT_CONFIG_PATH.lstrip("/")).read_text() == FIRST_CONFIG
    assert (root / cfg.AGENT_STATE_DIR.lstrip("/") / STATE_NAME).exists()


@pytest.mark.integration
def test_script_never_leaves_the_agent_stopped(tmp_path: Path, emulator: EmulatorInfo) -> None:
    root = tmp_path / "root"
    make_sandbox(root)
    ctl = root / cfg.AGENT_CTL.lstrip("/")
    # This agent refuses its config: the script fails after it stopped the agent.
    ctl.write_text(CTL_STAND_IN + 'if [[ "$*" == *fetch-config* ]]; then exit 1; fi\n')
    bucket, key = f"b-{uuid.uuid4().hex[:10]}", "simulated-logs/a.json.gz"
    upload_lines(emulator.url, bucket, key, new_lines(10))
    script = render_simulate_script(
        source_url=f"s3://{bucket}/{key}", region="us-east-1", expected_lines=10, root=str(root)
    )
    done = run_script(script, root, emulator.url)
    assert done.returncode == 1
    assert "restarting the CloudWatch agent after the failure" in done.stderr
    calls = [c for c in (root / "ctl-calls").read_text().splitlines() if c.startswith("-a")]
    assert calls[0] == "-a stop"
    assert calls[1].startswith("-a fetch-config")
    assert calls[2:] == ["-a start"]
    # The log was swapped: the agent goes on with the new config, into the new stream only.
    assert access_log_stream(root / cfg.AGENT_CONFIG_PATH.lstrip("/")) == STREAM


@pytest.mark.integration
def test_script_fails_when_the_object_is_missing(tmp_path: Path, emulator: EmulatorInfo) -> None:
    root = tmp_path / "root"
    make_sandbox(root)
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    upload_lines(emulator.url, bucket, "other", new_lines(1))
    script = render_simulate_script(
        source_url=f"s3://{bucket}/missing.json.gz",
        region="us-east-1",
        expected_lines=1,
        root=str(root),
    )
    done = run_script(script, root, emulator.url)
    assert done.returncode != 0
    assert not (root / "ctl-calls").exists()


def test_rendered_script_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck; make system-deps)")
    script = render_simulate_script(
        source_url="s3://cafepipe-cafe-0123456789/simulated-logs/access_log-seed1.json.gz",
        region="us-east-1",
        expected_lines=50_000,
    )
    path = tmp_path / "simulate_logs.sh"
    path.write_text(script)
    done = subprocess.run(
        [shellcheck, "--severity=style", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_rendered_values_are_shell_quoted() -> None:
    script = render_simulate_script(
        source_url="s3://b/k$(reboot)", region="us-east-1", expected_lines=1, root="/tmp/a b"
    )
    assert "source_url='s3://b/k$(reboot)'" in script
    assert "root='/tmp/a b'" in script
    assert json.dumps(script)  # plain text, renders whole
    assert os.linesep in script
