"""Stack helpers that need no cloud: plan summaries and the S3 backend file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cafepipe.aws import AwsClients
from cafepipe.config import load_config
from cafepipe.deploy.stack import open_stack, summarize_plan_events, write_backend_config


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
