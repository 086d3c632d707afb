"""The probe (`cafepipe check`, the end of `up`): each broken link of the chain is named.

The site is a real HTTP server on 127.0.0.1; CloudWatch Logs and Systems Manager are boto3
clients under botocore's Stubber (the states an emulator cannot produce: an instance offline,
an agent stopped, a line logged but never delivered). Time is a fake clock: nothing sleeps.
The emulator leg runs on the real moto server.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from cafepipe.aws import AwsClients
from cafepipe.cafe.traffic import is_bot_user_agent
from cafepipe.cli import check_command, cli
from cafepipe.cli.check_command import check_after_up
from cafepipe.cli.views import print_probe_result
from cafepipe.config import ACCESS_LOG_PATH, StackConfig, load_config
from cafepipe.deploy import probe
from cafepipe.deploy.probe import (
    QUERY_KEY,
    STAND_IN_STREAM_PREFIX,
    USER_AGENT,
    ProbeFailedError,
    http_get,
    parse_diagnostic,
    probe_stack,
    probe_url,
)
from cafepipe.deploy.render import BOOT_MARKER, BOOT_STATUS_PATH
from cafepipe.reporting import SILENT

INSTANCE = "i-0123456789abcdef0"
GROUP = "apache/access"
MARKER = "0123456789abcdef"
COMMAND_ID = "0b5d7c1e-4f7a-4c43-9d8e-2a1b3c4d5e6f"  # SSM ids are 36 characters
WALL_START = 1_800_000_000.0


class FakeTime:
    """A monotonic clock, a wall clock and a sleep that only moves them."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_START + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Site:
    """The café site's stand-in: answers every GET with `status`, and records the requests."""

    def __init__(self) -> None:
        self.status = 200
        self.reason = "OK"
        self.server_header = "Apache"
        self.requests: list[tuple[str, str]] = []  # (path?query, user agent)
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, self.headers.get("User-Agent", "")))
                self.send_response(site.status, site.reason)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def version_string(self) -> str:  # the Server header
                return site.server_header

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cafe"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


class StubbedClients:
    """What probe_stack asks `AwsClients` for: here, boto3 clients under a Stubber."""

    def __init__(self) -> None:
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self.clients = {
            name: boto3.client(name, region_name="us-east-1", **credentials)  # type: ignore[call-overload]
            for name in ("logs", "ssm", "ec2")
        }
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}
        for stub in self.stubs.values():
            stub.activate()

    def client(self, service: str) -> Any:
        return self.clients[service]

    @property
    def logs(self) -> Stubber:
        return self.stubs["logs"]

    @property
    def ssm(self) -> Stubber:
        return self.stubs["ssm"]

    @property
    def ec2(self) -> Stubber:
        return self.stubs["ec2"]

    def assert_all_used(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


@pytest.fixture
def aws() -> StubbedClients:
    return StubbedClients()


def real_config(tmp_path: Path) -> StackConfig:
    return load_config(None, {"state_dir": str(tmp_path / "state")}, environ={})


def outputs(site_url: str) -> dict[str, str]:
    return {"instance_id": INSTANCE, "site_url": site_url, "access_log_group": GROUP}


def run_probe(
    tmp_path: Path, site_url: str, aws: StubbedClients, clock: FakeTime, timeout: float = 60
) -> probe.ProbeResult:
    return probe_stack(
        real_config(tmp_path),
        outputs(site_url),
        aws,  # type: ignore[arg-type]
        timeout=timeout,
        poll_interval=5,
        http_timeout=2,
        agent_check_timeout=30,
        marker=MARKER,
        sleep=clock.sleep,
        clock=clock.clock,
        wall_clock=clock.wall,
    )


def expect_search(aws: StubbedClients, events: list[dict[str, Any]]) -> None:
    aws.logs.add_response(
        "filter_log_events",
        {"events": events},
        {
            "logGroupName": GROUP,
            "filterPattern": f'"{QUERY_KEY}={MARKER}"',
            "startTime": ANY,
            "limit": ANY,
        },
    )


def expect_ssm_ping(aws: StubbedClients, ping: str | None) -> None:
    listed = [] if ping is None else [{"InstanceId": INSTANCE, "PingStatus": ping}]
    aws.ssm.add_response(
        "describe_instance_information",
        {"InstanceInformationList": listed},
        {"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE]}]},
    )


def expect_console(aws: StubbedClients, text: str | None) -> None:
    """The serial console (GetConsoleOutput); None: the caller may not read it."""
    if text is None:
        aws.ec2.add_client_error("get_console_output", "UnauthorizedOperation", "no", 403)
        return
    output = base64.b64encode(text.encode()).decode()  # as EC2 sends it; botocore decodes it
    aws.ec2.add_response(
        "get_console_output",
        {"InstanceId": INSTANCE, "Output": output},
        {"InstanceId": INSTANCE, "Latest": True},
    )


def expect_diagnostic(aws: StubbedClients, stdout: str, status: str = "Success") -> None:
    aws.ssm.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}}, None)
    aws.ssm.add_response(
        "get_command_invocation",
        {
            "CommandId": COMMAND_ID,
            "InstanceId": INSTANCE,
            "Status": status,
            "StatusDetails": status,
            "ResponseCode": 0 if status == "Success" else -1,
            "StandardOutputContent": stdout,
            "StandardErrorContent": "",
        },
        {"CommandId": COMMAND_ID, "InstanceId": INSTANCE},
    )


