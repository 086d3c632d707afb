"""The one catalog of insights: each answer the café owner gets, as SQL and as Logs Insights.

Every entry carries its SQL (run by DuckDB on local files; plain enough to run on Athena
over a table with the same columns) and its CloudWatch Logs Insights query (used by the
dashboard the stack deploys and by `--engine cloudwatch`). Both produce the same columns.

The SQL reads three tables: `logs`, one row per valid log line,

    ts TIMESTAMP (UTC), remoteip, request (path, no query string), query ('?a=b' or ''),
    status INTEGER, bytes BIGINT, referer, useragent, process BIGINT (µs, NULL if not
    logged), host, city, region, country, is_scanner BOOLEAN, cafe_ts TIMESTAMP (the time at
    the café: config `timezone`, `cafepipe.insights.scope.cafe_time_sql`)

`agents`, one row per distinct user agent (`AGENTS_SQL`): useragent, is_bot, device,
browser, bot. A log has far fewer user agents than lines, so classifying each agent once and
joining is much cheaper than classifying every line.

`visits`, one row per visit (`VISITS_SQL`, the sessions of customers' page views): remoteip,
useragent, visit (0 for a visitor's first), pages, duration_ms, entry_page, exit_page, saw_menu,
saw_item, ordered, device, source, campaign. Sessionizing sorts every page view; the visit
insights read the one table the engine builds per scope instead of each sorting again.

The SQL is DuckDB's dialect restricted to forms that `sqlglot` turns into the same answer in
Trino (`cafepipe.insights.athena_sql`, checked by tests/test_athena_sql.py): no `GROUP BY ALL`,
no string or list slicing (`x[2:]`), `array_length` for a list's length (not `len`), `strpos`
for a substring (Trino's `contains` is for arrays), `full_match_sql` for `regexp_full_match`,
`extract_sql` for a `regexp_extract` that may not match, one `CROSS JOIN UNNEST` in FROM.

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
    # None where Logs Insights cannot compute the answer (visits need sessions: one visitor's
    # requests in time order, which it cannot window); the dashboard and `--engine cloudwatch`
    # leave such an insight out and say it comes from DuckDB or Athena.
    logs_insights: str | None
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


def extract_sql(text: str, pattern: str, group: int = 1) -> str:
    """Portable regexp_extract: '' when nothing matches (Trino's gives NULL, DuckDB's '')."""
    return f"coalesce(regexp_extract({text}, {_sql_string(pattern)}, {group}), '')"


def full_match_sql(text: str, pattern: str) -> str:
    """Portable regexp_full_match (not Trino): an anchored regexp_matches (Trino regexp_like)."""
    return f"regexp_matches({text}, {_sql_string('^(?:' + pattern + ')$')})"


# Public for the --where filters (cafepipe.insights.scope): a value as a quoted SQL literal.
sql_string = _sql_string
sql_list = _sql_list

# The expressions the referrer and campaign insights group by, shared with `--where` so a
# filter means what the insight shows: the referring site's host (lower case) and a UTM tag.
REFERRER_HOST_SQL = f"lower({extract_sql('referer', '^[a-zA-Z]+://([^/:?#]+)')})"


def utm_sql(tag: str) -> str:
    """The value of `utm_<tag>=` in the query string ('' without one)."""
    return extract_sql("query", f"[?&]utm_{tag}=([^&]*)")


def scanner_condition_sql(request: str = "request") -> str:
    """SQL that is true when a request path is a vulnerability scanner's probe."""
    return f"{request} IN ({_sql_list(traffic.SCANNER_PATHS)})"


def _li_string(value: str) -> str:
    # Backslash first; line breaks and tabs as escapes, so a value never spans lines.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def li_strings(values: tuple[str, ...] | list[str]) -> str:
    """Logs Insights: a list of quoted strings, for `in` (any text: `--where` values)."""
    return "[" + ", ".join(_li_string(value) for value in values) + "]"


def li_referrer_host(name: str) -> str:
    """Logs Insights: `parse` the referring site's host into `name` (`REFERRER_HOST_SQL`, not
    yet lower-cased)."""
    return f"parse referer /^[a-zA-Z]+:\\/\\/(?<{name}>[^\\/:?#]+)/"


def li_utm(tag: str, name: str) -> str:
    """Logs Insights: `parse` the value of `utm_<tag>=` into `name` (`utm_sql`)."""
    return f"parse query /[?&]utm_{tag}=(?<{name}>[^&]*)/"


def _li_regex(pattern: str) -> str:
    """A regular expression as a Logs Insights /literal/ (slashes escaped)."""
    return pattern.replace("/", "\\/")


