"""The probe: one marked request to the site, followed until it is an event in CloudWatch Logs.

`probe_stack` proves the chain visitor → CloudFront/Apache → access log → CloudWatch agent →
log group. It requests the site with a unique marker in the query string (Apache logs the
query, so the marker ends up in the event's JSON), waits (bounded) until FilterLogEvents finds
it in the access log group, and reports how long that took. When it never arrives, it says
which link broke, checking each in the order the request travels:

- `site`: the site did not answer (HTTP error from CloudFront, timeout, refused);
- `ssm`: the instance is not online in Systems Manager, so nothing more can be looked at;
- `agent`: the CloudWatch agent is not running (its log tail is fetched over SSM);
- `access_log`: the site answered, but Apache did not write the request to the access log;
- `delivery`: the line is in the file and the agent runs, yet no event reached the group.

On an emulator no instance runs: the site, SSM and agent legs are skipped (and say so), and
cafepipe itself puts the marker event into the group, standing in for the agent, so that what
can be proven there is: the log group exists, takes events, and FilterLogEvents finds them.
That stand-in event goes in a stream of its own, deleted afterwards.

Where the first boot failed (the user data's outcome line, `BOOT_MARKER`: in a file read
over SSM, and on the serial console, read with GetConsoleOutput when SSM cannot reach the
instance), the probe says at which step and why.

The probe's request counts as bot traffic in the insights (its user agent says "bot").
"""

from __future__ import annotations

import json
import secrets
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from cafepipe import __version__
from cafepipe.aws import AwsClients, aws_error_hint, describe_client_error
from cafepipe.cafe import catalog
from cafepipe.config import ACCESS_LOG_PATH, AGENT_DIR, StackConfig
from cafepipe.deploy.render import BOOT_MARKER, BOOT_STATUS_PATH, HTTPD_CONF_PATH
from cafepipe.errors import AwsError
from cafepipe.logs import ssm
from cafepipe.reporting import SILENT, Reporter

DEFAULT_TIMEOUT = 600.0  # a fresh instance installs Apache and the agent first (2-4 min)
POLL_INTERVAL = 5.0
HTTP_TIMEOUT = 15.0
AGENT_CHECK_TIMEOUT = 120.0
QUERY_KEY = "cafepipe_probe"
# "bot" puts the probe in the insights' bot traffic (cafepipe.cafe.traffic), not among visitors.
USER_AGENT = f"cafepipe-check/{__version__} (probe bot)"
AGENT_SERVICE = "amazon-cloudwatch-agent"
AGENT_LOG_PATH = f"{AGENT_DIR}/logs/amazon-cloudwatch-agent.log"
USER_DATA_LOG_PATH = "/var/log/cafepipe-user-data.log"
TAIL_LINES = 40
MAX_LINE_CHARS = 400
MAX_RESPONSE_BYTES = 64 * 1024  # the body is not needed; this bounds what a server can send
FILTER_PAGES_PER_POLL = 20  # FilterLogEvents may return empty pages while it searches
CLOCK_SKEW_MS = 5 * 60 * 1000  # events are searched from this long before the request
# The stand-in's stream on an emulator (deleted when the probe is done).
STAND_IN_STREAM_PREFIX = "cafepipe-check-"

# The links of the chain, in the order the request travels (stable for --json).
LINKS = ("site", "ssm", "agent", "access_log", "delivery")
OK, FAILED, SKIPPED, NOT_CHECKED = "ok", "failed", "skipped", "not checked"

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class HttpAnswer:
    """What the site said: the HTTP status and Server header, or why there was none."""

    status: int | None
    error: str = ""
    server: str = ""

    @property
    def answered(self) -> bool:
        """Apache saw (and logged) the request. A 5xx that CloudFront made itself (its Server
        header says so: it could not reach the server yet) is not an answer; Apache's is."""
        if self.status is None:
            return False
        return self.status < 500 or self.server.strip().lower() != "cloudfront"


HttpGet = Callable[[str, float], HttpAnswer]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer: Apache has logged the request


