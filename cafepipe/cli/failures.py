"""Every exception → one message, a hint and an exit code: the mapping behind `main()`.

`describe_failure` is a pure function (no output, no exit), so a test can table-test it.
`main()` in `cafepipe.cli.app` is the only caller: it prints `Failure.render()` on stderr and
exits with `Failure.exit_code`. The exit codes (docs/data-flow.md, "Exit codes"):

* 0 success;
* 1 the operation failed: AWS, Terraform, the machine (disk full, out of memory), a bug;
* 2 bad usage or bad input: a flag, a config value, a file the user gave;
* 130 interrupted (a real Ctrl-C).

The rule for operating-system errors (`OSError`): exit 2 when the error is about a path the
user gave (a command-line argument or option value, the state directory, the config file,
or anything under them) *and* the error is about that place (it is missing, not a folder, a
folder, read-only, not ours to use: ENOENT, ENOTDIR, EISDIR, EACCES, EPERM, EROFS, EEXIST,
ENAMETOOLONG, ELOOP, ENXIO, ENODEV); exit 1 otherwise: the machine failed (ENOSPC, EDQUOT,
EIO, EMFILE, ENOMEM…) wherever it was writing, or one of cafepipe's own files is missing.

Optional libraries are inspected only when already imported (`sys.modules`): an exception
of botocore or DuckDB cannot exist otherwise, and importing them here would slow start-up.
"""

from __future__ import annotations

import errno
import gzip
import os
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cafepipe.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CafepipeError

if TYPE_CHECKING:
    from cafepipe.deploy.terraform import TerraformInterrupted

DEBUG_HINT = "re-run with --debug for the traceback, and report it"
# Commands whose Ctrl-C stops Terraform, which saves what it had done.
TERRAFORM_COMMANDS = frozenset({"up", "destroy"})

# errno values that mean "this place cannot be used": bad input when the user named it.
PATH_ERRNOS = frozenset({
    errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS,
    errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.ENXIO, errno.ENODEV,
})  # fmt: skip
_OS_HINTS = {
    errno.ENOENT: "check the path: it, or the folder it goes in, does not exist",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "that is a folder: give the path of a file",
    errno.EACCES: "choose a path you may use, or change its permissions",
    errno.EPERM: "choose a path you may use, or change its permissions",
    errno.EROFS: "the file system is read-only: choose a writable path",
    errno.EEXIST: "remove it or choose another path",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ELOOP: "the path has a symbolic-link loop: choose another path",
    errno.ENOSPC: "free some space, or write somewhere else",
    errno.EDQUOT: "free some space (or raise the quota), or write somewhere else",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and re-run",
    errno.ENFILE: "too many open files on this machine: close some programs and re-run",
    errno.ENOMEM: "free some memory, or work on a smaller input (e.g. --since)",
    errno.EIO: "the disk (or device) failed: check it, or use another path",
}


@dataclass(frozen=True)
class Failure:
    """What `main()` prints and how it exits. `render()` is the text for stderr."""

    message: str
    exit_code: int
    hint: str | None = None
    prefix: str = "error: "  # "" for an interrupt, which is not an error of the user's

    def render(self, color: bool = False) -> str:
        head = click.style(self.prefix, fg="red", bold=True) if color else self.prefix
        text = f"{head}{self.message}"
        return f"{text}\n  → {self.hint}" if self.hint else text


def describe_failure(
    exc: BaseException, *, command: str | None = None, user_paths: Iterable[str] = ()
) -> Failure:
    """The message, hint and exit code for an exception that reached `main()`.

    `command` is the subcommand that ran (for what an interrupt means); `user_paths` are the
    paths the user gave (for the OSError rule of the module docstring).
    """
    if isinstance(exc, CafepipeError):
        return Failure(exc.description, exc.exit_code, exc.hint)
    if isinstance(exc, KeyboardInterrupt):
        return _interrupted(command, exc)
    if isinstance(exc, click.exceptions.Abort):
        return _aborted(exc, command)
    if isinstance(exc, click.ClickException):
        return _click_failure(exc)
    for describe in (_botocore_failure, _duckdb_failure):
        failure = describe(exc)
        if failure is not None:
            return failure
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):  # BadGzipFile is an OSError: first
        return Failure(
            f"a compressed input is not a valid gzip file ({_one_line(exc)})",
            EXIT_USAGE,
            "check it with gzip -t FILE; a file named .gz must be gzip-compressed",
        )
    if isinstance(exc, EOFError):
        truncated = "end-of-stream" in str(exc) or "Compressed file" in str(exc)
        what = "a compressed input is truncated" if truncated else "the input ended too early"
        return Failure(
            f"{what} ({_one_line(exc)})" if str(exc) else what,
            EXIT_USAGE,
            "check it with gzip -t FILE, and copy or download it again" if truncated else None,
        )
    if isinstance(exc, OSError):
        return _os_failure(exc, user_paths)
    if isinstance(exc, MemoryError):
        return Failure("out of memory", EXIT_FAILED, _OS_HINTS[errno.ENOMEM])
    return _unexpected(exc)


