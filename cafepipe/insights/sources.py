"""Where a log to analyse comes from: a local file, an S3 object, the S3 data lake, or a
CloudWatch log group.

Each source becomes one local file for the DuckDB engine. S3 objects are read with boto3
(DuckDB's httpfs extension is downloaded at run time, which offline installs cannot do);
log-group events are pulled back with FilterLogEvents, page by page.

The lake (`s3://BUCKET/archive/`, or any prefix ending in `/`): the listing keeps the keys of
the Hive layout `…dt=YYYY-MM-DD/instance=<id>/<name>.gz` (cafepipe.deploy.lake), drops the
partitions outside `since`/`until` before anything is downloaded, and joins the objects, in
key order, into one local .gz: a run of gzip members is one valid gzip stream (RFC 1952), so
the engine reads it as one file.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cafepipe.errors import AwsError, UsageError

if TYPE_CHECKING:  # boto3 is imported only when a cloud source is read
    from cafepipe.aws import AwsClients

LOGS_PREFIX = "logs:"
S3_PREFIX = "s3://"
# The lake's prefix in the stack's bucket (cafepipe.deploy.lake.ARCHIVE_PREFIX; written out so
# that parsing a --source imports nothing).
LAKE_PREFIX = "archive/"
# A lake object below the prefix: `…dt=YYYY-MM-DD/instance=<id>/<name>.gz`.
_LAKE_KEY_RE = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/instance=([^/]+)/[^/]+\.gz$")
GZIP_MAGIC = b"\x1f\x8b"
# A line of a rotated log can be archived under the next day's partition (logrotate runs
# after midnight): partitions this much before `since` are read too, the engine drops the lines.
LAKE_PRUNE_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Source:
    """A parsed --source value."""

    kind: str  # "file", "s3", "lake" or "logs"
    location: str  # the path, "bucket/key", "bucket/prefix/", or the log group name

    @property
    def label(self) -> str:
        prefix = {"file": "", "s3": S3_PREFIX, "lake": S3_PREFIX, "logs": LOGS_PREFIX}
        return prefix[self.kind] + self.location


def parse_source(value: str) -> Source:
    """`FILE`, `s3://bucket/key`, `s3://bucket/prefix/` (the lake) or `logs:<group>` → Source
    (UsageError when malformed)."""
    if value.startswith(S3_PREFIX):
        bucket, _, key = value[len(S3_PREFIX) :].partition("/")
        if not bucket or (not key and not value.endswith("/")):
            raise UsageError(
                f"{value!r} is not an S3 object or prefix",
                "use s3://bucket/key, or s3://bucket/archive/ for the lake",
            )
        if key.endswith("/") or not key or key == LAKE_PREFIX.rstrip("/"):
            prefix = key if key.endswith("/") or not key else key + "/"
            return Source("lake", f"{bucket}/{prefix}")
        return Source("s3", f"{bucket}/{key}")
    if value.startswith(LOGS_PREFIX):
        group = value[len(LOGS_PREFIX) :]
        if not group:
            raise UsageError(f"{value!r} names no log group", "use e.g. logs:apache/access")
        return Source("logs", group)
    if not value:
        raise UsageError("--source is empty", "pass a log file, s3://bucket/key or logs:<group>")
    return Source("file", value)


def latest_simulated_log(stack_dir: Path) -> Path | None:
    """The newest log file simulate-logs kept under `<stack_dir>/simulated/` (not its truth)."""
    folder = stack_dir / "simulated"
    if not folder.is_dir():
        return None
    logs = [
        path
        for path in folder.iterdir()
        if path.is_file() and "truth" not in path.name and not path.name.startswith(".")
    ]
    return max(logs, key=lambda path: path.stat().st_mtime, default=None)


def download_s3_object(clients: AwsClients, bucket: str, key: str, target: Path) -> None:
    """Copy one S3 object to `target`."""
    with _reading(
        f"s3://{bucket}/{key}",
        "check the bucket and key (aws s3 ls s3://BUCKET/), the region and your credentials",
    ):
        clients.client("s3").download_file(bucket, key, str(target))


def download_log_group(
    clients: AwsClients,
    group: str,
    target: Path,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Write every event message of a log group (all streams) to `target`, one per line.

    Returns the number of events.
    """
    logs = clients.client("logs")
    params: dict[str, Any] = {"logGroupName": group}
    if start is not None:
        params["startTime"] = _millis(start)
    if end is not None:
        params["endTime"] = _millis(end)
    count = 0
    with (
        _reading(
            f"log group {group}",
            "check the name (cafepipe status shows the stack's log groups) and the region",
        ),
        target.open("w", encoding="utf-8") as out,
    ):
        for page in logs.get_paginator("filter_log_events").paginate(**params):
            for event in page.get("events", []):
                out.write(event["message"].rstrip("\n") + "\n")
                count += 1
    return count


def lake_partition(key: str) -> tuple[date, str] | None:
    """(day, instance) of a key in the lake's layout, or None for any other key."""
    match = _LAKE_KEY_RE.search(key)
    if not match:
        return None
    try:
        return date.fromisoformat(match[1]), match[2]
    except ValueError:  # dt=2026-13-45: the layout's shape, not a day
        return None


def in_period(day: date, since: datetime | None, until: datetime | None) -> bool:
    """Whether partition `dt=day` can hold lines of `since <= t < until` (naive UTC)."""
    start = datetime(day.year, day.month, day.day)
    if until is not None and start >= until:
        return False
    return since is None or start + timedelta(days=1) + LAKE_PRUNE_MARGIN > since


