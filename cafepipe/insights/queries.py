"""The one catalog of insights: each answer the café owner gets, as SQL and as Logs Insights.

Every entry carries its SQL (run by DuckDB on local files; plain enough to run on Athena
over a table with the same columns) and its CloudWatch Logs Insights query (used by the
dashboard the stack deploys and by `--engine cloudwatch`). Both produce the same columns.

The SQL reads one table, `logs`, with one row per valid log line:

    ts TIMESTAMP (UTC), remoteip, method, request (path, no query string), query ('?a=b' or ''),
    status INTEGER, bytes BIGINT, referer, useragent, process BIGINT (µs, NULL if not
    logged), host, city, region, country, is_scanner BOOLEAN

and `agents`, one row per distinct user agent (`AGENTS_SQL`): useragent, is_bot, device,
browser, bot. A log has far fewer user agents than lines, so classifying each agent once and
joining is much cheaper than classifying every line.

`shape` says how the rows become JSON (see `cafepipe.insights.summary`):
  fields   one row; each column is a top-level key of the JSON
  counts   rows (key, count) → {key: count}
  rows     rows → [[...], ...]
  hours    rows (hour 0-23, count) → 24 counts
  weekdays rows (weekday 0=Monday-6, count) → 7 counts
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cafepipe.cafe import catalog, traffic

SECTIONS: tuple[str, ...] = (
    "Traffic",
    "Customers",
    "Menu and orders",
    "Where customers are",
    "Noise and security",
    "Operations",
)
VIEWS = ("pie", "bar", "table", "timeSeries", "number")
TOP = 10
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Insight:
    """One answer: what it is called, where it goes, and how both engines compute it."""

    id: str
    title: str
    section: str
    view: str
    columns: tuple[str, ...]
    sql: str
    logs_insights: str
    shape: str = "rows"
    description: str = ""


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_sql_string(v) for v in values)


def _li_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join('"' + v.replace('"', '\\"') + '"' for v in values) + "]"


# What makes a request a bot's or a scanner's is defined once, in cafepipe.cafe.traffic, and shared
# with the log generator, so the insights and the generator's ground truth agree by construction.
BOT_REGEX = "|".join(re.escape(token.lower()) for token in traffic.BOT_UA_TOKENS)


def scanner_condition_sql(request: str = "request") -> str:
    """SQL that is true when a request path is a vulnerability scanner's probe."""
    return f"{request} IN ({_sql_list(traffic.SCANNER_PATHS)})"


def _li_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _li_regex(pattern: str) -> str:
    """A regular expression as a Logs Insights /literal/ (slashes escaped)."""
    return pattern.replace("/", "\\/")


# Logs Insights lower-cases with tolower(), as the SQL does with lower(), so both engines match
# the same tokens the same way: `LI_AGENT` first, then the filters test the field it makes.
LI_AGENT = "fields tolower(userAgent) as agent"
LI_BOT_FILTER = f"agent like /{_li_regex(BOT_REGEX)}/"
LI_NOT_BOT_FILTER = LI_BOT_FILTER.replace(" like ", " not like ", 1)
LI_SCANNER_FILTER = f"request in {_li_list(traffic.SCANNER_PATHS)}"


def li_place_filter(field: str) -> str:
    """Logs Insights: the event names a place (the SQL's `IS NOT NULL AND NOT IN ('', '-')`)."""
    return f'ispresent({field}) and {field} not in ["", "-"]'


def li_is(field: str, value: str) -> str:
    """Logs Insights: 1 when `field` is exactly `value`, else 0.

    There is no CASE and no boolean-to-number conversion; strcontains gives 1 or 0, and a field
    that contains the value and is contained by it is the value.
    """
    text = _li_string(value)
    return f"strcontains({field}, {text}) * strcontains({text}, {field})"