def http_get(url: str, timeout: float) -> HttpAnswer:
    """GET `url` once, without following redirects; read at most MAX_RESPONSE_BYTES."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(MAX_RESPONSE_BYTES)
            return HttpAnswer(int(response.status), server=_server(response.headers))
    except urllib.error.HTTPError as exc:  # 4xx/5xx and unfollowed 3xx
        exc.close()
        reason = f"HTTP {exc.code} {_printable(str(exc.reason))}"
        return HttpAnswer(exc.code, reason[:MAX_LINE_CHARS], _server(exc.headers))
    except urllib.error.URLError as exc:
        return HttpAnswer(None, _printable(str(exc.reason)))
    except (TimeoutError, OSError, ValueError) as exc:
        return HttpAnswer(None, _printable(str(exc) or type(exc).__name__))


def _server(headers: Any) -> str:
    return _printable(str(headers.get("Server", "") if headers is not None else ""))[:80]


@dataclass
class Leg:
    """One link of the chain: ok, failed, skipped (cannot be checked here) or not checked."""

    name: str
    state: str = NOT_CHECKED
    detail: str = ""
    seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "detail": self.detail,
            "seconds": self.seconds,
        }


@dataclass
class ProbeResult:
    """What the probe found. `broken` names the first link that failed (None: the chain works)."""

    marker: str
    url: str
    log_group: str
    emulated: bool
    legs: dict[str, Leg] = field(default_factory=lambda: {name: Leg(name) for name in LINKS})
    broken: str | None = None
    arrival_seconds: float | None = None
    hint: str | None = None
    agent_log_tail: list[str] | None = None
    user_data_log_tail: list[str] | None = None
    boot_status: str | None = None  # "ok" or "failed step=<step>: <why>", when it was read

    @property
    def ok(self) -> bool:
        return self.broken is None and self.legs["delivery"].state == OK

    def fail(self, link: str, detail: str, hint: str | None = None) -> None:
        leg = self.legs[link]
        leg.state, leg.detail = FAILED, detail
        if self.broken is None:
            self.broken, self.hint = link, hint

    def summary(self) -> str:
        """One line: how long the request took to arrive, or which link broke."""
        if self.ok:
            how = "stand-in event" if self.emulated else "request"
            skipped = ", ".join(leg.name for leg in self.legs.values() if leg.state == SKIPPED)
            line = f"the probe {how} reached {self.log_group} in {self.arrival_seconds:.1f} s"
            return f"{line}; skipped (nothing runs on the emulator): {skipped}" if skipped else line
        leg = self.legs[self.broken or "delivery"]
        return f"broken at {leg.name}: {leg.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "broken": self.broken,
            "summary": self.summary(),
            "hint": self.hint,
            "marker": self.marker,
            "url": self.url,
            "log_group": self.log_group,
            "emulated": self.emulated,
            "arrival_seconds": self.arrival_seconds,
            "legs": [self.legs[name].as_dict() for name in LINKS],
            "agent_log_tail": self.agent_log_tail,
            "user_data_log_tail": self.user_data_log_tail,
            "boot_status": self.boot_status,
        }


class ProbeFailedError(AwsError):
    """The chain is broken: the message names the link (exit 1); `result` has the details."""

    def __init__(self, result: ProbeResult, prefix: str = "the check failed") -> None:
        super().__init__(f"{prefix}: {result.summary()}", result.hint)
        self.result = result


def new_marker() -> str:
    return secrets.token_hex(8)


def probe_url(site_url: str, marker: str) -> str:
    """The site's URL with the marker as a query parameter (kept with any query it has)."""
    parts = urllib.parse.urlsplit(site_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {site_url!r}")
    query = urllib.parse.urlencode({QUERY_KEY: marker})
    joined = f"{parts.query}&{query}" if parts.query else query
    return urllib.parse.urlunsplit(parts._replace(query=joined, fragment=""))


def probe_stack(
    config: StackConfig,
    outputs: Mapping[str, Any],
    clients: AwsClients,
    reporter: Reporter = SILENT,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
    http_timeout: float = HTTP_TIMEOUT,
    agent_check_timeout: float = AGENT_CHECK_TIMEOUT,
    get: HttpGet = http_get,
    marker: str | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    wall_clock: Clock = time.time,
) -> ProbeResult:
    """Request the site with a marker and follow it into the access log group (see above)."""
    marker = marker or new_marker()
    log_group = str(outputs["access_log_group"])
    result = ProbeResult(marker, str(outputs.get("site_url", "")), log_group, config.emulated)
    deadline = clock() + timeout
    logs = clients.client("logs")
    if config.emulated:
        return _probe_emulated(result, logs, reporter, deadline, poll_interval, sleep, clock)
    try:
        url = probe_url(result.url, marker)
    except ValueError as exc:
        result.fail("site", str(exc), "check the stack's site_url output (cafepipe status)")
        return result
    result.url = url
    sent_at = _request_site(
        result, url, get, reporter, deadline, poll_interval, http_timeout, sleep, clock, wall_clock
    )
    instance_id = str(outputs.get("instance_id", ""))
    if sent_at is not None:
        _wait_for_marker(
            result, logs, reporter, sent_at, deadline, poll_interval, sleep, clock, wall_clock
        )
        if result.ok:
            return result
    _diagnose_instance(result, clients, instance_id, reporter, agent_check_timeout, sleep, clock)
    if result.broken is None:  # every leg it could look at is fine: the events did not come
        result.fail(
            "delivery",
            f"the agent runs and the request is in {ACCESS_LOG_PATH}, but no event reached "
            f"{log_group} within {timeout:.0f} s",
            "read the agent's log below (credentials, endpoint, throttling); behind CloudFront "
            "the agent needs use_dualstack_endpoint and CloudWatch agent ≥ 1.300061.0",
        )
    return result


def _request_site(
    result: ProbeResult,
    url: str,
    get: HttpGet,
    reporter: Reporter,
    deadline: float,
    poll_interval: float,
    http_timeout: float,
    sleep: Sleep,
    clock: Clock,
    wall_clock: Clock,
) -> float | None:
    """GET the marked URL until the site answers (retrying 5xx and no answer); when it
    answered, return the wall-clock time of the request, else record the failure."""
    leg = result.legs["site"]
    started = clock()
    attempts = 0
    with reporter.status(f"requesting {url}…") as update:
        while True:
            attempts += 1
            sent_at = wall_clock()
            answer = get(url, max(1.0, min(http_timeout, deadline - clock())))
            if answer.answered:
                leg.state, leg.seconds = OK, round(clock() - started, 1)
                leg.detail = f"HTTP {answer.status}" + (
                    "" if answer.status == 200 else " (not the café page, but the server logs it)"
                )
                return sent_at
            last = answer.error or f"HTTP {answer.status}"
            if clock() + poll_interval >= deadline:
                break
            update(f"(attempt {attempts}: {last}; retrying until the instance serves it)")
            sleep(poll_interval)
    leg.seconds = round(clock() - started, 1)
    result.fail(
        "site",
        f"{url} did not answer after {attempts} attempt(s) in {leg.seconds:.0f} s: {last}",
        "a new instance needs a few minutes to install Apache: re-run `cafepipe check`; if it "
        "persists, the instance's first boot may have failed (its log is below when SSM works)",
    )
    return None


def _wait_for_marker(
    result: ProbeResult,
    logs: Any,
    reporter: Reporter,
    sent_at: float,
    deadline: float,
    poll_interval: float,
    sleep: Sleep,
    clock: Clock,
    wall_clock: Clock,
) -> None:
    """Poll FilterLogEvents for the marker until it is found or the deadline passes."""
    leg = result.legs["delivery"]
    started = clock()
    pattern = f'"{QUERY_KEY}={result.marker}"'
    since_ms = int(sent_at * 1000) - CLOCK_SKEW_MS
    with reporter.status(f"waiting for the request in {result.log_group}…") as update:
        while True:
            try:
                event = _find_event(logs, result.log_group, pattern, since_ms)
            except botocore.exceptions.ClientError as exc:
                leg.seconds = round(clock() - started, 1)
                result.fail(
                    "delivery",
                    f"cannot search {result.log_group}: {describe_client_error(exc)}",
                    aws_error_hint(exc) or "the credentials need logs:FilterLogEvents",
                )
                return
            if event is not None:
                leg.seconds = round(clock() - started, 1)
                ingested = event.get("ingestionTime")
                # Ingestion time (AWS's clock) minus the request (ours): clocks may differ a
                # little, so never below zero; without it, when the poll saw it.
                arrival = (
                    max(0.0, ingested / 1000 - sent_at)
                    if isinstance(ingested, (int, float))
                    else wall_clock() - sent_at
                )
                result.arrival_seconds = round(arrival, 1)
                leg.state = OK
                leg.detail = (
                    f"found in {result.log_group}/{event.get('logStreamName', '?')} "
                    f"{result.arrival_seconds:.1f} s after the request"
                )
                return
            waited = clock() - started
            if clock() + poll_interval > deadline:
                leg.seconds = round(waited, 1)
                leg.state, leg.detail = FAILED, f"not in {result.log_group} after {waited:.0f} s"
                return
            update(f"{waited:.0f} s")
            sleep(poll_interval)


def _find_event(logs: Any, log_group: str, pattern: str, since_ms: int) -> dict[str, Any] | None:
    params: dict[str, Any] = {
        "logGroupName": log_group,
        "filterPattern": pattern,
        "startTime": since_ms,
        "limit": 10,
    }
    for _ in range(FILTER_PAGES_PER_POLL):
        page = logs.filter_log_events(**params)
        events = page.get("events") or []
        if events:
            return dict(events[0])
        token = page.get("nextToken")
        if not token:
            return None
        params["nextToken"] = token
    return None


def _diagnose_instance(
    result: ProbeResult,
    clients: AwsClients,
    instance_id: str,
    reporter: Reporter,
    agent_check_timeout: float,
    sleep: Sleep,
    clock: Clock,
) -> None:
    """The request did not arrive: is the instance online in SSM, does the agent run, did
    Apache log the request? Records what it finds, and the first link that failed."""
    ssm_leg = result.legs["ssm"]
    ssm_client = clients.client("ssm")
    with reporter.status(f"asking Systems Manager about {instance_id}…"):
        ping, problem = _ssm_ping(ssm_client, instance_id)
    if ping != "Online":
        detail = problem or f"instance {instance_id} is not online in Systems Manager ({ping})"
        with reporter.status(f"reading the serial console of {instance_id}…"):
            result.boot_status = boot_status_from_console(clients.client("ec2"), instance_id)
        if result.boot_status and result.boot_status != "ok":
            result.fail(
                "ssm",
                f"{detail}; its first boot {result.boot_status}",
                "fix what the boot says, then replace the instance (cafepipe destroy, then up)",
            )
        else:
            causes = "; ".join(ssm.NOT_ONLINE_CAUSES[:3])
            result.fail("ssm", detail, f"likely causes: {causes}")
        return
    ssm_leg.state, ssm_leg.detail = OK, f"{instance_id} online"
    script = diagnostic_script(result.marker)
    started = clock()
    try:
        with reporter.status(f"checking the CloudWatch agent on {instance_id} over SSM…") as update:
            command_id = ssm.send_shell_script(
                ssm_client,
                instance_id,
                script,
                comment="cafepipe check: agent status",
                execution_timeout=60,
                delivery_timeout=max(30, int(agent_check_timeout)),
            )
            invocation = ssm.wait_for_command(
                ssm_client,
                command_id,
                instance_id,
                timeout=agent_check_timeout,
                sleep=sleep,
                clock=clock,
                on_status=update,
            )
    except ssm.SsmCommandError as exc:
        result.legs["agent"].seconds = round(clock() - started, 1)
        result.fail("agent", f"the agent check did not run over SSM: {exc.message}", exc.hint)
        return
    except AwsError as exc:
        result.fail("ssm", exc.message, exc.hint)
        return
    report = parse_diagnostic(invocation.stdout)
    result.agent_log_tail = report["agent_log"]
    result.user_data_log_tail = report["user_data_log"]
    result.boot_status = report["boot"]
    boot_failed = f"; its first boot {report['boot']}" if report["boot"] not in ("", "ok") else ""
    agent = result.legs["agent"]
    agent.seconds = round(clock() - started, 1)
    if report["agent"] != "active":
        result.fail(
            "agent",
            f"{AGENT_SERVICE} is {report['agent'] or 'not installed'} on {instance_id}"
            + boot_failed,
            "its log (and the first boot's) is below; restart it with: "
            f"aws ssm send-command --instance-ids {instance_id} --document-name "
            f"AWS-RunShellScript --parameters 'commands=[\"systemctl restart {AGENT_SERVICE}\"]'",
        )
    else:
        agent.state, agent.detail = OK, f"{AGENT_SERVICE} active"
    access = result.legs["access_log"]
    if report["in_access_log"]:
        access.state, access.detail = OK, f"the request is in {ACCESS_LOG_PATH}"
    elif result.legs["site"].state == OK:
        result.fail(
            "access_log",
            f"the site answered, but the request is not in {ACCESS_LOG_PATH}",
            f"check the Apache config ({HTTPD_CONF_PATH}) and its access logger on the instance",
        )
    else:
        access.state, access.detail = SKIPPED, "the request never reached the site"


def _ssm_ping(ssm_client: Any, instance_id: str) -> tuple[str, str]:
    """The instance's SSM ping status ("Online", "ConnectionLost"…, or "not registered")."""
    try:
        response = ssm_client.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
        )
    except botocore.exceptions.ClientError as exc:
        return (
            "unknown",
            f"cannot ask Systems Manager about {instance_id}: {describe_client_error(exc)}",
        )
    for info in response.get("InstanceInformationList", []):
        if info.get("InstanceId") == instance_id:
            return str(info.get("PingStatus", "unknown")), ""
    return "not registered", ""


