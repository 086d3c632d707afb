"""The first boot's agent checks, run for real in bash with fake rpm, dnf and systemctl.

With no public IPv4 (site_access = "cloudfront") the SSM and CloudWatch agents reach AWS only
over their dual-stack endpoints, which they honour from SSM agent 3.3.3270.0 and CloudWatch
agent 1.300061.0. The user data upgrades an older agent, else fails with one line on the
console and in the status file (what `cafepipe check` and `get-console-output` read).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from cafepipe.config import SSM_AGENT_CONFIG_PATH, load_config
from cafepipe.deploy.render import (
    BOOT_MARKER,
    CLOUDWATCH_AGENT_DUALSTACK_MINIMUM,
    SSM_AGENT_DUALSTACK_MINIMUM,
    boot_functions,
    user_data,
)

SSM_URL = "https://amazon-ssm-eu-west-1.s3.dualstack.eu-west-1.amazonaws.com/x.rpm"

# rpm -q --queryformat '%{VERSION}' PACKAGE, answered from $FAKE/<package>.
FAKE_RPM = """#!/bin/bash
package="${@: -1}"
if [[ -f "$FAKE/$package" ]]; then cat "$FAKE/$package"; exit 0; fi
echo "package $package is not installed"; exit 1
"""
# dnf logs its arguments; an upgrade/install from the repository sets $FAKE/<package> to
# $FAKE/repo-<package> (if any), an install from a URL to $FAKE/url-<package>.
FAKE_DNF = """#!/bin/bash
echo "dnf $*" >> "$FAKE/calls"
package="${@: -1}"
if [[ "$package" == https://* ]]; then
  for offer in "$FAKE"/url-*; do
    [[ -f "$offer" ]] && cp "$offer" "$FAKE/${offer##*/url-}"
  done
  exit 0
fi
if [[ "$1" == upgrade && ! -f "$FAKE/$package" ]]; then exit 1; fi
if [[ -f "$FAKE/repo-$package" ]]; then cp "$FAKE/repo-$package" "$FAKE/$package"; fi
"""
FAKE_SYSTEMCTL = """#!/bin/bash
echo "systemctl $*" >> "$FAKE/calls"
"""


@dataclass
class Boot:
    returncode: int
    output: str
    calls: list[str]
    status: str
    console: str


class FakeInstance:
    """A boot's functions run in bash, with fake rpm/dnf/systemctl on PATH."""

    def __init__(self, root: Path) -> None:
        bin_dir, self.fake = root / "bin", root / "fake"
        bin_dir.mkdir()
        self.fake.mkdir()
        for name, script in (("rpm", FAKE_RPM), ("dnf", FAKE_DNF), ("systemctl", FAKE_SYSTEMCTL)):
            (bin_dir / name).write_text(script)
            (bin_dir / name).chmod(0o755)
        self.path = f"{bin_dir}:/usr/bin:/bin"
        self.status, self.console = root / "state" / "user-data.status", root / "console"
        self.functions = root / "functions.sh"
        self.functions.write_text(
            boot_functions(status_path=str(self.status), console_path=str(self.console))
        )

    def offer(self, name: str, version: str) -> None:
        """`<package>` installed, `repo-<package>` in the repository, `url-<package>` at AWS."""
        (self.fake / name).write_text(version)

    def run(self, script: str) -> Boot:
        done = subprocess.run(
            ["bash", "-c", f"set -Eeuo pipefail\nsource {self.functions}\n{script}\necho finished"],
            capture_output=True,
            text=True,
            env={"PATH": self.path, "FAKE": str(self.fake)},
            timeout=30,
        )
        calls = self.fake / "calls"
        return Boot(
            done.returncode,
            done.stdout + done.stderr,
            calls.read_text().splitlines() if calls.exists() else [],
            self.status.read_text() if self.status.exists() else "",
            self.console.read_text() if self.console.exists() else "",
        )


@pytest.fixture
def boot(tmp_path: Path) -> FakeInstance:
    return FakeInstance(tmp_path)


@pytest.mark.parametrize(
    ("version", "minimum", "at_least"),
    [
        ("3.3.3270.0", "3.3.3270.0", True),
        ("3.3.4177.0", "3.3.3270.0", True),
        ("3.3.987.0", "3.3.3270.0", False),  # by text "987" > "3270"; by number it is older
        ("3.2.2303.0", "3.3.3270.0", False),
        ("4.0.0.0", "3.3.3270.0", True),
        ("1.300061.0", "1.300061.0", True),
        ("1.300064.1b1237", "1.300061.0", True),  # the CloudWatch agent's build suffix
        ("1.300060.2b999", "1.300061.0", False),
        ("1.247358.0", "1.300061.0", False),
        ("", "1.300061.0", False),  # not installed
    ],
)
def test_version_at_least_compares_numbers(
    boot: FakeInstance, version: str, minimum: str, at_least: bool
) -> None:
    result = boot.run(
        f"if version_at_least '{version}' '{minimum}'; then echo YES; else echo NO; fi"
    )
    assert result.returncode == 0, result.output
    assert ("YES" if at_least else "NO") in result.output.split()


def test_a_new_enough_agent_is_left_alone(boot: FakeInstance) -> None:
    boot.offer("amazon-ssm-agent", "3.3.4177.0")
    result = boot.run(
        f"ensure_agent_version amazon-ssm-agent {SSM_AGENT_DUALSTACK_MINIMUM} {SSM_URL}"
    )
    assert result.returncode == 0 and "finished" in result.output
    assert result.calls == []
    assert "amazon-ssm-agent 3.3.4177.0 (dual-stack from 3.3.3270.0)" in result.output


def test_an_old_agent_is_upgraded_from_the_latest_release(boot: FakeInstance) -> None:
    boot.offer("repo-amazon-ssm-agent", "3.3.3270.0")
    boot.offer("amazon-ssm-agent", "3.3.987.0")
    result = boot.run(
        f"ensure_agent_version amazon-ssm-agent {SSM_AGENT_DUALSTACK_MINIMUM} {SSM_URL}"
    )
    assert result.returncode == 0 and "finished" in result.output
    assert result.calls == ["dnf upgrade -y --releasever=latest amazon-ssm-agent"]
    assert "amazon-ssm-agent upgraded to 3.3.3270.0" in result.output


def test_when_the_repository_is_behind_aws_own_download_is_installed(boot: FakeInstance) -> None:
    boot.offer("repo-amazon-cloudwatch-agent", "1.300050.0")
    boot.offer("url-amazon-cloudwatch-agent", "1.300064.1b1237")
    boot.offer("amazon-cloudwatch-agent", "1.300040.0b650")
    result = boot.run(
        "ensure_agent_version amazon-cloudwatch-agent "
        f"{CLOUDWATCH_AGENT_DUALSTACK_MINIMUM} https://example.test/agent.rpm"
    )
    assert result.returncode == 0 and "finished" in result.output
    assert result.calls == [
        "dnf upgrade -y --releasever=latest amazon-cloudwatch-agent",
        "dnf install -y https://example.test/agent.rpm",
    ]
    assert "amazon-cloudwatch-agent upgraded to 1.300064.1b1237" in result.output


def test_a_missing_agent_is_installed(boot: FakeInstance) -> None:
    boot.offer("repo-amazon-ssm-agent", "3.3.3400.0")
    result = boot.run(
        f"ensure_agent_version amazon-ssm-agent {SSM_AGENT_DUALSTACK_MINIMUM} {SSM_URL}"
    )
    assert result.returncode == 0, result.output
    assert result.calls == [
        "dnf upgrade -y --releasever=latest amazon-ssm-agent",  # fails: not installed
        "dnf install -y --releasever=latest amazon-ssm-agent",
    ]


def test_an_agent_that_stays_too_old_fails_the_boot_loudly(boot: FakeInstance) -> None:
    boot.offer("amazon-ssm-agent", "3.2.2303.0")
    result = boot.run(
        'step="agent versions"\n'
        f"ensure_agent_version amazon-ssm-agent {SSM_AGENT_DUALSTACK_MINIMUM} {SSM_URL}"
    )
    assert result.returncode == 1 and "finished" not in result.output
    line = (
        f"{BOOT_MARKER} failed step=agent versions: amazon-ssm-agent 3.2.2303.0 is older than "
        "3.3.3270.0, the first version with dual-stack endpoints: without IPv4 it cannot "
        "reach AWS"
    )
    # On the console (get-console-output), in the status file (SSM), in the log (stdout).
    assert result.console == result.status == line + "\n"
    assert line in result.output
    assert result.calls == [  # it tried Amazon Linux's latest release, then AWS's download
        "dnf upgrade -y --releasever=latest amazon-ssm-agent",
        f"dnf install -y {SSM_URL}",
    ]


def test_any_failing_command_reports_its_step(boot: FakeInstance) -> None:
    result = boot.run('step="packages"\nfalse\nreport ok')
    assert result.returncode == 1 and "finished" not in result.output
    assert result.status.startswith(f"{BOOT_MARKER} failed step=packages: exit status 1 at line")
    assert result.status.rstrip().endswith(": false") and result.console == result.status


def test_a_boot_that_ends_well_says_ok(boot: FakeInstance) -> None:
    result = boot.run('step="services"\ntrue\nreport ok')
    assert result.returncode == 0
    assert result.status == result.console == f"{BOOT_MARKER} ok\n"


def test_the_user_data_sets_dual_stack_before_the_network_and_checks_both_agents(
    tmp_path: Path,
) -> None:
    private = load_config(None, {"state_dir": str(tmp_path)}, environ={})
    script = user_data(private)
    config_written = script.index(f"cat > '{SSM_AGENT_CONFIG_PATH}'")
    restarted = script.index("systemctl restart amazon-ssm-agent")
    packages = script.index("dnf install -y httpd")
    assert config_written < restarted < packages  # before anything that needs the network
    checks = [
        script.index(f"ensure_agent_version amazon-ssm-agent {SSM_AGENT_DUALSTACK_MINIMUM} "),
        script.index(
            f"ensure_agent_version amazon-cloudwatch-agent {CLOUDWATCH_AGENT_DUALSTACK_MINIMUM} "
        ),
    ]
    assert packages < min(checks) and max(checks) < script.index("-a fetch-config")
    assert "https://amazon-ssm-us-east-1.s3.dualstack.$s3/latest/$ssm_platform/" in script
    assert script.rstrip().endswith("report ok")
    # The functions the tests run are the ones the user data carries.
    assert boot_functions() in script

    public = load_config(None, {"state_dir": str(tmp_path), "site_access": "public-ip"}, environ={})
    public_script = user_data(public)
    assert "ensure_agent_version amazon" not in public_script  # no IPv6-only path to guard
    assert "systemctl restart amazon-ssm-agent" not in public_script
