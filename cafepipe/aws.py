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

NO_CREDENTIALS_HINT = (
    "configure them the usual way (aws configure, AWS_PROFILE, SSO, an instance role), "
    "or run offline against an emulator: cafepipe demo, or "
    "--endpoint-url http://127.0.0.1:PORT after `cafepipe emulator start`"
)

# AWS error codes by what the user can do about them (services spell them differently).
ACCESS_DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
    "Forbidden", "403",
})  # fmt: skip
BAD_CREDENTIALS_CODES = frozenset({
    "InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "AuthFailure", "InvalidSignatureException", "IncompleteSignature",
})  # fmt: skip
EXPIRED_CODES = frozenset({
    "ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired",
})  # fmt: skip
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "SlowDown", "RequestThrottled", "RequestThrottledException",
    "ServiceUnavailable", "ServiceUnavailableException", "ProvisionedThroughputExceededException",
})  # fmt: skip
NOT_FOUND_CODES = frozenset({
    "ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound", "404",
    "InvalidInstanceID.NotFound",
})  # fmt: skip
SERVER_ERROR_CODES = frozenset({
    "InternalFailure", "InternalError", "InternalServerError", "InternalServerException",
    "ServiceFailure", "500", "503",
})  # fmt: skip

# botocore's "could not talk to the endpoint" family: the request never got an answer.
CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)


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

    def single_attempt_client(self, service: str) -> Any:
        """A client with botocore's retries off, for a caller that is the one retry layer
        (ship: it must know whether an unanswered call was stored before it sends again)."""
        return _make_client(self, service, single_attempt=True)

    def check_credentials(self) -> None:
        """Fail early, with the next step, when there is nothing to authenticate with."""
        if self._credentials or has_credentials():
            return
        raise AwsError("no AWS credentials found", NO_CREDENTIALS_HINT)


@cache
def _make_client(factory: AwsClients, service: str, single_attempt: bool = False) -> Any:
    config = factory._botocore_config
    if single_attempt:
        config = config.merge(
            botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
        )
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=factory.region,
        endpoint_url=factory.endpoint_url,
        config=config,
        **factory._credentials,
    )


def describe_client_error(exc: BaseException) -> str:
    """One line for a botocore failure: the AWS error code and message, or what went wrong."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"
    if isinstance(exc, CONNECTION_ERRORS):
        url = _endpoint_of(exc)
        if isinstance(exc, botocore.exceptions.ReadTimeoutError):
            return f"{url} did not answer in time"
        if isinstance(exc, botocore.exceptions.ConnectionClosedError):
            return f"{url} closed the connection before answering"
        return f"nothing answers at {url}"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region is set"
    return str(exc)


def aws_error_hint(exc: BaseException) -> str | None:
    """What to do about a botocore failure, when its code or kind says (else None)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        operation = getattr(exc, "operation_name", "") or "this call"
        if code in ACCESS_DENIED_CODES:
            return (
                f"the credentials in use may not call {operation}: check their IAM policy "
                "(aws sts get-caller-identity shows whose they are)"
            )
        if code in BAD_CREDENTIALS_CODES:
            return (
                "AWS does not accept these credentials: check them (aws configure list, "
                "AWS_PROFILE), or work offline on the emulator (cafepipe demo)"
            )
        if code in EXPIRED_CODES:
            return "the session credentials have expired: refresh them (e.g. aws sso login)"
        if code in THROTTLING_CODES:
            return "AWS is throttling the requests: wait a minute and re-run"
        if code in NOT_FOUND_CODES:
            return "check the name and the region (cafepipe status shows the stack's resources)"
        if code in SERVER_ERROR_CODES:
            return "a problem on AWS's side: re-run in a moment"
        return None
    if isinstance(exc, CONNECTION_ERRORS):
        if is_loopback(_endpoint_of(exc)):
            return (
                "is the emulator running? start it with `cafepipe emulator start`, "
                "or fix --endpoint-url / AWS_ENDPOINT_URL"
            )
        return "check the network (and any proxy), the region and --endpoint-url / AWS_ENDPOINT_URL"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return NO_CREDENTIALS_HINT
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "pass --region or set AWS_REGION"
    if isinstance(exc, botocore.exceptions.SSLError):
        return "check the network: a proxy that intercepts TLS needs AWS_CA_BUNDLE"
    if isinstance(exc, botocore.exceptions.ProxyConnectionError):
        return "check the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)"
    if isinstance(
        exc,
        (
            botocore.exceptions.CredentialRetrievalError,
            botocore.exceptions.TokenRetrievalError,
            botocore.exceptions.SSOError,
        ),
    ):
        return "refresh the credentials (e.g. aws sso login) and re-run"
    return None


def aws_error(what: str, exc: BaseException, hint: str) -> AwsError:
    """`what` failed with a botocore error: the AWS error in one line after it, and what to
    do — the error's own advice when its code or kind gives one (`aws_error_hint`), else `hint`.
    """
    return AwsError(f"{what}: {describe_client_error(exc)}", aws_error_hint(exc) or hint)


def _endpoint_of(exc: BaseException) -> str:
    """scheme://host:port of the URL a botocore connection error was about."""
    url = str(getattr(exc, "kwargs", {}).get("endpoint_url") or "")
    parsed = urlparse(url)
    if parsed.scheme and parsed.netloc:
        return f"{parsed.scheme}://{parsed.netloc}"
    return url or "the AWS endpoint"
