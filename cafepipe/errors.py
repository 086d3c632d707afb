"""One error base for cafepipe, and the exit codes of DESIGN.md.

Core modules raise these; `cafepipe.cli.main` turns them (and every other exception) into
one readable message and an exit code, in one place (`cafepipe.cli.failures`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CafepipeError(Exception):
    """Base of every error cafepipe reports. `hint` says what to do next."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def description(self) -> str:
        """What failed, without the hint."""
        return self.message

    def __str__(self) -> str:
        return self.description if not self.hint else f"{self.description}\n  → {self.hint}"


class UsageError(CafepipeError):
    """Bad flags, files or input: detected before anything is created (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration value is invalid; the message names the field."""

    def __init__(self, field: str, message: str, hint: str | None = None) -> None:
        # Field "config" is the file itself: say "config: FILE …", not "config: config: FILE …".
        prefix = "config" if field == "config" else f"config: {field}"
        super().__init__(f"{prefix}: {message}", hint)
        self.field = field


class TerraformError(CafepipeError):
    """Terraform failed; `diagnostics` holds Terraform's own words, verbatim."""

    def __init__(self, message: str, diagnostics: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.diagnostics = diagnostics

    @property
    def description(self) -> str:
        if not self.diagnostics:
            return self.message
        return f"{self.message}\n{self.diagnostics.rstrip()}"


class AwsError(CafepipeError):
    """An AWS (or emulator) call failed, or credentials/region are missing."""


class EmulatorError(CafepipeError):
    """The local emulator could not be started, reached or stopped."""


class NotConfirmedError(UsageError):
    """A destructive command was not confirmed (no terminal and no --yes, or the user said no)."""
