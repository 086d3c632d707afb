"""A stack's resources found in the cloud by its tag, and their removal in dependency order.

Every resource of a stack carries the tag `cafepipe:stack = <stack>` (the provider's
default_tags, and `volume_tags`/`aws_ec2_tag` where default_tags do not reach). This module
finds them without Terraform: `status` lists those its state does not hold (orphans: made by
a run stopped at once, or by hand), `destroy` removes them, and its proof at the end is that
nothing tagged is left. A few kinds cannot carry tags — CloudWatch dashboards, Logs Insights
query definitions, EventBridge schedules, KMS aliases, the lake's Glue database and table and
its Athena named queries — and are found by the names only this stack uses
(`<stack>-dashboard`, `cafepipe/<stack>/…`, `cafepipe-<stack>-weekly-report`,
`alias/cafepipe-<stack>-alerts`, `cafepipe.deploy.lake`'s database and workgroup; the
workgroup is found by its name too, and its named queries through it). Nothing else
is ever touched: a resource without the stack's tag is left alone even inside a tagged VPC
(the VPC is then reported as not removable).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from cafepipe.aws import AwsClients, describe_client_error
from cafepipe.config import StackConfig
from cafepipe.deploy import lake
from cafepipe.errors import AwsError
from cafepipe.reporting import SILENT, Reporter

TAG_KEY = "cafepipe:stack"
AUTOSCALING_GROUP_TAG = "aws:autoscaling:groupName"  # on every instance a group launches

# Deletion order: what depends on something goes before it (CloudFront before the instance
# it reaches, instances before their network, the network's parts before the VPC, a role's
# profiles before the role).
KINDS: dict[str, str] = {
    "cloudfront_distribution": "CloudFront distribution",
    "cloudfront_vpc_origin": "CloudFront VPC origin",
    # A fleet: the group first (deleting it terminates its servers; left, it would start new
    # ones), the load balancer before its target group, the template once nothing uses it.
    "autoscaling_group": "Auto Scaling group",
    "load_balancer": "load balancer",
    "target_group": "target group",
    "launch_template": "launch template",
    "instance": "instance",
    "network_interface": "network interface",
    "vpc_endpoint": "VPC endpoint",
    "subnet": "subnet",
    "route_table": "route table",
    "internet_gateway": "internet gateway",
    "egress_only_internet_gateway": "egress-only internet gateway",
    "security_group": "security group",
    "vpc": "VPC",
    "bucket": "bucket",
    "log_group": "log group",
    "dashboard": "dashboard",
    "alarm": "alarm",
    "query_definition": "query definition",
    # The lake: saved queries before their workgroup, the table before its database.
    "athena_named_query": "Athena named query",
    "athena_workgroup": "Athena workgroup",
    "glue_table": "Glue table",
    "glue_database": "Glue database",
    # The alerts (with `alert_email`): the schedule and rule before the function they start,
    # the function before the topic it publishes to, the topic before its key.
    "schedule": "EventBridge schedule",
    "event_rule": "EventBridge rule",
    "function": "Lambda function",
    "topic": "SNS topic",
    "kms_alias": "KMS alias",
    "kms_key": "KMS key",
    "instance_profile": "instance profile",
    "role": "role",
}

# Codes that mean "already gone": deleting it again is done.
GONE_CODES = frozenset({
    "NoSuchBucket", "ResourceNotFoundException", "NoSuchEntity", "NoSuchDistribution",
    "EntityNotFoundException", "NoSuchVpcOrigin", "404", "NotFound",
    "InvalidInstanceID.NotFound", "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound", "InvalidRouteTableID.NotFound", "InvalidInternetGatewayID.NotFound",
    "InvalidNetworkInterfaceID.NotFound", "InvalidVpcEndpointId.NotFound",
    "InvalidGatewayID.NotFound", "InvalidEgressOnlyInternetGatewayId.NotFound",
    "LoadBalancerNotFound", "TargetGroupNotFound", "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateName.NotFoundException",
})  # fmt: skip
# Codes that mean "something still depends on it": AWS lets go of it a little later.
DEPENDENCY_CODES = frozenset({
    "DependencyViolation", "InvalidNetworkInterface.InUse", "ResourceInUse",
    "DistributionNotDisabled", "IllegalDelete", "CannotDelete",
})  # fmt: skip
# An endpoint that does not offer an API has none of its resources (CloudFront VPC origins
# on an emulator that predates them).
UNSUPPORTED_CODES = frozenset({"404", "NotImplemented", "InvalidAction", "UnknownOperation"})


@dataclass(frozen=True)
class Found:
    """One resource of the stack found in the cloud."""

    kind: str
    id: str
    name: str = ""
    by_name: bool = False  # cannot carry tags: found by the stack's own name

    def describe(self) -> str:
        what = f"{KINDS[self.kind]} {self.id}"
        if self.name and self.name != self.id:
            what += f" ({self.name})"
        return what + (" (by name)" if self.by_name else " (tagged)")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "by_name": self.by_name}


@dataclass
class Waits:
    """How long removal waits for AWS: `timeout` for what AWS does in its own time (an
    instance terminating, a distribution deploying its disabled state: up to ~15 minutes),
    `dependency_timeout` for AWS letting go of a network part once its user is gone."""

    timeout: float = 1800.0
    interval: float = 5.0
    dependency_timeout: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def until(self, done: Callable[[], bool], what: str) -> None:
        deadline = self.clock() + self.timeout
        while not done():
            if self.clock() >= deadline:
                raise AwsError(f"timed out after {self.timeout:.0f}s waiting for {what}")
            self.sleep(self.interval)


@dataclass
class Removal:
    """What removal did: the resources deleted and those that could not be."""

    deleted: list[Found] = field(default_factory=list)
    failed: list[tuple[Found, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": [f.as_dict() for f in self.deleted],
            "failed": [{**f.as_dict(), "reason": reason} for f, reason in self.failed],
        }


# ----------------------------------------------------------------------------- discovery


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _answers_gone(describe: Callable[..., Any], **request: Any) -> bool:
    """Whether describing a deleted resource says it is gone (a not-found code); any other
    error is raised."""
    try:
        describe(**request)
    except botocore.exceptions.ClientError as exc:
        if _code(exc) in GONE_CODES:
            return True
        raise
    return False


def _tags(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in items or []}


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])
    else:
        yield from getattr(client, operation)(**kwargs).get(key, [])


def _ec2(clients: AwsClients, config: StackConfig) -> list[Found]:
    ec2 = clients.client("ec2")
    tagged = [{"Name": f"tag:{TAG_KEY}", "Values": [config.stack]}]
    found: list[Found] = []

    def name_of(item: dict[str, Any]) -> str:
        return _tags(item.get("Tags")).get("Name", "")

    for template in _pages(ec2, "describe_launch_templates", "LaunchTemplates"):
        if _tags(template.get("Tags")).get(TAG_KEY) == config.stack:
            found.append(
                Found(
                    "launch_template", template["LaunchTemplateId"], template["LaunchTemplateName"]
                )
            )
    # A fleet's servers (and their interfaces) belong to its Auto Scaling group, which
    # replaces them on its own and takes them along when deleted: while the group exists
    # they are its, never orphans (terminating one would only make the group start another).
    in_group: set[str] = set()
    live_groups = _live_autoscaling_groups(clients)
    for reservation in _pages(ec2, "describe_instances", "Reservations", Filters=tagged):
        for instance in reservation.get("Instances", []):
            if instance["State"]["Name"] in ("terminated", "shutting-down"):
                continue
            if _tags(instance.get("Tags")).get(AUTOSCALING_GROUP_TAG) in live_groups:
                in_group.add(instance["InstanceId"])
                continue
            found.append(Found("instance", instance["InstanceId"], name_of(instance)))
    for eni in _pages(ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=tagged):
        if (eni.get("Attachment") or {}).get("InstanceId") in in_group:
            continue
        found.append(Found("network_interface", eni["NetworkInterfaceId"], name_of(eni)))
    for endpoint in _pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=tagged):
        if str(endpoint.get("State", "")).lower() not in ("deleted", "deleting"):
            found.append(Found("vpc_endpoint", endpoint["VpcEndpointId"], name_of(endpoint)))
    for subnet in _pages(ec2, "describe_subnets", "Subnets", Filters=tagged):
        found.append(Found("subnet", subnet["SubnetId"], name_of(subnet)))
    for table in _pages(ec2, "describe_route_tables", "RouteTables", Filters=tagged):
        if not any(a.get("Main") for a in table.get("Associations", [])):  # goes with its VPC
            found.append(Found("route_table", table["RouteTableId"], name_of(table)))
    for gateway in _pages(ec2, "describe_internet_gateways", "InternetGateways", Filters=tagged):
        found.append(Found("internet_gateway", gateway["InternetGatewayId"], name_of(gateway)))
    for gateway in _pages(
        ec2,
        "describe_egress_only_internet_gateways",
        "EgressOnlyInternetGateways",
        Filters=tagged,
    ):
        # Checked here too: moto ignores this call's filters and lists every stack's gateway,
        # and destroy must never touch another stack's.
        if _tags(gateway.get("Tags")).get(TAG_KEY) != config.stack:
            continue
        found.append(
            Found(
                "egress_only_internet_gateway",
                gateway["EgressOnlyInternetGatewayId"],
                name_of(gateway),
            )
        )
    for group in _pages(ec2, "describe_security_groups", "SecurityGroups", Filters=tagged):
        if group.get("GroupName") != "default":  # a VPC's default group goes with the VPC
            found.append(Found("security_group", group["GroupId"], group.get("GroupName", "")))
    for vpc in _pages(ec2, "describe_vpcs", "Vpcs", Filters=tagged):
        found.append(Found("vpc", vpc["VpcId"], name_of(vpc)))
    return found


def _live_autoscaling_groups(clients: AwsClients) -> set[str]:
    """Names of the Auto Scaling groups that exist and are not being deleted."""
    groups = _pages(
        clients.client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups"
    )
    return {g["AutoScalingGroupName"] for g in groups if g.get("Status") != "Delete in progress"}


def _autoscaling(clients: AwsClients, config: StackConfig) -> list[Found]:
    """A fleet's Auto Scaling group (its description carries its tags)."""
    found = []
    autoscaling = clients.client("autoscaling")
    for group in _pages(autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups"):
        if group.get("Status") == "Delete in progress":
            continue  # going already, with its servers
        if _tags(group.get("Tags")).get(TAG_KEY) == config.stack:
            found.append(Found("autoscaling_group", group["AutoScalingGroupName"]))
    return found


def _load_balancing(clients: AwsClients, config: StackConfig) -> list[Found]:
    """A fleet's load balancer and target group, by ARN (DescribeTags takes 20 at a time)."""
    elbv2 = clients.client("elbv2")
    names: dict[str, tuple[str, str]] = {}  # ARN → (kind, name)
    for balancer in _pages(elbv2, "describe_load_balancers", "LoadBalancers"):
        names[balancer["LoadBalancerArn"]] = ("load_balancer", balancer["LoadBalancerName"])
    for group in _pages(elbv2, "describe_target_groups", "TargetGroups"):
        names[group["TargetGroupArn"]] = ("target_group", group["TargetGroupName"])
    arns = sorted(names)
    found = []
    for start in range(0, len(arns), 20):
        reply = elbv2.describe_tags(ResourceArns=arns[start : start + 20])
        for description in reply.get("TagDescriptions", []):
            if _tags(description.get("Tags")).get(TAG_KEY) == config.stack:
                kind, name = names[description["ResourceArn"]]
                found.append(Found(kind, description["ResourceArn"], name))
    return found


def _buckets(clients: AwsClients, config: StackConfig) -> list[Found]:
    s3 = clients.client("s3")
    found = []
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
        except botocore.exceptions.ClientError:
            continue  # no tags, another region's, or not ours to read: not this stack's
        if tags.get(TAG_KEY) == config.stack:
            found.append(Found("bucket", name))
    return found


def _log_groups(clients: AwsClients, config: StackConfig) -> list[Found]:
    logs = clients.client("logs")
    found = []
    for group in _pages(logs, "describe_log_groups", "logGroups"):
        name = group["logGroupName"]
        try:
            tags = logs.list_tags_log_group(logGroupName=name).get("tags", {})
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in GONE_CODES:
                continue
            raise
        if tags.get(TAG_KEY) == config.stack:
            found.append(Found("log_group", name))
    return found


def _cloudwatch(clients: AwsClients, config: StackConfig) -> list[Found]:
    cloudwatch = clients.client("cloudwatch")
    found = []
    for alarm in _pages(cloudwatch, "describe_alarms", "MetricAlarms"):
        tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags")
        if _tags(tags).get(TAG_KEY) == config.stack:
            found.append(Found("alarm", alarm["AlarmName"]))
    dashboards = cloudwatch.list_dashboards(DashboardNamePrefix=config.dashboard_name)
    for dashboard in dashboards.get("DashboardEntries", []):
        if dashboard["DashboardName"] == config.dashboard_name:
            found.append(Found("dashboard", config.dashboard_name, by_name=True))
    return found


def query_folder(config: StackConfig) -> str:
    """The name prefix of the stack's saved Logs Insights queries."""
    return f"cafepipe/{config.stack}/"


def _query_definitions(clients: AwsClients, config: StackConfig) -> list[Found]:
    logs = clients.client("logs")
    prefix = query_folder(config)
    reply = logs.describe_query_definitions(queryDefinitionNamePrefix=prefix, maxResults=1000)
    return [
        Found("query_definition", d["queryDefinitionId"], d.get("name", ""), by_name=True)
        for d in reply.get("queryDefinitions", [])
        if str(d.get("name", "")).startswith(prefix)
    ]


def _lake(clients: AwsClients, config: StackConfig) -> list[Found]:
    """The lake's workgroup and its named queries, its Glue database and tables, by name.

    Ids are Terraform's (`<catalog>:<database>[:<table>]` for Glue), so that what the state
    holds is not reported as an orphan.
    """
    found = []
    athena = clients.client("athena")
    workgroup = lake.WORKGROUP(config.stack)
    if any(w.get("Name") == workgroup for w in _pages(athena, "list_work_groups", "WorkGroups")):
        for query_id in _pages(athena, "list_named_queries", "NamedQueryIds", WorkGroup=workgroup):
            found.append(Found("athena_named_query", str(query_id), workgroup, by_name=True))
        found.append(Found("athena_workgroup", workgroup, by_name=True))
    glue = clients.client("glue")
    database = lake.database_name(config.stack)
    try:
        catalog = glue.get_database(Name=database)["Database"].get("CatalogId", "")
    except botocore.exceptions.ClientError as exc:
        if _code(exc) in GONE_CODES:
            return found
        raise
    for table in _pages(glue, "get_tables", "TableList", DatabaseName=database):
        table_id = f"{table.get('CatalogId', catalog)}:{database}:{table['Name']}"
        found.append(Found("glue_table", table_id, table["Name"], by_name=True))
    found.append(Found("glue_database", f"{catalog}:{database}", database, by_name=True))
    return found


def _iam(clients: AwsClients, config: StackConfig) -> list[Found]:
    iam = clients.client("iam")
    found = []
    for role in _pages(iam, "list_roles", "Roles"):
        try:
            tags = iam.list_role_tags(RoleName=role["RoleName"]).get("Tags")
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in GONE_CODES:
                continue
            raise
        if _tags(tags).get(TAG_KEY) == config.stack:
            found.append(Found("role", role["RoleName"]))
    for profile in _pages(iam, "list_instance_profiles", "InstanceProfiles"):
        name = profile["InstanceProfileName"]
        try:  # the listing leaves tags out; the profile itself has them
            tags = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Tags")
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in GONE_CODES:
                continue
            raise
        if _tags(tags).get(TAG_KEY) == config.stack:
            found.append(Found("instance_profile", name))
    return found


def _cloudfront(clients: AwsClients, config: StackConfig) -> list[Found]:
    cloudfront = clients.client("cloudfront")
    found = []

    def tagged(arn: str) -> bool:
        items = cloudfront.list_tags_for_resource(Resource=arn).get("Tags", {}).get("Items")
        return _tags(items).get(TAG_KEY) == config.stack

    distributions = cloudfront.list_distributions().get("DistributionList", {})
    for item in distributions.get("Items", []) or []:
        if tagged(item["ARN"]):
            found.append(Found("cloudfront_distribution", item["Id"], item.get("Comment", "")))
    try:
        origins = cloudfront.list_vpc_origins().get("VpcOriginList", {})
    except botocore.exceptions.ClientError as exc:
        if _code(exc) in UNSUPPORTED_CODES:
            return found
        raise
    for item in origins.get("Items", []) or []:
        if tagged(item["Arn"]):
            found.append(Found("cloudfront_vpc_origin", item["Id"], item.get("Name", "")))
    return found


def _alerts(clients: AwsClients, config: StackConfig) -> list[Found]:
    """The alerts' topic, function, rule and key by tag; its schedule and alias by name."""
    prefix = f"cafepipe-{config.stack}-"
    found = []
    sns = clients.client("sns")
    for topic in _pages(sns, "list_topics", "Topics"):
        tags = sns.list_tags_for_resource(ResourceArn=topic["TopicArn"]).get("Tags")
        if _tags(tags).get(TAG_KEY) == config.stack:
            found.append(Found("topic", topic["TopicArn"], topic["TopicArn"].split(":")[-1]))
    functions = clients.client("lambda")
    for function in _pages(functions, "list_functions", "Functions"):
        tags = functions.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
        if tags.get(TAG_KEY) == config.stack:
            found.append(Found("function", function["FunctionName"]))
    events = clients.client("events")
    for rule in _pages(events, "list_rules", "Rules", NamePrefix=prefix):
        tags = events.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags")
        if _tags(tags).get(TAG_KEY) == config.stack:
            found.append(Found("event_rule", rule["Name"]))
    try:
        schedules = list(_pages(clients.client("scheduler"), "list_schedules", "Schedules",
                                NamePrefix=prefix))  # fmt: skip
    except botocore.exceptions.ClientError as exc:
        if _code(exc) not in UNSUPPORTED_CODES:
            raise
        schedules = []
    # Exact names: a prefix would also match another stack's ("cafe-x" starts with "cafe").
    schedule = f"{prefix}weekly-report"
    found += [
        Found("schedule", s["Name"], by_name=True) for s in schedules if s["Name"] == schedule
    ]
    kms = clients.client("kms")
    for key in _pages(kms, "list_keys", "Keys"):
        try:
            tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags")
            if (
                _tags({"Key": t.get("TagKey"), "Value": t.get("TagValue")} for t in tags or []).get(
                    TAG_KEY
                )
                != config.stack
            ):
                continue
            state = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"].get("KeyState")
        except botocore.exceptions.ClientError:
            continue  # AWS's own keys, or keys not ours to read: not this stack's
        if state not in ("PendingDeletion", "PendingReplicaDeletion"):
            found.append(Found("kms_key", key["KeyId"]))
    for alias in _pages(kms, "list_aliases", "Aliases"):
        if alias.get("AliasName") == f"alias/{prefix}alerts":
            found.append(Found("kms_alias", alias["AliasName"], by_name=True))
    return found


DISCOVERERS: tuple[Callable[[AwsClients, StackConfig], list[Found]], ...] = (
    _cloudfront,
    _autoscaling,
    _load_balancing,
    _ec2,
    _buckets,
    _log_groups,
    _cloudwatch,
    _query_definitions,
    _lake,
    _alerts,
    _iam,
)


def find_stack_resources(clients: AwsClients, config: StackConfig) -> list[Found]:
    """Every resource carrying the stack's tag (and its untaggable, named ones), in
    deletion order."""
    found: list[Found] = []
    for discover in DISCOVERERS:
        try:
            found += discover(clients, config)
        except botocore.exceptions.ClientError as exc:
            raise AwsError(
                f"could not look for the stack's resources: {describe_client_error(exc)}",
                "the credentials need read access to EC2, Auto Scaling, Elastic Load "
                "Balancing, S3, CloudWatch, Logs, IAM, CloudFront, SNS, Lambda, EventBridge, "
                "KMS, Glue and Athena to find what the stack left",
            ) from exc
    order = list(KINDS)
    return sorted(set(found), key=lambda f: (order.index(f.kind), f.id))


def known_ids(inventory: Iterable[dict[str, Any]]) -> set[str]:
    """Every identifier the resources of a Terraform state hold: their ids, names and ARNs,
    and the ids they record of what comes with them (an instance's network interface)."""
    ids: set[str] = set()
    for resource in inventory:
        values = resource.get("values") or {}
        ids.update(value for value in values.values() if isinstance(value, str) and value)
    return ids


def find_orphans(
    clients: AwsClients, config: StackConfig, inventory: Iterable[dict[str, Any]]
) -> list[Found]:
    """The stack's resources in the cloud that its Terraform state does not hold."""
    known = known_ids(inventory)
    return [f for f in find_stack_resources(clients, config) if f.id not in known]


# ----------------------------------------------------------------------------- removal


def remove_resources(
    clients: AwsClients,
    found: Iterable[Found],
    reporter: Reporter = SILENT,
    waits: Waits | None = None,
) -> Removal:
    """Delete the resources found, in dependency order; what fails is reported, not raised,
    so everything else still goes (run it again once the cause is fixed)."""
    waits = waits or Waits()
    removal = Removal()
    by_kind: dict[str, list[Found]] = {}
    for item in found:
        by_kind.setdefault(item.kind, []).append(item)
    for kind in KINDS:
        items = sorted(by_kind.get(kind, []), key=lambda f: f.id)
        if not items:
            continue
        with reporter.status(f"deleting {len(items)} {KINDS[kind]}(s) left by the stack…"):
            if kind in _BATCH_DELETERS:
                _delete_batch(kind, clients, items, waits, removal)
                continue
            for item in items:
                try:
                    _retry_while_in_use(_DELETERS[kind], clients, item, waits)
                except botocore.exceptions.ClientError as exc:
                    if _code(exc) in GONE_CODES:
                        removal.deleted.append(item)
                        continue
                    removal.failed.append((item, describe_client_error(exc)))
                except AwsError as exc:
                    removal.failed.append((item, exc.message))
                else:
                    removal.deleted.append(item)
    for item in removal.deleted:
        reporter.say(f"  deleted {item.describe()}")
    return removal


def _delete_batch(
    kind: str, clients: AwsClients, items: list[Found], waits: Waits, removal: Removal
) -> None:
    try:
        _BATCH_DELETERS[kind](clients, items, waits)
    except botocore.exceptions.ClientError as exc:
        removal.failed += [(item, describe_client_error(exc)) for item in items]
    except AwsError as exc:
        removal.failed += [(item, exc.message) for item in items]
    else:
        removal.deleted += items


def _retry_while_in_use(
    delete: Callable[[AwsClients, Found, Waits], None],
    clients: AwsClients,
    item: Found,
    waits: Waits,
) -> None:
    """AWS lets go of a network part a little after what used it is gone: retry on
    DependencyViolation (and kin) for up to `dependency_timeout`."""
    deadline = waits.clock() + waits.dependency_timeout
    while True:
        try:
            delete(clients, item, waits)
            return
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in DEPENDENCY_CODES or waits.clock() >= deadline:
                raise
        waits.sleep(waits.interval)


def _delete_autoscaling_group(clients: AwsClients, item: Found, waits: Waits) -> None:
    """Delete the group with its servers (ForceDelete), and wait until AWS has: a group being
    deleted still holds its servers and the launch template."""
    autoscaling = clients.client("autoscaling")
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=item.id, ForceDelete=True)

    def gone() -> bool:
        reply = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[item.id])
        return not reply.get("AutoScalingGroups")

    waits.until(gone, f"Auto Scaling group {item.id} to be deleted")


