"""The estimate: usage assumptions, line items priced from the rendered stack, the report.

Fixed items come from the rendered Terraform (`scan_stack`), not from a hand-kept list: the
instance and its root volume, public IPv4 addresses, metric filters (custom metrics), alarms,
dashboards, log groups with their class and retention, buckets and their lifecycle, KMS keys,
and so on. Usage items (log volume, Logs Insights scans, S3 storage and requests, data out) have
documented defaults that `cafepipe.toml [usage]` or `--usage FILE` override. Prices come from
`cafepipe.cost.prices`, with the always-free tiers applied.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cafepipe.cafe.limits import LOGS_EVENT_OVERHEAD_BYTES
from cafepipe.config import StackConfig
from cafepipe.cost.hcl import StackInventory, StackResource, for_each_entries, scan_stack
from cafepipe.cost.prices import (
    ALB_LCU_GB_PER_HOUR,
    ALB_LCU_NEW_CONNECTIONS_PER_SECOND,
    ATHENA_MIN_BYTES_PER_QUERY,
    CURRENCY,
    DASHBOARD_FREE_TIER_METRICS,
    FREE_TIERS,
    GB,
    HOURS_PER_MONTH,
    PRICE_DATE,
    TB,
    FreeTier,
    instance_price,
    price,
    region_prices,
)
from cafepipe.cost.report import format_quantity, format_unit_price, format_usd
from cafepipe.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DAYS_PER_MONTH = 365 / 12  # 30.42
# Amazon Linux 2023 AMIs come with an 8 GiB gp3 root volume when the template sets none.
DEFAULT_ROOT_VOLUME_GB = 8
DEFAULT_ROOT_VOLUME_TYPE = "gp3"
# EC2 detailed monitoring sends about 7 metrics per instance, billed as custom metrics.
DETAILED_MONITORING_METRICS = 7

# "A typical simulated month": the generator's default profile (a small café, 20,000 requests
# a day) over 365/12 days; tests/test_cost.py checks it still matches the generator.
DEFAULT_LOG_LINES_PER_MONTH = 608_333
# Measured on 200,000 lines of the generator's JSON output (default profile, seed 1): 500.2
# bytes a line, 3,362 response bytes on average, and gzip -6 shrinking the log to 0.061 of its
# size (whole file and 1 MB batches alike). Storage uses 0.10: a margin for real traffic's variety.
DEFAULT_BYTES_PER_LOG_LINE = 500
DEFAULT_LOG_STORAGE_COMPRESSION = 0.10
DEFAULT_BYTES_PER_RESPONSE = 3_400
# The fleet's Athena use: the catalog run once a day over the last 30 days of the lake.
DEFAULT_ATHENA_CATALOG_RUNS = 30
DEFAULT_ATHENA_DAYS_SCANNED = 30
# Two zones behind a load balancer that spreads every request over all servers: half the
# requests cross a zone to reach their server.
FLEET_ZONES = 2
CROSS_ZONE_SHARE = 1 - 1 / FLEET_ZONES
# Glue Data Catalog calls Athena makes per query (GetDatabase, GetTable; projection needs no
# GetPartitions), and S3 calls per query for its results (the result file and its metadata).
GLUE_REQUESTS_PER_QUERY = 2
ATHENA_RESULT_PUTS_PER_QUERY = 2
ATHENA_RESULT_GETS_PER_QUERY = 1


@dataclass(frozen=True)
class UsageField:
    """One usage assumption: its default (None: derived from the others), unit and meaning."""

    default: float | None
    unit: str
    help: str


USAGE_FIELDS: Mapping[str, UsageField] = {
    "instance_hours_per_month": UsageField(
        HOURS_PER_MONTH, "hours", "hours the web server runs each month (730 = always on)"
    ),
    "log_lines_per_month": UsageField(
        DEFAULT_LOG_LINES_PER_MONTH, "lines", "access-log lines (requests) per month"
    ),
    "bytes_per_log_line": UsageField(
        DEFAULT_BYTES_PER_LOG_LINE, "bytes", "size of one JSON access-log line"
    ),
    "error_log_gb_per_month": UsageField(0.01, "GB", "Apache error log shipped per month"),
    "log_gb_ingested_per_month": UsageField(
        None,
        "GB",
        f"log data ingested (default: lines × (bytes + {LOGS_EVENT_OVERHEAD_BYTES}) + error log)",
    ),
    "log_storage_compression": UsageField(
        DEFAULT_LOG_STORAGE_COMPRESSION, "ratio", "stored (gzip) size / ingested size"
    ),
    "log_gb_stored": UsageField(
        None, "GB-month", "log data stored (default: steady state over the retention)"
    ),
    "dashboard_views_per_day": UsageField(
        4, "views", "times a day the dashboard is opened (each runs every log widget's query)"
    ),
    "adhoc_insights_queries_per_day": UsageField(
        4, "queries", "other Logs Insights queries a day (`cafepipe insights --engine cloudwatch`)"
    ),
    "insights_queries_per_day": UsageField(
        None, "queries", "Logs Insights queries a day (default: log widgets × views + ad hoc)"
    ),
    "insights_days_scanned_per_query": UsageField(
        None, "days", "days of logs each query scans (default: the dashboard's range, else 1)"
    ),
    "insights_gb_scanned_per_month": UsageField(
        None, "GB", "Logs Insights data scanned (default: queries × days × daily ingest)"
    ),
    "s3_storage_gb": UsageField(
        None, "GB-month", "S3 Standard stored (default: gzip log copies kept until they expire)"
    ),
    "s3_put_requests_per_month": UsageField(100, "requests", "S3 PUT/COPY/POST/LIST requests"),
    "s3_get_requests_per_month": UsageField(1_000, "requests", "S3 GET/SELECT requests"),
    "bytes_per_response": UsageField(
        DEFAULT_BYTES_PER_RESPONSE, "bytes", "average response size the site sends"
    ),
    "data_out_gb_per_month": UsageField(
        None, "GB", "data out to the internet (default: lines × bytes per response)"
    ),
    "athena_tb_scanned_per_month": UsageField(
        None,
        "TB",
        "Athena data scanned (default on a fleet: per query, its reads of the lake × the days "
        "each covers, at least 10 MB; × catalog runs; 0 for one server)",
    ),
    "athena_catalog_runs_per_month": UsageField(
        DEFAULT_ATHENA_CATALOG_RUNS,
        "runs",
        "times a month the whole catalog runs on Athena (`insights --engine athena`), on a fleet",
    ),
    "athena_days_scanned_per_query": UsageField(
        DEFAULT_ATHENA_DAYS_SCANNED, "days", "days of the lake each Athena query reads"
    ),
    "alb_lcus_per_hour": UsageField(
        None,
        "LCUs",
        "load balancer capacity units an hour (default: from the requests and bytes, each "
        "request counted as a new connection)",
    ),
    "alert_notifications_per_month": UsageField(
        30, "e-mails", "alarm e-mails a month (each alarm and its all-clear), with alerts on"
    ),
    "report_run_seconds": UsageField(
        30, "seconds", "how long one run of the weekly report function takes"
    ),
}


def validate_usage(values: Mapping[str, Any], source: str) -> dict[str, float]:
    """Check usage keys and values; an unknown key or a bad value is exit 2, naming the key."""
    checked: dict[str, float] = {}
    for key, value in values.items():
        if key not in USAGE_FIELDS:
            raise UsageError(
                f"{source}: unknown usage key {key!r}",
                "known keys: " + ", ".join(sorted(USAGE_FIELDS)),
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise UsageError(f"{source}: usage key {key!r} must be a number, not {value!r}")
        if value < 0 or math.isinf(value):
            raise UsageError(f"{source}: usage key {key!r} must be zero or more, not {value!r}")
        if key == "log_storage_compression" and value > 1:
            raise UsageError(f"{source}: usage key {key!r} is a ratio between 0 and 1")
        checked[key] = float(value)
    return checked


def read_usage_file(path: str | Path) -> dict[str, float]:
    """A usage TOML file: keys at the top level or under a [usage] table."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"usage file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"usage file {path} is not valid TOML: {exc}") from None
    if "usage" in data and isinstance(data["usage"], Mapping):
        extra = sorted(set(data) - {"usage"})
        if extra:
            raise UsageError(f"{path}: unknown usage key {extra[0]!r} outside [usage]")
        data = dict(data["usage"])
    return validate_usage(data, str(path))


