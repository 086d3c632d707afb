"""The `cafepipe` command group, its global options, and `main`: the one error boundary.

Commands parse arguments, call one core function and hand its result to a view
(`cafepipe.cli.views`). Every exception becomes one message and an exit code in `main`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import sys

import click

from cafepipe import __version__
from cafepipe.cli.alerts_commands import COMMANDS as ALERTS_COMMANDS
from cafepipe.cli.analysis_commands import COMMANDS as ANALYSIS_COMMANDS
from cafepipe.cli.check_command import COMMANDS as CHECK_COMMANDS
from cafepipe.cli.context import CliState
from cafepipe.cli.logs_commands import COMMANDS as LOGS_COMMANDS
from cafepipe.cli.stack_commands import COMMANDS as STACK_COMMANDS
from cafepipe.config import DEFAULT_CONFIG_FILE, ENV_PREFIX, STATE_ROOT
from cafepipe.errors import EXIT_OK

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


for _command in (
    *STACK_COMMANDS,
    *CHECK_COMMANDS,
    *LOGS_COMMANDS,
    *ANALYSIS_COMMANDS,
    *ALERTS_COMMANDS,
):
    cli.add_command(_command)


# Set by a shell asking for tab completion (click's shell_completion).
COMPLETE_VAR = "_CAFEPIPE_COMPLETE"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; every exception becomes one message and an exit code here.

    The mapping is `cafepipe.cli.failures.describe_failure`; `--debug` re-raises instead
    (the traceback). click's own `main` is bypassed on purpose: it would turn an EOFError (a
    truncated .gz) into "interrupted" and a broken stdout into exit 1.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    if os.environ.get(COMPLETE_VAR):
        cli.main(args, prog_name="cafepipe")  # shell completion: answers and exits
    contexts: list[click.Context] = []
    try:
        with cli.make_context("cafepipe", args) as ctx:
            contexts.append(ctx)
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, --version, ctx.exit(n)
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # `cafepipe` alone: the help, exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # a bad flag: click's words, our format
        _fail(exc, contexts, args)
    except OSError as exc:
        if exc.errno == errno.EPIPE and _stdout_is_broken():
            _silence_stdout()  # `cafepipe … | head`: the reader has what it wanted
            sys.exit(EXIT_OK)
        if debug:
            raise
        _fail(exc, contexts, args)
    except (Exception, KeyboardInterrupt) as exc:
        if debug:
            raise
        _fail(exc, contexts, args)
    sys.exit(EXIT_OK)


def _fail(exc: BaseException, contexts: list[click.Context], args: list[str]) -> None:
    from cafepipe.cli.failures import describe_failure

    command = contexts[0].invoked_subcommand if contexts else None
    failure = describe_failure(exc, command=command, user_paths=_user_paths(contexts, args))
    with contextlib.suppress(OSError):  # stderr is gone too: the exit code still tells
        click.echo(failure.render(color=True), err=True)
    sys.exit(failure.exit_code)


def _user_paths(contexts: list[click.Context], args: list[str]) -> list[str]:
    """Every path the user may have given: argument and option values, the state dir, the
    config file (see the OSError rule of `cafepipe.cli.failures`)."""
    paths = [arg.partition("=")[2] if arg.startswith("--") else arg for arg in args]
    paths += [STATE_ROOT, DEFAULT_CONFIG_FILE, os.environ.get(f"{ENV_PREFIX}STATE_DIR", "")]
    state = contexts[0].obj if contexts else None
    loaded = getattr(state, "_config", None)  # the config, if a command loaded it
    if loaded is not None:
        paths.append(str(loaded.state_root))
    return [path for path in paths if path and path != "-"]


def _stdout_is_broken() -> bool:
    """Whether stdout is a pipe whose reader went away (as after `| head`)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if any(events & select.POLLERR for _, events in poller.poll(0)):
            return True
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (AttributeError, OSError, ValueError):  # no real stdout (captured, closed)
        return False
    return False


def _silence_stdout() -> None:
    # Python flushes stdout at exit; into a dead pipe that prints "Exception ignored…".
    with contextlib.suppress(AttributeError, OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
