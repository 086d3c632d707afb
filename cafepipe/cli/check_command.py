"""`cafepipe check`: prove the chain site → access log → agent → CloudWatch Logs, any time;
and the same check at the end of `up`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from cafepipe.cli.context import CliState, pass_state
from cafepipe.cli.views import emit_json, err_console, print_probe_result
from cafepipe.config import StackConfig
from cafepipe.reporting import Reporter

if TYPE_CHECKING:  # boto3 is imported when a command runs, not at start-up
    from cafepipe.aws import AwsClients
    from cafepipe.deploy.probe import ProbeResult

# cafepipe.deploy.probe.DEFAULT_TIMEOUT (a test checks they agree): a fresh instance installs
# Apache and the agent before it can answer.
DEFAULT_TIMEOUT = 600.0


@click.command()
@click.option(
    "--timeout",
    type=click.FloatRange(min=1, max=3600),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait, in all, for the site to answer and the request to arrive.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def check(state: CliState, timeout: float, as_json: bool) -> None:
    """Prove the pipeline works: request the site, then find that request in CloudWatch Logs.

    Requests the site's URL with a unique marker in the query string, waits until the
    request is an event in the access log group, and says how long it took. When it does not
    arrive, says which link broke: the site (no answer), Systems Manager (instance not
    online), the CloudWatch agent (not running: its log is shown), the access log (Apache did
    not write it) or the delivery (events not arriving). Exits 1 when the chain is broken.

    On the emulator no instance runs: the site, SSM and agent legs are skipped, and cafepipe
    puts the marker event into the group itself (deleted afterwards) to check the rest.
    The request counts as bot traffic in the insights.

    \b
    JSON: {"ok", "broken", "summary", "hint", "marker", "url", "log_group", "emulated",
           "arrival_seconds", "legs": [{"name", "state", "detail", "seconds"}],
           "agent_log_tail", "user_data_log_tail", "boot_status"}
    \b
    Examples:
      cafepipe check
      cafepipe check --timeout 120 --json | jq .broken
      cafepipe --endpoint-url http://127.0.0.1:5000 check
    """
    from cafepipe.deploy.probe import ProbeFailedError, probe_stack
    from cafepipe.deploy.stack import check_access, open_stack, stack_outputs

    config = state.config()
    stack = open_stack(config)
    check_access(stack)
    outputs = stack_outputs(config)
    result = probe_stack(config, outputs, stack.clients, state.reporter, timeout=timeout)
    if as_json:
        emit_json(result.as_dict())
    else:
        print_probe_result(result)
    if not result.ok:
        raise ProbeFailedError(result)


def check_after_up(
    config: StackConfig,
    outputs: Mapping[str, Any],
    reporter: Reporter,
    clients: AwsClients | None = None,
    **probe_options: Any,
) -> ProbeResult | None:
    """`up`'s last step on AWS: the probe, its table on stderr (stdout is `up`'s data).

    Raises ProbeFailedError (exit 1) when the chain is broken: the stack is up, but does not
    deliver what it is for. On an emulator it does nothing (`cafepipe check` runs there).
    """
    if config.emulated:
        return None  # nothing runs on the instance there; `cafepipe check` says what it can
    from cafepipe.aws import AwsClients
    from cafepipe.deploy.probe import ProbeFailedError, probe_stack

    reporter.say("checking the chain: a marked request to the site, followed into the log group")
    clients = clients or AwsClients.for_config(config)
    result = probe_stack(config, outputs, clients, reporter, **probe_options)
    print_probe_result(result, err_console)
    if not result.ok:
        raise ProbeFailedError(result, f"stack {config.stack} is up, but the check failed")
    return result


COMMANDS = (check,)
