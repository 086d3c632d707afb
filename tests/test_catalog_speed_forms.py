"""The catalog's cheaper SQL forms give the rows of the plain forms they replaced.

Several insights aggregate first and classify or format the few groups after (issue 17);
`visits` sorts numbers for the path, query and referer instead of the strings and takes a
visit's entry and exit from flags its first sort sets. Here the plain forms are kept as the
reference and both run on one log: a generated one, plus hand-made lines for the corners (ties
in one second on path, query or referer, views alike but for their status, exactly 30 minutes,
an item page and an order in one second, refused orders, upper-case assets, robots and
scanners).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb
import pytest

from cafepipe.insights.duckdb_engine import (
    MAX_PROCESS_MICROSECONDS,
    MAX_RESPONSE_BYTES,
    LoadedLog,
    count_sql,
    load_log,
    run_insight,
    scope_logs,
    scope_visits,
    status_sql,
)
from cafepipe.insights.queries import (
    CUSTOMER_SQL,
    FUNNEL_STEPS,
    INSIGHTS_BY_ID,
    ITEM,
    MENU,
    NOT_ASSET,
    ORDER,
    PLACED,
    TOP,
    VISIT_TIMEOUT_MINUTES,
    VISITS_SQL,
    extract_sql,
    ratio_sql,
    sql_string,
    utm_sql,
)
from cafepipe.logs.generate import build_options, generate_log

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
START = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)
T = datetime(2026, 11, 21, 7, 0, tzinfo=timezone.utc)

# (seconds after T, address, user agent, path, query, status, referer, process µs)
CORNERS: list[tuple[int, str, str, str, str, int, str, str]] = [
    # One second, one path: the entry is the least by query ("?utm_source=ad…"), whose referer
    # is the greater of the two.
    (0, "9.0.0.1", CHROME, "/cafe", "?utm_source=zine&utm_campaign=b", 200, "-", "1000"),
    (0, "9.0.0.1", CHROME, "/cafe", "?utm_source=ad&utm_campaign=a", 200,
     "https://Search.Example/q", "1002"),
    (60, "9.0.0.1", CHROME, "/cafe/menu.php", "", 200, "-", "2000"),
    # An item page and an order in one second: the order follows the item page.
    (120, "9.0.0.1", CHROME, "/cafe/processOrder.php", "?items=latte:2", 200, "-", "3000"),
    (120, "9.0.0.1", CHROME, "/cafe/item.php", "?id=latte", 200, "-", "2500"),
    # Exactly 30 minutes: the same visit; a second more: a new one, entered by a referrer.
    (120 + 60 * VISIT_TIMEOUT_MINUTES, "9.0.0.1", CHROME, "/cafe/about.php", "", 200, "-", "10"),
    (240 + 120 * VISIT_TIMEOUT_MINUTES + 1, "9.0.0.1", CHROME, "/cafe", "", 200,
     "http://Partner.Example/page", "10"),
    # Refused orders (400, 405) are no orders; an order without an item page after the menu.
    (0, "9.0.0.2", CHROME, "/cafe/menu.php", "", 200, "-", "10"),
    (5, "9.0.0.2", CHROME, "/cafe/processOrder.php", "?items=mocha:1", 400, "-", "10"),
    (6, "9.0.0.2", CHROME, "/cafe/processOrder.php", "?items=mocha:1", 405, "-", "10"),
    (7, "9.0.0.2", CHROME, "/cafe/processOrder.php", "?items=mocha:1&items=latte:1", 200, "-", "9"),
    # Menu, item page, an order refused: no order.
    (0, "9.0.0.5", CHROME, "/cafe/menu.php", "", 200, "-", "10"),
    (1, "9.0.0.5", CHROME, "/cafe/item.php", "?id=mocha", 200, "-", "10"),
    (2, "9.0.0.5", CHROME, "/cafe/processOrder.php", "?items=mocha:1", 400, "-", "10"),
    # Assets in upper case, one with a query: no page views, no page of their own.
    (8, "9.0.0.2", CHROME, "/cafe/images/LOGO.SVG", "?v=2", 200, "-", "99999"),
    (9, "9.0.0.2", CHROME, "/Favicon.ICO", "", 200, "-", "99999"),
    # Two views alike in all but status, first and last: one visit, tied views in it together.
    (0, "9.0.0.6", CHROME, "/cafe", "", 200, "-", "10"),
    (0, "9.0.0.6", CHROME, "/cafe", "", 304, "-", "10"),
    (30, "9.0.0.6", CHROME, "/cafe/menu.php", "", 200, "-", "10"),
    (60, "9.0.0.6", CHROME, "/cafe/about.php", "", 200, "-", "10"),
    (60, "9.0.0.6", CHROME, "/cafe/about.php", "", 304, "-", "10"),
    # A robot and a scanner on the same pages: no customers.
    (0, "9.0.0.3", GOOGLEBOT, "/cafe/menu.php", "", 200, "-", "10"),
    (1, "9.0.0.3", GOOGLEBOT, "/cafe/item.php", "?id=latte", 200, "-", "10"),
    (2, "9.0.0.4", CHROME, "/.env", "", 404, "-", "10"),
]  # fmt: skip


def _corner_line(row: tuple[int, str, str, str, str, int, str, str]) -> str:
    seconds, ip, agent, path, query, status, referer, process = row
    moment = T + timedelta(seconds=seconds)
    return json.dumps(
        {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "remoteIP": ip,
            "host": "cafe.example",
            "request": path,
            "query": query,
            "method": "GET",
            "status": str(status),
            "bytes": "100",
            "process": process,
            "userAgent": agent,
            "referer": referer,
            "country": "US",
            "region": "Washington",
            "city": "Seattle",
        }
    )


# The plain forms, as the catalog had them before they were made cheaper.
_PLAIN = {
    "daily": "SELECT strftime(day, '%Y-%m-%d') AS day, requests, unique_ips FROM ("
    "SELECT CAST(ts AS DATE) AS day, count(*) AS requests, "
    "count(DISTINCT remoteip) AS unique_ips FROM logs GROUP BY 1) ORDER BY 1",
    "weekday": "SELECT isodow(ts) - 1 AS weekday, count(*) AS requests FROM logs GROUP BY 1 "
    "ORDER BY 1",
    "cafe_weekday": "SELECT isodow(cafe_ts) - 1 AS weekday, count(*) AS requests FROM logs "
    "GROUP BY 1 ORDER BY 1",
    "top_pages": f"""SELECT u.request AS path, sum(u.views) AS views
