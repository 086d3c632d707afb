"""`cafepipe cost`: what the stack costs per month and per year, offline, line by line.

Fixed items come from the rendered Terraform (`render_stack`), not from a hand-kept list: a
small scanner reads the resource blocks of the root module and of every local module it calls
(instance and root volume, public IPv4, metric filters → custom metrics, alarms, dashboards,
log groups with their class and retention, buckets and their lifecycle, KMS keys, …). Usage
items (log volume, queries, S3 storage and requests, data out) have documented defaults that
`cafepipe.toml [usage]` or `--usage FILE` override. Prices come from `cafepipe.cost.prices`, with
the always-free tiers applied.

The seed's own arithmetic (reference/seed-blog.txt), corrected here:
- EC2: it gives both "$1.31" and "$3.07" a month for the same t4g.nano; 730 h × $0.0042 is
  $3.066, so $3.07 is right and $1.31 (and its "$15.72" a year) is not. Its summary then uses
  a third figure, $2.19 a month, labelled "for AWS Cloud9".
- S3 GET: priced at $0.000004 a request, 10× the list price of $0.0004 per 1,000; 1,000 GETs
  cost $0.0004, not $0.004.
- S3 PUT: 500 PUTs at $0.000005 each make $0.0025, not the $0.005 it writes.
- S3 Select: priced at $0.03/GB returned and $0.01/GB scanned (list: $0.0007 and $0.002);
  S3 Select is closed to new customers anyway, and cafepipe queries with DuckDB/Athena.
- Data out: its 5 GB are inside the 100 GB a month AWS gives free, so $0.45 is really $0.
- It leaves out the EBS root volume and the public IPv4 address (charged since 2024-02-01).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cafepipe.config import StackConfig
from cafepipe.cost.prices import (
    CURRENCY,
    FREE_TIERS,
    HOURS_PER_MONTH,
    PRICE_DATE,
    NoPriceError,
    instance_price,
    price,
    region_prices,
)
from cafepipe.errors import CafepipeError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DAYS_PER_MONTH = 365 / 12  # 30.42
GB = 1e9  # AWS bills decimal gigabytes
# CloudWatch Logs meters every event as its UTF-8 message plus 26 bytes of metadata.
LOG_EVENT_OVERHEAD_BYTES = 26
# Amazon Linux 2023 AMIs come with an 8 GiB gp3 root volume when the template sets none.
DEFAULT_ROOT_VOLUME_GB = 8
DEFAULT_ROOT_VOLUME_TYPE = "gp3"
# EC2 detailed monitoring sends about 7 metrics per instance, billed as custom metrics.
DETAILED_MONITORING_METRICS = 7
DASHBOARD_FREE_METRICS = 50

# ---------------------------------------------------------------------------------------
# Usage: what the café's traffic and the owner's habits look like (all overridable)
# ---------------------------------------------------------------------------------------

# "A typical simulated month": the generator's default `lab` profile (a small café, 20,000
# requests a day) over 365/12 days; tests/test_cost.py checks it still matches generate.py.
DEFAULT_LOG_LINES_PER_MONTH = 608_333
# Measured on 200,000 lines of the generator's JSON output (lab profile, seed 1): 500.2 bytes a
# line, 3,362 response bytes on average, and gzip -6 shrinking the log to 0.061 of its size
# (whole file and 1 MB batches alike). Storage uses 0.10: a margin for real traffic's variety.
DEFAULT_BYTES_PER_LOG_LINE = 500
DEFAULT_LOG_STORAGE_COMPRESSION = 0.10
DEFAULT_BYTES_PER_RESPONSE = 3_400


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
        None, "GB", "log data ingested (default: lines × (bytes + 26) + error log)"
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
    "athena_tb_scanned_per_month": UsageField(0, "TB", "Athena data scanned (the at-scale path)"),
}

# The seed's own assumptions (reference/seed-blog.txt): 30 GB stored, 500 PUT, 1,000 GET,
# 5 GB out, one t4g.nano for 730 h.
SEED_USAGE: Mapping[str, float] = {
    "instance_hours_per_month": 730,
    "s3_storage_gb": 30,
    "s3_put_requests_per_month": 500,
    "s3_get_requests_per_month": 1_000,
    "data_out_gb_per_month": 5,
}
SEED_MONTHLY_USD = 9.24
GOAL_MONTHLY_USD = 6.00


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


# ---------------------------------------------------------------------------------------
# A small scanner for the rendered HCL: blocks, labels and raw attribute expressions
# ---------------------------------------------------------------------------------------


@dataclass
class HclBlock:
    """One HCL block: `type "label" ... { attributes, nested blocks }` (expressions kept raw)."""

    type: str
    labels: tuple[str, ...]
    attributes: dict[str, str] = field(default_factory=dict)
    blocks: list[HclBlock] = field(default_factory=list)

    def children(self, block_type: str) -> list[HclBlock]:
        return [block for block in self.blocks if block.type == block_type]


_HEREDOC_START = re.compile(r"<<-?[A-Za-z_]")


class _HclScanner:
    """Recursive descent over HCL's structure; expressions are skipped over, not evaluated."""

    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self.pos = 0
        self.origin = origin

    def fail(self, message: str) -> CafepipeError:
        line = self.text.count("\n", 0, self.pos) + 1
        return CafepipeError(f"cannot read rendered Terraform {self.origin}:{line}: {message}")

    def skip_space(self, newlines: bool = True) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            char = text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            elif char == "#" or text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                self.pos = n if end < 0 else end + 2
            else:
                return

    def body(self, closing: bool) -> tuple[dict[str, str], list[HclBlock]]:
        attributes: dict[str, str] = {}
        blocks: list[HclBlock] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                if closing:
                    raise self.fail("unexpected end of file (missing '}')")
                return attributes, blocks
            if self.text[self.pos] == "}":
                if not closing:
                    raise self.fail("unexpected '}'")
                self.pos += 1
                return attributes, blocks
            name = self.identifier()
            self.skip_space(newlines=False)
            if self.text.startswith("=", self.pos) and not self.text.startswith("==", self.pos):
                self.pos += 1
                attributes[name] = self.expression().strip()
                continue
            labels: list[str] = []
            while True:
                self.skip_space(newlines=False)
                char = self.text[self.pos : self.pos + 1]
                if char == "{":
                    self.pos += 1
                    break
                if char == '"':
                    labels.append(self.string()[1:-1])
                elif char and (char.isalpha() or char == "_"):
                    labels.append(self.identifier())
                else:
                    raise self.fail(f"expected a block label or '{{' after {name!r}")
            inner_attributes, inner_blocks = self.body(closing=True)
            blocks.append(HclBlock(name, tuple(labels), inner_attributes, inner_blocks))

    def identifier(self) -> str:
        match = re.compile(r"[A-Za-z_][\w-]*").match(self.text, self.pos)
        if not match:
            raise self.fail(f"expected a name, found {self.text[self.pos : self.pos + 20]!r}")
        self.pos = match.end()
        return match.group(0)

    def string(self) -> str:
        """A quoted string, including `${ ... }` templates that may hold strings themselves."""
        start = self.pos
        self.pos += 1
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\":
                self.pos += 2
            elif char == '"':
                self.pos += 1
                return text[start : self.pos]
            elif text.startswith(("${", "%{"), self.pos):
                self.pos += 2
                self.expression(until="}")
                self.pos += 1
            elif char == "\n":
                raise self.fail("newline inside a quoted string")
            else:
                self.pos += 1
        raise self.fail("unterminated string")

    def heredoc(self) -> None:
        match = re.compile(r"<<-?([A-Za-z_]\w*)[ \t]*\r?\n").match(self.text, self.pos)
        if not match:
            raise self.fail("malformed heredoc")
        marker = match.group(1)
        end = re.compile(rf"^[ \t]*{re.escape(marker)}[ \t]*$", re.M).search(self.text, match.end())
        if not end:
            raise self.fail(f"heredoc {marker} is never closed")
        self.pos = end.end()

    def expression(self, until: str | None = None) -> str:
        """Skip one expression: to the end of the line (or `until`) outside brackets."""
        start = self.pos
        depth = 0
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if depth == 0 and (char == "\n" or (until is None and char == "}")):
                break
            if depth == 0 and until is not None and char == until:
                break
            if char == '"':
                self.string()
                continue
            if _HEREDOC_START.match(text, self.pos):
                self.heredoc()
                continue
            if char == "#" or text.startswith(("//", "/*"), self.pos):
                if depth == 0 and not text.startswith("/*", self.pos):
                    break
                self.skip_space(newlines=depth > 0)
                continue
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            self.pos += 1
        return text[start : self.pos]


