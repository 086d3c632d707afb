"""A lifecycle you can interrupt, for real: the bundled Terraform, the AWS provider, moto.

One stack, one `up` after another, each stopped with Ctrl-C (SIGINT to the command's whole
process group, as a terminal sends it) at a later point of the apply: while planning, after
the first resource, ten resources on, while the VPC endpoint is being created, and — twice,
to stop at once — while the instance is being created. After each graceful stop, what
cafepipe says matches what is in the cloud: "safe to re-run" only when every resource
carrying the stack's tag is in Terraform's state (checked through boto3 and by cafepipe's
own discovery), else the resources left outside are named (a provider can cut off a call in
flight that the cloud completes). The stop at once leaves the instance outside the state,
which `status` lists. The last `up` is interactive: while it waits at its question, a `plan` of
another instance type and two `up --yes` run on the same stack (one refused at once, one
waiting). What is applied is what was shown; `destroy` then removes everything, the orphan
too, and nothing of the stack is left.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cafepipe.aws import AwsClients
from cafepipe.config import StackConfig, load_config
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.orphans import find_orphans

pytestmark = pytest.mark.integration

STACK = "intr"
TAGGED = [{"Name": "tag:cafepipe:stack", "Values": [STACK]}]


class Command:
    """One cafepipe command in a session of its own, as a terminal's foreground job."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, tty: bool = False):
        self.master: int | None = None
        stdin: int = subprocess.DEVNULL
        if tty:  # its questions need a terminal to be asked on
            self.master, stdin = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cafepipe", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            # A test runner may start us with SIGINT ignored; a user's shell does not.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        if tty:
            os.close(stdin)
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[bytes]) -> None:
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            into.append(chunk)

    @property
    def stderr(self) -> str:
        return b"".join(self.err).decode(errors="replace")

    @property
    def stdout(self) -> str:
        return b"".join(self.out).decode(errors="replace")

    def created(self) -> int:
        return self.stderr.count("✓ created")

    def destroyed(self) -> int:
        return self.stderr.count("✓ destroyed")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"ended before {what}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no {what} within {timeout}s:\n{self.stderr}"
            time.sleep(0.05)

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # the terminal signals the whole group

    def answer(self, text: str) -> None:
        assert self.master is not None
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 240) -> int:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        if self.master is not None:
            os.close(self.master)
        return code


