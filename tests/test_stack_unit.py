"""Stack helpers that need no cloud: plan summaries, the S3 backend file, each run's own
plan file, and what the terminal shows when Terraform is interrupted or orphans are found."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from cafepipe.aws import AwsClients
from cafepipe.cli import views
from cafepipe.config import load_config
from cafepipe.deploy.stack import (
    new_plan_file,
    open_stack,
    summarize_plan_events,
    write_backend_config,
)


def test_summarize_plan_events_counts_and_lists_changes() -> None:
    events = [
        {"type": "version"},
        {"type": "planned_change", "change": {"resource": {"addr": "b.x"}, "action": "update"}},
        {"type": "planned_change", "change": {"resource": {"addr": "a.y"}, "action": "create"}},
        {"type": "planned_change", "change": {"resource": {"addr": "data.z"}, "action": "read"}},
        {"type": "change_summary", "changes": {"add": 1, "change": 1, "remove": 0}},
    ]
    summary = summarize_plan_events(events)
    assert summary.as_dict() == {
        "add": 1,
        "change": 1,
        "destroy": 0,
        "resources": [
            {"address": "a.y", "action": "create"},
            {"address": "b.x", "action": "update"},
        ],
    }
    assert not summary.empty
    assert summarize_plan_events([{"type": "change_summary", "changes": {}}]).empty


def test_backend_file_local_and_s3(tmp_path: Path) -> None:
    local = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    local.terraform_dir.mkdir(parents=True)
    backend_file = local.terraform_dir / "backend.tf"
    backend_file.write_text("stale")
    write_backend_config(local)
    assert not backend_file.exists()

    toml = tmp_path / "cafepipe.toml"
    toml.write_text('[backend]\nbucket = "my-tf-state"\n')
    s3 = load_config(
        toml, {"state_dir": str(tmp_path), "endpoint_url": "http://127.0.0.1:9"}, environ={}
    )
    write_backend_config(s3)
    text = backend_file.read_text()
    assert 'backend "s3"' in text
    assert 'bucket                      = "my-tf-state"' in text
    assert 'key                         = "cafepipe/cafe/terraform.tfstate"' in text
    assert "use_lockfile                = true" in text
    assert 'endpoints                   = { s3 = "http://127.0.0.1:9" }' in text
    assert "secret" not in text.lower() and "access_key" not in text


@pytest.mark.integration
def test_s3_backend_keeps_state_in_the_bucket(emulator: object, tmp_path: Path) -> None:
    """The rendered backend works for real: state and its lock file go to S3 (moto)."""
    url = emulator.url  # type: ignore[attr-defined]
    s3 = AwsClients("us-east-1", url).client("s3")
    s3.create_bucket(Bucket="tf-state-backend-test")
    toml = tmp_path / "cafepipe.toml"
    toml.write_text('[backend]\nbucket = "tf-state-backend-test"\n')
    config = load_config(
        toml, {"state_dir": str(tmp_path), "endpoint_url": url, "stack": "backend"}, environ={}
    )
    config.terraform_dir.mkdir(parents=True)
    (config.terraform_dir / "main.tf").write_text(
        'resource "terraform_data" "marker" {\n  input = "x"\n}\n'
    )
    write_backend_config(config)
    runner = open_stack(config).runner
    runner.init()
    runner.apply(plan_file=None)
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket="tf-state-backend-test").get("Contents", [])
    ]
    assert keys == ["cafepipe/backend/terraform.tfstate"]  # the lock file is gone after the run
    assert not (config.terraform_dir / "terraform.tfstate").exists()
    assert runner.state_resources() == ["terraform_data.marker"]


def test_each_up_plans_into_a_file_of_its_own(tmp_path: Path) -> None:
    config = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    first, second = new_plan_file(config), new_plan_file(config)
    assert first != second and first.parent == second.parent == config.stack_dir / "plans"
    assert first.is_absolute() and not first.is_relative_to(config.terraform_dir)


def test_the_interrupt_notices_say_what_happens_next() -> None:
    out = io.StringIO()
    progress = views.TerraformProgress(Console(file=out, width=300), "applying", 55)
    progress.on_event(
        {"type": "cafepipe_interrupt", "count": 1, "in_flight": ["module.compute.aws_instance.web"]}
    )
    assert progress.title == "stopping"
    progress.on_event({"type": "cafepipe_interrupt", "count": 2, "in_flight": ["x.y"]})
    text = out.getvalue()
    assert "stopping after the operations in progress (module.compute.aws_instance.web)" in text
    assert "Ctrl-C again stops at once" in text
    assert "stopping at once: what was in progress (x.y) may be left" in text


def test_the_orphan_table_names_each_and_how_it_was_found(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200)
    monkeypatch.setattr(views, "out_console", console)
    orphans = [
        {"kind": "instance", "id": "i-1", "name": "cafepipe-shop-web", "by_name": False},
        {"kind": "dashboard", "id": "shop-dashboard", "name": "", "by_name": True},
    ]
    views.print_orphans(orphans, "`cafepipe up` (pid 7, since t)", None, console=console)
    text = out.getvalue()
    assert "i-1" in text and "cafepipe-shop-web" in text and "its name (cannot be tagged)" in text
    assert "Busy" in text and "`cafepipe up` (pid 7" in text
    assert "2 orphaned resource(s): `cafepipe destroy` removes them" in text
