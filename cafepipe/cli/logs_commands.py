"""Commands for the access log: generate-logs, ship, simulate-logs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from cafepipe.cli.context import CliState, confirm_or_refuse, pass_state
from cafepipe.cli.views import (
    ConsoleReporter,
    emit_json,
    err_console,
    print_ship_result,
    print_simulate_result,
)


@click.command("generate-logs")
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
    help="json: the stack's JSON access log (with bytes and geography); combined: Apache combined.",
)
@click.option(
    "--truth", "truth_path", help="Also write the ground truth (insights JSON schema) here."
)
@click.option(
    "--profile",
    default="week",
    show_default=True,
    help="Bundled defaults: week (a small café's week), busy-month (13 busy days), attack "
    "(scanning).",
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
      cafepipe generate-logs --out access_log                       # week profile, the last 7 days
      cafepipe generate-logs --out big.json.gz --lines 10000000 --seed 7
      cafepipe generate-logs --out - --format combined | goaccess --log-format=COMBINED -
      cafepipe generate-logs --out attack.log --profile attack --truth truth.json
      cafepipe generate-logs --out log --days 3 --end 2026-11-27T00:00:00Z --conversion 0.4
    """
    from cafepipe.logs import generate as generator

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
    reporter = ConsoleReporter(err_console)
    if not quiet:
        for warning in generator.window_warnings(options):
            reporter.warn(warning)
    started = time.perf_counter()
    show_progress = not quiet and err_console.is_terminal and options.lines >= 200_000
    try:
        if show_progress:
            with reporter.progress("generating", options.lines) as advance:
                truth = generator.generate_log(options, out, advance)
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


@click.command("ship")
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
    from cafepipe.logs.ship import ship_file

    config = state.config()
    if not file.is_file():  # exit 2 before any cloud call
        raise UsageError(f"{file}: no such file", "give the path of an access log to ship")
    clients = AwsClients.for_config(config)
    clients.check_credentials()
    group = log_group or config.access_log_group
    result = ship_file(clients.client("logs"), file, group, stream, reporter=state.reporter)
    data = result.to_json()
    if as_json:
        emit_json(data)
    else:
        print_ship_result(data, f"Shipped {file.name}")
    if result.events_rejected:
        err_console.print(
            f"[yellow]{result.events_rejected:,} events were refused[/yellow] "
            "(see the reasons above); CloudWatch Logs keeps 14 days back and 2 hours ahead"
        )
        sys.exit(1)


@click.command("simulate-logs")
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
    default="week",
    show_default=True,
    help="Generator profile: week, busy-month, attack.",
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
    from cafepipe.deploy.stack import stack_outputs
    from cafepipe.logs.simulate import (
        SimulateOptions,
        default_generator,
        simulate_logs,
        validate_options,
    )

    config = state.config()
    options = validate_options(
        SimulateOptions(lines, days, seed, profile), config.log_retention_days
    )
    generate = default_generator(state.reporter)
    clients = AwsClients.for_config(config)
    clients.check_credentials()
    outputs = stack_outputs(config)
    size = f"{options.lines:,} lines" if options.lines else f"{options.days:g} days"
    confirm_or_refuse(
        f"Replace the access log on {outputs['instance_id']} with {size} of simulated traffic "
        f"and clear its log stream in {outputs['access_log_group']}?",
        yes,
    )
    result = simulate_logs(config, outputs, clients, options, generate, reporter=state.reporter)
    if as_json:
        emit_json(result.to_json())
    else:
        print_simulate_result(result)


COMMANDS = (generate_logs, ship_command, simulate_logs_command)
