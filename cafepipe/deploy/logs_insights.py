"""CloudWatch Logs Insights queries, evaluated in plain Python: the emulator's query engine.

Written from the Logs Insights query-syntax documentation (commands, operators, functions,
discovered fields, `sort`'s natural order) for the subset a café's dashboard needs, and strict
where the service is: a syntax error, an unknown function, a wrong number of arguments, an
aggregation outside `stats` or a name `stats` did not produce raises `MalformedQuery` (AWS
answers `MalformedQueryException`), before any event is read.

Commands: `fields`, `display`, `filter`, `stats … by …` (several in a row), `sort`, `limit`,
`parse` (regular expression with named groups, or glob with `as`), `#` comments.
Expressions: numbers, strings, field names (backticks for odd ones), `bin(1d)`-style periods,
`+ - * / % ^`, `= != < <= > >=`, `and or not`, `like` / `not like` / `=~` (substring or
`/regex/`), `in` / `not in [list]`, and the documented functions in `FUNCTIONS`.

Values: a JSON event's fields are discovered as AWS does (nested objects flattened with dots,
array items by index, at most `MAX_JSON_FIELDS`, a field named `@x` becomes `@@x`), with their JSON
types: `"status":"404"` is the text "404". Arithmetic, numeric functions and `sum`/`avg` read a
numeric text as its number (the service's own examples average values extracted by `parse`,
which are text); a comparison is numeric when one side is a number and the other a number or a
numeric text, textual when both are text; `min` and `max` take numbers by value (text only where
there is no number). A missing field is null: `=`, `!=` and `<`… with null are false, `not`
makes them true, arithmetic with null is null, aggregations skip it; `sort` puts it last.
Booleans print as 1 and 0. Events are sorted newest first when a query has neither `stats` nor
`sort`, and its rows show the fields of its `fields` (or `display`) commands, else @timestamp
and @message, with @ptr.

What is knowingly different from AWS: `count_distinct` is exact here (AWS documents it as
approximate on high-cardinality fields), `pct` is the nearest-rank percentile, rows of a
`stats` without `sort` come in ascending key order, regular expressions are Python's
(`(?<name>…)` groups and a leading `(?i)` are translated), and commands and functions the
documentation added later (`dedup`, `unnest`, `jsonParse`, …) are refused as unknown.
"""

from __future__ import annotations

import calendar
import functools
import ipaddress
import itertools
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

MAX_QUERY_LENGTH = 10_000  # StartQuery's queryString limit
MAX_LIMIT = 10_000  # the largest `limit` (and the most rows a query returns)
MAX_JSON_FIELDS = 200  # fields Logs Insights discovers in one JSON event


class MalformedQuery(ValueError):
    """The query cannot run: the text and the place (character offset) that is wrong."""

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at character {position + 1}" if position is not None else ""
        super().__init__(f"{message}{where}")
        self.position = position


@dataclass(frozen=True, order=True)
class Timestamp:
    """A point in time, in milliseconds since the epoch (UTC)."""

    millis: int

    def text(self) -> str:
        seconds, millis = divmod(self.millis, 1000)
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"


class Event(NamedTuple):
    """One stored log event, as the service keeps it."""

    timestamp: int  # ms
    message: str
    log_stream: str = ""
    log_group: str = ""  # as @log shows it: "<account id>:<log group name>"
    ingestion_time: int | None = None  # ms


@dataclass
class QueryResult:
    """Rows as GetQueryResults returns them, and the statistics of the run."""

    rows: list[list[dict[str, str]]]
    records_matched: int
    records_scanned: int
    bytes_scanned: int

    @property
    def statistics(self) -> dict[str, float]:
        return {
            "recordsMatched": float(self.records_matched),
            "recordsScanned": float(self.records_scanned),
            "bytesScanned": float(self.bytes_scanned),
        }


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------

_NUMERIC_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")


def as_number(value: Any) -> int | float | None:
    """A value as a number: numbers and numeric text; None for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and len(value) < 400 and _NUMERIC_TEXT.fullmatch(value):
        return int(value) if _INTEGER_TEXT.fullmatch(value) else float(value)
    return None


def as_text(value: Any) -> str | None:
    """A value as text, the way results show it (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, Timestamp):
        return value.text()
    return str(value)


def _is_number_value(value: Any) -> bool:
    # sort's "number values": numbers, and text made of a number only.
    return as_number(value) is not None and not isinstance(value, Timestamp)


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """The pair as it is compared, or None when these two values do not compare."""
    if left is None or right is None:
        return None
    if isinstance(left, Timestamp) or isinstance(right, Timestamp):
        lm = left.millis if isinstance(left, Timestamp) else as_number(left)
        rm = right.millis if isinstance(right, Timestamp) else as_number(right)
        return None if lm is None or rm is None else (lm, rm)
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    ln, rn = as_number(left), as_number(right)
    if ln is None or rn is None:
        return None
    return ln, rn


def _equal(left: Any, right: Any) -> bool:
    pair = _comparable(left, right)
    return pair is not None and pair[0] == pair[1]


def _chunks(text: str) -> list[str]:
    return re.findall(r"\d+|\D+", text)


def _compare_text(left: str, right: str) -> int:
    # Natural order: digit runs by length then value, other runs by code point.
    for a, b in zip(_chunks(left), _chunks(right), strict=False):
        if a == b:
            continue
        if a.isdigit() and b.isdigit():
            return -1 if (len(a), a) < (len(b), b) else 1
        return -1 if a < b else 1
    return (len(left) > len(right)) - (len(left) < len(right))


def natural_compare(left: Any, right: Any) -> int:
    """`sort`'s ascending order: every non-number before every number, text naturally."""
    left_number, right_number = _is_number_value(left), _is_number_value(right)
    if left_number and right_number:
        a, b = as_number(left), as_number(right)
        assert a is not None and b is not None
        return (a > b) - (a < b)
    if left_number != right_number:
        return 1 if left_number else -1
    if isinstance(left, Timestamp) and isinstance(right, Timestamp):
        return (left.millis > right.millis) - (left.millis < right.millis)
    return _compare_text(as_text(left) or "", as_text(right) or "")


_natural_key = functools.cmp_to_key(natural_compare)


# ---------------------------------------------------------------------------------------
# Periods, for bin(), datefloor() and dateceil()
# ---------------------------------------------------------------------------------------

