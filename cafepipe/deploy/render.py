"""Render a stack: the Jinja-templated Terraform, the instance files, the café site.

`render_stack` writes everything Terraform needs into `.cafepipe/<stack>/terraform/`:
the root module and the modules it calls (`*.tf`: storage, observability, identity, network,
compute — or, with profile = "fleet", fleet — and, behind CloudFront, cdn), `dashboard.json`,
and `instance/` (the user data, which carries the Apache config, the CloudWatch agent config
and the site, and copies of those files). It never touches Terraform's own files there
(state, `.terraform/`, the lock file, plans, `backend.tf`). `docs/data-flow.md` describes
the layout.

`render_template` renders any file of `templates/` (SSM scripts, the HTML report…) with the
same strict Jinja environment.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import shlex
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cafepipe import config as cfg
from cafepipe.cafe import catalog
from cafepipe.cafe.limits import EC2_USER_DATA_MAX_BYTES, LOGS_MAX_EVENT_AGE_DAYS
from cafepipe.config import StackConfig
from cafepipe.deploy import lake
from cafepipe.deploy.alerts import LAMBDA_DIR, REPORT_ZIP_FILE, alerts_context, report_bundle
from cafepipe.deploy.dashboard import dashboard_body, saved_queries
from cafepipe.deploy.templating import (
    TEMPLATE_SUFFIX,
    TemplateRenderError,
    render_template,
    render_terraform_template,
    terraform_dir,
)
from cafepipe.errors import UsageError
from cafepipe.logs import access_logger

INSTANCE_DIR = "instance"  # inside the rendered Terraform directory
DASHBOARD_FILE = "dashboard.json"
ATHENA_QUERIES_FILE = "athena-queries.json"  # the lake's named queries (Trino SQL), by insight
USER_DATA_FILE = f"{INSTANCE_DIR}/user_data.sh"
CDN_MODULE_DIR = "modules/cdn/"
ALERTS_MODULE_DIR = "modules/alerts/"
# profile = "fleet" renders the fleet module (launch template, Auto Scaling group, load
# balancer) in place of the one instance of modules/compute.
COMPUTE_MODULE_DIR = "modules/compute/"
FLEET_MODULE_DIR = "modules/fleet/"
# Zone ids where CloudFront cannot reach a VPC origin (CloudFront Developer Guide, "Restrict
# access with VPC origins"; re-check when adding regions): the server is never put there.
ZONES_WITHOUT_VPC_ORIGINS = ["use1-az3", "usw1-az2", "apne1-az3"]
USER_DATA_LIMIT_BYTES = EC2_USER_DATA_MAX_BYTES  # gzip-compressed

# On the instance (Amazon Linux 2023).
DOCUMENT_ROOT = "/var/www/html"
SITE_DIR = f"{DOCUMENT_ROOT}/cafe"
HTTPD_CONF_PATH = "/etc/httpd/conf.d/cafe.conf"
# Apache's piped logger: re-encodes each access-log line as strict UTF-8 JSON (python3 is
# part of Amazon Linux 2023; -I -S: no environment, no site packages, a fast start).
ACCESS_LOGGER_PATH = "/usr/local/bin/cafepipe-access-logger"
ACCESS_LOGGER_COMMAND = f"/usr/bin/python3 -I -S {ACCESS_LOGGER_PATH}"
# How the first boot ended, for `cafepipe check` and people: one line starting with
# BOOT_MARKER ("ok", or "failed step=<step>: <why>") on the serial console (EC2
# GetConsoleOutput) and in BOOT_STATUS_PATH (readable over SSM).
BOOT_MARKER = "cafepipe-user-data:"
BOOT_STATUS_PATH = "/var/lib/cafepipe/user-data.status"
# The days the archive script has copied a file of (so a second one does not overwrite it).
ARCHIVED_DAYS_DIR = "/var/lib/cafepipe/archived-days"
# What the last simulate-logs runs swapped in as the access log (its size and sha256), so the
# archive script leaves those bytes out of the rotated file: simulate-logs wrote them itself.
SIMULATED_HEADS_DIR = "/var/lib/cafepipe/simulated-heads"
# The first agent versions that honour their dual-stack setting (UseDualStackEndpoint,
# use_dualstack_endpoint): older ones ignore it and, with no IPv4, reach nothing.
SSM_AGENT_DUALSTACK_MINIMUM = "3.3.3270.0"
CLOUDWATCH_AGENT_DUALSTACK_MINIMUM = "1.300061.0"

AGENT_METRIC_NAMESPACE = "CWAgent"  # the only namespace the instance role may put metrics in
SIMULATED_LOG_EXPIRY_DAYS = LOGS_MAX_EVENT_AGE_DAYS  # CloudWatch Logs refuses older events

# The site's pages and assets (catalog paths) and the templates that make them.
SITE_TEMPLATES: dict[str, str] = {
    catalog.HOME_PATH: "site/index.php.j2",
    catalog.MENU_PATH: "site/menu.php.j2",
    catalog.ITEM_PATH: "site/item.php.j2",
    catalog.ORDER_PATH: "site/processOrder.php.j2",
    catalog.ABOUT_PATH: "site/about.php.j2",
    "/cafe/inc/catalog.php": "site/inc/catalog.php.j2",  # PHP include, denied to browsers
    catalog.STYLESHEET_PATH: "site/css/cafe.css.j2",
    catalog.SCRIPT_PATH: "site/js/cart.js.j2",
    catalog.LOGO_PATH: "site/images/logo.svg.j2",
}
ITEM_IMAGE_TEMPLATE = "site/images/item.svg.j2"


@dataclass(frozen=True)
class RenderedStack:
    """What `render_stack_files` wrote: the directory and the files in it (relative paths)."""

    directory: Path
    files: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    user_data_gzip_bytes: int


# ---------------------------------------------------------------------------------------
# Instance files: the site, Apache, the CloudWatch agent, the user data
# ---------------------------------------------------------------------------------------


def favicon_ico() -> bytes:
    """A 16×16 coffee-bean-brown disc as a PNG-in-ICO (what browsers fetch first)."""
    size = 16
    rows = b""
    for y in range(size):
        row = bytearray(b"\x00")  # PNG filter: none
        for x in range(size):
            inside = math.hypot(x - 7.5, y - 7.5) <= 7.2
            row += bytes((0x6F, 0x4E, 0x37, 0xFF)) if inside else bytes(4)
        rows += bytes(row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


def site_context(config: StackConfig) -> dict[str, Any]:
    """What the site templates see: the catalog, grouped for the menu page."""
    categories: dict[str, list[catalog.MenuItem]] = {}
    for item in catalog.MENU:
        categories.setdefault(item.category, []).append(item)
    return {
        "stack": config.stack,
        "catalog": catalog,
        "menu": catalog.MENU,
        "categories": categories,
        "item_image_path": catalog.item_image_path,
        "order_query": catalog.order_query,
        "featured": [catalog.MENU_BY_ID[i] for i in catalog.FEATURED_ITEM_IDS],
    }


def site_files(config: StackConfig) -> dict[str, bytes]:
    """The café site: URL path → file content (pages, assets, item images, favicon)."""
    context = site_context(config)
    files = {
        path: render_template(template, **context).encode()
        for path, template in SITE_TEMPLATES.items()
    }
    for item in catalog.MENU:
        files[catalog.item_image_path(item)] = render_template(
            ITEM_IMAGE_TEMPLATE, item=item, **context
        ).encode()
    files[catalog.FAVICON_PATH] = favicon_ico()
    return files


def site_file_location(url_path: str) -> str:
    """Where a URL path's file lives on the instance (`/cafe` is the directory's index.php)."""
    if url_path == catalog.HOME_PATH:
        return f"{SITE_DIR}/index.php"
    return DOCUMENT_ROOT + url_path


def apache_config(
    access_log_path: str = cfg.ACCESS_LOG_PATH,
    site_dir: str = SITE_DIR,
    combined_log_path: str | None = None,
    behind_cloudfront: bool = False,
    access_logger: str = ACCESS_LOGGER_COMMAND,
) -> str:
    """The Apache config of the site: the JSON `cloudwatch` access log, `/cafe`, the include dir.

    `combined_log_path=None` leaves the combined log to the stock httpd.conf (the instance).
    `behind_cloudfront` logs the visitor's address from X-Forwarded-For instead of the peer's.
    `access_logger` is the piped logger's command line (the log file is its last argument).
    """
    if any(char.isspace() for char in access_log_path):
        raise TemplateRenderError(f"the access log path {access_log_path!r} has a space in it")
    return render_template(
        "instance/httpd-cafe.conf.j2",
        access_log_path=access_log_path,
        access_logger=access_logger,
        site_dir=site_dir,
        combined_log_path=combined_log_path,
        behind_cloudfront=behind_cloudfront,
    )


def agent_config(config: StackConfig) -> dict[str, Any]:
    """The CloudWatch agent config: access and error logs to the stack's log groups."""
    rendered = render_template(
        "instance/cloudwatch-agent.json.j2",
        config=config,
        access_log_path=cfg.ACCESS_LOG_PATH,
        error_log_path=cfg.ERROR_LOG_PATH,
        agent_dir=cfg.AGENT_DIR,
    )
    try:
        parsed: dict[str, Any] = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise TemplateRenderError(
            f"templates/instance/cloudwatch-agent.json.j2 rendered invalid JSON: {exc}"
        ) from None
    return parsed


