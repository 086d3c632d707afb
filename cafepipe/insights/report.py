"""Show the insights: rich tables, CSV, and the self-contained HTML report.

The HTML report has no external requests: its CSS is inline and its charts are SVG drawn
here (geometry in Python, markup in `templates/report/report.html.j2`), so it renders
offline and in any browser, with or without JavaScript.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cafepipe.deploy.templating import render_template
from cafepipe.errors import UsageError
from cafepipe.insights.queries import INSIGHTS, SECTIONS, WEEKDAYS, Insight, insights_in_section

LABELS = {
    "requests": "Requests",
    "bytes": "Data sent (bytes)",
    "unique_ips": "Distinct visitors (addresses)",
    "menu_views": "Menu views",
    "order_requests": "Orders placed",
    "menu_visitors": "Visitors who saw the menu",
    "purchasers": "Visitors who ordered",
    "conversion_rate": "Menu → order conversion",
    "bot_requests": "Requests from bots and crawlers",
    "scanner_requests": "Vulnerability-scanner probes",
    "invalid_lines": "Unreadable log lines (skipped)",
    "unique_ips_day": "Distinct visitors",
    "avg_ms": "Average ms",
    "max_ms": "Slowest ms",
}
PALETTE = (
    "#6f4e37", "#c8a165", "#2e7d6b", "#d9644a", "#5b7fa6", "#a3b86c", "#8e5ea2", "#e0b84a",
    "#4f9d9a", "#b5656b", "#7a7a7a",
)  # fmt: skip


LINE_COLORS = ("#2e7d6b", "#d9644a", "#5b7fa6")


def label(column: str) -> str:
    """A heading a café owner understands for a column name."""
    return LABELS.get(column, column.replace("_", " ").capitalize())


def table_rows(insight: Insight, data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Headings and rows of one insight, from the insights JSON."""
    if insight.shape == "fields":
        names = list(insight.columns)
        if insight.id == "orders_placed":
            names.append("conversion_rate")
        return ["Measure", "Value"], [[label(name), _measure(name, data)] for name in names]
    value = data.get(insight.id)
    if insight.shape == "counts":
        return [label(insight.columns[0]), "Requests"], [[k, v] for k, v in (value or {}).items()]
    if insight.shape == "hours":
        return ["Hour (UTC)", "Requests"], [[f"{h:02d}:00", n] for h, n in enumerate(value or [])]
    if insight.shape == "weekdays":
        return ["Day", "Requests"], [[WEEKDAYS[d], n] for d, n in enumerate(value or [])]
    headings = [label(column) for column in insight.columns]
    return headings, [list(row) for row in value or []]


def _measure(name: str, data: dict[str, Any]) -> Any:
    value = data.get(name, 0)
    return f"{100 * float(value):.1f} %" if name == "conversion_rate" else value


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def terminal_text(value: str) -> Text:
    """A value from the log as plain terminal text: no rich markup (`[/bold]` from a visitor
    would stop the table), no control character (an escape sequence would drive the terminal)."""
    return Text("".join(char if char.isprintable() else "\ufffd" for char in value))


def print_tables(data: dict[str, Any], console: Console) -> None:
    """Every insight as a rich table, section by section."""
    for section in SECTIONS:
        console.rule(f"[bold]{section}")
        for insight in insights_in_section(section):
            headings, rows = table_rows(insight, data)
            table = Table(title=insight.title, title_justify="left", show_edge=False, min_width=44)
            for index, heading in enumerate(headings):
                table.add_column(heading, justify="right" if index else "left")
            if not rows:
                table.add_row(*(["(nothing yet)"] + [""] * (len(headings) - 1)))
            for row in rows:
                table.add_row(*(terminal_text(_format(cell)) for cell in row))
            console.print(table)
            console.print()
    console.print(f"{label('invalid_lines')}: {_format(data.get('invalid_lines', 0))}")


# A spreadsheet takes a cell that starts with one of these for a formula: `=1+2`, `@SUM(1)` or
# `-2+3` from a visitor's request would be run when the owner opens the CSV (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a formula-like text gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter:
    """csv.writer whose every cell goes through `safe_cell`."""

    def __init__(self, out: io.StringIO) -> None:
        # CRLF, as RFC 4180 has it: a cell holding a CR or LF is then quoted, so a CR from a
        # visitor cannot end a row.
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: list[Any]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])


