"""The docs a user has: the insights JSON Schema holds, and user-facing text stands on its own.

`docs/insights.schema.json` is the contract of `cafepipe insights --format json`; here the real
output of a generated log, and the generator's `--truth` file, are validated against it. Then
every file and help text a user reads is checked for references to material that is not in the
repository (planning notes, where the project came from).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner

from cafepipe.cafe.traffic import PAGE_VIEW_KEYS, SCHEMA_KEYS
from cafepipe.cli import cli
from cafepipe.insights.queries import INSIGHTS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "insights.schema.json"
# Nothing from the developer's environment reaches the CLI: no stack, region or state dir.
DEVELOPER_ENV = (
    "CAFEPIPE_STACK",
    "CAFEPIPE_REGION",
    "CAFEPIPE_STATE_DIR",
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
)


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small generated log: its insights JSON (through the CLI) and its ground truth."""
    folder = tmp_path_factory.mktemp("docs")
    log, truth, insights = folder / "access_log", folder / "truth.json", folder / "insights.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # no ./cafepipe.toml; anything written stays here
        for name in DEVELOPER_ENV:
            patch.delenv(name, raising=False)
        run_cli(
            "generate-logs",
            *("--out", str(log), "--lines", "4000", "--seed", "3"),
            *("--end", "2026-11-27T00:00:00Z", "--truth", str(truth), "--quiet"),
        )
        run_cli("insights", "--source", str(log), "--format", "json", "--out", str(insights))
    return {
        "insights": json.loads(insights.read_text()),
        "truth": json.loads(truth.read_text()),
    }


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def shared_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema's `$defs/shared` as a schema of its own (its `$ref`s still resolve)."""
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/shared"}


def documented_keys(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**schema["$defs"]["shared"]["properties"], **schema["properties"]}


def test_insights_json_validates_against_the_schema(
    generated: dict[str, Any], schema: dict[str, Any]
) -> None:
    data = generated["insights"]
    errors = [
        f"{error.json_path}: {error.message}"
        for error in jsonschema.Draft202012Validator(schema).iter_errors(data)
    ]
    assert not errors
    # "4 decimals" cannot be said in JSON Schema for floats (multipleOf 0.0001 fails on binary
    # fractions), so it is checked here.
    assert round(data["conversion_rate"], 4) == data["conversion_rate"]
    assert data["requests"] == 4000 and data["meta"]["engine"] == "duckdb"


def test_every_key_of_the_output_and_of_the_catalog_is_described(
    generated: dict[str, Any], schema: dict[str, Any]
) -> None:
    described = documented_keys(schema)
    catalog_keys = {"invalid_lines", "conversion_rate", "meta"}
    for insight in INSIGHTS:
        catalog_keys |= set(insight.columns) if insight.shape == "fields" else {insight.id}
    assert set(generated["insights"]) <= set(described)
    assert catalog_keys <= set(described)
    for key, definition in described.items():
        assert len(definition.get("description", "")) > 20, key
    for key, definition in described["meta"]["properties"].items():
        assert definition.get("description"), key
    # Future keys are allowed: readers must ignore what they do not know.
    assert schema["additionalProperties"] is True
    assert schema["$defs"]["shared"]["additionalProperties"] is True


def test_the_shared_keys_are_the_contract_with_the_generator(schema: dict[str, Any]) -> None:
    shared = schema["$defs"]["shared"]
    assert list(shared["required"]) == list(SCHEMA_KEYS)
    assert set(shared["properties"]) == set(SCHEMA_KEYS)
    assert schema["required"] == ["meta"] and schema["$ref"] == "#/$defs/shared"


def test_truth_file_validates_against_the_shared_part_of_the_schema(
    generated: dict[str, Any], schema: dict[str, Any]
) -> None:
    # The truth file and the insights JSON "use the same schema" in this sense: the truth holds
    # exactly the shared keys (no `meta`, which describes an insights run — source, engine — and
    # no other insight, which the generator does not count), with the same definitions. So it is
    # validated against `$defs/shared` — the same property definitions, with the shared keys
    # required — and checked to fail the full schema only for the `meta` it does not have,
    # rather than loosened until it passes.
    truth = generated["truth"]
    errors = [
        f"{error.json_path}: {error.message}"
        for error in jsonschema.Draft202012Validator(shared_schema(schema)).iter_errors(truth)
    ]
    assert not errors
    # The contract's keys and the page views' (visits, the funnel…, rows as objects there too).
    assert {*SCHEMA_KEYS, *PAGE_VIEW_KEYS, "schema_version"} <= set(truth)
    full = [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(truth)]
    assert full == ["'meta' is a required property"]
    # And what docs/insights.md promises: the two agree key by key on a generated log.
    assert {key: generated["insights"].get(key) for key in truth} == truth