def archive_script(config: StackConfig, root: str = "") -> str:
    """The script logrotate runs after a rotation: rotated access logs → the lake's partitions.

    `root` prefixes every instance path (tests run it in a sandbox standing in for `/`).
    """
    quote = shlex.quote
    log_path = PurePosixPath(cfg.ACCESS_LOG_PATH)
    return render_template(
        "instance/archive-logs.sh.j2",
        root=quote(root),
        access_log_dir=quote(str(log_path.parent)),
        access_log_name=quote(log_path.name),
        bucket=quote(config.bucket_name),
        archive_prefix=quote(lake.ARCHIVE_PREFIX),
        region=quote(config.region),
        copied_dir=quote(ARCHIVED_DAYS_DIR),
        heads_dir=quote(SIMULATED_HEADS_DIR),
        partition_key=lake.PARTITION_KEY,
        archive_file=lake.ARCHIVE_FILE,
        archive_stem=lake.ARCHIVE_STEM,
        archive_suffix=lake.ARCHIVE_SUFFIX,
    )


def logrotate_config(root: str = "") -> str:
    """Daily rotation of the access log, then `archive_script` (paths under `root`)."""
    return render_template(
        "instance/logrotate-access.j2",
        access_log_path=root + cfg.ACCESS_LOG_PATH,
        archive_script_path=root + cfg.ARCHIVE_SCRIPT_PATH,
    )


