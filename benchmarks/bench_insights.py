"""Benchmark: `cafepipe insights` vs GoAccess on the same 1,000,000-line combined log.

Both run as separate processes, side by side in this run, each timed (wall clock) and its
peak memory read from getrusage(RUSAGE_CHILDREN) in a fresh wrapper process, so one's
figure never includes the other's. The log comes from the generator (the café's simulated
traffic, combined format). The target: insights at least 5× faster than GoAccess (goal 10×).

    .venv/bin/python benchmarks/bench_insights.py [--lines 1000000] [--repeat 3]
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


def measure(command: list[str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_of(command: list[str], repeat: int) -> tuple[float, float]:
    runs = [measure(command) for _ in range(repeat)]
    return statistics.median(r["seconds"] for r in runs), max(r["peak_kib"] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    args = parser.parse_args()

    goaccess = shutil.which("goaccess")
    cafepipe = [sys.executable, "-m", "cafepipe"]
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as tmp:
        log = Path(tmp) / "access.log"
        end = datetime.now(timezone.utc)
        options = build_options(
            lines=args.lines, start=end - timedelta(days=7), end=end, log_format="combined"
        )
        started = time.perf_counter()
        generate_log(options, log)
        size_mb = log.stat().st_size / 1e6
        print(
            f"log: {args.lines:,} combined lines, {size_mb:,.0f} MB "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        ours = [*cafepipe, "insights", "--source", str(log), "--format", "json",
                "--out", str(Path(tmp) / "insights.json")]  # fmt: skip
        ours_s, ours_kib = best_of(ours, args.repeat)
        insights = json.loads((Path(tmp) / "insights.json").read_text())
        assert insights["requests"] == args.lines, "insights did not read every line"
        print(
            f"cafepipe insights: {ours_s:6.2f} s  {args.lines / ours_s:>12,.0f} lines/s  "
            f"peak {ours_kib / 1024:,.0f} MiB  (median of {args.repeat})"
        )
        if goaccess is None:
            print("goaccess: not installed (Debian package goaccess) — no ratio measured")
            return
        theirs = [goaccess, str(log), "--log-format=COMBINED", "--no-global-config",
                  "-o", str(Path(tmp) / "goaccess.json")]  # fmt: skip
        theirs_s, theirs_kib = best_of(theirs, args.repeat)
        print(
            f"goaccess:          {theirs_s:6.2f} s  {args.lines / theirs_s:>12,.0f} lines/s  "
            f"peak {theirs_kib / 1024:,.0f} MiB  (median of {args.repeat})"
        )
        ratio = theirs_s / ours_s
        verdict = "meets the 5x target" if ratio >= 5 else "BELOW the 5x target"
        goal = " and the 10x goal" if ratio >= 10 else ""
        print(f"ratio: cafepipe insights is {ratio:.1f}x faster than GoAccess — {verdict}{goal}")


if __name__ == "__main__":
    main()