def _delete_load_balancer(clients: AwsClients, item: Found, waits: Waits) -> None:
    """Delete the load balancer (its listeners go with it); its network interfaces in the
    stack's subnets are released a little later, which the subnets then wait for."""
    elbv2 = clients.client("elbv2")
    elbv2.delete_load_balancer(LoadBalancerArn=item.id)
    waits.until(
        lambda: _answers_gone(elbv2.describe_load_balancers, LoadBalancerArns=[item.id]),
        f"load balancer {item.name or item.id} to be deleted",
    )


def _terminate_instances(clients: AwsClients, items: list[Found], waits: Waits) -> None:
    ec2 = clients.client("ec2")
    ids = [item.id for item in items]
    ec2.terminate_instances(InstanceIds=ids)

    def all_terminated() -> bool:
        reply = ec2.describe_instances(InstanceIds=ids)
        states = [i["State"]["Name"] for r in reply["Reservations"] for i in r["Instances"]]
        return all(state == "terminated" for state in states)

    waits.until(all_terminated, f"instances {', '.join(ids)} to terminate")


def _delete_vpc_endpoints(clients: AwsClients, items: list[Found], waits: Waits) -> None:
    ec2 = clients.client("ec2")
    ids = [item.id for item in items]
    reply = ec2.delete_vpc_endpoints(VpcEndpointIds=ids)
    if reply.get("Unsuccessful"):
        problem = reply["Unsuccessful"][0].get("Error", {})
        raise AwsError(f"could not delete VPC endpoints: {problem.get('Message', problem)}")

    def all_gone() -> bool:
        try:
            endpoints = ec2.describe_vpc_endpoints(VpcEndpointIds=ids)["VpcEndpoints"]
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in GONE_CODES:
                return True
            raise
        return all(str(e.get("State", "")).lower() == "deleted" for e in endpoints)

    waits.until(all_gone, "VPC endpoints to be deleted")


