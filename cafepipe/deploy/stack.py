"""The stack's lifecycle: plan, up, status, destroy (and the proof that destroy left nothing).

Plain functions over a `Stack` (config + AWS clients + Terraform runner); the CLI and the
demo call them, and so can tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from cafepipe.aws import AwsClients, credential_env, describe_client_error
from cafepipe.config import StackConfig
from cafepipe.deploy.emulator import is_listening
from cafepipe.deploy.terraform import EventCallback, TerraformRunner, select_backend
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


def prepare(stack: Stack) -> None:
    """Render the stack and `terraform init` it (offline mirror on the emulator)."""
    from cafepipe.deploy.render import render_stack

    render_stack(stack.config)
    write_backend_config(stack.config)
    stack.runner.init()


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


def plan_stack(stack: Stack, on_event: EventCallback | None = None) -> PlanSummary:
    """Render, init and plan; the saved plan is what `up` applies."""
    prepare(stack)
    result = stack.runner.plan(on_event)
    return summarize_plan_events(result.events)


def check_access(stack: Stack) -> None:
    """Fail before Terraform runs when there is no endpoint or no credentials to run it with."""
    url = stack.config.endpoint_url
    if url and not is_listening(url):
        raise AwsError(
            f"nothing answers at the endpoint {url}",
            "start the emulator (cafepipe emulator start) or fix --endpoint-url / AWS_ENDPOINT_URL",
        )
    stack.clients.check_credentials()


def apply_plan(stack: Stack, on_event: EventCallback | None = None) -> dict[str, Any]:
    """Apply the plan saved by `plan_stack`; return the stack's outputs."""
    stack.runner.apply(on_event)
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
    with reporter.terraform("planning") as on_event:
        summary = plan_stack(stack, on_event)
    if summary.empty:
        outputs = stack.runner.outputs()
    else:
        approve(summary)
        expected = summary.add + summary.change + summary.destroy
        with reporter.terraform("applying", expected) as on_event:
            outputs = apply_plan(stack, on_event)
    return UpResult(summary, outputs, round(time.monotonic() - started, 1))


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
    """Outputs, resources, the instance's state and drift (a non-empty plan)."""
    config = stack.config
    if not (config.terraform_dir / ".terraform").is_dir():
        return {"stack": config.stack, "deployed": False, "resources": []}
    resources = stack.runner.state_resources()
    if not resources:
        return {"stack": config.stack, "deployed": False, "resources": []}
    outputs = stack.runner.outputs()
    drift = summarize_plan_events(stack.runner.plan(save=False).events)
    return {
        "stack": config.stack,
        "deployed": True,
        "region": config.region,
        "endpoint_url": config.endpoint_url,
        "outputs": outputs,
        "resources": resources,
        "instance_state": instance_state(stack.clients, outputs.get("instance_id")),
        "drift": drift.as_dict(),
        "in_sync": drift.empty,
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


def destroy_stack(stack: Stack, reporter: Reporter = SILENT) -> dict[str, Any]:
    """terraform destroy, then check that nothing of the stack remains."""
    prepare(stack)
    inventory = state_inventory(stack)
    started = time.monotonic()
    with reporter.terraform("destroying", len(inventory) or None) as on_event:
        stack.runner.destroy(on_event)
    leftovers = find_leftovers(stack.clients, stack.config, inventory)
    report = {
        "stack": stack.config.stack,
        "destroyed": len(inventory),
        "seconds": round(time.monotonic() - started, 1),
        "leftovers": leftovers,
    }
    if leftovers:
        raise CafepipeError(
            "destroy finished but these resources of the stack still exist:\n  "
            + "\n  ".join(leftovers),
            "re-run `cafepipe destroy`; if they stay, delete them in the console",
        )
    return report


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
    return None


def find_leftovers(
    clients: AwsClients, config: StackConfig, inventory: list[dict[str, Any]]
) -> list[str]:
    """What of the stack still exists: each resource the state held, plus anything tagged
    with the stack that the state did not know about (instances, security groups, VPCs), plus
    the stack's well-known names (bucket, log groups, dashboard)."""
    leftovers = []
    for resource in inventory:
        if _resource_exists(clients, resource["type"], resource["values"]):
            leftovers.append(resource["address"])

    tag_filter = [{"Name": "tag:cafepipe:stack", "Values": [config.stack]}]
    ec2 = clients.client("ec2")
    for reservation in ec2.describe_instances(Filters=tag_filter)["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] not in ("terminated", "shutting-down"):
                leftovers.append(f"instance {instance['InstanceId']} (tagged)")
    for group in ec2.describe_security_groups(Filters=tag_filter)["SecurityGroups"]:
        leftovers.append(f"security group {group['GroupId']} (tagged)")
    for vpc in ec2.describe_vpcs(Filters=tag_filter)["Vpcs"]:
        leftovers.append(f"VPC {vpc['VpcId']} (tagged)")

    if _exists(lambda: clients.client("s3").head_bucket(Bucket=config.bucket_name)):
        leftovers.append(f"bucket {config.bucket_name}")
    groups = clients.client("logs").describe_log_groups(logGroupNamePrefix=config.log_group_prefix)
    for group in groups["logGroups"]:
        if group["logGroupName"] in (config.access_log_group, config.error_log_group):
            leftovers.append(f"log group {group['logGroupName']}")
    dashboards = clients.client("cloudwatch").list_dashboards(
        DashboardNamePrefix=config.dashboard_name
    )
    for dashboard in dashboards.get("DashboardEntries", []):
        if dashboard["DashboardName"] == config.dashboard_name:
            leftovers.append(f"dashboard {config.dashboard_name}")
    return sorted(set(leftovers))
