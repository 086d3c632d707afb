"""The `cafepipe` command group, its global options, and `main`: the one error boundary.

Commands parse arguments, call one core function and hand its result to a view
(`cafepipe.cli.views`). Every exception becomes one message and an exit code in `main`.
"""

from __future__ import annotations

import sys

import click

from cafepipe import __version__
from cafepipe.cli.analysis_commands import COMMANDS as ANALYSIS_COMMANDS
from cafepipe.cli.context import CliState
from cafepipe.cli.logs_commands import COMMANDS as LOGS_COMMANDS
from cafepipe.cli.stack_commands import COMMANDS as STACK_COMMANDS
from cafepipe.cli.views import err_console
from cafepipe.errors import EXIT_INTERRUPTED, EXIT_USAGE, CafepipeError

# Commands import the core they need when they run: `cafepipe insights` on a local file should
# not pay for boto3, Terraform or the emulator at start-up.

EPILOG = """\b
Examples:
  cafepipe demo                          # the whole lifecycle offline, on a local emulator
  cafepipe cost                          # what the stack costs per month, before creating it
  cafepipe up --yes                      # create the stack in your AWS account
  cafepipe simulate-logs --days 7        # fill the dashboard with a week of café traffic
  cafepipe insights --format html --out report.html
  cafepipe destroy --yes                 # remove everything, and check nothing is left
"""


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
@click.option("-v", "--verbose", is_flag=True, help="Show every resource as Terraform works.")
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
    verbose: bool,
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
        verbose=verbose,
    )


for _command in (*STACK_COMMANDS, *LOGS_COMMANDS, *ANALYSIS_COMMANDS):
    cli.add_command(_command)


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
