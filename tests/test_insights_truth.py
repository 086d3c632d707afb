"""On simulated logs, the insights equal the generator's ground truth, key by key.

Every key: the contract's (`SCHEMA_KEYS`) and the page views' (`PAGE_VIEW_KEYS`: visits,
bounces, durations, entry/exit pages, the funnel, top pages), as `--format json` prints them,
in both log formats and with malformed lines mixed in.
"""

from __future__ import annotations

import gzip
import itertools
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from cafepipe.cafe.traffic import PAGE_VIEW_KEYS, SCHEMA_KEYS
from cafepipe.insights import duckdb_engine
from cafepipe.insights.duckdb_engine import LoadedLog, load_log, run_catalog
from cafepipe.insights.summary import program_json, summarize
from cafepipe.logs.generate import build_options, generate_log

START = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)


def simulated(tmp_path: Path, log_format: str, name: str, **knobs: Any) -> tuple[Path, dict]:
    options = build_options(
        lines=30_000, start=START, end=END, seed=7, log_format=log_format, **knobs
    )
    path = tmp_path / name
    truth = generate_log(options, path)
    return path, truth


def insights_of(path: Path) -> dict[str, Any]:
    return _answers(load_log(path))


def _answers(loaded: LoadedLog) -> dict[str, Any]:
    return program_json(summarize(run_catalog(loaded), loaded.invalid_lines))


COMPARED = (*SCHEMA_KEYS, *PAGE_VIEW_KEYS, "schema_version")


def assert_matches_truth(data: dict[str, Any], truth: dict[str, Any], invalid: int = 0) -> None:
    for key in COMPARED:
        expected = invalid if key == "invalid_lines" else truth[key]
        assert data[key] == expected, key


@pytest.mark.parametrize("log_format", ["json", "combined"])
def test_insights_equal_truth(tmp_path: Path, log_format: str) -> None:
    path, truth = simulated(tmp_path, log_format, "access_log")
    assert truth["requests"] == 30_000 and truth["by_city"] and truth["bot_requests"]
    assert_matches_truth(insights_of(path), truth)


def _row_groups(path: Path) -> tuple[int, dict[str, Any]]:
    loaded = load_log(path)
    try:
        found = loaded.connection.execute(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('parsed')"
        ).fetchone()
        assert found is not None
        return found[0], _answers(loaded)
    finally:
        loaded.close()


