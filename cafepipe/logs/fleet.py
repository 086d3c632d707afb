"""A simulated log spread over a fleet: its servers, the split by visitor, the lake's partitions.

- `fleet_instances`: the in-service instances of the stack's Auto Scaling group.
- `split_log`: one pass over the generated log writes each server's share (by visitor: a
  stable hash of the client address and user agent, so a visit stays on one server, as it
  would behind a load balancer with sticky sessions) and, for every (day, server), the lake's
  partition object `archive/dt=YYYY-MM-DD/instance=<id>/access.log.gz` (cafepipe.deploy.lake).
  Both hold exactly the events `ship` and the agent deliver: the lines with a timestamp (or
  one inherited from the line before), as CloudWatch Logs receives them.
- `upload_partitions` / `stale_partitions`: the lake's objects in the bucket, and the ones a
  verified run replaces.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any

import boto3.exceptions
import botocore.exceptions

from cafepipe.aws import aws_error, aws_error_hint, describe_client_error
from cafepipe.deploy import lake
from cafepipe.errors import AwsError, CafepipeError
from cafepipe.insights.sources import lake_partition
from cafepipe.logs import ship
from cafepipe.reporting import SILENT, Reporter

DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys a call


def parse_lake_key(key: str) -> tuple[date, str] | None:
    """(day, instance) of `archive/dt=YYYY-MM-DD/instance=<id>/<name>.gz`, else None (the
    readers' definition of the layout, anchored at the stack's archive prefix)."""
    if not key.startswith(lake.ARCHIVE_PREFIX) or key.count("/") != 3:
        return None
    return lake_partition(key)


def fleet_instances(autoscaling: Any, group_name: str) -> list[str]:
    """The group's in-service instance ids, sorted (the split depends on their order)."""
    try:
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise aws_error(
            f"cannot read the fleet's Auto Scaling group {group_name}",
            exc,
            "the credentials need autoscaling:DescribeAutoScalingGroups",
        ) from exc
    found = groups.get("AutoScalingGroups", [])
    if not found:
        raise AwsError(
            f"the fleet's Auto Scaling group {group_name} does not exist",
            "is the stack up? cafepipe status; cafepipe up creates it",
        )
    instances = found[0].get("Instances", [])
    serving = sorted(
        i["InstanceId"]
        for i in instances
        if i.get("LifecycleState") == "InService" and i.get("HealthStatus", "Healthy") == "Healthy"
    )
    if not serving:
        states = ", ".join(f"{i['InstanceId']} {i.get('LifecycleState')}" for i in instances)
        raise AwsError(
            f"the fleet {group_name} has no instance in service"
            + (f" ({states})" if states else ""),
            "wait until its servers have launched and pass their health checks "
            "(cafepipe status), then run simulate-logs again",
        )
    return serving


def visitor_of(message: str) -> bytes:
    """What identifies a visitor in a line: its client address and user agent (JSON log);
    the whole line when it has neither (it then still lands on exactly one server)."""
    try:
        record = json.loads(message)
    except ValueError:
        return message.encode("utf-8", "replace")
    if not isinstance(record, dict):
        return message.encode("utf-8", "replace")
    address, agent = record.get("remoteIP"), record.get("userAgent")
    if not isinstance(address, str) and not isinstance(agent, str):
        return message.encode("utf-8", "replace")
    return f"{address}\x00{agent}".encode("utf-8", "replace")


def server_for(visitor: bytes, servers: int) -> int:
    """The index of the server a visitor's requests go to: a stable hash (not Python's
    `hash`, which changes from one process to the next), modulo the number of servers."""
    digest = hashlib.blake2b(visitor, digest_size=8).digest()
    return int.from_bytes(digest, "big") % servers


@dataclass
class ServerShare:
    """One server's part of the simulated log."""

    instance_id: str
    path: Path  # plain JSON lines: what goes on this server (and into its stream)
    events: int = 0
    lines: int = 0  # newline characters, as `wc -l` on the instance counts them
    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, timestamp: int) -> None:
        self.events += 1
        self.lines += 1
        self.first_ms = timestamp if self.first_ms is None else min(self.first_ms, timestamp)
        self.last_ms = timestamp if self.last_ms is None else max(self.last_ms, timestamp)


@dataclass(frozen=True)
class Partition:
    """One lake object written locally: a server's events of one UTC day."""

    day: date
    instance_id: str
    path: Path
    events: int

    @property
    def key(self) -> str:
        return lake.partition_key(self.day, self.instance_id)


@dataclass
class SplitLog:
    """The log split over the servers, and its lake partitions (ordered by key)."""

    shares: list[ServerShare]
    partitions: list[Partition] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(share.events for share in self.shares)


def _utc_day(timestamp_ms: int) -> date:
    return datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc).date()


