"""`cafepipe demo`: the whole lifecycle, offline, on a fresh local emulator, with timings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cafepipe.aws import AwsClients
from cafepipe.cafe.traffic import SCHEMA_KEYS
from cafepipe.config import STATE_ROOT, StackConfig, load_config
from cafepipe.deploy.emulator import start_emulator, stop_emulator
from cafepipe.deploy.stack import destroy_stack, open_stack, stack_status, up_stack
from cafepipe.errors import CafepipeError
from cafepipe.insights import compute_insights
from cafepipe.insights.report import render_html
from cafepipe.logs.generate.truth import CAFE_TIME_KEYS
from cafepipe.logs.simulate import SimulateOptions, default_generator, simulate_logs
from cafepipe.reporting import SILENT, Reporter


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
        f"logs:{config.access_log_group}",
        None,
        config.access_log_group,
        clients,
        zone=config.timezone,
    )
    truth = json.loads(Path(report.truth_file or "").read_text())
    # The café-time keys too: the truth counts them in the config's zone, as insights does.
    keys = (*SCHEMA_KEYS, *CAFE_TIME_KEYS)
    differing = [key for key in keys if run.data[key] != truth[key]]
    if differing:
        raise CafepipeError(
            "the insights of the delivered events differ from the generated truth on: "
            + ", ".join(differing)
        )
    report.truth_check = (
        f"all {len(keys)} schema keys equal the generator's truth (café time in {config.timezone})"
    )
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
    reporter: Reporter = SILENT,
    keep: bool = False,
    lines: int = 50_000,
) -> DemoReport:
    """Start an emulator, then up → status → simulate-logs → insights → destroy; stop it.

    Each step is the same core function the command of that name runs.
    """
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
        reporter.section(f"up — stack {config.stack} on {info.url}")

        def up() -> str:
            # The demo's own emulator: nothing to confirm, nothing billed.
            result = up_stack(stack, approve=lambda _plan: None, reporter=reporter)
            report.outputs = result.outputs
            report.created = [r["address"] for r in result.plan.resources]
            if config.private_network and not config.cloudfront:
                return (
                    f"{result.plan.add} resources created; the server has no public IPv4 "
                    "address (CloudFront VPC origins need hashicorp/aws ≥ 5.82: not in the "
                    "offline provider, so no distribution here)"
                )
            return f"{result.plan.add} resources created"

        _timed(report, "up", up)

        reporter.section("check — a marked request followed into CloudWatch Logs")

        def check() -> str:
            from cafepipe.deploy.probe import ProbeFailedError, probe_stack

            result = probe_stack(config, report.outputs, stack.clients, reporter, timeout=60)
            if not result.ok:
                raise ProbeFailedError(result)
            return result.summary()

        _timed(report, "check", check)

        reporter.section("status")

        def status() -> str:
            with reporter.status("reading state and checking for drift…"):
                state = stack_status(stack)
            drift = "in sync" if state["in_sync"] else f"drift: {state['drift']}"
            return (
                f"instance {state['instance_state']}, {len(state['resources'])} resources, {drift}"
            )

        _timed(report, "status", status)

        reporter.section(f"simulate-logs — {lines:,} lines of café traffic")

        def simulate() -> str:
            result = simulate_logs(
                config,
                report.outputs,
                stack.clients,
                SimulateOptions(lines=lines),
                default_generator(reporter, config.timezone),
                reporter=reporter,
            )
            report.simulated_log = result.local_log
            report.truth_file = result.truth_file
            if not result.verified:
                raise CafepipeError(
                    f"only {result.events_arrived:,} of {result.events_expected:,} events arrived"
                )
            return f"{result.events_arrived:,} events in {result.log_group}, file in S3"

        _timed(report, "simulate-logs", simulate)

        reporter.section("insights — read back from CloudWatch Logs")

        def insights() -> str:
            with reporter.status("reading the events back and answering the questions…"):
                run = insights_from_log_group(config, stack.clients, report)
            return (
                f"conversion {run.data['conversion_rate']:.1%}, top city "
                f"{run.data['by_city'][0][0]}; {report.truth_check}; report {report.report_file}"
            )

        _timed(report, "insights", insights)

        if not keep:
            reporter.section("destroy")

            def destroy() -> str:
                result = destroy_stack(stack, reporter)
                report.leftovers = result["leftovers"]
                return f"{result['destroyed']} resources destroyed, nothing left"

            _timed(report, "destroy", destroy)
            destroyed = True
    finally:
        if not keep:
            if not destroyed:
                reporter.warn("demo failed; stopping the emulator (its state goes with it)")
            started = time.monotonic()
            stop_emulator(demo_root)
            report.steps.append(("emulator stop", time.monotonic() - started, "stopped"))
    return report
