"""The DuckDB engine on small hand-written logs: every number checked by hand."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from cafepipe.cafe import geography
from cafepipe.errors import UsageError
from cafepipe.insights import compute_insights, parse_since
from cafepipe.insights.duckdb_engine import detect_format, load_log, run_catalog
from cafepipe.insights.queries import INSIGHTS, SECTIONS, VIEWS, reads_visits
from cafepipe.insights.summary import summarize

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _json_line(**fields: object) -> str:
    base: dict[str, object] = {
        "time": "2026-11-20T08:15:00.123Z",
        "process": 1500,
        "filename": "/var/www/html/cafe/menu.php",
        "remoteIP": "1.1.1.1",
        "host": "cafe.example",
        "request": "/cafe/menu.php",
        "query": "",
        "method": "GET",
        "status": 200,
        "userAgent": CHROME,
        "referer": "-",
        "bytes": 1000,
        "country": "US",
        "region": "Washington",
        "city": "Seattle",
    }
    base.update(fields)
    return json.dumps(base)


def json_log_lines() -> list[str]:
    """7 valid lines, 6 malformed ones (a NUL run is one), one blank line (not a line at all)."""
    iphone_line = _json_line(
        remoteIP="1.1.1.2",
        time="2026-11-20T09:00:00Z",
        city="Portland",
        region="Oregon",
        bytes=500,
        process=2500,
    )
    iphone_line = iphone_line.replace('"userAgent": "' + CHROME, '"useragent": "' + IPHONE)
    # Apache writes bytes it may not put in JSON as \xhh: not valid JSON, still a request.
    escaped = _json_line(remoteIP="1.1.1.3", userAgent="Caf\u00e9Agent").replace(
        "Caf\\u00e9Agent", "Caf\\xc3\\xa9Agent"
    )
    return [
        _json_line(),
        iphone_line,
        _json_line(
            request="/cafe/processOrder.php",
            query="?items=latte:2,croissant:1",
            method="POST",
            time="2026-11-20T08:20:00Z",
            bytes=200,
            process=9000,
        ),
        _json_line(
            remoteIP="1.1.1.2",
            request="/cafe/item.php",
            query="?id=latte&utm_source=news",
            userAgent=IPHONE,
            referer="https://news.example.org/story",
            city="Portland",
            region="Oregon",
        ),
        _json_line(
            remoteIP="66.249.66.1",
            request="/cafe",
            status=304,
            userAgent=GOOGLEBOT,
            bytes=0,
            city="Mountain View",
            region="California",
        ),
        _json_line(
            remoteIP="45.148.10.9",
            request="/.env",
            status=404,
            userAgent="curl/8.0",
            time="2026-11-21T23:59:59Z",
            country="NL",
            region="North Holland",
            city="Amsterdam",
        ),
        escaped,
        _json_line()[:80],  # truncated
        "\x00\x01binary junk \x7f",  # the NUL is an invalid line, the rest another
        _json_line(status="abc"),  # wrong type
        json.dumps({"time": "2026-11-20T08:15:00Z", "request": "/cafe", "status": 200}),
        "[1, 2, 3]",
        "",
    ]


@pytest.fixture
def json_log(tmp_path: Path) -> Path:
    path = tmp_path / "access_log"
    path.write_text("\n".join(json_log_lines()) + "\n", encoding="utf-8")
    return path


def insights_of(path: Path, log_format: str = "auto") -> dict:
    loaded = load_log(path, log_format)
    return summarize(run_catalog(loaded), loaded.invalid_lines)


def test_json_log_design_keys(json_log: Path) -> None:
    data = insights_of(json_log)
    assert data["requests"] == 7
    assert data["invalid_lines"] == 6
    assert data["bytes"] == 1000 + 500 + 200 + 1000 + 0 + 1000 + 1000
    assert data["unique_ips"] == 5
    assert data["status_classes"] == {"2xx": 5, "3xx": 1, "4xx": 1, "5xx": 0}
    assert data["top_paths"] == [
        ["/cafe/menu.php", 3],
        ["/.env", 1],
        ["/cafe", 1],
        ["/cafe/item.php", 1],
        ["/cafe/processOrder.php", 1],
    ]
    assert data["menu_views"] == 3
    assert data["order_requests"] == 1
    assert data["menu_visitors"] == 3
    assert data["purchasers"] == 1
    assert data["conversion_rate"] == 0.3333
    # Every place seen counts, with or without menu views; ties by name.
    assert data["by_city"] == [
        ["Seattle", 2, 1],
        ["Portland", 1, 0],
    ]  # Googlebot's Mountain View and the scanner's Amsterdam are no customers' places
    assert data["by_region"] == [["Washington", 2, 1], ["Oregon", 1, 0]]
    assert data["by_country"] == [["US", 3, 1]]
    hourly = [0] * 24
    hourly[8], hourly[9], hourly[23] = 5, 1, 1
    assert data["hourly"] == hourly
    assert data["bot_requests"] == 1
    assert data["scanner_requests"] == 1


def test_json_log_other_answers(json_log: Path) -> None:
    data = insights_of(json_log)
    assert data["top_items_viewed"] == [["latte", 1]]
    assert data["items_ordered"] == [["latte", 2, 1], ["croissant", 1, 1]]
    assert data["campaigns"] == [["news", "", "", 1]]
    assert data["referrers"] == [["news.example.org", 1]]
    assert data["weekday"] == [0, 0, 0, 0, 6, 1, 0]  # 2026-11-20 is a Friday
    assert data["daily"] == [["2026-11-20", 6, 4], ["2026-11-21", 1, 1]]
    assert data["scanner_addresses"] == [["45.148.10.9", 1]]
    assert data["top_bots"] == [["bot", 1]]
    # curl and the escaped agent are neither browsers nor bots.
    assert data["devices"] == [["Computer", 2], ["Other", 2], ["Phone", 2], ["Bot or crawler", 1]]
    assert data["browsers"] == [
        ["Chrome", 2],
        ["Safari", 2],
        ["Bot or crawler", 1],
        ["Other", 1],
        ["Script", 1],
    ]
    slowest = data["slowest_pages"]
    assert slowest[0] == ["/cafe/processOrder.php", 1, 9.0, 9.0]
    assert data["errors"] == [["/.env", 404, 1]]


def test_escaped_json_line_is_repaired(json_log: Path) -> None:
    loaded = load_log(json_log)
    agents = [
        row[0]
        for row in loaded.connection.execute(
            "SELECT useragent FROM logs WHERE remoteip = '1.1.1.3'"
        ).fetchall()
    ]
    assert agents == ["CaféAgent"]  # the \\xhh bytes are UTF-8, decoded as the logger does


def combined_line(ip: str, when: str, request: str, status: int, size: str, ua: str) -> str:
    return f'{ip} - - [{when}] "{request}" {status} {size} "-" "{ua}"'


def test_combined_log_with_odd_lines(tmp_path: Path) -> None:
    seattle = geography.CITY_BLOCKS[geography.CITY_INDEX["Seattle"]][0]
    seattle_ip = f"{seattle[0]}.{seattle[1]}.3.4"
    lines = [
        combined_line(
            seattle_ip,
            "20/Nov/2026:08:15:00 +0000",
            "GET /cafe/menu.php HTTP/1.1",
            200,
            "1000",
            CHROME,
        ),
        # A time zone east of UTC: 01:30 +0200 is 23:30 UTC the day before.
        combined_line(
            seattle_ip,
            "21/Nov/2026:01:30:00 +0200",
            "POST /cafe/processOrder.php?items=mocha:3 HTTP/1.1",
            200,
            "-",
            CHROME,
        ),
        # Apache's \" inside the user agent and the request.
        combined_line(
            "2.2.2.2",
            "20/Nov/2026:08:15:00 +0000",
            'GET /a\\"b HTTP/1.1',
            404,
            "10",
            'Evil \\"quoted\\" agent',
        ),
        # Common log format (no referer, no agent).
        '3.3.3.3 - - [20/Nov/2026:10:00:00 +0000] "GET /cafe HTTP/1.0" 200 50',
        combined_line(
            "66.249.66.9", "20/Nov/2026:10:00:00 +0000", "GET /cafe HTTP/1.1", 200, "70", GOOGLEBOT
        ),
        # Truncated inside a quoted field: the next line must survive it.
        '4.4.4.4 - - [20/Nov/2026:10:00:00 +0000] "GET /trunc HTTP/1.1" 200 5 "-" "Mozilla/5.0 (Wi',
        combined_line(
            "5.5.5.5",
            "20/Nov/2026:11:00:00 +0000",
            "GET /wp-login.php HTTP/1.1",
            404,
            "0",
            "Mozilla/5.0",
        ),
        "garbage that is no log line",
        '6.6.6.6 - - [99/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"',  # bad time
        '7.7.7.7 - - [20/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" abc 5 "-" "x"',  # bad status
    ]
    path = tmp_path / "access.log"
    # The NUL splits the junk: three invalid lines (before it, the NUL run, after it).
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\x00 junk\n")
    data = insights_of(path)
    assert data["requests"] == 7
    assert data["invalid_lines"] == 3 + 3
    assert data["bytes"] == 1000 + 0 + 10 + 50 + 70 + 5 + 0
    assert data["top_paths"][0] == ["/cafe", 2]
    assert ['/a"b', 1] in data["top_paths"]
    assert data["hourly"][23] == 1 and data["hourly"][8] == 2
    assert data["by_city"] == [["Seattle", 1, 1]]  # not Googlebot's Mountain View
    assert data["items_ordered"] == [["mocha", 3, 1]]
    assert data["bot_requests"] == 1
    assert data["scanner_requests"] == 1
    assert data["purchasers"] == 1 and data["menu_visitors"] == 1
    assert data["conversion_rate"] == 1.0


def test_combined_places_follow_cafepipe_geo(tmp_path: Path) -> None:
    addresses = [f"{a}.{b}.9.9" for blocks in geography.CITY_BLOCKS for a, b in blocks]
    addresses += [f"{prefix}.7" for prefix in geography.NETWORK_CITIES] + ["10.0.0.1"]
    path = tmp_path / "access.log"
    path.write_text(
        "".join(
            combined_line(ip, "20/Nov/2026:08:15:00 +0000", "GET /cafe HTTP/1.1", 200, "1", "x")
            + "\n"
            for ip in addresses
        )
    )
    loaded = load_log(path)
    cities = dict(loaded.connection.execute("SELECT remoteip, city FROM logs").fetchall())
    for ip in addresses:
        place = geography.city_for_ip(ip)
        assert cities[ip] == (place.name if place else None), ip


def test_gzip_and_format_detection(tmp_path: Path, json_log: Path) -> None:
    packed = tmp_path / "access_log.json.gz"
    packed.write_bytes(gzip.compress(json_log.read_bytes()))
    assert detect_format(packed) == "json"
    assert insights_of(packed) == insights_of(json_log)
    # Forcing the wrong format makes every line unreadable, never crashes.
    wrong = insights_of(json_log, "combined")
    assert wrong["requests"] == 0 and wrong["invalid_lines"] == 13


def test_crlf_line_ends(tmp_path: Path) -> None:
    line = combined_line(
        "1.2.3.4", "20/Nov/2026:08:15:00 +0000", "GET /cafe HTTP/1.1", 200, "5", "x"
    )
    path = tmp_path / "windows.log"
    path.write_bytes(((line + "\r\n") * 3).encode())
    data = insights_of(path)
    assert data["requests"] == 3 and data["invalid_lines"] == 0


def test_since_keeps_recent_lines(json_log: Path) -> None:
    loaded = load_log(json_log, since=parse_since("2026-11-21"))
    data = summarize(run_catalog(loaded), loaded.invalid_lines)
    assert data["requests"] == 1
    assert data["top_paths"] == [["/.env", 1]]


def test_parse_since() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    assert parse_since("7d", now) == datetime(2026, 11, 20, 12, 0)
    assert parse_since("36h", now) == datetime(2026, 11, 26, 0, 0)
    assert parse_since("2026-11-01T00:00:00+01:00", now) == datetime(2026, 10, 31, 23, 0)
    assert parse_since(None, now) is None
    with pytest.raises(UsageError, match="--since 'yesterday'"):
        parse_since("yesterday", now)


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        compute_insights(str(tmp_path / "missing.log"), None, "apache/access", None)
    with pytest.raises(UsageError, match="no log to analyse"):
        compute_insights(None, None, "apache/access", None)
    with pytest.raises(UsageError, match="athena reads the stack's data lake, not --source"):
        compute_insights("x.log", None, "apache/access", None, engine="athena")
    with pytest.raises(UsageError, match="athena needs AWS access"):
        compute_insights(None, None, "apache/access", None, engine="athena")
    with pytest.raises(UsageError, match="reads a log group"):
        compute_insights("x.log", None, "apache/access", None, engine="cloudwatch")
    with pytest.raises(UsageError, match="s3://bucket/key"):
        compute_insights("s3://only-bucket", None, "apache/access", None)


def test_catalog_is_complete() -> None:
    ids = [insight.id for insight in INSIGHTS]
    assert len(ids) == len(set(ids))
    assert {insight.section for insight in INSIGHTS} == set(SECTIONS)
    for insight in INSIGHTS:
        assert insight.view in VIEWS, insight.id
        assert insight.title and insight.description
        # Visits (sessions) have no Logs Insights query: DuckDB and Athena only.
        assert bool(insight.logs_insights) != reads_visits(insight.sql), insight.id
        assert "'" not in (insight.logs_insights or ""), insight.id  # Logs Insights quotes with "


def test_customer_cities_leave_bots_and_scanners_out(tmp_path: Path) -> None:
    """The expansion question: people, not crawlers, per city; distinct addresses counted once."""
    lines = [
        _json_line(remoteIP="2.0.0.1"),  # Seattle, menu
        _json_line(remoteIP="2.0.0.1"),  # the same person again: still one visitor
        _json_line(remoteIP="2.0.0.2"),
        _json_line(remoteIP="2.0.0.2", request="/cafe/processOrder.php", method="POST"),
        _json_line(remoteIP="2.0.0.2", request="/cafe/processOrder.php", method="POST"),
        _json_line(remoteIP="2.0.0.3", city="Portland", region="Oregon"),
        # Googlebot reads the menu from Mountain View many times: not a customer.
        *[_json_line(remoteIP="66.249.0.1", city="Mountain View", userAgent=GOOGLEBOT)] * 5,
        # A scanner probing from Chicago: not a customer either.
        _json_line(remoteIP="9.9.9.9", city="Chicago", request="/wp-login.php", status=404),
    ]
    path = tmp_path / "customers.json"
    path.write_text("\n".join(lines) + "\n")
    data = insights_of(path)
    assert data["customer_cities"] == [["Seattle", 2, 1, 2], ["Portland", 1, 0, 0]]
    # The places rank customers too: Googlebot's menu views are not Mountain View's.
    assert data["by_city"] == [["Seattle", 3, 2], ["Portland", 1, 0]]


def test_customer_cities_from_logs_insights_rows() -> None:
    from cafepipe.insights.cloudwatch_engine import result_rows
    from cafepipe.insights.queries import INSIGHTS

    insight = next(i for i in INSIGHTS if i.id == "customer_cities")

    def row(city: str, request: str, people: int, requests: int) -> list[dict[str, str]]:
        values = {"city": city, "request": request, "people": people, "requests": requests}
        return [{"field": k, "value": str(v)} for k, v in values.items()]

    results = [
        row("Seattle", "/cafe/menu.php", 2, 3),
        row("Portland", "/cafe/menu.php", 1, 1),
        row("Seattle", "/cafe/processOrder.php", 1, 2),
        row("-", "/cafe/menu.php", 9, 9),
    ]
    assert result_rows(insight, results) == [["Seattle", 2, 1, 2], ["Portland", 1, 0, 0]]
