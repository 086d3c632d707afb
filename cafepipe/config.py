"""One validated, immutable StackConfig from cafepipe.toml < environment < flags.

Everything is checked here, before any cloud call: a bad value raises `ConfigError`
(exit 2) naming the field.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlparse

from cafepipe.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_CONFIG_FILE = "cafepipe.toml"
DEFAULT_STACK = "cafe"
DEFAULT_REGION = "us-east-1"
DEFAULT_INSTANCE_TYPE = "t4g.nano"
DEFAULT_RETENTION_DAYS = 180  # half a year of history; Logs Insights reads it all
STATE_ROOT = ".cafepipe"

# How visitors reach the site: through CloudFront to a server with no public IPv4 address
# (default: HTTPS, visitor geography, $3.65/month less), or straight to the server's public IP.
SITE_ACCESS_CHOICES = ("cloudfront", "public-ip")
DEFAULT_SITE_ACCESS = "cloudfront"

# How many web servers (docs/fleet.md): one instance, or an Auto Scaling group over two zones
# behind a load balancer. [fleet] sizes: the defaults, and a cap that keeps a typo (60 for 6)
# from starting a bill nobody meant.
PROFILE_CHOICES = ("single", "fleet")
DEFAULT_PROFILE = "single"
DEFAULT_FLEET_MIN_SIZE = 2
DEFAULT_FLEET_MAX_SIZE = 4
FLEET_MAX_SIZE_CAP = 20

# Alerts by e-mail (docs/alerts.md): on when `alert_email` is set. The café's time zone is
# the weekly report's ("mon 08:00" is 08:00 there).
DEFAULT_TIMEZONE = "UTC"
# The lake's Athena workgroup cancels a query that would scan more (MB, as AWS counts: 10^6
# bytes): 10 GB is $0.05 at $5/TB, years of a café's compressed log. AWS's minimum is 10 MB.
DEFAULT_ATHENA_SCAN_CUTOFF_MB = 10_000
ATHENA_SCAN_CUTOFF_MB_RANGE = (10, 100_000_000)
DEFAULT_REPORT_WEEKLY = "mon 08:00"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# [alerts] settings: default, smallest, largest. Alarms evaluate 5-minute periods.
ALERT_SETTINGS: dict[str, tuple[int, int, int]] = {
    "server_error_percent": (5, 1, 100),  # share of requests answered 5xx, over 10 minutes
    "silent_minutes": (180, 15, 1440),  # no request at all for this long (a multiple of 5)
    "scanner_probes": (100, 10, 100_000),  # scanner probes in 5 minutes
}

# The offline provider (docs/emulator.md) and the one real AWS users get.
OFFLINE_PROVIDER_VERSION = "3.39.0"
CURRENT_PROVIDER_CONSTRAINT = "~> 6.0"

# CloudWatch Logs PutRetentionPolicy accepts exactly these values.
RETENTION_DAYS_ALLOWED = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180,
    365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Commercial regions where every service of the stack (EC2 Graviton, CloudWatch, SSM, S3) exists.
KNOWN_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1",
    "sa-east-1", "mx-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
    "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-east-1",
    "af-south-1", "me-south-1", "me-central-1", "il-central-1",
})  # fmt: skip

# Instance families that run Amazon Linux 2023; Graviton ones take the arm64 AMI.
ARM64_FAMILIES = frozenset({
    "t4g", "m6g", "m6gd", "m7g", "m7gd", "m8g", "c6g", "c6gd", "c6gn", "c7g", "c7gd", "c7gn",
    "c8g", "r6g", "r6gd", "r7g", "r7gd", "r8g", "a1", "x2gd", "im4gn", "is4gen",
})  # fmt: skip
X86_64_FAMILIES = frozenset({
    "t2", "t3", "t3a", "m5", "m5a", "m5ad", "m5d", "m5n", "m6a", "m6i", "m6id", "m7a",
    "m7i", "m7i-flex", "c5", "c5a", "c5d", "c5n", "c6a", "c6i", "c6id", "c7a", "c7i",
    "c7i-flex", "r5", "r5a", "r5d", "r6a", "r6i", "r7a", "r7i",
})  # fmt: skip
INSTANCE_SIZES = frozenset({
    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge",
    "12xlarge", "16xlarge", "24xlarge", "32xlarge", "48xlarge", "metal",
})  # fmt: skip

# Where things live in the stack's bucket (the instance role may read/write only these).
SIMULATED_LOG_PREFIX = "simulated-logs/"
ARCHIVE_PREFIX = "archive/"

# On the instance (Amazon Linux 2023): where Apache writes and the CloudWatch agent lives.
ACCESS_LOG_PATH = "/var/log/www/access/access_log"  # the JSON "cloudwatch" LogFormat
ERROR_LOG_PATH = "/var/log/httpd/error_log"
ARCHIVE_SCRIPT_PATH = "/usr/local/bin/cafepipe-archive-logs"  # rotated logs → s3://…/archive/
LOGROTATE_CONFIG_PATH = "/etc/logrotate.d/cafepipe-access"
AGENT_DIR = "/opt/aws/amazon-cloudwatch-agent"
AGENT_CTL = f"{AGENT_DIR}/bin/amazon-cloudwatch-agent-ctl"
AGENT_CONFIG_PATH = f"{AGENT_DIR}/etc/cafepipe-agent.json"
SSM_AGENT_CONFIG_PATH = "/etc/amazon/ssm/amazon-ssm-agent.json"
AGENT_STATE_DIR = f"{AGENT_DIR}/logs/state"  # per-file read offsets: kept across restarts

# Terraform outputs of every stack (contract for simulate-logs, insights, status).
STACK_OUTPUTS = (
    "instance_id",
    "site_url",
    "bucket_name",
    "access_log_group",
    "error_log_group",
    "dashboard_name",
    "dashboard_url",
    # The lake (cafepipe.deploy.lake): Glue database and table, Athena workgroup, archive URI.
    "lake_database",
    "lake_table",
    "athena_workgroup",
    "archive_prefix",
)
# More outputs of a stack with alerts (alert_email set); the last one unless the report is off.
ALERT_OUTPUTS = ("alert_topic_arn", "alert_alarm_names", "report_function_name")
# More outputs of a fleet (profile = "fleet"); `instance_id` is then one server of the fleet.
FLEET_OUTPUTS = ("fleet_asg_name", "fleet_alb_dns_name", "fleet_target_group_arn")

AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"

_STACK_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")

ENV_PREFIX = "CAFEPIPE_"
# Config keys that may come from the file, the environment (CAFEPIPE_<KEY>) and flags.
SCALAR_KEYS = (
    "stack",
    "region",
    "profile",
    "instance_type",
    "site_access",
    "allowed_http_cidr",
    "log_retention_days",
    "bucket_name",
    "endpoint_url",
    "terraform_bin",
    "state_dir",
    "alert_email",
    "timezone",
    "athena_scan_cutoff_mb",
)


@dataclass(frozen=True)
class BackendConfig:
    """Where Terraform keeps its state: local (default) or an S3 bucket with a lock file."""

    kind: str = "local"
    bucket: str | None = None
    key: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class WeeklySchedule:
    """When the weekly report goes out, in the café's time zone: `day` 0 = Monday."""

    day: int
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.day]} {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class AlertSettings:
    """What sets the alarms off ([alerts] in cafepipe.toml; see ALERT_SETTINGS)."""

    server_error_percent: int = ALERT_SETTINGS["server_error_percent"][0]
    silent_minutes: int = ALERT_SETTINGS["silent_minutes"][0]
    scanner_probes: int = ALERT_SETTINGS["scanner_probes"][0]


@dataclass(frozen=True)
class FleetSettings:
    """The fleet's size ([fleet] in cafepipe.toml): 1 <= min_size <= max_size <= the cap."""

    min_size: int = DEFAULT_FLEET_MIN_SIZE
    max_size: int = DEFAULT_FLEET_MAX_SIZE


@dataclass(frozen=True)
class StackConfig:
    """Every setting of one stack, validated. Build it with `load_config`."""

    stack: str = DEFAULT_STACK
    region: str = DEFAULT_REGION
    profile: str = DEFAULT_PROFILE
    fleet: FleetSettings | None = None  # set exactly when profile = "fleet"
    instance_type: str = DEFAULT_INSTANCE_TYPE
    site_access: str = DEFAULT_SITE_ACCESS
    allowed_http_cidr: str = "0.0.0.0/0"
    log_retention_days: int = DEFAULT_RETENTION_DAYS
    bucket_name: str = ""
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    endpoint_url: str | None = None
    terraform_bin: str | None = None
    state_root: Path = Path(STATE_ROOT)
    backend: BackendConfig = BackendConfig()
    usage: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    alert_email: str | None = None  # None: no alerts, no weekly report
    timezone: str = DEFAULT_TIMEZONE
    report_weekly: WeeklySchedule | None = None  # None: no weekly report ("off")
    alerts: AlertSettings = AlertSettings()
    athena_scan_cutoff_mb: int = DEFAULT_ATHENA_SCAN_CUTOFF_MB

    @property
    def fleet_enabled(self) -> bool:
        """An Auto Scaling group behind a load balancer instead of one instance."""
        return self.fleet is not None

    @property
    def alerts_enabled(self) -> bool:
        """The alerts module is rendered: a topic, the owner's subscription, the alarms."""
        return self.alert_email is not None

    @property
    def emulated(self) -> bool:
        """True when talking to an AWS-compatible emulator instead of AWS."""
        return self.endpoint_url is not None

    @property
    def provider_version(self) -> str:
        """The hashicorp/aws version constraint rendered into versions.tf."""
        return OFFLINE_PROVIDER_VERSION if self.emulated else CURRENT_PROVIDER_CONSTRAINT

    @property
    def provider_major(self) -> int:
        return 3 if self.emulated else 6

    @property
    def private_network(self) -> bool:
        """The server has no public IPv4 address (site_access = "cloudfront")."""
        return self.site_access == "cloudfront"

    @property
    def cloudfront(self) -> bool:
        """CloudFront is rendered: the offline provider (3.39) predates VPC origins (5.82)."""
        return self.private_network and self.provider_major >= 6

    @property
    def architecture(self) -> str:
        return "arm64" if instance_family(self.instance_type) in ARM64_FAMILIES else "x86_64"

    @property
    def ami_parameter(self) -> str:
        return AL2023_AMI_PARAMETER.format(arch=self.architecture)

    @property
    def log_group_prefix(self) -> str:
        # The default stack keeps the plain names (apache/access); others get their own.
        return "apache" if self.stack == DEFAULT_STACK else f"{self.stack}/apache"

    @property
    def access_log_group(self) -> str:
        return f"{self.log_group_prefix}/access"

    @property
    def error_log_group(self) -> str:
        return f"{self.log_group_prefix}/error"

    @property
    def dashboard_name(self) -> str:
        return f"{self.stack}-dashboard"

    @property
    def stack_dir(self) -> Path:
        """`.cafepipe/<stack>/`: rendered files, Terraform state, ground truth."""
        return self.state_root / self.stack

    @property
    def terraform_dir(self) -> Path:
        return self.stack_dir / "terraform"

    @property
    def all_tags(self) -> dict[str, str]:
        """Tags on every resource: the user's plus the stack tag cafepipe finds resources by."""
        return {**self.tags, "cafepipe:stack": self.stack, "ManagedBy": "cafepipe"}


def instance_family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def _validate_stack(value: Any) -> str:
    if not isinstance(value, str) or not _STACK_RE.match(value):
        raise ConfigError(
            "stack",
            f"{value!r} is not a valid stack name",
            "use 1-20 characters: lower-case letters, digits and '-', starting with a letter",
        )
    return value


def _validate_region(value: Any) -> str:
    if not isinstance(value, str) or value not in KNOWN_REGIONS:
        raise ConfigError(
            "region",
            f"{value!r} is not an AWS region cafepipe knows",
            "use a region code such as us-east-1 or eu-west-1",
        )
    return value


def _validate_instance_type(value: Any) -> str:
    if not isinstance(value, str) or value.count(".") != 1:
        raise ConfigError("instance_type", f"{value!r} is not an instance type like t4g.nano")
    family, size = value.split(".")
    if family not in ARM64_FAMILIES | X86_64_FAMILIES:
        raise ConfigError(
            "instance_type",
            f"unknown instance family {family!r} in {value!r}",
            "use a current general-purpose family, e.g. t4g (arm64, cheapest) or t3",
        )
    if size not in INSTANCE_SIZES:
        raise ConfigError("instance_type", f"unknown instance size {size!r} in {value!r}")
    return value


def _validate_cidr(value: Any) -> str:
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise ConfigError(
            "allowed_http_cidr",
            f"{value!r} is not a CIDR block ({exc})",
            "use e.g. 0.0.0.0/0 (the public) or 203.0.113.0/24",
        ) from None
    if network.version != 4:
        raise ConfigError("allowed_http_cidr", f"{value!r}: only IPv4 CIDR blocks are supported")
    return str(network)


def _validate_site_access(value: Any, allowed_http_cidr: str) -> str:
    if value not in SITE_ACCESS_CHOICES:
        raise ConfigError(
            "site_access",
            f"{value!r} is not a way to reach the site",
            "use 'cloudfront' (default: no public IP on the server) or 'public-ip'",
        )
    if value == "cloudfront" and allowed_http_cidr != "0.0.0.0/0":
        raise ConfigError(
            "allowed_http_cidr",
            f"{allowed_http_cidr} applies only with site_access = 'public-ip'",
            "behind CloudFront only AWS WAF (from $5/month) can filter visitors by address; "
            "set site_access = 'public-ip' to restrict the site to a CIDR block",
        )
    return str(value)


def _validate_profile(value: Any) -> str:
    if value not in PROFILE_CHOICES:
        raise ConfigError(
            "profile",
            f"{value!r} is not a profile",
            "use 'single' (default: one web server) or 'fleet' (an Auto Scaling group)",
        )
    return str(value)


def _validate_fleet(value: Any, profile: str) -> FleetSettings | None:
    """[fleet] min_size / max_size: whole numbers, 1 <= min <= max <= FLEET_MAX_SIZE_CAP."""
    if value is not None and profile != "fleet":
        raise ConfigError(
            "fleet",
            f"[fleet] applies only with profile = 'fleet' (the profile is {profile!r})",
            'set profile = "fleet", or remove the [fleet] table',
        )
    if profile != "fleet":
        return None
    value = {} if value is None else value
    if not isinstance(value, Mapping):
        raise ConfigError("fleet", "must be a table, e.g. [fleet] min_size = 2")
    known = ("min_size", "max_size")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError(f"fleet.{unknown[0]}", "unknown setting", "known: " + ", ".join(known))
    sizes = {"min_size": DEFAULT_FLEET_MIN_SIZE, "max_size": DEFAULT_FLEET_MAX_SIZE}
    for key, item in value.items():
        whole = isinstance(item, int) and not isinstance(item, bool)
        if not whole or not 1 <= item <= FLEET_MAX_SIZE_CAP:
            raise ConfigError(
                f"fleet.{key}", f"{item!r} is not a whole number from 1 to {FLEET_MAX_SIZE_CAP}"
            )
        sizes[key] = item
    if sizes["min_size"] > sizes["max_size"]:
        raise ConfigError(
            "fleet.min_size",
            f"min_size {sizes['min_size']} is larger than max_size {sizes['max_size']}",
            "set min_size <= max_size (the defaults are "
            f"{DEFAULT_FLEET_MIN_SIZE} and {DEFAULT_FLEET_MAX_SIZE})",
        )
    return FleetSettings(**sizes)


def _validate_retention(value: Any) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = -1
    if isinstance(value, bool) or days not in RETENTION_DAYS_ALLOWED:
        raise ConfigError(
            "log_retention_days",
            f"{value!r} is not a retention CloudWatch Logs accepts",
            "use one of " + ", ".join(map(str, RETENTION_DAYS_ALLOWED)),
        )
    return days


def _validate_scan_cutoff(value: Any) -> int:
    low, high = ATHENA_SCAN_CUTOFF_MB_RANGE
    try:
        megabytes = int(value)
    except (TypeError, ValueError):
        megabytes = -1
    if isinstance(value, (bool, float)) or not low <= megabytes <= high:
        raise ConfigError(
            "athena_scan_cutoff_mb",
            f"{value!r} is not a per-query scan limit Athena accepts",
            f"use a whole number of megabytes from {low} to {high:,}",
        )
    return megabytes


def validate_bucket_name(value: Any, field_name: str = "bucket_name") -> str:
    """S3 general-purpose bucket naming rules."""
    name = str(value)
    problem = None
    if not _BUCKET_RE.match(name):
        problem = (
            "use 3-63 characters: lower-case letters, digits, '.' and '-', "
            "alphanumeric at both ends"
        )
    elif ".." in name or ".-" in name or "-." in name:
        problem = "no two adjacent periods, and no period next to a hyphen"
    elif re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
        problem = "must not look like an IP address"
    elif name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")
    ):
        problem = "uses a prefix or suffix that S3 reserves"
    if problem:
        raise ConfigError(field_name, f"{name!r} is not a valid S3 bucket name", problem)
    return name


