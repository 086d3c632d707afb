"""A local AWS emulator: moto server on 127.0.0.1, in the background.

`cafepipe emulator start` runs `python -m cafepipe.deploy.emulator serve`, which is moto's own
server plus small extensions, so the stack is the same on the emulator as on AWS (nothing
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
- `accept_athena_arns_without_account`: provider 3.39 builds the lake workgroup's ARN from the
  account id it was told not to look up, `arn:aws:athena:<region>::workgroup/<name>`, and
  moto finds no tags for it, so the workgroup could not be read back.
- `add_athena_named_query_deletion`: moto 5.2 has no DeleteNamedQuery (destroy of the lake's
  saved queries failed), answers GetNamedQuery of a gone query with HTTP 500, and keeps a
  deleted workgroup's queries.
- `add_athena_update_work_group`: moto 5.2 has no UpdateWorkGroup, so a changed cutoff (or
  any workgroup setting) could not be applied in place.
- `evaluate_athena_queries`: moto's Athena runs no SQL (canned rows, 0 bytes scanned, no pages).
  The extension runs a started SELECT with DuckDB over the objects under the Glue table's
  location in moto's S3, the partitions its `dt` predicates select only, and reports their
  bytes, pages the rows and writes the CSV result (docs/emulator.md).
- `emulate_autoscaling_fleets` (profile = "fleet"): moto puts every server of an Auto Scaling
  group in its first subnet, has no StartInstanceRefresh, and cannot launch from a launch
  template version made after the first; the extension balances servers over the group's
  subnets, refreshes them (all at once), and decodes new versions' user data (docs/fleet.md).

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


# ---------------------------------------------------------------------------------------
# The extensions for the lake: Athena named queries and workgroups
# ---------------------------------------------------------------------------------------


def _with_account(arn: str, account_id: str) -> str:
    """`arn:aws:athena:<region>::workgroup/x` (no account) → the same ARN in `account_id`."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and not parts[4]:
        parts[4] = account_id
        return ":".join(parts)
    return arn


def accept_athena_arns_without_account() -> None:
    """Read an Athena ARN with an empty account field as one of the emulator's account.

    Provider 3.39 builds a workgroup's ARN from the account id it looked up, and on the
    emulator it looks none up (`skip_requesting_account_id`), so it asks for the tags of
    `arn:aws:athena:<region>::workgroup/<name>`, which moto does not find.
    """
    from moto.athena.models import AthenaBackend

    original = {
        name: getattr(AthenaBackend, name)
        for name in ("list_tags_for_resource", "tag_resource", "untag_resource")
    }

    def patched(name: str) -> Any:
        def method(self: AthenaBackend, arn: str, *args: Any) -> Any:
            return original[name](self, _with_account(arn, self.account_id), *args)

        return method

    for name in original:
        setattr(AthenaBackend, name, patched(name))


def add_athena_named_query_deletion() -> None:
    """Teach moto's Athena DeleteNamedQuery, and what AWS says of a query that is gone.

    moto 5.2 has no DeleteNamedQuery (so `terraform destroy` of an `aws_athena_named_query`
    fails), answers GetNamedQuery of an unknown id with HTTP 500 (AWS: InvalidRequestException,
    which the provider reads as "deleted"), and DeleteWorkGroup keeps the workgroup's named
    queries (AWS deletes them with RecursiveDeleteOption and refuses without it).
    """
    from moto.athena.responses import AthenaResponse

    def invalid(message: str) -> tuple[str, dict[str, int]]:
        return json.dumps({"__type": "InvalidRequestException", "Message": message}), {
            "status": 400
        }

    original_get = AthenaResponse.get_named_query

    def get_named_query(self: AthenaResponse) -> Any:
        query_id = self._get_param("NamedQueryId")
        if self.athena_backend.get_named_query(query_id) is None:
            return invalid(f"NamedQuery {query_id} was not found")
        return original_get(self)

    def delete_named_query(self: AthenaResponse) -> Any:
        query_id = self._get_param("NamedQueryId")
        if self.athena_backend.named_queries.pop(query_id, None) is None:
            return invalid(f"NamedQuery {query_id} was not found")
        return json.dumps({})

    def delete_work_group(self: AthenaResponse) -> Any:
        name = self._get_param("WorkGroup")
        backend = self.athena_backend
        queries = [q.id for q in backend.named_queries.values() if q.workgroup.name == name]
        if queries and not self._get_param("RecursiveDeleteOption"):
            return invalid(f"WorkGroup {name} is not empty")
        for query_id in queries:
            del backend.named_queries[query_id]
        backend.delete_work_group(name)
        return json.dumps({})

    AthenaResponse.get_named_query = get_named_query  # type: ignore[method-assign]
    AthenaResponse.delete_named_query = delete_named_query  # type: ignore[attr-defined]
    AthenaResponse.delete_work_group = delete_work_group  # type: ignore[method-assign]


