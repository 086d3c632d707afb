"""What render needs for the alerts module: the report function's zip, its schedule, the
scanner metric filters.

The zip holds `cafepipe/_lambda/weekly_report.py` and `report_config.json` (the catalog's
Logs Insights queries and the café's settings). It is built here, byte for byte the same for
the same config: only hashicorp/aws is available to the offline Terraform, so the `archive`
provider cannot zip it there, and a stable zip keeps a second plan empty.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from cafepipe._lambda import weekly_report
from cafepipe.cafe import catalog, traffic
from cafepipe.config import WEEKDAYS, StackConfig, WeeklySchedule
from cafepipe.cost.prices import LOGS_INSIGHTS_USD_PER_GB
from cafepipe.insights.queries import INSIGHTS_BY_ID

LAMBDA_DIR = "lambda"  # inside the rendered Terraform directory
REPORT_ZIP_FILE = f"{LAMBDA_DIR}/weekly_report.zip"
REPORT_HANDLER = "weekly_report.handler"
REPORT_SOURCE = "weekly_report.py"
# Lambda runtimes: the current one on AWS; on the emulator the newest the offline provider
# (3.39) accepts — the emulator stores the function but never runs it.
REPORT_RUNTIME = {6: "python3.13", 3: "python3.8"}
REPORT_TIMEOUT_SECONDS = 180
REPORT_MEMORY_MB = 128
METRIC_FILTER_PATTERN_LIMIT = 1024  # CloudWatch Logs' longest filter pattern
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: no build time in the file


def report_settings(config: StackConfig) -> dict[str, Any]:
    """`report_config.json`: what the function reads (no secret: names, queries, prices)."""
    region = config.region
    return {
        "stack": config.stack,
        "access_log_group": config.access_log_group,
        "timezone": config.timezone,
        "queries": {
            query_id: INSIGHTS_BY_ID[query_id].logs_insights for query_id in weekly_report.QUERY_IDS
        },
        "menu": {item.id: item.name for item in catalog.MENU},
        "usd_per_gb_scanned": LOGS_INSIGHTS_USD_PER_GB,
        "dashboard_url": f"https://{region}.console.aws.amazon.com/cloudwatch/home?region="
        f"{region}#dashboards/dashboard/{config.dashboard_name}",
    }


def report_bundle(config: StackConfig) -> bytes:
    """The function's zip: the handler and its settings, deterministic."""
    source = resources.files("cafepipe._lambda").joinpath(REPORT_SOURCE).read_bytes()
    cafe = resources.files("cafepipe.cafe")
    settings = json.dumps(report_settings(config), indent=2, ensure_ascii=False, sort_keys=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (
            (REPORT_SOURCE, source),
            # The basket rule and the conversion rate, as the site and the insights define them.
            ("catalog.py", cafe.joinpath("catalog.py").read_bytes()),
            ("metrics.py", cafe.joinpath("metrics.py").read_bytes()),
            (weekly_report.CONFIG_FILE, (settings + "\n").encode()),
        ):
            entry = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16  # readable by the Lambda runtime's user
            entry.create_system = 3  # Unix, so the permissions above are read as such
            archive.writestr(entry, data, compresslevel=9)
    return buffer.getvalue()


def schedule_cron(schedule: WeeklySchedule) -> str:
    """An EventBridge cron expression for one weekly moment."""
    return f"cron({schedule.minute} {schedule.hour} ? * {WEEKDAYS[schedule.day].upper()} *)"


def utc_schedule(schedule: WeeklySchedule, zone: str, now: datetime) -> WeeklySchedule:
    """The same weekly moment in UTC, at the offset the café's zone has at its next occurrence.

    For the offline provider's EventBridge rule, which knows UTC only: across a daylight
    saving change the rule is an hour off until the stack is rendered again.
    """
    local_zone = ZoneInfo(zone)
    local_now = now.astimezone(local_zone)
    days_ahead = (schedule.day - local_now.weekday()) % 7
    candidate = (local_now + timedelta(days=days_ahead)).replace(
        hour=schedule.hour, minute=schedule.minute, second=0, microsecond=0
    )
    if candidate <= local_now:
        candidate += timedelta(days=7)
    # The offset is that day's wall-clock offset (a DST change may lie in between).
    moment = candidate.astimezone(timezone.utc)
    return WeeklySchedule(moment.weekday(), moment.hour, moment.minute)


def scanner_filter_patterns() -> list[str]:
    """Metric filter patterns matching the catalog's scanner paths, each within the limit.

    Written without spaces, today's paths fit one pattern; should the catalog outgrow it,
    several filters feed the one ScannerProbes metric (each a custom metric in `cost`).
    """
    patterns: list[str] = []
    terms: list[str] = []
    for path in traffic.SCANNER_PATHS:
        term = f"$.request={json.dumps(path)}"
        if len("{" + "||".join([*terms, term]) + "}") > METRIC_FILTER_PATTERN_LIMIT:
            patterns.append("{" + "||".join(terms) + "}")
            terms = []
        terms.append(term)
    if terms:
        patterns.append("{" + "||".join(terms) + "}")
    return patterns


def alerts_context(config: StackConfig, now: datetime | None = None) -> dict[str, Any]:
    """What the alerts templates see."""
    schedule = config.report_weekly
    context: dict[str, Any] = {
        "alerts": config.alerts_enabled,
        "report": config.alerts_enabled and schedule is not None,
        "alert_settings": config.alerts,
        "scanner_filter_patterns": scanner_filter_patterns(),
        "report_zip_file": REPORT_ZIP_FILE,
        "report_handler": REPORT_HANDLER,
        "report_runtime": REPORT_RUNTIME[config.provider_major],
        "report_timeout": REPORT_TIMEOUT_SECONDS,
        "report_memory": REPORT_MEMORY_MB,
        "report_schedule": "",
        "report_schedule_utc": "",
        "report_schedule_text": str(schedule) if schedule else "off",
    }
    if schedule is not None:
        context["report_schedule"] = schedule_cron(schedule)
        moment = now or datetime.now(timezone.utc)
        context["report_schedule_utc"] = schedule_cron(
            utc_schedule(schedule, config.timezone, moment)
        )
    return context
