"""Benchmark: `cafepipe insights` vs GoAccess vs DuckDB's own one-pass floor, side by side.

For each size (1M and 10M lines by default) and each log format (combined, and the stack's
JSON), on the same generated log in this run:

- cafepipe insights: every insight of the catalog, as `cafepipe insights --format json`;
- GoAccess (combined only: it has no reader for the stack's JSON lines);
- the DuckDB floor: one `read_csv` (`read_json` for JSON) of the log and 3 aggregates (lines,
  distinct client addresses, bytes) — what one pass over the file costs DuckDB alone.

Each runs as a separate process, timed (wall clock), its peak RSS read from
getrusage(RUSAGE_CHILDREN) in a fresh wrapper process, so no figure includes another's.
The goals (the performance section of docs/insights.md): at 1M combined lines at least 10×
GoAccess in at most 300 MB; at 10M lines at most 6 s, 1 GB, and 2.5× the floor; JSON within
1.5× of combined.

    .venv/bin/python benchmarks/bench_insights.py [--lines 1000000,10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cafepipe.logs.generate import build_options, generate_log

# Runs one command and reports its wall time and peak RSS (KiB) as JSON on the last line.
WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
seconds = time.perf_counter() - start
if done.returncode:
    sys.stderr.write(done.stderr.decode(errors="replace"))
    sys.exit(done.returncode)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak}))
"""

# DuckDB alone: one pass over the log, 3 aggregates, on every core.
FLOOR = """
import sys, duckdb
path, fmt = sys.argv[1].replace("'", "''"), sys.argv[2]
if fmt == "combined":
    source = (f"read_csv('{path}', delim=' ', quote='\\"', escape='\\\\', header=false, "
              "auto_detect=false, ignore_errors=true, columns={'remoteip': 'VARCHAR', "
              "'ident': 'VARCHAR', 'user': 'VARCHAR', 'time': 'VARCHAR', 'zone': 'VARCHAR', "
              "'req': 'VARCHAR', 'status': 'VARCHAR', 'bytes': 'VARCHAR', 'referer': 'VARCHAR', "
              "'useragent': 'VARCHAR'})")
else:
    source = (f"read_json('{path}', format='newline_delimited', "
              "columns={'remoteIP': 'VARCHAR', 'bytes': 'VARCHAR'})")
duckdb.sql("SET preserve_insertion_order = false")
duckdb.sql(f"SELECT count(*), count(DISTINCT remoteIP), sum(try_cast(bytes AS BIGINT)) "
           f"FROM {source}").fetchall()
"""


def measure(command: list[str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall seconds and the largest peak RSS (MiB) of `repeat` runs."""
    runs = [measure(command) for _ in range(repeat)]
    return statistics.median(r["seconds"] for r in runs), max(r["peak_kib"] for r in runs) / 1024


def _row(name: str, lines: int, result: tuple[float, float] | None, note: str = "") -> str:
    if result is None:
        return f"| {name} | — | — | — | {note} |"
    seconds, mib = result
    return f"| {name} | {seconds:.2f} s | {lines / seconds:,.0f} | {mib:,.0f} MiB | {note} |"


def bench_size(lines: int, repeat: int, tmp: Path, goaccess: str | None) -> list[str]:
    end = datetime.now(timezone.utc)
    rows: list[str] = []
    combined_s = 0.0
    for fmt in ("combined", "json"):
        log = tmp / f"access-{lines}.{fmt}.log"
        options = build_options(lines=lines, start=end - timedelta(days=7), end=end, log_format=fmt)
        started = time.perf_counter()
        generate_log(options, log)
        print(
            f"  log: {lines:,} {fmt} lines, {log.stat().st_size / 1e6:,.0f} MB "
            f"(generated in {time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
        out = tmp / "insights.json"
        ours_cmd = [sys.executable, "-m", "cafepipe", "insights", "--source", str(log),
                    "--format", "json", "--out", str(out)]  # fmt: skip
        ours = median_of(ours_cmd, repeat)
        assert json.loads(out.read_text())["requests"] == lines, "insights missed lines"
        floor = median_of([sys.executable, "-c", FLOOR, str(log), fmt], repeat)
        theirs = None
        if goaccess is not None and fmt == "combined":
            theirs = median_of(
                [goaccess, str(log), "--log-format=COMBINED", "--no-global-config",
                 "-o", str(tmp / "goaccess.json")], repeat,
            )  # fmt: skip
        notes = [f"{ours[0] / floor[0]:.1f}× the floor"]
        if theirs is not None:
            notes.append(f"{theirs[0] / ours[0]:.1f}× faster than GoAccess")
        if fmt == "combined":
            combined_s = ours[0]
        else:
            notes.append(f"{ours[0] / combined_s:.2f}× combined")
        label = f"{lines / 1e6:g}M {fmt}"
        rows.append(_row(f"{label}: cafepipe insights", lines, ours, ", ".join(notes)))
        if fmt == "combined":
            missing = "goaccess not installed (Debian package goaccess)"
            rows.append(_row(f"{label}: GoAccess", lines, theirs, "" if theirs else missing))
        rows.append(_row(f"{label}: DuckDB floor", lines, floor, "read + 3 aggregates"))
        log.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="1000000,10000000", help="comma-separated sizes")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each below 5M lines (median reported)"
    )
    parser.add_argument("--tmp", type=Path, default=None, help="where the logs are written")
    args = parser.parse_args()
    sizes = [int(size) for size in args.lines.split(",")]
    goaccess = shutil.which("goaccess")
    table = ["| run | time | lines/s | peak RSS | ratios |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="bench-insights-", dir=args.tmp) as tmp:
        for lines in sizes:
            repeat = args.repeat if lines < 5_000_000 else 1  # GoAccess takes minutes at 10M
            print(f"{lines:,} lines (median of {repeat})…", file=sys.stderr)
            table += bench_size(lines, repeat, Path(tmp), goaccess)
    print("\n".join(table))


if __name__ == "__main__":
    main()
