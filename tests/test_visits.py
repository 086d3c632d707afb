"""Visits on a hand-made log whose visits are known: the 30-minute rule at 29, 30 and 31 minutes,
one address with two browsers (two visitors), a robot and a scanner among the customers, a visitor
who only fetched assets; and the exact visits, bounces, durations, entry and exit pages and funnel.

The same requests are written as JSON lines and as combined lines (whole seconds there), and the
JSON that programs read validates against docs/insights.schema.json.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.stub import Stubber

from cafepipe.deploy.dashboard import CATALOG_SECTIONS, SESSIONS_NOTE
from cafepipe.insights import duckdb_engine
from cafepipe.insights.cloudwatch_engine import run_cloudwatch
from cafepipe.insights.duckdb_engine import load_log, run_catalog
from cafepipe.insights.queries import INSIGHTS, INSIGHTS_BY_ID, VISITS_SQL
from cafepipe.insights.summary import CONTRACT_LISTS, SCHEMA_VERSION, program_json, summarize

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "insights.schema.json"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.6 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
DAY = datetime(2026, 11, 20, tzinfo=timezone.utc)


def at(hh: int, mm: int, ss: float = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm, seconds=ss)


# (time, address, user agent, method, path, query, status, referer)
REQUESTS: list[tuple[datetime, str, str, str, str, str, int, str]] = [
    # A: a campaign visit that orders; 29 minutes between menu and item keep it one visit.
    (at(8, 0), "1.0.0.1", CHROME, "GET", "/cafe",
     "?utm_source=newsletter&utm_campaign=autumn-menu", 200, "-"),
    (at(8, 0, 0.1), "1.0.0.1", CHROME, "GET", "/cafe/css/cafe.css", "", 200,
     "http://cafe.example/cafe"),
    (at(8, 1), "1.0.0.1", CHROME, "GET", "/cafe/menu.php", "", 200, "http://cafe.example/cafe"),
    (at(8, 30), "1.0.0.1", CHROME, "GET", "/cafe/item.php", "?id=latte", 200,
     "http://cafe.example/cafe/menu.php"),
    (at(8, 31, 30.5), "1.0.0.1", CHROME, "POST", "/cafe/processOrder.php", "?items=latte:1", 200,
     "http://cafe.example/cafe/item.php?id=latte"),
    # A again 31 minutes later: a new visit of one page (a bounce).
    (at(9, 2, 30.5), "1.0.0.1", CHROME, "GET", "/cafe/menu.php", "", 200, "-"),
    # B: the same address with a phone's browser is another visitor.
    (at(8, 5), "1.0.0.1", IPHONE, "GET", "/cafe", "", 200, "https://www.google.com/"),
    (at(8, 6), "1.0.0.1", IPHONE, "GET", "/cafe/menu.php", "", 200, "http://cafe.example/cafe"),
    # D: exactly 30 minutes between two pages is still one visit.
    (at(10, 0), "1.0.0.4", CHROME, "GET", "/cafe/about.php", "", 200, "-"),
    (at(10, 30), "1.0.0.4", CHROME, "GET", "/cafe", "", 200, "-"),
    # F: lands on an item, then the menu, then orders: no item page after the menu.
    (at(11, 0), "1.0.0.6", IPHONE, "GET", "/cafe/item.php", "?id=mocha", 200, "-"),
    (at(11, 1), "1.0.0.6", IPHONE, "GET", "/cafe/menu.php", "", 200, "-"),
    (at(11, 2), "1.0.0.6", IPHONE, "POST", "/cafe/processOrder.php", "?items=mocha:1", 200,
     "http://cafe.example/cafe/menu.php"),
    # E: only assets (a favicon, a picture): no visit.
    (at(12, 0), "1.0.0.5", CHROME, "GET", "/favicon.ico", "", 200, "-"),
    (at(12, 0, 1), "1.0.0.5", CHROME, "GET", "/cafe/images/LOGO.SVG", "", 200, "-"),
    # A robot browsing the menu and a scanner probing: no customers.
    (at(8, 2), "66.249.66.1", GOOGLEBOT, "GET", "/cafe", "", 200, "-"),
    (at(8, 3), "66.249.66.1", GOOGLEBOT, "GET", "/cafe/menu.php", "", 200, "-"),
    (at(8, 4), "66.249.66.1", GOOGLEBOT, "GET", "/cafe/item.php", "?id=latte", 200, "-"),
    (at(9, 0), "45.148.10.9", "curl/8.5.0", "GET", "/.env", "", 404, "-"),
]  # fmt: skip


def json_line(row: tuple[datetime, str, str, str, str, str, int, str]) -> str:
    moment, ip, agent, method, path, query, status, referer = row
    return json.dumps(
        {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "remoteIP": ip,
            "host": "cafe.example",
            "request": path,
            "query": query,
            "method": method,
            "status": str(status),
            "bytes": "100",
            "userAgent": agent,
            "referer": referer,
            "country": "US",
            "region": "Washington",
            "city": "Seattle",
        }
    )


def combined_line(row: tuple[datetime, str, str, str, str, str, int, str]) -> str:
    moment, ip, agent, method, path, query, status, referer = row
    return (
        f'{ip} - - [{moment:%d/%b/%Y:%H:%M:%S} +0000] "{method} {path}{query} HTTP/1.1" '
        f'{status} 100 "{referer}" "{agent}"'
    )


def insights(tmp_path: Path, log_format: str) -> dict[str, Any]:
    render = json_line if log_format == "json" else combined_line
    path = tmp_path / f"access_log.{log_format}"
    # Out of order, as a merged log can be, and with a line no parser takes.
    lines = [render(row) for row in reversed(REQUESTS)] + ["not a log line"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_log(path, log_format)
    return program_json(summarize(run_catalog(loaded), loaded.invalid_lines))


@pytest.fixture(scope="module", params=["json", "combined"])
def data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return request.param, insights(tmp_path_factory.mktemp("visits"), request.param)


def test_visits_visitors_and_bounces(data: tuple[str, dict[str, Any]]) -> None:
    _, result = data
    # A's two visits (the 31-minute gap), B's, D's (30 minutes exactly), F's; not E (assets only),
    # not the robot, not the scanner.
    assert result["visits"] == 5
    assert result["visitors"] == 4
    assert (result["new_visitors"], result["returning_visitors"]) == (3, 1)
    assert (result["pageviews"], result["pageviews_per_visit"]) == (12, 2.4)
    assert (result["bounces"], result["bounce_rate"]) == (1, 0.2)
    assert result["invalid_lines"] == 1


def test_visit_durations(data: tuple[str, dict[str, Any]]) -> None:
    log_format, result = data
    # 1890.5 s (A), 0 (A's bounce), 60 (B), 1800 (D), 120 (F); a combined log has whole seconds.
    assert result["visit_duration_median_s"] == 120
    assert result["visit_duration_mean_s"] == (774.1 if log_format == "json" else 774)


def test_entry_and_exit_pages(data: tuple[str, dict[str, Any]]) -> None:
    _, result = data
    assert result["entry_pages"] == [
        {"path": "/cafe", "visits": 2, "bounces": 0},
        {"path": "/cafe/about.php", "visits": 1, "bounces": 0},
        {"path": "/cafe/item.php", "visits": 1, "bounces": 0},
        {"path": "/cafe/menu.php", "visits": 1, "bounces": 1},
    ]
    assert result["exit_pages"] == [
        {"path": "/cafe/menu.php", "visits": 2},
        {"path": "/cafe/processOrder.php", "visits": 2},
        {"path": "/cafe", "visits": 1},
    ]


def test_the_funnel_counts_steps_in_order(data: tuple[str, dict[str, Any]]) -> None:
    _, result = data
    # F ordered without an item page after the menu: it stops at the menu step.
    assert result["funnel"] == [
        {"step": "landing", "page": "", "visits": 5, "conversion": 1, "drop_off": 0},
        {"step": "menu", "page": "/cafe/menu.php", "visits": 4, "conversion": 0.8, "drop_off": 1},
        {"step": "item", "page": "/cafe/item.php", "visits": 1, "conversion": 0.25,
         "drop_off": 3},
        {"step": "order", "page": "/cafe/processOrder.php", "visits": 1, "conversion": 1,
         "drop_off": 0},
    ]  # fmt: skip
    assert result["funnel_by_source"] == [
        {"source": "(direct)", "campaign": "", "visits": 3, "menu": 2, "item": 0, "orders": 0,
         "conversion": 0},
        {"source": "newsletter", "campaign": "autumn-menu", "visits": 1, "menu": 1, "item": 1,
         "orders": 1, "conversion": 1},
        {"source": "www.google.com", "campaign": "", "visits": 1, "menu": 1, "item": 0,
         "orders": 0, "conversion": 0},
    ]  # fmt: skip
    assert result["funnel_by_device"] == [
        {"device": "Computer", "visits": 3, "menu": 2, "item": 1, "orders": 1,
         "conversion": 0.3333},
        {"device": "Phone", "visits": 2, "menu": 2, "item": 0, "orders": 0, "conversion": 0},
    ]  # fmt: skip


def test_rankings_leave_out_robots_scanners_and_assets(data: tuple[str, dict[str, Any]]) -> None:
    _, result = data
    assert result["top_pages"] == [
        {"path": "/cafe/menu.php", "views": 4},
        {"path": "/cafe", "views": 3},
        {"path": "/cafe/item.php", "views": 2},
        {"path": "/cafe/processOrder.php", "views": 2},
        {"path": "/cafe/about.php", "views": 1},
    ]
    # All requests still count in the contract's top_paths, as lists.
    assert ["/cafe/menu.php", 5] in result["top_paths"]  # the robot's view too
    assert ["/.env", 1] in result["top_paths"]
    assert all(not row["path"].startswith("/.") for row in result["slowest_pages"])


def test_program_json_validates_against_the_schema(data: tuple[str, dict[str, Any]]) -> None:
    log_format, result = data
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    meta = {"source": "x", "engine": "duckdb", "log_format": log_format, "generated": "now",
            "since": None}  # fmt: skip
    document = {**result, "meta": meta}
    errors = [
        f"{error.json_path}: {error.message}"
        for error in jsonschema.Draft202012Validator(schema).iter_errors(document)
    ]
    assert not errors
    assert result["schema_version"] == SCHEMA_VERSION
    for insight in INSIGHTS:
        value = result.get(insight.id)
        if insight.shape == "rows" and value:
            kind = list if insight.id in CONTRACT_LISTS else dict
            assert all(isinstance(row, kind) for row in value), insight.id


def test_a_tie_in_time_is_ordered_by_path(tmp_path: Path) -> None:
    # Two pages in the same second of a combined log: the entry is the first by path, the exit
    # the last, whatever order the lines are in.
    rows = [
        (at(7, 0), "1.0.0.9", CHROME, "GET", "/cafe/menu.php", "", 200, "-"),
        (at(7, 0), "1.0.0.9", CHROME, "GET", "/cafe", "", 200, "-"),
    ]
    path = tmp_path / "tie.log"
    path.write_text("\n".join(combined_line(row) for row in rows) + "\n")
    loaded = load_log(path, "combined")
    (visit,) = loaded.connection.execute(
        f"SELECT entry_page, exit_page, pages, duration_ms FROM ({VISITS_SQL})"
    ).fetchall()
    assert visit == ("/cafe", "/cafe/menu.php", 2, 0)


def test_logs_insights_leaves_visits_out_and_says_where_they_are() -> None:
    logs = boto3.client(
        "logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )

    class Clients:
        def client(self, name: str) -> Any:
            assert name == "logs"
            return logs

    sessions = tuple(INSIGHTS_BY_ID[i] for i in ("visits", "funnel", "entry_pages"))
    with Stubber(logs) as stub:  # no query may start: Logs Insights cannot sessionize
        run = run_cloudwatch(Clients(), "g", at(0, 0), at(1, 0), sessions)  # type: ignore[arg-type]
        stub.assert_no_pending_responses()
    assert run.rows == {} and run.not_computed == ["visits", "funnel", "entry_pages"]
    assert "DuckDB and Athena only" in run.not_computed_note["why"]
    widgets = {query.name for section in CATALOG_SECTIONS for query in section.queries}
    assert "top-pages" in widgets
    assert not widgets & {"visits", "funnel", "entry-pages", "exit-pages", "funnel-by-device"}
    assert "Logs Insights cannot compute" in SESSIONS_NOTE


def test_a_large_logs_visits_built_before_the_catalog_give_the_same_answers(
    data: tuple[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past VISITS_BESIDE_MAX_LINES the visits table is built before the catalog's threads,
    not beside them: the same answers (and every visit insight finds the table)."""
    log_format, beside = data
    monkeypatch.setattr(duckdb_engine, "VISITS_BESIDE_MAX_LINES", 0)
    assert insights(tmp_path, log_format) == beside
