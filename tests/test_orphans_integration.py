"""Orphan discovery against the emulator: what a real listing returns, filters and all."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cafepipe.aws import AwsClients
from cafepipe.config import load_config
from cafepipe.deploy.emulator import EmulatorInfo
from cafepipe.deploy.orphans import find_stack_resources


@pytest.mark.integration
def test_discovery_keeps_to_its_stack_where_moto_ignores_filters(
    emulator: EmulatorInfo, tmp_path: Path
) -> None:
    """moto lists every egress-only gateway whatever the tag filter: destroy must still find
    only its own stack's, never another stack's sharing the account."""
    stacks = [f"eigw{uuid.uuid4().hex[:6]}", f"eigw{uuid.uuid4().hex[:6]}"]
    configs = [
        load_config(
            None,
            {"endpoint_url": emulator.url, "state_dir": str(tmp_path), "stack": stack},
            environ={},
        )
        for stack in stacks
    ]
    ec2 = AwsClients.for_config(configs[0]).client("ec2")
    made = {}
    for stack in stacks:
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        tags = [{"Key": "cafepipe:stack", "Value": stack}]
        gateway = ec2.create_egress_only_internet_gateway(
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "egress-only-internet-gateway", "Tags": tags}],
        )["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
        ec2.create_tags(Resources=[vpc], Tags=tags)
        made[stack] = gateway
    for stack, config in zip(stacks, configs, strict=True):
        found = find_stack_resources(AwsClients.for_config(config), config)
        gateways = [f.id for f in found if f.kind == "egress_only_internet_gateway"]
        assert gateways == [made[stack]]