@dataclass(frozen=True)
class InstanceFile:
    """A file the user data writes on the instance."""

    path: str
    content: str  # text, or base64 when `binary`
    binary: bool = False
    heredoc_end: str = "CAFEPIPE_EOF"


def _instance_file(path: str, content: bytes) -> InstanceFile:
    try:
        text = content.decode()
    except UnicodeDecodeError:
        text = ""
    if not text or "\0" in text:
        return InstanceFile(path, base64.encodebytes(content).decode().rstrip("\n"), binary=True)
    if any(line == InstanceFile.heredoc_end for line in text.splitlines()):
        raise TemplateRenderError(f"{path} contains the heredoc delimiter line; cannot embed it")
    # The heredoc adds the final newline.
    return InstanceFile(path, text[:-1] if text.endswith("\n") else text)


def instance_files(config: StackConfig) -> dict[str, bytes]:
    """The files put on the instance: absolute path → content."""
    files = {site_file_location(path): data for path, data in site_files(config).items()}
    # Behind CloudFront or a fleet's load balancer (which appends the visitor's address to
    # X-Forwarded-For, or keeps CloudFront's: docs/fleet.md), the peer is not the visitor.
    files[HTTPD_CONF_PATH] = apache_config(
        behind_cloudfront=config.private_network or config.fleet_enabled
    ).encode()
    files[ACCESS_LOGGER_PATH] = Path(access_logger.__file__).read_bytes()
    if config.private_network:
        # No public IPv4: the SSM agent must use Systems Manager's dual-stack (IPv6) endpoints.
        files[cfg.SSM_AGENT_CONFIG_PATH] = (
            json.dumps({"Agent": {"UseDualStackEndpoint": True}}, indent=2) + "\n"
        ).encode()
    files[cfg.ARCHIVE_SCRIPT_PATH] = archive_script(config).encode()
    files[cfg.LOGROTATE_CONFIG_PATH] = logrotate_config().encode()
    files[cfg.AGENT_CONFIG_PATH] = (
        json.dumps(agent_config(config), indent=2, ensure_ascii=False) + "\n"
    ).encode()
    return files


