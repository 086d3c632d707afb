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
    from cafepipe.deploy.probe import ProbeResult
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
        elif kind == "cafepipe_interrupt":  # the runner passed a Ctrl-C on to Terraform
            self._interrupted(event)
        elif kind == "diagnostic" and (event.get("diagnostic") or {}).get("severity") == "warning":
            summary = event["diagnostic"].get("summary", "")
            if summary not in self._warnings:  # Terraform repeats a warning per resource
                self._warnings.add(summary)
                self.console.print(f"  [yellow]warning:[/yellow] {escape(summary)}")
        if self._status is not None:
            self._status.update(self._status_text())

    def _interrupted(self, event: dict[str, Any]) -> None:
        busy = ", ".join(event.get("in_flight") or []) or "nothing reported in progress"
        if event.get("count") == 1:
            self.title = "stopping"
            self.console.print(
                f"  [yellow]⏸[/yellow] stopping after the operations in progress ({escape(busy)})… "
                "they finish and are saved in the state. Ctrl-C again stops at once.",
                soft_wrap=True,
            )
        else:
            self.console.print(
                f"  [red]✗[/red] stopping at once: what was in progress ({escape(busy)}) may be "
                "left without being in the state",
                soft_wrap=True,
            )


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
    fleet = report.get("fleet")
    if fleet:
        out_console.print(f"Resources: {len(report['resources'])}; " + fleet_line(fleet))
    else:
        out_console.print(
            f"Resources: {len(report['resources'])}; instance: {report['instance_state']}"
        )
    if report["in_sync"] is None:  # another command holds the stack's lock
        out_console.print("Drift: not checked while another command works on the stack.")
    elif report["in_sync"]:
        out_console.print("[green]In sync[/green]: no drift.")
    else:
        out_console.print(
            f"[yellow]Drift[/yellow]: {drift['add']} to add, {drift['change']} to change, "
            f"{drift['destroy']} to destroy — run `cafepipe up` to reconcile."
        )
    alerts = report.get("alerts")
    if alerts and alerts.get("error"):
        out_console.print(f"Alerts: [yellow]could not be read[/yellow]: {escape(alerts['error'])}")
    elif alerts:
        print_subscription_line(alerts["subscription"])


