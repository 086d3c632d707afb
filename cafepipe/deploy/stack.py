"""The stack's lifecycle: plan, up, status, destroy (and the proof that destroy left nothing).

Plain functions over a `Stack` (config + AWS clients + Terraform runner); the CLI and the
demo call them, and so can tests. Commands that change the stack hold its lock
(`cafepipe.deploy.lock.lock_stack`) around them; each `up` applies exactly the plan file it
showed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import botocore.exceptions

from cafepipe.alerts import alert_resource_exists, status_section
from cafepipe.aws import AwsClients, credential_env, describe_client_error
from cafepipe.config import StackConfig
from cafepipe.deploy import emulator_session
from cafepipe.deploy.emulator import is_listening
from cafepipe.deploy.lock import holder
from cafepipe.deploy.orphans import (
    Found,
    Removal,
    Waits,
    find_stack_resources,
    known_ids,
    remove_resources,
)
from cafepipe.deploy.terraform import (
    EventCallback,
    TerraformInterrupted,
    TerraformRunner,
    select_backend,
)
from cafepipe.errors import AwsError, CafepipeError
from cafepipe.reporting import SILENT, Reporter

BACKEND_FILE = "backend.tf"


@dataclass
class Stack:
    """One stack: its validated config, its AWS clients and its Terraform runner."""

    config: StackConfig
    clients: AwsClients
    runner: TerraformRunner


def terraform_env(config: StackConfig) -> dict[str, str]:
    """Environment for Terraform: region, emulator credentials and the offline provider."""
    env = credential_env(config)
    if config.emulated:
        from cafepipe.deploy.provider_mirror import ensure_provider_mirror

        env["TF_CLI_CONFIG_FILE"] = str(ensure_provider_mirror())
    return env


def open_stack(config: StackConfig, clients: AwsClients | None = None) -> Stack:
    """Build the Stack objects; no cloud call, no file written."""
    clients = clients or AwsClients.for_config(config)
    runner = TerraformRunner(
        config.terraform_dir.resolve(), terraform_env(config), select_backend(config.terraform_bin)
    )
    return Stack(config, clients, runner)


def write_backend_config(config: StackConfig) -> None:
    """Local state by default; an S3 backend (with S3-native lock file) when configured."""
    path = config.terraform_dir / BACKEND_FILE
    if config.backend.kind != "s3":
        path.unlink(missing_ok=True)
        return
    key = config.backend.key or f"cafepipe/{config.stack}/terraform.tfstate"
    settings: dict[str, Any] = {
        "bucket": config.backend.bucket,
        "key": key,
        "region": config.backend.region or config.region,
        "encrypt": True,
        "use_lockfile": True,  # S3-native state locking (no DynamoDB table)
    }
    if config.emulated:
        settings.update(
            endpoints={"s3": config.endpoint_url},
            use_path_style=True,
            skip_credentials_validation=True,
            skip_requesting_account_id=True,
            skip_metadata_api_check=True,
            skip_region_validation=True,
        )
    width = max(map(len, settings))  # aligned as `terraform fmt` would
    body = "".join(f"    {k:<{width}} = {_hcl_value(v)}\n" for k, v in settings.items())
    path.write_text(f'terraform {{\n  backend "s3" {{\n{body}  }}\n}}\n')


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_hcl_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def prepare(stack: Stack, reporter: Reporter = SILENT) -> None:
    """Render the stack and `terraform init` it (offline mirror on the emulator); on an
    emulator, set aside a state that an earlier run of the emulator made. Under the lock."""
    from cafepipe.deploy.render import render_stack

    render_stack(stack.config)
    write_backend_config(stack.config)
    stack.runner.init()
    reset_stale_emulator_state(stack, reporter)


def _local_emulator_state(config: StackConfig) -> bool:
    # With the S3 backend on an emulator, the state lives (and dies) in the emulator too.
    return config.emulated and config.backend.kind != "s3"


def stale_emulator_state(stack: Stack) -> str | None:
    """Why the stack's state belongs to an emulator run that is gone (None: it does not, or
    this is AWS, where a state is never set aside on such grounds). Reads only."""
    config = stack.config
    if not _local_emulator_state(config):
        return None
    return emulator_session.stale_reason(
        config.stack_dir, str(config.endpoint_url), stack.clients.client("ssm")
    )


def reset_stale_emulator_state(stack: Stack, reporter: Reporter = SILENT) -> None:
    """Emulator only: start from an empty state when the old one belongs to an emulator run
    that is gone, and record which run the state belongs to from now on."""
    config = stack.config
    if not _local_emulator_state(config):
        return
    reason = stale_emulator_state(stack)
    if reason and stack.runner.state_resources():
        kept = forget_state(stack)
        reporter.warn(f"{reason}; starting from an empty state (the old one is in {kept})")
    session = emulator_session.current_session(stack.clients.client("ssm"), create=True)
    emulator_session.record_session(config.stack_dir, str(config.endpoint_url), str(session))


def forget_state(stack: Stack) -> Path:
    """Drop every resource from the stack's Terraform state without touching the cloud
    (the state is first saved beside it); return where the copy is."""
    config = stack.config
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = config.stack_dir / f"forgotten-{stamp}.tfstate"
    pulled = stack.runner.run(["state", "pull"], check=False)
    kept.write_text(pulled.text + ("\n" if pulled.text and not pulled.text.endswith("\n") else ""))
    addresses = [line.strip() for line in stack.runner.run(["state", "list"]).text.splitlines()]
    addresses = [a for a in addresses if a]
    if addresses:
        stack.runner.run(["state", "rm", "-lock-timeout=120s", *addresses], what="state rm")
    return kept


@dataclass
class PlanSummary:
    """What a plan would do: counts and the resources it touches."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    resources: list[dict[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.add == self.change == self.destroy == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "add": self.add,
            "change": self.change,
            "destroy": self.destroy,
            "resources": self.resources,
        }


