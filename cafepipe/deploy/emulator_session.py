"""Which emulator a stack's state belongs to.

An emulator keeps everything in memory: when it stops, every resource goes with it, but
`.cafepipe/<stack>/terraform/terraform.tfstate` stays and describes things that no longer
exist (Terraform then fails reading them back, and re-running never helps). So each emulator
run gets a session id, kept inside the emulator itself (an SSM parameter, gone when it
stops), and each stack records the session its state was made in. A different or missing
session means the emulator was restarted (or replaced): the old state describes nothing.
Emulator endpoints only; on AWS a state is never set aside on such grounds.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import botocore.exceptions

SESSION_PARAMETER = "/cafepipe/emulator-session"
RECORD_FILE = "emulator-session.json"


def current_session(ssm: Any, create: bool = False) -> str | None:
    """The running emulator's session id; with `create`, one is made when it has none."""
    try:
        return str(ssm.get_parameter(Name=SESSION_PARAMETER)["Parameter"]["Value"])
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
    if not create:
        return None
    try:
        ssm.put_parameter(
            Name=SESSION_PARAMETER,
            Value=uuid.uuid4().hex,
            Type="String",
            Overwrite=False,
            Description="cafepipe: which run of this emulator a stack's state belongs to",
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ParameterAlreadyExists":
            raise  # (another command made it first: read theirs)
    return str(ssm.get_parameter(Name=SESSION_PARAMETER)["Parameter"]["Value"])


def recorded_session(stack_dir: Path) -> dict[str, str] | None:
    """The session (and endpoint) the stack's state was made in, if recorded."""
    try:
        data = json.loads((stack_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("session"):
        return None
    return {"session": str(data["session"]), "endpoint_url": str(data.get("endpoint_url", ""))}


def record_session(stack_dir: Path, endpoint_url: str, session: str) -> None:
    stack_dir.mkdir(parents=True, exist_ok=True)
    path = stack_dir / RECORD_FILE
    tmp = path.with_name(f".{RECORD_FILE}.tmp")
    tmp.write_text(json.dumps({"session": session, "endpoint_url": endpoint_url}) + "\n")
    tmp.replace(path)


def stale_reason(stack_dir: Path, endpoint_url: str, ssm: Any) -> str | None:
    """Why the stack's state belongs to an emulator that is gone; None when it does not."""
    recorded = recorded_session(stack_dir)
    if recorded is None:
        return None  # made before sessions were recorded: nothing to compare
    if current_session(ssm) == recorded["session"]:
        return None
    where = recorded["endpoint_url"] or "an emulator"
    return (
        f"the state was made on {where} in an earlier run of the emulator, and an emulator "
        f"keeps nothing when it stops: the emulator at {endpoint_url} has none of it"
    )