def diagnostic_output(agent: str, marker_lines: int, agent_log: list[str], boot: str = "ok") -> str:
    """What the diagnostic script prints on the instance."""
    section = "----cafepipe-check-{}----"
    return "\n".join(
        [
            section.format("agent"),
            agent,
            section.format("access"),
            str(marker_lines),
            section.format("agent_log"),
            *agent_log,
            section.format("user_data_log"),
            "cafepipe: the site is up at /cafe",
            section.format("boot"),
            f"{BOOT_MARKER} {boot}",
            "",
        ]
    )


def legs(result: probe.ProbeResult) -> dict[str, str]:
    return {name: leg.state for name, leg in result.legs.items()}


# ---------------------------------------------------------------------------- the chain works


def test_the_marked_request_is_followed_into_the_log_group(tmp_path, site, aws):
    clock = FakeTime()
    expect_search(aws, [])  # not there yet: the agent flushes every few seconds
    expect_search(aws, [])
    arrived_ms = int((WALL_START + clock.now + 7.5) * 1000)
    event = {"logStreamName": INSTANCE, "message": "{}", "timestamp": 0}
    expect_search(aws, [{**event, "ingestionTime": arrived_ms}])

    result = run_probe(tmp_path, site.url, aws, clock)

    assert result.ok and result.broken is None
    assert result.arrival_seconds == 7.5  # ingestion time minus the request's time
    assert legs(result) == {
        "site": "ok",
        "ssm": "not checked",
        "agent": "not checked",
        "access_log": "not checked",
        "delivery": "ok",
    }
    assert clock.slept == [5, 5]
    # The request carried the marker in its query string, and says it is a bot.
    (path, user_agent), *_ = site.requests
    assert parse_qs(urlsplit(path).query) == {QUERY_KEY: [MARKER]}
    assert urlsplit(path).path == "/cafe" and user_agent == USER_AGENT
    assert is_bot_user_agent(user_agent)  # counted as bot traffic, not as a visitor
    assert "reached apache/access in 7.5 s" in result.summary()
    aws.assert_all_used()  # and SSM was never asked: nothing to diagnose


# -------------------------------------------------------------------- each broken link named


def test_site_not_answering_is_the_broken_link(tmp_path, site, aws):
    # CloudFront's own answer while it cannot reach the server.
    site.status, site.reason, site.server_header = 502, "Bad Gateway\x1b[31m", "CloudFront"
    clock = FakeTime()
    expect_ssm_ping(aws, "Online")
    expect_diagnostic(aws, diagnostic_output("active", 0, ["agent log line"]))

    result = run_probe(tmp_path, site.url, aws, clock, timeout=20)

    assert result.broken == "site" and not result.ok
    assert len(site.requests) == 4  # retried every 5 s until the deadline
    detail = result.legs["site"].detail
    assert "did not answer after 4 attempt(s)" in detail and "HTTP 502 Bad Gateway" in detail
    assert "\x1b" not in detail  # a server's bytes never reach the terminal raw
    # What could still be looked at was, for the user's benefit.
    assert legs(result) == {
        "site": "failed",
        "ssm": "ok",
        "agent": "ok",
        "access_log": "skipped",
        "delivery": "not checked",
    }
    assert "install Apache" in (result.hint or "")
    aws.assert_all_used()


