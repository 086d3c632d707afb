"""`simulate-logs`: a big simulated access log replaces the instance's, and every event arrives.

1. generate the log and its ground truth into `.cafepipe/<stack>/simulated/`;
2. upload it (gzip) to the stack's bucket under `simulated-logs/` (multipart, progress bar);
3. wait until the instance is an online SSM managed instance;
4. send one AWS-RunShellScript command (templates/ssm/simulate_logs.sh.j2): fetch and check
   the log, stop the agent, point its access-log stream at this run's stream, back up and
   swap the log, clear the agent's saved offset, start the agent, check it runs;
5. wait for the command;
6. count the events that arrived in this run's stream until they equal the lines;
7. only then remove the instance's earlier streams from the group (unless told to keep them).

Streams and runs (docs/delivery.md): every run delivers into a stream of its own,
`<instance id>/simulated-<run id>` (the run id is the UTC start time and 4 random hex digits).
Nothing already in CloudWatch Logs is deleted before the new stream holds every event of the
new log, so a failure anywhere (SendCommand refused, the script failing before the swap, a
command ending Undeliverable / TimedOut / Cancelled, the wait timing out, Ctrl-C) leaves the
events delivered before where they were. Once verified, the instance's earlier streams (its
`<instance id>` stream of the agent's first config, and earlier `…/simulated-…` runs, complete
or not) are removed, so the group holds exactly the new log, as insights and the dashboard
read it; `keep_earlier` keeps them. A re-run after a failure is a new run: it converges to
exactly the new log the same way. The first log is kept on the instance as
`access_log.before-cafepipe`, the previous simulated log as `access_log.previous-simulation`.
The same seed and size give the same object key (the object is overwritten); its content
changes only because the simulated time window ends "now".

On the emulator no instance runs anything: moto records the SSM command (checked here for its
content) and executes nothing, and has no DescribeInstanceInformation. There the events are
delivered with `ship` into this run's stream, exactly once (its checkpoint), so insights and
the dashboard see exactly what a real agent would have delivered.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import secrets
import shlex
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3.exceptions
import botocore.exceptions

from cafepipe import config as cfg
from cafepipe.aws import AwsClients, aws_error, aws_error_hint, describe_client_error
from cafepipe.config import StackConfig
from cafepipe.deploy import lake
from cafepipe.deploy.templating import render_template
from cafepipe.errors import EXIT_INTERRUPTED, AwsError, CafepipeError, UsageError
from cafepipe.logs import fleet as fleet_lake
from cafepipe.logs import ship, ssm
from cafepipe.logs.checkpoint import CheckpointStore
from cafepipe.logs.fleet import fleet_instances
from cafepipe.reporting import SILENT, Reporter

SCRIPT_TEMPLATE = "ssm/simulate_logs.sh.j2"
# `.cafepipe/<stack>/simulated/` holds only the log and its truth (insights picks the log
# there); what one run made besides lives in its `last-run/` folder.
SIMULATED_DIR = "simulated"
LOG_FILE = "access_log"  # plain JSON lines: exactly what the instance gets
TRUTH_FILE = "truth.json"
LAST_RUN_DIR = "last-run"
UPLOAD_FILE = "access_log.json.gz"  # what was uploaded (gzip: a few % of the plain size)
RUN_FILE = "run.json"
DEFAULT_LINES = 50_000
MAX_LINES = 20_000_000
CLOCK_SKEW_MARGIN_MS = 5 * 60 * 1000
# CloudWatch refuses events older than 14 days (or the retention) when they arrive: keep half
# a day for the upload and the agent to deliver the oldest line.
DELIVERY_MARGIN_DAYS = 0.5
MAX_DAYS = ship.MAX_AGE_DAYS - DELIVERY_MARGIN_DAYS
PROGRESS_MIN_LINES = 500_000
# `<instance id>/simulated-<run id>`: the stream of one run (docs/delivery.md).
RUN_STREAM_MARK = "/simulated-"
# A stream of an instance's agent (`<id>`) or of a run on it (`<id>/simulated-…`).
_INSTANCE_STREAM_RE = re.compile(r"^(i-[0-9a-f]{8,17})(?:/simulated-.+)?$")

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class SimulateOptions:
    """What to generate: a number of lines or of days (not both), a seed and a profile."""

    lines: int | None = None
    days: float | None = None
    seed: int = 1
    profile: str = "week"

    @property
    def label(self) -> str:
        size = f"{self.lines}lines" if self.lines is not None else f"{self.days:g}days"
        return f"seed{self.seed}-{size}-{self.profile}"


# Writes the log (plain JSON lines) at the path and returns its ground truth (the insights schema).
LogGenerator = Callable[[Path, SimulateOptions], Mapping[str, Any]]


def validate_options(options: SimulateOptions, retention_days: int) -> SimulateOptions:
    """Check the flags before anything is created; fill in the default size."""
    if options.lines is not None and options.days is not None:
        raise UsageError("give --lines or --days, not both")
    if options.lines is None and options.days is None:
        options = SimulateOptions(DEFAULT_LINES, None, options.seed, options.profile)
    if options.lines is not None and not 1 <= options.lines <= MAX_LINES:
        raise UsageError(f"--lines must be between 1 and {MAX_LINES:,}, not {options.lines}")
    if options.days is not None:
        oldest = min(ship.MAX_AGE_DAYS, retention_days) - DELIVERY_MARGIN_DAYS
        if not 0 < options.days <= oldest:
            raise UsageError(
                f"--days must be more than 0 and at most {oldest:g}, not {options.days:g}",
                "CloudWatch Logs refuses events older than 14 days or than the log group's "
                f"retention ({retention_days} days) when they arrive; half a day is kept for "
                "the delivery",
            )
    from cafepipe.logs.generate import profile_name

    # Normalised here, so the object key and the ground truth name the profile one way.
    return replace(options, profile=profile_name(options.profile))


def simulated_dir(config: StackConfig) -> Path:
    """Where the simulated log, its ground truth and the last run's summary are kept."""
    return config.stack_dir / SIMULATED_DIR


