"""`--where` on `--engine cloudwatch`: the Logs Insights queries with the filter commands in
front give DuckDB's answer with the same filters, for every field.

The unit tests run the catalog's Logs Insights queries (`Filters.logs_insights` in front, the
café-time shift over a daylight-saving change) with the emulator's evaluator (`run_query`) over
a generated log's events plus hand-written hostile lines (quotes, backslashes, slashes, `|`, a
line break, an attempt to close the string and add a command), and compare every key with
DuckDB over the same file. One integration test runs the real CLI on the emulator.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cafepipe.cli import main
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.logs_insights import MAX_QUERY_LENGTH, Event, run_query
from cafepipe.errors import UsageError
from cafepipe.insights import _cafe_time_queries, check_scope, engine_statements, run_duckdb
from cafepipe.insights.cloudwatch_engine import engine_query, result_rows
from cafepipe.insights.queries import INSIGHTS, Insight
from cafepipe.insights.scope import MAX_WHERE_VALUE, Filters, Period, parse_where
from cafepipe.insights.sources import Source
from cafepipe.insights.summary import summarize
from cafepipe.logs.generate import build_options, generate_log

ZONE = "Europe/Paris"  # summer time ends on 26 Oct 2025, inside the log
START = datetime(2025, 10, 22, tzinfo=timezone.utc)
END = datetime(2025, 10, 29, tzinfo=timezone.utc)
LI_INSIGHTS = tuple(insight for insight in INSIGHTS if insight.logs_insights is not None)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
# Values a visitor controls (the place comes from the JSON line), each on its own lines.
QUOTED = 'O\'Brien "The Bean"'
BACKSLASH = "C:\\cafe\\"
SLASHED = "a/b|c"
INJECTION = 'x"] | stats count(*) as requests | filter city in ["'
BROKEN = "two\nlines"


def _line(moment: datetime, **fields: str) -> str:
    line = {
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "process": "1500",
        "filename": "/var/www/html/cafe/index.php",
        "remoteIP": "203.0.113.7",
        "host": "cafe.example.com",
        "request": "/cafe/menu.php",
        "query": "",
        "method": "GET",
        "status": "200",
        "bytes": "512",
        "userAgent": FIREFOX,
        "referer": "-",
        "country": "FR",
        "region": "Île-de-France",
        "city": "Paris",
        "lat": "48.8",
        "lon": "2.3",
        **fields,
    }
    return json.dumps(line, ensure_ascii=False)


def hostile_lines() -> list[str]:
    at = [START + timedelta(days=4, minutes=7 * minute) for minute in range(30)]
    order = {"request": "/cafe/processOrder.php", "method": "POST", "query": "?items=latte:1"}
    return [
        _line(at[0], city=QUOTED, region=BACKSLASH),
        _line(at[1], city=QUOTED, **order),
        _line(at[2], city=BACKSLASH.upper(), region=SLASHED, remoteIP="203.0.113.8"),
        _line(at[3], city=SLASHED, region=QUOTED),
        _line(at[4], city=INJECTION),
        _line(at[5], city=BROKEN, region=BROKEN),
        _line(at[6], referer='https://we"ird|host\\x.example/page', remoteIP="203.0.113.9"),
        _line(at[7], referer="HTTPS://Blog.Example.NET:8443/a?b#c"),
        _line(at[8], referer="https://blog.example.net/cafe/review", request="/cafe"),
        _line(at[9], query='?utm_source=mail&utm_campaign=Spring"|\\/sale'),
        _line(at[10], query='?utm_source=mail&utm_campaign=spring"|\\/SALE&x=1', request="/cafe"),
        _line(at[11], query="?xutm_campaign=spring&utm_source=x"),  # no campaign (as the SQL)
        _line(at[12], query="?utm_campaign=autumn&utm_source=mail"),
        _line(at[13], request='/cafe/we"ird|pa\\th/x.php', status="404"),
        _line(at[14], request='/CAFE/We"ird|Pa\\th/X.php', status="404"),
        _line(at[15], country="fr", city="Lyon", region="Auvergne-Rhône-Alpes"),
        _line(at[16], userAgent="Wget/1.21.4", city="Paris"),
        _line(at[17], userAgent="curl/8.5.0", request="/cafe"),
    ]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    """A generated week over the end of summer time plus the hostile lines: the file, and its
    lines as the events the CloudWatch agent delivers (one per line, at the line's time)."""
    path = tmp_path_factory.mktemp("where") / "access_log"
    generate_log(build_options(lines=1500, start=START, end=END, seed=7), path)
    with path.open("a", encoding="utf-8") as out:
        out.write("\n".join(hostile_lines()) + "\n")
    events = []
    for text in path.read_text(encoding="utf-8").splitlines():
        moment = datetime.fromisoformat(json.loads(text)["time"].replace("Z", "+00:00"))
        events.append(Event(int(moment.timestamp() * 1000), text))
    return path, events


def keys_of(insight: Insight) -> list[str]:
    return list(insight.columns) if insight.shape == "fields" else [insight.id]


def logs_insights_answer(events: list[Event], filters: Filters) -> dict[str, Any]:
    """What `run_logs_insights` computes, its queries evaluated by the emulator's engine."""
    start, end = START.replace(tzinfo=None), END.replace(tzinfo=None)
    insights = tuple(i for i in _cafe_time_queries(ZONE, start, end, filters) if i.logs_insights)
    rows = {i.id: result_rows(i, run_query(engine_query(i), events).rows) for i in insights}
    return summarize(rows, 0, insights)


def duckdb_answer(path: Path, filters: Filters) -> dict[str, Any]:
    run = run_duckdb(Source("file", str(path)), None, period=Period(), filters=filters, zone=ZONE)
    assert run.data["invalid_lines"] == 0
    return run.data


def assert_same(path: Path, events: list[Event], filters: Filters) -> dict[str, Any]:
    cloud, local = logs_insights_answer(events, filters), duckdb_answer(path, filters)
    differing = {
        key: {"logs insights": cloud.get(key), "duckdb": local.get(key)}
        for insight in LI_INSIGHTS
        for key in keys_of(insight)
        if cloud.get(key) != local.get(key)
    }
    assert not differing, json.dumps(differing, indent=1, ensure_ascii=False)
    return local


# (--where conditions, requests they keep): the counts are the hand-written lines' own, or
# (None) some but not all of the generated lines.
CASES: list[tuple[tuple[str, ...], int | None]] = [
    (("city=SEATTLE",), None),
    (("city=portland", "city=Toronto"), None),
    (("region=california",), None),
    (("country=United States",), None),
    (("country=fra",), None),  # a code in lower case in the log (line 15) counts too
    (("referrer=www.google.com",), None),
    (("referrer=https://BLOG.example.net/anything",), 2),
    (("campaign=Coffee-Near-Me",), None),
    (('campaign=SPRING"|\\/sale',), 2),
    (("campaign=spring",), 0),  # `?xutm_campaign=spring` is no campaign
    (("device=phone",), None),
    (("device=Tablet",), None),
    (("browser=firefox",), None),
    (("browser=Script",), 2),
    (("page=/cafe/menu.php?id=1",), None),
    (("city=Seattle", "device=Computer", "page=/cafe/menu.php"), None),
    ((f"city={QUOTED.upper()}",), 2),
    ((f"city={BACKSLASH.lower()}",), 1),
    ((f"region={BACKSLASH}",), 1),
    ((f"city={SLASHED}", f"region={SLASHED}"), 0),  # different fields all apply
    ((f"city={SLASHED}",), 1),
    ((f"city={INJECTION}",), 1),  # the whole text is the value: one city of that name
    (('referrer=we"ird|host\\x.example',), 1),
    (('page=/cafe/WE"IRD|pa\\th/x.php',), 2),
]


@pytest.mark.parametrize(("where", "kept"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_logs_insights_with_where_equals_duckdb(
    log: tuple[Path, list[Event]], where: tuple[str, ...], kept: int | None
) -> None:
    path, events = log
    local = assert_same(path, events, parse_where(where))
    if kept is None:
        assert 0 < local["requests"] < len(events)
    else:
        assert local["requests"] == kept


def test_every_field_is_covered() -> None:
    from cafepipe.insights.scope import WHERE_FIELDS

    covered = {c.split("=", 1)[0] for where, _ in CASES for c in where}
    assert covered == set(WHERE_FIELDS)


def test_a_line_break_is_refused_as_a_flag_and_escaped_in_a_query(
    log: tuple[Path, list[Event]],
) -> None:
    with pytest.raises(UsageError, match="control characters"):
        parse_where([f"city={BROKEN}"])
    # Filters made in code may hold one: it is an escape in the query, never a new line.
    filters = Filters({"city": (BROKEN,), "region": (BROKEN.upper(),)})
    assert "\n" not in filters.logs_insights() and "two\\nlines" in filters.logs_insights()
    path, events = log
    assert assert_same(path, events, filters)["requests"] == 1


def test_show_sql_prints_the_filtered_queries() -> None:
    statements = engine_statements(
        "cloudwatch", "2025-10-22", "2025-10-29", ('city=O"Brien|x', "device=phone"), ZONE
    )
    assert {insight.id for insight, _ in statements} == {i.id for i in LI_INSIGHTS}
    for insight, query in statements:
        assert query.startswith('filter tolower(city) in ["o\\"brien|x"] | '), insight.id
        assert 'filter whereDevice in ["Phone"]' in query
        assert query.endswith(engine_query(insight))
    cafe_hourly = {i.id: q for i, q in statements}["cafe_hourly"]
    assert "least(greatest(" in cafe_hourly  # the shift at the end of summer time is kept


def test_the_longest_filters_fit_and_longer_ones_are_exit_2() -> None:
    # Every field once at the longest value (the agent families are the long part): fits.
    longest = [f"{name}={'x' * MAX_WHERE_VALUE}" for name in ("city", "region", "referrer")]
    longest += [f"campaign={'x' * MAX_WHERE_VALUE}", f"page=/{'x' * (MAX_WHERE_VALUE - 1)}"]
    longest += ["country=FR", "device=Phone", "browser=Firefox"]
    since, until = "2025-01-01", "2025-12-31"  # two daylight-saving changes to shift by
    check_scope("cloudwatch", since, until, None, tuple(longest), ZONE)
    statements = engine_statements("cloudwatch", since, until, tuple(longest), ZONE)
    assert max(len(query) for _, query in statements) <= MAX_QUERY_LENGTH
    for _, query in statements:
        run_query(query, [])  # compiles: MalformedQuery if over the limit or broken
    # Sixty cities of 200 characters: over 10,000, refused before any AWS call.
    many = tuple(f"city={n:03d}{'x' * (MAX_WHERE_VALUE - 3)}" for n in range(60))
    with pytest.raises(UsageError, match="10,000"):
        check_scope("cloudwatch", since, until, None, many, ZONE)
    # The local engines take them: no limit there.
    check_scope("duckdb", since, until, None, many, ZONE)


@pytest.mark.integration
def test_the_cli_on_the_emulator_with_where_city(
    tmp_path: Path, emulator: EmulatorInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    """`insights --engine cloudwatch --where city=Seattle` on the emulator equals
    `--engine duckdb --source logs:<group>`, the period before included."""
    from cafepipe.aws import AwsClients
    from cafepipe.logs import ship

    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    path = tmp_path / "access_log"
    generate_log(build_options(lines=1500, start=end - timedelta(days=6), end=end, seed=3), path)
    logs = AwsClients("us-east-1", emulator.url).client("logs")
    group = f"where/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    assert ship.ship_file(logs, path, group, "i-0123456789abcdef0").events_sent == 1500
    # The period: the last three days, the previous three before; bounds on whole seconds
    # where no event is near, so both engines cut in the same place.
    times = sorted(
        datetime.fromisoformat(json.loads(text)["time"].replace("Z", "+00:00"))
        for text in path.read_text(encoding="utf-8").splitlines()
    )

    def clear(moment: datetime) -> datetime:
        while any(abs((t - moment).total_seconds()) < 3 for t in times):
            moment += timedelta(seconds=5)
        return moment

    since = clear(end - timedelta(days=3))
    until = clear(end + timedelta(minutes=1))
    scope = ["--since", since.strftime("%Y-%m-%dT%H:%M:%SZ")]
    scope += ["--until", until.strftime("%Y-%m-%dT%H:%M:%SZ"), "--where", "city=Seattle"]

    def insights(*args: str) -> dict[str, Any]:
        with pytest.raises(SystemExit) as stopped:
            main(["--endpoint-url", emulator.url, "insights", *args, "--format", "json"])
        out, err = capsys.readouterr()
        assert stopped.value.code in (0, None), err
        answer: dict[str, Any] = json.loads(out)
        return answer

    source = ["--source", f"logs:{group}"]
    cloud = insights("--engine", "cloudwatch", *source, *scope)
    local = insights("--engine", "duckdb", *source, *scope)
    assert cloud["meta"]["where"] == local["meta"]["where"] == {"city": ["Seattle"]}
    differing = {
        key: {"logs insights": cloud.get(key), "duckdb": local.get(key)}
        for insight in LI_INSIGHTS
        for key in keys_of(insight)
        if cloud.get(key) != local.get(key)
    }
    assert not differing, json.dumps(differing, indent=1, ensure_ascii=False)
    # The period before, filtered too (its headline figures; visits are DuckDB's only).
    assert cloud["previous"] == {key: local["previous"][key] for key in cloud["previous"]}
    assert 0 < cloud["previous"]["requests"] < 1500 - cloud["requests"]
    assert [row[0] for row in cloud["by_city"]] == ["Seattle"]
    # The lines of Seattle in the period, counted from the file.
    records = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    in_period = [
        r for r in records
        if since <= datetime.fromisoformat(r["time"].replace("Z", "+00:00")) < until
    ]  # fmt: skip
    assert cloud["requests"] == sum(r["city"] == "Seattle" for r in in_period) > 0
    assert cloud["requests"] < len(in_period)
