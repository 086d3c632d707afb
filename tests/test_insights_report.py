"""What the owner sees: the CLI's tables, JSON, CSV, and the HTML report in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from cafepipe.cli import main
from cafepipe.insights.queries import INSIGHTS

DATA = Path(__file__).parent / "data"
REAL_LOG = DATA / "hackers-access-sample.log"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


@pytest.fixture
def simulated_log(tmp_path: Path) -> Path:
    from datetime import datetime, timezone

    from cafepipe.logs.generate import build_options, generate_log

    options = build_options(
        lines=5000,
        start=datetime(2026, 11, 20, tzinfo=timezone.utc),
        end=datetime(2026, 11, 27, tzinfo=timezone.utc),
        seed=5,
    )
    path = tmp_path / "access_log.json"
    generate_log(options, path)
    return path


def test_table_csv_and_json_tell_the_same(
    simulated_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["insights", "--source", str(simulated_log), "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    code, table, _ = run_cli(["insights", "--source", str(simulated_log)], capsys)
    assert code == 0
    for insight in INSIGHTS:
        assert insight.title in table
    assert f"{data['requests']:,}" in table
    assert f"{data['menu_visitors']:,}" in table
    code, text, _ = run_cli(["insights", "--source", str(simulated_log), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(text)))
    cell = {(r["insight"], r["row"], r["column"]): r["value"] for r in rows}
    assert cell[("totals", "0", "requests")] == str(data["requests"])
    assert cell[("orders_placed", "0", "conversion_rate")] == str(data["conversion_rate"])
    first_city = data["by_city"][0]
    assert cell[("by_city", "1", "city")] == first_city[0]
    assert cell[("by_city", "1", "menu_views")] == str(first_city[1])
    assert cell[("hourly", "9", "requests")] == str(data["hourly"][8])
    assert cell[("status_classes", "1", "2xx")] == str(data["status_classes"]["2xx"])


def test_default_source_is_the_latest_simulated_log(
    tmp_path: Path, simulated_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    code, _, err = run_cli(["--state-dir", str(state), "insights"], capsys)
    assert code == 2 and "no log to analyse" in err
    folder = state / "cafe" / "simulated"
    folder.mkdir(parents=True)
    shutil.copy(simulated_log, folder / "access_log.json")
    (folder / "truth.json").write_text("{}")
    code, out, _ = run_cli(["--state-dir", str(state), "insights", "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["requests"] == 5000


def test_bad_flags_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["insights", "--source", str(tmp_path / "nope.log")], capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(["insights", "--source", str(REAL_LOG), "--since", "soon"], capsys)
    assert code == 2 and "--since 'soon'" in err
    code, _, err = run_cli(["insights", "--source", str(REAL_LOG), "--engine", "athena"], capsys)
    assert code == 2 and "athena reads the stack's data lake, not --source" in err
    out = tmp_path / "missing-dir" / "r.html"
    code, _, err = run_cli(
        ["insights", "--source", str(REAL_LOG), "--format", "html", "--out", str(out)], capsys
    )
    assert code == 2 and "cannot write" in err


def test_html_report_is_self_contained(
    simulated_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    code, _, _ = run_cli(
        ["insights", "--source", str(simulated_log), "--format", "html", "--out", str(report)],
        capsys,
    )
    assert code == 0
    html = report.read_text()
    # No external requests: no URL the browser would fetch (links in text are not fetched).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    for insight in INSIGHTS:  # the UTC hours are folded into the café-time card
        assert f'data-insight="{insight.id}"' in html or f'data-also="{insight.id}"' in html
    assert html.count("<svg") >= 10


# ---- the report as an owner reads it ------------------------------------------------------


def week_report_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict]:
    """Two weeks of café traffic ending mid-afternoon; the report covers the second week,
    in Los Angeles time, beside the week before."""
    from datetime import datetime, timezone

    from cafepipe.logs.generate import build_options, generate_log

    log = tmp_path / "two_weeks.json"
    options = build_options(
        lines=8000,
        start=datetime(2026, 11, 13, tzinfo=timezone.utc),
        end=datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc),
        seed=7,
    )
    generate_log(options, log)
    config = tmp_path / "cafepipe.toml"
    config.write_text('timezone = "America/Los_Angeles"\n')
    code, out, err = run_cli(
        ["--config", str(config), "insights", "--source", str(log), "--format", "json",
         "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-27T15:30:00Z"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    return data, data.pop("meta")


def test_report_speaks_of_the_cafe_and_compares_periods(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cafepipe.insights.report import render_html, report_context

    data, meta = week_report_data(tmp_path, capsys)
    context = report_context(data, meta)
    cards = {card["key"]: card for card in context["cards"]}
    # Visit figures lead, each with its change since the week before, in words and arrows.
    assert list(cards)[:4] == ["visits", "pageviews_per_visit", "bounce_rate",
                               "visit_duration_median_s"]  # fmt: skip
    visits = cards["visits"]["change"]
    now, before = data["visits"], data["previous"]["visits"]
    assert visits["arrow"] == ("▲" if now > before else "▼" if now < before else "=")
    if now != before:
        assert visits["text"] == f"{'up' if now > before else 'down'} " + (
            f"{abs(100 * (now - before) / before):.1f} %"
        )
    bounce = cards["bounce_rate"]["change"]
    if data["bounce_rate"] > data["previous"]["bounce_rate"]:
        assert (bounce["arrow"], bounce["tone"], bounce["verdict"]) == ("▲", "bad", "worse")
    assert bounce["text"].endswith("pts") or bounce["text"] == "no change"
    html = render_html(data, meta)
    # The café's hours, labelled with its zone; the UTC ones are folded into the same card.
    assert "Busiest hours at the café (America/Los Angeles)" in html
    assert 'data-insight="cafe_hourly" data-also="hourly"' in html
    # The log ends at 15:30 (its last line a few minutes before): drawn dashed, and said.
    assert "Fri 27 Nov is not a full day (until 15:30 UTC)" in html
    # Country names, not codes; no talk of where the project came from.
    assert "<td>United States</td>" in html and "<td>US</td>" not in html
    for word in ("exercise", " lab ", "lab's", "widget"):
        assert word not in html.lower()


def test_funnel_widths_follow_the_visits() -> None:
    from cafepipe.insights.report import FUNNEL_WIDTH, funnel_chart, funnel_steps

    rows = [["landing", "", 1000, 1, 0], ["menu", "/cafe/menu.php", 500, 0.5, 500],
            ["item", "/cafe/item.php", 250, 0.5, 250],
            ["order", "/cafe/processOrder.php", 50, 0.2, 200]]  # fmt: skip
    steps = funnel_steps(rows)
    assert [s[0] for s in steps] == ["Arrived on the site", "Opened the menu", "Looked at a dish",
                                     "Placed an order"]  # fmt: skip
    drawn = funnel_chart(steps)["steps"]
    assert [s.width for s in drawn] == [FUNNEL_WIDTH, FUNNEL_WIDTH / 2, FUNNEL_WIDTH / 4,
                                        FUNNEL_WIDTH / 20]  # fmt: skip
    assert all(abs(s.x + s.width / 2 - FUNNEL_WIDTH / 2) < 1e-9 for s in drawn)  # centred
    assert drawn[3].went_on == "20.0 % went on" and drawn[3].left == "200 left (80.0 %)"
    # Objects with named fields give the same funnel.
    named = [dict(zip(("step", "page", "visits", "conversion", "drop_off"), r, strict=True))
             for r in rows]  # fmt: skip
    assert funnel_steps(named) == steps


def test_partial_last_day_only_when_the_log_ends_during_it() -> None:
    from cafepipe.insights.report import partial_last_day

    days = ["2026-11-26", "2026-11-27"]
    assert partial_last_day(days, {"until": "2026-11-27T15:30:00"}) == "until 15:30 UTC"
    assert partial_last_day(days, {"until": "2026-11-28T00:00:00Z"}) is None
    assert partial_last_day(days, {"last_event": "2026-11-27T15:30:12"}) == "until 15:30 UTC"
    # A log whose last line came in the day's last half hour covers the day.
    assert partial_last_day(days, {"last_event": "2026-11-27T23:41:00"}) is None
    # Whole days asked for, but the log stops mid-afternoon: still partial.
    whole_days = {"until": "2026-11-28T00:00:00", "last_event": "2026-11-27T15:02:00"}
    assert partial_last_day(days, whole_days) == "until 15:02 UTC"
    assert partial_last_day(days, {"generated": "2026-12-01 11:05 UTC"}) is None
    assert partial_last_day(days, {"generated": "2026-11-27 09:12 UTC"}) is not None


def test_map_places_customer_cities_on_the_projection() -> None:
    from cafepipe.insights import map_data
    from cafepipe.insights.report import city_map

    data = {"customer_cities": [["Seattle", 80, 20, 22], ["London", 20, 5, 5],
                                ["Sydney", 5, 0, 0], ["Atlantis", 3, 1, 1]]}  # fmt: skip
    drawn = city_map(data)
    assert drawn is not None
    world = drawn["maps"][0]
    assert world["name"] == "The world"
    circles = {c["city"]: c for c in world["circles"]}
    assert set(circles) == {"Seattle", "London", "Sydney"}
    assert drawn["unplaced"] == ["Atlantis"]
    # Areas in proportion to the people: radius ∝ √people.
    assert circles["Seattle"]["r"] / circles["London"]["r"] == pytest.approx(2, rel=0.01)
    # West is left, north is up; London east of Seattle, Sydney south of both.
    assert circles["Seattle"]["x"] < circles["London"]["x"] < circles["Sydney"]["x"]
    assert circles["Sydney"]["y"] > circles["London"]["y"]
    x, y = map_data.project(0, 0)
    assert (x, round(y, 6)) == (map_data.WIDTH / 2, round(map_data.project(90, 0)[1], 6))
    shapes = {s.code for s in map_data.country_shapes()}
    assert {"US", "GB", "AU", "FR", "BR"} <= shapes and "AQ" not in shapes
    # Only North American cities: one close-up map, named by its countries.
    close = city_map({"customer_cities": [["Seattle", 9, 1, 1], ["Toronto", 5, 1, 1],
                                          ["Dallas", 4, 0, 0]]})  # fmt: skip
    assert close is not None
    assert [m["name"] for m in close["maps"]] == ["United States and Canada"]


def test_report_degrades_without_visit_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Older JSON, or a CloudWatch run (Logs Insights cannot sessionize): no zeros pretending
    to be figures, but a note that says where visits come from."""
    from rich.console import Console

    from cafepipe.insights.report import print_tables, render_html

    old = {"requests": 10, "unique_ips": 3, "menu_views": 2, "menu_visitors": 2, "purchasers": 1,
           "order_requests": 1, "conversion_rate": 0.5, "hourly": [0] * 24, "weekday": [0] * 7,
           "daily": [["2026-11-20", 10, 3]], "by_country": [["FR", 2, 1]]}  # fmt: skip
    html = render_html(old, {"engine": "duckdb", "source": "x", "generated": "now"})
    assert "no visit figures" in html and 'data-key="requests"' in html
    assert "<td>France</td>" in html  # pycountry's name without the run's own table
    assert "Not in the data this report was made from" in html
    html = render_html(old, {"engine": "cloudwatch", "source": "logs:g", "generated": "now"})
    assert "CloudWatch Logs Insights cannot group requests into visits" in html
    assert "--engine duckdb --source logs:" in html
    console = Console(record=True, width=120)
    print_tables(old, console, {"engine": "cloudwatch"})
    text = console.export_text()
    assert "cannot group requests into visits" in text
    assert "(not computed by this engine)" in text


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def playwright_missing() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return True
    return False