class Stack:
    def __init__(self, emulator: EmulatorInfo, state_dir: Path) -> None:
        self.base = [
            "--stack",
            STACK,
            "--state-dir",
            str(state_dir),
            "--endpoint-url",
            emulator.url,
        ]
        self.config: StackConfig = load_config(
            None,
            {"stack": STACK, "state_dir": str(state_dir), "endpoint_url": emulator.url},
            environ={},
        )
        self.clients = AwsClients("us-east-1", emulator.url)
        self.ec2 = self.clients.client("ec2")

    def start(self, *args: str, **kwargs: Any) -> Command:
        return Command([*self.base, *args], **kwargs)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cafepipe", *self.base, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **(env or {})},
        )

    def inventory(self) -> list[dict[str, Any]]:
        """The state file as Terraform wrote it (read directly, not through cafepipe)."""
        path = self.config.terraform_dir / "terraform.tfstate"
        state: dict[str, Any] = {"resources": []}
        for _ in range(50):  # Terraform may be writing it right now
            try:
                state = json.loads(path.read_text()) if path.exists() else state
                break
            except json.JSONDecodeError:
                time.sleep(0.05)
        return [
            {"address": _address(r, i), "type": r["type"], "values": i["attributes"]}
            for r in state["resources"]
            if r["mode"] == "managed"
            for i in r["instances"]
        ]

    def tagged_ids(self) -> dict[str, set[str]]:
        """The stack's network and servers by tag, straight from EC2."""
        ec2 = self.ec2
        return {
            "instance": {
                i["InstanceId"]
                for r in ec2.describe_instances(Filters=TAGGED)["Reservations"]
                for i in r["Instances"]
                if i["State"]["Name"] not in ("terminated", "shutting-down")
            },
            "vpc": {v["VpcId"] for v in ec2.describe_vpcs(Filters=TAGGED)["Vpcs"]},
            "subnet": {s["SubnetId"] for s in ec2.describe_subnets(Filters=TAGGED)["Subnets"]},
            "endpoint": {
                e["VpcEndpointId"]
                for e in ec2.describe_vpc_endpoints(Filters=TAGGED)["VpcEndpoints"]
                if e["State"].lower() != "deleted"
            },
            "security group": {
                g["GroupId"] for g in ec2.describe_security_groups(Filters=TAGGED)["SecurityGroups"]
            },
        }

    def orphans(self) -> set[str]:
        """Ids of the stack's resources outside its state: cafepipe's discovery, checked
        against EC2's own answer for the network and servers."""
        # A call cut off in flight (a hard stop kills Terraform mid-request) can still complete
        # in the emulator a moment later: let it settle, then take EC2's answer BEFORE
        # discovery's, so everything EC2 lists already existed when discovery looked.
        time.sleep(3)
        tagged_now = self.tagged_ids()
        inventory = self.inventory()
        ids = {v for r in inventory for v in r["values"].values() if isinstance(v, str)}
        found = {f.id for f in find_orphans(self.clients, self.config, inventory)}
        for kind, tagged in tagged_now.items():
            assert tagged - ids <= found, f"{kind} {sorted(tagged - ids)} missed by discovery"
        return found

    def appeared(self, kind: str) -> Callable[[], bool]:
        """True once a resource of `kind` exists in EC2 that the state does not hold yet:
        Terraform is creating it right now."""

        def check() -> bool:
            ids = {v for r in self.inventory() for v in r["values"].values() if isinstance(v, str)}
            return bool(self.tagged_ids()[kind] - ids)

        return check


def _stopped_gracefully(stack: Stack, command: Command, label: str) -> set[str]:
    """Exit 130, and "safe to re-run" exactly when nothing is outside the state."""
    code = command.finish()
    assert code == 130, f"{label}:\n{command.stderr}"
    assert "Traceback" not in command.stderr
    left = stack.orphans()
    if left:
        assert "safe to re-run" not in command.stderr, f"{label}: {left}\n{command.stderr}"
        assert all(orphan in command.stderr for orphan in left), command.stderr
        assert "cafepipe destroy" in command.stderr
    else:
        assert "safe to re-run `cafepipe up`" in command.stderr, f"{label}\n{command.stderr}"
    return left


