"""The Athena engine at the boto3 client boundary (Stubber): polling with back-off, pages,
types, prices, and the states the emulator (which finishes every query at once) cannot produce:
FAILED, CANCELLED, throttling, a poll timeout. The answers themselves are checked against
DuckDB on the emulator in test_athena_integration.py."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from cafepipe.cost.prices import ATHENA_USD_PER_TB
from cafepipe.errors import AwsError
from cafepipe.insights.athena_engine import query_cost_usd, run_athena, typed_value
from cafepipe.insights.athena_sql import athena_statement
from cafepipe.insights.queries import INSIGHTS_BY_ID

DATABASE, TABLE, WORKGROUP = "cafepipe_cafe", "access_log", "cafepipe-cafe"
TOTALS, HOURLY = INSIGHTS_BY_ID["totals"], INSIGHTS_BY_ID["hourly"]


class FakeClients:
    """An AwsClients stand-in that hands out one stubbed athena client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str) -> Any:
        assert service == "athena"
        return self._client


def athena_client() -> Any:
    return boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def start(stubber: Stubber, insight: Any, query_id: str) -> None:
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": query_id},
        {
            "QueryString": athena_statement(insight, DATABASE, TABLE),
            "QueryExecutionContext": {"Database": DATABASE},
            "WorkGroup": WORKGROUP,
        },
    )


def state(
    stubber: Stubber, query_id: str, name: str, scanned: int = 0, reason: str | None = None
) -> None:
    status: dict[str, Any] = {"State": name}
    if reason:
        status["StateChangeReason"] = reason
    stubber.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": query_id,
                "Status": status,
                "Statistics": {"DataScannedInBytes": scanned},
            }
        },
        {"QueryExecutionId": query_id},
    )


def page(
    stubber: Stubber,
    query_id: str,
    rows: list[list[str | None]],
    types: list[tuple[str, str]],
    token: str | None = None,
    next_token: str | None = None,
) -> None:
    response: dict[str, Any] = {
        "ResultSet": {
            "Rows": [
                {"Data": [{} if cell is None else {"VarCharValue": cell} for cell in row]}
                for row in rows
            ],
            "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Type": t} for n, t in types]},
        }
    }
    if next_token:
        response["NextToken"] = next_token
    expected: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
    if token:
        expected["NextToken"] = token
    stubber.add_response("get_query_results", response, expected)


TOTALS_TYPES = [("requests", "bigint"), ("bytes", "bigint"), ("unique_ips", "bigint")]
HOURLY_TYPES = [("hour", "bigint"), ("requests", "bigint")]


def run(client: Any, sleeps: list[float], **options: Any) -> Any:
    clock = iter(range(0, 10_000, 10))  # each look at the clock: ten seconds later
    return run_athena(
        FakeClients(client),  # type: ignore[arg-type]
        DATABASE,
        TABLE,
        WORKGROUP,
        sleep=sleeps.append,
        clock=lambda: float(next(clock)),
        **options,
    )


def test_queries_are_polled_with_backoff_paged_typed_and_priced() -> None:
    client = athena_client()
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        start(stubber, TOTALS, "q1")
        start(stubber, HOURLY, "q2")
        state(stubber, "q1", "QUEUED")
        state(stubber, "q2", "RUNNING")
        for _ in range(3):
            state(stubber, "q1", "RUNNING")
            state(stubber, "q2", "RUNNING")
        state(stubber, "q1", "SUCCEEDED", scanned=3_000_000_000_000)
        page(stubber, "q1", [["requests", "bytes", "unique_ips"], ["12", "9007199254740993", "3"]],
             TOTALS_TYPES)  # fmt: skip
        state(stubber, "q2", "SUCCEEDED", scanned=1234)
        # Two pages: the header row is on the first only.
        page(stubber, "q2", [["hour", "requests"], ["0", "5"]], HOURLY_TYPES, next_token="t1")
        page(stubber, "q2", [["7", "9"], ["8", None]], HOURLY_TYPES, token="t1")
        result = run(client, sleeps, insights=(TOTALS, HOURLY), timeout=600, poll_interval=1,
                     max_poll_interval=3)  # fmt: skip
        stubber.assert_no_pending_responses()
    assert result.rows == {
        "totals": [[12, 9007199254740993, 3]],  # a byte total past 2**53 stays exact
        "hourly": [[0, 5], [7, 9], [8, None]],
    }
    # Looked at at once after the starts, then waits growing to the cap while nothing changes.
    assert sleeps == [1, 2, 3]
    assert [q.bytes_scanned for q in result.queries] == [3_000_000_000_000, 1234]
    # 3 TB at $5/TB; 1,234 bytes are billed as the 10 MB minimum.
    assert result.queries[0].cost_usd == pytest.approx(15.0)
    assert result.queries[1].cost_usd == pytest.approx(10e6 / 1e12 * ATHENA_USD_PER_TB)
    assert result.bytes_scanned == 3_000_000_001_234
    assert result.cost_usd == pytest.approx(15.0 + 0.00005)


@pytest.mark.parametrize("ending", ["FAILED", "CANCELLED"])
def test_a_failed_or_cancelled_query_stops_the_run_with_athenas_reason(ending: str) -> None:
    client = athena_client()
    reason = (
        "TABLE_NOT_FOUND: line 1:8: Table 'awsdatacatalog.cafepipe_cafe.access_log' does not exist"
    )
    with Stubber(client) as stubber:
        start(stubber, TOTALS, "q1")
        start(stubber, HOURLY, "q2")
        state(stubber, "q1", ending, reason=reason)
        # The other query is stopped: nobody reads its answer, and Athena would bill it.
        stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q2"})
        with pytest.raises(AwsError) as failed:
            run(client, [], insights=(TOTALS, HOURLY))
        stubber.assert_no_pending_responses()
    assert f"'totals' (q1) ended {ending}: {reason}" in str(failed.value)
    assert "--show-sql" in failed.value.hint


