"""A local AWS emulator: moto server on 127.0.0.1, in the background.

`cafepipe emulator start` runs `python -m cafepipe.deploy.emulator serve`, which is moto's own
server plus three small extensions, so the stack is the same on the emulator as on AWS (nothing
is switched off):

- `add_logs_query_definitions`: moto 5.2 has no CloudWatch Logs query definitions
  (PutQueryDefinition answers HTTP 500), and the stack saves its Logs Insights queries as
  `aws_cloudwatch_query_definition` resources.
- `evaluate_logs_insights`: moto's StartQuery applies only `fields`, `sort` and `limit`, so
  every dashboard query would answer wrongly. The extension runs the query with
  `cafepipe.deploy.logs_insights` over the events moto stores for the log groups and time range,
  refuses what AWS refuses (MalformedQueryException), and GetQueryResults returns the rows,
  the statistics (records matched and scanned, bytes scanned) and the status.
- `evaluate_bucket_policy_conditions`: moto ignores every bucket-policy condition but
  StringEquals, and then applies the statement anyway, so the stack's TLS-only policy (deny
  when `aws:SecureTransport` is false) would deny every request. The extension evaluates
  `Bool`/`StringEquals` conditions on `aws:SecureTransport`, and counts requests to the
  emulator as TLS: it stands in for AWS's HTTPS endpoints.

Two things differ on the emulator, both in the rendered Terraform: the offline provider (3.39)
predates CloudFront VPC origins, so there is no distribution; and moto reads a few attributes
of an instance in a subnet back wrong (an address association, no IPv6 address count, the
security groups on the interface only, the subnet's IPv6 block state), so the emulator render
ignores changes to exactly those (`ignore_changes`), or every plan would replace the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cafepipe.errors import EmulatorError

STATE_FILE = "emulator.json"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class EmulatorInfo:
    """A running emulator: where it listens and which process it is."""

    pid: int
    port: int
    log_file: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def is_listening(url: str, timeout: float = 1.0) -> bool:
    """True when something answers HTTP at `url` (moto answers / with 200)."""
    try:
        with urllib.request.urlopen(url + "/moto-api/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(state_root: Path) -> EmulatorInfo | None:
    path = state_root / STATE_FILE
    try:
        data = json.loads(path.read_text())
        return EmulatorInfo(int(data["pid"]), int(data["port"]), str(data["log_file"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def emulator_status(state_root: Path) -> dict[str, Any]:
    """What `emulator status` reports: running or not, url, pid."""
    info = read_state(state_root)
    if info is None:
        return {"running": False}
    running = pid_alive(info.pid) and is_listening(info.url)
    return {"running": running, "url": info.url, "pid": info.pid, "log_file": info.log_file}


def start_emulator(
    state_root: Path, port: int | None = None, timeout: float = 30.0
) -> EmulatorInfo:
    """Start moto server (with the extension) in the background; reuse a running one."""
    current = read_state(state_root)
    if current and pid_alive(current.pid) and is_listening(current.url):
        if port in (None, current.port):
            return current
        raise EmulatorError(
            f"an emulator already runs at {current.url}",
            "stop it first: cafepipe emulator stop",
        )
    port = port or free_port()
    url = f"http://{HOST}:{port}"
    if is_listening(url):
        raise EmulatorError(f"port {port} is already in use", "pick another with --port")
    state_root.mkdir(parents=True, exist_ok=True)
    log_file = state_root / "emulator.log"
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cafepipe.deploy.emulator", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # outlives this command; `emulator stop` ends it
        )
    deadline = time.monotonic() + timeout
    while not is_listening(url):
        if process.poll() is not None:
            raise EmulatorError(
                f"the emulator exited at start (exit {process.returncode})",
                f"see {log_file}; is moto installed? pip install 'cafepipe[emulator]'",
            )
        if time.monotonic() > deadline:
            process.kill()
            raise EmulatorError(f"the emulator did not answer on {url} within {timeout:.0f}s")
        time.sleep(0.1)
    info = EmulatorInfo(process.pid, port, str(log_file))
    (state_root / STATE_FILE).write_text(json.dumps(asdict(info)))
    return info


def stop_emulator(state_root: Path, timeout: float = 10.0) -> bool:
    """Stop the background emulator; False when none was running."""
    info = read_state(state_root)
    (state_root / STATE_FILE).unlink(missing_ok=True)
    if info is None or not pid_alive(info.pid):
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(info.pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.pid, os.WNOHANG)
        time.sleep(0.05)
    if pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    return True


# ---------------------------------------------------------------------------------------
# The extension: CloudWatch Logs query definitions for moto
# ---------------------------------------------------------------------------------------


def add_logs_query_definitions() -> None:
    """Teach moto's Logs service Put/Describe/DeleteQueryDefinition.

    Definitions live in memory per account and region, like the rest of moto's state.
    """
    from moto.logs.exceptions import ResourceNotFoundException
    from moto.logs.responses import LogsResponse

    def _store(response: LogsResponse) -> dict[str, dict[str, Any]]:
        backend = response.logs_backend
        store: dict[str, dict[str, Any]] = backend.__dict__.setdefault(
            "cafepipe_query_definitions", {}
        )
        return store

    def put_query_definition(self: LogsResponse) -> str:
        store = _store(self)
        definition_id = self._get_param("queryDefinitionId") or str(uuid.uuid4())
        if self._get_param("queryDefinitionId") and definition_id not in store:
            raise ResourceNotFoundException("Query definition not found")
        store[definition_id] = {
            "queryDefinitionId": definition_id,
            "name": self._get_param("name"),
            "queryString": self._get_param("queryString"),
            "logGroupNames": self._get_param("logGroupNames") or [],
            "lastModified": int(time.time() * 1000),
        }
        return json.dumps({"queryDefinitionId": definition_id})

    def describe_query_definitions(self: LogsResponse) -> str:
        prefix = self._get_param("queryDefinitionNamePrefix") or ""
        found = [d for d in _store(self).values() if str(d["name"]).startswith(prefix)]
        found.sort(key=lambda d: (d["name"], d["queryDefinitionId"]))
        return json.dumps({"queryDefinitions": found[: int(self._get_param("maxResults") or 1000)]})

    def delete_query_definition(self: LogsResponse) -> str:
        definition_id = self._get_param("queryDefinitionId")
        if _store(self).pop(definition_id, None) is None:
            raise ResourceNotFoundException("Query definition not found")
        return json.dumps({"success": True})

    LogsResponse.put_query_definition = put_query_definition  # type: ignore[attr-defined]
    LogsResponse.describe_query_definitions = describe_query_definitions  # type: ignore[attr-defined]
    LogsResponse.delete_query_definition = delete_query_definition  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# The extension: Logs Insights queries, evaluated
# ---------------------------------------------------------------------------------------


@dataclass
class EmulatedQuery:
    """A query StartQuery ran; moto's DescribeQueries reads the same attributes as its own."""

    query_id: str
    query_string: str
    log_group_names: list[str]
    create_time_ms: int
    rows: list[list[dict[str, str]]]
    statistics: dict[str, float]
    status: str = "Complete"

    def to_json(self, log_group_name: str) -> dict[str, Any]:
        return {
            "queryId": self.query_id,
            "queryString": self.query_string,
            "status": self.status,
            "createTime": self.create_time_ms,
            "logGroupName": log_group_name,
        }

    def to_result_json(self) -> dict[str, Any]:
        return {"results": self.rows, "statistics": self.statistics, "status": self.status}


