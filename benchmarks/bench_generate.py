"""Benchmark: `cafepipe generate-logs` throughput and memory, against the Faker-based peer.

Measured in one run, each in a child process (wall time and that child's peak RSS, from
`os.wait4`):
- JSON and combined lines/s, writing a real file (and JSON to /dev/null: generation alone);
- peak RSS of a 10,000,000-line JSON run (streaming: it must not grow with --lines);
- the peer, "Fake Apache Log Generator" (kiritbasu/Fake-Apache-Log-Generator, Faker + numpy),
  for BENCH_PEER_LINES lines, side by side, and the ratio.

The peer's code is not part of this repository: it is copied at run time from a mirror of its
repository (BENCH_PEER_REPO, default /work/.mirror/kiritbasu+Fake-Apache-Log-Generator/repo,
a bare git directory) into .bench/peer/, and its dependencies (faker, numpy, pytz, tzlocal) go
into a throwaway venv .bench/peer-venv/ made here. Without the mirror the peer is skipped.

Goals: >= 1,000,000 JSON lines/s, 10M lines well under 200 MB, >= 100x the peer.
Environment: BENCH_LINES (default 3,000,000), BENCH_RSS_LINES (10,000,000),
BENCH_PEER_LINES (20,000).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
PEER_REPO = Path(
    os.environ.get("BENCH_PEER_REPO", "/work/.mirror/kiritbasu+Fake-Apache-Log-Generator/repo")
)
PEER_FILE = "apache-fake-log-gen.py"
PEER_DEPS = ("faker", "numpy", "pytz", "tzlocal")
LINES = int(os.environ.get("BENCH_LINES", "3000000"))
RSS_LINES = int(os.environ.get("BENCH_RSS_LINES", "10000000"))
PEER_LINES = int(os.environ.get("BENCH_PEER_LINES", "20000"))
END = "2026-11-27T06:00:00Z"


def run_child(args: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB of that child)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(args)}")
    return seconds, usage.ru_maxrss / 1024  # Linux: kB


def cafepipe_args(out: str, lines: int, log_format: str) -> list[str]:
    return [
        sys.executable, "-c", "from cafepipe.cli import main; main()", "generate-logs",
        "--out", out, "--lines", str(lines), "--format", log_format, "--end", END, "--quiet",
    ]  # fmt: skip


def measure_cafepipe(work: Path, log_format: str, to_null: bool = False) -> float:
    out = os.devnull if to_null else str(work / f"access_log.{log_format}")
    seconds, rss = run_child(cafepipe_args(out, LINES, log_format))
    size = 0 if to_null else Path(out).stat().st_size
    where = "/dev/null" if to_null else "a file"
    rate = LINES / seconds
    print(
        f"cafepipe {log_format:8} → {where:9}: {LINES:,} lines in {seconds:.2f} s = "
        f"{rate:,.0f} lines/s"
        + (f", {size / LINES:.0f} bytes/line" if size else "")
        + f", peak RSS {rss:.0f} MB"
    )
    if not to_null:
        Path(out).unlink()
    return rate


def measure_disk(work: Path, size: int) -> float:
    """How fast this machine writes a file of that size (4 MB writes): the I/O ceiling."""
    block = bytes(4 << 20)
    target = work / "disk-check"
    started = time.perf_counter()
    with target.open("wb", buffering=0) as out:
        for _ in range(max(1, size // len(block))):
            out.write(block)
    seconds = time.perf_counter() - started
    target.unlink()
    rate = size / seconds
    print(f"plain file write of {size / 1e9:.1f} GB (the I/O ceiling): {rate / 1e9:.2f} GB/s")
    return rate


def prepare_peer() -> tuple[Path, Path] | None:
    """The peer's script and a python with its dependencies, or None (with the reason)."""
    if not PEER_REPO.is_dir():
        print(f"peer skipped: no mirror of kiritbasu/Fake-Apache-Log-Generator at {PEER_REPO}")
        print("  (set BENCH_PEER_REPO to a bare git clone of it to compare)")
        return None
    peer_dir = BENCH_DIR / "peer"
    peer_dir.mkdir(parents=True, exist_ok=True)
    script = peer_dir / PEER_FILE
    source = subprocess.run(
        ["git", "--git-dir", str(PEER_REPO), "show", f"HEAD:{PEER_FILE}"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    script.write_bytes(source)
    env_dir = BENCH_DIR / "peer-venv"
    python = env_dir / "bin" / "python"
    if not python.exists():
        print(f"creating {env_dir} with {', '.join(PEER_DEPS)} (the peer's dependencies)…")
        venv.create(env_dir, with_pip=True)
    check = subprocess.run([str(python), "-c", "import faker, numpy, pytz, tzlocal"],
                           capture_output=True)  # fmt: skip
    if check.returncode != 0:
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PEER_DEPS], capture_output=True
        )
        if install.returncode != 0:
            print("peer skipped: could not install its dependencies:")
            print(install.stderr.decode(errors="replace")[-2000:])
            return None
    return script, python


def measure_peer(work: Path) -> float | None:
    prepared = prepare_peer()
    if prepared is None:
        return None
    script, python = prepared
    peer_work = work / "peer"
    peer_work.mkdir()
    # -o LOG writes a file in the working directory (its CONSOLE mode fails on Python 3.7+).
    seconds, rss = run_child(
        [str(python), str(script), "-n", str(PEER_LINES), "-o", "LOG", "-l", "ELF"], peer_work
    )
    written = sum(len(f.read_bytes().splitlines()) for f in peer_work.iterdir())
    if written != PEER_LINES:
        raise SystemExit(f"the peer wrote {written} lines, not {PEER_LINES}")
    rate = PEER_LINES / seconds
    print(
        f"peer (Fake Apache Log Generator, combined-like ELF) → a file: {PEER_LINES:,} lines in "
        f"{seconds:.2f} s = {rate:,.0f} lines/s, peak RSS {rss:.0f} MB"
    )
    return rate


def main() -> None:
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as temp:
        work = Path(temp)
        disk_rate = measure_disk(work, LINES * 508)
        json_rate = measure_cafepipe(work, "json")
        measure_cafepipe(work, "json", to_null=True)
        combined_rate = measure_cafepipe(work, "combined")
        seconds, rss = run_child(cafepipe_args(os.devnull, RSS_LINES, "json"))
        print(
            f"cafepipe json, {RSS_LINES:,} lines → /dev/null: {seconds:.1f} s "
            f"({RSS_LINES / seconds:,.0f} lines/s), peak RSS {rss:.0f} MB"
        )
        peer_rate = measure_peer(work)
    print()
    print(f"JSON lines/s to a file:     {json_rate:,.0f}  (goal 1,000,000)")
    print(f"  the disk alone allows     {disk_rate / 508:,.0f} JSON lines/s (508 bytes each)")
    print(f"combined lines/s to a file: {combined_rate:,.0f}")
    print(f"peak RSS for {RSS_LINES:,} lines: {rss:.0f} MB  (goal: well under 200 MB)")
    if peer_rate is not None:
        print(f"peer lines/s:               {peer_rate:,.0f}")
        print(f"ratio JSON / peer:          {json_rate / peer_rate:,.0f}x  (goal 100x)")
        print(f"ratio combined / peer:      {combined_rate / peer_rate:,.0f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(BENCH_DIR / "peer", ignore_errors=True)


if __name__ == "__main__":
    main()