def test_an_error_page_from_the_server_itself_still_proves_the_chain(tmp_path, site, aws):
    site.status, site.reason = 500, "Internal Server Error"  # Apache's: logged like any other
    clock = FakeTime()
    expect_search(aws, [{"logStreamName": INSTANCE, "message": "{}", "timestamp": 0}])

    result = run_probe(tmp_path, site.url, aws, clock)

    assert result.ok and len(site.requests) == 1
    assert result.legs["site"].detail == "HTTP 500 (not the café page, but the server logs it)"
    aws.assert_all_used()


def test_site_refusing_connections_is_the_broken_link(tmp_path, aws):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    clock = FakeTime()
    expect_ssm_ping(aws, None)
    expect_console(aws, None)

    result = run_probe(tmp_path, f"http://127.0.0.1:{port}/cafe", aws, clock, timeout=10)

    assert result.broken == "site"
    assert "refused" in result.legs["site"].detail.lower()
    assert result.legs["ssm"].state == "failed"  # and, as context, the instance is not in SSM
    aws.assert_all_used()


@pytest.mark.parametrize(
    ("ping", "console", "words"),
    [
        (None, None, "not registered"),  # the console may not be read: the causes instead
        ("ConnectionLost", "[  OK  ] Started cloud-init\n", "ConnectionLost"),  # no outcome yet
    ],
)
def test_instance_not_online_in_ssm_is_the_broken_link(tmp_path, site, aws, ping, console, words):
    clock = FakeTime()
    for _ in range(3):
        expect_search(aws, [])
    expect_ssm_ping(aws, ping)
    expect_console(aws, console)

    result = run_probe(tmp_path, site.url, aws, clock, timeout=12)

    assert result.broken == "ssm"
    assert words in result.legs["ssm"].detail and INSTANCE in result.legs["ssm"].detail
    assert result.legs["delivery"].state == "failed"
    assert result.legs["agent"].state == "not checked"  # SSM is how it would be looked at
    assert "dual-stack" in (result.hint or "")
    aws.assert_all_used()


def test_a_failed_first_boot_on_the_serial_console_says_why_ssm_is_offline(tmp_path, site, aws):
    clock = FakeTime()
    expect_search(aws, [])
    expect_ssm_ping(aws, None)
    why = (
        "failed step=agent versions: amazon-ssm-agent 3.3.987.0 is older than 3.3.3270.0, "
        "the first version with dual-stack endpoints: without IPv4 it cannot reach AWS"
    )
    expect_console(aws, f"cloud-init: running user data\n{BOOT_MARKER} {why}\r\nlogin: ")

    result = run_probe(tmp_path, site.url, aws, clock, timeout=4)

    assert result.broken == "ssm" and result.boot_status == why
    assert result.legs["ssm"].detail.endswith(f"its first boot {why}")
    assert "replace the instance" in (result.hint or "")
    assert result.as_dict()["boot_status"] == why
    aws.assert_all_used()


def test_agent_not_running_is_the_broken_link_with_its_log_tail(tmp_path, site, aws):
    clock = FakeTime()
    expect_search(aws, [])
    expect_ssm_ping(aws, "Online")
    log = ["2026-12-01T09:00:00Z E! cloudwatchlogs: AccessDenied", "bell \x07 and escape \x1b[2J"]
    boot = "failed step=CloudWatch agent: exit status 1 at line 80: amazon-cloudwatch-agent-ctl"
    expect_diagnostic(aws, diagnostic_output("inactive", 1, log, boot))

    result = run_probe(tmp_path, site.url, aws, clock, timeout=4)

    assert result.broken == "agent" and result.boot_status == boot
    assert result.legs["agent"].detail == (
        f"amazon-cloudwatch-agent is inactive on {INSTANCE}; its first boot {boot}"
    )
    assert result.agent_log_tail == [log[0], "bell \ufffd and escape \ufffd[2J"]
    assert result.user_data_log_tail == ["cafepipe: the site is up at /cafe"]
    assert "systemctl restart amazon-cloudwatch-agent" in (result.hint or "")
    aws.assert_all_used()


