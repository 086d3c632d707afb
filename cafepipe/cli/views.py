"""What the commands show: progress on stderr, tables and JSON on stdout.

Progress and tables go to stderr unless they are the command's data, so stdout carries only
data (JSON, CSV) when asked for. `ConsoleReporter` is the terminal side of
`cafepipe.reporting.Reporter`; the print functions turn core results into tables.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.status import Status
from rich.table import Table

from cafepipe.reporting import Advance, Reporter, TerraformEvent, Update

if TYPE_CHECKING:
    from cafepipe.demo import DemoReport
    from cafepipe.deploy.stack import PlanSummary

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)

_VERBS = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "delete": ("destroying", "destroyed"),
    "replace": ("replacing", "replaced"),
    "read": ("reading", "read"),
    "noop": ("checking", "checked"),
}


def emit_json(data: Any) -> None:
    """Stable JSON on stdout: sorted keys, two-space indent."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


class TerraformProgress:
    """One live line for a Terraform run: done/expected, elapsed, what is in flight.

    Failures and warnings are always printed; with `verbose`, every resource is printed as
    it completes. At the end one summary line stays.
    """

    def __init__(
        self, console: Console, title: str, expected: int | None = None, verbose: bool = False
    ) -> None:
        self.console = console
        self.title = title
        self.expected = expected
        self.verbose = verbose
        self.done = 0
        self.failed = 0
        self.in_flight: dict[str, str] = {}
        self.started = time.monotonic()
        self._warnings: set[str] = set()
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
        if exc_type is None and self.done:
            elapsed = time.monotonic() - self.started
            noun = "change" if self.title == "planning" else "resource"
            self.console.print(
                f"  [green]✓[/green] {self.title}: {self.done} {noun}"
                f"{'s' if self.done != 1 else ''} in {elapsed:.0f}s"
            )

    def _status_text(self) -> str:
        total = f"/{self.expected}" if self.expected else ""
        busy = ", ".join(sorted(self.in_flight)[:2])
        more = f" +{len(self.in_flight) - 2}" if len(self.in_flight) > 2 else ""
        elapsed = time.monotonic() - self.started
        return f"{self.title} [{self.done}{total}] {elapsed:4.0f}s  {escape(busy)}{more}"

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
            if action != "read":  # data sources are read, not created or destroyed
                self.done += 1
            if self.verbose:
                verb = _VERBS.get(action, (action, action))[1]
                seconds = hook.get("elapsed_seconds", 0)
                self.console.print(
                    f"  [green]✓[/green] {verb} {escape(address)} [dim]({seconds}s)[/dim]",
                    soft_wrap=True,
                )
        elif kind == "apply_errored":
            self.in_flight.pop(address, None)
            self.failed += 1
            verb = _VERBS.get(action, (action, action))[0]
            self.console.print(f"  [red]✗[/red] failed {verb} {escape(address)}", soft_wrap=True)
        elif kind == "change_summary" and self.title == "planning":
            changes = event.get("changes") or {}
            self.done = sum(int(changes.get(key, 0)) for key in ("add", "change", "remove"))
        elif kind == "diagnostic" and (event.get("diagnostic") or {}).get("severity") == "warning":
            summary = event["diagnostic"].get("summary", "")
            if summary not in self._warnings:  # Terraform repeats a warning per resource
                self._warnings.add(summary)
                self.console.print(f"  [yellow]warning:[/yellow] {escape(summary)}")
        if self._status is not None:
            self._status.update(self._status_text())


class ConsoleReporter(Reporter):
    """The core's progress on a rich console (stderr): one live line per long step."""

    def __init__(self, console: Console = err_console, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose

    def section(self, title: str) -> None:
        self.console.rule(f"[bold]{escape(title)}[/bold]")

    def say(self, text: str) -> None:
        self.console.print(escape(text), soft_wrap=True)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {escape(text)}", soft_wrap=True)

    @contextmanager
    def status(self, text: str) -> Iterator[Update]:
        with self.console.status(escape(text)) as status:
            yield lambda detail: status.update(escape(f"{text} {detail}"))

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Advance]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        # No terminal (a pipe, CI): no bar at all, rather than a blank line at the end.
        with Progress(
            *columns, console=self.console, transient=True, disable=not self.console.is_terminal
        ) as bar:
            task = bar.add_task(escape(description), total=total)
            yield lambda n: bar.advance(task, n)

    @contextmanager
    def terraform(self, title: str, expected: int | None = None) -> Iterator[TerraformEvent]:
        with TerraformProgress(self.console, title, expected, self.verbose) as progress:
            yield progress.on_event


def print_plan_summary(summary: PlanSummary, verbose: bool = False) -> None:
    """The plan: every resource with -v, else a count per resource type and action."""
    marks = {"create": "[green]+[/green]", "delete": "[red]-[/red]"}
    if verbose:
        for resource in summary.resources:
            mark = marks.get(resource["action"], "[yellow]~[/yellow]")
            err_console.print(
                f"  {mark} {escape(resource['address'])} [dim]({resource['action']})[/dim]",
                soft_wrap=True,
            )
    else:
        kinds = Counter(
            (resource["action"], _resource_type(resource["address"]))
            for resource in summary.resources
        )
        line: list[str] = []
        for (action, kind), count in sorted(kinds.items()):
            mark = marks.get(action, "[yellow]~[/yellow]")
            line.append(f"{mark}{count} {kind}")
        err_console.print("  " + ", ".join(line), soft_wrap=False)
    err_console.print(
        f"Plan: [bold]{summary.add}[/bold] to add, [bold]{summary.change}[/bold] to change, "
        f"[bold]{summary.destroy}[/bold] to destroy."
        + ("" if verbose else " [dim](-v lists every resource)[/dim]")
    )


