"""The lake's names (cafepipe.deploy.lake) and its rendered Terraform, for both providers.

`terraform fmt`/`validate`, checkov and the provider 6.x schema check run over whole renders
(the lake module included) in test_render.py and test_provider_schema.py; here: what the lake
itself must hold — the layout, the table over the LogFormat's keys, the projection, the
enforced workgroup, the named queries, the results' expiry.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from cafepipe.config import load_config
from cafepipe.cost.hcl import StackResource, scan_stack
from cafepipe.deploy import lake
from cafepipe.deploy.render import ATHENA_QUERIES_FILE, apache_config, render_stack
from cafepipe.errors import UsageError
from cafepipe.insights.athena_sql import athena_statement
from cafepipe.insights.duckdb_engine import _APACHE_KEYS
from cafepipe.insights.queries import INSIGHTS

ENDPOINT = "http://127.0.0.1:4566"


# ----------------------------------------------------------------------------- names


def test_partition_key_is_hive_style_per_day_and_server() -> None:
    assert (
        lake.partition_key(date(2026, 3, 9), "i-0123456789abcdef0")
        == "archive/dt=2026-03-09/instance=i-0123456789abcdef0/access.log.gz"
    )
    assert lake.partition_key(date(2026, 3, 9), "server-2", part="1795650000") == (
        "archive/dt=2026-03-09/instance=server-2/access-1795650000.log.gz"
    )
    assert lake.partition_prefix(date(2026, 3, 9)) == "archive/dt=2026-03-09/"
    assert lake.ARCHIVE_PREFIX == "archive/" and lake.RESULTS_PREFIX == "athena-results/"


@pytest.mark.parametrize(
    "hostile",
    [
        *("", "../etc", "i-0123/..", "a/b", "i-XYZ", "Server", "x" * 64, "-lead", "a b", "a=b"),
        *("ä", "i-0123456789abcdef0\n", "a\nb"),
    ],
)
def test_an_instance_id_that_is_not_safe_in_a_key_is_refused(hostile: str) -> None:
    with pytest.raises(UsageError, match="not an instance id"):
        lake.partition_key(date(2026, 3, 9), hostile)


@pytest.mark.parametrize("part", ["", "1/2", "../x", "a", "1" * 21, "1\n"])
def test_a_file_part_must_be_digits(part: str) -> None:
    with pytest.raises(UsageError, match="not a file part"):
        lake.partition_key(date(2026, 3, 9), "i-0123456789abcdef0", part=part)


def test_partitions_to_read_include_the_day_before() -> None:
    """The rotation runs after midnight: day D's first minutes are in partition D-1."""
    assert lake.partition_range(date(2026, 3, 1), date(2026, 3, 9)) == (
        date(2026, 2, 28),
        date(2026, 3, 9),
    )


@pytest.mark.parametrize(
    ("stack", "database"), [("cafe", "cafepipe_cafe"), ("my-cafe-2", "cafepipe_my_cafe_2")]
)
def test_database_and_workgroup_names(stack: str, database: str) -> None:
    assert lake.database_name(stack) == database
    assert re.fullmatch(r"[a-z0-9_]{1,255}", database)  # what Athena reads
    assert lake.WORKGROUP(stack) == f"cafepipe-{stack}"
    assert lake.location_template("b") == "s3://b/archive/dt=${dt}/"


def test_columns_are_the_log_formats_keys_lower_cased() -> None:
    """Exactly the keys Apache writes (the rendered LogFormat) and the DuckDB engine reads."""
    log_format = re.search(r'LogFormat "(.*)" cloudwatch', apache_config())
    assert log_format is not None
    keys = re.findall(r'\\"(\w+)\\":', log_format.group(1))
    assert tuple(keys) == _APACHE_KEYS
    assert tuple((key.lower(), "string") for key in keys) == lake.LAKE_COLUMNS
    assert lake.PARTITION_COLUMNS == (("dt", "string"),)


# ----------------------------------------------------------------------------- renders


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lake")
    out = {}
    for flavour, flags in (
        ("aws6", {}),
        ("aws3", {"endpoint_url": ENDPOINT}),
        ("aws6-cutoff", {"athena_scan_cutoff_mb": "250", "stack": "other"}),
    ):
        config = load_config(None, {"state_dir": str(root / "state"), **flags}, environ={})
        out[flavour] = render_stack(config, root / flavour)
    return out


def _one(directory: Path, resource_type: str) -> StackResource:
    [resource] = scan_stack(directory).of_type(resource_type)
    return resource