MENU = _sql_string(catalog.MENU_PATH)
ORDER = _sql_string(catalog.ORDER_PATH)
HOME = _sql_string(catalog.HOME_PATH)
ITEM = _sql_string(catalog.ITEM_PATH)
MENU_IDS = _sql_list([item.id for item in catalog.MENU])
# An order is a request for the order page that the site did not refuse: it answers 400 to an
# order it does not take (catalog.parse_basket's rule) and 405 to a GET; neither is an order.
PLACED = f"(request = {ORDER} AND status NOT BETWEEN 400 AND 499)"
# The same in Logs Insights, where the status is the text Apache wrote ("404"): as a condition,
# and as a number (1 for an order, else 0) to sum.
LI_PLACED = f'(request = "{catalog.ORDER_PATH}" and status not like /^4[0-9][0-9]$/)'
LI_PLACED_COUNT = (
    f'{li_is("request", catalog.ORDER_PATH)} * (1 - strcontains(substr(status, 0, 1), "4"))'
)

# Device and browser families from the user agent, most specific first: (family, lower-case
# tokens), after the robots. An iPad's user agent also says "Mobile", so Tablet comes before
# Phone; Edge's and Opera's also say "Chrome/" and "Safari/", so they come before Chrome and
# Safari. Both engines classify from these tuples: the SQL with a CASE, Logs Insights with
# `li_family` — and `tests/test_logs_insights.py` checks them on the generator's user agents.
BOT_FAMILY = "Bot or crawler"
OTHER_FAMILY = "Other"
DEVICE_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Tablet", ("ipad", "tablet")),
    ("Phone", ("mobile", "iphone", "android")),
    ("Computer", ("windows", "macintosh", "linux", "cros")),
)
BROWSER_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Edge", ("edg/", "edga/", "edgios/")),
    ("Opera", ("opr/", "opera")),
    ("Firefox", ("firefox/", "fxios/")),
    ("Chrome", ("chrome/", "crios/")),
    ("Safari", ("safari/",)),
    ("Script", ("curl/", "wget/", "python", "go-http", "java/")),
)


def _tokens_regex(tokens: tuple[str, ...]) -> str:
    return "|".join(re.escape(token) for token in tokens)