def summarize_plan_events(events: list[dict[str, Any]]) -> PlanSummary:
    """Counts from the plan's `change_summary` event; resources from `planned_change`."""
    summary = PlanSummary()
    for event in events:
        if event.get("type") == "planned_change":
            change = event.get("change") or {}
            if change.get("action") == "read":
                continue  # a data source read at apply time: not a change to the stack
            summary.resources.append(
                {
                    "address": (change.get("resource") or {}).get("addr", ""),
                    "action": change.get("action", ""),
                }
            )
        elif event.get("type") == "change_summary":
            changes = event.get("changes") or {}
            summary.add = int(changes.get("add", 0))
            summary.change = int(changes.get("change", 0))
            summary.destroy = int(changes.get("remove", 0))
    summary.resources.sort(key=lambda r: r["address"])
    return summary


def plan_stack(
    stack: Stack,
    on_event: EventCallback | None = None,
    plan_file: Path | None = None,
    reporter: Reporter = SILENT,
) -> PlanSummary:
    """Render, init and plan; saved to `plan_file` when given (what `up` then applies)."""
    prepare(stack, reporter)
    result = stack.runner.plan(on_event, plan_file=plan_file)
    return summarize_plan_events(result.events)


def new_plan_file(config: StackConfig) -> Path:
    """A plan file of this run's own: what it shows is exactly what it applies, whatever
    another command plans meanwhile."""
    folder = config.stack_dir.resolve() / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"up-{os.getpid()}-{uuid.uuid4().hex[:8]}.tfplan"


def check_access(stack: Stack) -> None:
    """Fail before Terraform runs when there is no endpoint or no credentials to run it with."""
    url = stack.config.endpoint_url
    if url and not is_listening(url):
        raise AwsError(
            f"nothing answers at the endpoint {url}",
            "start the emulator (cafepipe emulator start) or fix --endpoint-url / AWS_ENDPOINT_URL",
        )
    stack.clients.check_credentials()


def apply_plan(
    stack: Stack, plan_file: Path, on_event: EventCallback | None = None
) -> dict[str, Any]:
    """Apply exactly the plan saved in `plan_file`; return the stack's outputs."""
    stack.runner.apply(on_event, plan_file=plan_file)
    return stack.runner.outputs()


@dataclass
class UpResult:
    """What `up` did: the plan it applied (empty when the stack was up to date) and outputs."""

    plan: PlanSummary
    outputs: dict[str, Any]
    seconds: float

    @property
    def changed(self) -> bool:
        return not self.plan.empty


