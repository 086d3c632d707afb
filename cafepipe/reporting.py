"""What the core tells the person waiting: a small interface the views implement.

Core functions take a `Reporter` and never print; `cafepipe.cli.views.ConsoleReporter`
shows it on the terminal, and the silent base class is what tests and library callers get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Advance = Callable[[int], None]
Update = Callable[[str], None]
TerraformEvent = Callable[[dict[str, Any]], None]


class Reporter:
    """Progress of a long operation. This base says nothing; views override each part."""

    def section(self, title: str) -> None:
        """The start of a stage of a longer run (the demo's steps)."""

    def say(self, text: str) -> None:
        """One line of news (a step started or finished)."""

    def warn(self, text: str) -> None:
        """Something the user should know that does not stop the operation."""

    @contextmanager
    def status(self, text: str) -> Iterator[Update]:
        """A spinner while waiting; yields update(detail)."""
        yield lambda _detail: None

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Advance]:
        """A progress bar of `total` units; yields advance(n)."""
        yield lambda _n: None

    @contextmanager
    def terraform(self, title: str, expected: int | None = None) -> Iterator[TerraformEvent]:
        """Live progress of one Terraform run; yields the JSON-event callback."""
        yield lambda _event: None


SILENT = Reporter()