def _group_name(identifier: str) -> str:
    # logGroupIdentifiers takes names or ARNs (arn:aws:logs:region:account:log-group:NAME[:*]).
    if identifier.startswith("arn:") and ":log-group:" in identifier:
        return identifier.split(":log-group:", 1)[1].removesuffix(":*")
    return identifier


def evaluate_logs_insights() -> None:
    """Make moto's StartQuery evaluate the query over the stored events (see the module doc)."""
    from moto.logs.exceptions import (
        InvalidParameterException,
        LogsClientError,
        ResourceNotFoundException,
    )
    from moto.logs.responses import LogsResponse

    from cafepipe.deploy.logs_insights import MAX_LIMIT, Event, MalformedQuery, compile_query

    class MalformedQueryException(LogsClientError):
        def __init__(self, message: str) -> None:
            super().__init__("MalformedQueryException", message)

    def start_query(self: LogsResponse) -> str:
        backend = self.logs_backend
        given = [
            [self._get_param("logGroupName")] if self._get_param("logGroupName") else [],
            list(self._get_param("logGroupNames") or []),
            [_group_name(i) for i in self._get_param("logGroupIdentifiers") or []],
        ]
        if sum(1 for names in given if names) != 1:
            raise InvalidParameterException(
                "give one of logGroupName, logGroupNames or logGroupIdentifiers"
            )
        names = next(names for names in given if names)
        missing = [name for name in names if name not in backend.groups]
        if missing:
            raise ResourceNotFoundException(f"Log group {missing[0]!r} does not exist")
        start, end = self._get_int_param("startTime"), self._get_int_param("endTime")
        if start is None or end is None or start > end:
            raise InvalidParameterException("startTime and endTime are needed, start <= end")
        limit = self._get_int_param("limit")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise InvalidParameterException(f"limit must be between 1 and {MAX_LIMIT}")
        text = self._get_param("queryString") or ""
        try:
            compiled = compile_query(text)
        except MalformedQuery as exc:
            raise MalformedQueryException(str(exc)) from None
        groups = [backend.groups[name] for name in names]
        events = (
            Event(
                event.timestamp,
                event.message,
                stream.log_stream_name,
                f"{backend.account_id}:{group.name}",
                event.ingestion_time,
            )
            for group in groups
            for stream in list(group.streams.values())
            for event in list(stream.events)
        )
        # Seconds, both ends included (StartQuery's reference): the whole end second counts.
        result = compiled.run(events, start * 1000, end * 1000 + 999, limit)
        query_id = str(uuid.uuid4())
        backend.queries[query_id] = EmulatedQuery(  # type: ignore[assignment]
            query_id, text, names, int(time.time() * 1000), result.rows, result.statistics
        )
        return json.dumps({"queryId": query_id})

    def get_query_results(self: LogsResponse) -> str:
        query = self.logs_backend.queries.get(self._get_param("queryId"))
        if query is None:
            raise ResourceNotFoundException("Query does not exist")
        return json.dumps(query.to_result_json())

    def stop_query(self: LogsResponse) -> str:
        query = self.logs_backend.queries.get(self._get_param("queryId"))
        if query is None:
            raise ResourceNotFoundException("Query does not exist")
        return json.dumps({"success": False})  # it completed when it started

    LogsResponse.start_query = start_query  # type: ignore[method-assign]
    LogsResponse.get_query_results = get_query_results  # type: ignore[method-assign]
    LogsResponse.stop_query = stop_query  # type: ignore[attr-defined]


