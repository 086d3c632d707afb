"""Rendering: both provider flavours, fmt/validate/checkov on the output, the instance files,
the café site, the dashboard, strict templates, and what a re-render keeps."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cafepipe.cafe import catalog
from cafepipe.cli import cli
from cafepipe.config import (
    ACCESS_LOG_PATH,
    AGENT_CONFIG_PATH,
    ARCHIVE_PREFIX,
    SIMULATED_LOG_PREFIX,
    SSM_AGENT_CONFIG_PATH,
    STACK_OUTPUTS,
    StackConfig,
    load_config,
)
from cafepipe.deploy import render as render_module
from cafepipe.deploy import templating
from cafepipe.deploy.dashboard import dashboard_body, saved_queries
from cafepipe.deploy.render import (
    HTTPD_CONF_PATH,
    USER_DATA_FILE,
    instance_files,
    render_stack,
    render_stack_files,
    site_files,
    user_data,
)
from cafepipe.deploy.templating import TemplateRenderError, hcl_literal, render_template
from cafepipe.logs import access_logger

ENDPOINT = "http://127.0.0.1:4566"
EMAIL = "owner@example.com"  # the checked renders include the alerts module
# What the SSM agent calls to stay online and run commands (no resource type: "*").
SSM_AGENT_ACTIONS = {
    "ssm:UpdateInstanceInformation",
    *(f"ec2messages:{a}" for a in ("AcknowledgeMessage", "DeleteMessage", "FailMessage",
                                   "GetEndpoint", "GetMessages", "SendReply")),
    *(f"ssmmessages:{a}" for a in ("CreateControlChannel", "CreateDataChannel",
                                   "OpenControlChannel", "OpenDataChannel")),
}  # fmt: skip
MODULES = ("compute", "identity", "network", "observability", "storage")
CHECKOV = Path(sys.prefix) / "checkov" / "bin" / "checkov"  # its own venv (make install)
# Every checkov skip in the templates, with the reason in the README.
COMMON_CHECKOV_SKIPS = {
    "CKV_AWS_18", "CKV_AWS_144", "CKV_AWS_145", "CKV2_AWS_62",  # S3 bucket
    "CKV_AWS_158", "CKV_AWS_338",  # log groups
    "CKV_AWS_126", "CKV_AWS_394",  # EC2
}  # fmt: skip
PUBLIC_IP_SKIPS = {"CKV_AWS_260", "CKV_AWS_88"}  # port 80 from the internet, public IP
PRIVATE_NETWORK_SKIPS = {"CKV2_AWS_11"}  # VPC flow logs
CLOUDFRONT_SKIPS = {
    "CKV_AWS_68", "CKV2_AWS_47", "CKV_AWS_86", "CKV_AWS_174", "CKV2_AWS_42", "CKV_AWS_310",
    "CKV_AWS_305", "CKV_AWS_374",
}  # fmt: skip
# The alerts module (aws6 and aws3 render it: alert_email is set): the key policy, the report
# function; on 6.x the schedule, on 3.39 the emulator-only runtime.
ALERTS_SKIPS = {
    "CKV_AWS_109", "CKV_AWS_111", "CKV_AWS_356", "CKV_AWS_50", "CKV_AWS_115", "CKV_AWS_116",
    "CKV_AWS_117", "CKV_AWS_272",
}  # fmt: skip
AWS6_ALERTS_SKIPS = ALERTS_SKIPS | {"CKV_AWS_297"}
# profile = "fleet": the load balancer (no WAF, no logs of its own, no deletion protection, HTTP
# listener and targets behind CloudFront), and no instance resource (its monitoring skip).
FLEET_SKIPS = {
    "CKV2_AWS_28", "CKV2_AWS_20", "CKV_AWS_91", "CKV_AWS_150", "CKV_AWS_378", "CKV_AWS_2",
    "CKV_AWS_103",
}  # fmt: skip
FLEET_COMMON_SKIPS = COMMON_CHECKOV_SKIPS - {"CKV_AWS_126"} | FLEET_SKIPS
EXPECTED_CHECKOV_SKIPS = {
    "aws6": COMMON_CHECKOV_SKIPS | PRIVATE_NETWORK_SKIPS | CLOUDFRONT_SKIPS | AWS6_ALERTS_SKIPS,
    "aws3": COMMON_CHECKOV_SKIPS | PRIVATE_NETWORK_SKIPS | ALERTS_SKIPS | {"CKV_AWS_363"},
    "aws6-public-ip": COMMON_CHECKOV_SKIPS | PUBLIC_IP_SKIPS,
    "aws6-fleet": FLEET_COMMON_SKIPS | PRIVATE_NETWORK_SKIPS | CLOUDFRONT_SKIPS,
    "aws3-fleet": FLEET_COMMON_SKIPS | PRIVATE_NETWORK_SKIPS,
    "aws6-fleet-public-ip": FLEET_COMMON_SKIPS | PUBLIC_IP_SKIPS,
    "aws3-fleet-public-ip": FLEET_COMMON_SKIPS | PUBLIC_IP_SKIPS,
}
FLEET = {"profile": "fleet", "fleet": {"min_size": 2, "max_size": 3}}


def make_config(tmp_path: Path, emulated: bool, **flags: object) -> StackConfig:
    values = {"state_dir": str(tmp_path / "state"), **flags}
    if emulated:
        values["endpoint_url"] = ENDPOINT
    return load_config(None, values, environ={})


def read(directory: Path, relative: str) -> str:
    return (directory / relative).read_text(encoding="utf-8")


def hcl_blocks(text: str, kind: str) -> dict[str, str]:
    """`kind "name" { ... }` blocks of a rendered file (top level, brace-matched).

    Resources are keyed "type.name".
    """
    blocks = {}
    for match in re.finditer(rf'^{kind} "([^"]+)"(?: "([^"]+)")? \{{\n', text, re.M):
        depth, index = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        key = ".".join(label for label in match.groups() if label)
        blocks[key] = text[match.end() : index]
    return blocks


# ----------------------------------------------------------------- the two provider renders


def test_real_aws_render_uses_the_current_provider_and_split_s3_resources(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=False)
    out = render_stack(config)
    assert out == config.terraform_dir
    for module in MODULES:
        for part in ("main", "variables", "outputs", "versions"):
            assert (out / "modules" / module / f"{part}.tf").is_file()
    assert 'version = "~> 6.0"' in read(out, "versions.tf")
    providers = read(out, "providers.tf")
    assert "endpoints" not in providers and "skip_credentials_validation" not in providers
    assert "default_tags" in providers
    storage = read(out, "modules/storage/main.tf")
    for resource in (
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_ownership_controls",
    ):
        assert f'resource "{resource}"' in storage
    assert "lifecycle_rule" not in storage and "versioning {" not in storage


def test_emulated_render_points_every_service_at_the_endpoint(tmp_path: Path) -> None:
    out = render_stack(make_config(tmp_path, emulated=True))
    assert 'version = "3.39.0"' in read(out, "versions.tf")
    providers = read(out, "providers.tf")
    for service in ("cloudwatch", "cloudwatchlogs", "ec2", "iam", "s3", "ssm", "sts"):
        assert re.search(rf'^\s+{service}\s+= "{re.escape(ENDPOINT)}"$', providers, re.M), service
    for setting in (
        "skip_credentials_validation = true",
        "skip_requesting_account_id  = true",
        "skip_metadata_api_check     = true",
        "s3_force_path_style         = true",
        "max_retries                 = 2",
    ):
        assert setting in providers
    storage = read(out, "modules/storage/main.tf")
    assert "versioning {" in storage and "server_side_encryption_configuration {" in storage
    assert "aws_s3_bucket_versioning" not in storage and "s3_use_path_style" not in providers


def test_no_credentials_are_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-never-on-disk")
    out = render_stack(make_config(tmp_path, emulated=True))
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"very-secret-value" not in data and b"AKIAEXAMPLE" not in data, path
            assert b"access_key" not in data and b"secret_key" not in data, path


def test_outputs_variables_and_tags_follow_the_conventions(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=False, stack="shop")
    out = render_stack(config)
    assert tuple(hcl_blocks(read(out, "outputs.tf"), "output")) == STACK_OUTPUTS
    for variables in [out / "variables.tf", *(out / "modules").glob("*/variables.tf")]:
        for name, body in hcl_blocks(variables.read_text(), "variable").items():
            assert re.search(r"^\s+type\s+=", body, re.M), f"{variables}: {name} has no type"
            assert re.search(r'^\s+description\s+= "\S', body, re.M), f"{variables}: {name}"
    root_vars = hcl_blocks(read(out, "variables.tf"), "variable")
    assert '"cafepipe:stack" = "shop"' in root_vars["tags"]
    assert f'default     = "{config.bucket_name}"' in root_vars["bucket_name"]
    assert 'default     = "shop/apache/access"' in root_vars["access_log_group"]


def test_security_properties_are_in_the_templates(tmp_path: Path) -> None:
    """The properties the stack promises; the emulator tests check them on real resources."""
    out = render_stack(
        make_config(
            tmp_path, emulated=False, site_access="public-ip", allowed_http_cidr="203.0.113.0/24"
        )
    )
    compute = read(out, "modules/compute/main.tf")
    web_sg = hcl_blocks(compute, "resource")["aws_security_group.web"]
    ingress = re.findall(r"ingress \{(.*?)\n  \}", web_sg, re.S)
    assert len(ingress) == 1 and "from_port   = 80" in ingress[0]
    assert "cidr_blocks = [var.allowed_http_cidr]" in ingress[0]
    assert "22" not in web_sg and "key_name" not in compute
    assert 'http_tokens                 = "required"' in compute
    assert "encrypted             = true" in compute and 'volume_type           = "gp3"' in compute
    assert (
        'default     = "203.0.113.0/24"'
        in hcl_blocks(read(out, "variables.tf"), "variable")["allowed_http_cidr"]
    )
    identity = read(out, "modules/identity/main.tf")
    # No AWS managed policy (AmazonSSMManagedInstanceCore reads every SSM parameter) and no
    # log retention calls: Terraform sets retention, the server cannot shorten it.
    assert "policy_attachment" not in identity and "arn:aws:iam::aws:policy" not in identity
    assert "PutRetentionPolicy" not in identity and "ssm:GetParameter" not in identity
    # "*" only where AWS has no resource to narrow to: PutMetricData (then with a namespace
    # condition) and the SSM agent's message channels; its heartbeat is on EC2 instances.
    star_statements = [s for s in identity.split("statement {") if 'resources = ["*"]' in s]
    star_actions = {
        action
        for statement in star_statements
        for action in re.findall(r'"([a-z0-9]+:\w+)"', statement.split("resources")[0])
    }
    assert star_actions == {"cloudwatch:PutMetricData", *SSM_AGENT_ACTIONS} - {
        "ssm:UpdateInstanceInformation"
    }
    assert "resources = [local.instance_arns]" in identity
    assert "cloudwatch:namespace" in next(s for s in star_statements if "PutMetricData" in s)
    storage = read(out, "modules/storage/main.tf")
    assert "force_destroy = true" in storage and '"aws:SecureTransport"' in storage
    assert storage.count(" = true\n", storage.index("public_access_block")) >= 4
    main = read(out, "main.tf")
    assert f'simulated_log_prefix      = "{SIMULATED_LOG_PREFIX}"' in main
    assert f'archive_prefix            = "{ARCHIVE_PREFIX}"' in main


def test_default_site_access_keeps_the_server_off_the_internet(tmp_path: Path) -> None:
    """site_access = "cloudfront": no public IPv4, in from CloudFront only, out over IPv6/S3."""
    out = render_stack(make_config(tmp_path, emulated=False))
    compute = read(out, "modules/compute/main.tf")
    instance = hcl_blocks(compute, "resource")["aws_instance.web"]
    assert "associate_public_ip_address = false" in instance
    assert "ipv6_address_count          = 1" in instance
    web_sg = hcl_blocks(compute, "resource")["aws_security_group.web"]
    ingress = re.findall(r"ingress \{(.*?)\n  \}", web_sg, re.S)
    assert len(ingress) == 1 and "from_port       = 80" in ingress[0]
    assert "data.aws_ec2_managed_prefix_list.cloudfront.id" in ingress[0]
    assert "cidr_blocks" not in ingress[0]
    assert "com.amazonaws.global.cloudfront.origin-facing" in compute
    egress = re.findall(r"egress \{(.*?)\n  \}", web_sg, re.S)
    assert len(egress) == 2 and all(re.search(r"from_port\s+= 443\n", e) for e in egress)
    assert "0.0.0.0/0" not in web_sg  # no IPv4 internet at all
    network = hcl_blocks(read(out, "modules/network/main.tf"), "resource")
    assert "map_public_ip_on_launch         = false" in network["aws_subnet.private"]
    assert "egress_only_gateway_id" in network["aws_route.ipv6_out"]
    # The internet gateway (required by VPC origins) is attached but no route uses it.
    assert not any("aws_internet_gateway.main" in body for body in network.values())
    assert 'vpc_endpoint_type = "Gateway"' in network["aws_vpc_endpoint.s3"]
    cdn = read(out, "modules/cdn/main.tf")
    assert '"Managed-CachingDisabled"' in cdn  # every visit reaches Apache and its log
    assert '"Managed-AllViewerAndCloudFrontHeaders-2022-06"' in cdn  # viewer city, region...
    assert 'viewer_protocol_policy     = "redirect-to-https"' in cdn
    assert "vpc_origin_config" in cdn and 'origin_protocol_policy = "http-only"' in cdn
    outputs = hcl_blocks(read(out, "outputs.tf"), "output")
    assert 'value       = "https://${module.cdn.domain_name}/cafe"' in outputs["site_url"]
    assert 'module "cdn"' in read(out, "main.tf")


def test_emulated_default_render_has_the_private_network_without_cloudfront(
    tmp_path: Path,
) -> None:
    """Provider 3.39 has no VPC origins: the emulator gets the network, not the distribution."""
    out = render_stack(make_config(tmp_path, emulated=True))
    assert not (out / "modules" / "cdn").exists()
    main = read(out, "main.tf")
    assert 'module "cdn"' not in main and "has no CloudFront" in main
    assert "associate_public_ip_address = false" in read(out, "modules/compute/main.tf")
    outputs = hcl_blocks(read(out, "outputs.tf"), "output")
    assert "module.compute.private_ip" in outputs["site_url"]


# ----------------------------------------------------------------- re-rendering


def test_rerender_keeps_terraform_files_and_removes_stale_rendered_ones(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=True)
    out = config.terraform_dir
    first = render_stack_files(config)
    assert set(first.changed) == set(first.files)
    kept = {
        "terraform.tfstate": "{}",
        "terraform.tfstate.backup": "{}",
        ".terraform.lock.hcl": "# lock",
        ".terraform/modules/modules.json": "{}",
        ".terraform/providers/x.tf": "# plugin cache",
        "cafepipe.tfplan": "plan",
        "backend.tf": 'terraform {\n  backend "local" {}\n}\n',
    }
    stale = ["old.tf", "modules/legacy/main.tf", "instance/site/cafe/old.php"]
    for relative, text in {**kept, **dict.fromkeys(stale, "# stale")}.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    second = render_stack_files(config)
    assert second.changed == ()  # nothing rewritten
    assert set(second.removed) == set(stale)
    for relative, text in kept.items():
        assert (out / relative).read_text() == text, relative
    assert not (out / "modules" / "legacy").exists()
    # A changed setting rewrites only what depends on it.
    third = render_stack_files(make_config(tmp_path, emulated=True, instance_type="t3.micro"))
    assert third.changed == ("variables.tf",)


def test_render_into_another_directory(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=False)
    out = render_stack(config, tmp_path / "elsewhere")
    assert out == tmp_path / "elsewhere" and (out / "main.tf").is_file()
    assert not config.terraform_dir.exists()


# ----------------------------------------------------------------- strict Jinja


@pytest.fixture
def scratch_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "templates"
    root.mkdir()
    monkeypatch.setattr(templating, "templates_dir", lambda: root)
    return root


def test_undefined_variable_names_template_and_line(scratch_templates: Path) -> None:
    (scratch_templates / "script.sh.j2").write_text("#!/bin/sh\n\necho {{ greeting }}\n")
    with pytest.raises(TemplateRenderError, match=r"templates/script\.sh\.j2, line 3: .*greeting"):
        render_template("script.sh.j2")
    assert render_template("script.sh.j2", greeting="hi") == "#!/bin/sh\n\necho hi\n"


def test_undefined_in_an_included_template_names_that_template(scratch_templates: Path) -> None:
    (scratch_templates / "part.html.j2").write_text("<p>{{ missing.attr }}</p>\n")
    (scratch_templates / "page.html.j2").write_text("<main>\n{% include 'part.html.j2' %}\n")
    with pytest.raises(TemplateRenderError, match=r"templates/part\.html\.j2, line 1"):
        render_template("page.html.j2")


def test_syntax_error_names_template(scratch_templates: Path) -> None:
    (scratch_templates / "bad.json.j2").write_text('{\n  "a": {{ value }\n}\n')
    with pytest.raises(TemplateRenderError, match=r"templates/bad\.json\.j2, line 2"):
        render_template("bad.json.j2", value=1)


def test_autoescape_is_on_for_html_and_off_for_scripts(scratch_templates: Path) -> None:
    (scratch_templates / "page.html.j2").write_text("{{ value }}")
    (scratch_templates / "run.sh.j2").write_text("{{ value }}")
    assert render_template("page.html.j2", value="<b>&") == "&lt;b&gt;&amp;"
    assert render_template("run.sh.j2", value="<b>&") == "<b>&"


def test_real_stack_template_errors_name_their_file() -> None:
    with pytest.raises(TemplateRenderError, match=r"templates/instance/httpd-cafe\.conf\.j2"):
        render_template("instance/httpd-cafe.conf.j2", site_dir="/srv/cafe")


def test_hcl_literal_escapes_terraform_templates() -> None:
    assert hcl_literal("a ${b} %{c}") == '"a $${b} %%{c}"'
    assert hcl_literal({"k": 'say "hi"'}) == '{\n  "k" = "say \\"hi\\""\n}'
    assert hcl_literal([True, 3]) == "[true, 3]"


# ----------------------------------------------------------------- instance files and site


def _embedded_files(script: str) -> dict[str, bytes]:
    """The files the user data writes, read back out of its heredocs."""
    files = {}
    pattern = r"^(cat|base64 -d) > '([^']+)' <<'CAFEPIPE_EOF'\n(.*?)\nCAFEPIPE_EOF$"
    for command, path, body in re.findall(pattern, script, re.S | re.M):
        files[path] = base64.b64decode(body) if command == "base64 -d" else (body + "\n").encode()
    return files


def test_user_data_carries_every_instance_file_and_fits_ec2(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=False)
    expected = instance_files(config)
    script = user_data(config, expected)
    embedded = _embedded_files(script)
    assert set(embedded) == set(expected)
    for path, data in expected.items():
        assert embedded[path] == (
            data if data.endswith(b"\n") or path.endswith(".ico") else data + b"\n"
        )
    assert len(gzip.compress(script.encode())) < 16 * 1024
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    assert "httpd php php-fpm amazon-cloudwatch-agent" in script
    assert f"-a fetch-config -m ec2 -s -c 'file:{AGENT_CONFIG_PATH}'" in script
    assert subprocess.run(["bash", "-n"], input=script.encode(), check=False).returncode == 0


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_user_data_passes_shellcheck(tmp_path: Path) -> None:
    out = render_stack(make_config(tmp_path, emulated=False))
    result = subprocess.run(
        ["shellcheck", "-s", "bash", str(out / USER_DATA_FILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_apache_config_logs_json_to_the_access_log_path() -> None:
    conf = render_module.apache_config()
    # Through the piped logger that makes each line strict UTF-8 JSON.
    logger = render_module.ACCESS_LOGGER_COMMAND
    assert f'CustomLog "||{logger} {ACCESS_LOG_PATH}" cloudwatch' in conf
    files = instance_files(make_config(Path("/nonexistent"), emulated=False))
    assert files[render_module.ACCESS_LOGGER_PATH] == Path(access_logger.__file__).read_bytes()
    log_format = re.search(r'LogFormat "(.*)" cloudwatch', conf)
    assert log_format
    keys = re.findall(r'\\"(\w+)\\":\\"', log_format.group(1))
    assert keys[:2] == ["time", "process"]  # the agent takes the first timestamp in the line
    assert {"bytes", "country", "region", "city", "lat", "lon", "userAgent"} <= set(keys)


def test_agent_config_ships_both_logs_with_real_timestamps(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=False, stack="shop", log_retention_days="30")
    agent = render_module.agent_config(config)
    access, error = agent["logs"]["logs_collected"]["files"]["collect_list"]
    assert (access["file_path"], access["log_group_name"]) == (
        ACCESS_LOG_PATH,
        "shop/apache/access",
    )
    assert access["log_stream_name"] == "{instance_id}"
    # Retention is Terraform's: the agent would need logs:PutRetentionPolicy to set it.
    assert "retention_in_days" not in access and "retention_in_days" not in error
    assert access["timestamp_format"] == "%Y-%m-%dT%H:%M:%S.%fZ" and access["timezone"] == "UTC"
    assert error["log_group_name"] == "shop/apache/error"


def test_private_server_talks_to_aws_over_dual_stack_endpoints(tmp_path: Path) -> None:
    """No public IPv4: both agents must use the IPv6-capable endpoints; public-ip needs none."""
    private = make_config(tmp_path, emulated=False)
    files = instance_files(private)
    assert json.loads(files[SSM_AGENT_CONFIG_PATH]) == {"Agent": {"UseDualStackEndpoint": True}}
    assert render_module.agent_config(private)["agent"]["use_dualstack_endpoint"] is True
    script = user_data(private, files)
    # The agent started before its config existed: the user data restarts it, after writing it.
    assert script.index(SSM_AGENT_CONFIG_PATH) < script.index("systemctl restart amazon-ssm-agent")
    assert "X-Forwarded-For" in files[HTTPD_CONF_PATH].decode()

    public = make_config(tmp_path, emulated=False, site_access="public-ip")
    files = instance_files(public)
    assert SSM_AGENT_CONFIG_PATH not in files
    assert "use_dualstack_endpoint" not in render_module.agent_config(public)["agent"]
    assert "amazon-ssm-agent" not in user_data(public, files)
    assert "X-Forwarded-For" not in files[HTTPD_CONF_PATH].decode()


def test_site_has_every_catalog_page_asset_and_item_image(tmp_path: Path) -> None:
    files = site_files(make_config(tmp_path, emulated=False))
    expected = {*catalog.PAGES, *catalog.ASSETS, *map(catalog.item_image_path, catalog.MENU)}
    assert expected <= set(files)
    menu = files[catalog.MENU_PATH].decode()
    for item in catalog.MENU:
        assert f'href="{catalog.ITEM_PATH}?id={item.id}"' in menu
    assert "Macarons (box of 6)" in menu and 'data-order-path="/cafe/processOrder.php"' in menu
    assert files[catalog.FAVICON_PATH][:4] == b"\x00\x00\x01\x00"  # an ICO
    php_catalog = files["/cafe/inc/catalog.php"].decode()
    assert "'latte' => ['name' => 'Caffè Latte'" in php_catalog


@pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed")
def test_site_php_parses(tmp_path: Path) -> None:
    for path, data in site_files(make_config(tmp_path, emulated=False)).items():
        if path.endswith(".php") or path == catalog.HOME_PATH:
            result = subprocess.run(["php", "-l"], input=data, capture_output=True, check=False)
            assert result.returncode == 0, (path, result.stdout, result.stderr)


# ----------------------------------------------------------------- dashboard


def test_dashboard_has_section_headers_and_the_lab_queries(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=False, stack="shop", region="eu-west-1")
    widgets = dashboard_body(config)["widgets"]
    texts = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    # Generated from the insights catalog: one header per section, one widget per insight.
    from cafepipe.insights.queries import INSIGHTS, SECTIONS

    assert texts[0].startswith("# ")
    assert [t for t in texts if t.startswith("## ")] == [f"## {s}" for s in SECTIONS]
    logs = [w["properties"] for w in widgets if w["type"] == "log"]
    # Every insight Logs Insights can answer (visits need sessions: DuckDB and Athena).
    assert len(logs) == len([i for i in INSIGHTS if i.logs_insights])
    assert {p["view"] for p in logs} == {"timeSeries", "pie", "table", "bar"}
    assert all(p["query"].startswith("SOURCE 'shop/apache/access' | ") for p in logs)
    assert all(p["region"] == "eu-west-1" for p in logs)
    queries = " ".join(p["query"] for p in logs)
    for fragment in (
        'filter request = "/cafe/menu.php"',
        'filter (request = "/cafe/processOrder.php" and status not like /^4[0-9][0-9]$/)',
        # the four geography widgets
        "stats sum(menu_view) as menu_views, sum(order_placed) as orders by city",
        "stats count(*) as orders by city",
        "stats count(*) as visits by region",
        "stats count(*) as orders by region",
    ):
        assert fragment in queries
    # No two widgets overlap, and all fit the 24-column grid.
    cells = set()
    for w in widgets:
        assert w["x"] + w["width"] <= 24
        area = {
            (x, y)
            for x in range(w["x"], w["x"] + w["width"])
            for y in range(w["y"], w["y"] + w["height"])
        }
        assert not cells & area
        cells |= area


def test_dashboard_and_saved_queries_reach_the_terraform(tmp_path: Path) -> None:
    config = make_config(tmp_path, emulated=True)
    out = render_stack(config)
    assert json.loads(read(out, "dashboard.json")) == dashboard_body(config)
    main = read(out, "main.tf")
    for name in saved_queries(config):
        assert f'"{name}"' in main
    assert 'resource "aws_cloudwatch_query_definition"' in read(
        out, "modules/observability/main.tf"
    )


# ----------------------------------------------------------------- CLI


def test_render_command_prints_the_directory_and_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = CliRunner().invoke(
        cli,
        ["--state-dir", str(state), "--stack", "shop", "render", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["directory"] == str(state / "shop" / "terraform")
    assert "main.tf" in data["files"] and USER_DATA_FILE in data["files"]
    assert data["user_data_gzip_bytes"] < 16 * 1024
    text = CliRunner().invoke(cli, ["--state-dir", str(state), "--stack", "shop", "render"])
    assert text.exit_code == 0 and text.stdout.splitlines()[0] == str(state / "shop" / "terraform")
    assert "  modules/storage/main.tf" in text.stdout.splitlines()


# ----------------------------------------------------------------- Terraform and checkov


@pytest.fixture(scope="module")
def both_renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("renders")
    return {
        "aws6": render_stack(make_config(root, emulated=False, alert_email=EMAIL), root / "aws6"),
        "aws3": render_stack(make_config(root, emulated=True, alert_email=EMAIL), root / "aws3"),
        "aws6-public-ip": render_stack(
            make_config(root, emulated=False, site_access="public-ip"), root / "aws6-public-ip"
        ),
        "aws6-fleet": render_stack(make_config(root, emulated=False, **FLEET), root / "aws6-fleet"),
        "aws3-fleet": render_stack(make_config(root, emulated=True, **FLEET), root / "aws3-fleet"),
        "aws6-fleet-public-ip": render_stack(
            make_config(root, emulated=False, site_access="public-ip", **FLEET),
            root / "aws6-fleet-public-ip",
        ),
        "aws3-fleet-public-ip": render_stack(
            make_config(root, emulated=True, site_access="public-ip", **FLEET),
            root / "aws3-fleet-public-ip",
        ),
    }


@pytest.mark.integration
def test_both_renders_pass_terraform_fmt_check(both_renders: dict[str, Path]) -> None:
    from cafepipe.deploy.terraform import TerraformRunner, select_backend

    for directory in both_renders.values():
        TerraformRunner(directory, {}, select_backend()).fmt_check()  # raises with the diff


@pytest.mark.integration
@pytest.mark.parametrize("flavour", ["aws3", "aws3-fleet", "aws3-fleet-public-ip"])
def test_offline_render_validates_with_the_offline_provider(
    both_renders: dict[str, Path], tmp_path: Path, flavour: str
) -> None:
    from cafepipe.deploy.stack import terraform_env
    from cafepipe.deploy.terraform import TerraformRunner, select_backend

    work = tmp_path / "tf"
    shutil.copytree(both_renders[flavour], work)
    config = make_config(tmp_path, emulated=True)
    runner = TerraformRunner(work, terraform_env(config), select_backend())
    runner.init()  # offline: the filesystem mirror of provider 3.39.0
    result = runner.validate()
    assert result.events and result.events[0].get("valid") is True, result.text


@pytest.mark.integration
@pytest.mark.skipif(not CHECKOV.is_file(), reason="checkov is not installed (make install)")
def test_checkov_passes_both_renders_with_only_the_documented_skips(
    both_renders: dict[str, Path],
) -> None:
    scan_root = next(iter(both_renders.values())).parent
    result = subprocess.run(
        [str(CHECKOV), "-d", str(scan_root), "--framework", "terraform", "--compact",
         "-o", "json", "--skip-download"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    results = report["results"]
    failed = [(c["check_id"], c["file_path"], c["resource"]) for c in results["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    for flavour in both_renders:
        scanned = {c["file_path"].split("/")[1] for c in results["passed_checks"]}
        assert flavour in scanned
        skipped = {
            c["check_id"]
            for c in results["skipped_checks"]
            if c["file_path"].split("/")[1] == flavour
        }
        assert skipped == EXPECTED_CHECKOV_SKIPS[flavour], flavour
    # Every skip says why (the text after `#checkov:skip=<id>:`).
    for template in (Path(templating.terraform_dir())).rglob("*.tf.j2"):
        for reason in re.findall(r"#checkov:skip=[\w]+:(.*)", template.read_text()):
            assert len(reason.split()) >= 6, (template, reason)
