"""The weekly report function, tested as a function: boto3 clients stubbed with Stubber.

The Logs Insights answers come from cafepipe's Logs Insights evaluator run on a simulated
fortnight, and the report's figures are checked against the DuckDB insights of the same
lines. Failure states (a query still running, throttling, a failed query, no access) must
give a short report that says what failed. The zip render builds is imported on its own and
its handler run end to end.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from cafepipe._lambda import weekly_report
from cafepipe._lambda.weekly_report import QUERY_IDS, WINDOWS, build_report, report_windows
from cafepipe.cafe import catalog, metrics
from cafepipe.config import load_config
from cafepipe.deploy.alerts import REPORT_SOURCE, report_bundle, report_settings
from cafepipe.deploy.logs_insights import Event, run_query
from cafepipe.insights.duckdb_engine import load_log, run_catalog
from cafepipe.insights.queries import INSIGHTS_BY_ID
from cafepipe.insights.summary import summarize
from cafepipe.logs.generate import build_options, generate_log

NOW = datetime(2026, 11, 23, 7, 0, 0, tzinfo=timezone.utc)  # a Monday, 08:00 in Paris
SETTINGS_CONFIG = {"alert_email": "owner@example.com", "timezone": "Europe/Paris"}
HEADLINE = tuple(INSIGHTS_BY_ID[query_id] for query_id in QUERY_IDS)


def settings() -> dict[str, Any]:
    config = load_config(None, SETTINGS_CONFIG, environ={})
    return report_settings(config)


def logs_client() -> Any:
    return boto3.client(
        "logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def sns_client() -> Any:
    return boto3.client(
        "sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def expect_start(stubber: Stubber, window: tuple[datetime, datetime], query_id: str) -> None:
    stubber.add_response(
        "start_query",
        {"queryId": f"{epoch(window[0])}-{query_id}"},
        {
            "logGroupName": "apache/access",
            "startTime": epoch(window[0]),
            "endTime": epoch(window[1]),
            "queryString": INSIGHTS_BY_ID[query_id].logs_insights,
            "limit": 10000,
        },
    )


def answer(
    stubber: Stubber,
    query_id: str,
    window: tuple[datetime, datetime],
    status: str = "Complete",
    rows: list[list[dict[str, str]]] | None = None,
    scanned: float = 1000.0,
) -> None:
    stubber.add_response(
        "get_query_results",
        {
            "status": status,
            "results": rows or [],
            "statistics": {"recordsMatched": 1.0, "recordsScanned": 1.0, "bytesScanned": scanned},
        },
        {"queryId": f"{epoch(window[0])}-{query_id}"},
    )


def every_query() -> list[tuple[str, tuple[datetime, datetime], str]]:
    windows = report_windows(NOW)
    return [(window, windows[window], query_id) for window in WINDOWS for query_id in QUERY_IDS]


# ------------------------------------------------------- the figures equal DuckDB's insights


@pytest.fixture(scope="module")
def fortnight(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A simulated fortnight before NOW: its events, and each week's lines in a file."""
    root = tmp_path_factory.mktemp("fortnight")
    log = root / "access_log"
    options = build_options(
        lines=20_000, start=NOW - timedelta(days=14), end=NOW, seed=11, log_format="json"
    )
    generate_log(options, log)
    windows = report_windows(NOW)
    events: list[Event] = []
    weeks: dict[str, list[str]] = {window: [] for window in WINDOWS}
    for line in log.read_text(encoding="utf-8").splitlines():
        moment = datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00"))
        events.append(Event(int(moment.timestamp() * 1000), line))
        for window, (start, end) in windows.items():
            if start <= moment < end + timedelta(seconds=1):
                weeks[window].append(line)
    files = {}
    for window, lines in weeks.items():
        files[window] = root / f"{window}.log"
        files[window].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"events": events, "files": files, "windows": windows}


def evaluator_answer(query: str, events: list[Event], window: tuple[datetime, datetime]) -> Any:
    """What Logs Insights answers for one window (both ends inclusive, whole seconds)."""
    start, end = window
    return run_query(query, events, epoch(start) * 1000, epoch(end) * 1000 + 999, limit=10000)