FROM (SELECT request, useragent, count(*) AS views FROM logs
      WHERE NOT is_scanner AND {NOT_ASSET} GROUP BY request, useragent) AS u
JOIN agents AS a ON a.useragent = u.useragent
WHERE NOT a.is_bot
GROUP BY u.request
ORDER BY views DESC, path ASC
LIMIT {TOP}""",
    "status_classes": "SELECT CAST(status // 100 AS VARCHAR) || 'xx' AS class, "
    "count(*) AS requests FROM logs WHERE status BETWEEN 200 AND 599 GROUP BY 1 ORDER BY 1",
    "campaigns": f"""SELECT {utm_sql("source")} AS source, {utm_sql("medium")} AS medium,
       {utm_sql("campaign")} AS campaign, count(*) AS requests
FROM logs
WHERE query LIKE '%utm_source=%' AND {CUSTOMER_SQL}
GROUP BY 1, 2, 3
ORDER BY requests DESC, source, medium, campaign
LIMIT {TOP}""",
    "items_ordered": INSIGHTS_BY_ID["items_ordered"]
    .sql.replace("SELECT times, ", "SELECT ")
    .replace(
        f"""FROM (SELECT query, count(*) AS times FROM logs
          WHERE {PLACED} AND strpos(query, 'items=') > 0 GROUP BY query)""",
        f"FROM logs WHERE {PLACED} AND strpos(query, 'items=') > 0",
    )
    .replace(
        "sum(times * try_cast(split_part(entry, ':', 2) AS INTEGER)) AS quantity,\n"
        "       sum(times) AS orders",
        "sum(try_cast(split_part(entry, ':', 2) AS INTEGER)) AS quantity, count(*) AS orders",
    ),
    "customer_cities": f"""SELECT city,
       count(DISTINCT remoteip) FILTER (WHERE request = {MENU}) AS menu_visitors,
       count(DISTINCT remoteip) FILTER (WHERE {PLACED}) AS buyers,
       count(*) FILTER (WHERE {PLACED}) AS orders
