"""Reading the rendered Terraform: its blocks, module scopes and the resources it will create.

python-hcl2 parses every `*.tf` file of the root module and of each local module it calls.
`ModuleScope.evaluate` then works out the values the estimate needs (literals, lists and maps,
`var.x` through module calls, `local.x`, `path.module`, string templates, `toset`, `file`,
`jsonencode`, `jsondecode`) and gives None for what only Terraform knows: data sources, other
resources' attributes, conditionals, arithmetic, `count.index`, `each`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2.rules.abstract import LarkElement, LarkToken
from hcl2.rules.base import AttributeRule, BlockRule
from hcl2.rules.containers import ObjectElemKeyRule, ObjectRule, TupleRule
from hcl2.rules.expressions import ExprTermRule, UnaryOpRule
from hcl2.rules.functions import FunctionCallRule
from hcl2.rules.indexing import GetAttrExprTermRule
from hcl2.rules.literal_rules import FloatLitRule, IdentifierRule, IntLitRule, LiteralValueRule
from hcl2.rules.strings import HeredocTemplateRule, InterpolationRule, StringRule
from hcl2.utils import SerializationOptions, process_escape_sequences
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from cafepipe.errors import CafepipeError

# Serialize to values, not to HCL source: strings unquoted and unescaped, 1e3 as 1000.0.
_AS_VALUE = SerializationOptions(
    with_comments=False, strip_string_quotes=True, preserve_scientific_notation=False
)
# A heredoc as the quoted string it stands for.
_HEREDOC_AS_STRING = SerializationOptions(with_comments=False, preserve_heredocs=False)
MAX_MODULE_DEPTH = 8
# var.x → the caller's argument → its var.y …: a longer chain can only be a cycle.
MAX_REFERENCE_HOPS = 20
# Arguments of a `module` block that are Terraform's, not the module's variables.
MODULE_META_ARGUMENTS = frozenset(
    {"source", "version", "count", "for_each", "providers", "depends_on"}
)


@dataclass
class HclBlock:
    """One block, `type "label" … { attributes, nested blocks }`, its expressions unevaluated."""

    type: str
    labels: tuple[str, ...]
    attributes: dict[str, LarkElement] = field(default_factory=dict)
    blocks: list[HclBlock] = field(default_factory=list)

    def children(self, block_type: str) -> list[HclBlock]:
        return [block for block in self.blocks if block.type == block_type]


def read_blocks(path: Path) -> list[HclBlock]:
    """The top-level blocks of one Terraform file."""
    try:
        tree = hcl2.parses(path.read_text(encoding="utf-8"), discard_comments=True)
    except UnexpectedInput as exc:
        raise CafepipeError(
            f"cannot read rendered Terraform {path}:{exc.line}: {_syntax_problem(exc)}"
        ) from None
    except LarkError as exc:
        raise CafepipeError(f"cannot read rendered Terraform {path}: {exc}") from None
    return [_block(child) for child in tree.body.children if isinstance(child, BlockRule)]


def _syntax_problem(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return "unexpected end of file (missing '}'?)"
        found = str(exc.token).strip()
        return f"unexpected {found.splitlines()[0][:20]!r}" if found else "unexpected line break"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    return "unexpected end of file"


def _block(rule: BlockRule) -> HclBlock:
    block_type, *labels = (str(label.serialize(_AS_VALUE)) for label in rule.labels)
    block = HclBlock(block_type, tuple(labels))
    for child in rule.body.children:
        if isinstance(child, AttributeRule):
            block.attributes[str(child.identifier.serialize())] = child.expression
        elif isinstance(child, BlockRule):
            block.blocks.append(_block(child))
    return block


@dataclass
class ModuleScope:
    """One module instance: where its `var.x`, `local.x` and `path.module` come from."""

    directory: Path
    path: str  # the address prefix: "" for the root, "module.compute." for a module it calls
    parent: ModuleScope | None = None
    arguments: dict[str, LarkElement] = field(default_factory=dict)  # expressions of the parent
    defaults: dict[str, LarkElement] = field(default_factory=dict)
    locals: dict[str, LarkElement] = field(default_factory=dict)

    @property
    def root(self) -> ModuleScope:
        return self if self.parent is None else self.parent.root

    def evaluate(
        self, expression: LarkElement | None, bindings: Mapping[str, Any] | None = None
    ) -> Any:
        """The value of `expression` in this module, or None where only Terraform can tell.

        `bindings` names values an expression may refer to, such as a `dynamic` block's iterator.
        """
        if expression is None:
            return None
        return _Evaluation(self, bindings or {}, 0).value(expression)

    def variable(self, name: str, hops: int) -> Any:
        if name in self.arguments and self.parent is not None:
            return _Evaluation(self.parent, {}, hops + 1).value(self.arguments[name])
        if name in self.defaults:
            return _Evaluation(self, {}, hops + 1).value(self.defaults[name])
        return None

    def local(self, name: str, hops: int) -> Any:
        if name not in self.locals:
            return None
        return _Evaluation(self, {}, hops + 1).value(self.locals[name])


@dataclass(frozen=True)
class _Evaluation:
    """Evaluates expressions of one scope; every reference it follows counts a hop."""

    scope: ModuleScope
    bindings: Mapping[str, Any]
    hops: int

    def value(self, node: LarkElement) -> Any:
        if self.hops > MAX_REFERENCE_HOPS:
            return None
        if isinstance(node, ExprTermRule):  # a term, perhaps in parentheses
            return self.value(node.expression)
        if isinstance(node, (IntLitRule, FloatLitRule, LiteralValueRule)):
            return node.serialize(_AS_VALUE)
        if isinstance(node, StringRule):
            return self.template(node)
        if isinstance(node, HeredocTemplateRule):
            # Its quoted form, unescaped: asked for the value instead, python-hcl2 8.1.4 leaves
            # the quotes of a `<<-` heredoc escaped (\"). It keeps a heredoc as one token, its
            # ${…} unparsed, so a heredoc template has no value here.
            text = process_escape_sequences(str(node.serialize(_HEREDOC_AS_STRING))[1:-1])
            return None if "${" in text or "%{" in text else text
        if isinstance(node, TupleRule):
            return [self.value(element) for element in node.elements]
        if isinstance(node, ObjectRule):
            return self.object(node)
        if isinstance(node, UnaryOpRule):
            operand = self.value(node.expr_term)
            if node.operator.strip() == "!" and isinstance(operand, bool):
                return not operand
            if node.operator.strip() == "-" and _is_number(operand):
                return -operand
            return None
        if isinstance(node, IdentifierRule):
            return self.bindings.get(str(node.serialize()))
        if isinstance(node, GetAttrExprTermRule):
            return self.attribute(node)
        if isinstance(node, FunctionCallRule):
            return self.call(node)
        return None  # conditionals, operators, for expressions, splats, indexes

    def template(self, node: StringRule) -> str | None:
        pieces: list[str] = []
        for part in node.string_parts:
            content = part.content
            if isinstance(content, InterpolationRule):
                piece = self.value(content.expression)
                if isinstance(piece, bool):
                    pieces.append("true" if piece else "false")
                elif isinstance(piece, (str, int, float)):
                    pieces.append(str(piece))
                else:
                    return None
            elif isinstance(content, LarkToken) and content.lark_name() == "STRING_CHARS":
                pieces.append(process_escape_sequences(str(content.value)))
            elif isinstance(content, LarkToken):  # $${ and %%{ stand for a literal ${ and %{
                pieces.append(str(content.value)[1:])
            else:  # a %{ if } or %{ for } directive
                return None
        return "".join(pieces)

    def object(self, node: ObjectRule) -> dict[str, Any] | None:
        entries: dict[str, Any] = {}
        for element in node.elements:
            key_rule = element.key
            key: Any
            if isinstance(key_rule, ObjectElemKeyRule) and isinstance(
                key_rule.value, IdentifierRule
            ):  # `{ name = … }`: a name, not a reference
                key = str(key_rule.value.serialize())
            elif isinstance(key_rule, ObjectElemKeyRule):
                key = self.value(key_rule.value)
            else:  # `{ (var.x) = … }`
                key = self.value(key_rule.expression)
            if _is_number(key):
                key = str(key)
            if not isinstance(key, str):
                return None
            entries[key] = self.value(element.expression)
        return entries

    def attribute(self, node: GetAttrExprTermRule) -> Any:
        name = str(node.get_attr.identifier.serialize())
        base = node.expr_term.expression
        if isinstance(base, IdentifierRule):
            namespace = str(base.serialize())
            if namespace == "var":
                return self.scope.variable(name, self.hops)
            if namespace == "local":
                return self.scope.local(name, self.hops)
            if namespace == "path" and name == "module":
                return str(self.scope.directory)
        owner = self.value(node.expr_term)
        return owner.get(name) if isinstance(owner, dict) else None

    def call(self, node: FunctionCallRule) -> Any:
        name = "::".join(str(identifier.serialize()) for identifier in node.identifiers)
        arguments = node.arguments.arguments if node.arguments else []
        if len(arguments) != 1 or name not in ("toset", "jsonencode", "jsondecode", "file"):
            return None  # other functions' arguments are not even looked at
        argument = self.value(arguments[0])
        if argument is None:
            return None
        if name == "toset":
            if not isinstance(argument, list):
                return None
            return [item for index, item in enumerate(argument) if item not in argument[:index]]
        if name == "jsonencode":
            # Parts only known after apply become null: a dashboard's widgets and metrics can
            # still be counted.
            return json.dumps(argument, separators=(",", ":"))
        if not isinstance(argument, str):
            return None
        if name == "jsondecode":  # e.g. the lake's named queries, rendered as a JSON file
            try:
                return json.loads(argument)
            except ValueError:
                return None
        try:  # a relative path is relative to the root module, as for Terraform
            return (self.scope.root.directory / argument).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def for_each_entries(collection: Any) -> list[tuple[Any, Any]] | None:
    """The (key, value) pairs `for_each` iterates over a map or a list; None if not known."""
    if isinstance(collection, dict):
        return list(collection.items())
    if isinstance(collection, list):
        return list(enumerate(collection))
    return None


@dataclass
class StackResource:
    """One `resource` block of the rendered stack, with the scope its expressions live in."""

    type: str
    name: str
    count: int
    block: HclBlock
    scope: ModuleScope

    def value(self, attribute: str) -> Any:
        """The attribute's value; None if it is not set or not known before apply."""
        return self.scope.evaluate(self.block.attributes.get(attribute))

    def nested_value(self, block_type: str, attribute: str) -> Any:
        """The attribute's value in the first nested `block_type` block that sets it."""
        for child in self.block.children(block_type):
            if attribute in child.attributes:
                return self.scope.evaluate(child.attributes[attribute])
        return None

    @property
    def address(self) -> str:
        return f"{self.scope.path}{self.type}.{self.name}"


