"""Writing the log and its truth: the batch pipeline, a writer thread, atomic files.

Output is the same bytes whatever it is written to (a file, `.gz`, stdout, a pipe, a
stream that takes tiny writes): the chunks are the batches, made in order.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from cafepipe.errors import UsageError
from cafepipe.logs.generate.batches import BatchMaker
from cafepipe.logs.generate.lines import Renderer
from cafepipe.logs.generate.profiles import GeneratorOptions
from cafepipe.logs.generate.tables import Tables
from cafepipe.logs.generate.truth import TruthCounter

Progress = Callable[[int], None]  # called with the number of lines just written


def iter_log_chunks(options: GeneratorOptions) -> Iterator[tuple[bytes, int]]:
    """The log as byte chunks (with their line counts), in order."""
    yield from _chunks(Tables(options), None)


def _chunks(tables: Tables, truth: TruthCounter | None) -> Iterator[tuple[bytes, int]]:
    """Batch after batch: made, put in time order, rendered, counted into `truth`."""
    maker = BatchMaker(tables)
    renderer = Renderer(tables)
    seed = tables.options.seed
    for index in range(len(tables.batch_bounds)):
        lines = maker.make(index)
        if not len(lines.ip):
            continue
        # Rendering (body sizes, %D) draws from a stream of its own, apart from the batch's.
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index, 1])))
        moment, ip, template, referer = renderer.order(lines)
        text, size = renderer.render(rng, moment, ip, template, referer)
        if truth is not None:
            truth.add(moment, ip, template, size, referer)
        yield text, len(ip)


def write_log(
    options: GeneratorOptions, stream: IO[bytes], progress: Progress | None = None
) -> dict[str, Any]:
    """Write the log to a binary stream; return its ground truth."""
    tables = Tables(options)
    truth = TruthCounter(tables)
    with _BackgroundWriter(stream) as writer:
        for text, count in _chunks(tables, truth):
            writer.write(text)
            if progress is not None:
                progress(count)
    return truth.result()


class _BackgroundWriter:
    """Writes chunks on a thread: the kernel's copy (or gzip) runs beside the generator.

    File writes and zlib release the GIL, so on two cores this hides most of the I/O. The
    queue is short, which keeps memory bounded; the order of chunks is the order of writes.
    """

    def __init__(self, stream: IO[bytes], depth: int = 1) -> None:
        self.stream = stream
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.cancelled = False
        self.thread = threading.Thread(target=self._run, name="cafepipe-log-writer", daemon=True)

    def __enter__(self) -> _BackgroundWriter:
        self.thread.start()
        return self

    def _run(self) -> None:
        while True:
            chunk = self.queue.get()
            if chunk is None:
                return
            if self.error is None and not self.cancelled:
                try:
                    self.stream.write(chunk)
                except BaseException as exc:  # re-raised in the generating thread
                    self.error = exc

    def write(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.cancelled = kind is not None
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and kind is None:
            raise self.error


def generate_log(
    options: GeneratorOptions,
    out: str | os.PathLike[str] | IO[bytes],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the log to a path (`-` = stdout, `.gz` = gzip) or a binary stream; return the truth.

    A regular file is written to a temporary file beside it and renamed when complete: on any
    error or interrupt no partial file is left behind. A device or pipe (`/dev/null`, a FIFO)
    is written in place.
    """
    if not isinstance(out, (str, os.PathLike)):
        return write_log(options, out, progress)
    if os.fspath(out) == "-":
        truth = write_log(options, sys.stdout.buffer, progress)
        sys.stdout.buffer.flush()
        return truth
    path = Path(out)
    with _target_file(path) as raw:
        if path.name.endswith(".gz"):
            # No name and no mtime in the header: the same options give the same bytes.
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6
            ) as packed:
                return write_log(options, packed, progress)  # type: ignore[arg-type]
        return write_log(options, raw, progress)


def write_truth(truth: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """The ground truth as stable JSON (sorted keys), written atomically."""
    with _target_file(Path(path)) as raw:
        raw.write((json.dumps(truth, indent=2, sort_keys=True) + "\n").encode())


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail early (UsageError) when a file cannot be created at this path."""
    target = Path(path)
    if os.fspath(path) == "-":
        return
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a directory")
    if _is_special(target):
        if not os.access(target, os.W_OK):
            raise UsageError(f"cannot write {target}: permission denied")
        return
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {target}: no such directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {target}: no permission to create files in {parent}")


def _is_special(path: Path) -> bool:
    """An existing target that is not a regular file: a device (/dev/null) or a pipe."""
    return path.exists() and not path.is_file() and not path.is_dir()


@contextlib.contextmanager
def _target_file(path: Path) -> Iterator[IO[bytes]]:
    """A device or pipe is written in place (renaming over it would replace the device);
    a regular file atomically."""
    if _is_special(path):
        check_writable(path)
        with path.open("wb", buffering=1 << 20) as raw:
            yield raw
        return
    with _atomic_file(path) as raw:
        yield raw


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    check_writable(path)
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb", buffering=1 << 20) as raw:
            yield raw
        Path(temp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise
