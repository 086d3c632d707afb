"""Real-world Apache logs: cafepipe insights and GoAccess agree on the same file."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from cafepipe.insights.duckdb_engine import load_log, run_catalog
from cafepipe.insights.summary import summarize

DATA = Path(__file__).parent / "data"
REAL_LOGS = sorted(DATA.glob("*.log"))

pytestmark = pytest.mark.skipif(
    shutil.which("goaccess") is None,
    reason="goaccess is not installed (Debian package goaccess; `make system-deps`)",
)


def goaccess_report(log: Path, tmp_path: Path) -> dict:
    out = tmp_path / "goaccess.json"
    subprocess.run(
        [
            "goaccess",
            str(log),
            "--log-format=COMBINED",
            "--no-query-string",
            "--max-items=100000",
            "--no-global-config",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return json.loads(out.read_text())


@pytest.mark.parametrize("log", REAL_LOGS, ids=lambda p: p.name)
def test_agrees_with_goaccess(log: Path, tmp_path: Path) -> None:
    report = goaccess_report(log, tmp_path)
    loaded = load_log(log)
    ours = summarize(run_catalog(loaded), loaded.invalid_lines)
    general = report["general"]

    assert ours["requests"] == general["valid_requests"] > 0
    assert ours["invalid_lines"] == general["failed_requests"]
    assert ours["bytes"] == general["bandwidth"]
    assert ours["unique_ips"] == len(report["hosts"]["data"])

    classes = {
        panel["data"][:3]: panel["hits"]["count"] for panel in report["status_codes"]["data"]
    }
    assert {k: v for k, v in ours["status_classes"].items() if v} == classes

    # GoAccess splits requests into three panels (pages, static files, 404s) and by method
    # and protocol; summed per path they are our requests per path.
    per_path: Counter[str] = Counter()
    for panel in ("requests", "static_requests", "not_found"):
        for entry in report[panel]["data"]:
            per_path[entry["data"]] += entry["hits"]["count"]
    assert sum(per_path.values()) == general["valid_requests"]
    expected = sorted(per_path.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert ours["top_paths"] == [list(pair) for pair in expected]
