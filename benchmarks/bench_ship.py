"""Benchmark `cafepipe ship` against the emulator, beside two named peers, in one run.

Figures:
- batch building (read + parse timestamps + plan batches), events/s, no network;
- cafepipe ship: events/s end to end into a moto server, and batch fullness
  (bytes per PutLogEvents call / 1,048,576);
- peer 1, "naive boto3 loop": fixed chunks of 10,000 events per put_log_events, no byte or
  24-hour packing. Its calls are counted against the 1,048,576-byte limit too: every call over
  it would be refused by CloudWatch Logs (moto does not check sizes, so it "succeeds" here);
- peer 2, "aws logs put-log-events CLI per batch": the AWS CLI run once per batch (the shell
  script way), on the first batches only, extrapolated to events/s;
- the upload choice of simulate-logs: gzip time and size against the plain file.

Run: .venv/bin/python benchmarks/bench_ship.py [LINES]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cafepipe.aws import AwsClients
from cafepipe.deploy.emulator import start_emulator, stop_emulator
from cafepipe.logs import generate, ship
from cafepipe.logs.simulate import gzip_deterministic

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
CLI_BATCHES = 5


def write_log(path: Path, count: int) -> None:
    """The café generator's JSON log (the week profile: a week ending now)."""
    end = datetime.now(timezone.utc)
    options = generate.build_options(
        profile="lab", lines=count, start=end - timedelta(days=7), end=end, seed=1
    )
    generate.generate_log(options, path)


def fresh_stream(logs: object, group: str, name: str) -> str:
    logs.create_log_stream(logGroupName=group, logStreamName=name)  # type: ignore[attr-defined]
    return name


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ship-"))
    log = work / "access_log"
    write_log(log, LINES)
    size = log.stat().st_size
    print(f"log: {LINES:,} lines, {size / 1e6:.1f} MB ({size / LINES:.0f} bytes/line)")

    started = time.perf_counter()
    parsed = ship.read_log_events(log)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    batches = ship.plan_batches(parsed.timestamps, parsed.sizes)
    plan_s = time.perf_counter() - started
    print(
        f"batch building: read+parse {LINES / parse_s:,.0f} lines/s, "
        f"plan {LINES / plan_s:,.0f} events/s ({len(batches)} batches)"
    )

    started = time.perf_counter()
    gzip_deterministic(log, work / "access_log.json.gz")
    gzip_s = time.perf_counter() - started
    packed = (work / "access_log.json.gz").stat().st_size
    print(
        f"upload choice: gzip {size / 1e6 / gzip_s:,.0f} MB/s, object {packed / 1e6:.1f} MB "
        f"= {packed / size:.1%} of the plain file"
    )

    emulator = start_emulator(work / "emulator")
    try:
        clients = AwsClients("us-east-1", emulator.url)
        logs = clients.client("logs")
        group = "bench/apache/access"
        logs.create_log_group(logGroupName=group)

        result = ship.ship_events(logs, parsed, group, "cafepipe")
        ours = result.events_sent / result.seconds
        print(
            f"cafepipe ship: {ours:,.0f} events/s ({result.events_sent:,} events, "
            f"{result.calls} calls, batch fullness {result.batch_fullness:.1%}, "
            f"{result.seconds:.1f} s)"
        )

        stream = fresh_stream(logs, group, "naive")
        started = time.perf_counter()
        oversize = 0
        naive_calls = 0
        for start in range(0, len(parsed.messages), ship.MAX_BATCH_EVENTS):
            end = start + ship.MAX_BATCH_EVENTS
            events = [
                {"timestamp": t, "message": m}
                for t, m in zip(
                    parsed.timestamps[start:end], parsed.messages[start:end], strict=True
                )
            ]
            payload = sum(parsed.sizes[start:end]) + 26 * len(events)
            oversize += payload > ship.MAX_BATCH_BYTES
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
            naive_calls += 1
        naive_s = time.perf_counter() - started
        naive = len(parsed.messages) / naive_s
        print(
            f"peer 1, naive boto3 loop (10,000 events/call, no byte packing): {naive:,.0f} "
            f"events/s; {oversize} of {naive_calls} calls exceed 1,048,576 bytes and would be "
            "refused by CloudWatch Logs"
        )

        stream = fresh_stream(logs, group, "cli")
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": emulator.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        aws = Path(sys.executable).parent / "aws"
        cli_events = 0
        started = time.perf_counter()
        for start, end in batches[:CLI_BATCHES]:
            batch_file = work / "batch.json"
            batch_file.write_text(
                json.dumps(
                    [
                        {"timestamp": t, "message": m}
                        for t, m in zip(
                            parsed.timestamps[start:end], parsed.messages[start:end], strict=True
                        )
                    ]
                )
            )
            subprocess.run(
                [str(aws), "logs", "put-log-events", "--log-group-name", group,
                 "--log-stream-name", stream, "--log-events", f"file://{batch_file}"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            cli_events += end - start
        cli_s = time.perf_counter() - started
        cli = cli_events / cli_s
        print(
            f"peer 2, aws logs put-log-events CLI per batch: {cli:,.0f} events/s "
            f"({CLI_BATCHES} batches, {cli_events:,} events)"
        )
        print(
            f"ratio: cafepipe ship / naive boto3 loop = {ours / naive:.2f}x "
            f"(and 0 vs {oversize} calls over the byte limit); "
            f"cafepipe ship / aws CLI per batch = {ours / cli:.1f}x"
        )
    finally:
        stop_emulator(work / "emulator")


if __name__ == "__main__":
    main()
