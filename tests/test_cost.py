"""`cafepipe cost`: prices, free tiers, a worked example, usage, formats, errors, and reading
the resource counts from rendered Terraform (a hand-made fixture and the real render).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cafepipe.config import StackConfig, load_config
from cafepipe.cost import (
    CostReport,
    estimate_cost,
    format_usd,
    monthly_total_line,
    read_usage_file,
    report_csv,
    report_table_rows,
    scan_stack,
    validate_usage,
)
from cafepipe.cost.prices import FREE_TIERS, PRICES, instance_price, price
from cafepipe.errors import CafepipeError, UsageError

ROOT_TF = """\
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

// the root wires the modules
module "compute" {
  source        = "./modules/compute"
  instance_type = var.instance_type
  stack         = "cafe"
}

module "observability" {
  source         = "./modules/observability"
  retention_days = var.retention
  alarm_count    = 2
  filter_count   = __FILTERS__
  dashboards     = __DASHBOARDS__
}

module "storage" {
  source = "./modules/storage"
}

variable "instance_type" {
  type        = string
  description = "EC2 type { not a block }"
  default     = "t4g.nano"
}

variable "retention" {
  type    = number
  default = 180
}
"""

COMPUTE_TF = """\
variable "instance_type" { type = string }
variable "stack" {
  type    = string
  default = "x"
}
variable "root_volume_gb" {
  type    = number
  default = __ROOT_GB__
}

resource "aws_instance" "web" {
  ami                         = data.aws_ssm_parameter.ami.value
  instance_type               = var.instance_type
  associate_public_ip_address = __PUBLIC_IP__
  user_data = <<-EOT
    #!/bin/bash
    echo "hello { not a brace" # }
    cat > /etc/x.json <<'JSON'
    {"a": "}"}
    JSON
  EOT
  metadata_options {
    http_tokens = "required"
  }
  root_block_device {
    volume_size = var.root_volume_gb
    volume_type = "gp3"
    encrypted   = true
  }
  tags = { Name = "${var.stack}-web", "cafepipe:stack" = "${lower("Café")}" }
}

resource "aws_security_group" "web" {
  name = "${var.stack}-web"
  ingress {
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"] # HTTP only
  }
}

data "aws_ssm_parameter" "ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}
"""

OBSERVABILITY_TF = """\
variable "retention_days" { type = number }
variable "alarm_count" { type = number }
variable "filter_count" { type = number }
variable "dashboards" { type = number }

resource "aws_cloudwatch_log_group" "access" {
  name              = "apache/access"
  retention_in_days = var.retention_days
}

resource "aws_cloudwatch_log_group" "error" {
  name              = "apache/error"
  retention_in_days = var.retention_days
}

resource "aws_cloudwatch_log_metric_filter" "status" {
  count          = var.filter_count
  name           = "status-${count.index}"
  log_group_name = aws_cloudwatch_log_group.access.name
  pattern        = "{ $.status = 5* }"
  metric_transformation {
    name      = "Http5xx"
    namespace = "cafepipe"
    value     = "1"
  }
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  count               = var.alarm_count
  alarm_name          = "cafe-5xx-${count.index}"
  metric_name         = "Http5xx"
  namespace           = "cafepipe"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanThreshold"
  statistic           = "Sum"
}

resource "aws_cloudwatch_dashboard" "main" {
  count          = var.dashboards
  dashboard_name = "cafe-dashboard-${count.index}"
  dashboard_body = jsonencode({
    widgets = [
      { type = "text", properties = { markdown = "# Café" } },
      {
        type       = "metric"
        properties = { metrics = [["cafepipe", "Http5xx"], ["cafepipe", "Orders"]] }
      },
      { type = "log", properties = { query = "SOURCE 'apache/access' | fields @timestamp" } },
    ]
  })
}

resource "aws_cloudwatch_query_definition" "menu" {
  name            = "cafe/menu-visitors"
  log_group_names = ["apache/access"]
  query_string    = <<-EOQ
    fields @timestamp, remoteIP
    | filter request = "/cafe/menu.php"
  EOQ
}

resource "aws_cloudwatch_query_definition" "orders" {
  name         = "cafe/purchasers"
  query_string = "fields remoteIP | filter request = \\"/cafe/processOrder.php\\""
}
"""

STORAGE_TF = """\
/* the S3 copy
   of the logs */
