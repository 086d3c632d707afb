"""Alerts on the emulator: `up` with alert_email → the topic, subscription, key, alarms,
function, role and schedule read back through boto3 → a second plan is empty → `alerts test`
and `report --send` reach a queue subscribed to the topic → `destroy` leaves nothing."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cafepipe._lambda.weekly_report import QUERY_IDS
from cafepipe.aws import AwsClients
from cafepipe.cli import cli
from cafepipe.config import ALERT_OUTPUTS, STACK_OUTPUTS, load_config
from cafepipe.deploy.alerts import REPORT_ZIP_FILE, schedule_cron, utc_schedule
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.insights.duckdb_engine import load_log, run_catalog
from cafepipe.insights.queries import INSIGHTS_BY_ID
from cafepipe.insights.summary import summarize
from cafepipe.logs.generate import build_options, generate_log

pytestmark = pytest.mark.integration

STACK = "alerts-it"
PREFIX = f"cafepipe-{STACK}"
EMAIL = "owner@example.com"
ACCOUNT = "123456789012"  # moto's
HEADLINE = tuple(INSIGHTS_BY_ID[query_id] for query_id in QUERY_IDS)
ALARMS = [f"{PREFIX}-{name}" for name in ("server-errors", "site-silent", "orders-low",
                                          "scanner-surge")]  # fmt: skip


def run_cli(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return json.loads(result.stdout) if "--json" in args else result.stdout


def _plain(value: Any) -> Any:
    # IAM writes a single value as itself or as a one-item list: compare them alike.
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list) and len(value) == 1:
        return _plain(value[0])
    return value


def statements(policy: str | dict[str, Any]) -> dict[str, dict[str, Any]]:
    document = json.loads(policy) if isinstance(policy, str) else policy
    return {s.get("Sid", ""): _plain(s) for s in document["Statement"]}


def actions(statement: dict[str, Any]) -> set[str]:
    found = statement["Action"]
    return {found} if isinstance(found, str) else set(found)


def test_up_alerts_test_report_send_destroy(tmp_path: Path, emulator: EmulatorInfo) -> None:
    config_file = tmp_path / "cafepipe.toml"
    # The alerts do not depend on how visitors reach the site; the public-ip layout has the
    # fewest network resources, which keeps this test within its minute.
    config_file.write_text(
        f'alert_email = "{EMAIL}"\ntimezone = "Europe/Paris"\nsite_access = "public-ip"\n'
        '[report]\nweekly = "mon 08:00"\n'
    )
    base = ["--config", str(config_file), "--stack", STACK, "--state-dir", str(tmp_path),
            "--endpoint-url", emulator.url]  # fmt: skip
    outputs = run_cli([*base, "up", "--yes", "--json"])
    destroyed = False
    clients = AwsClients("us-east-1", emulator.url)
    queue_url = None
    try:
        for name in (*STACK_OUTPUTS, *ALERT_OUTPUTS):
            assert outputs.get(name), name
        topic = outputs["alert_topic_arn"]
        assert topic == f"arn:aws:sns:us-east-1:{ACCOUNT}:{PREFIX}-alerts"
        assert outputs["alert_alarm_names"] == ALARMS
        assert_the_topic_is_encrypted_private_and_subscribed(clients, topic)
        assert_the_alarms_notify_the_topic(clients, topic, outputs["access_log_group"])
        assert_the_report_function_and_its_schedule(clients, tmp_path, topic, outputs)

        # `status` plans afresh: a second plan is empty; and it shows the subscription.
        status = run_cli([*base, "status", "--json"])
        assert status["in_sync"] is True, status["drift"]
        assert status["alerts"]["subscription"] == {
            "email": EMAIL, "state": "confirmed",
            "subscription_arn": status["alerts"]["subscription"]["subscription_arn"],
        }  # fmt: skip
        assert status["alerts"]["subscription"]["subscription_arn"].startswith(topic + ":")

        # A queue subscribed to the topic stands in for the owner's mailbox.
        sqs = clients.client("sqs")
        queue_url = sqs.create_queue(QueueName=f"{STACK}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns = clients.client("sns")
        inbox = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        inbox_arn = inbox["SubscriptionArn"]

        tested = run_cli([*base, "alerts", "test", "--json"])
        assert tested["delivered"] is True and tested["subscription"]["state"] == "confirmed"
        (note,) = received(sqs, queue_url)
        assert note["Subject"] == f"cafepipe test: alerts for stack {STACK} reach you"
        assert note["MessageId"] == tested["message_id"]
        assert "Nothing is wrong" in note["Message"]

        week = tmp_path / "week.log"
        put_a_week_of_traffic(clients, outputs["access_log_group"], week)
        sent = run_cli([*base, "report", "--send", "--json"])
        assert sent["sent"] is True and sent["queries"] == 16 and sent["failures"] == []
        # The emulator evaluates Logs Insights: the figures are DuckDB's on the same lines.
        loaded = load_log(week)
        truth = summarize(run_catalog(loaded, HEADLINE), loaded.invalid_lines, HEADLINE)
        this = sent["figures"]["this"]
        for key in ("requests", "unique_ips", "menu_views", "menu_visitors", "order_requests",
                    "purchasers", "conversion_rate", "bot_requests", "scanner_requests",
                    "orders_by_city", "items_ordered"):  # fmt: skip
            assert this[key] == truth[key], key
        assert this["server_errors"] == truth["status_classes"]["5xx"]
        assert truth["requests"] == 400 and truth["order_requests"] > 0
        assert sent["figures"]["previous"]["requests"] == 0  # nothing the week before
        assert sent["bytes_scanned"] > 0
        (mail,) = received(sqs, queue_url)
        assert mail["MessageId"] == sent["message_id"]
        assert mail["Subject"] == sent["subject"]
        assert mail["Subject"].startswith(f"Cafe weekly report ({STACK}):")
        assert mail["Message"] == sent["message"]
        assert mail["Message"].startswith(
            f"Weekly report of the café site (cafepipe stack {STACK})"
        )
        assert "(Europe/Paris), compared with the 7 days before." in mail["Message"]

        status = run_cli([*base, "alerts", "status", "--json"])
        assert [a["name"] for a in status["alarms"]] == ALARMS
        assert status["subscription"]["state"] == "confirmed"
        assert status["report"] == {
            "function": f"{PREFIX}-weekly-report",
            "schedule": "mon 08:00 Europe/Paris",
        }
        sns.unsubscribe(SubscriptionArn=inbox_arn)

        report = run_cli([*base, "destroy", "--yes", "--json"])
        destroyed = True
        assert report["leftovers"] == []
        assert_nothing_of_the_alerts_left(clients, topic)
    finally:
        if queue_url:
            clients.client("sqs").delete_queue(QueueUrl=queue_url)
        if not destroyed:
            run_cli([*base, "destroy", "--yes"])


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    messages = reply.get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]  # SNS's envelope


def assert_the_topic_is_encrypted_private_and_subscribed(clients: AwsClients, topic: str) -> None:
    sns, kms = clients.client("sns"), clients.client("kms")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    key = kms.describe_key(KeyId=f"alias/{PREFIX}-alerts")["KeyMetadata"]
    assert attributes["KmsMasterKeyId"] == key["Arn"]  # a key of its own, not alias/aws/sns
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    key_policy = statements(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    alarm_arns = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{PREFIX}-*"
    cloudwatch_use = key_policy["StackAlarmsEncryptNotifications"]
    assert cloudwatch_use["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert actions(cloudwatch_use) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch_use["Condition"]["ArnLike"]["aws:SourceArn"] == alarm_arns

    policy = statements(attributes["Policy"])
    assert set(policy) == {"StackAlarmsPublish", "WeeklyReportPublishes", "TlsOnly"}
    alarms = policy["StackAlarmsPublish"]
    assert alarms["Effect"] == "Allow" and actions(alarms) == {"sns:Publish"}
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"]["ArnLike"]["aws:SourceArn"] == alarm_arns
    assert alarms["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    report = policy["WeeklyReportPublishes"]
    assert report["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-weekly-report"}
    tls = policy["TlsOnly"]
    assert tls["Effect"] == "Deny" and tls["Principal"] in ("*", {"AWS": "*"})
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The only Allow statements are those two: nobody else is granted anything by the topic.
    assert {sid for sid, s in policy.items() if s["Effect"] == "Allow"} == {
        "StackAlarmsPublish", "WeeklyReportPublishes",
    }  # fmt: skip

    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", EMAIL)]


def assert_the_alarms_notify_the_topic(clients: AwsClients, topic: str, log_group: str) -> None:
    found = clients.client("cloudwatch").describe_alarms(AlarmNames=ALARMS)["MetricAlarms"]
    alarms = {alarm["AlarmName"]: alarm for alarm in found}
    assert sorted(alarms) == sorted(ALARMS)
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
        assert alarm["ActionsEnabled"] is True and len(alarm["AlarmDescription"]) > 60
    errors = alarms[f"{PREFIX}-server-errors"]
    assert errors["Threshold"] == 5 and errors["ComparisonOperator"] == "GreaterThanThreshold"
    share = next(m for m in errors["Metrics"] if m["Id"] == "share")
    assert share["Expression"].startswith("IF(FILL(requests, 0) >= 20, 100 * FILL(errors, 0)")
    assert {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in errors["Metrics"]
            if "MetricStat" in m} == {"errors": "Http5xx", "requests": "Requests"}  # fmt: skip
    silent = alarms[f"{PREFIX}-site-silent"]
    assert silent["TreatMissingData"] == "breaching" and silent["MetricName"] == "Requests"
    assert silent["EvaluationPeriods"] * silent["Period"] == 180 * 60
    orders = alarms[f"{PREFIX}-orders-low"]
    assert orders["ThresholdMetricId"] == "expected"
    assert orders["ComparisonOperator"] == "LessThanLowerThreshold"
    band = next(m for m in orders["Metrics"] if m["Id"] == "expected")
    assert band["Expression"] == "ANOMALY_DETECTION_BAND(orders, 2)"
    scanners = alarms[f"{PREFIX}-scanner-surge"]
    assert scanners["MetricName"] == "ScannerProbes" and scanners["Threshold"] == 100
    filters = clients.client("logs").describe_metric_filters(logGroupName=log_group)
    metrics = {f["metricTransformations"][0]["metricName"] for f in filters["metricFilters"]}
    assert {"Requests", "ScannerProbes", "Http5xx", "Orders"} <= metrics


def assert_the_report_function_and_its_schedule(
    clients: AwsClients, tmp_path: Path, topic: str, outputs: dict[str, Any]
) -> None:
    lam, iam, events = clients.client("lambda"), clients.client("iam"), clients.client("events")
    name = outputs["report_function_name"]
    function = lam.get_function(FunctionName=name)["Configuration"]
    zipped = (tmp_path / STACK / "terraform" / REPORT_ZIP_FILE).read_bytes()
    assert function["CodeSha256"] == base64.b64encode(hashlib.sha256(zipped).digest()).decode()
    assert function["Handler"] == "weekly_report.handler" and function["Timeout"] == 180
    assert function["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-weekly-report"

    role = f"{PREFIX}-weekly-report"
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["weekly-report"]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    inline = iam.get_role_policy(RoleName=role, PolicyName="weekly-report")
    granted = statements(inline["PolicyDocument"])
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{outputs['access_log_group']}"
    query = granted["QueryTheAccessLog"]
    assert actions(query) == {"logs:StartQuery", "logs:GetQueryResults"}
    assert sorted(query["Resource"]) == [group_arn, f"{group_arn}:*"]
    assert actions(granted["StopItsQueries"]) == {"logs:StopQuery"}
    assert granted["PublishTheReport"]["Resource"] == topic
    assert actions(granted["PublishTheReport"]) == {"sns:Publish"}
    assert set(granted) == {"QueryTheAccessLog", "StopItsQueries", "PublishTheReport",
                            "EncryptForTheTopic", "WriteItsOwnLog"}  # fmt: skip

    rule = events.describe_rule(Name=f"{PREFIX}-weekly-report")
    config = load_config(None, {"timezone": "Europe/Paris"}, environ={})
    assert config.report_weekly is not None
    expected = schedule_cron(utc_schedule(config.report_weekly, "Europe/Paris",
                                          datetime.now(timezone.utc)))  # fmt: skip
    assert rule["ScheduleExpression"] == expected and rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == function["FunctionArn"]
    assert json.loads(target["Input"]) == {"topic_arn": topic}
    (permission,) = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert permission["Principal"] == {"Service": "events.amazonaws.com"}
    assert permission["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]


def put_a_week_of_traffic(clients: AwsClients, log_group: str, path: Path) -> None:
    """A few hundred simulated lines of the last six days, sent as the agent would."""
    now = datetime.now(timezone.utc)
    options = build_options(
        lines=400, start=now - timedelta(days=6), end=now - timedelta(hours=1), seed=5,
        log_format="json",
    )  # fmt: skip
    generate_log(options, path)
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        moment = datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00"))
        events.append({"timestamp": int(moment.timestamp() * 1000), "message": line})
    logs = clients.client("logs")
    logs.create_log_stream(logGroupName=log_group, logStreamName="report-test")
    logs.put_log_events(logGroupName=log_group, logStreamName="report-test", logEvents=events)


def assert_nothing_of_the_alerts_left(clients: AwsClients, topic: str) -> None:
    """Asked of the emulator itself: every kind of alerts resource is gone."""
    topics = clients.client("sns").list_topics()["Topics"]
    assert topic not in [t["TopicArn"] for t in topics]
    lam = clients.client("lambda")
    assert not [
        f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(PREFIX)
    ]
    rules = clients.client("events").list_rules(NamePrefix=PREFIX)["Rules"]
    assert rules == []
    roles = clients.client("iam").list_roles()["Roles"]
    assert not [r for r in roles if r["RoleName"].startswith(PREFIX)]
    alarms = clients.client("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]
    assert alarms == []
    kms = clients.client("kms")
    aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert f"alias/{PREFIX}-alerts" not in aliases
    groups = clients.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{PREFIX}")
    assert groups["logGroups"] == []