@dataclass(frozen=True)
class CostItem:
    """One line of the estimate (the JSON keys of `items`)."""

    service: str
    item: str
    quantity: float
    unit: str
    unit_price_usd: float
    monthly_usd: float


@dataclass(frozen=True)
class CostReport:
    """The whole estimate: line items, totals, and every assumption behind them."""

    region: str
    items: tuple[CostItem, ...]
    assumptions: tuple[str, ...]
    months: int = 12
    currency: str = CURRENCY
    price_date: str = PRICE_DATE

    @property
    def total_monthly_usd(self) -> float:
        return round(sum(item.monthly_usd for item in self.items), 2)

    @property
    def total_annual_usd(self) -> float:
        return round(self.total_monthly_usd * 12, 2)

    @property
    def total_for_months_usd(self) -> float:
        return round(self.total_monthly_usd * self.months, 2)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `cafepipe cost --format json` (the table shows the same data)."""
        return {
            "region": self.region,
            "currency": self.currency,
            "price_date": self.price_date,
            "items": [
                {
                    "service": item.service,
                    "item": item.item,
                    "quantity": round(item.quantity, 6),
                    "unit": item.unit,
                    "unit_price_usd": round(item.unit_price_usd, 8),
                    "monthly_usd": round(item.monthly_usd, 6),
                }
                for item in self.items
            ],
            "total_monthly_usd": self.total_monthly_usd,
            "total_annual_usd": self.total_annual_usd,
            "months": self.months,
            "total_for_months_usd": self.total_for_months_usd,
            "assumptions": list(self.assumptions),
        }


class _Estimate:
    """Accumulates the line items while the stack is walked."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.items: list[CostItem] = []
        self.priced: set[str] = set()  # addresses of resources of types priced case by case

    def add(
        self,
        service: str,
        item: str,
        quantity: float,
        price_key: str,
        free_key: str | None = None,
        unit: str | None = None,
    ) -> CostItem:
        unit_price = price(self.region, price_key)
        billable = quantity
        free = FREE_TIERS.get(free_key or "")
        if free is not None and free.applied:
            billable = max(0.0, quantity - free.quantity)
            item = f"{item}, first {format_quantity(free.quantity)} free"
        line = CostItem(
            service,
            item,
            float(quantity),
            unit or unit_price.unit,
            unit_price.usd,
            billable * unit_price.usd,
        )
        self.items.append(line)
        return line

    def add_free(self, service: str, item: str, quantity: float, unit: str) -> None:
        self.items.append(CostItem(service, item, float(quantity), unit, 0.0, 0.0))


def estimate_cost(
    config: StackConfig,
    usage: Mapping[str, Any] | None = None,
    *,
    terraform_dir: Path | None = None,
    months: int = 12,
) -> CostReport:
    """Estimate the monthly cost of the stack `config` renders.

    Usage: the defaults of `USAGE_FIELDS` < `config.usage` (cafepipe.toml [usage]) < `usage`.

    `terraform_dir` is an already rendered root module; without it the stack is rendered into
    a temporary directory (nothing in `.cafepipe/` is touched).
    """
    if months < 1:
        raise UsageError(f"--months must be 1 or more, not {months}")
    region_prices(config.region)  # an unpriced region fails before anything else
    instance_price(config.region, config.instance_type)
    explicit = validate_usage(config.usage, "cafepipe.toml [usage]")
    explicit.update(validate_usage(usage or {}, "usage"))
    if terraform_dir is not None:
        return _estimate(config, scan_stack(Path(terraform_dir)), explicit, months)
    with _rendered(config) as rendered_dir:
        # Inside the block: the estimate still reads rendered files (the dashboard body).
        return _estimate(config, scan_stack(rendered_dir), explicit, months)


@contextmanager
def _rendered(config: StackConfig) -> Iterator[Path]:
    """The stack rendered into a scratch directory, removed afterwards."""
    from cafepipe.deploy.render import render_stack  # jinja and the templates: only when needed

    with tempfile.TemporaryDirectory(prefix="cafepipe-cost-") as scratch:
        yield Path(render_stack(config, Path(scratch) / "terraform"))


