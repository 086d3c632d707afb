"""The embedded, dated price table `cafepipe cost` works from: public AWS list prices, no network.

Every entry carries its unit, the AWS pricing page it comes from and how and when it was
checked. Regions are only listed where every figure below is known to be right for that
region; any other region (or an instance type not listed) is an error, never a guess.

Free tiers are kept apart (`FREE_TIERS`) and only the "always free" ones are applied: the
12-month free tier was offered only to accounts created before 2025-07-15, and those 12 months
have all run out by 2026-07-15; accounts created since get credits on the Free plan instead,
which are not a price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cafepipe.errors import UsageError

CURRENCY = "USD"
PRICE_DATE = "2026-11-27"  # when this table was last reviewed as a whole
HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates (8,760 h / 12)
# Logs Insights, per GB scanned, in every region below; `cafepipe insights --engine
# cloudwatch` prices its own queries with it too.
GB = 1e9  # the prices here are per decimal gigabyte, as the price pages state them
LOGS_INSIGHTS_USD_PER_GB = 0.005
# Athena (SQL queries), per TB scanned, in every region below; each query is billed by the
# megabyte, rounded up, with a 10 MB minimum. `cafepipe insights --engine athena` prices its
# queries with these.
TB = 1e12
MB = 1e6
ATHENA_USD_PER_TB = 5.00
ATHENA_MIN_BYTES_PER_QUERY = 10 * MB
# A dashboard is free (3 of them) only while it shows at most this many metrics.
DASHBOARD_FREE_TIER_METRICS = 50

EC2_PRICING = "https://aws.amazon.com/ec2/pricing/on-demand/"
EBS_PRICING = "https://aws.amazon.com/ebs/pricing/"
VPC_PRICING = "https://aws.amazon.com/vpc/pricing/"
CW_PRICING = "https://aws.amazon.com/cloudwatch/pricing/"
S3_PRICING = "https://aws.amazon.com/s3/pricing/"
ATHENA_PRICING = "https://aws.amazon.com/athena/pricing/"
KMS_PRICING = "https://aws.amazon.com/kms/pricing/"
SSM_PRICING = "https://aws.amazon.com/systems-manager/pricing/"
CLOUDFRONT_PRICING = "https://aws.amazon.com/cloudfront/pricing/"
SNS_PRICING = "https://aws.amazon.com/sns/pricing/"
LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
EVENTBRIDGE_PRICING = "https://aws.amazon.com/eventbridge/pricing/"
ELB_PRICING = "https://aws.amazon.com/elasticloadbalancing/pricing/"
GLUE_PRICING = "https://aws.amazon.com/glue/pricing/"
# An Application Load Balancer Capacity Unit (LCU) an hour is the most of: 25 new connections a
# second, 3,000 active connections a minute, 1 GB processed an hour (EC2 targets), 1,000 rule
# evaluations a second (ELB_PRICING); cafepipe's traffic is bounded by the first and the third.
ALB_LCU_NEW_CONNECTIONS_PER_SECOND = 25
ALB_LCU_GB_PER_HOUR = 1.0

# How each figure was checked; `{page}` is filled with the entry's own pricing page.
CHECKED_ON_PAGE = "checked against {page}, 2026-11"
CHECKED_WRITE_UPS = "cross-checked with public pricing write-ups, 2026-11-27"
CHECKED_STABLE = (
    "AWS's long-standing list price, not re-checked on 2026-11-27: check it on the source "
    "page before relying on it"
)


@dataclass(frozen=True)
class Price:
    """One list price: what a unit costs, where the figure comes from and when it was checked."""

    usd: float
    unit: str
    source: str
    checked: str


@dataclass(frozen=True)
class FreeTier:
    """A monthly free allowance (`note`: of what), whether AWS gives it for ever or for 12
    months only, and whether the estimate applies it."""

    quantity: float
    unit: str
    always_free: bool
    applied: bool
    note: str


def _p(usd: float, unit: str, source: str, checked: str) -> Price:
    return Price(usd=usd, unit=unit, source=source, checked=checked.format(page=source))


# us-east-1, us-east-2 and us-west-2 share every list price cafepipe uses.
_US_STANDARD: dict[str, Price] = {
    # EC2 On-Demand, Linux, shared tenancy, per instance-hour.
    "ec2.t4g.nano": _p(0.0042, "hour", EC2_PRICING, CHECKED_ON_PAGE),
    "ec2.t4g.micro": _p(0.0084, "hour", EC2_PRICING, CHECKED_STABLE),
    "ec2.t4g.small": _p(0.0168, "hour", EC2_PRICING, CHECKED_STABLE),
    "ec2.t4g.medium": _p(0.0336, "hour", EC2_PRICING, CHECKED_STABLE),
    "ec2.t3.nano": _p(0.0052, "hour", EC2_PRICING, CHECKED_STABLE),
    "ec2.t3.micro": _p(0.0104, "hour", EC2_PRICING, CHECKED_STABLE),
    "ec2.t3.small": _p(0.0208, "hour", EC2_PRICING, CHECKED_STABLE),
    "ec2.t3a.nano": _p(0.0047, "hour", EC2_PRICING, CHECKED_STABLE),
    "ec2.t3a.micro": _p(0.0094, "hour", EC2_PRICING, CHECKED_STABLE),
    # Every public IPv4 address, in use or idle, since 2024-02-01.
    "vpc.public_ipv4": _p(0.005, "IP-hour", VPC_PRICING, CHECKED_WRITE_UPS),
    "vpc.nat_gateway": _p(0.045, "hour", VPC_PRICING, CHECKED_STABLE),
    "vpc.interface_endpoint": _p(0.01, "endpoint-AZ-hour", VPC_PRICING, CHECKED_STABLE),
    # EBS volumes, per GB-month provisioned (gp3 baseline 3,000 IOPS / 125 MB/s included).
    "ebs.gp3": _p(0.08, "GB-month", EBS_PRICING, CHECKED_WRITE_UPS),
    "ebs.gp2": _p(0.10, "GB-month", EBS_PRICING, CHECKED_WRITE_UPS),
    # CloudWatch.
    "cw.custom_metric": _p(0.30, "metric-month", CW_PRICING, CHECKED_ON_PAGE),
    "cw.alarm_standard": _p(0.10, "alarm metric-month", CW_PRICING, CHECKED_ON_PAGE),
    "cw.alarm_high_resolution": _p(0.30, "alarm metric-month", CW_PRICING, CHECKED_STABLE),
    "cw.alarm_composite": _p(0.50, "alarm-month", CW_PRICING, CHECKED_STABLE),
    "cw.dashboard": _p(3.00, "dashboard-month", CW_PRICING, CHECKED_ON_PAGE),
    "logs.ingest_standard": _p(0.50, "GB", CW_PRICING, CHECKED_ON_PAGE),
    "logs.ingest_infrequent_access": _p(0.25, "GB", CW_PRICING, CHECKED_WRITE_UPS),
    "logs.storage": _p(0.03, "GB-month", CW_PRICING, CHECKED_ON_PAGE),
    "logs.insights_scanned": _p(
        LOGS_INSIGHTS_USD_PER_GB, "GB scanned", CW_PRICING, CHECKED_ON_PAGE
    ),
    # S3 Standard.
    "s3.standard_storage": _p(0.023, "GB-month", S3_PRICING, CHECKED_ON_PAGE),
    "s3.put_requests": _p(0.005 / 1000, "request", S3_PRICING, CHECKED_ON_PAGE),
    "s3.get_requests": _p(0.0004 / 1000, "request", S3_PRICING, CHECKED_ON_PAGE),
    # Data transfer out to the internet (first 10 TB tier), all services together.
    "transfer.out_internet": _p(0.09, "GB", EC2_PRICING, CHECKED_ON_PAGE),
    # CloudFront, United States / Mexico / Canada and Europe (PriceClass_100), first 10 TB.
    # Origin fetches from EC2 to CloudFront are free; VPC origins have no charge of their own.
    "cloudfront.out_internet": _p(0.085, "GB", CLOUDFRONT_PRICING, CHECKED_STABLE),
    "cloudfront.https_requests": _p(0.01 / 10_000, "request", CLOUDFRONT_PRICING, CHECKED_STABLE),
    "athena.scanned": _p(ATHENA_USD_PER_TB, "TB scanned", ATHENA_PRICING, CHECKED_ON_PAGE),
    # Application Load Balancer: per load balancer-hour (partial hours billed as whole) and
    # per LCU-hour.
    "elb.alb_hour": _p(0.0225, "ALB-hour", ELB_PRICING, CHECKED_STABLE),
    "elb.alb_lcu": _p(0.008, "LCU-hour", ELB_PRICING, CHECKED_STABLE),
    # Between Availability Zones of one region, charged on each side ($0.01 out + $0.01 in).
    # An Application Load Balancer's own cross-zone traffic to its targets is not charged.
    "transfer.cross_az": _p(0.01, "GB", EC2_PRICING, CHECKED_STABLE),
    # Glue Data Catalog: objects stored (databases, tables, partitions) and requests, each
    # above a free first million a month.
    "glue.catalog_objects": _p(1.00 / 100_000, "object-month", GLUE_PRICING, CHECKED_STABLE),
    "glue.catalog_requests": _p(1.00 / 1_000_000, "request", GLUE_PRICING, CHECKED_STABLE),
    "kms.key": _p(1.00, "key-month", KMS_PRICING, CHECKED_STABLE),
    "kms.requests": _p(0.03 / 10_000, "request", KMS_PRICING, CHECKED_STABLE),
    # SNS: e-mail deliveries ($2.00 per 100,000) and API requests such as Publish.
    "sns.email_notifications": _p(2.00 / 100_000, "notification", SNS_PRICING, CHECKED_STABLE),
    "sns.requests": _p(0.50 / 1_000_000, "request", SNS_PRICING, CHECKED_STABLE),
    # Lambda: requests, and compute per GB-second (Arm/Graviton is a fifth cheaper than x86).
    "lambda.requests": _p(0.20 / 1_000_000, "request", LAMBDA_PRICING, CHECKED_WRITE_UPS),
    "lambda.duration_arm64": _p(0.0000133334, "GB-second", LAMBDA_PRICING, CHECKED_WRITE_UPS),
    "lambda.duration_x86_64": _p(0.0000166667, "GB-second", LAMBDA_PRICING, CHECKED_WRITE_UPS),
    # EventBridge Scheduler invocations; scheduled EventBridge rules have no charge of their own.
    "scheduler.invocations": _p(
        1.00 / 1_000_000, "invocation", EVENTBRIDGE_PRICING, CHECKED_STABLE
    ),
    "ssm.advanced_parameter": _p(0.05, "parameter-month", SSM_PRICING, CHECKED_STABLE),
}

PRICES: Mapping[str, Mapping[str, Price]] = MappingProxyType(
    {
        "us-east-1": MappingProxyType(dict(_US_STANDARD)),
        "us-east-2": MappingProxyType(dict(_US_STANDARD)),
        "us-west-2": MappingProxyType(dict(_US_STANDARD)),
    }
)

FREE_TIERS: Mapping[str, FreeTier] = MappingProxyType(
    {
        "cw.custom_metric": FreeTier(10, "metrics", True, True, "custom or detailed monitoring"),
        "cw.alarm_standard": FreeTier(10, "alarm metrics", True, True, "standard resolution"),
        "cw.dashboard": FreeTier(
            3, "dashboards", True, True, f"up to {DASHBOARD_FREE_TIER_METRICS} metrics each"
        ),
        "logs.ingest_standard": FreeTier(5, "GB", True, True, "logs ingested"),
        "logs.storage": FreeTier(5, "GB-month", True, True, "logs stored"),
        "transfer.out_internet": FreeTier(
            100, "GB", True, True, "out to the internet, all services together"
        ),
        "cloudfront.out_internet": FreeTier(1_000, "GB", True, True, "out through CloudFront"),
        "cloudfront.https_requests": FreeTier(
            10_000_000, "requests", True, True, "HTTP(S) to CloudFront"
        ),
        "kms.requests": FreeTier(20_000, "requests", True, True, "KMS API requests"),
        "sns.email_notifications": FreeTier(1_000, "notifications", True, True, "SNS e-mail"),
        "sns.requests": FreeTier(1_000_000, "requests", True, True, "SNS API requests"),
        "lambda.requests": FreeTier(1_000_000, "requests", True, True, "Lambda requests"),
        "lambda.duration": FreeTier(400_000, "GB-seconds", True, True, "Lambda compute"),
        "scheduler.invocations": FreeTier(
            14_000_000, "invocations", True, True, "EventBridge Scheduler"
        ),
        "glue.catalog_objects": FreeTier(
            1_000_000, "objects", True, True, "Glue Data Catalog objects stored"
        ),
        "glue.catalog_requests": FreeTier(
            1_000_000, "requests", True, True, "Glue Data Catalog requests"
        ),
        "ec2.micro_hours": FreeTier(750, "hours", False, False, "t2/t3.micro"),
        "elb.alb_hour": FreeTier(750, "ALB-hours", False, False, "Application Load Balancer"),
        "vpc.public_ipv4": FreeTier(750, "IP-hours", False, False, "public IPv4"),
        "s3.standard_storage": FreeTier(5, "GB-month", False, False, "S3 Standard"),
    }
)


class NoPriceError(UsageError):
    """The table has no price for this region, instance type or item (exit 2 for `cost`)."""


def supported_regions() -> list[str]:
    """Regions the table has prices for."""
    return sorted(PRICES)


def supported_instance_types(region: str) -> list[str]:
    """Instance types the table has an hourly price for in `region`."""
    return sorted(
        key.removeprefix("ec2.") for key in region_prices(region) if key.startswith("ec2.")
    )


def region_prices(region: str) -> Mapping[str, Price]:
    """All prices of one region; a region with no prices is a usage error (exit 2)."""
    try:
        return PRICES[region]
    except KeyError:
        raise NoPriceError(
            f"cafepipe has no price table for region {region!r}",
            "prices are embedded for "
            + ", ".join(supported_regions())
            + "; for a rough figure, price the nearest of them with --region",
        ) from None


def price(region: str, key: str) -> Price:
    """One price (e.g. `logs.storage`) in `region`."""
    prices = region_prices(region)
    try:
        return prices[key]
    except KeyError:
        raise NoPriceError(f"cafepipe has no price for {key!r} in {region}") from None


def instance_price(region: str, instance_type: str) -> Price:
    """The On-Demand Linux hourly price of `instance_type`; unknown types are exit 2."""
    prices = region_prices(region)
    key = f"ec2.{instance_type}"
    if key not in prices:
        raise NoPriceError(
            f"cafepipe has no price for instance type {instance_type!r} in {region}",
            "priced types: " + ", ".join(supported_instance_types(region)),
        )
    return prices[key]
