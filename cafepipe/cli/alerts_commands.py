"""Commands that reach the owner without being asked: `alerts test|status` and `report`."""

from __future__ import annotations

from typing import Any

import click

from cafepipe.cli.context import CliState, pass_state
from cafepipe.cli.views import (
    emit_json,
    print_alert_test,
    print_alerts_status,
    print_weekly_report,
)
from cafepipe.config import StackConfig


def _deployed(config: StackConfig) -> tuple[Any, dict[str, Any]]:
    """The stack's AWS clients and outputs, after checking the endpoint and credentials."""
    from cafepipe.deploy.stack import check_access, open_stack, stack_outputs

    stack = open_stack(config)
    outputs = stack_outputs(config)
    check_access(stack)
    return stack.clients, outputs


@click.group(epilog="See docs/alerts.md for what each alarm means and what to do.")
def alerts() -> None:
    """E-mail alerts: alarms and the weekly report reach the owner (alert_email).

    \b
    With alert_email = "owner@example.com" in cafepipe.toml, `cafepipe up` creates an
    encrypted SNS topic with that address subscribed (AWS e-mails a link to confirm), four
    alarms (server errors, site silent, orders well below normal, a surge of scanner
    probes) that notify it when they fire and when they clear, and the weekly report.
    """


@alerts.command("test")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def alerts_test(state: CliState, as_json: bool) -> None:
    """Send a test notification to the owner; say if the subscription is unconfirmed.

    \b
    Examples:
      cafepipe alerts test
      cafepipe alerts test --json | jq .delivered

    JSON: {"topic_arn", "message_id", "delivered", "subscription": {"email", "state",
    "subscription_arn"}} — state is "confirmed", "pending confirmation" or "not subscribed".
    """
    from cafepipe.alerts import alerts_off_error, send_test

    config = state.config()
    if not config.alerts_enabled:
        raise alerts_off_error(config)
    clients, outputs = _deployed(config)
    result = send_test(clients, config, outputs)
    if as_json:
        emit_json(result)
    else:
        print_alert_test(result)


@alerts.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_state
def alerts_status_command(state: CliState, as_json: bool) -> None:
    """Show the alarms and their states, the subscription and the report's schedule.

    \b
    Examples:
      cafepipe alerts status
      cafepipe alerts status --json | jq '.alarms[] | select(.state == "ALARM")'
    """
    from cafepipe.alerts import alerts_off_error, alerts_status

    config = state.config()
    clients, outputs = _deployed(config)
    result = alerts_status(clients, config, outputs)
    if result is None:
        raise alerts_off_error(config)
    if as_json:
        emit_json(result)
    else:
        print_alerts_status(result)


@click.command("report")
@click.option("--send", is_flag=True, help="Also e-mail it to the owner, through the alerts topic.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def report(state: CliState, send: bool, as_json: bool) -> None:
    """This week's report: the last 7 days against the 7 before, as the weekly e-mail has it.

    The same code as the stack's weekly report function, run here with your credentials:
    headline Logs Insights queries on the access log (visitors, orders, conversion, top
    cities and items, robots and probes) and what they cost. A query that fails or is
    throttled leaves its figures out, and the report says so.

    \b
    Examples:
      cafepipe report                # show it
      cafepipe report --send         # and e-mail it now (needs alert_email)
      cafepipe report --json | jq .figures.this.conversion_rate
    """
    from cafepipe._lambda.weekly_report import QUERY_IDS, WINDOWS
    from cafepipe.alerts import alerts_off_error, weekly_report

    config = state.config()
    if send and not config.alerts_enabled:
        raise alerts_off_error(config)
    clients, outputs = _deployed(config)
    queries = len(QUERY_IDS) * len(WINDOWS)
    with state.reporter.status(f"running {queries} Logs Insights queries…"):
        result = weekly_report(clients, config, outputs, send=send)
    if as_json:
        emit_json(result)
    else:
        print_weekly_report(result)


COMMANDS = (alerts, report)
