"""The lake on the emulator: the emulator's Athena extensions, finding and removing what a
stack's lake left, and (`assert_lake_deployed`) the applied lake of a real `up`.

The single stack is applied once, in test_stack_integration.py (its second plan must be empty
and its `destroy` verifies nothing is left, both with the lake in it); its
`test_the_lake_is_deployed` calls `assert_lake_deployed` here, so the lake costs no apply of
its own. The tests below talk to the emulator directly (seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from cafepipe.aws import AwsClients
from cafepipe.config import StackConfig, load_config
from cafepipe.deploy import lake
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.orphans import Waits, find_stack_resources, remove_resources
from cafepipe.insights.athena_sql import athena_statement
from cafepipe.insights.queries import INSIGHTS

pytestmark = pytest.mark.integration

CUTOFF = 10_000_000_000  # the default, athena_scan_cutoff_mb = 10,000
LAKE_KINDS = ("athena_named_query", "athena_workgroup", "glue_table", "glue_database")


def assert_lake_deployed(
    client: Callable[[str], Any], config: StackConfig, outputs: dict[str, Any]
) -> None:
    """What `up` must have made of the lake, read back from the cloud (not the templates)."""
    database, workgroup = lake.database_name(config.stack), lake.WORKGROUP(config.stack)
    bucket = config.bucket_name
    assert outputs["lake_database"] == database
    assert outputs["lake_table"] == lake.TABLE
    assert outputs["athena_workgroup"] == workgroup
    assert outputs["archive_prefix"] == f"s3://{bucket}/archive/"

    glue = client("glue")
    assert glue.get_database(Name=database)["Database"]["Name"] == database
    table = glue.get_table(DatabaseName=database, Name=lake.TABLE)["Table"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["PartitionKeys"][0]["Name"] == "dt" and len(table["PartitionKeys"]) == 1
    parameters = table["Parameters"]
    assert {k: v for k, v in parameters.items() if k.startswith("projection.")} == {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"NOW-{config.log_retention_days}DAYS,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
    }
    assert parameters["storage.location.template"] == lake.location_template(bucket)
    assert (parameters["classification"], parameters["compressionType"]) == ("json", "gzip")
    storage = table["StorageDescriptor"]
    assert storage["Location"] == f"s3://{bucket}/archive/"
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == list(lake.LAKE_COLUMNS)

    athena = client("athena")
    settings = athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["Configuration"]
    assert settings["EnforceWorkGroupConfiguration"] is True
    assert settings["PublishCloudWatchMetricsEnabled"] is True
    assert settings["BytesScannedCutoffPerQuery"] == config.athena_scan_cutoff_mb * 10**6
    assert settings["ResultConfiguration"] == {
        "OutputLocation": f"s3://{bucket}/athena-results/",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }
    ids = athena.list_named_queries(WorkGroup=workgroup)["NamedQueryIds"]
    saved = {
        query["Name"]: query
        for query in (athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids)
    }
    assert sorted(saved) == sorted(insight.id for insight in INSIGHTS)  # one per insight
    for insight in INSIGHTS:
        query = saved[insight.id]
        assert query["QueryString"] == athena_statement(insight, database, lake.TABLE)
        assert (query["Database"], query["WorkGroup"]) == (database, workgroup)
        assert query["Description"] == insight.title


# ----------------------------------------------------------------------------- extensions


def _athena(emulator: EmulatorInfo) -> Any:
    return AwsClients("us-east-1", emulator.url).client("athena")


def _code(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_named_queries_can_be_deleted_and_a_gone_one_says_so(emulator: EmulatorInfo) -> None:
    athena = _athena(emulator)
    athena.create_work_group(Name="ext-delete", Configuration={})
    kept = athena.create_named_query(
        Name="kept", Database="db", QueryString="SELECT 1", WorkGroup="ext-delete"
    )["NamedQueryId"]
    gone = athena.create_named_query(
        Name="gone", Database="db", QueryString="SELECT 2", WorkGroup="ext-delete"
    )["NamedQueryId"]
    athena.delete_named_query(NamedQueryId=gone)
    assert athena.list_named_queries(WorkGroup="ext-delete")["NamedQueryIds"] == [kept]
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        athena.get_named_query(NamedQueryId=gone)  # what the provider reads as "deleted"
    assert _code(missing) == "InvalidRequestException" and gone in str(missing.value)
    with pytest.raises(botocore.exceptions.ClientError) as again:
        athena.delete_named_query(NamedQueryId=gone)
    assert _code(again) == "InvalidRequestException"
    assert athena.get_named_query(NamedQueryId=kept)["NamedQuery"]["QueryString"] == "SELECT 1"


def test_a_workgroup_with_queries_goes_only_recursively(emulator: EmulatorInfo) -> None:
    athena = _athena(emulator)
    athena.create_work_group(Name="ext-recursive", Configuration={})
    query = athena.create_named_query(
        Name="q", Database="db", QueryString="SELECT 1", WorkGroup="ext-recursive"
    )["NamedQueryId"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        athena.delete_work_group(WorkGroup="ext-recursive")
    assert _code(refused) == "InvalidRequestException"
    athena.delete_work_group(WorkGroup="ext-recursive", RecursiveDeleteOption=True)
    names = [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]
    assert "ext-recursive" not in names
    with pytest.raises(botocore.exceptions.ClientError):
        athena.get_named_query(NamedQueryId=query)


def test_a_workgroup_is_updated_in_place(emulator: EmulatorInfo) -> None:
    athena = _athena(emulator)
    athena.create_work_group(
        Name="ext-update",
        Configuration={
            "BytesScannedCutoffPerQuery": CUTOFF,
            "ResultConfiguration": {
                "OutputLocation": "s3://b/athena-results/",
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
            },
        },
    )
    athena.update_work_group(
        WorkGroup="ext-update",
        Description="new",
        ConfigurationUpdates={
            "BytesScannedCutoffPerQuery": 250_000_000,
            "EnforceWorkGroupConfiguration": True,
            "ResultConfigurationUpdates": {"OutputLocation": "s3://b/other/"},
        },
    )
    group = athena.get_work_group(WorkGroup="ext-update")["WorkGroup"]
    assert group["Description"] == "new"
    assert group["Configuration"]["BytesScannedCutoffPerQuery"] == 250_000_000
    assert group["Configuration"]["ResultConfiguration"] == {
        "OutputLocation": "s3://b/other/",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},  # untouched
    }
    athena.update_work_group(
        WorkGroup="ext-update",
        ConfigurationUpdates={
            "RemoveBytesScannedCutoffPerQuery": True,
            "ResultConfigurationUpdates": {"RemoveEncryptionConfiguration": True},
        },
    )
    settings = athena.get_work_group(WorkGroup="ext-update")["WorkGroup"]["Configuration"]
    assert "BytesScannedCutoffPerQuery" not in settings
    assert settings["ResultConfiguration"] == {"OutputLocation": "s3://b/other/"}
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        athena.update_work_group(WorkGroup="ext-none", Description="x")
    assert _code(missing) == "InvalidRequestException"


def test_an_arn_without_account_names_the_emulators_account(emulator: EmulatorInfo) -> None:
    """What provider 3.39 asks with skip_requesting_account_id: the tags of `…::workgroup/x`."""
    athena = _athena(emulator)
    athena.create_work_group(
        Name="ext-arn", Configuration={}, Tags=[{"Key": "cafepipe:stack", "Value": "x"}]
    )
    arn = "arn:aws:athena:us-east-1::workgroup/ext-arn"
    assert athena.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "cafepipe:stack", "Value": "x"}
    ]
    athena.tag_resource(ResourceARN=arn, Tags=[{"Key": "more", "Value": "1"}])
    athena.untag_resource(ResourceARN=arn, TagKeys=["cafepipe:stack"])
    full = "arn:aws:athena:us-east-1:123456789012:workgroup/ext-arn"
    assert athena.list_tags_for_resource(ResourceARN=full)["Tags"] == [
        {"Key": "more", "Value": "1"}
    ]
    with pytest.raises(botocore.exceptions.ClientError):  # another workgroup's is not found
        athena.list_tags_for_resource(ResourceARN="arn:aws:athena:us-east-1::workgroup/none")


# ----------------------------------------------------------------------------- orphans


def test_a_lake_left_behind_is_found_by_name_and_removed(
    emulator: EmulatorInfo, tmp_path: Any
) -> None:
    """A lake whose state is gone: its workgroup, saved queries, table and database are the
    stack's (and no one else's), found, and removed in order (queries, workgroup, table,
    database); nothing is found afterwards."""
    config = load_config(
        None,
        {"stack": "orph-lake", "state_dir": str(tmp_path), "endpoint_url": emulator.url},
        environ={},
    )
    clients = AwsClients.for_config(config)
    athena, glue = clients.client("athena"), clients.client("glue")
    workgroup, database = lake.WORKGROUP(config.stack), lake.database_name(config.stack)
    athena.create_work_group(Name=workgroup, Configuration={})
    athena.create_work_group(Name="cafepipe-orph-lake-2", Configuration={})  # another stack's
    query_ids = [
        athena.create_named_query(
            Name=name, Database=database, QueryString="SELECT 1", WorkGroup=workgroup
        )["NamedQueryId"]
        for name in ("totals", "cities")
    ]
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_database(DatabaseInput={"Name": "cafepipe_orph_lake_2"})  # another stack's
    glue.create_table(DatabaseName=database, TableInput={"Name": lake.TABLE})

    found = [f for f in find_stack_resources(clients, config) if f.kind in LAKE_KINDS]
    assert [(f.kind, f.id) for f in found] == [
        *sorted(("athena_named_query", i) for i in query_ids),
        ("athena_workgroup", workgroup),
        ("glue_table", f"123456789012:{database}:{lake.TABLE}"),  # Terraform's ids
        ("glue_database", f"123456789012:{database}"),
    ]
    assert all(f.by_name for f in found)

    removal = remove_resources(clients, found, waits=Waits(timeout=5, interval=0))
    assert removal.failed == [] and len(removal.deleted) == len(found)
    assert [f for f in find_stack_resources(clients, config) if f.kind in LAKE_KINDS] == []
    names = [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]
    assert "cafepipe-orph-lake-2" in names and workgroup not in names
    assert glue.get_database(Name="cafepipe_orph_lake_2")["Database"]["Name"]
