"""The Logs Insights engine at the boto3 client boundary (Stubber): polling, timeouts, failures
and the shaping of answers — states the emulator, which completes every query at once, cannot
produce. The answers themselves are checked against DuckDB on the emulator in
test_logs_insights_equality.py."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cafepipe.errors import AwsError
from cafepipe.insights import run_logs_insights
from cafepipe.insights.cloudwatch_engine import engine_query, run_cloudwatch
from cafepipe.insights.queries import INSIGHTS_BY_ID

START = datetime(2026, 11, 20, 0, 0)
END = datetime(2026, 11, 27, 0, 0)


class FakeClients:
    """An AwsClients stand-in that hands out one stubbed logs client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str) -> Any:
        assert service == "logs"
        return self._client


def logs_client() -> Any:
    return boto3.client(
        "logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def cells(**fields: str) -> list[dict[str, str]]:
    return [{"field": name, "value": value} for name, value in fields.items()]


def start_query(stubber: Stubber, insight_id: str, query_id: str) -> None:
    stubber.add_response(
        "start_query",
        {"queryId": query_id},
        {
            "logGroupName": "apache/access",
            "startTime": int(START.replace(tzinfo=timezone.utc).timestamp()),
            "endTime": int(END.replace(tzinfo=timezone.utc).timestamp()),
            "queryString": engine_query(INSIGHTS_BY_ID[insight_id]),
            "limit": 10000,
        },
    )


def results(
    stubber: Stubber, query_id: str, status: str, rows: list[Any], scanned: float = 0
) -> None:
    stubber.add_response(
        "get_query_results",
        {
            "status": status,
            "results": rows,
            "statistics": {"recordsMatched": 1.0, "recordsScanned": 10.0, "bytesScanned": scanned},
        },
        {"queryId": query_id},
    )


def test_queries_are_polled_until_complete_and_priced() -> None:
    client = logs_client()
    insights = (
        INSIGHTS_BY_ID["totals"],
        INSIGHTS_BY_ID["by_city"],
        INSIGHTS_BY_ID["items_ordered"],
    )
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        start_query(stubber, "totals", "q1")
        start_query(stubber, "by_city", "q2")
        start_query(stubber, "items_ordered", "q3")
        results(stubber, "q1", "Running", [])
        results(stubber, "q2", "Scheduled", [])
        results(
            stubber,
            "q3",
            "Complete",
            [
                cells(basket="latte:2,croissant:1", orders="3"),
                cells(basket="latte:1", orders="2"),
            ],
            scanned=10**9,
        )
        # second round
        results(
            stubber,
            "q1",
            "Complete",
            [cells(requests="120", bytes="5000", unique_ips="40")],
            scanned=2 * 10**9,
        )
        results(
            stubber,
            "q2",
            "Complete",
            [
                cells(city="Portland", menu_views="5", orders="1"),
                cells(city="Seattle", menu_views="12", orders="3"),
                cells(city="Austin", menu_views="5", orders="0"),
            ],
            scanned=10**9,
        )
        run = run_cloudwatch(
            FakeClients(client),
            "apache/access",
            START,
            END,
            insights=insights,
            poll_interval=2.5,
            timeout=60,
            sleep=sleeps.append,
            clock=lambda: 0.0,
        )
        stubber.assert_no_pending_responses()
    assert sleeps == [2.5]
    assert run.rows["totals"] == [[120, 5000, 40]]
    # Ranked as the SQL ranks: menu views, then the name.
    assert run.rows["by_city"] == [["Seattle", 12, 3], ["Austin", 5, 0], ["Portland", 5, 1]]
    assert run.rows["items_ordered"] == [["latte", 8, 5], ["croissant", 3, 3]]
    assert run.bytes_scanned == 4 * 10**9
    assert run.cost_usd == 0.02  # 4 GB (decimal, as AWS prices them) at $0.005/GB


def test_timeout_stops_the_queries_and_says_so() -> None:
    client = logs_client()
    now = iter([0.0, 10.0, 20.0, 40.0])
    with Stubber(client) as stubber:
        start_query(stubber, "totals", "q1")
        results(stubber, "q1", "Running", [])
        results(stubber, "q1", "Running", [])
        stubber.add_response("stop_query", {"success": True}, {"queryId": "q1"})
        with pytest.raises(AwsError, match="still running after 15s: totals"):
            run_cloudwatch(
                FakeClients(client),
                "apache/access",
                START,
                END,
                insights=(INSIGHTS_BY_ID["totals"],),
                poll_interval=1,
                timeout=15,
                sleep=lambda _: None,
                clock=lambda: next(now),
            )


def test_failed_query_and_client_errors_are_reported() -> None:
    client = logs_client()
    with Stubber(client) as stubber:
        start_query(stubber, "totals", "q1")
        results(stubber, "q1", "Failed", [])
        with pytest.raises(AwsError, match="'totals' ended Failed"):
            run_cloudwatch(
                FakeClients(client),
                "apache/access",
                START,
                END,
                insights=(INSIGHTS_BY_ID["totals"],),
                sleep=lambda _: None,
            )
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "start_query", "ResourceNotFoundException", "Log group does not exist"
        )
        with pytest.raises(AwsError, match="ResourceNotFoundException: Log group does not exist"):
            run_cloudwatch(
                FakeClients(client),
                "apache/access",
                START,
                END,
                insights=(INSIGHTS_BY_ID["totals"],),
                sleep=lambda _: None,
            )