def to_csv(data: dict[str, Any]) -> str:
    """Long-format CSV: one line per cell, `insight,row,column,value` (row 0 = single values).

    Text that a spreadsheet would run as a formula is neutralised (`safe_cell`).
    """
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow(["insight", "row", "column", "value"])
    writer.writerow(["invalid_lines", 0, "invalid_lines", data.get("invalid_lines", 0)])
    for insight in INSIGHTS:
        if insight.shape == "fields":
            extra = ["conversion_rate"] if insight.id == "orders_placed" else []
            names = [*insight.columns, *extra]
            for name in names:
                writer.writerow([insight.id, 0, name, data.get(name, 0)])
            continue
        value = data.get(insight.id)
        if insight.shape == "counts":
            for number, (key, count) in enumerate((value or {}).items(), start=1):
                writer.writerow([insight.id, number, key, count])
        elif insight.shape in ("hours", "weekdays"):
            for index, count in enumerate(value or []):
                writer.writerow([insight.id, index + 1, insight.columns[0], index])
                writer.writerow([insight.id, index + 1, insight.columns[1], count])
        else:
            for number, row in enumerate(value or [], start=1):
                for column, cell in zip(insight.columns, row, strict=False):
                    writer.writerow([insight.id, number, column, cell])
    return out.getvalue()


# ---- charts for the HTML report ---------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    label: str
    value: float
    percent: float
    path: str
    color: str


def pie_slices(pairs: list[tuple[str, float]], radius: float = 80, hole: float = 46) -> list[Slice]:
    """Donut slices (SVG path data, centred on 0,0) for label/value pairs."""
    total = sum(value for _, value in pairs if value > 0)
    slices: list[Slice] = []
    if total <= 0:
        return slices
    angle = -math.pi / 2
    for index, (name, value) in enumerate(pairs):
        if value <= 0:
            continue
        sweep = 2 * math.pi * value / total
        if sweep >= 2 * math.pi - 1e-6:
            # One slice is the whole ring: two circles, the inner one cut out (evenodd).
            ring = (
                f"M{radius},0 A{radius},{radius} 0 1 1 {-radius},0 "
                f"A{radius},{radius} 0 1 1 {radius},0 Z "
                f"M{hole},0 A{hole},{hole} 0 1 0 {-hole},0 A{hole},{hole} 0 1 0 {hole},0 Z"
            )
            return [Slice(name, value, 100.0, ring, PALETTE[index % len(PALETTE)])]
        # A full circle cannot be one arc: stop a hair short.
        end = angle + min(sweep, 2 * math.pi - 1e-4)
        large = 1 if sweep > math.pi else 0
        x1, y1 = radius * math.cos(angle), radius * math.sin(angle)
        x2, y2 = radius * math.cos(end), radius * math.sin(end)
        x3, y3 = hole * math.cos(end), hole * math.sin(end)
        x4, y4 = hole * math.cos(angle), hole * math.sin(angle)
        path = (
            f"M{x1:.2f},{y1:.2f} A{radius},{radius} 0 {large} 1 {x2:.2f},{y2:.2f} "
            f"L{x3:.2f},{y3:.2f} A{hole},{hole} 0 {large} 0 {x4:.2f},{y4:.2f} Z"
        )
        slices.append(
            Slice(name, value, round(100 * value / total, 1), path, PALETTE[index % len(PALETTE)])
        )
        angle += sweep
    return slices


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


def column_bars(
    pairs: list[tuple[str, float]], width: float = 480, height: float = 160
) -> list[Bar]:
    """Vertical bars (hours, weekdays) in a width × height box."""
    top = max((value for _, value in pairs), default=0) or 1
    step = width / max(len(pairs), 1)
    return [
        Bar(
            name,
            value,
            round(index * step + step * 0.1, 2),
            round(height - height * value / top, 2),
            round(step * 0.8, 2),
            round(height * value / top, 2),
        )
        for index, (name, value) in enumerate(pairs)
    ]