def _delete_route_table(clients: AwsClients, item: Found, _waits: Waits) -> None:
    ec2 = clients.client("ec2")
    tables = ec2.describe_route_tables(RouteTableIds=[item.id])["RouteTables"]
    for association in tables[0].get("Associations", []) if tables else []:
        if not association.get("Main") and association.get("RouteTableAssociationId"):
            ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=item.id)


def _delete_internet_gateway(clients: AwsClients, item: Found, _waits: Waits) -> None:
    ec2 = clients.client("ec2")
    gateways = ec2.describe_internet_gateways(InternetGatewayIds=[item.id])["InternetGateways"]
    for attachment in gateways[0].get("Attachments", []) if gateways else []:
        ec2.detach_internet_gateway(InternetGatewayId=item.id, VpcId=attachment["VpcId"])
    ec2.delete_internet_gateway(InternetGatewayId=item.id)


def _delete_security_group(clients: AwsClients, item: Found, _waits: Waits) -> None:
    ec2 = clients.client("ec2")
    groups = ec2.describe_security_groups(GroupIds=[item.id])["SecurityGroups"]
    # Rules may name other groups (which then cannot be deleted): take them out first.
    if groups and groups[0].get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=item.id, IpPermissions=groups[0]["IpPermissions"])
    if groups and groups[0].get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(
            GroupId=item.id, IpPermissions=groups[0]["IpPermissionsEgress"]
        )
    ec2.delete_security_group(GroupId=item.id)