def _estimate(
    config: StackConfig, inventory: StackInventory, explicit: Mapping[str, float], months: int
) -> CostReport:
    est = _Estimate(config.region)
    usage = {key: f.default for key, f in USAGE_FIELDS.items()}
    usage.update(explicit)
    hours = float(usage["instance_hours_per_month"] or 0)
    notes: list[str] = []

    detailed_metrics = _compute(est, config, inventory, hours, notes)
    servers = _fleet(est, config, inventory, usage, hours, notes)
    _metrics_and_alarms(est, inventory, detailed_metrics, notes)
    dashboard_log_widgets = _dashboards(est, inventory, notes)
    ingest = _logs(est, config, inventory, usage, dashboard_log_widgets, notes)
    _alerts(est, inventory, usage, ingest, notes)
    _storage_and_transfer(est, inventory, usage, notes)
    _lake(est, config, inventory, usage, servers, notes)
    _other(est, inventory, notes)

    always_free = [tier for tier in FREE_TIERS.values() if tier.applied]
    twelve_months = [tier for tier in FREE_TIERS.values() if not tier.always_free]
    logs_allowance = format_quantity(FREE_TIERS["logs.ingest_standard"].quantity)
    assumptions = [
        f"prices: public On-Demand list prices for {config.region} in USD, reviewed {PRICE_DATE}, "
        "before tax; no Savings Plans, credits or private pricing",
        "free tiers applied: only the always-free ones, assuming this stack is their only user "
        f"in the account: {_free_tiers(always_free)}; the 12-month tier is not applied (it has "
        f"ended for every account): {_free_tiers(twelve_months)}",
        "Logs Insights scans are charged from the first GB (AWS counts them in the same "
        f"{logs_allowance} GB logs allowance that ingestion and storage already use)",
        *notes,
        *inventory.notes,
        *(
            ["an emulator endpoint is configured: these are the prices the same stack has on AWS"]
            if config.emulated
            else []
        ),
        f"annual = 12 × the steady-state month; {months} months = {months} × the month "
        "(an upper bound: log storage grows to its steady state during the first retention period)",
    ]
    return CostReport(config.region, tuple(est.items), tuple(assumptions), months)


def _free_tiers(tiers: list[FreeTier]) -> str:
    return ", ".join(f"{format_quantity(t.quantity)} {t.unit} ({t.note})" for t in tiers)


def _compute(
    est: _Estimate, config: StackConfig, inventory: StackInventory, hours: float, notes: list[str]
) -> int:
    """EC2 instance hours, EBS, public IPv4; returns the detailed-monitoring metrics it adds."""
    instances = inventory.of_type("aws_instance")
    instance_count = sum(r.count for r in instances)
    extra_metrics = 0
    if instance_count:
        est.add(
            "EC2",
            f"{config.instance_type} Linux On-Demand"
            + (f" × {instance_count}" if instance_count > 1 else ""),
            hours * instance_count,
            f"ec2.{config.instance_type}",
            unit="hours",
        )
        notes.append(
            f"EC2: {config.instance_type} in the default (unlimited) credit mode, assumed to "
            "stay under its CPU baseline (no surplus-credit charges)"
        )
    for resource in instances:
        size = resource.nested_value("root_block_device", "volume_size")
        kind = resource.nested_value("root_block_device", "volume_type")
        if not isinstance(size, (int, float)):
            size = DEFAULT_ROOT_VOLUME_GB
            notes.append(f"{resource.address}: root volume size not set; AMI default {size} GB")
        kind = kind if isinstance(kind, str) else DEFAULT_ROOT_VOLUME_TYPE
        est.add(
            "EBS",
            f"{kind} root volume {size:g} GB"
            + (f" × {resource.count}" if resource.count > 1 else ""),
            float(size) * resource.count,
            f"ebs.{kind}",
        )
        if resource.value("monitoring") is True:
            extra_metrics += DETAILED_MONITORING_METRICS * resource.count
    for volume in inventory.of_type("aws_ebs_volume"):
        size = volume.value("size")
        kind = volume.value("type")
        kind = kind if isinstance(kind, str) else "gp3"
        if isinstance(size, (int, float)):
            est.add(
                "EBS", f"{kind} volume {volume.name}", float(size) * volume.count, f"ebs.{kind}"
            )

    eips = inventory.count("aws_eip")
    public = sum(r.count for r in instances if r.value("associate_public_ip_address") is not False)
    if eips:
        est.add("VPC", f"Elastic IP addresses ({eips})", eips * HOURS_PER_MONTH, "vpc.public_ipv4")
    if public > eips:
        est.add(
            "VPC",
            "public IPv4 address",
            (public - eips) * hours,
            "vpc.public_ipv4",
        )
        notes.append(
            "public IPv4: charged since 2024-02-01 for every address; the instance's "
            "auto-assigned one is released (not charged) while stopped; the EBS volume is "
            'charged even then; with site_access = "cloudfront" the server needs no public '
            "address: visitors reach it through CloudFront"
        )
    elif instance_count and not eips:
        address = price(est.region, "vpc.public_ipv4").usd * hours * instance_count
        notes.append(
            "public IPv4: none — the server has no public address and visitors reach it through "
            f'CloudFront (site_access = "cloudfront"); one would add {format_usd(address)}/month'
        )
    nat = inventory.count("aws_nat_gateway")
    if nat:
        est.add(
            "VPC",
            f"NAT gateways ({nat}), excluding data processed",
            nat * HOURS_PER_MONTH,
            "vpc.nat_gateway",
            unit="hours",
        )
    endpoints = sum(
        r.count
        for r in inventory.of_type("aws_vpc_endpoint")
        if str(r.value("vpc_endpoint_type") or "Gateway") == "Interface"
    )
    if endpoints:
        est.add(
            "VPC",
            f"interface VPC endpoints ({endpoints}, one AZ each)",
            endpoints * HOURS_PER_MONTH,
            "vpc.interface_endpoint",
            unit="endpoint-AZ-hours",
        )
    if extra_metrics:
        notes.append(f"EC2 detailed monitoring adds ~{extra_metrics} custom metrics")
    return extra_metrics