def up_stack(
    stack: Stack, approve: Callable[[PlanSummary], None], reporter: Reporter = SILENT
) -> UpResult:
    """render → init → plan → approve → apply → outputs; the one `up` of the CLI and the demo.

    `approve` sees the plan before anything changes (shows it, prices it, asks) and raises
    to stop. An empty plan is not applied and not shown to `approve`.
    """
    check_access(stack)
    started = time.monotonic()
    plan_file = new_plan_file(stack.config)
    try:
        with reporter.terraform("planning") as on_event:
            summary = plan_stack(stack, on_event, plan_file, reporter)
        if summary.empty:
            outputs = stack.runner.outputs()
        else:
            approve(summary)
            expected = summary.add + summary.change + summary.destroy
            try:
                with reporter.terraform("applying", expected) as on_event:
                    outputs = apply_plan(stack, plan_file, on_event)
            except TerraformInterrupted as stopped:
                stopped.left_outside = _left_outside(stack, reporter)
                raise
    finally:
        plan_file.unlink(missing_ok=True)
    return UpResult(summary, outputs, round(time.monotonic() - started, 1))


ORPHAN_SETTLE_SECONDS = 3.0


def _left_outside(stack: Stack, reporter: Reporter) -> list[str] | None:
    """After an interrupted apply: the stack's resources outside its state (None when the
    look itself was interrupted or failed). Even a graceful stop can leave one: a provider
    cancels a call in flight that the cloud then completes."""
    try:
        with reporter.status("checking what the interrupted run left outside the state…"):
            inventory = state_inventory(stack)
            known = known_ids(inventory)
            found = find_stack_resources(stack.clients, stack.config)
            if not [f for f in found if f.id not in known]:
                # A call cut off in flight can still complete a moment later (a busy
                # endpoint, or AWS's eventual consistency): look once more before saying
                # nothing is outside the state.
                time.sleep(ORPHAN_SETTLE_SECONDS)
                found = find_stack_resources(stack.clients, stack.config)
    except (
        KeyboardInterrupt,
        CafepipeError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
    ):
        return None
    return [f.describe() for f in found if f.id not in known]


def stack_outputs(config: StackConfig) -> dict[str, Any]:
    """The outputs of a stack that `up` created (instance id, URL, bucket, log groups…)."""
    if not (config.terraform_dir / ".terraform").is_dir():
        raise CafepipeError(
            f"stack {config.stack!r} has not been created here",
            "run `cafepipe up` first (with the same --stack/--state-dir/--endpoint-url)",
        )
    outputs = open_stack(config).runner.outputs()
    if not outputs.get("instance_id"):
        raise CafepipeError(
            f"stack {config.stack!r} has no resources", "run `cafepipe up` to create it"
        )
    return outputs


def stack_status(stack: Stack) -> dict[str, Any]:
    """Outputs, resources, the instance's state, drift (a non-empty plan), and the orphans:
    resources carrying the stack's tag that its state does not hold.

    Reads only, and never waits for the stack's lock: while another command holds it,
    drift is not checked (`locked_by` says who works on the stack).
    """
    config = stack.config
    current = holder(config)
    locked_by = current.describe() if current and current.pid != os.getpid() else None
    initialized = (config.terraform_dir / ".terraform").is_dir()
    stale = stale_emulator_state(stack) if initialized else None
    resources = stack.runner.state_resources() if initialized and not stale else []
    inventory = state_inventory(stack) if resources else []
    known = known_ids(inventory)
    found = find_stack_resources(stack.clients, config)
    orphans = [f.as_dict() for f in found if f.id not in known]
    common = {"stack": config.stack, "orphans": orphans, "locked_by": locked_by}
    if stale:
        common["stale_state"] = stale
    if not resources:
        return {**common, "deployed": False, "resources": []}
    outputs = stack.runner.outputs()
    drift = None
    if locked_by is None:  # a plan while another run applies would show its work as drift
        drift = summarize_plan_events(stack.runner.plan(lock=False).events)
    return {
        **common,
        "deployed": True,
        "region": config.region,
        "endpoint_url": config.endpoint_url,
        "outputs": outputs,
        "resources": resources,
        "instance_state": instance_state(stack.clients, outputs.get("instance_id")),
        "drift": drift.as_dict() if drift else None,
        "in_sync": drift.empty if drift else None,
        "alerts": status_section(stack.clients, config, outputs),
        "fleet": fleet_status(stack.clients, outputs),
    }