# UpdateWorkGroup's ConfigurationUpdates: flag → the configuration key it sets or removes.
_WORKGROUP_UPDATES = {
    "EnforceWorkGroupConfiguration": "EnforceWorkGroupConfiguration",
    "PublishCloudWatchMetricsEnabled": "PublishCloudWatchMetricsEnabled",
    "RequesterPaysEnabled": "RequesterPaysEnabled",
    "BytesScannedCutoffPerQuery": "BytesScannedCutoffPerQuery",
    "EngineVersion": "EngineVersion",
}


def _update_workgroup_configuration(configuration: dict[str, Any], updates: dict[str, Any]) -> None:
    for given, key in _WORKGROUP_UPDATES.items():
        if given in updates:
            configuration[key] = updates[given]
    if updates.get("RemoveBytesScannedCutoffPerQuery"):
        configuration.pop("BytesScannedCutoffPerQuery", None)
    results = updates.get("ResultConfigurationUpdates")
    if results is None:
        return
    current = configuration.setdefault("ResultConfiguration", {})
    for key in ("OutputLocation", "EncryptionConfiguration", "ExpectedBucketOwner"):
        if key in results:
            current[key] = results[key]
        if results.get(f"Remove{key}"):
            current.pop(key, None)


def add_athena_update_work_group() -> None:
    """Teach moto's Athena UpdateWorkGroup (moto 5.2 has none): a changed cutoff, result
    location, description or state is then applied in place, as on AWS."""
    from moto.athena.responses import AthenaResponse

    def update_work_group(self: AthenaResponse) -> Any:
        name = self._get_param("WorkGroup")
        work_group = self.athena_backend.work_groups.get(name)
        if work_group is None:
            return json.dumps(
                {"__type": "InvalidRequestException", "Message": f"WorkGroup {name} not found"}
            ), {"status": 400}
        if self._get_param("Description") is not None:
            work_group.description = self._get_param("Description")
        if self._get_param("State") is not None:
            work_group.state = self._get_param("State")
        updates = self._get_param("ConfigurationUpdates") or {}
        _update_workgroup_configuration(work_group.configuration, updates)
        return json.dumps({})

    AthenaResponse.update_work_group = update_work_group  # type: ignore[attr-defined]


# DuckDB's result types → the names Athena's ResultSetMetadata gives them.
_ATHENA_TYPES = {
    "BIGINT": "bigint", "HUGEINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint",
    "TINYINT": "tinyint", "DOUBLE": "double", "FLOAT": "real", "BOOLEAN": "boolean",
    "DATE": "date", "TIMESTAMP": "timestamp", "VARCHAR": "varchar",
}  # fmt: skip
_MAX_RESULTS = 1000  # GetQueryResults' largest page