def _gzip_writer(path: Path, stack: ExitStack) -> gzip.GzipFile:
    """A gzip with no name and no mtime in its header: the same lines give the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = stack.enter_context(path.open("wb"))
    return stack.enter_context(
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
    )


def split_log(
    log: Path, instance_ids: Sequence[str], directory: Path, *, whole_log_is_share: bool
) -> SplitLog:
    """Split `log` by visitor over `instance_ids` and write the lake partitions, in one pass.

    Shares go to `directory/instances/<id>/access_log`, partitions to
    `directory/lake/<key>`. With `whole_log_is_share` (one server) the log itself is the
    share: it is not copied, only its partitions are written.
    """
    if not instance_ids:
        raise CafepipeError("no server to deliver the simulated log to")
    for instance_id in instance_ids:
        lake.validate_instance_id(instance_id)
    for old in (directory / "instances", directory / "lake"):
        shutil.rmtree(old, ignore_errors=True)  # an earlier run's files: never mixed in
    single = whole_log_is_share and len(instance_ids) == 1
    shares = [
        ServerShare(i, log if single else directory / "instances" / i / "access_log")
        for i in instance_ids
    ]
    counts: dict[tuple[date, int], int] = {}
    with ExitStack() as stack:
        outs: list[IO[bytes]] = []
        if not single:
            for share in shares:
                share.path.parent.mkdir(parents=True, exist_ok=True)
                outs.append(stack.enter_context(share.path.open("wb")))
        writers: dict[tuple[date, int], gzip.GzipFile] = {}
        for chunk in ship.iter_log_chunks(log):
            for timestamp, message in zip(chunk.timestamps, chunk.messages, strict=True):
                index = 0 if single else server_for(visitor_of(message), len(shares))
                data = message.encode("utf-8") + b"\n"
                if not single:
                    outs[index].write(data)
                shares[index].add(timestamp)
                slot = (_utc_day(timestamp), index)
                writer = writers.get(slot)
                if writer is None:
                    key = lake.partition_key(slot[0], shares[index].instance_id)
                    writer = writers[slot] = _gzip_writer(directory / "lake" / key, stack)
                writer.write(data)
                counts[slot] = counts.get(slot, 0) + 1
    if single:
        shares[0].lines = _count_newlines(log)  # the file as it is, empty lines included
    partitions = [
        Partition(
            day,
            shares[index].instance_id,
            directory / "lake" / lake.partition_key(day, shares[index].instance_id),
            events,
        )
        for (day, index), events in counts.items()
    ]
    partitions.sort(key=lambda p: p.key)
    return SplitLog(shares, partitions)


def _count_newlines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


@contextmanager
def _writing_lake(bucket: str, what: str) -> Iterator[None]:
    try:
        yield
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        boto3.exceptions.S3UploadFailedError,
    ) as exc:
        raise AwsError(
            f"{what} in s3://{bucket}/{lake.ARCHIVE_PREFIX} failed: {describe_client_error(exc)}",
            aws_error_hint(exc)
            or f"the credentials need s3:PutObject, s3:ListBucket and s3:DeleteObject on "
            f"{bucket}/{lake.ARCHIVE_PREFIX}*; re-run simulate-logs (the lake's keys are "
            "overwritten, never doubled)",
        ) from exc


def upload_partitions(
    s3: Any, bucket: str, partitions: Sequence[Partition], reporter: Reporter = SILENT
) -> None:
    """Put every partition at its lake key (an existing object is replaced, not added to)."""
    total = sum(p.path.stat().st_size for p in partitions)
    with (
        _writing_lake(bucket, "writing the lake's partitions"),
        reporter.progress(
            f"writing {len(partitions)} lake partitions to s3://{bucket}/{lake.ARCHIVE_PREFIX}",
            total,
        ) as advance,
    ):
        for partition in partitions:
            s3.upload_file(
                str(partition.path),
                bucket,
                partition.key,
                ExtraArgs={"ContentType": "application/gzip"},
                Callback=advance,
            )


def stale_partitions(s3: Any, bucket: str, current: set[str]) -> list[str]:
    """Keys of the lake's layout in the bucket that are not this run's (sorted)."""
    stale: list[str] = []
    with _writing_lake(bucket, "listing the lake"):
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=lake.ARCHIVE_PREFIX):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key not in current and parse_lake_key(key) is not None:
                    stale.append(key)
    return sorted(stale)


def remove_objects(s3: Any, bucket: str, keys: Sequence[str]) -> list[str]:
    """Delete these keys (1,000 a call); the keys removed."""
    removed: list[str] = []
    with _writing_lake(bucket, "removing the earlier lake partitions"):
        for start in range(0, len(keys), DELETE_BATCH):
            batch = list(keys[start : start + DELETE_BATCH])
            answer = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise AwsError(
                    f"removing {first.get('Key')} from s3://{bucket} failed: "
                    f"{first.get('Code')}: {first.get('Message')}",
                    "the credentials need s3:DeleteObject on the lake; re-run simulate-logs",
                )
            removed += batch
    return removed