@pytest.mark.parametrize("log_format", ["json", "combined"])
def test_small_row_groups_change_no_answer(
    tmp_path: Path, log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small log is stored in row groups of SMALL_ROW_GROUP rows, so both cores write and scan
    # it; DuckDB's default makes one row group of the same 30,000 lines. Every answer is the same.
    path, truth = simulated(tmp_path, log_format, "access_log")
    assert duckdb_engine.row_group_size(path) == duckdb_engine.SMALL_ROW_GROUP
    small, answers = _row_groups(path)
    monkeypatch.setattr(duckdb_engine, "row_group_size", lambda _path: None)
    default, default_answers = _row_groups(path)
    assert small >= 2 and default == 1  # (how many: as the two threads split the lines)
    assert answers == default_answers
    assert_matches_truth(answers, truth)


def test_the_row_group_size_follows_the_log_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = duckdb_engine.SMALL_LOG_BYTES
    small, large = tmp_path / "small.log", tmp_path / "large.log"
    small.write_bytes(b"x" * 100 + b"\n")
    large.write_bytes(b"x" * limit + b"\n")
    # A .gz by its trailer's length of the text, not by its own (a thousandth of it here).
    packed = tmp_path / "large.log.gz"
    packed.write_bytes(gzip.compress(large.read_bytes(), compresslevel=1))
    assert packed.stat().st_size < limit // 100
    assert duckdb_engine.text_bytes(packed) == limit + 1
    assert duckdb_engine.row_group_size(small) == duckdb_engine.SMALL_ROW_GROUP
    assert duckdb_engine.row_group_size(large) is None
    assert duckdb_engine.row_group_size(packed) is None
    # The memory limit too is a quarter of the text (below its floor here: lowered to see it).
    monkeypatch.setattr(duckdb_engine, "MEMORY_LIMIT", 1024)
    assert duckdb_engine.memory_limit(packed) == (limit + 1) // 4
    # A .gz cut short in its header has no trailer: its own length, then the usual refusal.
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(packed.read_bytes()[:3])
    assert duckdb_engine.text_bytes(cut) == 3


def test_the_generated_visits_show_what_an_owner_looks_for(tmp_path: Path) -> None:
    _, truth = simulated(tmp_path, "json", "access_log")
    # Visits of several pages and bounces, returning visitors, a funnel that loses visits at
    # every step, and the pages counted without their stylesheets and pictures.
    assert truth["visits"] > 1000 and 2 < truth["pageviews_per_visit"] < 4
    assert 0.2 < truth["bounce_rate"] < 0.5
    assert truth["returning_visitors"] > 0.1 * truth["visitors"] > 0
    assert truth["visit_duration_mean_s"] > truth["visit_duration_median_s"] > 0
    funnel = truth["funnel"]
    assert [step["step"] for step in funnel] == ["landing", "menu", "item", "order"]
    assert funnel[0]["visits"] == truth["visits"]
    assert all(a["visits"] > b["visits"] > 0 for a, b in itertools.pairwise(funnel))
    assert all(step["drop_off"] > 0 for step in funnel[1:])
    assert {row["device"] for row in truth["funnel_by_device"]} == {"Phone", "Computer", "Tablet"}
    assert any(row["campaign"] for row in truth["funnel_by_source"])
    pages = [row["path"] for row in truth["top_pages"]]
    assert pages and not [path for path in pages if path.endswith((".css", ".js", ".svg", ".ico"))]
    assert truth["entry_pages"][0]["path"] == "/cafe"


def test_attack_profile_gzip(tmp_path: Path) -> None:
    path, truth = simulated(tmp_path, "json", "access_log.json.gz", profile="attack")
    assert truth["scanner_requests"] > 1000
    assert_matches_truth(insights_of(path), truth)


def malformed_lines(log_format: str, rng: random.Random, sample: str) -> list[bytes]:
    """Lines no parser should count: each lacks a usable address, time, request or status."""
    cut = sample[: sample.index('"', sample.index('"') + 1) - 3]  # inside the request
    lines = [
        b"\x01\x9f\xff binary \xfe junk",
        b"GET / HTTP/1.1",
        b"-",
        cut.encode(),
        b'{"time": "2026-11-26T10:00:00Z", "remoteIP": "1.2.3.4", "request": "/cafe", "stat',
        b'{"time": "2026-11-26T10:00:00Z", "remoteIP": "1.2.3.4", "request": "/cafe", '
        b'"status": "two hundred"}',
        b'{"time": "yesterday", "remoteIP": "1.2.3.4", "request": "/cafe", "status": "200"}',
        b'{"time": "2026-11-26T10:00:00Z", "remoteIP": [1], "request": "/cafe", "status": 200}',
        b'1.2.3.4 - - [26/Nov/2026:10:00:00 +0000] "GET /cafe HTTP/1.1" 2OO 5 "-" "x"',
        b'1.2.3.4 - - [31/Feb/2026:10:00:00 +0000] "GET /cafe HTTP/1.1" 200 5 "-" "x"',
        b"[1, 2, 3]",
    ]
    rng.shuffle(lines)
    return lines


@pytest.mark.parametrize("log_format", ["json", "combined"])
def test_malformed_lines_only_change_invalid_lines(tmp_path: Path, log_format: str) -> None:
    path, truth = simulated(tmp_path, log_format, "clean.log")
    lines = path.read_bytes().splitlines()
    rng = random.Random(3)
    bad = malformed_lines(log_format, rng, lines[0].decode())
    mixed = list(lines)
    for line in bad * 3:
        mixed.insert(rng.randrange(len(mixed) + 1), line)
    dirty = tmp_path / "dirty.log"
    dirty.write_bytes(b"\n".join(mixed) + b"\n")
    assert_matches_truth(insights_of(dirty), truth, invalid=len(bad) * 3)