def boot_functions(status_path: str = BOOT_STATUS_PATH, console_path: str = "/dev/console") -> str:
    """The user data's shell functions: the boot's outcome line, the agents' version checks."""
    return render_template(
        "instance/boot-functions.sh.j2",
        status_path=shlex.quote(status_path),
        console_path=shlex.quote(console_path),
    )


def user_data(config: StackConfig, files: Mapping[str, bytes] | None = None) -> str:
    """The instance's first-boot script: packages, files, services, the agent.

    The SSM agent's config is written first (before dnf), so that with no IPv4 the instance
    is reachable over SSM whatever fails later.
    """
    files = instance_files(config) if files is None else files
    early = {path: data for path, data in files.items() if path == cfg.SSM_AGENT_CONFIG_PATH}
    later = {path: data for path, data in files.items() if path not in early}
    return render_template(
        "instance/user_data.sh.j2",
        config=config,
        boot_functions=boot_functions(),
        early_files=[_instance_file(path, data) for path, data in sorted(early.items())],
        early_directories=sorted({str(PurePosixPath(path).parent) for path in early}),
        files=[_instance_file(path, data) for path, data in sorted(later.items())],
        directories=sorted({str(PurePosixPath(path).parent) for path in later}),
        ssm_agent_minimum=SSM_AGENT_DUALSTACK_MINIMUM,
        cloudwatch_agent_minimum=CLOUDWATCH_AGENT_DUALSTACK_MINIMUM,
        access_log_dir=str(PurePosixPath(cfg.ACCESS_LOG_PATH).parent),
        agent_ctl=cfg.AGENT_CTL,
        agent_config_path=cfg.AGENT_CONFIG_PATH,
        archive_script_path=cfg.ARCHIVE_SCRIPT_PATH,
        site_url_path=catalog.HOME_PATH,
        private_network=config.private_network,
    )


def gzip_size(text: str) -> int:
    """Size of `text` gzip-compressed the way Terraform's `base64gzip` does it (roughly)."""
    return len(gzip.compress(text.encode(), compresslevel=6, mtime=0))


# ---------------------------------------------------------------------------------------
# The Terraform directory
# ---------------------------------------------------------------------------------------