def _resource_type(address: str) -> str:
    """`module.network.aws_subnet.private[0]` → `aws_subnet`."""
    parts = [part for part in address.split(".") if not part.startswith(("module", "data"))]
    names = [part for part in parts if part.startswith("aws_")]
    return names[0] if names else address.split(".")[-2] if "." in address else address


def print_outputs(outputs: dict[str, Any], title: str = "Stack outputs") -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("output", style="bold")
    table.add_column("value")
    for name in sorted(outputs):
        table.add_row(name, escape(str(outputs[name])))
    out_console.print(table)


def print_status(report: dict[str, Any]) -> None:
    if not report["deployed"]:
        out_console.print(f"Stack [bold]{report['stack']}[/bold] is not deployed.")
        return
    print_outputs(report["outputs"], title=f"Stack {report['stack']}")
    drift = report["drift"]
    out_console.print(
        f"Resources: {len(report['resources'])}; instance: {report['instance_state']}"
    )
    if report["in_sync"]:
        out_console.print("[green]In sync[/green]: no drift.")
    else:
        out_console.print(
            f"[yellow]Drift[/yellow]: {drift['add']} to add, {drift['change']} to change, "
            f"{drift['destroy']} to destroy — run `cafepipe up` to reconcile."
        )


def key_value_table(title: str, rows: Iterable[tuple[str, str]], justify: str = "left") -> None:
    """A two-column table of what → value on stdout."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify=justify)  # type: ignore[arg-type]
    for what, value in rows:
        table.add_row(what, value)
    out_console.print(table)


def print_ship_result(data: dict[str, Any], title: str) -> None:
    rows = [
        ("log group / stream", escape(f"{data['log_group']} / {data['log_stream']}")),
        ("lines read", f"{data['lines_read']:,}"),
        ("events sent", f"[green]{data['events_sent']:,}[/green]"),
    ]
    rejected = data["events_rejected"]
    rows.append(("events rejected", f"[red]{rejected:,}[/red]" if rejected else "0"))
    rows += [
        (f"  {reason.replace('_', ' ')}", f"{count:,}")
        for reason, count in data["rejected"].items()
        if count
    ]
    if data["empty_lines"]:
        rows.append(("empty lines skipped", f"{data['empty_lines']:,}"))
    if data["inherited_timestamps"]:
        rows.append(("lines given the previous time", f"{data['inherited_timestamps']:,}"))
    rows += [
        ("PutLogEvents calls", f"{data['calls']:,}"),
        ("batch fullness", f"{data['batch_fullness']:.1%} of 1,048,576 bytes"),
        ("throughput", f"{data['events_per_second']:,} events/s"),
    ]
    key_value_table(title, rows, justify="right")


def print_simulate_result(result: Any) -> None:
    key_value_table(
        "Simulated log delivered",
        [
            (
                "events arrived",
                f"[green]{result.events_arrived:,}[/green] of {result.events_expected:,}",
            ),
            ("log stream", escape(f"{result.log_group} / {result.log_stream}")),
            ("object", escape(f"s3://{result.bucket}/{result.key}")),
            ("ground truth", escape(result.truth_file)),
            ("SSM command", escape(f"{result.command_id} ({result.command_status})")),
        ],
    )


def print_cost_table(report: Any) -> None:
    from cafepipe.cost import format_usd, report_table_rows

    table = Table(
        title=f"cafepipe cost — {report.region}, {report.currency}, list prices of "
        f"{report.price_date}",
        title_justify="left",
    )
    for column, justify in (
        ("Service", "left"),
        ("Item", "left"),
        ("Quantity", "right"),
        ("Unit price", "right"),
        ("Monthly", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in report_table_rows(report):
        table.add_row(*row)
    table.add_section()
    table.add_row("Total", "per month", "", "", format_usd(report.total_monthly_usd), style="bold")
    table.add_row("", "per year (× 12)", "", "", format_usd(report.total_annual_usd))
    if report.months != 12:
        table.add_row(
            "", f"for {report.months} months", "", "", format_usd(report.total_for_months_usd)
        )
    out_console.print(table)
    out_console.print("Assumptions:", style="bold")
    for assumption in report.assumptions:
        out_console.print(f"  • {escape(assumption)}", soft_wrap=False)


def print_demo_report(report: DemoReport) -> None:
    """The demo's closing summary: steps with timings, what was created, what is left."""
    table = Table(title="cafepipe demo", title_justify="left")
    table.add_column("step", style="bold")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    for name, seconds, result in report.steps:
        table.add_row(name, f"{seconds:.1f}", escape(result))
    out_console.print(table)
    if report.created:
        kinds = Counter(_resource_type(address) for address in report.created)
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        out_console.print(f"Created {len(report.created)} resources: {listed}.")
    if report.leftovers == []:
        out_console.print("[green]Nothing is left[/green]: every resource of the stack is gone.")
    elif report.leftovers:
        out_console.print(f"[red]Left behind:[/red] {escape(', '.join(report.leftovers))}")