def parse_hcl(text: str, origin: str = "<hcl>") -> list[HclBlock]:
    """Top-level blocks of one HCL file (attributes outside blocks are ignored)."""
    _, blocks = _HclScanner(text, origin).body(closing=False)
    return blocks


_LITERAL_STRING = re.compile(r'^"((?:[^"\\$%]|\\.|\$(?!\{)|%(?!\{))*)"$')
_VAR_REF = re.compile(r"^var\.([A-Za-z_][\w-]*)$")


@dataclass
class ModuleScope:
    """Where a module's `var.x` and `local.x` come from: the caller's arguments, else the
    variable defaults; the module's `locals` blocks."""

    directory: Path
    arguments: dict[str, str]
    defaults: dict[str, str]
    parent: ModuleScope | None
    path: str
    locals: dict[str, str] = field(default_factory=dict)

    def lookup(self, raw: str | None, hops: int = 0) -> tuple[str | None, ModuleScope]:
        """Follow `var.x` / `local.x` to the expression behind them and the scope it lives in."""
        if raw is None or hops > 20:
            return None, self
        raw = raw.strip()
        local = _LOCAL_REF.match(raw)
        if local:
            return self.lookup(self.locals.get(local.group(1)), hops + 1)
        var = _VAR_REF.match(raw)
        if not var:
            return raw, self
        name = var.group(1)
        if name in self.arguments:
            # A module argument is an expression of the calling module; a root one
            # (from *.tfvars) is a literal.
            if self.parent is None:
                return self.arguments[name], self
            return self.parent.lookup(self.arguments[name], hops + 1)
        return self.lookup(self.defaults.get(name), hops + 1)

    def resolve(self, raw: str | None) -> Any:
        """A literal value (number, bool, plain string), following references; None if unknown."""
        expression, _ = self.lookup(raw)
        return None if expression is None else _literal(expression)

    def collection(self, raw: str | None) -> list[tuple[str | None, str]] | None:
        """The entries of a literal map/list/set behind `raw` (for_each); None if not literal."""
        expression, scope = self.lookup(raw)
        if expression is None:
            return None
        expression = expression.strip()
        wrapper = re.fullmatch(r"toset\((.*)\)", expression, re.S)
        if wrapper:
            expression, scope = scope.lookup(wrapper.group(1))
            if expression is None:
                return None
            expression = expression.strip()
        return _collection_entries(expression)


