"""Show the insights: rich tables, CSV, and the self-contained HTML report.

The HTML report has no external requests: its CSS is inline and its charts and map are SVG
drawn here (geometry in Python, markup in `templates/report/report.html.j2`), so it renders
offline and in any browser, with or without JavaScript.

It reads the insights JSON as it comes: visit figures (`visits`, `bounce_rate`, `funnel`, …),
café-time hours (`cafe_hourly`) and the previous period (`previous`) are shown when the engine
computed them, and the report says where they come from when it did not.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cafepipe.errors import UsageError
from cafepipe.insights.queries import (
    INSIGHTS,
    INSIGHTS_BY_ID,
    SECTIONS,
    WEEKDAYS,
    Insight,
    insights_in_section,
)

LABELS = {
    "requests": "Requests",
    "bytes": "Data sent (bytes)",
    "unique_ips": "Distinct visitors (addresses)",
    "menu_views": "Menu views",
    "order_requests": "Orders placed",
    "menu_visitors": "People who opened the menu",
    "purchasers": "People who ordered",
    "conversion_rate": "Menu → order conversion",
    "bot_requests": "Requests from robots and crawlers",
    "scanner_requests": "Vulnerability-scanner probes",
    "invalid_lines": "Unreadable log lines (skipped)",
    "unique_ips_day": "Distinct visitors",
    "avg_ms": "Average ms",
    "max_ms": "Slowest ms",
    "visits": "Visits",
    "pageviews_per_visit": "Pages per visit",
    "bounce_rate": "Bounce rate (left after one page)",
    "visit_duration_median_s": "Typical visit (median)",
    "visit_duration_mean_s": "Average visit",
    "new_visitors": "New visitors",
    "returning_visitors": "Returning visitors",
    "menu_visitors_city": "People who opened the menu",
    "buyers": "People who ordered",
    "visitors": "Visitors (address and browser)",
    "pageviews": "Page views",
    "bounces": "One-page visits",
    "drop_off": "Left before this step",
    "conversion": "Went on from the step before",
    "menu": "Opened the menu",
    "item": "Looked at a dish",
    "orders": "Orders",
    "views": "Views",
    "page": "Page",
    "path": "Page",
}
# A heading that means something else in one insight than the column name says.
HEADINGS = {
    ("visits_by_region", "visits"): "Home page views",
    ("customer_cities", "menu_visitors"): "Saw the menu",
    ("customer_cities", "buyers"): "Bought",
    ("funnel_by_source", "conversion"): "Visits that ordered",
    ("funnel_by_device", "conversion"): "Visits that ordered",
    ("funnel", "conversion"): "Went on",
    ("funnel", "drop_off"): "Left",
}
RATES = ("conversion_rate", "bounce_rate")
PERCENT_COLUMNS = ("conversion", "conversion_rate", "bounce_rate")  # shares 0..1 in tables
SECONDS = ("visit_duration_median_s", "visit_duration_mean_s")
# Columns that hold a path or a host: the only cells the report lets wrap anywhere.
URL_COLUMNS = ("path", "page", "referrer", "source", "url")
PALETTE = (
    "#6f4e37", "#c8a165", "#2e7d6b", "#d9644a", "#5b7fa6", "#a3b86c", "#8e5ea2", "#e0b84a",
    "#4f9d9a", "#b5656b", "#7a7a7a",
)  # fmt: skip
LINE_COLORS = ("#2e7d6b", "#d9644a", "#5b7fa6")

# Insights that need requests grouped into visits: Logs Insights cannot, so a CloudWatch run
# leaves them out, and the report says where they come from instead of showing zeros.
VISIT_INSIGHTS = ("visits", "entry_pages", "exit_pages", "funnel", "funnel_by_source",
                  "funnel_by_device")  # fmt: skip
FUNNEL_STEPS = {
    "landing": "Arrived on the site",
    "home": "Arrived on the site",
    "menu": "Opened the menu",
    "item": "Looked at a dish",
    "order": "Placed an order",
}


def label(column: str) -> str:
    """A heading a café owner understands for a column name."""
    return LABELS.get(column, column.replace("_", " ").capitalize())


def _heading(insight_id: str, column: str) -> str:
    return HEADINGS.get((insight_id, column), label(column))


def row_cells(columns: tuple[str, ...], row: Any) -> list[Any]:
    """One row of a list as cells in `columns` order: rows come as lists or as objects."""
    if isinstance(row, dict):
        if any(column in row for column in columns):
            return [row.get(column, "") for column in columns]
        return list(row.values())
    if isinstance(row, (list, tuple)):
        return list(row)
    return [row]


def _series(value: Any, length: int) -> list[float]:
    """24 hours or 7 weekdays, from a list of counts or from rows / objects keyed by index."""
    if isinstance(value, dict):
        value = value.get("counts", value.get("requests", value.get("values", [])))
    counts: list[float] = [0] * length
    for index, item in enumerate(value or []):
        if isinstance(item, (int, float)):
            if index < length:
                counts[index] = item
        else:
            cells = row_cells(("index", "count"), item)
            if len(cells) >= 2 and 0 <= int(cells[0]) < length:
                counts[int(cells[0])] = cells[-1]
    return counts


CAFE_TIME = ("cafe_hourly", "cafe_weekday")  # the hours and weekdays in the café's own time
UTC_TIME = ("hourly", "weekday")  # the same in UTC (the dashboard's and the generator's)


def cafe_zone(data: dict[str, Any], meta: dict[str, Any]) -> str | None:
    """The café's time zone (IANA name) when the data has café-time hours, else None."""
    if not any(key in data for key in CAFE_TIME):
        return None
    for holder in (data, meta):
        for key in ("cafe_timezone", "timezone"):
            zone = holder.get(key)
            if isinstance(zone, str) and zone:
                return zone
    return "café time"


