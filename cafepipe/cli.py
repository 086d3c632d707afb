"""The `cafepipe` command line: thin click commands over the plain modules of the package.

Commands parse arguments and call the core; errors become one message and an exit code in
`main` (exit codes in `cafepipe.errors`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cafepipe import __version__
from cafepipe.config import StackConfig, load_config
from cafepipe.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CafepipeError,
    NotConfirmedError,
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