def _empty_and_delete_bucket(clients: AwsClients, item: Found, _waits: Waits) -> None:
    s3 = clients.client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=item.id):
        objects = [
            {"Key": o["Key"], "VersionId": o["VersionId"]}
            for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(objects), 1000):  # DeleteObjects takes 1,000 at a time
            reply = s3.delete_objects(
                Bucket=item.id, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
            )
            if reply.get("Errors"):
                problem = reply["Errors"][0]
                raise AwsError(f"could not empty the bucket: {problem.get('Message', problem)}")
    s3.delete_bucket(Bucket=item.id)


def _delete_instance_profile(clients: AwsClients, item: Found, _waits: Waits) -> None:
    iam = clients.client("iam")
    profile = iam.get_instance_profile(InstanceProfileName=item.id)["InstanceProfile"]
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=item.id, RoleName=role["RoleName"]
        )
    iam.delete_instance_profile(InstanceProfileName=item.id)


def _delete_role(clients: AwsClients, item: Found, _waits: Waits) -> None:
    iam = clients.client("iam")
    # A profile without the stack's tag is not ours to change: then the role stays too.
    for profile in _pages(
        iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=item.id
    ):
        raise AwsError(
            f"role {item.id} is in instance profile {profile['InstanceProfileName']}, which "
            "does not carry the stack's tag: left alone"
        )
    for name in list(_pages(iam, "list_role_policies", "PolicyNames", RoleName=item.id)):
        iam.delete_role_policy(RoleName=item.id, PolicyName=name)
    for policy in list(
        _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=item.id)
    ):
        iam.detach_role_policy(RoleName=item.id, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=item.id)


