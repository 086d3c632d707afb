"""Where the shipped Terraform modules and templates are, in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _data_dir(name: str) -> Path:
    # A wheel carries them as package data (cafepipe/_data/<name>); a checkout or an
    # editable install has them at the repository's top level, beside the package.
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cafepipe's {name}/ directory is missing from this installation")


def terraform_dir() -> Path:
    """The Jinja-templated Terraform modules."""
    return _data_dir("terraform")


def templates_dir() -> Path:
    """Everything else cafepipe renders: instance files, SSM scripts, dashboard, report."""
    return _data_dir("templates")
