"""`cafepipe demo`: the whole lifecycle, offline, on a fresh local emulator, with timings.

On either profile (`single`, or `fleet`: two servers behind a load balancer); the answers are
read back twice, from the log group with DuckDB and from the S3 data lake with Athena, and each
time compared key by key with the generator's truth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cafepipe.aws import AwsClients
from cafepipe.cafe.traffic import PAGE_VIEW_KEYS, SCHEMA_KEYS
from cafepipe.config import STATE_ROOT, StackConfig, load_config
from cafepipe.deploy.emulator import start_emulator, stop_emulator
from cafepipe.deploy.stack import destroy_stack, open_stack, stack_status, up_stack
from cafepipe.errors import CafepipeError
from cafepipe.insights import InsightsRun, LakeNames, compute_insights
from cafepipe.insights.report import render_html
from cafepipe.insights.summary import program_json
from cafepipe.logs.fleet import parse_lake_key
from cafepipe.logs.generate.truth import CAFE_TIME_KEYS
from cafepipe.logs.simulate import (
    SimulateOptions,
    SimulateResult,
    default_generator,
    simulate_logs,
)
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
    athena_check: str = ""
    report_file: str | None = None
    profile: str = "single"


# What the demo compares with the generator's truth: the schema's shared keys, the café-time
# keys (the truth counts them in the config's zone, as insights does) and the visit keys.
TRUTH_KEYS: tuple[str, ...] = (*SCHEMA_KEYS, *CAFE_TIME_KEYS, *PAGE_VIEW_KEYS)


def check_against_truth(run: InsightsRun, truth_file: str | None, what: str) -> int:
    """Compare `run` with the generator's truth on `TRUTH_KEYS` as `--format json` prints
    them; CafepipeError naming the keys that differ. Returns how many keys were compared."""
    truth = json.loads(Path(truth_file or "").read_text())
    data = program_json(run.data)
    differing = [key for key in TRUTH_KEYS if data.get(key) != truth[key]]
    if differing:
        raise CafepipeError(
            f"the insights {what} differ from the generated truth on: " + ", ".join(differing),
            "run the same step by hand (cafepipe demo --keep leaves the stack) and compare "
            "`insights --format json` with the truth file",
        )
    return len(TRUTH_KEYS)


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
    compared = check_against_truth(run, report.truth_file, "of the delivered events")
    report.truth_check = (
        f"all {compared} schema and visit keys equal the generator's truth "
        f"(café time in {config.timezone})"
    )
    out = config.state_root / "report.html"
    out.write_text(render_html(run.data, run.meta), encoding="utf-8")
    report.report_file = str(out)
    return run


def _headline(run: Any) -> str:
    """The two figures the demo's insights rows lead with."""
    return f"conversion {run.data['conversion_rate']:.1%}, top city {run.data['by_city'][0][0]}"


def insights_from_lake(config: StackConfig, clients: AwsClients, report: DemoReport) -> Any:
    """The same question answered from the S3 data lake by Athena (`insights --engine athena`),
    compared with the truth on the same keys (its `invalid_lines` is 0: the lake is JSON)."""
    run = compute_insights(
        None,
        None,
        config.access_log_group,
        clients,
        engine="athena",
        zone=config.timezone,
        lake=LakeNames.of_stack(config.stack, report.outputs),
    )
    compared = check_against_truth(run, report.truth_file, "of the lake on Athena")
    meta = run.meta
    report.athena_check = (
        f"all {compared} keys equal the generator's truth; Athena scanned "
        f"{meta['bytes_scanned']:,} bytes in {len(meta['queries'])} queries "
        f"(${meta['cost_usd']:.6f} at ${meta['price_per_tb_usd']}/TB, 10 MB minimum per query)"
    )
    return run


def simulate_summary(result: SimulateResult) -> str:
    """`50,000 events in apache/access, file in S3; 8 lake partitions (8 days)`; on a fleet
    the split instead: each server's events and lake partitions, and their streams."""
    shown = result.lake
    partitions = f"{shown.get('partitions', 0)} lake partitions ({len(shown.get('days', []))} days)"
    if result.profile != "fleet":
        return f"{result.events_arrived:,} events in {result.log_group}, file in S3; {partitions}"
    per_server: dict[str, int] = {}
    for key in shown.get("objects", []):
        parsed = parse_lake_key(key)
        if parsed:
            per_server[parsed[1]] = per_server.get(parsed[1], 0) + 1
    servers = "; ".join(
        f"{run.instance_id}: {run.events_arrived:,} events, "
        f"{per_server.get(run.instance_id, 0)} partitions"
        for run in result.instances
    )
    # Each server's stream is `<instance id>/simulated-<run id>`: the run id once, not per server.
    suffix = f"/simulated-{result.run_id}"
    if all(run.log_stream == run.instance_id + suffix for run in result.instances):
        streams = f"one stream each (<instance id>{suffix})"
    else:
        streams = "streams " + ", ".join(run.log_stream for run in result.instances)
    return (
        f"{result.events_arrived:,} events in {result.log_group}, split by visitor over "
        f"{len(result.instances)} servers, {streams}: {servers}; {partitions}"
    )


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
    profile: str | None = None,
) -> DemoReport:
    """Start an emulator, then up → check → status → simulate-logs → insights (log group,
    then the lake on Athena) → destroy; stop it. `profile`: the config's, else `single`.

    Each step is the same core function the command of that name runs.
    """
    demo_root = Path(flags.get("state_dir") or STATE_ROOT) / "demo"
    report = DemoReport()
    overrides: dict[str, Any] = {"profile": profile} if profile else {}
    # Bad configuration is exit 2 before an emulator starts (checked again with its URL).
    load_config(config_file, {**flags, **overrides, "state_dir": str(demo_root)})
    started = time.monotonic()
    info = start_emulator(demo_root)
    report.steps.append(("emulator start", time.monotonic() - started, info.url))
    config: StackConfig = load_config(
        config_file,
        {**flags, **overrides, "endpoint_url": info.url, "state_dir": str(demo_root)},
    )
    report.profile = config.profile
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
            if config.fleet is not None:
                return (
                    f"{result.plan.add} resources created; a fleet "
                    f"{result.outputs.get('fleet_asg_name')} of {config.fleet.min_size}+ servers "
                    "in two zones behind a load balancer"
                )
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
            fleet = state.get("fleet")
            if fleet and not fleet.get("error"):
                zones = len({i["zone"] for i in fleet["instances"] if i["zone"]})
                servers = (
                    f"{fleet['in_service']} of {len(fleet['instances'])} servers in service in "
                    f"{zones} zones"
                )
            elif fleet:
                servers = f"fleet not read: {fleet['error']}"
            else:
                servers = f"instance {state['instance_state']}"
            return f"{servers}, {len(state['resources'])} resources, {drift}"

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
            return simulate_summary(result)

        _timed(report, "simulate-logs", simulate)

        reporter.section("insights — read back from CloudWatch Logs")

        def insights() -> str:
            with reporter.status("reading the events back and answering the questions…"):
                run = insights_from_log_group(config, stack.clients, report)
            return f"{_headline(run)}; {report.truth_check}; report {report.report_file}"

        _timed(report, "insights", insights)

        reporter.section("insights --engine athena — the same question, from the S3 data lake")

        def athena() -> str:
            with reporter.status("running the catalog on Athena over the lake…"):
                run = insights_from_lake(config, stack.clients, report)
            return f"{_headline(run)}; {report.athena_check}"

        _timed(report, "insights (athena)", athena)

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
