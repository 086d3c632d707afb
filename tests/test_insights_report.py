"""What the owner sees: the CLI's tables, JSON, CSV, and the HTML report in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

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
    assert code == 2 and "athena is not available" in err
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
    for insight in INSIGHTS:
        assert f'data-insight="{insight.id}"' in html
    assert html.count("<svg") >= 10


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.integration
@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian package)")
def test_report_renders_in_chromium(
    simulated_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    code, _, _ = run_cli(
        ["dashboard", "--preview", str(report), "--source", str(simulated_log)], capsys
    )
    assert code == 0
    browser = chromium()
    assert browser is not None
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # The DOM after the page loaded: every chart is there, with its shapes drawn.
    assert dom.count('class="chart chart-pie"') >= 5
    assert len(re.findall(r"<path d=\"M", dom)) >= 10
    assert 'class="chart chart-columns"' in dom and "<rect" in dom
    assert 'class="chart chart-line"' in dom and "<polyline" in dom
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    # Nothing was fetched from the network.
    assert "net::" not in done.stderr


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
    assert [i.title for i in INSIGHTS] == [t for t in titles if t]
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
    assert {row[0] for row in json.loads(out)["campaigns"]} == set(tags)
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
