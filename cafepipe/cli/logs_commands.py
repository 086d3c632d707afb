"""Commands for the access log: generate-logs, ship, simulate-logs."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from cafepipe.cli.context import CliState, confirm_or_refuse, pass_state
from cafepipe.cli.stack_commands import lock_timeout_option
from cafepipe.cli.views import (
    ConsoleReporter,
    emit_json,
    err_console,
    print_ship_result,
    print_simulate_result,
)
from cafepipe.deploy.lock import lock_stack


def command_line(state: CliState, *args: str) -> str:
    """The cafepipe command that does this again, with the global options in force."""
    words = ["cafepipe"]
    if state.config_file:
        words += ["--config", state.config_file]
    for name in ("stack", "region", "state_dir", "endpoint_url"):
        value = state.flags.get(name)
        if value:
            words += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join([*words, *args])


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
@click.option(
    "--timezone",
    "zone",
    help="The café's IANA time zone, for the truth's café hours and weekdays (default: the "
    "config's timezone, as insights uses it).",
)
@click.option("--quiet", is_flag=True, help="No progress and no summary on stderr.")
@pass_state
def generate_logs(
    state: CliState,
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
    zone: str | None,
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
        # The config is read only when no zone is given (the log itself needs no config).
        timezone=zone if zone is not None else state.config().timezone,
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
@lock_timeout_option
@pass_state
def ship_command(
    state: CliState,
    file: Path,
    log_group: str | None,
    stream: str | None,
    as_json: bool,
    lock_timeout: float,
) -> None:
    """Backfill a log file (plain or .gz) into CloudWatch Logs with PutLogEvents.

    Timestamps come from each line (JSON "time" or combined [dd/Mon/yyyy:HH:MM:SS zone]).
    Batches respect every PutLogEvents limit; events CloudWatch would refuse (older than
    14 days or the group's retention, more than 2 h ahead, too large, no time) are counted
    and reported, not sent. Throttling is retried with backoff. Exit 1 if any was refused.

    Exactly once: a checkpoint in the stack's state folder records the last batch the
    service accepted, so running the same command again after Ctrl-C, a crash or an error
    sends only what is missing, and after a complete run sends nothing. A call whose answer
    was lost is not resent blindly: its events are looked for in the stream first. With no
    checkpoint (another machine, a deleted state folder) the file is compared with the
    events already in the stream. See docs/delivery.md.

    \b
    JSON: {"events_sent", "events_delivered", "resumed_from", "found_in_stream",
           "events_rejected", "rejected": {reason: n}, "calls", "unanswered_calls",
           "resent_unconfirmed", "batch_fullness", "events_per_second", "checkpoint", ...}
    \b
    Examples:
      cafepipe ship access_log
      cafepipe ship access_log            # again: resumes, or says it is all there
      cafepipe ship old.json.gz --log-group apache/access --stream backfill-2026-11 --json
    """
    from cafepipe.aws import AwsClients
    from cafepipe.errors import UsageError
    from cafepipe.logs.checkpoint import CheckpointStore
    from cafepipe.logs.ship import SHIP_CHECKPOINT_DIR, ship_file

    config = state.config()
    if not file.is_file():  # exit 2 before any cloud call
        raise UsageError(f"{file}: no such file", "give the path of an access log to ship")
    clients = AwsClients.for_config(config)
    clients.check_credentials()
    group = log_group or config.access_log_group
    if group in (config.access_log_group, config.error_log_group):  # the stack's: its lock
        click.get_current_context().with_resource(
            lock_stack(config, "ship", lock_timeout, state.reporter)
        )
    again = command_line(
        state,
        "ship",
        str(file),
        *(["--log-group", log_group] if log_group else []),
        *(["--stream", stream] if stream else []),
    )
    result = ship_file(
        # ship is the one retry layer: it must see each unanswered call to check the stream.
        clients.single_attempt_client("logs"),
        file,
        group,
        stream,
        reporter=state.reporter,
        checkpoints=CheckpointStore(
            config.stack_dir / SHIP_CHECKPOINT_DIR, config.endpoint_url, config.region
        ),
        resume_hint=f"run the same command again: `{again}`",
        # An emulator shows stored events at once; AWS after a short delay.
        confirm_wait=0.0 if config.emulated else 30.0,
    )
    data = result.to_json()
    if as_json:
        emit_json(data)
    else:
        print_ship_result(data, f"Shipped {file.name}")
    if result.resent_unconfirmed:
        err_console.print(
            f"[yellow]{result.resent_unconfirmed:,} events were sent again[/yellow] after calls "
            "whose answer was lost and whose events the stream did not show: if the service "
            "had stored them after all, they are there twice (docs/delivery.md)"
        )
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
@click.option(
    "--keep-earlier",
    is_flag=True,
    help="Keep the instance's earlier log streams (insights over the group then counts them "
    "too); by default they are removed once this run's stream holds every event.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@lock_timeout_option
@pass_state
def simulate_logs_command(
    state: CliState,
    lines: int | None,
    days: float | None,
    seed: int,
    profile: str,
    keep_earlier: bool,
    yes: bool,
    as_json: bool,
    lock_timeout: float,
) -> None:
    """Replace the instance's access log with a big simulated one, and prove every event arrived.

    Generates the log (ground truth kept in .cafepipe/<stack>/simulated/), uploads it to the
    stack's bucket, waits for the instance in Systems Manager, runs one script there (stop
    the agent, point it at a new log stream, back up and swap the log, clear the agent's
    saved offset, start the agent), then counts the events in the new stream until all have
    arrived. On the emulator, where no instance runs anything, the events are delivered with
    `ship` instead.

    Streams and runs: each run delivers into a stream of its own,
    <instance id>/simulated-<run id>. Nothing in CloudWatch Logs is deleted until that stream
    holds every event of the new log; then the instance's earlier streams (<instance id> and
    earlier runs) are removed, so the log group holds exactly the new log. Any failure or
    Ctrl-C before that leaves the earlier events where they were, and a re-run converges
    the same way. --keep-earlier keeps them. See docs/delivery.md.

    On a fleet (profile = "fleet") the log is split over the Auto Scaling group's servers in
    service, by visitor (client address and user agent), one upload, command and stream per
    server. Every run also writes the lake's partitions,
    archive/dt=YYYY-MM-DD/instance=<id>/access.log.gz, one per day and server, with the same
    events as the streams; earlier partitions go with the earlier streams.

    \b
    JSON: {"events_expected", "events_arrived", "verified", "log_group", "log_stream",
           "run_id", "earlier_streams_removed", "earlier_streams_kept", "bucket", "key",
           "local_log", "truth_file", "command_id", "command_status", "profile",
           "instances": [{"instance_id", "log_stream", "key", "events_arrived", ...}],
           "lake": {"prefix", "partitions", "objects", "bytes", "days", ...}, ...}
    \b
    Examples:
      cafepipe simulate-logs --yes                   # 50,000 lines
      cafepipe simulate-logs --days 7 --seed 42
      cafepipe simulate-logs --lines 200000 --keep-earlier --yes
      cafepipe --endpoint-url http://127.0.0.1:5000 simulate-logs --lines 200000 --yes
    """
    from cafepipe.aws import AwsClients
    from cafepipe.deploy.stack import stack_outputs
    from cafepipe.logs.simulate import (
        SimulateOptions,
        default_generator,
        simulate_logs,
        target_servers,
        validate_options,
    )

    config = state.config()
    options = validate_options(
        SimulateOptions(lines, days, seed, profile), config.log_retention_days
    )
    generate = default_generator(state.reporter, config.timezone)
    clients = AwsClients.for_config(config)
    clients.check_credentials()
    if config.stack_dir.is_dir():  # (else stack_outputs says the stack was never created)
        # Held until the command ends: one command at a time works on the stack.
        click.get_current_context().with_resource(
            lock_stack(config, "simulate-logs", lock_timeout, state.reporter)
        )
    outputs = stack_outputs(config)
    servers = target_servers(outputs, clients, config)  # a fleet: its servers in service now
    size = f"{options.lines:,} lines" if options.lines else f"{options.days:g} days"
    afterwards = (
        "keep its earlier log streams"
        if keep_earlier
        else "once every event has arrived in a new stream, remove its earlier log streams"
    )
    confirm_or_refuse(
        f"Replace the access log on {servers.label} with {size} of simulated traffic "
        f"and {afterwards} in {outputs['access_log_group']}?",
        yes,
    )
    result = simulate_logs(
        config,
        outputs,
        clients,
        options,
        generate,
        reporter=state.reporter,
        keep_earlier=keep_earlier,
        servers=servers,
    )
    if as_json:
        emit_json(result.to_json())
    else:
        print_simulate_result(result)


COMMANDS = (generate_logs, ship_command, simulate_logs_command)