def test_the_report_figures_equal_the_duckdb_insights_of_the_same_lines(
    fortnight: dict[str, Any],
) -> None:
    boundaries = [epoch(moment) for window in fortnight["windows"].values() for moment in window]
    near = [
        e for e in fortnight["events"] if any(abs(e.timestamp / 1000 - b) < 2 for b in boundaries)
    ]
    assert not near  # the split is unambiguous: no line within a second of a week's edge
    client = logs_client()
    with Stubber(client) as stubber:
        for _window, bounds, query_id in every_query():
            expect_start(stubber, bounds, query_id)
        for _window, bounds, query_id in every_query():
            result = evaluator_answer(
                INSIGHTS_BY_ID[query_id].logs_insights, fortnight["events"], bounds
            )
            answer(stubber, query_id, bounds, rows=result.rows, scanned=result.bytes_scanned)
        report = build_report(client, settings(), NOW, sleep=lambda _: None)
        stubber.assert_no_pending_responses()

    assert report.failures == [] and report.queries == 16
    for window in WINDOWS:
        loaded = load_log(fortnight["files"][window])
        truth = summarize(run_catalog(loaded, HEADLINE), loaded.invalid_lines, HEADLINE)
        figures = report.figures[window]
        assert truth["requests"] > 5000 and truth["order_requests"] > 50  # a real week
        for key in (
            "requests", "unique_ips", "menu_views", "menu_visitors", "order_requests",
            "purchasers", "conversion_rate", "bot_requests", "scanner_requests",
        ):  # fmt: skip
            assert figures[key] == truth[key], (window, key)
        assert figures["server_errors"] == truth["status_classes"]["5xx"]
        assert figures["orders_by_city"] == truth["orders_by_city"], window
        assert figures["items_ordered"] == truth["items_ordered"], window

    this = report.figures["this"]
    message = report.message
    assert f"Orders: {this['order_requests']:,} by {this['purchasers']:,} people" in message
    assert f"{this['conversion_rate']:.1%}" in message
    top_city, top_orders = this["orders_by_city"][0]
    assert f"Top cities by orders: {top_city} {top_orders:,}" in message
    item, quantity, _orders = this["items_ordered"][0]
    assert f"Top items ordered: {catalog.MENU_BY_ID[item].name} {quantity:,}" in message
    assert "Mon 16 Nov 2026 08:00 to Mon 23 Nov 2026 08:00 (Europe/Paris)" in message
    scanned = sum(
        evaluator_answer(INSIGHTS_BY_ID[q].logs_insights, fortnight["events"], b).bytes_scanned
        for _w, b, q in every_query()
    )
    assert report.bytes_scanned == scanned
    assert report.cost_usd == round(scanned / 1e9 * 0.005, 6)
    assert f"16 Logs Insights queries that scanned {scanned / 1e6:,.1f} MB" in message
    assert report.subject == (
        f"Cafe weekly report (cafe): {this['order_requests']:,} orders, "
        f"{this['conversion_rate']:.1%} conversion"
    )


# ------------------------------------------------------------------- failure states


def run_with(
    setup: Any, *, timeout: float = 60.0, clock: Any = None
) -> tuple[weekly_report.Report, list[float]]:
    client = logs_client()
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        setup(stubber)
        report = build_report(
            client,
            settings(),
            NOW,
            poll_interval=5,
            timeout=timeout,
            sleep=sleeps.append,
            clock=clock or (lambda: 0.0),
        )
        stubber.assert_no_pending_responses()
    return report, sleeps


def plain_rows(query_id: str) -> list[list[dict[str, str]]]:
    """A small complete answer for each query."""
    cells = {
        "totals": {"requests": "200", "bytes": "9000", "unique_ips": "50"},
        "menu_audience": {"menu_views": "40", "menu_visitors": "20"},
        "orders_placed": {"order_requests": "6", "purchasers": "5"},
        "status_classes": {"class": "5xx", "requests": "2"},
        "bots": {"bot_requests": "20"},
        "scanners": {"scanner_requests": "10"},
        "orders_by_city": {"city": "Seattle", "orders": "4"},
        "items_ordered": {"basket": "latte:2", "orders": "3"},
    }[query_id]
    return [[{"field": name, "value": value} for name, value in cells.items()]]


def test_a_query_still_running_at_the_deadline_is_stopped_and_named() -> None:
    ticks = iter([0.0, 10.0, 70.0])

    def setup(stubber: Stubber) -> None:
        for _window, bounds, query_id in every_query():
            expect_start(stubber, bounds, query_id)
        late = report_windows(NOW)["this"]
        for window, bounds, query_id in every_query():
            if (window, query_id) == ("this", "orders_placed"):
                answer(stubber, query_id, bounds, status="Running")
            else:
                answer(stubber, query_id, bounds, rows=plain_rows(query_id))
        answer(stubber, "orders_placed", late, status="Running")  # the second round
        stubber.add_response(
            "stop_query", {"success": True}, {"queryId": f"{epoch(late[0])}-orders_placed"}
        )

    report, sleeps = run_with(setup, clock=lambda: next(ticks))
    assert sleeps == [5]  # one wait between the rounds; none after the deadline
    assert report.failures == ["orders (this week): the query was still running after 60 s"]
    this = report.figures["this"]
    assert this["order_requests"] is None and this["conversion_rate"] is None
    assert this["requests"] == 200 and report.figures["previous"]["order_requests"] == 6
    assert "Orders: ? by ? people (previous week 6 by 5)" in report.message
    assert "Not computed:\n- orders (this week): the query was still running after 60 s" in (
        report.message
    )
    assert report.subject == "Cafe weekly report (cafe): some figures missing"


