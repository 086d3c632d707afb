"""Commands that build, show and remove the stack: render, plan, up, status, destroy, emulator,
demo."""

from __future__ import annotations

import sys

import click

from cafepipe.cafe.limits import EC2_USER_DATA_MAX_BYTES
from cafepipe.cli.context import CliState, confirm_or_refuse, pass_state, where
from cafepipe.cli.views import (
    emit_json,
    err_console,
    fleet_line,
    out_console,
    print_demo_report,
    print_destroy_report,
    print_orphans,
    print_outputs,
    print_plan_summary,
    print_status,
)
from cafepipe.deploy.lock import DEFAULT_LOCK_TIMEOUT

lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_LOCK_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait while another cafepipe command works on the stack (holds its lock).",
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

    from cafepipe.deploy.lock import stack_lock
    from cafepipe.deploy.render import render_stack_files

    config = state.config()
    with stack_lock(config, "render", reporter=state.reporter):  # `up` may be reading them
        result = render_stack_files(config)
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

    Never waits: while another command works on the stack (`up` at its question, `destroy`),
    it says so and exits 1. What `up` applies is always the plan that `up` itself showed.

    \b
    JSON: {"add": N, "change": N, "destroy": N, "resources": [{"address", "action"}]}
    \b
    Examples:
      cafepipe plan
      cafepipe --endpoint-url http://127.0.0.1:5000 plan --json
    """
    from cafepipe.deploy.lock import StackLockedError, holder, stack_lock
    from cafepipe.deploy.stack import check_access, open_stack, plan_stack

    config = state.config()
    stack = open_stack(config)
    check_access(stack)
    busy = holder(config)
    if busy is not None:
        raise StackLockedError(
            f"stack {config.stack!r} is being worked on by {busy.describe()}; plan does not wait",
            "run it again when that command has finished; `cafepipe status` shows the stack "
            "meanwhile",
        )
    # Rendering and init write the stack's files: held briefly, never waited for.
    with stack_lock(config, "plan", timeout=0), state.reporter.terraform("planning") as on_event:
        summary = plan_stack(stack, on_event, reporter=state.reporter)
    if as_json:
        emit_json(summary.as_dict())
    else:
        print_plan_summary(summary, state.verbose)


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as JSON.")
@click.option(
    "--no-check", is_flag=True, help="Skip the final check (a marked request followed to the logs)."
)
@lock_timeout_option
@pass_state
def up(state: CliState, yes: bool, as_json: bool, no_check: bool, lock_timeout: float) -> None:
    """Create or update the stack: render → init → plan → apply, then print its outputs.

    Shows the plan and what the stack costs per month, and asks before changing anything
    (--yes skips the question). After a failed run, running it again applies what is still
    missing; an up-to-date stack is left alone. On AWS it ends with `cafepipe check`: a
    marked request to the site, followed until it is in CloudWatch Logs (--no-check skips it).

    One command at a time works on a stack: a second one waits (--lock-timeout) and shows
    who holds it. The plan shown is the plan applied. Ctrl-C once stops after the operations
    in progress (saved in the state: running `up` again continues); twice stops at once.

    \b
    Examples:
      cafepipe up                       # in your AWS account (credentials from the usual chain)
      cafepipe --region eu-west-1 up --yes
      cafepipe --endpoint-url http://127.0.0.1:5000 up --yes   # on `cafepipe emulator start`
    """
    from cafepipe.cost import monthly_total_line
    from cafepipe.deploy.lock import lock_stack
    from cafepipe.deploy.stack import (
        PlanSummary,
        check_access,
        fleet_status,
        open_stack,
        up_stack,
    )

    config = state.config()
    # Priced before any cloud call, so a bad [usage] table fails early (exit 2).
    cost_line = monthly_total_line(config)

    def approve(summary: PlanSummary) -> None:
        print_plan_summary(summary, state.verbose)
        err_console.print(cost_line)
        confirm_or_refuse(f"Apply these changes to stack {config.stack!r} in {where(config)}?", yes)

    stack = open_stack(config)
    check_access(stack)  # before the lock: nothing is written for an endpoint that is not there
    with lock_stack(config, "up", lock_timeout, state.reporter):
        result = up_stack(stack, approve, state.reporter)
    if result.changed:
        err_console.print(f"[green]Stack {config.stack} is up[/green] in {result.seconds:.0f}s.")
    else:
        err_console.print(f"Stack [bold]{config.stack}[/bold] is up to date; nothing to change.")
    fleet = fleet_status(stack.clients, result.outputs)
    if fleet:
        err_console.print(f"The {fleet_line(fleet)}.")
    if as_json:
        emit_json(result.outputs)
    else:
        print_outputs(result.outputs)
    if not no_check:
        from cafepipe.cli.check_command import check_after_up

        check_after_up(config, result.outputs, state.reporter)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_state
def status(state: CliState, as_json: bool) -> None:
    """Show the stack: outputs, resources, the instance's state, drift and orphans.

    Drift is a fresh plan: anything changed outside cafepipe shows up as pending changes.
    Orphans are resources carrying the stack's tag that its state does not hold (left by a
    run stopped at once, or made by hand): `cafepipe destroy` removes them. Reads only and
    never waits: while another command works on the stack, drift is not checked.

    \b
    Examples:
      cafepipe status
      cafepipe status --json | jq .in_sync
    """
    from cafepipe.deploy.stack import check_access, open_stack, stack_status

    stack = open_stack(state.config())
    check_access(stack)
    with err_console.status("reading state, checking for drift and orphans…"):
        report = stack_status(stack)
    if as_json:
        emit_json(report)
    else:
        print_status(report)
        print_orphans(report["orphans"], report.get("locked_by"), report.get("stale_state"))


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--forget",
    is_flag=True,
    help="Do not run Terraform: set the state aside (a copy is kept) and delete what carries "
    "the stack's tag. For a state whose resources are gone or cannot be read back.",
)
@lock_timeout_option
@pass_state
def destroy(state: CliState, yes: bool, as_json: bool, forget: bool, lock_timeout: float) -> None:
    """Remove everything the stack created, then prove nothing tagged with it remains.

    Resources carrying the stack's tag that its state does not hold (orphans) are listed,
    and removed with the rest after the same question: instances, then network interfaces
    and endpoints, subnets, route tables and gateways, security groups, the VPC; buckets
    (emptied first: their logs are gone for good), log groups, dashboards, alarms, saved
    queries, the alerts' schedule, function, topic and key, roles with their profiles and
    policies, CloudFront. Nothing without the stack's tag is touched. Ctrl-C once stops after
    the deletions in progress; run it again to finish.

    \b
    JSON: {"stack", "destroyed", "resources", "orphans_deleted", "forgotten_state",
           "seconds", "leftovers"}
    \b
    Examples:
      cafepipe destroy
      cafepipe destroy --yes --json
      cafepipe destroy --forget     # resources deleted by hand: Terraform cannot read them back
    """
    from cafepipe.deploy.lock import lock_stack
    from cafepipe.deploy.stack import check_access, destroy_stack, open_stack, plan_destroy

    config = state.config()
    question = (
        f"Destroy stack {config.stack!r} in {where(config)}, including bucket "
        f"{config.bucket_name} and its logs"
    )
    if not yes and (sys.stdin is None or not sys.stdin.isatty()):
        confirm_or_refuse(question + "?", yes)  # no one to ask: refuse before anything runs
    stack = open_stack(config)
    check_access(stack)
    with lock_stack(config, "destroy", lock_timeout, state.reporter):
        with err_console.status("reading the state and looking for the stack's resources…"):
            plan = plan_destroy(stack, forget, state.reporter)
        if plan.orphans:
            title = (
                "Resources carrying the stack's tag (the state is set aside: all are deleted)"
                if forget
                else "Resources carrying the stack's tag that its state does not hold"
            )
            print_orphans([f.as_dict() for f in plan.orphans], title=title, console=err_console)
        also = f" and {len(plan.orphans)} resources listed above" if plan.orphans else ""
        confirm_or_refuse(f"{question}{also}?", yes)
        report = destroy_stack(stack, state.reporter, plan=plan)
    if as_json:
        emit_json(report)
    else:
        print_destroy_report(report)


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
@click.option(
    "--profile",
    type=click.Choice(["single", "fleet"]),
    default=None,
    help="The stack's profile: one server, or a fleet of servers behind a load balancer "
    "(default: the config's, else single).",
)
@pass_state
def demo(state: CliState, keep: bool, lines: int, profile: str | None) -> None:
    """The whole lifecycle offline: emulator → up → check → status → simulate-logs → insights
    (from the log group, then from the S3 data lake on Athena) → destroy.

    Needs no AWS account: a local emulator, the real Terraform and the real AWS provider.

    \b
    Examples:
      cafepipe demo
      cafepipe demo --profile fleet     # two servers behind a load balancer (~2–3 min)
      make demo
    """
    from cafepipe.demo import run_demo

    report = run_demo(
        state.flags, state.config_file, state.reporter, keep=keep, lines=lines, profile=profile
    )
    print_demo_report(report)


COMMANDS = (render, plan, up, status, destroy, emulator, demo)
