"""What every command shares: the global options, the loaded config, the confirmation."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import click

from cafepipe.cli.views import ConsoleReporter, err_console
from cafepipe.config import StackConfig, load_config
from cafepipe.errors import NotConfirmedError


@dataclass
class CliState:
    """What the global options say; the config is loaded (and validated) on first use."""

    flags: dict[str, Any]
    config_file: str | None
    debug: bool = False
    verbose: bool = False
    _config: StackConfig | None = field(default=None, repr=False)

    def config(self, **overrides: Any) -> StackConfig:
        if overrides or self._config is None:
            cfg = load_config(self.config_file, {**self.flags, **overrides})
            if overrides:
                return cfg
            self._config = cfg
        return self._config

    @property
    def reporter(self) -> ConsoleReporter:
        """Progress on stderr: one live line per step; every resource with -v."""
        return ConsoleReporter(err_console, verbose=self.verbose)


pass_state = click.make_pass_decorator(CliState)


def confirm_or_refuse(question: str, yes: bool) -> None:
    """Ask before changing or deleting cloud resources; `--yes` skips the question.

    With no terminal and no --yes, refuse instead of hanging or assuming.
    """
    if yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        raise NotConfirmedError(
            f"{question} — refusing without confirmation (no terminal to ask on)",
            "re-run with --yes to confirm",
        )
    if not click.confirm(question, default=False, err=True):
        raise NotConfirmedError("cancelled; nothing was changed")


def where(config: StackConfig) -> str:
    """Where the stack lives, for questions and messages."""
    return config.endpoint_url or f"AWS account (region {config.region})"
