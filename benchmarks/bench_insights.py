"""Benchmark: `cafepipe insights` vs GoAccess vs DuckDB's own one-pass floor, side by side.

For each size (100k, 1M and 10M lines by default; 100k is a small café's log) and each log
format (combined, and the stack's JSON), on the same generated log in this run:

- cafepipe insights: every insight of the catalog, as `cafepipe insights --format json`;
- GoAccess (combined only: it has no reader for the stack's JSON lines);
- the DuckDB floor: one `read_csv` (`read_json` for JSON) of the log and 3 aggregates (lines,
  distinct client addresses, bytes) — what one pass over the file costs DuckDB alone;
- the least of this design: the floor, plus storing the parsed lines (a copy of cafepipe's
  stored table) and the catalog on them, each timed alone — what no run that stores every line
  and asks the catalog's SQL of it can go below on this machine;
- start-up: `cafepipe insights` on a one-line log, beside starting Python and importing DuckDB.

Each runs as a separate process, timed (wall clock), its peak RSS read from
getrusage(RUSAGE_CHILDREN) in a fresh wrapper process, so no figure includes another's. A
`.gz` row reads the combined log gzip-compressed. `--before TREE` also runs the cafepipe of
another source tree (e.g. `git archive HEAD | tar -x -C /tmp/before`) on the same logs, so
before and after are measured side by side: their runs alternate, at least two of each, and
each log is on disk before the first. The machine's load average is printed at the
start and the end: on a shared machine, compare within one run.
The goals (the performance section of docs/insights.md): at 1M combined lines at least 10×
GoAccess in at most 300 MB; at 10M lines at most 6 s, 1 GB, and 2.5× the floor; JSON within
1.5× of combined.

    .venv/bin/python benchmarks/bench_insights.py [--lines 100000,1000000,10000000] [--repeat 3]
        [--formats combined,json] [--goaccess-max 10000000] [--before TREE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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

# What no run of this design can go below: the catalog and storing the parsed lines, timed in one
# process on a log cafepipe has parsed. The catalog runs as a run runs it (its visits table built
# again each time); storing is a copy of the stored table, whose lines are already parsed, so it
# is what writing them costs without reading or converting a field. Beside the floor's one read,
# their sum is the least a run of one stored table and one SQL catalog costs here.
DESIGN_PARTS = """
import json, sys, time
from pathlib import Path
from cafepipe.insights.duckdb_engine import load_log, run_catalog
loaded = load_log(Path(sys.argv[1]), sys.argv[2])
con = loaded.connection
catalog, store = [], []
for _ in range(2):
    con.execute("DROP TABLE IF EXISTS visits")
    start = time.perf_counter()
    run_catalog(loaded)
    catalog.append(time.perf_counter() - start)
    start = time.perf_counter()
    con.execute("CREATE TABLE stored_again AS SELECT * FROM parsed")
    store.append(time.perf_counter() - start)
    con.execute("DROP TABLE stored_again")
loaded.close()
print(json.dumps({"catalog": min(catalog), "store": min(store)}))
"""

ROOT = Path(__file__).resolve().parents[1]


def measure(command: list[str], tree: Path | None = None) -> dict[str, float]:
    # `tree`: the source tree whose cafepipe runs (from another folder, so the current
    # directory's cafepipe cannot shadow it).
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command],
        capture_output=True, text=True, check=False, env=env, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def compile_bytecode(tree: Path) -> None:
    """Compile `tree`'s cafepipe to bytecode first, as `pip install` does: a run then measures
    the engine, not Python compiling its modules again (with PYTHONDONTWRITEBYTECODE set, as
    in some shells and CI, a stale .pyc is never rewritten: 0.05 s more on every run)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree / "cafepipe")],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _summary(runs: list[dict[str, float]]) -> tuple[float, float]:
    return statistics.median(r["seconds"] for r in runs), max(r["peak_kib"] for r in runs) / 1024


def median_of(command: list[str], repeat: int, tree: Path | None = None) -> tuple[float, float]:
    """Median wall seconds and the largest peak RSS (MiB) of `repeat` runs."""
    return _summary([measure(command, tree) for _ in range(repeat)])