def test_throttled_starts_are_retried_then_reported() -> None:
    def setup(stubber: Stubber) -> None:
        for window, bounds, query_id in every_query():
            if (window, query_id) == ("this", "totals"):
                # Throttled once, then accepted.
                stubber.add_client_error("start_query", "ThrottlingException", "Rate exceeded")
                expect_start(stubber, bounds, query_id)
            elif (window, query_id) == ("previous", "scanners"):
                for _ in range(weekly_report.START_ATTEMPTS):
                    stubber.add_client_error(
                        "start_query", "LimitExceededException", "Too many concurrent queries"
                    )
            else:
                expect_start(stubber, bounds, query_id)
        for window, bounds, query_id in every_query():
            if (window, query_id) != ("previous", "scanners"):
                answer(stubber, query_id, bounds, rows=plain_rows(query_id))

    report, sleeps = run_with(setup)
    assert sleeps == [1.0, 1.0, 2.0, 4.0]  # totals' retry, then the scanners' three
    assert report.failures == [
        "vulnerability probes (the week before): Logs Insights was throttled "
        "(LimitExceededException)"
    ]
    assert report.queries == 15 and report.figures["this"]["requests"] == 200
    assert report.figures["previous"]["scanner_requests"] is None
    assert "vulnerability probes 5.0%" in report.message  # this week's is there


def test_throttled_result_reads_are_asked_again() -> None:
    def setup(stubber: Stubber) -> None:
        queries = every_query()
        for _window, bounds, query_id in queries:
            expect_start(stubber, bounds, query_id)
        stubber.add_client_error("get_query_results", "ThrottlingException", "Rate exceeded")
        for _window, bounds, query_id in queries[1:]:
            answer(stubber, query_id, bounds, rows=plain_rows(query_id))
        answer(stubber, queries[0][2], queries[0][1], rows=plain_rows(queries[0][2]))

    report, sleeps = run_with(setup)
    assert report.failures == [] and sleeps == [5]
    assert report.figures["this"]["unique_ips"] == 50


def test_a_failed_query_and_every_query_refused() -> None:
    def one_failed(stubber: Stubber) -> None:
        for _window, bounds, query_id in every_query():
            expect_start(stubber, bounds, query_id)
        for window, bounds, query_id in every_query():
            failed = (window, query_id) == ("this", "items_ordered")
            answer(stubber, query_id, bounds, "Failed" if failed else "Complete",
                   rows=plain_rows(query_id))  # fmt: skip

    report, _ = run_with(one_failed)
    assert report.failures == ["top items (this week): the query ended Failed"]
    assert "Top items ordered: ?" in report.message
    assert "Top cities by orders: Seattle 4" in report.message

    def all_refused(stubber: Stubber) -> None:
        for _ in every_query():
            stubber.add_client_error(
                "start_query", "AccessDeniedException", "not authorized to perform logs:StartQuery"
            )

    report, sleeps = run_with(all_refused)
    assert sleeps == []  # not throttling: no retry
    assert report.subject == "Cafe weekly report (cafe): could not be computed"
    assert report.failures == [  # one reason, said once
        "every figure: the query could not start (AccessDeniedException: not authorized to "
        "perform logs:StartQuery)"
    ]
    assert "The report could not be computed:" in report.message
    assert "AccessDeniedException" in report.message and "Orders:" not in report.message
    assert len(report.message.splitlines()) < 10  # short


def test_hostile_log_values_stay_inside_their_line() -> None:
    rows = [
        {"city": "Evil\nSubject: you won\r\x07", "orders": "9"},
        {"city": "x" * 500, "orders": "2"},
        {"city": "-", "orders": "50"},
    ]
    cities = weekly_report.top_cities(rows, 10)
    assert cities[0] == ["Evil Subject: you won", 9]
    assert len(cities[1][0]) == 40 and "\n" not in "".join(c[0] for c in cities)
    assert len(cities) == 2  # "-" is no place
    menu = {item.id: item.name for item in catalog.MENU}
    baskets = [
        # The site refuses the whole order (repeated item, absurd quantity, unknown item):
        # it counts for nothing, as in the insights.
        {"basket": "latte:2,latte:9999999,ghost:3,espresso:x,espresso:1", "orders": "7"},
        {"basket": "latte:2,espresso:1", "orders": "2"},
        {"basket": "mocha:1", "orders": "not a number"},
    ]
    assert weekly_report.items_from_baskets(baskets, menu, 10) == [
        ["latte", 4, 2],
        ["espresso", 2, 2],
        ["mocha", 0, 0],
    ]