_SECTION = "----cafepipe-check-{}----"


def diagnostic_script(marker: str, root: str = "") -> str:
    """Agent state, whether Apache logged the marker, the agent's and the first boot's log.

    `root` prefixes every instance path (tests run it in a sandbox standing in for `/`).
    """
    needle = shlex.quote(f"{QUERY_KEY}={marker}")
    access_log = shlex.quote(root + ACCESS_LOG_PATH)
    return "\n".join(
        [
            f"echo {_SECTION.format('agent')}",
            f"systemctl is-active {AGENT_SERVICE} || true",
            f"echo {_SECTION.format('access')}",
            # The current file and the newest rotated ones (not yet compressed: delaycompress).
            f"cat {access_log} {access_log}-*[0-9] 2>/dev/null | grep -c -F {needle} || true",
            f"echo {_SECTION.format('agent_log')}",
            f"tail -n {TAIL_LINES} {shlex.quote(root + AGENT_LOG_PATH)} 2>&1 || true",
            f"echo {_SECTION.format('user_data_log')}",
            f"tail -n {TAIL_LINES // 2} {shlex.quote(root + USER_DATA_LOG_PATH)} 2>&1 || true",
            f"echo {_SECTION.format('boot')}",
            f"cat {shlex.quote(root + BOOT_STATUS_PATH)} 2>/dev/null || true",
        ]
    )


