"""Customer rankings mean customers: robots and scanner probes left out, in both engines.

One hand-made log — two customers, a crawler that opens the home page, the menu, item pages and
even "orders", and a scanner probing with a referer and a campaign tag — is answered by DuckDB
(the SQL) and by the Logs Insights evaluator (the emulator's engine, the catalog's own queries),
and both must give the rows worked out by hand. The item page's id is read as the site's PHP
reads `$_GET['id']`: the last `id` of the query string.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cafepipe.deploy.logs_insights import Event, run_query
from cafepipe.insights.cloudwatch_engine import engine_query, result_rows
from cafepipe.insights.duckdb_engine import load_log, run_catalog
from cafepipe.insights.queries import INSIGHTS_BY_ID, ITEM_ID_PATTERN, extract_sql

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SEATTLE = {"city": "Seattle", "region": "Washington", "country": "US"}
PORTLAND = {"city": "Portland", "region": "Oregon", "country": "US"}
MOUNTAIN_VIEW = {"city": "Mountain View", "region": "California", "country": "US"}
AMSTERDAM = {"city": "Amsterdam", "region": "North Holland", "country": "NL"}

SPRING = "utm_medium=social&utm_campaign=spring"
# (time, address, agent, place, path, query, status, referer)
ALICE = ("203.0.113.10", CHROME, SEATTLE)
BOB = ("203.0.113.20", IPHONE, PORTLAND)
CRAWLER = ("66.249.66.1", GOOGLEBOT, MOUNTAIN_VIEW)
SCANNER = ("45.148.10.9", "curl/8.0", AMSTERDAM)
LINES: tuple[tuple[Any, ...], ...] = (
    # Alice, Friday 20 November: home, menu, item pages, one order.
    ("2026-11-20T08:00:00Z", *ALICE, "/cafe", "", 200, "-"),
    ("2026-11-20T08:01:00Z", *ALICE, "/cafe/menu.php", "", 200, "-"),
    ("2026-11-20T08:02:00Z", *ALICE, "/cafe/item.php", "?id=latte&id=mocha", 200, "-"),  # mocha
    ("2026-11-20T08:03:00Z", *ALICE, "/cafe/item.php", "?x=1&id=mocha&idx=2", 200, "-"),  # mocha
    ("2026-11-20T08:04:00Z", *ALICE, "/cafe/item.php", "?id=latte&id", 404, "-"),  # no id
    ("2026-11-20T08:05:00Z", *ALICE, "/cafe/item.php", "?id=latte&id[]=mocha", 404, "-"),  # none
    ("2026-11-20T08:06:00Z", *ALICE, "/cafe/processOrder.php", "?items=mocha:1", 200, "-"),
    # Bob, Saturday 21 November: from a campaign and a news site, two item pages, one order.
    ("2026-11-21T09:00:00Z", *BOB, "/cafe", f"?utm_source=news&{SPRING}", 200,
     "https://news.example.org/story"),
    ("2026-11-21T09:01:00Z", *BOB, "/cafe/menu.php", "", 200, "-"),
    ("2026-11-21T09:02:00Z", *BOB, "/cafe/item.php", "?id=croissant", 200, "-"),
    ("2026-11-21T09:03:00Z", *BOB, "/cafe/item.php", "?id=latte", 200, "-"),
    ("2026-11-21T09:04:00Z", *BOB, "/cafe/processOrder.php", "?items=croissant:2", 200, "-"),
    # The crawler on both days: it would top every list it is counted in.
    ("2026-11-20T10:00:00Z", *CRAWLER, "/cafe", "?utm_source=crawl", 200, "https://spam.test/"),
    ("2026-11-20T10:00:01Z", *CRAWLER, "/cafe", "", 200, "-"),
    ("2026-11-20T10:00:02Z", *CRAWLER, "/cafe/menu.php", "", 200, "-"),
    ("2026-11-20T10:00:03Z", *CRAWLER, "/cafe/item.php", "?id=latte", 200, "-"),
    ("2026-11-20T10:00:04Z", *CRAWLER, "/cafe/item.php", "?id=latte", 200, "-"),
    ("2026-11-21T10:00:05Z", *CRAWLER, "/cafe/item.php", "?id=latte", 200, "-"),
    ("2026-11-21T10:00:06Z", *CRAWLER, "/cafe/menu.php", "", 200, "-"),
    ("2026-11-21T10:00:07Z", *CRAWLER, "/cafe/processOrder.php", "?items=latte:1", 200, "-"),
    # The scanner: probes with a referer and a campaign tag.
    ("2026-11-21T11:00:00Z", *SCANNER, "/.env", "?utm_source=probe", 404, "https://evil.test/"),
    ("2026-11-21T11:00:01Z", *SCANNER, "/wp-login.php", "", 404, "https://evil.test/"),
)  # fmt: skip

# Worked out by hand from LINES: what a customer ranking must say.
EXPECTED: dict[str, list[list[Any]]] = {
    # Alice's two mocha pages (the last id each), Bob's croissant and latte; the crawler's three
    # latte pages and Alice's pages without a usable id are left out.
    "top_items_viewed": [["mocha", 2], ["croissant", 1], ["latte", 1]],
    "menu_and_orders_daily": [["2026-11-20", 1, 1], ["2026-11-21", 1, 1]],
    "visits_by_region": [["Oregon", 1], ["Washington", 1]],
    "orders_by_city": [["Portland", 1], ["Seattle", 1]],
    "orders_by_region": [["Oregon", 1], ["Washington", 1]],
    "campaigns": [["news", "social", "spring", 1]],
    "referrers": [["news.example.org", 1]],
    # Already customers only before: the same rule, checked here beside the others.
    "by_city": [["Portland", 1, 1], ["Seattle", 1, 1]],
    "by_region": [["Oregon", 1, 1], ["Washington", 1, 1]],
    "by_country": [["US", 2, 2]],
}


def _message(line: tuple[Any, ...]) -> tuple[int, str]:
    moment, ip, agent, place, path, query, status, referer = line
    stamp = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    fields = {
        "time": moment,
        "remoteIP": ip,
        "host": "cafe.example.com",
        "request": path,
        "query": query,
        "method": "POST" if path.endswith("processOrder.php") else "GET",
        "status": str(status),
        "bytes": "512",
        "userAgent": agent,
        "referer": referer,
        **place,
    }
    return int(stamp.timestamp() * 1000), json.dumps(fields)


@pytest.fixture(scope="module")
def sql_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[Any]]]:
    path = tmp_path_factory.mktemp("rankings") / "access_log"
    path.write_text("".join(_message(line)[1] + "\n" for line in LINES))
    loaded = load_log(path)
    try:
        assert loaded.invalid_lines == 0
        return run_catalog(loaded, tuple(INSIGHTS_BY_ID[key] for key in EXPECTED))
    finally:
        loaded.close()


def _li_rows(insight_id: str) -> list[list[Any]]:
    insight = INSIGHTS_BY_ID[insight_id]
    events = [Event(*_message(line), "i-1", "123456789012:apache/access") for line in LINES]
    return result_rows(insight, run_query(engine_query(insight), events).rows)


@pytest.mark.parametrize("insight_id", sorted(EXPECTED))
def test_customer_rankings_leave_robots_and_probes_out_in_sql(
    sql_rows: dict[str, list[list[Any]]], insight_id: str
) -> None:
    assert sql_rows[insight_id] == EXPECTED[insight_id]


@pytest.mark.parametrize("insight_id", sorted(EXPECTED))
def test_customer_rankings_leave_robots_and_probes_out_in_logs_insights(insight_id: str) -> None:
    assert _li_rows(insight_id) == EXPECTED[insight_id]


def test_the_contract_keys_still_count_robots(tmp_path: Path) -> None:
    # docs/insights.md: menu_views, menu_visitors and purchasers count every address (robots do
    # request the menu); only the rankings are customers'.
    path = tmp_path / "access_log"
    path.write_text("".join(_message(line)[1] + "\n" for line in LINES))
    loaded = load_log(path)
    try:
        rows = run_catalog(
            loaded, (INSIGHTS_BY_ID["menu_audience"], INSIGHTS_BY_ID["orders_placed"])
        )
    finally:
        loaded.close()
    assert rows["menu_audience"] == [[4, 3]]  # Alice, Bob, the crawler twice
    assert rows["orders_placed"] == [[3, 3]]


# ------------------------------------------------------------------ the item id, as PHP reads it

QUERIES: tuple[tuple[str, str], ...] = (
    ("?id=a&id=b", "b"),
    ("?id=a", "a"),
    ("?id=a&idx=b", "a"),
    ("?idx=b&id=a&x=1", "a"),
    ("?&id=a&&id=b&", "b"),
    ("?id=a&id", ""),
    ("?id=a&id=", ""),
    ("?id=a&id[]=b", ""),
    ("?id[]=b&id=a", "a"),
    ("?x=a?id=b", ""),
    ("?rid=a", ""),
    ("?ID=a", ""),
    ("", ""),
)


@pytest.mark.parametrize(("query", "item"), QUERIES)
def test_the_item_id_is_the_last_id_in_both_engines(query: str, item: str) -> None:
    con = duckdb.connect()
    sql = f"SELECT {extract_sql('q', ITEM_ID_PATTERN)} FROM (SELECT ? AS q)"
    assert con.execute(sql, [query]).fetchone() == (item,)
    li = INSIGHTS_BY_ID["top_items_viewed"].logs_insights or ""
    parse = li[li.index("| parse ") + 2 : li.index("| filter item")].strip()
    moment = int(datetime(2026, 11, 20, tzinfo=timezone.utc).timestamp() * 1000)
    result = run_query(f"{parse} | fields item", [Event(moment, json.dumps({"query": query}))])
    cells = {cell["field"]: cell["value"] for cell in result.rows[0]}
    assert (cells.get("item") or "") == item


@pytest.mark.skipif(shutil.which("php") is None, reason="needs the php command (Debian php-cli)")
def test_the_item_id_rule_is_phps_own() -> None:
    # The item page reads (string) ($_GET['id'] ?? ''); $_GET is parse_str of the query string.
    # An array (`id[]=`) is no menu id ("Array"), written here as '' as the SQL gives it.
    script = (
        "foreach (array_slice($argv, 1) as $q) { parse_str(ltrim($q, '?'), $o); "
        "$v = $o['id'] ?? ''; echo is_array($v) ? '' : $v, \"\\n\"; }"
    )
    answer = subprocess.run(
        ["php", "-r", script, *(query for query, _ in QUERIES)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert answer.stdout.split("\n")[: len(QUERIES)] == [item for _, item in QUERIES]
