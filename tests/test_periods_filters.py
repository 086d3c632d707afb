"""Periods (`--since/--until`), `--compare previous`, and `--where` filters.

Hand-made logs with known numbers: a week beside the week before, and one line per kind of
visitor for the filters. Bad periods and filters go through the real `cafepipe` executable
and must be one `error:` line with exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlglot

from cafepipe.errors import UsageError
from cafepipe.insights import compute_insights
from cafepipe.insights.scope import (
    HEADLINE_KEYS,
    WHERE_FIELDS,
    Filters,
    Period,
    compare_mode,
    comparison_rows,
    parse_period,
    parse_where,
)

_SCRIPT = Path(sys.executable).with_name("cafepipe")
CAFEPIPE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "cafepipe"]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def line(moment: str, ip: str, request: str, status: int = 200, **fields: str) -> str:
    record = {
        "time": moment,
        "remoteIP": ip,
        "request": request,
        "query": "",
        "method": "GET",
        "status": str(status),
        "bytes": "100",
        "userAgent": BROWSER,
        "referer": "-",
        "host": "cafe.example.com",
        **fields,
    }
    return json.dumps(record)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(text + "\n" for text in lines))
    return path


# ---- periods ------------------------------------------------------------------------------


def test_durations_dates_and_times() -> None:
    assert parse_period("7d", now=NOW) == Period(datetime(2026, 11, 20, 12, 0), None)
    # --until 1h: an hour ago; --since 90m: ninety minutes before that.
    assert parse_period("90m", "1h", now=NOW) == Period(
        datetime(2026, 11, 27, 9, 30), datetime(2026, 11, 27, 11, 0)
    )
    # A duration in --since counts back from --until when there is one.
    assert parse_period("7d", "2026-11-20", now=NOW) == Period(
        datetime(2026, 11, 13), datetime(2026, 11, 20)
    )
    assert parse_period("2w", now=NOW).since == datetime(2026, 11, 13, 12, 0)
    assert parse_period(None, "2026-11-20T09:30:00Z").until == datetime(2026, 11, 20, 9, 30)
    # Dates and times without an offset are the café's; with one, that moment.
    paris = parse_period("2026-11-01", "2026-11-02T08:00", zone="Europe/Paris")
    assert paris == Period(datetime(2026, 10, 31, 23, 0), datetime(2026, 11, 2, 7, 0))
    summer = parse_period("2026-07-01", zone="Europe/Paris").since
    assert summer == datetime(2026, 6, 30, 22, 0)  # CEST: two hours ahead
    assert parse_period("2026-11-01T00:00:00+05:30", zone="Europe/Paris").since == datetime(
        2026, 10, 31, 18, 30
    )
    assert parse_period(None) == Period(None, None)


@pytest.mark.parametrize(
    ("since", "until", "words"),
    [
        ("yesterday", None, "--since 'yesterday' is not a duration"),
        (None, "soon", "--until 'soon' is not a duration"),
        ("2026-13-01", None, "is not a duration"),
        ("99999999d", None, "is not a duration"),  # too many digits for a duration
        ("999999w", None, "is not a duration"),  # before year 1
        ("2026-11-02", "2026-11-01", "is not before --until"),
        ("2026-11-01", "2026-11-01", "is not before --until"),  # an empty period
        ("2026-11-01T10:00:00+01:00", "2026-11-01T09:00:00Z", "is not before --until"),
    ],
)
def test_bad_periods(since: str | None, until: str | None, words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        parse_period(since, until, now=NOW)


def test_previous_period_and_compare_default() -> None:
    week = Period(datetime(2026, 11, 8), datetime(2026, 11, 15))
    assert week.previous() == Period(datetime(2026, 11, 1), datetime(2026, 11, 8))
    open_end = Period(datetime(2026, 11, 26, 12, 0))
    assert open_end.previous(NOW) == Period(
        datetime(2026, 11, 25, 12, 0), datetime(2026, 11, 26, 12, 0)
    )
    assert Period(None, datetime(2026, 11, 8)).previous() is None
    assert compare_mode(None, week) == "previous" and compare_mode(None, Period()) == "none"
    assert compare_mode("none", week) == "none"
    with pytest.raises(UsageError, match="needs a period"):
        compare_mode("previous", Period(None, datetime(2026, 11, 8)))
    assert week.sql() == (
        "ts >= TIMESTAMP '2026-11-08 00:00:00' AND ts < TIMESTAMP '2026-11-15 00:00:00'"
    )
    assert Period().sql() == "TRUE"


def two_weeks(path: Path) -> Path:
    """This week (8–15 Nov) and the week before, with known numbers; edges on both sides."""
    return write(
        path,
        [
            line("2026-10-31T23:59:59Z", "198.51.100.1", "/cafe/menu.php"),  # before both
            # The week before: 4 requests, C and D saw the menu, C ordered twice.
            line("2026-11-01T00:00:00Z", "198.51.100.3", "/cafe/menu.php"),
            line("2026-11-02T10:00:00Z", "198.51.100.4", "/cafe/menu.php"),
            line("2026-11-03T10:00:00Z", "198.51.100.3", "/cafe/processOrder.php"),
            line("2026-11-07T23:59:59Z", "198.51.100.3", "/cafe/processOrder.php"),
            # This week: 6 requests; A saw the menu 3 times and ordered, B's order refused.
            line("2026-11-08T00:00:00Z", "198.51.100.10", "/cafe/menu.php"),
            line("2026-11-09T09:00:00Z", "198.51.100.10", "/cafe/menu.php"),
            line("2026-11-10T09:00:00Z", "198.51.100.10", "/cafe/menu.php"),
            line("2026-11-10T09:05:00Z", "198.51.100.10", "/cafe/processOrder.php"),
            line("2026-11-11T09:00:00Z", "198.51.100.11", "/cafe/processOrder.php", 400),
            line("2026-11-12T09:00:00Z", "192.0.2.66", "/cafe", userAgent=GOOGLEBOT),
            line("2026-11-15T00:00:00Z", "198.51.100.12", "/cafe/menu.php"),  # until: out
        ],
    )


def test_compare_previous_on_a_hand_made_log(tmp_path: Path) -> None:
    log = two_weeks(tmp_path / "two_weeks.log")
    run = compute_insights(
        str(log), None, "g", None, since="2026-11-08", until="2026-11-15T00:00:00Z"
    )
    data, previous = run.data, run.data["previous"]
    now = {key: data[key] for key in HEADLINE_KEYS[:9]}
    assert now == {
        "requests": 6, "unique_ips": 3, "menu_views": 3, "order_requests": 1,
        "menu_visitors": 1, "purchasers": 1, "conversion_rate": 1.0, "bot_requests": 1,
        "scanner_requests": 0,
    }  # fmt: skip
    assert {key: previous[key] for key in HEADLINE_KEYS[:9]} == {
        "requests": 4, "unique_ips": 2, "menu_views": 2, "order_requests": 2,
        "menu_visitors": 2, "purchasers": 1, "conversion_rate": 0.5, "bot_requests": 0,
        "scanner_requests": 0,
    }  # fmt: skip
    # Every headline key the result has is compared, the visit keys included once they exist.
    assert set(previous) == {key for key in HEADLINE_KEYS if key in data}
    assert run.meta["compare"] == "previous"
    assert (run.meta["previous_since"], run.meta["previous_until"]) == (
        "2026-11-01T00:00:00",
        "2026-11-08T00:00:00",
    )
    rows = {row[0]: row[1:] for row in comparison_rows(data)}
    assert rows["requests"] == (6, 4, 2, 50.0)
    assert rows["order_requests"] == (1, 2, -1, -50.0)
    assert rows["conversion_rate"] == (1.0, 0.5, 0.5, None)  # points, not a percentage
    assert rows["bot_requests"] == (1, 0, 1, None)  # from nothing: no percentage
    # The other insights cover this period only.
    assert sum(data["hourly"]) == 6 and data["invalid_lines"] == 0


def test_compare_none_and_no_period(tmp_path: Path) -> None:
    log = two_weeks(tmp_path / "two_weeks.log")
    run = compute_insights(str(log), None, "g", None, since="2026-11-08", compare="none")
    assert "previous" not in run.data and run.data["requests"] == 7  # open end: the 15th too
    whole = compute_insights(str(log), None, "g", None)
    assert "previous" not in whole.data and whole.data["requests"] == 12
    assert whole.meta["since"] is None and whole.meta["compare"] == "none"


def test_the_table_shows_change_and_percent(tmp_path: Path) -> None:
    log = two_weeks(tmp_path / "two_weeks.log")
    result = cafepipe(tmp_path, "--source", str(log), "--since", "2026-11-08", "--until",
                      "2026-11-15")  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = result.stdout[result.stdout.index("Compared with the previous period") :]
    requests = next(row for row in table.splitlines() if row.lstrip().startswith("Requests"))
    assert [cell.strip() for cell in requests.split("│")[1:]] == ["6", "4", "+2", "+50.0 %"]
    conversion = next(row for row in table.splitlines() if "conversion" in row)
    assert "+50.0 pts" in conversion


# ---- --where ------------------------------------------------------------------------------


def places_log(path: Path) -> Path:
    day = "2026-11-10T10:00:00Z"
    return write(
        path,
        [
            line(day, "198.51.100.1", "/cafe/menu.php", userAgent=IPHONE, city="Paris",
                 region="Ile-de-France", country="FR",
                 referer="https://www.Google.com/search?q=cafe"),
            line(day, "198.51.100.2", "/cafe", query="?utm_source=news&utm_campaign=Spring_Sale",
                 city="Lyon", region="Auvergne-Rhone-Alpes", country="FR"),
            line(day, "198.51.100.3", "/cafe/menu.php", userAgent=MAC_CHROME, city="Seattle",
                 region="Washington", country="US", referer="https://news.example.org/a"),
            line(day, "192.0.2.66", "/cafe/menu.php", userAgent=GOOGLEBOT, city="Seattle",
                 region="Washington", country="US"),
            line(day, "198.51.100.5", "/cafe/item.php", query="?id=latte", userAgent=ANDROID,
                 city="O'Fallon", region="Missouri", country="US"),
        ],
    )  # fmt: skip


def requests_where(log: Path, *conditions: str) -> dict[str, Any]:
    return compute_insights(str(log), None, "g", None, where=conditions).data


@pytest.mark.parametrize(
    ("conditions", "requests"),
    [
        (("city=paris",), 1),
        (("city=SEATTLE",), 2),
        (("city=O'Fallon",), 1),  # a quote in a value is a value, not SQL
        (("city=Paris", "city=Lyon"), 2),  # one field twice: either
        (("region=washington",), 2),
        (("country=FR",), 2),
        (("country=france",), 2),
        (("country=FRA",), 2),
        (("country=United States",), 3),
        (("country=us", "city=seattle"), 2),  # two fields: both
        (("referrer=www.google.com",), 1),
        (("referrer=https://www.google.com/search",), 1),  # a pasted URL: its host
        (("campaign=spring_sale",), 1),
        (("device=phone",), 2),
        (("device=Computer",), 2),
        (("device=bot or crawler",), 1),
        (("browser=firefox",), 1),
        (("browser=CHROME",), 2),
        (("page=/CAFE/MENU.PHP",), 3),
        (("page=/cafe/item.php?id=latte",), 1),  # the path only
        (("city=x' OR '1'='1",), 0),
        (("page=/cafe'); DROP TABLE parsed; --",), 0),
    ],
)
def test_every_where_field(tmp_path: Path, conditions: tuple[str, ...], requests: int) -> None:
    data = requests_where(places_log(tmp_path / "places.log"), *conditions)
    assert data["requests"] == requests


def test_a_filter_applies_to_every_insight(tmp_path: Path) -> None:
    data = requests_where(places_log(tmp_path / "places.log"), "country=France")
    assert [row[0] for row in data["by_city"]] == ["Paris", "Lyon"]
    assert data["by_country"] == [["FR", 1, 0]] and data["country_names"] == {"FR": "France"}
    assert {row[0] for row in data["devices"]} == {"Phone", "Computer"}
    assert sum(data["hourly"]) == 2 and data["bot_requests"] == 0
    assert data["campaigns"] == [["news", "", "Spring_Sale", 1]]


def test_filters_and_compare_together(tmp_path: Path) -> None:
    log = two_weeks(tmp_path / "two_weeks.log")
    data = compute_insights(
        str(log), None, "g", None, since="2026-11-08", until="2026-11-15",
        where=("page=/cafe/menu.php",),
    ).data  # fmt: skip
    assert data["requests"] == 3 and data["previous"]["requests"] == 2


def test_where_values_are_canonical_and_the_sql_is_portable() -> None:
    filters = parse_where(["Country=france", "device=PHONE", "device=phone", "city=Paris"])
    assert filters.values == {"country": ("FR",), "device": ("Phone",), "city": ("Paris",)}
    sql = filters.sql()
    assert "upper(CAST(country AS VARCHAR)) IN ('FR')" in sql
    assert "FROM agents WHERE device IN ('Phone')" in sql
    assert Filters().sql() == "TRUE" and not Filters()
    # Trino (Athena) reads it as it is: sqlglot finds nothing DuckDB-only to rewrite.
    texts = [f"{name}=x" for name in WHERE_FIELDS if name not in ("country", "device", "browser")]
    every = parse_where([*texts, "country=FR", "browser=Edge"])
    condition = f"SELECT 1 FROM logs WHERE {every.sql()}"
    trino = sqlglot.transpile(condition, read="duckdb", write="trino")[0]
    assert "REGEXP_EXTRACT" in trino and "'x'" in trino
    hostile = parse_where(["city=a'b"]).sql()
    assert "lower('a''b')" in hostile  # quoted as SQL quotes it


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("colour=red", "unknown field 'colour'"),
        ("city", "is not field=value"),
        ("=Paris", "is not field=value"),
        ("city=", "has no value"),
        ("device=fridge", "is not a device"),
        ("browser=netscape", "is not a browser"),
        ("country=Atlantis", "no such country"),
        ("city=" + "x" * 201, "longer than 200"),
        ("city=a\x1b[2Jb", "control characters"),
    ],
)
def test_bad_where(condition: str, words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("[", r"\[")):
        parse_where([condition])


# ---- through the real command -------------------------------------------------------------


def cafepipe(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CAFEPIPE_"))}
    env.update(HOME=str(workdir), COLUMNS="200", AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run(
        [*CAFEPIPE, "--state-dir", str(workdir / "state"), "insights", *args],
        cwd=workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--where", "colour=red"), ("unknown field", "city, region, country, referrer")),
        (("--where", "device=fridge"), ("not a device", "Phone")),
        (("--where", "country=Atlantis"), ("no such country",)),
        (("--since", "yesterday"), ("--since", "not a duration")),
        (("--until", "2026-02-30"), ("--until", "not a duration")),
        (("--since", "2026-11-15", "--until", "2026-11-08"), ("not before --until",)),
        (("--compare", "previous"), ("needs a period",)),
        (("--compare", "next"), ("--compare",)),
        # Checked before any AWS access: a cloud source with a bad filter is still exit 2.
        (("--source", "s3://bucket/key", "--where", "colour=red"), ("unknown field",)),
        # Logs Insights takes at most 10,000 characters a query: too many filters are refused.
        (
            ("--engine", "cloudwatch", *[f"--where=city={n:03d}{'x' * 197}" for n in range(60)]),
            ("10,000",),
        ),
    ],
)
def test_bad_periods_and_filters_exit_2(
    tmp_path: Path, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    log = write(tmp_path / "access.log", [line("2026-11-10T10:00:00Z", "198.51.100.1", "/cafe")])
    source = () if "--source" in args or "--engine" in args else ("--source", str(log))
    result = cafepipe(tmp_path, *source, *args)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 2, result.stderr
    errors = [row for row in result.stderr.splitlines() if row.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word.lower() in result.stderr.lower(), result.stderr


def test_a_period_and_a_filter_through_the_command(tmp_path: Path) -> None:
    log = two_weeks(tmp_path / "two_weeks.log")
    (tmp_path / "cafepipe.toml").write_text('timezone = "America/Los_Angeles"\n')
    # 8 Nov 00:00 in Los Angeles (PST) is 08:00 UTC: the 8 Nov 00:00 UTC line is out.
    period = ("--since", "2026-11-08", "--until", "2026-11-15")
    result = cafepipe(
        tmp_path,
        "--source",
        str(log),
        *period,
        "--where",
        "page=/cafe/menu.php",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["requests"] == 3  # 9th, 10th and the 15th 00:00 UTC (still the 14th there)
    assert data["meta"]["since"] == "2026-11-08T08:00:00" and data["meta"]["timezone"] == (
        "America/Los_Angeles"
    )
    assert data["meta"]["where"] == {"page": ["/cafe/menu.php"]}
    schema = json.loads((Path(__file__).parents[1] / "docs/insights.schema.json").read_text())
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert not errors
    # The week before: 1 Nov 08:00 UTC to 8 Nov 08:00 UTC (PDT ended on the 1st at 09:00
    # UTC; the period is 7 × 24 hours): the 2nd and the 8th 00:00 UTC; the 1st 00:00 is out.
    assert data["previous"]["requests"] == 2
    assert data["meta"]["previous_since"] == "2026-11-01T08:00:00"