def _metrics_and_alarms(
    est: _Estimate, inventory: StackInventory, detailed_metrics: int, notes: list[str]
) -> None:
    """Custom metrics (metric filters, detailed monitoring) and alarms."""
    filters = inventory.of_type("aws_cloudwatch_log_metric_filter")
    filter_metrics = sum(
        max(1, len(r.block.children("metric_transformation"))) * r.count for r in filters
    )
    agent_metrics = _agent_metric_count(inventory, notes)
    metrics = filter_metrics + detailed_metrics + agent_metrics
    if metrics:
        sources = ["metric filters"] * bool(filter_metrics)
        sources += ["detailed monitoring"] * bool(detailed_metrics)
        sources += ["CloudWatch agent"] * bool(agent_metrics)
        what = " + ".join(sources)
        est.add(
            "CloudWatch",
            f"custom metrics ({what})",
            metrics,
            "cw.custom_metric",
            "cw.custom_metric",
            unit="metrics",
        )
        notes.append(
            "metric filters: one custom metric each (no dimensions), counted in the 10 free"
        )

    standard_alarm_metrics = 0
    high_res_alarm_metrics = 0
    anomaly_alarm_metrics = 0
    for alarm in inventory.of_type("aws_cloudwatch_metric_alarm"):
        queries = [q for q in alarm.block.children("metric_query") if q.children("metric")]
        per_alarm = max(1, len(queries))
        bands = sum(
            "ANOMALY_DETECTION_BAND" in str(alarm.scope.evaluate(q.attributes.get("expression")))
            for q in alarm.block.children("metric_query")
        )
        period = alarm.value("period")
        if bands:
            # Billed as 3 alarm metrics: the metric, the band's upper and lower bounds.
            anomaly_alarm_metrics += (per_alarm + 2 * bands) * alarm.count
        elif isinstance(period, int) and period < 60:
            high_res_alarm_metrics += per_alarm * alarm.count
        else:
            standard_alarm_metrics += per_alarm * alarm.count
    if standard_alarm_metrics:
        est.add(
            "CloudWatch",
            "alarms, standard resolution",
            standard_alarm_metrics,
            "cw.alarm_standard",
            "cw.alarm_standard",
            unit="alarm metrics",
        )
    if anomaly_alarm_metrics:
        # Standard-resolution alarm metrics too: what the line above left of the free ten.
        free = FREE_TIERS["cw.alarm_standard"].quantity
        left = max(0.0, free - standard_alarm_metrics)
        line = est.add(
            "CloudWatch",
            "alarms, anomaly detection (3 alarm metrics each)"
            + (
                f", {format_quantity(min(left, anomaly_alarm_metrics))} in the free 10"
                if left
                else ""
            ),
            anomaly_alarm_metrics,
            "cw.alarm_standard",
            unit="alarm metrics",
        )
        billable = max(0.0, anomaly_alarm_metrics - left)
        est.items[-1] = dataclasses.replace(line, monthly_usd=billable * line.unit_price_usd)
    if high_res_alarm_metrics:
        est.add(
            "CloudWatch",
            "alarms, high resolution",
            high_res_alarm_metrics,
            "cw.alarm_high_resolution",
            unit="alarm metrics",
        )
    composite = inventory.count("aws_cloudwatch_composite_alarm")
    if composite:
        est.add("CloudWatch", "composite alarms", composite, "cw.alarm_composite", unit="alarms")