# Logs Insights lower-cases with tolower(), as the SQL does with lower(), so both engines match
# the same tokens the same way: `LI_AGENT` first, then the filters test the field it makes.
LI_AGENT = "fields tolower(userAgent) as agent"
LI_BOT_FILTER = f"agent like /{_li_regex(BOT_REGEX)}/"
LI_NOT_BOT_FILTER = LI_BOT_FILTER.replace(" like ", " not like ", 1)
LI_SCANNER_FILTER = f"request in {_li_list(traffic.SCANNER_PATHS)}"
# A customer request: no robot's and no scanner probe (see "Customers, pages and visits"),
# the one rule of every customer ranking; in Logs Insights after `LI_AGENT`.
CUSTOMER_SQL = "NOT is_scanner AND useragent IN (SELECT useragent FROM agents WHERE NOT is_bot)"
LI_CUSTOMER_FILTER = f"{LI_NOT_BOT_FILTER} and not ({LI_SCANNER_FILTER})"


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
# The item id as the item page reads it: PHP's $_GET takes the LAST `id=` of the query string
# (`?id=a&id=b` shows b); a last `id` without a value, or `id[]=` (an array), is no id. The
# greedy `.*&` finds the last `&id`, else the query starts with it.
ITEM_ID_PATTERN = r"^(?:.*&|[?]?)id(?:=([^&]*)|\[[^&]*)?(?:&|$)"
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
       CASE WHEN is_bot THEN {extract_sql("agent", BOT_REGEX, 0)} END AS bot
FROM (SELECT useragent, lower(useragent) AS agent,
             regexp_matches(lower(useragent), {_sql_string(BOT_REGEX)}) AS is_bot
      FROM (SELECT DISTINCT useragent FROM logs))"""


def cafe_time_logs_insights(part: str, changes: tuple[tuple[int, int], ...] = ((0, 0),)) -> str:
    """Logs Insights: requests by café `part` ("hour" or "weekday").

    `changes`: (UTC epoch ms from which it applies, offset in minutes), the first one applying
    from the start (`cafepipe.insights.scope.offset_changes`). Logs Insights has no CASE: each
    change adds its step, `(new - old) * least(greatest(t - at + 1, 0), 1)` (1 from `at` on).
    """
    first = changes[0][1] * 60_000
    steps = "".join(
        f" + {(offset - before) * 60_000} * least(greatest(t - {at} + 1, 0), 1)"
        for (at, offset), (_, before) in zip(changes[1:], changes, strict=False)
    )
    local = f"t + {first}{steps}" if first or steps else "t"
    if part == "hour":
        key = "floor((local % 86400000) / 3600000) as hour"
    else:
        key = "(floor(local / 86400000) + 3) % 7 as weekday"
    return (
        f"fields toMillis(@timestamp) as t | fields {local} as local | fields {key} "
        f"| stats count(*) as requests by {part} | sort {part} asc"
    )


def _geo_sql(column: str) -> str:
    # Menu views and orders per place seen in the log, biggest menu audience first (ties by
    # name); a place with traffic but no menu view still counts (the generator's definition).
    return f"""SELECT {column} AS name,
       count(*) FILTER (WHERE request = {MENU}) AS menu_views,
       count(*) FILTER (WHERE {PLACED}) AS orders
FROM logs
WHERE {column} IS NOT NULL AND {column} NOT IN ('', '-')
  AND NOT is_scanner AND useragent IN (SELECT useragent FROM agents WHERE NOT is_bot)