def zone_of(insight: Insight, data: dict[str, Any], meta: dict[str, Any]) -> str | None:
    """The café's zone for a café-time insight, None for the others."""
    return cafe_zone(data, meta) if insight.id in CAFE_TIME else None


def _zone_words(zone: str) -> str:
    return zone if zone == "café time" else f"café time, {zone.replace('_', ' ')}"


def title_of(insight: Insight, data: dict[str, Any], meta: dict[str, Any]) -> str:
    """The insight's title, with the zone when it is in café time."""
    zone = zone_of(insight, data, meta)
    if zone and zone != "café time":
        return f"{insight.title} ({zone.replace('_', ' ')})"
    return insight.title


def description_of(insight: Insight, data: dict[str, Any], meta: dict[str, Any]) -> str:
    zone = zone_of(insight, data, meta)
    if zone:
        when = "hour of the day" if insight.shape == "hours" else "day of the week"
        return f"Requests by {when}, in the café's own time ({_zone_words(zone)})."
    return insight.description


def country_name(code: Any, names: dict[str, str] | None = None) -> Any:
    """A country's name for its ISO alpha-2 code: the run's `country_names`, else pycountry's
    table; anything else unchanged."""
    if not (isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isupper()):
        return code
    if names and isinstance(names.get(code), str):
        return names[code]
    try:
        import pycountry
    except ImportError:  # pragma: no cover - pycountry is a dependency
        return code
    found = pycountry.countries.get(alpha_2=code)
    if found is None:
        return code
    return getattr(found, "common_name", None) or found.name


