"""The emulator: start/stop/status for real, and the Logs query-definitions extension."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from cafepipe.emulator import EmulatorInfo, emulator_status, start_emulator, stop_emulator


def _logs(info: EmulatorInfo) -> object:
    return boto3.client(
        "logs",
        endpoint_url=info.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_query_definitions_extension(emulator: EmulatorInfo) -> None:
    logs = _logs(emulator)
    created = logs.put_query_definition(  # type: ignore[attr-defined]
        name="ext-test/menu visitors",
        queryString="fields @timestamp",
        logGroupNames=["apache/access"],
    )["queryDefinitionId"]
    logs.put_query_definition(  # type: ignore[attr-defined]
        name="ext-test/menu visitors", queryDefinitionId=created, queryString="fields remoteIP"
    )
    found = logs.describe_query_definitions(queryDefinitionNamePrefix="ext-test/")[
        "queryDefinitions"
    ]  # type: ignore[attr-defined]
    assert [(d["queryDefinitionId"], d["queryString"]) for d in found] == [
        (created, "fields remoteIP")
    ]
    assert logs.delete_query_definition(queryDefinitionId=created)["success"] is True  # type: ignore[attr-defined]
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        logs.delete_query_definition(queryDefinitionId=created)  # type: ignore[attr-defined]


def test_managed_policies_are_loaded(emulator: EmulatorInfo) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"] == "AmazonSSMManagedInstanceCore"


def test_start_reuses_status_and_stop(tmp_path: Path) -> None:
    assert emulator_status(tmp_path) == {"running": False}
    info = start_emulator(tmp_path)
    try:
        assert start_emulator(tmp_path) == info  # a second start reuses the running one
        status = emulator_status(tmp_path)
        assert status["running"] is True
        assert status["url"] == info.url
    finally:
        assert stop_emulator(tmp_path) is True
    assert emulator_status(tmp_path) == {"running": False}
    assert stop_emulator(tmp_path) is False
