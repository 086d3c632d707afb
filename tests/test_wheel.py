"""A wheel install carries the templates and renders, not only a checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def test_wheel_ships_templates_and_renders(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("cafepipe-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("cafepipe/_data/terraform/") and n.endswith(".tf.j2") for n in names)
    assert any(n.startswith("cafepipe/_data/templates/") for n in names)

    # Install it on its own (dependencies come from the test venv) and render from it,
    # in a directory far from the checkout.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run(
        [sys.executable, "-c", "import cafepipe.deploy.templating as t; print(t.terraform_dir())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(target))
    result = subprocess.run(
        [sys.executable, "-m", "cafepipe", "render", "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rendered = work / ".cafepipe" / "cafe" / "terraform"
    assert (rendered / "main.tf").is_file()
    assert json.loads(result.stdout)
