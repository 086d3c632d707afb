"""Alerts without the emulator: config, render (both providers), the schedule in UTC, cost,
the commands' usage errors, and the subscription states AWS reports (Stubber)."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from cafepipe import alerts
from cafepipe.cafe import traffic
from cafepipe.cli import cli, main
from cafepipe.cli.views import print_subscription_line
from cafepipe.config import (
    ALERT_OUTPUTS,
    STACK_OUTPUTS,
    AlertSettings,
    WeeklySchedule,
    load_config,
)
from cafepipe.cost import estimate_cost
from cafepipe.cost.hcl import read_blocks, scan_stack
from cafepipe.deploy.alerts import (
    METRIC_FILTER_PATTERN_LIMIT,
    REPORT_ZIP_FILE,
    scanner_filter_patterns,
    schedule_cron,
    utc_schedule,
)
from cafepipe.deploy.render import render_stack, render_stack_files
from cafepipe.errors import AwsError, ConfigError

sys.path.insert(0, str(Path(__file__).parent))
from test_provider_schema import check_directory  # the 6.x schema check

ENDPOINT = "http://127.0.0.1:4566"
DEAD = "http://127.0.0.1:9"  # nothing listens here
EMAIL = "owner@example.com"


def config_of(tmp_path: Path, toml: str = "", **flags: Any) -> Any:
    path = tmp_path / "cafepipe.toml"
    path.write_text(toml, encoding="utf-8")
    return load_config(path, {"state_dir": str(tmp_path / "state"), **flags}, environ={})


def alerts_config(tmp_path: Path, emulated: bool = False, extra: str = "") -> Any:
    toml = f'alert_email = "{EMAIL}"\ntimezone = "Europe/Paris"\n{extra}'
    flags = {"endpoint_url": ENDPOINT} if emulated else {}
    return config_of(tmp_path, toml, **flags)


# ------------------------------------------------------------------------------- config


def test_alerts_are_off_until_an_email_is_set(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    assert not config.alerts_enabled and config.alert_email is None
    assert config.timezone == "UTC" and config.report_weekly == WeeklySchedule(0, 8, 0)
    assert config.alerts == AlertSettings(5, 180, 100)
    on = alerts_config(
        tmp_path,
        extra='[report]\nweekly = "Friday 17:30"\n[alerts]\nsilent_minutes = 60\n'
        "scanner_probes = 500\nserver_error_percent = 10\n",
    )
    assert on.alerts_enabled and on.alert_email == EMAIL and on.timezone == "Europe/Paris"
    assert on.report_weekly == WeeklySchedule(4, 17, 30) and str(on.report_weekly) == "fri 17:30"
    assert on.alerts == AlertSettings(10, 60, 500)
    off = alerts_config(tmp_path, extra='[report]\nweekly = "off"\n')
    assert off.alerts_enabled and off.report_weekly is None
    # The address's domain is case-insensitive; the environment can set both.
    env = load_config(
        None, {}, environ={"CAFEPIPE_ALERT_EMAIL": "Ops@Cafe.EXAMPLE", "CAFEPIPE_TIMEZONE": "UTC"}
    )
    assert env.alert_email == "Ops@cafe.example"


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('alert_email = "owner"', "alert_email"),
        ('alert_email = "owner@localhost"', "alert_email"),
        ('alert_email = "Owner <owner@example.com>"', "alert_email"),
        ('alert_email = "a b@example.com"', "alert_email"),
        ('alert_email = "owner@example..com"', "alert_email"),
        ('alert_email = "owner@exa_mple.com"', "alert_email"),
        ('alert_email = "owner@example.com\\nBcc: x@evil.test"', "alert_email"),
        ('alert_email = "owner@192.168.0.1"', "alert_email"),
        (f'alert_email = "{"a" * 65}@example.com"', "alert_email"),
        ('timezone = "Mars/Olympus"', "timezone"),
        ('timezone = "../../etc/passwd"', "timezone"),
        ('timezone = "/usr/share/zoneinfo/UTC"', "timezone"),
        ('timezone = "localtime"', "timezone"),
        ('timezone = "+02:00"', "timezone"),
        ('[report]\nweekly = "mon 25:00"', "report.weekly"),
        ('[report]\nweekly = "noon"', "report.weekly"),
        ('[report]\nweekly = "mun 08:00"', "report.weekly"),
        ('[report]\nweekly = "mon 8"', "report.weekly"),
        ('[report]\nmonthly = "1st"', "report.monthly"),
        ('report = "weekly"', "report"),
        ("[alerts]\nsilent_minutes = 17", "alerts.silent_minutes"),
        ("[alerts]\nsilent_minutes = 5", "alerts.silent_minutes"),
        ("[alerts]\nserver_error_percent = 0", "alerts.server_error_percent"),
        ("[alerts]\nserver_error_percent = true", "alerts.server_error_percent"),
        ('[alerts]\nscanner_probes = "100"', "alerts.scanner_probes"),
        ("[alerts]\nscanner_probes = 2.5", "alerts.scanner_probes"),
        ("[alerts]\nvolume = 11", "alerts.volume"),
    ],
)
def test_bad_alert_settings_name_the_field(tmp_path: Path, toml: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_of(tmp_path, toml)
    assert caught.value.field == field
    assert caught.value.exit_code == 2


def test_a_bad_setting_is_exit_2_before_any_cloud_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cafepipe.toml").write_text('alert_email = "not-an-address"\n')
    with pytest.raises(SystemExit) as exited:
        main(
            ["--config", str(tmp_path / "cafepipe.toml"), "--endpoint-url", DEAD, "alerts", "test"]
        )
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "config: alert_email: 'not-an-address' is not an e-mail address" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["alerts", "test"], ["report", "--send"]])
def test_commands_that_need_alerts_say_how_to_turn_them_on(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens at the endpoint and nothing is deployed: the usage error comes first.
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(tmp_path), "--endpoint-url", DEAD, *command])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "stack 'cafe' has no alerts" in err and 'alert_email = "you@example.com"' in err


def test_the_commands_have_help_with_examples() -> None:
    for path in (["alerts"], ["alerts", "test"], ["alerts", "status"], ["report"]):
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, result.output
        assert "Examples:" in result.output or path == ["alerts"], path


# -------------------------------------------------------------------------------- render


def test_no_alerts_renders_no_alerts_module(tmp_path: Path) -> None:
    out = render_stack(config_of(tmp_path))
    assert not (out / "modules" / "alerts").exists() and not (out / REPORT_ZIP_FILE).exists()
    outputs = [b.labels[0] for b in read_blocks(out / "outputs.tf") if b.type == "output"]
    assert tuple(outputs) == STACK_OUTPUTS
    assert 'module "alerts"' not in (out / "main.tf").read_text()


@pytest.mark.parametrize("emulated", [False, True], ids=["aws-6.x", "emulator-3.39"])
def test_alerts_render_the_module_the_zip_and_the_outputs(tmp_path: Path, emulated: bool) -> None:
    config = alerts_config(tmp_path, emulated)
    out = render_stack(config)
    for part in ("main", "variables", "outputs", "versions"):
        assert (out / "modules" / "alerts" / f"{part}.tf").is_file()
    outputs = [b.labels[0] for b in read_blocks(out / "outputs.tf") if b.type == "output"]
    assert tuple(outputs) == STACK_OUTPUTS + ALERT_OUTPUTS
    main = (out / "main.tf").read_text()
    assert 'report_zip           = "${path.module}/lambda/weekly_report.zip"' in main
    variables = (out / "variables.tf").read_text()
    assert f'default     = "{EMAIL}"' in variables
    alerts_tf = (out / "modules" / "alerts" / "main.tf").read_text()
    resources = {
        f"{b.labels[0]}.{b.labels[1]}": b
        for b in read_blocks(out / "modules" / "alerts" / "main.tf")
        if b.type == "resource"
    }
    # Encrypted with a key of its own (CloudWatch cannot use alias/aws/sns), rotated.
    assert "aws_kms_key.alerts" in resources and "enable_key_rotation     = true" in alerts_tf
    assert "kms_master_key_id = aws_kms_key.alerts.arn" in alerts_tf
    assert '"aws:SecureTransport"' in alerts_tf and 'effect    = "Deny"' in alerts_tf
    # Every alarm notifies the topic and notifies again when it clears.
    alarms = [name for name in resources if name.startswith("aws_cloudwatch_metric_alarm.")]
    assert sorted(alarms) == [
        "aws_cloudwatch_metric_alarm.orders_low", "aws_cloudwatch_metric_alarm.scanner_surge",
        "aws_cloudwatch_metric_alarm.server_errors", "aws_cloudwatch_metric_alarm.site_silent",
    ]  # fmt: skip
    for alarm in alarms:
        attributes = resources[alarm].attributes
        assert {"alarm_actions", "ok_actions", "alarm_description"} <= set(attributes), alarm
    assert 'treat_missing_data = "breaching"' in alerts_tf  # the site gone silent
    assert "ANOMALY_DETECTION_BAND(orders, 2)" in alerts_tf
    # The schedule: Scheduler in the café's zone on 6.x, a rule in UTC on 3.39.
    if emulated:
        assert "aws_cloudwatch_event_rule.report" in resources
        assert "aws_scheduler_schedule.report" not in resources
        assert re.search(r'report_schedule = "cron\(0 [67] \? \* MON \*\)"', main)
        assert 'runtime          = "python3.8"' in alerts_tf and "architectures" not in alerts_tf
    else:
        assert "aws_scheduler_schedule.report" in resources
        assert "aws_cloudwatch_event_rule.report" not in resources
        assert 'report_schedule = "cron(0 8 ? * MON *)"' in main
        assert "schedule_expression_timezone = var.timezone" in alerts_tf
        assert 'runtime          = "python3.13"' in alerts_tf and '["arm64"]' in alerts_tf
        assert check_directory(out) == []  # every argument exists in provider 6.x


def test_the_report_role_may_only_query_the_access_log_and_publish_to_the_topic(
    tmp_path: Path,
) -> None:
    out = render_stack(alerts_config(tmp_path))
    blocks = read_blocks(out / "modules" / "alerts" / "main.tf")
    document = next(b for b in blocks if b.labels == ("aws_iam_policy_document", "report"))
    text = (out / "modules" / "alerts" / "main.tf").read_text()
    section = text[text.index('data "aws_iam_policy_document" "report"') :]
    section = section[: section.index('resource "aws_iam_role_policy" "report"')]
    actions = sorted(set(re.findall(r'"((?:logs|sns|kms):[A-Za-z*]+)"', section)))
    assert actions == [
        "kms:Decrypt", "kms:GenerateDataKey*", "logs:CreateLogStream", "logs:GetQueryResults",
        "logs:PutLogEvents", "logs:StartQuery", "logs:StopQuery", "sns:Publish",
    ]  # fmt: skip
    assert len(document.blocks) == 5
    # "*" only for StopQuery, which takes no resource.
    stars = [s for s in section.split("statement {") if 'resources = ["*"]' in s]
    assert len(stars) == 1 and '"logs:StopQuery"' in stars[0] and "StartQuery" not in stars[0]
    assert "resources = [var.access_log_group_arn" in section


def test_report_off_renders_alarms_without_the_function(tmp_path: Path) -> None:
    config = alerts_config(tmp_path, extra='[report]\nweekly = "off"\n')
    out = render_stack(config)
    text = (out / "modules" / "alerts" / "main.tf").read_text()
    assert "aws_lambda_function" not in text and "aws_scheduler_schedule" not in text
    assert "aws_cloudwatch_metric_alarm" in text and not (out / REPORT_ZIP_FILE).exists()
    outputs = [b.labels[0] for b in read_blocks(out / "outputs.tf") if b.type == "output"]
    assert outputs[-2:] == ["alert_topic_arn", "alert_alarm_names"]


def test_turning_alerts_off_removes_the_rendered_module_and_zip(tmp_path: Path) -> None:
    on = alerts_config(tmp_path)
    out = render_stack(on)
    first = render_stack_files(on)
    assert first.changed == () and (out / REPORT_ZIP_FILE).is_file()  # stable: nothing changed
    off = render_stack_files(config_of(tmp_path))
    assert REPORT_ZIP_FILE in off.removed and "modules/alerts/main.tf" in off.removed
    assert not (out / "lambda").exists() and not (out / "modules" / "alerts").exists()


def test_the_scanner_patterns_match_the_catalog_paths_within_the_limit() -> None:
    patterns = scanner_filter_patterns()
    assert all(len(p) <= METRIC_FILTER_PATTERN_LIMIT for p in patterns)
    found = [
        json.loads(m) for p in patterns for m in re.findall(r'\$\.request=("(?:[^"\\]|\\.)*")', p)
    ]
    assert found == list(traffic.SCANNER_PATHS)


# ----------------------------------------------------------------------- the schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("weekly", "zone", "now", "expected"),
    [
        (WeeklySchedule(0, 8, 0), "Europe/Paris", "2026-12-01T12:00", "cron(0 7 ? * MON *)"),
        (WeeklySchedule(0, 8, 0), "Europe/Paris", "2026-07-01T12:00", "cron(0 6 ? * MON *)"),
        # Summer time starts on Sunday 29 March 2026: the next Monday is already at +02:00.
        (WeeklySchedule(0, 8, 0), "Europe/Paris", "2026-03-27T12:00", "cron(0 6 ? * MON *)"),
        (WeeklySchedule(0, 0, 30), "Europe/Paris", "2026-12-01T12:00", "cron(30 23 ? * SUN *)"),
        (WeeklySchedule(0, 8, 0), "Asia/Tokyo", "2026-12-01T12:00", "cron(0 23 ? * SUN *)"),
        (WeeklySchedule(6, 20, 0), "America/Los_Angeles", "2026-12-01T12:00",
         "cron(0 4 ? * MON *)"),
        (WeeklySchedule(4, 17, 45), "Asia/Kolkata", "2026-12-01T12:00", "cron(15 12 ? * FRI *)"),
        (WeeklySchedule(2, 9, 5), "UTC", "2026-12-01T12:00", "cron(5 9 ? * WED *)"),
    ],
)  # fmt: skip
def test_the_offline_rule_runs_at_the_same_moment_in_utc(
    weekly: WeeklySchedule, zone: str, now: str, expected: str
) -> None:
    assert schedule_cron(utc_schedule(weekly, zone, at(now))) == expected


def test_the_scheduler_cron_is_in_the_cafes_zone() -> None:
    assert schedule_cron(WeeklySchedule(0, 8, 0)) == "cron(0 8 ? * MON *)"
    assert schedule_cron(WeeklySchedule(6, 23, 59)) == "cron(59 23 ? * SUN *)"


# -------------------------------------------------------------------------------- cost


def test_cost_prices_the_alerts(tmp_path: Path) -> None:
    config = alerts_config(tmp_path)
    out = render_stack(config)
    inventory = scan_stack(out)
    # Every count and for_each of the alerts module was read.
    assert not [note for note in inventory.notes if "module.alerts." in note]
    report = estimate_cost(config, terraform_dir=out)
    lines = {(i.service, i.item.split(",")[0]): i for i in report.items}

    def line(start: str) -> Any:
        return next(i for i in report.items if i.item.startswith(start))

    # 3 + Requests + ScannerProbes custom metrics, all free.
    assert line("custom metrics (metric filters)").quantity == 5
    # Two count alarms, the 5xx share (2 metrics), silence, probes; the anomaly alarm is 3.
    assert line("alarms, standard resolution").quantity == 6
    anomaly = line("alarms, anomaly detection")
    assert anomaly.quantity == 3 and anomaly.monthly_usd == 0  # 6 + 3 inside the free 10
    weekly = 365 / 7 / 12
    assert lines[("Lambda", "weekly report function requests")].quantity == pytest.approx(weekly)
    compute = next(i for i in report.items if i.item.startswith("weekly report compute"))
    assert "arm64, 128 MB × 30 s" in compute.item
    assert compute.quantity == pytest.approx(weekly * 0.125 * 30) and compute.monthly_usd == 0
    assert lines[("EventBridge", "Scheduler invocations (the weekly report)")].quantity == (
        pytest.approx(weekly)
    )
    emails = lines[("SNS", "e-mail notifications (alarms and weekly reports)")]
    assert emails.quantity == pytest.approx(30 + weekly) and emails.monthly_usd == 0
    assert lines[("KMS", "customer managed keys (1)")].monthly_usd == 1.0
    scanned = next(
        i for i in report.items if i.item == "Logs Insights scanned by the weekly report"
    )
    ingest = next(i for i in report.items if i.item.startswith("ingestion")).quantity
    assert scanned.quantity == pytest.approx(weekly * 16 * 7 * ingest / (365 / 12))
    assert_alerts_priced(report)
    without = estimate_cost(config_of(tmp_path))  # the same config without alert_email
    # The key is the one real cost: $1, plus a few cents of report queries.
    assert 1.0 < report.total_monthly_usd - without.total_monthly_usd < 1.1


def test_cost_on_the_emulator_render_prices_the_rule(tmp_path: Path) -> None:
    config = alerts_config(tmp_path, emulated=True)
    report = estimate_cost(config)
    rule = next(i for i in report.items if i.item == "scheduled rule (the weekly report)")
    assert rule.monthly_usd == 0 and rule.quantity == pytest.approx(365 / 7 / 12)
    compute = next(i for i in report.items if i.item.startswith("weekly report compute"))
    assert "x86_64" in compute.item
    assert_alerts_priced(report)


def assert_alerts_priced(report: Any) -> None:
    """No type of the alerts module is left unpriced (others' types are theirs to price)."""
    unpriced = " ".join(a for a in report.assumptions if "NOT PRICED" in a)
    for kind in ("aws_sns_", "aws_lambda_", "aws_scheduler_", "aws_cloudwatch_event_", "aws_kms_"):
        assert kind not in unpriced, unpriced


# ----------------------------------------------------------------- subscription states


def sns_client() -> Any:
    return boto3.client(
        "sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


class StubClients:
    def __init__(self, **clients: Any) -> None:
        self.clients = clients

    def client(self, service: str) -> Any:
        return self.clients[service]


TOPIC = "arn:aws:sns:us-east-1:123456789012:cafepipe-cafe-alerts"


@pytest.mark.parametrize(
    ("arn", "state"),
    [
        ("PendingConfirmation", alerts.PENDING),
        (f"{TOPIC}:8f0c4f5e-1d2b-4c3a-9e8f-123456789abc", alerts.CONFIRMED),
        (None, alerts.NOT_SUBSCRIBED),
    ],
)
def test_the_subscription_state_aws_reports(
    arn: str | None, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = sns_client()
    subscriptions = [
        {"SubscriptionArn": f"{TOPIC}:other", "Protocol": "sqs", "Endpoint": "arn:aws:sqs:x"},
    ]
    if arn:
        subscriptions.append(
            {"SubscriptionArn": arn, "Protocol": "email", "Endpoint": "Owner@Example.com"}
        )
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_subscriptions_by_topic", {"Subscriptions": subscriptions}, {"TopicArn": TOPIC}
        )
        found = alerts.subscription_state(StubClients(sns=client), TOPIC, EMAIL)
    assert found["state"] == state
    print_subscription_line(found)
    shown = capsys.readouterr().out
    expected = {
        alerts.PENDING: "has not confirmed the subscription yet",
        alerts.CONFIRMED: "subscription confirmed",
        alerts.NOT_SUBSCRIBED: "is not subscribed",
    }[state]
    assert expected in " ".join(shown.split())


def test_a_test_notification_to_an_unconfirmed_address_says_it_will_not_arrive() -> None:
    client = sns_client()
    config = load_config(None, {"alert_email": EMAIL}, environ={})
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_subscriptions_by_topic",
            {"Subscriptions": [{"SubscriptionArn": "PendingConfirmation", "Protocol": "email",
                                "Endpoint": EMAIL}]},
            {"TopicArn": TOPIC},
        )  # fmt: skip
        stubber.add_response(
            "publish",
            {"MessageId": "m-7"},
            {"TopicArn": TOPIC, "Subject": "cafepipe test: alerts for stack cafe reach you",
             "Message": ANY},
        )  # fmt: skip
        result = alerts.send_test(
            StubClients(sns=client),
            config,
            {"alert_topic_arn": TOPIC},
            now=datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
        )
    assert result == {
        "topic_arn": TOPIC,
        "message_id": "m-7",
        "subscription": {
            "email": EMAIL,
            "state": alerts.PENDING,
            "subscription_arn": "PendingConfirmation",
        },
        "delivered": False,
    }


def test_a_publish_refused_by_aws_is_an_aws_error_with_the_cause() -> None:
    client = sns_client()
    config = load_config(None, {"alert_email": EMAIL}, environ={})
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_subscriptions_by_topic", {"Subscriptions": []}, {"TopicArn": TOPIC}
        )
        stubber.add_client_error(
            "publish", "AuthorizationError", "User is not authorized to perform: SNS:Publish"
        )
        with pytest.raises(AwsError, match="AuthorizationError: User is not authorized"):
            alerts.send_test(StubClients(sns=client), config, {"alert_topic_arn": TOPIC})


