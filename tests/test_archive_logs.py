"""The instance's S3 copy of the access log: logrotate rotates it daily and the archive script
copies each rotated, compressed day to s3://<bucket>/archive/<instance id>/.

Run for real: in a sandbox directory standing in for `/`, with the AWS CLI (from PyPI) writing
to a moto server, and Debian's logrotate driving the script.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cafepipe.aws import AwsClients
from cafepipe.config import ACCESS_LOG_PATH, ARCHIVE_SCRIPT_PATH, load_config
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.render import archive_script, logrotate_config

pytestmark = pytest.mark.integration
INSTANCE_ID = "i-0123456789abcdef0"


def _sandbox(
    tmp_path: Path, emulator: EmulatorInfo, bucket_suffix: str
) -> tuple[Path, object, str, dict[str, str]]:
    config = load_config(
        None, {"state_dir": str(tmp_path / bucket_suffix), "endpoint_url": emulator.url}, environ={}
    )
    s3 = AwsClients("us-east-1", emulator.url).client("s3")
    root = tmp_path / "root"
    (root / "var/lib/cloud/data").mkdir(parents=True)
    (root / "var/lib/cloud/data/instance-id").write_text(INSTANCE_ID + "\n")
    (root / ACCESS_LOG_PATH.lstrip("/")).parent.mkdir(parents=True)
    script = root / ARCHIVE_SCRIPT_PATH.lstrip("/")
    script.parent.mkdir(parents=True)
    script.write_text(archive_script(config, root=str(root)))
    script.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": emulator.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return root, s3, config.bucket_name, env


def _archived(s3: object, bucket: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="archive/")  # type: ignore[attr-defined]
    return {
        o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()  # type: ignore[attr-defined]
        for o in listing.get("Contents", [])
    }


def test_archive_script_copies_rotated_days_once(tmp_path: Path, emulator: EmulatorInfo) -> None:
    root, s3, bucket, env = _sandbox(tmp_path, emulator, "copy")
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    log_dir = (root / ACCESS_LOG_PATH.lstrip("/")).parent
    (log_dir / "access_log").write_text("today\n")
    (log_dir / "access_log-20261126-1795700000").write_text("yesterday, still being read\n")
    (log_dir / "access_log-20261125-1795600000.gz").write_bytes(b"\x1f\x8bday-before")
    script = root / ARCHIVE_SCRIPT_PATH.lstrip("/")

    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=True)
    assert "copied 1 rotated access log(s)" in done.stdout
    assert _archived(s3, bucket) == {
        f"archive/{INSTANCE_ID}/access_log-20261125-1795600000.gz": b"\x1f\x8bday-before"
    }
    assert sorted(p.name for p in log_dir.iterdir()) == [
        "access_log",
        "access_log-20261126-1795700000",
    ]
    again = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=True)
    assert "copied 0 rotated" in again.stdout


def test_a_failed_copy_keeps_the_file_for_the_next_rotation(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    root, _, _, env = _sandbox(tmp_path, emulator, "fail")  # the bucket does not exist
    log_dir = (root / ACCESS_LOG_PATH.lstrip("/")).parent
    rotated = log_dir / "access_log-20261125-1795600000.gz"
    rotated.write_bytes(b"\x1f\x8bday")
    done = subprocess.run(
        [str(root / ARCHIVE_SCRIPT_PATH.lstrip("/"))], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert rotated.read_bytes() == b"\x1f\x8bday"


def test_logrotate_rotates_and_archives(tmp_path: Path, emulator: EmulatorInfo) -> None:
    logrotate = shutil.which("logrotate") or shutil.which("/usr/sbin/logrotate")
    if logrotate is None:
        pytest.skip("logrotate is not installed (Debian package logrotate; make system-deps)")
    root, s3, bucket, env = _sandbox(tmp_path, emulator, "rotate")
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    conf = tmp_path / "cafepipe-access"
    conf.write_text(logrotate_config(root=str(root)))
    conf.chmod(0o644)
    log = root / ACCESS_LOG_PATH.lstrip("/")
    state = tmp_path / "logrotate.state"
    days = []
    for day in ("first day\n", "second day\n"):
        days.append(day)
        log.write_text(day)
        subprocess.run(
            [logrotate, "-f", "-s", str(state), str(conf)], env=env, check=True, capture_output=True
        )
        time.sleep(1.1)  # rotated names carry the second (dateformat %s)
    # delaycompress: the first day was compressed at the second rotation, then copied.
    archived = _archived(s3, bucket)
    assert len(archived) == 1
    assert gzip.decompress(next(iter(archived.values()))) == days[0].encode()
    remaining = sorted(p.name for p in log.parent.iterdir())
    assert len(remaining) == 1 and remaining[0].startswith(
        "access_log-"
    )  # the second day, not yet compressed
    assert (log.parent / remaining[0]).read_text() == days[1]


def test_archive_script_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck; make system-deps)")
    config = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    path = tmp_path / "archive.sh"
    path.write_text(archive_script(config))
    done = subprocess.run(
        [shellcheck, "--severity=style", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
