"""Bad input never produces a traceback: one `error:` line (and a hint), exit 1 or 2.

The first table runs the real `cafepipe` executable (through `main()`, the one error
boundary) on bad files, flags, configs and endpoints; every case fails before any cloud call
or at an endpoint where nothing listens, so no emulator, Terraform or network is needed. The
second table checks the pure mapping `describe_failure` on constructed exceptions.
"""

from __future__ import annotations

import errno
import gzip
import os
import random
import socket
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions
import click
import duckdb
import pytest

from cafepipe.cli import main
from cafepipe.cli.failures import describe_failure
from cafepipe.errors import ConfigError, TerraformError, UsageError

_SCRIPT = Path(sys.executable).with_name("cafepipe")
CAFEPIPE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "cafepipe"]
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

LOG_LINE = (
    '{"time":"2026-11-20T08:15:00Z","remoteIP":"203.0.113.9","method":"GET",'
    '"request":"/menu","query":"","status":200,"bytes":512,"userAgent":"Mozilla/5.0"}\n'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DEAD = f"http://127.0.0.1:{_free_port()}"  # nothing listens here


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    words: tuple[str, ...]  # each must appear in the error message (case-insensitive)
    aws: bool = False  # dummy credentials in the environment
    preamble: str | None = None  # a line allowed before the error (a warning), if any
    needs: str | None = None  # a path that must exist on this machine


CASES = {
    # corrupt compressed input, to both readers
    "insights-truncated-gz": Case(
        ("insights", "--source", "trunc.gz"), 2, ("trunc.gz", "truncated")
    ),
    "insights-corrupt-gz": Case(
        ("insights", "--source", "corrupt.gz"), 2, ("corrupt.gz", "corrupt")
    ),
    "insights-plain-named-gz": Case(
        ("insights", "--source", "plain.gz"), 2, ("plain.gz", "not gzip-compressed")
    ),
    "insights-binary": Case(
        ("insights", "--source", "noise.bin"), 2, ("noise.bin", "not an access log")
    ),
    "insights-folder": Case(("insights", "--source", "folder"), 2, ("folder", "not a log file")),
    "ship-truncated-gz": Case(
        ("--endpoint-url", DEAD, "ship", "trunc.gz"), 2, ("trunc.gz", "truncated"), aws=True
    ),
    "ship-corrupt-gz": Case(
        ("--endpoint-url", DEAD, "ship", "corrupt.gz"), 2, ("corrupt.gz", "corrupt"), aws=True
    ),
    "ship-plain-named-gz": Case(
        ("--endpoint-url", DEAD, "ship", "plain.gz"), 2, ("plain.gz", "not gzip"), aws=True
    ),
    # nothing answers at the endpoint
    "ship-dead-endpoint": Case(
        ("--endpoint-url", DEAD, "ship", "good.log"),
        1,
        ("nothing answers", DEAD, "cafepipe emulator start"),
        aws=True,
    ),
    "insights-cloudwatch-dead-endpoint": Case(
        ("--endpoint-url", DEAD, "insights", "--engine", "cloudwatch"),
        1,
        ("nothing answers", DEAD, "cafepipe emulator start"),
        aws=True,
        preamble="warning:",
    ),
    "insights-log-group-dead-endpoint": Case(
        ("--endpoint-url", DEAD, "insights", "--source", "logs:apache/access"),
        1,
        ("apache/access", "nothing answers", DEAD),
        aws=True,
    ),
    "up-dead-endpoint": Case(("--endpoint-url", DEAD, "up", "--yes"), 1, ("nothing answers", DEAD)),
    # where the state goes, and where output goes
    "state-dir-under-proc": Case(
        ("--state-dir", "/proc/cafepipe-state", "render"),
        2,
        ("/proc/cafepipe-state",),
        needs="/proc",
    ),
    "state-dir-under-etc-hostname": Case(
        ("--state-dir", "/etc/hostname/x", "render"), 2, ("/etc/hostname",), needs="/etc/hostname"
    ),
    "state-dir-under-a-file": Case(
        ("--state-dir", "good.log/state", "render"), 2, ("good.log", "a file")
    ),
    "generate-logs-disk-full": Case(
        ("generate-logs", "--out", "/dev/full", "--lines", "100", "--quiet"),
        1,
        ("no space left on device",),
        needs="/dev/full",
    ),
    "dashboard-preview-under-proc": Case(
        ("dashboard", "--preview", "/proc/x.html", "--source", "good.log"), 2, ("/proc/x.html",)
    ),
    # configuration and flags
    "config-not-toml": Case(("--config", "bad.toml", "render"), 2, ("bad.toml", "not valid TOML")),
    "config-unknown-key": Case(
        ("--config", "unknown.toml", "render"), 2, ("colour", "unknown setting")
    ),
    "region-unknown": Case(("--region", "not-a-region", "render"), 2, ("region", "not-a-region")),
    "option-unknown": Case(("--bogus", "render"), 2, ("--bogus",)),
    "insights-since-garbage": Case(
        ("insights", "--source", "good.log", "--since", "garbage"), 2, ("--since", "garbage")
    ),
    "insights-source-missing": Case(("insights", "--source", "/nonexistent"), 2, ("/nonexistent",)),
    "insights-source-bad-s3": Case(("insights", "--source", "s3://"), 2, ("s3://",), aws=True),
    "insights-source-bad-group": Case(("insights", "--source", "logs:"), 2, ("logs:",), aws=True),
    "ship-a-folder": Case(("ship", "folder"), 2, ("folder", "directory")),
    "ship-missing-file": Case(("ship", "nope.log"), 2, ("nope.log", "no such file")),
    "generate-logs-negative-lines": Case(
        ("generate-logs", "--out", "x.log", "--lines", "-5"), 2, ("-5",)
    ),
    "cost-usage-missing": Case(("cost", "--usage", "missing.toml"), 2, ("missing.toml",)),
    # commands that need a stack, or a confirmation
    "simulate-logs-no-stack": Case(
        ("--endpoint-url", DEAD, "simulate-logs", "--yes"), 1, ("has not been created",), aws=True
    ),
    "destroy-no-terminal-no-yes": Case(("destroy",), 2, ("refusing", "--yes"), aws=True),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bad (and one good) input files, in a folder that is also HOME and the cwd."""
    root = tmp_path_factory.mktemp("bad-input")
    good = (LOG_LINE * 2000).encode()
    (root / "good.log").write_bytes(good)
    packed = gzip.compress(good, mtime=0)
    (root / "trunc.gz").write_bytes(packed[: len(packed) // 2])
    corrupt = bytearray(packed)
    corrupt[40:80] = bytes(random.Random(3).randbytes(40))
    (root / "corrupt.gz").write_bytes(bytes(corrupt))
    (root / "plain.gz").write_bytes(good)
    (root / "noise.bin").write_bytes(random.Random(7).randbytes(200_000))
    (root / "folder").mkdir()
    (root / "bad.toml").write_text("this is [not toml\n")
    (root / "unknown.toml").write_text('colour = "red"\n')
    return root


def _environment(home: Path, aws: bool) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "CAFEPIPE_", "_CAFEPIPE"))
    }
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        COLUMNS="200",  # no wrapped lines
    )
    if aws:
        env.update(DUMMY_CREDENTIALS)
    return env


def _error_lines(stderr: str, preamble: str | None) -> list[str]:
    """The error part of stderr: exactly one `error:` line, then at most one `  → hint`."""
    lines = stderr.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(starts) == 1, stderr
    before, error = lines[: starts[0]], lines[starts[0] :]
    if before:
        assert preamble is not None and before[0].startswith(preamble), stderr
    assert len(error) <= 2, stderr
    if len(error) == 2:
        assert error[1].startswith("  → "), stderr
    return error


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_clear_error(case: Case, workdir: Path) -> None:
    if case.needs and not Path(case.needs).exists():
        pytest.skip(f"{case.needs} does not exist here")
    result = subprocess.run(
        [*CAFEPIPE, *case.args],
        cwd=workdir,
        env=_environment(workdir, case.aws),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == case.code, result.stderr
    message = "\n".join(_error_lines(result.stderr, case.preamble)).lower()
    for word in case.words:
        assert word.lower() in message, result.stderr


def test_a_broken_stdout_pipe_exits_quietly(tmp_path: Path) -> None:
    # A command that prints more than a pipe holds, read by something like `| head -c 10`.
    script = (
        "import click\n"
        "from cafepipe.cli import app\n"
        "@app.cli.command('spew')\n"
        "def spew():\n"
        "    for _ in range(100_000):\n"
        "        click.echo('x' * 100)\n"
        "app.main(['spew'])\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_environment(tmp_path, aws=False),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10) == b"x" * 10
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert stderr == ""


def test_debug_re_raises_what_is_otherwise_mapped(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(OSError):
        main(["--debug", "--state-dir", "/proc/cafepipe-debug", "render"])
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", "/proc/cafepipe-debug", "render"])
    assert exited.value.code == 2


def _client_error(code: str, message: str = "no", operation: str = "PutLogEvents") -> Exception:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass(frozen=True)
class Mapped:
    exc: BaseException
    code: int
    words: tuple[str, ...]
    absent: tuple[str, ...] = ()
    command: str | None = None
    user_paths: tuple[str, ...] = field(default=())


LOCAL = "http://127.0.0.1:5999/"
REMOTE = "https://logs.us-east-1.amazonaws.com/"
MAPPINGS = {
    "client-access-denied": Mapped(
        _client_error("AccessDeniedException", "User is not authorized"),
        1,
        ("PutLogEvents failed", "AccessDeniedException: User is not authorized", "IAM policy"),
    ),
    "client-expired": Mapped(_client_error("ExpiredToken"), 1, ("ExpiredToken", "expired")),
    "client-throttled": Mapped(_client_error("ThrottlingException"), 1, ("Throttling", "wait")),
    "client-other": Mapped(
        _client_error("ValidationException", "bad"), 1, ("ValidationException: bad",)
    ),
    "endpoint-local": Mapped(
        botocore.exceptions.EndpointConnectionError(endpoint_url=LOCAL),
        1,
        ("nothing answers at http://127.0.0.1:5999", "cafepipe emulator start"),
    ),
    "endpoint-remote": Mapped(
        botocore.exceptions.EndpointConnectionError(endpoint_url=REMOTE),
        1,
        ("nothing answers at https://logs.us-east-1.amazonaws.com", "network"),
        absent=("emulator",),
    ),
    "connect-timeout": Mapped(
        botocore.exceptions.ConnectTimeoutError(endpoint_url=LOCAL),
        1,
        ("127.0.0.1:5999", "emulator"),
    ),
    "read-timeout": Mapped(
        botocore.exceptions.ReadTimeoutError(endpoint_url=REMOTE), 1, ("did not answer in time",)
    ),
    "connection-closed": Mapped(
        botocore.exceptions.ConnectionClosedError(endpoint_url=LOCAL), 1, ("closed the connection",)
    ),
    "no-credentials": Mapped(
        botocore.exceptions.NoCredentialsError(),
        1,
        ("no AWS credentials", "aws configure", "cafepipe demo"),
    ),
    "no-region": Mapped(
        botocore.exceptions.NoRegionError(), 1, ("region", "--region", "AWS_REGION")
    ),
    "disk-full": Mapped(
        OSError(errno.ENOSPC, "No space left on device", "/data/out.log"),
        1,
        ("no space left on device writing /data/out.log", "free some space"),
    ),
    "disk-full-no-path": Mapped(
        OSError(errno.ENOSPC, "No space left on device"), 1, ("no space left",)
    ),
    "not-a-folder-given": Mapped(
        NotADirectoryError(errno.ENOTDIR, "Not a directory", "/etc/hostname/x/cafe"),
        2,
        ("/etc/hostname/x/cafe", "not a directory", "not a folder"),
        user_paths=("/etc/hostname/x",),
    ),
    "not-a-folder-of-ours": Mapped(
        NotADirectoryError(errno.ENOTDIR, "Not a directory", "/opt/cafepipe/templates/x"),
        1,
        ("/opt/cafepipe/templates/x",),
        user_paths=("/etc/hostname/x",),
    ),
    "permission-denied-given": Mapped(
        PermissionError(errno.EACCES, "Permission denied", "/srv/report.html"),
        2,
        ("/srv/report.html", "permission denied", "permissions"),
        user_paths=("/srv/report.html",),
    ),
    "read-only-given": Mapped(
        OSError(errno.EROFS, "Read-only file system", "/mnt/ro/state/cafe"),
        2,
        ("read-only", "writable"),
        user_paths=("/mnt/ro/state",),
    ),
    "missing-given": Mapped(
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/x"),
        2,
        ("/proc/x", "no such file"),
        user_paths=("/proc/x",),
    ),
    "bad-gzip": Mapped(
        gzip.BadGzipFile("Not a gzipped file (b'{\"')"), 2, ("not a valid gzip file",)
    ),
    "truncated-gzip": Mapped(
        EOFError("Compressed file ended before the end-of-stream marker was reached"),
        2,
        ("truncated", "gzip -t"),
    ),
    "zlib": Mapped(
        zlib.error("Error -3 while decompressing data: invalid stored block lengths"), 2, ("gzip",)
    ),
    "duckdb-input": Mapped(
        duckdb.InvalidInputException(
            "Invalid Input Error: CSV Error on Line: 36\nOriginal Line: \x00\x01"
        ),
        2,
        ("not an access log this tool reads", "CSV Error on Line: 36"),
        absent=("Original Line",),
    ),
    "duckdb-other": Mapped(
        duckdb.OutOfMemoryException("could not allocate"), 1, ("DuckDB failed",)
    ),
    "interrupt-up": Mapped(
        KeyboardInterrupt(), 130, ("interrupted", "safe to re-run", "cafepipe up"), command="up"
    ),
    "interrupt-other": Mapped(
        KeyboardInterrupt(), 130, ("interrupted",), absent=("safe", "error:"), command="insights"
    ),
    "usage-error": Mapped(UsageError("bad flag", "do this"), 2, ("error: bad flag\n  → do this",)),
    "config-file": Mapped(
        ConfigError("config", "f.toml is not valid TOML"),
        2,
        ("error: config: f.toml is not valid TOML",),
    ),
    "terraform": Mapped(
        TerraformError("apply failed", "Error: Unsupported argument", "fix it"),
        1,
        ("apply failed\nError: Unsupported argument\n  → fix it",),
    ),
    "click-usage": Mapped(
        click.UsageError("No such option: --bogus"), 2, ("No such option: --bogus",)
    ),
    "unexpected": Mapped(
        ValueError("boom\nsecond line"),
        1,
        ("error: unexpected ValueError: boom", "--debug", "report it"),
        absent=("second line",),
    ),
}


@pytest.mark.parametrize("mapped", MAPPINGS.values(), ids=MAPPINGS.keys())
def test_the_mapping_of_every_kind_of_failure(mapped: Mapped) -> None:
    failure = describe_failure(mapped.exc, command=mapped.command, user_paths=mapped.user_paths)
    text = failure.render()
    assert failure.exit_code == mapped.code, text
    for word in mapped.words:
        assert word.lower() in text.lower(), text
    for word in mapped.absent:
        assert word.lower() not in text.lower(), text
    assert text.count("\n") <= 1 or isinstance(mapped.exc, TerraformError), text


def test_an_abort_at_end_of_input_is_no_interrupt() -> None:
    try:
        try:
            raise EOFError
        except EOFError:
            raise click.exceptions.Abort() from None
    except click.exceptions.Abort as abort:
        failure = describe_failure(abort)
    assert failure.exit_code == 2 and "--yes" in failure.render()
