"""The Logs Insights evaluator (the emulator's query engine), on small event sets.

Each behaviour is the one the Logs Insights query-syntax documentation describes; the catalog's
own queries, the device and browser families on the generator's user agents (checked against
DuckDB's classification of the same agents), and the dashboard's widgets are checked here too.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cafepipe.config import load_config
from cafepipe.deploy.dashboard import RANGE, RANGE_DAYS, dashboard_body
from cafepipe.deploy.logs_insights import (
    MAX_JSON_FIELDS,
    Event,
    MalformedQuery,
    Timestamp,
    compile_query,
    discover_fields,
    natural_compare,
    run_query,
)
from cafepipe.insights import queries
from cafepipe.insights.cloudwatch_engine import engine_query, result_rows, round_half_up
from cafepipe.insights.queries import INSIGHTS, INSIGHTS_BY_ID
from cafepipe.logs.generate.visitors import BOT_AGENTS, HUMAN_USER_AGENTS, SCANNER_USER_AGENTS

T0 = int(datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc).timestamp() * 1000)  # a Monday
HOUR = 3_600_000


def event(offset_ms: int = 0, **fields: Any) -> Event:
    return Event(T0 + offset_ms, json.dumps(fields), "i-1", "123456789012:apache/access")


def rows(query: str, events: list[Event], **kwargs: Any) -> list[dict[str, str]]:
    """The results as {field: value} per row (the order of fields kept)."""
    return [
        {cell["field"]: cell["value"] for cell in row}
        for row in run_query(query, events, **kwargs).rows
    ]


# ----------------------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("stats frobnicate(x)", "unknown function frobnicate()"),
        ("stats count(*) as n | sort request desc", "'request' is not a field here"),
        ("stats count(*) as n | display request", "'request' is not a field here"),
        ("stats count(*) as n by request | filter status = 1", "'status' is not a field here"),
        ("filter count(*) > 1", "count() aggregates: use it in stats"),
        ("stats request", "must be an aggregation"),
        ("stats count(*) by bin(5)", "must be a time period"),
        ("stats count(*) by bin(5 parsecs)", "expected ')'"),
        ("stats count(*) by bin(0m)", "at least 1 unit"),
        ("fields floor(1d)", "must be a value"),
        ("stats strlen(x, y)", "does not take 2 argument(s)"),
        ("fields ispresent(1)", "takes field names"),
        ("limit 0", "between 1 and 10,000"),
        ("limit 10001", "between 1 and 10,000"),
        ("filter x like", "expected a string or a /regular expression/"),
        ("filter x like /unclosed", "not closed"),
        ("filter x like /a(/", "invalid regular expression"),
        ("parse @message /no groups/", "named group"),
        ('parse @message "a=* b=*" as one', "2 '*' but 1 names"),
        ("fields a | frobnicate", "unknown command 'frobnicate'"),
        ("fields a b", "expected '|' or the end"),
        ("stats count(*) as n, sum(x) as n", "same name"),
        ("stats sum(count(*))", "aggregation inside an aggregation"),
        ("filter x in [y]", "list of constants"),
        ("x" * 10_001, "longer than 10,000"),
    ],
)
def test_malformed_queries_are_refused_before_any_event_is_read(query: str, message: str) -> None:
    with pytest.raises(MalformedQuery, match=re.escape(message)):
        compile_query(query)


def test_comments_case_and_backticks() -> None:
    events = [event(**{"foo-bar": "x", "n": 1}), event(**{"foo-bar": "y", "n": 2})]
    query = """# the café's busiest hours
    FILTER n > 1  # only the second
    | FIELDS `foo-bar` as name
    | Display name"""
    assert rows(query, events) == [{"name": "y", "@ptr": "emulator-1"}]


# ----------------------------------------------------------------------------- fields


def test_json_fields_are_discovered_with_their_types() -> None:
    found = discover_fields(
        '{"status":"404","bytes":512,"ok":true,"gone":null,"@id":"x",'
        '"user":{"name":"ana","roles":["a","b"]}}'
    )
    assert found == {
        "status": "404",
        "bytes": 512,
        "ok": True,
        "@@id": "x",  # a name starting with @ gets another @
        "user.name": "ana",
        "user.roles.0": "a",
        "user.roles.1": "b",
    }
    assert discover_fields("GET /cafe 200") == {}
    assert discover_fields("{not json") == {}
    assert discover_fields("[1, 2]") == {}
    many = discover_fields(json.dumps({f"f{i}": i for i in range(300)}))
    assert len(many) == MAX_JSON_FIELDS and "f199" in many and "f200" not in many


def test_system_fields() -> None:
    events = [Event(T0 + 5, '{"a":"1"}', "i-1", "123:grp", ingestion_time=T0 + 9)]
    query = "fields @timestamp, @ingestionTime, @logStream, @log, @message, a"
    assert rows(query, events) == [
        {
            "@timestamp": "2026-11-23 00:00:00.005",
            "@ingestionTime": "2026-11-23 00:00:00.009",
            "@logStream": "i-1",
            "@log": "123:grp",
            "@message": '{"a":"1"}',
            "a": "1",
            "@ptr": "emulator-0",
        }
    ]


def test_without_fields_the_newest_events_come_first_with_timestamp_and_message() -> None:
    events = [event(0, n=1), event(2000, n=2), event(1000, n=3)]
    result = rows("limit 2", events)
    assert [json.loads(r["@message"])["n"] for r in result] == [2, 3]
    assert set(result[0]) == {"@timestamp", "@message", "@ptr"}


# ----------------------------------------------------------------------------- filter


def test_text_and_numbers_compare_as_documented() -> None:
    events = [
        event(status="404", bytes="0"),
        event(status="200", bytes="1500"),
        event(status="abc", bytes="7"),
        event(status=503, bytes=9),
        event(bytes="3"),  # no status at all
    ]

    def statuses(condition: str) -> list[str]:
        return [r.get("status", "") for r in rows(f"filter {condition} | fields status", events)]

    # A number and a numeric text compare as numbers; text that is no number does not compare.
    assert sorted(statuses("status >= 400")) == ["404", "503"]
    assert statuses('status = "404"') == ["404"]
    assert statuses("status = 404") == ["404"]
    # A missing field is null: never equal, never unequal, but `not` turns false into true.
    assert sorted(statuses("status != 200")) == ["404", "503", "abc"]
    assert "" in statuses("not (status = 200)")
    assert sorted(statuses('status in ["404", 503]')) == ["404", "503"]
    assert sorted(statuses('status not in ["404", 503]')) == ["", "200", "abc"]
    # like: a substring when quoted, a regular expression between slashes (numbers as text).
    assert sorted(statuses('status like "0"')) == ["200", "404", "503"]
    assert sorted(statuses("status like /^[45][0-9][0-9]$/")) == ["404", "503"]
    assert sorted(statuses("status =~ /^2/")) == ["200"]
    assert sorted(statuses("status not like /^[0-9]+$/")) == ["", "abc"]
    assert statuses("ispresent(status) and isempty(status) = 0 and status like /(?i)ABC/") == [
        "abc"
    ]


def test_arithmetic_converts_numeric_text_and_leaves_other_values_null() -> None:
    events = [event(p="1500"), event(p="-"), event(p=250), event()]
    result = rows("fields p / 1000 as ms, p * 2 + 1 as x, 7 % 3 as m, 2 ^ 10 as k", events)
    assert [r.get("ms") for r in result] == ["1.5", None, "0.25", None]
    assert [r.get("x") for r in result] == ["3001", None, "501", None]
    assert {r["m"] for r in result} == {"1"} and {r["k"] for r in result} == {"1024"}
    assert rows("fields 1 / 0 as nothing", [event()]) == [{"@ptr": "emulator-0"}]


def test_string_functions() -> None:
    events = [event(ua="  Mozilla/5.0 (iPad) ", path="/cafe/menu.php")]
    query = (
        "fields tolower(trim(ua)) as low, toupper(path) as up, strlen(path) as n, "
        'substr(path, 6, 4) as part, replace(path, "menu", "item") as other, '
        'strcontains(path, "menu") as has, concat(substr(path, 0, 1), "xx") as cls, '
        'ltrim(path, "/") as lt, rtrim("xxpxx", "x") as rt, isblank("  ") as blank, '
        "isempty(missing) as empty, coalesce(missing, path) as first"
    )
    assert rows(query, events)[0] == {
        "low": "mozilla/5.0 (ipad)",
        "up": "/CAFE/MENU.PHP",
        "n": "14",
        "part": "menu",
        "other": "/cafe/item.php",
        "has": "1",
        "cls": "/xx",
        "lt": "cafe/menu.php",
        "rt": "xxp",
        "blank": "1",
        "empty": "1",
        "first": "/cafe/menu.php",
        "@ptr": "emulator-0",
    }


def test_numeric_date_and_ip_functions() -> None:
    events = [event(90 * 60_000 + 1234, ip="10.1.2.3", n="-2.5")]
    query = (
        "fields abs(n) as a, ceil(n) as c, floor(n) as f, greatest(n, 3, 1) as g, "
        "least(n, 3) as l, sqrt(16) as s, toMillis(@timestamp) as ms, "
        "datefloor(@timestamp, 1h) as fl, dateceil(@timestamp, 1h) as ce, "
        "fromMillis(0) as epoch, isValidIp(ip) as valid, isIpv4InSubnet(ip, '10.0.0.0/8') as in8, "
        "isIpInSubnet(ip, '192.168.0.0/16') as in16, isValidIpV6(ip) as v6"
    )
    assert rows(query, events)[0] == {
        "a": "2.5",
        "c": "-2",
        "f": "-3",
        "g": "3",
        "l": "-2.5",
        "s": "4",
        "ms": str(T0 + 90 * 60_000 + 1234),
        "fl": "2026-11-23 01:00:00.000",
        "ce": "2026-11-23 02:00:00.000",
        "epoch": "1970-01-01 00:00:00.000",
        "valid": "1",
        "in8": "1",
        "in16": "0",
        "v6": "0",
        "@ptr": "emulator-0",
    }


# ----------------------------------------------------------------------------- parse


def test_parse_regex_and_glob_and_unmatched_events_stay() -> None:
    events = [
        event(q="?id=latte&x=1", msg="user=ana, method=GET"),
        event(q="?x=1", msg="nothing here"),
    ]
    result = rows(
        "parse q /[?&]id=(?<item>[^&]*)/ | parse msg 'user=*, method=*' as who, how "
        "| fields item, who, how",
        events,
    )
    assert result == [
        {"item": "latte", "who": "ana", "how": "GET", "@ptr": "emulator-0"},
        {"@ptr": "emulator-1"},  # no match: the event stays, without the extracted fields
    ]
    # parse without a field reads @message.
    assert rows('parse "user=* " as u | stats count(*) as n by u', [Event(T0, "user=bo x")]) == [
        {"u": "bo", "n": "1"}
    ]


# ----------------------------------------------------------------------------- stats


def test_stats_by_fields_and_bins() -> None:
    events = [
        event(0, request="/a", bytes="100", ip="1.1.1.1"),
        event(HOUR, request="/a", bytes="50", ip="1.1.1.1"),
        event(25 * HOUR, request="/b", bytes="x", ip="2.2.2.2"),
        event(26 * HOUR, ip="3.3.3.3"),
    ]
    daily = rows(
        "stats count(*) as n, sum(bytes) as b, count_distinct(ip) as ips, count(request) as r "
        "by bin(1d)",
        events,
    )
    assert daily == [
        {"bin(1d)": "2026-11-23 00:00:00.000", "n": "2", "b": "150", "ips": "1", "r": "2"},
        {"bin(1d)": "2026-11-24 00:00:00.000", "n": "2", "ips": "2", "r": "1"},  # no bytes: null
    ]
    by_request = rows("stats count(*) by request", events)
    assert by_request == [{"count(*)": "1"}, {"request": "/a", "count(*)": "2"},
                          {"request": "/b", "count(*)": "1"}]  # fmt: skip
    everything = rows(
        "stats avg(bytes) as avg, min(bytes) as lo, max(bytes) as hi, pct(bytes, 50) as p50, "
        "sum(bytes) / count(*) * 4 as x, earliest(request) as first, latest(ip) as last, "
        "sortsFirst(ip) as sf, sortsLast(ip) as sl, stddev(bytes) as sd",
        events,
    )[0]
    assert everything["avg"] == "75" and everything["lo"] == "50" and everything["hi"] == "100"
    assert everything["p50"] == "50" and everything["x"] == "150"
    assert (everything["first"], everything["last"]) == ("/a", "3.3.3.3")
    assert (everything["sf"], everything["sl"]) == ("1.1.1.1", "3.3.3.3")
    assert float(everything["sd"]) == pytest.approx(35.3553, abs=1e-4)
    # No event: one row of counts, null sums.
    assert rows("filter request = 'nowhere' | stats count(*) as n, sum(bytes) as b", events) == [
        {"n": "0"}
    ]


def test_stats_outputs_may_name_earlier_ones() -> None:
    # The documentation's Lambda example: `max(…) as a, …, a - b as c`.
    events = [event(size="4000000", used="1000000"), event(size="4000000", used="3000000")]
    query = (
        "stats max(size / 1000 / 1000) as provisioned, max(used / 1000 / 1000) as peak, "
        "provisioned - peak as spare, sum(used) / count(*) as mean"
    )
    assert rows(query, events) == [
        {"provisioned": "4", "peak": "3", "spare": "1", "mean": "2000000"}
    ]
    with pytest.raises(MalformedQuery, match="must be an aggregation"):
        compile_query("stats spare - 1 as x, max(size) as spare")  # not an earlier one


def test_stats_twice_and_fields_after_stats() -> None:
    events = [event(i * HOUR, ip=f"10.0.0.{i % 3}") for i in range(9)]
    result = rows(
        "stats count(*) as hits by ip | stats count(*) as addresses, sum(hits) as total "
        "| fields total / addresses as per_address",
        events,
    )
    assert result == [{"addresses": "3", "total": "9", "per_address": "3"}]


def test_bin_periods() -> None:
    events = [event(0), event(7 * 60_000), event(3 * HOUR), event(40 * 86_400_000)]
    assert [r["bin(5min)"] for r in rows("stats count(*) by bin(5min)", events)][:2] == [
        "2026-11-23 00:00:00.000",
        "2026-11-23 00:05:00.000",
    ]
    assert [r["bin(2hrs)"] for r in rows("stats count(*) by bin(2hrs)", events)] == [
        "2026-11-23 00:00:00.000",
        "2026-11-23 02:00:00.000",
        "2027-01-02 00:00:00.000",
    ]
    assert [r["bin(1mo)"] for r in rows("stats count(*) by bin(1mo)", events)] == [
        "2026-11-01 00:00:00.000",
        "2027-01-01 00:00:00.000",
    ]
    assert [r["bin(1q)"] for r in rows("stats count(*) by bin(1q)", events)] == [
        "2026-10-01 00:00:00.000",
        "2027-01-01 00:00:00.000",
    ]


# ----------------------------------------------------------------------------- sort, limit


def test_sort_is_natural_numbers_last_ascending() -> None:
    values = ["A9876fghj", "0", "111A", "@", "#", "5A", "a12345hfh", "2345_", "10", "9"]
    ordered = sorted(values, key=__import__("functools").cmp_to_key(natural_compare))
    # The order of the sort documentation's example; "number values" last, by value.
    assert ordered == ["#", "5A", "111A", "2345_", "@", "A9876fghj", "a12345hfh", "0", "9", "10"]
    events = [event(i, v=value) for i, value in enumerate(values)] + [event(99)]
    descending = [r.get("v") for r in rows("sort v desc | fields v", events)]
    assert descending[:3] == ["10", "9", "0"] and descending[-1] is None  # missing last


def test_limits_and_time_range() -> None:
    events = [event(i * 1000, n=i) for i in range(10)]
    assert len(rows("fields n | limit 3", events)) == 3
    assert len(rows("fields n", events, limit=4)) == 4
    result = run_query("stats count(*) as n", events, start_ms=T0 + 2000, end_ms=T0 + 4999)
    assert result.rows == [[{"field": "n", "value": "3"}]]
    assert result.records_scanned == 3 and result.records_matched == 3
    assert result.bytes_scanned == sum(len(e.message.encode()) for e in events[2:5])
    filtered = run_query("filter n > 6 | stats count(*) as n", events)
    assert filtered.records_matched == 3 and filtered.records_scanned == 10
    assert isinstance(compile_query("fields @timestamp").commands, list)
    assert Timestamp(T0).text() == "2026-11-23 00:00:00.000"


# ----------------------------------------------------------------------------- the catalog


def test_every_catalog_query_compiles_and_reads_only_logged_fields() -> None:
    # The JSON access log's fields (templates/instance/httpd-cafe.conf.j2 and the generator).
    logged = {"time", "process", "filename", "remoteIP", "host", "request", "query", "method",
              "status", "bytes", "userAgent", "referer", "country", "region", "city", "lat",
              "lon", "@timestamp"}  # fmt: skip
    for insight in INSIGHTS:
        if insight.logs_insights is None:  # visits: DuckDB and Athena only
            continue
        for text in (insight.logs_insights, engine_query(insight)):
            compiled = compile_query(text)
            unknown = compiled.event_fields - logged
            assert not unknown, (insight.id, unknown)


# The insights-JSON keys that come from count_distinct, approximate on AWS (see
# test_logs_insights_equality.py and docs/insights.md); conversion_rate is purchasers over menu
# visitors.
APPROXIMATE_ON_AWS = frozenset(
    {"unique_ips", "daily", "menu_visitors", "purchasers", "conversion_rate", "customer_cities"}
)


def test_the_keys_said_approximate_on_aws_are_those_of_count_distinct() -> None:
    found = set()
    for insight in INSIGHTS:
        if insight.logs_insights is None:
            continue
        for command in compile_query(insight.logs_insights).commands:
            for item in getattr(command, "aggregates", []):
                if any(getattr(n, "name", "") == "count_distinct" for n in item.node.walk()):
                    found.add(item.name if insight.shape == "fields" else insight.id)
    assert found | {"conversion_rate"} == APPROXIMATE_ON_AWS
    documented = Path(__file__).parent.parent / "docs" / "insights.md"
    rows_saying_so = [line for line in documented.read_text().splitlines() if "approximate" in line]
    for key in APPROXIMATE_ON_AWS - {"conversion_rate"}:
        assert any(f"`{key}`" in line for line in rows_saying_so), key


# The families of the generator's human user agents (visitors.HUMAN_USER_AGENTS, in order), as
# a person reading each agent would name them.
EXPECTED_FAMILIES = [
    ("Phone", "Safari"),  # iPhone, Safari
    ("Computer", "Chrome"),  # Windows, Chrome
    ("Phone", "Chrome"),  # Android phone, Chrome
    ("Computer", "Chrome"),  # Mac, Chrome
    ("Computer", "Safari"),  # Mac, Safari
    ("Computer", "Edge"),  # Windows, Edge (its agent also says Chrome/ and Safari/)
    ("Computer", "Firefox"),  # Windows, Firefox
    ("Phone", "Chrome"),  # Samsung Internet (Chromium)
    ("Tablet", "Safari"),  # iPad (its agent also says Mobile)
    ("Phone", "Chrome"),  # Chrome on iPhone (CriOS)
    ("Phone", "Other"),  # Instagram's in-app browser
    ("Computer", "Firefox"),  # Ubuntu, Firefox
]


def _sql_families(agents: list[str]) -> dict[str, tuple[str, str]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE logs (useragent VARCHAR)")
    con.executemany("INSERT INTO logs VALUES (?)", [[agent] for agent in agents])
    found = con.execute(f"SELECT useragent, device, browser FROM ({queries.AGENTS_SQL})")
    return {agent: (device, browser) for agent, device, browser in found.fetchall()}


def _li_families(agents: list[str]) -> dict[str, tuple[str, str]]:
    families = {}
    for agent in agents:
        events = [event(userAgent=agent)]
        device = rows(INSIGHTS_BY_ID["devices"].logs_insights, events)[0]["device"]
        browser = rows(INSIGHTS_BY_ID["browsers"].logs_insights, events)[0]["browser"]
        families[agent] = (device, browser)
    return families


def test_device_and_browser_families_of_the_generators_agents_in_both_engines() -> None:
    humans = [agent for agent, _ in HUMAN_USER_AGENTS]
    robots = [bot.user_agent for bot in BOT_AGENTS]
    agents = [*humans, *robots, *SCANNER_USER_AGENTS]
    sql, logs_insights = _sql_families(agents), _li_families(agents)
    assert logs_insights == sql
    assert [sql[agent] for agent in humans] == EXPECTED_FAMILIES
    # An iPad is a tablet only; Edge is not Chrome; every robot is a robot.
    assert all(sql[agent] == ("Bot or crawler", "Bot or crawler") for agent in robots)
    assert {sql[agent][0] for agent in SCANNER_USER_AGENTS} <= {"Other", "Computer"}
    assert {sql[agent][1] for agent in SCANNER_USER_AGENTS} >= {"Script"}


def test_devices_and_browsers_answer_with_one_row_per_family() -> None:
    agents = {
        "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) Mobile/15E148 Safari/604.1": 3,
        "Mozilla/5.0 (Windows NT 10.0) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0": 2,
        "Mozilla/5.0 (Windows NT 10.0) Chrome/142.0.0.0 Safari/537.36 OPR/124.0.0.0": 1,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": 4,
        "curl/8.5.0": 2,
    }
    events = [event(userAgent=agent) for agent, n in agents.items() for _ in range(n)]
    for insight_id in ("devices", "browsers"):
        insight = INSIGHTS_BY_ID[insight_id]
        answer = run_query(engine_query(insight), events).rows
        assert sum(int({c["field"]: c["value"] for c in r}["requests"]) for r in answer) == 12
        ranked = result_rows(insight, answer)
        if insight_id == "devices":
            assert ranked == [["Bot or crawler", 4], ["Computer", 3], ["Tablet", 3], ["Other", 2]]
        else:
            assert ranked == [["Bot or crawler", 4], ["Safari", 3], ["Edge", 2], ["Script", 2],
                              ["Opera", 1]]  # fmt: skip


def test_ties_at_the_tenth_row_are_cut_as_the_sql_cuts_them() -> None:
    insight = INSIGHTS_BY_ID["top_paths"]
    paths = [f"/p{letter}" for letter in "lkjihgfedcba"]  # 12 paths, one request each
    events = [event(request=path) for path in paths]
    ranked = result_rows(insight, run_query(engine_query(insight), events).rows)
    assert ranked == [[f"/p{letter}", 1] for letter in "abcdefghij"]
    assert "limit" not in engine_query(insight) and insight.logs_insights.endswith("limit 10")


def test_slow_pages_round_as_duckdb_rounds() -> None:
    assert [round_half_up(v) for v in (0.25, 12.35, 2.675, 0.05, 7)] == [0.3, 12.3, 2.7, 0.1, 7.0]
    con = duckdb.connect()
    for value in (0.25, 12.35, 2.675, 0.05, 1149.25, 5548.25):
        assert con.execute("SELECT round(?, 1)", [value]).fetchone() == (round_half_up(value),)
    # 12.3 and 12.4 ms average 12.35 exactly: the SQL's double is just under it (12.3); an
    # average of per-line milliseconds would land just over it (12.4). The query averages µs.
    insight = INSIGHTS_BY_ID["slowest_pages"]
    events = [event(request="/cafe/menu.php", process=us) for us in ("12300", "12400")]
    answer = result_rows(insight, run_query(engine_query(insight), events).rows)
    sql = con.execute("SELECT round(avg(p) / 1000.0, 1) FROM (VALUES (12300), (12400)) t(p)")
    assert (
        answer
        == [["/cafe/menu.php", 2, sql.fetchone()[0], 12.4]]
        == [["/cafe/menu.php", 2, 12.3, 12.4]]
    )


# ----------------------------------------------------------------------------- the dashboard


def _widgets(tmp_path: Path) -> list[dict[str, Any]]:
    config = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    body = dashboard_body(config)
    assert body["start"] == RANGE == f"-P{RANGE_DAYS}D" == "-P7D"
    return [w["properties"] for w in body["widgets"] if w["type"] == "log"]


def test_dashboard_pies_group_with_by_and_bins_fit_its_range(tmp_path: Path) -> None:
    widgets = _widgets(tmp_path)
    assert {w["view"] for w in widgets} >= {"pie", "timeSeries"}
    for widget in widgets:
        query = widget["query"].split(" | ", 1)[1]
        compiled = compile_query(query)  # each widget's query is one AWS would run
        stats = [c for c in compiled.commands if type(c).__name__ == "StatsCommand"]
        if widget["view"] in ("pie", "bar", "timeSeries"):
            assert stats and stats[-1].groups, widget["title"]  # type: ignore[attr-defined]
        for count, unit in re.findall(r"\bbin\((\d+)([a-z]+)\)", query):
            days = {"m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7}[unit] * int(count)
            assert 2 <= RANGE_DAYS / days <= 100, (widget["title"], count, unit)
        if widget["view"] == "timeSeries":
            assert "bin(" in query, widget["title"]
