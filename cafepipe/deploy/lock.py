"""One lock per stack: only one command at a time changes a stack or its state.

`up`, `destroy`, `simulate-logs`, `ship` (into the stack's log group) and `render` hold it for
as long as they work. The lock is an OS file lock (`filelock`) on `.cafepipe/<stack>/lock`:
the kernel releases it when its process ends, however it ends. Beside it, `lock.json` says who
holds it (pid, host, command, start time): a waiting command shows that on its live line, and
a `lock.json` found when the lock is free was left by a process that is gone (it is taken
over, with a notice). With the S3 backend, the state is shared between machines, so the
lock is also an object next to the state (`<key>.cafepipe-lock`), created only if absent
(S3 conditional writes) and deleted at the end.

`plan` and `status` never wait for it: `holder()` tells them who is working on the stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cafepipe.config import StackConfig
from cafepipe.errors import CafepipeError
from cafepipe.reporting import SILENT, Reporter

if TYPE_CHECKING:
    import filelock

LOCK_FILE = "lock"
HOLDER_FILE = "lock.json"
S3_LOCK_SUFFIX = ".cafepipe-lock"
DEFAULT_LOCK_TIMEOUT = 300.0  # seconds a command waits for the stack's lock


class StackLockedError(CafepipeError):
    """Another command holds the stack's lock (and kept it past the timeout)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a stack's lock: written when the lock is taken, removed when it is let go."""

    pid: int
    host: str
    command: str
    started: str  # ISO 8601, UTC

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"`cafepipe {self.command}` (pid {self.pid}{where}, since {self.started})"

    def alive(self) -> bool | None:
        """Whether its process still runs; None when it runs on another machine."""
        if self.host != socket.gethostname():
            return None
        from cafepipe.deploy.emulator import pid_alive  # here: every command imports this module

        return pid_alive(self.pid)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str | bytes) -> LockHolder | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["host"]), str(data["command"]), data["started"])
        except (ValueError, KeyError, TypeError):
            return None


def new_holder(command: str) -> LockHolder:
    started = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return LockHolder(os.getpid(), socket.gethostname(), command, started)


def holder(config: StackConfig) -> LockHolder | None:
    """Who holds the stack's lock now (None when it is free). Reads only: `lock.json` is
    there while its process runs (one that is gone left it behind, and holds nothing)."""
    current = _read_holder(config.stack_dir / HOLDER_FILE)
    if current is None or current.alive() is False:
        return None
    return current


def _read_holder(path: Path) -> LockHolder | None:
    try:
        return LockHolder.parse(path.read_text())
    except OSError:
        return None


def _write_holder(path: Path, current: LockHolder) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(current.to_json() + "\n")
    tmp.replace(path)  # whole or absent: a waiting command never reads half a file


def _lock_message(config: StackConfig, current: LockHolder | None, waited: float) -> str:
    who = current.describe() if current else "another cafepipe command"
    return f"stack {config.stack!r} is locked by {who}; waited {waited:.0f}s"


@contextlib.contextmanager
def stack_lock(
    config: StackConfig,
    command: str,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    reporter: Reporter = SILENT,
    s3: Any = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 0.5,
) -> Iterator[LockHolder]:
    """Hold the stack's lock for the `with` block; wait up to `timeout` seconds for it.

    Waiting shows a live line naming the holder; past the timeout, `StackLockedError`
    (exit 1) says who holds it and what to do. `s3` (a boto3 S3 client) adds the lock object
    of the S3 backend.
    """
    config.stack_dir.mkdir(parents=True, exist_ok=True)
    me = new_holder(command)
    # Imported here, as the emulator's pid check is: a command that takes no lock (insights on
    # a file, cost) should not pay for them at start-up.
    import filelock

    lock = filelock.FileLock(str(config.stack_dir / LOCK_FILE), timeout=timeout)
    holder_path = config.stack_dir / HOLDER_FILE
    _acquire_local(config, lock, holder_path, timeout, reporter, clock, sleep, poll_seconds)
    try:
        left = _read_holder(holder_path)
        if left is not None and left.pid != os.getpid():
            # The lock was free, yet its holder file is here: its process ended without
            # letting go (killed, machine restarted). The kernel released the lock itself.
            reporter.warn(
                f"took over the lock of stack {config.stack!r} from {left.describe()}, "
                "whose process is gone; if it was changing the stack, `cafepipe status` "
                "shows what it left"
            )
        _write_holder(holder_path, me)
        remote = None
        if s3 is not None and config.backend.kind == "s3":
            remote = S3Lock(s3, config, me)
            remote.acquire(timeout, reporter, clock, sleep, poll_seconds)
        try:
            yield me
        finally:
            if remote is not None:
                remote.release()
            holder_path.unlink(missing_ok=True)  # before the lock: never a stale "holder"
    finally:
        lock.release()


def lock_stack(
    config: StackConfig,
    command: str,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    reporter: Reporter = SILENT,
) -> contextlib.AbstractContextManager[LockHolder]:
    """The stack's lock for one changing command: local, plus the S3 backend's object."""
    s3 = None
    if config.backend.kind == "s3":
        from cafepipe.aws import AwsClients

        region = config.backend.region or config.region
        s3 = AwsClients(region, config.endpoint_url).client("s3")
    return stack_lock(config, command, timeout=timeout, reporter=reporter, s3=s3)


def _acquire_local(
    config: StackConfig,
    lock: filelock.BaseFileLock,
    holder_path: Path,
    timeout: float,
    reporter: Reporter,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    poll_seconds: float,
) -> None:
    if _try(lock):
        return
    started = clock()
    current = _read_holder(holder_path)
    who = current.describe() if current else "another cafepipe command"
    reporter.say(f"stack {config.stack!r} is locked by {who}: waiting up to {timeout:.0f}s")
    with reporter.status(f"waiting for the lock of stack {config.stack!r}") as update:
        while True:
            waited = clock() - started
            current = _read_holder(holder_path)
            if waited >= timeout:
                raise StackLockedError(
                    _lock_message(config, current, waited),
                    "wait for it to finish and re-run (or pass a longer --lock-timeout); "
                    "a lock whose process is gone is taken over by the next command",
                )
            who = current.describe() if current else "another cafepipe command"
            update(f"— held by {who} ({waited:.0f}s of {timeout:.0f}s)")
            sleep(poll_seconds)
            if _try(lock):
                return


def _try(lock: filelock.BaseFileLock) -> bool:
    import filelock

    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return False
    return True


class S3Lock:
    """The stack's lock as an S3 object beside the state: created only if absent."""

    def __init__(self, s3: Any, config: StackConfig, me: LockHolder) -> None:
        self.s3 = s3
        self.bucket = config.backend.bucket
        key = config.backend.key or f"cafepipe/{config.stack}/terraform.tfstate"
        self.key = key + S3_LOCK_SUFFIX
        self.config = config
        self.me = me
        self.etag: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _try_create(self) -> bool:
        import botocore.exceptions

        try:
            reply = self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=self.me.to_json().encode(),
                IfNoneMatch="*",
                ContentType="application/json",
            )
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return False
            raise
        self.etag = reply.get("ETag")
        return True

    def _current(self) -> tuple[LockHolder | None, str | None]:
        import botocore.exceptions

        try:
            reply = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except botocore.exceptions.ClientError:
            return None, None
        return LockHolder.parse(reply["Body"].read()), reply.get("ETag")

    def acquire(
        self,
        timeout: float,
        reporter: Reporter,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        poll_seconds: float,
    ) -> None:
        started = clock()
        with reporter.status(f"waiting for the S3 lock of stack {self.config.stack!r}") as update:
            while not self._try_create():
                current, etag = self._current()
                if current is not None and current.alive() is False:
                    reporter.warn(
                        f"took over the S3 lock {self.url} from {current.describe()}, whose "
                        "process is gone"
                    )
                    with contextlib.suppress(Exception):  # someone else may take it first
                        self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
                    continue
                waited = clock() - started
                if waited >= timeout:
                    raise StackLockedError(
                        _lock_message(self.config, current, waited) + f" (lock {self.url})",
                        "wait for it to finish and re-run; if that run is gone for good "
                        f"(another machine), remove the lock: aws s3 rm {self.url}",
                    )
                who = current.describe() if current else "another cafepipe command"
                update(f"— held by {who} ({waited:.0f}s of {timeout:.0f}s)")
                sleep(poll_seconds)

    def release(self) -> None:
        with contextlib.suppress(Exception):  # taken over meanwhile: no longer ours to delete
            if self.etag:
                self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
            else:
                self.s3.delete_object(Bucket=self.bucket, Key=self.key)
