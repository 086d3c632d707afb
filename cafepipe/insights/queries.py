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


LI_BOT_FILTER = f"userAgent like /(?i){BOT_REGEX.replace('/', chr(92) + '/')}/"
LI_NOT_BOT_FILTER = LI_BOT_FILTER.replace(" like ", " not like ", 1)
LI_SCANNER_FILTER = f"request in {_li_list(traffic.SCANNER_PATHS)}"

MENU = _sql_string(catalog.MENU_PATH)
ORDER = _sql_string(catalog.ORDER_PATH)
HOME = _sql_string(catalog.HOME_PATH)
ITEM = _sql_string(catalog.ITEM_PATH)
MENU_IDS = _sql_list([item.id for item in catalog.MENU])

# Device and browser families from the user agent, most specific first.
DEVICE_SQL = """CASE
    WHEN is_bot THEN 'Bot or crawler'
    WHEN regexp_matches(agent, 'ipad|tablet') THEN 'Tablet'
    WHEN regexp_matches(agent, 'mobile|iphone|android') THEN 'Phone'
    WHEN regexp_matches(agent, 'windows|macintosh|linux|cros') THEN 'Computer'
    ELSE 'Other' END"""
BROWSER_SQL = """CASE
    WHEN is_bot THEN 'Bot or crawler'
    WHEN regexp_matches(agent, 'edg/') THEN 'Edge'
    WHEN regexp_matches(agent, 'opr/|opera') THEN 'Opera'
    WHEN regexp_matches(agent, 'firefox/|fxios/') THEN 'Firefox'
    WHEN regexp_matches(agent, 'chrome/|crios/') THEN 'Chrome'
    WHEN regexp_matches(agent, 'safari/') THEN 'Safari'
    WHEN regexp_matches(agent, 'curl/|wget/|python|go-http|java/') THEN 'Script'
    ELSE 'Other' END"""

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
       count(*) FILTER (WHERE request = {ORDER}) AS orders
FROM logs
WHERE {column} IS NOT NULL AND {column} NOT IN ('', '-')
GROUP BY {column}
ORDER BY menu_views DESC, name ASC
LIMIT {TOP}"""


def _geo_li(field: str) -> str:
    return (
        f'filter request = "{catalog.MENU_PATH}" | stats count(*) as menu_views by {field} '
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
        logs_insights="filter status >= 200 and status < 600 "
        '| fields concat(floor(status / 100), "xx") as class '
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
        f"FROM logs WHERE request = {ORDER}",
        logs_insights=f'filter request = "{catalog.ORDER_PATH}" '
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
             count(*) FILTER (WHERE request = {ORDER}) AS orders
      FROM logs WHERE request IN ({MENU}, {ORDER})
      GROUP BY 1)
ORDER BY 1""",
        logs_insights=f'filter request in ["{catalog.MENU_PATH}", "{catalog.ORDER_PATH}"] '
        f'| stats sum(strcontains(request, "{catalog.MENU_PATH}")) as menu_views, '
        f'sum(strcontains(request, "{catalog.ORDER_PATH}")) as orders by bin(1d)',
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
        logs_insights="filter referer like /:\\/\\// "
        "| parse referer /:\\/\\/(?<referrer>[^\\/:?#]+)/ "
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
        logs_insights=f"filter {LI_NOT_BOT_FILTER} "
        '| stats sum(strcontains(userAgent, "iPad")) as Tablet, '
        'sum(strcontains(userAgent, "Mobile")) as Phone, count(*) as All',
    ),
    Insight(
        id="browsers",
        title="Browsers",
        section="Customers",
        view="pie",
        columns=("browser", "requests"),
        description="Browser families, from the user agent.",
        sql=_count_by_agent_sql("browser"),
        logs_insights=f"filter {LI_NOT_BOT_FILTER} "
        "| parse userAgent /(?<browser>Edg|OPR|Firefox|Chrome|Safari)\\// "
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
        f"| stats count(*) as views by item | sort views desc | limit {TOP}",
    ),
    Insight(
        id="items_ordered",
        title="What people order",
        section="Menu and orders",
        view="bar",
        columns=("item", "quantity", "orders"),
        description="Items in orders (processOrder.php?items=id:qty,…): units and orders.",
        sql=f"""WITH lines AS (
    SELECT split_part(entry, ':', 1) AS item, split_part(entry, ':', 2) AS qty
    FROM (SELECT unnest(string_split(
                     regexp_extract(query, '^\\??(?:[^&]*&)*?items=([^&]*)', 1), ',')) AS entry
          FROM logs WHERE request = {ORDER})
)
SELECT item, sum(CAST(qty AS BIGINT)) AS quantity, count(*) AS orders
FROM lines
WHERE item IN ({MENU_IDS}) AND regexp_full_match(qty, '[0-9]+')
GROUP BY item
ORDER BY quantity DESC, item ASC
LIMIT {TOP}""",
        logs_insights=f'filter request = "{catalog.ORDER_PATH}" '
        "| parse query /items=(?<basket>[^&]*)/ "
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
       count(DISTINCT remoteip) FILTER (WHERE request = {ORDER}) AS buyers,
       count(*) FILTER (WHERE request = {ORDER}) AS orders
FROM logs JOIN agents ON agents.useragent = logs.useragent
WHERE NOT agents.is_bot
  AND city IS NOT NULL AND city NOT IN ('', '-') AND request IN ({MENU}, {ORDER})
GROUP BY city
ORDER BY menu_visitors DESC, buyers DESC, city ASC
LIMIT {TOP}""",
        logs_insights=f"filter request in {_li_list([catalog.MENU_PATH, catalog.ORDER_PATH])} "
        f"and {LI_NOT_BOT_FILTER} "
        "| stats count_distinct(remoteIP) as people, count(*) as requests by city, request "
        "| sort people desc | limit 200",
    ),
    Insight(
        id="orders_by_city",
        title="Cities placing the most orders",
        section="Where customers are",
        view="table",
        columns=("city", "orders"),
        description="Orders by city.",
        sql=f"""SELECT city, count(*) AS orders FROM logs
WHERE request = {ORDER} AND city IS NOT NULL AND city NOT IN ('', '-')
GROUP BY city ORDER BY orders DESC, city ASC LIMIT {TOP}""",
        logs_insights=f'filter request = "{catalog.ORDER_PATH}" '
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
        logs_insights=f'filter request = "{catalog.HOME_PATH}" '
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
WHERE request = {ORDER} AND region IS NOT NULL AND region NOT IN ('', '-')
GROUP BY region ORDER BY orders DESC, region ASC LIMIT {TOP}""",
        logs_insights=f'filter request = "{catalog.ORDER_PATH}" '
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
        logs_insights=f"filter {LI_BOT_FILTER} | stats count(*) as bot_requests",
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
        logs_insights=f"filter {LI_BOT_FILTER} "
        f"| stats count(*) as requests by userAgent | sort requests desc | limit {TOP}",
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
        logs_insights="filter status >= 400 "
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
        logs_insights=f"filter ispresent(process) and not ({LI_SCANNER_FILTER}) "
        "| fields process / 1000 as ms "
        "| stats count(*) as requests, avg(ms) as avg_ms, max(ms) as max_ms by request "
        f"| sort avg_ms desc | limit {TOP}",
    ),
)

INSIGHTS_BY_ID: dict[str, Insight] = {insight.id: insight for insight in INSIGHTS}


def insights_in_section(section: str) -> list[Insight]:
    """The catalog's entries of one section, in catalog order."""
    return [insight for insight in INSIGHTS if insight.section == section]