GROUP BY {column}
ORDER BY menu_views DESC, name ASC
LIMIT {TOP}"""


def _geo_li(field: str) -> str:
    # Every customer request that names a place, as the SQL counts them: menu views and orders
    # summed, robots and scanner probes left out.
    return (
        f"{LI_AGENT} | filter {li_place_filter(field)} and {LI_NOT_BOT_FILTER} "
        f"and not ({LI_SCANNER_FILTER}) "
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


# ---- Customers, pages and visits ----------------------------------------------------------
# A customer request is a line that is neither a robot's (agents.is_bot) nor a scanner's probe
# (is_scanner); a page view is a customer request for a page, not an asset
# (`catalog.is_asset_path`). A visitor is a client address with a user agent; a visit is a
# visitor's page views with no gap over VISIT_TIMEOUT_MINUTES between two of them (a longer gap
# starts a new visit; exactly 30 minutes does not). Within a visit the page views are in order of
# time, then path, query and referer, so the entry and exit pages are defined when two share a
# time. The generator's ground truth (`cafepipe.logs.generate.truth`) computes the same in Python.
VISIT_TIMEOUT_MINUTES = 30
NOT_ASSET = f"NOT regexp_matches(lower(request), {_sql_string(catalog.ASSET_PATTERN)})"
# Logs Insights: `LI_PATH` first (the lower-cased path), then `LI_NOT_ASSET` tests it.
LI_PATH = "fields tolower(request) as page_path"
LI_NOT_ASSET = f"page_path not like /{_li_regex(catalog.ASSET_PATTERN)}/"
_VISITOR = "remoteip, agent"
# Funnel steps in order: (step, page; None for the landing, which every visit has).
FUNNEL_STEPS: tuple[tuple[str, str | None], ...] = (
    ("landing", None),
    ("menu", catalog.MENU_PATH),
    ("item", catalog.ITEM_PATH),
    ("order", catalog.ORDER_PATH),
)


def ratio_sql(numerator: str, denominator: str, digits: int) -> str:
    """numerator / denominator rounded half up to `digits` decimals, exactly, 0 for 0 / 0.

    Integers only until one division of two exactly held integers, so no engine's rounding of a
    double (DuckDB rounds halves away from zero, Python to even) can move the last digit.
    """
    scale = 10**digits
    return (
        f"CASE WHEN {denominator} = 0 THEN 0 ELSE "
        f"floor((2 * {scale} * ({numerator}) + ({denominator})) / (2.0 * ({denominator}))) "
        f"/ {scale} END"
    )


# The `visits` table: one row per visit, computed once per scope (`duckdb_engine.scope_visits`;
# on Athena a CTE, `athena_sql.athena_statement`): its visitor (remoteip, useragent), number
# (0 for the visitor's first), page views, duration (ms), entry and exit pages, the funnel steps
# it reached in order (saw_menu; saw_item: an item page at or after the menu; ordered: an order
# placed at or after that item page), its source (the entry's utm_source, else the referring
# site's host, else "(direct)"), campaign (the entry's utm_campaign) and device.
#
# The views are sorted twice (the visit number adds up the gaps the first sort finds), so what is
# sorted is small: the visitor is its address and a number for its agent (`customers`), and a
# view's path, query and referer are one number, `page`: their place among the distinct (path,
# query, referer) of the scope's lines (`pages`, never NULL: both engines read a missing query or
# referer as ''), so the order ts, page is the order ts, path, query, referer. `pages` also tells
# pages from assets and reads an entry's source and campaign once per distinct value, not once per
# line or per visit. On Athena, which inlines CTEs, each reference to one reads the lake again
# (`athena_sql.lake_reads`), and every visit insight's statement builds this table, so it names
# the lake 5 times: `logs`, `customers` twice (the views' agents, the visits' user agents) and
# `pages` twice (the views, the entries). So `pages` is not limited to customers' lines (that
# reads `agents` again per reference), and the exit path is carried as text (a third look-up in
# `pages` would read the lake again): at 10M lines 2.45 s CPU, against 3.5 s sorting the strings
# and 2.3 s with 9 reads (tests/test_athena_reads.py holds the count).
# The first window marks each visit's first view (`entered`: no view in the 30 minutes before it)
# and its last (its path, `exit_page`, is set on that view only); the second numbers the visits
# by adding up `entered`. Ties on ts and page (the same path, query and referer) are taken
# together by the default frame: only the first of a tie in the first sort can be `entered`, and
# the second sort may order the tie otherwise, so a ROWS frame could split it across two visits.
# `item_before` is the time of the visitor's latest item page at or before the view; an order
# placed at p follows an item page at or after the menu (menu_at) exactly when item_before(p) >=
# menu_at (an earlier visit's item page is before menu_at). At one time the item page sorts before
# the order (by path), so it is "at or before" it, as the rule says.
if not catalog.ITEM_PATH < catalog.ORDER_PATH:
    raise AssertionError("item_before needs the item page to sort before the order page")
_VISITOR_ORDER = f"PARTITION BY {_VISITOR} ORDER BY ts, page"
_GAP = f"INTERVAL '{VISIT_TIMEOUT_MINUTES}' MINUTE"
VISITS_SQL = f"""WITH customers AS (
    SELECT useragent, device, row_number() OVER (ORDER BY useragent) AS agent
    FROM agents WHERE NOT is_bot
),
pages AS (
    SELECT request, query, referer,
           row_number() OVER (ORDER BY request, query, referer) AS page,
           {NOT_ASSET} AS is_page,
           request = {MENU} AS is_menu, request = {ITEM} AS is_item, request = {ORDER} AS is_order,
           CASE WHEN {utm_sql("source")} <> '' THEN {utm_sql("source")}
                WHEN {REFERRER_HOST_SQL} <> '' THEN {REFERRER_HOST_SQL}
                ELSE '(direct)' END AS source,
           {utm_sql("campaign")} AS campaign
    FROM (SELECT DISTINCT request, query, referer FROM logs WHERE NOT is_scanner)
),
views AS (
    SELECT l.remoteip, c.agent, l.ts, p.page, l.request, p.is_menu, p.is_item,
           p.is_order AND l.status NOT BETWEEN 400 AND 499 AS placed
    FROM logs AS l
    JOIN customers AS c ON c.useragent = l.useragent
    JOIN pages AS p ON p.request = l.request AND p.query = l.query AND p.referer = l.referer
    WHERE NOT l.is_scanner AND p.is_page
),
marked AS (
    SELECT remoteip, agent, ts, page, is_menu, is_item, placed,
           CASE WHEN coalesce(ts > lag(ts) OVER ({_VISITOR_ORDER}) + {_GAP}, TRUE)
                THEN 1 ELSE 0 END AS entered,
           CASE WHEN coalesce(lead(ts) OVER ({_VISITOR_ORDER}) > ts + {_GAP}, TRUE)
                THEN request END AS exit_page,
           max(CASE WHEN is_item THEN ts END) OVER ({_VISITOR_ORDER}) AS item_before
    FROM views
),
numbered AS (
    SELECT *, sum(entered) OVER ({_VISITOR_ORDER}) - 1 AS visit
    FROM marked
),
sessions AS (
    SELECT remoteip, agent, visit, count(*) AS pages,
           date_diff('millisecond', min(ts), max(ts)) AS duration_ms,
           max(CASE WHEN entered = 1 THEN page END) AS entry, max(exit_page) AS exit_page,
           min(CASE WHEN is_menu THEN ts END) AS menu_at,
           max(CASE WHEN is_item THEN ts END) AS last_item_at,
           max(CASE WHEN placed THEN item_before END) AS item_before_order
    FROM numbered
    GROUP BY remoteip, agent, visit
)
SELECT s.remoteip, c.useragent, s.visit, s.pages, s.duration_ms,
       e.request AS entry_page, s.exit_page,
       s.menu_at IS NOT NULL AS saw_menu,
       coalesce(s.last_item_at >= s.menu_at, FALSE) AS saw_item,
       coalesce(s.item_before_order >= s.menu_at, FALSE) AS ordered,
       c.device, e.source, e.campaign
