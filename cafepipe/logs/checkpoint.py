"""Where `ship` keeps how far a file got into a log stream, so a re-run resumes, never repeats.

One checkpoint per (destination, log group, stream, file content): the file is known by the
SHA-256 of its bytes, so a renamed copy resumes and a changed file is a new shipment. The
position is "chunk `chunk`, events before `offset` in its time order handled" (delivered or
refused), advanced only after PutLogEvents accepted a batch. Before each call the batch is
written down as `in_flight`: a run killed during the call leaves it there, and the next run
looks in the stream for that batch's events before it sends any of them again.

Every write goes to a temporary file in the same directory, is flushed to disk and renamed
over the old one (an atomic replace): a crash leaves the old checkpoint or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

VERSION = 1


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (as stored: a .gz is known by its compressed bytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class InFlight:
    """The batch of one PutLogEvents call whose answer has not been seen yet."""

    chunk: int
    start: int  # first index in the chunk's time order
    end: int  # one past the last
    first_ms: int  # its first and last timestamps: where to look for it in the stream
    last_ms: int


@dataclass
class Checkpoint:
    """How far one file got into one stream."""

    file_sha256: str
    file: str
    destination: str  # the endpoint URL, or "aws"
    region: str
    log_group: str
    log_stream: str
    chunk_lines: int  # the chunking the positions refer to (a resume reuses it)
    lines_total: int = 0
    chunk: int = 0
    offset: int = 0
    # The chunk at `chunk` has been started (its parse refusals are already counted).
    chunk_open: bool = False
    delivered: int = 0  # events of this file the stream holds (accepted or found there)
    rejected: dict[str, int] = field(default_factory=dict)
    in_flight: InFlight | None = None
    # The first run found the stream holding events already: every resume compares the
    # file with the whole stream again, until the file is complete.
    reconcile_whole_stream: bool = False
    complete: bool = False
    updated_at: str = ""

    @property
    def started(self) -> bool:
        return bool(self.delivered or self.chunk or self.offset or self.in_flight)

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        fields = {k: v for k, v in data.items() if k != "version"}
        flight = fields.pop("in_flight", None)
        checkpoint = cls(**fields)
        checkpoint.in_flight = InFlight(**flight) if flight else None
        return checkpoint


class CheckpointStore:
    """Checkpoints of one destination (endpoint + region), as JSON files in one directory."""

    def __init__(self, directory: Path, destination: str | None, region: str) -> None:
        self.directory = directory
        self.destination = destination or "aws"
        self.region = region

    def path(self, log_group: str, log_stream: str, sha256: str) -> Path:
        where = f"{self.destination}\n{self.region}\n{log_group}\n{log_stream}"
        key = hashlib.sha256(where.encode("utf-8")).hexdigest()[:16]
        return self.directory / f"{key}-{sha256[:16]}.json"

    def new(
        self, path: Path, sha256: str, log_group: str, log_stream: str, chunk_lines: int
    ) -> Checkpoint:
        return Checkpoint(
            file_sha256=sha256,
            file=str(path),
            destination=self.destination,
            region=self.region,
            log_group=log_group,
            log_stream=log_stream,
            chunk_lines=chunk_lines,
        )

    def load(self, log_group: str, log_stream: str, sha256: str) -> Checkpoint | None:
        """The checkpoint, or None when there is none (or it is unreadable: the stream decides)."""
        try:
            data = json.loads(self.path(log_group, log_stream, sha256).read_text("utf-8"))
            checkpoint = Checkpoint.from_json(data)
        except (OSError, ValueError, TypeError, KeyError):
            return None
        same = (
            data.get("version") == VERSION
            and checkpoint.file_sha256 == sha256
            and checkpoint.destination == self.destination
            and checkpoint.region == self.region
            and checkpoint.log_group == log_group
            and checkpoint.log_stream == log_stream
            and checkpoint.chunk_lines > 0
        )
        return checkpoint if same else None

    def save(self, checkpoint: Checkpoint) -> None:
        """Write atomically: a crash at any moment leaves the old or the new checkpoint."""
        checkpoint.updated_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        target = self.path(checkpoint.log_group, checkpoint.log_stream, checkpoint.file_sha256)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(checkpoint.to_json(), out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