def test_up_interrupted_anywhere_leaves_nothing_outside_the_state(
    tmp_path: Path, emulator: EmulatorInfo
) -> None:
    stack = Stack(emulator, tmp_path)

    # 1. In the first second: still rendering and planning; nothing is created.
    first = stack.start("-v", "up", "--yes")
    time.sleep(1)
    first.ctrl_c()
    assert _stopped_gracefully(stack, first, "Ctrl-C in the first second") == set()
    assert stack.inventory() == [] and not any(stack.tagged_ids().values())

    # 2. After the first resource: the ten in flight (the VPC takes ten seconds on the
    # emulator) finish and are saved.
    second = stack.start("-v", "up", "--yes")
    second.wait_for(lambda: second.created() >= 1, "a first resource")
    second.ctrl_c()
    left = _stopped_gracefully(stack, second, "Ctrl-C after the first resource")
    assert "stopping after the operations in progress" in second.stderr

    # 3. Ten resources into the next run.
    third = stack.start("-v", "up", "--yes")
    third.wait_for(lambda: third.created() >= 10, "ten resources")
    third.ctrl_c()
    left |= _stopped_gracefully(stack, third, "Ctrl-C ten resources on")

    # 4. While the S3 endpoint (five seconds on the emulator) or, if that was done already,
    # the instance (ten) is being created: it finishes and is saved.
    fourth = stack.start("-v", "up", "--yes")
    endpoint, instance = stack.appeared("endpoint"), stack.appeared("instance")
    fourth.wait_for(lambda: endpoint() or instance(), "the endpoint or instance being created")
    in_flight = stack.tagged_ids()["endpoint"] | stack.tagged_ids()["instance"]
    fourth.ctrl_c()
    left |= _stopped_gracefully(stack, fourth, "Ctrl-C while the endpoint is created")
    assert in_flight and not in_flight & left  # finished and saved in the state

    # The next stop needs an instance being created: one deleted by hand is made again.
    if stack.tagged_ids()["instance"]:
        made = sorted(stack.tagged_ids()["instance"])
        stack.ec2.terminate_instances(InstanceIds=made)
        assert not stack.tagged_ids()["instance"]

    # 5. Twice while the instance is being created: Terraform stops at once, and says so.
    fifth = stack.start("-v", "up", "--yes")
    fifth.wait_for(stack.appeared("instance"), "the instance being created")
    fifth.ctrl_c()
    fifth.wait_for(lambda: "stopping after the operations" in fifth.stderr, "the first notice")
    fifth.ctrl_c()
    assert fifth.finish() == 130
    assert "stopped at once" in fifth.stderr and "aws_instance.web" in fifth.stderr
    assert "safe to re-run" not in fifth.stderr and "Traceback" not in fifth.stderr
    (orphan,) = stack.tagged_ids()["instance"]
    left = stack.orphans()
    assert orphan in left
    status = json.loads(stack.run("status", "--json").stdout)
    assert {o["id"] for o in status["orphans"]} == left
    assert ("instance", orphan) in [(o["kind"], o["id"]) for o in status["orphans"]]
    if "was put back" in fifth.stderr:
        # Stopped while writing its state file (a race: about one run in three under load),
        # Terraform left it cut off; its backup (the state before this run) is back, the cut
        # file is kept, and what the run made is outside the state, found above. Re-running
        # `up` would meet those by name: `destroy` is the way on, and it leaves nothing.
        assert list(stack.config.terraform_dir.glob("terraform.tfstate.cut-*"))
        assert stack.inventory(), "the backup put back holds the stack as the run found it"
        destroyed = stack.run("destroy", "--yes", "--json")
        assert destroyed.returncode == 0, destroyed.stderr
        assert {o["id"] for o in json.loads(destroyed.stdout)["orphans_deleted"]} >= left
        assert not any(stack.tagged_ids().values()), stack.tagged_ids()
        _assert_nothing_of_the_stack(stack)
        return

    # 6. Interactive: the plan shown (t4g.nano) is the plan applied, whatever runs meanwhile.
    shown = stack.start("up", "--json", tty=True)
    shown.wait_for(lambda: "Apply these changes" in shown.stderr, "the question")
    started = time.monotonic()
    other_plan = stack.run("plan", "--json", env={"CAFEPIPE_INSTANCE_TYPE": "t4g.small"})
    assert other_plan.returncode == 1 and time.monotonic() - started < 30  # never waits
    assert f"`cafepipe up` (pid {shown.process.pid}" in other_plan.stderr, other_plan.stderr
    impatient = stack.run("up", "--yes", "--lock-timeout", "1")
    assert impatient.returncode == 1 and "Traceback" not in impatient.stderr
    assert f"locked by `cafepipe up` (pid {shown.process.pid}" in impatient.stderr
    waiting = stack.start("up", "--yes")
    waiting.wait_for(lambda: "waiting up to" in waiting.stderr, "the waiting notice")
    shown.answer("y\n")
    assert shown.finish() == 0, shown.stderr
    planned = shown.stderr.split("Plan: ")[1].split(" to add")[0]
    assert f"applying: {planned} resources" in shown.stderr  # exactly what was shown
    assert waiting.finish() == 0, waiting.stderr
    assert "up to date; nothing to change" in waiting.stderr  # the final plan is empty
    applied = json.loads(shown.stdout)["instance_id"]
    reply = stack.ec2.describe_instances(InstanceIds=[applied])["Reservations"][0]["Instances"]
    assert applied != orphan and reply[0]["InstanceType"] == "t4g.nano"  # not t4g.small

    # 7. A destroy stopped after its first deletions says it is safe to re-run: it is.
    applied_in_state = len(stack.inventory())
    stopped = stack.start("-v", "destroy", "--yes")
    stopped.wait_for(lambda: stopped.destroyed() >= 3, "three resources destroyed")
    stopped.ctrl_c()
    assert stopped.finish() == 130, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert "safe to re-run `cafepipe destroy`" in stopped.stderr, stopped.stderr
    # destroy removes what is outside the state first: the orphan went before the stop.
    deleted = [line for line in stopped.stderr.splitlines() if line.strip().startswith("deleted ")]
    assert left and all(any(orphan_id in line for line in deleted) for orphan_id in left)

    # 8. The re-run removes the rest of the stack and the orphan; nothing carrying the tag is
    # left. What it reports destroyed is Terraform's own count: every resource instance left in
    # the state.
    in_state = {resource["address"] for resource in stack.inventory()}
    # A deletion in flight at the stop can fail in the provider (its call cancelled) after the
    # emulator has made it: the state keeps the resource, and the re-run's refresh finds it gone
    # and drops it without a deletion. Only those may be missing from the re-run's count.
    cancelled = {
        line.split("failed destroying ", 1)[1].strip()
        for line in stopped.stderr.splitlines()
        if "failed destroying " in line
    }
    assert cancelled <= in_state
    destroyed = stack.run("destroy", "--yes", "--json")
    assert destroyed.returncode == 0, destroyed.stderr
    report = json.loads(destroyed.stdout)
    assert report["orphans_deleted"] == []  # removed by the stopped run (step 7)
    assert applied_in_state > 50 and 0 < len(in_state) < applied_in_state
    assert report["destroyed"] == len(report["resources"])
    assert in_state - cancelled <= set(report["resources"]) <= in_state
    assert report["leftovers"] == []
    assert not any(stack.tagged_ids().values()), stack.tagged_ids()
    _assert_nothing_of_the_stack(stack)