FROM sessions AS s JOIN customers AS c ON c.agent = s.agent
JOIN pages AS e ON e.page = s.entry"""


def reads_visits(sql: str) -> bool:
    """Whether a statement reads the `visits` table (so it must exist in the scope first)."""
    return re.search(r"\b(?:FROM|JOIN)\s+visits\b", sql, re.IGNORECASE) is not None


# Each statement reads `visits` once: on Athena every reference to it sessionizes the lake again.
_VISIT_TOTALS_SQL = f"""WITH placed AS (
    SELECT visit, pages, duration_ms, row_number() OVER (ORDER BY duration_ms) AS place,
           count(*) OVER () AS total
    FROM visits
),
totals AS (
    SELECT count(*) AS visits,
           count(CASE WHEN visit = 0 THEN 1 END) AS visitors,
           count(CASE WHEN visit = 1 THEN 1 END) AS returning_visitors,
           coalesce(sum(pages), 0) AS pageviews,
           count(CASE WHEN pages = 1 THEN 1 END) AS bounces,
           coalesce(sum(duration_ms), 0) AS duration_ms,
           -- The median: the middle visit, or the two middle ones, by duration.
           coalesce(sum(CASE WHEN 2 * place BETWEEN total AND total + 2 THEN duration_ms END), 0)
               AS middle_ms,
           count(CASE WHEN 2 * place BETWEEN total AND total + 2 THEN 1 END) AS middle
    FROM placed
)
SELECT visits, visitors, visitors - returning_visitors AS new_visitors, returning_visitors,
       pageviews, {ratio_sql("pageviews", "visits", 2)} AS pageviews_per_visit,
       bounces, {ratio_sql("bounces", "visits", 4)} AS bounce_rate,
       {ratio_sql("middle_ms", "1000 * middle", 1)} AS visit_duration_median_s,
       {ratio_sql("duration_ms", "1000 * visits", 1)} AS visit_duration_mean_s
FROM totals"""


def _weekday_sql(column: str) -> str:
    # Counted per day first: the weekday is worked out for a few days, not for every line.
    return f"""SELECT isodow(day) - 1 AS weekday, sum(requests) AS requests
FROM (SELECT CAST({column} AS DATE) AS day, count(*) AS requests FROM logs GROUP BY 1)
GROUP BY 1 ORDER BY 1"""


def _funnel_by_sql(columns: tuple[str, ...]) -> str:
    keys = ", ".join(columns)
    return f"""SELECT {keys}, count(*) AS visits,
       count(CASE WHEN saw_menu THEN 1 END) AS menu,
       count(CASE WHEN saw_item THEN 1 END) AS item,
       count(CASE WHEN ordered THEN 1 END) AS orders,
       {ratio_sql("count(CASE WHEN ordered THEN 1 END)", "count(*)", 4)} AS conversion