def fleet_status(clients: AwsClients, outputs: dict[str, Any]) -> dict[str, Any] | None:
    """A fleet's servers now (its Auto Scaling group and target group, not Terraform's last
    read): None for a single-server stack; `error` when they could not be read."""
    name = outputs.get("fleet_asg_name")
    if not name:
        return None
    section: dict[str, Any] = {"asg_name": name}
    try:
        groups = clients.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[name]
        )["AutoScalingGroups"]
        if not groups:
            return {**section, "error": f"Auto Scaling group {name} not found"}
        group = groups[0]
        healthy = None
        if outputs.get("fleet_target_group_arn"):
            targets = clients.client("elbv2").describe_target_health(
                TargetGroupArn=outputs["fleet_target_group_arn"]
            )["TargetHealthDescriptions"]
            healthy = sum(1 for t in targets if t["TargetHealth"]["State"] == "healthy")
    except botocore.exceptions.ClientError as exc:
        return {**section, "error": describe_client_error(exc)}
    instances = [
        {
            "id": i["InstanceId"],
            "zone": i.get("AvailabilityZone", ""),
            "lifecycle": i.get("LifecycleState", ""),
            "health": i.get("HealthStatus", ""),
        }
        for i in sorted(group.get("Instances", []), key=lambda i: i["InstanceId"])
    ]
    return {
        **section,
        "min_size": group["MinSize"],
        "max_size": group["MaxSize"],
        "desired": group["DesiredCapacity"],
        "instances": instances,
        "in_service": sum(1 for i in instances if i["lifecycle"] == "InService"),
        "healthy_targets": healthy,
    }


def instance_state(clients: AwsClients, instance_id: str | None) -> str:
    if not instance_id:
        return "unknown"
    try:
        reply = clients.client("ec2").describe_instances(InstanceIds=[instance_id])
    except botocore.exceptions.ClientError as exc:
        return f"unknown ({describe_client_error(exc)})"
    for reservation in reply.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            return str(instance["State"]["Name"])
    return "not found"


def state_inventory(stack: Stack) -> list[dict[str, Any]]:
    """Every managed resource in the state, with its attributes (for the destroy check)."""
    result = stack.runner.run(["show", "-json"], check=False)
    if result.retcode != 0 or not result.events:
        return []
    inventory: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource.get("mode") == "managed":
                inventory.append(
                    {
                        "address": resource["address"],
                        "type": resource["type"],
                        "values": resource.get("values") or {},
                    }
                )
        for child in module.get("child_modules", []):
            walk(child)

    walk((result.events[0].get("values") or {}).get("root_module") or {})
    return inventory


@dataclass
class DestroyPlan:
    """What `destroy` will remove: the state's resources and the orphans beside them."""

    inventory: list[dict[str, Any]]
    orphans: list[Found]
    forget: bool = False


def plan_destroy(stack: Stack, forget: bool = False, reporter: Reporter = SILENT) -> DestroyPlan:
    """Render, init, read the state and find the stack's orphans (shown before asking).

    With `forget`, the state is to be set aside: everything found by the tag is removed
    without Terraform (for a state whose resources are gone, or cannot be read back).
    """
    prepare(stack, reporter)
    inventory = state_inventory(stack)
    found = find_stack_resources(stack.clients, stack.config)
    known = set() if forget else known_ids(inventory)
    return DestroyPlan(inventory, [f for f in found if f.id not in known], forget)


