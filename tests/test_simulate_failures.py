"""`simulate-logs` never destroys what was delivered before the new log is verified in place.

The AWS path (no endpoint: SSM waits, Insights counts) with the group, its streams and the
bucket real on the emulator; the instance's side is played by a Stubber on SSM for each way a
command can end, or by a fake SSM whose "instance" ships the log into the stream the script
names, as the agent would. Afterwards the events delivered before are counted in the group.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cafepipe.aws import AwsClients
from cafepipe.config import load_config
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.errors import EXIT_INTERRUPTED, CafepipeError
from cafepipe.logs import ship, simulate
from cafepipe.logs.simulate import SimulateOptions

pytestmark = pytest.mark.integration

INSTANCE = "i-0fedcba9876543210"
COMMAND_ID = "22222222-3333-4444-5555-666666666666"
BEFORE = {INSTANCE: 400, f"{INSTANCE}/simulated-20261120T000000Z-aaaa": 250}


def small_generator(path: Path, options: SimulateOptions) -> Mapping[str, Any]:
    count = options.lines or 100
    end = int(time.time()) - 5
    with path.open("w") as handle:
        for index in range(count):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end - (count - index) // 10))
            handle.write(f'{{"time": "{stamp}.000Z", "request": "/cafe/menu.php", "n": {index}}}\n')
    return {"requests": count, "invalid_lines": 0}


def simulate_300_lines(
    config: Any, outputs: dict[str, str], clients: AwsClients, **options: Any
) -> Any:
    """One simulate-logs run of 300 generated lines on the test's stack."""
    return simulate.simulate_logs(
        config, outputs, clients, SimulateOptions(lines=300), small_generator, **options
    )


class Clients(AwsClients):
    """S3 and Logs on the emulator; SSM (and Logs Insights) from the test."""

    def __init__(self, url: str, ssm: Any, logs: Any) -> None:
        super().__init__("us-east-1", url)
        self.ssm, self.logs = ssm, logs

    def client(self, service: str) -> Any:
        if service == "ssm":
            return self.ssm
        if service == "logs":
            return self.logs
        return super().client(service)


class CountingLogs:
    """The emulator's Logs client, with the Insights count of simulate-logs answered by
    counting the stream it names (the emulator's StartQuery is not what is tested here)."""

    def __init__(self, logs: Any, group: str) -> None:
        self._logs, self._group = logs, group
        self._counts: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)

    def start_query(self, *, queryString: str, **_: Any) -> dict[str, str]:
        stream = re.search(r'@logStream = "([^"]+)"', queryString)
        assert stream is not None, queryString
        query_id = uuid.uuid4().hex
        self._counts[query_id] = ship.count_stream_events(self._logs, self._group, stream[1])
        return {"queryId": query_id}

    def get_query_results(self, *, queryId: str) -> dict[str, Any]:
        count = self._counts[queryId]
        return {"status": "Complete", "results": [[{"field": "events", "value": str(count)}]]}


class InstanceSsm:
    """SSM with an instance behind it: on the first look at the command, the "agent" ships
    the simulated log into the stream the script names."""

    def __init__(self, logs: Any, group: str, local_log: Path) -> None:
        self.logs, self.group, self.local_log = logs, group, local_log
        self.script = ""
        self.delivered = False

    def describe_instance_information(self, **_: Any) -> dict[str, Any]:
        return {"InstanceInformationList": [{"InstanceId": INSTANCE, "PingStatus": "Online"}]}

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        self.script = kwargs["Parameters"]["commands"][0]
        return {"Command": {"CommandId": COMMAND_ID}}

    def get_command_invocation(self, **_: Any) -> dict[str, Any]:
        if not self.delivered:
            match = re.search(r"^log_stream=(.+)$", self.script, re.MULTILINE)
            assert match is not None
            (stream,) = shlex.split(match[1])
            ship.ship_file(self.logs, self.local_log, self.group, stream)
            self.delivered = True
        return {"Status": "Success", "StandardOutputContent": "summary:\n  agent: running\n"}


def stack(tmp_path: Path, emulator: EmulatorInfo) -> tuple[Any, dict[str, str], Any]:
    """An AWS stack whose bucket and log group live on the emulator, with earlier streams."""
    real = AwsClients("us-east-1", emulator.url)
    suffix = uuid.uuid4().hex[:8]
    bucket, group = f"fail-{suffix}", f"fail-{suffix}/apache/access"
    real.client("s3").create_bucket(Bucket=bucket)
    logs = real.client("logs")
    logs.create_log_group(logGroupName=group)
    now_ms = int(time.time() * 1000)
    for name, count in BEFORE.items():
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=name,
            logEvents=[
                {"timestamp": now_ms - 60_000 + i, "message": f"{name} {i}"} for i in range(count)
            ],
        )
    config = load_config(None, {"state_dir": str(tmp_path / "state")}, environ={})
    outputs = {"instance_id": INSTANCE, "bucket_name": bucket, "access_log_group": group}
    return config, outputs, logs


def streams(logs: Any, group: str) -> dict[str, int]:
    names = [
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
    ]
    return {name: ship.count_stream_events(logs, group, name) for name in names}


def fake_ssm() -> Any:
    return boto3.client(
        "ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def online(stub: Stubber) -> None:
    stub.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [{"InstanceId": INSTANCE, "PingStatus": "Online"}]},
    )


def sent(stub: Stubber) -> None:
    stub.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}})


FAILED_BEFORE_THE_SWAP = {
    "Status": "Failed",
    "StatusDetails": "Failed",
    "ResponseCode": 3,
    "StandardErrorContent": "error: s3://b/k has 10 lines, expected 11; nothing was changed\n",
}