FROM visits
GROUP BY {keys}
ORDER BY visits DESC, {", ".join(f"{c} ASC" for c in columns)}
LIMIT {TOP}"""


def _funnel_sql() -> str:
    counts = ("visits", "saw_menu_visits", "saw_item_visits", "ordered_visits")
    steps = ", ".join(
        f"({n}, {_sql_string(step)}, {_sql_string(page or '')})"
        for n, (step, page) in enumerate(FUNNEL_STEPS)
    )
    reached = " ".join(f"WHEN {n} THEN {counts[n]}" for n in range(len(FUNNEL_STEPS)))
    previous = " ".join(f"WHEN {n} THEN {counts[max(n - 1, 0)]}" for n in range(len(FUNNEL_STEPS)))
    # The steps are a list joined to the one row of totals: `visits` read once (see above).
    return f"""WITH totals AS (
    SELECT count(*) AS visits,
           count(CASE WHEN saw_menu THEN 1 END) AS saw_menu_visits,
           count(CASE WHEN saw_item THEN 1 END) AS saw_item_visits,
           count(CASE WHEN ordered THEN 1 END) AS ordered_visits
    FROM visits
),
steps AS (
    SELECT n, step, page, CASE n {reached} END AS reached,
           CASE n {previous} END AS previous
    FROM totals CROSS JOIN (VALUES {steps}) AS funnel_steps(n, step, page)
)
SELECT step, page, reached AS visits, {ratio_sql("reached", "previous", 4)} AS conversion,
       previous - reached AS drop_off
FROM steps
ORDER BY n"""


INSIGHTS: tuple[Insight, ...] = (
    # ---- Traffic ------------------------------------------------------------------------
    Insight(
        id="totals",
        title="Requests at a glance",
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
        title="Requests and visitors per day",
        section="Traffic",
        view="timeSeries",
        columns=("day", "requests", "unique_ips"),
        description="Requests and distinct visitor addresses each day (UTC days).",
        # Counted per day and address first: a distinct count costs DuckDB a second pass.
        sql="SELECT strftime(day, '%Y-%m-%d') AS day, sum(requests) AS requests, "
        "count(remoteip) AS unique_ips FROM ("
        "SELECT CAST(ts AS DATE) AS day, remoteip, count(*) AS requests FROM logs GROUP BY 1, 2) "
        "GROUP BY day ORDER BY 1",
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
        sql=_weekday_sql("ts"),
        logs_insights="fields (floor(toMillis(@timestamp) / 86400000) + 3) % 7 as weekday "
        "| stats count(*) as requests by weekday | sort weekday asc",
    ),
    # The café's clock: `cafe_ts` is the line's time in the config's `timezone`, daylight
    # saving included (cafepipe.insights.scope.cafe_time_sql). Logs Insights has no time zones:
    # its query here is the UTC one, and the engine shifts it by the zone's offsets at run time
    # (`cafe_time_logs_insights`).
    Insight(
        id="cafe_hourly",
        title="Busiest hours at the café",
        section="Traffic",
        view="bar",
        columns=("hour", "requests"),
        shape="hours",
        description="Requests by hour of the day in the café's time zone (`cafe_timezone`).",
        sql="SELECT hour(cafe_ts) AS hour, count(*) AS requests FROM logs GROUP BY 1 ORDER BY 1",
        logs_insights=cafe_time_logs_insights("hour"),
    ),
    Insight(
        id="cafe_weekday",
        title="Busiest days at the café",
        section="Traffic",
        view="bar",
        columns=("weekday", "requests"),
        shape="weekdays",
        description="Requests by weekday in the café's time zone (`cafe_timezone`), Monday first.",
        sql=_weekday_sql("cafe_ts"),
        logs_insights=cafe_time_logs_insights("weekday"),
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
        id="top_pages",
        title="Pages customers view the most",
        section="Traffic",
        view="table",
        columns=("path", "views"),
        description="The ten pages (not stylesheets, scripts, images or fonts) customers "
        "viewed the most; robots and scanner probes left out.",
        # Counted per path first: the asset regexp then reads each path once, not every line.
        sql=f"""SELECT request AS path, views
