"""The simulated clickstream: format, determinism, statistical shape and ground truth.

The ground truth is checked against a plain reference counter written here, which parses the
file the generator wrote and follows the definitions of `cafepipe.logs.generate.truth` line by
line.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cafepipe.cafe import catalog, geography, traffic
from cafepipe.cafe.limits import LOGS_MAX_EVENT_AGE_DAYS
from cafepipe.cli import main
from cafepipe.logs.generate import (
    PROFILES,
    build_options,
    generate_log,
    iter_log_chunks,
    window_warnings,
    write_log,
)

END = datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)
JSON_KEYS = [
    "time", "process", "filename", "remoteIP", "host", "request", "query", "method", "status",
    "bytes", "userAgent", "referer", "country", "region", "city", "lat", "lon",
]  # fmt: skip
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Apache combined: %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
COMBINED_RE = re.compile(
    r"^(?P<ip>\d{1,3}(?:\.\d{1,3}){3}) (?P<ident>\S+) (?P<user>\S+) "
    r"\[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    r'"(?P<method>[A-Z]+) (?P<target>\S+) (?P<protocol>HTTP/\d\.\d)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)


def make_options(lines: int = 20_000, **kwargs: Any) -> Any:
    kwargs.setdefault("end", END)
    return build_options(lines=lines, **kwargs)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- a reference parser and counter: plain Python, one line at a time ---------------------


def parse_line(line: str, log_format: str) -> dict[str, Any]:
    """The fields the truth needs, from one line."""
    if log_format == "json":
        record = json.loads(line)
        city = (record["city"], record["region"], record["country"])
        return {
            "ip": record["remoteIP"],
            "path": record["request"],
            "status": int(record["status"]),
            "bytes": int(record["bytes"]),
            "agent": record["userAgent"],
            "hour": int(record["time"][11:13]),
            "place": city,
        }
    match = COMBINED_RE.match(line)
    assert match, line
    known = geography.city_for_ip(match["ip"])
    assert known is not None, match["ip"]
    return {
        "ip": match["ip"],
        "path": match["target"].split("?")[0],
        "status": int(match["status"]),
        "bytes": 0 if match["bytes"] == "-" else int(match["bytes"]),
        "agent": match["agent"],
        "hour": int(match["time"][12:14]),
        "place": (known.name, known.region, known.country),
    }


def reference_truth(path: Path, log_format: str) -> dict[str, Any]:
    opener = gzip.open if path.name.endswith(".gz") else open
    records = [parse_line(line.rstrip("\n"), log_format) for line in opener(path, "rt")]
    paths = Counter(r["path"] for r in records)
    menu_ips = {r["ip"] for r in records if r["path"] == "/cafe/menu.php"}
    order_ips = {r["ip"] for r in records if r["path"] == "/cafe/processOrder.php"}
    places: dict[int, dict[str, list[int]]] = {0: {}, 1: {}, 2: {}}
    for r in records:
        # Places rank customers: robots and scanner probes are left out.
        if traffic.is_bot_user_agent(r["agent"]) or traffic.is_scanner_path(r["path"]):
            continue
        for level in range(3):
            entry = places[level].setdefault(r["place"][level], [0, 0])
            entry[0] += r["path"] == "/cafe/menu.php"
            entry[1] += r["path"] == "/cafe/processOrder.php"

    def top(groups: dict[str, list[int]]) -> list[list[Any]]:
        ranked = sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0]))[:10]
        return [[name, menu, orders] for name, (menu, orders) in ranked]

    hourly = [0] * 24
    for r in records:
        hourly[r["hour"]] += 1
    return {
        "requests": len(records),
        "invalid_lines": 0,
        "bytes": sum(r["bytes"] for r in records),
        "unique_ips": len({r["ip"] for r in records}),
        "status_classes": {
            f"{c}xx": sum(1 for r in records if r["status"] // 100 == c) for c in (2, 3, 4, 5)
        },
        "top_paths": [[p, n] for p, n in sorted(paths.items(), key=lambda kv: (-kv[1], kv[0]))][
            :10
        ],
        "menu_views": paths["/cafe/menu.php"],
        "order_requests": paths["/cafe/processOrder.php"],
        "menu_visitors": len(menu_ips),
        "purchasers": len(order_ips),
        "conversion_rate": round(len(order_ips) / len(menu_ips), 4) if menu_ips else 0.0,
        "by_city": top(places[0]),
        "by_region": top(places[1]),
        "by_country": top(places[2]),
        "hourly": hourly,
        "bot_requests": sum(
            1 for r in records if any(t in r["agent"].lower() for t in traffic.BOT_UA_TOKENS)
        ),
        "scanner_requests": sum(1 for r in records if r["path"] in set(traffic.SCANNER_PATHS)),
    }


# --- format --------------------------------------------------------------------------------


def test_every_json_line_parses_with_every_key_in_apache_order(tmp_path: Path) -> None:
    options = make_options(15_000, profile="attack")
    path = tmp_path / "access_log"
    generate_log(options, path)
    lines = path.read_text().splitlines()
    assert len(lines) == 15_000
    previous = ""
    for line in lines:
        record = json.loads(line)
        assert list(record) == JSON_KEYS
        assert all(isinstance(v, str) for v in record.values())
        assert TIME_RE.match(record["time"])
        assert record["time"] >= previous  # ascending
        previous = record["time"]
        assert record["query"] == "" or record["query"].startswith("?")
        assert record["request"].startswith("/") and "?" not in record["request"]
        assert record["method"] in ("GET", "POST", "HEAD")
        float(record["lat"]), float(record["lon"]), int(record["process"]), int(record["bytes"])
    first, last = json.loads(lines[0])["time"], json.loads(lines[-1])["time"]
    assert options.start.strftime("%Y-%m-%dT%H:%M:%S") <= first
    assert last < options.end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_every_combined_line_matches_the_apache_grammar(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    generate_log(make_options(15_000, log_format="combined", profile="attack"), path)
    lines = path.read_text().splitlines()
    assert len(lines) == 15_000
    stamps = []
    for line in lines:
        match = COMBINED_RE.match(line)
        assert match, line
        assert match["ident"] == "-" and match["user"] == "-"
        stamps.append(datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z"))
    assert stamps == sorted(stamps)
    assert any("?" in COMBINED_RE.match(line)["target"] for line in lines)  # type: ignore[index]


def test_every_path_is_a_page_or_asset_of_the_site_or_a_known_probe(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    generate_log(make_options(20_000, profile="attack"), path)
    site = set(catalog.PAGES) | set(catalog.ASSETS)
    site |= {catalog.item_image_path(item) for item in catalog.MENU}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        request, query = record["request"], record["query"]
        assert (
            request in site
            or request in traffic.SCANNER_PATHS
            or request
            in (
                "/robots.txt",
                "/sitemap.xml",
            )
        )
        if request == catalog.ITEM_PATH:
            assert query[len("?id=") :] in catalog.MENU_BY_ID
        if request == catalog.ORDER_PATH:
            assert record["method"] == "POST" and catalog.parse_order_query(query)


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_same_bytes_whatever_the_writer(tmp_path: Path) -> None:
    options = make_options(30_000)
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    generate_log(options, first)
    generate_log(options, second)
    assert sha256(first) == sha256(second)
    # A stream that takes tiny writes, a BytesIO, and the raw chunks: the same bytes.
    sink = io.BytesIO()
    with io.BufferedWriter(sink, buffer_size=7) as tiny:  # type: ignore[arg-type]
        write_log(options, tiny)
        tiny.flush()
        tiny_bytes = sink.getvalue()
    assert hashlib.sha256(tiny_bytes).hexdigest() == sha256(first)
    chunks = b"".join(chunk for chunk, _ in iter_log_chunks(options))
    assert hashlib.sha256(chunks).hexdigest() == sha256(first)


def test_different_seed_different_file(tmp_path: Path) -> None:
    generate_log(make_options(5_000, seed=1), tmp_path / "a.log")
    generate_log(make_options(5_000, seed=2), tmp_path / "b.log")
    assert sha256(tmp_path / "a.log") != sha256(tmp_path / "b.log")


def test_gzip_output_is_the_same_log_and_deterministic(tmp_path: Path) -> None:
    options = make_options(10_000, log_format="combined")
    generate_log(options, tmp_path / "plain.log")
    generate_log(options, tmp_path / "a.log.gz")
    generate_log(options, tmp_path / "b.log.gz")
    assert (
        gzip.decompress((tmp_path / "a.log.gz").read_bytes())
        == (tmp_path / "plain.log").read_bytes()
    )
    assert sha256(tmp_path / "a.log.gz") == sha256(tmp_path / "b.log.gz")


def test_zero_lines_is_an_empty_file(tmp_path: Path) -> None:
    truth = generate_log(make_options(0), tmp_path / "empty.log")
    assert (tmp_path / "empty.log").read_bytes() == b""
    assert truth["requests"] == 0 and truth["conversion_rate"] == 0.0


# --- ground truth --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log_format", "name", "profile"),
    [("json", "access_log", "week"), ("combined", "access_log", "attack"),
     ("json", "access_log.gz", "busy-month")],
)  # fmt: skip
def test_truth_equals_an_independent_count_of_the_file(
    tmp_path: Path, log_format: str, name: str, profile: str
) -> None:
    path = tmp_path / name
    truth = generate_log(make_options(40_000, log_format=log_format, profile=profile), path)
    expected = reference_truth(path, log_format)
    # The contract's keys, recounted here; the visit keys have their own tests (test_visits.py).
    assert set(expected) <= set(truth)
    for key, value in expected.items():
        assert truth[key] == value, key
    assert truth["requests"] == 40_000 and len(truth["by_city"]) == 10


def test_truth_file_written_by_the_cli_is_the_schema(tmp_path: Path) -> None:
    out, truth_path = tmp_path / "log", tmp_path / "truth.json"
    args = ["generate-logs", "--out", str(out), "--lines", "3000", "--end", "2026-11-27T06:00Z",
            "--truth", str(truth_path), "--quiet"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    truth = json.loads(truth_path.read_text())
    expected = reference_truth(out, "json")
    assert {key: truth[key] for key in expected} == expected


# --- statistical shape (100k+ lines) --------------------------------------------------------


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[dict[str, Any]]]:
    options = build_options(
        lines=120_000, end=END, start=END - timedelta(days=7), seed=11, conversion=0.3,
        bounce=0.3, bot_share=0.12, scanner_share=0.05, error_share=0.04, returning_share=0.35,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("big") / "access_log"
    generate_log(options, path)
    return options, [json.loads(line) for line in path.read_text().splitlines()]


def is_bot(record: dict[str, Any]) -> bool:
    return traffic.is_bot_user_agent(record["userAgent"])


def is_human(record: dict[str, Any]) -> bool:
    return not is_bot(record) and not traffic.is_scanner_path(record["request"])


def test_bot_and_scanner_shares(big_log: tuple[Any, list[dict[str, Any]]]) -> None:
    options, records = big_log
    n = len(records)
    assert n == 120_000
    assert sum(map(is_bot, records)) / n == pytest.approx(options.bot_share, abs=0.005)
    scanners = sum(traffic.is_scanner_path(r["request"]) for r in records)
    assert scanners / n == pytest.approx(options.scanner_share, abs=0.005)
    scanner_statuses = {r["status"] for r in records if traffic.is_scanner_path(r["request"])}
    assert scanner_statuses <= {"403", "404"}


def test_session_conversion_matches_the_knob(big_log: tuple[Any, list[dict[str, Any]]]) -> None:
    """Sessionize human lines per address (30 minutes of silence ends a session)."""
    options, records = big_log
    sessions: dict[str, list[list[str]]] = defaultdict(list)
    last_seen: dict[str, datetime] = {}
    for r in records:
        if not is_human(r):
            continue
        moment = datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
        ip = r["remoteIP"]
        if ip not in last_seen or (moment - last_seen[ip]).total_seconds() > 1800:
            sessions[ip].append([])
        if r["request"] in catalog.PAGES:
            sessions[ip][-1].append(r["request"])
        last_seen[ip] = moment
    all_sessions = [s for per_ip in sessions.values() for s in per_ip]
    with_menu = [s for s in all_sessions if catalog.MENU_PATH in s]
    converted = sum(catalog.ORDER_PATH in s for s in with_menu)
    assert len(with_menu) > 4_000
    assert converted / len(with_menu) == pytest.approx(options.conversion, abs=0.03)
    single_page = sum(len(s) == 1 for s in all_sessions)
    assert single_page / len(all_sessions) == pytest.approx(options.bounce, abs=0.04)


def test_status_mix(big_log: tuple[Any, list[dict[str, Any]]]) -> None:
    options, records = big_log
    pages = [r for r in records if is_human(r) and r["request"] in catalog.PAGES]
    failed = sum(r["status"] in ("500", "503") for r in pages)
    assert failed / len(pages) == pytest.approx(options.error_share, abs=0.006)
    assert {r["status"] for r in pages} == {"200", "500", "503"}
    assets = [r for r in records if is_human(r) and r["request"] in catalog.ASSETS]
    cached = sum(r["status"] == "304" for r in assets)
    assert cached / len(assets) == pytest.approx(options.returning_share, abs=0.02)
    assert all(r["bytes"] == "0" for r in assets if r["status"] == "304")
    assert {r["status"][0] for r in records} == {"2", "3", "4", "5"}


def test_hourly_profile_follows_local_cafe_hours(
    big_log: tuple[Any, list[dict[str, Any]]],
) -> None:
    _, records = big_log
    humans = [r for r in records if is_human(r)]
    offsets = {(c.name, c.country): c.utc_offset_minutes for c in geography.CITIES}
    local = Counter()
    utc = Counter()
    for r in humans:
        minutes = int(r["time"][11:13]) * 60 + int(r["time"][14:16])
        local[(minutes + offsets[(r["city"], r["country"])]) // 60 % 24] += 1
        utc[int(r["time"][11:13])] += 1
    # In the visitors' own time: breakfast or afternoon peak, quiet small hours.
    assert max(local, key=lambda h: local[h]) in (8, 9, 16)
    night = sum(local[h] for h in (1, 2, 3, 4))
    assert night / len(humans) < 0.04
    assert local[8] > 5 * local[3]
    # In UTC, a blend dominated by North America: the peak is a US morning / afternoon.
    assert max(utc, key=lambda h: utc[h]) in range(13, 18)
    assert max(utc.values()) > 2.5 * min(utc.values())


def test_geography_has_answers(big_log: tuple[Any, list[dict[str, Any]]]) -> None:
    _, records = big_log
    countries = Counter(r["country"] for r in records if r["request"] == catalog.MENU_PATH)
    cities = Counter(r["city"] for r in records if is_human(r))
    assert len(geography.CITIES) >= 50 and len(cities) >= 50 and len(countries) >= 10
    assert countries.most_common(1)[0][0] == "US"
    assert cities.most_common(1)[0][0] == "Seattle"


# --- options and the command line -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lines", "-5"], "--lines must be 0 or more"),
        (["--lines", "5", "--days", "2"], "not both"),
        (["--start", "2026-11-27T00:00Z", "--end", "2026-11-26T00:00Z"], "not after the start"),
        (["--end", "yesterday-ish"], "not a time"),
        (["--profile", "nope"], "nope"),
        (["--format", "xml"], "xml"),
        (["--conversion", "1.5"], "--conversion must be between 0 and 1"),
        (["--bot-share", "0.7", "--scanner-share", "0.6"], "more than 1"),
        (["--seed", "-1"], "--seed must be 0 or more"),
    ],
)
def test_bad_options_exit_2_and_leave_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["generate-logs", "--out", str(tmp_path / "log"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_targets_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for target in (tmp_path / "missing" / "log", tmp_path):
        with pytest.raises(SystemExit) as exit_info:
            main(["generate-logs", "--out", str(target), "--lines", "10"])
        assert exit_info.value.code == 2
        assert f"cannot write {target}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_leaves_no_partial_file(tmp_path: Path) -> None:
    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    target = tmp_path / "log"
    with pytest.raises(KeyboardInterrupt):
        generate_log(make_options(100_000), target, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    target.write_text("the previous log\n")  # an existing file survives a failed run
    with pytest.raises(KeyboardInterrupt):
        generate_log(make_options(100_000), target, progress=interrupt)
    assert [p.name for p in tmp_path.iterdir()] == ["log"]
    assert target.read_text() == "the previous log\n"


def test_stdout_output_equals_the_file(tmp_path: Path) -> None:
    args = ["generate-logs", "--lines", "2000", "--end", "2026-11-27T06:00Z", "--quiet",
            "--format", "combined"]  # fmt: skip
    main_call = "from cafepipe.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", main_call, *args, "--out", "-"], capture_output=True, check=True
    )
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "log")])
    assert result.stdout == (tmp_path / "log").read_bytes()


def test_profiles_and_warnings() -> None:
    assert set(PROFILES) == {"week", "busy-month", "attack"}
    for name, profile in PROFILES.items():
        assert profile.days <= LOGS_MAX_EVENT_AGE_DAYS, name  # inside CloudWatch's limit
        now = datetime.now(timezone.utc)
        assert window_warnings(build_options(profile=name, end=now), now) == []
    long = build_options(start=END - timedelta(days=30), lines=10, end=END)
    assert "more than 14 days ago" in window_warnings(long, END)[0]
    attack = build_options(profile="attack", lines=1000, end=END)
    assert attack.scanner_share > 0.3
    assert (
        build_options(profile="attack", lines=1000, end=END, scanner_share=0.1).scanner_share == 0.1
    )


def test_the_former_profile_name_is_the_same_profile() -> None:
    former = build_options(profile="lab", lines=1000, end=END)
    assert former == build_options(profile="week", lines=1000, end=END) == make_options(1000)
    assert former.profile == "week"


def test_a_pipe_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    """Devices and pipes (/dev/null, a FIFO) must stay what they are: no rename over them."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    options = make_options(3_000)
    generate_log(options, fifo)
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    generate_log(options, tmp_path / "plain.log")
    assert received == [(tmp_path / "plain.log").read_bytes()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "plain.log"]