def fleet_line(fleet: dict[str, Any]) -> str:
    """`fleet <group>: 2 servers in service (min 2, max 6), 2 healthy behind the load balancer`."""
    name = escape(str(fleet["asg_name"]))
    if fleet.get("error"):
        return f"fleet {name}: [yellow]could not be read[/yellow]: {escape(fleet['error'])}"
    zones = len({i["zone"] for i in fleet["instances"] if i["zone"]})
    line = (
        f"fleet {name}: {fleet['in_service']} of {len(fleet['instances'])} servers in service"
        f" in {zones} zone{'s' if zones != 1 else ''} (min {fleet['min_size']}, "
        f"max {fleet['max_size']})"
    )
    if fleet.get("healthy_targets") is not None:
        line += f", {fleet['healthy_targets']} healthy behind the load balancer"
    return line


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
    # Exactly once (ship resumes): what the stream held already, and lost answers.
    if data.get("resumed_from"):
        rows.append(("in the stream already (resumed)", f"{data['resumed_from']:,}"))
    if data.get("found_in_stream"):
        rows.append(("found in the stream, not resent", f"{data['found_in_stream']:,}"))
    if data.get("unanswered_calls"):
        rows.append(("calls with a lost answer", f"[yellow]{data['unanswered_calls']:,}[/yellow]"))
        rows.append(("  their events found stored", f"{data['confirmed_after_unanswered']:,}"))
        rows.append(("  sent again (not found)", f"{data['resent_unconfirmed']:,}"))
    if "events_delivered" in data:
        rows.append(("events of the file in the stream", f"{data['events_delivered']:,}"))
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
    fleet = result.profile == "fleet"
    servers = [
        (
            escape(run.instance_id),
            escape(f"{run.events_arrived:,} of {run.events_expected:,} → {run.log_stream}"),
        )
        for run in result.instances
        if fleet
    ]
    lake = result.lake
    key_value_table(
        "Simulated log delivered",
        [
            (
                "events arrived",
                f"[green]{result.events_arrived:,}[/green] of {result.events_expected:,}",
            ),
            *(servers or [("log stream", escape(f"{result.log_group} / {result.log_stream}"))]),
            (
                "lake",
                escape(
                    f"{lake.get('partitions', 0)} partitions ({len(lake.get('days', []))} days) "
                    f"in s3://{result.bucket}/{lake.get('prefix', '')}"
                ),
            ),
            (
                "earlier streams",
                escape(
                    f"{len(result.earlier_streams_kept)} kept"
                    if result.earlier_streams_kept
                    else f"{len(result.earlier_streams_removed)} removed"
                ),
            ),
            *([] if fleet else [("object", escape(f"s3://{result.bucket}/{result.key}"))]),
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
    table = Table(title=f"cafepipe demo — profile {report.profile}", title_justify="left")
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


_LEG_STYLES = {"ok": "green", "failed": "red", "skipped": "dim", "not checked": "dim"}


def print_probe_result(result: ProbeResult, console: Console = out_console) -> None:
    """The probe: one row per link of the chain, the verdict, and the instance's log tails."""
    table = Table(title=f"Check of the chain (marker {result.marker})", title_justify="left")
    table.add_column("link", style="bold")
    table.add_column("state")
    table.add_column("seconds", justify="right")
    table.add_column("detail")
    for leg in result.legs.values():
        style = _LEG_STYLES.get(leg.state, "")
        seconds = "" if leg.seconds is None else f"{leg.seconds:.1f}"
        table.add_row(leg.name, f"[{style}]{leg.state}[/{style}]", seconds, escape(leg.detail))
    console.print(table)
    if result.boot_status:
        style = "green" if result.boot_status == "ok" else "red"
        console.print(f"First boot: [{style}]{escape(result.boot_status)}[/{style}]")
    for title, lines in (
        ("CloudWatch agent log (last lines)", result.agent_log_tail),
        ("first-boot log (last lines)", result.user_data_log_tail),
    ):
        if lines:
            console.print(f"{title}:", style="bold")
            for line in lines:
                console.print(f"  {escape(line)}", style="dim", soft_wrap=True)
    if result.ok:
        console.print(f"[green]The chain works[/green]: {escape(result.summary())}.")
    else:
        console.print(f"[red]The chain is broken[/red]: {escape(result.summary())}")


# ------------------------------------------------------------------------------ alerts

_ALARM_STYLES = {"OK": "green", "ALARM": "red", "INSUFFICIENT_DATA": "yellow"}


def print_subscription_line(subscription: dict[str, Any], console: Console = out_console) -> None:
    """One line: where alerts go and whether the owner confirmed the subscription."""
    email = escape(str(subscription.get("email")))
    state = subscription.get("state")
    if state == "confirmed":
        console.print(f"Alerts: e-mailed to {email} ([green]subscription confirmed[/green]).")
    elif state == "pending confirmation":
        console.print(
            f"Alerts: [yellow]{email} has not confirmed the subscription yet[/yellow]: open the "
            "e-mail from AWS Notifications and click “Confirm subscription”; until then "
            "nothing reaches the owner."
        )
    else:
        console.print(
            f"Alerts: [red]{email} is not subscribed[/red] to the alerts topic: run "
            "`cafepipe up` to subscribe it again."
        )


def print_alerts_status(alerts: dict[str, Any]) -> None:
    """The alarms and their states, the subscription, the report's schedule."""
    table = Table(title="Alarms that e-mail the owner", title_justify="left")
    table.add_column("alarm", style="bold")
    table.add_column("state")
    table.add_column("why")
    for alarm in alerts["alarms"]:
        style = _ALARM_STYLES.get(alarm["state"], "dim")
        table.add_row(
            escape(alarm["name"]), f"[{style}]{alarm['state']}[/{style}]", escape(alarm["reason"])
        )
    out_console.print(table)
    print_subscription_line(alerts["subscription"])
    report = alerts["report"]
    if report.get("function"):
        out_console.print(f"Weekly report: {escape(report['schedule'])} ({report['function']}).")
    else:
        out_console.print("Weekly report: off.")


def print_alert_test(result: dict[str, Any]) -> None:
    out_console.print(
        f"[green]Sent[/green] a test notification to {escape(result['topic_arn'])} "
        f"(message {result.get('message_id')})."
    )
    print_subscription_line(result["subscription"])


def print_weekly_report(result: dict[str, Any]) -> None:
    """The report as it is e-mailed: the subject, then the message."""
    out_console.print(escape(result["subject"]), style="bold")
    out_console.print()
    out_console.print(escape(result["message"].rstrip("\n")), soft_wrap=True)
    if result.get("sent"):
        err_console.print(
            f"[green]Sent[/green] to {escape(result['topic_arn'])} "
            f"(message {result.get('message_id')})."
        )
        print_subscription_line(result["subscription"], console=err_console)


# ------------------------------------------------------------------------------ lifecycle

ORPHANS_TITLE = "Resources carrying the stack's tag that its state does not hold"


def print_orphans(
    orphans: list[dict[str, Any]],
    locked_by: str | None = None,
    stale_state: str | None = None,
    title: str = ORPHANS_TITLE,
    console: Console = out_console,
) -> None:
    """What `status` adds: the stack's orphans, who holds its lock, a stale emulator state."""
    if stale_state:
        console.print(
            f"[yellow]Stale state[/yellow]: {escape(stale_state)}; the next `cafepipe up` "
            "starts from an empty state.",
            soft_wrap=True,
        )
    if locked_by:
        console.print(f"[yellow]Busy[/yellow]: {escape(locked_by)} is working on the stack.")
    if not orphans:
        return
    from cafepipe.deploy.orphans import KINDS

    table = Table(title=title, title_justify="left")
    table.add_column("kind", style="bold")
    table.add_column("id")
    table.add_column("name")
    table.add_column("found by")
    for item in orphans:
        table.add_row(
            KINDS.get(item["kind"], item["kind"]),
            escape(item["id"]),
            escape(item.get("name") or ""),
            "its name (cannot be tagged)" if item.get("by_name") else "tag",
        )
    console.print(table)
    if console is out_console:  # `status`: what to do about them (destroy asks right after)
        console.print(
            f"{len(orphans)} orphaned resource(s): `cafepipe destroy` removes them (after "
            "asking), with the rest of the stack."
        )


def print_destroy_report(report: dict[str, Any]) -> None:
    """What destroy removed (Terraform's own count, and the orphans), and the proof."""
    orphans = report.get("orphans_deleted") or []
    plural = "s" if len(orphans) != 1 else ""
    also = f" and {len(orphans)} resource{plural} outside its state" if orphans else ""
    forgotten = report.get("forgotten_state")
    kept = f" (state set aside: {escape(forgotten)})" if forgotten else ""
    out_console.print(
        f"[green]Destroyed[/green] stack {escape(report['stack'])}: {report['destroyed']} "
        f"resources{also} in {report['seconds']}s{kept}; verified nothing of it remains.",
        soft_wrap=True,
    )