FROM (SELECT request, count(*) AS views FROM logs WHERE {CUSTOMER_SQL} GROUP BY request)
WHERE {NOT_ASSET}
ORDER BY views DESC, path ASC
LIMIT {TOP}""",
        logs_insights=f"{LI_AGENT} | {LI_PATH} "
        f"| filter {LI_NOT_BOT_FILTER} and not ({LI_SCANNER_FILTER}) and {LI_NOT_ASSET} "
        "| stats count(*) as views by request "
        f"| sort views desc | limit {TOP}",
    ),
    Insight(
        id="status_classes",
        title="Answers the site gave",
        section="Traffic",
        view="pie",
        columns=("class", "requests"),
        shape="counts",
        description="2xx served, 3xx redirected or cached, 4xx not found/refused, 5xx failed.",
        # Counted by the status's hundreds, then named: four strings made, not one per line.
        sql="SELECT CAST(hundreds AS VARCHAR) || 'xx' AS class, requests FROM ("
        "SELECT status // 100 AS hundreds, count(*) AS requests FROM logs "
        "WHERE status BETWEEN 200 AND 599 GROUP BY 1) ORDER BY 1",
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
        description="Customers' menu views and orders each day (robots left out): is "
        "interest turning into orders?",
        sql=f"""SELECT strftime(day, '%Y-%m-%d') AS day, menu_views, orders
FROM (SELECT CAST(ts AS DATE) AS day,
             count(*) FILTER (WHERE request = {MENU}) AS menu_views,
             count(*) FILTER (WHERE {PLACED}) AS orders
      FROM logs WHERE request IN ({MENU}, {ORDER}) AND {CUSTOMER_SQL}
      GROUP BY 1)