SHOTS = Path("/tmp/report-shots")

# Text nodes whose words the browser broke across lines (a word drawn on two lines), outside
# the cells that hold long paths (td.url may wrap anywhere), and the "Los Angeles" cells that
# did not fit one line.
BROKEN_WORDS_JS = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest('td.url, code, details:not([open]) table, svg, style')) continue;
    if (!parent.getClientRects().length) continue;
    const text = node.textContent;
    const re = /[^\\s\\-–]+/g;  // a line may end after a hyphen, as in print
    let match;
    while ((match = re.exec(text))) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                            .map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(match[0]);
    }
  }
  const cities = [...document.querySelectorAll('td')]
    .filter(td => td.textContent === 'Los Angeles');
  const twoLines = cities.filter(td => {
    const range = document.createRange(); range.selectNodeContents(td);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
  }).length;
  return {broken, cities: cities.length, twoLines};
}"""

# Elements that stick out of the viewport to the right, other than those inside a table's
# own scroller (which scrolls sideways on purpose).
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')].filter(el => {
    const box = el.getBoundingClientRect();
    const drawn = el.closest('svg') && el.tagName.toLowerCase() !== 'svg';  // clipped by its svg
    return box.width > 0 && box.right > width + 1 && !el.closest('.scroller') && !drawn;
  }).map(el => el.tagName + '.' + el.className);
}"""

