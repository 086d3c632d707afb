"""Turn the catalog's rows (from either engine) into the insights JSON.

`summarize` gives the answers as the views (tables, CSV, HTML) read them: a list insight's rows
as lists in its column order. `program_json` is what `--format json` prints, the shape of
`docs/insights.schema.json`: a `schema_version`, and every list insight's rows as objects
named by its columns — except the lists of the contract shared with the generator
(`CONTRACT_LISTS`: `[[name, …]]`, as they always were). The keys shared with the log
generator's ground truth (`cafepipe.cafe.traffic.SCHEMA_KEYS`, `PAGE_VIEW_KEYS`) keep their
exact meaning, since they are compared with it key by key; the other insights are added under
their catalog id.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from cafepipe.cafe.metrics import conversion_rate
from cafepipe.insights.queries import INSIGHTS, Insight

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# 2: list insights' rows became objects (but CONTRACT_LISTS'); the visit and page-view keys.
SCHEMA_VERSION = 2
CONTRACT_LISTS = ("top_paths", "by_city", "by_region", "by_country")


def _number(value: Any) -> Any:
    # Engines hand back Decimals, floats with no fraction, or (CloudWatch) strings.
    if isinstance(value, str):
        try:
            number = int(value) if value.isascii() and value.isdigit() else float(value)
        except ValueError:
            return value
        if not math.isfinite(number):
            return value  # "NaN", "inf": text, not a number JSON could hold
        value = number
    if isinstance(value, bool):
        return int(value)
    if value is None:
        return 0
    # A whole number stays exact: a byte total past 2**53 would lose its last digits as a float.
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else round(as_float, 4)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _number(value)


def shape_rows(insight: Insight, rows: list[list[Any]]) -> Any:
    """One insight's rows in its JSON shape (see `cafepipe.insights.queries`)."""
    if insight.shape == "fields":
        first = rows[0] if rows else [0] * len(insight.columns)
        return {name: _number(value) for name, value in zip(insight.columns, first, strict=False)}
    if insight.shape == "counts":
        counts = dict.fromkeys(STATUS_CLASSES, 0) if insight.id == "status_classes" else {}
        for key, count in rows:
            counts[str(key)] = counts.get(str(key), 0) + _number(count)
        return counts
    if insight.shape in ("hours", "weekdays"):
        series = [0] * (24 if insight.shape == "hours" else 7)
        for key, count in rows:
            index = int(_number(key))
            if 0 <= index < len(series):
                series[index] += _number(count)
        return series
    return [[_cell(value) for value in row] for row in rows]


def summarize(
    rows_by_id: dict[str, list[list[Any]]],
    invalid_lines: int,
    insights: tuple[Insight, ...] = INSIGHTS,
) -> dict[str, Any]:
    """The insights JSON: the shared keys plus one key per other catalog entry."""
    result: dict[str, Any] = {"invalid_lines": invalid_lines}
    for insight in insights:
        if insight.id not in rows_by_id:
            continue
        shaped = shape_rows(insight, rows_by_id[insight.id])
        if insight.shape == "fields":
            result.update(shaped)
        else:
            result[insight.id] = shaped
    if "menu_visitors" in result and "purchasers" in result:
        result["conversion_rate"] = conversion_rate(result["purchasers"], result["menu_visitors"])
    return result


def records(insight: Insight, rows: list[list[Any]]) -> list[dict[str, Any]]:
    """A list insight's rows as objects named by its columns."""
    return [dict(zip(insight.columns, row, strict=False)) for row in rows]


def program_json(data: dict[str, Any], insights: tuple[Insight, ...] = INSIGHTS) -> dict[str, Any]:
    """The insights JSON for programs (`--format json`): `schema_version`, rows as objects."""
    result = {**data, "schema_version": SCHEMA_VERSION}
    for insight in insights:
        value = data.get(insight.id)
        if insight.shape == "rows" and insight.id not in CONTRACT_LISTS and isinstance(value, list):
            result[insight.id] = records(insight, value)
    return result