def object_key(options: SimulateOptions, instance_id: str | None = None) -> str:
    """The bucket key: the same options give the same key, so re-runs overwrite one object
    (on a fleet, one per server: its share of the log)."""
    server = f"-{instance_id}" if instance_id else ""
    return f"{cfg.SIMULATED_LOG_PREFIX}access_log-{options.label}{server}.json.gz"


def agent_state_file_name(file_path: str) -> str:
    """The agent's saved-offset file for a log file (its escapeFilePath: / space : → _)."""
    return file_path.replace("/", "_").replace(" ", "_").replace(":", "_")


def new_run_id(now: datetime | None = None) -> str:
    """A run's id: its UTC start time and 4 random hex digits (sorts by time, never repeats)."""
    moment = now or datetime.now(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def run_stream_name(instance_id: str, run_id: str) -> str:
    """The log stream one run of simulate-logs delivers into."""
    return f"{instance_id}{RUN_STREAM_MARK}{run_id}"


def is_earlier_stream(name: str, instance_id: str, current: str) -> bool:
    """A stream of this instance that a verified run replaces: the agent's first stream
    (`<instance id>`) or an earlier run's."""
    if name == current:
        return False
    return name == instance_id or name.startswith(f"{instance_id}{RUN_STREAM_MARK}")


def agent_config_for_run(config: StackConfig, log_stream: str) -> dict[str, Any]:
    """The stack's CloudWatch agent config, with the access log going to `log_stream`."""
    from cafepipe.deploy.render import agent_config

    rendered = copy.deepcopy(agent_config(config))
    entries = rendered["logs"]["logs_collected"]["files"]["collect_list"]
    access = [entry for entry in entries if entry.get("file_path") == cfg.ACCESS_LOG_PATH]
    if len(access) != 1:
        raise CafepipeError(
            f"the agent config collects {cfg.ACCESS_LOG_PATH} {len(access)} times, not once"
        )
    access[0]["log_stream_name"] = log_stream
    return rendered


def render_simulate_script(
    *,
    source_url: str,
    region: str,
    expected_lines: int,
    log_stream: str,
    agent_config: Mapping[str, Any],
    root: str = "",
    run_id: str = "",
    lake_days: Sequence[date] = (),
) -> str:
    """The instance script; `root` prefixes every instance path (tests run it in a sandbox).

    `lake_days`: the days this run writes lake partitions of for the server (their archive
    markers are set, so the server's own copy of such a day never overwrites them).
    """
    from cafepipe.deploy.render import ARCHIVED_DAYS_DIR, SIMULATED_HEADS_DIR

    quote = shlex.quote
    return render_template(
        SCRIPT_TEMPLATE,
        root=quote(root),
        log_stream=quote(log_stream),
        run_id=quote(run_id),
        heads_dir=quote(SIMULATED_HEADS_DIR),
        archived_days_dir=quote(ARCHIVED_DAYS_DIR),
        lake_days=" ".join(sorted({day.isoformat() for day in lake_days})),
        # Inside a quoted heredoc: written as is, never expanded by the shell.
        agent_config_json=json.dumps(agent_config, indent=2, sort_keys=True),
        access_log_path=quote(cfg.ACCESS_LOG_PATH),
        agent_ctl=quote(cfg.AGENT_CTL),
        agent_config_path=quote(cfg.AGENT_CONFIG_PATH),
        agent_state_dir=quote(cfg.AGENT_STATE_DIR),
        state_file_name=quote(agent_state_file_name(cfg.ACCESS_LOG_PATH)),
        source_url=quote(source_url),
        region=quote(region),
        expected_lines=int(expected_lines),
    )


@dataclass(frozen=True)
class SimulatedLog:
    """A generated log on this machine, ready to upload."""

    path: Path
    upload_path: Path
    truth_path: Path
    truth: Mapping[str, Any]
    lines: int  # newline characters, as `wc -l` on the instance counts them
    events: int  # non-empty lines: one CloudWatch event each
    first_ms: int
    last_ms: int


def gzip_deterministic(source: Path, target: Path) -> None:
    """gzip with no name and no mtime in the header: same input, same bytes."""
    with (
        source.open("rb") as plain,
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as packed,
    ):
        shutil.copyfileobj(plain, packed, 1 << 20)


def count_newlines(path: Path) -> int:
    """What `wc -l` says of a file."""
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def prepare_log(
    config: StackConfig, options: SimulateOptions, generate: LogGenerator
) -> SimulatedLog:
    """Generate the log and its ground truth next to the stack state, and gzip it."""
    directory = simulated_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / LOG_FILE
    truth = dict(generate(log_path, options))
    truth_path = directory / TRUTH_FILE
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    events, first_ms, last_ms = 0, None, None
    for chunk in ship.iter_log_chunks(log_path):  # bounded memory, however many lines
        events += chunk.lines_read - chunk.empty_lines
        if chunk.timestamps:
            low, high = min(chunk.timestamps), max(chunk.timestamps)
            first_ms = low if first_ms is None else min(first_ms, low)
            last_ms = high if last_ms is None else max(last_ms, high)
    if first_ms is None or last_ms is None:
        raise CafepipeError(f"the generated log {log_path} has no events")
    (directory / LAST_RUN_DIR).mkdir(exist_ok=True)
    upload_path = directory / LAST_RUN_DIR / UPLOAD_FILE
    gzip_deterministic(log_path, upload_path)
    return SimulatedLog(
        path=log_path,
        upload_path=upload_path,
        truth_path=truth_path,
        truth=truth,
        lines=count_newlines(log_path),
        events=events,
        first_ms=first_ms,
        last_ms=last_ms,
    )


def upload_log(s3: Any, path: Path, bucket: str, key: str, reporter: Reporter = SILENT) -> None:
    """Upload with boto3's managed transfer (multipart above 8 MB), with a progress bar."""
    try:
        with reporter.progress(f"uploading s3://{bucket}/{key}", path.stat().st_size) as advance:
            s3.upload_file(str(path), bucket, key, Callback=advance)
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        boto3.exceptions.S3UploadFailedError,
    ) as exc:
        hint = "check that the stack is up (cafepipe status) and the credentials may write to it"
        if "403" in str(exc) or "AccessDenied" in str(exc):
            hint = (
                "access denied: the credentials (or the bucket's policy) do not allow "
                f"s3:PutObject on {bucket}/{cfg.SIMULATED_LOG_PREFIX}*"
            )
        raise AwsError(
            f"upload to s3://{bucket}/{key} failed: {describe_client_error(exc)}", hint
        ) from exc