@dataclass
class LakeRead:
    """What a lake source read: `partitions` (distinct dt), `objects`, `bytes`, and what the
    listing held besides (`objects_listed`, `objects_pruned` by the period, `objects_other`
    outside the layout)."""

    partitions: int = 0
    objects: int = 0
    bytes: int = 0
    objects_listed: int = 0
    objects_pruned: int = 0
    objects_other: int = 0
    first_day: str | None = None
    last_day: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_lake(
    clients: AwsClients,
    bucket: str,
    prefix: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[tuple[str, int]], LakeRead]:
    """The lake objects under the prefix in the period, in key order, as (key, size)."""
    read = LakeRead()
    keep: list[tuple[str, int]] = []
    days: set[date] = set()
    all_days: list[date] = []
    where = f"s3://{bucket}/{prefix}"
    with _reading(
        where, "check the bucket name (cafepipe status), the region and your credentials"
    ):
        paginator = clients.client("s3").get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                read.objects_listed += 1
                found = lake_partition(entry["Key"])
                if found is None:
                    read.objects_other += 1
                    continue
                all_days.append(found[0])
                if not in_period(found[0], since, until):
                    read.objects_pruned += 1
                    continue
                days.add(found[0])
                keep.append((entry["Key"], int(entry.get("Size", 0))))
    layout = "dt=YYYY-MM-DD/instance=<id>/<name>.gz"
    if not read.objects_listed:
        raise UsageError(
            f"{where} holds no objects",
            "check the bucket and prefix (the stack's lake is s3://<bucket_name>/archive/, "
            "see cafepipe status); simulate-logs and the daily archive copy fill it",
        )
    if not all_days:
        raise UsageError(
            f"{where} holds no lake partitions: none of its {read.objects_listed:,} objects "
            f"is {layout}",
            "pass the lake's prefix (s3://<bucket_name>/archive/), or one S3 object as "
            "s3://bucket/key",
        )
    if not keep:
        raise UsageError(
            f"no partition of {where} falls in the period: its partitions run from "
            f"dt={min(all_days)} to dt={max(all_days)}",
            "widen --since/--until",
        )
    keep.sort()
    read.partitions = len(days)
    read.objects = len(keep)
    read.bytes = sum(size for _, size in keep)
    read.first_day, read.last_day = min(days).isoformat(), max(days).isoformat()
    return keep, read


def download_lake(
    clients: AwsClients,
    bucket: str,
    objects: list[tuple[str, int]],
    target: Path,
) -> None:
    """Download the objects one by one and join them, in order, into `target` (one gzip)."""
    s3 = clients.client("s3")
    part = target.with_name(target.name + ".part")
    with target.open("wb") as joined:
        for key, _ in objects:
            with _reading(
                f"s3://{bucket}/{key}", "the lake changed while it was read? run insights again"
            ):
                s3.download_file(bucket, key, str(part))
            with part.open("rb") as piece:
                magic = piece.read(2)
                if not magic:
                    continue  # an empty object adds nothing (and no empty member)
                if magic != GZIP_MAGIC:
                    raise UsageError(
                        f"s3://{bucket}/{key} is named .gz but is not gzip-compressed",
                        "the lake holds gzip files of JSON lines only; remove or fix that object",
                    )
                joined.write(magic)
                shutil.copyfileobj(piece, joined, 1 << 20)
    part.unlink(missing_ok=True)


@contextmanager
def _reading(what: str, hint: str) -> Iterator[None]:
    """An AWS error while reading `what` becomes an AwsError naming the real cause."""
    import botocore.exceptions

    from cafepipe.aws import aws_error_hint, describe_client_error

    try:
        yield
    except botocore.exceptions.ClientError as exc:
        raise AwsError(f"cannot read {what}: {describe_client_error(exc)}", hint) from None
    except botocore.exceptions.BotoCoreError as exc:  # no answer: the endpoint, credentials…
        raise AwsError(
            f"cannot read {what}: {describe_client_error(exc)}", aws_error_hint(exc) or hint
        ) from None


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


@contextmanager
def local_copy(
    source: Source,
    clients: AwsClients | None,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    scratch_dir: Path | None = None,
    read: dict[str, Any] | None = None,
) -> Iterator[Path]:
    """A local file holding the source's log lines (a temporary one for S3 and log groups,
    under `scratch_dir` when given: the stack's state folder). For the lake, `read` (when
    given) is filled with what was read (`LakeRead.to_json`)."""
    if source.kind == "file":
        path = Path(source.location)
        if path.is_dir():
            raise UsageError(f"{path} is a folder, not a log file", "pass --source FILE")
        if not path.is_file():
            raise UsageError(f"log file {path} does not exist", "pass --source FILE")
        yield path
        return
    if clients is None:
        raise UsageError(f"{source.label} needs AWS access", "pass --region / --endpoint-url")
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cafepipe-source-", dir=scratch_dir) as tmp:
        target = Path(tmp) / "access.log"
        if source.kind == "lake":
            bucket, _, prefix = source.location.partition("/")
            objects, summary = list_lake(clients, bucket, prefix, since, until)
            target = Path(tmp) / "lake.log.gz"
            download_lake(clients, bucket, objects, target)
            if read is not None:
                read.update(summary.to_json())
        elif source.kind == "s3":
            bucket, _, key = source.location.partition("/")
            download_s3_object(clients, bucket, key, target)
        else:
            download_log_group(clients, source.location, target, start=since)
        yield target
