"""SSM waiting and status handling, faked at the client boundary (Stubber); no real sleeping."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cafepipe.errors import AwsError
from cafepipe.logs import ssm

INSTANCE = "i-0123456789abcdef0"
COMMAND = "11111111-2222-3333-4444-555555555555"


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def ssm_client() -> Any:
    return boto3.client(
        "ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def info_response(ping: str | None) -> dict[str, Any]:
    if ping is None:
        return {"InstanceInformationList": []}
    return {"InstanceInformationList": [{"InstanceId": INSTANCE, "PingStatus": ping}]}


FILTER = {"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE]}]}


def test_waits_until_the_instance_is_online() -> None:
    client, fake = ssm_client(), FakeTime()
    seen: list[str] = []
    with Stubber(client) as stubber:
        stubber.add_response("describe_instance_information", info_response(None), FILTER)
        stubber.add_response("describe_instance_information", info_response("ConnectionLost"))
        stubber.add_response("describe_instance_information", info_response("Online"))
        info = ssm.wait_for_managed_instance(
            client,
            INSTANCE,
            poll_interval=5,
            sleep=fake.sleep,
            clock=fake.clock,
            on_wait=seen.append,
        )
        stubber.assert_no_pending_responses()
    assert info["PingStatus"] == "Online"
    assert fake.sleeps == [5, 5]
    assert seen == [
        "not registered with Systems Manager yet",
        "registered, ping status ConnectionLost",
    ]


def test_an_instance_that_never_comes_online_fails_with_the_likely_causes() -> None:
    client, fake = ssm_client(), FakeTime()
    with Stubber(client) as stubber:
        for _ in range(4):
            stubber.add_response("describe_instance_information", info_response(None))
        with pytest.raises(AwsError) as info:
            ssm.wait_for_managed_instance(
                client, INSTANCE, timeout=30, poll_interval=10, sleep=fake.sleep, clock=fake.clock
            )
        stubber.assert_no_pending_responses()
    message = str(info.value)
    assert f"instance {INSTANCE} did not come online" in message
    assert "outbound route" in message
    assert "role" in message and "ssm:UpdateInstanceInformation" in message
    assert "agent is not installed" in message
    assert fake.now == 30
    assert info.value.exit_code == 1


def test_describe_failure_is_an_aws_error() -> None:
    client, fake = ssm_client(), FakeTime()
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_instance_information", "AccessDeniedException", "no")
        with pytest.raises(AwsError, match="AccessDeniedException: no"):
            ssm.wait_for_managed_instance(client, INSTANCE, sleep=fake.sleep, clock=fake.clock)


def test_send_shell_script_sends_one_run_shell_script_command() -> None:
    client = ssm_client()
    with Stubber(client) as stubber:
        stubber.add_response(
            "send_command",
            {"Command": {"CommandId": COMMAND}},
            {
                "InstanceIds": [INSTANCE],
                "DocumentName": "AWS-RunShellScript",
                "Comment": "cafepipe simulate-logs",
                "TimeoutSeconds": 600,
                "Parameters": {"commands": ["echo hi"], "executionTimeout": ["1800"]},
            },
        )
        command_id = ssm.send_shell_script(
            client, INSTANCE, "echo hi", comment="cafepipe simulate-logs"
        )
    assert command_id == COMMAND


def invocation(status: str, details: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "CommandId": COMMAND,
        "InstanceId": INSTANCE,
        "Status": status,
        "StatusDetails": details or status,
        "ResponseCode": extra.pop("code", -1),
        "StandardOutputContent": extra.pop("stdout", ""),
        "StandardErrorContent": extra.pop("stderr", ""),
    }


@pytest.mark.parametrize(
    ("status", "details"),
    [
        ("Pending", "Pending"),
        ("InProgress", "In Progress"),
        ("Delayed", "Delayed"),
        ("Cancelling", "Cancelling"),
    ],
)
def test_non_terminal_statuses_keep_waiting_with_backoff(status: str, details: str) -> None:
    client, fake = ssm_client(), FakeTime()
    seen: list[str] = []
    with Stubber(client) as stubber:
        stubber.add_client_error("get_command_invocation", "InvocationDoesNotExist")
        for _ in range(4):
            stubber.add_response("get_command_invocation", invocation(status, details))
        stubber.add_response(
            "get_command_invocation", invocation("Success", code=0, stdout="swapped 10 lines")
        )
        result = ssm.wait_for_command(
            client,
            COMMAND,
            INSTANCE,
            initial_interval=1,
            max_interval=4,
            sleep=fake.sleep,
            clock=fake.clock,
            on_status=seen.append,
        )
        stubber.assert_no_pending_responses()
    assert result.succeeded and result.stdout == "swapped 10 lines" and result.response_code == 0
    assert fake.sleeps == [1, 2, 4, 4, 4]
    assert seen[0] == "Pending (InvocationDoesNotExist)"
    assert seen[1].startswith(status)


@pytest.mark.parametrize(
    ("status", "details", "hint"),
    [
        ("Failed", "Failed", "fix what the output above says"),
        ("Cancelled", "Canceled", "stopped before it finished"),
        ("TimedOut", "Execution Timed Out", "time limit"),
        ("TimedOut", "Delivery Timed Out", "did not take the command"),
        ("Undeliverable", "Undeliverable", "did not take the command"),
        ("Terminated", "Terminated", "stopped before it finished"),
        ("Failed", "Undeliverable", "did not take the command"),
        ("Failed", "Terminated", "stopped before it finished"),
    ],
)
def test_terminal_failures_show_the_instance_output(status: str, details: str, hint: str) -> None:
    client, fake = ssm_client(), FakeTime()
    with Stubber(client) as stubber:
        stubber.add_response("get_command_invocation", invocation("InProgress", "In Progress"))
        stubber.add_response(
            "get_command_invocation",
            invocation(status, details, code=3, stdout="stopping agent\n", stderr="cp: denied\n"),
        )
        with pytest.raises(ssm.SsmCommandError) as info:
            ssm.wait_for_command(client, COMMAND, INSTANCE, sleep=fake.sleep, clock=fake.clock)
    message = str(info.value)
    assert f"the script failed on {INSTANCE}: {status}" in message
    assert "instance stdout:\n    stopping agent" in message
    assert "instance stderr:\n    cp: denied" in message
    assert "exit code 3" in message
    assert hint in message
    assert info.value.result is not None and info.value.result.status == status
    assert info.value.exit_code == 1


def test_a_command_that_never_ends_times_out_with_how_to_follow_it() -> None:
    client, fake = ssm_client(), FakeTime()
    with Stubber(client) as stubber:
        for _ in range(6):
            stubber.add_response("get_command_invocation", invocation("InProgress", "In Progress"))
        with pytest.raises(ssm.SsmCommandError, match="still InProgress after 20 s") as info:
            ssm.wait_for_command(
                client,
                COMMAND,
                INSTANCE,
                timeout=20,
                initial_interval=2,
                max_interval=8,
                sleep=fake.sleep,
                clock=fake.clock,
            )
    assert "aws ssm get-command-invocation" in str(info.value)
    assert fake.sleeps == [2, 4, 8, 8]


def test_an_unknown_status_is_not_waited_on_forever() -> None:
    client, fake = ssm_client(), FakeTime()
    with Stubber(client) as stubber:
        stubber.add_response("get_command_invocation", invocation("Exploded"))
        with pytest.raises(ssm.SsmCommandError, match="unknown status 'Exploded'"):
            ssm.wait_for_command(client, COMMAND, INSTANCE, sleep=fake.sleep, clock=fake.clock)


def test_other_errors_while_waiting_are_aws_errors() -> None:
    client, fake = ssm_client(), FakeTime()
    with Stubber(client) as stubber:
        stubber.add_client_error("get_command_invocation", "InvalidCommandId", "bad id")
        with pytest.raises(AwsError, match="InvalidCommandId: bad id"):
            ssm.wait_for_command(client, COMMAND, INSTANCE, sleep=fake.sleep, clock=fake.clock)