_UNITS = {
    "ms": "ms", "msec": "ms", "millisecond": "ms",
    "s": "s", "sec": "s", "second": "s",
    "m": "m", "min": "m", "minute": "m",
    "h": "h", "hr": "h", "hour": "h",
    "d": "d", "day": "d",
    "w": "w", "week": "w",
    "mo": "mo", "mon": "mo", "month": "mo",
    "q": "q", "qtr": "q", "quarter": "q",
    "y": "y", "yr": "y", "year": "y",
}  # fmt: skip
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MONTHS_PER = {"mo": 1, "q": 3, "y": 12}


def _unit(word: str) -> str | None:
    if word in _UNITS:
        return _UNITS[word]
    # Units of more than one character may take a plural s: hrs, mins, days.
    if len(word) > 2 and word.endswith("s") and word[:-1] in _UNITS:
        return _UNITS[word[:-1]]
    return None


@dataclass(frozen=True)
class Period:
    """A time period such as 1d, 5m or 2hrs."""

    count: int
    unit: str

    def floor(self, millis: int) -> int:
        if self.unit in _UNIT_MS:
            size = self.count * _UNIT_MS[self.unit]
            return millis - millis % size
        moment = datetime.fromtimestamp(millis / 1000, timezone.utc)
        months = moment.year * 12 + moment.month - 1
        step = self.count * _MONTHS_PER[self.unit]
        months -= months % step
        return calendar.timegm((months // 12, months % 12 + 1, 1, 0, 0, 0)) * 1000

    def ceil(self, millis: int) -> int:
        low = self.floor(millis)
        if low == millis:
            return millis
        if self.unit in _UNIT_MS:
            return low + self.count * _UNIT_MS[self.unit]
        moment = datetime.fromtimestamp(low / 1000, timezone.utc)
        months = moment.year * 12 + moment.month - 1 + self.count * _MONTHS_PER[self.unit]
        return calendar.timegm((months // 12, months % 12 + 1, 1, 0, 0, 0)) * 1000


# ---------------------------------------------------------------------------------------
# Syntax tree
# ---------------------------------------------------------------------------------------


class Node:
    """An expression; `text` is its source, which names a column nobody aliased."""

    text: str = ""
    position: int = 0

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass
class Literal(Node):
    value: Any


@dataclass
class FieldRef(Node):
    name: str


@dataclass
class PeriodNode(Node):
    period: Period


@dataclass
class Star(Node):
    pass


@dataclass
class RegexNode(Node):
    pattern: re.Pattern[str]


@dataclass
class Call(Node):
    name: str  # lower case
    args: list[Node]

    def children(self) -> tuple[Node, ...]:
        return tuple(self.args)


@dataclass
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass
class Match(Node):
    """`x like "text"`, `x like /re/`, `x =~ /re/` and their `not like` forms."""

    subject: Node
    pattern: Node  # Literal (substring) or RegexNode
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.subject, self.pattern)


@dataclass
class InList(Node):
    subject: Node
    items: list[Node]
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.subject, *self.items)


@dataclass
class Item:
    """An expression with the name it gets: its alias, else its source text."""

    node: Node
    alias: str | None

    @property
    def name(self) -> str:
        if self.alias:
            return self.alias
        if isinstance(self.node, FieldRef):
            return self.node.name
        return self.node.text


@dataclass
class FieldsCommand:
    items: list[Item]


@dataclass
class DisplayCommand:
    names: list[FieldRef]


@dataclass
class FilterCommand:
    condition: Node


@dataclass
class StatsCommand:
    aggregates: list[Item]
    groups: list[Item]


@dataclass
class SortCommand:
    key: FieldRef
    descending: bool


@dataclass
class LimitCommand:
    count: int


@dataclass
class ParseCommand:
    source: FieldRef
    pattern: re.Pattern[str]
    groups: dict[str, str]  # regex group name → the field it extracts

    @property
    def names(self) -> list[str]:
        return list(self.groups.values())


Command = (
    FieldsCommand
    | DisplayCommand
    | FilterCommand
    | StatsCommand
    | SortCommand
    | LimitCommand
    | ParseCommand
)


# ---------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A documented function: how many arguments, and whether it aggregates."""

    min_args: int
    max_args: int | None  # None: any number
    kind: str = "scalar"  # scalar, aggregate, period (bin), field (takes field names)


FUNCTIONS: dict[str, Function] = {
    # general
    "ispresent": Function(1, 1, "field"),
    "coalesce": Function(1, None, "field"),
    # strings
    "isempty": Function(1, 1),
    "isblank": Function(1, 1),
    "concat": Function(1, None),
    "ltrim": Function(1, 2),
    "rtrim": Function(1, 2),
    "trim": Function(1, 2),
    "strlen": Function(1, 1),
    "toupper": Function(1, 1),
    "tolower": Function(1, 1),
    "substr": Function(2, 3),
    "replace": Function(3, 3),
    "strcontains": Function(2, 2),
    # numbers
    "abs": Function(1, 1),
    "ceil": Function(1, 1),
    "floor": Function(1, 1),
    "greatest": Function(1, None),
    "least": Function(1, None),
    "log": Function(1, 1),
    "sqrt": Function(1, 1),
    # date and time
    "bin": Function(1, 1, "period"),
    "datefloor": Function(2, 2),
    "dateceil": Function(2, 2),
    "frommillis": Function(1, 1),
    "tomillis": Function(1, 1),
    # IP addresses
    "isvalidip": Function(1, 1),
    "isvalidipv4": Function(1, 1),
    "isvalidipv6": Function(1, 1),
    "isipinsubnet": Function(2, 2),
    "isipv4insubnet": Function(2, 2),
    "isipv6insubnet": Function(2, 2),
    # stats: aggregations and the non-aggregating ones
    "avg": Function(1, 1, "aggregate"),
    "count": Function(0, 1, "aggregate"),
    "count_distinct": Function(1, 1, "aggregate"),
    "max": Function(1, 1, "aggregate"),
    "min": Function(1, 1, "aggregate"),
    "pct": Function(2, 2, "aggregate"),
    "stddev": Function(1, 1, "aggregate"),
    "sum": Function(1, 1, "aggregate"),
    "earliest": Function(1, 1, "aggregate"),
    "latest": Function(1, 1, "aggregate"),
    "sortsfirst": Function(1, 1, "aggregate"),
    "sortslast": Function(1, 1, "aggregate"),
}
# Arguments that are time periods (bin's only one; datefloor's and dateceil's second).
_PERIOD_ARGS = {"bin": 0, "datefloor": 1, "dateceil": 1}


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "not", "like", "in", "as", "by", "asc", "desc"}
_COMMANDS = ("fields", "display", "filter", "stats", "sort", "limit", "parse")
_IDENT = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_PERIOD = re.compile(r"(\d+)([A-Za-z]+)")


def translate_regex(pattern: str, position: int = 0) -> re.Pattern[str]:
    """A Logs Insights regular expression (between slashes) as a compiled Python pattern."""
    source = pattern.replace("\\/", "/")
    source = re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", source)  # named groups, not look-behinds
    flags = 0
    if source.startswith("(?i)"):
        source, flags = source[4:], re.IGNORECASE
    if "(?i)" in source:
        raise MalformedQuery("the emulator supports (?i) only at the start of a pattern", position)
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise MalformedQuery(f"invalid regular expression /{pattern}/: {exc}", position) from None


def _glob_regex(glob: str) -> re.Pattern[str]:
    # parse's glob mode: each * captures (groups g0, g1…); the last takes the rest of the text.
    parts = glob.split("*")
    stars = len(parts) - 1
    source = ""
    for index, part in enumerate(parts):
        source += re.escape(part)
        if index < stars:
            source += f"(?P<g{index}>" + (".*)" if index == stars - 1 else ".*?)")
    return re.compile(source, re.DOTALL)


class _Parser:
    """A recursive-descent parser over the query text (regex literals need the context)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- characters ----------------------------------------------------------------------

    def skip(self) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char.isspace():
                self.pos += 1
            elif char == "#":  # a comment runs to the end of the line
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end + 1
            else:
                return

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def accept(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.accept(token):
            raise self.error(f"expected {token!r}")

    def peek_word(self) -> str | None:
        self.skip()
        match = _IDENT.match(self.text, self.pos)
        return match.group(0) if match else None

    def accept_word(self, word: str) -> bool:
        found = self.peek_word()
        if found is not None and found.lower() == word:
            self.pos += len(found)
            return True
        return False

    def error(self, message: str) -> MalformedQuery:
        self.skip()
        if self.pos >= len(self.text):
            return MalformedQuery(f"{message}, but the query ends", len(self.text))
        found = self.text[self.pos : self.pos + 20]
        return MalformedQuery(f"{message}, found {found!r}", self.pos)

    # -- query ---------------------------------------------------------------------------

    def query(self) -> list[Command]:
        commands = [self.command()]
        while self.accept("|"):
            commands.append(self.command())
        self.skip()
        if self.pos < len(self.text):
            raise self.error("expected '|' or the end of the query")
        return commands

    def command(self) -> Command:
        word = self.peek_word()
        name = (word or "").lower()
        if name not in _COMMANDS:
            raise self.error(
                "expected a command (" + ", ".join(_COMMANDS) + ")"
                if word is None
                else f"unknown command {word!r}"
            )
        assert word is not None
        self.pos += len(word)
        if name == "fields":
            return FieldsCommand(self.items())
        if name == "display":
            return DisplayCommand(self.field_list())
        if name == "filter":
            return FilterCommand(self.expression())
        if name == "stats":
            aggregates = self.items()
            groups = self.items() if self.accept_word("by") else []
            return StatsCommand(aggregates, groups)
        if name == "sort":
            key = self.field_ref()
            descending = False
            if self.accept_word("desc"):
                descending = True
            else:
                self.accept_word("asc")
            return SortCommand(key, descending)
        if name == "limit":
            self.skip()
            start = self.pos
            match = re.compile(r"\d+").match(self.text, self.pos)
            if not match:
                raise self.error("expected a number after limit")
            self.pos = match.end()
            count = int(match.group(0))
            if not 1 <= count <= MAX_LIMIT:
                raise MalformedQuery(f"limit must be between 1 and {MAX_LIMIT:,}", start)
            return LimitCommand(count)
        return self.parse_command()

    def parse_command(self) -> ParseCommand:
        self.skip()
        source = FieldRef("@message")
        if not (self.peek("/") or self.peek('"') or self.peek("'")):
            source = self.field_ref()
        self.skip()
        position = self.pos
        if self.peek("/"):
            pattern = translate_regex(self.regex_text(), position)
            if not pattern.groupindex:
                raise MalformedQuery("a parse pattern needs a named group (?<name>…)", position)
            if self.accept_word("multi"):
                raise MalformedQuery("parse … multi is not supported by the emulator", position)
            return ParseCommand(source, pattern, {name: name for name in pattern.groupindex})
        glob = self.string_text()
        if not self.accept_word("as"):
            raise self.error("expected 'as' and the names of the extracted fields")
        names = [ref.name for ref in self.field_list()]
        stars = glob.count("*")
        if stars != len(names):
            raise MalformedQuery(
                f"the pattern has {stars} '*' but {len(names)} names follow 'as'", position
            )
        return ParseCommand(source, _glob_regex(glob), {f"g{i}": n for i, n in enumerate(names)})

    def items(self) -> list[Item]:
        items = [self.item()]
        while self.accept(","):
            items.append(self.item())
        return items

    def item(self) -> Item:
        node = self.expression()
        alias = None
        if self.accept_word("as"):
            alias = self.field_ref().name
        return Item(node, alias)

    def field_list(self) -> list[FieldRef]:
        names = [self.field_ref()]
        while self.accept(","):
            names.append(self.field_ref())
        return names

    def field_ref(self) -> FieldRef:
        self.skip()
        start = self.pos
        if self.accept("`"):
            end = self.text.find("`", self.pos)
            if end < 0:
                raise MalformedQuery("a backtick-quoted name is not closed", start)
            name = self.text[self.pos : end]
            self.pos = end + 1
        else:
            word = self.peek_word()
            if word is None or word.lower() in _KEYWORDS:
                raise self.error("expected a field name")
            name = word
            self.pos += len(word)
        ref = FieldRef(name)
        ref.text, ref.position = self.text[start : self.pos], start
        return ref

    # -- expressions ---------------------------------------------------------------------

    def _spanned(self, node: Node, start: int) -> Node:
        node.text = self.text[start : self.pos].strip()
        node.position = start
        return node

    def expression(self) -> Node:
        self.skip()
        start = self.pos
        node = self.conjunction()
        while self.accept_word("or"):
            node = self._spanned(Binary("or", node, self.conjunction()), start)
        return node

    def conjunction(self) -> Node:
        self.skip()
        start = self.pos
        node = self.negation()
        while self.accept_word("and"):
            node = self._spanned(Binary("and", node, self.negation()), start)
        return node

    def negation(self) -> Node:
        self.skip()
        start = self.pos
        if self.accept_word("not"):
            return self._spanned(Unary("not", self.negation()), start)
        return self.comparison()

    def comparison(self) -> Node:
        self.skip()
        start = self.pos
        left = self.additive()
        for op in ("<=", ">=", "!=", "=~", "=", "<", ">"):
            if self.peek(op):
                self.pos += len(op)
                if op == "=~":
                    pattern = self.pattern_node()
                    return self._spanned(Match(left, pattern, False), start)
                return self._spanned(Binary(op, left, self.additive()), start)
        saved = self.pos
        negated = self.accept_word("not")
        if self.accept_word("like"):
            return self._spanned(Match(left, self.pattern_node(), negated), start)
        if self.accept_word("in"):
            return self._spanned(InList(left, self.list_items(), negated), start)
        if negated:
            self.pos = saved
            raise self.error("expected 'like' or 'in' after 'not'")
        return left

    def pattern_node(self) -> Node:
        self.skip()
        start = self.pos
        if self.peek("/"):
            text = self.regex_text()
            return self._spanned(RegexNode(translate_regex(text, start)), start)
        if self.peek('"') or self.peek("'"):
            return self._spanned(Literal(self.string_text()), start)
        raise self.error("expected a string or a /regular expression/")

    def list_items(self) -> list[Node]:
        self.expect("[")
        items: list[Node] = []
        if not self.accept("]"):
            items.append(self.additive())
            while self.accept(","):
                items.append(self.additive())
            self.expect("]")
        for node in items:
            if not isinstance(node, Literal):
                raise MalformedQuery("'in' takes a list of constants", node.position)
        return items

    def additive(self) -> Node:
        self.skip()
        start = self.pos
        node = self.multiplicative()
        while True:
            if self.accept("+"):
                node = self._spanned(Binary("+", node, self.multiplicative()), start)
            elif self.peek("-"):
                self.pos += 1
                node = self._spanned(Binary("-", node, self.multiplicative()), start)
            else:
                return node

    def multiplicative(self) -> Node:
        self.skip()
        start = self.pos
        node = self.power()
        while True:
            self.skip()
            op = self.text[self.pos : self.pos + 1]
            if op in ("*", "/", "%"):
                self.pos += 1
                node = self._spanned(Binary(op, node, self.power()), start)
            else:
                return node

    def power(self) -> Node:
        self.skip()
        start = self.pos
        node = self.unary()
        if self.accept("^"):
            node = self._spanned(Binary("^", node, self.power()), start)
        return node

    def unary(self) -> Node:
        self.skip()
        start = self.pos
        if self.accept("-"):
            operand = self.unary()
            if isinstance(operand, Literal) and isinstance(operand.value, (int, float)):
                return self._spanned(Literal(-operand.value), start)  # a negative constant
            return self._spanned(Unary("-", operand), start)
        return self.primary()

    def primary(self) -> Node:
        self.skip()
        start = self.pos
        if self.accept("("):
            node = self.expression()
            self.expect(")")
            node.text = self.text[start : self.pos].strip()
            return node
        if self.peek('"') or self.peek("'"):
            return self._spanned(Literal(self.string_text()), start)
        period = _PERIOD.match(self.text, self.pos)
        if period and _unit(period.group(2).lower()):
            self.pos = period.end()
            unit = _unit(period.group(2).lower())
            assert unit is not None
            if int(period.group(1)) < 1:
                raise MalformedQuery("a time period is at least 1 unit long", start)
            return self._spanned(PeriodNode(Period(int(period.group(1)), unit)), start)
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            if _IDENT.match(self.text, self.pos):  # 12abc: neither a number nor a period
                raise self.error("expected a number or a time period such as 5m or 1d")
            text = number.group(0)
            value: Any = int(text) if text.isdigit() else float(text)
            return self._spanned(Literal(value), start)
        if self.peek("`"):
            return self.field_ref()
        word = self.peek_word()
        if word is None or word.lower() in _KEYWORDS:
            raise self.error("expected a value, a field or a function")
        self.pos += len(word)
        if self.accept("("):
            return self._spanned(self.call(word, start), start)
        ref = FieldRef(word)
        return self._spanned(ref, start)

    def call(self, word: str, start: int) -> Call:
        name = word.lower()
        function = FUNCTIONS.get(name)
        if function is None:
            raise MalformedQuery(f"unknown function {word}()", start)
        args: list[Node] = []
        self.skip()
        if name == "count" and self.accept("*"):
            args.append(Star())
        elif not self.peek(")"):
            args.append(self.expression())
            while self.accept(","):
                args.append(self.expression())
        self.expect(")")
        if len(args) < function.min_args or (
            function.max_args is not None and len(args) > function.max_args
        ):
            raise MalformedQuery(f"{word}() does not take {len(args)} argument(s)", start)
        period_index = _PERIOD_ARGS.get(name)
        for index, arg in enumerate(args):
            is_period = isinstance(arg, PeriodNode)
            if (index == period_index) != is_period:
                what = "a time period such as 5m or 1d" if index == period_index else "a value"
                raise MalformedQuery(f"argument {index + 1} of {word}() must be {what}", start)
            if function.kind == "field" and not isinstance(arg, FieldRef):
                raise MalformedQuery(f"{word}() takes field names", arg.position)
        return Call(name, args)

    # -- literals ------------------------------------------------------------------------

    def string_text(self) -> str:
        self.skip()
        start = self.pos
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ('"', "'"):
            raise self.error("expected a quoted string")
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
                self.pos += 2
            elif char == quote:
                self.pos += 1
                return "".join(out)
            else:
                out.append(char)
                self.pos += 1
        raise MalformedQuery("a string is not closed", start)

    def regex_text(self) -> str:
        self.skip()
        start = self.pos
        self.expect("/")
        index = self.pos
        while index < len(self.text):
            char = self.text[index]
            if char == "\\":
                index += 2
                continue
            if char == "/":
                text = self.text[self.pos : index]
                self.pos = index + 1
                if not text:
                    raise MalformedQuery("an empty regular expression", start)
                return text
            index += 1
        raise MalformedQuery("a regular expression is not closed with '/'", start)


def parse_query(text: str) -> list[Command]:
    """The commands of a query (MalformedQuery when it is not valid)."""
    if not text.strip():
        raise MalformedQuery("the query is empty")
    if len(text) > MAX_QUERY_LENGTH:
        raise MalformedQuery(f"the query is longer than {MAX_QUERY_LENGTH:,} characters")
    return _Parser(text).query()


# ---------------------------------------------------------------------------------------
# Compilation: expressions → Python functions of one record
# ---------------------------------------------------------------------------------------

Record = dict[str, Any]
Evaluator = Callable[[Record], Any]


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return False


def _arith(op: str, left: Any, right: Any) -> Any:
    a, b = as_number(left), as_number(right)
    if a is None or b is None:
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return None if b == 0 else a / b
        if op == "%":
            if b == 0:
                return None
            return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else (
                abs(a) % abs(b) * (1 if a >= 0 else -1)
            )  # fmt: skip
        if op == "^":
            if abs(b) > 64:  # keep huge integer powers from running for ever
                a, b = float(a), float(b)
            result = a**b
            return None if isinstance(result, complex) else result
    except (OverflowError, ValueError):
        return None
    raise AssertionError(op)  # pragma: no cover


def _order(op: str, left: Any, right: Any) -> bool:
    pair = _comparable(left, right)
    if pair is None:
        return False
    a, b = pair
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _substr(args: list[Any]) -> str | None:
    text = as_text(args[0])
    start = as_number(args[1])
    length = as_number(args[2]) if len(args) > 2 else None
    if text is None or start is None or (len(args) > 2 and length is None):
        return None
    begin = max(0, int(start))
    if length is None:
        return text[begin:]
    return text[begin : begin + max(0, int(length))]


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(as_text(value) or "")
    except ValueError:
        return None


def _in_subnet(version: int | None, address: Any, subnet: Any) -> bool:
    ip = _ip(address)
    try:
        network = ipaddress.ip_network(as_text(subnet) or "", strict=False)
    except ValueError:
        return False
    if ip is None or (version is not None and ip.version != version):
        return False
    return ip.version == network.version and ip in network


def _timestamp(value: Any) -> Timestamp | None:
    if isinstance(value, Timestamp):
        return value
    number = as_number(value)
    return None if number is None else Timestamp(int(number))


def _text_function(transform: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """A function of texts: null when an argument is null."""

    def apply(args: list[Any]) -> Any:
        texts = []
        for value in args:
            text = value if isinstance(value, str) else as_text(value)
            if text is None:
                return None
            texts.append(text)
        return transform(*texts)

    return apply


def _number_function(transform: Callable[[Any], Any]) -> Callable[[list[Any]], Any]:
    """A function of one number: null when it is null or not a number."""

    def apply(args: list[Any]) -> Any:
        number = as_number(args[0])
        return None if number is None else transform(number)

    return apply


def _date_round(ceil: bool) -> Callable[[list[Any]], Any]:
    def apply(args: list[Any]) -> Any:
        moment, period = _timestamp(args[0]), args[1]
        if moment is None:
            return None
        return Timestamp(period.ceil(moment.millis) if ceil else period.floor(moment.millis))

    return apply


def _ip_version(version: int | None) -> Callable[[list[Any]], Any]:
    def apply(args: list[Any]) -> Any:
        ip = _ip(args[0])
        return ip is not None and (version is None or ip.version == version)

    return apply


def _extreme(pick: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
    def apply(args: list[Any]) -> Any:
        numbers = [n for n in (as_number(a) for a in args) if n is not None]
        return pick(numbers) if numbers else None

    return apply


# The scalar functions, on evaluated arguments (a period argument arrives as a Period).
SCALARS: dict[str, Callable[[list[Any]], Any]] = {
    "isempty": lambda args: 1 if args[0] is None or as_text(args[0]) == "" else 0,
    "isblank": lambda args: 1 if args[0] is None or not (as_text(args[0]) or "").strip() else 0,
    "concat": _text_function(lambda *texts: "".join(texts)),
    "ltrim": _text_function(lambda text, chars=None: text.lstrip(chars)),
    "rtrim": _text_function(lambda text, chars=None: text.rstrip(chars)),
    "trim": _text_function(lambda text, chars=None: text.strip(chars)),
    "strlen": _text_function(len),
    "toupper": _text_function(str.upper),
    "tolower": _text_function(str.lower),
    "substr": _substr,
    "replace": _text_function(lambda text, old, new: text.replace(old, new)),
    "strcontains": _text_function(lambda text, part: int(part in text)),
    "abs": _number_function(abs),
    "ceil": _number_function(math.ceil),
    "floor": _number_function(math.floor),
    "log": _number_function(lambda n: math.log(n) if n > 0 else None),
    "sqrt": _number_function(lambda n: math.sqrt(n) if n >= 0 else None),
    "greatest": _extreme(max),
    "least": _extreme(min),
    "datefloor": _date_round(ceil=False),
    "dateceil": _date_round(ceil=True),
    "frommillis": _number_function(lambda n: Timestamp(int(n))),
    "tomillis": lambda args: args[0].millis if isinstance(args[0], Timestamp) else None,
    "isvalidip": _ip_version(None),
    "isvalidipv4": _ip_version(4),
    "isvalidipv6": _ip_version(6),
    "isipinsubnet": lambda args: _in_subnet(None, args[0], args[1]),
    "isipv4insubnet": lambda args: _in_subnet(4, args[0], args[1]),
    "isipv6insubnet": lambda args: _in_subnet(6, args[0], args[1]),
}


def _scalar(name: str, args: list[Any]) -> Any:
    """A scalar function on evaluated arguments."""
    return SCALARS[name](args)


class _Compiler:
    """Turns nodes into functions of a record, checking the names a stage can see.

    `known` is None while records are events (any field may be absent: it is null), and the
    set of names after a `stats` (anything else is an error, as on AWS).
    """

    def __init__(self, known: set[str] | None) -> None:
        self.known = known

    def check_field(self, ref: FieldRef) -> None:
        if self.known is not None and ref.name not in self.known:
            raise MalformedQuery(
                f"{ref.name!r} is not a field here (after stats: "
                + ", ".join(sorted(self.known))
                + ")",
                ref.position,
            )

    def compile(self, node: Node) -> Evaluator:
        if isinstance(node, Literal):
            value = node.value
            return lambda record: value
        if isinstance(node, FieldRef):
            self.check_field(node)
            name = node.name
            return lambda record: record.get(name)
        if isinstance(node, PeriodNode):
            raise MalformedQuery("a time period is only an argument of bin()", node.position)
        if isinstance(node, Call):
            return self.compile_call(node)
        if isinstance(node, Unary):
            operand = self.compile(node.operand)
            if node.op == "not":
                return lambda record: not _truthy(operand(record))
            return lambda record: _arith("-", 0, operand(record))
        if isinstance(node, Binary):
            return self.compile_binary(node)
        if isinstance(node, Match):
            return self.compile_match(node)
        if isinstance(node, InList):
            subject = self.compile(node.subject)
            values = [item.value for item in node.items if isinstance(item, Literal)]
            negated = node.negated

            def in_list(record: Record) -> bool:
                value = subject(record)
                found = any(_equal(value, item) for item in values)
                return found != negated

            return in_list
        raise MalformedQuery(f"{node.text!r} cannot be used here", node.position)

    def compile_binary(self, node: Binary) -> Evaluator:
        left, right, op = self.compile(node.left), self.compile(node.right), node.op
        if op == "and":
            return lambda record: _truthy(left(record)) and _truthy(right(record))
        if op == "or":
            return lambda record: _truthy(left(record)) or _truthy(right(record))
        if op == "=":
            return lambda record: _equal(left(record), right(record))
        if op == "!=":
            # A missing field is neither = nor != anything.
            return lambda record: (
                (a := left(record)) is not None
                and (b := right(record)) is not None
                and not _equal(a, b)
            )
        if op in ("<", "<=", ">", ">="):
            return lambda record: _order(op, left(record), right(record))
        return lambda record: _arith(op, left(record), right(record))

    def compile_match(self, node: Match) -> Evaluator:
        subject, negated = self.compile(node.subject), node.negated
        if isinstance(node.pattern, RegexNode):
            search = node.pattern.pattern.search

            def matches(record: Record) -> bool:
                text = as_text(subject(record))
                return (text is not None and search(text) is not None) != negated

            return matches
        assert isinstance(node.pattern, Literal)
        needle = str(node.pattern.value)

        def contains(record: Record) -> bool:
            text = as_text(subject(record))
            return (text is not None and needle in text) != negated

        return contains

    def compile_call(self, node: Call) -> Evaluator:
        function = FUNCTIONS[node.name]
        if function.kind == "aggregate":
            raise MalformedQuery(f"{node.name}() aggregates: use it in stats", node.position)
        name = node.name
        if name == "ispresent":
            ref = node.args[0]
            assert isinstance(ref, FieldRef)
            self.check_field(ref)
            field_name = ref.name
            return lambda record: record.get(field_name) is not None
        if name == "coalesce":
            names = []
            for ref in node.args:
                assert isinstance(ref, FieldRef)
                self.check_field(ref)
                names.append(ref.name)

            def coalesce(record: Record) -> Any:
                for field_name in names:
                    value = record.get(field_name)
                    if value is not None:
                        return value
                return None

            return coalesce
        if name == "bin":
            period_node = node.args[0]
            assert isinstance(period_node, PeriodNode)
            period = period_node.period
            if self.known is not None and "@timestamp" not in self.known:
                raise MalformedQuery("bin() needs @timestamp, which stats removed", node.position)

            def bin_(record: Record) -> Any:
                moment = record.get("@timestamp")
                if not isinstance(moment, Timestamp):
                    return None
                return Timestamp(period.floor(moment.millis))

            return bin_
        args: list[Evaluator] = []
        for arg in node.args:
            if isinstance(arg, PeriodNode):
                value = arg.period
                args.append(lambda record, value=value: value)  # type: ignore[misc]
            else:
                args.append(self.compile(arg))
        scalar = SCALARS[name]
        if len(args) == 1:
            (only,) = args
            return lambda record: scalar([only(record)])
        if len(args) == 2:
            first, second = args
            return lambda record: scalar([first(record), second(record)])
        return lambda record: scalar([arg(record) for arg in args])


# ---------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------


class _Aggregate:
    """One aggregation over the records of one group."""

    def __init__(self, name: str, value: Evaluator | None, extra: Any = None) -> None:
        self.name, self.value, self.extra = name, value, extra

    def start(self) -> Any:
        if self.name in ("count",):
            return [0]
        if self.name == "count_distinct":
            return set()
        if self.name in ("sum", "avg"):
            return [0, 0, False]  # total, count, seen a float
        if self.name in ("pct", "stddev"):
            return []
        return [None, None]  # min/max/earliest/latest/sortsFirst/sortsLast: (key, value)

    def add(self, state: Any, record: Record) -> None:
        name = self.name
        if name == "count" and self.value is None:
            state[0] += 1
            return
        assert self.value is not None
        value = self.value(record)
        if value is None:
            return
        if name == "count":
            state[0] += 1
        elif name == "count_distinct":
            state.add(_distinct_key(value))
        elif name in ("sum", "avg"):
            number = as_number(value)
            if number is not None:
                state[0] += number
                state[1] += 1
        elif name in ("pct", "stddev"):
            number = as_number(value)
            if number is not None:
                state.append(number)
        elif name in ("min", "max"):
            # Numbers (and numeric text) by value; text only when there is no number.
            number = as_number(value)
            slot, candidate = (0, number) if number is not None else (1, value)
            if isinstance(candidate, Timestamp):
                slot, candidate = 0, candidate.millis
            current = state[slot]
            if current is None or (
                natural_compare(candidate, current) < 0
                if name == "min"
                else natural_compare(candidate, current) > 0
            ):
                state[slot] = candidate
        elif name in ("sortsfirst", "sortslast"):
            if state[1] is None:
                state[0], state[1] = value, value
            else:
                order = natural_compare(value, state[1])
                if (order < 0) if name == "sortsfirst" else (order > 0):
                    state[1] = value
        else:  # earliest / latest: by @timestamp
            moment = record.get("@timestamp")
            key = moment.millis if isinstance(moment, Timestamp) else None
            if key is None:
                return
            if state[0] is None or (key < state[0] if name == "earliest" else key > state[0]):
                state[0], state[1] = key, value

    def result(self, state: Any) -> Any:
        name = self.name
        if name == "count":
            return state[0]
        if name == "count_distinct":
            return len(state)
        if name == "sum":
            return state[0] if state[1] else None
        if name == "avg":
            return state[0] / state[1] if state[1] else None
        if name == "stddev":
            return statistics.stdev(state) if len(state) > 1 else (0 if state else None)
        if name == "pct":
            if not state:
                return None
            ordered = sorted(state)
            rank = math.ceil(float(self.extra) / 100 * len(ordered))
            return ordered[min(max(rank, 1), len(ordered)) - 1]
        if name in ("min", "max"):
            return state[0] if state[0] is not None else state[1]
        return state[1]


def _distinct_key(value: Any) -> Any:
    # "404" and 404 are one value; other values by their text.
    number = as_number(value)
    return ("n", number) if number is not None else ("t", as_text(value))


def _is_aggregate(node: Node) -> bool:
    return isinstance(node, Call) and FUNCTIONS[node.name].kind == "aggregate"


Output = Callable[[list[Any], Record], Any]  # (aggregate results, earlier columns) → value


@dataclass
class _StatsPlan:
    groups: list[tuple[str, Evaluator]]
    aggregates: list[_Aggregate]
    outputs: list[tuple[str, Output]]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.groups] + [name for name, _ in self.outputs]


def _plan_stats(command: StatsCommand, compiler: _Compiler) -> _StatsPlan:
    """Aggregations become slots; an output may combine them, and name an earlier output
    (`max(a) as x, min(a) as y, x - y as spread`, as the documentation's examples do)."""
    aggregates: list[_Aggregate] = []
    outputs: list[tuple[str, Output]] = []

    def lift(node: Node) -> Output:
        if _is_aggregate(node):
            assert isinstance(node, Call)
            if any(_is_aggregate(inner) for arg in node.args for inner in arg.walk()):
                raise MalformedQuery("an aggregation inside an aggregation", node.position)
            value: Evaluator | None = None
            extra = None
            if not (node.name == "count" and (not node.args or isinstance(node.args[0], Star))):
                value = compiler.compile(node.args[0])
            if node.name == "pct":
                second = node.args[1]
                if not isinstance(second, Literal) or as_number(second.value) is None:
                    raise MalformedQuery("pct() takes a constant percentile", second.position)
                extra = as_number(second.value)
            index = len(aggregates)
            aggregates.append(_Aggregate(node.name, value, extra))
            return lambda results, done: results[index]
        if isinstance(node, FieldRef) and node.name in (name for name, _ in outputs):
            earlier = node.name
            return lambda results, done: done.get(earlier)
        if isinstance(node, Literal):
            constant = node.value
            return lambda results, done: constant
        if isinstance(node, Binary) and node.op in ("+", "-", "*", "/", "%", "^"):
            left, right, op = lift(node.left), lift(node.right), node.op
            return lambda results, done: _arith(op, left(results, done), right(results, done))
        if isinstance(node, Unary) and node.op == "-":
            operand = lift(node.operand)
            return lambda results, done: _arith("-", 0, operand(results, done))
        if isinstance(node, Call) and FUNCTIONS[node.name].kind == "scalar":
            parts = [lift(arg) for arg in node.args]
            name = node.name
            return lambda results, done: _scalar(name, [part(results, done) for part in parts])
        raise MalformedQuery(
            f"{node.text!r} in stats must be an aggregation such as count(*) or sum(x), "
            "or the name of an earlier one",
            node.position,
        )

    for item in command.aggregates:
        names_before = {name for name, _ in outputs}
        if not any(
            _is_aggregate(n) or (isinstance(n, FieldRef) and n.name in names_before)
            for n in item.node.walk()
        ):
            raise MalformedQuery(
                f"{item.node.text!r} in stats must be an aggregation", item.node.position
            )
        outputs.append((item.name, lift(item.node)))
    groups: list[tuple[str, Evaluator]] = []
    for item in command.groups:
        if any(_is_aggregate(n) for n in item.node.walk()):
            raise MalformedQuery("stats … by takes no aggregation", item.node.position)
        groups.append((item.name, compiler.compile(item.node)))
    plan = _StatsPlan(groups, aggregates, outputs)
    names = plan.names
    if len(set(names)) != len(names):
        raise MalformedQuery("two columns of stats have the same name: add 'as' to one")
    return plan


def _run_stats(plan: _StatsPlan, records: Iterable[Record]) -> list[Record]:
    key_functions = [function for _, function in plan.groups]
    states: dict[tuple[Any, ...], list[Any]] = {}
    aggregates = plan.aggregates
    for record in records:
        key = tuple(function(record) for function in key_functions)
        state = states.get(key)
        if state is None:
            state = states[key] = [aggregate.start() for aggregate in aggregates]
        for aggregate, slot in zip(aggregates, state, strict=True):
            aggregate.add(slot, record)
    if not plan.groups and not states:
        states[()] = [aggregate.start() for aggregate in aggregates]
    rows = []
    for key in sorted(states, key=lambda k: [_natural_key(v) for v in k]):
        results = [a.result(s) for a, s in zip(aggregates, states[key], strict=True)]
        row: Record = {name: value for (name, _), value in zip(plan.groups, key, strict=True)}
        for name, output in plan.outputs:
            row[name] = output(results, row)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------
# A compiled query
# ---------------------------------------------------------------------------------------


def discover_fields(message: str) -> dict[str, Any]:
    """The fields Logs Insights discovers in a JSON event (an empty dict for other text)."""
    if not message.lstrip().startswith("{"):
        return {}
    try:
        document = json.loads(message)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    # The common case, one flat object of text and numbers, is told from the raw text cheaply:
    # no nested object or array, no null, no name starting with @.
    if (
        message.find("{", message.index("{") + 1) < 0
        and "[" not in message
        and "null" not in message
        and '"@' not in message
        and len(document) <= MAX_JSON_FIELDS
    ):
        return document
    found: dict[str, Any] = {}
    _flatten("", document, found)
    return found


def _flatten(prefix: str, value: Any, found: dict[str, Any]) -> None:
    if len(found) >= MAX_JSON_FIELDS:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            name = f"{prefix}.{key}" if prefix else ("@" + key if key.startswith("@") else key)
            _flatten(name, inner, found)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _flatten(f"{prefix}.{index}", inner, found)
    elif value is not None and prefix:
        found[prefix] = value


Step = Callable[[Iterable[Record]], Iterable[Record]]
_COUNT_HERE = "count"  # where recordsMatched is counted: before the first stats or limit


@dataclass
class CompiledQuery:
    """A query checked and ready to run over events."""

    text: str
    commands: list[Command]
    steps: list[Step | str] = field(repr=False)
    has_stats: bool
    has_sort: bool
    output_names: list[str] | None  # None: every column of stats, or @timestamp and @message
    event_fields: set[str]  # the names read from events (before any stats)

    @property
    def reads_json(self) -> bool:
        """Whether any command reads a field discovered in the event's JSON."""
        return any(not name.startswith("@") or name.startswith("@@") for name in self.event_fields)

    def run(
        self,
        events: Iterable[Event],
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int | None = None,
    ) -> QueryResult:
        """Evaluate over the events in [start_ms, end_ms] (both inclusive)."""
        selected = [
            event
            for event in events
            if (start_ms is None or event.timestamp >= start_ms)
            and (end_ms is None or event.timestamp <= end_ms)
        ]
        scanned_bytes = sum(len(event.message.encode("utf-8")) for event in selected)
        if not self.has_stats and not self.has_sort:
            selected.sort(key=lambda event: event.timestamp, reverse=True)  # newest first
        reads_json = self.reads_json
        # Only the system fields the query reads or shows are made, for speed.
        system = frozenset(self.event_fields) | (
            frozenset() if self.has_stats else frozenset(("@timestamp", "@message", "@ptr"))
        )
        records: Iterable[Record] = (
            _record(index, event, reads_json, system) for index, event in enumerate(selected)
        )
        matched = [0]
        for step in self.steps:
            if step == _COUNT_HERE:
                records = _counting(records, matched)
            else:
                assert callable(step)
                records = step(records)
        rows = list(records)[: min(limit or MAX_LIMIT, MAX_LIMIT)]
        return QueryResult(self._results(rows), matched[0], len(selected), scanned_bytes)

    def _results(self, rows: list[Record]) -> list[list[dict[str, str]]]:
        results = []
        for row in rows:
            if self.output_names is not None:
                names = self.output_names
            elif self.has_stats:
                names = list(row)
            else:
                names = ["@timestamp", "@message"]
            if not self.has_stats:
                names = [*names, "@ptr"]
            cells = []
            for name in names:
                text = as_text(row.get(name))
                if text is not None:
                    cells.append({"field": name, "value": text})
            results.append(cells)
        return results


def _record(index: int, event: Event, reads_json: bool, system: frozenset[str]) -> Record:
    record = discover_fields(event.message) if reads_json else {}
    if "@timestamp" in system:
        record["@timestamp"] = Timestamp(event.timestamp)
    if "@message" in system:
        record["@message"] = event.message
    if "@logStream" in system:
        record["@logStream"] = event.log_stream
    if "@log" in system:
        record["@log"] = event.log_group
    if "@ingestionTime" in system and event.ingestion_time is not None:
        record["@ingestionTime"] = Timestamp(event.ingestion_time)
    if "@ptr" in system:
        record["@ptr"] = f"emulator-{index}"
    return record


def _counting(records: Iterable[Record], counter: list[int]) -> Iterator[Record]:
    for record in records:
        counter[0] += 1
        yield record


def compile_query(text: str) -> CompiledQuery:
    """Parse and check a query: MalformedQuery for anything AWS would refuse."""
    commands = parse_query(text)
    compiler = _Compiler(None)
    steps: list[Step | str] = []
    output_names: list[str] | None = None
    fields_named: list[str] = []
    has_stats = has_sort = counted = False
    event_fields: set[str] = set()
    created: set[str] = set()

    def note_reads(nodes: Iterable[Node], also_made: set[str] | None = None) -> None:
        if compiler.known is not None:
            return
        for node in nodes:
            for inner in node.walk():
                if (
                    isinstance(inner, FieldRef)
                    and inner.name not in created
                    and inner.name not in (also_made or ())
                ):
                    event_fields.add(inner.name)
                if isinstance(inner, Call) and inner.name in ("bin", "earliest", "latest"):
                    event_fields.add("@timestamp")  # they read the event's time

    for command in commands:
        if isinstance(command, FilterCommand):
            note_reads([command.condition])
            steps.append(functools.partial(_filter_step, compiler.compile(command.condition)))
        elif isinstance(command, FieldsCommand):
            note_reads(item.node for item in command.items)
            compiled = [(item.name, compiler.compile(item.node)) for item in command.items]
            steps.append(functools.partial(_fields_step, compiled))
            for name, _ in compiled:
                created.add(name)
                fields_named.append(name)
                if compiler.known is not None:
                    compiler.known.add(name)
        elif isinstance(command, DisplayCommand):
            for ref in command.names:
                compiler.check_field(ref)
            note_reads(command.names)
            output_names = [ref.name for ref in command.names]
        elif isinstance(command, ParseCommand):
            compiler.check_field(command.source)
            note_reads([command.source])
            steps.append(functools.partial(_parse_step, command.source.name, command))
            created.update(command.names)
            if compiler.known is not None:
                compiler.known.update(command.names)
        elif isinstance(command, StatsCommand):
            note_reads(item.node for item in command.groups)
            earlier: set[str] = set()  # an output may name an earlier one: no event field
            for item in command.aggregates:
                note_reads([item.node], earlier)
                earlier.add(item.name)
            plan = _plan_stats(command, compiler)
            if not counted:
                steps.append(_COUNT_HERE)
                counted = True
            steps.append(functools.partial(_run_stats, plan))
            compiler = _Compiler(set(plan.names))
            has_stats = True
            output_names = None
            fields_named = []
        elif isinstance(command, SortCommand):
            compiler.check_field(command.key)
            note_reads([command.key])
            steps.append(functools.partial(_sort_step, command.key.name, command.descending))
            has_sort = True
        else:
            if not counted:
                steps.append(_COUNT_HERE)
                counted = True
            steps.append(functools.partial(_limit_step, command.count))
    if not counted:
        steps.append(_COUNT_HERE)
    if output_names is None and fields_named and not has_stats:
        output_names = fields_named
    return CompiledQuery(text, commands, steps, has_stats, has_sort, output_names, event_fields)


def _filter_step(condition: Evaluator, records: Iterable[Record]) -> Iterator[Record]:
    return (record for record in records if _truthy(condition(record)))


def _fields_step(
    compiled: list[tuple[str, Evaluator]], records: Iterable[Record]
) -> Iterator[Record]:
    for record in records:
        values = [(name, function(record)) for name, function in compiled]
        for name, value in values:
            record[name] = value
        yield record


def _parse_step(source: str, command: ParseCommand, records: Iterable[Record]) -> Iterator[Record]:
    # An event the pattern does not match stays, without the extracted fields (as on AWS).
    search = command.pattern.search
    groups = list(command.groups.items())
    for record in records:
        text = as_text(record.get(source))
        match = search(text) if text is not None else None
        if match is None:
            for _, name in groups:
                record[name] = None
        else:
            for group, name in groups:
                record[name] = match.group(group)
        yield record


def _sort_step(name: str, descending: bool, records: Iterable[Record]) -> list[Record]:
    rows = list(records)
    present = [row for row in rows if row.get(name) is not None]
    missing = [row for row in rows if row.get(name) is None]
    present.sort(key=lambda row: _natural_key(row[name]), reverse=descending)
    return present + missing  # rows without the field last, either way


def _limit_step(count: int, records: Iterable[Record]) -> Iterator[Record]:
    return itertools.islice(records, count)


def run_query(
    text: str,
    events: Iterable[Event],
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
) -> QueryResult:
    """Compile `text` and run it over `events` (a convenience for tests and one-off queries)."""
    return compile_query(text).run(events, start_ms, end_ms, limit)
