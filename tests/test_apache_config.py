"""The rendered Apache config and café site in a real Apache (Debian apache2 + mod_php).

Apache runs unprivileged on a free loopback port with its own ServerRoot, serves the rendered
site, and writes the JSON `cloudwatch` access log through its piped logger; every line must
parse and carry every key, with the values the requests imply (tests/test_access_log_json.py
has the hostile requests).
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from apache_harness import NEEDS_APACHE, Apache, serve

from cafepipe.cafe import catalog
from cafepipe.config import StackConfig
from cafepipe.deploy.render import agent_config

pytestmark = NEEDS_APACHE


LOG_KEYS = {
    "time", "process", "filename", "remoteIP", "host", "request", "query", "method", "status",
    "bytes", "userAgent", "referer", "country", "region", "city", "lat", "lon",
}  # fmt: skip
GEO_HEADERS = {
    "CloudFront-Viewer-Country": "US",
    "CloudFront-Viewer-Country-Region-Name": "Washington",
    "CloudFront-Viewer-City": "Seattle",
    "CloudFront-Viewer-Latitude": "47.60621",
    "CloudFront-Viewer-Longitude": "-122.33207",
}
# Bytes Apache writes as \xhh, which the piped logger decodes as UTF-8.
NON_ASCII_AGENT = "Mozilla/5.0 (café-bot)".encode()


class ApacheSite(Apache):
    """The site, asked through http.client."""

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str | bytes] | None = None,
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, path)
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()


@pytest.fixture
def apache() -> Iterator[ApacheSite]:
    """The site as served straight from its public IP (site_access = "public-ip")."""
    with serve(ApacheSite, behind_cloudfront=False) as site:
        yield site


@pytest.fixture
def apache_behind_cloudfront() -> Iterator[ApacheSite]:
    """The site as served behind CloudFront (site_access = "cloudfront", the default)."""
    with serve(ApacheSite, behind_cloudfront=True) as site:
        yield site


def _read_log_lines(path: Path, expected: int) -> list[str]:
    # Apache writes each line when the request ends, through the piped logger (which creates
    # the file once it has started); give the last one a moment.
    deadline = time.monotonic() + 5
    lines: list[str] = []
    while time.monotonic() < deadline:
        if path.is_file():
            lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
        if len(lines) >= expected:
            break
        time.sleep(0.05)
    return lines


def _agent_timestamp(line: str, timestamp_format: str) -> datetime:
    """Find and parse the event time the way the CloudWatch agent does.

    The agent turns `timestamp_format` into a regex (its TimeFormatRexMap), takes the first
    match in the line, and parses it with the same format.
    """
    regex = re.escape(timestamp_format)
    for directive, pattern in (
        ("%Y", r"\d{4}"), ("%m", r"\d{2}"), ("%d", r"\d{2}"), ("%H", r"\d{2}"),
        ("%M", r"\d{2}"), ("%S", r"\d{2}"), ("%f", r"\d{1,9}"),
    ):  # fmt: skip
        regex = regex.replace(re.escape(directive), pattern)
    match = re.search(regex, line)
    assert match, f"the agent's timestamp_format {timestamp_format!r} finds no time in {line!r}"
    return datetime.strptime(match.group(0), timestamp_format).replace(tzinfo=timezone.utc)


def test_json_access_log_from_a_real_apache(apache: ApacheSite) -> None:
    started = datetime.now(timezone.utc)
    order_query = catalog.order_query([("latte", 2), ("croissant", 1)])
    checks: list[tuple[str, str, dict[str, str | bytes], int]] = [
        ("GET", catalog.HOME_PATH, {}, 200),
        ("GET", catalog.MENU_PATH, {**GEO_HEADERS, "Referer": "https://example.com/"}, 200),
        ("GET", f"{catalog.ITEM_PATH}?id=latte", {}, 200),
        ("GET", f"{catalog.ITEM_PATH}?id=no-such-thing", {}, 404),
        ("POST", catalog.ORDER_PATH + order_query, {"Content-Length": "0"}, 200),
        ("GET", catalog.ORDER_PATH, {}, 405),
        ("POST", catalog.ORDER_PATH + "?items=nothing:1", {"Content-Length": "0"}, 400),
        ("GET", "/cafe/inc/catalog.php", {}, 403),
        ("GET", catalog.ABOUT_PATH, {"User-Agent": 'Mozilla/5.0 "quoted" agent'}, 200),
        ("GET", catalog.MENU_PATH, {"User-Agent": NON_ASCII_AGENT}, 200),
        *[("GET", asset, {}, 200) for asset in catalog.ASSETS],
        ("GET", catalog.item_image_path(catalog.MENU[0]), {}, 200),
    ]
    bodies = {}
    for method, path, headers, expected_status in checks:
        status, body = apache.request(method, path, headers)
        assert status == expected_status, f"{method} {path}: {status}\n{body[:500]}"
        bodies[(method, path)] = body
    # The site really works: the order page computes the total from the catalog.
    assert "$12.25" in bodies[("POST", catalog.ORDER_PATH + order_query)]
    assert "Caffè Latte" in bodies[("GET", f"{catalog.ITEM_PATH}?id=latte")]

    lines = _read_log_lines(apache.access_log, len(checks))
    assert len(lines) == len(checks)
    records = [json.loads(line) for line in lines]  # the piped logger wrote strict JSON
    assert "Mozilla/5.0 (café-bot)" in {r["userAgent"] for r in records}
    assert all(set(record) == LOG_KEYS for record in records)

    by_request = {(r["method"], r["request"], r["query"]): r for r in records}
    home = by_request[("GET", catalog.HOME_PATH, "")]
    assert home["status"] == "200"  # /cafe itself, not a redirect to /cafe/
    assert home["filename"].endswith("/cafe/index.php")
    order = by_request[("POST", catalog.ORDER_PATH, order_query)]
    assert order["status"] == "200" and int(order["bytes"]) > 0
    geo = next(r for r in records if r["country"] != "-")
    assert (geo["request"], geo["city"], geo["region"]) == (
        catalog.MENU_PATH,
        "Seattle",
        "Washington",
    )
    assert (geo["lat"], geo["lon"], geo["referer"]) == (
        "47.60621",
        "-122.33207",
        "https://example.com/",
    )
    quoted = next(r for r in records if "quoted" in r["userAgent"])
    assert quoted["userAgent"] == 'Mozilla/5.0 "quoted" agent'
    assert {r["remoteIP"] for r in records} == {"127.0.0.1"}

    # "time" is UTC with milliseconds, and the agent's timestamp_format reads exactly it.
    access_entry = agent_config(StackConfig())["logs"]["logs_collected"]["files"]["collect_list"][0]
    for record in records:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    for record_line in lines:
        parsed = _agent_timestamp(record_line, access_entry["timestamp_format"])
        assert (
            started - timedelta(seconds=2)
            <= parsed
            <= datetime.now(timezone.utc) + timedelta(seconds=2)
        )
        assert parsed.isoformat(timespec="milliseconds").replace("+00:00", "Z") in record_line

    # The usual combined log is written too.
    combined = _read_log_lines(apache.combined_log, len(checks))
    assert len(combined) == len(checks) and '"GET /cafe HTTP/1.1" 200' in combined[0]


def test_behind_cloudfront_the_visitor_is_the_last_forwarded_address(
    apache_behind_cloudfront: ApacheSite, apache: ApacheSite
) -> None:
    """CloudFront appends the visitor to X-Forwarded-For; what comes before can be forged."""
    cases = [
        ({"X-Forwarded-For": "198.51.100.23"}, "198.51.100.23"),
        ({"X-Forwarded-For": "10.9.9.9, 203.0.113.7"}, "203.0.113.7"),  # forged first entry
        ({"X-Forwarded-For": "1.2.3.4,2001:db8::5 "}, "2001:db8::5"),
        ({}, "127.0.0.1"),  # no header: the peer
    ]
    for headers, _ in cases:
        status, _body = apache_behind_cloudfront.request("GET", catalog.HOME_PATH, headers)
        assert status == 200
    lines = _read_log_lines(apache_behind_cloudfront.access_log, len(cases))
    assert [json.loads(line)["remoteIP"] for line in lines] == [ip for _, ip in cases]
    # Served straight from its own address, the header is the visitor's to forge: ignored.
    apache.request("GET", catalog.HOME_PATH, {"X-Forwarded-For": "198.51.100.23"})
    (line,) = _read_log_lines(apache.access_log, 1)
    assert json.loads(line)["remoteIP"] == "127.0.0.1"


def _post(site: ApacheSite, path: str, form: str = "") -> tuple[int, str]:
    """POST with a form body (what the menu sends without its script)."""
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", path, body=form.encode(), headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


# (query, form body) the site must refuse with 400: nothing the menu page would send.
REFUSED_ORDERS = [
    ("?items=latte:0", ""),
    (f"?items=latte:{catalog.MAX_QUANTITY + 1}", ""),
    ("?items=latte:99999999999999999999", ""),
    ("?items=latte:-1", ""),
    ("?items=latte:1.5", ""),
    ("?items=latte:01", ""),
    ("?items=latte:+1", ""),
    ("?items=latte:%C2%B2", ""),  # a superscript two: a digit to some parsers
    ("?items=latte:2%0A", ""),
    ("?items=latte%3A2", ""),  # the page never encodes; the log would not show the item
    ("?items=latte:", ""),
    ("?items=latte", ""),
    ("?items=bogus:1", ""),
    ("?items=latte:1,latte:2", ""),
    ("?items=latte:2,", ""),
    ("?items=", ""),
    ("?items=latte:1&items=mocha:1", ""),
    ("?items[]=latte:1", ""),
    ("", ""),
    ("", "latte=0&mocha=0"),
    ("", f"latte={catalog.MAX_QUANTITY + 1}"),
    ("", "latte=abc"),
    ("", "latte[]=2"),
    ("", "latte=-3"),
]


def test_the_site_validates_orders_on_the_server(apache: ApacheSite) -> None:
    """Only orders the menu page can send are taken; the rest get a 400 page and are no order."""
    from cafepipe.insights.duckdb_engine import load_log, run_catalog
    from cafepipe.insights.summary import summarize

    accepted = [
        (f"?items=latte:{catalog.MAX_QUANTITY},croissant:1", "", "$93.25"),
        ("?utm_source=news&items=mocha:3", "", "$14.85"),
        ("", "latte=2&mocha=0&cheesecake=", "$9.00"),  # the form, without the script
    ]
    for query, form, total in accepted:
        status, body = _post(apache, catalog.ORDER_PATH + query, form)
        assert status == 200 and "Thank you" in body and total in body, (query, form, body)
    for query, form in REFUSED_ORDERS:
        status, body = _post(apache, catalog.ORDER_PATH + query, form)
        assert status == 400, (query, form, status)
        assert "We could not take this order" in body and "Thank you" not in body, (query, form)
        assert "<h1>" in body and "</html>" in body  # a whole page, not a PHP warning

    # The log holds every request; the insights count the accepted ones as orders.
    lines = _read_log_lines(apache.access_log, len(accepted) + len(REFUSED_ORDERS))
    assert len(lines) == len(accepted) + len(REFUSED_ORDERS)
    loaded = load_log(apache.access_log)
    data = summarize(run_catalog(loaded), loaded.invalid_lines)
    assert data["invalid_lines"] == 0
    assert data["top_paths"] == [[catalog.ORDER_PATH, len(accepted) + len(REFUSED_ORDERS)]]
    assert data["order_requests"] == len(accepted) and data["purchasers"] == 1
    assert data["status_classes"]["4xx"] == len(REFUSED_ORDERS)
    # The form's order is not in its query: only the two baskets the log shows are items.
    assert data["items_ordered"] == [
        ["latte", catalog.MAX_QUANTITY, 1],
        ["mocha", 3, 1],
        ["croissant", 1, 1],
    ]
