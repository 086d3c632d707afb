"""The emulator: start/stop/status for real, and its extensions (Logs query definitions, Logs
Insights queries evaluated, bucket-policy conditions), over HTTP."""

from __future__ import annotations

import json
import time
import uuid
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


def _group_with_events(logs: Any, messages: list[tuple[int, str]]) -> str:
    group = f"li-test/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="i-1")
    events = [{"timestamp": ms, "message": text} for ms, text in sorted(messages)]
    logs.put_log_events(logGroupName=group, logStreamName="i-1", logEvents=events)
    return group


def test_logs_insights_queries_are_evaluated(emulator: EmulatorInfo) -> None:
    logs: Any = _logs(emulator)
    second = int(time.time()) - 600
    lines = [
        (second * 1000, '{"request":"/cafe/menu.php","status":"200","bytes":"100"}'),
        (second * 1000 + 999, '{"request":"/cafe/menu.php","status":"404","bytes":"0"}'),
        (second * 1000 + 1000, '{"request":"/cafe","status":"200","bytes":"50"}'),
        ((second - 5) * 1000, "not json at all"),
    ]
    group = _group_with_events(logs, lines)
    query = 'filter request = "/cafe/menu.php" | stats count(*) as views, sum(bytes) as b'
    # Both ends are included, in whole seconds: the events of `second` and none after it.
    started = logs.start_query(
        logGroupName=group, startTime=second, endTime=second, queryString=query
    )
    answer = logs.get_query_results(queryId=started["queryId"])
    assert answer["status"] == "Complete"
    assert answer["results"] == [[{"field": "views", "value": "2"}, {"field": "b", "value": "100"}]]
    assert answer["statistics"]["recordsScanned"] == 2
    assert answer["statistics"]["recordsMatched"] == 2
    assert answer["statistics"]["bytesScanned"] == sum(len(m) for _, m in lines[:2])
    # By status, over every event of the group (the text line has no status: a null group).
    started = logs.start_query(
        logGroupNames=[group],
        startTime=second - 60,
        endTime=second + 60,
        queryString="stats count(*) as n by status | sort n desc",
    )
    results = logs.get_query_results(queryId=started["queryId"])["results"]
    found = [{c["field"]: c["value"] for c in row} for row in results]
    assert found[0] == {"status": "200", "n": "2"}  # sorted by n, descending
    assert sorted(found[1:], key=str) == [{"n": "1"}, {"n": "1", "status": "404"}]
    listed = logs.describe_queries(logGroupName=group)["queries"]
    assert {q["queryId"] for q in listed} >= {started["queryId"]}
    assert logs.stop_query(queryId=started["queryId"])["success"] is False  # already complete


def test_logs_insights_refuses_what_aws_refuses(emulator: EmulatorInfo) -> None:
    logs: Any = _logs(emulator)
    group = _group_with_events(logs, [(int(time.time() * 1000) - 1000, '{"a":"1"}')])
    now = int(time.time())
    for bad in ("stats frobnicate(a)", "stats count(*) as n | sort a", "filter a like /(/"):
        with pytest.raises(ClientError, match="MalformedQueryException") as caught:
            logs.start_query(logGroupName=group, startTime=now - 60, endTime=now, queryString=bad)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        logs.start_query(
            logGroupName="no/such-group", startTime=now - 60, endTime=now, queryString="fields a"
        )
    with pytest.raises(ClientError, match="InvalidParameterException"):
        logs.start_query(
            logGroupName=group, startTime=now, endTime=now - 60, queryString="fields a"
        )
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        logs.get_query_results(queryId="00000000-0000-0000-0000-000000000000")


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