def side_by_side(
    command: list[str], repeat: int, before: Path | None
) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """This tree's and `before`'s `median_of`, their runs interleaved (AB, BA, AB…) and at
    least two each, so neither is always timed first: in three runs at 10M lines the tree timed
    first was 0.3–0.4 s behind, where alternating runs showed it ahead."""
    if before is None:
        return median_of(command, repeat, ROOT), None
    runs: dict[Path, list[dict[str, float]]] = {ROOT: [], before: []}
    for round_ in range(max(repeat, 2)):
        for tree in (ROOT, before) if round_ % 2 == 0 else (before, ROOT):
            runs[tree].append(measure(command, tree))
    return _summary(runs[ROOT]), _summary(runs[before])


def insights_command(source: Path, out: Path) -> list[str]:
    """`cafepipe insights` on `source`, every insight as JSON into `out`: the run timed."""
    return [sys.executable, "-m", "cafepipe", "insights", "--source", str(source),
            "--format", "json", "--out", str(out)]  # fmt: skip


def design_parts(log: Path, fmt: str) -> dict[str, float]:
    """The catalog's and the store's least seconds on `log` (`DESIGN_PARTS`), this tree's."""
    done = subprocess.run(
        [sys.executable, "-c", DESIGN_PARTS, str(log), fmt],
        capture_output=True, text=True, check=False, cwd=tempfile.gettempdir(),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"the design's parts failed:\n{done.stderr}")
    parts: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return parts


def _row(name: str, lines: int, result: tuple[float, float] | None, note: str = "") -> str:
    if result is None:
        return f"| {name} | — | — | — | {note} |"
    seconds, mib = result
    return f"| {name} | {seconds:.2f} s | {lines / seconds:,.0f} | {mib:,.0f} MiB | {note} |"


def _gzip(log: Path) -> Path:
    target = log.with_name(log.name + ".gz")
    with log.open("rb") as source, target.open("wb") as out:
        subprocess.run(["gzip", "-c"], stdin=source, stdout=out, check=True)
    os.sync()
    return target


