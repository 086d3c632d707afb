"""The CLI surface: help everywhere, confirmations, and clear errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cafepipe.cli import cli, main


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


def test_interrupt_exits_130_with_a_rerun_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cafepipe.config

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cafepipe.config, "load_config", interrupted)
    monkeypatch.setattr("cafepipe.cli.context.load_config", interrupted)
    with pytest.raises(SystemExit) as exited:
        main(["render"])
    assert exited.value.code == 130
    assert "safe to re-run" in capsys.readouterr().err