FROM logs JOIN agents ON agents.useragent = logs.useragent
WHERE NOT agents.is_bot
  AND city IS NOT NULL AND city NOT IN ('', '-') AND request IN ({MENU}, {ORDER})
GROUP BY city
ORDER BY menu_visitors DESC, buyers DESC, city ASC
LIMIT {TOP}""",
    "slowest_pages": f"""SELECT request AS path, count(*) AS requests,
       round(avg(process) / 1000.0, 1) AS avg_ms, round(max(process) / 1000.0, 1) AS max_ms
FROM logs WHERE process IS NOT NULL AND NOT is_scanner AND {NOT_ASSET}
GROUP BY 1 ORDER BY avg_ms DESC, path ASC LIMIT {TOP}""",
}

_COUNTS = ("visits", "saw_menu_visits", "saw_item_visits", "ordered_visits")
_STEPS = "\n  UNION ALL ".join(
    f"SELECT {n} AS n, {sql_string(step)} AS step, {sql_string(page or '')} AS page, "
    f"{_COUNTS[n]} AS reached, {_COUNTS[max(n - 1, 0)]} AS previous FROM totals"
    for n, (step, page) in enumerate(FUNNEL_STEPS)
)
# Visits read more than once (each reference is one more pass over the lake on Athena).
_PLAIN["funnel"] = f"""WITH totals AS (
    SELECT count(*) AS visits,
           count(CASE WHEN saw_menu THEN 1 END) AS saw_menu_visits,
           count(CASE WHEN saw_item THEN 1 END) AS saw_item_visits,
           count(CASE WHEN ordered THEN 1 END) AS ordered_visits
    FROM visits
),
steps AS ({_STEPS})
SELECT step, page, reached AS visits, {ratio_sql("reached", "previous", 4)} AS conversion,
       previous - reached AS drop_off
FROM steps ORDER BY n"""
_PLAIN["visits"] = f"""WITH placed AS (
    SELECT duration_ms, row_number() OVER (ORDER BY duration_ms) AS place,
           count(*) OVER () AS total
    FROM visits
),
middle AS (
    SELECT coalesce(sum(duration_ms), 0) AS middle_ms, count(*) AS middle
    FROM placed WHERE 2 * place BETWEEN total AND total + 2
),
totals AS (
    SELECT count(*) AS visits,
           count(CASE WHEN visit = 0 THEN 1 END) AS visitors,
           count(CASE WHEN visit = 1 THEN 1 END) AS returning_visitors,
           coalesce(sum(pages), 0) AS pageviews,
           count(CASE WHEN pages = 1 THEN 1 END) AS bounces,
           coalesce(sum(duration_ms), 0) AS duration_ms
    FROM visits
)
SELECT visits, visitors, visitors - returning_visitors AS new_visitors, returning_visitors,
       pageviews, {ratio_sql("pageviews", "visits", 2)} AS pageviews_per_visit,
       bounces, {ratio_sql("bounces", "visits", 4)} AS bounce_rate,
       {ratio_sql("middle_ms", "1000 * middle", 1)} AS visit_duration_median_s,
       {ratio_sql("duration_ms", "1000 * visits", 1)} AS visit_duration_mean_s
