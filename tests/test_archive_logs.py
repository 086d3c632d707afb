"""The instance's S3 copy of the access log: logrotate rotates it daily and the archive script
copies each rotated, compressed day into the lake's Hive-partitioned layout,
s3://<bucket>/archive/dt=YYYY-MM-DD/instance=<instance id>/access.log.gz (cafepipe.deploy.lake).

Run for real: in a sandbox directory standing in for `/`, with the AWS CLI (from PyPI) writing
to a moto server, and Debian's logrotate driving the script.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from cafepipe.aws import AwsClients
from cafepipe.config import ACCESS_LOG_PATH, ARCHIVE_SCRIPT_PATH, load_config
from cafepipe.deploy import lake
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.render import SIMULATED_HEADS_DIR, archive_script, logrotate_config

pytestmark = pytest.mark.integration
INSTANCE_ID = "i-0123456789abcdef0"


def _sandbox(
    tmp_path: Path, emulator: EmulatorInfo, bucket_suffix: str, instance_id: str = INSTANCE_ID
) -> tuple[Path, object, str, dict[str, str]]:
    config = load_config(
        None, {"state_dir": str(tmp_path / bucket_suffix), "endpoint_url": emulator.url}, environ={}
    )
    s3 = AwsClients("us-east-1", emulator.url).client("s3")
    root = tmp_path / "root"
    (root / "var/lib/cloud/data").mkdir(parents=True)
    (root / "var/lib/cloud/data/instance-id").write_text(instance_id + "\n")
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
    key = f"archive/dt=2026-11-25/instance={INSTANCE_ID}/access.log.gz"
    assert key == lake.partition_key(date(2026, 11, 25), INSTANCE_ID)  # the shell and Python agree
    assert _archived(s3, bucket) == {key: b"\x1f\x8bday-before"}
    assert sorted(p.name for p in log_dir.iterdir()) == [
        "access_log",
        "access_log-20261126-1795700000",
    ]
    again = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=True)
    assert "copied 0 rotated" in again.stdout


def test_a_second_file_of_a_day_goes_next_to_the_first(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    """A forced rotation names a second file after the same day: both are kept, in one
    partition, and a later run (the first file already gone from the disk) still knows."""
    root, s3, bucket, env = _sandbox(tmp_path, emulator, "twice")
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    log_dir = (root / ACCESS_LOG_PATH.lstrip("/")).parent
    script = str(root / ARCHIVE_SCRIPT_PATH.lstrip("/"))
    (log_dir / "access_log-20261125-1795600000.gz").write_bytes(b"\x1f\x8bmorning")
    (log_dir / "access_log-20261124-1795500000.gz").write_bytes(b"\x1f\x8bday-before")
    subprocess.run([script], env=env, capture_output=True, text=True, check=True)
    (log_dir / "access_log-20261125-1795650000.gz").write_bytes(b"\x1f\x8bafternoon")
    subprocess.run([script], env=env, capture_output=True, text=True, check=True)
    day = date(2026, 11, 25)
    assert _archived(s3, bucket) == {
        lake.partition_key(date(2026, 11, 24), INSTANCE_ID): b"\x1f\x8bday-before",
        lake.partition_key(day, INSTANCE_ID): b"\x1f\x8bmorning",
        lake.partition_key(day, INSTANCE_ID, part="1795650000"): b"\x1f\x8bafternoon",
    }
    assert sorted(p.name for p in log_dir.iterdir()) == []


def test_a_hostile_instance_id_copies_nothing(tmp_path: Path, emulator: EmulatorInfo) -> None:
    """The id becomes part of an S3 key: anything but an EC2 instance id is refused."""
    root, s3, bucket, env = _sandbox(tmp_path, emulator, "hostile", instance_id="../../x")
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    rotated = (root / ACCESS_LOG_PATH.lstrip("/")).parent / "access_log-20261125-1795600000.gz"
    rotated.write_bytes(b"\x1f\x8bday")
    done = subprocess.run(
        [str(root / ARCHIVE_SCRIPT_PATH.lstrip("/"))], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and "not an EC2 instance id" in done.stderr
    assert rotated.is_file() and _archived(s3, bucket) == {}


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
    yesterdays = {date.today() - timedelta(days=1)}  # dateyesterday (and a midnight passing)
    days = []
    for day in ("first day\n", "second day\n"):
        days.append(day)
        log.write_text(day)
        subprocess.run(
            [logrotate, "-f", "-s", str(state), str(conf)], env=env, check=True, capture_output=True
        )
        time.sleep(1.1)  # rotated names carry the second (dateformat %s)
    yesterdays.add(date.today() - timedelta(days=1))
    # delaycompress: the first day was compressed at the second rotation, then copied, into
    # the partition of the day its lines are from.
    archived = _archived(s3, bucket)
    assert len(archived) == 1
    [(key, body)] = archived.items()
    assert key in {lake.partition_key(day, INSTANCE_ID) for day in yesterdays}
    assert gzip.decompress(body) == days[0].encode()
    remaining = sorted(p.name for p in log.parent.iterdir())
    assert len(remaining) == 1 and remaining[0].startswith(
        "access_log-"
    )  # the second day, not yet compressed
    assert (log.parent / remaining[0]).read_text() == days[1]


def _head_record(root: Path, data: bytes, run: str) -> Path:
    """What the simulate-logs swap records (templates/ssm/simulate_logs.sh.j2)."""
    heads = root / SIMULATED_HEADS_DIR.lstrip("/")
    heads.mkdir(parents=True, exist_ok=True)
    path = heads / f"{run}.head"
    digest = hashlib.sha256(data).hexdigest()
    path.write_text(f"run={run}\nbytes={len(data)}\nsha256={digest}\nstream=i-x/simulated-{run}\n")
    return path


SIMULATED = b"".join(
    b'{"time":"2026-11-%02dT10:00:00Z","n":%d}\n' % (1 + i % 25, i) for i in range(300)
)


def test_only_what_followed_a_simulated_log_is_copied(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    """A rotated file that begins with exactly the recorded simulated log: its tail only, and
    the record is done; a file from before the swap is copied whole; later ones normally."""
    root, s3, bucket, env = _sandbox(tmp_path, emulator, "tail")
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    log_dir = (root / ACCESS_LOG_PATH.lstrip("/")).parent
    script = str(root / ARCHIVE_SCRIPT_PATH.lstrip("/"))
    record = _head_record(root, SIMULATED, "run-1")
    real = b'{"time":"2026-11-25T23:00:00Z","real":1}\n{"time":"2026-11-26T00:01:00Z","real":2}\n'
    (log_dir / "access_log-20261125-1795600000.gz").write_bytes(gzip.compress(SIMULATED + real))
    before = b'{"time":"2026-11-24T12:00:00Z","before the swap":1}\n'
    (log_dir / "access_log-20261124-1795500000.gz").write_bytes(gzip.compress(before))
    done = subprocess.run([script], env=env, capture_output=True, text=True, check=True)
    archived = _archived(s3, bucket)
    assert {k: gzip.decompress(v) for k, v in archived.items()} == {
        lake.partition_key(date(2026, 11, 24), INSTANCE_ID): before,
        lake.partition_key(date(2026, 11, 25), INSTANCE_ID): real,
    }
    assert "does not begin with the simulated log of run run-1" in done.stdout
    assert f"its first {len(SIMULATED)} bytes left out" in done.stdout
    assert not record.exists() and list(log_dir.iterdir()) == []
    # The next rotation is an ordinary one: the whole file, even one that starts the same.
    again = SIMULATED + b'{"time":"2026-11-26T09:00:00Z","real":3}\n'
    (log_dir / "access_log-20261126-1795700000.gz").write_bytes(gzip.compress(again))
    subprocess.run([script], env=env, capture_output=True, text=True, check=True)
    key = lake.partition_key(date(2026, 11, 26), INSTANCE_ID)
    assert gzip.decompress(_archived(s3, bucket)[key]) == again


def test_a_simulated_log_and_nothing_after_it_copies_nothing(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    root, s3, bucket, env = _sandbox(tmp_path, emulator, "empty-tail")
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    log_dir = (root / ACCESS_LOG_PATH.lstrip("/")).parent
    record = _head_record(root, SIMULATED, "run-1")
    _head_record(root, SIMULATED[:100], "a-shorter-one")  # the longest match wins
    (log_dir / "access_log-20261125-1795600000.gz").write_bytes(gzip.compress(SIMULATED))
    done = subprocess.run(
        [str(root / ARCHIVE_SCRIPT_PATH.lstrip("/"))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "run run-1's simulated log and nothing after it" in done.stdout
    assert _archived(s3, bucket) == {}
    assert not record.exists() and list(log_dir.iterdir()) == []


def test_a_record_that_does_not_match_copies_the_whole_file(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    """One byte changed in the head, or a file shorter than the record: copied whole, the
    reason said, and the record kept for the file it belongs to."""
    root, s3, bucket, env = _sandbox(tmp_path, emulator, "mismatch")
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    log_dir = (root / ACCESS_LOG_PATH.lstrip("/")).parent
    record = _head_record(root, SIMULATED, "run-1")
    changed = SIMULATED.replace(b'"n":7}', b'"n":8}', 1) + b'{"real":1}\n'
    short = SIMULATED[:-1]
    (log_dir / "access_log-20261125-1795600000.gz").write_bytes(gzip.compress(changed))
    (log_dir / "access_log-20261124-1795500000.gz").write_bytes(gzip.compress(short))
    done = subprocess.run(
        [str(root / ARCHIVE_SCRIPT_PATH.lstrip("/"))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    archived = {k: gzip.decompress(v) for k, v in _archived(s3, bucket).items()}
    assert archived == {
        lake.partition_key(date(2026, 11, 25), INSTANCE_ID): changed,
        lake.partition_key(date(2026, 11, 24), INSTANCE_ID): short,
    }
    assert done.stdout.count("does not begin with the simulated log of run run-1") == 2
    assert record.exists()


def test_a_simulation_then_rotations_archive_each_real_line_once(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    """The whole chain, real scripts: simulate-logs' swap, real lines appended, logrotate
    three times. The simulated log never reaches the lake again, its day's file from the
    simulation is left as it is, and every real line is archived once."""
    logrotate = shutil.which("logrotate") or shutil.which("/usr/sbin/logrotate")
    if logrotate is None:
        pytest.skip("logrotate is not installed (Debian package logrotate; make system-deps)")
    import test_simulate_script as swap  # the swap's own sandbox and runner

    root, s3, bucket, env = _sandbox(tmp_path, emulator, "chain")
    swap.make_sandbox(root)
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    today = date.today()
    days = (today - timedelta(days=1), today)  # dateyesterday (and a midnight passing)
    for day in days:  # what the simulation wrote of those days
        s3.put_object(  # type: ignore[attr-defined]
            Bucket=bucket, Key=lake.partition_key(day, INSTANCE_ID), Body=b"simulated"
        )
    simulated = swap.new_lines(400)
    source = f"sim-{bucket}"
    swap.upload_lines(emulator.url, source, "simulated-logs/a.json.gz", simulated)
    script = swap.render_simulate_script(
        source_url=f"s3://{source}/simulated-logs/a.json.gz",
        region="us-east-1",
        expected_lines=400,
        root=str(root),
        lake_days=days,
    )
    done = swap.run_script(script, root, emulator.url)
    assert done.returncode == 0, done.stderr

    log = root / ACCESS_LOG_PATH.lstrip("/")
    conf = tmp_path / "cafepipe-access"
    conf.write_text(logrotate_config(root=str(root)))
    conf.chmod(0o644)
    state = tmp_path / "logrotate.state"
    real = ['{"time":"real after the swap"}\n', '{"time":"real, the next day"}\n']
    outputs = []
    for lines in (real[0], real[1], ""):
        with log.open("a") as appended:  # the piped logger appends (or starts a new file)
            appended.write(lines or '{"time":"real, the third day"}\n')
        rotated = subprocess.run(
            [logrotate, "-f", "-v", "-s", str(state), str(conf)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        outputs.append(rotated.stdout + rotated.stderr)
        time.sleep(1.1)  # rotated names carry the second (dateformat %s)

    archived = _archived(s3, bucket)
    simulation = {lake.partition_key(day, INSTANCE_ID) for day in days}
    assert {k: archived[k] for k in simulation} == dict.fromkeys(simulation, b"simulated")
    copies = sorted(gzip.decompress(v).decode() for k, v in archived.items() if k not in simulation)
    # Rotation 2 compressed the swapped-in file: only its real line went; rotation 3 the
    # next day's file, whole. Every copy went beside the simulation's file of its day.
    assert copies == sorted(real)
    assert all("/access-" in k for k in archived if k not in simulation)
    assert "its first" in outputs[1] and "bytes left out" in outputs[1]
    assert not list((root / SIMULATED_HEADS_DIR.lstrip("/")).glob("*.head"))


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
