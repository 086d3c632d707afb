"""Orphan removal in the states an emulator cannot produce (botocore Stubber at the client
boundary): AWS still holding on to a dependency for a while, a CloudFront distribution that
must be disabled and deployed before it can go, an endpoint without VPC origins, a role in a
profile that is not the stack's. No real sleeping: the waits run on a fake clock."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from cafepipe.cli.failures import describe_failure
from cafepipe.config import load_config
from cafepipe.deploy.orphans import Found, Waits, known_ids, remove_resources
from cafepipe.deploy.terraform import TerraformInterrupted, _hint_for


class StubbedClients:
    """What `AwsClients` gives the code under test: one stubbed boto3 client per service."""

    def __init__(self, *services: str) -> None:
        self.clients = {
            service: boto3.client(
                service,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for service in services
        }
        self.stubs = {service: Stubber(client) for service, client in self.clients.items()}
        for stub in self.stubs.values():
            stub.activate()

    def client(self, service: str) -> Any:
        return self.clients[service]

    def done(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


class FakeWaits(Waits):
    def __init__(self, timeout: float = 60.0) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        super().__init__(
            timeout=timeout,
            interval=5.0,
            dependency_timeout=timeout,
            sleep=self._sleep,
            clock=lambda: self.now,
        )

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_subnet_still_in_use_is_retried_until_aws_lets_go() -> None:
    clients = StubbedClients("ec2")
    ec2 = clients.stubs["ec2"]
    for _ in range(2):
        ec2.add_client_error("delete_subnet", "DependencyViolation", "has dependencies")
    ec2.add_response("delete_subnet", {}, {"SubnetId": "subnet-1"})
    waits = FakeWaits()
    removal = remove_resources(clients, [Found("subnet", "subnet-1")], waits=waits)  # type: ignore[arg-type]
    assert [f.id for f in removal.deleted] == ["subnet-1"] and removal.failed == []
    assert waits.slept == [5.0, 5.0]
    clients.done()


def test_a_dependency_that_never_goes_is_reported_not_raised_and_the_rest_goes_on() -> None:
    clients = StubbedClients("ec2", "logs")
    for _ in range(3):  # 0 s, 5 s, 10 s: the wait's timeout (10 s) is reached
        clients.stubs["ec2"].add_client_error("delete_vpc", "DependencyViolation", "in use")
    clients.stubs["logs"].add_response("delete_log_group", {}, {"logGroupName": "shop/apache/x"})
    removal = remove_resources(
        clients,  # type: ignore[arg-type]
        [Found("log_group", "shop/apache/x"), Found("vpc", "vpc-1")],
        waits=FakeWaits(timeout=10),
    )
    assert [f.kind for f in removal.deleted] == ["log_group"]
    assert [(f.id, why.split(":")[0]) for f, why in removal.failed] == [
        ("vpc-1", "DependencyViolation")
    ]
    clients.done()


def test_a_cloudfront_distribution_is_disabled_deployed_then_deleted() -> None:
    clients = StubbedClients("cloudfront")
    cloudfront = clients.stubs["cloudfront"]
    config = {
        "CallerReference": "r",
        "Origins": {
            "Quantity": 1,
            "Items": [{"Id": "web", "DomainName": "ip-10-0-0-1.ec2.internal"}],
        },
        "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all"},
        "Comment": "cafepipe-shop",
        "Enabled": True,
    }
    cloudfront.add_response(
        "get_distribution_config",
        {"DistributionConfig": config, "ETag": "E1"},
        {"Id": "D1"},
    )
    cloudfront.add_response(
        "update_distribution",
        {"ETag": "E2"},
        {"Id": "D1", "IfMatch": "E1", "DistributionConfig": {**config, "Enabled": False}},
    )
    for status in ("InProgress", "InProgress", "Deployed"):
        cloudfront.add_response("get_distribution", _distribution(status, "E2"), {"Id": "D1"})
    cloudfront.add_response("get_distribution", _distribution("Deployed", "E3"), {"Id": "D1"})
    cloudfront.add_response("delete_distribution", {}, {"Id": "D1", "IfMatch": "E3"})
    waits = FakeWaits()
    removal = remove_resources(clients, [Found("cloudfront_distribution", "D1")], waits=waits)  # type: ignore[arg-type]
    assert [f.id for f in removal.deleted] == ["D1"]
    assert waits.slept == [5.0, 5.0]
    clients.done()


def _distribution(status: str, etag: str) -> dict[str, Any]:
    return {
        "ETag": etag,
        "Distribution": {
            "Id": "D1",
            "ARN": "arn:aws:cloudfront::123456789012:distribution/D1",
            "Status": status,
            "LastModifiedTime": "2026-01-01T00:00:00Z",
            "InProgressInvalidationBatches": 0,
            "DomainName": "d1.cloudfront.net",
            "DistributionConfig": {
                "CallerReference": "r",
                "Origins": {
                    "Quantity": 1,
                    "Items": [{"Id": "web", "DomainName": "ip-10-0-0-1.ec2.internal"}],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "web",
                    "ViewerProtocolPolicy": "allow-all",
                },
                "Comment": "",
                "Enabled": False,
            },
        },
    }


def test_a_role_in_a_profile_without_the_stack_tag_is_left_alone() -> None:
    clients = StubbedClients("iam")
    clients.stubs["iam"].add_response(
        "list_instance_profiles_for_role",
        {
            "InstanceProfiles": [
                {
                    "Path": "/",
                    "InstanceProfileName": "someone-elses",
                    "InstanceProfileId": "AIPAEXAMPLE1234567890",
                    "Arn": "arn:aws:iam::123456789012:instance-profile/someone-elses",
                    "CreateDate": "2026-01-01T00:00:00Z",
                    "Roles": [],
                }
            ],
            "IsTruncated": False,
        },
        {"RoleName": "cafepipe-shop-instance"},
    )
    removal = remove_resources(
        clients, [Found("role", "cafepipe-shop-instance")], waits=FakeWaits()
    )  # type: ignore[arg-type]
    assert removal.deleted == []
    assert "someone-elses" in removal.failed[0][1] and "left alone" in removal.failed[0][1]
    clients.done()  # no DeleteRole, no RemoveRoleFromInstanceProfile was called


def test_an_endpoint_without_vpc_origins_has_none() -> None:
    clients = StubbedClients("cloudfront")
    cloudfront = clients.stubs["cloudfront"]
    cloudfront.add_response("list_distributions", {"DistributionList": _empty_list()})
    cloudfront.add_client_error("list_vpc_origins", "404", "Not Found", http_status_code=404)
    config = load_config(None, {"stack": "shop"}, environ={})
    from cafepipe.deploy import orphans

    assert orphans._cloudfront(clients, config) == []  # type: ignore[arg-type]
    cloudfront.add_client_error("list_distributions", "AccessDenied", "no", http_status_code=403)
    with pytest.raises(botocore.exceptions.ClientError):
        orphans._cloudfront(clients, config)  # type: ignore[arg-type]
    clients.done()


def _empty_list() -> dict[str, Any]:
    return {"Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": 0}


def test_what_the_state_holds_is_not_an_orphan() -> None:
    inventory = [
        {"type": "aws_instance", "values": {"id": "i-1", "primary_network_interface_id": "eni-1"}},
        {"type": "aws_s3_bucket", "values": {"id": "cafepipe-shop-1", "tags": {"a": "b"}}},
    ]
    assert known_ids(inventory) == {"i-1", "eni-1", "cafepipe-shop-1"}
    assert Found("instance", "i-2", "web").describe() == "instance i-2 (web) (tagged)"
    assert Found("dashboard", "shop-dashboard", by_name=True).describe().endswith("(by name)")


INTERRUPTS = [
    # (command, clean, left outside, words that must appear, words that must not)
    ("apply", True, [], ("saved them in its state", "safe to re-run `cafepipe up`"), ()),
    ("apply", True, None, ("cafepipe status", "not checked"), ("safe to re-run",)),
    (
        "apply",
        True,
        ["query definition q-1 (by name)"],
        ("cut off in flight", "q-1", "cafepipe destroy"),
        ("safe to re-run",),
    ),
    (
        "apply",
        False,
        ["instance i-9 (tagged)"],
        ("stopped at once", "aws_instance.web", "i-9", "cafepipe status"),
        ("safe to re-run",),
    ),
    ("plan", True, None, ("not changing the stack", "safe to re-run `cafepipe up`"), ()),
]


@pytest.mark.parametrize(("command", "clean", "left", "present", "absent"), INTERRUPTS)
def test_what_an_interrupted_up_says(
    command: str,
    clean: bool,
    left: list[str] | None,
    present: tuple[str, ...],
    absent: tuple[str, ...],
) -> None:
    stopped = TerraformInterrupted(
        command, clean=clean, in_flight=["module.compute.aws_instance.web"]
    )
    stopped.left_outside = left
    failure = describe_failure(stopped, command="up")
    text = failure.render()
    assert failure.exit_code == 130 and "Traceback" not in text
    for word in present:
        assert word in text, (word, text)
    for word in absent:
        assert word not in text, (word, text)


def test_a_state_whose_resources_are_gone_points_to_destroy_forget() -> None:
    gone = (
        "Error: InvalidGroup.NotFound: The security group 'sg-1' does not exist\n"
        "  on modules/network/main.tf line 55 (module.network.aws_default_security_group.default)"
    )
    assert "cafepipe destroy --forget" in _hint_for(gone, "plan")
    assert "re-run the same command" in _hint_for("Error: something else", "plan")