@pytest.mark.parametrize("flavour", ["aws6", "aws3"])
def test_the_table_reads_the_archive_with_json_serde_and_projection(
    renders: dict[str, Path], flavour: str
) -> None:
    directory = renders[flavour]
    table = _one(directory, "aws_glue_catalog_table")
    assert table.value("name") == "access_log"
    assert table.value("table_type") == "EXTERNAL_TABLE"
    parameters = table.value("parameters")
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert parameters["projection.dt.range"] == "NOW-180DAYS,NOW"  # the archive's expiry
    assert (parameters["projection.dt.interval"], parameters["projection.dt.interval.unit"]) == (
        "1",
        "DAYS",
    )
    assert (parameters["classification"], parameters["compressionType"]) == ("json", "gzip")
    text = (directory / "modules/lake/main.tf").read_text()
    # Terraform's `$${dt}` is the literal `${dt}` Athena fills in.
    assert re.search(
        r'"storage\.location\.template" += "\$\{local\.archive_uri\}dt=\$\$\{dt\}/"', text
    )
    assert 'archive_uri = "s3://${var.bucket_name}/${var.archive_prefix}"' in text
    [storage] = table.block.children("storage_descriptor")
    [serde] = storage.children("ser_de_info")
    serde_library = table.scope.evaluate(serde.attributes["serialization_library"])
    assert serde_library == "org.openx.data.jsonserde.JsonSerDe"
    assert table.scope.evaluate(serde.attributes["parameters"]) == {
        "case.insensitive": "TRUE",  # remoteIP → remoteip
        "ignore.malformed.json": "TRUE",  # a hostile line is NULLs, not a failed query
    }
    assert table.nested_value("storage_descriptor", "input_format") == (
        "org.apache.hadoop.mapred.TextInputFormat"
    )
    assert table.nested_value("partition_keys", "name") == "dt"
    root = (directory / "main.tf").read_text()
    columns = re.findall(r'\{ name = "(\w+)", type = "(\w+)" \}', root)
    assert tuple(columns) == lake.LAKE_COLUMNS


@pytest.mark.parametrize("flavour", ["aws6", "aws3"])
def test_the_workgroup_enforces_results_encryption_and_a_cutoff(
    renders: dict[str, Path], flavour: str
) -> None:
    workgroup = _one(renders[flavour], "aws_athena_workgroup")
    assert workgroup.value("name") == "cafepipe-cafe"
    assert workgroup.nested_value("configuration", "enforce_workgroup_configuration") is True
    assert workgroup.nested_value("configuration", "publish_cloudwatch_metrics_enabled") is True
    assert workgroup.nested_value("configuration", "bytes_scanned_cutoff_per_query") == 10**10
    text = (renders[flavour] / "modules/lake/main.tf").read_text()
    assert 'encryption_option = "SSE_S3"' in text
    assert 'results_uri = "s3://${var.bucket_name}/${var.results_prefix}"' in text


def test_the_cutoff_setting_reaches_the_workgroup(renders: dict[str, Path]) -> None:
    workgroup = _one(renders["aws6-cutoff"], "aws_athena_workgroup")
    assert workgroup.nested_value("configuration", "bytes_scanned_cutoff_per_query") == 250 * 10**6
    assert workgroup.value("name") == "cafepipe-other"
    database = _one(renders["aws6-cutoff"], "aws_glue_catalog_database")
    assert database.value("name") == "cafepipe_other"


def test_named_queries_are_the_catalog_in_trino(renders: dict[str, Path]) -> None:
    queries = json.loads((renders["aws6"] / ATHENA_QUERIES_FILE).read_text())
    assert list(queries) == [insight.id for insight in INSIGHTS]
    for insight in INSIGHTS:
        assert queries[insight.id] == {
            "description": insight.title,
            "query": athena_statement(insight, "cafepipe_cafe", "access_log"),
        }
        assert len(queries[insight.id]["query"].encode()) <= 262_144  # Athena's QueryString
    text = (renders["aws6"] / "main.tf").read_text()
    assert f'named_queries = jsondecode(file("${{path.module}}/{ATHENA_QUERIES_FILE}"))' in text


@pytest.mark.parametrize("flavour", ["aws6", "aws3"])
def test_results_expire_and_the_archive_too(renders: dict[str, Path], flavour: str) -> None:
    text = (renders[flavour] / "modules/storage/main.tf").read_text()
    if flavour == "aws6":
        assert 'id     = "expire-athena-results"' in text
    else:  # 3.x: lifecycle rules inside the bucket, from one map
        assert (
            "athena-results = { prefix = var.results_prefix, days = var.results_expiry_days }"
            in text
        )
    root = (renders[flavour] / "main.tf").read_text()
    assert re.search(r'module "storage" \{[^}]*results_prefix += "athena-results/"', root)