def test_the_weeks_do_not_overlap() -> None:
    windows = report_windows(datetime(2026, 11, 23, 7, 0, 0, 500000, tzinfo=timezone.utc))
    assert windows["this"] == (
        datetime(2026, 11, 16, 7, tzinfo=timezone.utc),
        datetime(2026, 11, 23, 7, tzinfo=timezone.utc),
    )
    assert windows["previous"][1] == windows["this"][0] - timedelta(seconds=1)
    assert windows["previous"][0] == windows["this"][0] - timedelta(days=7)


# ------------------------------------------------------------------ the zip, on its own


def test_the_function_code_needs_only_the_standard_library_and_boto3() -> None:
    # The zip holds the handler and the two café modules it shares with the package.
    for module in (weekly_report, catalog, metrics):
        source = Path(module.__file__).read_text(encoding="utf-8")
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
        allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "catalog", "metrics"}
        # `cafepipe` only in the import that falls back to the zip's own copies.
        assert imported - {"__future__", "cafepipe"} <= allowed, module.__name__


def test_the_rendered_zip_runs_its_handler_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(None, SETTINGS_CONFIG, environ={})
    bundle = report_bundle(config)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.namelist() == [
            REPORT_SOURCE,
            "catalog.py",
            "metrics.py",
            weekly_report.CONFIG_FILE,
        ]
        archive.extractall(tmp_path)
    # As in the Lambda runtime: the zip's root is on the path and cafepipe is not installed.
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("cafepipe.cafe.catalog", "cafepipe.cafe.metrics"):
        monkeypatch.setitem(sys.modules, name, None)  # None: "import fails"
    for name in ("catalog", "metrics"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    spec = importlib.util.spec_from_file_location("weekly_report_zipped", tmp_path / REPORT_SOURCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as Lambda's import would
    spec.loader.exec_module(module)
    assert Path(module.__file__).parent == tmp_path  # it reads the settings beside itself
    assert module.parse_basket.__module__ == "catalog"  # the zip's own copy of the rule

    logs, sns = logs_client(), sns_client()
    topic = "arn:aws:sns:us-east-1:123456789012:cafepipe-cafe-alerts"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    windows = module.report_windows(now)
    with Stubber(logs) as logs_stub, Stubber(sns) as sns_stub:
        for window in WINDOWS:
            for query_id in QUERY_IDS:
                logs_stub.add_response("start_query", {"queryId": f"{window}-{query_id}"})
        for window in WINDOWS:
            for query_id in QUERY_IDS:
                logs_stub.add_response(
                    "get_query_results",
                    {"status": "Complete", "results": plain_rows(query_id)},
                    {"queryId": f"{window}-{query_id}"},
                )
        sns_stub.add_response(
            "publish",
            {"MessageId": "m-1"},
            {
                "TopicArn": topic,
                "Subject": "Cafe weekly report (cafe): 6 orders, 25.0% conversion",
                "Message": ANY,
            },
        )
        clients = {"logs": logs, "sns": sns}
        # The handler makes its clients with boto3.client: hand it the stubbed ones.
        monkeypatch.setattr(boto3, "client", lambda service, **_: clients[service])

        class Context:
            def get_remaining_time_in_millis(self) -> int:
                return 180_000

        result = module.handler({"topic_arn": topic}, Context())
        logs_stub.assert_no_pending_responses()
        sns_stub.assert_no_pending_responses()
    assert result == {
        "message_id": "m-1",
        "subject": "Cafe weekly report (cafe): 6 orders, 25.0% conversion",
        "failures": [],
    }
    assert windows["this"][1] == now
    with pytest.raises(ValueError, match="no topic_arn"):
        module.handler({}, Context())


def test_the_zip_is_the_same_bytes_for_the_same_config() -> None:
    config = load_config(None, SETTINGS_CONFIG, environ={})
    assert report_bundle(config) == report_bundle(config)
    other = load_config(None, {**SETTINGS_CONFIG, "timezone": "Asia/Tokyo"}, environ={})
    assert report_bundle(other) != report_bundle(config)
    with zipfile.ZipFile(io.BytesIO(report_bundle(config))) as archive:
        packed = json.loads(archive.read(weekly_report.CONFIG_FILE))
        assert archive.read(REPORT_SOURCE) == Path(weekly_report.__file__).read_bytes()
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    # One catalog: the queries in the zip are the catalog's.
    assert packed["queries"] == {q: INSIGHTS_BY_ID[q].logs_insights for q in QUERY_IDS}
    assert packed["access_log_group"] == "apache/access" and packed["timezone"] == "Europe/Paris"