def _validate_tags(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError("tags", 'must be a table of key = "value" pairs')
    tags: dict[str, str] = {}
    for key, val in value.items():
        key = str(key)
        if not _TAG_KEY_RE.match(key) or key.lower().startswith("aws:"):
            raise ConfigError("tags", f"invalid tag key {key!r} (1-128 characters, not 'aws:...')")
        if not isinstance(val, (str, int, float)) or len(str(val)) > 256:
            raise ConfigError(
                "tags", f"tag {key!r}: value must be a string of at most 256 characters"
            )
        tags[key] = str(val)
    return tags


def _validate_endpoint(value: Any) -> str | None:
    if value in (None, ""):
        return None
    parsed = urlparse(str(value))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            "endpoint_url", f"{value!r} is not an http(s) URL", "e.g. http://127.0.0.1:5000"
        )
    return str(value).rstrip("/")


def _validate_backend(value: Any) -> BackendConfig:
    if value in (None, {}):
        return BackendConfig()
    if not isinstance(value, Mapping):
        raise ConfigError("backend", 'must be a table, e.g. [backend] bucket = "..."')
    kind = value.get("kind", "s3" if "bucket" in value else "local")
    if kind == "local":
        return BackendConfig()
    if kind != "s3":
        raise ConfigError("backend.kind", f"{kind!r} is not 'local' or 's3'")
    if "bucket" not in value:
        raise ConfigError("backend.bucket", "an S3 backend needs a bucket")
    bucket = validate_bucket_name(value["bucket"], "backend.bucket")
    region = value.get("region")
    if region is not None:
        _validate_region(region)
    return BackendConfig(kind="s3", bucket=bucket, key=value.get("key"), region=region)