@pytest.mark.parametrize("flavour", ["aws6", "aws3"])
def test_the_instance_may_write_only_the_archive(renders: dict[str, Path], flavour: str) -> None:
    """The lake adds no permission to the server: it writes archive/, reads nothing of it."""
    text = (renders[flavour] / "modules/identity/main.tf").read_text()
    assert 'resources = ["${var.bucket_arn}/${var.archive_prefix}*"]' in text
    assert "athena" not in text.lower() and "glue" not in text.lower()


def test_the_lake_outputs(renders: dict[str, Path]) -> None:
    text = (renders["aws6"] / "outputs.tf").read_text()
    for name, value in (
        ("lake_database", "module.lake.database_name"),
        ("lake_table", "module.lake.table_name"),
        ("athena_workgroup", "module.lake.workgroup_name"),
        ("archive_prefix", "module.lake.archive_uri"),
    ):
        assert re.search(
            rf'output "{name}" {{\n  description = ".+"\n  value       = {value}\n', text
        )


@pytest.mark.parametrize("flavour", ["aws6", "aws3"])
def test_every_lake_variable_is_typed_and_described(renders: dict[str, Path], flavour: str) -> None:
    text = (renders[flavour] / "modules/lake/variables.tf").read_text()
    blocks = re.findall(r'variable "(\w+)" \{\n(.*?)\n\}', text, re.S)
    assert len(blocks) >= 10
    for name, body in blocks:
        assert "  type        = " in body and "  description = " in body, name


# ----------------------------------------------------------------------------- both profiles


@pytest.fixture(scope="module")
def fleet_renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lake-fleet")
    out = {}
    for flavour, flags in (("aws6", {}), ("aws3", {"endpoint_url": ENDPOINT})):
        config = load_config(
            None, {"state_dir": str(root / "state"), "profile": "fleet", **flags}, environ={}
        )
        out[flavour] = render_stack(config, root / flavour)
    return out


@pytest.mark.parametrize("flavour", ["aws6", "aws3"])
def test_a_fleet_has_the_same_lake(
    renders: dict[str, Path], fleet_renders: dict[str, Path], flavour: str
) -> None:
    """One lake for both profiles: the module and its call are the same; only the servers
    that write to it differ."""
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        single = (renders[flavour] / "modules/lake" / name).read_text()
        assert (fleet_renders[flavour] / "modules/lake" / name).read_text() == single
    call = re.compile(r'module "lake" \{\n.*?\n\}\n', re.S)
    single_call = call.search((renders[flavour] / "main.tf").read_text())
    fleet_call = call.search((fleet_renders[flavour] / "main.tf").read_text())
    assert single_call and fleet_call and single_call.group() == fleet_call.group()
    assert (fleet_renders[flavour] / ATHENA_QUERIES_FILE).read_bytes() == (
        renders[flavour] / ATHENA_QUERIES_FILE
    ).read_bytes()


def test_both_profiles_match_the_provider_6_schema(
    renders: dict[str, Path], fleet_renders: dict[str, Path]
) -> None:
    from test_provider_schema import check_directory

    for directory in (renders["aws6"], fleet_renders["aws6"]):
        assert [str(problem) for problem in check_directory(directory)] == []


@pytest.mark.integration
def test_the_fleet_render_validates_with_the_offline_provider(
    fleet_renders: dict[str, Path], tmp_path: Path
) -> None:
    """The single render is validated in test_render.py; the fleet's here (the lake in it)."""
    import shutil

    from cafepipe.deploy.stack import terraform_env
    from cafepipe.deploy.terraform import TerraformRunner, select_backend

    work = tmp_path / "tf"
    shutil.copytree(fleet_renders["aws3"], work)
    config = load_config(
        None, {"state_dir": str(tmp_path), "endpoint_url": ENDPOINT, "profile": "fleet"}, environ={}
    )
    runner = TerraformRunner(work, terraform_env(config), select_backend())
    runner.fmt_check()
    runner.init()
    result = runner.validate()
    assert result.events and result.events[0].get("valid") is True, result.text


def test_the_emulated_render_sends_glue_and_athena_to_the_endpoint(
    renders: dict[str, Path],
) -> None:
    providers = (renders["aws3"] / "providers.tf").read_text()
    for service in ("athena", "glue"):
        assert re.search(rf'^\s+{service}\s+= "{re.escape(ENDPOINT)}"$', providers, re.M), service
    assert "endpoints" not in (renders["aws6"] / "providers.tf").read_text()
