"""Where a log to analyse comes from: a local file, an S3 object, or a CloudWatch log group.

Each source becomes one local file for the DuckDB engine. S3 objects are read with boto3
(DuckDB's httpfs extension is downloaded at run time, which offline installs cannot do);
log-group events are pulled back with FilterLogEvents, page by page.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cafepipe.errors import AwsError, UsageError

if TYPE_CHECKING:  # boto3 is imported only when a cloud source is read
    from cafepipe.aws import AwsClients

LOGS_PREFIX = "logs:"
S3_PREFIX = "s3://"


@dataclass(frozen=True)
class Source:
    """A parsed --source value."""

    kind: str  # "file", "s3" or "logs"
    location: str  # the path, "bucket/key", or the log group name

    @property
    def label(self) -> str:
        return {"file": "", "s3": S3_PREFIX, "logs": LOGS_PREFIX}[self.kind] + self.location


def parse_source(value: str) -> Source:
    """`FILE`, `s3://bucket/key` or `logs:<group>` → Source (UsageError when malformed)."""
    if value.startswith(S3_PREFIX):
        bucket, _, key = value[len(S3_PREFIX) :].partition("/")
        if not bucket or not key:
            raise UsageError(f"{value!r} is not an S3 object", "use s3://bucket/key")
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
    source: Source, clients: AwsClients | None, since: datetime | None = None
) -> Iterator[Path]:
    """A local file holding the source's log lines (a temporary one for S3 and log groups)."""
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
    with tempfile.TemporaryDirectory(prefix="cafepipe-source-") as tmp:
        target = Path(tmp) / "access.log"
        if source.kind == "s3":
            bucket, _, key = source.location.partition("/")
            download_s3_object(clients, bucket, key, target)
        else:
            download_log_group(clients, source.location, target, start=since)
        yield target
