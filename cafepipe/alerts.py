"""Alerts on a deployed stack: the owner's subscription, a test notification, the weekly report.

Plain functions over AWS clients and the stack's outputs; `cafepipe alerts …`, `cafepipe
report` and `cafepipe status` call them. The weekly report is computed by the same code the
stack's Lambda function runs (`cafepipe._lambda.weekly_report`), with the settings render
zips beside it, here with the caller's credentials.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import botocore.exceptions

from cafepipe._lambda import weekly_report as report_function
from cafepipe.aws import AwsClients, aws_error, describe_client_error
from cafepipe.config import StackConfig
from cafepipe.errors import AwsError, UsageError

CONFIRMED = "confirmed"
PENDING = "pending confirmation"
NOT_SUBSCRIBED = "not subscribed"
TEST_SUBJECT = "cafepipe test: alerts for stack {stack} reach you"


def alerts_off_error(config: StackConfig) -> UsageError:
    return UsageError(
        f"stack {config.stack!r} has no alerts",
        'set alert_email = "you@example.com" in cafepipe.toml, then run `cafepipe up`',
    )


def topic_of(config: StackConfig, outputs: Mapping[str, Any]) -> str:
    """The alerts topic of a deployed stack; a usage error when alerts are off."""
    topic = outputs.get("alert_topic_arn")
    if not topic:
        raise alerts_off_error(config)
    return str(topic)


def _aws_error(what: str, exc: Exception) -> AwsError:
    return aws_error(what, exc, "check the stack with `cafepipe status`")


def subscription_state(clients: AwsClients, topic_arn: str, email: str | None) -> dict[str, Any]:
    """Whether `email` is subscribed to the topic, and confirmed.

    AWS lists an unconfirmed e-mail subscription with the ARN "PendingConfirmation".
    """
    sns = clients.client("sns")
    try:
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        subscriptions = [s for page in pages for s in page.get("Subscriptions", [])]
    except botocore.exceptions.ClientError as exc:
        raise _aws_error(f"could not read the subscriptions of {topic_arn}", exc) from None
    wanted = (email or "").lower()
    for subscription in subscriptions:
        if subscription.get("Protocol") != "email":
            continue
        endpoint = str(subscription.get("Endpoint", ""))
        if wanted and endpoint.lower() != wanted:
            continue
        email = email or endpoint  # alert_email since removed from the config: the stack's
        arn = str(subscription.get("SubscriptionArn", ""))
        state = PENDING if arn in ("PendingConfirmation", "") else CONFIRMED
        return {"email": email, "state": state, "subscription_arn": arn if arn else None}
    return {"email": email, "state": NOT_SUBSCRIBED, "subscription_arn": None}


def alarm_states(clients: AwsClients, names: list[str]) -> list[dict[str, str]]:
    """Each alarm's state (OK, ALARM, INSUFFICIENT_DATA) and why, in the given order."""
    if not names:
        return []
    try:
        reply = clients.client("cloudwatch").describe_alarms(AlarmNames=names)
    except botocore.exceptions.ClientError as exc:
        raise _aws_error("could not read the alarms", exc) from None
    found = {alarm["AlarmName"]: alarm for alarm in reply.get("MetricAlarms", [])}
    return [
        {
            "name": name,
            "state": str(found[name].get("StateValue", "")) if name in found else "missing",
            "reason": str(found[name].get("StateReason", "")) if name in found else "",
            "description": str(found[name].get("AlarmDescription", "")) if name in found else "",
        }
        for name in names
    ]