def test_status_still_shows_the_stack_when_the_alerts_cannot_be_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cafepipe.cli.views import print_status

    client = sns_client()
    config = load_config(None, {"alert_email": EMAIL}, environ={})
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "list_subscriptions_by_topic", "AuthorizationError", "not authorized"
        )
        section = alerts.status_section(
            StubClients(sns=client),
            config,
            {"alert_topic_arn": TOPIC},
        )
    assert section == {
        "topic_arn": TOPIC,
        "error": f"could not read the subscriptions of {TOPIC}: AuthorizationError: not authorized",
    }
    assert alerts.status_section(StubClients(), config, {}) is None
    print_status({
        "stack": "cafe", "deployed": True, "outputs": {"instance_id": "i-1"}, "resources": [],
        "instance_state": "running", "drift": {}, "in_sync": True, "alerts": section,
    })  # fmt: skip
    shown = " ".join(capsys.readouterr().out.split())
    assert (
        "In sync" in shown
        and "Alerts: could not be read: could not read the subscriptions" in shown
    )


def kms_client() -> Any:
    return boto3.client(
        "kms", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_destroy_tells_a_remaining_alerts_resource_from_a_gone_one() -> None:
    sns, kms = sns_client(), kms_client()
    clients = StubClients(sns=sns, kms=kms)
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    with Stubber(sns) as sns_stub, Stubber(kms) as kms_stub:
        sns_stub.add_response("get_topic_attributes", {"Attributes": {}}, {"TopicArn": TOPIC})
        sns_stub.add_client_error("get_topic_attributes", "NotFound", "Topic does not exist")
        for state in ("Enabled", "PendingDeletion"):
            kms_stub.add_response(
                "describe_key",
                {"KeyMetadata": {"KeyId": key_id, "KeyState": state}},
                {"KeyId": key_id},
            )
        kms_stub.add_client_error("describe_key", "NotFoundException", "no such key")
        exists = alerts.alert_resource_exists
        assert exists(clients, "aws_sns_topic", {"id": TOPIC, "arn": TOPIC}) is True
        assert exists(clients, "aws_sns_topic", {"id": TOPIC, "arn": TOPIC}) is False
        assert exists(clients, "aws_kms_key", {"id": key_id}) is True
        assert exists(clients, "aws_kms_key", {"id": key_id}) is False  # pending deletion: gone
        assert exists(clients, "aws_kms_key", {"id": key_id}) is False
        sns_stub.assert_no_pending_responses()
        kms_stub.assert_no_pending_responses()
    assert alerts.alert_resource_exists(clients, "aws_instance", {"id": "i-1"}) is None