def _interrupted(command: str | None, exc: BaseException | None = None) -> Failure:
    """What a Ctrl-C left. "Safe to re-run" only where it is: Terraform stopped after the
    operations in progress, saved them, and nothing of the stack was found outside its
    state (or Terraform was not changing anything at that moment)."""
    stopped = _terraform_interruption(exc)
    if stopped is not None and stopped.changes_state and command in TERRAFORM_COMMANDS:
        return _terraform_interrupted(stopped, command)
    if command in TERRAFORM_COMMANDS:
        return Failure(
            "interrupted",
            EXIT_INTERRUPTED,
            "Terraform was not changing the stack at that moment: it is safe to re-run "
            f"`cafepipe {command}`, which picks up whatever is left to do",
            prefix="",
        )
    return Failure("interrupted", EXIT_INTERRUPTED, prefix="")


def _terraform_interrupted(stopped: TerraformInterrupted, command: str) -> Failure:
    left = stopped.left_outside
    outside = f": {', '.join(left)}" if left else ""
    if command == "destroy":
        # destroy finds what carries the stack's tag, in the state or not: it finishes the job.
        how = "was stopped at once" if not stopped.clean else "stopped after the deletions"
        return Failure(
            f"interrupted: Terraform {how}",
            EXIT_INTERRUPTED,
            "safe to re-run `cafepipe destroy`: it also removes what the state lost track of",
            prefix="",
        )
    cleanup = (
        "`cafepipe destroy` removes them with the stack, and `cafepipe status` lists them "
        "(re-running `up` would build beside them)"
    )
    if not stopped.clean:
        busy = ", ".join(stopped.in_flight) or "none reported"
        found = f"; found outside the state{outside}" if left else ""
        cut = (
            f"; it was stopped while writing its state file, so its backup (the state before "
            f"this run) was put back and the cut file kept as {stopped.cut_state_kept}"
            if stopped.cut_state_kept
            else ""
        )
        return Failure(
            "interrupted twice: Terraform was stopped at once; what it was doing "
            f"({busy}) may exist without being in its state{found}{cut}",
            EXIT_INTERRUPTED,
            cleanup,
            prefix="",
        )
    what = "had finished" if stopped.finished else "stopped after the operations in progress"
    if left:
        return Failure(
            f"interrupted: Terraform {what}, but {len(left)} call(s) cut off in flight left "
            f"resources outside its state{outside}",
            EXIT_INTERRUPTED,
            cleanup,
            prefix="",
        )
    if left is None:
        return Failure(
            f"interrupted: Terraform {what} and saved them in its state",
            EXIT_INTERRUPTED,
            f"re-running `cafepipe {command}` continues from there; `cafepipe status` shows "
            "whether anything was left outside the state (not checked)",
            prefix="",
        )
    return Failure(
        f"interrupted: Terraform {what} and saved them in its state; nothing of the stack "
        "is outside it",
        EXIT_INTERRUPTED,
        f"it is safe to re-run `cafepipe {command}`: it continues from there",
        prefix="",
    )


def _terraform_interruption(exc: BaseException | None) -> TerraformInterrupted | None:
    if exc is None or "cafepipe.deploy.terraform" not in sys.modules:
        return None  # an interrupt of Terraform cannot exist before the runner is loaded
    from cafepipe.deploy.terraform import TerraformInterrupted

    return exc if isinstance(exc, TerraformInterrupted) else None