def table_rows(
    insight: Insight, data: dict[str, Any], meta: dict[str, Any] | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Headings and rows of one insight, from the insights JSON."""
    meta = meta or {}
    if insight.shape == "fields":
        names = list(insight.columns)
        if insight.id == "orders_placed":
            names.append("conversion_rate")
        return ["Measure", "Value"], [[label(name), measure(name, data)] for name in names]
    value = data.get(insight.id)
    zone = zone_of(insight, data, meta)
    if insight.shape == "counts":
        return [label(insight.columns[0]), "Requests"], [[k, v] for k, v in (value or {}).items()]
    if insight.shape == "hours":
        counts = _series(value, 24)
        heading = f"Hour ({_zone_words(zone)})" if zone else "Hour (UTC)"
        return [heading, "Requests"], [[f"{h:02d}:00", n] for h, n in enumerate(counts)]
    if insight.shape == "weekdays":
        counts = _series(value, 7)
        return ["Day", "Requests"], [[WEEKDAYS[d], n] for d, n in enumerate(counts)]
    headings = [_heading(insight.id, column) for column in insight.columns]
    known = data.get("country_names")
    country_names = known if isinstance(known, dict) else None
    rows = []
    for row in value or []:
        cells = row_cells(insight.columns, row)
        for index, column in enumerate(insight.columns[: len(cells)]):
            if column == "country":
                cells[index] = country_name(cells[index], country_names)
            elif column in PERCENT_COLUMNS and isinstance(cells[index], (int, float)):
                cells[index] = f"{100 * cells[index]:.1f} %"
            elif column == "step":
                cells[index] = FUNNEL_STEPS.get(str(cells[index]), cells[index])
        rows.append(cells)
    return headings, rows


def measure(name: str, data: dict[str, Any]) -> Any:
    """One headline number, as the owner reads it (a rate in %, a duration in minutes)."""
    value = data.get(name, 0)
    if name in RATES:
        return f"{100 * float(value or 0):.1f} %"
    if name in SECONDS:
        return duration(float(value or 0))
    return value


def duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `1 h 02 min`."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def terminal_text(value: str) -> Text:
    """A value from the log as plain terminal text: no rich markup (`[/bold]` from a visitor
    would stop the table), no control character (an escape sequence would drive the terminal)."""
    return Text("".join(char if char.isprintable() else "\ufffd" for char in value))


def funnel_steps(
    value: Any, columns: tuple[str, ...] = ("step", "page", "visits", "conversion", "drop_off")
) -> list[tuple[str, float, float]]:
    """The funnel as (step, visits, conversion from the step before), from rows or objects."""
    steps: list[tuple[str, float, float]] = []
    for row in value or []:
        cells = row if isinstance(row, dict) else dict(zip(columns, row, strict=False))
        name = cells.get("label") or cells.get("step") or ""
        visits = float(cells.get("visits") or 0)
        rate = cells.get("conversion")
        if rate is None:
            before = steps[-1][1] if steps else visits
            rate = visits / before if before else 0.0
        steps.append((FUNNEL_STEPS.get(str(name), str(name)), visits, float(rate)))
    return steps


def missing(insight: Insight, data: dict[str, Any]) -> bool:
    """True when the data has no answer at all for the insight (not an empty one)."""
    if insight.shape == "fields":
        return not any(column in data for column in insight.columns)
    return insight.id not in data


def print_tables(
    data: dict[str, Any], console: Console, meta: dict[str, Any] | None = None
) -> None:
    """Every insight as a rich table, section by section (visits first, when computed)."""
    meta = meta or {}

    def show(title: str, headings: list[str], rows: list[list[Any]]) -> None:
        width = max(44, len(title))  # the title on one line, not wrapped to the columns
        table = Table(title=title, title_justify="left", show_edge=False, min_width=width)
        for index, heading in enumerate(headings):
            table.add_column(heading, justify="right" if index else "left")
        if not rows:
            table.add_row(*(["(nothing yet)"] + [""] * (len(headings) - 1)))
        for row in rows:
            table.add_row(*(terminal_text(_format(cell)) for cell in row))
        console.print(table)
        console.print()

    if meta.get("engine") == "cloudwatch" and "visits" not in data:
        console.print(CLOUDWATCH_VISITS_NOTE)
        console.print()
    for section in SECTIONS:
        console.rule(f"[bold]{section}")
        for insight in insights_in_section(section):
            if missing(insight, data):
                show(title_of(insight, data, meta), ["(not computed by this engine)"], [])
                continue
            show(title_of(insight, data, meta), *table_rows(insight, data, meta))
    console.print(f"{label('invalid_lines')}: {_format(data.get('invalid_lines', 0))}")


CLOUDWATCH_VISITS_NOTE = (
    "CloudWatch Logs Insights cannot group requests into visits, so visits, bounce rate, visit "
    "duration and the order funnel are not here. DuckDB computes them from the same log group: "
    "cafepipe insights --engine duckdb --source logs:<group>"
)


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
            extra_names = ["conversion_rate"] if insight.id == "orders_placed" else []
            for name in [*insight.columns, *extra_names]:
                if name not in data and missing(insight, data):
                    continue
                writer.writerow([insight.id, 0, name, data.get(name, 0)])
            continue
        value = data.get(insight.id)
        if insight.shape == "counts":
            for number, (key, count) in enumerate((value or {}).items(), start=1):
                writer.writerow([insight.id, number, key, count])
        elif insight.shape in ("hours", "weekdays"):
            for index, count in enumerate(_series(value, 24 if insight.shape == "hours" else 7)):
                writer.writerow([insight.id, index + 1, insight.columns[0], index])
                writer.writerow([insight.id, index + 1, insight.columns[1], count])
        else:
            for number, row in enumerate(value or [], start=1):
                cells = row_cells(insight.columns, row)
                for column, cell in zip(insight.columns, cells, strict=False):
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


def _coordinates(
    values: list[float], width: float, height: float, top: float
) -> list[tuple[float, float]]:
    if len(values) == 1:
        level = height - height * values[0] / top
        return [(0.0, level), (width, level)]
    step = width / max(len(values) - 1, 1)
    return [(index * step, height - height * value / top) for index, value in enumerate(values)]


def _points(coordinates: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.2f},{y:.2f}" for x, y in coordinates)


def line_points(
    values: list[float], width: float = 480, height: float = 160, top: float | None = None
) -> str:
    """SVG polyline points for a time series (scaled to `top`, default its own maximum)."""
    top = top or max(values, default=0) or 1
    return _points(_coordinates(values, width, height, top))


def partial_last_day(days: list[str], meta: dict[str, Any]) -> str | None:
    """'until 15:30' when the log ends during its last day (so that day is not a full day).

    The end is `meta`'s `last_event` (or `until`) when the engine gives it; without either, the
    last day is partial when it is the day the report was made (the day is not over).
    """
    if not days:
        return None
    last = days[-1]
    # The period's end the user asked for, when it falls inside the last day; else the last line.
    until = _moment(meta.get("until"))
    if until is not None and until.date().isoformat() == last and until.time() != time(0):
        return f"until {until:%H:%M} UTC"
    ended = _moment(meta.get("last_event"))
    if ended is not None:
        # A log whose last line came in the day's last half hour covers the day.
        if ended.date().isoformat() != last or (ended.hour, ended.minute) >= (23, 30):
            return None
        return f"until {ended:%H:%M} UTC"
    if until is not None:
        return None
    made = _moment(str(meta.get("generated", "")).replace(" UTC", ""))
    if made is not None and made.date().isoformat() == last:
        return f"until {made:%H:%M} UTC, the day is not over"
    return None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment


def _day_label(day: str) -> str:
    try:
        return f"{date.fromisoformat(day):%a %d %b}"
    except ValueError:
        return day


def _line_chart(
    insight: Insight, headings: list[str], rows: list[list[Any]], meta: dict[str, Any]
) -> dict[str, Any]:
    # One line per numeric column, on one scale; a partial last day is drawn dashed to a hollow
    # point, so a day that is not over does not look like a collapse.
    columns = [i for i, cell in enumerate(rows[0]) if i and isinstance(cell, (int, float))]
    top = max(float(row[i] or 0) for row in rows for i in columns) or 1
    days = [str(row[0]) for row in rows]
    partial = partial_last_day(days, meta) if len(rows) > 1 else None
    series = []
    for n, i in enumerate(columns):
        coordinates = _coordinates([float(row[i] or 0) for row in rows], 480, 160, top)
        solid = coordinates[:-1] if partial else coordinates
        series.append(
            {
                "name": headings[i],
                "points": _points(solid),
                "tail": _points(coordinates[-2:]) if partial else "",
                "last": coordinates[-1],
                "color": LINE_COLORS[n % len(LINE_COLORS)],
            }
        )
    return {
        "kind": "line",
        "series": series,
        "first": _day_label(days[0]),
        "last": _day_label(days[-1]),
        "partial": partial,
        "peak": _format(int(top)),
    }


def missing_note(insight: Insight, meta: dict[str, Any]) -> str:
    """Why an insight has no answer in this report."""
    if meta.get("engine") == "cloudwatch" and insight.id in VISIT_INSIGHTS:
        return (
            "CloudWatch Logs Insights cannot group requests into visits. "
            "DuckDB computes this from the same log group: "
            "cafepipe insights --engine duckdb --source logs:<group>"
        )
    if meta.get("engine") == "cloudwatch":
        return "Not computed by CloudWatch Logs Insights; run the report with --engine duckdb."
    return "Not in the data this report was made from (an older cafepipe made it)."


def chart_for(
    insight: Insight, data: dict[str, Any], meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the template needs to draw one insight."""
    meta = meta or {}
    headings, rows = table_rows(insight, data, meta)
    chart: dict[str, Any] = {
        "id": insight.id,
        "insight": insight,
        "title": title_of(insight, data, meta),
        "description": description_of(insight, data, meta),
        "headings": headings,
        "rows": [[_format(cell) for cell in row] for row in rows],
        "wrap": [column in URL_COLUMNS for column in insight.columns],
        "kind": "table",
        "utc": None,
        "also": "",
        "note": "",
    }
    if missing(insight, data):
        chart.update(kind="missing", note=missing_note(insight, meta))
        return chart
    if insight.id == "funnel" and rows:
        chart.update(
            kind="funnel", funnel=funnel_chart(funnel_steps(data.get("funnel"), insight.columns))
        )
        return chart
    if insight.shape == "fields":
        chart["kind"] = "numbers"
        chart["wrap"] = [False, False]
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
    if insight.view == "pie":
        chart.update(kind="pie", slices=pie_slices(pairs))
    elif insight.view == "bar" and insight.shape in ("hours", "weekdays"):
        short = [(name[:2] if insight.shape == "hours" else name[:3], v) for name, v in pairs]
        chart.update(kind="columns", bars=column_bars(short))
    elif insight.view == "bar":
        chart.update(kind="bars", bars=row_bars(pairs), height=len(pairs) * 22)
    elif insight.view == "timeSeries":
        chart.update(_line_chart(insight, headings, rows, meta))
    return chart


# ---- the funnel -------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    label: str
    visits: str
    x: float
    y: float
    width: float
    share: str  # of the first step
    went_on: str  # conversion from the step before, '' for the first
    left: str  # visits lost since the step before
    joint: str  # the trapezoid from the step before, SVG points


FUNNEL_WIDTH = 400.0
FUNNEL_BAR = 30.0
FUNNEL_ROW = 84.0  # label, bar, then the gap where the drop-off is written


def funnel_chart(steps: list[tuple[str, float, float]]) -> dict[str, Any]:
    """Bars whose widths are proportional to the visits of each step, joined by trapezoids."""
    first = steps[0][1] if steps else 0
    drawn: list[FunnelStep] = []
    for index, (name, visits, rate) in enumerate(steps):
        width = max(FUNNEL_WIDTH * visits / first, 3.0) if first else 3.0
        x = (FUNNEL_WIDTH - width) / 2
        y = 18 + index * FUNNEL_ROW
        joint = ""
        went_on = left = ""
        if drawn:
            before = drawn[-1]
            top = before.y + FUNNEL_BAR
            joint = (
                f"{before.x:.1f},{top:.1f} {before.x + before.width:.1f},{top:.1f} "
                f"{x + width:.1f},{y - 18:.1f} {x:.1f},{y - 18:.1f}"
            )
            went_on = f"{100 * rate:.1f} % went on"
            lost = max(steps[index - 1][1] - visits, 0)
            left = f"{_format(int(lost))} left ({100 * (1 - rate):.1f} %)"
        share = f"{100 * visits / first:.1f} %" if first else "0 %"
        drawn.append(
            FunnelStep(name, _format(int(visits)), x, y, width, share, went_on, left, joint)
        )
    return {"steps": drawn, "height": 18 + len(steps) * FUNNEL_ROW - 36, "width": FUNNEL_WIDTH}


# ---- the map ----------------------------------------------------------------------------


def city_map(data: dict[str, Any]) -> dict[str, Any] | None:
    """Customers by city over the world's outlines: circles whose area is the number of
    people who opened the menu, a darker circle inside for those who ordered."""
    from cafepipe.cafe.geography import CITIES, CITY_INDEX
    from cafepipe.insights import map_data

    people: list[tuple[str, float, float]] = []
    source = "customer_cities"
    for row in data.get("customer_cities") or []:
        cells = row_cells(("city", "menu_visitors", "buyers", "orders"), row)
        people.append((str(cells[0]), float(cells[1] or 0), float(cells[2] or 0)))
    if not people:
        source = "by_city"
        for row in data.get("by_city") or []:
            cells = row_cells(("city", "menu_views", "orders"), row)
            people.append((str(cells[0]), float(cells[1] or 0), float(cells[2] or 0)))
    people = [p for p in people if p[1] > 0 or p[2] > 0]
    if not people:
        return None
    placed = [
        (CITIES[CITY_INDEX[name]], seen, bought)
        for name, seen, bought in people
        if name in CITY_INDEX
    ]
    unplaced = [name for name, _, _ in people if name not in CITY_INDEX]
    top = max((seen for _, seen, _ in placed), default=0) or 1
    points = [map_data.project(city.lon, city.lat) for city, _, _ in placed]
    world = map_data.world_view()
    views: list[tuple[str, map_data.View]] = []
    if points:
        spread = max(x for x, _ in points) - min(x for x, _ in points)
        if spread > world.width / 3:
            views.append(("The world", world))
        # A closer look where most customers are, when their cities crowd the world map.
        by_country: dict[str, float] = {}
        for city, seen, _ in placed:
            by_country[city.country] = by_country.get(city.country, 0) + seen
        home = max(by_country, key=lambda code: by_country[code])
        near = [p for p, (c, _, _) in zip(points, placed, strict=True) if c.country == home]
        near = near if views else points
        close = map_data.view_around(near)
        if close.width < world.width / 3:
            names = sorted(
                {c.country for p, (c, _, _) in zip(points, placed, strict=True) if close.holds(p)},
                key=lambda code: -by_country[code],
            )
            words = [str(country_name(code)) for code in names]
            title = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
            views.append((title, close))
        elif not views:
            views.append(("The world", world))
    maps = []
    for name, view in views:
        scale = view.width / map_data.WIDTH  # circles keep their size on the screen
        circles: list[dict[str, Any]] = []
        for (city, seen, bought), point in zip(placed, points, strict=True):
            if not view.holds(point):
                continue
            x, y = point
            circles.append(
                {
                    "city": city.name,
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "r": round(max(26 * math.sqrt(seen / top), 2.2) * scale, 2),
                    "inner": round(26 * math.sqrt(bought / top) * scale, 2),
                    "seen": _format(int(seen)),
                    "bought": _format(int(bought)),
                    "left": round(100 * (x - view.x) / view.width, 2),
                    "top": round(100 * (y - view.y) / view.height, 2),
                    "value": seen,
                }
            )
        circles.sort(key=lambda c: -c["value"])  # the small circles drawn last, on top
        maps.append(
            {"name": name, "box": view.box, "circles": circles, "labels": map_labels(circles)}
        )
    with_customers = {city.country for city, _, _ in placed}
    return {
        "maps": maps,
        "countries": [
            {"name": shape.name, "path": shape.path, "has": shape.code in with_customers}
            for shape in map_data.country_shapes()
        ],
        "source": source,
        "unplaced": unplaced,
    }


def map_labels(
    circles: list[dict[str, Any]], most: int = 10, width: float = 600, height: float = 370
) -> list[dict[str, Any]]:
    """City names for the biggest circles that do not overlap a name already placed.

    Positions are in % of the map, so the names stay HTML text of a fixed size; the overlap
    test assumes the map about `width` × `height` pixels (a desktop card). A name that would
    run off the right edge goes to the left of its circle.
    """
    placed: list[tuple[float, float, float, float]] = []
    labels: list[dict[str, Any]] = []
    for circle in circles:
        if len(labels) == most:
            break
        x, y = circle["left"] * width / 100, circle["top"] * height / 100
        text = 6.6 * len(circle["city"]) + 4
        west = x + 6 + text > width
        left = x - 6 - text if west else x + 6
        box = (left, y - 8, left + text, y + 8)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            continue
        placed.append(box)
        labels.append({**circle, "west": west, "major": len(labels) < 4})
    return labels


# ---- headline cards ---------------------------------------------------------------------

# (key, better when it goes up?) — the cards shown when the key is in the data.
HEADLINE_VISITS = (
    ("visits", True),
    ("pageviews_per_visit", True),
    ("bounce_rate", False),
    ("visit_duration_median_s", True),
)
HEADLINE_ORDERS = (("menu_visitors", True), ("purchasers", True), ("conversion_rate", True))


def change(name: str, now: Any, before: Any, up_is_good: bool) -> dict[str, str] | None:
    """The change since the previous period: arrow, amount, words, and whether it is good."""
    if not isinstance(before, (int, float)) or not isinstance(now, (int, float)):
        return None
    if name in RATES:
        delta = 100 * (float(now) - float(before))
        amount = f"{abs(delta):.1f} pts"
        same = abs(delta) < 0.05
    elif before == 0:
        delta = float(now)
        amount = "new" if now else "0"
        same = now == 0
    else:
        delta = 100 * (float(now) - float(before)) / float(before)
        amount = f"{abs(delta):.1f} %"
        same = abs(delta) < 0.05
    was = measure(name, {name: before})
    if same:
        return {
            "arrow": "=",
            "text": "no change",
            "was": _format(was),
            "tone": "same",
            "verdict": "",
        }
    up = delta > 0
    good = up == up_is_good
    return {
        "arrow": "▲" if up else "▼",
        "text": f"{'up' if up else 'down'} {amount}" if amount != "new" else "new",
        "was": _format(was),
        "tone": "good" if good else "bad",
        "verdict": "better" if good else "worse",
    }


def headline_cards(data: dict[str, Any]) -> list[dict[str, Any]]:
    previous = data.get("previous") if isinstance(data.get("previous"), dict) else None
    keys: list[tuple[str, bool]] = []
    if "visits" in data:
        keys += [(k, good) for k, good in HEADLINE_VISITS if k in data]
    else:
        keys += [("requests", True), ("unique_ips", True)]
    keys += list(HEADLINE_ORDERS)
    cards = []
    for name, up_is_good in keys:
        value = data.get(name, 0)
        cards.append(
            {
                "key": name,
                "label": label(name),
                "value": _format(measure(name, data)),
                "change": change(name, value, previous.get(name), up_is_good) if previous else None,
            }
        )
    return cards


def period_words(data: dict[str, Any], meta: dict[str, Any]) -> str:
    """'Fri 20 Nov – Fri 27 Nov 2026' from the daily series (or the run's since/until)."""
    days = [str(row_cells(("day",), row)[0]) for row in data.get("daily") or []]
    if days:
        first, last = _day_label(days[0]), _day_label(days[-1])
        year = days[-1][:4]
        return f"{first} – {last} {year}" if first != last else f"{first} {year}"
    since, until = meta.get("since"), meta.get("until")
    if since or until:
        return f"{since or 'the start'} – {until or 'now'}"
    return "the whole log"


def visits_note(data: dict[str, Any], meta: dict[str, Any]) -> str | None:
    """Where the visit figures come from, when the report has none."""
    if "visits" in data:
        return None
    if meta.get("engine") == "cloudwatch":
        return CLOUDWATCH_VISITS_NOTE
    return (
        "This report has no visit figures (visits, bounce rate, visit duration, the order "
        "funnel): the data it was made from does not hold them. Counts below are requests "
        "and distinct addresses."
    )


def section_charts(
    section: str, data: dict[str, Any], meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """A section's cards; with café-time hours, the UTC hours fold into the café card."""
    charts = []
    for insight in insights_in_section(section):
        if insight.id in UTC_TIME and CAFE_TIME[UTC_TIME.index(insight.id)] in data:
            continue
        chart = chart_for(insight, data, meta)
        if insight.id in CAFE_TIME:
            utc = INSIGHTS_BY_ID.get(UTC_TIME[CAFE_TIME.index(insight.id)])
            if utc is not None and utc.id in data:
                headings, rows = table_rows(utc, data, meta)
                chart["utc"] = {
                    "headings": headings,
                    "rows": [[_format(c) for c in r] for r in rows],
                }
                chart["also"] = utc.id
        charts.append(chart)
    return charts


def report_context(data: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The template context: headline cards, visits, the map and every section's charts."""
    previous = data.get("previous")
    return {
        "meta": meta,
        "period": period_words(data, meta),
        "compared": isinstance(previous, dict),
        "cards": headline_cards(data),
        "visits_note": visits_note(data, meta),
        "map": city_map(data),
        "zone": cafe_zone(data, meta),
        "sections": [
            {"name": section, "charts": section_charts(section, data, meta)} for section in SECTIONS
        ],
        "invalid_lines": _format(data.get("invalid_lines", 0)),
    }


def render_html(data: dict[str, Any], meta: dict[str, Any]) -> str:
    """The self-contained HTML report."""
    # Jinja is imported for the HTML report alone: a text or JSON run does not pay for it.
    from cafepipe.deploy.templating import render_template

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
        print_tables(data, console, meta)
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
