"""Strict Jinja for everything cafepipe renders, and where the templates are.

One environment per template root (`terraform/`, `templates/`): undefined names are errors,
HTML is autoescaped and HCL/shell are not, and a failure names the template and its line.
This module imports nothing else of cafepipe's deploy step, so the insights report and the
log simulation render templates without pulling in the stack.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
from markupsafe import Markup

from cafepipe.errors import CafepipeError

TEMPLATE_SUFFIX = ".j2"
# Files whose templates are autoescaped for HTML (the café site, the report); HCL and shell
# are not.
HTML_SUFFIXES = ("html.j2", "htm.j2", "php.j2", "svg.j2", "xml.j2")
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


class TemplateRenderError(CafepipeError):
    """A template could not be rendered; the message names the template and line."""


def hcl_literal(value: Any, indent: int = 0) -> str:
    """A Python value as an HCL literal, formatted the way `terraform fmt` leaves it.

    Strings are JSON-quoted with Terraform's template sequences (`${`, `%{`) escaped; maps
    become aligned multi-line objects so the output passes `terraform fmt -check`.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        keys = [hcl_literal(str(key)) for key in value]
        width = max(len(key) for key in keys)
        pad = " " * (indent + 2)
        lines = [
            f"{pad}{key.ljust(width)} = {hcl_literal(item, indent + 2)}"
            for key, item in zip(keys, value.values(), strict=True)
        ]
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl_literal(item, indent) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as HCL")


def hcl_arguments(arguments: Mapping[str, Any], indent: int) -> str:
    """`name = value` lines with the `=` aligned, as `terraform fmt` aligns them."""
    width = max(len(name) for name in arguments)
    pad = " " * indent
    return "\n".join(
        f"{pad}{name.ljust(width)} = {hcl_literal(value, indent)}"
        for name, value in arguments.items()
    )


def php_string(value: Any) -> Markup:
    """A single-quoted PHP string literal (already safe: PHP escapes it for HTML on output)."""
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return Markup(f"'{text}'")


def _autoescape(template_name: str | None) -> bool:
    return bool(template_name and template_name.lower().endswith(HTML_SUFFIXES))


@cache
def template_environment(root: Path) -> jinja2.Environment:
    """The strict Jinja environment for one template root (terraform/ or templates/)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hcl"] = hcl_literal
    env.filters["hcl_arguments"] = hcl_arguments
    env.filters["php_string"] = php_string
    env.filters["json_pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    return env


def _failing_template_line(exc: BaseException) -> tuple[str | None, int | None]:
    # Jinja rewrites tracebacks so template frames carry the template's file and line.
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(TEMPLATE_SUFFIX):
            return frame.filename, frame.lineno
    return None, None


def _render(root: Path, relative_path: str, context: Mapping[str, Any]) -> str:
    shown = f"{root.name}/{relative_path}"
    try:
        template = template_environment(root).get_template(relative_path)
        return template.render(**context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateRenderError(
            f"template {root.name}/{exc.name} not found",
            "reinstall cafepipe; the templates ship with the package",
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        where = f"{root.name}/{exc.name}" if exc.name else shown
        raise TemplateRenderError(
            f"cannot render {where}, line {exc.lineno}: {exc.message}"
        ) from exc
    except jinja2.TemplateError as exc:
        filename, line = _failing_template_line(exc)
        if filename:
            try:
                where = f"{root.name}/{PurePosixPath(Path(filename).relative_to(root))}"
            except ValueError:
                where = filename
        else:
            where = shown
        at_line = f", line {line}" if line else ""
        raise TemplateRenderError(f"cannot render {where}{at_line}: {exc.message}") from exc


def render_template(relative_path: str, **context: Any) -> str:
    """Render one file of `templates/` (e.g. "instance/httpd-cafe.conf.j2") with `context`."""
    return _render(templates_dir(), relative_path, context)


def render_terraform_template(relative_path: str, **context: Any) -> str:
    """Render one file of `terraform/` (e.g. "modules/storage/main.tf.j2")."""
    return _render(terraform_dir(), relative_path, context)