def _delete_distribution(clients: AwsClients, item: Found, waits: Waits) -> None:
    """Disable, wait until CloudFront has deployed that, then delete (its only order)."""
    cloudfront = clients.client("cloudfront")
    reply = cloudfront.get_distribution_config(Id=item.id)
    config, etag = reply["DistributionConfig"], reply["ETag"]
    if config.get("Enabled"):
        config["Enabled"] = False
        etag = cloudfront.update_distribution(Id=item.id, IfMatch=etag, DistributionConfig=config)[
            "ETag"
        ]

    def deployed() -> bool:
        distribution = cloudfront.get_distribution(Id=item.id)["Distribution"]
        return str(distribution.get("Status")) == "Deployed"

    waits.until(deployed, f"CloudFront distribution {item.id} to be disabled")
    etag = cloudfront.get_distribution(Id=item.id)["ETag"]
    cloudfront.delete_distribution(Id=item.id, IfMatch=etag)


def _delete_vpc_origin(clients: AwsClients, item: Found, waits: Waits) -> None:
    cloudfront = clients.client("cloudfront")
    etag = cloudfront.get_vpc_origin(Id=item.id)["ETag"]
    cloudfront.delete_vpc_origin(Id=item.id, IfMatch=etag)
    # Its network interfaces in the stack's subnet go with it: the subnet waits for that.
    waits.until(
        lambda: _answers_gone(cloudfront.get_vpc_origin, Id=item.id),
        f"CloudFront VPC origin {item.id} to be deleted",
    )


