"""Live progress of a Terraform run, from its JSON event stream, on stderr."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.status import Status

_VERBS = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "delete": ("destroying", "destroyed"),
    "replace": ("replacing", "replaced"),
    "read": ("reading", "read"),
    "noop": ("checking", "checked"),
}


class TerraformProgress:
    """Shows which resources are in flight and prints each one as it completes.

    Use as a context manager and pass `on_event` to the runner.
    """

    def __init__(self, console: Console, title: str, expected: int | None = None) -> None:
        self.console = console
        self.title = title
        self.expected = expected
        self.done = 0
        self.failed = 0
        self.in_flight: dict[str, str] = {}
        self.started = time.monotonic()
        self._status: Status | None = None

    def __enter__(self) -> TerraformProgress:
        self._status = self.console.status(self._status_text())
        self._status.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.__exit__(exc_type, exc, tb)

    def _status_text(self) -> str:
        total = f"/{self.expected}" if self.expected else ""
        busy = ", ".join(sorted(self.in_flight)[:3])
        more = f" +{len(self.in_flight) - 3}" if len(self.in_flight) > 3 else ""
        elapsed = time.monotonic() - self.started
        return f"{self.title} [{self.done}{total}] {elapsed:4.0f}s  {busy}{more}"

    def on_event(self, event: dict[str, Any]) -> None:
        """Runner callback: one Terraform JSON event."""
        kind = event.get("type")
        hook = event.get("hook") or {}
        address = (hook.get("resource") or {}).get("addr", "")
        action = hook.get("action", "")
        if kind == "apply_start":
            self.in_flight[address] = action
        elif kind == "apply_complete":
            self.in_flight.pop(address, None)
            self.done += 1
            verb = _VERBS.get(action, (action, action))[1]
            seconds = hook.get("elapsed_seconds", 0)
            self.console.print(
                f"  [green]✓[/green] {verb} {address} [dim]({seconds}s)[/dim]", soft_wrap=True
            )
        elif kind == "apply_errored":
            self.in_flight.pop(address, None)
            self.failed += 1
            verb = _VERBS.get(action, (action, action))[0]
            self.console.print(f"  [red]✗[/red] failed {verb} {address}", soft_wrap=True)
        elif kind == "planned_change" and self.title.startswith("planning"):
            self.done += 1
        elif kind == "diagnostic" and (event.get("diagnostic") or {}).get("severity") == "warning":
            summary = event["diagnostic"].get("summary", "")
            self.console.print(f"  [yellow]warning:[/yellow] {summary}")
        if self._status is not None:
            self._status.update(self._status_text())
