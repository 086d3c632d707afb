"""The `cafepipe` command line: thin click commands over the plain modules of the package.

Commands parse arguments and call the core; errors become one message and an exit code in
`main` (exit codes in `cafepipe.errors`).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from cafepipe import __version__
from cafepipe.config import StackConfig, load_config
from cafepipe.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CafepipeError,
    NotConfirmedError,
)

if TYPE_CHECKING:
    from cafepipe.stack import PlanSummary, Stack

# Commands import the core they need when they run: `cafepipe insights` on a local file should
# not pay for boto3, Terraform or the emulator at start-up.

# Progress and tables go to stderr, so stdout carries only data (JSON, CSV) when asked for.
err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)

EPILOG = """\b
Examples:
  cafepipe demo                          # the whole lifecycle offline, on a local emulator
  cafepipe cost                          # what the stack costs per month, before creating it
  cafepipe up --yes                      # create the stack in your AWS account
  cafepipe simulate-logs --days 7        # fill the dashboard with a week of café traffic
  cafepipe insights --format html --out report.html
  cafepipe destroy --yes                 # remove everything, and check nothing is left
"""


@dataclass
class CliState:
    """What the global options say; the config is loaded (and validated) on first use."""

    flags: dict[str, Any]
    config_file: str | None
    debug: bool
    _config: StackConfig | None = field(default=None, repr=False)

    def config(self, **overrides: Any) -> StackConfig:
        if overrides or self._config is None:
            cfg = load_config(self.config_file, {**self.flags, **overrides})
            if overrides:
                return cfg
            self._config = cfg
        return self._config


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


def emit_json(data: Any) -> None:
    """Stable JSON on stdout: sorted keys, two-space indent."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cafepipe")
