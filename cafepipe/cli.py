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
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cafepipe import __version__
from cafepipe.config import StackConfig, load_config
from cafepipe.demo import print_demo_report, run_demo
from cafepipe.emulator import emulator_status, start_emulator, stop_emulator
from cafepipe.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CafepipeError,
    NotConfirmedError,
)
from cafepipe.progress import TerraformProgress
from cafepipe.stack import (
    PlanSummary,
    Stack,
    apply_plan,
    check_access,
    destroy_stack,
    open_stack,
    plan_stack,
    stack_status,
)

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
    if not sys.stdin.isatty():
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
    envvar="AWS_ENDPOINT_URL",
    help="An AWS-compatible endpoint (emulator), e.g. http://127.0.0.1:5000. Env: AWS_ENDPOINT_URL.",
)
@click.option(
    "--terraform-bin",
    envvar="CAFEPIPE_TERRAFORM_BIN",
    help="Use this terraform/tofu binary instead of the bundled Terraform. Env: CAFEPIPE_TERRAFORM_BIN.",
)
@click.option("--state-dir", help="Where stacks keep rendered files and state (default: .cafepipe).")
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
    except click.exceptions.Abort:
        err_console.print("[red]interrupted[/red]")
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
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
        err_console.print(f"  {mark} {resource['address']} [dim]({resource['action']})[/dim]")
    err_console.print(
        f"Plan: [bold]{summary.add}[/bold] to add, [bold]{summary.change}[/bold] to change, "
        f"[bold]{summary.destroy}[/bold] to destroy."
    )


def _plan_with_progress(stack: Stack) -> PlanSummary:
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
    config = state.config()
    stack = open_stack(config)
    check_access(stack)
    started = time.monotonic()
    summary = _plan_with_progress(stack)
    if summary.empty:
        err_console.print(f"Stack [bold]{config.stack}[/bold] is up to date; nothing to change.")
        outputs = stack.runner.outputs()
    else:
        _print_plan_summary(summary)
        where = config.endpoint_url or f"AWS account (region {config.region})"
        confirm_or_refuse(f"Apply these changes to stack {config.stack!r} in {where}?", yes)
        with TerraformProgress(err_console, "applying", expected=summary.add + summary.change + summary.destroy) as progress:
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
    out_console.print(f"Resources: {len(report['resources'])}; instance: {report['instance_state']}")
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
    info = start_emulator(state.config().state_root, port)
    out_console.print(f"Emulator running at [bold]{info.url}[/bold] (pid {info.pid}).")
    err_console.print(f"Use it with: --endpoint-url {info.url}  (or export AWS_ENDPOINT_URL={info.url})")


@emulator.command("stop")
@pass_state
def emulator_stop(state: CliState) -> None:
    """Stop the background emulator (its state is in memory: everything in it is gone)."""
    stopped = stop_emulator(state.config().state_root)
    out_console.print("Emulator stopped." if stopped else "No emulator was running.")


@emulator.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_state
def emulator_status_command(state: CliState, as_json: bool) -> None:
    """Is the emulator running, and where."""
    report = emulator_status(state.config().state_root)
    if as_json:
        emit_json(report)
    elif report["running"]:
        out_console.print(f"Emulator running at {report['url']} (pid {report['pid']}).")
    else:
        out_console.print("No emulator running.")


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the stack and the emulator running at the end.")
@pass_state
def demo(state: CliState, keep: bool) -> None:
    """The whole lifecycle offline: emulator → up → status → … → destroy, with timings.

    Needs no AWS account: a local emulator, the real Terraform and the real AWS provider.

    \b
    Examples:
      cafepipe demo
      make demo
    """
    report = run_demo(state.flags, state.config_file, err_console, keep=keep)
    print_demo_report(report, out_console)

# ---------------------------------------------------------------------------------------
# Log generation: generate-logs (issue 3)
# ---------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------
# Delivery: simulate-logs, ship (issue 4)
# ---------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------
# Cost: cost (issue 5)
# ---------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------
# Insights: insights, dashboard (issue 6)
# ---------------------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
