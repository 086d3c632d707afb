"""Shared fixtures: a real moto server (with cafepipe's emulator extension) and clean env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cafepipe.deploy.emulator import EmulatorInfo, start_emulator, stop_emulator


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's AWS settings or the repo's cafepipe.toml."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "CAFEPIPE_TERRAFORM_BIN",
        "CAFEPIPE_STACK",
        "CAFEPIPE_REGION",
        "CAFEPIPE_STATE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorInfo]:
    """One moto server per test worker, started the way `cafepipe emulator start` does."""
    root = tmp_path_factory.mktemp("emulator")
    info = start_emulator(root)
    yield info
    stop_emulator(root)


# Fixtures that start a server or a real program: a test that uses one is an integration test.
SLOW_FIXTURES = frozenset({"emulator"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the tiers honest: `make test-fast` must never start moto behind a test's back."""
    for item in items:
        slow = SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if slow and item.get_closest_marker("integration") is None:
            raise pytest.UsageError(
                f"{item.nodeid} uses {', '.join(sorted(slow))} but is not marked integration"
            )