_LOCAL_REF = re.compile(r"^local\.([A-Za-z_][\w-]*)$")


def _split_elements(inner: str) -> list[str]:
    """Top-level elements of a list/map body: separated by commas or newlines."""
    scanner = _HclScanner(inner, "<expression>")
    elements: list[str] = []
    while True:
        scanner.skip_space()
        if scanner.pos >= len(inner):
            return elements
        element = scanner.expression(until=",").strip()
        if element:
            elements.append(element)
        if scanner.text.startswith(",", scanner.pos):
            scanner.pos += 1


def _collection_entries(expression: str) -> list[tuple[str | None, str]] | None:
    """`{ k = v, ... }` → [(k, v)]; `[a, b]` → [(None, a), (None, b)]; else None."""
    expression = expression.strip()
    if len(expression) < 2 or expression[0] + expression[-1] not in ("{}", "[]"):
        return None
    try:
        elements = _split_elements(expression[1:-1])
    except CafepipeError:
        return None
    if expression[0] == "[":
        return [(None, element) for element in elements]
    entries: list[tuple[str | None, str]] = []
    for element in elements:
        match = re.match(r'^("(?:[^"\\]|\\.)*"|[\w-]+)\s*[=:]\s*(.*)$', element, re.S)
        if not match:
            return None
        key = match.group(1)
        entries.append((key.strip('"'), match.group(2)))
    return entries


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+\.\d*", raw):
        return float(raw)
    if _LITERAL_STRING.match(raw):
        try:
            return json.loads(raw)  # HCL's string escapes are JSON's
        except ValueError:
            return None
    return None