def bench_size(lines: int, repeat: int, tmp: Path, goaccess: str | None, args: Any) -> list[str]:
    end = datetime.now(timezone.utc)
    rows: list[str] = []
    combined_s = 0.0
    for fmt in args.formats.split(","):
        log = tmp / f"access-{lines}.{fmt}.log"
        options = build_options(lines=lines, start=end - timedelta(days=7), end=end, log_format=fmt)
        started = time.perf_counter()
        generate_log(options, log)
        # On disk before any run is timed: the first run would otherwise share the machine with
        # the kernel writing the log back (gigabytes at 10M lines).
        os.sync()
        print(
            f"  log: {lines:,} {fmt} lines, {log.stat().st_size / 1e6:,.0f} MB "
            f"(generated in {time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
        out = tmp / "insights.json"
        ours, before = side_by_side(insights_command(log, out), repeat, args.before)
        assert json.loads(out.read_text())["requests"] == lines, "insights missed lines"
        floor = median_of([sys.executable, "-c", FLOOR, str(log), fmt], repeat)
        theirs = None
        if goaccess is not None and fmt == "combined" and lines <= args.goaccess_max:
            theirs = median_of(
                [goaccess, str(log), "--log-format=COMBINED", "--no-global-config",
                 "-o", str(tmp / "goaccess.json")], repeat,
            )  # fmt: skip
        notes = [f"{ours[0] / floor[0]:.1f}× the floor"]
        if theirs is not None:
            notes.append(f"{theirs[0] / ours[0]:.1f}× faster than GoAccess")
        if before is not None:
            notes.append(f"{before[0] / ours[0]:.2f}× faster than before")
        if fmt == "combined":
            combined_s = ours[0]
        elif combined_s:
            notes.append(f"{ours[0] / combined_s:.2f}× combined")
        label = f"{lines / 1e6:g}M {fmt}"
        rows.append(_row(f"{label}: cafepipe insights", lines, ours, ", ".join(notes)))
        if before is not None:
            rows.append(_row(f"{label}: cafepipe insights before", lines, before, str(args.before)))
        if fmt == "combined":
            missing = (
                "goaccess not installed (Debian package goaccess)"
                if goaccess is None
                else f"not run above {args.goaccess_max:,} lines (--goaccess-max)"
            )
            rows.append(_row(f"{label}: GoAccess", lines, theirs, "" if theirs else missing))
        rows.append(_row(f"{label}: DuckDB floor", lines, floor, "read + 3 aggregates"))
        parts = design_parts(log, fmt)
        least = floor[0] + parts["store"] + parts["catalog"]
        note = (
            f"the floor + storing the parsed lines {parts['store']:.2f} s "
            f"+ the catalog {parts['catalog']:.2f} s"
        )
        # The goals (docs/insights.md, Performance) that this size and format has.
        if theirs is not None and lines == 1_000_000:
            note += f"; goal, 10× GoAccess: {theirs[0] / 10:.2f} s"
        if lines == 10_000_000:
            note += "; goal: 6 s"
        if fmt == "json" and combined_s:
            note += f"; goal, 1.5× combined: {1.5 * combined_s:.2f} s"
        rows.append(
            f"| {label}: least of this design | {least:.2f} s | {lines / least:,.0f} | — | {note} |"
        )
        if fmt == "combined" and args.gz:
            packed = _gzip(log)
            zipped, was = side_by_side(insights_command(packed, out), repeat, args.before)
            assert json.loads(out.read_text())["requests"] == lines, "insights missed lines"
            note = f"{packed.stat().st_size / 1e6:,.0f} MB gzip, {zipped[0] / ours[0]:.2f}× plain"
            if was is not None:
                note += f", before: {was[0]:.2f} s, {was[1]:,.0f} MiB"
            rows.append(_row(f"{label}.gz: cafepipe insights", lines, zipped, note))
            packed.unlink()
        log.unlink()
    return rows


def bench_start_up(tmp: Path, args: Any) -> list[str]:
    """A one-line log, beside what any run of a Python engine on DuckDB pays first: starting
    Python and importing DuckDB."""
    end = datetime.now(timezone.utc)
    log = tmp / "access-1.json.log"
    generate_log(
        build_options(lines=1, start=end - timedelta(days=1), end=end, log_format="json"), log
    )
    repeat = max(args.repeat, 5)  # a tenth of a second: more runs for a steady median
    ours, before = side_by_side(insights_command(log, tmp / "insights.json"), repeat, args.before)
    floor = median_of([sys.executable, "-c", "import duckdb"], repeat)
    note = f"{ours[0] / floor[0]:.1f}× the floor"
    if before is not None:
        note += f", {before[0] / ours[0]:.2f}× faster than before"
    rows = [_row("1 line json: cafepipe insights", 1, ours, note)]
    if before is not None:
        rows.append(_row("1 line json: cafepipe insights before", 1, before, str(args.before)))
    rows.append(_row("1 line json: Python + import duckdb", 1, floor, "what any such run pays"))
    log.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="100000,1000000,10000000", help="comma-separated sizes")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each below 5M lines (median reported)"
    )
    parser.add_argument("--tmp", type=Path, default=None, help="where the logs are written")
    parser.add_argument("--formats", default="combined,json", help="combined and/or json")
    parser.add_argument(
        "--goaccess-max", type=int, default=10_000_000, help="largest log GoAccess reads"
    )
    parser.add_argument("--no-gz", dest="gz", action="store_false", help="skip the .gz row")
    parser.add_argument("--before", type=Path, default=None, help="a source tree to compare")
    args = parser.parse_args()
    sizes = [int(size) for size in args.lines.split(",")]
    goaccess = shutil.which("goaccess")
    for tree in (ROOT, args.before):
        if tree is not None:
            compile_bytecode(tree)
    table = ["| run | time | lines/s | peak RSS | ratios |", "|---|---|---|---|---|"]
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs; load average at start {load[0]:.2f} {load[1]:.2f}", file=sys.stderr
    )
    if args.tmp is not None:
        args.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-insights-", dir=args.tmp) as tmp:
        for lines in sizes:
            repeat = args.repeat if lines < 5_000_000 else 1  # GoAccess takes minutes at 10M
            print(f"{lines:,} lines (median of {repeat})…", file=sys.stderr)
            table += bench_size(lines, repeat, Path(tmp), goaccess, args)
        table += bench_start_up(Path(tmp), args)
    print("\n".join(table))
    start, end = load, os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} CPUs; load average (1 min, 5 min) {start[0]:.2f} "
        f"{start[1]:.2f} at the start, {end[0]:.2f} {end[1]:.2f} at the end"
    )


if __name__ == "__main__":
    main()