CHART_SIZES_JS = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  return {cls: svg.getAttribute('class'), w: box.width, h: box.height,
          shapes: svg.querySelectorAll('path, rect, polyline, circle, polygon, use').length};
})"""


@pytest.mark.integration
@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian package)")
@pytest.mark.skipif(playwright_missing(), reason="playwright is not installed (dev extra)")
def test_report_renders_in_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The report in headless Chromium at a desktop's and a phone's width: no console error,
    no request leaving the file, every chart drawn, the map with its cities, no sideways
    scrolling of the page, no word broken; screenshots in /tmp/report-shots/ to look at."""
    from playwright.sync_api import sync_playwright

    from cafepipe.insights.report import render_html

    data, meta = week_report_data(tmp_path, capsys)
    report = tmp_path / "report.html"
    report.write_text(render_html(data, meta), encoding="utf-8")
    SHOTS.mkdir(exist_ok=True)
    browser_path = chromium()
    assert browser_path is not None
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            for width in (1280, 390):
                check_report_page(browser.new_page(viewport={"width": width, "height": 900}),
                                  report, width, data)  # fmt: skip
        finally:
            browser.close()


def check_report_page(page: Any, report: Path, width: int, data: dict[str, Any]) -> None:
    """Every check of the browser test at one width, then the screenshot."""
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(handled: Any) -> None:
        if handled.request.url.startswith(("file:", "data:")):
            handled.continue_()
        else:
            outside.append(handled.request.url)
            handled.abort()

    page.route("**/*", route)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    assert errors == [], (width, errors)
    assert outside == [], (width, outside)

    charts = page.evaluate(CHART_SIZES_JS)
    kinds = {c["cls"] for c in charts}
    assert {"chart chart-pie", "chart chart-columns", "chart chart-line",
            "chart chart-bars", "chart funnel", "chart chart-map"} <= kinds  # fmt: skip
    assert all(c["w"] > 0 and c["h"] > 0 and c["shapes"] > 0 for c in charts), charts

    # The funnel's bars: as wide as their visits, the first the widest.
    bars = page.eval_on_selector_all(
        "svg.funnel rect.step", "rs => rs.map(r => r.getBoundingClientRect().width)"
    )
    visits = [step["visits"] for step in data["funnel"]]
    assert len(bars) == len(visits) == 4
    for bar, count in zip(bars[1:], visits[1:], strict=True):
        assert bar / bars[0] == pytest.approx(max(count / visits[0], 3 / 400), abs=0.01)

    # The map: a circle for every customer city it knows, the outlines drawn.
    cities = page.eval_on_selector_all("svg.chart-map g.city", "gs => gs.map(g => g.dataset.city)")
    expected = {row["city"] for row in data["customer_cities"]}
    assert expected <= set(cities), (expected, cities)
    land = page.eval_on_selector("#world-outlines", "g => g.querySelectorAll('path').length")
    assert land > 150
    seattle = page.locator("svg.chart-map g.city[data-city='Seattle'] circle").first
    box = seattle.bounding_box()
    assert box is not None and box["width"] > 4
    assert page.locator(".map-box .place", has_text="Seattle").first.is_visible()

    # The partial last day is dashed and said; the zone is in the title.
    assert page.locator("polyline.partial").count() >= 2
    assert page.locator(".partial-note").first.is_visible()
    assert page.get_by_text("Busiest hours at the café (America/Los Angeles)").count()

    # No sideways scrolling of the page; tables scroll inside their own box.
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, (width, scroll)
    assert page.evaluate(OVERFLOW_JS) == [], width

    words = page.evaluate(BROKEN_WORDS_JS)
    assert words["broken"] == [], (width, words["broken"][:20])
    assert words["cities"] >= 1 and words["twoLines"] == 0, words
    css = page.eval_on_selector_all(
        "td, th", "cells => [...new Set(cells.map(c => getComputedStyle(c).wordBreak))]"
    )
    assert css == ["normal"], css

    page.screenshot(path=str(SHOTS / f"report-{width}.png"), full_page=True)
    page.close()