@dataclass
class StackResource:
    """One `resource` block of the rendered stack, with the scope its expressions live in."""

    type: str
    name: str
    count: int
    block: HclBlock
    scope: ModuleScope

    def value(self, attribute: str) -> Any:
        return self.scope.resolve(self.block.attributes.get(attribute))

    def nested_value(self, block_type: str, attribute: str) -> Any:
        for child in self.block.children(block_type):
            if attribute in child.attributes:
                return self.scope.resolve(child.attributes[attribute])
        return None

    @property
    def address(self) -> str:
        return f"{self.scope.path}{self.type}.{self.name}"


@dataclass
class StackInventory:
    """What the rendered stack will create, module calls expanded; `notes` say what was assumed."""

    resources: list[StackResource]
    notes: list[str] = field(default_factory=list)
    root: Path | None = None

    def of_type(self, resource_type: str) -> list[StackResource]:
        return [r for r in self.resources if r.type == resource_type]

    def count(self, resource_type: str) -> int:
        return sum(r.count for r in self.of_type(resource_type))


def _load_module_blocks(directory: Path) -> list[HclBlock]:
    blocks: list[HclBlock] = []
    for path in sorted(directory.glob("*.tf")):
        blocks.extend(parse_hcl(path.read_text(encoding="utf-8"), str(path)))
    return blocks


def _root_arguments(directory: Path) -> dict[str, str]:
    """Values a rendered root may set in terraform.tfvars / *.auto.tfvars(.json)."""
    arguments: dict[str, str] = {}
    for path in sorted(directory.glob("*.tfvars")):
        if path.name == "terraform.tfvars" or path.name.endswith(".auto.tfvars"):
            for line in path.read_text(encoding="utf-8").splitlines():
                key, sep, value = line.partition("=")
                if sep and re.fullmatch(r"\s*[A-Za-z_][\w-]*\s*", key):
                    arguments[key.strip()] = value.strip()
    for path in sorted(directory.glob("*.tfvars.json")):
        if path.name == "terraform.tfvars.json" or path.name.endswith(".auto.tfvars.json"):
            for key, value in json.loads(path.read_text(encoding="utf-8")).items():
                arguments[key] = json.dumps(value)
    return arguments


def scan_stack(terraform_dir: Path) -> StackInventory:
    """Read the rendered root module and, recursively, every local module it calls."""
    terraform_dir = Path(terraform_dir)
    if not any(terraform_dir.glob("*.tf")):
        raise CafepipeError(
            f"no rendered Terraform in {terraform_dir}", "run `cafepipe render` first"
        )
    inventory = StackInventory(resources=[], root=terraform_dir)
    root = ModuleScope(terraform_dir, _root_arguments(terraform_dir), {}, None, "")
    _scan_module(root, 1, inventory, depth=0)
    return inventory


def _scan_module(
    scope: ModuleScope, multiplier: int, inventory: StackInventory, depth: int
) -> None:
    if depth > 8:
        raise CafepipeError(f"module calls nest too deeply at {scope.directory}")
    blocks = _load_module_blocks(scope.directory)
    for block in blocks:
        if block.type == "variable" and block.labels and "default" in block.attributes:
            scope.defaults[block.labels[0]] = block.attributes["default"]
        elif block.type == "locals":
            scope.locals.update(block.attributes)
    for block in blocks:
        if block.type == "resource" and len(block.labels) == 2:
            count = _instances(block, scope, inventory, f"{scope.path}{'.'.join(block.labels)}")
            inventory.resources.append(
                StackResource(block.labels[0], block.labels[1], count * multiplier, block, scope)
            )
        elif block.type == "module" and block.labels:
            source = _literal(block.attributes.get("source", ""))
            name = f"{scope.path}module.{block.labels[0]}"
            if not isinstance(source, str) or not source.startswith(("./", "../")):
                inventory.notes.append(f"{name}: not a local module ({source!r}); not priced")
                continue
            count = _instances(block, scope, inventory, name)
            child = ModuleScope(
                (scope.directory / source).resolve(),
                {k: v for k, v in block.attributes.items() if k not in ("source", "count")},
                {},
                scope,
                f"{name}.",
            )
            _scan_module(child, multiplier * count, inventory, depth + 1)