def _validate_state_dir(value: Any) -> Path:
    """The state directory may be missing (it is created), but not a file or under one."""
    path = Path(str(value))
    for place in (path, *path.parents):
        try:
            if not place.exists():
                continue
            if place.is_dir():
                return path
        except OSError:  # not ours to look into: whoever writes there reports it
            return path
        where = "is a file" if place == path else f"is under {place}, which is a file"
        raise ConfigError(
            "state_dir",
            f"{path} {where}, not a folder",
            "pass --state-dir a folder (it is created if missing), or set CAFEPIPE_STATE_DIR",
        )
    return path


_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"  # RFC 5322 dot-atom text, no quoted forms
_EMAIL_LOCAL_RE = re.compile(rf"^{_EMAIL_ATOM}(\.{_EMAIL_ATOM})*$")
_DOMAIN_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_ZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")
_WEEKLY_RE = re.compile(r"^([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})$")


def _validate_alert_email(value: Any) -> str | None:
    """An address SNS can send to: the plain `local@domain.tld` form (no display name)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or len(text) > 254
        or len(local) > 64
        or not _EMAIL_LOCAL_RE.match(local)
        or len(labels) < 2
        or not all(_DOMAIN_LABEL_RE.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ConfigError(
            "alert_email",
            f"{value!r} is not an e-mail address",
            'use the plain form, e.g. alert_email = "owner@example.com"',
        )
    return f"{local}@{domain.lower()}"


def _validate_timezone(value: Any) -> str:
    """An IANA time zone name (Europe/Paris, America/New_York, UTC) this machine knows."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = str(value)
    known = False
    if _ZONE_RE.match(name) and name not in ("localtime", "posixrules", "Factory"):
        try:
            ZoneInfo(name)
            known = True
        except (ZoneInfoNotFoundError, ValueError, OSError):
            known = False
    if not known:
        raise ConfigError(
            "timezone",
            f"{value!r} is not a time zone",
            "use an IANA name such as Europe/Paris, America/New_York or UTC",
        )
    return name