ORDER BY 1""",
        logs_insights=f"{LI_AGENT} "
        f'| filter request in ["{catalog.MENU_PATH}", "{catalog.ORDER_PATH}"] '
        f"and {LI_CUSTOMER_FILTER} "
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
        description="Sites that sent customers (by host), not counting the café's own pages; "
        "robots and scanner probes left out.",
        sql=f"""WITH sources AS (
    SELECT {REFERRER_HOST_SQL} AS referrer,
           {extract_sql("referer", "^[a-zA-Z]+://[^/]*(/[^?#]*)")} AS page,
           lower(coalesce(host, '')) AS site, requests
    FROM (SELECT referer, host, sum(requests) AS requests
          FROM (SELECT referer, host, useragent, count(*) AS requests
                FROM logs WHERE referer LIKE '%://%' AND NOT is_scanner
                GROUP BY referer, host, useragent) AS counted
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
        f"and {LI_CUSTOMER_FILTER} "
        "and referer not like /^[a-zA-Z]+:\\/\\/[^\\/]*\\/cafe/ "
        f"| {li_referrer_host('site')} "
        "| fields tolower(site) as referrer | filter referrer != tolower(host) "
        f"| stats count(*) as requests by referrer | sort requests desc | limit {TOP}",
    ),
    Insight(
        id="campaigns",
        title="Marketing campaigns",
        section="Customers",
        view="table",
        columns=("source", "medium", "campaign", "requests"),
        description="Customers' requests tagged with utm_source / utm_medium / utm_campaign "
        "(robots and scanner probes left out).",
        # Counted per query string first: the tags are read once per distinct query.
        sql=f"""SELECT {utm_sql("source")} AS source, {utm_sql("medium")} AS medium,
       {utm_sql("campaign")} AS campaign,
       sum(requests) AS requests
FROM (SELECT query, count(*) AS requests FROM logs
      WHERE query LIKE '%utm_source=%' AND {CUSTOMER_SQL} GROUP BY query)
GROUP BY 1, 2, 3
ORDER BY requests DESC, source, medium, campaign
LIMIT {TOP}""",
        logs_insights=f'{LI_AGENT} | filter query like "utm_source=" and {LI_CUSTOMER_FILTER} '
        f"| {li_utm('source', 'source')} | {li_utm('medium', 'medium')} "
        f"| {li_utm('campaign', 'campaign')} "
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
    # Visits: read the `visits` table (VISITS_SQL). Logs Insights cannot sessionize.
    Insight(
        id="visits",
        title="Visits",
        section="Customers",
        view="table",
        columns=(
            "visits",
            "visitors",
            "new_visitors",
            "returning_visitors",
            "pageviews",
            "pageviews_per_visit",
            "bounces",
            "bounce_rate",
            "visit_duration_median_s",
            "visit_duration_mean_s",
        ),
        shape="fields",
        description="Visits (a visitor's page views with no pause over 30 minutes), visitors "
        "(address and browser; returning: more than one visit), page views per visit, bounces "
        "(visits of one page view) and how long visits last. Robots and scanners left out.",
        sql=_VISIT_TOTALS_SQL,
        logs_insights=None,
    ),
    Insight(
        id="entry_pages",
        title="Where visits start",
        section="Customers",
        view="table",
        columns=("path", "visits", "bounces"),
        description="The first page of each visit, and how many of those visits saw no other.",
        sql=f"""SELECT entry_page AS path, count(*) AS visits,
       count(CASE WHEN pages = 1 THEN 1 END) AS bounces
FROM visits GROUP BY entry_page ORDER BY visits DESC, path ASC LIMIT {TOP}""",
        logs_insights=None,
    ),
    Insight(
        id="exit_pages",
        title="Where visits end",
        section="Customers",
        view="table",
        columns=("path", "visits"),
        description="The last page of each visit.",
        sql=f"""SELECT exit_page AS path, count(*) AS visits
FROM visits GROUP BY exit_page ORDER BY visits DESC, path ASC LIMIT {TOP}""",
        logs_insights=None,
    ),
    # ---- Menu and orders ------------------------------------------------------------------
    Insight(
        id="funnel",
        title="From landing to order",
        section="Menu and orders",
        view="bar",
        columns=("step", "page", "visits", "conversion", "drop_off"),
        description="Visits that landed, then opened the menu, then an item page, then "
        "ordered, in that order: each step's visits, the share of the step before that got "
        "there, and the visits lost on the way.",
        sql=_funnel_sql(),
        logs_insights=None,
    ),
    Insight(
        id="funnel_by_source",
        title="Orders by where visits come from",
        section="Menu and orders",
        view="table",
        columns=("source", "campaign", "visits", "menu", "item", "orders", "conversion"),
        description="The funnel by the source of the visit (the landing's utm_source, else the "
        "referring site, else (direct)) and campaign (utm_campaign).",
        sql=_funnel_by_sql(("source", "campaign")),
        logs_insights=None,
    ),
    Insight(
        id="funnel_by_device",
        title="Orders by device",
        section="Menu and orders",
        view="table",
        columns=("device", "visits", "menu", "item", "orders", "conversion"),
        description="The funnel by device: phones, tablets, computers.",
        sql=_funnel_by_sql(("device",)),
        logs_insights=None,
    ),
    Insight(
        id="top_items_viewed",
        title="Menu items people look at",
        section="Menu and orders",
        view="bar",
        columns=("item", "views"),
        description="Item pages customers opened, by the item the page shows (its last "
        "id parameter, as the page reads it); robots and scanner probes left out.",
        sql=f"""SELECT {extract_sql("query", ITEM_ID_PATTERN)} AS item, sum(views) AS views
FROM (SELECT query, count(*) AS views FROM logs WHERE request = {ITEM} AND {CUSTOMER_SQL}
      GROUP BY query)
WHERE {extract_sql("query", ITEM_ID_PATTERN)} IN ({MENU_IDS})
GROUP BY 1
ORDER BY views DESC, item ASC
LIMIT {TOP}""",
        logs_insights=f'{LI_AGENT} | filter request = "{catalog.ITEM_PATH}" '
        f"and {LI_CUSTOMER_FILTER} "
        f"| parse query /{_li_regex(ITEM_ID_PATTERN.replace('(?:=(', '(?:=(?<item>', 1))}/ "
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
        # Portable forms (Athena): no string or list slicing, one UNNEST in FROM. Each distinct
        # query string is read once, weighed by `times`, the orders that sent it.
        sql=f"""WITH params AS (
    SELECT times, array_length(list_filter(
               string_split(CASE WHEN starts_with(query, '?') THEN substr(query, 2) ELSE query END,
                            '&'),
               lambda p: starts_with(p, 'items='))) AS found,
           {extract_sql("query", "(?:^[?]?|&)items=([^&]*)")} AS basket
    FROM (SELECT query, count(*) AS times FROM logs
          WHERE {PLACED} AND strpos(query, 'items=') > 0 GROUP BY query)
),
baskets AS (
    SELECT times, string_split(basket, ',') AS entries FROM params
    WHERE found = 1 AND {full_match_sql("basket", catalog.BASKET_PATTERN)}
),
lines AS (
    SELECT times, entries,
           list_transform(entries, lambda e: split_part(e, ':', 1)) AS items,
           list_transform(entries, lambda e: try_cast(split_part(e, ':', 2) AS INTEGER)) AS qtys
    FROM baskets
)
SELECT split_part(entry, ':', 1) AS item,
       sum(times * try_cast(split_part(entry, ':', 2) AS INTEGER)) AS quantity,
       sum(times) AS orders
FROM lines CROSS JOIN UNNEST(entries) AS unnested(entry)
WHERE array_length(list_distinct(items)) = array_length(items)
  AND list_max(qtys) <= {catalog.MAX_QUANTITY}
GROUP BY 1
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
        description="Customers' menu views and orders by city: robots and scanner probes "
        "left out (a search engine's crawler would count for its home town).",
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
        # Counted per city and address first: distinct counts cost DuckDB a pass each.
        sql=f"""SELECT city,
       count(CASE WHEN menu_views > 0 THEN remoteip END) AS menu_visitors,
       count(CASE WHEN orders > 0 THEN remoteip END) AS buyers,
       sum(orders) AS orders
FROM (SELECT city, remoteip,
             count(*) FILTER (WHERE request = {MENU}) AS menu_views,
             count(*) FILTER (WHERE {PLACED}) AS orders
      FROM logs JOIN agents ON agents.useragent = logs.useragent
      WHERE NOT agents.is_bot
        AND city IS NOT NULL AND city NOT IN ('', '-') AND request IN ({MENU}, {ORDER})
      GROUP BY city, remoteip)
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
        description="Customers' orders by city (robots left out).",
        sql=f"""SELECT city, count(*) AS orders FROM logs
WHERE {PLACED} AND city IS NOT NULL AND city NOT IN ('', '-') AND {CUSTOMER_SQL}
GROUP BY city ORDER BY orders DESC, city ASC LIMIT {TOP}""",
        logs_insights=f"{LI_AGENT} | filter {LI_PLACED} and {li_place_filter('city')} "
        f"and {LI_CUSTOMER_FILTER} "
        f"| stats count(*) as orders by city | sort orders desc | limit {TOP}",
    ),
    Insight(
        id="visits_by_region",
        title="Regions opening the home page the most",
        section="Where customers are",
        view="pie",
        columns=("region", "visits"),
        description="Customers' home page views by region (robots and scanner probes left out).",
        sql=f"""SELECT region, count(*) AS visits FROM logs
WHERE request = {HOME} AND region IS NOT NULL AND region NOT IN ('', '-') AND {CUSTOMER_SQL}
GROUP BY region ORDER BY visits DESC, region ASC LIMIT {TOP}""",
        logs_insights=f'{LI_AGENT} | filter request = "{catalog.HOME_PATH}" '
        f"and {li_place_filter('region')} and {LI_CUSTOMER_FILTER} "
        f"| stats count(*) as visits by region | sort visits desc | limit {TOP}",
    ),
    Insight(
        id="orders_by_region",
        title="Regions placing the most orders",
        section="Where customers are",
        view="bar",
        columns=("region", "orders"),
        description="Customers' orders by region (robots left out).",
        sql=f"""SELECT region, count(*) AS orders FROM logs
WHERE {PLACED} AND region IS NOT NULL AND region NOT IN ('', '-') AND {CUSTOMER_SQL}
GROUP BY region ORDER BY orders DESC, region ASC LIMIT {TOP}""",
        logs_insights=f"{LI_AGENT} | filter {LI_PLACED} and {li_place_filter('region')} "
        f"and {LI_CUSTOMER_FILTER} "
        f"| stats count(*) as orders by region | sort orders desc | limit {TOP}",
    ),
    Insight(
        id="by_region",
        title="Regions: menu views and orders",
        section="Where customers are",
        view="table",
        columns=("region", "menu_views", "orders"),
        description="Customers' menu views and orders by region (robots left out).",
        sql=_geo_sql("region"),
        logs_insights=_geo_li("region"),
    ),
    Insight(
        id="by_country",
        title="Countries: menu views and orders",
        section="Where customers are",
        view="table",
        columns=("country", "menu_views", "orders"),
        description="Customers' menu views and orders by country (robots left out).",
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
        # Per path first, then the asset regexp on each path once.
        sql=f"""SELECT request AS path, requests,
       round(avg_us / 1000.0, 1) AS avg_ms, round(max_us / 1000.0, 1) AS max_ms
FROM (SELECT request, count(*) AS requests, avg(process) AS avg_us, max(process) AS max_us
      FROM logs WHERE process IS NOT NULL AND NOT is_scanner GROUP BY request)
WHERE {NOT_ASSET}
ORDER BY avg_ms DESC, path ASC LIMIT {TOP}""",
        # %D is written as text ("1234"): only all-digit values count, read as numbers by
        # sum and the division. The average is the exact total over the count, then in ms,
        # as the SQL computes it (an average of per-line ms could round apart at a half).
        logs_insights=f"{LI_PATH} "
        f"| filter process like /^[0-9]+$/ and not ({LI_SCANNER_FILTER}) and {LI_NOT_ASSET} "
        "| stats count(*) as requests, sum(process) as total_us, "
        "max(process / 1000) as max_ms, total_us / requests / 1000 as avg_ms by request "
        f"| sort avg_ms desc | limit {TOP}",
    ),
)

INSIGHTS_BY_ID: dict[str, Insight] = {insight.id: insight for insight in INSIGHTS}


def insights_in_section(section: str) -> list[Insight]:
    """The catalog's entries of one section, in catalog order."""
    return [insight for insight in INSIGHTS if insight.section == section]