def _delete_event_rule(clients: AwsClients, item: Found, _waits: Waits) -> None:
    events = clients.client("events")
    targets = [t["Id"] for t in events.list_targets_by_rule(Rule=item.id).get("Targets", [])]
    if targets:  # a rule with targets cannot be deleted
        events.remove_targets(Rule=item.id, Ids=targets)
    events.delete_rule(Name=item.id)


def _delete_kms_key(clients: AwsClients, item: Found, _waits: Waits) -> None:
    # A key is never deleted at once: AWS waits out a window (7 days, the shortest), during
    # which it can be cancelled; it is unusable meanwhile and no longer counts as the stack's.
    clients.client("kms").schedule_key_deletion(KeyId=item.id, PendingWindowInDays=7)


def _delete_glue_table(clients: AwsClients, item: Found, _waits: Waits) -> None:
    catalog, database, name = item.id.split(":", 2)
    clients.client("glue").delete_table(CatalogId=catalog, DatabaseName=database, Name=name)


def _delete_glue_database(clients: AwsClients, item: Found, _waits: Waits) -> None:
    catalog, name = item.id.split(":", 1)
    clients.client("glue").delete_database(CatalogId=catalog, Name=name)


def _ec2_call(operation: str, parameter: str) -> Callable[[AwsClients, Found, Waits], None]:
    def delete(clients: AwsClients, item: Found, _waits: Waits) -> None:
        getattr(clients.client("ec2"), operation)(**{parameter: item.id})

    return delete