def test_request_missing_from_the_access_log_is_the_broken_link(tmp_path, site, aws):
    clock = FakeTime()
    expect_search(aws, [])
    expect_ssm_ping(aws, "Online")
    expect_diagnostic(aws, diagnostic_output("active", 0, []))

    result = run_probe(tmp_path, site.url, aws, clock, timeout=4)

    assert result.broken == "access_log"
    assert result.legs["agent"].state == "ok"
    assert "/var/log/www/access/access_log" in result.legs["access_log"].detail
    aws.assert_all_used()


def test_events_not_arriving_is_the_broken_link(tmp_path, site, aws):
    clock = FakeTime()
    expect_search(aws, [])
    expect_ssm_ping(aws, "Online")
    expect_diagnostic(aws, diagnostic_output("active", 2, ["W! retrying PutLogEvents"]))

    result = run_probe(tmp_path, site.url, aws, clock, timeout=4)

    assert result.broken == "delivery"
    assert legs(result) == {
        "site": "ok",
        "ssm": "ok",
        "agent": "ok",
        "access_log": "ok",
        "delivery": "failed",
    }
    assert "no event reached apache/access within 4 s" in result.legs["delivery"].detail
    assert result.agent_log_tail == ["W! retrying PutLogEvents"]
    assert "use_dualstack_endpoint" in (result.hint or "")
    aws.assert_all_used()


def test_agent_check_that_ssm_cannot_deliver_is_reported(tmp_path, site, aws):
    clock = FakeTime()
    expect_search(aws, [])
    expect_ssm_ping(aws, "Online")
    expect_diagnostic(aws, "", status="Undeliverable")

    result = run_probe(tmp_path, site.url, aws, clock, timeout=4)

    assert result.broken == "agent"
    assert "the agent check did not run over SSM" in result.legs["agent"].detail
    assert "Undeliverable" in result.legs["agent"].detail
    aws.assert_all_used()


def test_a_log_group_the_credentials_cannot_search_is_reported(tmp_path, site, aws):
    clock = FakeTime()
    aws.logs.add_client_error("filter_log_events", "AccessDeniedException", "not authorized", 400)
    expect_ssm_ping(aws, "Online")
    expect_diagnostic(aws, diagnostic_output("active", 1, []))

    result = run_probe(tmp_path, site.url, aws, clock)

    assert result.broken == "delivery"
    assert "AccessDeniedException: not authorized" in result.legs["delivery"].detail
    assert "IAM policy" in (result.hint or "")
    aws.assert_all_used()


# ------------------------------------------------------------------------- the small parts


def test_probe_url_keeps_the_path_and_adds_the_marker():
    assert probe_url("https://d1.cloudfront.net/cafe", "ab") == (
        f"https://d1.cloudfront.net/cafe?{QUERY_KEY}=ab"
    )
    assert (
        probe_url("http://1.2.3.4/cafe?x=1#top", "ab") == f"http://1.2.3.4/cafe?x=1&{QUERY_KEY}=ab"
    )
    for bad in ("file:///etc/passwd", "cafe", "http:///cafe"):
        with pytest.raises(ValueError):
            probe_url(bad, "ab")


def test_an_output_that_is_not_a_url_is_the_site_link(tmp_path, aws):
    result = run_probe(tmp_path, "file:///etc/passwd", aws, FakeTime())
    assert result.broken == "site" and "not an http(s) URL" in result.legs["site"].detail
    aws.assert_all_used()  # nothing was requested or asked