# The request context the emulator evaluates bucket-policy conditions against.
EMULATOR_REQUEST_CONTEXT = {"aws:securetransport": "true"}


def _condition_holds(condition: Mapping[str, Any] | None) -> bool:
    """Whether a policy statement's Condition holds for a request to the emulator.

    Keys the emulator knows nothing about are treated as holding (moto's own behaviour).
    """
    for operator, tests in (condition or {}).items():
        base = operator.removesuffix("IfExists")
        for key, expected in tests.items():
            actual = EMULATOR_REQUEST_CONTEXT.get(key.lower())
            if actual is None or base not in ("Bool", "StringEquals", "StringEqualsIgnoreCase"):
                continue
            values = expected if isinstance(expected, list) else [expected]
            if actual.lower() not in [str(value).lower() for value in values]:
                return False
    return True


def evaluate_bucket_policy_conditions() -> None:
    """Make moto apply a bucket-policy statement only when its conditions hold."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode())
        statements = policy["Statement"]
        statements = statements if isinstance(statements, list) else [statements]
        applicable = [
            {k: v for k, v in statement.items() if k != "Condition"}
            for statement in statements
            if _condition_holds(statement.get("Condition"))
        ]
        if not applicable:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**policy, "Statement": applicable})).is_action_permitted(
            action, resource
        )

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def serve(port: int) -> None:
    """Run moto server with the extensions in this process (blocks)."""
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    add_logs_query_definitions()
    evaluate_logs_insights()
    evaluate_bucket_policy_conditions()
    from moto.server import main as moto_main

    moto_main(["-H", HOST, "-p", str(port)])


if __name__ == "__main__":  # python -m cafepipe.deploy.emulator serve --port N
    if len(sys.argv) == 4 and sys.argv[1] == "serve" and sys.argv[2] == "--port":
        serve(int(sys.argv[3]))
    else:
        sys.exit("usage: python -m cafepipe.deploy.emulator serve --port PORT")