def row_bars(pairs: list[tuple[str, float]], width: float = 300) -> list[Bar]:
    """Horizontal bars for a ranked list; one 22-px row each."""
    top = max((value for _, value in pairs), default=0) or 1
    return [
        Bar(name, value, 0, index * 22, round(max(width * value / top, 1), 2), 16)
        for index, (name, value) in enumerate(pairs)
    ]


def line_points(
    values: list[float], width: float = 480, height: float = 160, top: float | None = None
) -> str:
    """SVG polyline points for a time series (scaled to `top`, default its own maximum)."""
    top = top or max(values, default=0) or 1
    if len(values) == 1:
        level = height - height * values[0] / top
        return f"0,{level:.2f} {width},{level:.2f}"
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{index * step:.2f},{height - height * value / top:.2f}"
        for index, value in enumerate(values)
    )


def chart_for(insight: Insight, data: dict[str, Any]) -> dict[str, Any]:
    """What the template needs to draw one insight."""
    headings, rows = table_rows(insight, data)
    chart: dict[str, Any] = {
        "insight": insight,
        "headings": headings,
        "rows": [[_format(cell) for cell in row] for row in rows],
        "kind": "table",
    }
    if insight.shape == "fields":
        chart["kind"] = "numbers"
        return chart
    if not rows or len(rows[0]) < 2:
        chart["kind"] = "empty" if not rows else "table"
        return chart
    # The label is the first column, the value the first number after it.
    value_at = next(
        (i for i, cell in enumerate(rows[0]) if i and isinstance(cell, (int, float))), None
    )
    if value_at is None or insight.view == "table":
        return chart
    pairs = [(str(row[0]), float(row[value_at] or 0)) for row in rows]
    if not pairs:
        chart["kind"] = "empty"
        return chart
    if insight.view == "pie":
        chart.update(kind="pie", slices=pie_slices(pairs))
    elif insight.view == "bar" and insight.shape in ("hours", "weekdays"):
        short = [(name[:2] if insight.shape == "hours" else name[:3], v) for name, v in pairs]
        chart.update(kind="columns", bars=column_bars(short))
    elif insight.view == "bar":
        chart.update(kind="bars", bars=row_bars(pairs), height=len(pairs) * 22)
    elif insight.view == "timeSeries":
        # One line per numeric column, on one scale.
        columns = [i for i, cell in enumerate(rows[0]) if i and isinstance(cell, (int, float))]
        top = max(float(row[i] or 0) for row in rows for i in columns) or 1
        chart.update(
            kind="line",
            series=[
                {
                    "name": headings[i],
                    "points": line_points([float(row[i] or 0) for row in rows], top=top),
                    "color": LINE_COLORS[n % len(LINE_COLORS)],
                }
                for n, i in enumerate(columns)
            ],
            first=pairs[0][0],
            last=pairs[-1][0],
            peak=_format(int(top)),
        )
    return chart


def report_context(data: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The template context: headline numbers and every section's charts."""
    return {
        "meta": meta,
        "headline": [
            (label(name), _format(data.get(name, 0)))
            for name in ("requests", "unique_ips", "menu_visitors", "purchasers")
        ]
        + [(label("conversion_rate"), f"{100 * float(data.get('conversion_rate', 0)):.1f} %")],
        "sections": [
            {"name": section, "charts": [chart_for(i, data) for i in insights_in_section(section)]}
            for section in SECTIONS
        ],
        "invalid_lines": _format(data.get("invalid_lines", 0)),
    }


def render_html(data: dict[str, Any], meta: dict[str, Any]) -> str:
    """The self-contained HTML report."""
    return render_template("report/report.html.j2", **report_context(data, meta))


def write_output(
    data: dict[str, Any],
    meta: dict[str, Any],
    output_format: str,
    out: Path | None,
    console: Console,
) -> None:
    """Print or write the insights in one format: table, json, csv or html."""
    if output_format == "table":
        print_tables(data, console)
        return
    if output_format == "json":
        text = json.dumps({**data, "meta": meta}, indent=2, sort_keys=True, default=str) + "\n"
    elif output_format == "csv":
        text = to_csv(data)
    else:
        text = render_html(data, meta)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}", "pass another --out path") from None