resource "aws_s3_bucket" "logs" {
  bucket        = "cafepipe-cafe-abc"
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket              = aws_s3_bucket.logs.id
  block_public_acls   = true
  block_public_policy = true
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-simulated"
    status = "Enabled"
    filter { prefix = "simulated-logs/" }
    expiration { days = 30 }
  }
  rule {
    id     = "expire-archive"
    status = "Enabled"
    filter { prefix = "archive/" }
    expiration {
      days = 90
    }
  }
}
"""


def write_stack(
    root: Path,
    *,
    filters: int = 3,
    dashboards: int = 1,
    root_gb: int = 8,
    public_ip: str = "true",
) -> Path:
    """A small rendered stack in the shape of cafepipe's: root + compute/observability/storage."""
    files = {
        "main.tf": ROOT_TF.replace("__FILTERS__", str(filters)).replace(
            "__DASHBOARDS__", str(dashboards)
        ),
        "modules/compute/main.tf": COMPUTE_TF.replace("__ROOT_GB__", str(root_gb)).replace(
            "__PUBLIC_IP__", public_ip
        ),
        "modules/observability/main.tf": OBSERVABILITY_TF,
        "modules/storage/main.tf": STORAGE_TF,
        # A module nobody calls is not deployed and must not be priced.
        "modules/unused/main.tf": 'resource "aws_nat_gateway" "x" {\n  subnet_id = "s"\n}\n',
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def make_config(tmp_path: Path, **values: Any) -> StackConfig:
    usage = values.pop("usage", {})
    config_file = tmp_path / "cafepipe.toml"
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    if usage:
        lines.append("[usage]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in usage.items()]
    config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(config_file, {"state_dir": str(tmp_path / "state")}, environ={})


def item(report: CostReport, service: str, starts: str) -> Any:
    matches = [i for i in report.items if i.service == service and i.item.startswith(starts)]
    assert len(matches) == 1, [i.item for i in report.items]
    return matches[0]


# A small café's month: one t4g.nano always on, 30 GB in S3, 500 PUT, 1,000 GET, 5 GB out.
WORKED_EXAMPLE_USAGE = {
    "instance_hours_per_month": 730,
    "s3_storage_gb": 30,
    "s3_put_requests_per_month": 500,
    "s3_get_requests_per_month": 1_000,
    "data_out_gb_per_month": 5,
}
# Logs pinned so the worked example does not move when the defaults are re-measured.
PINNED_LOGS = {
    "log_lines_per_month": 300_000,
    "bytes_per_log_line": 400,
    "error_log_gb_per_month": 0.01,
    "log_storage_compression": 0.15,
    "insights_queries_per_day": 24,
    "insights_days_scanned_per_query": 1,
}


# --------------------------------------------------------------------------- prices


def test_price_lookups_per_region_and_instance_type() -> None:
    assert instance_price("us-east-2", "t4g.nano").usd == 0.0042
    assert instance_price("us-east-1", "t4g.micro").usd == 0.0084
    assert instance_price("us-east-1", "t3a.nano").usd == 0.0047
    assert price("us-east-2", "logs.ingest_standard").usd == 0.50
    assert price("us-east-1", "s3.get_requests").usd == pytest.approx(0.0004 / 1000)
    for region, table in PRICES.items():
        assert {"us-east-1", "us-east-2"} <= set(PRICES)
        for key in (
            "t4g.nano",
            "t4g.micro",
            "t4g.small",
            "t4g.medium",
            "t3.nano",
            "t3.micro",
            "t3.small",
            "t3a.nano",
            "t3a.micro",
        ):
            assert f"ec2.{key}" in table, (region, key)
        for entry in table.values():
            assert entry.usd >= 0 and entry.source.startswith("https://aws.amazon.com/")
            assert entry.checked and entry.unit


def test_unpriced_region_and_instance_type_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no price table for region 'eu-west-1'"):
        instance_price("eu-west-1", "t4g.nano")
    with pytest.raises(UsageError, match=r"no price for instance type 'm5\.large'") as caught:
        instance_price("us-east-1", "m5.large")
    assert caught.value.exit_code == 2
    assert "t4g.nano" in str(caught.value)


def test_only_always_free_tiers_are_applied() -> None:
    applied = {key for key, tier in FREE_TIERS.items() if tier.applied}
    assert all(FREE_TIERS[key].always_free for key in applied)
    assert not FREE_TIERS["vpc.public_ipv4"].applied
    assert not FREE_TIERS["s3.standard_storage"].applied


# --------------------------------------------------------------------------- scanner


def test_scanner_reads_resources_through_module_calls(tmp_path: Path) -> None:
    inventory = scan_stack(write_stack(tmp_path / "tf", filters=4, dashboards=2, root_gb=12))
    assert inventory.count("aws_instance") == 1
    assert inventory.count("aws_cloudwatch_log_metric_filter") == 4
    assert inventory.count("aws_cloudwatch_metric_alarm") == 2
    assert inventory.count("aws_cloudwatch_dashboard") == 2
    assert inventory.count("aws_cloudwatch_log_group") == 2
    assert inventory.count("aws_cloudwatch_query_definition") == 2
    assert inventory.count("aws_s3_bucket") == 1
    assert inventory.count("aws_nat_gateway") == 0  # modules/unused is never called
    (web,) = inventory.of_type("aws_instance")
    assert web.address == "module.compute.aws_instance.web"
    assert web.nested_value("root_block_device", "volume_size") == 12
    assert web.value("instance_type") == "t4g.nano"  # var → module argument → root default
    (access, _) = inventory.of_type("aws_cloudwatch_log_group")
    assert access.value("retention_in_days") == 180
    assert access.value("name") == "apache/access"


def test_scanner_handles_heredocs_strings_and_comments(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "a" "b" {\n  x = "}{ ${jsonencode({a = "}"})}"\n  y = <<EOT\n}\nEOT\n'
        "  /* } */ z = 3 # }\n  w { v = 1 }\n}\n",
        encoding="utf-8",
    )
    (resource,) = scan_stack(tmp_path).resources
    assert (resource.type, resource.name) == ("a", "b")
    assert set(resource.block.attributes) == {"x", "y", "z"}
    assert resource.value("x") == '}{ {"a":"}"}'
    assert resource.value("y") == "}"
    assert resource.value("z") == 3
    assert resource.nested_value("w", "v") == 1


def test_scanner_evaluates_what_is_known_before_apply(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'variable "stack" {\n  default = "cafe"\n}\n'
        'locals {\n  zones = toset(["a", "b", "a"])\n}\n'
        'resource "aws_eip" "each" {\n  for_each = local.zones\n'
        '  tags = { Name = "${var.stack}-ip", "cafepipe:cost" = "$${not} \\"quoted\\"" }\n'
        "  ratio = -0.5\n  enabled = !false\n  lookup = var.missing\n"
        '  computed = data.aws_region.current.name\n  either = var.stack == "cafe" ? 1 : 2\n}\n',
        encoding="utf-8",
    )
    (eip,) = scan_stack(tmp_path).resources
    assert eip.count == 2  # a set: "a" once
    assert eip.value("tags") == {"Name": "cafe-ip", "cafepipe:cost": '${not} "quoted"'}
    assert (eip.value("ratio"), eip.value("enabled")) == (-0.5, True)
    # What only Terraform knows (or what is not set) has no value.
    assert eip.value("lookup") is eip.value("computed") is eip.value("either") is None


def test_scanner_reports_broken_files_clearly(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "a" "b" {\n  x = 1\n', encoding="utf-8")
    with pytest.raises(CafepipeError, match=r"main\.tf:3: unexpected end of file"):
        scan_stack(tmp_path)
    with pytest.raises(CafepipeError, match="no rendered Terraform"):
        scan_stack(tmp_path / "nothing")


# --------------------------------------------------------------------------- worked example


def test_worked_example_line_by_line(tmp_path: Path) -> None:
    """A small café's month (30 GB, 500 PUT, 1,000 GET, 5 GB out, t4g.nano 730 h) in Ohio."""
    config = make_config(tmp_path, region="us-east-2")
    report = estimate_cost(
        config, {**WORKED_EXAMPLE_USAGE, **PINNED_LOGS}, terraform_dir=write_stack(tmp_path / "tf")
    )
    # By hand, from list prices.
    assert item(report, "EC2", "t4g.nano").monthly_usd == pytest.approx(730 * 0.0042)
    assert round(730 * 0.0042, 2) == 3.07
    assert item(report, "EBS", "gp3 root").monthly_usd == pytest.approx(8 * 0.08)
    assert item(report, "VPC", "public IPv4").monthly_usd == pytest.approx(730 * 0.005)
    assert item(report, "S3", "Standard storage").monthly_usd == pytest.approx(30 * 0.023)
    # 500 PUTs at $0.005 per 1,000 = $0.0025.
    assert item(report, "S3", "PUT").monthly_usd == pytest.approx(0.0025)
    # 1,000 GETs at $0.0004 per 1,000 = $0.0004.
    assert item(report, "S3", "GET").monthly_usd == pytest.approx(0.0004)
    # 5 GB out is inside the 100 GB free each month.
    assert item(report, "Data transfer", "out").monthly_usd == 0
    # 3 metric filters → 3 custom metrics, 2 alarms, 1 dashboard: all within the free tier.
    assert item(report, "CloudWatch", "custom metrics").quantity == 3
    assert item(report, "CloudWatch", "custom metrics").monthly_usd == 0
    assert item(report, "CloudWatch", "alarms, standard").quantity == 2
    assert item(report, "CloudWatch", "dashboards").monthly_usd == 0
    ingested = 300_000 * 426 / 1e9 + 0.01
    assert item(report, "CloudWatch Logs", "ingestion").quantity == pytest.approx(ingested)
    assert item(report, "CloudWatch Logs", "ingestion").monthly_usd == 0  # < 5 GB free
    stored = ingested * 180 / (365 / 12) * 0.15
    assert item(report, "CloudWatch Logs", "storage").quantity == pytest.approx(stored)
    scanned = 24 * ingested
    assert item(report, "CloudWatch Logs", "Logs Insights").monthly_usd == pytest.approx(
        scanned * 0.005
    )
    expected = 730 * 0.0042 + 8 * 0.08 + 730 * 0.005 + 30 * 0.023 + 0.0025 + 0.0004
    expected += scanned * 0.005
    assert report.total_monthly_usd == round(expected, 2) == 8.07
    assert report.total_annual_usd == round(8.07 * 12, 2)
    # The free tiers behind the $0 lines are named.
    assert any("10 metrics (custom or detailed monitoring)" in a for a in report.assumptions)


def test_free_tiers_are_applied_above_the_allowance(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    usage = {
        "log_gb_ingested_per_month": 25,
        "log_gb_stored": 20,
        "insights_gb_scanned_per_month": 10,
        "data_out_gb_per_month": 150,
        "s3_storage_gb": 2,
    }
    tf = write_stack(tmp_path / "tf", filters=12, dashboards=4)
    report = estimate_cost(config, usage, terraform_dir=tf)
    assert item(report, "CloudWatch", "custom metrics").monthly_usd == pytest.approx(2 * 0.30)
    assert item(report, "CloudWatch", "dashboards").monthly_usd == pytest.approx(3.00)
    assert item(report, "CloudWatch Logs", "ingestion").monthly_usd == pytest.approx(20 * 0.5)
    assert item(report, "CloudWatch Logs", "storage").monthly_usd == pytest.approx(15 * 0.03)
    # Insights scans get no free allowance of their own (stated choice).
    assert item(report, "CloudWatch Logs", "Logs Insights").monthly_usd == pytest.approx(0.05)
    assert item(report, "Data transfer", "out").monthly_usd == pytest.approx(50 * 0.09)
    # The 12-month S3 tier is not applied: 2 GB are charged.
    assert item(report, "S3", "Standard storage").monthly_usd == pytest.approx(2 * 0.023)


def test_no_public_ip_no_charge_and_bigger_root_volume(tmp_path: Path) -> None:
    config = make_config(tmp_path, instance_type="t3a.micro")
    tf = write_stack(tmp_path / "tf", public_ip="false", root_gb=20)
    report = estimate_cost(config, {}, terraform_dir=tf)
    assert not [i for i in report.items if i.service == "VPC"]
    assert item(report, "EBS", "gp3 root").monthly_usd == pytest.approx(20 * 0.08)
    assert item(report, "EC2", "t3a.micro").monthly_usd == pytest.approx(730 * 0.0094)


def test_derived_defaults_follow_the_stack(tmp_path: Path) -> None:
    """S3 keeps the log copy until the longest lifecycle expiry read from the stack (90 days)."""
    config = make_config(tmp_path, log_retention_days=30)
    report = estimate_cost(config, PINNED_LOGS, terraform_dir=write_stack(tmp_path / "tf"))
    gzip_gb = 300_000 * 400 / 1e9 * 0.15
    assert item(report, "S3", "Standard storage").quantity == pytest.approx(
        gzip_gb * 90 / (365 / 12)
    )
    # Retention comes from the rendered log groups (180), not from the config (30).
    assert item(report, "CloudWatch Logs", "storage").item.startswith("storage, 180-day")
    assert any("keeps Standard" in a for a in report.assumptions)


# --------------------------------------------------------------------------- usage


def test_usage_validation_names_the_key() -> None:
    with pytest.raises(UsageError, match="unknown usage key 'log_lines'"):
        validate_usage({"log_lines": 3}, "usage.toml")
    with pytest.raises(UsageError, match="'s3_storage_gb' must be zero or more"):
        validate_usage({"s3_storage_gb": -1}, "usage.toml")
    with pytest.raises(UsageError, match="'s3_storage_gb' must be a number"):
        validate_usage({"s3_storage_gb": "30"}, "usage.toml")
    with pytest.raises(UsageError, match="'log_storage_compression' is a ratio"):
        validate_usage({"log_storage_compression": 2}, "usage.toml")
    assert validate_usage({"s3_storage_gb": 30}, "x") == {"s3_storage_gb": 30.0}


def test_usage_file_top_level_or_table(tmp_path: Path) -> None:
    flat = tmp_path / "flat.toml"
    flat.write_text("s3_storage_gb = 30\n", encoding="utf-8")
    table = tmp_path / "table.toml"
    table.write_text("[usage]\ns3_storage_gb = 31\n", encoding="utf-8")
    assert read_usage_file(flat) == {"s3_storage_gb": 30.0}
    assert read_usage_file(table) == {"s3_storage_gb": 31.0}
    with pytest.raises(UsageError, match="does not exist"):
        read_usage_file(tmp_path / "missing.toml")


def test_usage_precedence_config_then_argument(tmp_path: Path) -> None:
    config = make_config(tmp_path, usage={"s3_storage_gb": 10, "data_out_gb_per_month": 200})
    tf = write_stack(tmp_path / "tf")
    report = estimate_cost(config, {"s3_storage_gb": 40}, terraform_dir=tf)
    assert item(report, "S3", "Standard storage").quantity == 40  # argument wins
    assert item(report, "Data transfer", "out").quantity == 200  # from cafepipe.toml


# --------------------------------------------------------------------------- CLI


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def _main(ctx: click.Context) -> None:
    from cafepipe.cli import main

    main(list(ctx.args))


def run_cost(tmp_path: Path, *args: str, region: str = "us-east-1") -> Result:
    """The real entry point (`main`: error → message + exit code) through CliRunner."""
    config = tmp_path / "cafepipe.toml"
    if not config.exists():
        config.write_text("", encoding="utf-8")
    argv = ["--config", str(config), "--region", region, "--state-dir", str(tmp_path / "st")]
    return CliRunner().invoke(_main, [*argv, "cost", *args])


def test_cli_json_csv_and_table_show_the_same_data(tmp_path: Path) -> None:
    tf = str(write_stack(tmp_path / "tf"))
    usage = tmp_path / "usage.toml"
    usage.write_text("s3_storage_gb = 30\ns3_put_requests_per_month = 500\n", encoding="utf-8")
    common = ["--rendered", tf, "--usage", str(usage)]
    as_json = run_cost(tmp_path, *common, "--format", "json", "--months", "24")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert set(data) == {
        "region",
        "currency",
        "price_date",
        "items",
        "total_monthly_usd",
        "total_annual_usd",
        "months",
        "total_for_months_usd",
        "assumptions",
    }
    assert {tuple(sorted(i)) for i in data["items"]} == {
        ("item", "monthly_usd", "quantity", "service", "unit", "unit_price_usd")
    }
    assert data["total_monthly_usd"] == round(sum(i["monthly_usd"] for i in data["items"]), 2)
    assert data["total_for_months_usd"] == round(data["total_monthly_usd"] * 24, 2)
    storage = next(i for i in data["items"] if i["item"].startswith("Standard storage"))
    assert storage["quantity"] == 30

    as_csv = run_cost(tmp_path, *common, "--format", "csv", "--months", "24")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    items = [r for r in rows if r["service"] != "Total"]
    assert [r["item"] for r in items] == [i["item"] for i in data["items"]]
    assert [float(r["monthly_usd"]) for r in items] == [i["monthly_usd"] for i in data["items"]]
    totals = {r["item"]: float(r["monthly_usd"]) for r in rows if r["service"] == "Total"}
    assert totals == {
        "per month": data["total_monthly_usd"],
        "per year": data["total_annual_usd"],
        "for 24 months": data["total_for_months_usd"],
    }

    table = run_cost(tmp_path, *common, "--months", "24")
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    for entry in data["items"]:
        assert format_usd(entry["monthly_usd"]) in text
    assert format_usd(data["total_monthly_usd"]) in text
    assert format_usd(data["total_annual_usd"]) in text
    assert "Assumptions" in text


def test_cli_usage_errors_exit_2_naming_the_key(tmp_path: Path) -> None:
    tf = str(write_stack(tmp_path / "tf"))
    bad = tmp_path / "bad.toml"
    bad.write_text("s3_storage_gb = -3\n", encoding="utf-8")
    result = run_cost(tmp_path, "--rendered", tf, "--usage", str(bad))
    assert result.exit_code == 2
    assert "s3_storage_gb" in result.stderr and "Traceback" not in result.stderr

    (tmp_path / "cafepipe.toml").write_text("[usage]\nlog_linez = 5\n", encoding="utf-8")
    result = run_cost(tmp_path, "--rendered", tf)
    assert result.exit_code == 2
    assert "unknown usage key 'log_linez'" in result.stderr


def test_cli_unpriced_region_or_instance_type_exit_2(tmp_path: Path) -> None:
    tf = str(write_stack(tmp_path / "tf"))
    result = run_cost(tmp_path, "--rendered", tf, region="eu-west-1")
    assert result.exit_code == 2
    assert "no price table for region 'eu-west-1'" in result.stderr
    result = run_cost(tmp_path, "--rendered", tf, "--instance-type", "m5.large")
    assert result.exit_code == 2
    assert "no price for instance type 'm5.large'" in result.stderr
    result = run_cost(tmp_path, "--rendered", tf, "--months", "0")
    assert result.exit_code == 2


def test_cli_site_access_prices_the_other_layout(tmp_path: Path) -> None:
    pytest.importorskip("cafepipe.deploy.render")
    totals = {}
    for access in ("cloudfront", "public-ip"):
        result = run_cost(tmp_path, "--site-access", access, "--format", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        totals[access] = data["total_monthly_usd"]
        services = {i["service"] for i in data["items"]}
        assert ("CloudFront" in services) == (access == "cloudfront")
    assert totals["public-ip"] == pytest.approx(totals["cloudfront"] + 3.65, abs=0.01)
    result = run_cost(tmp_path, "--site-access", "direct")
    assert result.exit_code == 2


def test_cli_help_has_examples() -> None:
    from cafepipe.cli import cli

    result = CliRunner().invoke(cli, ["cost", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "--usage" in result.output


def test_monthly_total_line_for_up(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    tf = write_stack(tmp_path / "tf")
    line = monthly_total_line(config, tf)
    report = estimate_cost(config, terraform_dir=tf)
    assert line.startswith(f"Estimated cost: {format_usd(report.total_monthly_usd)}/month")
    assert format_usd(report.total_annual_usd) in line


def test_table_rows_come_from_the_json_data(tmp_path: Path) -> None:
    report = estimate_cost(make_config(tmp_path), terraform_dir=write_stack(tmp_path / "tf"))
    rows = list(report_table_rows(report))
    assert [r[1] for r in rows] == [i["item"] for i in report.to_dict()["items"]]
    assert report_csv(report).splitlines()[0] == (
        "service,item,quantity,unit,unit_price_usd,monthly_usd"
    )


# --------------------------------------------------------------------------- the real render


def _real_render(config: StackConfig, out: Path) -> Path:
    render = pytest.importorskip("cafepipe.deploy.render")
    return Path(render.render_stack(config, out))


@pytest.mark.parametrize(
    "endpoint", [None, "http://127.0.0.1:5999"], ids=["aws-6.x", "emulator-3.39"]
)
def test_counts_read_from_the_real_rendered_stack(tmp_path: Path, endpoint: str | None) -> None:
    from cafepipe.deploy.dashboard import saved_queries
    from cafepipe.deploy.render import SIMULATED_LOG_EXPIRY_DAYS

    config = make_config(tmp_path, log_retention_days=90)
    if endpoint:
        config = load_config(
            tmp_path / "cafepipe.toml",
            {"state_dir": str(tmp_path / "state"), "endpoint_url": endpoint},
            environ={},
        )
    tf = _real_render(config, tmp_path / "tf")
    inventory = scan_stack(tf)
    assert inventory.count("aws_instance") == 1
    # The metric filters (4xx, 5xx, orders: a for_each over a local map) and their alarms.
    assert inventory.count("aws_cloudwatch_log_metric_filter") == 3
    assert inventory.count("aws_cloudwatch_metric_alarm") == 2
    assert inventory.count("aws_cloudwatch_dashboard") == 1
    assert inventory.count("aws_cloudwatch_log_group") == 2
    assert inventory.count("aws_cloudwatch_query_definition") == len(saved_queries(config))
    assert inventory.count("aws_s3_bucket") == 1
    assert not inventory.notes  # every count and for_each was read, nothing assumed

    report = estimate_cost(config, PINNED_LOGS, terraform_dir=tf)
    assert item(report, "EC2", "t4g.nano").quantity == 730
    assert item(report, "EBS", "gp3 root volume").quantity == 8  # compute module's default
    assert item(report, "CloudWatch", "custom metrics").quantity == 3
    assert item(report, "CloudWatch", "saved Logs Insights").quantity == len(saved_queries(config))
    assert item(report, "CloudWatch Logs", "storage").item.startswith("storage, 90-day")
    # The S3 copy is kept until the longest lifecycle expiry (the archive: the retention).
    kept = max(SIMULATED_LOG_EXPIRY_DAYS, 90)
    gzip_gb = 300_000 * 400 / 1e9 * 0.15
    assert item(report, "S3", "Standard storage").quantity == pytest.approx(
        gzip_gb * kept / (365 / 12)
    )
    assert not [a for a in report.assumptions if "NOT PRICED" in a]


def test_dashboard_log_widgets_drive_the_insights_default(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    tf = _real_render(config, tmp_path / "tf")
    body = json.loads((tf / "dashboard.json").read_text(encoding="utf-8"))
    widgets = sum(1 for w in body["widgets"] if w["type"] == "log")
    usage = {
        "log_gb_ingested_per_month": 2.0,
        "dashboard_views_per_day": 3,
        "adhoc_insights_queries_per_day": 5,
    }
    report = estimate_cost(config, usage, terraform_dir=tf)
    scanned = item(report, "CloudWatch Logs", "Logs Insights")
    # Each query scans the dashboard's range: it opens on the last 7 days (start -P7D).
    assert body["start"] == "-P7D"
    assert scanned.quantity == pytest.approx((widgets * 3 + 5) * 7 * 2.0)


def test_estimate_renders_into_a_scratch_directory(tmp_path: Path) -> None:
    pytest.importorskip("cafepipe.deploy.render")
    config = make_config(tmp_path)
    report = estimate_cost(config)  # no terraform_dir: renders the config itself
    assert item(report, "EC2", "t4g.nano").monthly_usd == pytest.approx(730 * 0.0042)
    assert not (tmp_path / "state").exists()  # the user's .cafepipe/ is not touched
    line = monthly_total_line(config)
    assert format_usd(report.total_monthly_usd) in line


def test_default_stack_at_the_worked_example_usage(tmp_path: Path) -> None:
    """The default stack, rendered for real, at the worked example's usage."""
    pytest.importorskip("cafepipe.deploy.render")
    config = make_config(tmp_path, region="us-east-2")
    assert config.site_access == "cloudfront"
    report = estimate_cost(config, {**WORKED_EXAMPLE_USAGE, **PINNED_LOGS})
    # Instance, root volume, 30 GB in S3, 500 PUT, 1,000 GET — and no public IPv4 address.
    fixed = 730 * 0.0042 + 8 * 0.08 + 30 * 0.023 + 0.0025 + 0.0004
    insights = item(report, "CloudWatch Logs", "Logs Insights").monthly_usd
    assert report.total_monthly_usd == round(fixed + insights, 2)
    assert not [i for i in report.items if "IPv4" in i.item]
    # The site's traffic goes through CloudFront, inside its always-free tier.
    requests = item(report, "CloudFront", "HTTPS requests")
    out = item(report, "CloudFront", "data out")
    assert requests.quantity == PINNED_LOGS["log_lines_per_month"] and requests.monthly_usd == 0
    assert out.quantity == 5 and out.monthly_usd == 0
    assert not [i for i in report.items if i.item == "out to the internet"]
    assert any(a.startswith("public IPv4: none") for a in report.assumptions)


def test_public_ip_site_access_pays_for_the_address(tmp_path: Path) -> None:
    """The same stack served from the server's own public IP: $3.65 more a month."""
    pytest.importorskip("cafepipe.deploy.render")
    cloudfront = estimate_cost(
        make_config(tmp_path, region="us-east-2"), {**WORKED_EXAMPLE_USAGE, **PINNED_LOGS}
    )
    public = estimate_cost(
        make_config(tmp_path, region="us-east-2", site_access="public-ip"),
        {**WORKED_EXAMPLE_USAGE, **PINNED_LOGS},
    )
    address = item(public, "VPC", "public IPv4 address")
    assert address.quantity == 730 and address.monthly_usd == pytest.approx(3.65)
    assert public.total_monthly_usd == pytest.approx(cloudfront.total_monthly_usd + 3.65, abs=0.01)
    # The assumptions say how to do without the address.
    assert any(
        a.startswith("public IPv4:") and 'site_access = "cloudfront"' in a
        for a in public.assumptions
    )
    assert not [i for i in public.items if i.service == "CloudFront"]


def test_dashboard_over_50_metrics_is_charged_and_its_range_is_read(tmp_path: Path) -> None:
    body = {
        "start": "-PT72H",
        "widgets": [
            {"type": "metric", "properties": {"metrics": [["ns", f"m{i}"] for i in range(51)]}},
            {"type": "log", "properties": {"query": "fields @message"}},
        ],
    }
    tf = write_stack(tmp_path / "tf")
    observability = tf / "modules/observability/main.tf"
    text = observability.read_text(encoding="utf-8")
    start = text.index('resource "aws_cloudwatch_dashboard"')
    end = text.index('resource "aws_cloudwatch_query_definition"')
    heredoc = 'resource "aws_cloudwatch_dashboard" "big" {\n  dashboard_name = "big"\n'
    heredoc += f"  dashboard_body = <<-JSON\n{json.dumps(body)}\nJSON\n}}\n\n"
    observability.write_text(text[:start] + heredoc + text[end:], encoding="utf-8")
    config = make_config(tmp_path)
    usage = {
        "log_gb_ingested_per_month": 1.0,
        "dashboard_views_per_day": 2,
        "adhoc_insights_queries_per_day": 0,
    }
    report = estimate_cost(config, usage, terraform_dir=tf)
    assert item(report, "CloudWatch", "dashboards").monthly_usd == pytest.approx(3.00)
    assert any("51 metrics > 50" in a for a in report.assumptions)
    # One log widget × 2 views a day, each over the dashboard's 3 days of 1 GB/month logs.
    assert item(report, "CloudWatch Logs", "Logs Insights").quantity == pytest.approx(2 * 3 * 1.0)


def test_agent_metrics_in_the_rendered_agent_config_are_custom_metrics(tmp_path: Path) -> None:
    tf = write_stack(tmp_path / "tf", filters=3)
    agent = {
        "agent": {"run_as_user": "root"},
        "logs": {"logs_collected": {}},
        "metrics": {
            "namespace": "CWAgent",
            "metrics_collected": {
                "mem": {"measurement": ["mem_used_percent"]},
                "disk": {"measurement": ["used_percent", "inodes_free"], "resources": ["/"]},
            },
        },
    }
    (tf / "instance").mkdir()
    (tf / "instance" / "cloudwatch-agent.json").write_text(json.dumps(agent), encoding="utf-8")
    (tf / "dashboard.json").write_text('{"widgets": []}', encoding="utf-8")
    report = estimate_cost(make_config(tmp_path), terraform_dir=tf)
    metrics = item(report, "CloudWatch", "custom metrics")
    assert metrics.quantity == 3 + 3
    assert "CloudWatch agent" in metrics.item
    assert metrics.monthly_usd == 0  # 6 ≤ 10 free


def test_monthly_total_line_does_not_stop_up_in_an_unpriced_region(tmp_path: Path) -> None:
    config = make_config(tmp_path, region="eu-west-1")
    line = monthly_total_line(config, write_stack(tmp_path / "tf"))
    assert line.startswith("Estimated cost: not available")
    assert "eu-west-1" in line
    bad_usage = make_config(tmp_path, usage={"s3_storage_gb": -1})
    with pytest.raises(UsageError, match="s3_storage_gb"):
        monthly_total_line(bad_usage, tmp_path / "tf")


def test_log_defaults_match_the_generators_output(tmp_path: Path) -> None:
    """The default log volume is a typical simulated month; line size and gzip ratio measured."""
    import gzip

    from cafepipe.cost import estimate as cost

    generate = pytest.importorskip("cafepipe.logs.generate")
    small_cafe = generate.PROFILES[generate.DEFAULT_PROFILE]
    assert round(small_cafe.daily_requests * 365 / 12) == cost.DEFAULT_LOG_LINES_PER_MONTH
    log = tmp_path / "access_log"
    generate.generate_log(generate.build_options(lines=20_000, seed=7), log)
    raw = log.read_bytes()
    lines = raw.splitlines()
    bytes_per_line = len(raw) / len(lines)
    assert abs(bytes_per_line - cost.DEFAULT_BYTES_PER_LOG_LINE) < 0.1 * bytes_per_line
    # The storage default is a bound: the generator's log compresses at least that well.
    assert (
        len(gzip.compress(raw, compresslevel=6)) / len(raw) < cost.DEFAULT_LOG_STORAGE_COMPRESSION
    )
    sizes = [int(json.loads(line)["bytes"]) for line in lines]
    mean_response = sum(sizes) / len(sizes)
    assert abs(mean_response - cost.DEFAULT_BYTES_PER_RESPONSE) < 0.25 * mean_response


def test_what_the_scanner_cannot_evaluate_is_assumed_and_said(tmp_path: Path) -> None:
    tf = write_stack(tmp_path / "tf")
    extra = (
        'variable "enabled" {\n  type = bool\n  default = true\n}\n'
        'resource "aws_kms_key" "logs" {\n  count = var.enabled ? 1 : 0\n}\n'
        'resource "aws_cloudwatch_metric_alarm" "each_zone" {\n'
        "  for_each   = toset(data.aws_availability_zones.all.names)\n"
        "  period     = 10\n}\n"
        'resource "aws_lambda_function" "mystery" {\n  function_name = "x"\n}\n'
    )
    (tf / "extra.tf").write_text(extra, encoding="utf-8")
    report = estimate_cost(make_config(tmp_path), terraform_dir=tf)
    assert item(report, "KMS", "customer managed keys").monthly_usd == pytest.approx(1.00)
    assert item(report, "CloudWatch", "alarms, high resolution").monthly_usd == pytest.approx(0.30)
    text = "\n".join(report.assumptions)
    assert "aws_kms_key.logs: count is an expression; assumed 1" in text
    assert "aws_cloudwatch_metric_alarm.each_zone: for_each over a computed value" in text
    assert "NOT PRICED (unknown to cafepipe's price table): aws_lambda_function" in text


# --------------------------------------------------------------------------- the fleet and the lake


def fleet_render(tmp_path: Path, **values: Any) -> tuple[StackConfig, Path]:
    config_file = tmp_path / "cafepipe.toml"
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    config_file.write_text(
        "\n".join(['profile = "fleet"', *lines, "[fleet]", "min_size = 2", "max_size = 6"]) + "\n",
        encoding="utf-8",
    )
    config = load_config(config_file, {"state_dir": str(tmp_path / "state")}, environ={})
    return config, _real_render(config, tmp_path / "tf")


FLEET_USAGE = {**PINNED_LOGS, "data_out_gb_per_month": 4.0}


def test_fleet_lines_from_the_real_render(tmp_path: Path) -> None:
    from cafepipe.cost import estimate as est
    from cafepipe.cost.prices import (
        ALB_LCU_GB_PER_HOUR,
        ALB_LCU_NEW_CONNECTIONS_PER_SECOND,
        ATHENA_MIN_BYTES_PER_QUERY,
        HOURS_PER_MONTH,
    )
    from cafepipe.deploy.render import athena_named_queries
    from cafepipe.insights.athena_sql import lake_reads

    config, tf = fleet_render(tmp_path)
    report = estimate_cost(config, FLEET_USAGE, terraform_dir=tf)
    region = config.region
    hour = instance_price(region, "t4g.nano").usd

    servers = item(report, "EC2", "t4g.nano Linux On-Demand × 2 (the fleet's min_size)")
    assert servers.quantity == 2 * HOURS_PER_MONTH
    assert servers.monthly_usd == pytest.approx(2 * HOURS_PER_MONTH * hour)
    assert item(report, "EBS", "gp3 root volume").quantity == 2 * 8
    # The max_size is said, with what it would add.
    scaling = next(a for a in report.assumptions if a.startswith("fleet: priced at min_size"))
    extra = 4 * HOURS_PER_MONTH * hour + 4 * 8 * price(region, "ebs.gp3").usd
    assert "max_size (6)" in scaling and format_usd(extra) in scaling

    alb = item(report, "Elastic Load Balancing", "Application Load Balancer hours")
    assert alb.monthly_usd == pytest.approx(HOURS_PER_MONTH * price(region, "elb.alb_hour").usd)
    per_second = PINNED_LOGS["log_lines_per_month"] / (HOURS_PER_MONTH * 3600)
    lcus = max(
        per_second / ALB_LCU_NEW_CONNECTIONS_PER_SECOND, 4.0 / HOURS_PER_MONTH / ALB_LCU_GB_PER_HOUR
    )
    lcu = item(report, "Elastic Load Balancing", "Application Load Balancer LCU-hours")
    assert lcu.quantity == pytest.approx(lcus * HOURS_PER_MONTH)
    assert lcu.monthly_usd == pytest.approx(
        lcus * HOURS_PER_MONTH * price(region, "elb.alb_lcu").usd
    )
    crossing = item(report, "Data transfer", "cross-zone")
    assert crossing.quantity == pytest.approx(4.0 * est.CROSS_ZONE_SHARE)
    assert crossing.monthly_usd == 0  # an ALB's cross-zone traffic to its targets is free
    # The internal load balancer (CloudFront's VPC origin) has no public address.
    assert not [i for i in report.items if "public IPv4" in i.item]

    catalog = athena_named_queries(config)
    named = len(catalog)
    runs = est.DEFAULT_ATHENA_CATALOG_RUNS
    queries = named * runs
    # Each statement reads the lake once per inlined use of its CTEs, and Athena bills each read.
    reads = [lake_reads(entry["query"]) for entry in catalog.values()]
    assert max(reads) > 1 and min(reads) >= 1
    lake_bytes = 300_000 * 400 * 0.15 / (365 / 12) * est.DEFAULT_ATHENA_DAYS_SCANNED
    billed = sum(max(count * lake_bytes, ATHENA_MIN_BYTES_PER_QUERY) for count in reads)
    athena = item(report, "Athena", "data scanned")
    assert athena.quantity == pytest.approx(runs * billed / 1e12)
    assert athena.quantity > queries * lake_bytes / 1e12  # more than one read a query
    note = next(a for a in report.assumptions if a.startswith("Athena: "))
    assert (
        f"{named} named queries (the catalog) reading the lake {sum(reads)} times per run" in note
    )
    assert athena.monthly_usd == pytest.approx(
        athena.quantity * price(region, "athena.scanned").usd
    )
    objects = item(report, "Glue Data Catalog", "objects stored")
    assert objects.quantity == 2 and objects.monthly_usd == 0  # inside the free million
    requests = item(report, "Glue Data Catalog", "requests")
    assert requests.quantity == queries * est.GLUE_REQUESTS_PER_QUERY and requests.monthly_usd == 0
    puts = item(report, "S3", "lake PUT/LIST")
    days = est.DEFAULT_ATHENA_DAYS_SCANNED
    # Every read of the lake lists its partitions and reads their objects.
    lake_scans = sum(reads) * runs
    assert puts.quantity == pytest.approx(
        2 * (365 / 12) + queries * est.ATHENA_RESULT_PUTS_PER_QUERY + lake_scans * days
    )
    assert puts.monthly_usd == pytest.approx(puts.quantity * price(region, "s3.put_requests").usd)
    gets = item(report, "S3", "lake GET")
    assert gets.quantity == pytest.approx(
        lake_scans * days * 2 + queries * est.ATHENA_RESULT_GETS_PER_QUERY
    )
    assert not [a for a in report.assumptions if "NOT PRICED" in a]
    assert not [a for a in report.assumptions if "assumed 1 instance" in a]


def test_fleet_usage_overrides_and_the_public_load_balancer(tmp_path: Path) -> None:
    config, tf = fleet_render(tmp_path, site_access="public-ip")
    usage = {**FLEET_USAGE, "athena_tb_scanned_per_month": 0.5, "alb_lcus_per_hour": 2}
    report = estimate_cost(config, usage, terraform_dir=tf)
    assert item(report, "Athena", "data scanned").monthly_usd == pytest.approx(
        0.5 * price(config.region, "athena.scanned").usd
    )
    assert item(
        report, "Elastic Load Balancing", "Application Load Balancer LCU-hours"
    ).quantity == (2 * 730)
    # Public servers and an internet-facing load balancer (one address a zone) pay for IPv4.
    ipv4 = price(config.region, "vpc.public_ipv4").usd
    assert item(report, "VPC", "public IPv4 addresses of the servers").monthly_usd == pytest.approx(
        2 * 730 * ipv4
    )
    assert item(report, "VPC", "public IPv4 addresses of the internet-facing").quantity == 2 * 730


# A hand-made fleet with a lake: the servers write it, its named queries read it.
LAKE_TF = """\
variable "later" { type = string }

resource "aws_autoscaling_group" "web" {
  min_size = 2
  max_size = 2
}

resource "aws_glue_catalog_database" "lake" {
  name = "cafepipe_cafe"
}
"""
ONE_READ = "SELECT count(*) FROM cafepipe_cafe.access_log"
# Trino inlines `a` at each of its three uses: three scans of the table.
THREE_READS = "WITH a AS (SELECT * FROM cafepipe_cafe.access_log) SELECT * FROM a, a AS b, a AS c"


def lake_stack(root: Path, *queries: str) -> Path:
    """A rendered fleet stack whose named queries' `query` are `queries` (HCL expressions)."""
    blocks = [LAKE_TF] + [
        f'resource "aws_athena_named_query" "q{n}" {{\n  name  = "q{n}"\n  query = {query}\n}}\n'
        for n, query in enumerate(queries)
    ]
    root.mkdir(parents=True)
    (root / "main.tf").write_text("\n".join(blocks), encoding="utf-8")
    return root


def lake_usage(lines: int) -> dict[str, float]:
    """A lake of `lines` × 50 bytes a month (500-byte lines, gzip 0.1); queries read a month."""
    return {
        "log_lines_per_month": lines,
        "bytes_per_log_line": 500,
        "log_storage_compression": 0.1,
        "athena_days_scanned_per_query": 365 / 12,
    }


def test_a_query_reading_the_lake_three_times_is_billed_three_reads(tmp_path: Path) -> None:
    from cafepipe.cost import estimate as est
    from cafepipe.insights.athena_sql import lake_reads

    assert (lake_reads(ONE_READ), lake_reads(THREE_READS)) == (1, 3)
    config = make_config(tmp_path)
    usage = lake_usage(10_000_000)  # a 500 MB lake: far above the 10 MB minimum
    one = estimate_cost(
        config, usage, terraform_dir=lake_stack(tmp_path / "one", json.dumps(ONE_READ))
    )
    three = estimate_cost(
        config, usage, terraform_dir=lake_stack(tmp_path / "three", json.dumps(THREE_READS))
    )
    runs = est.DEFAULT_ATHENA_CATALOG_RUNS
    scanned = item(one, "Athena", "data scanned")
    assert scanned.quantity == pytest.approx(runs * 500e6 / 1e12)
    assert item(three, "Athena", "data scanned").quantity == pytest.approx(3 * scanned.quantity)
    assert item(three, "Athena", "data scanned").monthly_usd == pytest.approx(
        3 * scanned.monthly_usd
    )
    # Each read GETs every object (a month of days × 2 servers); the result is read once.
    days = 365 / 12
    assert item(one, "S3", "lake GET").quantity == pytest.approx(runs * (days * 2 + 1))
    assert item(three, "S3", "lake GET").quantity == pytest.approx(runs * (3 * days * 2 + 1))
    # Glue is asked once per query, however often it reads the table.
    assert item(three, "Glue Data Catalog", "requests").quantity == runs * 2
    assert any(
        a.startswith("Athena: 1 named query (the catalog) reading the lake 3 times per run")
        for a in three.assumptions
    )


def test_the_10_mb_minimum_is_per_query_not_per_read(tmp_path: Path) -> None:
    from cafepipe.cost import estimate as est

    config = make_config(tmp_path)
    tf = lake_stack(tmp_path / "tf", json.dumps(ONE_READ), json.dumps(THREE_READS))
    report = estimate_cost(config, lake_usage(80_000), terraform_dir=tf)  # a 4 MB lake
    # One read of 4 MB is billed 10 MB; three reads are 12 MB (not three minimums, 30 MB).
    assert item(report, "Athena", "data scanned").quantity == pytest.approx(
        est.DEFAULT_ATHENA_CATALOG_RUNS * (10e6 + 12e6) / 1e12
    )
    note = next(a for a in report.assumptions if a.startswith("Athena: "))
    assert "2 named queries (the catalog) reading the lake 4 times per run" in note


def test_a_query_whose_sql_is_unknown_counts_one_read_and_says_so(tmp_path: Path) -> None:
    from cafepipe.cost import estimate as est

    config = make_config(tmp_path)
    tf = lake_stack(tmp_path / "tf", "var.later", json.dumps("SELECT * FROM (("))
    report = estimate_cost(config, lake_usage(10_000_000), terraform_dir=tf)
    assert item(report, "Athena", "data scanned").quantity == pytest.approx(
        est.DEFAULT_ATHENA_CATALOG_RUNS * 2 * 500e6 / 1e12
    )
    assert (
        "Athena: the SQL of 2 named queries is not known before apply or does not parse; "
        "counted as one read of the lake each"
    ) in report.assumptions
    # The usage override still replaces the scans, reads or not.
    fixed = estimate_cost(
        config, {**lake_usage(10_000_000), "athena_tb_scanned_per_month": 2}, terraform_dir=tf
    )
    assert item(fixed, "Athena", "data scanned").quantity == 2


def test_one_server_has_no_fleet_lines_and_no_athena_by_default(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    report = estimate_cost(config, PINNED_LOGS, terraform_dir=_real_render(config, tmp_path / "tf"))
    services = {i.service for i in report.items}
    assert "Elastic Load Balancing" not in services and "Athena" not in services
    # Its one server still writes a lake partition a day.
    assert item(report, "S3", "lake PUT/LIST").quantity == pytest.approx(365 / 12)


def test_cli_prices_a_fleet_config_as_json(tmp_path: Path) -> None:
    pytest.importorskip("cafepipe.deploy.render")
    (tmp_path / "cafepipe.toml").write_text(
        'profile = "fleet"\n[fleet]\nmin_size = 3\nmax_size = 5\n', encoding="utf-8"
    )
    result = run_cost(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_item = {i["item"]: i for i in data["items"]}
    assert by_item["t4g.nano Linux On-Demand × 3 (the fleet's min_size)"]["quantity"] == 3 * 730
    assert {"Elastic Load Balancing", "Athena", "Glue Data Catalog"} <= {
        i["service"] for i in data["items"]
    }
    table = run_cost(tmp_path)
    alb = by_item["Application Load Balancer hours"]["monthly_usd"]
    assert table.exit_code == 0 and format_usd(alb) in " ".join(table.stdout.split())


def test_cli_prices_the_catalogs_reads_of_a_rendered_fleet(tmp_path: Path) -> None:
    """`cost --rendered DIR` at the default usage: the SQL comes from the rendered stack."""
    from cafepipe.cost import estimate as est
    from cafepipe.cost.prices import ATHENA_MIN_BYTES_PER_QUERY
    from cafepipe.deploy.render import athena_named_queries
    from cafepipe.insights.athena_sql import lake_reads

    config, tf = fleet_render(tmp_path)
    result = run_cost(tmp_path, "--rendered", str(tf), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    reads = [lake_reads(entry["query"]) for entry in athena_named_queries(config).values()]
    lake_bytes = (
        est.DEFAULT_LOG_LINES_PER_MONTH
        * est.DEFAULT_BYTES_PER_LOG_LINE
        * est.DEFAULT_LOG_STORAGE_COMPRESSION
        / (365 / 12)
        * est.DEFAULT_ATHENA_DAYS_SCANNED
    )
    billed = sum(max(count * lake_bytes, ATHENA_MIN_BYTES_PER_QUERY) for count in reads)
    athena = next(i for i in data["items"] if i["service"] == "Athena")
    assert athena["quantity"] == pytest.approx(
        est.DEFAULT_ATHENA_CATALOG_RUNS * billed / 1e12, abs=1e-6
    )
    assert any(
        f"{len(reads)} named queries (the catalog) reading the lake {sum(reads)} times per run" in a
        for a in data["assumptions"]
    )
