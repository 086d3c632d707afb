"""The whole stack, for real: the bundled Terraform and hashicorp/aws 3.39.0 against moto.

`up` creates it; the security properties are read back through boto3 (not from templates);
a second plan is empty; `destroy` leaves nothing of the stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cafepipe.aws import AwsClients
from cafepipe.cli import cli
from cafepipe.config import STACK_OUTPUTS, load_config
from cafepipe.deploy.emulator import EmulatorInfo

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("stack")]

STACK = "itest"
CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"


def _run(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def _invoke(args: list[str]) -> Any:
    result = _run(args)
    return json.loads(result.stdout) if "--json" in args else result.stdout


class Deployed:
    def __init__(self, emulator: EmulatorInfo, state_dir: Path) -> None:
        self.url = emulator.url
        self.base = ["--stack", STACK, "--state-dir", str(state_dir), "--endpoint-url", self.url]
        self.config = load_config(
            None,
            {"stack": STACK, "state_dir": str(state_dir), "endpoint_url": self.url},
            environ={},
        )
        self.outputs: dict[str, Any] = {}
        self.up_messages = ""

    def client(self, service: str) -> Any:
        return AwsClients("us-east-1", self.url).client(service)


@pytest.fixture(scope="module")
def deployed(
    emulator: EmulatorInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    stack = Deployed(emulator, tmp_path_factory.mktemp("state"))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        result = _run([*stack.base, "up", "--yes", "--json"])
        stack.outputs = json.loads(result.stdout)
        stack.up_messages = result.stderr
        yield stack
        # Cleanup only: what destroy removes is tested end to end in test_simulate_e2e.py.
        _run([*stack.base, "destroy", "--yes"])


def test_outputs(deployed: Deployed) -> None:
    outputs = deployed.outputs
    for name in STACK_OUTPUTS:
        assert outputs.get(name), name
    assert outputs["bucket_name"] == deployed.config.bucket_name
    assert outputs["access_log_group"] == f"{STACK}/apache/access"
    assert outputs["site_url"].startswith("http://") and outputs["site_url"].endswith("/cafe")


def test_up_shows_plan_and_monthly_cost(deployed: Deployed) -> None:
    assert "to add, 0 to change, 0 to destroy" in deployed.up_messages
    assert "Estimated cost: $" in deployed.up_messages
    assert "/month" in deployed.up_messages


def test_instance_is_locked_down(deployed: Deployed) -> None:
    ec2 = deployed.client("ec2")
    reservations = ec2.describe_instances(InstanceIds=[deployed.outputs["instance_id"]])[
        "Reservations"
    ]
    instance = reservations[0]["Instances"][0]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    assert "KeyName" not in instance  # no key pair: SSM only
    assert instance["InstanceType"] == "t4g.nano"
    assert "instance-profile" in instance["IamInstanceProfile"]["Arn"]
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    assert volumes and all(v["Encrypted"] for v in volumes)
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    assert tags["cafepipe:stack"] == STACK
    # In a subnet, the provider launches through a network interface spec; the emulator then
    # reports the groups on the interface only.
    group_ids = {
        g["GroupId"]
        for g in instance["SecurityGroups"]
        + [g for i in instance["NetworkInterfaces"] for g in i["Groups"]]
    }
    groups = ec2.describe_security_groups(GroupIds=sorted(group_ids))["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == [f"cafepipe-{STACK}-web"]
    cloudfront = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [CLOUDFRONT_PREFIX_LIST]}]
    )["PrefixLists"][0]["PrefixListId"]
    for group in groups:
        for rule in group["IpPermissions"]:  # HTTP from CloudFront only; no SSH
            assert (rule.get("FromPort"), rule.get("ToPort")) == (80, 80), rule
            assert [p["PrefixListId"] for p in rule["PrefixListIds"]] == [cloudfront]
            assert rule["IpRanges"] == [] and rule.get("Ipv6Ranges", []) == []
        for rule in group["IpPermissionsEgress"]:  # HTTPS out, never to the IPv4 internet
            assert (rule.get("FromPort"), rule.get("ToPort")) == (443, 443), rule
            assert rule["IpRanges"] == [], rule


def test_server_has_no_public_ipv4_and_only_ipv6_and_s3_routes_out(deployed: Deployed) -> None:
    """site_access = "cloudfront": the $3.65/month public IPv4 address is gone, not hidden."""
    ec2 = deployed.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[deployed.outputs["instance_id"]])[
        "Reservations"
    ][0]["Instances"][0]
    assert not instance.get("PublicIpAddress")
    assert deployed.outputs["site_url"] == f"http://{instance['PrivateIpAddress']}/cafe"
    interfaces = instance["NetworkInterfaces"]
    assert not any(i.get("Association", {}).get("PublicIp") for i in interfaces)
    # (The emulator ignores the interface spec's IPv6 address count: the subnet shows it.)
    subnet = ec2.describe_subnets(SubnetIds=[instance["SubnetId"]])["Subnets"][0]
    assert subnet["MapPublicIpOnLaunch"] is False
    assert subnet["AssignIpv6AddressOnCreation"] is True
    assert [a["Ipv6CidrBlock"][-3:] for a in subnet["Ipv6CidrBlockAssociationSet"]] == ["/64"]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    assert subnet["VpcId"] != default_vpc["Vpcs"][0]["VpcId"]
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
    )["RouteTables"]
    routes = [route for table in tables for route in table["Routes"]]
    # No route to the internet gateway: IPv4 stays inside the VPC (and S3's gateway endpoint).
    assert not any(r.get("GatewayId", "").startswith("igw-") for r in routes), routes
    ipv6_out = [r for r in routes if r.get("DestinationIpv6CidrBlock") == "::/0"]
    assert [r.get("EgressOnlyInternetGatewayId", "")[:5] for r in ipv6_out] == ["eigw-"]
    endpoints = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]}]
    )["VpcEndpoints"]
    assert [(e["ServiceName"], e["VpcEndpointType"]) for e in endpoints] == [
        ("com.amazonaws.us-east-1.s3", "Gateway")
    ]
    assert tables[0]["RouteTableId"] in endpoints[0]["RouteTableIds"]


def test_bucket_is_private_encrypted_and_tls_only(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    bucket = deployed.outputs["bucket_name"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny_insecure = [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Deny"
        and "false" in json.dumps(s.get("Condition", {}))
        and "aws:SecureTransport" in json.dumps(s)
    ]
    assert deny_insecure, policy
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    prefixes = {
        json.dumps(r.get("Filter", r.get("Prefix", ""))) for r in lifecycle if r.get("Expiration")
    }
    assert any("simulated-logs/" in p for p in prefixes) and any("archive/" in p for p in prefixes)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["cafepipe:stack"] == STACK


def test_logs_metrics_alarms_dashboard(deployed: Deployed) -> None:
    logs = deployed.client("logs")
    prefix = f"{STACK}/apache/"
    groups = {
        g["logGroupName"]: g
        for g in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    }
    assert set(groups) == {f"{prefix}access", f"{prefix}error"}
    assert all(g.get("retentionInDays") == 180 for g in groups.values())
    filters = logs.describe_metric_filters(logGroupName=f"{prefix}access")["metricFilters"]
    assert len(filters) >= 3  # 4xx, 5xx, orders
    cloudwatch = deployed.client("cloudwatch")
    alarms = cloudwatch.describe_alarms()["MetricAlarms"]
    stack_alarms = [
        a
        for a in alarms
        if a["MetricName"] in {f["metricTransformations"][0]["metricName"] for f in filters}
    ]
    assert stack_alarms, "an alarm on a metric of the stack's filters (5xx)"
    body = json.loads(
        cloudwatch.get_dashboard(DashboardName=deployed.outputs["dashboard_name"])["DashboardBody"]
    )
    kinds = [w["type"] for w in body["widgets"]]
    assert "text" in kinds and "log" in kinds
    queries = [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]
    assert any("/cafe/menu.php" in q for q in queries) and any(
        "processOrder.php" in q for q in queries
    )
    assert all(f"SOURCE '{prefix}access'" in q for q in queries)
    saved = logs.describe_query_definitions()["queryDefinitions"]
    assert [d for d in saved if f"{prefix}access" in d["logGroupNames"]], (
        "saved Logs Insights queries"
    )


def test_instance_role_is_least_privilege(deployed: Deployed) -> None:
    """What the server may do, read back from IAM: ship its logs, run the SSM agent, read the
    simulated logs and write the archive. Nothing managed, no retention, no parameters."""
    iam = deployed.client("iam")
    ec2 = deployed.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[deployed.outputs["instance_id"]])[
        "Reservations"
    ][0]["Instances"][0]
    profile_name = instance["IamInstanceProfile"]["Arn"].split("/")[-1]
    roles = iam.get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]["Roles"]
    role = roles[0]["RoleName"]
    # No managed policy: AmazonSSMManagedInstanceCore would add ssm:GetParameter(s) on "*".
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        statements += document["Statement"]
    assert statements and all(s["Effect"] == "Allow" for s in statements)

    def listed(value: str | list[str]) -> list[str]:
        return value if isinstance(value, list) else [value]

    grants: dict[str, set[str]] = {}  # action → resources
    for statement in statements:
        for action in listed(statement["Action"]):
            assert "*" not in action, statement  # every action named
            grants.setdefault(action, set()).update(listed(statement["Resource"]))
    bucket = deployed.outputs["bucket_name"]
    account = deployed.client("sts").get_caller_identity()["Account"]
    log_groups = [
        f"arn:aws:logs:us-east-1:{account}:log-group:{deployed.outputs[key]}"
        for key in ("access_log_group", "error_log_group")
    ]
    ssm_agent_channels = {
        *(f"ec2messages:{a}" for a in ("AcknowledgeMessage", "DeleteMessage", "FailMessage",
                                       "GetEndpoint", "GetMessages", "SendReply")),
        *(f"ssmmessages:{a}" for a in ("CreateControlChannel", "CreateDataChannel",
                                       "OpenControlChannel", "OpenDataChannel")),
    }  # fmt: skip
    assert grants == {
        # The CloudWatch agent, with no retention_in_days: a stream and its events, no more.
        "logs:CreateLogStream": {f"{arn}{tail}" for arn in log_groups for tail in ("", ":*")},
        "logs:PutLogEvents": {f"{arn}{tail}" for arn in log_groups for tail in ("", ":*")},
        # PutMetricData has no resource type (narrowed by a namespace condition).
        "cloudwatch:PutMetricData": {"*"},
        # The SSM agent: its heartbeat on EC2 instances, its message channels (no resource).
        "ssm:UpdateInstanceInformation": {f"arn:aws:ec2:us-east-1:{account}:instance/*"},
        **{action: {"*"} for action in ssm_agent_channels},
        "s3:ListBucket": {f"arn:aws:s3:::{bucket}"},
        "s3:GetObject": {f"arn:aws:s3:::{bucket}/simulated-logs/*"},
        "s3:PutObject": {f"arn:aws:s3:::{bucket}/archive/*"},
    }
    metrics = next(s for s in statements if "cloudwatch:PutMetricData" in listed(s["Action"]))
    assert listed(metrics["Condition"]["StringEquals"]["cloudwatch:namespace"]) == ["CWAgent"]
    listing = next(s for s in statements if "s3:ListBucket" in listed(s["Action"]))
    assert listed(listing["Condition"]["StringLike"]["s3:prefix"]) == ["simulated-logs/*"]


def test_the_lake_is_deployed(deployed: Deployed) -> None:
    """Glue table with projection, enforced workgroup, one named query per insight (the
    checks live with the lake's other tests; this apply serves both)."""
    from test_lake_integration import assert_lake_deployed

    assert_lake_deployed(deployed.client, deployed.config, deployed.outputs)


def test_second_plan_is_empty(deployed: Deployed) -> None:
    plan = _invoke([*deployed.base, "plan", "--json"])
    assert (plan["add"], plan["change"], plan["destroy"]) == (0, 0, 0), plan


def test_status_reports_in_sync(deployed: Deployed) -> None:
    status = _invoke([*deployed.base, "status", "--json"])
    assert status["deployed"] is True
    assert status["in_sync"] is True
    assert status["instance_state"] == "running"
    assert status["outputs"]["instance_id"] == deployed.outputs["instance_id"]
    assert status["orphans"] == [] and status["locked_by"] is None


def test_every_resource_carries_the_stack_tag(deployed: Deployed) -> None:
    """default_tags on all that take tags; volume_tags and aws_ec2_tag where they do not reach."""
    from cafepipe.deploy.stack import open_stack, state_inventory

    inventory = state_inventory(open_stack(deployed.config))
    taggable = [r for r in inventory if "tags_all" in r["values"]]
    assert len(taggable) > 15
    for resource in taggable:
        assert (resource["values"]["tags_all"] or {}).get("cafepipe:stack") == STACK, resource[
            "address"
        ]
    ec2 = deployed.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[deployed.outputs["instance_id"]])[
        "Reservations"
    ][0]["Instances"][0]
    volumes = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    interfaces = [i["NetworkInterfaceId"] for i in instance["NetworkInterfaces"]]
    assert volumes and interfaces
    for item in (
        ec2.describe_volumes(VolumeIds=volumes)["Volumes"]
        + ec2.describe_network_interfaces(NetworkInterfaceIds=interfaces)["NetworkInterfaces"]
    ):
        tags = {t["Key"]: t["Value"] for t in item.get("Tags") or item.get("TagSet") or []}
        assert tags.get("cafepipe:stack") == STACK, item


