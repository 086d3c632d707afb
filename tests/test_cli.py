"""The CLI surface: help everywhere, confirmations, and clear errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cafepipe.cli import cli, main
from cafepipe.logs.generate import build_options, generate_log


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _all_commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("path", _all_commands(cli))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help.strip()) > 20, f"{path} needs help text"


def test_up_without_credentials_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(tmp_path), "up", "--yes"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err
    assert "cafepipe demo" in err
    assert "Traceback" not in err
    assert not (tmp_path / "cafe").exists()  # refused before rendering or creating anything


@pytest.mark.integration
def test_destroy_without_terminal_or_yes_refuses(
    emulator: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = emulator.url  # type: ignore[attr-defined]
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(tmp_path), "--endpoint-url", url, "destroy"])
    assert exited.value.code == 2
    assert "re-run with --yes" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from cafepipe.errors import AwsError

    with pytest.raises(AwsError):
        main(["--debug", "--state-dir", str(tmp_path), "up", "--yes"])


@pytest.mark.parametrize(
    ("command", "rerun"), [(["render"], False), (["up", "--yes"], True), (["destroy"], True)]
)
def test_interrupt_exits_130_and_says_what_a_rerun_does(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    rerun: bool,
) -> None:
    import cafepipe.config

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cafepipe.config, "load_config", interrupted)
    monkeypatch.setattr("cafepipe.cli.context.load_config", interrupted)
    with pytest.raises(SystemExit) as exited:
        main(command)
    assert exited.value.code == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted") and "Traceback" not in err
    # Only where Terraform keeps what it did is a re-run promised to continue.
    assert ("safe to re-run `cafepipe " in err) is rerun


def test_a_truncated_gzip_is_bad_input_not_an_interrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    # An EOFError (what a truncated .gz raises) was taken by click for Ctrl-C: exit 130.
    packed = gzip.compress(b'{"time":"2026-11-20T08:15:00Z"}\n' * 500)
    truncated = tmp_path / "access_log.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(SystemExit) as exited:
        main(["--endpoint-url", "http://127.0.0.1:9", "ship", str(truncated)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "interrupted" not in err and "truncated" in err and str(truncated) in err


def test_click_usage_errors_are_one_line_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["insights", "--format", "xml"])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("error: Invalid value for '--format'")
    assert lines[1:] == ["  → see `cafepipe insights --help`"]


@pytest.mark.parametrize("log_format", ["combined", "json"])
def test_local_insights_start_without_the_cloud_or_lock_modules(
    tmp_path: Path, log_format: str
) -> None:
    """`cafepipe insights` on a file imports neither boto3, the lock, the emulator, numpy (which
    DuckDB's Python functions import: the stack's own JSON lines need none) nor Jinja (the HTML
    report's): start-up stays a small part of a run (the benchmark measures it; here, what is
    imported)."""
    log = tmp_path / "access.log"
    if log_format == "json":
        end = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
        options = build_options(lines=1, start=end - timedelta(hours=1), end=end, log_format="json")
        generate_log(options, log)
    else:
        log.write_text(
            '1.2.3.4 - - [24/Nov/2026:11:41:50 +0000] "GET /cafe HTTP/1.1" 200 3680 "-" "curl/8"\n'
        )
    probe = (
        "import sys\n"
        "from cafepipe.cli import main\n"
        "try:\n"
        f"    main(['insights', '--source', {str(log)!r}, '--format', 'json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('boto3', 'botocore', 'filelock', 'cafepipe.deploy.emulator', 'numpy', 'jinja2')\n"
        "print(sorted(name for name in heavy if name in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert '"requests": 1' in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"
