"""profile = "fleet" without an emulator: what the renders hold (both site accesses, both
providers, the provider 6.x schema), and the states an emulator cannot produce, at the boto3
client boundary (botocore Stubber): AWS taking its time to delete a group, a target group
still in use, a group's servers that are not orphans, a fleet that cannot be read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_orphans import FakeWaits, StubbedClients
from test_provider_schema import check_directory  # the 6.x schema check
from test_render import hcl_blocks, make_config, read

from cafepipe.cli.views import fleet_line
from cafepipe.config import FLEET_OUTPUTS, STACK_OUTPUTS
from cafepipe.deploy import orphans
from cafepipe.deploy.orphans import Found, remove_resources
from cafepipe.deploy.render import USER_DATA_FILE, render_stack, stack_files
from cafepipe.deploy.stack import fleet_status

FLEET = {"profile": "fleet", "fleet": {"min_size": 2, "max_size": 5}}
ENDPOINT = "http://127.0.0.1:4566"


def fleet_render(tmp_path: Path, emulated: bool = False, **flags: object) -> Path:
    extra = {"endpoint_url": ENDPOINT} if emulated else {}
    config = make_config(tmp_path, emulated=False, **FLEET, **extra, **flags)
    return render_stack(config, tmp_path / "out")


# ----------------------------------------------------------------------------- the renders


def test_the_fleet_replaces_the_one_server_behind_cloudfront(tmp_path: Path) -> None:
    out = fleet_render(tmp_path)
    assert (out / "modules" / "fleet" / "main.tf").is_file()
    assert not (out / "modules" / "compute").exists()
    main = read(out, "main.tf")
    assert 'module "fleet"' in main and 'module "compute"' not in main
    assert "origin_arn         = module.fleet.alb_arn" in main  # CloudFront's VPC origin
    outputs = hcl_blocks(read(out, "outputs.tf"), "output")
    assert set(STACK_OUTPUTS) | set(FLEET_OUTPUTS) <= set(outputs)
    assert "module.fleet.instance_ids[0]" in outputs["instance_id"]
    assert "module.cdn.domain_name" in outputs["site_url"]
    variables = hcl_blocks(read(out, "variables.tf"), "variable")
    assert "default     = 2" in variables["fleet_min_size"]
    assert "default     = 5" in variables["fleet_max_size"]
    for name, body in hcl_blocks(read(out, "modules/fleet/variables.tf"), "variable").items():
        assert re.search(r"^\s+type\s+=", body, re.M), name
        assert re.search(r'^\s+description\s+= "\S', body, re.M), name

    fleet = hcl_blocks(read(out, "modules/fleet/main.tf"), "resource")
    template = fleet["aws_launch_template.web"]
    assert 'http_tokens                 = "required"' in template
    assert "key_name" not in template
    assert (
        "encrypted             = true" in template and 'volume_type           = "gp3"' in template
    )
    assert "name = var.instance_profile_name" in template
    assert "associate_public_ip_address = false" in template
    assert "ipv6_address_count          = 1" in template
    assert 'resource_type = "network-interface"' in template  # provider 6 tags them
    group = fleet["aws_autoscaling_group.web"]
    assert 'health_check_type         = "ELB"' in group
    assert "vpc_zone_identifier = var.subnet_ids" in group
    assert "version = aws_launch_template.web.latest_version" in group
    assert 'strategy = "Rolling"' in group and "max_healthy_percentage = 200" in group
    assert "propagate_at_launch = true" in group
    policy = fleet["aws_autoscaling_policy.cpu"]
    assert '"TargetTrackingScaling"' in policy and '"ASGAverageCPUUtilization"' in policy
    balancer = fleet["aws_lb.web"]
    assert "internal                   = true" in balancer
    assert "drop_invalid_header_fields = true" in balancer
    # CloudFront appended the visitor to X-Forwarded-For: the balancer keeps it the last.
    assert 'xff_header_processing_mode = "preserve"' in balancer
    target_group = fleet["aws_lb_target_group.web"]
    assert "path                = var.health_check_path" in target_group
    assert 'matcher             = "200"' in target_group
    assert (
        'default     = "/cafe"'
        in hcl_blocks(read(out, "modules/fleet/variables.tf"), "variable")["health_check_path"]
    )
    # The servers take HTTP from the load balancer only; it takes it from CloudFront only.
    web = fleet["aws_security_group.web"]
    [ingress] = re.findall(r"ingress \{(.*?)\n  \}", web, re.S)
    assert "security_groups = [aws_security_group.alb.id]" in ingress
    assert "cidr_blocks" not in ingress and "0.0.0.0/0" not in web
    alb = fleet["aws_security_group.alb"]
    [alb_in] = re.findall(r"ingress \{(.*?)\n  \}", alb, re.S)
    assert "data.aws_ec2_managed_prefix_list.cloudfront.id" in alb_in
    assert "cidr_blocks = [var.vpc_cidr_block]" in alb

    network = hcl_blocks(read(out, "modules/network/main.tf"), "resource")
    second = network["aws_subnet.private_second"]
    assert (
        "local.usable_zones[1]" in second and "cidrsubnet(aws_vpc.main.cidr_block, 8, 2)" in second
    )
    assert "map_public_ip_on_launch         = false" in second
    assert "aws_route_table.private.id" in network["aws_route_table_association.private_second"]


def test_every_server_gets_the_single_servers_user_data(tmp_path: Path) -> None:
    single = stack_files(make_config(tmp_path, emulated=False))
    fleet = stack_files(make_config(tmp_path, emulated=False, **FLEET))
    assert fleet[USER_DATA_FILE] == single[USER_DATA_FILE]
    # The agent names each server's stream after its instance: one stream per server.
    assert b'"log_stream_name": "{instance_id}"' in fleet["instance/cloudwatch-agent.json"]


def test_a_public_ip_fleet_has_an_internet_facing_load_balancer(tmp_path: Path) -> None:
    out = fleet_render(tmp_path, site_access="public-ip", allowed_http_cidr="203.0.113.0/24")
    assert not (out / "modules" / "cdn").exists()
    fleet = hcl_blocks(read(out, "modules/fleet/main.tf"), "resource")
    assert "internal                   = false" in fleet["aws_lb.web"]
    assert "xff_header_processing_mode" not in fleet["aws_lb.web"]  # "append": the visitor
    [alb_in] = re.findall(r"ingress \{(.*?)\n  \}", fleet["aws_security_group.alb"], re.S)
    assert "cidr_blocks = [var.allowed_http_cidr]" in alb_in
    [ingress] = re.findall(r"ingress \{(.*?)\n  \}", fleet["aws_security_group.web"], re.S)
    assert "security_groups = [aws_security_group.alb.id]" in ingress
    # No NAT gateway in the default VPC: the servers reach AWS through public addresses.
    assert "associate_public_ip_address = true" in fleet["aws_launch_template.web"]
    network = read(out, "modules/network/main.tf")
    assert 'data "aws_subnet" "default"' in network and "default_for_az    = true" in network
    outputs = hcl_blocks(read(out, "outputs.tf"), "output")
    assert 'value       = "http://${module.fleet.alb_dns_name}/cafe"' in outputs["site_url"]
    # Behind the balancer the peer is the balancer: Apache logs X-Forwarded-For's last entry.
    assert "X-Forwarded-For" in read(out, "instance/httpd-cafe.conf")


def test_the_emulated_fleet_reaches_auto_scaling_and_load_balancing(tmp_path: Path) -> None:
    out = fleet_render(tmp_path, emulated=True)
    providers = read(out, "providers.tf")
    for service in ("autoscaling", "elb", "ec2"):  # 3.x sends ELBv2 calls to "elb"
        assert re.search(rf'^\s+{service}\s+= "{re.escape(ENDPOINT)}"$', providers, re.M)
    template = hcl_blocks(read(out, "modules/fleet/main.tf"), "resource")["aws_launch_template.web"]
    assert "ignore_changes = [tag_specifications]" in template
    assert "network-interface" not in template.split("# (Provider 3.x")[0]
    assert "xff_header_processing_mode" not in read(out, "modules/fleet/main.tf")
    assert "min_healthy_percentage = 50" in read(out, "modules/fleet/main.tf")
    single = render_stack(make_config(tmp_path, emulated=True), tmp_path / "single")
    assert "autoscaling" not in read(single, "providers.tf")


@pytest.mark.parametrize("site_access", ["cloudfront", "public-ip"])
def test_the_real_aws_fleet_matches_the_provider_6_schema(tmp_path: Path, site_access: str) -> None:
    out = fleet_render(tmp_path, site_access=site_access)
    problems = check_directory(out)
    assert not problems, "\n".join(map(str, problems))


# ------------------------------------------------------------------ states AWS alone makes


def test_a_group_is_deleted_with_its_servers_and_waited_for() -> None:
    clients = StubbedClients("autoscaling")
    stub = clients.stubs["autoscaling"]
    stub.add_response(
        "delete_auto_scaling_group",
        {},
        {"AutoScalingGroupName": "cafepipe-shop-web", "ForceDelete": True},
    )
    deleting = {"AutoScalingGroups": [_group("cafepipe-shop-web", status="Delete in progress")]}
    for _ in range(2):  # AWS deletes a group in its own time (its servers terminate first)
        stub.add_response("describe_auto_scaling_groups", deleting)
    stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": []})
    waits = FakeWaits()
    removal = remove_resources(
        clients, [Found("autoscaling_group", "cafepipe-shop-web")], waits=waits
    )  # type: ignore[arg-type]
    assert [f.id for f in removal.deleted] == ["cafepipe-shop-web"] and removal.failed == []
    assert waits.slept == [5.0, 5.0]
    clients.done()


def test_a_target_group_in_use_is_retried_until_its_load_balancer_is_gone() -> None:
    clients = StubbedClients("elbv2")
    stub = clients.stubs["elbv2"]
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cafepipe-shop-tg/1"
    stub.add_client_error("delete_target_group", "ResourceInUse", "in use by a listener")
    stub.add_response("delete_target_group", {}, {"TargetGroupArn": arn})
    waits = FakeWaits()
    removal = remove_resources(clients, [Found("target_group", arn)], waits=waits)  # type: ignore[arg-type]
    assert [f.id for f in removal.deleted] == [arn] and waits.slept == [5.0]
    clients.done()


def _group(name: str, status: str | None = None, instances: int = 0) -> dict[str, Any]:
    group: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "MinSize": 2,
        "MaxSize": 5,
        "DesiredCapacity": 2,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["us-east-1a", "us-east-1b"],
        "HealthCheckType": "ELB",
        "CreatedTime": "2026-01-01T00:00:00Z",
        "Instances": [
            {
                "InstanceId": f"i-{n}",
                "AvailabilityZone": ["us-east-1a", "us-east-1b"][n % 2],
                "LifecycleState": "InService" if n else "Pending",
                "HealthStatus": "Healthy",
                "ProtectedFromScaleIn": False,
            }
            for n in range(instances)
        ],
    }
    if status:
        group["Status"] = status
    return group


def _ec2_listing(
    stub: Any, instances: list[dict[str, Any]], interfaces: list[dict[str, Any]]
) -> None:
    """What `_ec2` reads, in its order: templates, instances, interfaces, then the network."""
    stub.add_response("describe_launch_templates", {"LaunchTemplates": []})
    stub.add_response("describe_instances", {"Reservations": [{"Instances": instances}]})
    stub.add_response("describe_network_interfaces", {"NetworkInterfaces": interfaces})
    for operation, key in (
        ("describe_vpc_endpoints", "VpcEndpoints"),
        ("describe_subnets", "Subnets"),
        ("describe_route_tables", "RouteTables"),
        ("describe_internet_gateways", "InternetGateways"),
        ("describe_egress_only_internet_gateways", "EgressOnlyInternetGateways"),
        ("describe_security_groups", "SecurityGroups"),
        ("describe_vpcs", "Vpcs"),
    ):
        stub.add_response(operation, {key: []})


def test_a_groups_servers_are_orphans_only_once_the_group_is_gone() -> None:
    config = make_config(Path("/nonexistent"), emulated=False, stack="shop")

    def server(instance_id: str, group: str) -> dict[str, Any]:
        tags = [{"Key": "cafepipe:stack", "Value": "shop"},
                {"Key": "aws:autoscaling:groupName", "Value": group}]  # fmt: skip
        return {"InstanceId": instance_id, "State": {"Name": "running"}, "Tags": tags}

    def interface(eni: str, instance_id: str) -> dict[str, Any]:
        return {"NetworkInterfaceId": eni, "Attachment": {"InstanceId": instance_id}}

    clients = StubbedClients("ec2", "autoscaling")
    clients.stubs["autoscaling"].add_response(
        "describe_auto_scaling_groups",
        {"AutoScalingGroups": [_group("cafepipe-shop-web"), _group("old", "Delete in progress")]},
    )
    _ec2_listing(
        clients.stubs["ec2"],
        [server("i-live", "cafepipe-shop-web"), server("i-stray", "old")],
        [interface("eni-live", "i-live"), interface("eni-stray", "i-stray")],
    )
    found = orphans._ec2(clients, config)  # type: ignore[arg-type]
    assert [(f.kind, f.id) for f in found] == [
        ("instance", "i-stray"),
        ("network_interface", "eni-stray"),
    ]
    clients.done()


def test_status_counts_the_fleet_as_the_group_and_its_targets_say() -> None:
    clients = StubbedClients("autoscaling", "elbv2")
    outputs = {"fleet_asg_name": "cafepipe-shop-web", "fleet_target_group_arn": "arn:tg"}
    clients.stubs["autoscaling"].add_response(
        "describe_auto_scaling_groups",
        {"AutoScalingGroups": [_group("cafepipe-shop-web", instances=3)]},
        {"AutoScalingGroupNames": ["cafepipe-shop-web"]},
    )
    clients.stubs["elbv2"].add_response(
        "describe_target_health",
        {"TargetHealthDescriptions": [
            {"Target": {"Id": "i-1"}, "TargetHealth": {"State": "healthy"}},
            {"Target": {"Id": "i-2"}, "TargetHealth": {"State": "unhealthy"}},
        ]},
        {"TargetGroupArn": "arn:tg"},
    )  # fmt: skip
    section = fleet_status(clients, outputs)  # type: ignore[arg-type]
    assert section is not None
    assert (section["in_service"], section["healthy_targets"], section["desired"]) == (2, 1, 2)
    assert fleet_line(section) == (
        "fleet cafepipe-shop-web: 2 of 3 servers in service in 2 zones (min 2, max 5), "
        "1 healthy behind the load balancer"
    )
    assert fleet_status(clients, {"instance_id": "i-1"}) is None  # type: ignore[arg-type]
    clients.stubs["autoscaling"].add_client_error(
        "describe_auto_scaling_groups", "AccessDenied", "not allowed", http_status_code=403
    )
    failed = fleet_status(clients, outputs)  # type: ignore[arg-type]
    assert failed is not None and "AccessDenied" in failed["error"]
    assert "could not be read" in fleet_line(failed)
    clients.done()


def test_load_balancer_health_checks_are_robots_in_both_engines() -> None:
    """The ALB's checks reach Apache every few seconds: never visits, never customers."""
    import duckdb

    from cafepipe.cafe import traffic
    from cafepipe.deploy.logs_insights import Event, run_query
    from cafepipe.insights.queries import BOT_REGEX, LI_AGENT, LI_BOT_FILTER

    agent = "ELB-HealthChecker/2.0"
    assert traffic.is_bot_user_agent(agent)
    query = f"SELECT regexp_matches(lower('{agent}'), '{BOT_REGEX}')"
    ((matched,),) = duckdb.connect().execute(query).fetchall()
    assert matched
    events = [Event(0, json.dumps({"userAgent": agent})), Event(1, json.dumps({"userAgent": "x"}))]
    result = run_query(f"{LI_AGENT} | filter {LI_BOT_FILTER} | stats count(*) as n", events)
    assert result.rows == [[{"field": "n", "value": "1"}]]