def test_throttled_starts_are_retried_after_a_back_off() -> None:
    """TooManyRequestsException (too many queries in the account): wait, then start again."""
    client = athena_client()
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        for _ in range(2):
            stubber.add_client_error(
                "start_query_execution", "TooManyRequestsException", "Rate exceeded", 400
            )
        start(stubber, TOTALS, "q1")
        start(stubber, HOURLY, "q2")
        state(stubber, "q1", "SUCCEEDED", scanned=20_000_000)
        page(stubber, "q1", [["requests", "bytes", "unique_ips"], ["1", "2", "1"]], TOTALS_TYPES)
        state(stubber, "q2", "SUCCEEDED", scanned=0)
        page(stubber, "q2", [["hour", "requests"]], HOURLY_TYPES)
        result = run(client, sleeps, insights=(TOTALS, HOURLY), poll_interval=0.5)
        stubber.assert_no_pending_responses()
    assert result.rows == {"totals": [[1, 2, 1]], "hourly": []}
    assert sleeps == [0.5, 1.0]
    assert result.queries[0].cost_usd == pytest.approx(20e6 / 1e12 * ATHENA_USD_PER_TB)


def test_poll_timeout_stops_the_queries_and_says_so() -> None:
    client = athena_client()
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        start(stubber, TOTALS, "q1")
        for _ in range(3):
            state(stubber, "q1", "RUNNING")
        stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q1"})
        with pytest.raises(AwsError) as late:
            run(client, sleeps, insights=(TOTALS,), timeout=25, poll_interval=1)
        stubber.assert_no_pending_responses()
    assert "not done after 25s: totals" in str(late.value)
    assert "--since/--until" in late.value.hint
    # Started, looked at at once, then one wait: the clock passed the deadline at the third look.
    assert sleeps == [1]


def test_client_errors_become_aws_errors_naming_the_workgroup() -> None:
    client = athena_client()
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "start_query_execution",
            "InvalidRequestException",
            "WorkGroup cafepipe-cafe is not found.",
            400,
            expected_params={"QueryString": ANY, "QueryExecutionContext": ANY, "WorkGroup": ANY},
        )
        with pytest.raises(AwsError) as failed:
            run(client, [], insights=(TOTALS,))
    assert "Athena in workgroup cafepipe-cafe failed: InvalidRequestException" in str(failed.value)
    assert "athena_workgroup" in failed.value.hint


def test_values_are_typed_from_the_result_metadata() -> None:
    assert typed_value("42", "bigint") == 42 and typed_value("7", "integer") == 7
    assert typed_value("2.5", "double") == 2.5 and typed_value("1.25", "decimal(10,2)") == 1.25
    assert typed_value("true", "boolean") is True and typed_value("false", "boolean") is False
    assert typed_value("007", "varchar") == "007"  # a name that looks like a number stays text
    assert typed_value(None, "bigint") is None


def test_query_cost_rounds_up_to_the_megabyte_with_a_10_mb_minimum() -> None:
    per_mb = 1e6 / 1e12 * ATHENA_USD_PER_TB
    assert query_cost_usd(0) == pytest.approx(10 * per_mb)
    assert query_cost_usd(10_000_001) == pytest.approx(11 * per_mb)
    assert query_cost_usd(1_000_000_000_000) == pytest.approx(ATHENA_USD_PER_TB)


def cli(args: list[str], capsys: Any) -> tuple[int, str, str]:
    from cafepipe.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


@pytest.mark.parametrize("engine", ["duckdb", "cloudwatch", "athena"])
def test_show_sql_prints_one_statement_per_insight_and_runs_nothing(
    engine: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from cafepipe.insights.queries import INSIGHTS

    monkeypatch.setenv("CAFEPIPE_STATE_DIR", str(tmp_path))
    # No credentials and an endpoint nothing answers at: any AWS call would fail the run.
    args = ["--endpoint-url", "http://127.0.0.1:9", "insights", "--engine", engine, "--show-sql"]
    code, out, err = cli([*args, "--since", "2026-11-20", "--until", "2026-11-27"], capsys)
    assert code == 0, err
    shown = [block for block in out.split("\n-- ") if block.strip()]
    expected = [i for i in INSIGHTS if engine != "cloudwatch" or i.logs_insights is not None]
    assert [block.removeprefix("-- ").split(":", 1)[0] for block in shown] == [
        i.id for i in expected
    ]
    if engine == "athena":
        assert (
            'FROM "cafepipe_cafe"."access_log"' in out and "dt >= '2026-11-19'" in out
        )  # a day's file holds the next day's first minutes
    if engine == "duckdb":
        assert expected[0].sql in out


def test_athena_refuses_a_source_and_bad_flags_before_any_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("CAFEPIPE_STATE_DIR", str(tmp_path))
    # No credentials (a real endpoint): only a check before any call can answer exit 2.
    base = ["--region", "us-east-1", "insights"]
    code, _, err = cli([*base, "--engine", "athena", "--source", "access.log"], capsys)
    assert code == 2 and "reads the stack's data lake, not --source" in err
    code, _, err = cli([*base, "--engine", "athena", "--since", "soon"], capsys)
    assert code == 2 and "--since 'soon'" in err
    code, _, err = cli([*base, "--engine", "athena", "--where", "planet=Mars"], capsys)
    assert code == 2 and "unknown field 'planet'" in err