def test_http_get_does_not_follow_redirects_and_bounds_timeouts(site):
    site.status, site.reason = 301, "Moved"
    assert http_get(site.url, 2).status == 301  # Apache logged it: an answer
    with socket.socket() as silent:  # listens, never accepts: the request times out
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        answer = http_get(f"http://127.0.0.1:{silent.getsockname()[1]}/cafe", 0.2)
    assert answer.status is None and not answer.answered and answer.error


def _sandbox(tmp_path: Path, marker_in: dict[str, bool]) -> tuple[Path, dict[str, str]]:
    """A root standing in for the instance's `/`, and PATH with a systemctl that answers."""
    root = tmp_path / "root"
    access = root / ACCESS_LOG_PATH.lstrip("/")
    access.parent.mkdir(parents=True)
    probe_line = probe.stand_in_line(MARKER, WALL_START) + "\n"
    other_line = probe.stand_in_line("ffffffffffffffff", WALL_START) + "\n"
    for suffix, has_marker in marker_in.items():  # "", a rotated day, a compressed one
        (access.parent / f"{access.name}{suffix}").write_text(
            other_line + (probe_line if has_marker else ""), encoding="utf-8"
        )
    agent_log = root / probe.AGENT_LOG_PATH.lstrip("/")
    agent_log.parent.mkdir(parents=True)
    agent_log.write_text("".join(f"line {n}\n" for n in range(100)), encoding="utf-8")
    status = root / BOOT_STATUS_PATH.lstrip("/")
    status.parent.mkdir(parents=True)
    status.write_text(f"{BOOT_MARKER} failed step=packages: exit status 1\n", encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text('#!/bin/sh\necho "$2" >&2; echo activating\nexit 3\n')
    systemctl.chmod(0o755)
    return root, {"PATH": f"{bin_dir}:/usr/bin:/bin"}


@pytest.mark.parametrize(
    ("files", "found"),
    [
        ({"": True}, True),
        ({"": False, "-20261201-1764547200": True}, True),  # rotated a moment ago
        ({"": False, "-20261130-1764460800.gz": True}, False),  # only a compressed old day
        ({"": False}, False),
    ],
)
def test_the_diagnostic_script_runs_and_reads_what_the_instance_has(tmp_path, files, found):
    root, env = _sandbox(tmp_path, files)
    script = probe.diagnostic_script(MARKER, root=str(root))
    done = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30, check=True
    )
    report = parse_diagnostic(done.stdout)
    assert report["agent"] == "activating"  # systemctl's word, even with its exit status 3
    assert report["in_access_log"] is found
    assert report["agent_log"] == [f"line {n}" for n in range(60, 100)]  # the last 40
    assert report["boot"] == "failed step=packages: exit status 1"
    # A missing file: tail's own complaint is what the user then reads.
    (complaint,) = report["user_data_log"]
    assert probe.USER_DATA_LOG_PATH in complaint and complaint.startswith("tail:")