ENDINGS: dict[str, list[dict[str, Any]]] = {
    "script-fails-before-the-swap": [{"Status": "InProgress"}, FAILED_BEFORE_THE_SWAP],
    "s3-fetch-fails": [
        {
            "Status": "Failed",
            "ResponseCode": 1,
            "StandardErrorContent": "fatal error: An error occurred (404) when calling the "
            "HeadObject operation: Not Found\n",
        }
    ],
    "undeliverable": [{"Status": "Failed", "StatusDetails": "Undeliverable"}],
    "delivery-timed-out": [{"Status": "TimedOut", "StatusDetails": "Delivery Timed Out"}],
    "execution-timed-out": [{"Status": "TimedOut", "StatusDetails": "Execution Timed Out"}],
    "cancelled": [{"Status": "Cancelling"}, {"Status": "Cancelled"}],
    "terminated": [{"Status": "Failed", "StatusDetails": "Terminated"}],
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_command_that_does_not_succeed_leaves_every_earlier_event(
    tmp_path: Path, emulator: EmulatorInfo, ending: str
) -> None:
    config, outputs, logs = stack(tmp_path, emulator)
    ssm = fake_ssm()
    with Stubber(ssm) as stub:
        online(stub)
        sent(stub)
        for invocation in ENDINGS[ending]:
            stub.add_response("get_command_invocation", invocation)
        with pytest.raises(CafepipeError) as failed:
            simulate_300_lines(
                config,
                outputs,
                Clients(emulator.url, ssm, logs),
                sleep=lambda _s: None,
            )
        stub.assert_no_pending_responses()
    assert f"nothing was removed from {outputs['access_log_group']}" in str(failed.value)
    assert streams(logs, outputs["access_log_group"]) == BEFORE


def test_send_command_refused_leaves_every_earlier_event(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    config, outputs, logs = stack(tmp_path, emulator)
    ssm = fake_ssm()
    with Stubber(ssm) as stub:
        online(stub)
        stub.add_client_error("send_command", "AccessDeniedException", "not allowed")
        with pytest.raises(CafepipeError, match="SSM could not send the command") as failed:
            simulate_300_lines(
                config,
                outputs,
                Clients(emulator.url, ssm, logs),
            )
    assert "nothing was removed" in str(failed.value)
    assert streams(logs, outputs["access_log_group"]) == BEFORE


def test_a_wait_that_times_out_leaves_every_earlier_event(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    config, outputs, logs = stack(tmp_path, emulator)
    ssm = fake_ssm()
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with Stubber(ssm) as stub:
        online(stub)
        sent(stub)
        for _ in range(6):
            stub.add_response("get_command_invocation", {"Status": "InProgress"})
        with pytest.raises(CafepipeError, match="still InProgress after 30 s") as failed:
            simulate_300_lines(
                config,
                outputs,
                Clients(emulator.url, ssm, logs),
                command_timeout=30,
                sleep=sleep,
                clock=lambda: now[0],
            )
    assert "nothing was removed" in str(failed.value)
    assert streams(logs, outputs["access_log_group"]) == BEFORE


def test_ctrl_c_while_waiting_leaves_every_earlier_event(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    config, outputs, logs = stack(tmp_path, emulator)
    ssm = fake_ssm()

    def ctrl_c(_seconds: float) -> None:
        raise KeyboardInterrupt

    with Stubber(ssm) as stub:
        online(stub)
        sent(stub)
        stub.add_response("get_command_invocation", {"Status": "InProgress"})
        with pytest.raises(simulate.SimulateInterrupted) as interrupted:
            simulate_300_lines(
                config,
                outputs,
                Clients(emulator.url, ssm, logs),
                sleep=ctrl_c,
            )
    assert interrupted.value.exit_code == EXIT_INTERRUPTED
    assert "the events delivered before are all still there" in str(interrupted.value)
    assert streams(logs, outputs["access_log_group"]) == BEFORE


def test_events_that_never_all_arrive_leave_every_earlier_event_then_a_rerun_converges(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    config, outputs, logs = stack(tmp_path, emulator)
    group = outputs["access_log_group"]
    local_log = config.stack_dir / "simulated" / "access_log"
    # An agent that delivers only part of the file: the run never verifies.
    partial = InstanceSsm(logs, group, tmp_path / "part")
    (tmp_path / "part").write_text("")
    real_get = partial.get_command_invocation

    def deliver_part(**kwargs: Any) -> dict[str, Any]:
        lines = local_log.read_text().splitlines(keepends=True)
        (tmp_path / "part").write_text("".join(lines[:120]))
        return real_get(**kwargs)

    partial.get_command_invocation = deliver_part  # type: ignore[method-assign]
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(CafepipeError, match="only 120 of 300 events arrived") as failed:
        simulate_300_lines(
            config,
            outputs,
            Clients(emulator.url, partial, CountingLogs(logs, group)),
            sleep=sleep,
            clock=lambda: now[0],
            verify_timeout=60,
        )
    assert "nothing was removed" in str(failed.value)
    after_failure = streams(logs, group)
    (partial_stream,) = set(after_failure) - set(BEFORE)
    assert after_failure == {**BEFORE, partial_stream: 120}

    # A successful re-run: a new stream holds the whole new log, and it is all the group holds.
    instance = InstanceSsm(logs, group, local_log)
    result = simulate.simulate_logs(
        config,
        outputs,
        Clients(emulator.url, instance, CountingLogs(logs, group)),
        SimulateOptions(lines=250, seed=2),
        small_generator,
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert result.verified and result.events_arrived == 250
    assert sorted(result.earlier_streams_removed) == sorted([*BEFORE, partial_stream])
    assert streams(logs, group) == {result.log_stream: 250}
    messages = [m for _, m in ship.read_stream_events(logs, group, result.log_stream)]
    assert messages == local_log.read_text().splitlines()