def destroy_stack(
    stack: Stack,
    reporter: Reporter = SILENT,
    plan: DestroyPlan | None = None,
    forget: bool = False,
    waits: Waits | None = None,
) -> dict[str, Any]:
    """Orphans first (they may sit in the state's network), then `terraform destroy` (or,
    with `forget`, the state set aside), then whatever of the stack is still tagged; then
    the proof that nothing of it remains. Counts come from Terraform's own events."""
    plan = plan or plan_destroy(stack, forget, reporter)
    started = time.monotonic()
    removal = Removal()
    destroyed: list[str] = []
    forgotten = None
    if plan.forget:
        forgotten = str(forget_state(stack))
    else:
        if plan.orphans:
            removal = remove_resources(stack.clients, plan.orphans, reporter, waits)

        def count(event: dict[str, Any]) -> None:
            hook = event.get("hook") or {}
            if event.get("type") == "apply_complete" and hook.get("action") == "delete":
                destroyed.append(str((hook.get("resource") or {}).get("addr", "")))
            on_event(event)

        with reporter.terraform("destroying", len(plan.inventory) or None) as on_event:
            stack.runner.destroy(count)
    rest = find_stack_resources(stack.clients, stack.config)
    if rest:
        removal = _merge(removal, remove_resources(stack.clients, rest, reporter, waits))
    leftovers = find_leftovers(stack.clients, stack.config, plan.inventory)
    report = {
        "stack": stack.config.stack,
        "destroyed": len(destroyed),
        "resources": sorted(destroyed),
        "orphans_deleted": [f.as_dict() for f in removal.deleted],
        "forgotten_state": forgotten,
        "seconds": round(time.monotonic() - started, 1),
        "leftovers": leftovers,
    }
    if leftovers:
        failed = "".join(f"\n  {f.describe()}: {reason}" for f, reason in removal.failed)
        raise CafepipeError(
            "destroy finished but these resources of the stack still exist:\n  "
            + "\n  ".join(leftovers)
            + (f"\nwhy some could not be deleted:{failed}" if failed else ""),
            "fix the cause above and re-run `cafepipe destroy`; what carries the stack's tag "
            "is found and removed again",
        )
    return report


def _merge(first: Removal, second: Removal) -> Removal:
    deleted = first.deleted + [f for f in second.deleted if f not in first.deleted]
    failed = [(f, why) for f, why in first.failed if f not in second.deleted] + second.failed
    return Removal(deleted, failed)


# Per resource type: a call that raises a NotFound-type error once the resource is gone.
def _exists(call: Callable[[], Any]) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if "NotFound" in code or "NoSuch" in code or code in ("404", "InvalidGroup.NotFound"):
            return False
        if status == 404:
            return False
        raise AwsError(f"could not check a resource: {describe_client_error(exc)}") from exc
    return True


def _instance_alive(ec2: Any, instance_id: str) -> bool:
    reply = ec2.describe_instances(InstanceIds=[instance_id])
    states = [i["State"]["Name"] for r in reply["Reservations"] for i in r["Instances"]]
    return any(state not in ("terminated", "shutting-down") for state in states)


# The stack's network: resource type → (EC2 describe call, its id parameter, its result key).
EC2_NETWORK_DESCRIBES = {
    "aws_vpc": ("describe_vpcs", "VpcIds", "Vpcs"),
    "aws_subnet": ("describe_subnets", "SubnetIds", "Subnets"),
    "aws_internet_gateway": (
        "describe_internet_gateways",
        "InternetGatewayIds",
        "InternetGateways",
    ),
    "aws_egress_only_internet_gateway": (
        "describe_egress_only_internet_gateways",
        "EgressOnlyInternetGatewayIds",
        "EgressOnlyInternetGateways",
    ),
    "aws_route_table": ("describe_route_tables", "RouteTableIds", "RouteTables"),
    "aws_vpc_endpoint": ("describe_vpc_endpoints", "VpcEndpointIds", "VpcEndpoints"),
}


def _ec2_network_exists(ec2: Any, rtype: str, rid: str) -> bool:
    call, id_parameter, result_key = EC2_NETWORK_DESCRIBES[rtype]
    found: list[dict[str, Any]] = []
    if not _exists(lambda: found.extend(getattr(ec2, call)(**{id_parameter: [rid]})[result_key])):
        return False
    # A deleted endpoint stays listed for a while, in state "deleted".
    return any(str(item.get("State", "")).lower() != "deleted" for item in found)