def _family_sql(families: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    whens = "".join(
        f"\n    WHEN regexp_matches(agent, {_sql_string(_tokens_regex(tokens))}) "
        f"THEN {_sql_string(name)}"
        for name, tokens in families
    )
    return (
        f"CASE\n    WHEN is_bot THEN {_sql_string(BOT_FAMILY)}{whens}\n"
        f"    ELSE {_sql_string(OTHER_FAMILY)} END"
    )


DEVICE_SQL = _family_sql(DEVICE_FAMILIES)
BROWSER_SQL = _family_sql(BROWSER_FAMILIES)


def li_family(name: str, families: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """Logs Insights commands that set field `name` to the user agent's family.

    Logs Insights has no CASE. So the lower-cased user agent is put after a fixed list of the
    family names, `|Bot or crawler|Tablet|…|Other|>agent`; each family's `parse` captures its own
    name from that list only when one of its tokens follows the `>`, and `coalesce` keeps the
    first family that matched, in the order of `families` — the SQL CASE's order.
    """
    labels = [BOT_FAMILY, *(family for family, _ in families), OTHER_FAMILY]
    token_sets = [traffic.BOT_UA_TOKENS, *(tokens for _, tokens in families)]
    probe = f"{name}Probe"
    groups = [f"{name}{index}" for index in range(1, len(labels) + 1)]
    commands = [f'fields concat("|{"|".join(labels)}|>", tolower(userAgent)) as {probe}']
    for group, label, tokens in zip(groups, labels, token_sets, strict=False):
        pattern = _li_regex(_tokens_regex(tuple(t.lower() for t in tokens)))
        commands.append(f"parse {probe} /\\|(?<{group}>{label})\\|[^>]*>.*(?:{pattern})/")
    commands.append(f"parse {probe} /\\|(?<{groups[-1]}>{OTHER_FAMILY})\\|>/")
    commands.append(f"fields coalesce({', '.join(groups)}) as {name}")
    return " | ".join(commands)


# The `agents` table: every distinct user agent of `logs`, classified once.
AGENTS_SQL = f"""SELECT useragent, is_bot, {DEVICE_SQL} AS device, {BROWSER_SQL} AS browser,
       CASE WHEN is_bot THEN regexp_extract(agent, {_sql_string(BOT_REGEX)}) END AS bot
FROM (SELECT useragent, lower(useragent) AS agent,
             regexp_matches(lower(useragent), {_sql_string(BOT_REGEX)}) AS is_bot
      FROM (SELECT DISTINCT useragent FROM logs))"""


def _geo_sql(column: str) -> str:
    # Menu views and orders per place seen in the log, biggest menu audience first (ties by
    # name); a place with traffic but no menu view still counts (the generator's definition).
    return f"""SELECT {column} AS name,
       count(*) FILTER (WHERE request = {MENU}) AS menu_views,
       count(*) FILTER (WHERE {PLACED}) AS orders
FROM logs
WHERE {column} IS NOT NULL AND {column} NOT IN ('', '-')
GROUP BY {column}
ORDER BY menu_views DESC, name ASC
LIMIT {TOP}"""


def _geo_li(field: str) -> str:
    # Every request that names a place, as the SQL counts them: menu views and orders summed.
    return (
        f"filter {li_place_filter(field)} "
        f"| fields {li_is('request', catalog.MENU_PATH)} as menu_view, "
        f"{LI_PLACED_COUNT} as order_placed "
        f"| stats sum(menu_view) as menu_views, sum(order_placed) as orders by {field} "
        f"| sort menu_views desc | limit {TOP}"
    )


def _count_by_agent_sql(column: str, where: str = "TRUE") -> str:
    # Count per user agent first, then add up per class of agent: few rows to join.
    return f"""SELECT a.{column} AS {column}, sum(u.requests) AS requests
FROM (SELECT useragent, count(*) AS requests FROM logs GROUP BY useragent) AS u
JOIN agents AS a ON a.useragent = u.useragent
WHERE {where}
GROUP BY 1
ORDER BY requests DESC, {column} ASC
LIMIT {TOP}"""


def _count_by_sql(expression: str, where: str = "TRUE", label: str = "name") -> str:
    return f"""SELECT {expression} AS {label}, count(*) AS requests
FROM logs
WHERE {where}
GROUP BY 1
ORDER BY requests DESC, {label} ASC
LIMIT {TOP}"""


INSIGHTS: tuple[Insight, ...] = (
    # ---- Traffic ------------------------------------------------------------------------
    Insight(
        id="totals",
        title="Visits at a glance",
        section="Traffic",
        view="table",
        columns=("requests", "bytes", "unique_ips"),
        shape="fields",
        description="Requests served, data sent and distinct visitor addresses.",
        sql="SELECT count(*) AS requests, coalesce(sum(bytes), 0) AS bytes, "
        "count(DISTINCT remoteip) AS unique_ips FROM logs",
        logs_insights="stats count(*) as requests, sum(bytes) as bytes, "
        "count_distinct(remoteIP) as unique_ips",
    ),
    Insight(
        id="daily",
        title="Visits per day",
        section="Traffic",
        view="timeSeries",
        columns=("day", "requests", "unique_ips"),
        description="Requests and distinct visitors each day (UTC).",
        sql="SELECT strftime(day, '%Y-%m-%d') AS day, requests, unique_ips FROM ("
        "SELECT CAST(ts AS DATE) AS day, count(*) AS requests, "
        "count(DISTINCT remoteip) AS unique_ips FROM logs GROUP BY 1) ORDER BY 1",
        logs_insights="stats count(*) as requests, count_distinct(remoteIP) as unique_ips "
        "by bin(1d)",
    ),
    Insight(
        id="hourly",
        title="Busiest hours of the day (UTC)",
        section="Traffic",
        view="bar",
        columns=("hour", "requests"),
        shape="hours",
        description="Requests by hour of the day, UTC.",
        sql="SELECT hour(ts) AS hour, count(*) AS requests FROM logs GROUP BY 1 ORDER BY 1",
        logs_insights="fields floor((toMillis(@timestamp) % 86400000) / 3600000) as hour "
        "| stats count(*) as requests by hour | sort hour asc",
    ),
    Insight(
        id="weekday",
        title="Busiest days of the week",
        section="Traffic",
        view="bar",
        columns=("weekday", "requests"),
        shape="weekdays",
        description="Requests by weekday (UTC), Monday first.",
        sql="SELECT isodow(ts) - 1 AS weekday, count(*) AS requests FROM logs GROUP BY 1 "
        "ORDER BY 1",
        logs_insights="fields (floor(toMillis(@timestamp) / 86400000) + 3) % 7 as weekday "
        "| stats count(*) as requests by weekday | sort weekday asc",
    ),
    Insight(
        id="top_paths",
        title="Most visited pages",
        section="Traffic",
        view="table",
        columns=("path", "requests"),
        description="The ten most requested paths (without query string).",
        sql=_count_by_sql("request", label="path"),
        logs_insights=f"stats count(*) as requests by request | sort requests desc | limit {TOP}",
    ),
    Insight(
        id="status_classes",
        title="Answers the site gave",
        section="Traffic",
        view="pie",
        columns=("class", "requests"),
        shape="counts",
        description="2xx served, 3xx redirected or cached, 4xx not found/refused, 5xx failed.",
        sql="SELECT CAST(status // 100 AS VARCHAR) || 'xx' AS class, count(*) AS requests "
        "FROM logs WHERE status BETWEEN 200 AND 599 GROUP BY 1 ORDER BY 1",
        # Apache writes the status as text ("404"): matched and cut as text, not converted.
        logs_insights="filter status like /^[2-5][0-9][0-9]$/ "
        '| fields concat(substr(status, 0, 1), "xx") as class '
        "| stats count(*) as requests by class | sort class asc",
    ),
    # ---- Customers ----------------------------------------------------------------------
    Insight(
        id="menu_audience",
        title="Who looks at the menu",
        section="Customers",
        view="table",
        columns=("menu_views", "menu_visitors"),
        shape="fields",
        description="Menu page views, and the distinct addresses that viewed it.",
        sql=f"SELECT count(*) AS menu_views, count(DISTINCT remoteip) AS menu_visitors "
        f"FROM logs WHERE request = {MENU}",
        logs_insights=f'filter request = "{catalog.MENU_PATH}" '
        "| stats count(*) as menu_views, count_distinct(remoteIP) as menu_visitors",
    ),
    Insight(
        id="orders_placed",
        title="Who orders",
        section="Customers",
        view="table",
        columns=("order_requests", "purchasers"),
        shape="fields",
        description="Orders placed, the distinct addresses that ordered, and the conversion "
        "rate (purchasers / menu visitors).",
        sql=f"SELECT count(*) AS order_requests, count(DISTINCT remoteip) AS purchasers "
        f"FROM logs WHERE {PLACED}",
        logs_insights=f"filter {LI_PLACED} "
        "| stats count(*) as order_requests, count_distinct(remoteIP) as purchasers",
    ),
    Insight(
        id="menu_and_orders_daily",
        title="Menu views and orders per day",
        section="Customers",
        view="timeSeries",
        columns=("day", "menu_views", "orders"),
        description="Menu views and orders each day: is interest turning into orders?",
        sql=f"""SELECT strftime(day, '%Y-%m-%d') AS day, menu_views, orders
FROM (SELECT CAST(ts AS DATE) AS day,
             count(*) FILTER (WHERE request = {MENU}) AS menu_views,
             count(*) FILTER (WHERE {PLACED}) AS orders
      FROM logs WHERE request IN ({MENU}, {ORDER})
      GROUP BY 1)
ORDER BY 1""",
        logs_insights=f'filter request in ["{catalog.MENU_PATH}", "{catalog.ORDER_PATH}"] '
        f'| fields strcontains(request, "{catalog.MENU_PATH}") as menu_view, '
        f"{LI_PLACED_COUNT} as order_placed "
        "| stats sum(menu_view) as menu_views, sum(order_placed) as orders by bin(1d)",
    ),
    Insight(
        id="referrers",
        title="Where visitors come from",
        section="Customers",
        view="table",
        columns=("referrer", "requests"),
        description="Sites that sent visitors (by host), not counting the café's own pages.",
        sql=f"""WITH sources AS (
    SELECT lower(regexp_extract(referer, '^[a-zA-Z]+://([^/:?#]+)', 1)) AS referrer,
           regexp_extract(referer, '^[a-zA-Z]+://[^/]*(/[^?#]*)', 1) AS page,
           lower(coalesce(host, '')) AS site, requests
    FROM (SELECT referer, host, sum(requests) AS requests
          FROM (SELECT referer, host, useragent, count(*) AS requests
                FROM logs WHERE referer LIKE '%://%' GROUP BY ALL) AS counted
          JOIN agents ON agents.useragent = counted.useragent
          WHERE NOT agents.is_bot
          GROUP BY referer, host)
)
SELECT referrer, sum(requests) AS requests
FROM sources
WHERE referrer <> '' AND referrer <> site AND page NOT LIKE '/cafe%'
GROUP BY referrer
ORDER BY requests DESC, referrer ASC
LIMIT {TOP}""",
        logs_insights=f"{LI_AGENT} | filter referer like /^[a-zA-Z]+:\\/\\/[^\\/:?#]+/ "
        f"and {LI_NOT_BOT_FILTER} "
        "and referer not like /^[a-zA-Z]+:\\/\\/[^\\/]*\\/cafe/ "
        "| parse referer /^[a-zA-Z]+:\\/\\/(?<site>[^\\/:?#]+)/ "
        "| fields tolower(site) as referrer | filter referrer != tolower(host) "
        f"| stats count(*) as requests by referrer | sort requests desc | limit {TOP}",
    ),
    Insight(
        id="campaigns",
        title="Marketing campaigns",
        section="Customers",
        view="table",
        columns=("source", "medium", "campaign", "requests"),
        description="Visits tagged with utm_source / utm_medium / utm_campaign.",
        sql=f"""SELECT regexp_extract(query, '[?&]utm_source=([^&]*)', 1) AS source,
       regexp_extract(query, '[?&]utm_medium=([^&]*)', 1) AS medium,
       regexp_extract(query, '[?&]utm_campaign=([^&]*)', 1) AS campaign,
       count(*) AS requests
FROM logs
WHERE query LIKE '%utm_source=%'
GROUP BY 1, 2, 3
ORDER BY requests DESC, source, medium, campaign
LIMIT {TOP}""",
        logs_insights='filter query like "utm_source=" '
        "| parse query /utm_source=(?<source>[^&]*)/ "
        "| parse query /utm_medium=(?<medium>[^&]*)/ "
        "| parse query /utm_campaign=(?<campaign>[^&]*)/ "
        f"| stats count(*) as requests by source, medium, campaign "
        f"| sort requests desc | limit {TOP}",
    ),
    Insight(
        id="devices",
        title="Phones, tablets or computers",
        section="Customers",
        view="pie",
        columns=("device", "requests"),
        description="What visitors browse with, from the user agent.",
        sql=_count_by_agent_sql("device"),
        logs_insights=f"{li_family('device', DEVICE_FAMILIES)} "
        f"| stats count(*) as requests by device | sort requests desc | limit {TOP}",
    ),
    Insight(
        id="browsers",
        title="Browsers",
        section="Customers",
        view="pie",
        columns=("browser", "requests"),
        description="Browser families, from the user agent.",
        sql=_count_by_agent_sql("browser"),
        logs_insights=f"{li_family('browser', BROWSER_FAMILIES)} "
        f"| stats count(*) as requests by browser | sort requests desc | limit {TOP}",
    ),
    # ---- Menu and orders ------------------------------------------------------------------
    Insight(
        id="top_items_viewed",
        title="Menu items people look at",
        section="Menu and orders",
        view="bar",
        columns=("item", "views"),
        description="Item pages opened (/cafe/item.php?id=…).",
        sql=f"""SELECT regexp_extract(query, '[?&]id=([^&]*)', 1) AS item, sum(views) AS views
FROM (SELECT query, count(*) AS views FROM logs WHERE request = {ITEM} GROUP BY query)
WHERE regexp_extract(query, '[?&]id=([^&]*)', 1) IN ({MENU_IDS})
GROUP BY 1
ORDER BY views DESC, item ASC
LIMIT {TOP}""",
        logs_insights=f'filter request = "{catalog.ITEM_PATH}" '
        "| parse query /[?&]id=(?<item>[^&]*)/ "
        f"| filter item in {_li_list([item.id for item in catalog.MENU])} "
        f"| stats count(*) as views by item | sort views desc | limit {TOP}",
    ),
    Insight(
        id="items_ordered",
        title="What people order",
        section="Menu and orders",
        view="bar",
        columns=("item", "quantity", "orders"),
        description="Items in orders (processOrder.php?items=id:qty,…): units and orders.",
        # A basket counts when the site would take it (catalog.parse_basket: known items, each
        # once, 1 to MAX_QUANTITY of each): the one items= parameter of an order placed.
        sql=f"""WITH params AS (
    SELECT list_filter(string_split(CASE WHEN query[1] = '?' THEN query[2:] ELSE query END, '&'),
                       lambda p: starts_with(p, 'items=')) AS found
    FROM logs WHERE {PLACED} AND contains(query, 'items=')
),
baskets AS (
    SELECT string_split(found[1][7:], ',') AS entries FROM params
    WHERE len(found) = 1 AND regexp_full_match(found[1][7:], {_sql_string(catalog.BASKET_PATTERN)})
),
lines AS (
    SELECT list_transform(entries, lambda e: split_part(e, ':', 1)) AS items,
           list_transform(entries, lambda e: try_cast(split_part(e, ':', 2) AS INTEGER)) AS qtys
    FROM baskets
)
SELECT item, sum(qty) AS quantity, count(*) AS orders
FROM (SELECT unnest(items) AS item, unnest(qtys) AS qty FROM lines
      WHERE len(list_distinct(items)) = len(items) AND list_max(qtys) <= {catalog.MAX_QUANTITY})
GROUP BY item
ORDER BY quantity DESC, item ASC
LIMIT {TOP}""",
        # Orders with one items= parameter; baskets are checked (catalog.parse_basket) and split
        # into items by the engine: Logs Insights cannot split a field into rows.
        logs_insights=f"filter {LI_PLACED} "
        "and query not like /(?:^\\??|&)items=.*&items=/ "
        "| parse query /(?:^\\??|&)items=(?<basket>[^&]*)/ | filter ispresent(basket) "
        "| stats count(*) as orders by basket | sort orders desc | limit 1000",
    ),
    # ---- Where customers are --------------------------------------------------------------
    Insight(
        id="by_city",
        title="Cities visiting the menu the most",
        section="Where customers are",
        view="pie",
        columns=("city", "menu_views", "orders"),
        description="Menu views and orders by city: where the menu draws the most interest.",
        sql=_geo_sql("city"),
        logs_insights=_geo_li("city"),
    ),
    Insight(
        id="customer_cities",
        title="Where the next café could open: customers by city",
        section="Where customers are",
        view="table",
        columns=("city", "menu_visitors", "buyers", "orders"),
        description="People (bots left out) who looked at the menu, who ordered, and the "
        "orders they placed, by city: the expansion question.",
        sql=f"""SELECT city,
       count(DISTINCT remoteip) FILTER (WHERE request = {MENU}) AS menu_visitors,
       count(DISTINCT remoteip) FILTER (WHERE {PLACED}) AS buyers,
       count(*) FILTER (WHERE {PLACED}) AS orders
FROM logs JOIN agents ON agents.useragent = logs.useragent
WHERE NOT agents.is_bot
  AND city IS NOT NULL AND city NOT IN ('', '-') AND request IN ({MENU}, {ORDER})
GROUP BY city
ORDER BY menu_visitors DESC, buyers DESC, city ASC
LIMIT {TOP}""",
        # Per city, page and whether it is an order placed (a city with refused orders only
        # still has its row, as in the SQL).
        logs_insights=f"{LI_AGENT} "
        f"| filter request in {_li_list([catalog.MENU_PATH, catalog.ORDER_PATH])} "
        f"and {LI_NOT_BOT_FILTER} and {li_place_filter('city')} "
        f"| fields {LI_PLACED_COUNT} as placed "
        "| stats count_distinct(remoteIP) as people, count(*) as requests "
        "by city, request, placed | sort people desc | limit 200",
    ),
    Insight(
        id="orders_by_city",
        title="Cities placing the most orders",
        section="Where customers are",
        view="table",
        columns=("city", "orders"),
        description="Orders by city.",
        sql=f"""SELECT city, count(*) AS orders FROM logs
WHERE {PLACED} AND city IS NOT NULL AND city NOT IN ('', '-')
GROUP BY city ORDER BY orders DESC, city ASC LIMIT {TOP}""",
        logs_insights=f"filter {LI_PLACED} and {li_place_filter('city')} "
        f"| stats count(*) as orders by city | sort orders desc | limit {TOP}",
    ),
    Insight(
        id="visits_by_region",
        title="Regions visiting the website the most",
        section="Where customers are",
        view="pie",
        columns=("region", "visits"),
        description="Home page visits by region.",
        sql=f"""SELECT region, count(*) AS visits FROM logs
WHERE request = {HOME} AND region IS NOT NULL AND region NOT IN ('', '-')
GROUP BY region ORDER BY visits DESC, region ASC LIMIT {TOP}""",
        logs_insights=f'filter request = "{catalog.HOME_PATH}" and {li_place_filter("region")} '
        f"| stats count(*) as visits by region | sort visits desc | limit {TOP}",
    ),
    Insight(
        id="orders_by_region",
        title="Regions placing the most orders",
        section="Where customers are",
        view="bar",
        columns=("region", "orders"),
        description="Orders by region.",
        sql=f"""SELECT region, count(*) AS orders FROM logs
WHERE {PLACED} AND region IS NOT NULL AND region NOT IN ('', '-')
GROUP BY region ORDER BY orders DESC, region ASC LIMIT {TOP}""",
        logs_insights=f"filter {LI_PLACED} and {li_place_filter('region')} "
        f"| stats count(*) as orders by region | sort orders desc | limit {TOP}",
    ),
    Insight(
        id="by_region",
        title="Regions: menu views and orders",
        section="Where customers are",
        view="table",
        columns=("region", "menu_views", "orders"),
        description="Menu views and orders by region.",
        sql=_geo_sql("region"),
        logs_insights=_geo_li("region"),
    ),
    Insight(
        id="by_country",
        title="Countries: menu views and orders",
        section="Where customers are",
        view="table",
        columns=("country", "menu_views", "orders"),
        description="Menu views and orders by country.",
        sql=_geo_sql("country"),
        logs_insights=_geo_li("country"),
    ),
    # ---- Noise and security ---------------------------------------------------------------
    Insight(
        id="bots",
        title="Robots and crawlers",
        section="Noise and security",
        view="number",
        columns=("bot_requests",),
        shape="fields",
        description="Requests from search engines, crawlers and monitors (not customers).",
        sql="SELECT count(*) AS bot_requests "
        "FROM logs JOIN agents ON agents.useragent = logs.useragent WHERE agents.is_bot",
        logs_insights=f"{LI_AGENT} | filter {LI_BOT_FILTER} | stats count(*) as bot_requests",
    ),
    Insight(
        id="scanners",
        title="Vulnerability probes",
        section="Noise and security",
        view="number",
        columns=("scanner_requests",),
        shape="fields",
        description="Requests for paths only attackers ask for (.env, wp-login.php, …).",
        sql="SELECT count(*) AS scanner_requests FROM logs WHERE is_scanner",
        logs_insights=f"filter {LI_SCANNER_FILTER} | stats count(*) as scanner_requests",
    ),
    Insight(
        id="top_bots",
        title="Busiest robots",
        section="Noise and security",
        view="pie",
        columns=("bot", "requests"),
        description="Bots and crawlers by the token that identifies them.",
        sql=_count_by_agent_sql("bot", where="a.is_bot"),
        logs_insights=f"{LI_AGENT} "
        f"| parse agent /(?<bot>{_li_regex(BOT_REGEX)})/ | filter ispresent(bot) "
        f"| stats count(*) as requests by bot | sort requests desc | limit {TOP}",
    ),
    Insight(
        id="scanner_addresses",
        title="Addresses probing for weaknesses",
        section="Noise and security",
        view="table",
        columns=("address", "requests"),
        description="Client addresses behind scanner probes (candidates for blocking).",
        sql=_count_by_sql("remoteip", where="is_scanner", label="address"),
        logs_insights=f"filter {LI_SCANNER_FILTER} "
        f"| stats count(*) as requests by remoteIP | sort requests desc | limit {TOP}",
    ),
    Insight(
        id="scanner_paths",
        title="What the probes look for",
        section="Noise and security",
        view="table",
        columns=("path", "requests"),
        description="Paths requested by vulnerability scanners.",
        sql=_count_by_sql("request", where="is_scanner", label="path"),
        logs_insights=f"filter {LI_SCANNER_FILTER} "
        f"| stats count(*) as requests by request | sort requests desc | limit {TOP}",
    ),
    # ---- Operations -----------------------------------------------------------------------
    Insight(
        id="errors",
        title="Pages that failed",
        section="Operations",
        view="table",
        columns=("path", "status", "requests"),
        description="Most frequent 4xx (not found, refused) and 5xx (server error) answers.",
        sql=f"""SELECT request AS path, status, count(*) AS requests FROM logs
WHERE status >= 400 AND status < 600
GROUP BY 1, 2 ORDER BY requests DESC, path ASC, status ASC LIMIT {TOP}""",
        logs_insights="filter status like /^[45][0-9][0-9]$/ "
        f"| stats count(*) as requests by request, status | sort requests desc | limit {TOP}",
    ),
    Insight(
        id="slowest_pages",
        title="Slowest pages",
        section="Operations",
        view="table",
        columns=("path", "requests", "avg_ms", "max_ms"),
        description="Pages by average time to serve (Apache %D), in milliseconds.",
        sql=f"""SELECT request AS path, count(*) AS requests,
       round(avg(process) / 1000.0, 1) AS avg_ms, round(max(process) / 1000.0, 1) AS max_ms
FROM logs WHERE process IS NOT NULL AND NOT is_scanner
GROUP BY 1 ORDER BY avg_ms DESC, path ASC LIMIT {TOP}""",
        # %D is written as text ("1234"): only all-digit values count, read as numbers by
        # sum and the division. The average is the exact total over the count, then in ms,
        # as the SQL computes it (an average of per-line ms could round apart at a half).
        logs_insights=f"filter process like /^[0-9]+$/ and not ({LI_SCANNER_FILTER}) "
        "| stats count(*) as requests, sum(process) as total_us, "
        "max(process / 1000) as max_ms, total_us / requests / 1000 as avg_ms by request "
        f"| sort avg_ms desc | limit {TOP}",
    ),
)

INSIGHTS_BY_ID: dict[str, Insight] = {insight.id: insight for insight in INSIGHTS}


def insights_in_section(section: str) -> list[Insight]:
    """The catalog's entries of one section, in catalog order."""
    return [insight for insight in INSIGHTS if insight.section == section]
