"""`cafepipe demo`: the whole lifecycle, offline, on a fresh local emulator, with timings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cafepipe.aws import AwsClients
from cafepipe.config import STATE_ROOT, StackConfig, load_config
from cafepipe.emulator import start_emulator, stop_emulator
from cafepipe.errors import CafepipeError
from cafepipe.insights import compute_insights
from cafepipe.insights.report import print_tables, render_html
from cafepipe.progress import TerraformProgress
from cafepipe.simulate import SimulateOptions, default_generator, simulate_logs
from cafepipe.stack import apply_plan, destroy_stack, open_stack, plan_stack, stack_status
from cafepipe.traffic import SCHEMA_KEYS


@dataclass
class DemoReport:
    """What the demo did: one row per step, and what was created and removed."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    leftovers: list[str] | None = None
    simulated_log: str | None = None
    truth_file: str | None = None
    truth_check: str = ""
    report_file: str | None = None


def insights_from_log_group(config: StackConfig, clients: AwsClients, report: DemoReport) -> Any:
    """The owner's answers from the events that reached CloudWatch Logs, compared key by key
    with what the generator wrote; the HTML report goes next to the demo's state."""
    run = compute_insights(
        f"logs:{config.access_log_group}", None, config.access_log_group, clients
    )
    truth = json.loads(Path(report.truth_file or "").read_text())
    differing = [key for key in SCHEMA_KEYS if run.data[key] != truth[key]]
    if differing:
        raise CafepipeError(
            "the insights of the delivered events differ from the generated truth on: "
            + ", ".join(differing)
        )
    report.truth_check = f"all {len(SCHEMA_KEYS)} schema keys equal the generator's truth"
    out = config.state_root / "report.html"
    out.write_text(render_html(run.data, run.meta), encoding="utf-8")
    report.report_file = str(out)
    return run


def _timed(report: DemoReport, name: str, step: Callable[[], str]) -> None:
    started = time.monotonic()
    result = step()
    report.steps.append((name, time.monotonic() - started, result))


def run_demo(
    flags: Mapping[str, Any],
    config_file: str | None,
    console: Console,
    keep: bool = False,
    lines: int = 50_000,
) -> DemoReport:
    """Start an emulator, then up → status → simulate-logs → insights → destroy; stop it."""
    demo_root = Path(flags.get("state_dir") or STATE_ROOT) / "demo"
    report = DemoReport()
    started = time.monotonic()
    info = start_emulator(demo_root)
    report.steps.append(("emulator start", time.monotonic() - started, info.url))
    config: StackConfig = load_config(
        config_file, {**flags, "endpoint_url": info.url, "state_dir": str(demo_root)}
    )
    # The emulator starts empty: state left by an earlier demo describes nothing real.
    for stale in config.terraform_dir.glob("terraform.tfstate*"):
        stale.unlink()
    stack = open_stack(config)
    destroyed = False
    try:
        console.rule(f"[bold]up[/bold] — stack {config.stack} on {info.url}")

        def up() -> str:
            with TerraformProgress(console, "planning") as progress:
                summary = plan_stack(stack, progress.on_event)
            with TerraformProgress(console, "applying", expected=summary.add) as progress:
                report.outputs = apply_plan(stack, progress.on_event)
            report.created = [r["address"] for r in summary.resources]
            if config.private_network and not config.cloudfront:
                return (
                    f"{summary.add} resources created; the server has no public IPv4 address "
                    "(CloudFront VPC origins need hashicorp/aws ≥ 5.82: not in the offline "
                    "provider, so no distribution here)"
                )
            return f"{summary.add} resources created"

        _timed(report, "up", up)

        console.rule("[bold]status[/bold]")

        def status() -> str:
            state = stack_status(stack)
            drift = "in sync" if state["in_sync"] else f"drift: {state['drift']}"
            return (
                f"instance {state['instance_state']}, {len(state['resources'])} resources, {drift}"
            )

        _timed(report, "status", status)

        console.rule(f"[bold]simulate-logs[/bold] — {lines:,} lines of café traffic")

        def simulate() -> str:
            result = simulate_logs(
                config,
                report.outputs,
                stack.clients,
                SimulateOptions(lines=lines),
                default_generator(console),
                console=console,
            )
            report.simulated_log = result.local_log
            report.truth_file = result.truth_file
            if not result.verified:
                raise CafepipeError(
                    f"only {result.events_arrived:,} of {result.events_expected:,} events arrived"
                )
            return f"{result.events_arrived:,} events in {result.log_group}, file in S3"

        _timed(report, "simulate-logs", simulate)

        console.rule("[bold]insights[/bold] — read back from CloudWatch Logs")

        def insights() -> str:
            run = insights_from_log_group(config, stack.clients, report)
            print_tables(run.data, console)
            return (
                f"conversion {run.data['conversion_rate']:.1%}, top city "
                f"{run.data['by_city'][0][0]}; {report.truth_check}; report {report.report_file}"
            )

        _timed(report, "insights", insights)

        if not keep:
            console.rule("[bold]destroy[/bold]")

            def destroy() -> str:
                with TerraformProgress(console, "destroying") as progress:
                    result = destroy_stack(stack, progress.on_event)
                report.leftovers = result["leftovers"]
                return f"{result['destroyed']} resources destroyed, nothing left"

            _timed(report, "destroy", destroy)
            destroyed = True
    finally:
        if not keep:
            if not destroyed:
                console.print(
                    "[yellow]demo failed; stopping the emulator (its state goes with it)[/yellow]"
                )
            started = time.monotonic()
            stop_emulator(demo_root)
            report.steps.append(("emulator stop", time.monotonic() - started, "stopped"))
    return report


def print_demo_report(report: DemoReport, console: Console) -> None:
    """The closing summary: steps with timings, what was created, what is left."""
    table = Table(title="cafepipe demo", title_justify="left")
    table.add_column("step", style="bold")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    for name, seconds, result in report.steps:
        table.add_row(name, f"{seconds:.1f}", result)
    console.print(table)
    if report.created:
        console.print(f"Created {len(report.created)} resources, among them:")
        kinds: dict[str, int] = {}
        for address in report.created:
            kind = address.split(".")[-2] if "." in address else address
            kinds[kind] = kinds.get(kind, 0) + 1
        for kind, count in sorted(kinds.items()):
            console.print(f"  {count} × {kind}")
    if report.leftovers == []:
        console.print("[green]Nothing is left[/green]: every resource of the stack is gone.")
    elif report.leftovers:
        console.print(f"[red]Left behind:[/red] {', '.join(report.leftovers)}")