def _resource_exists(clients: AwsClients, rtype: str, values: dict[str, Any]) -> bool | None:
    """Whether one resource from the state still exists; None for types not checked."""
    rid = str(values.get("id"))
    if rtype in EC2_NETWORK_DESCRIBES:
        return _ec2_network_exists(clients.client("ec2"), rtype, rid)
    if rtype == "aws_cloudfront_distribution":
        return _exists(lambda: clients.client("cloudfront").get_distribution(Id=rid))
    if rtype == "aws_cloudfront_vpc_origin":
        return _exists(lambda: clients.client("cloudfront").get_vpc_origin(Id=rid))
    if rtype == "aws_autoscaling_group":  # a fleet's; DescribeAutoScalingGroups never 404s
        groups = clients.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[rid]
        )["AutoScalingGroups"]
        return bool(groups)
    if rtype == "aws_launch_template":  # AWS answers NotFound; the emulator, an empty list
        templates: list[dict[str, Any]] = []
        ec2 = clients.client("ec2")
        return _exists(
            lambda: templates.extend(
                ec2.describe_launch_templates(LaunchTemplateIds=[rid])["LaunchTemplates"]
            )
        ) and bool(templates)
    if rtype == "aws_lb":
        return _exists(
            lambda: clients.client("elbv2").describe_load_balancers(LoadBalancerArns=[rid])
        )
    if rtype == "aws_lb_target_group":
        return _exists(
            lambda: clients.client("elbv2").describe_target_groups(TargetGroupArns=[rid])
        )
    if rtype == "aws_instance":
        ec2 = clients.client("ec2")
        try:
            return _instance_alive(ec2, rid)
        except botocore.exceptions.ClientError:
            return False
    if rtype == "aws_security_group":
        return _exists(lambda: clients.client("ec2").describe_security_groups(GroupIds=[rid]))
    if rtype == "aws_s3_bucket":
        return _exists(lambda: clients.client("s3").head_bucket(Bucket=rid))
    if rtype == "aws_iam_role":
        return _exists(lambda: clients.client("iam").get_role(RoleName=values.get("name") or rid))
    if rtype == "aws_iam_instance_profile":
        name = values.get("name") or rid
        return _exists(lambda: clients.client("iam").get_instance_profile(InstanceProfileName=name))
    if rtype == "aws_cloudwatch_log_group":
        name = values.get("name") or rid
        groups = clients.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        return any(g["logGroupName"] == name for g in groups)
    if rtype == "aws_cloudwatch_dashboard":
        name = values.get("dashboard_name") or rid
        return _exists(lambda: clients.client("cloudwatch").get_dashboard(DashboardName=name))
    if rtype == "aws_cloudwatch_metric_alarm":
        name = values.get("alarm_name") or rid
        alarms = clients.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return bool(alarms)
    if rtype == "aws_cloudwatch_query_definition":
        name = values.get("name", "")
        found = clients.client("logs").describe_query_definitions(queryDefinitionNamePrefix=name)
        return any(
            d["queryDefinitionId"] == values.get("query_definition_id")
            for d in found.get("queryDefinitions", [])
        )
    return alert_resource_exists(clients, rtype, values)  # topic, function, schedule, key


def find_leftovers(
    clients: AwsClients, config: StackConfig, inventory: list[dict[str, Any]]
) -> list[str]:
    """What of the stack still exists: each resource the state held, plus everything that
    carries the stack's tag (or, untaggable, its names: `orphans.find_stack_resources`),
    plus the stack's well-known names (bucket, log groups)."""
    leftovers = []
    for resource in inventory:
        if _resource_exists(clients, resource["type"], resource["values"]):
            leftovers.append(resource["address"])
    leftovers += [found.describe() for found in find_stack_resources(clients, config)]

    if _exists(lambda: clients.client("s3").head_bucket(Bucket=config.bucket_name)):
        leftovers.append(f"bucket {config.bucket_name}")
    groups = clients.client("logs").describe_log_groups(logGroupNamePrefix=config.log_group_prefix)
    for group in groups["logGroups"]:
        if group["logGroupName"] in (config.access_log_group, config.error_log_group):
            leftovers.append(f"log group {group['logGroupName']}")
    return sorted(set(leftovers))