@click.option("--stack", help="Stack name (default: cafe). Several stacks can live side by side.")
@click.option("--region", help="AWS region (default: AWS_REGION, else us-east-1).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./cafepipe.toml if present).",
)
@click.option(
    "--endpoint-url",
    help="AWS-compatible endpoint (emulator), e.g. http://127.0.0.1:5000. Env: AWS_ENDPOINT_URL.",
)
@click.option(
    "--terraform-bin",
    help="A terraform/tofu binary instead of the bundled Terraform. Env: CAFEPIPE_TERRAFORM_BIN.",
)
@click.option(
    "--state-dir", help="Where stacks keep rendered files and state (default: .cafepipe)."
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(
    ctx: click.Context,
    stack: str | None,
    region: str | None,
    config_file: str | None,
    endpoint_url: str | None,
    terraform_bin: str | None,
    state_dir: str | None,
    debug: bool,
) -> None:
    """cafepipe — a café website's clickstream-analytics pipeline on AWS, in one command.

    It creates an EC2 web server whose Apache access log flows through the CloudWatch agent
    into CloudWatch Logs, a dashboard and an S3 copy; fills it with realistic traffic; answers
    the owner's questions; says what it costs; and removes it all again.
    """
    ctx.obj = CliState(
        flags={
            "stack": stack,
            "region": region,
            "endpoint_url": endpoint_url,
            "terraform_bin": terraform_bin,
            "state_dir": state_dir,
        },
        config_file=config_file,
        debug=debug,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, mapping errors to one message and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="cafepipe", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns Ctrl-C into Abort. Terraform was stopped cleanly and saved its state.
        err_console.print("[red]interrupted[/red] — it is safe to re-run the same command")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except CafepipeError as exc:
        if debug:
            raise
        click.echo(click.style("error: ", fg="red", bold=True) + str(exc), err=True)
        sys.exit(exc.exit_code)
    sys.exit(0)


# ---------------------------------------------------------------------------------------
# Backbone commands: render, plan, up, status, destroy, emulator, demo (issue 2)
# ---------------------------------------------------------------------------------------


def _print_plan_summary(summary: PlanSummary) -> None:
    for resource in summary.resources:
        mark = {"create": "[green]+[/green]", "delete": "[red]-[/red]"}.get(
            resource["action"], "[yellow]~[/yellow]"
        )
        err_console.print(
            f"  {mark} {resource['address']} [dim]({resource['action']})[/dim]", soft_wrap=True
        )
    err_console.print(
        f"Plan: [bold]{summary.add}[/bold] to add, [bold]{summary.change}[/bold] to change, "
        f"[bold]{summary.destroy}[/bold] to destroy."
    )


def _plan_with_progress(stack: Stack) -> PlanSummary:
    from cafepipe.progress import TerraformProgress
    from cafepipe.stack import plan_stack

    with TerraformProgress(err_console, "planning") as progress:
        return plan_stack(stack, progress.on_event)


def _print_outputs(outputs: dict[str, Any], title: str = "Stack outputs") -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("output", style="bold")
    table.add_column("value")
    for name in sorted(outputs):
        table.add_row(name, str(outputs[name]))
    out_console.print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_state
def render(state: CliState, as_json: bool) -> None:
    """Write the stack's Terraform and instance files to .cafepipe/<stack>/terraform/.

    No cloud calls: read, review or run Terraform on the result yourself. Terraform's own
    files there (state, .terraform/, the lock file, plans) are left alone; rendered files
    that the templates no longer produce are removed.

    \b
    JSON: {"directory", "files", "changed", "removed", "user_data_gzip_bytes"}
    \b
    Examples:
      cafepipe render
      cafepipe --stack shop --region eu-west-1 render --json
      cafepipe --endpoint-url http://127.0.0.1:5000 render   # the offline provider 3.39 flavour
    """

    from cafepipe.render import render_stack_files

    result = render_stack_files(state.config())
    if as_json:
        emit_json(
            {
                "directory": str(result.directory),
                "files": list(result.files),
                "changed": list(result.changed),
                "removed": list(result.removed),
                "user_data_gzip_bytes": result.user_data_gzip_bytes,
            }
        )
        return
    click.echo(str(result.directory))
    for name in result.files:
        click.echo(f"  {name}")
    err_console.print(
        f"Rendered {len(result.files)} files ({len(result.changed)} changed, "
        f"{len(result.removed)} stale removed); user data {result.user_data_gzip_bytes} bytes "
        "gzip-compressed (EC2 limit 16384)."
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the plan summary as JSON.")
@pass_state
def plan(state: CliState, as_json: bool) -> None:
    """Show what `up` would change (renders and inits first; changes nothing).

    \b
    JSON: {"add": N, "change": N, "destroy": N, "resources": [{"address", "action"}]}
    \b
    Examples:
      cafepipe plan
      cafepipe --endpoint-url http://127.0.0.1:5000 plan --json
    """
    from cafepipe.stack import check_access, open_stack

    stack = open_stack(state.config())
    check_access(stack)
    summary = _plan_with_progress(stack)
    if as_json:
        emit_json(summary.as_dict())
    else:
        _print_plan_summary(summary)


@cli.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as JSON.")
@pass_state
def up(state: CliState, yes: bool, as_json: bool) -> None:
    """Create or update the stack: render → init → plan → apply, then print its outputs.

    Shows the plan and asks before changing anything (--yes skips the question). Safe to
    re-run: an interrupted or failed run continues where it stopped; an up-to-date stack is
    left alone.

    \b
    Examples:
      cafepipe up                       # in your AWS account (credentials from the usual chain)
      cafepipe --region eu-west-1 up --yes
      cafepipe --endpoint-url http://127.0.0.1:5000 up --yes   # on `cafepipe emulator start`
    """
    from cafepipe.cost import monthly_total_line
    from cafepipe.progress import TerraformProgress
    from cafepipe.stack import apply_plan, check_access, open_stack

    config = state.config()
    # Priced before any cloud call, so a bad [usage] table fails early (exit 2).
    cost_line = monthly_total_line(config)
    stack = open_stack(config)
    check_access(stack)
    started = time.monotonic()
    summary = _plan_with_progress(stack)
    if summary.empty:
        err_console.print(f"Stack [bold]{config.stack}[/bold] is up to date; nothing to change.")
        outputs = stack.runner.outputs()
    else:
        _print_plan_summary(summary)
        err_console.print(cost_line)
        where = config.endpoint_url or f"AWS account (region {config.region})"
        confirm_or_refuse(f"Apply these changes to stack {config.stack!r} in {where}?", yes)
        with TerraformProgress(
            err_console, "applying", expected=summary.add + summary.change + summary.destroy
        ) as progress:
            outputs = apply_plan(stack, progress.on_event)
        err_console.print(
            f"[green]Stack {config.stack} is up[/green] in {time.monotonic() - started:.0f}s."
        )
    if as_json:
        emit_json(outputs)
    else:
        _print_outputs(outputs)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_state
def status(state: CliState, as_json: bool) -> None:
    """Show the stack: outputs, resources, the instance's state and drift.

    Drift is a fresh plan: anything changed outside cafepipe shows up as pending changes.

    \b
    Examples:
      cafepipe status
      cafepipe status --json | jq .in_sync
    """
    from cafepipe.stack import check_access, open_stack, stack_status

    stack = open_stack(state.config())
    check_access(stack)
    with err_console.status("reading state and checking for drift…"):
        report = stack_status(stack)
    if as_json:
        emit_json(report)
        return
    if not report["deployed"]:
        out_console.print(f"Stack [bold]{report['stack']}[/bold] is not deployed.")
        return
    _print_outputs(report["outputs"], title=f"Stack {report['stack']}")
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


@cli.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def destroy(state: CliState, yes: bool, as_json: bool) -> None:
    """Remove everything the stack created, then prove nothing tagged with it remains.

    The bucket is emptied first (its logs are gone for good). Asks before deleting.

    \b
    Examples:
      cafepipe destroy
      cafepipe destroy --yes --json
    """
    from cafepipe.progress import TerraformProgress
    from cafepipe.stack import check_access, destroy_stack, open_stack

    config = state.config()
    stack = open_stack(config)
    check_access(stack)
    where = config.endpoint_url or f"AWS account (region {config.region})"
    confirm_or_refuse(
        f"Destroy stack {config.stack!r} in {where}, including bucket {config.bucket_name} "
        "and its logs?",
        yes,
    )
    with TerraformProgress(err_console, "destroying") as progress:
        report = destroy_stack(stack, progress.on_event)
    if as_json:
        emit_json(report)
    else:
        out_console.print(
            f"[green]Destroyed[/green] stack {report['stack']}: {report['destroyed']} resources "
            f"in {report['seconds']}s; verified nothing of it remains."
        )


@cli.group()
def emulator() -> None:
    """A local AWS emulator (moto server on 127.0.0.1) running in the background.

    \b
    Examples:
      cafepipe emulator start --port 5000
      cafepipe --endpoint-url http://127.0.0.1:5000 up --yes
      cafepipe emulator stop
    """


@emulator.command("start")
@click.option("--port", type=click.IntRange(1024, 65535), help="Port (default: a free one).")
@pass_state
def emulator_start(state: CliState, port: int | None) -> None:
    """Start the emulator (or report the one already running)."""
    from cafepipe.emulator import start_emulator

    info = start_emulator(state.config().state_root, port)
    out_console.print(f"Emulator running at [bold]{info.url}[/bold] (pid {info.pid}).")
    err_console.print(
        f"Use it with: --endpoint-url {info.url}  (or export AWS_ENDPOINT_URL={info.url})"
    )


@emulator.command("stop")
@pass_state
def emulator_stop(state: CliState) -> None:
    """Stop the background emulator (its state is in memory: everything in it is gone)."""
    from cafepipe.emulator import stop_emulator

    stopped = stop_emulator(state.config().state_root)
    out_console.print("Emulator stopped." if stopped else "No emulator was running.")


@emulator.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_state
def emulator_status_command(state: CliState, as_json: bool) -> None:
    """Is the emulator running, and where."""
    from cafepipe.emulator import emulator_status

    report = emulator_status(state.config().state_root)
    if as_json:
        emit_json(report)
    elif report["running"]:
        out_console.print(f"Emulator running at {report['url']} (pid {report['pid']}).")
    else:
        out_console.print("No emulator running.")


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the stack and the emulator running at the end.")
@click.option(
    "--lines",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Lines of simulated traffic to deliver.",
)
@pass_state
def demo(state: CliState, keep: bool, lines: int) -> None:
    """The whole lifecycle offline: emulator → up → status → simulate-logs → insights → destroy.

    Needs no AWS account: a local emulator, the real Terraform and the real AWS provider.

    \b
    Examples:
      cafepipe demo
      make demo
    """
    from cafepipe.demo import print_demo_report, run_demo

    report = run_demo(state.flags, state.config_file, err_console, keep=keep, lines=lines)
    print_demo_report(report, out_console)


# ---------------------------------------------------------------------------------------
# Log generation: generate-logs (issue 3)
# ---------------------------------------------------------------------------------------


@cli.command("generate-logs")
@click.option(
    "--out", "out", required=True, help="Log file to write; `-` for stdout; gzip if it ends in .gz."
)
@click.option(
    "--lines", type=int, help="Exactly this many lines (spread over the profile's window)."
)
@click.option(
    "--days", type=float, help="A window of this many days, at the profile's daily traffic."
)
@click.option(
    "--start", "start_text", help="Start of the window (ISO 8601, UTC); instead of --days."
)
@click.option(
    "--end", "end_text", default="now", show_default=True, help="End of the window (ISO 8601, UTC)."
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Same seed and options, same bytes."
)
@click.option(
    "--format",
    "log_format",
    type=click.Choice(["json", "combined"]),
    default="json",
    show_default=True,
    help="json: the lab's cloudwatch LogFormat + bytes + geo; combined: Apache combined.",
)
@click.option(
    "--truth", "truth_path", help="Also write the ground truth (insights JSON schema) here."
)
@click.option(
    "--profile",
    type=click.Choice(["lab", "busy-month", "attack"]),
    default="lab",
    show_default=True,
    help="Bundled defaults: lab (a small week), busy-month (13 busy days), attack (scanning).",
)
@click.option(
    "--host",
    default="cafe.example.com",
    show_default=True,
    help="Server name (%V) and referrer host.",
)
@click.option("--conversion", type=float, help="Share of menu-viewing sessions that order.")
@click.option("--bounce", type=float, help="Share of sessions that see one page only.")
@click.option("--bot-share", type=float, help="Share of lines from crawlers and monitors.")
@click.option("--scanner-share", type=float, help="Share of lines from vulnerability scanners.")
@click.option("--error-share", type=float, help="Share of page requests answered 500/503.")
@click.option("--returning-share", type=float, help="Share of sessions with cached assets (304).")
@click.option("--campaign-share", type=float, help="Share of landings from campaign (UTM) links.")
@click.option("--items-per-visit", type=float, help="Mean item pages per session that goes on.")
@click.option("--visitors", type=int, help="Distinct human visitors (default: from the size).")
@click.option("--quiet", is_flag=True, help="No progress and no summary on stderr.")
def generate_logs(
    out: str,
    lines: int | None,
    days: float | None,
    start_text: str | None,
    end_text: str,
    seed: int,
    log_format: str,
    truth_path: str | None,
    profile: str,
    host: str,
    quiet: bool,
    **knobs: float | int | None,
) -> None:
    """Write a realistic, deterministic simulated access log of the café site.

    Visitors from real cities browse the menu and order, on a café's daily rhythm in their
    local time; crawlers, monitors and vulnerability scanners are mixed in. Lines end at
    --end (default now); windows longer than CloudWatch's 14 days are written with a warning.
    The file is complete or absent: it is written beside the target and renamed at the end.

    \b
    Examples:
      cafepipe generate-logs --out access_log                       # lab profile, last 7 days
      cafepipe generate-logs --out big.json.gz --lines 10000000 --seed 7
      cafepipe generate-logs --out - --format combined | goaccess --log-format=COMBINED -
      cafepipe generate-logs --out attack.log --profile attack --truth truth.json
      cafepipe generate-logs --out log --days 3 --end 2026-11-27T00:00:00Z --conversion 0.4
    """
    from cafepipe import generate as generator

    options = generator.build_options(
        profile=profile,
        lines=lines,
        days=days,
        start=generator.parse_time(start_text) if start_text else None,
        end=generator.parse_time(end_text),
        seed=seed,
        log_format=log_format,
        host=host,
        **knobs,
    )
    generator.check_writable(out)
    if truth_path:
        generator.check_writable(truth_path)
    if not quiet:
        for warning in generator.window_warnings(options):
            err_console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    started = time.perf_counter()
    show_progress = not quiet and err_console.is_terminal and options.lines >= 200_000
    try:
        if show_progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(
                TextColumn("generating"),
                BarColumn(),
                TextColumn("{task.completed:,} lines"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("lines", total=options.lines)
                truth = generator.generate_log(options, out, lambda n: bar.advance(task, n))
        else:
            truth = generator.generate_log(options, out)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours.
        sys.stderr.close()
        sys.exit(0)
    if truth_path:
        generator.write_truth(truth, truth_path)
    if not quiet:
        seconds = time.perf_counter() - started
        err_console.print(
            f"wrote {options.lines:,} {log_format} lines ({options.start:%Y-%m-%d %H:%M}Z → "
            f"{options.end:%Y-%m-%d %H:%M}Z, seed {seed}) to {out} in {seconds:.1f} s"
            + (f"; truth in {truth_path}" if truth_path else ""),
            soft_wrap=True,
        )


# ---------------------------------------------------------------------------------------
# Delivery: simulate-logs, ship (issue 4)
# ---------------------------------------------------------------------------------------


def _print_ship_result(data: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("log group / stream", f"{data['log_group']} / {data['log_stream']}")
    table.add_row("lines read", f"{data['lines_read']:,}")
    table.add_row("events sent", f"[green]{data['events_sent']:,}[/green]")
    rejected = data["events_rejected"]
    table.add_row("events rejected", f"[red]{rejected:,}[/red]" if rejected else "0")
    for reason, count in data["rejected"].items():
        if count:
            table.add_row(f"  {reason.replace('_', ' ')}", f"{count:,}")
    if data["empty_lines"]:
        table.add_row("empty lines skipped", f"{data['empty_lines']:,}")
    if data["inherited_timestamps"]:
        table.add_row("lines given the previous time", f"{data['inherited_timestamps']:,}")
    table.add_row("PutLogEvents calls", f"{data['calls']:,}")
    table.add_row("batch fullness", f"{data['batch_fullness']:.1%} of 1,048,576 bytes")
    table.add_row("throughput", f"{data['events_per_second']:,} events/s")
    out_console.print(table)


@cli.command("ship")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--log-group", help="Log group to ship into (default: the stack's access log group).")
@click.option("--stream", help="Log stream (default: the file name); created if missing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_state
def ship_command(
    state: CliState, file: Path, log_group: str | None, stream: str | None, as_json: bool
) -> None:
    """Backfill a log file (plain or .gz) into CloudWatch Logs with PutLogEvents.

    Timestamps come from each line (JSON "time" or combined [dd/Mon/yyyy:HH:MM:SS zone]).
    Batches respect every PutLogEvents limit; events CloudWatch would refuse (older than
    14 days or the group's retention, more than 2 h ahead, too large, no time) are counted
    and reported, not sent. Throttling is retried with backoff. Exit 1 if any was refused.

    \b
    JSON: {"events_sent", "events_rejected", "rejected": {reason: n}, "calls",
           "batch_fullness", "events_per_second", ...}
    \b
    Examples:
      cafepipe ship access_log
      cafepipe ship old.json.gz --log-group apache/access --stream backfill-2026-11 --json
    """
    from cafepipe.aws import AwsClients
    from cafepipe.errors import UsageError
    from cafepipe.ship import ship_file

    config = state.config()
    if not file.is_file():  # exit 2 before any cloud call
        raise UsageError(f"{file}: no such file", "give the path of an access log to ship")
    clients = AwsClients.for_config(config)
    clients.check_credentials()
    group = log_group or config.access_log_group
    result = ship_file(clients.client("logs"), file, group, stream, console=err_console)
    data = result.to_json()
    if as_json:
        emit_json(data)
    else:
        _print_ship_result(data, f"Shipped {file.name}")
    if result.events_rejected:
        err_console.print(
            f"[yellow]{result.events_rejected:,} events were refused[/yellow] "
            "(see the reasons above); CloudWatch Logs keeps 14 days back and 2 hours ahead"
        )
        sys.exit(1)


@cli.command("simulate-logs")
@click.option("--lines", type=click.IntRange(min=1), help="Lines to generate (default 50,000).")
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    help="Days of traffic to generate, ending now (at most 13.5: CloudWatch keeps 14).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Generator seed: the same seed gives the same traffic (its times end now).",
)
@click.option(
    "--profile",
    default="lab",
    show_default=True,
    help="Generator profile: lab, busy-month, attack.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def simulate_logs_command(
    state: CliState,
    lines: int | None,
    days: float | None,
    seed: int,
    profile: str,
    yes: bool,
    as_json: bool,
) -> None:
    """Replace the instance's access log with a big simulated one, and prove every event arrived.

    Generates the log (ground truth kept in .cafepipe/<stack>/simulated/), uploads it to the
    stack's bucket, waits for the instance in Systems Manager, runs one script there (stop
    the agent, back up and swap the log, clear the agent's saved offset, start the agent),
    then counts the events in the instance's log stream until all have arrived. The stream
    is cleared first, so a re-run leaves exactly the new log in it. On the emulator, where
    no instance runs anything, the events are delivered with `ship` instead.

    \b
    JSON: {"events_expected", "events_arrived", "verified", "log_group", "log_stream",
           "bucket", "key", "local_log", "truth_file", "command_id", "command_status", ...}
    \b
    Examples:
      cafepipe simulate-logs --yes                   # 50,000 lines
      cafepipe simulate-logs --days 7 --seed 42
      cafepipe --endpoint-url http://127.0.0.1:5000 simulate-logs --lines 200000 --yes
    """
    from cafepipe.aws import AwsClients
    from cafepipe.simulate import (
        SimulateOptions,
        default_generator,
        simulate_logs,
        validate_options,
    )
    from cafepipe.stack import stack_outputs

    config = state.config()
    options = validate_options(
        SimulateOptions(lines, days, seed, profile), config.log_retention_days
    )
    generate = default_generator(err_console)
    clients = AwsClients.for_config(config)
    clients.check_credentials()
    outputs = stack_outputs(config)
    size = f"{options.lines:,} lines" if options.lines else f"{options.days:g} days"
    confirm_or_refuse(
        f"Replace the access log on {outputs['instance_id']} with {size} of simulated traffic "
        f"and clear its log stream in {outputs['access_log_group']}?",
        yes,
    )
    result = simulate_logs(config, outputs, clients, options, generate, console=err_console)
    if as_json:
        emit_json(result.to_json())
        return
    table = Table(title="Simulated log delivered", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row(
        "events arrived", f"[green]{result.events_arrived:,}[/green] of {result.events_expected:,}"
    )
    table.add_row("log stream", f"{result.log_group} / {result.log_stream}")
    table.add_row("object", f"s3://{result.bucket}/{result.key}")
    table.add_row("ground truth", result.truth_file)
    table.add_row("SSM command", f"{result.command_id} ({result.command_status})")
    out_console.print(table)


# ---------------------------------------------------------------------------------------
# Cost: cost (issue 5)
# ---------------------------------------------------------------------------------------

COST_EPILOG = """\b
Examples:
  cafepipe cost                              # the default stack at the default usage
  cafepipe cost --usage usage.toml           # your own traffic assumptions
  cafepipe --region us-east-2 cost --instance-type t4g.micro --format json
  cafepipe cost --site-access public-ip     # the exercise's layout: + the public IPv4 address
  cafepipe cost --format csv --months 24 > cost.csv

\b
usage.toml (also accepted as [usage] in cafepipe.toml), e.g.:
  log_lines_per_month = 3000000
  s3_storage_gb = 30
  data_out_gb_per_month = 5
"""


@cli.command("cost", epilog=COST_EPILOG)
@click.option(
    "--usage",
    "usage_file",
    type=click.Path(dir_okay=False),
    help="TOML file of usage assumptions (overrides cafepipe.toml [usage]).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--months", type=int, default=12, show_default=True, help="Also total this many months."
)
@click.option("--instance-type", help="Price another instance type (default: the config's).")
@click.option(
    "--site-access",
    type=click.Choice(["cloudfront", "public-ip"]),
    help="Price another way of reaching the site (default: the config's site_access).",
)
@click.option(
    "--rendered",
    "rendered_dir",
    type=click.Path(file_okay=False, exists=True),
    help="Price this already rendered Terraform directory instead of rendering the config.",
)
@pass_state
def cost_command(
    state: CliState,
    usage_file: str | None,
    output_format: str,
    months: int,
    instance_type: str | None,
    site_access: str | None,
    rendered_dir: str | None,
) -> None:
    """What the stack costs per month and per year — offline, before anything is created.

    Fixed items are read from the rendered Terraform (instance, volume, public IPv4, metrics,
    alarms, dashboards, log groups, bucket); usage items (log volume, queries, S3, data out)
    come from documented defaults you can override. Prices are an embedded, dated table of
    AWS list prices, with the always-free tiers applied.
    """
    from cafepipe import cost

    overrides = {"instance_type": instance_type, "site_access": site_access}
    config = state.config(**{k: v for k, v in overrides.items() if v})
    usage = cost.read_usage_file(usage_file) if usage_file else None
    report = cost.estimate_cost(
        config, usage, months=months, terraform_dir=Path(rendered_dir) if rendered_dir else None
    )
    if output_format == "json":
        emit_json(report.to_dict())
    elif output_format == "csv":
        click.echo(cost.report_csv(report), nl=False)
    else:
        _print_cost_table(report)


def _print_cost_table(report: Any) -> None:
    from rich.table import Table

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
        out_console.print(f"  • {assumption}", soft_wrap=False)


# ---------------------------------------------------------------------------------------
# Insights: insights, dashboard (issue 6)
# ---------------------------------------------------------------------------------------

INSIGHTS_EPILOG = """\b
Examples:
  cafepipe insights                                  # the stack's latest simulated log
  cafepipe insights --source access_log.gz --format json > insights.json
  cafepipe insights --source s3://my-bucket/simulated-logs/access_log.json.gz
  cafepipe insights --source logs:apache/access --since 7d       # events pulled back
  cafepipe insights --engine cloudwatch --since 24h               # Logs Insights, priced
  cafepipe insights --format html --out report.html               # self-contained report
  cafepipe insights --format csv > insights.csv   # long format: insight,row,column,value
"""


def _insights_clients(state: CliState, source: str | None, engine: str) -> Any:
    from cafepipe.aws import AwsClients

    cloud = engine == "cloudwatch" or (source or "").startswith(("s3://", "logs:"))
    if not cloud:
        return None
    clients = AwsClients.for_config(state.config())
    clients.check_credentials()
    return clients


def _compute_insights(
    state: CliState, source: str | None, log_format: str, engine: str, since: str | None
) -> Any:
    from cafepipe.insights import compute_insights
    from cafepipe.insights.sources import latest_simulated_log

    config = state.config()
    clients = _insights_clients(state, source, engine)
    if engine == "cloudwatch" and config.emulated:
        err_console.print(
            "[yellow]warning:[/yellow] an emulator such as moto evaluates no Logs Insights "
            "filter/stats, so these answers will be wrong there; "
            f"--engine duckdb --source logs:{config.access_log_group} reads the same events "
            "and answers correctly"
        )
    with err_console.status("reading the log and answering the questions…"):
        return compute_insights(
            source,
            latest_simulated_log(config.stack_dir),
            config.access_log_group,
            clients,
            engine=engine,
            log_format=log_format,
            since=since,
        )


_source_option = click.option(
    "--source",
    help="FILE (plain or .gz, JSON or combined), s3://bucket/key, or logs:<group> "
    "(default: the stack's latest simulated log).",
)


@cli.command("insights", epilog=INSIGHTS_EPILOG)
@_source_option
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "combined"]),
    default="auto",
    show_default=True,
    help="Log line format (auto: detected from the first lines).",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "cloudwatch", "athena"]),
    default="duckdb",
    show_default=True,
    help="duckdb: computed here; cloudwatch: Logs Insights on the log group (priced); "
    "athena: not available in this version.",
)
@click.option("--since", help="Only lines from this long ago or this date on: 7d, 24h, 2026-11-01.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout."
)
@pass_state
def insights_command(
    state: CliState,
    source: str | None,
    log_format: str,
    engine: str,
    since: str | None,
    output_format: str,
    out: Path | None,
) -> None:
    """What the café owner wants to know, from the access log.

    Traffic by day, hour and weekday; visitors; top pages; menu items looked at and
    ordered; menu visitors vs purchasers and the conversion rate; cities, regions and
    countries; referrers and campaigns; devices and browsers; errors and slow pages; bots,
    scanner probes and the addresses behind them. Malformed lines are counted
    (invalid_lines) and skipped.

    \b
    JSON: the schema of DESIGN.md (requests, invalid_lines, bytes, unique_ips,
    status_classes, top_paths, menu_views, order_requests, menu_visitors, purchasers,
    conversion_rate, by_city, by_region, by_country, hourly, bot_requests,
    scanner_requests) plus one key per other insight, and "meta" (source, engine; for
    cloudwatch: bytes_scanned and cost_usd at $0.005/GB).
    """
    from cafepipe.insights.report import write_output

    run = _compute_insights(state, source, log_format, engine, since)
    write_output(run.data, run.meta, output_format, out, out_console)
    if engine == "cloudwatch" and output_format == "table":
        err_console.print(
            f"Logs Insights scanned {run.meta['bytes_scanned']:,} bytes "
            f"(${run.meta['cost_usd']:.6f} at $0.005/GB)"
        )
    if out is not None:
        err_console.print(f"wrote {out}")


@cli.command("dashboard")
@click.option(
    "--preview",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write FILE: the dashboard's answers computed locally, as an HTML report.",
)
@_source_option
@pass_state
def dashboard_command(state: CliState, preview: Path | None, source: str | None) -> None:
    """Print the CloudWatch dashboard body the stack deploys (JSON), generated from the catalog.

    Markdown section headers (Traffic, Customers, Menu and orders, Where customers are,
    Noise and security, Operations) and one Logs Insights widget per insight.

    \b
    Examples:
      cafepipe dashboard > dashboard.json
      cafepipe dashboard --preview report.html                 # from the simulated log
      cafepipe dashboard --preview report.html --source access_log
    """
    from cafepipe.dashboard import dashboard_body
    from cafepipe.insights.report import write_output

    config = state.config()
    body = dashboard_body(config)
    if preview is not None:
        run = _compute_insights(state, source, "auto", "duckdb", None)
        run.meta["engine"] = f"preview of dashboard {config.dashboard_name}, computed locally"
        write_output(run.data, run.meta, "html", preview, out_console)
        err_console.print(f"wrote {preview}")
    emit_json(body)


if __name__ == "__main__":  # pragma: no cover
    main()