FROM totals CROSS JOIN middle"""

_ORDER = "PARTITION BY remoteip, agent ORDER BY ts, request, query, referer"
_PLAIN_VISITS = f"""WITH customers AS (
    SELECT useragent, device, row_number() OVER (ORDER BY useragent) AS agent
    FROM agents WHERE NOT is_bot
),
views AS (
    SELECT l.remoteip, c.agent, l.ts, l.request, l.query, l.referer, l.status
    FROM logs AS l JOIN customers AS c ON c.useragent = l.useragent
    WHERE NOT l.is_scanner AND {NOT_ASSET}
),
marked AS (
    SELECT *, CASE WHEN ts > lag(ts) OVER ({_ORDER})
                             + INTERVAL '{VISIT_TIMEOUT_MINUTES}' MINUTE
                   THEN 1 ELSE 0 END AS starts
    FROM views
),
numbered AS (
    SELECT *, sum(starts) OVER ({_ORDER}) AS visit, row_number() OVER ({_ORDER}) AS nth,
           max(CASE WHEN request = {ITEM} THEN ts END) OVER ({_ORDER}) AS item_before
    FROM marked
),
sessions AS (
    SELECT remoteip, agent, visit, count(*) AS pages,
           date_diff('millisecond', min(ts), max(ts)) AS duration_ms,
           arg_min(request, nth) AS entry_page, arg_max(request, nth) AS exit_page,
           arg_min(query, nth) AS entry_query, arg_min(referer, nth) AS entry_referer,
           min(CASE WHEN request = {MENU} THEN ts END) AS menu_at,
           max(CASE WHEN request = {ITEM} THEN ts END) AS last_item_at,
           max(CASE WHEN {PLACED} THEN item_before END) AS item_before_order
    FROM numbered
    GROUP BY remoteip, agent, visit
)
SELECT s.remoteip, c.useragent, s.visit, s.pages, s.duration_ms, s.entry_page, s.exit_page,
       s.menu_at IS NOT NULL AS saw_menu,
       coalesce(s.last_item_at >= s.menu_at, FALSE) AS saw_item,
       coalesce(s.item_before_order >= s.menu_at, FALSE) AS ordered,
       c.device,
       CASE WHEN {extract_sql("entry_query", "[?&]utm_source=([^&]*)")} <> ''
            THEN {extract_sql("entry_query", "[?&]utm_source=([^&]*)")}
            WHEN {extract_sql("entry_referer", "^[a-zA-Z]+://([^/:?#]+)")} <> ''
            THEN lower({extract_sql("entry_referer", "^[a-zA-Z]+://([^/:?#]+)")})
            ELSE '(direct)' END AS source,
       {extract_sql("entry_query", "[?&]utm_campaign=([^&]*)")} AS campaign
FROM sessions AS s JOIN customers AS c ON c.agent = s.agent"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedLog]:
    path = tmp_path_factory.mktemp("forms") / "access_log"
    generate_log(build_options(lines=6_000, start=START, end=END, seed=17, log_format="json"), path)
    with path.open("a", encoding="utf-8") as out:
        out.writelines(_corner_line(row) + "\n" for row in reversed(CORNERS))
    log = load_log(path, "json")
    yield log
    log.close()


def test_the_items_ordered_reference_is_the_plain_form() -> None:
    # The plain form is made from the new one by undoing the weights: it must have no left.
    assert "times" not in _PLAIN["items_ordered"]


@pytest.mark.parametrize("insight_id", sorted(_PLAIN))
def test_a_cheaper_form_gives_the_plain_forms_rows(loaded: LoadedLog, insight_id: str) -> None:
    scope_visits(loaded.connection)
    expected = [list(row) for row in loaded.connection.execute(_PLAIN[insight_id]).fetchall()]
    assert expected, "the log must exercise the insight"
    assert run_insight(loaded.connection, INSIGHTS_BY_ID[insight_id]) == expected