_BATCH_DELETERS: dict[str, Callable[[AwsClients, list[Found], Waits], None]] = {
    "instance": _terminate_instances,
    "vpc_endpoint": _delete_vpc_endpoints,
}
_DELETERS: dict[str, Callable[[AwsClients, Found, Waits], None]] = {
    "cloudfront_distribution": _delete_distribution,
    "cloudfront_vpc_origin": _delete_vpc_origin,
    "autoscaling_group": _delete_autoscaling_group,
    "load_balancer": _delete_load_balancer,
    # In use while a listener forwards to it: retried until the load balancer is gone.
    "target_group": lambda c, item, _w: c.client("elbv2").delete_target_group(
        TargetGroupArn=item.id
    ),
    "launch_template": _ec2_call("delete_launch_template", "LaunchTemplateId"),
    "network_interface": _ec2_call("delete_network_interface", "NetworkInterfaceId"),
    "subnet": _ec2_call("delete_subnet", "SubnetId"),
    "route_table": _delete_route_table,
    "internet_gateway": _delete_internet_gateway,
    "egress_only_internet_gateway": _ec2_call(
        "delete_egress_only_internet_gateway", "EgressOnlyInternetGatewayId"
    ),
    "security_group": _delete_security_group,
    "vpc": _ec2_call("delete_vpc", "VpcId"),
    "bucket": _empty_and_delete_bucket,
    "log_group": lambda c, item, _w: c.client("logs").delete_log_group(logGroupName=item.id),
    "dashboard": lambda c, item, _w: c.client("cloudwatch").delete_dashboards(
        DashboardNames=[item.id]
    ),
    "alarm": lambda c, item, _w: c.client("cloudwatch").delete_alarms(AlarmNames=[item.id]),
    "query_definition": lambda c, item, _w: c.client("logs").delete_query_definition(
        queryDefinitionId=item.id
    ),
    "athena_named_query": lambda c, item, _w: c.client("athena").delete_named_query(
        NamedQueryId=item.id
    ),
    # Recursive: query history and any saved query made by hand go with it.
    "athena_workgroup": lambda c, item, _w: c.client("athena").delete_work_group(
        WorkGroup=item.id, RecursiveDeleteOption=True
    ),
    "glue_table": _delete_glue_table,
    "glue_database": _delete_glue_database,
    "schedule": lambda c, item, _w: c.client("scheduler").delete_schedule(Name=item.id),
    "event_rule": _delete_event_rule,
    "function": lambda c, item, _w: c.client("lambda").delete_function(FunctionName=item.id),
    "topic": lambda c, item, _w: c.client("sns").delete_topic(TopicArn=item.id),
    "kms_alias": lambda c, item, _w: c.client("kms").delete_alias(AliasName=item.id),
    "kms_key": _delete_kms_key,
    "instance_profile": _delete_instance_profile,
    "role": _delete_role,
}