def test_docs_insights_md_lists_every_key(schema: dict[str, Any]) -> None:
    text = (ROOT / "docs" / "insights.md").read_text(encoding="utf-8")
    missing = [key for key in documented_keys(schema) if f"`{key}`" not in text]
    assert not missing


def test_links_between_the_docs_lead_somewhere() -> None:
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


# ---- user-facing text stands on its own --------------------------------------------------

# What a user cannot follow: files that are not in the repository, and talk of where the
# project came from. Case-insensitive; a space matches any run of whitespace (line wraps).
FORBIDDEN = (
    r"DESIGN\.md",
    r"reference/",
    r"\.\./shared",
    r"lab\.md",
    r"seed-blog",
    r"\bthe exercise\b",
    r"\bthe lab\b",
    r"\bseed['’]s\b",
    r"\$6\.00 goal",
    r"\(issue ",
)
WHITESPACE = r"\s+"
FORBIDDEN_RE = re.compile(
    "|".join("(?:" + pattern.replace(" ", WHITESPACE) + ")" for pattern in FORBIDDEN),
    re.IGNORECASE,
)


def user_files() -> Iterator[Path]:
    """README.md, docs/, templates/ and terraform/ (rendered into the user's state directory)."""
    yield ROOT / "README.md"
    for folder in ("docs", "templates", "terraform"):
        yield from sorted(path for path in (ROOT / folder).rglob("*") if path.is_file())


def help_texts() -> Iterator[tuple[str, str]]:
    """`--help` of the group and of every command and subcommand, as a user sees it."""

    def walk(
        command: click.Command, name: str, parent: click.Context | None
    ) -> Iterator[tuple[str, str]]:
        context = click.Context(command, info_name=name.rsplit(" ", 1)[-1], parent=parent)
        yield f"{name} --help", command.get_help(context)
        if isinstance(command, click.Group):
            for sub_name, sub in sorted(command.commands.items()):
                yield from walk(sub, f"{name} {sub_name}", context)

    yield from walk(cli, "cafepipe", None)


def catalog_texts() -> Iterator[tuple[str, str]]:
    """Insight titles and descriptions: the report's and the dashboard's words."""
    for insight in INSIGHTS:
        yield f"insight {insight.id}", f"{insight.title}\n{insight.description}"


def offenders(where: str, text: str) -> list[str]:
    return [
        f"{where}:{text.count(chr(10), 0, match.start()) + 1}: {' '.join(match.group().split())}"
        for match in FORBIDDEN_RE.finditer(text)
    ]


def test_the_forbidden_patterns_catch_what_they_mean() -> None:
    assert offenders("x", "as in the\nexercise") == ["x:1: the exercise"]
    assert offenders("x", "the lab's widget") and offenders("x", "see ../shared/DESIGN.md")
    assert not offenders("x", "the label of the week profile; chown --reference=file")


def test_user_facing_text_cites_nothing_the_user_does_not_have() -> None:
    found: list[str] = []
    for path in user_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += offenders(str(path.relative_to(ROOT)), text)
    for where, text in [*help_texts(), *catalog_texts()]:
        found += offenders(where, text)
    assert not found, "user-facing text refers to what users do not have:\n" + "\n".join(found)


def test_every_command_has_help_text() -> None:
    texts = dict(help_texts())
    assert "cafepipe insights --help" in texts and "cafepipe emulator start --help" in texts
    assert all("Usage:" in text for text in texts.values())


def test_cost_report_cites_nothing_the_user_does_not_have(tmp_path: Path) -> None:
    # `cafepipe cost` explains itself in its assumptions: they are read like the docs.
    found: list[str] = []
    for site_access in ("cloudfront", "public-ip"):
        result = CliRunner().invoke(
            cli,
            [
                "--state-dir",
                str(tmp_path),
                "cost",
                "--site-access",
                site_access,
                "--format",
                "json",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        for number, assumption in enumerate(report["assumptions"], start=1):
            found += offenders(
                f"cafepipe cost --site-access {site_access}: assumption {number}", assumption
            )
    assert not found, "the cost report refers to what users do not have:\n" + "\n".join(found)