@dataclass
class StackInventory:
    """What the rendered stack will create, module calls expanded; `notes` say what was assumed."""

    resources: list[StackResource]
    notes: list[str] = field(default_factory=list)
    root: Path | None = None

    def of_type(self, resource_type: str) -> list[StackResource]:
        return [r for r in self.resources if r.type == resource_type]

    def count(self, resource_type: str) -> int:
        return sum(r.count for r in self.of_type(resource_type))


def scan_stack(terraform_dir: Path) -> StackInventory:
    """Read the rendered root module and, recursively, every local module it calls."""
    terraform_dir = Path(terraform_dir)
    if not any(terraform_dir.glob("*.tf")):
        raise CafepipeError(
            f"no rendered Terraform in {terraform_dir}", "run `cafepipe render` first"
        )
    inventory = StackInventory(resources=[], root=terraform_dir)
    _scan_module(ModuleScope(terraform_dir, ""), 1, inventory, depth=0)
    return inventory


def _scan_module(
    scope: ModuleScope, multiplier: int, inventory: StackInventory, depth: int
) -> None:
    if depth > MAX_MODULE_DEPTH:
        raise CafepipeError(f"module calls nest too deeply at {scope.directory}")
    blocks = [block for path in sorted(scope.directory.glob("*.tf")) for block in read_blocks(path)]
    for block in blocks:
        if block.type == "variable" and block.labels and "default" in block.attributes:
            scope.defaults[block.labels[0]] = block.attributes["default"]
        elif block.type == "locals":
            scope.locals.update(block.attributes)
    for block in blocks:
        if block.type == "resource" and len(block.labels) == 2:
            count = _instances(block, scope, inventory, f"{scope.path}{'.'.join(block.labels)}")
            inventory.resources.append(
                StackResource(block.labels[0], block.labels[1], count * multiplier, block, scope)
            )
        elif block.type == "module" and block.labels:
            source = scope.evaluate(block.attributes.get("source"))
            name = f"{scope.path}module.{block.labels[0]}"
            if not isinstance(source, str) or not source.startswith(("./", "../")):
                inventory.notes.append(f"{name}: not a local module ({source!r}); not priced")
                continue
            count = _instances(block, scope, inventory, name)
            arguments = {
                key: value
                for key, value in block.attributes.items()
                if key not in MODULE_META_ARGUMENTS
            }
            child = ModuleScope((scope.directory / source).resolve(), f"{name}.", scope, arguments)
            _scan_module(child, multiplier * count, inventory, depth + 1)


def _instances(block: HclBlock, scope: ModuleScope, inventory: StackInventory, name: str) -> int:
    if "count" in block.attributes:
        count = scope.evaluate(block.attributes["count"])
        if isinstance(count, int) and not isinstance(count, bool):
            return max(count, 0)
        # e.g. a conditional count (`var.x ? 1 : 0`), which is not evaluated
        inventory.notes.append(f"{name}: count is an expression; assumed 1")
    elif "for_each" in block.attributes:
        entries = for_each_entries(scope.evaluate(block.attributes["for_each"]))
        if entries is not None:
            return len(entries)
        inventory.notes.append(f"{name}: for_each over a computed value; assumed 1 instance")
    return 1