def test_dashboard_command_prints_the_deployed_body(
    tmp_path: Path, simulated_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cafepipe.config import load_config
    from cafepipe.deploy.dashboard import dashboard_body

    state = tmp_path / "state"
    code, out, _ = run_cli(["--state-dir", str(state), "--stack", "shop", "dashboard"], capsys)
    assert code == 0
    config = load_config(None, {"state_dir": str(state), "stack": "shop"}, environ={})
    assert json.loads(out) == dashboard_body(config)
    titles = [w["properties"].get("title") for w in json.loads(out)["widgets"]]
    # Every insight Logs Insights can answer has its widget (visits need sessions: DuckDB, Athena).
    assert [i.title for i in INSIGHTS if i.logs_insights] == [t for t in titles if t]
    # With no --source, insights reads the stack's latest simulated log.
    folder = config.stack_dir / "simulated"
    folder.mkdir(parents=True)
    shutil.copy(simulated_log, folder / "access_log")
    report = tmp_path / "r.html"
    base = ["--state-dir", str(state), "--stack", "shop", "insights"]
    code, out, _ = run_cli([*base, "--format", "html", "--out", str(report)], capsys)
    assert code == 0
    assert 'data-insight="by_city"' in report.read_text()
    code, out, _ = run_cli([*base, "--format", "json"], capsys)
    assert json.loads(out)["requests"] == 5000


def test_every_command_has_help_with_examples() -> None:
    from click.testing import CliRunner

    from cafepipe.cli import cli

    for command in ("insights", "dashboard"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0
        assert "Examples:" in result.output and f"cafepipe {command}" in result.output


def test_csv_neutralises_cells_a_spreadsheet_would_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Visitor-controlled text (a campaign tag, a referring host) never reaches a spreadsheet
    as a formula: a cell starting with = + - @ tab or CR gets a leading apostrophe."""
    from cafepipe.insights.report import FORMULA_STARTS, safe_cell

    tags = ["=1+2", "@SUM(1)", "+cmd", "-2+3", "\tx", "\rx", "plain", "a=1"]
    base = {
        "time": "2026-11-20T08:15:00.123Z", "remoteIP": "1.1.1.1", "request": "/cafe",
        "method": "GET", "status": "200", "bytes": "10", "userAgent": "Mozilla/5.0 Chrome/120",
    }  # fmt: skip
    lines = [
        json.dumps({**base, "query": f"?utm_source={tag}", "referer": f"https://{tag}.ex/a"})
        for tag in tags
    ]
    log = tmp_path / "access_log"
    log.write_text("\n".join(lines) + "\n")

    code, text, _ = run_cli(["insights", "--source", str(log), "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["insight", "row", "column", "value"]
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    sources = {r[3] for r in rows if r[0] == "campaigns" and r[2] == "source"}
    assert sources == {"'" + t if t[0] in "=+-@\t\r" else t for t in tags}
    hosts = {r[3] for r in rows if r[0] == "referrers"} - {"requests"}
    assert "'=1+2.ex" in hosts and "'@sum(1).ex" in hosts and "a=1.ex" in hosts
    # The JSON keeps the values as they were logged; numbers stay numbers.
    code, out, _ = run_cli(["insights", "--source", str(log), "--format", "json"], capsys)
    campaigns = json.loads(out)["campaigns"]
    assert {row["source"] if isinstance(row, dict) else row[0] for row in campaigns} == set(tags)
    assert safe_cell(-3) == -3 and safe_cell(0.5) == 0.5 and safe_cell("") == ""


def test_table_shows_visitor_text_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rich markup or an escape sequence in a visitor's request neither stops nor drives the
    terminal table: it is printed as the characters it is."""
    record = {
        "time": "2026-11-20T08:15:00.123Z", "remoteIP": "1.1.1.1", "request": "/cafe",
        "method": "GET", "status": "200", "bytes": "10", "city": "[/city]",
        "query": "?utm_source=[/bold]&utm_medium=[red]x[/red]&utm_campaign=c\x1b[2J\x07d",
    }  # fmt: skip
    log = tmp_path / "access_log"
    log.write_text(json.dumps(record) + "\n")
    code, out, err = run_cli(["insights", "--source", str(log)], capsys)
    assert code == 0, err
    assert "[/bold]" in out and "[red]x[/red]" in out and "[/city]" in out
    assert "\x1b" not in out and "\x07" not in out and "c\ufffd[2J\ufffdd" in out
