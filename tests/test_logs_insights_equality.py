"""Logs Insights on the emulator gives DuckDB's answer, for every insight, on the same events.

A generated week of café traffic (plus hand-written lines for the cases the generator does not
write: Edge on Android and iOS, Opera, an Android tablet, a Chromebook, scripts, a shouting
crawler, the café's own pages as referrer, odd and refused orders, places given as "" or "-")
is shipped to the emulator
with `ship_file`, then `insights --engine cloudwatch` (the catalog's Logs Insights queries, run
by the emulator's evaluator) is compared with `insights --engine duckdb --source logs:<group>`
(the catalog's SQL over the same events pulled back).

`count_distinct` is exact on the emulator; AWS documents it as approximate on fields with very
many distinct values, without a bound. So on AWS the keys that come from it
(`test_logs_insights.APPROXIMATE_ON_AWS`: distinct visitors, menu visitors, purchasers, the
conversion rate, the people by city) may differ from DuckDB's by AWS's estimate; everything else
is exact there too. Here every key must be equal.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cafepipe.aws import AwsClients
from cafepipe.cli import main
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.insights.queries import INSIGHTS, Insight
from cafepipe.logs import ship
from cafepipe.logs.generate import build_options, generate_log

# Visits and the funnel need sessions: no Logs Insights query, compared with the truth instead
# (tests/test_insights_truth.py); the cloudwatch run says so in its meta.
LI_INSIGHTS = tuple(insight for insight in INSIGHTS if insight.logs_insights is not None)

pytestmark = pytest.mark.integration

LINES = 3000

EDGE_CASE_AGENTS = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Mobile Safari/537.36 EdgA/142.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) EdgiOS/142.0 Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36 OPR/124.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "FxiOS/145.0 Mobile/15E148 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; SM-X910) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36",
    "Wget/1.21.4",
    "Java/17.0.2",
    "MEGA-CRAWLER/1.0 (+https://example.com)",
    "café-bot/1.0",
    "-",
)


def _line(moment: datetime, **fields: str) -> str:
    line = {
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "process": "1500",
        "filename": "/var/www/html/cafe/index.php",
        "remoteIP": "203.0.113.7",
        "host": "cafe.example.com",
        "request": "/cafe",
        "query": "",
        "method": "GET",
        "status": "200",
        "bytes": "512",
        "userAgent": "Mozilla/5.0",
        "referer": "-",
        "country": "US",
        "region": "Washington",
        "city": "Seattle",
        "lat": "47.6",
        "lon": "-122.3",
        **fields,
    }
    return json.dumps(line, ensure_ascii=False)


def edge_case_lines(start: datetime) -> list[str]:
    """Valid lines for what the generator does not write (see the module docstring)."""
    at = [start + timedelta(minutes=minute) for minute in range(40)]
    lines = [
        _line(at[i], userAgent=agent, remoteIP=f"198.51.100.{i}")
        for i, agent in enumerate(EDGE_CASE_AGENTS)
    ]
    order = {"request": "/cafe/processOrder.php", "method": "POST"}
    lines += [
        _line(at[20], referer="https://cafe.example.com/cafe/menu.php", request="/cafe/menu.php"),
        _line(at[21], referer="https://WWW.Example.ORG/page"),
        _line(at[22], referer="https://blog.example.net/cafe/review"),
        _line(at[23], referer="HTTP://news.example.net:8080/x?y#z"),
        _line(
            at[24],
            **order,
            query="?note=x&items=latte:2,ghost:3,croissant:x,mocha:1",
            city="São Paulo",
            region="São Paulo",
            country="BR",
        ),
        _line(at[25], **order, query="?xitems=latte:9", city="-", region="", country="-"),
        _line(at[26], request="/cafe/item.php", query="?id=ghost"),
        _line(at[27], request="/cafe/menu.php", city="", region="-"),
        _line(at[28], request="/cafe/menu.php", city="Zürich", region="Zürich", country="CH"),
        _line(at[29], request="/cafe/missing.php", status="404", bytes="0"),
        _line(at[30], request="/cafe/boom.php", status="503", process="987654"),
        _line(at[31], query="?utm_source=mail&utm_campaign=only-two"),
        _line(at[32], request="/2024", status="301"),
        # Refused orders are no orders (400: a basket the site does not take; 405: a GET), and a
        # city with refused orders only; two items= parameters: an order, but no basket.
        _line(at[33], **order, status="400", query="?items=latte:99", city="Reykjavík"),
        _line(at[34], request="/cafe/processOrder.php", status="405", city="Reykjavík"),
        _line(at[35], **order, query="?items=latte:1&items=mocha:2"),
    ]
    return lines


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorInfo) -> tuple[str, int]:
    """A log group holding the generated week and the edge cases, as the agent delivers them;
    and how many events it holds."""
    folder = tmp_path_factory.mktemp("equality")
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    options = build_options(lines=LINES, start=end - timedelta(days=6), end=end, seed=13)
    path = folder / "access_log"
    generate_log(options, path)
    edge_cases = edge_case_lines(end - timedelta(days=3))
    with path.open("a", encoding="utf-8") as log:
        log.write("\n".join(edge_cases) + "\n")
    logs = AwsClients("us-east-1", emulator.url).client("logs")
    group = f"equality/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    result = ship.ship_file(logs, path, group, "i-0123456789abcdef0")
    assert result.events_sent == LINES + len(edge_cases), result
    return group, LINES + len(edge_cases)


def insights_json(emulator: EmulatorInfo, args: list[str], capsys: Any) -> dict[str, Any]:
    with pytest.raises(SystemExit) as stopped:
        main(["--endpoint-url", emulator.url, "insights", *args, "--format", "json"])
    out, err = capsys.readouterr()
    assert stopped.value.code in (0, None), err
    answer: dict[str, Any] = json.loads(out)
    return answer


def keys_of(insight: Insight) -> list[str]:
    """The insights-JSON keys an insight fills."""
    return list(insight.columns) if insight.shape == "fields" else [insight.id]


def test_logs_insights_equals_duckdb_for_every_insight(
    delivered: tuple[str, int], emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    group, events = delivered
    source = ["--source", f"logs:{group}"]
    cloud = insights_json(emulator, ["--engine", "cloudwatch", "--since", "7d", *source], capsys)
    local = insights_json(emulator, ["--engine", "duckdb", *source], capsys)

    assert local["meta"]["lines"] == events
    assert local["invalid_lines"] == cloud["invalid_lines"] == 0
    differing = {
        key: {"logs insights": cloud.get(key), "duckdb": local.get(key)}
        for insight in LI_INSIGHTS
        for key in keys_of(insight)
        if cloud.get(key) != local.get(key)
    }
    assert not differing, json.dumps(differing, indent=1, ensure_ascii=False)
    assert cloud["conversion_rate"] == local["conversion_rate"]
    # Every insight has an answer to compare: none is an empty list or all zeros.
    for insight in LI_INSIGHTS:
        for key in keys_of(insight):
            value = local[key]
            assert value and (not isinstance(value, list) or any(value)), key
    skipped = [insight.id for insight in INSIGHTS if insight.logs_insights is None]
    assert cloud["meta"]["not_computed"]["insights"] == skipped
    assert not [key for i in INSIGHTS if i.id in skipped for key in keys_of(i) if key in cloud]
    # The fixed classifications, on the hand-written agents.
    browsers = {row["browser"]: row["requests"] for row in cloud["browsers"]}
    assert browsers["Edge"] >= 2 and browsers["Opera"] == 1
    devices = {row["device"] for row in cloud["devices"]}
    assert {"Tablet", "Phone", "Computer", "Bot or crawler", "Other"} <= devices
    # What Logs Insights scanned: every delivered event, priced.
    assert cloud["meta"]["records_scanned"] == len(LI_INSIGHTS) * events
    assert cloud["meta"]["bytes_scanned"] > 0 and cloud["meta"]["cost_usd"] >= 0


def test_the_dashboard_queries_run_on_the_emulator(
    delivered: tuple[str, int], emulator: EmulatorInfo, tmp_path: Path
) -> None:
    """Each widget's query, as the dashboard has it (with its `limit`), runs and answers."""
    from cafepipe.config import load_config
    from cafepipe.deploy.dashboard import dashboard_body

    logs = AwsClients("us-east-1", emulator.url).client("logs")
    group, _ = delivered
    config = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    now = int(datetime.now(timezone.utc).timestamp())
    widgets = [w for w in dashboard_body(config)["widgets"] if w["type"] == "log"]
    assert len(widgets) == len(LI_INSIGHTS)
    for widget in widgets:
        query = widget["properties"]["query"].split(" | ", 1)[1]  # without SOURCE '<group>'
        started = logs.start_query(
            logGroupName=group, startTime=now - 7 * 86400, endTime=now, queryString=query
        )
        answer = logs.get_query_results(queryId=started["queryId"])
        assert answer["status"] == "Complete", widget["properties"]["title"]
        assert answer["results"], widget["properties"]["title"]
        if widget["properties"]["view"] == "pie":
            assert len(answer["results"]) <= 10