def test_status_never_waits_for_the_lock(deployed: Deployed) -> None:
    """While another command holds the stack's lock, status answers at once and says who."""
    import subprocess
    import sys
    import time

    hold = (
        "import sys\nfrom cafepipe.config import load_config\n"
        "from cafepipe.deploy.lock import stack_lock\n"
        f"config = load_config(None, {{'state_dir': {str(deployed.config.state_root)!r}, "
        f"'stack': {STACK!r}}}, environ={{}})\n"
        "with stack_lock(config, 'simulate-logs'):\n"
        "    print('held', flush=True)\n    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        status = _invoke([*deployed.base, "status", "--json"])
        assert time.monotonic() - started < 60
        assert f"`cafepipe simulate-logs` (pid {holder.pid}" in status["locked_by"]
        assert status["in_sync"] is None and status["drift"] is None  # not checked meanwhile
        assert status["deployed"] is True and status["orphans"] == []
    finally:
        holder.kill()
        holder.wait()


def test_leftover_check_sees_every_network_resource_while_it_exists(deployed: Deployed) -> None:
    """What `destroy` relies on to say "nothing left": here, everything is still there."""
    from cafepipe.deploy.stack import (
        EC2_NETWORK_DESCRIBES,
        find_leftovers,
        open_stack,
        state_inventory,
    )

    stack = open_stack(deployed.config)
    inventory = state_inventory(stack)
    network = [r["address"] for r in inventory if r["type"] in EC2_NETWORK_DESCRIBES]
    assert {r.split(".")[-2] for r in network} == set(EC2_NETWORK_DESCRIBES)
    leftovers = find_leftovers(stack.clients, deployed.config, inventory)
    assert set(network) <= set(leftovers)
    assert any(item.startswith("VPC vpc-") and item.endswith("(tagged)") for item in leftovers)


def test_drift_is_reported_and_up_reconciles_it(deployed: Deployed) -> None:
    """A change made outside cafepipe shows as drift; re-running `up` puts it back."""
    logs = deployed.client("logs")
    group = deployed.outputs["access_log_group"]
    logs.put_retention_policy(logGroupName=group, retentionInDays=30)
    status = _invoke([*deployed.base, "status", "--json"])
    assert status["in_sync"] is False
    assert status["drift"]["change"] >= 1
    assert any("log_group.access" in r["address"] for r in status["drift"]["resources"])
    _invoke([*deployed.base, "up", "--yes", "--json"])
    retention = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert retention["retentionInDays"] == 180
    assert _invoke([*deployed.base, "status", "--json"])["in_sync"] is True