def parse_diagnostic(stdout: str) -> dict[str, Any]:
    """The diagnostic script's output, by section; every line bounded and made printable."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        stripped = line.strip()
        if stripped.startswith("----cafepipe-check-") and stripped.endswith("----"):
            current = sections.setdefault(stripped[len("----cafepipe-check-") : -4], [])
        elif current is not None:
            current.append(_printable(line)[:MAX_LINE_CHARS])
    agent = next((line.strip() for line in sections.get("agent", []) if line.strip()), "")
    count = next((line.strip() for line in sections.get("access", []) if line.strip()), "0")
    return {
        "agent": agent[:40],
        "boot": _boot_outcome(sections.get("boot", [])) or "",
        "in_access_log": count.isdigit() and int(count) > 0,
        "agent_log": sections.get("agent_log", [])[-TAIL_LINES:],
        "user_data_log": sections.get("user_data_log", [])[-TAIL_LINES:],
    }


def _boot_outcome(lines: list[str]) -> str | None:
    """The outcome of the first boot from its BOOT_MARKER line (the last one), if any."""
    for line in reversed(lines):
        _, marker, outcome = line.partition(BOOT_MARKER)
        if marker:
            return _printable(outcome.strip())[:MAX_LINE_CHARS]
    return None


def boot_status_from_console(ec2: Any, instance_id: str) -> str | None:
    """The first boot's outcome from the instance's serial console (EC2 GetConsoleOutput),
    or None when the console does not say (yet) or may not be read."""
    try:
        reply = ec2.get_console_output(InstanceId=instance_id, Latest=True)
    except botocore.exceptions.ClientError:
        return None  # no permission, or not a Nitro instance: the SSM detail stands alone
    # botocore has already decoded the base64 `Output` into text.
    return _boot_outcome(str(reply.get("Output") or "").splitlines())


def _printable(text: str) -> str:
    """Text from the instance or a server, safe for a terminal: control characters replaced."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text)


