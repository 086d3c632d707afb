"""Commands that build, show and remove the stack: render, plan, up, status, destroy, emulator,
demo."""

from __future__ import annotations

import click

from cafepipe.cafe.limits import EC2_USER_DATA_MAX_BYTES
from cafepipe.cli.context import CliState, confirm_or_refuse, pass_state, where
from cafepipe.cli.views import (
    emit_json,
    err_console,
    out_console,
    print_demo_report,
    print_outputs,
    print_plan_summary,
    print_status,
)


@click.command()
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

    from cafepipe.deploy.render import render_stack_files

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
        f"gzip-compressed (EC2 limit {EC2_USER_DATA_MAX_BYTES})."
    )


@click.command()
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
    from cafepipe.deploy.stack import check_access, open_stack, plan_stack

    stack = open_stack(state.config())
    check_access(stack)
    with state.reporter.terraform("planning") as on_event:
        summary = plan_stack(stack, on_event)
    if as_json:
        emit_json(summary.as_dict())
    else:
        print_plan_summary(summary, state.verbose)


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as JSON.")
@pass_state
def up(state: CliState, yes: bool, as_json: bool) -> None:
    """Create or update the stack: render → init → plan → apply, then print its outputs.

    Shows the plan and what the stack costs per month, and asks before changing anything
    (--yes skips the question). After a failed run, running it again applies what is still
    missing; an up-to-date stack is left alone.

    \b
    Examples:
      cafepipe up                       # in your AWS account (credentials from the usual chain)
      cafepipe --region eu-west-1 up --yes
      cafepipe --endpoint-url http://127.0.0.1:5000 up --yes   # on `cafepipe emulator start`
    """
    from cafepipe.cost import monthly_total_line
    from cafepipe.deploy.stack import PlanSummary, open_stack, up_stack

    config = state.config()
    # Priced before any cloud call, so a bad [usage] table fails early (exit 2).
    cost_line = monthly_total_line(config)

    def approve(summary: PlanSummary) -> None:
        print_plan_summary(summary, state.verbose)
        err_console.print(cost_line)
        confirm_or_refuse(f"Apply these changes to stack {config.stack!r} in {where(config)}?", yes)

    result = up_stack(open_stack(config), approve, state.reporter)
    if result.changed:
        err_console.print(f"[green]Stack {config.stack} is up[/green] in {result.seconds:.0f}s.")
    else:
        err_console.print(f"Stack [bold]{config.stack}[/bold] is up to date; nothing to change.")
    if as_json:
        emit_json(result.outputs)
    else:
        print_outputs(result.outputs)


@click.command()
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
    from cafepipe.deploy.stack import check_access, open_stack, stack_status

    stack = open_stack(state.config())
    check_access(stack)
    with err_console.status("reading state and checking for drift…"):
        report = stack_status(stack)
    if as_json:
        emit_json(report)
    else:
        print_status(report)


@click.command()
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
    from cafepipe.deploy.stack import check_access, destroy_stack, open_stack

    config = state.config()
    stack = open_stack(config)
    check_access(stack)
    confirm_or_refuse(
        f"Destroy stack {config.stack!r} in {where(config)}, including bucket "
        f"{config.bucket_name} and its logs?",
        yes,
    )
    report = destroy_stack(stack, state.reporter)
    if as_json:
        emit_json(report)
    else:
        out_console.print(
            f"[green]Destroyed[/green] stack {report['stack']}: {report['destroyed']} resources "
            f"in {report['seconds']}s; verified nothing of it remains."
        )


@click.group()
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
    from cafepipe.deploy.emulator import start_emulator

    info = start_emulator(state.config().state_root, port)
    out_console.print(f"Emulator running at [bold]{info.url}[/bold] (pid {info.pid}).")
    err_console.print(
        f"Use it with: --endpoint-url {info.url}  (or export AWS_ENDPOINT_URL={info.url})"
    )


@emulator.command("stop")
@pass_state
def emulator_stop(state: CliState) -> None:
    """Stop the background emulator (its state is in memory: everything in it is gone)."""
    from cafepipe.deploy.emulator import stop_emulator

    stopped = stop_emulator(state.config().state_root)
    out_console.print("Emulator stopped." if stopped else "No emulator was running.")


@emulator.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_state
def emulator_status_command(state: CliState, as_json: bool) -> None:
    """Is the emulator running, and where."""
    from cafepipe.deploy.emulator import emulator_status

    report = emulator_status(state.config().state_root)
    if as_json:
        emit_json(report)
    elif report["running"]:
        out_console.print(f"Emulator running at {report['url']} (pid {report['pid']}).")
    else:
        out_console.print("No emulator running.")


@click.command()
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
    from cafepipe.demo import run_demo

    report = run_demo(state.flags, state.config_file, state.reporter, keep=keep, lines=lines)
    print_demo_report(report)


COMMANDS = (render, plan, up, status, destroy, emulator, demo)