def terraform_context(config: StackConfig) -> dict[str, Any]:
    """What the Terraform templates see."""
    url = config.endpoint_url
    endpoints: dict[str, str] = {}
    if url:
        logs_key = "cloudwatchlogs" if config.provider_major < 4 else "logs"
        services: tuple[str, ...] = ("cloudwatch", logs_key, "ec2", "iam", "s3", "ssm", "sts")
        services += ("athena", "glue")  # the lake
        if config.fleet_enabled:
            # Provider 3.x reaches Elastic Load Balancing v2 through its "elb" endpoint.
            services += ("autoscaling", "elb" if config.provider_major < 4 else "elbv2")
        if config.alerts_enabled:
            events_key = "cloudwatchevents" if config.provider_major < 4 else "events"
            services += (events_key, "kms", "lambda", "sns")
        endpoints = dict.fromkeys(sorted(services), url)
    return {
        "config": config,
        "provider_major": config.provider_major,
        "tags": config.all_tags,
        "endpoints": endpoints,
        "metric_namespace": f"Cafepipe/{config.stack}",
        "agent_metric_namespace": AGENT_METRIC_NAMESPACE,
        "simulated_log_prefix": cfg.SIMULATED_LOG_PREFIX,
        "archive_prefix": cfg.ARCHIVE_PREFIX,
        "simulated_log_expiry_days": SIMULATED_LOG_EXPIRY_DAYS,
        "saved_queries": saved_queries(config),
        "query_folder": f"cafepipe/{config.stack}",
        "user_data_file": USER_DATA_FILE,
        "dashboard_file": DASHBOARD_FILE,
        "site_path": catalog.HOME_PATH,
        "catalog_order_path": catalog.ORDER_PATH,
        # t2 is the one family config allows that cannot be EBS-optimized.
        "ebs_optimized": cfg.instance_family(config.instance_type) != "t2",
        "stack_outputs": cfg.STACK_OUTPUTS,
        "private_network": config.private_network,
        "cloudfront": config.cloudfront,
        "fleet": config.fleet,
        "zones_without_vpc_origins": ZONES_WITHOUT_VPC_ORIGINS if config.cloudfront else [],
        **lake_context(config),
        **alerts_context(config),
    }


def lake_context(config: StackConfig) -> dict[str, Any]:
    """What the lake's templates see (names from `cafepipe.deploy.lake`)."""
    return {
        "lake_database": lake.database_name(config.stack),
        "lake_workgroup": lake.WORKGROUP(config.stack),
        "table": lake.TABLE,
        "lake_columns": [{"name": name, "type": kind} for name, kind in lake.LAKE_COLUMNS],
        "date_format": lake.DATE_FORMAT,
        "results_prefix": lake.RESULTS_PREFIX,
        "scan_cutoff_bytes": config.athena_scan_cutoff_mb * 1_000_000,
        "athena_queries_file": ATHENA_QUERIES_FILE,
    }


def athena_named_queries(config: StackConfig) -> dict[str, dict[str, str]]:
    """The catalog as the workgroup's saved queries: insight id → description, Trino SQL."""
    from cafepipe.insights.athena_sql import athena_statement
    from cafepipe.insights.queries import INSIGHTS

    database = lake.database_name(config.stack)
    return {
        insight.id: {
            "description": insight.title,
            "query": athena_statement(insight, database, lake.TABLE),
        }
        for insight in INSIGHTS
    }


def _terraform_templates() -> Iterable[str]:
    root = terraform_dir()
    for path in sorted(root.rglob("*" + TEMPLATE_SUFFIX)):
        yield PurePosixPath(path.relative_to(root)).as_posix()


