"""profile = "fleet", for real: the bundled Terraform and hashicorp/aws 3.39.0 against moto.

One `up` creates the fleet; what it made is read back through boto3 (the group, the launch
template, the load balancer, its target group and listener, the scaling policy), a second
plan is empty, `status` names the fleet and sees no orphans, a template change is rolled out
by an instance refresh, and `destroy` removes the fleet and orphans of one made by hand, and
proves nothing of the stack is left. The emulator's own limits (what its extensions add) are
in docs/fleet.md.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cafepipe.aws import AwsClients
from cafepipe.cli import cli
from cafepipe.config import FLEET_OUTPUTS, STACK_OUTPUTS, load_config
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.render import USER_DATA_FILE

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("fleet")]

STACK = "fleetit"
CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
CONFIG = 'profile = "fleet"\n[fleet]\nmin_size = 2\nmax_size = 3\n'


def _run(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def _json(args: list[str]) -> Any:
    return json.loads(_run(args).stdout)


class Fleet:
    """The deployed fleet: its CLI arguments, config, outputs, and boto3 clients."""

    def __init__(self, emulator: EmulatorInfo, root: Path) -> None:
        config_file = root / "cafepipe.toml"
        config_file.write_text(CONFIG)
        state = root / "state"
        self.base = [
            *("--config", str(config_file), "--stack", STACK),
            *("--state-dir", str(state), "--endpoint-url", emulator.url),
        ]
        self.config = load_config(
            config_file,
            {"stack": STACK, "state_dir": str(state), "endpoint_url": emulator.url},
            environ={},
        )
        self.clients = AwsClients("us-east-1", emulator.url)
        self.outputs: dict[str, Any] = {}
        self.up_messages = ""
        self.destroyed = False

    def client(self, service: str) -> Any:
        return self.clients.client(service)

    def group(self) -> dict[str, Any]:
        reply = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.outputs["fleet_asg_name"]]
        )
        groups: list[dict[str, Any]] = reply["AutoScalingGroups"]
        assert len(groups) == 1
        return groups[0]

    def template_data(self, version: str = "$Latest") -> dict[str, Any]:
        template_id = self.group()["LaunchTemplate"]["LaunchTemplateId"]
        versions = self.client("ec2").describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=[version]
        )["LaunchTemplateVersions"]
        data: dict[str, Any] = versions[0]["LaunchTemplateData"]
        return data

    def security_group(self, name: str) -> dict[str, Any]:
        groups = self.client("ec2").describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [f"cafepipe-{STACK}-{name}"]}]
        )["SecurityGroups"]
        assert len(groups) == 1, name
        group: dict[str, Any] = groups[0]
        return group


@pytest.fixture(scope="module")
def fleet(emulator: EmulatorInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    deployed = Fleet(emulator, tmp_path_factory.mktemp("fleet"))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        result = _run([*deployed.base, "up", "--yes", "--json"])
        deployed.outputs = json.loads(result.stdout)
        deployed.up_messages = result.stderr
        yield deployed
        if not deployed.destroyed:  # cleanup only: destroy is tested below
            _run([*deployed.base, "destroy", "--yes"])


def test_outputs_name_the_fleet_and_keep_the_single_contract(fleet: Fleet) -> None:
    outputs = fleet.outputs
    for name in (*STACK_OUTPUTS, *FLEET_OUTPUTS):
        assert outputs.get(name), name
    assert outputs["fleet_asg_name"] == f"cafepipe-{STACK}-web"
    # No CloudFront on the offline provider: the site is the internal load balancer's.
    assert outputs["site_url"] == f"http://{outputs['fleet_alb_dns_name']}/cafe"
    # instance_id is one server of the group, for the commands that look at one.
    in_group = sorted(i["InstanceId"] for i in fleet.group()["Instances"])
    assert outputs["instance_id"] == in_group[0]
    assert "The fleet cafepipe-fleetit-web: 2 of 2 servers in service in 2 zones" in (
        " ".join(fleet.up_messages.split())
    )


def test_the_group_runs_min_size_servers_over_private_subnets_of_two_zones(fleet: Fleet) -> None:
    group = fleet.group()
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (2, 3, 2)
    assert (group["HealthCheckType"], group["HealthCheckGracePeriod"]) == ("ELB", 300)
    assert group["TargetGroupARNs"] == [fleet.outputs["fleet_target_group_arn"]]
    subnet_ids = group["VPCZoneIdentifier"].split(",")
    ec2 = fleet.client("ec2")
    subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    assert len(subnets) == 2 and len({s["AvailabilityZone"] for s in subnets}) == 2
    assert all(s["MapPublicIpOnLaunch"] is False for s in subnets)
    assert all(s["AssignIpv6AddressOnCreation"] is True for s in subnets)
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert {s["VpcId"] for s in subnets} != {default_vpc[0]["VpcId"]}
    # Both subnets route the same private way: IPv6 out through the egress-only gateway only.
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}]
    )["RouteTables"]
    assert len(tables) == 1
    assert {a.get("SubnetId") for a in tables[0]["Associations"]} >= set(subnet_ids)
    assert not any(r.get("GatewayId", "").startswith("igw-") for r in tables[0]["Routes"])
    instances = group["Instances"]
    assert [i["LifecycleState"] for i in instances] == ["InService"] * 2
    assert {i["AvailabilityZone"] for i in instances} == {s["AvailabilityZone"] for s in subnets}
    tags = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in group["Tags"]}
    assert tags["cafepipe:stack"] == (STACK, True)
    reservations = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in instances])
    for reservation in reservations["Reservations"]:
        for instance in reservation["Instances"]:
            assert {t["Key"]: t["Value"] for t in instance["Tags"]}["cafepipe:stack"] == STACK
            assert not instance.get("PublicIpAddress")


def test_the_launch_template_is_the_single_server_locked_down(fleet: Fleet) -> None:
    [template] = fleet.client("ec2").describe_launch_templates(
        LaunchTemplateNames=[f"cafepipe-{STACK}-web"]
    )["LaunchTemplates"]
    assert {t["Key"]: t["Value"] for t in template["Tags"]}["cafepipe:stack"] == STACK
    data = fleet.template_data()
    assert data["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert "KeyName" not in data  # no key pair: SSM only
    assert data["InstanceType"] == "t4g.nano"
    assert data["IamInstanceProfile"]["Name"] == f"cafepipe-{STACK}-instance"
    assert data["Monitoring"] == {"Enabled": False}
    [root] = data["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/xvda"
    assert (root["Ebs"]["Encrypted"], root["Ebs"]["VolumeType"]) == (True, "gp3")
    [interface] = data["NetworkInterfaces"]
    assert interface["AssociatePublicIpAddress"] is False and interface["Ipv6AddressCount"] == 1
    assert interface["Groups"] == [fleet.security_group("web")["GroupId"]]
    # The single server's user data, byte for byte (Terraform's base64gzip of the file).
    rendered = (fleet.config.terraform_dir / USER_DATA_FILE).read_bytes()
    assert gzip.decompress(base64.b64decode(data["UserData"])) == rendered
    volume_tags = {
        t["Key"]: t["Value"]
        for spec in data["TagSpecifications"]
        if spec["ResourceType"] == "volume"
        for t in spec["Tags"]
    }
    assert volume_tags["cafepipe:stack"] == STACK


def test_servers_take_http_from_the_load_balancer_only(fleet: Fleet) -> None:
    web, alb = fleet.security_group("web"), fleet.security_group("alb")
    [ingress] = web["IpPermissions"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (80, 80)
    assert [p["GroupId"] for p in ingress["UserIdGroupPairs"]] == [alb["GroupId"]]
    assert ingress["IpRanges"] == [] and ingress.get("PrefixListIds", []) == []
    for rule in web["IpPermissionsEgress"]:  # HTTPS out, never to the IPv4 internet
        assert (rule["FromPort"], rule["ToPort"], rule["IpRanges"]) == (443, 443, [])
    cloudfront = fleet.client("ec2").describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [CLOUDFRONT_PREFIX_LIST]}]
    )["PrefixLists"][0]["PrefixListId"]
    [alb_in] = alb["IpPermissions"]
    assert (alb_in["FromPort"], alb_in["IpRanges"]) == (80, [])
    assert [p["PrefixListId"] for p in alb_in["PrefixListIds"]] == [cloudfront]
    [alb_out] = alb["IpPermissionsEgress"]
    vpc = fleet.client("ec2").describe_vpcs(VpcIds=[alb["VpcId"]])["Vpcs"][0]
    assert (alb_out["FromPort"], alb_out["ToPort"]) == (80, 80)
    assert [r["CidrIp"] for r in alb_out["IpRanges"]] == [vpc["CidrBlock"]]


def test_an_internal_load_balancer_checks_the_cafe_page_of_every_server(fleet: Fleet) -> None:
    elbv2 = fleet.client("elbv2")
    [balancer] = elbv2.describe_load_balancers(Names=[f"cafepipe-{STACK}-lb"])["LoadBalancers"]
    assert (balancer["Scheme"], balancer["Type"]) == ("internal", "application")
    assert balancer["DNSName"] == fleet.outputs["fleet_alb_dns_name"]
    assert balancer["SecurityGroups"] == [fleet.security_group("alb")["GroupId"]]
    zones = {z["SubnetId"] for z in balancer["AvailabilityZones"]}
    assert zones == set(fleet.group()["VPCZoneIdentifier"].split(","))
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(
            LoadBalancerArn=balancer["LoadBalancerArn"]
        )["Attributes"]
    }
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "false"
    target_arn = fleet.outputs["fleet_target_group_arn"]
    [group] = elbv2.describe_target_groups(TargetGroupArns=[target_arn])["TargetGroups"]
    assert (group["Protocol"], group["Port"], group["TargetType"]) == ("HTTP", 80, "instance")
    assert (group["HealthCheckPath"], group["Matcher"]["HttpCode"]) == ("/cafe", "200")
    health = elbv2.describe_target_health(TargetGroupArn=target_arn)["TargetHealthDescriptions"]
    assert sorted(t["Target"]["Id"] for t in health) == sorted(
        i["InstanceId"] for i in fleet.group()["Instances"]
    )
    [listener] = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert [(a["Type"], a["TargetGroupArn"]) for a in listener["DefaultActions"]] == [
        ("forward", target_arn)
    ]
    tags = elbv2.describe_tags(ResourceArns=[balancer["LoadBalancerArn"], target_arn])
    for description in tags["TagDescriptions"]:
        assert {t["Key"]: t["Value"] for t in description["Tags"]}["cafepipe:stack"] == STACK


def test_target_tracking_scales_on_cpu(fleet: Fleet) -> None:
    [policy] = fleet.client("autoscaling").describe_policies(
        AutoScalingGroupName=fleet.outputs["fleet_asg_name"]
    )["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ASGAverageCPUUtilization"
    )
    assert tracking["TargetValue"] == 50.0


def test_second_plan_is_empty_and_status_names_the_fleet(fleet: Fleet) -> None:
    plan = _json([*fleet.base, "plan", "--json"])
    assert (plan["add"], plan["change"], plan["destroy"]) == (0, 0, 0), plan
    status = _json([*fleet.base, "status", "--json"])
    assert status["in_sync"] is True
    # The group's servers carry the stack's tag but are the group's, not orphans.
    assert status["orphans"] == []
    section = status["fleet"]
    assert (section["asg_name"], section["min_size"], section["max_size"]) == (
        fleet.outputs["fleet_asg_name"],
        2,
        3,
    )
    assert (section["in_service"], section["healthy_targets"]) == (2, 2)
    text = " ".join(_run([*fleet.base, "status"]).stdout.split())
    assert "fleet cafepipe-fleetit-web: 2 of 2 servers in service in 2 zones (min 2, max 3)" in text


def test_a_template_change_is_rolled_out_by_an_instance_refresh(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {i["InstanceId"] for i in fleet.group()["Instances"]}
    monkeypatch.setenv("CAFEPIPE_INSTANCE_TYPE", "t4g.micro")
    _run([*fleet.base, "up", "--yes", "--no-check"])
    group = fleet.group()
    after = {i["InstanceId"] for i in group["Instances"]}
    assert len(after) == 2 and not after & before  # every server replaced
    assert fleet.template_data()["InstanceType"] == "t4g.micro"
    refreshes = fleet.client("autoscaling").describe_instance_refreshes(
        AutoScalingGroupName=group["AutoScalingGroupName"]
    )["InstanceRefreshes"]
    assert [r["Status"] for r in refreshes] == ["Successful"]
    ec2 = fleet.client("ec2")
    old = ec2.describe_instances(InstanceIds=sorted(before))["Reservations"]
    assert {i["State"]["Name"] for r in old for i in r["Instances"]} == {"terminated"}
    health = fleet.client("elbv2").describe_target_health(
        TargetGroupArn=fleet.outputs["fleet_target_group_arn"]
    )["TargetHealthDescriptions"]
    assert {t["Target"]["Id"] for t in health} == after
    plan = _json([*fleet.base, "plan", "--json"])
    assert (plan["add"], plan["change"], plan["destroy"]) == (0, 0, 0), plan


def _hand_made_fleet(fleet: Fleet) -> dict[str, str]:
    """A second launch template, target group, load balancer and group carrying the stack's
    tag but in no state: what a run stopped at once can leave."""
    tags = [{"Key": "cafepipe:stack", "Value": STACK}]
    ec2, elbv2 = fleet.client("ec2"), fleet.client("elbv2")
    subnets = fleet.group()["VPCZoneIdentifier"].split(",")
    vpc_id = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"cafepipe-{STACK}-stray",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t4g.nano"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    target_group = elbv2.create_target_group(
        Name=f"cafepipe-{STACK}-stray", Protocol="HTTP", Port=80, VpcId=vpc_id, Tags=tags
    )["TargetGroups"][0]["TargetGroupArn"]
    balancer = elbv2.create_load_balancer(
        Name=f"cafepipe-{STACK}-stray", Subnets=subnets, Scheme="internal", Tags=tags
    )["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
    )
    fleet.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=f"cafepipe-{STACK}-stray",
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=1,
        MaxSize=1,
        VPCZoneIdentifier=",".join(subnets),
        TargetGroupARNs=[target_group],
        Tags=[{**tag, "PropagateAtLaunch": True} for tag in tags],
    )
    return {
        "autoscaling_group": f"cafepipe-{STACK}-stray",
        "load_balancer": balancer,
        "target_group": target_group,
        "launch_template": template,
    }


def test_destroy_removes_the_fleet_and_its_orphans_and_leaves_nothing(fleet: Fleet) -> None:
    stray = _hand_made_fleet(fleet)
    status = _json([*fleet.base, "status", "--json"])
    # The stray group's server is the stray group's: it goes with it, not on its own.
    assert {(o["kind"], o["id"]) for o in status["orphans"]} == set(stray.items())
    report = _json([*fleet.base, "destroy", "--yes", "--json"])
    fleet.destroyed = True
    assert report["leftovers"] == []
    assert {(o["kind"], o["id"]) for o in report["orphans_deleted"]} == set(stray.items())
    assert report["destroyed"] >= 20
    # Read back: no group, template, load balancer, target group or server of the stack
    # (all of them are named cafepipe-<stack>-…; the emulator is shared with other tests).
    prefix = f"cafepipe-{STACK}-"
    elbv2 = fleet.client("elbv2")
    names = [
        *(g["AutoScalingGroupName"] for g in fleet.client("autoscaling")
          .describe_auto_scaling_groups()["AutoScalingGroups"]),
        *(t["LaunchTemplateName"] for t in fleet.client("ec2")
          .describe_launch_templates()["LaunchTemplates"]),
        *(b["LoadBalancerName"] for b in elbv2.describe_load_balancers()["LoadBalancers"]),
        *(g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]),
    ]  # fmt: skip
    assert [name for name in names if name.startswith(prefix)] == []
    running = fleet.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:cafepipe:stack", "Values": [STACK]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    assert running == []