def _address(resource: dict[str, Any], instance: dict[str, Any]) -> str:
    """A resource instance's address as Terraform writes it (`module.m.type.name["key"]`)."""
    module = f"{resource['module']}." if resource.get("module") else ""
    address = f"{module}{resource['type']}.{resource['name']}"
    if "index_key" in instance:
        return address + f"[{json.dumps(instance['index_key'])}]"
    return address


def _assert_nothing_of_the_stack(stack: Stack) -> None:
    """By tag through boto3: no gateway, bucket, log group, dashboard, alarm, role, profile."""
    clients, config = stack.clients, stack.config
    ec2 = stack.ec2
    assert ec2.describe_internet_gateways(Filters=TAGGED)["InternetGateways"] == []
    # moto ignores this call's filters (it lists every stack's gateway): the tag is read here.
    gateways = ec2.describe_egress_only_internet_gateways(Filters=TAGGED)
    assert not [
        g
        for g in gateways["EgressOnlyInternetGateways"]
        if {"Key": "cafepipe:stack", "Value": STACK} in g.get("Tags", [])
    ]
    assert ec2.describe_route_tables(Filters=TAGGED)["RouteTables"] == []
    s3 = clients.client("s3")
    assert config.bucket_name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    logs = clients.client("logs")
    assert logs.describe_log_groups(logGroupNamePrefix=f"{STACK}/")["logGroups"] == []
    cloudwatch = clients.client("cloudwatch")
    assert (
        cloudwatch.list_dashboards(DashboardNamePrefix=config.dashboard_name)["DashboardEntries"]
        == []
    )
    alarms = cloudwatch.describe_alarms()["MetricAlarms"]
    for alarm in alarms:
        tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        assert {"Key": "cafepipe:stack", "Value": STACK} not in tags, alarm["AlarmName"]
    iam = clients.client("iam")
    assert not [r for r in iam.list_roles()["Roles"] if STACK in r["RoleName"]]
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    assert not [p for p in profiles if STACK in p["InstanceProfileName"]]