def stack_files(config: StackConfig) -> dict[str, bytes]:
    """Everything `render_stack` writes: relative path → content."""
    context = terraform_context(config)
    files: dict[str, bytes] = {
        template[: -len(TEMPLATE_SUFFIX)]: render_terraform_template(template, **context).encode()
        for template in _terraform_templates()
        # A module the root does not call is not written (the CDN one needs provider ≥ 5.82).
        if config.cloudfront or not template.startswith(CDN_MODULE_DIR)
        if config.alerts_enabled or not template.startswith(ALERTS_MODULE_DIR)
        if config.fleet_enabled or not template.startswith(FLEET_MODULE_DIR)
        if not config.fleet_enabled or not template.startswith(COMPUTE_MODULE_DIR)
    }
    if config.alerts_enabled and config.report_weekly is not None:
        files[REPORT_ZIP_FILE] = report_bundle(config)
    files[DASHBOARD_FILE] = (
        json.dumps(dashboard_body(config), indent=2, ensure_ascii=False) + "\n"
    ).encode()
    files[ATHENA_QUERIES_FILE] = (
        json.dumps(athena_named_queries(config), indent=2, ensure_ascii=False) + "\n"
    ).encode()
    on_instance = instance_files(config)
    script = user_data(config, on_instance)
    size = gzip_size(script)
    if size > USER_DATA_LIMIT_BYTES:
        raise UsageError(
            f"the instance user data is {size} bytes gzip-compressed; EC2 allows 16384",
            "keep the site small (templates/site/) or move files to S3",
        )
    files[USER_DATA_FILE] = script.encode()
    files[f"{INSTANCE_DIR}/httpd-cafe.conf"] = on_instance[HTTPD_CONF_PATH]
    files[f"{INSTANCE_DIR}/cloudwatch-agent.json"] = on_instance[cfg.AGENT_CONFIG_PATH]
    for path, data in on_instance.items():
        if path.startswith(DOCUMENT_ROOT + "/"):
            files[f"{INSTANCE_DIR}/site/{path[len(DOCUMENT_ROOT) + 1 :]}"] = data
    return files


# Written next to the rendered files by cafepipe.deploy.stack (the state backend), not by render.
BACKEND_FILE = "backend.tf"


def _is_terraform_own(relative: PurePosixPath) -> bool:
    # Terraform's state, plugins, lock file and saved plans are never ours to touch.
    name = relative.name
    return (
        relative.parts[0] == ".terraform"
        or name.startswith("terraform.tfstate")
        or name == ".terraform.lock.hcl"
        or name.endswith((".tfplan", ".plan"))
        or relative.as_posix() == BACKEND_FILE
    )


def _stale_files(directory: Path, keep: set[str]) -> list[PurePosixPath]:
    stale = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        relative = PurePosixPath(path.relative_to(directory).as_posix())
        if _is_terraform_own(relative) or relative.as_posix() in keep:
            continue
        if relative.suffix == ".tf" or relative.parts[0] in (INSTANCE_DIR, LAMBDA_DIR):
            stale.append(relative)
    return stale


def render_stack_files(config: StackConfig, out_dir: Path | None = None) -> RenderedStack:
    """Render the stack into `out_dir` (default `config.terraform_dir`); report what changed."""
    directory = Path(out_dir) if out_dir is not None else config.terraform_dir
    files = stack_files(config)
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for relative, data in files.items():
        target = directory / relative
        if target.is_file() and target.read_bytes() == data:
            continue  # unchanged files keep their mtime
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        changed.append(relative)
    removed = _stale_files(directory, set(files))
    for stale in removed:
        (directory / stale).unlink()
    # Deepest first, so a folder emptied of its only subfolder goes too.
    for folder in sorted(
        (p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
    ):
        top = folder.relative_to(directory).parts[0]
        if top in ("modules", INSTANCE_DIR, LAMBDA_DIR) and not any(folder.iterdir()):
            folder.rmdir()
    return RenderedStack(
        directory=directory,
        files=tuple(sorted(files)),
        changed=tuple(sorted(changed)),
        removed=tuple(r.as_posix() for r in removed),
        user_data_gzip_bytes=gzip_size(files[USER_DATA_FILE].decode()),
    )


def render_stack(config: StackConfig, out_dir: Path | None = None) -> Path:
    """Write the stack's Terraform and instance files; return the directory."""
    return render_stack_files(config, out_dir).directory