def _validate_report(value: Any) -> WeeklySchedule | None:
    """[report] weekly = "mon 08:00" (day and 24-hour time, in the café's time zone) or "off"."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError("report", 'must be a table, e.g. [report] weekly = "mon 08:00"')
    unknown = sorted(set(value) - {"weekly"})
    if unknown:
        raise ConfigError(f"report.{unknown[0]}", "unknown setting", "known settings: weekly")
    text = str(value.get("weekly", DEFAULT_REPORT_WEEKLY)).strip().lower()
    if text == "off":
        return None
    match = _WEEKLY_RE.match(text)
    day = WEEKDAYS.index(match.group(1)) if match and match.group(1) in WEEKDAYS else -1
    hour, minute = (int(match.group(2)), int(match.group(3))) if match else (-1, -1)
    if day < 0 or not 0 <= hour <= 23 or not 0 <= minute <= 59:
        raise ConfigError(
            "report.weekly",
            f"{value.get('weekly')!r} is not a day and a time",
            'use e.g. "mon 08:00" or "friday 17:30" (24-hour, the café\'s time zone), or "off"',
        )
    return WeeklySchedule(day, hour, minute)


def _validate_alerts(value: Any) -> AlertSettings:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError("alerts", "must be a table, e.g. [alerts] silent_minutes = 180")
    unknown = sorted(set(value) - set(ALERT_SETTINGS))
    if unknown:
        raise ConfigError(
            f"alerts.{unknown[0]}", "unknown setting", "known: " + ", ".join(ALERT_SETTINGS)
        )
    settings: dict[str, int] = {}
    for key, item in value.items():
        _default, low, high = ALERT_SETTINGS[key]
        whole = isinstance(item, int) and not isinstance(item, bool)
        if not whole or not low <= item <= high or (key == "silent_minutes" and item % 5):
            every = " in steps of 5" if key == "silent_minutes" else ""
            raise ConfigError(
                f"alerts.{key}", f"{item!r} is not a whole number from {low} to {high}{every}"
            )
        settings[key] = item
    return AlertSettings(**settings)


def derived_bucket_name(stack: str, region: str, state_root: Path) -> str:
    """A globally-unique-ish, stable bucket name: stable for one checkout, different across them."""
    seed = f"{stack}:{region}:{state_root.resolve()}"
    return f"cafepipe-{stack}-{hashlib.sha256(seed.encode()).hexdigest()[:10]}"


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a cafepipe.toml; a syntax error is a usage error naming the file."""
    try:
        with path.open("rb") as handle:
            return dict(tomllib.load(handle))
    except FileNotFoundError:
        raise ConfigError("config", f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    # The usual AWS variables, then ours (which win).
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        if environ.get(name):
            values["region"] = environ[name]
    if environ.get("AWS_ENDPOINT_URL"):
        values["endpoint_url"] = environ["AWS_ENDPOINT_URL"]
    for key in SCALAR_KEYS:
        env_name = ENV_PREFIX + key.upper()
        if environ.get(env_name):
            values[key] = environ[env_name]
    return values


def load_config(
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> StackConfig:
    """Merge cafepipe.toml < environment < flags and validate every field.

    `config_file=None` reads ./cafepipe.toml when it exists.
    """
    environ = os.environ if environ is None else environ
    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = read_config_file(Path(config_file))
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        file_values = read_config_file(Path(DEFAULT_CONFIG_FILE))

    known = {*SCALAR_KEYS, "tags", "backend", "usage", "report", "alerts", "fleet"}
    unknown = sorted(set(file_values) - known)
    if unknown:
        raise ConfigError(
            unknown[0], "unknown setting", "known settings: " + ", ".join(sorted(known))
        )

    merged: dict[str, Any] = {**file_values, **_env_values(environ)}
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})

    stack = _validate_stack(merged.get("stack", DEFAULT_STACK))
    region = _validate_region(merged.get("region", DEFAULT_REGION))
    state_root = _validate_state_dir(merged.get("state_dir") or STATE_ROOT)
    bucket = merged.get("bucket_name") or derived_bucket_name(stack, region, state_root)
    usage = merged.get("usage", {})
    if not isinstance(usage, Mapping):
        raise ConfigError("usage", "must be a table, e.g. [usage] log_lines_per_month = 1000000")
    terraform_bin = merged.get("terraform_bin") or None
    allowed_http_cidr = _validate_cidr(merged.get("allowed_http_cidr", "0.0.0.0/0"))
    profile = _validate_profile(merged.get("profile", DEFAULT_PROFILE))
    return StackConfig(
        stack=stack,
        region=region,
        profile=profile,
        fleet=_validate_fleet(merged.get("fleet"), profile),
        instance_type=_validate_instance_type(merged.get("instance_type", DEFAULT_INSTANCE_TYPE)),
        site_access=_validate_site_access(
            merged.get("site_access", DEFAULT_SITE_ACCESS), allowed_http_cidr
        ),
        allowed_http_cidr=allowed_http_cidr,
        log_retention_days=_validate_retention(
            merged.get("log_retention_days", DEFAULT_RETENTION_DAYS)
        ),
        bucket_name=validate_bucket_name(bucket),
        tags=MappingProxyType(_validate_tags(merged.get("tags", {}))),
        endpoint_url=_validate_endpoint(merged.get("endpoint_url")),
        terraform_bin=str(terraform_bin) if terraform_bin else None,
        state_root=state_root,
        backend=_validate_backend(merged.get("backend")),
        usage=MappingProxyType(dict(usage)),
        alert_email=_validate_alert_email(merged.get("alert_email")),
        timezone=_validate_timezone(merged.get("timezone") or DEFAULT_TIMEZONE),
        report_weekly=_validate_report(merged.get("report")),
        alerts=_validate_alerts(merged.get("alerts")),
        athena_scan_cutoff_mb=_validate_scan_cutoff(
            merged.get("athena_scan_cutoff_mb", DEFAULT_ATHENA_SCAN_CUTOFF_MB)
        ),
    )