def alerts_status(
    clients: AwsClients, config: StackConfig, outputs: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The alerts part of `status`: subscription, alarms, report schedule; None when off."""
    topic = outputs.get("alert_topic_arn")
    if not topic:
        return None
    schedule = config.report_weekly
    return {
        "topic_arn": topic,
        "subscription": subscription_state(clients, str(topic), config.alert_email),
        "alarms": alarm_states(clients, [str(n) for n in outputs.get("alert_alarm_names") or []]),
        "report": {
            "function": outputs.get("report_function_name"),
            "schedule": f"{schedule} {config.timezone}" if schedule else "off",
        },
    }


def status_section(
    clients: AwsClients, config: StackConfig, outputs: Mapping[str, Any]
) -> dict[str, Any] | None:
    """`alerts_status` for `cafepipe status`, which still shows the rest when AWS refuses."""
    try:
        return alerts_status(clients, config, outputs)
    except AwsError as exc:
        return {"topic_arn": outputs.get("alert_topic_arn"), "error": exc.message}


def send_test(
    clients: AwsClients,
    config: StackConfig,
    outputs: Mapping[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Publish a test notification to the alerts topic; say whether it can reach the owner."""
    topic = topic_of(config, outputs)
    subscription = subscription_state(clients, topic, config.alert_email)
    moment = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    message = (
        f"This is a test from cafepipe (stack {config.stack}, sent {moment}).\n\n"
        "When the café site fails, goes silent, gets far fewer orders than usual or is "
        "scanned for weaknesses, an alarm e-mail like this one reaches this address, and "
        "another when it recovers. The weekly report arrives here too"
        + (f" ({config.report_weekly}, {config.timezone})." if config.report_weekly else ".")
        + "\n\nNothing is wrong; there is nothing to do.\n"
    )
    try:
        reply = clients.client("sns").publish(
            TopicArn=topic,
            Subject=TEST_SUBJECT.format(stack=config.stack),
            Message=message,
        )
    except botocore.exceptions.ClientError as exc:
        raise _aws_error(f"could not publish to {topic}", exc) from None
    return {
        "topic_arn": topic,
        "message_id": reply.get("MessageId"),
        "subscription": subscription,
        "delivered": subscription["state"] == CONFIRMED,
    }


def weekly_report(
    clients: AwsClients,
    config: StackConfig,
    outputs: Mapping[str, Any],
    *,
    send: bool = False,
    now: datetime | None = None,
    poll_interval: float = 2.0,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """This week's report, computed as the stack's function computes it; published if `send`.

    `send` needs the stack's alerts (the topic); without it any deployed stack has a report.
    """
    from cafepipe.deploy.alerts import report_settings

    topic = topic_of(config, outputs) if send else None
    settings = report_settings(config)
    settings["access_log_group"] = outputs.get("access_log_group") or config.access_log_group
    report = report_function.build_report(
        clients.client("logs"),
        settings,
        now or datetime.now(timezone.utc),
        poll_interval=poll_interval,
        timeout=timeout,
        sleep=sleep,
        clock=clock,
    )
    result = report.as_dict()
    result["sent"] = False
    if topic is not None:
        try:
            result["message_id"] = report_function.publish(clients.client("sns"), topic, report)
        except botocore.exceptions.ClientError as exc:
            raise _aws_error(f"could not publish the report to {topic}", exc) from None
        result["sent"] = True
        result["topic_arn"] = topic
        result["subscription"] = subscription_state(clients, topic, config.alert_email)
    return result


# ------------------------------------------------------------------- destroy's leftovers


def _gone(call: Callable[[], Any]) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if "NotFound" in code or code in ("404", "InvalidParameter"):
            return True
        raise AwsError(f"could not check a resource: {describe_client_error(exc)}") from exc
    return False


def alert_resource_exists(
    clients: AwsClients, rtype: str, values: Mapping[str, Any]
) -> bool | None:
    """Whether one alerts resource from the state still exists; None for other types."""
    rid = str(values.get("id"))
    if rtype == "aws_sns_topic":
        sns = clients.client("sns")
        return not _gone(lambda: sns.get_topic_attributes(TopicArn=values.get("arn") or rid))
    if rtype == "aws_sns_topic_subscription":
        sns = clients.client("sns")
        return not _gone(lambda: sns.get_subscription_attributes(SubscriptionArn=rid))
    if rtype == "aws_lambda_function":
        name = values.get("function_name") or rid
        return not _gone(lambda: clients.client("lambda").get_function(FunctionName=name))
    if rtype == "aws_cloudwatch_event_rule":
        name = values.get("name") or rid
        return not _gone(lambda: clients.client("events").describe_rule(Name=name))
    if rtype == "aws_scheduler_schedule":
        name = values.get("name") or rid
        return not _gone(lambda: clients.client("scheduler").get_schedule(Name=name))
    if rtype == "aws_kms_key":
        # A deleted key waits out its deletion window: pending deletion is gone.
        kms = clients.client("kms")
        found: list[dict[str, Any]] = []
        if _gone(lambda: found.append(kms.describe_key(KeyId=rid)["KeyMetadata"])):
            return False
        return found[0].get("KeyState") not in ("PendingDeletion", "Disabled")
    if rtype == "aws_kms_alias":
        aliases = clients.client("kms").list_aliases().get("Aliases", [])
        return any(alias.get("AliasName") == values.get("name") for alias in aliases)
    return None
