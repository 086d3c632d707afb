"""AWS clients from one factory that knows the region, the endpoint URL and the retry policy.

Every boto3 client in cafepipe comes from `AwsClients.client(...)`, so pointing the whole
tool at an emulator is one setting, and tests can hand in a factory of their own.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from cafepipe.config import StackConfig
from cafepipe.errors import AwsError

# Emulators accept any key; these never leave the machine (loopback endpoints only).
EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def is_loopback(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = urlparse(endpoint_url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def has_credentials() -> bool:
    """Whether boto3's usual chain finds credentials (env, files, SSO, instance role…)."""
    return boto3.session.Session().get_credentials() is not None


def emulator_credentials(endpoint_url: str | None) -> dict[str, str]:
    """Dummy credentials for a loopback emulator when none are configured; else none."""
    if is_loopback(endpoint_url) and not has_credentials():
        return dict(EMULATOR_CREDENTIALS)
    return {}


def credential_env(config: StackConfig) -> dict[str, str]:
    """Environment for child processes (Terraform, the AWS CLI) talking to this stack's cloud.

    Emulator credentials are passed in the environment only: never written to a file.
    """
    env = {"AWS_REGION": config.region, "AWS_DEFAULT_REGION": config.region}
    env.update(
        {name.upper(): value for name, value in emulator_credentials(config.endpoint_url).items()}
    )
    return env


class AwsClients:
    """Creates (and caches) boto3 clients for one stack's region and endpoint."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        # An emulator answers at once or never: retrying an unimplemented call only wastes time.
        attempts = max_attempts or (2 if endpoint_url else 8)
        self._botocore_config = botocore.config.Config(
            region_name=region,
            retries={
                "max_attempts": attempts,
                "mode": "adaptive" if not endpoint_url else "standard",
            },
            connect_timeout=5 if endpoint_url else 20,
            read_timeout=60,
        )
        self._credentials = emulator_credentials(endpoint_url)

    @classmethod
    def for_config(cls, config: StackConfig) -> AwsClients:
        return cls(config.region, config.endpoint_url)

    def client(self, service: str) -> Any:
        """A boto3 client for `service` (cached per factory)."""
        return _make_client(self, service)

    def check_credentials(self) -> None:
        """Fail early, with the next step, when there is nothing to authenticate with."""
        if self._credentials or has_credentials():
            return
        raise AwsError(
            "no AWS credentials found",
            "configure them the usual way (aws configure, AWS_PROFILE, SSO, an instance role), "
            "or run offline against an emulator: cafepipe demo, or "
            "--endpoint-url http://127.0.0.1:PORT after `cafepipe emulator start`",
        )


@cache
def _make_client(factory: AwsClients, service: str) -> Any:
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=factory.region,
        endpoint_url=factory.endpoint_url,
        config=factory._botocore_config,
        **factory._credentials,
    )


def describe_client_error(exc: Exception) -> str:
    """One line for a botocore failure: the AWS error code and message."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"
    return str(exc)
