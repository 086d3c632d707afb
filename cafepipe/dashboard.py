"""The CloudWatch dashboard of a stack, and the Logs Insights queries saved with it.

The widgets are the exercise's questions (lab.md): who looks at the menu, who orders, and
where they are. Each query is written once here; the dashboard's log widgets and the saved
queries (`aws_cloudwatch_query_definition`) are both generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cafepipe.catalog import HOME_PATH, MENU_PATH, ORDER_PATH
from cafepipe.config import StackConfig

GRID_WIDTH = 24  # CloudWatch dashboards are 24 units wide
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


# The exercise counts visitors "by @timestamp"; a time-series widget needs a time bin.
MENU_VISITORS = LogsQuery(
    "menu-visitors",
    "Menu visitors",
    f'fields @timestamp, remoteIP | filter request = "{MENU_PATH}"'
    " | stats count(remoteIP) as Visitors by bin(1h)",
    "timeSeries",
)
PURCHASERS = LogsQuery(
    "purchasers",
    "Purchasers",
    f'fields @timestamp, remoteIP | filter request = "{ORDER_PATH}"'
    " | stats count(remoteIP) as Purchasers by bin(1h)",
    "timeSeries",
)
CITIES_MENU = LogsQuery(
    "cities-menu",
    "Cities visiting the menu the most",
    f'fields remoteIP, city | filter request = "{MENU_PATH}"'
    " | stats count() as menupopular by city | sort menupopular desc | limit 10",
    "pie",
)
CITIES_ORDERS = LogsQuery(
    "cities-orders",
    "Cities placing the most orders",
    f'fields city | filter request = "{ORDER_PATH}"'
    " | stats count() as orders by city | sort orders desc | limit 10",
    "table",
)
REGIONS_VISITS = LogsQuery(
    "regions-visits",
    "Regions visiting the website the most",
    f'fields region | filter request = "{HOME_PATH}"'
    " | stats count() as visits by region | sort visits desc | limit 10",
    "pie",
)
REGIONS_ORDERS = LogsQuery(
    "regions-orders",
    "Regions placing the most orders",
    f'fields region | filter request = "{ORDER_PATH}"'
    " | stats count() as orders by region | sort orders desc | limit 10",
    "bar",
)

LAB_SECTIONS: tuple[DashboardSection, ...] = (
    DashboardSection("## Visitors and purchasers", (MENU_VISITORS, PURCHASERS)),
    DashboardSection(
        "## Where visitors and buyers are",
        (CITIES_MENU, CITIES_ORDERS, REGIONS_VISITS, REGIONS_ORDERS),
    ),
)


def dashboard_sections(config: StackConfig) -> tuple[DashboardSection, ...]:
    """The sections shown on the stack's dashboard, in order."""
    del config  # every stack shows the same questions; kept for later, per-stack choices
    return LAB_SECTIONS


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
                f" ({config.region})."
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
    return {"widgets": widgets}