def earlier_streams(logs: Any, log_group: str, instance_id: str, current: str) -> list[str]:
    """The instance's streams in the group that the verified run `current` replaces."""
    names: list[str] = []
    try:
        paginator = logs.get_paginator("describe_log_streams")
        for page in paginator.paginate(logGroupName=log_group, logStreamNamePrefix=instance_id):
            names += [s["logStreamName"] for s in page.get("logStreams", [])]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise AwsError(
            f"the new log is complete in {log_group}/{current}, but the earlier streams cannot "
            f"be listed: {describe_client_error(exc)}",
            (aws_error_hint(exc) or "the credentials need logs:DescribeLogStreams")
            + "; until they are removed insights over the group counts them too",
        ) from exc
    return sorted(name for name in names if is_earlier_stream(name, instance_id, current))


def remove_streams(logs: Any, log_group: str, names: list[str], current: str) -> list[str]:
    """Delete these streams (ones already gone are fine); the names removed."""
    removed = []
    for name in names:
        try:
            logs.delete_log_stream(logGroupName=log_group, logStreamName=name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            if (
                isinstance(exc, botocore.exceptions.ClientError)
                and exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
            ):
                continue
            left = ", ".join(n for n in names if n not in removed)
            raise AwsError(
                f"the new log is complete in {log_group}/{current}, but removing the earlier "
                f"stream {name} failed: {describe_client_error(exc)}",
                (aws_error_hint(exc) or "the credentials need logs:DeleteLogStream")
                + f"; still there: {left} (re-run simulate-logs, or delete them with "
                f"aws logs delete-log-stream --log-group-name {log_group} --log-stream-name …)",
            ) from exc
        removed.append(name)
    return removed


class SimulateInterrupted(CafepipeError):
    """Ctrl-C during simulate-logs: exit 130; nothing delivered before was removed."""

    exit_code = EXIT_INTERRUPTED


def count_events_insights(
    logs: Any,
    log_group: str,
    log_stream: str,
    *,
    ingested_since_ms: int,
    first_ms: int,
    last_ms: int,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    timeout: float = 300.0,
) -> int:
    """Events of the swapped log in the stream, by one Logs Insights query (cheap at scale).

    Only events ingested since the swap and timed inside the simulated window count, so live
    requests that reach the site after the swap are not mistaken for simulated ones.
    """
    query = (
        f'filter @logStream = "{log_stream}" and @ingestionTime >= {ingested_since_ms} '
        "| stats count(*) as events"
    )
    with _counting(log_group, log_stream, "start"):
        query_id = logs.start_query(
            logGroupName=log_group,
            startTime=first_ms // 1000,
            endTime=last_ms // 1000 + 1,
            queryString=query,
        )["queryId"]
    deadline = clock() + timeout
    while True:
        with _counting(log_group, log_stream, "read the results of"):
            response = logs.get_query_results(queryId=query_id)
        status = response.get("status")
        if status == "Complete":
            for row in response.get("results", []):
                for cell in row:
                    if cell.get("field") == "events":
                        return int(cell.get("value", 0))
            return 0
        if status in ("Failed", "Cancelled", "Timeout") or clock() >= deadline:
            raise AwsError(f"the Logs Insights count query ended {status}")
        sleep(1.0)


@contextmanager
def _counting(log_group: str, log_stream: str, step: str) -> Iterator[None]:
    """A botocore error of the Logs Insights count becomes an AwsError with the next step."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise AwsError(
            f"cannot {step} the Logs Insights query counting the events in "
            f"{log_group}/{log_stream}: {describe_client_error(exc)}",
            aws_error_hint(exc)
            or "the credentials need logs:StartQuery and logs:GetQueryResults; the log was "
            "delivered: re-run to count again (it is safe)",
        ) from exc


@dataclass
class InstanceRun:
    """What one server got and delivered (the entries of `instances` in --json)."""

    instance_id: str
    log_stream: str
    key: str
    lines: int
    events_expected: int
    events_arrived: int = 0
    command_id: str = ""
    command_status: str = ""
    earlier_streams_removed: list[str] = field(default_factory=list)
    earlier_streams_kept: list[str] = field(default_factory=list)
    instance_output: str = ""
    shipped: dict[str, Any] | None = None

    @property
    def verified(self) -> bool:
        return self.events_arrived == self.events_expected

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verified": self.verified}


@dataclass
class SimulateResult:
    """What simulate-logs did (stable keys for --json).

    On a fleet, `instances` has one entry per server; the per-server keys at the top
    (`instance_id`, `log_stream`, `key`, `command_id`, `command_status`) join theirs with ", ",
    and the counts are totals.
    """

    emulated: bool
    instance_id: str
    log_group: str
    log_stream: str
    bucket: str
    key: str
    local_log: str
    truth_file: str
    lines: int
    events_expected: int
    events_arrived: int
    command_id: str
    command_status: str
    run_id: str = ""
    # The instance's earlier streams: removed once this run's stream was verified complete,
    # or kept (keep_earlier, or a run that did not verify).
    earlier_streams_removed: list[str] = field(default_factory=list)
    earlier_streams_kept: list[str] = field(default_factory=list)
    instance_output: str = ""
    shipped: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    profile: str = "single"
    fleet_asg_name: str = ""
    instances: list[InstanceRun] = field(default_factory=list)
    # The lake's partitions this run wrote (archive/dt=…/instance=…/access.log.gz), and the
    # earlier ones it replaced: {"prefix", "partitions", "objects", "bytes", "days",
    # "earlier_objects_removed", "earlier_objects_kept"}.
    lake: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.events_arrived == self.events_expected and all(
            run.verified for run in self.instances
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verified"] = self.verified
        data["instances"] = [run.to_json() for run in self.instances]
        data["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        return data


def _check_recorded_command(ssm_client: Any, command_id: str, instance_id: str, script: str) -> str:
    """On the emulator: the command SSM recorded is the one we meant to send."""
    with _reading_command(command_id):
        commands = ssm_client.list_commands(CommandId=command_id).get("Commands", [])
    if len(commands) != 1:
        raise AwsError(f"the emulator did not record SSM command {command_id}")
    command = commands[0]
    recorded = (command.get("Parameters") or {}).get("commands") or [""]
    problems = []
    if command.get("DocumentName") != ssm.SHELL_DOCUMENT:
        problems.append(f"document {command.get('DocumentName')!r}")
    if instance_id not in command.get("InstanceIds", []):
        problems.append(f"instances {command.get('InstanceIds')}")
    if recorded[0] != script:
        problems.append("a different script")
    if problems:
        raise AwsError(f"SSM recorded command {command_id} with " + ", ".join(problems))
    with _reading_command(command_id):
        invocation = ssm_client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    return str(invocation.get("Status", ""))


@contextmanager
def _reading_command(command_id: str) -> Iterator[None]:
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise AwsError(
            f"cannot read SSM command {command_id} back: {describe_client_error(exc)}",
            aws_error_hint(exc),
        ) from exc


def _check_instance_exists(ec2: Any, instance_id: str) -> None:
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except botocore.exceptions.ClientError as exc:
        raise AwsError(
            f"instance {instance_id} not found: {describe_client_error(exc)}",
            "is the stack up? cafepipe status",
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(
            f"cannot look up instance {instance_id}: {describe_client_error(exc)}",
            aws_error_hint(exc),
        ) from exc
    states = [i["State"]["Name"] for r in reservations for i in r.get("Instances", [])]
    if states != ["running"]:
        raise AwsError(
            f"instance {instance_id} is {states[0] if states else 'missing'}, not running",
            "start it, or re-create the stack with cafepipe up",
        )


@dataclass(frozen=True)
class Servers:
    """Where the simulated log goes: the stack's one instance, or the fleet's servers."""

    instance_ids: tuple[str, ...]
    fleet_asg_name: str = ""

    @property
    def fleet(self) -> bool:
        return bool(self.fleet_asg_name)

    @property
    def label(self) -> str:
        if not self.fleet:
            return self.instance_ids[0]
        count = len(self.instance_ids)
        return f"the fleet {self.fleet_asg_name} ({count} server{'s' * (count != 1)})"


def target_servers(
    outputs: Mapping[str, Any], clients: AwsClients, config: StackConfig | None = None
) -> Servers:
    """The single profile's instance, or the in-service instances of the fleet's group (the
    outputs say what was applied)."""
    asg = outputs.get("fleet_asg_name")
    if config is not None and config.fleet_enabled and not asg:
        raise CafepipeError(
            'profile = "fleet" is set, but the stack was applied as one instance (its outputs '
            "name no Auto Scaling group)",
            "run cafepipe up to create the fleet, then simulate-logs again",
        )
    if asg:
        return Servers(tuple(fleet_instances(clients.client("autoscaling"), str(asg))), str(asg))
    return Servers((str(outputs["instance_id"]),))


@contextmanager
def _on_server(instance_id: str, servers: Servers) -> Iterator[None]:
    """On a fleet, a failure names the server it happened on."""
    try:
        yield
    except CafepipeError as exc:
        if servers.fleet and instance_id not in exc.message:
            exc.message = f"server {instance_id}: {exc.message}"
        raise


def departed_streams(logs: Any, log_group: str, serving: Sequence[str]) -> list[str]:
    """Streams of instances no longer in the fleet (`<id>`, `<id>/simulated-…`): a verified
    run replaces them too, so the group holds exactly the new log after a scale-in."""
    names: list[str] = []
    try:
        for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=log_group):
            names += [s["logStreamName"] for s in page.get("logStreams", [])]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise aws_error(
            f"the new log is complete in {log_group}, but its streams cannot be listed",
            exc,
            "the credentials need logs:DescribeLogStreams",
        ) from exc
    departed = []
    for name in names:
        match = _INSTANCE_STREAM_RE.match(name)
        if match and match[1] not in serving:
            departed.append(name)
    return sorted(departed)


def simulate_logs(
    config: StackConfig,
    outputs: Mapping[str, Any],
    clients: AwsClients,
    options: SimulateOptions,
    generate: LogGenerator,
    *,
    reporter: Reporter = SILENT,
    keep_earlier: bool = False,
    run_id: str | None = None,
    servers: Servers | None = None,
    online_timeout: float = 600.0,
    command_timeout: float = 1800.0,
    verify_timeout: float = 900.0,
    poll_interval: float = 10.0,
    verify_interval: float = 20.0,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> SimulateResult:
    """Generate, split by visitor over the servers, upload, swap over SSM (or ship, on the
    emulator) into a stream of this run's own per server, verify every event, write the lake's
    partitions, and only then remove the earlier streams and partitions."""
    options = validate_options(options, config.log_retention_days)
    log_group = str(outputs["access_log_group"])
    bucket = str(outputs["bucket_name"])
    servers = servers or target_servers(outputs, clients, config)
    run = run_id or new_run_id()
    try:
        outcome = _simulate_run(
            config,
            outputs,
            clients,
            options,
            generate,
            run,
            servers,
            reporter=reporter,
            online_timeout=online_timeout,
            command_timeout=command_timeout,
            verify_timeout=verify_timeout,
            poll_interval=poll_interval,
            verify_interval=verify_interval,
            sleep=sleep,
            clock=clock,
        )
    except (KeyboardInterrupt, ship.ShipInterrupted):
        raise SimulateInterrupted(
            f"interrupted: nothing was removed from {log_group}; the events delivered before "
            "are all still there",
            "re-run simulate-logs: a new run replaces the earlier streams only once it is complete",
        ) from None
    except CafepipeError as exc:
        # Every failure before the verification leaves the group as it was: say so.
        untouched = (
            f"nothing was removed from {log_group}: the events delivered before are still "
            "there; a re-run delivers into a new stream and replaces the earlier ones only "
            "once it is complete"
        )
        exc.hint = f"{exc.hint}; {untouched}" if exc.hint else untouched
        raise

    logs = clients.client("logs")
    for member in outcome.instances:
        names = earlier_streams(logs, log_group, member.instance_id, member.log_stream)
        if keep_earlier:
            member.earlier_streams_kept = names
        else:
            member.earlier_streams_removed = remove_streams(
                logs, log_group, names, member.log_stream
            )
    gone = departed_streams(logs, log_group, servers.instance_ids) if servers.fleet else []
    if keep_earlier:
        outcome.earlier_streams_kept = sorted(
            [n for m in outcome.instances for n in m.earlier_streams_kept] + gone
        )
    else:
        removed = remove_streams(logs, log_group, gone, outcome.log_stream) if gone else []
        outcome.earlier_streams_removed = sorted(
            [n for m in outcome.instances for n in m.earlier_streams_removed] + removed
        )
    s3 = clients.client("s3")
    stale = fleet_lake.stale_partitions(s3, bucket, set(outcome.lake["objects"]))
    if keep_earlier:
        outcome.lake["earlier_objects_kept"] = stale
    else:
        outcome.lake["earlier_objects_removed"] = fleet_lake.remove_objects(s3, bucket, stale)
    _write_run(config, outcome)
    return outcome


def _write_run(config: StackConfig, outcome: SimulateResult) -> None:
    (simulated_dir(config) / LAST_RUN_DIR / RUN_FILE).write_text(
        json.dumps(outcome.to_json(), indent=2, sort_keys=True) + "\n"
    )


def _joined(values: Sequence[str]) -> str:
    return ", ".join(values)


def _simulate_run(
    config: StackConfig,
    outputs: Mapping[str, Any],
    clients: AwsClients,
    options: SimulateOptions,
    generate: LogGenerator,
    run_id: str,
    servers: Servers,
    *,
    reporter: Reporter,
    online_timeout: float,
    command_timeout: float,
    verify_timeout: float,
    poll_interval: float,
    verify_interval: float,
    sleep: Sleep,
    clock: Clock,
) -> SimulateResult:
    """Everything up to verified streams and the lake written; raises before that, having
    removed nothing."""
    bucket = str(outputs["bucket_name"])
    log_group = str(outputs["access_log_group"])
    seconds: dict[str, float] = {}
    ssm_client = clients.client("ssm")

    started = time.perf_counter()
    local = prepare_log(config, options, generate)
    split = fleet_lake.split_log(
        local.path,
        servers.instance_ids,
        simulated_dir(config) / LAST_RUN_DIR,
        whole_log_is_share=not servers.fleet,
    )
    seconds["generate"] = time.perf_counter() - started
    reporter.say(f"generated {local.events:,} lines → {local.path}")
    shares = {share.instance_id: share for share in split.shares}
    runs = [
        InstanceRun(
            instance_id=share.instance_id,
            log_stream=run_stream_name(share.instance_id, run_id),
            key=object_key(options, share.instance_id if servers.fleet else None),
            lines=share.lines,
            events_expected=local.events if not servers.fleet else share.events,
        )
        for share in split.shares
    ]
    if servers.fleet:
        reporter.say(
            f"split by visitor over {len(runs)} servers: "
            + ", ".join(f"{r.instance_id} {r.events_expected:,}" for r in runs)
        )

    started = time.perf_counter()
    for member in runs:
        upload = local.upload_path
        if servers.fleet:
            upload = shares[member.instance_id].path.with_name(UPLOAD_FILE)
            gzip_deterministic(shares[member.instance_id].path, upload)
        with _on_server(member.instance_id, servers):
            upload_log(clients.client("s3"), upload, bucket, member.key, reporter)
    seconds["upload"] = time.perf_counter() - started

    scripts = {
        member.instance_id: render_simulate_script(
            source_url=f"s3://{bucket}/{member.key}",
            region=config.region,
            expected_lines=member.lines,
            log_stream=member.log_stream,
            agent_config=agent_config_for_run(config, member.log_stream),
            run_id=run_id,
            lake_days=[p.day for p in split.partitions if p.instance_id == member.instance_id],
        )
        for member in runs
    }
    started = time.perf_counter()
    for member in runs:
        with _on_server(member.instance_id, servers):
            if config.emulated:
                _check_instance_exists(clients.client("ec2"), member.instance_id)
            else:
                reporter.say(f"waiting for {member.instance_id} to be online in Systems Manager…")
                ssm.wait_for_managed_instance(
                    ssm_client,
                    member.instance_id,
                    timeout=online_timeout,
                    poll_interval=poll_interval,
                    sleep=sleep,
                    clock=clock,
                )
    seconds["wait_online"] = time.perf_counter() - started

    # A new stream: only the clock's skew can make an earlier event look like this run's.
    ingested_since_ms = int(time.time() * 1000) - CLOCK_SKEW_MARGIN_MS
    for member in runs:
        with _on_server(member.instance_id, servers):
            member.command_id = ssm.send_shell_script(
                ssm_client,
                member.instance_id,
                scripts[member.instance_id],
                comment=f"cafepipe simulate-logs {options.label}",
            )
    started = time.perf_counter()
    for member in runs:
        with _on_server(member.instance_id, servers):
            _deliver(
                config,
                clients,
                member,
                shares[member.instance_id],
                scripts[member.instance_id],
                log_group,
                ingested_since_ms,
                reporter=reporter,
                command_timeout=command_timeout,
                verify_timeout=verify_timeout,
                verify_interval=verify_interval,
                sleep=sleep,
                clock=clock,
            )
    seconds["deliver"] = time.perf_counter() - started

    first = runs[0]
    outcome = SimulateResult(
        emulated=config.emulated,
        instance_id=_joined([r.instance_id for r in runs]),
        log_group=log_group,
        log_stream=_joined([r.log_stream for r in runs]),
        bucket=bucket,
        key=_joined([r.key for r in runs]),
        local_log=str(local.path),
        truth_file=str(local.truth_path),
        lines=local.lines,
        events_expected=local.events,
        events_arrived=sum(r.events_arrived for r in runs),
        command_id=_joined([r.command_id for r in runs]),
        command_status=_joined(sorted({r.command_status for r in runs})),
        run_id=run_id,
        instance_output=first.instance_output if not servers.fleet else "",
        shipped=first.shipped if not servers.fleet else None,
        seconds=seconds,
        profile="fleet" if servers.fleet else "single",
        fleet_asg_name=servers.fleet_asg_name,
        instances=runs,
        lake={
            "prefix": lake.ARCHIVE_PREFIX,
            "partitions": len(split.partitions),
            "objects": [p.key for p in split.partitions],
            "bytes": sum(p.path.stat().st_size for p in split.partitions),
            "days": sorted({p.day.isoformat() for p in split.partitions}),
            "events": sum(p.events for p in split.partitions),
        },
    )
    _write_run(config, outcome)
    for member in runs:
        with _on_server(member.instance_id, servers):
            _check_arrived(member, log_group, verify_timeout)

    started = time.perf_counter()
    fleet_lake.upload_partitions(clients.client("s3"), bucket, split.partitions, reporter)
    seconds["lake"] = time.perf_counter() - started
    return outcome


def _deliver(
    config: StackConfig,
    clients: AwsClients,
    member: InstanceRun,
    share: fleet_lake.ServerShare,
    script: str,
    log_group: str,
    ingested_since_ms: int,
    *,
    reporter: Reporter,
    command_timeout: float,
    verify_timeout: float,
    verify_interval: float,
    sleep: Sleep,
    clock: Clock,
) -> None:
    """One server's delivery: the command's end (or, on the emulator, `ship`), then the count."""
    logs, ssm_client = clients.client("logs"), clients.client("ssm")
    instance_id, stream = member.instance_id, member.log_stream
    if config.emulated:
        member.command_status = _check_recorded_command(
            ssm_client, member.command_id, instance_id, script
        )
        reporter.warn(
            "emulator: no instance runs the script (moto records SSM commands "
            f"and executes nothing); shipping the log into {log_group}/{stream} instead",
        )
        result = ship.ship_file(
            clients.single_attempt_client("logs"),
            share.path,
            log_group,
            stream,
            reporter=reporter,
            sleep=sleep,
            checkpoints=CheckpointStore(
                config.stack_dir / ship.SHIP_CHECKPOINT_DIR, config.endpoint_url, config.region
            ),
            confirm_wait=0.0,
        )
        member.shipped = result.to_json()
        member.events_arrived = ship.count_stream_events(logs, log_group, stream)
        return
    with reporter.status(f"running the swap script on {instance_id}…") as update:
        invocation = ssm.wait_for_command(
            ssm_client,
            member.command_id,
            instance_id,
            timeout=command_timeout,
            sleep=sleep,
            clock=clock,
            on_status=update,
        )
    member.command_status, member.instance_output = invocation.status, invocation.stdout
    reporter.say(member.instance_output.rstrip())
    if share.first_ms is None or share.last_ms is None:  # no visitor hashed to this server
        member.events_arrived = 0
        return
    member.events_arrived = _wait_for_events(
        logs,
        log_group,
        stream,
        member.events_expected,
        share.first_ms,
        share.last_ms,
        ingested_since_ms,
        timeout=verify_timeout,
        poll_interval=verify_interval,
        sleep=sleep,
        clock=clock,
        reporter=reporter,
    )


def _check_arrived(member: InstanceRun, log_group: str, verify_timeout: float) -> None:
    arrived, expected, stream = member.events_arrived, member.events_expected, member.log_stream
    if arrived > expected:
        raise CafepipeError(
            f"{arrived:,} events arrived in {log_group}/{stream} for {expected:,} "
            "lines: the agent read part of the file twice",
            "re-run: the new run gets a stream of its own and the agent reads its file once "
            "from the start",
        )
    if not member.verified:
        raise CafepipeError(
            f"only {arrived:,} of {expected:,} events arrived in {log_group}/{stream} "
            f"within {verify_timeout:.0f} s",
            "check on the instance: the agent log "
            "/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log, that the "
            f"agent config collects {cfg.ACCESS_LOG_PATH}, that the role may logs:PutLogEvents; "
            "then re-run",
        )


def _wait_for_events(
    logs: Any,
    log_group: str,
    log_stream: str,
    expected: int,
    first_ms: int,
    last_ms: int,
    since_ms: int,
    *,
    timeout: float,
    poll_interval: float,
    sleep: Sleep,
    clock: Clock,
    reporter: Reporter,
) -> int:
    """Poll until the stream holds every event of the log (or the timeout); return the count."""
    deadline = clock() + timeout
    arrived = 0
    with reporter.status(f"waiting for the events to arrive in {log_stream}…") as update:
        while True:
            arrived = count_events_insights(
                logs,
                log_group,
                log_stream,
                ingested_since_ms=since_ms,
                first_ms=first_ms,
                last_ms=last_ms,
                sleep=sleep,
                clock=clock,
            )
            update(f"{arrived:,} of {expected:,} events arrived")
            if arrived >= expected or clock() >= deadline:
                return arrived
            sleep(poll_interval)


def default_generator(reporter: Reporter = SILENT, zone: str = "UTC") -> LogGenerator:
    """The café log generator (`cafepipe.logs.generate`) behind the LogGenerator interface.

    `zone`: the stack's config `timezone`, so the truth's café hours are those `insights` gives.
    """
    from cafepipe.logs import generate

    def run(path: Path, options: SimulateOptions) -> Mapping[str, Any]:
        end = datetime.now(timezone.utc)
        if options.days is not None:
            built = generate.build_options(
                profile=options.profile,
                days=options.days,
                end=end,
                seed=options.seed,
                timezone=zone,
            )
        else:
            # A window CloudWatch still accepts when the agent delivers the oldest line.
            days = min(generate.PROFILES[options.profile].days, MAX_DAYS)
            built = generate.build_options(
                profile=options.profile,
                lines=options.lines,
                start=end - timedelta(days=days),
                end=end,
                seed=options.seed,
                timezone=zone,
            )
        if built.lines < PROGRESS_MIN_LINES:
            return generate.generate_log(built, path)
        with reporter.progress("generating", built.lines) as advance:
            return generate.generate_log(built, path, advance)

    return run