def _agent_metric_count(inventory: StackInventory, notes: list[str]) -> int:
    """Custom metrics the rendered CloudWatch agent config publishes (its `metrics` section)."""
    if inventory.root is None:
        return 0
    total = 0
    for path in sorted(inventory.root.rglob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        # The agent's schema: {"agent": …, "logs": …, "metrics": {"metrics_collected": …}}.
        if not isinstance(document, dict) or not isinstance(document.get("metrics"), dict):
            continue
        collected = document["metrics"].get("metrics_collected") or {}
        for section, spec in collected.items():
            measurements = spec.get("measurement", []) if isinstance(spec, dict) else []
            total += len(measurements)
            if isinstance(spec, dict) and spec.get("resources"):
                notes.append(
                    f"agent metrics {section}: one set per device/mount; assumed one device"
                )
    if total:
        notes.append(f"the CloudWatch agent publishes {total} custom metric(s)")
    return total


def _dashboards(
    est: _Estimate, inventory: StackInventory, notes: list[str]
) -> tuple[int, float | None]:
    """Dashboards and saved queries; returns the log widgets and the longest time range."""
    dashboards = inventory.of_type("aws_cloudwatch_dashboard")
    dashboard_count = sum(r.count for r in dashboards)
    oversized = 0  # a dashboard over the free tier's metrics is never free
    log_widgets = 0
    range_days: list[float] = []
    for dashboard in dashboards:
        facts = dashboard_facts(dashboard)
        if facts is None:
            notes.append(
                f"{dashboard.address}: body not readable; "
                f"assumed ≤ {DASHBOARD_FREE_TIER_METRICS} metrics"
            )
            continue
        log_widgets += facts.log_widgets * dashboard.count
        if facts.range_days:
            range_days.append(facts.range_days)
        if facts.metrics > DASHBOARD_FREE_TIER_METRICS:
            oversized += dashboard.count
            notes.append(
                f"{dashboard.address}: {facts.metrics} metrics > {DASHBOARD_FREE_TIER_METRICS}, "
                "so it is not free"
            )
        else:
            notes.append(
                f"dashboard {dashboard.value('dashboard_name') or dashboard.name}: "
                f"{facts.metrics} metric(s) (≤ {DASHBOARD_FREE_TIER_METRICS}, free) and "
                f"{facts.log_widgets} log widget(s), each a Logs Insights query per view"
            )
    if dashboard_count:
        line = est.add(
            "CloudWatch",
            "dashboards",
            dashboard_count,
            "cw.dashboard",
            "cw.dashboard",
            unit="dashboards",
        )
        free = FREE_TIERS["cw.dashboard"].quantity
        billable = oversized + max(0.0, dashboard_count - oversized - free)
        est.items[-1] = dataclasses.replace(line, monthly_usd=billable * line.unit_price_usd)
    saved_queries = inventory.count("aws_cloudwatch_query_definition")
    if saved_queries:
        est.add_free("CloudWatch", "saved Logs Insights queries", saved_queries, "queries")
    return log_widgets, max(range_days) if range_days else None


def _logs(
    est: _Estimate,
    config: StackConfig,
    inventory: StackInventory,
    usage: dict[str, float | None],
    dashboard_log_widgets: tuple[int, float | None],
    notes: list[str],
) -> float:
    """CloudWatch Logs: volume from usage, class and retention from the rendered log groups,
    Insights scans from the dashboard's log widgets. Returns the GB ingested a month."""
    log_widgets, range_days = dashboard_log_widgets
    groups = inventory.of_type("aws_cloudwatch_log_group")
    if not groups:
        return 0.0
    lines = float(usage["log_lines_per_month"] or 0)
    line_bytes = float(usage["bytes_per_log_line"] or 0)
    ingest = usage["log_gb_ingested_per_month"]
    if ingest is None:
        ingest = lines * (line_bytes + LOGS_EVENT_OVERHEAD_BYTES) / GB + float(
            usage["error_log_gb_per_month"] or 0
        )
        notes.append(
            f"log volume: {lines:,.0f} access-log lines/month × "
            f"({line_bytes:g} + {LOGS_EVENT_OVERHEAD_BYTES}) bytes "
            f"+ {usage['error_log_gb_per_month']:g} GB error log = {ingest:.3f} GB/month"
        )
    classes = {str(g.value("log_group_class") or "STANDARD").upper() for g in groups}
    infrequent = classes == {"INFREQUENT_ACCESS"}
    if infrequent:
        est.add(
            "CloudWatch Logs",
            "ingestion, Infrequent Access class",
            ingest,
            "logs.ingest_infrequent_access",
        )
    else:
        est.add(
            "CloudWatch Logs",
            "ingestion, Standard class",
            ingest,
            "logs.ingest_standard",
            "logs.ingest_standard",
        )
        standard = format_unit_price(price(est.region, "logs.ingest_standard").usd)
        cheaper = format_unit_price(price(est.region, "logs.ingest_infrequent_access").usd)
        notes.append(
            f"log class: Standard ({standard}/GB). Infrequent Access ({cheaper}/GB) costs "
            "less to ingest but has no metric filters or Live Tail, which the alarms and the "
            "4xx/5xx/order metrics need — so the stack keeps Standard"
        )
    retentions = [g.value("retention_in_days") for g in groups]
    retention_values = [r for r in retentions if isinstance(r, int) and r > 0]
    retention = max(retention_values) if retention_values else config.log_retention_days
    if len(retention_values) < len(retentions):
        notes.append(
            f"a log group's retention is not a literal; using {config.log_retention_days} days"
        )
    stored = usage["log_gb_stored"]
    if stored is None:
        compression = float(usage["log_storage_compression"] or 0)
        stored = ingest * (retention / DAYS_PER_MONTH) * compression
        notes.append(
            f"log storage: steady state once {retention} days of logs are kept = "
            f"{ingest:.3f} GB/month × {retention / DAYS_PER_MONTH:.2f} months × "
            f"{compression:g} (gzip, as CloudWatch meters archived data) = {stored:.3f} GB"
        )
    est.add(
        "CloudWatch Logs",
        f"storage, {retention}-day retention",
        stored,
        "logs.storage",
        "logs.storage",
    )
    scanned = usage["insights_gb_scanned_per_month"]
    if scanned is None:
        per_day = usage["insights_queries_per_day"]
        if per_day is None:
            views = float(usage["dashboard_views_per_day"] or 0)
            adhoc = float(usage["adhoc_insights_queries_per_day"] or 0)
            per_day = log_widgets * views + adhoc
            how = f"{log_widgets} dashboard log widgets × {views:g} views + {adhoc:g} ad hoc"
        else:
            how = "from usage"
        days = usage["insights_days_scanned_per_query"]
        if days is None:
            days = range_days or 1.0
        days = min(float(days), float(retention))
        scanned = float(per_day) * float(days) * ingest
        notes.append(
            f"Logs Insights: {per_day:g} queries/day ({how}), each over {days:g} day(s) of logs "
            f"= {scanned:.3f} GB scanned/month"
        )
    est.add("CloudWatch Logs", "Logs Insights scanned", scanned, "logs.insights_scanned")
    return float(ingest)


@dataclass(frozen=True)
class DashboardFacts:
    """What the price depends on: metrics (≤ 50 free), log widgets and the time range they scan."""

    metrics: int
    log_widgets: int
    range_days: float | None


def dashboard_facts(dashboard: StackResource) -> DashboardFacts | None:
    """Read the dashboard body (JSON from a file, a heredoc or jsonencode); None if unknown."""
    text = dashboard.value("dashboard_body")
    try:
        body = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    metrics = 0
    log_widgets = 0
    widgets = body.get("widgets")
    for widget in widgets if isinstance(widgets, list) else []:
        if not isinstance(widget, dict):
            continue
        log_widgets += widget.get("type") == "log"
        properties = widget.get("properties")
        rows = properties.get("metrics") if isinstance(properties, dict) else None
        metrics += sum(1 for row in rows if isinstance(row, list)) if isinstance(rows, list) else 0
    return DashboardFacts(metrics, log_widgets, _iso_range_days(body.get("start")))


def _iso_range_days(start: Any) -> float | None:
    """A dashboard's relative `start` (`-PT3H`, `-P7D`) in days."""
    if not isinstance(start, str):
        return None
    match = re.fullmatch(r"-P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", start)
    if not match or not any(match.groups()):
        return None
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days + hours / 24 + minutes / 1440


WEEKS_PER_MONTH = 365 / 7 / 12  # 4.35 weekly reports a month
# cron(M H ? * DAY *): once a week (the weekly report's schedule).
_WEEKLY_CRON_RE = re.compile(r"^cron\(\d{1,2} \d{1,2} \? \* [A-Z]{3} \*\)$")


def _weekly_schedules(inventory: StackInventory, notes: list[str]) -> list[StackResource]:
    """EventBridge schedules and scheduled rules that run once a week; others are said."""
    weekly = []
    for resource in inventory.of_type("aws_scheduler_schedule") + inventory.of_type(
        "aws_cloudwatch_event_rule"
    ):
        expression = resource.value("schedule_expression")
        if isinstance(expression, str) and _WEEKLY_CRON_RE.match(expression):
            weekly.append(resource)
        else:
            notes.append(f"{resource.address}: not a weekly schedule; its runs are not priced")
    return weekly


def _alerts(
    est: _Estimate,
    inventory: StackInventory,
    usage: dict[str, float | None],
    ingest_gb: float,
    notes: list[str],
) -> None:
    """The alerts module: e-mails, and the weekly report's function, schedule and queries."""
    schedules = _weekly_schedules(inventory, notes)
    runs = WEEKS_PER_MONTH * sum(schedule.count for schedule in schedules)
    if inventory.count("aws_sns_topic"):
        emails = float(usage["alert_notifications_per_month"] or 0) + runs
        est.add(
            "SNS",
            "e-mail notifications (alarms and weekly reports)",
            emails,
            "sns.email_notifications",
            "sns.email_notifications",
            unit="notifications",
        )
        est.add("SNS", "publish requests", emails, "sns.requests", "sns.requests", unit="requests")
        notes.append(
            f"SNS: {usage['alert_notifications_per_month']:g} alarm e-mails a month (usage "
            "alert_notifications_per_month) plus the weekly reports; the topic's customer managed "
            "KMS key (the KMS line) is what lets CloudWatch alarms publish to an encrypted topic, "
            "and its few requests per publish stay far inside KMS's 20,000 free"
        )
    if not schedules:
        return  # a function nothing schedules: how often it runs is unknown (NOT PRICED)
    seconds = float(usage["report_run_seconds"] or 0)
    for function in inventory.of_type("aws_lambda_function"):
        memory = function.value("memory_size")
        memory_gb = (memory if isinstance(memory, (int, float)) else 128) / 1024
        architectures = function.value("architectures")
        arch = "arm64" if isinstance(architectures, list) and "arm64" in architectures else "x86_64"
        est.add(
            "Lambda",
            "weekly report function requests",
            runs * function.count,
            "lambda.requests",
            "lambda.requests",
            unit="requests",
        )
        est.add(
            "Lambda",
            f"weekly report compute, {arch}, {memory_gb * 1024:g} MB × {seconds:g} s a run",
            runs * function.count * memory_gb * seconds,
            f"lambda.duration_{arch}",
            "lambda.duration",
            unit="GB-seconds",
        )
        est.priced.add(function.address)
    for schedule in schedules:
        est.priced.add(schedule.address)
        if schedule.type == "aws_scheduler_schedule":
            est.add(
                "EventBridge",
                "Scheduler invocations (the weekly report)",
                WEEKS_PER_MONTH * schedule.count,
                "scheduler.invocations",
                "scheduler.invocations",
                unit="invocations",
            )
        else:
            est.add_free(
                "EventBridge",
                "scheduled rule (the weekly report)",
                WEEKS_PER_MONTH * schedule.count,
                "events",
            )
    from cafepipe._lambda.weekly_report import QUERY_IDS, WINDOWS

    queries = len(QUERY_IDS) * len(WINDOWS)
    scanned = runs * queries * 7 * ingest_gb / DAYS_PER_MONTH
    est.add(
        "CloudWatch Logs",
        "Logs Insights scanned by the weekly report",
        scanned,
        "logs.insights_scanned",
    )
    notes.append(
        f"weekly report: {runs:.2f} runs a month, each {queries} Logs Insights queries over a "
        f"week of logs ({seconds:g} s a run, usage report_run_seconds) = {scanned:.3f} GB "
        "scanned/month"
    )


def _storage_and_transfer(
    est: _Estimate,
    inventory: StackInventory,
    usage: dict[str, float | None],
    notes: list[str],
) -> None:
    """S3 storage and requests, data out, Athena."""
    buckets = inventory.count("aws_s3_bucket")
    if buckets:
        stored = usage["s3_storage_gb"]
        if stored is None:
            expiry = _lifecycle_expiry_days(inventory)
            kept_days = expiry if expiry else DAYS_PER_MONTH
            raw_gb = (
                float(usage["log_lines_per_month"] or 0)
                * float(usage["bytes_per_log_line"] or 0)
                / GB
            )
            compression = float(usage["log_storage_compression"] or 0)
            stored = raw_gb * compression * kept_days / DAYS_PER_MONTH
            notes.append(
                f"S3: the gzip-compressed log copies are kept {kept_days:.0f} days "
                f"({'lifecycle expiry read from the stack' if expiry else 'no expiry found'})"
                f" = {stored:.3f} GB stored"
            )
        est.add(
            "S3",
            "Standard storage" + (f", {buckets} buckets" if buckets > 1 else ""),
            stored,
            "s3.standard_storage",
        )
        est.add(
            "S3",
            "PUT/COPY/POST/LIST requests",
            float(usage["s3_put_requests_per_month"] or 0),
            "s3.put_requests",
            unit="requests",
        )
        est.add(
            "S3",
            "GET/SELECT requests",
            float(usage["s3_get_requests_per_month"] or 0),
            "s3.get_requests",
            unit="requests",
        )
        notes.append(
            "S3 Select is not priced: closed to new customers; the S3 copy is queried with "
            "DuckDB locally (GET requests + data out) or Athena at scale"
        )
    requests = float(usage["log_lines_per_month"] or 0)
    out = usage["data_out_gb_per_month"]
    if out is None:
        out = requests * float(usage["bytes_per_response"] or 0) / GB
    if inventory.count("aws_cloudfront_distribution"):
        # Visitors get the site from CloudFront; EC2 → CloudFront (the origin fetches) is free.
        est.add(
            "CloudFront",
            "HTTPS requests",
            requests,
            "cloudfront.https_requests",
            "cloudfront.https_requests",
            unit="requests",
        )
        est.add(
            "CloudFront",
            "data out to the internet",
            out,
            "cloudfront.out_internet",
            "cloudfront.out_internet",
        )
        est.add_free("Data transfer", "EC2 to CloudFront (origin fetches)", out, "GB")
        notes.append(
            "CloudFront: caching is off (every visit must reach the access log), so every "
            "request is an origin fetch; VPC origins cost nothing of their own"
        )
    else:
        est.add(
            "Data transfer",
            "out to the internet",
            out,
            "transfer.out_internet",
            "transfer.out_internet",
        )


def _whole(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fleet(
    est: _Estimate,
    config: StackConfig,
    inventory: StackInventory,
    usage: dict[str, float | None],
    hours: float,
    notes: list[str],
) -> int:
    """The fleet: min_size servers × hours, their volumes and addresses, the load balancer's
    hours and LCUs, the cross-zone traffic. Returns the servers priced (0 with no fleet)."""
    groups = inventory.of_type("aws_autoscaling_group")
    if not groups:
        return 0
    fallback = config.fleet.min_size if config.fleet else 1
    servers = most = 0
    for group in groups:
        low, high = _whole(group.value("min_size")), _whole(group.value("max_size"))
        if low is None:
            low = fallback
            notes.append(f"{group.address}: min_size not a literal; using {low}")
        servers += low * group.count
        most += max(low, high if high is not None else low) * group.count
        est.priced.add(group.address)
    instance = price(est.region, f"ec2.{config.instance_type}")
    est.add(
        "EC2",
        f"{config.instance_type} Linux On-Demand × {servers} (the fleet's min_size)",
        hours * servers,
        f"ec2.{config.instance_type}",
        unit="hours",
    )
    volume_gb = 0.0
    public = False
    for template in inventory.of_type("aws_launch_template"):
        est.priced.add(template.address)
        for mapping in template.block.children("block_device_mappings"):
            for ebs in mapping.children("ebs"):
                size = template.scope.evaluate(ebs.attributes.get("volume_size"))
                kind = template.scope.evaluate(ebs.attributes.get("volume_type"))
                size = size if isinstance(size, (int, float)) else DEFAULT_ROOT_VOLUME_GB
                kind = kind if isinstance(kind, str) else DEFAULT_ROOT_VOLUME_TYPE
                volume_gb = float(size)
                est.add(
                    "EBS",
                    f"{kind} root volume {size:g} GB × {servers}",
                    float(size) * servers,
                    f"ebs.{kind}",
                )
        public = (
            public
            or template.nested_value("network_interfaces", "associate_public_ip_address") is True
        )
    if public:
        est.add("VPC", f"public IPv4 addresses of the servers ({servers})", servers * hours,
                "vpc.public_ipv4")  # fmt: skip
    if most > servers:
        extra = (most - servers) * hours * instance.usd
        extra += (most - servers) * volume_gb * price(est.region, "ebs.gp3").usd
        notes.append(
            f"fleet: priced at min_size ({servers} servers); target tracking scales out to "
            f"max_size ({most}): each hour above min_size adds "
            f"{format_unit_price(instance.usd)} per extra server, at most {format_usd(extra)}"
            f"/month more with {most} servers all month"
        )
    requests = float(usage["log_lines_per_month"] or 0)
    out_gb = usage["data_out_gb_per_month"]
    if out_gb is None:
        out_gb = requests * float(usage["bytes_per_response"] or 0) / GB
    for balancer in inventory.of_type("aws_lb"):
        est.priced.add(balancer.address)
        kind = str(balancer.value("load_balancer_type") or "application")
        if kind != "application":
            notes.append(f"{balancer.address}: a {kind} load balancer is NOT PRICED")
            continue
        est.add(
            "Elastic Load Balancing",
            "Application Load Balancer hours",
            HOURS_PER_MONTH * balancer.count,
            "elb.alb_hour",
            unit="ALB-hours",
        )
        lcus = usage["alb_lcus_per_hour"]
        if lcus is None:
            per_second = requests / (HOURS_PER_MONTH * 3600)
            gb_per_hour = float(out_gb) / HOURS_PER_MONTH
            lcus = max(
                per_second / ALB_LCU_NEW_CONNECTIONS_PER_SECOND, gb_per_hour / ALB_LCU_GB_PER_HOUR
            )
            notes.append(
                f"load balancer LCUs: the most of {per_second:.3f} new connections/s "
                f"(every request counted as one; {ALB_LCU_NEW_CONNECTIONS_PER_SECOND} per LCU) and "
                f"{gb_per_hour:.4f} GB processed/hour ({ALB_LCU_GB_PER_HOUR:g} per LCU) = "
                f"{lcus:.4f} LCU an hour"
            )
        est.add(
            "Elastic Load Balancing",
            "Application Load Balancer LCU-hours",
            float(lcus) * HOURS_PER_MONTH * balancer.count,
            "elb.alb_lcu",
            unit="LCU-hours",
        )
        if balancer.value("internal") is False:
            est.add(
                "VPC",
                f"public IPv4 addresses of the internet-facing load balancer ({FLEET_ZONES}, "
                "one a zone)",
                FLEET_ZONES * HOURS_PER_MONTH * balancer.count,
                "vpc.public_ipv4",
            )
        crossing = float(out_gb) * CROSS_ZONE_SHARE
        est.add_free("Data transfer", "cross-zone, load balancer to servers", crossing, "GB")
        notes.append(
            f"cross-zone: {CROSS_ZONE_SHARE:.0%} of the requests reach a server in the other zone "
            f"({crossing:.3f} GB/month); an Application Load Balancer's traffic to its targets "
            "is not charged across zones (it would be "
            f"{format_unit_price(price(est.region, 'transfer.cross_az').usd)}/GB each way "
            "between instances)"
        )
    return servers


def _lake(
    est: _Estimate,
    config: StackConfig,
    inventory: StackInventory,
    usage: dict[str, float | None],
    servers: int,
    notes: list[str],
) -> None:
    """The data lake: Athena scans, the Glue Data Catalog, the lake's S3 requests."""
    catalog_objects = inventory.count("aws_glue_catalog_database") + inventory.count(
        "aws_glue_catalog_table"
    )
    fleet = servers > 0
    # Reads per named query; one server runs none on Athena, so its SQL is not parsed.
    if fleet:
        reads = _named_query_reads(inventory, notes)
    else:
        reads = [1] * inventory.count("aws_athena_named_query")
    queries = len(reads)
    for resource in inventory.of_type("aws_athena_named_query"):
        est.priced.add(resource.address)
    runs = float(usage["athena_catalog_runs_per_month"] or 0) if fleet else 0.0
    athena_queries = queries * runs
    table_reads = sum(reads) * runs  # Athena scans the lake this many times a month
    days = min(float(usage["athena_days_scanned_per_query"] or 0), DAYS_PER_MONTH * 12)
    scanned_tb = usage["athena_tb_scanned_per_month"]
    if scanned_tb is None:
        lake_gb_per_day = (
            float(usage["log_lines_per_month"] or 0)
            * float(usage["bytes_per_log_line"] or 0)
            * float(usage["log_storage_compression"] or 0)
            / GB
            / DAYS_PER_MONTH
        )
        covered = lake_gb_per_day * days * GB
        # Athena bills the sum of a query's table scans, and the minimum once per query.
        per_run = sum(max(count * covered, ATHENA_MIN_BYTES_PER_QUERY) for count in reads)
        scanned_tb = runs * per_run / TB
        if fleet:
            notes.append(
                f"Athena: {queries} named quer{'y' if queries == 1 else 'ies'} (the catalog) "
                f"reading the lake {sum(reads)} time{'' if sum(reads) == 1 else 's'} per run "
                f"(Trino reads a WITH query again at each reference) × {runs:g} "
                f"runs a month (usage athena_catalog_runs_per_month), each read over {days:g} "
                f"days of the gzip lake ({lake_gb_per_day * days:.4f} GB), a query billed at "
                f"least {ATHENA_MIN_BYTES_PER_QUERY / 1e6:g} MB = {scanned_tb:.6f} TB "
                "scanned/month"
            )
    if scanned_tb:
        est.add("Athena", "data scanned", float(scanned_tb), "athena.scanned")
    if catalog_objects:
        est.add(
            "Glue Data Catalog",
            "objects stored (database, table; partitions are projected)",
            catalog_objects,
            "glue.catalog_objects",
            "glue.catalog_objects",
            unit="objects",
        )
        est.add(
            "Glue Data Catalog",
            f"requests ({GLUE_REQUESTS_PER_QUERY} per Athena query)",
            athena_queries * GLUE_REQUESTS_PER_QUERY,
            "glue.catalog_requests",
            "glue.catalog_requests",
            unit="requests",
        )
        for resource in inventory.of_type("aws_glue_catalog_database") + inventory.of_type(
            "aws_glue_catalog_table"
        ):
            est.priced.add(resource.address)
    if not catalog_objects and not fleet:
        return
    writers = servers or inventory.count("aws_instance")
    puts = writers * DAYS_PER_MONTH + athena_queries * ATHENA_RESULT_PUTS_PER_QUERY
    lists = table_reads * days  # each read of the lake lists each day's partition it covers
    est.add(
        "S3",
        "lake PUT/LIST requests (a partition a server a day, Athena's listings and results)",
        puts + lists,
        "s3.put_requests",
        unit="requests",
    )
    gets = table_reads * days * writers + athena_queries * ATHENA_RESULT_GETS_PER_QUERY
    est.add(
        "S3", "lake GET requests (Athena reads every object)", gets, "s3.get_requests",
        unit="requests",
    )  # fmt: skip
    notes.append(
        f"lake: {writers} server(s) × {DAYS_PER_MONTH:.2f} days = {writers * DAYS_PER_MONTH:.0f} "
        f"partition objects a month; {athena_queries:g} Athena queries a month read the lake "
        f"{table_reads:g} times, each read listing {days:g} partitions and reading "
        f"{days * writers:g} objects"
    )


def _named_query_reads(inventory: StackInventory, notes: list[str]) -> list[int]:
    """How many times each named query reads the lake, from its SQL in the rendered stack."""
    resources = [r for r in inventory.of_type("aws_athena_named_query") if r.count > 0]
    if not resources:
        return []
    # sqlglot and the catalog's SQL helpers: only for a stack with a lake.
    from sqlglot.errors import SqlglotError

    from cafepipe.insights.athena_sql import lake_reads

    reads: list[int] = []
    unknown = 0
    for resource in resources:
        entries = None
        if "for_each" in resource.block.attributes:
            entries = for_each_entries(
                resource.scope.evaluate(resource.block.attributes["for_each"])
            )
        bindings = [{"each": {"key": key, "value": value}} for key, value in entries or []]
        counts: list[int | None] = []
        for each in bindings or [{}]:
            sql = resource.scope.evaluate(resource.block.attributes.get("query"), each)
            try:
                counts.append(lake_reads(sql) if isinstance(sql, str) else None)
            except SqlglotError:
                counts.append(None)
        # A module called with count or for_each holds every statement that many times.
        repeat = max(resource.count // len(counts), 1)
        unknown += counts.count(None) * repeat
        reads += [1 if count is None else count for count in counts] * repeat
    if unknown:
        notes.append(
            f"Athena: the SQL of {unknown} named quer{'y' if unknown == 1 else 'ies'} is not "
            "known before apply or does not parse; counted as one read of the lake each"
        )
    return reads


def _lifecycle_expiry_days(inventory: StackInventory) -> int | None:
    """The longest object expiry of the buckets' lifecycle rules (plain or `dynamic` rules)."""
    days: list[Any] = []
    resources = inventory.of_type("aws_s3_bucket_lifecycle_configuration")
    for resource in resources + inventory.of_type("aws_s3_bucket"):
        scope = resource.scope
        for rule in resource.block.children("rule") + resource.block.children("lifecycle_rule"):
            for expiration in rule.children("expiration"):
                days.append(scope.evaluate(expiration.attributes.get("days")))
        for dynamic in resource.block.children("dynamic"):
            if not dynamic.labels or dynamic.labels[0] not in ("rule", "lifecycle_rule"):
                continue
            iterator = dynamic.labels[0]  # `content` refers to each entry by the block's name
            entries = for_each_entries(scope.evaluate(dynamic.attributes.get("for_each"))) or []
            for content in dynamic.children("content"):
                for expiration in content.children("expiration"):
                    for key, value in entries:
                        bindings = {iterator: {"key": key, "value": value}}
                        days.append(scope.evaluate(expiration.attributes.get("days"), bindings))
    found = [d for d in days if isinstance(d, int) and not isinstance(d, bool) and d > 0]
    return max(found) if found else None


# Resource types that cost nothing by themselves (their usage, if any, is priced elsewhere).
FREE_RESOURCE_PREFIXES = (
    "aws_iam_",
    "aws_security_group",
    "aws_vpc_security_group_",
    "aws_s3_bucket_",
    "aws_cloudwatch_log_metric_filter",
    "aws_cloudwatch_query_definition",
    "aws_default_",
    "aws_ec2_tag",  # a tag on a resource made by another (the launch's network interface)
    "aws_vpc",
    "aws_subnet",
    "aws_internet_gateway",
    "aws_egress_only_internet_gateway",
    "aws_route",
    "aws_network_acl",
    "aws_ssm_document",
    "aws_ssm_association",
    "aws_cloudwatch_log_stream",
    "aws_cloudwatch_log_resource_policy",
    "aws_cloudfront_vpc_origin",
    "aws_sns_topic_policy",
    "aws_kms_alias",
    "aws_lambda_permission",
    "aws_cloudwatch_event_target",
    "aws_lb_target_group",
    "aws_lb_listener",
    "aws_autoscaling_policy",  # target tracking: its alarms are AWS-managed, not billed
    "aws_athena_workgroup",
    "random_",
    "null_",
    "terraform_data",
    "local_",
    "tls_",
    "time_",
)
PRICED_TYPES = frozenset(
    {
        "aws_instance",
        "aws_ebs_volume",
        "aws_eip",
        "aws_nat_gateway",
        "aws_vpc_endpoint",
        "aws_cloudwatch_metric_alarm",
        "aws_cloudwatch_composite_alarm",
        "aws_cloudwatch_dashboard",
        "aws_cloudwatch_log_group",
        "aws_s3_bucket",
        "aws_cloudfront_distribution",
        "aws_kms_key",
        "aws_ssm_parameter",
        "aws_sns_topic",
        "aws_sns_topic_subscription",
    }
)


def _other(est: _Estimate, inventory: StackInventory, notes: list[str]) -> None:
    keys = inventory.count("aws_kms_key")
    if keys:
        est.add("KMS", f"customer managed keys ({keys})", keys, "kms.key", unit="keys")
    advanced = sum(
        r.count
        for r in inventory.of_type("aws_ssm_parameter")
        if str(r.value("tier") or "Standard") == "Advanced"
    )
    if advanced:
        est.add("Systems Manager", "advanced parameters", advanced, "ssm.advanced_parameter")
    free = sorted(
        {
            r.type
            for r in inventory.resources
            if r.type not in PRICED_TYPES and r.type.startswith(FREE_RESOURCE_PREFIXES)
        }
    )
    unknown = sorted(
        {
            r.type
            for r in inventory.resources
            if r.type not in PRICED_TYPES
            and not r.type.startswith(FREE_RESOURCE_PREFIXES)
            and r.address not in est.priced
        }
    )
    if free:
        notes.append("no charge of their own: " + ", ".join(free))
    if unknown:
        notes.append("NOT PRICED (unknown to cafepipe's price table): " + ", ".join(unknown))
