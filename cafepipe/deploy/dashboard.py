"""The CloudWatch dashboard of a stack, and the Logs Insights queries saved with it.

Generated from the insights catalog (`cafepipe.insights.queries.INSIGHTS`): one markdown
header per section (Traffic, Customers, Menu and orders, Where customers are, Noise and
security, Operations) and one log widget per insight, drawn the way the catalog says (pie,
bar, table, time series). Among them: menu visitors and purchasers, and the four questions
of where customers are (cities visiting the menu, cities ordering, regions visiting the
site, regions ordering). The same queries are saved as query definitions, and
`cafepipe insights --engine cloudwatch` runs them.

The dashboard opens on the last `RANGE_DAYS` days — the week a café's log shows (the
`week` profile of `simulate-logs`) — rather than the console's default of 3 hours, where the
per-day widgets would look empty. Time series bin by day (`bin(1d)`): a point a day over the
range; every pie groups with `by`, one slice a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cafepipe.config import StackConfig
from cafepipe.insights.queries import SECTIONS, insights_in_section

GRID_WIDTH = 24  # CloudWatch dashboards are 24 units wide
RANGE_DAYS = 7
RANGE = f"-P{RANGE_DAYS}D"  # ISO 8601, relative to now: the dashboard body's `start`
HEADER_HEIGHT = 2
WIDGET_HEIGHT = 6


@dataclass(frozen=True)
class LogsQuery:
    """One Logs Insights question over the access log group."""

    name: str  # slug: the saved query's name and a stable key for other parts
    title: str
    query: str  # without the `SOURCE '<group>' |` prefix
    view: str  # how the dashboard draws it: table, timeSeries, bar or pie
    width: int = 12


@dataclass(frozen=True)
class DashboardSection:
    """A markdown header and the widgets under it."""

    header: str
    queries: tuple[LogsQuery, ...]


# CloudWatch log widgets draw table, timeSeries, bar or pie; a single number is a table.
WIDGET_VIEWS = {"number": "table"}
WIDGET_WIDTH = 8  # three widgets side by side


# Insights Logs Insights cannot compute (visits, the funnel: they need sessions) have no widget;
# the dashboard's title says where they are.
SESSIONS_NOTE = (
    "Visits, bounce rate, visit duration, entry and exit pages and the order funnel need "
    "sessions, which Logs Insights cannot compute: `cafepipe insights` (DuckDB or Athena) "
    "has them."
)


def _section_queries(section: str) -> tuple[LogsQuery, ...]:
    return tuple(
        LogsQuery(
            insight.id.replace("_", "-"),
            insight.title,
            insight.logs_insights,
            WIDGET_VIEWS.get(insight.view, insight.view),
            WIDGET_WIDTH,
        )
        for insight in insights_in_section(section)
        if insight.logs_insights is not None
    )


CATALOG_SECTIONS: tuple[DashboardSection, ...] = tuple(
    DashboardSection(f"## {section}", _section_queries(section)) for section in SECTIONS
)


def dashboard_sections(config: StackConfig) -> tuple[DashboardSection, ...]:
    """The sections shown on the stack's dashboard, in order."""
    del config  # every stack shows the same questions; kept for later, per-stack choices
    return CATALOG_SECTIONS


def saved_queries(config: StackConfig) -> dict[str, str]:
    """Query name → Logs Insights query, for the stack's saved queries (one per widget)."""
    return {
        query.name: query.query
        for section in dashboard_sections(config)
        for query in section.queries
    }


def _log_widget(config: StackConfig, query: LogsQuery, x: int, y: int) -> dict[str, Any]:
    return {
        "type": "log",
        "x": x,
        "y": y,
        "width": query.width,
        "height": WIDGET_HEIGHT,
        "properties": {
            "query": f"SOURCE '{config.access_log_group}' | {query.query}",
            "region": config.region,
            "title": query.title,
            "view": query.view,
        },
    }


def dashboard_body(config: StackConfig) -> dict[str, Any]:
    """The CloudWatch dashboard JSON: a title, then markdown section headers and log widgets."""
    widgets: list[dict[str, Any]] = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": GRID_WIDTH,
            "height": HEADER_HEIGHT,
            "properties": {
                "markdown": f"# Café clickstream — stack `{config.stack}`\n"
                f"Access log `{config.access_log_group}`, error log `{config.error_log_group}`"
                f" ({config.region}). {SESSIONS_NOTE}"
            },
        }
    ]
    y = HEADER_HEIGHT
    for section in dashboard_sections(config):
        widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": y,
                "width": GRID_WIDTH,
                "height": 1,
                "properties": {"markdown": section.header},
            }
        )
        y += 1
        x = 0
        for query in section.queries:
            if x + query.width > GRID_WIDTH:
                x, y = 0, y + WIDGET_HEIGHT
            widgets.append(_log_widget(config, query, x, y))
            x += query.width
        y += WIDGET_HEIGHT
    return {"start": RANGE, "widgets": widgets}