def _aborted(exc: click.exceptions.Abort, command: str | None) -> Failure:
    # click.confirm raises Abort for Ctrl-C and for the end of input at its question.
    if isinstance(exc.__context__, EOFError):
        return Failure(
            "no answer to the question (the input ended); nothing was changed",
            EXIT_USAGE,
            "re-run with --yes to confirm",
        )
    return _interrupted(command)


def _click_failure(exc: click.ClickException) -> Failure:
    hint = None
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        hint = f"see `{exc.ctx.command_path} --help`"
    code = exc.exit_code if exc.exit_code else EXIT_USAGE
    return Failure(exc.format_message(), code, hint)


def _botocore_failure(exc: BaseException) -> Failure | None:
    if "botocore.exceptions" not in sys.modules:
        return None
    import botocore.exceptions

    if not isinstance(exc, (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)):
        return None
    from cafepipe.aws import aws_error_hint, describe_client_error

    text = describe_client_error(exc)
    if isinstance(exc, botocore.exceptions.ClientError):
        operation = getattr(exc, "operation_name", "") or "an AWS call"
        text = f"{operation} failed: {text}"
    return Failure(_one_line_text(text), EXIT_FAILED, aws_error_hint(exc))


def _duckdb_failure(exc: BaseException) -> Failure | None:
    duckdb = sys.modules.get("duckdb")
    if duckdb is None or not isinstance(exc, duckdb.Error):
        return None
    # DuckDB refusing its input (bytes it cannot read, a shape it cannot parse) is bad input;
    # anything else (memory, an internal error) is a failure of the run.
    input_errors = tuple(
        kind
        for kind in (
            getattr(duckdb, name, None)
            for name in ("InvalidInputException", "IOException", "ConversionException")
        )
        if isinstance(kind, type)
    )
    if isinstance(exc, input_errors):
        return Failure(
            f"the input is not an access log this tool reads ({_one_line(exc)})",
            EXIT_USAGE,
            "pass a JSON or combined Apache access log (plain or .gz) with --source",
        )
    return Failure(f"DuckDB failed: {_one_line(exc)}", EXIT_FAILED, DEBUG_HINT)


def _os_failure(exc: OSError, user_paths: Iterable[str]) -> Failure:
    code = exc.errno
    path = exc.filename if exc.filename is not None else exc.filename2
    where = os.fsdecode(path) if path is not None else None
    reason = (exc.strerror or _one_line(exc) or type(exc).__name__).lower()
    hint = _OS_HINTS.get(code) if code is not None else None
    if code in (errno.ENOSPC, errno.EDQUOT):
        message = f"{reason} writing {where}" if where else reason
        return Failure(message, EXIT_FAILED, hint)
    if code == errno.EPIPE:
        return Failure("broken pipe: the program reading the output went away", EXIT_FAILED)
    message = f"cannot use {where}: {reason}" if where else reason
    if code in PATH_ERRNOS and _given_by_user(exc, user_paths):
        return Failure(message, EXIT_USAGE, hint)
    if where is None and hint is None:
        return _unexpected(exc)
    return Failure(message, EXIT_FAILED, hint)


def _given_by_user(exc: OSError, user_paths: Iterable[str]) -> bool:
    candidates = (_absolute(path) for path in user_paths if path and path != "-")
    roots = [root for root in candidates if root is not None and root.parent != root]  # not "/"
    for name in (exc.filename, exc.filename2):
        target = _absolute(os.fsdecode(name)) if name is not None else None
        if target is not None and any(target.is_relative_to(root) for root in roots):
            return True
    return False


def _absolute(path: str) -> Path | None:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an embedded NUL…
        return None


def _unexpected(exc: BaseException) -> Failure:
    detail = _one_line(exc)
    message = f"unexpected {type(exc).__name__}" + (f": {detail}" if detail else "")
    return Failure(message, EXIT_FAILED, DEBUG_HINT)


def _one_line(exc: BaseException) -> str:
    return _one_line_text(str(exc))


def _one_line_text(text: str, limit: int = 300) -> str:
    """The first line of a message, shortened: libraries' errors can quote whole inputs."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    first = "".join(char if char.isprintable() else "\ufffd" for char in first)
    return first if len(first) <= limit else first[: limit - 1] + "…"
