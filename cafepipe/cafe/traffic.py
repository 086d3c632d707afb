"""What makes a log line a bot's or a vulnerability scanner's: one definition, shared.

The generator (`cafepipe.logs.generate`) writes bot and scanner traffic that these rules recognise,
and the insights (`cafepipe.insights`) count it with the same rules in SQL, so the generator's
ground truth and the insights of its log agree key by key. Both rules look at one log line
alone:

- a **bot request** is a line whose user agent, lower-cased, contains any of `BOT_UA_TOKENS`
  (search-engine crawlers, SEO crawlers, link previewers, uptime monitors);
- a **scanner request** is a line whose request path (without query string) is exactly one of
  `SCANNER_PATHS` (the probes of vulnerability scanners; the café site has none of them, so
  they are answered 403 or 404).

A line can in principle be both; the generator never writes such a line.
"""

from __future__ import annotations

# The shared keys of the insights schema (docs/insights.schema.json): the generator's ground
# truth and the insights JSON both carry them with the same meaning, so a simulated log's
# insights compare key by key.
SCHEMA_KEYS: tuple[str, ...] = (
    "requests", "invalid_lines", "bytes", "unique_ips", "status_classes", "top_paths",
    "menu_views", "order_requests", "menu_visitors", "purchasers", "conversion_rate",
    "by_city", "by_region", "by_country", "hourly", "bot_requests", "scanner_requests",
)  # fmt: skip
# The keys of customers' page views (robots and scanner probes left out, assets are no page
# views): also in both, and compared key by key, but computed by DuckDB and Athena only where
# they need visits (Logs Insights cannot sessionize). Rows are objects with named fields there.
PAGE_VIEW_KEYS: tuple[str, ...] = (
    "visits", "visitors", "new_visitors", "returning_visitors", "pageviews",
    "pageviews_per_visit", "bounces", "bounce_rate", "visit_duration_median_s",
    "visit_duration_mean_s", "entry_pages", "exit_pages", "funnel", "funnel_by_source",
    "funnel_by_device", "top_pages",
)  # fmt: skip

# Lower-case substrings of a user agent. "bot" also catches Googlebot, bingbot, DuckDuckBot,
# YandexBot, AhrefsBot, SemrushBot, Applebot, UptimeRobot and Pingdom.com_bot.
BOT_UA_TOKENS: tuple[str, ...] = (
    "bot",
    "crawler",
    "spider",
    "slurp",
    "facebookexternalhit",
    "pingdom",
    # The fleet's load balancer checks each server every few seconds (ELB-HealthChecker/2.0):
    # a monitor, never a customer.
    "healthchecker",
)

# Request paths (exact, case-sensitive, without query string) that only scanners ask for.
SCANNER_PATHS: tuple[str, ...] = (
    "/.env",
    "/.git/config",
    "/.git/HEAD",
    "/.aws/credentials",
    "/.DS_Store",
    "/.htaccess",
    "/.vscode/sftp.json",
    "/api/.env",
    "/wp-login.php",
    "/wp-admin/",
    "/wp-includes/wlwmanifest.xml",
    "/wp-content/plugins/",
    "/xmlrpc.php",
    "/phpmyadmin/",
    "/pma/",
    "/admin/",
    "/administrator/",
    "/config.php",
    "/info.php",
    "/phpinfo.php",
    "/shell.php",
    "/backup.zip",
    "/server-status",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci",
    "/boaform/admin/formLogin",
    "/actuator/health",
    "/owa/auth/logon.aspx",
    "/HNAP1/",
    "/solr/admin/info/system",
    "/_ignition/execute-solution",
    "/console/",
    "/setup.cgi",
    "/Autodiscover/Autodiscover.xml",
    "/debug/default/view",
)
_SCANNER_PATH_SET = frozenset(SCANNER_PATHS)


def is_bot_user_agent(user_agent: str) -> bool:
    """True when the user agent belongs to a crawler or monitor (see `BOT_UA_TOKENS`)."""
    lowered = user_agent.lower()
    return any(token in lowered for token in BOT_UA_TOKENS)


def is_scanner_path(path: str) -> bool:
    """True when the request path (no query string) is a scanner's probe (`SCANNER_PATHS`)."""
    return path in _SCANNER_PATH_SET