def test_the_cafe_weekday_form_in_a_zone_off_the_hour(loaded: LoadedLog) -> None:
    # Days start at 18:15 UTC in Kathmandu: the day is taken at the café before it is counted.
    scope_logs(loaded.connection, zone="Asia/Kathmandu")
    try:
        plain = loaded.connection.execute(_PLAIN["cafe_weekday"]).fetchall()
        expected = [list(row) for row in plain]
        assert expected != run_insight(loaded.connection, INSIGHTS_BY_ID["weekday"])
        assert run_insight(loaded.connection, INSIGHTS_BY_ID["cafe_weekday"]) == expected
    finally:
        scope_logs(loaded.connection)


def test_visits_by_numbers_are_the_visits_by_strings(loaded: LoadedLog) -> None:
    con = loaded.connection
    plain = sorted(con.execute(_PLAIN_VISITS).fetchall())
    assert len(plain) > 100
    assert sorted(con.execute(VISITS_SQL).fetchall()) == plain


def test_the_corners_are_in_the_visits(loaded: LoadedLog) -> None:
    rows = loaded.connection.execute(
        "SELECT remoteip, visit, pages, entry_page, exit_page, saw_item, ordered, source, "
        f"campaign FROM ({VISITS_SQL}) WHERE remoteip LIKE '9.0.0.%' ORDER BY remoteip, visit"
    ).fetchall()
    assert rows == [
        ("9.0.0.1", 0, 6, "/cafe", "/cafe/about.php", True, True, "ad", "a"),
        ("9.0.0.1", 1, 1, "/cafe", "/cafe", False, False, "partner.example", ""),
        ("9.0.0.2", 0, 4, "/cafe/menu.php", "/cafe/processOrder.php", False, False,
         "(direct)", ""),
        ("9.0.0.5", 0, 3, "/cafe/menu.php", "/cafe/processOrder.php", True, False,
         "(direct)", ""),
        ("9.0.0.6", 0, 5, "/cafe", "/cafe/about.php", False, False, "(direct)", ""),
    ]  # fmt: skip


# Texts a status or a count field may hold: Apache's digits, and what a hostile line may put
# there instead (signs, spaces, exponents, separators, other scripts' digits, too many digits).
FIELD_TEXTS = [
    "", "-", "0", "7", "99", "100", "200", "404", "599", "600", "099", "0200", "2000", "20",
    "+200", "-1", " 200", "200 ", "\t200", "2e2", "1e3", "1_000", "0x10", "200.0", "٢٠٠", "２００",
    "2٠0", "[", "]", "!", "^", "*", "?", "a", "1" * 13, "9" * 13, "1" + "0" * 12, "0" * 14,
    str(2**40), str(2**40 + 1), str(86_400 * 1_000_000), str(86_400 * 1_000_000 + 1),
]  # fmt: skip


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(lambda portable: status_sql("x", portable), id="status"),
        pytest.param(lambda portable: count_sql("x", MAX_RESPONSE_BYTES, portable), id="bytes"),
        pytest.param(
            lambda portable: count_sql("x", MAX_PROCESS_MICROSECONDS, portable), id="process"
        ),
    ],
)
def test_the_parse_reads_digits_as_the_lakes_portable_rule_does(rule: Any) -> None:
    """The parse tests digits with GLOB; Athena transpiles the regular expression. Both must
    read every field text alike, or a line would count on one engine and not the other."""
    generator = random.Random(17)
    texts = FIELD_TEXTS + [
        "".join(generator.choice("0123456789+-_ .e٣x") for _ in range(generator.randint(1, 15)))
        for _ in range(3000)
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE fields (x VARCHAR)")
    con.executemany("INSERT INTO fields VALUES (?)", [[text] for text in [*texts, None]])
    fast, portable = rule(False), rule(True)
    assert "GLOB" in fast and "GLOB" not in portable
    differ = con.execute(
        f"SELECT x, {portable}, {fast} FROM fields WHERE ({portable}) IS DISTINCT FROM ({fast})"
    ).fetchall()
    assert differ == []
    # The texts hold both what the rule reads and what it refuses (NULL, or -1 for a count).
    read = {row[0] for row in con.execute(f"SELECT {fast} FROM fields").fetchall()}
    assert None in read and 200 in read and len(read) > 3