def test_the_diagnostic_script_passes_shellcheck(tmp_path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (make system-deps installs it)")
    script = tmp_path / "diagnostic.sh"
    script.write_text("#!/bin/sh\n" + probe.diagnostic_script(MARKER) + "\n", encoding="utf-8")
    done = subprocess.run([shellcheck, "-s", "sh", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_parse_diagnostic_bounds_what_the_instance_prints():
    long_line = "x" * 10_000
    report = parse_diagnostic(diagnostic_output("active\n", 3, [long_line]))
    assert report["agent"] == "active" and report["in_access_log"] is True
    assert report["agent_log"] == ["x" * probe.MAX_LINE_CHARS]
    assert parse_diagnostic("garbage only")["in_access_log"] is False


def test_the_view_and_the_json_say_the_same(tmp_path, site, aws, capsys):
    clock = FakeTime()
    expect_search(aws, [])
    expect_ssm_ping(aws, "Online")
    expect_diagnostic(aws, diagnostic_output("failed", 1, ["E! [outputs.cloudwatchlogs]"]))
    result = run_probe(tmp_path, site.url, aws, clock, timeout=4)

    data = json.loads(json.dumps(result.as_dict()))
    assert data["ok"] is False and data["broken"] == "agent"
    assert [leg["name"] for leg in data["legs"]] == list(probe.LINKS)
    assert data["agent_log_tail"] == ["E! [outputs.cloudwatchlogs]"]
    print_probe_result(result)
    shown = capsys.readouterr().out
    assert "The chain is broken" in shown and "amazon-cloudwatch-agent is failed" in shown
    assert "E! [outputs.cloudwatchlogs]" in shown
    assert "First boot: ok" in shown and data["boot_status"] == "ok"
    error = ProbeFailedError(result)
    assert error.exit_code == 1 and "broken at agent" in str(error)


def test_up_ends_with_the_check_on_aws_and_fails_when_the_chain_is_broken(
    tmp_path, site, aws, capsys
):
    clock = FakeTime()
    timing = {
        "sleep": clock.sleep,
        "clock": clock.clock,
        "wall_clock": clock.wall,
        "marker": MARKER,
    }
    config = real_config(tmp_path)
    expect_search(aws, [{"logStreamName": INSTANCE, "message": "{}", "timestamp": 0}])
    done = check_after_up(config, outputs(site.url), SILENT, aws, timeout=30, **timing)
    assert done is not None and done.ok
    assert "The chain works" in capsys.readouterr().err  # stdout stays `up`'s data

    expect_search(aws, [])
    expect_ssm_ping(aws, None)
    expect_console(aws, None)
    with pytest.raises(ProbeFailedError) as failed:
        check_after_up(config, outputs(site.url), SILENT, aws, timeout=4, **timing)
    assert str(failed.value).startswith("stack cafe is up, but the check failed: broken at ssm")
    # On the emulator `up` leaves the check to `cafepipe check` (no call at all).
    emulated = load_config(
        None, {"state_dir": str(tmp_path), "endpoint_url": "http://127.0.0.1:9"}, environ={}
    )
    assert check_after_up(emulated, outputs(site.url), SILENT, aws) is None
    aws.assert_all_used()
    assert check_command.DEFAULT_TIMEOUT == probe.DEFAULT_TIMEOUT


def test_check_refuses_a_bad_timeout_before_any_call(tmp_path):
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "check", "--timeout", "0"])
    assert result.exit_code == 2 and "--timeout" in result.output


def test_check_on_a_stack_never_created_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "check"])
    assert result.exit_code == 1
    assert "has not been created here" in str(result.exception)


# ------------------------------------------------------------------------------ the emulator


@pytest.mark.integration
def test_on_the_emulator_the_log_group_leg_runs_and_the_rest_say_skipped(tmp_path, emulator):
    config = load_config(
        None, {"state_dir": str(tmp_path), "endpoint_url": emulator.url}, environ={}
    )
    clients = AwsClients.for_config(config)
    logs = clients.client("logs")
    group = f"probe-{tmp_path.name}"
    logs.create_log_group(logGroupName=group)
    # A decoy: another probe's line in the group must not be taken for this one's.
    logs.create_log_stream(logGroupName=group, logStreamName="decoy")
    decoy = probe.stand_in_line("ffffffffffffffff", WALL_START)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="decoy",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": decoy}],
    )

    result = probe_stack(
        config,
        {"instance_id": "i-1", "site_url": "http://10.0.0.1/cafe", "access_log_group": group},
        clients,
        timeout=30,
        poll_interval=0.2,
    )

    assert result.ok, result.summary()
    assert legs(result) == {
        "site": "skipped",
        "ssm": "skipped",
        "agent": "skipped",
        "access_log": "skipped",
        "delivery": "ok",
    }
    assert STAND_IN_STREAM_PREFIX + result.marker in result.legs["delivery"].detail
    assert "skipped (nothing runs on the emulator): site, ssm, agent, access_log" in (
        result.summary()
    )
    # The stand-in's stream is gone again; the decoy is untouched.
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [stream["logStreamName"] for stream in streams] == ["decoy"]
    # The stand-in line is what Apache would write: JSON with the marker in "query".
    line = json.loads(probe.stand_in_line(result.marker, WALL_START))
    assert line["query"] == f"?{QUERY_KEY}={result.marker}" and line["request"] == "/cafe"