def _instances(block: HclBlock, scope: ModuleScope, inventory: StackInventory, name: str) -> int:
    if "count" in block.attributes:
        count = scope.resolve(block.attributes["count"])
        if isinstance(count, int) and not isinstance(count, bool):
            return max(count, 0)
        # A conditional count (`var.x ? 1 : 0`) that the scanner cannot evaluate.
        inventory.notes.append(f"{name}: count is an expression; assumed 1")
    elif "for_each" in block.attributes:
        entries = scope.collection(block.attributes["for_each"])
        if entries is not None:
            return len(entries)
        inventory.notes.append(f"{name}: for_each over a computed value; assumed 1 instance")
    return 1


# ---------------------------------------------------------------------------------------
# The estimate
# ---------------------------------------------------------------------------------------


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
    _metrics_and_alarms(est, inventory, detailed_metrics, notes)
    dashboard_log_widgets = _dashboards(est, inventory, notes)
    _logs(est, config, inventory, usage, dashboard_log_widgets, notes)
    _storage_and_transfer(est, inventory, usage, notes)
    _other(est, inventory, notes)

    total = sum(item.monthly_usd for item in est.items)
    assumptions = [
        f"prices: public On-Demand list prices for {config.region} in USD, reviewed {PRICE_DATE}, "
        "before tax; no Savings Plans, credits or private pricing",
        "free tiers applied: only the always-free ones (10 custom metrics, 10 alarm metrics, "
        "3 dashboards of ≤ 50 metrics, 5 GB log ingestion + 5 GB log storage, 100 GB data out, "
        "CloudFront's 1 TB out and 10 million requests), "
        "assuming this stack is the only user of them in the account; the 12-month tier "
        "(t3.micro hours, public IPv4 hours, 5 GB S3) is not applied: it ended for every account",
        "Logs Insights scans are charged from the first GB (AWS lists them in the same 5 GB "
        "logs allowance that ingestion and storage already use)",
        *notes,
        *inventory.notes,
        *(
            ["an emulator endpoint is configured: these are the prices the same stack has on AWS"]
            if config.emulated
            else []
        ),
        f"annual = 12 × the steady-state month; {months} months = {months} × the month "
        "(an upper bound: log storage grows to its steady state during the first retention period)",
        _seed_comparison(est.items, total),
    ]
    return CostReport(config.region, tuple(est.items), tuple(assumptions), months)


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
            "charged even then"
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
    for alarm in inventory.of_type("aws_cloudwatch_metric_alarm"):
        queries = [q for q in alarm.block.children("metric_query") if q.children("metric")]
        per_alarm = max(1, len(queries))
        period = alarm.value("period")
        if isinstance(period, int) and period < 60:
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
    oversized = 0  # dashboards of more than 50 metrics are never free
    log_widgets = 0
    range_days: list[float] = []
    for dashboard in dashboards:
        facts = dashboard_facts(dashboard)
        if facts is None:
            notes.append(f"{dashboard.address}: body not readable; assumed ≤ 50 metrics")
            continue
        log_widgets += facts.log_widgets * dashboard.count
        if facts.range_days:
            range_days.append(facts.range_days)
        if facts.metrics > DASHBOARD_FREE_METRICS:
            oversized += dashboard.count
            notes.append(f"{dashboard.address}: {facts.metrics} metrics > 50, so it is not free")
        else:
            notes.append(
                f"dashboard {dashboard.value('dashboard_name') or dashboard.name}: "
                f"{facts.metrics} metric(s) (≤ 50, free) and "
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
        ingest = lines * (line_bytes + LOG_EVENT_OVERHEAD_BYTES) / GB + float(
            usage["error_log_gb_per_month"] or 0
        )
        notes.append(
            f"log volume: {lines:,.0f} access-log lines/month × ({line_bytes:g} + 26) bytes "
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
        notes.append(
            "log class: Standard ($0.50/GB). Infrequent Access ($0.25/GB) would halve ingestion "
            "but has no metric filters or Live Tail, which the alarms and the 4xx/5xx/order "
            "metrics need — so the stack keeps Standard"
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
    """Read the dashboard body (a rendered JSON file, a heredoc or jsonencode); None if opaque."""
    raw, scope = dashboard.scope.lookup(dashboard.block.attributes.get("dashboard_body"))
    if raw is None:
        return None
    raw = raw.strip()
    body: Any = None
    file_ref = re.match(r'^file\(\s*"\$\{path\.module\}/([^"]+)"\s*\)$', raw)
    heredoc = re.match(r"^<<-?(\w+)\s*\n(.*)\n\s*\1$", raw, re.S)
    try:
        if file_ref:
            body = json.loads((scope.directory / file_ref.group(1)).read_text(encoding="utf-8"))
        elif heredoc and "${" not in heredoc.group(2):
            body = json.loads(heredoc.group(2))
        elif raw.startswith("jsonencode("):
            log_widgets = len(re.findall(r'\btype\s*=\s*"log"', raw))
            return DashboardFacts(_count_hcl_metrics(raw), log_widgets, None)
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    metrics = 0
    log_widgets = 0
    for widget in body.get("widgets", []):
        if not isinstance(widget, dict):
            continue
        log_widgets += widget.get("type") == "log"
        rows = widget.get("properties", {}).get("metrics", [])
        metrics += sum(1 for row in rows if isinstance(row, list))
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


def _count_hcl_metrics(raw: str) -> int:
    total = 0
    for match in re.finditer(r"\bmetrics\s*=\s*\[", raw):
        depth, pos, rows = 1, match.end(), 0
        while pos < len(raw) and depth:
            char = raw[pos]
            if char == "[":
                depth += 1
                if depth == 2:
                    rows += 1
            elif char == "]":
                depth -= 1
            pos += 1
        total += rows
    return total


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
    athena = float(usage["athena_tb_scanned_per_month"] or 0)
    if athena:
        est.add("Athena", "data scanned", athena, "athena.scanned")


def _lifecycle_expiry_days(inventory: StackInventory) -> int | None:
    """The longest object expiry of the buckets' lifecycle rules (plain or `dynamic` rules)."""
    days: list[int] = []
    resources = inventory.of_type("aws_s3_bucket_lifecycle_configuration")
    for resource in resources + inventory.of_type("aws_s3_bucket"):
        scope = resource.scope
        for rule in resource.block.children("rule") + resource.block.children("lifecycle_rule"):
            for expiration in rule.children("expiration"):
                days.append(scope.resolve(expiration.attributes.get("days")))
        for dynamic in resource.block.children("dynamic"):
            if not dynamic.labels or dynamic.labels[0] not in ("rule", "lifecycle_rule"):
                continue
            label = dynamic.labels[0]
            entries = scope.collection(dynamic.attributes.get("for_each")) or []
            for content in dynamic.children("content"):
                for expiration in content.children("expiration"):
                    raw = expiration.attributes.get("days", "")
                    field_ref = re.fullmatch(rf"{label}\.value\.(\w+)", raw.strip())
                    for _, value in entries:
                        if field_ref is None:
                            days.append(scope.resolve(raw))
                            continue
                        fields = dict(_collection_entries(value) or [])
                        days.append(scope.resolve(fields.get(field_ref.group(1))))
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
    if inventory.count("aws_sns_topic"):
        notes.append("SNS: alarm e-mails are within SNS's 1,000 free e-mail notifications/month")
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
            if r.type not in PRICED_TYPES and not r.type.startswith(FREE_RESOURCE_PREFIXES)
        }
    )
    if free:
        notes.append("no charge of their own: " + ", ".join(free))
    if unknown:
        notes.append("NOT PRICED (unknown to cafepipe's price table): " + ", ".join(unknown))


def _seed_comparison(items: list[CostItem], total: float) -> str:
    """How this estimate compares with the seed's $9.24 and the $6.00 goal, and what drives it."""
    verdict = "under" if total < GOAL_MONTHLY_USD else "over"
    left_out = sum(i.monthly_usd for i in items if i.service in ("EBS", "VPC"))
    biggest = sorted(items, key=lambda i: i.monthly_usd, reverse=True)[:3]
    drivers = ", ".join(f"{i.service} {i.item} {format_usd(i.monthly_usd)}" for i in biggest)
    text = (
        f"the seed estimated ${SEED_MONTHLY_USD:.2f}/month for a stack without alarms, saved "
        f"queries or an S3 copy; this one: {format_usd(total)}/month, {verdict} the "
        f"${GOAL_MONTHLY_USD:.2f} goal; {format_usd(total - left_out)} in the seed's scope "
        f"(without the EBS volume and public IPv4 address, {format_usd(left_out)}, that the "
        f"seed left out); biggest items: {drivers}"
    )
    if verdict == "over":
        text += (
            "; to get under it: serve the site through CloudFront (site_access = "
            '"cloudfront", the default: no public IPv4 address) or run the server fewer '
            "hours (instance_hours_per_month, e.g. 365 for 12 h a day)"
        )
    return text


# ---------------------------------------------------------------------------------------
# Output: table (rich), JSON, CSV — all from `CostReport.to_dict()`
# ---------------------------------------------------------------------------------------

CSV_COLUMNS = ("service", "item", "quantity", "unit", "unit_price_usd", "monthly_usd")


def format_usd(amount: float) -> str:
    """Dollars with cents; sub-cent amounts keep four decimals so they do not read as $0.00."""
    if amount == 0:
        return "$0.00"
    if abs(amount) < 0.01:
        return f"${amount:.4f}"
    return f"${amount:,.2f}"


def format_unit_price(amount: float) -> str:
    """A unit price with the digits it needs: $0.30, $0.0042, $0.0000004."""
    text = f"{amount:.8f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def format_quantity(quantity: float) -> str:
    return f"{quantity:,.0f}" if quantity >= 100 else f"{quantity:,.4g}"


def report_csv(report: CostReport) -> str:
    """The line items as CSV, then the monthly, annual and multi-month totals."""
    data = report.to_dict()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in data["items"]:
        writer.writerow([item[column] for column in CSV_COLUMNS])
    writer.writerow(["Total", "per month", "", data["currency"], "", data["total_monthly_usd"]])
    writer.writerow(["Total", "per year", "", data["currency"], "", data["total_annual_usd"]])
    writer.writerow(
        [
            "Total",
            f"for {data['months']} months",
            "",
            data["currency"],
            "",
            data["total_for_months_usd"],
        ]
    )
    return buffer.getvalue()


def report_table_rows(report: CostReport) -> Iterator[tuple[str, ...]]:
    """The table's rows (service, item, quantity + unit, unit price, monthly), from to_dict()."""
    for item in report.to_dict()["items"]:
        yield (
            item["service"],
            item["item"],
            f"{format_quantity(item['quantity'])} {item['unit']}",
            format_unit_price(item["unit_price_usd"]),
            format_usd(item["monthly_usd"]),
        )


def monthly_total_line(config: StackConfig, terraform_dir: Path | None = None) -> str:
    """One line for `up` to print before asking: the estimated monthly and annual total.

    A region or instance type the price table lacks gives a line saying so (it must not stop
    `up`); a bad `[usage]` value in cafepipe.toml is still a usage error (exit 2).
    """
    try:
        report = estimate_cost(config, terraform_dir=terraform_dir)
    except NoPriceError as exc:
        return f"Estimated cost: not available ({exc.message})"
    return (
        f"Estimated cost: {format_usd(report.total_monthly_usd)}/month "
        f"({format_usd(report.total_annual_usd)}/year) in {report.region} at the usage in "
        f"cafepipe.toml [usage] or the defaults — details: cafepipe cost"
    )