def test_whole_catalog_becomes_the_insights_json() -> None:
    client = logs_client()
    answers = {
        "totals": [cells(requests="100", bytes="4096", unique_ips="30")],
        "menu_audience": [cells(menu_views="40", menu_visitors="20")],
        "orders_placed": [cells(order_requests="9", purchasers="5")],
        "status_classes": [
            cells(**{"class": "2xx", "requests": "90"}),
            cells(**{"class": "4xx", "requests": "10"}),
        ],
        "hourly": [cells(hour="8", requests="60"), cells(hour="23", requests="40")],
        "daily": [
            cells(**{"bin(1d)": "2026-11-21 00:00:00.000", "requests": "70", "unique_ips": "20"}),
            cells(**{"bin(1d)": "2026-11-20 00:00:00.000", "requests": "30", "unique_ips": "10"}),
        ],
        "bots": [cells(bot_requests="7")],
        "scanners": [cells(scanner_requests="3")],
        "devices": [
            cells(device="Tablet", requests="1"),
            cells(device="Computer", requests="62"),
            cells(device="Phone", requests="30"),
        ],
        "by_city": [
            cells(city="Seattle", menu_views="12", orders="4"),
            cells(city="Austin", menu_views="3"),  # a sum over no order is absent (null)
        ],
        "orders_by_city": [cells(city="Seattle", orders="4")],
    }
    with Stubber(client) as stubber:
        # Visits and the funnel have no Logs Insights query: no query starts for them.
        ids = [i.id for i in INSIGHTS_BY_ID.values() if i.logs_insights is not None]
        for number, insight_id in enumerate(ids):
            start_query(stubber, insight_id, f"q{number}")
        for number, insight_id in enumerate(ids):
            results(stubber, f"q{number}", "Complete", answers.get(insight_id, []), scanned=1000)
        run = run_logs_insights(
            "apache/access", FakeClients(client), since=START, now=END, poll_interval=0
        )
    data = run.data
    assert data["requests"] == 100 and data["bytes"] == 4096 and data["unique_ips"] == 30
    assert data["conversion_rate"] == 0.25
    assert data["status_classes"] == {"2xx": 90, "3xx": 0, "4xx": 10, "5xx": 0}
    assert data["hourly"][8] == 60 and data["hourly"][23] == 40 and sum(data["hourly"]) == 100
    assert data["daily"] == [["2026-11-20", 30, 10], ["2026-11-21", 70, 20]]
    assert data["bot_requests"] == 7 and data["scanner_requests"] == 3
    assert data["devices"] == [["Computer", 62], ["Phone", 30], ["Tablet", 1]]
    assert data["by_city"] == [["Seattle", 12, 4], ["Austin", 3, 0]]
    assert data["by_region"] == []
    assert run.meta["bytes_scanned"] == 1000 * len(ids)
    assert run.meta["engine"] == "cloudwatch"


def test_answers_keep_whole_numbers_exact_and_names_as_text() -> None:
    from cafepipe.insights.cloudwatch_engine import result_rows

    totals = result_rows(
        INSIGHTS_BY_ID["totals"],
        [cells(requests="3", bytes="9007199254740993", unique_ips="2")],
    )
    assert totals == [[3, 9007199254740993, 2]]  # past 2**53: a float would end in ...992
    paths = result_rows(
        INSIGHTS_BY_ID["top_paths"],
        [cells(request="2024", requests="5"), cells(request="/cafe", requests="5")],
    )
    assert paths == [["/cafe", 5], ["2024", 5]]  # a path that looks like a number stays text