def _probe_emulated(
    result: ProbeResult,
    logs: Any,
    reporter: Reporter,
    deadline: float,
    poll_interval: float,
    sleep: Sleep,
    clock: Clock,
) -> ProbeResult:
    """On an emulator: put the marker event in (standing in for the agent) and find it."""
    for name, why in (
        ("site", "no instance runs on the emulator: nothing serves the site"),
        ("ssm", "no SSM agent runs on the emulator"),
        ("agent", "no CloudWatch agent runs on the emulator"),
        ("access_log", "no Apache runs on the emulator"),
    ):
        result.legs[name].state, result.legs[name].detail = SKIPPED, why
    stream = STAND_IN_STREAM_PREFIX + result.marker
    sent_at = time.time()
    line = stand_in_line(result.marker, sent_at)
    try:
        logs.create_log_stream(logGroupName=result.log_group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=result.log_group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(sent_at * 1000), "message": line}],
        )
    except botocore.exceptions.ClientError as exc:
        result.fail(
            "delivery",
            f"cannot put the stand-in event into {result.log_group}: {describe_client_error(exc)}",
            aws_error_hint(exc) or "is the stack up? (cafepipe status)",
        )
        return result
    try:
        _wait_for_marker(
            result, logs, reporter, sent_at, deadline, poll_interval, sleep, clock, time.time
        )
    finally:
        try:  # the stand-in is not traffic: it must not count in the insights
            logs.delete_log_stream(logGroupName=result.log_group, logStreamName=stream)
        except botocore.exceptions.ClientError as exc:
            reporter.warn(
                f"could not delete the probe's stream {result.log_group}/{stream}: "
                f"{describe_client_error(exc)}"
            )
    delivery = result.legs["delivery"]
    if delivery.state == OK:
        delivery.detail = (
            f"stand-in event (put by cafepipe, as the agent would) {delivery.detail}; its stream "
            "is deleted again"
        )
    elif result.broken is None:
        result.fail(
            "delivery", delivery.detail, "is the emulator still running? (cafepipe emulator status)"
        )
    return result


def stand_in_line(marker: str, at: float) -> str:
    """The access-log line Apache would write for the probe's request (JSON LogFormat)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"
    fields = {
        "time": stamp, "process": "0", "filename": "-", "remoteIP": "127.0.0.1",
        "host": "localhost", "request": catalog.HOME_PATH, "query": f"?{QUERY_KEY}={marker}",
        "method": "GET", "status": "200", "bytes": "0", "userAgent": USER_AGENT,
        "referer": "-", "country": "-", "region": "-", "city": "-", "lat": "-", "lon": "-",
    }  # fmt: skip
    return json.dumps(fields, separators=(",", ":"))
