"""Café time: hours and weekdays in the café's zone, right across daylight-saving changes.

Hand-made logs whose local hours were worked out by hand (Europe/Paris: CET +01:00, CEST
+02:00 from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October;
Asia/Kolkata +05:30 all year), the SQL form checked against DuckDB's own ICU time zones, the
Logs Insights form on the emulator's evaluator, and the generator's truth (zoneinfo) equal to
the insights on generated logs spanning the October and March changes — with the zone given
to the generator as `generate-logs --timezone`, the config's `timezone`, and `simulate-logs`
give it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cafepipe.cli import main
from cafepipe.deploy.logs_insights import Event, run_query
from cafepipe.insights import compute_insights
from cafepipe.insights.duckdb_engine import load_log, run_catalog, scope_logs
from cafepipe.insights.queries import INSIGHTS_BY_ID, cafe_time_logs_insights
from cafepipe.insights.scope import cafe_time_sql, offset_changes
from cafepipe.insights.summary import summarize
from cafepipe.logs.generate import build_options, generate_log
from cafepipe.logs.generate.tables import Tables
from cafepipe.logs.generate.truth import CAFE_TIME_KEYS, TruthCounter
from cafepipe.logs.generate.writer import _chunks
from cafepipe.logs.simulate import SimulateOptions, default_generator

UTC = timezone.utc

# (UTC time, Paris hour, Paris weekday 0=Monday) — worked out by hand.
PARIS_LINES = (
    (datetime(2026, 3, 29, 0, 30), 1, 6),  # Sunday 01:30 CET, half an hour before the change
    (datetime(2026, 3, 29, 1, 30), 3, 6),  # Sunday 03:30 CEST: 02:xx never happened
    (datetime(2026, 7, 1, 12, 0), 14, 2),  # Wednesday 14:00 CEST
    (datetime(2026, 10, 24, 22, 30), 0, 6),  # Sunday 00:30 CEST (Saturday in UTC)
    (datetime(2026, 10, 25, 0, 30), 2, 6),  # Sunday 02:30 CEST, the first 02:30
    (datetime(2026, 10, 25, 1, 30), 2, 6),  # Sunday 02:30 CET, the second 02:30
    (datetime(2026, 10, 25, 23, 30), 0, 0),  # Monday 00:30 CET
)


def json_line(moment: datetime, ip: str = "203.0.113.7") -> str:
    return json.dumps(
        {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "remoteIP": ip,
            "request": "/cafe/menu.php",
            "query": "",
            "method": "GET",
            "status": "200",
            "bytes": "512",
            "userAgent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0",
            "referer": "-",
        }
    )


def combined_line(moment: datetime, ip: str = "203.0.113.7") -> str:
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{stamp}] "GET /cafe/menu.php HTTP/1.1" 200 512 "-" "Mozilla/5.0"'


def write_log(path: Path, moments: list[datetime], log_format: str = "json") -> Path:
    make = json_line if log_format == "json" else combined_line
    path.write_text("".join(make(moment) + "\n" for moment in moments))
    return path


def cafe_insights(path: Path, zone: str) -> dict[str, Any]:
    loaded = load_log(path)
    try:
        scope_logs(loaded.connection, zone=zone)
        return summarize(run_catalog(loaded), loaded.invalid_lines)
    finally:
        loaded.close()


def expected(lines: tuple[tuple[datetime, int, int], ...]) -> tuple[list[int], list[int]]:
    hours, days = [0] * 24, [0] * 7
    for _, hour, day in lines:
        hours[hour] += 1
        days[day] += 1
    return hours, days


@pytest.mark.parametrize("log_format", ["json", "combined"])
def test_paris_hours_across_both_changes_of_2026(tmp_path: Path, log_format: str) -> None:
    log = write_log(tmp_path / "paris.log", [m for m, _, _ in PARIS_LINES], log_format)
    data = cafe_insights(log, "Europe/Paris")
    hours, days = expected(PARIS_LINES)
    assert data["cafe_hourly"] == hours and data["cafe_weekday"] == days
    assert data["cafe_hourly"][2] == 2  # October's repeated hour holds both of its lines
    # The contract key stays UTC: 22:30, 00:30 ×2, 01:30 ×2, 12:00, 23:30.
    utc = [0] * 24
    for hour in (22, 0, 0, 1, 1, 12, 23):
        utc[hour] += 1
    assert data["hourly"] == utc
    assert data["weekday"][5] == 1  # the Saturday 22:30 UTC line is Sunday at the café


def test_a_half_hour_zone_and_utc(tmp_path: Path) -> None:
    # Kolkata is +05:30: 18:45 UTC on Sunday 1 November is 00:15 on Monday 2 November.
    log = write_log(tmp_path / "kolkata.log", [datetime(2026, 11, 1, 18, 45)])
    data = cafe_insights(log, "Asia/Kolkata")
    assert data["cafe_hourly"].index(1) == 0 and data["cafe_weekday"].index(1) == 0
    utc = cafe_insights(log, "UTC")
    assert utc["cafe_hourly"] == utc["hourly"] and utc["cafe_weekday"] == utc["weekday"]


def test_compute_insights_labels_the_zone(tmp_path: Path) -> None:
    log = write_log(tmp_path / "paris.log", [m for m, _, _ in PARIS_LINES])
    run = compute_insights(str(log), None, "g", None, zone="Europe/Paris")
    hours, _ = expected(PARIS_LINES)
    assert run.data["cafe_timezone"] == "Europe/Paris" and run.meta["timezone"] == "Europe/Paris"
    assert run.data["cafe_hourly"] == hours


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Los_Angeles", "Australia/Lord_Howe"])
def test_the_sql_form_equals_duckdb_icu_every_quarter_hour_of_a_year(zone: str) -> None:
    # An independent reference: DuckDB's ICU time zones (the wheel carries them). Lord Howe
    # moves by half an hour, at 15:00 UTC; Los Angeles at 09:00 or 10:00 UTC.
    start, end = datetime(2026, 1, 1), datetime(2027, 1, 1)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE t AS SELECT range AS ts FROM range(TIMESTAMP '2026-01-01', "
        "TIMESTAMP '2027-01-01', INTERVAL 15 MINUTE)"
    )
    ours = cafe_time_sql(zone, start, end)
    icu = f"timezone('{zone}', ts AT TIME ZONE 'UTC')"
    differ = con.execute(f"SELECT count(*) FROM t WHERE ({ours}) <> {icu}").fetchone()
    total = con.execute("SELECT count(*) FROM t").fetchone()
    assert total == (35040,) and differ == (0,)
    assert len(offset_changes(zone, start, end)) == 3  # the offset at start, two changes


def test_offset_changes_of_paris_are_at_one_utc() -> None:
    changes = offset_changes("Europe/Paris", datetime(2026, 1, 1), datetime(2027, 1, 1))
    assert changes == [
        (datetime(2026, 1, 1), 60),
        (datetime(2026, 3, 29, 1, 0), 120),
        (datetime(2026, 10, 25, 1, 0), 60),
    ]
    assert offset_changes("Asia/Kolkata", datetime(2026, 1, 1), datetime(2027, 1, 1)) == [
        (datetime(2026, 1, 1), 330)
    ]


def test_logs_insights_form_equals_duckdb(tmp_path: Path) -> None:
    moments = [m for m, _, _ in PARIS_LINES]
    events = [Event(int(m.replace(tzinfo=UTC).timestamp() * 1000), json_line(m)) for m in moments]
    start, end = datetime(2026, 1, 1), datetime(2027, 1, 1)
    epoch = datetime(1970, 1, 1)
    changes = tuple(
        (int((moment - epoch).total_seconds() * 1000), minutes)
        for moment, minutes in offset_changes("Europe/Paris", start, end)
    )
    hours, days = expected(PARIS_LINES)
    for part, want in (("hour", hours), ("weekday", days)):
        result = run_query(cafe_time_logs_insights(part, changes), events)
        got = [0] * len(want)
        for row in result.rows:
            cells = {cell["field"]: cell["value"] for cell in row}
            got[int(float(cells[part]))] += int(cells["requests"])
        assert got == want, part
    # The catalog's own query (the dashboard's) is the UTC one.
    assert INSIGHTS_BY_ID["cafe_hourly"].logs_insights == cafe_time_logs_insights("hour")


@pytest.mark.parametrize("log_format", ["json", "combined"])
def test_generated_log_across_the_october_change_equals_truth(
    tmp_path: Path, log_format: str
) -> None:
    options = build_options(
        lines=20_000,
        start=datetime(2026, 10, 23, tzinfo=UTC),
        end=datetime(2026, 10, 28, tzinfo=UTC),
        seed=5,
        log_format=log_format,
    )
    tables = Tables(options)
    truth = TruthCounter(tables, zone="Europe/Paris")
    path = tmp_path / "generated.log"
    with path.open("wb") as out:
        for text, _ in _chunks(tables, truth):
            out.write(text)
    want = truth.cafe_time()
    assert want["cafe_timezone"] == "Europe/Paris" and sum(want["cafe_hourly"]) == 20_000
    assert set(want) == set(CAFE_TIME_KEYS)
    data = cafe_insights(path, "Europe/Paris")
    data["cafe_timezone"] = "Europe/Paris"  # set by compute_insights, not by summarize
    assert {key: data[key] for key in CAFE_TIME_KEYS} == want
    # And the default truth (UTC) is the UTC series.
    utc = TruthCounter(tables).result()
    assert utc["cafe_timezone"] == "UTC"
    assert utc["cafe_hourly"] == utc["hourly"] and want["cafe_hourly"] != utc["hourly"]


# ------------------------------------------------ the generator's truth in the café's zone


def test_generated_log_with_a_paris_timezone_across_the_march_change_equals_insights(
    tmp_path: Path,
) -> None:
    # The spring change (29 March 2026, 01:00 UTC: 02:00 CET becomes 03:00 CEST) inside the
    # window; the zone is the generator's own option now, as `generate-logs --timezone` sets it.
    start, end = datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)
    paris = build_options(lines=12_000, seed=9, start=start, end=end, timezone="Europe/Paris")
    log = tmp_path / "paris.log"
    truth = generate_log(paris, log)
    run = compute_insights(str(log), None, "g", None, zone="Europe/Paris")
    assert truth["cafe_timezone"] == "Europe/Paris"
    assert {key: run.data[key] for key in CAFE_TIME_KEYS} == {
        key: truth[key] for key in CAFE_TIME_KEYS
    }
    assert truth["cafe_hourly"] != truth["hourly"] and sum(truth["cafe_hourly"]) == 12_000
    # The zone changes the truth only: the log is the same bytes as the UTC run's.
    utc_log = tmp_path / "utc.log"
    utc_truth = generate_log(build_options(lines=12_000, seed=9, start=start, end=end), utc_log)
    assert utc_log.read_bytes() == log.read_bytes()
    assert utc_truth["cafe_timezone"] == "UTC" and utc_truth["cafe_hourly"] == truth["hourly"]


def _generate_logs(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stopped:
        main(["generate-logs", "--lines", "800", "--end", "2026-10-26T00:00:00Z", *args])
    return int(stopped.value.code or 0), capsys.readouterr().err


def test_generate_logs_truth_is_in_the_configs_timezone_or_the_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cafepipe.toml").write_text('timezone = "Asia/Kolkata"\n')
    log, truth_file = tmp_path / "log", tmp_path / "truth.json"
    files = ["--out", str(log), "--truth", str(truth_file), "--quiet"]
    code, err = _generate_logs(files, capsys)
    assert (code, err) == (0, "")
    from_config = json.loads(truth_file.read_text())
    assert from_config["cafe_timezone"] == "Asia/Kolkata"
    data = compute_insights(str(log), None, "g", None, zone="Asia/Kolkata").data
    assert {key: data[key] for key in CAFE_TIME_KEYS} == {
        key: from_config[key] for key in CAFE_TIME_KEYS
    }
    code, _ = _generate_logs([*files, "--timezone", "Europe/Paris"], capsys)
    assert code == 0 and json.loads(truth_file.read_text())["cafe_timezone"] == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "../../etc/passwd", ""])
def test_generate_logs_refuses_an_unknown_timezone_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], zone: str
) -> None:
    out = tmp_path / "log"
    code, err = _generate_logs(["--out", str(out), "--timezone", zone], capsys)
    assert code == 2 and f"--timezone: {zone!r} is not a time zone" in err
    assert "Traceback" not in err and not out.exists()


def test_simulate_logs_generator_counts_cafe_time_in_the_stacks_zone(tmp_path: Path) -> None:
    # simulate-logs and the demo hand the config's `timezone` to the generator: its truth.json
    # then has the café hours that `insights` (same zone) gives for the simulated log.
    log = tmp_path / "access_log"
    truth = default_generator(zone="America/Los_Angeles")(log, SimulateOptions(lines=3000))
    assert truth["cafe_timezone"] == "America/Los_Angeles"
    data = compute_insights(str(log), None, "g", None, zone="America/Los_Angeles").data
    assert {key: data[key] for key in CAFE_TIME_KEYS} == {key: truth[key] for key in CAFE_TIME_KEYS}
