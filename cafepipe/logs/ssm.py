"""Run one shell script on the stack's instance with SSM Run Command, and wait for it.

Pollers take their interval, timeout, sleep and clock as arguments, so tests never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from cafepipe.aws import describe_client_error
from cafepipe.errors import AwsError

SHELL_DOCUMENT = "AWS-RunShellScript"

# get_command_invocation's Status values, and the StatusDetails that end an invocation
# (Undeliverable, Terminated and DeliveryTimedOut/ExecutionTimedOut only appear there).
# StatusDetails is spelled with spaces ("Delivery Timed Out"): compared without them.
WAITING_STATUSES = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
FAILED_STATUSES = frozenset({"Cancelled", "TimedOut", "Failed", "Undeliverable", "Terminated"})
FAILED_DETAILS = frozenset(
    {"Undeliverable", "Terminated", "DeliveryTimedOut", "ExecutionTimedOut", "Failed"}
)
SUCCESS = "Success"

NOT_ONLINE_CAUSES = (
    "the instance has no outbound route to the SSM endpoints (public IP + internet gateway, "
    "a NAT gateway, or VPC endpoints for ssm, ssmmessages and ec2messages)",
    "behind CloudFront (no public IPv4): the agent is not using the dual-stack endpoints "
    "(/etc/amazon/ssm/amazon-ssm-agent.json, UseDualStackEndpoint) or the subnet has no "
    "IPv6 route (`aws ec2 get-console-output --latest --instance-id <id>` shows the first "
    "boot's log)",
    "the instance profile's role is not attached or lacks the SSM agent's permissions "
    "(ssm:UpdateInstanceInformation, ec2messages:*, ssmmessages:*)",
    "the SSM agent is not installed or not running (it is preinstalled on Amazon Linux 2023)",
)

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class SsmCommandError(AwsError):
    """The script did not succeed on the instance; the message carries its output."""

    def __init__(
        self, message: str, result: CommandResult | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.result = result


@dataclass(frozen=True)
class CommandResult:
    """The end of one command invocation on one instance."""

    command_id: str
    instance_id: str
    status: str
    status_details: str
    response_code: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS


def wait_for_managed_instance(
    ssm: Any,
    instance_id: str,
    *,
    timeout: float = 600.0,
    poll_interval: float = 10.0,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    on_wait: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Wait until `instance_id` is an online SSM managed instance; return its information.

    Raises AwsError after `timeout` seconds, naming the likely causes.
    """
    deadline = clock() + timeout
    last_seen = "not registered with Systems Manager yet"
    while True:
        try:
            response = ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
            )
        except botocore.exceptions.ClientError as exc:
            raise AwsError(
                f"cannot ask Systems Manager about {instance_id}: {describe_client_error(exc)}",
                "the credentials need ssm:DescribeInstanceInformation",
            ) from exc
        for info in response.get("InstanceInformationList", []):
            if info.get("InstanceId") != instance_id:
                continue
            ping = info.get("PingStatus", "unknown")
            if ping == "Online":
                return dict(info)
            last_seen = f"registered, ping status {ping}"
        if clock() >= deadline:
            causes = "\n".join(f"    - {cause}" for cause in NOT_ONLINE_CAUSES)
            raise AwsError(
                f"instance {instance_id} did not come online in Systems Manager within "
                f"{timeout:.0f} s ({last_seen}). Likely causes:\n{causes}",
                "check the instance in the Systems Manager console (Fleet Manager), "
                "then re-run: it is safe",
            )
        if on_wait is not None:
            on_wait(last_seen)
        sleep(poll_interval)