def _athena_text(value: Any) -> str | None:
    """A value as Athena writes it in GetQueryResults and the CSV (NULL: no value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _partition_values(key: str, prefix: str) -> dict[str, str]:
    # Hive style: the `name=value` folders between the table's location and the object.
    folders = key[len(prefix) :].split("/")[:-1]
    return dict(folder.split("=", 1) for folder in folders if "=" in folder)


def _partition_filters(statement: Any, table: Any, partition_keys: list[str]) -> list[str]:
    """The conjuncts on partition keys only in the WHERE of each SELECT that reads `table`."""
    from sqlglot import exp

    conditions = []
    for select in statement.find_all(exp.Select):
        source = select.args.get("from_") or select.args.get("from")
        where = select.args.get("where")
        if source is None or where is None or source.this != table:
            continue
        for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            names = {column.name for column in conjunct.find_all(exp.Column)}
            if names and names <= set(partition_keys):
                conditions.append(conjunct.sql(dialect="duckdb"))
    return conditions


def run_athena_statement(
    statement_sql: str, default_database: str | None, account_id: str, region: str
) -> tuple[list[str], list[str], list[list[Any]], int]:
    """Evaluate a Trino SELECT over the Glue tables it names and the S3 objects under them.

    Returns the column names, their Athena types, the rows, and the bytes of the objects read:
    those of the partitions the statement's partition predicates keep (Athena's pruning).
    Raises ValueError with Athena's kind of reason when it cannot run.
    """

    import duckdb
    import sqlglot
    from moto.glue.models import glue_backends
    from moto.s3.models import s3_backends
    from sqlglot import exp

    from cafepipe.insights.athena_sql import duckdb_form

    try:
        statement = sqlglot.parse_one(statement_sql, read="trino")
    except sqlglot.errors.ParseError as exc:
        raise ValueError(f"SYNTAX_ERROR: {str(exc).splitlines()[0]}") from None
    ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
    glue = glue_backends[account_id][region]
    s3 = s3_backends[account_id]["aws"]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    scanned = 0
    for table in {t for t in statement.find_all(exp.Table) if t.name not in ctes or t.db}:
        database = table.db or default_database or "default"
        try:
            glue_table = glue.get_table(database, table.name).as_dict()
        except Exception:  # moto's EntityNotFoundException, of a database or a table
            raise ValueError(
                f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{table.name}' does not exist"
            ) from None
        descriptor = glue_table.get("StorageDescriptor", {})
        columns = [c["Name"].lower() for c in descriptor.get("Columns", [])]
        keys = [c["Name"].lower() for c in glue_table.get("PartitionKeys", [])]
        location = descriptor.get("Location", "")
        bucket_name, _, prefix = location.removeprefix("s3://").partition("/")
        filters = _partition_filters(statement, table, keys)
        typed = ", ".join(f'"{name}" VARCHAR' for name in [*columns, *keys])
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        con.execute(f'CREATE TABLE "{database}"."{table.name}" ({typed})')
        bucket = s3.get_bucket(bucket_name)
        files = []
        for key_name in sorted(k for k in bucket.keys if k.startswith(prefix)):
            values = _partition_values(key_name, prefix)
            if filters:
                probe = ", ".join(f"{_sql_text(values.get(k))} AS {k}" for k in keys)
                kept = con.execute(f"SELECT {' AND '.join(filters)} FROM (SELECT {probe})")
                if not (kept.fetchone() or [False])[0]:
                    continue
            fake_key = s3.get_object(bucket_name, key_name)
            scanned += fake_key.size  # type: ignore[union-attr]
            partition = [values.get(k) for k in keys]
            files.append(_parsed_object(fake_key, columns, partition))
        table_sql = f'"{database}"."{table.name}"'
        if files:
            listed = ", ".join(_sql_text(str(path)) for path in files)
            con.execute(f"INSERT INTO {table_sql} SELECT * FROM read_parquet([{listed}])")
    try:
        result = con.execute(duckdb_form(statement_sql))
        described = result.description or []
        data = [list(row) for row in result.fetchall()]
    except duckdb.Error as exc:
        raise ValueError(f"GENERIC_USER_ERROR: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    names_out = [column[0] for column in described]
    types = [_ATHENA_TYPES.get(str(column[1]).split("(")[0], "varchar") for column in described]
    return names_out, types, data, scanned


# The lake objects as the SerDe read them, one Parquet file per object version and columns:
# the catalog runs ~40 statements over the same objects, and parsing every line in Python for
# each of them made the demo's Athena step take a minute. Cleared with the process.
_PARSED_DIR: Path | None = None


def _parsed_object(fake_key: Any, columns: list[str], partition: list[str | None]) -> Path:
    """A Parquet file holding `fake_key`'s lines as the table's string columns + partition."""
    import gzip
    import hashlib
    import tempfile

    import duckdb

    from cafepipe.insights.athena_sql import insert_rows, serde_row

    global _PARSED_DIR
    if _PARSED_DIR is None:
        import atexit
        import shutil

        _PARSED_DIR = Path(tempfile.mkdtemp(prefix="cafepipe-emulator-athena-"))
        atexit.register(shutil.rmtree, _PARSED_DIR, ignore_errors=True)
    identity = json.dumps([fake_key.bucket_name, fake_key.name, fake_key.etag, columns, partition])
    path = _PARSED_DIR / (hashlib.sha256(identity.encode()).hexdigest() + ".parquet")
    if path.exists():
        return path
    body = fake_key.value
    text = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    rows = [[*serde_row(line, columns), *partition] for line in text.splitlines() if line.strip()]
    names = [*columns, *(f"p{index}" for index in range(len(partition)))]
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE t ({', '.join(f'c{i} VARCHAR' for i in range(len(names)))})")
        insert_rows(con, "t", rows, len(names))
        # Written beside, then renamed: a query running at the same time never reads half.
        partial = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        con.execute(f"COPY t TO {_sql_text(str(partial))} (FORMAT parquet)")
    finally:
        con.close()
    partial.replace(path)
    return path


def _sql_text(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def evaluate_athena_queries() -> None:
    """Make moto's Athena run SELECTs: StartQueryExecution evaluates the statement.

    moto 5.2 runs no SQL (GetQueryResults answers canned rows, DataScannedInBytes is 0, no
    pages). The extension reads the Glue table's location from moto's Glue, the objects under
    it from moto's S3 (gzip or plain JSON lines, as the OpenX JSON SerDe reads them), keeps the
    partitions the statement's `dt` predicates select, evaluates the statement with DuckDB
    (sqlglot, Trino → DuckDB), writes the CSV result to the workgroup's output location,
    reports the bytes of the objects read, fails a query past the workgroup's bytes-scanned
    cutoff, and pages GetQueryResults with NextToken.
    """
    from moto.athena.responses import AthenaResponse

    outcomes: dict[str, dict[str, Any]] = {}  # query id → state, reason, bytes, rows
    original_start = AthenaResponse.start_query_execution
    original_get = AthenaResponse.get_query_execution

    def start_query_execution(self: AthenaResponse) -> Any:
        answer = original_start(self)
        if not isinstance(answer, str):
            return answer  # moto's own refusal (no such workgroup)
        query_id = json.loads(answer)["QueryExecutionId"]
        query = self._get_param("QueryString") or ""
        if not query.lstrip().upper().startswith(("SELECT", "WITH")):
            return answer  # DDL: moto's own handling
        backend = self.athena_backend
        execution = backend.executions[query_id]
        group = execution.workgroup
        configuration = group.configuration if group is not None else {}
        location = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
        requested = (self._get_param("ResultConfiguration") or {}).get("OutputLocation")
        if requested and not configuration.get("EnforceWorkGroupConfiguration"):
            location = requested
        if location:
            execution.config = {"OutputLocation": f"{location.rstrip('/')}/{query_id}.csv"}
        database = (self._get_param("QueryExecutionContext") or {}).get("Database")
        outcome: dict[str, Any] = {"state": "SUCCEEDED", "reason": None, "bytes": 0}
        try:
            names, types, rows, scanned = run_athena_statement(
                query, database, backend.account_id, backend.region_name
            )
            outcome["bytes"] = scanned
            cutoff = configuration.get("BytesScannedCutoffPerQuery")
            if cutoff and scanned > int(cutoff):
                raise ValueError("Query exhausted resources: bytes scanned limit was exceeded")
            header = [{"VarCharValue": name} for name in names]
            body = [[_athena_text(value) for value in row] for row in rows]
            cells = [[{"VarCharValue": v} if v is not None else {} for v in row] for row in body]
            outcome["rows"] = [{"Data": data} for data in [header, *cells]]
            outcome["columns"] = [
                {"Name": n, "Label": n, "Type": t, "CatalogName": "hive", "Nullable": "UNKNOWN"}
                for n, t in zip(names, types, strict=True)
            ]
            if location:
                _write_result_csv(backend, execution.config["OutputLocation"], names, body)
        except ValueError as exc:
            outcome.update(state="FAILED", reason=str(exc))
            execution.status = "FAILED"
        outcomes[query_id] = outcome
        return answer

    def get_query_execution(self: AthenaResponse) -> Any:
        answer = original_get(self)
        outcome = outcomes.get(self._get_param("QueryExecutionId"))
        if outcome is None:
            return answer
        document = json.loads(answer)
        status = document["QueryExecution"]["Status"]
        if outcome["state"] != "SUCCEEDED":
            status.update(State=outcome["state"], StateChangeReason=outcome["reason"])
        document["QueryExecution"]["Statistics"]["DataScannedInBytes"] = outcome["bytes"]
        return json.dumps(document)

    def get_query_results(self: AthenaResponse) -> Any:
        query_id = self._get_param("QueryExecutionId")
        outcome = outcomes.get(query_id)
        if outcome is None:
            return json.dumps(self.athena_backend.get_query_results(query_id).to_dict())
        if outcome["state"] != "SUCCEEDED":
            message = f"Query has not yet finished. Current state: {outcome['state']}"
            return json.dumps({"__type": "InvalidRequestException", "Message": message}), {
                "status": 400
            }
        size = int(self._get_param("MaxResults") or _MAX_RESULTS)
        start = int(self._get_param("NextToken") or 0)
        rows = outcome["rows"][start : start + min(size, _MAX_RESULTS)]
        page: dict[str, Any] = {
            "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": outcome["columns"]}},
            "UpdateCount": 0,
        }
        if start + len(rows) < len(outcome["rows"]):
            page["NextToken"] = str(start + len(rows))
        return json.dumps(page)

    AthenaResponse.start_query_execution = start_query_execution  # type: ignore[method-assign]
    AthenaResponse.get_query_execution = get_query_execution  # type: ignore[method-assign]
    AthenaResponse.get_query_results = get_query_results  # type: ignore[method-assign]


def _write_result_csv(backend: Any, location: str, names: list[str], rows: list[list[Any]]) -> None:
    # Athena's result file: a header, every value double-quoted, NULL as nothing.
    from moto.s3.models import s3_backends

    def line(values: list[str | None]) -> str:
        return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values)

    text = "\n".join([line(list(names)), *(line(row) for row in rows)]) + "\n"
    bucket, _, key = location.removeprefix("s3://").partition("/")
    s3 = s3_backends[backend.account_id]["aws"]
    s3.put_object(bucket_name=bucket, key_name=key, value=text.encode("utf-8"))


# ---------------------------------------------------------------------------------------
# The extension for a fleet: Auto Scaling groups over several zones, and instance refreshes
# ---------------------------------------------------------------------------------------


def emulate_autoscaling_fleets() -> None:
    """Make moto's Auto Scaling groups launch like AWS's, and refresh their instances.

    moto launches every instance of a group into the first of its subnets; AWS balances them
    over the group's zones, which is the point of a fleet in two. Each new instance here goes
    to the subnet with the fewest. moto has no StartInstanceRefresh (a launch template change
    of the fleet would fail), so the extension implements it as AWS's refresh ends: every
    instance replaced by one launched from the template as it is now, out of the target
    groups and terminated; DescribeInstanceRefreshes and CancelInstanceRefresh answer for it.
    And moto stores a new template version's user data undecoded, then fails (HTTP 500) to
    launch from it: it is decoded as CreateLaunchTemplate's is.
    """
    from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult
    from moto.core.types import Base64EncodedString
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    create_version = LaunchTemplate.create_version

    def create_version_with_user_data(
        self: LaunchTemplate, data: dict[str, Any], *rest: Any
    ) -> Any:
        if data.get("UserData") is not None and not isinstance(
            data["UserData"], Base64EncodedString
        ):
            data = {**data, "UserData": parse_user_data(data["UserData"])}
        return create_version(self, data, *rest)

    launch = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def balanced_launch(
        self: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]
    ) -> None:
        subnets = (self.vpc_zone_identifier or "").split(",")
        if len(subnets) < 2:
            launch(self, count_needed, propagated_tags)
            return
        whole = self.vpc_zone_identifier
        for _ in range(count_needed):
            used = [state.instance.subnet_id for state in self.instance_states]
            self.vpc_zone_identifier = min(subnets, key=lambda s: (used.count(s), subnets.index(s)))
            try:  # moto's launch takes the first subnet of the list: give it one
                launch(self, 1, dict(propagated_tags))
            finally:
                self.vpc_zone_identifier = whole

    def _refreshes(response: AutoScalingResponse) -> list[dict[str, Any]]:
        backend = response.autoscaling_backend
        store: list[dict[str, Any]] = backend.__dict__.setdefault("cafepipe_refreshes", [])
        return store

    def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        groups = backend.describe_auto_scaling_groups([name])
        if not groups:
            raise ValidationError(f"AutoScalingGroup name not found - {name}")
        group = groups[0]
        old = [state.instance.id for state in group.instance_states]
        targets = [{"Id": instance_id} for instance_id in old]
        for arn in group.target_group_arns:
            backend.elbv2_backend.deregister_targets(arn, targets)
        # Out of the group (replacements are launched from the template as it is now), gone.
        backend.detach_instances(name, old, should_decrement=False)
        if old:
            backend.ec2_backend.terminate_instances(old)
        backend.update_attached_target_groups(name)
        refresh_id = str(uuid.uuid4())
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _refreshes(self).append(
            {
                "InstanceRefreshId": refresh_id,
                "AutoScalingGroupName": name,
                "Status": "Successful",
                "StatusReason": "emulated: every instance replaced at once",
                "StartTime": now,
                "EndTime": now,
                "PercentageComplete": 100,
                "InstancesToUpdate": 0,
                "Preferences": self._get_param("Preferences") or {},
            }
        )
        return ActionResult({"InstanceRefreshId": refresh_id})

    def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
        name = self._get_param("AutoScalingGroupName")
        wanted = set(self._get_param("InstanceRefreshIds") or [])
        found = [
            r
            for r in reversed(_refreshes(self))  # newest first, as AWS lists them
            if r["AutoScalingGroupName"] == name
            and (not wanted or r["InstanceRefreshId"] in wanted)
        ]
        return ActionResult({"InstanceRefreshes": found})

    class ActiveInstanceRefreshNotFound(AutoscalingClientError):
        code = "ActiveInstanceRefreshNotFound"
        message = "No in progress or pending Instance Refresh found"

    def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
        # Every emulated refresh has ended when it starts: there is none to cancel.
        raise ActiveInstanceRefreshNotFound

    LaunchTemplate.create_version = create_version_with_user_data  # type: ignore[method-assign,assignment]
    FakeAutoScalingGroup.replace_autoscaling_group_instances = balanced_launch  # type: ignore[method-assign]
    AutoScalingResponse.start_instance_refresh = start_instance_refresh  # type: ignore[attr-defined]
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes  # type: ignore[attr-defined]
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh  # type: ignore[attr-defined]


def serve(port: int) -> None:
    """Run moto server with the extensions in this process (blocks)."""
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    add_logs_query_definitions()
    evaluate_logs_insights()
    evaluate_bucket_policy_conditions()
    accept_athena_arns_without_account()
    add_athena_named_query_deletion()
    add_athena_update_work_group()
    evaluate_athena_queries()
    emulate_autoscaling_fleets()
    from moto.server import main as moto_main

    moto_main(["-H", HOST, "-p", str(port)])


if __name__ == "__main__":  # python -m cafepipe.deploy.emulator serve --port N
    if len(sys.argv) == 4 and sys.argv[1] == "serve" and sys.argv[2] == "--port":
        serve(int(sys.argv[3]))
    else:
        sys.exit("usage: python -m cafepipe.deploy.emulator serve --port PORT")
