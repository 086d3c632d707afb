"""The emulator: start/stop/status for real, and the Logs query-definitions extension."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cafepipe.aws import AwsClients
from cafepipe.deploy.emulator import EmulatorInfo, emulator_status, start_emulator, stop_emulator

pytestmark = pytest.mark.integration


def _logs(info: EmulatorInfo) -> object:
    return AwsClients("us-east-1", info.url).client("logs")


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
    iam = AwsClients("us-east-1", emulator.url).client("iam")
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


def _s3(info: EmulatorInfo) -> Any:
    return AwsClients("us-east-1", info.url).client("s3")


def _policy(bucket: str, statement: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "t",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    **statement,
                }
            ],
        }
    )


def test_tls_only_bucket_policy_allows_emulator_requests(emulator: EmulatorInfo) -> None:
    s3 = _s3(emulator)
    s3.create_bucket(Bucket="tls-only-test")
    tls_only = {"Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    s3.put_bucket_policy(Bucket="tls-only-test", Policy=_policy("tls-only-test", tls_only))
    s3.put_object(Bucket="tls-only-test", Key="simulated-logs/a", Body=b"x")
    assert s3.get_object(Bucket="tls-only-test", Key="simulated-logs/a")["Body"].read() == b"x"


def test_unconditional_deny_still_denies(emulator: EmulatorInfo) -> None:
    s3 = _s3(emulator)
    s3.create_bucket(Bucket="deny-all-test")
    s3.put_bucket_policy(Bucket="deny-all-test", Policy=_policy("deny-all-test", {}))
    with pytest.raises(ClientError, match=r"AccessDenied|403"):
        s3.put_object(Bucket="deny-all-test", Key="a", Body=b"x")
    insecure_denied = {"Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    s3.create_bucket(Bucket="deny-tls-test")
    s3.put_bucket_policy(Bucket="deny-tls-test", Policy=_policy("deny-tls-test", insecure_denied))
    with pytest.raises(ClientError, match=r"AccessDenied|403"):
        s3.put_object(Bucket="deny-tls-test", Key="a", Body=b"x")
