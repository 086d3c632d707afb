"""The rendered CloudWatch agent config against the agent's own JSON Schema, offline.

`tests/data/cloudwatch-agent-schema.json` is `translator/config/schema.json` of
aws/amazon-cloudwatch-agent (MIT; source commit and licence in
`cloudwatch-agent-schema.LICENSE`), unchanged. The agent validates its config with it before
it translates it, so a config it rejects means nothing ships from the instance.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cafepipe.config import AGENT_CONFIG_PATH, SITE_ACCESS_CHOICES, StackConfig, load_config
from cafepipe.deploy.render import agent_config, instance_files, render_stack

SCHEMA_FILE = Path(__file__).parent / "data" / "cloudwatch-agent-schema.json"
# The upstream schema lets the top level and the `agent` section hold any key. The agent's
# translator reads these `agent` keys the schema does not list (translator/translate/agent/
# ruleRunAsUser.go, use_dualstack_endpoint.go at the vendored commit); any other key there, or
# an unknown section, is a typo the agent would silently ignore, so the check refuses it.
AGENT_KEYS_NOT_IN_SCHEMA = {
    "run_as_user": {"type": "string", "minLength": 1},
    "use_dualstack_endpoint": {"type": "boolean"},
}


@cache
def upstream_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


@cache
def strict_schema() -> dict[str, Any]:
    """The upstream schema, with no unknown top-level section or `agent` key."""
    schema = copy.deepcopy(upstream_schema())
    schema["additionalProperties"] = False
    agent = schema["definitions"]["agentDefinition"]
    agent["properties"].update(AGENT_KEYS_NOT_IN_SCHEMA)
    agent["additionalProperties"] = False
    return schema


def schema_errors(document: Any) -> list[str]:
    """Every way `document` breaks the strict schema, as "path: message"."""
    validator = jsonschema.Draft4Validator(strict_schema())
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def real_aws_config(tmp_path: Path, site_access: str, **values: str) -> StackConfig:
    return load_config(
        None,
        {"state_dir": str(tmp_path / "state"), "site_access": site_access, **values},
        environ={},
    )


def test_the_vendored_schema_is_the_agents():
    schema = upstream_schema()
    assert schema["description"] == "Amazon CloudWatch Agent JSON Schema"
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator.check_schema(strict_schema())
    # Keys the strict check adds really are missing upstream (else drop them from the list).
    assert not set(AGENT_KEYS_NOT_IN_SCHEMA) & set(
        schema["definitions"]["agentDefinition"]["properties"]
    )


@pytest.mark.parametrize("site_access", SITE_ACCESS_CHOICES)
def test_rendered_agent_config_matches_the_agent_schema(tmp_path, site_access):
    config = real_aws_config(tmp_path, site_access, stack="shop", log_retention_days="3653")
    document = agent_config(config)
    assert schema_errors(document) == []
    # The file the user data writes, and its copy in the rendered directory, are that config.
    on_instance = json.loads(instance_files(config)[AGENT_CONFIG_PATH])
    rendered = render_stack(config, tmp_path / "out") / "instance" / "cloudwatch-agent.json"
    assert on_instance == document == json.loads(rendered.read_text(encoding="utf-8"))
    collected = document["logs"]["logs_collected"]["files"]["collect_list"]
    assert {entry["log_group_name"] for entry in collected} == {
        config.access_log_group,
        config.error_log_group,
    }


def test_a_deliberately_wrong_agent_config_is_reported(tmp_path):
    document = agent_config(real_aws_config(tmp_path, "cloudfront"))
    broken = copy.deepcopy(document)
    broken["agent"]["use_dual_stack_endpoint"] = True  # misspelt: the agent would ignore it
    access = broken["logs"]["logs_collected"]["files"]["collect_list"][0]
    del access["file_path"]  # required
    access["timezone"] = "Europe/Lisbon"  # only Local / UTC
    access["log_group_nmae"] = "apache/access"
    broken["log"] = {}  # an unknown section

    errors = schema_errors(broken)

    assert set(errors) == {
        "(top): Additional properties are not allowed ('log' was unexpected)",
        "agent: Additional properties are not allowed ('use_dual_stack_endpoint' was unexpected)",
        "logs/logs_collected/files/collect_list/0: "
        "Additional properties are not allowed ('log_group_nmae' was unexpected)",
        "logs/logs_collected/files/collect_list/0: 'file_path' is a required property",
        "logs/logs_collected/files/collect_list/0/timezone: "
        "'Europe/Lisbon' is not one of ['Local', 'LOCAL', 'UTC']",
    }
    assert len(errors) == 5
    assert schema_errors(document) == []