def send_shell_script(
    ssm: Any,
    instance_id: str,
    script: str,
    *,
    comment: str,
    execution_timeout: int = 1800,
    delivery_timeout: int = 600,
) -> str:
    """Send `script` as one AWS-RunShellScript command; return the command id."""
    try:
        response = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=SHELL_DOCUMENT,
            Comment=comment[:100],
            TimeoutSeconds=delivery_timeout,
            Parameters={
                "commands": [script],
                "executionTimeout": [str(execution_timeout)],
            },
        )
    except botocore.exceptions.ClientError as exc:
        raise AwsError(
            f"SSM could not send the command to {instance_id}: {describe_client_error(exc)}",
            "the credentials need ssm:SendCommand on the instance and the AWS-RunShellScript "
            "document",
        ) from exc
    return str(response["Command"]["CommandId"])


def _result(command_id: str, instance_id: str, invocation: dict[str, Any]) -> CommandResult:
    return CommandResult(
        command_id=command_id,
        instance_id=instance_id,
        status=str(invocation.get("Status", "")),
        status_details=str(invocation.get("StatusDetails", "")),
        response_code=int(invocation.get("ResponseCode", -1)),
        stdout=str(invocation.get("StandardOutputContent", "")),
        stderr=str(invocation.get("StandardErrorContent", "")),
    )


def _failure_message(result: CommandResult) -> str:
    details = result.status_details
    head = f"the script failed on {result.instance_id}: {result.status}"
    if details.replace(" ", "") not in ("", result.status):
        head += f" ({details})"
    if result.response_code >= 0:
        head += f", exit code {result.response_code}"
    lines = [head]
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            body = "\n".join("    " + line for line in text.rstrip().splitlines())
            lines.append(f"  instance {name}:\n{body}")
    return "\n".join(lines)


def _failure_hint(result: CommandResult) -> str:
    status = {result.status, result.status_details.replace(" ", "")}
    if status & {"Undeliverable", "DeliveryTimedOut"}:
        return "the SSM agent on the instance did not take the command: is it online?"
    if status & {"TimedOut", "ExecutionTimedOut"}:
        return "the script ran past its time limit; a smaller --lines may help"
    if status & {"Terminated", "Cancelled"}:
        return "the command was stopped before it finished; re-run (it is safe)"
    return "fix what the output above says, then re-run (it is safe)"


def wait_for_command(
    ssm: Any,
    command_id: str,
    instance_id: str,
    *,
    timeout: float = 1800.0,
    initial_interval: float = 1.0,
    max_interval: float = 15.0,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    on_status: Callable[[str], None] | None = None,
) -> CommandResult:
    """Poll the command's invocation with backoff until it ends; return it on Success.

    Raises SsmCommandError with the instance's stdout/stderr on any other end, and after
    `timeout` seconds.
    """
    deadline = clock() + timeout
    interval = initial_interval
    status = "Pending"
    while True:
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            # Right after SendCommand the invocation may not exist yet: that is Pending.
            if code != "InvocationDoesNotExist":
                raise AwsError(
                    f"cannot read command {command_id} on {instance_id}: "
                    f"{describe_client_error(exc)}",
                    "the credentials need ssm:GetCommandInvocation",
                ) from exc
            invocation = {"Status": "Pending", "StatusDetails": "InvocationDoesNotExist"}
        result = _result(command_id, instance_id, invocation)
        status = result.status
        if status == SUCCESS:
            return result
        details = result.status_details.replace(" ", "")
        if status in FAILED_STATUSES or details in FAILED_DETAILS:
            raise SsmCommandError(_failure_message(result), result, _failure_hint(result))
        if status not in WAITING_STATUSES:
            raise SsmCommandError(
                f"command {command_id} on {instance_id} reports an unknown status {status!r}",
                result,
                "look at the command in the Systems Manager console (Run Command)",
            )
        if on_status is not None:
            on_status(status if details in ("", status) else f"{status} ({result.status_details})")
        if clock() >= deadline:
            raise SsmCommandError(
                f"command {command_id} on {instance_id} still {status} after {timeout:.0f} s",
                result,
                f"follow it with: aws ssm get-command-invocation --command-id {command_id} "
                f"--instance-id {instance_id}",
            )
        sleep(interval)
        interval = min(max_interval, interval * 2)
