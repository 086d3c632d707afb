"""The simulated café clickstream: a realistic, deterministic, fast access-log generator.

`generate_log(options, out)` writes a log that looks like the café site's Apache access log
and returns its ground truth, computed from the generated events themselves.

**The model.** Visitors (an IP, a device's user agent, a city of `cafepipe.cafe.geography`) come in
sessions: they arrive from a referrer (search, social, review sites, direct, or a campaign
whose landing URL carries UTM parameters), land on `/cafe` (or the menu, an item, the about
page), and unless they bounce go on to the menu, look at items, maybe the about page, and a
share of them order (`/cafe/processOrder.php`, POST, `?items=latte:2,croissant:1`). The first
page of a session pulls the stylesheet, script, logo and favicon (304 for a returning
visitor's cache); a new visitor's browser also fetches the pictures the page shows and it has
not seen yet (the featured items on the home page, the rest on the menu, an item's own on an
item page the visit starts on), as the deployed site's pages do. Every path is a real page
or file of the site (`cafepipe.cafe.catalog`) or a scanner's probe. Search-engine crawlers and
uptime monitors (real user agents, real operators' networks) and vulnerability scanners
(probing `cafepipe.cafe.traffic.SCANNER_PATHS`, answered 403/404) are mixed in, and a share of
page requests fail with 500/503.

**Time.** Human traffic follows each visitor's local clock (breakfast and afternoon peaks,
quiet nights, busier weekends), so the UTC hourly profile is a blend of the cities' time
zones; bots and scanners come around the clock. Lines are in ascending time order, all in
`[start, end)`; the window ends at `end` (default: now) and by default lasts a few days,
inside the 14 days CloudWatch Logs accepts.

**Determinism.** The same options (seed included, and an explicit `end`) give byte-identical
output on any machine: every random draw comes from numpy's PCG64 bit stream (stable across
platforms and versions), seeded per batch of output, and only exact float operations lead to
integer choices. Output is produced in batches whose boundaries depend on the options only,
never on buffering, so memory stays bounded however many lines are asked for.

**Line formats.**
- `json`: the lab's `cloudwatch` LogFormat plus `bytes` and the geo keys, exactly as the
  deployed Apache writes it (`templates/instance/httpd-cafe.conf.j2`), in its key order —
  `time` (`%Y-%m-%dT%H:%M:%S.mmmZ`, UTC), `process` (`%D`, µs), `filename` (`%f`),
  `remoteIP` (`%a`), `host` (`%V`), `request` (`%U`), `query` (`%q`: `?a=b` or empty),
  `method` (`%m`), `status` (`%>s`), `bytes` (`%B`: body bytes, `0` for none), `userAgent`,
  `referer`, `country`, `region`, `city`, `lat`, `lon` (the `CloudFront-Viewer-*` headers).
  Every value is a JSON string, as Apache writes a LogFormat whose fields are all quoted
  (`"status":"%>s"`).
- `combined`: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"` (`%b` is `-` for no
  body), time zone `+0000`, the query string in the request line. No geo fields: a client
  address maps to its city with `cafepipe.cafe.geography.city_for_ip`.

**Ground truth** (`TruthCounter`, the insights schema of DESIGN.md). Every line the generator writes
is valid, and each key is defined on the log lines alone, so the insights can compute the same
numbers in SQL:
- `requests`: lines; `invalid_lines`: 0; `bytes`: sum of the `bytes` field (`%b` `-` is 0).
- `unique_ips`: distinct `remoteIP`.
- `status_classes`: lines per status class `"2xx"`, `"3xx"`, `"4xx"`, `"5xx"` (all four keys).
- `top_paths`: `[[path, requests]]`, the 10 most requested paths (`request`, no query string),
  ties broken by path ascending.
- `menu_views` / `order_requests`: lines whose path is `/cafe/menu.php` /
  `/cafe/processOrder.php`, whatever the method, status, user agent (bots included).
- `menu_visitors` / `purchasers`: distinct `remoteIP` of those lines (bots included).
- `conversion_rate`: purchasers / menu_visitors rounded to 4 decimals (0.0 with no visitors).
- `by_city` / `by_region` / `by_country`: `[[name, menu_views, orders]]` where `orders` counts
  the lines requesting `/cafe/processOrder.php`; grouped over all lines by the `city` /
  `region` / `country` field (combined logs: the city of `city_for_ip(remoteIP)`; the same
  name in two countries is one group); sorted by menu_views descending, then name
  ascending; the first 10 (a group with 0 menu views can appear when fewer have more).
- `hourly`: 24 line counts by the UTC hour of `time`.
- `bot_requests` / `scanner_requests`: lines matching `cafepipe.cafe.traffic` (user-agent tokens /
  exact probe paths).

The knob `conversion` is per session: the share of human sessions that saw the menu and then
placed an order. `conversion_rate` is per client address and counts bots, so it differs.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import queue
import random
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from cafepipe.cafe import catalog, geography, traffic
from cafepipe.cafe.metrics import conversion_rate
from cafepipe.errors import UsageError

FORMATS = ("json", "combined")
CLOUDWATCH_MAX_AGE_DAYS = 14  # CloudWatch Logs refuses older events
CLOUDWATCH_MAX_FUTURE = timedelta(hours=2)
DEFAULT_HOST = "cafe.example.com"
DOCUMENT_ROOT = "/var/www/html"
MAX_VISITORS = 250_000
MIN_VISITORS = 50
BATCH_LINES = 8_192  # lines per batch: bounds memory, keeps numpy's work in cache
PROCESS_VARIANTS = 64  # distinct %D values per request kind

Progress = Callable[[int], None]


# ---------------------------------------------------------------------------------------
# Options and profiles
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Defaults bundled under one name; every one can be overridden."""

    description: str
    days: float  # default window
    daily_requests: int  # lines per day when only --days is given
    conversion: float  # share of menu-viewing human sessions that order
    bounce: float  # share of human sessions that see one page only
    bot_share: float  # share of lines from crawlers and monitors
    scanner_share: float  # share of lines from vulnerability scanners
    error_share: float  # share of human page requests answered 500/503
    returning_share: float  # share of sessions whose browser has the assets cached (304)
    campaign_share: float  # share of landings from a campaign link (UTM query)
    items_per_visit: float  # mean item pages per non-bounced session
    lines_per_visitor: int  # sets the visitor pool: lines / this (returning visitors)


PROFILES: dict[str, Profile] = {
    "lab": Profile(
        "like the exercise's sample: a small café's week",
        days=7,
        daily_requests=20_000,
        conversion=0.25,
        bounce=0.35,
        bot_share=0.08,
        scanner_share=0.02,
        error_share=0.005,
        returning_share=0.3,
        campaign_share=0.05,
        items_per_visit=1.5,
        lines_per_visitor=12,
    ),
    "busy-month": Profile(
        "a busy month's traffic over the last 13 days (CloudWatch keeps 14: a day to ship it)",
        days=13,
        daily_requests=250_000,
        conversion=0.32,
        bounce=0.3,
        bot_share=0.10,
        scanner_share=0.03,
        error_share=0.01,
        returning_share=0.4,
        campaign_share=0.12,
        items_per_visit=2.0,
        lines_per_visitor=15,
    ),
    "attack": Profile(
        "two days under a vulnerability scan: a third of the lines are probes",
        days=2,
        daily_requests=40_000,
        conversion=0.2,
        bounce=0.4,
        bot_share=0.08,
        scanner_share=0.35,
        error_share=0.03,
        returning_share=0.3,
        campaign_share=0.05,
        items_per_visit=1.2,
        lines_per_visitor=10,
    ),
}
KNOBS: tuple[str, ...] = (
    "conversion",
    "bounce",
    "bot_share",
    "scanner_share",
    "error_share",
    "returning_share",
    "campaign_share",
    "items_per_visit",
    "visitors",
)


@dataclass(frozen=True)
class GeneratorOptions:
    """Everything one run depends on, profile applied (build it with `build_options`)."""

    lines: int
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    seed: int = 1
    log_format: str = "json"
    profile: str = "lab"
    host: str = DEFAULT_HOST
    conversion: float = 0.25
    bounce: float = 0.35
    bot_share: float = 0.08
    scanner_share: float = 0.02
    error_share: float = 0.005
    returning_share: float = 0.3
    campaign_share: float = 0.05
    items_per_visit: float = 1.5
    visitors: int = 8_000

    @property
    def window_days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def parse_time(text: str) -> datetime:
    """A UTC time from ISO 8601 (`2026-11-27T09:00:00Z`, `2026-11-27 09:00`) or `now`."""
    if text.strip().lower() == "now":
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"not a time: {text!r}", "use ISO 8601, e.g. 2026-11-27T09:00:00Z, or now"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def build_options(
    *,
    profile: str = "lab",
    lines: int | None = None,
    days: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    seed: int = 1,
    log_format: str = "json",
    host: str = DEFAULT_HOST,
    **knobs: float | int | None,
) -> GeneratorOptions:
    """Apply the profile, then the overrides; check every value (UsageError, exit 2)."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}", f"choose one of: {', '.join(PROFILES)}")
    if log_format not in FORMATS:
        raise UsageError(f"unknown format {log_format!r}", f"choose one of: {', '.join(FORMATS)}")
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        raise UsageError(f"unknown generator setting(s): {', '.join(sorted(unknown))}")
    if lines is not None and days is not None:
        raise UsageError("give --lines or --days, not both")
    if days is not None and start is not None:
        raise UsageError("give --days or --start, not both")
    if lines is not None and lines < 0:
        raise UsageError(f"--lines must be 0 or more, not {lines}")
    if days is not None and not (days > 0 and math.isfinite(days)):
        raise UsageError(f"--days must be more than 0, not {days:g}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, not {seed}")
    if not host or any(c in host for c in ' "\\/'):
        raise UsageError(f"not a host name: {host!r}")
    chosen = PROFILES[profile]
    end = (end or datetime.now(timezone.utc)).astimezone(timezone.utc)
    end = end.replace(microsecond=end.microsecond // 1000 * 1000)  # logs have ms
    if start is None:
        start = end - timedelta(days=days if days is not None else chosen.days)
    start = start.astimezone(timezone.utc)
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    if end <= start:
        raise UsageError(
            f"the end ({end:%Y-%m-%dT%H:%M:%SZ}) is not after "
            f"the start ({start:%Y-%m-%dT%H:%M:%SZ})"
        )
    if lines is None:
        window = (end - start).total_seconds() / 86400
        lines = round(window * chosen.daily_requests)
    values: dict[str, Any] = {k: getattr(chosen, k) for k in KNOBS if k != "visitors"}
    values["visitors"] = min(MAX_VISITORS, max(MIN_VISITORS, lines // chosen.lines_per_visitor))
    values.update({k: v for k, v in knobs.items() if v is not None})
    for name in (
        "conversion",
        "bounce",
        "bot_share",
        "scanner_share",
        "error_share",
        "returning_share",
        "campaign_share",
    ):
        value = float(values[name])
        if not 0 <= value <= 1:
            raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 1, not {value:g}")
        values[name] = value
    if values["bot_share"] + values["scanner_share"] > 1:
        raise UsageError("--bot-share and --scanner-share add up to more than 1")
    if values["bounce"] >= 1 and values["conversion"] > 0:
        raise UsageError("--bounce 1 leaves no session that could order; lower it")
    if not 0 <= float(values["items_per_visit"]) <= 20:
        raise UsageError("--items-per-visit must be between 0 and 20")
    visitors = int(values["visitors"])
    if not 1 <= visitors <= MAX_VISITORS:
        raise UsageError(f"--visitors must be between 1 and {MAX_VISITORS:,}, not {visitors}")
    values["visitors"] = visitors
    values["items_per_visit"] = float(values["items_per_visit"])
    return GeneratorOptions(
        lines=int(lines),
        start=start,
        end=end,
        seed=int(seed),
        log_format=log_format,
        profile=profile,
        host=host,
        **values,
    )


def window_warnings(options: GeneratorOptions, now: datetime | None = None) -> list[str]:
    """What CloudWatch Logs would refuse in this window (the generator writes it anyway)."""
    now = now or datetime.now(timezone.utc)
    warnings = []
    oldest = now - timedelta(days=CLOUDWATCH_MAX_AGE_DAYS)
    if options.start < oldest:
        warnings.append(
            f"the window starts {options.start:%Y-%m-%d %H:%M}Z, more than "
            f"{CLOUDWATCH_MAX_AGE_DAYS} days ago: CloudWatch Logs refuses those events"
        )
    if options.end > now + CLOUDWATCH_MAX_FUTURE:
        warnings.append(
            f"the window ends {options.end:%Y-%m-%d %H:%M}Z, more than 2 hours from now: "
            "CloudWatch Logs refuses those events"
        )
    return warnings


# ---------------------------------------------------------------------------------------
# Who visits: user agents, bots, scanners, referrers, campaigns
# ---------------------------------------------------------------------------------------

HUMAN_USER_AGENTS: tuple[tuple[str, int], ...] = (
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
        24,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36",
        20,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Mobile Safari/537.36",
        18,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36",
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/26.0 Safari/605.1.15",
        6,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
        6,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0", 5),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
        4,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.6 Mobile/15E148 Safari/604.1",
        3,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) CriOS/142.0.7444.77 Mobile/15E148 Safari/604.1",
        3,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 Instagram 380.0.0.29.109 (iPhone15,3; iOS 18_6; en_US; en; "
        "scale=3.00; 1290x2796; 745102340)",
        2,
    ),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", 1),
)


@dataclass(frozen=True)
class BotAgent:
    """A crawler or monitor: its real user agent and networks (/24 prefixes of geo)."""

    name: str
    user_agent: str
    networks: tuple[str, ...]
    kind: str  # "crawler" or "monitor"
    weight: int  # share of bot sessions


BOT_AGENTS: tuple[BotAgent, ...] = (
    BotAgent(
        "Googlebot",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("66.249.66", "66.249.79"),
        "crawler",
        24,
    ),
    BotAgent(
        "Googlebot smartphone",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.7444.59 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("66.249.68",),
        "crawler",
        16,
    ),
    BotAgent(
        "bingbot",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ("157.55.39", "207.46.13", "40.77.167"),
        "crawler",
        14,
    ),
    BotAgent(
        "DuckDuckBot",
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        ("20.191.45",),
        "crawler",
        3,
    ),
    BotAgent(
        "YandexBot",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        ("5.255.231",),
        "crawler",
        4,
    ),
    BotAgent(
        "Baiduspider",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        ("116.179.32",),
        "crawler",
        3,
    ),
    BotAgent(
        "AhrefsBot",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        ("54.36.148",),
        "crawler",
        8,
    ),
    BotAgent(
        "SemrushBot",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        ("185.191.171",),
        "crawler",
        6,
    ),
    BotAgent(
        "Applebot",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Safari/605.1.15 (Applebot/0.1; "
        "+http://www.apple.com/go/applebot)",
        ("17.241.219",),
        "crawler",
        3,
    ),
    BotAgent(
        "facebookexternalhit",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        ("69.171.249",),
        "crawler",
        3,
    ),
    BotAgent(
        "UptimeRobot",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        ("69.162.124",),
        "monitor",
        10,
    ),
    BotAgent(
        "Pingdom",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        ("178.255.152",),
        "monitor",
        6,
    ),
)
BOT_IPS_PER_AGENT = 8

SCANNER_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 zgrab/0.x",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
)
SCANNER_NETWORKS: tuple[str, ...] = tuple(
    prefix
    for prefix, city in geography.NETWORK_CITIES.items()
    if prefix
    in (
        "45.148.10",
        "167.94.138",
        "193.41.206",
        "218.92.0",
        "185.220.101",
        "104.248.36",
        "3.90.164",
        "43.134.58",
        "92.118.39",
        "159.203.82",
    )
)
SCANNER_IPS = 160

# Where a session comes from when it is not a campaign: (referer, weight); "-" is direct.
EXTERNAL_REFERERS: tuple[tuple[str, int], ...] = (
    ("-", 38),
    ("https://www.google.com/", 30),
    ("https://www.google.com/maps", 5),
    ("https://www.bing.com/", 5),
    ("https://duckduckgo.com/", 3),
    ("https://www.facebook.com/", 6),
    ("https://l.instagram.com/", 6),
    ("https://www.yelp.com/biz/anycompany-cafe-seattle", 4),
    ("https://www.tripadvisor.com/", 2),
    ("https://t.co/", 1),
)
# Campaign landings on /cafe: (query string, referer).
CAMPAIGNS: tuple[tuple[str, str], ...] = (
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=autumn-menu", "-"),
    (
        "?utm_source=instagram&utm_medium=social&utm_campaign=pumpkin-spice",
        "https://l.instagram.com/",
    ),
    ("?utm_source=google&utm_medium=cpc&utm_campaign=coffee-near-me", "https://www.google.com/"),
    (
        "?utm_source=facebook&utm_medium=social&utm_campaign=weekend-brunch",
        "https://www.facebook.com/",
    ),
)

# Local-time rhythm of a café's site: per hour 0..23, and per weekday Monday..Sunday.
# fmt: off
HOUR_WEIGHTS: tuple[int, ...] = (
    3, 2, 1, 1, 1, 2, 6, 16, 24, 20, 14, 12, 14, 12, 11, 15, 18, 14, 10, 8, 7, 6, 5, 4,
)
# fmt: on
WEEKDAY_WEIGHTS: tuple[int, ...] = (10, 10, 10, 11, 12, 14, 13)
# Where sessions land: home, menu, item, about.
LANDING_WEIGHTS: tuple[int, ...] = (55, 25, 12, 8)
# Picture lists a page can pull in (rows of _Tables.image_lists).
IMAGES_FEATURED, IMAGES_ALL, IMAGES_OTHER, IMAGES_ITEM = range(4)
FEATURED_ITEMS = tuple(catalog.MENU_BY_ID[i] for i in catalog.FEATURED_ITEM_IDS)
MENU_IMAGES_OTHER = tuple(item for item in catalog.MENU if item not in FEATURED_ITEMS)
REGULARS_DIVISOR = 5  # regulars are this fraction of a city's visitors
ABOUT_SHARE = 0.10  # non-bounced sessions that also read the about page
ORDER_VARIANTS = 128  # distinct order baskets per run
BOT_ROBOTS_SHARE = 0.3  # crawler sessions that start with /robots.txt

for _ua, _w in HUMAN_USER_AGENTS:
    if traffic.is_bot_user_agent(_ua):  # pragma: no cover - guards the shared definition
        raise AssertionError(f"a human user agent looks like a bot: {_ua}")
for _ua in SCANNER_USER_AGENTS:
    if traffic.is_bot_user_agent(_ua):  # pragma: no cover
        raise AssertionError(f"a scanner user agent looks like a bot: {_ua}")
for _agent in BOT_AGENTS:
    if not traffic.is_bot_user_agent(_agent.user_agent):  # pragma: no cover
        raise AssertionError(f"a bot user agent is not recognised: {_agent.name}")


# ---------------------------------------------------------------------------------------
# Request kinds (templates) and the pre-serialised pieces of a line
# ---------------------------------------------------------------------------------------

# Page kinds in a session (also the landing kinds, in LANDING_WEIGHTS order).
HOME, MENU, ITEM, ABOUT, ORDER = range(5)


@dataclass
class _Template:
    path: str
    query: str
    method: str
    status: int
    filename: str
    bytes_group: int
    process_class: str


def _filename(path: str) -> str:
    if path == catalog.HOME_PATH:
        return f"{DOCUMENT_ROOT}{path}/index.php"
    return f"{DOCUMENT_ROOT}{path}"


def _stable_size(text: str, low: int, high: int) -> int:
    """A size that depends on the text only (not on the seed): assets have fixed sizes."""
    digest = sum((i + 1) * ord(c) for i, c in enumerate(text))
    return low + digest * 7919 % (high - low)


# Median and spread of the time to serve (%D, µs) per class of request.
PROCESS_CLASSES: dict[str, tuple[float, float]] = {
    "static": (420.0, 0.45),
    "page": (5200.0, 0.55),
    "menu": (9800.0, 0.5),
    "order": (21000.0, 0.5),
    "notfound": (260.0, 0.4),
    "error": (38000.0, 1.1),
    "monitor": (2600.0, 0.4),
}


class _Tables:
    """Everything a batch looks up: templates, addresses, pieces of lines. Built once a run."""

    def __init__(self, options: GeneratorOptions) -> None:
        self.options = options
        seeded = random.Random(f"cafepipe-tables-{options.seed}")
        self.bytes_values: list[list[int]] = []
        self.templates: list[_Template] = []
        self._build_templates(seeded)
        self._build_addresses(seeded)
        self._build_referers()
        self._build_arrays()
        self._build_pieces(seeded)
        self._build_time_model()

    # -- request kinds ------------------------------------------------------------------
    def _bytes_group(self, values: Sequence[int]) -> int:
        self.bytes_values.append(list(values))
        return len(self.bytes_values) - 1

    def _add(self, path: str, query: str, method: str, status: int, group: int, cls: str) -> int:
        self.templates.append(_Template(path, query, method, status, _filename(path), group, cls))
        return len(self.templates) - 1

    def _build_templates(self, seeded: random.Random) -> None:
        zero = self._bytes_group([0])
        not_found = self._bytes_group([196])
        forbidden = self._bytes_group([199])
        error500 = self._bytes_group([527])
        error503 = self._bytes_group([299])

        def variants(low: int, high: int) -> int:
            return self._bytes_group(sorted(seeded.randrange(low, high) for _ in range(16)))

        home_bytes, menu_bytes = variants(3550, 3720), variants(9650, 9990)
        item_bytes, about_bytes, order_bytes = (
            variants(2860, 3080),
            variants(2690, 2770),
            variants(2280, 2640),
        )
        self.error500_of: dict[int, int] = {}
        self.error503_of: dict[int, int] = {}

        def page(path: str, query: str, method: str, group: int, cls: str) -> int:
            t = self._add(path, query, method, 200, group, cls)
            self.error500_of[t] = self._add(path, query, method, 500, error500, "error")
            self.error503_of[t] = self._add(path, query, method, 503, error503, "error")
            return t

        self.home_t = page(catalog.HOME_PATH, "", "GET", home_bytes, "page")
        self.campaign_t = [
            page(catalog.HOME_PATH, q, "GET", home_bytes, "page") for q, _ in CAMPAIGNS
        ]
        self.menu_t = page(catalog.MENU_PATH, "", "GET", menu_bytes, "menu")
        self.about_t = page(catalog.ABOUT_PATH, "", "GET", about_bytes, "page")
        self.item_t = [
            page(catalog.ITEM_PATH, f"?id={item.id}", "GET", item_bytes, "page")
            for item in catalog.MENU
        ]
        # Order baskets: 1-3 lines, popular items more often.
        item_weights = [self._item_popularity(item) for item in catalog.MENU]
        baskets = []
        for _ in range(ORDER_VARIANTS):
            count = seeded.choices((1, 2, 3), (55, 32, 13))[0]
            chosen: list[tuple[str, int]] = []
            while len(chosen) < count:
                item = seeded.choices(catalog.MENU, item_weights)[0]
                if item.id not in (i for i, _ in chosen):
                    chosen.append((item.id, seeded.choices((1, 2, 3), (70, 22, 8))[0]))
            baskets.append(catalog.order_query(chosen))
        self.order_t = [page(catalog.ORDER_PATH, q, "POST", order_bytes, "order") for q in baskets]
        self.asset_t: list[tuple[int, int]] = []  # (200, 304) per asset of a first page
        for path in catalog.ASSETS:
            group = self._bytes_group([_stable_size(path, 1100, 6400)])
            self.asset_t.append(
                (
                    self._add(path, "", "GET", 200, group, "static"),
                    self._add(path, "", "GET", 304, zero, "static"),
                )
            )
        self.item_image_t: list[tuple[int, int]] = []
        for item in catalog.MENU:
            path = catalog.item_image_path(item)
            group = self._bytes_group([_stable_size(path, 2400, 9600)])
            self.item_image_t.append(
                (
                    self._add(path, "", "GET", 200, group, "static"),
                    self._add(path, "", "GET", 304, zero, "static"),
                )
            )
        # What crawlers and monitors ask for.
        self.robots_t = self._add("/robots.txt", "", "GET", 404, not_found, "notfound")
        self.sitemap_t = self._add("/sitemap.xml", "", "GET", 404, not_found, "notfound")
        self.monitor_head_t = self._add(catalog.HOME_PATH, "", "HEAD", 200, zero, "monitor")
        self.crawl_t = [self.home_t, self.menu_t, self.about_t, self.sitemap_t, *self.item_t]
        self.crawl_weights = [20, 8, 4, 4] + [3] * len(self.item_t)
        # What scanners probe: 404, 403 for what Apache itself forbids, POST for login forms.
        self.scanner_t = []
        for path in traffic.SCANNER_PATHS:
            status = 403 if path in ("/.htaccess", "/server-status") else 404
            group = forbidden if status == 403 else not_found
            self.scanner_t.append(self._add(path, "", "GET", status, group, "notfound"))
            if path in (
                "/wp-login.php",
                "/xmlrpc.php",
                "/boaform/admin/formLogin",
                "/cgi-bin/luci",
                "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
            ):
                self.scanner_t.append(self._add(path, "", "POST", status, group, "notfound"))

    @staticmethod
    def _item_popularity(item: catalog.MenuItem) -> int:
        return {"coffee": 10, "pastry": 6, "cold drink": 5, "tea": 4, "dessert": 4}.get(
            item.category, 3
        )

    # -- client addresses: humans by city, bots and scanners by network -------------------
    def _build_addresses(self, seeded: random.Random) -> None:
        options = self.options
        weights = [city.weight for city in geography.CITIES]
        total = sum(weights)
        ips: list[str] = []
        ip_city: list[int] = []
        ip_ua: list[int] = []
        human_ua_cum = np.cumsum([w for _, w in HUMAN_USER_AGENTS]).astype(np.float64)
        low_octets = _low_octets()
        # Each visitor's device: its own stream, so table draws never shift the batches'.
        device_draws = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([options.seed, DEVICE_STREAM]))
        )
        self.pool_start = np.zeros(len(geography.CITIES), dtype=np.int64)
        self.pool_size = np.zeros(len(geography.CITIES), dtype=np.int64)
        capacity = geography.BLOCKS_PER_CITY * 65536
        for c, city in enumerate(geography.CITIES):
            if city.weight == 0:
                continue
            size = max(1, min(capacity, round(options.visitors * city.weight / total)))
            self.pool_start[c], self.pool_size[c] = len(ips), size
            offset = seeded.randrange(65536)
            for block, (first, second) in enumerate(geography.CITY_BLOCKS[c]):
                count = min(65536, size - block * 65536)
                if count <= 0:
                    break
                prefix = f"{first}.{second}."
                # An odd multiplier makes j → low a bijection: addresses are distinct.
                ips.extend(prefix + low_octets[(j * 40503 + offset) & 0xFFFF]
                           for j in range(count))  # fmt: skip
            ip_city.extend([c] * size)
            ip_ua.extend(_choose(human_ua_cum, device_draws.random(size)).tolist())
        self.user_agents = [ua for ua, _ in HUMAN_USER_AGENTS]
        self.bot_ip_start: list[int] = []
        for agent in BOT_AGENTS:
            ua = len(self.user_agents)
            self.user_agents.append(agent.user_agent)
            self.bot_ip_start.append(len(ips))
            for k, last in enumerate(seeded.sample(range(1, 255), BOT_IPS_PER_AGENT)):
                network = agent.networks[k % len(agent.networks)]
                ips.append(f"{network}.{last}")
                ip_city.append(geography.CITY_INDEX[geography.NETWORK_CITIES[network]])
                ip_ua.append(ua)
        scanner_ua_start = len(self.user_agents)
        self.user_agents.extend(SCANNER_USER_AGENTS)
        self.scanner_ip_start = len(ips)
        addresses = sorted({(n, last) for n in SCANNER_NETWORKS for last in range(1, 255)})
        for network, last in seeded.sample(addresses, SCANNER_IPS):
            ips.append(f"{network}.{last}")
            ip_city.append(geography.CITY_INDEX[geography.NETWORK_CITIES[network]])
            ip_ua.append(scanner_ua_start + seeded.randrange(len(SCANNER_USER_AGENTS)))
        if len(set(ips)) != len(ips):  # pragma: no cover - guaranteed by the block layout
            raise AssertionError("generated client addresses collide")
        self.ips = ips
        self.ip_city = np.array(ip_city, dtype=np.int32)
        self.ip_ua = np.array(ip_ua, dtype=np.int32)

    # -- referrers: "-", external sites, and the site's own page URLs --------------------
    def _build_referers(self) -> None:
        self.referers: list[str] = []
        index: dict[str, int] = {}

        def ref(text: str) -> int:
            if text not in index:
                index[text] = len(self.referers)
                self.referers.append(text)
            return index[text]

        self.no_referer = ref("-")
        self.external_ref = [ref(text) for text, _ in EXTERNAL_REFERERS]
        self.external_weights = [w for _, w in EXTERNAL_REFERERS]
        self.campaign_ref = [ref(text) for _, text in CAMPAIGNS]
        base = f"http://{self.options.host}"
        self.url_ref_of_t = np.zeros(len(self.templates), dtype=np.int64)
        for t, template in enumerate(self.templates):
            if template.method == "GET" and template.path in catalog.PAGES:
                self.url_ref_of_t[t] = ref(f"{base}{template.path}{template.query}")

    # -- numpy lookups --------------------------------------------------------------------
    def _build_arrays(self) -> None:
        templates = self.templates
        n = len(templates)
        err500 = np.arange(n)
        err503 = np.arange(n)
        for t, e in self.error500_of.items():
            err500[t] = e
        for t, e in self.error503_of.items():
            err503[t] = e
        self.err500 = err500
        self.err503 = err503
        flat = [v for group in self.bytes_values for v in group]
        self.bytes_flat = np.array(flat, dtype=np.int64)
        starts = np.cumsum([0] + [len(g) for g in self.bytes_values])[:-1]
        lens = np.array([len(g) for g in self.bytes_values], dtype=np.int64)
        groups = np.array([t.bytes_group for t in templates], dtype=np.int64)
        self.bytes_start_t = starts[groups].astype(np.int64)
        self.bytes_len_t = lens[groups]
        paths = sorted({t.path for t in templates})
        self.paths = paths
        path_index = {p: i for i, p in enumerate(paths)}
        self.path_of_t = np.array([path_index[t.path] for t in templates], dtype=np.int64)
        self.status_class_t = np.array([t.status // 100 - 2 for t in templates], dtype=np.int64)
        self.menu_path = path_index[catalog.MENU_PATH]
        self.order_path = path_index[catalog.ORDER_PATH]
        self.is_scanner_t = np.array(
            [traffic.is_scanner_path(t.path) for t in templates], dtype=bool
        )
        self.ua_is_bot = np.array(
            [traffic.is_bot_user_agent(ua) for ua in self.user_agents], dtype=bool
        )
        self.landing_page_t = np.array([self.home_t, self.menu_t, -1, self.about_t], dtype=np.int64)
        self.item_t_arr = np.array(self.item_t, dtype=np.int64)
        self.order_t_arr = np.array(self.order_t, dtype=np.int64)
        self.campaign_t_arr = np.array(self.campaign_t, dtype=np.int64)
        self.campaign_ref_arr = np.array(self.campaign_ref, dtype=np.int64)
        self.external_ref_arr = np.array(self.external_ref, dtype=np.int64)
        self.external_cum = np.cumsum(self.external_weights).astype(np.float64)
        self.asset_t_arr = np.array(
            [*self.asset_t, (-1, -1)], dtype=np.int64
        )  # row 4: "the item's picture", filled per line
        self.item_image_t_arr = np.array(self.item_image_t, dtype=np.int64)
        position = {item.id: k for k, item in enumerate(catalog.MENU)}
        self.image_lists = np.zeros((4, len(catalog.MENU)), dtype=np.int64)
        for row, items in ((IMAGES_FEATURED, FEATURED_ITEMS), (IMAGES_ALL, catalog.MENU),
                           (IMAGES_OTHER, MENU_IMAGES_OTHER)):  # fmt: skip
            self.image_lists[row, : len(items)] = [position[item.id] for item in items]
        self.human_lines_per_session = self._lines_per_session()
        self.item_cum = np.cumsum([self._item_popularity(item) for item in catalog.MENU]).astype(
            np.float64
        )
        self.landing_cum = np.cumsum(LANDING_WEIGHTS).astype(np.float64)
        self.crawl_t_arr = np.array(self.crawl_t, dtype=np.int64)
        self.crawl_cum = np.cumsum(self.crawl_weights).astype(np.float64)
        self.scanner_t_arr = np.array(self.scanner_t, dtype=np.int64)
        self.bot_cum = np.cumsum([a.weight for a in BOT_AGENTS]).astype(np.float64)
        self.bot_is_monitor = np.array([a.kind == "monitor" for a in BOT_AGENTS], dtype=bool)
        self.bot_ip_start_arr = np.array(self.bot_ip_start, dtype=np.int64)
        # Integer quantile tables: draws map to integers through exact operations only.
        self.items_table = _geometric_table(self.options.items_per_visit)
        self.crawl_len_table = _geometric_table(3.0)
        self.scan_len_table = np.minimum(_geometric_table(18.0), 60)
        self.think_ms = _exponential_table(28_000, 3_000)  # between pages
        self.asset_gap_ms = _exponential_table(60, 15)  # between a page and its assets
        self.crawl_gap_ms = _exponential_table(6_000, 800)
        self.scan_gap_ms = _exponential_table(350, 40)

    def _lines_per_session(self) -> float:
        """Roughly how many lines a human session writes (sizes the draws of a batch)."""
        o = self.options
        shares = [w / sum(LANDING_WEIGHTS) * (1 - o.campaign_share) for w in LANDING_WEIGHTS]
        shares[HOME] += o.campaign_share
        go_on = 1 - o.bounce
        pages = 1 + go_on * (1 - shares[MENU] + o.items_per_visit + ABOUT_SHARE + o.conversion)
        sees_menu = go_on + o.bounce * shares[MENU]
        pictures = shares[HOME] * len(FEATURED_ITEMS) + sees_menu * len(MENU_IMAGES_OTHER)
        pictures += shares[ITEM]
        return max(1.0, pages + len(catalog.ASSETS) + (1 - o.returning_share) * pictures)

    # -- the pieces lines are joined from ---------------------------------------------------
    def _build_pieces(self, seeded: random.Random) -> None:
        options = self.options
        templates = self.templates
        n_ua, n_ref, n_city = len(self.user_agents), len(self.referers), len(geography.CITIES)
        if options.log_format == "json":
            host = options.host
            process = {
                cls: [
                    str(max(50, round(median * math.exp(sigma * seeded.gauss(0, 1)))))
                    for _ in range(PROCESS_VARIANTS)
                ]
                for cls, (median, sigma) in PROCESS_CLASSES.items()
            }
            classes = list(PROCESS_CLASSES)
            self.process_class_t = np.array(
                [classes.index(t.process_class) for t in templates], dtype=np.int64
            )
            self.process_piece = _objects(p.encode() for cls in classes for p in process[cls])
            self.filename_piece = _objects(
                f'","filename":"{t.filename}","remoteIP":"'.encode() for t in templates
            )
            self.ip_piece = _objects(ip.encode() for ip in self.ips)
            self.ips = []  # the pieces hold them now; the strings would double the memory
            # Key order of the deployed LogFormat (templates/instance/httpd-cafe.conf.j2).
            self.request_piece = _objects(
                (
                    f'","host":"{host}","request":"{t.path}","query":"{t.query}","method":"'
                    f'{t.method}","status":"{t.status}","bytes":"'
                ).encode()
                for t in templates
            )
            self.bytes_ua_piece = _objects(
                f'{b}","userAgent":"{ua}","referer":"'.encode()
                for b in self.bytes_flat.tolist()
                for ua in self.user_agents
            )
            self.referer_geo_piece = _objects(
                (
                    f'{ref}","country":"{c.country}","region":"{c.region}","city":"{c.name}",'
                    f'"lat":"{c.lat:.2f}","lon":"{c.lon:.2f}"}}\n'
                ).encode()
                for ref in self.referers
                for c in geography.CITIES
            )
            self.second_piece = _objects(f"{second:02d}.".encode() for second in range(60))
            self.ms_piece = _objects(f'{ms:03d}Z","process":"'.encode() for ms in range(1000))
        else:
            self.ip_piece = _objects(f"{ip} - - [".encode() for ip in self.ips)
            self.ips = []
            self.second_piece = _objects(
                f'{second:02d} +0000] "{t.method} {t.path}{t.query} HTTP/1.1" {t.status} '.encode()
                for second in range(60)
                for t in templates
            )
            self.bytes_piece = _objects(
                f'{b if b else "-"} "'.encode() for b in self.bytes_flat.tolist()
            )
            self.ref_ua_piece = _objects(
                f'{ref}" "{ua}"\n'.encode() for ref in self.referers for ua in self.user_agents
            )
        self.n_ua, self.n_ref, self.n_city = n_ua, n_ref, n_city
        for text in (*self.user_agents, *self.referers, options.host):
            if '"' in text or "\\" in text or not text.isascii():  # pragma: no cover
                raise AssertionError(f"would need escaping in a log line: {text!r}")

    # -- the window: slices of time, the rhythm, the lines per slice and per batch -------
    def _build_time_model(self) -> None:
        options = self.options
        start_ms = _epoch_ms(options.start)
        end_ms = _epoch_ms(options.end)
        window_ms = end_ms - start_ms
        rate = options.lines / max(window_ms / 1000, 1e-3)  # lines per second
        slice_s = 600
        for candidate in (600, 300, 120, 60, 30, 10, 5, 2, 1):
            slice_s = candidate
            if rate * candidate * 3 <= BATCH_LINES:
                break
        slice_ms = slice_s * 1000
        count = -(-window_ms // slice_ms)
        starts = start_ms + np.arange(count, dtype=np.int64) * slice_ms
        lens = np.minimum(starts + slice_ms, end_ms) - starts
        self.slice_start = starts
        self.slice_len = lens
        # Human rhythm per time-zone group of cities, at each slice's middle.
        offsets = sorted({c.utc_offset_minutes for c in geography.CITIES if c.weight > 0})
        self.tz_offsets = offsets
        group_of_city = np.array(
            [offsets.index(c.utc_offset_minutes) if c.weight > 0 else -1 for c in geography.CITIES]
        )
        group_weight = np.array(
            [
                sum(
                    c.weight for c in geography.CITIES if c.weight > 0 and c.utc_offset_minutes == o
                )
                for o in offsets
            ],
            dtype=np.int64,
        )
        middle = starts + lens // 2
        local = middle[:, None] + np.array(offsets, dtype=np.int64)[None, :] * 60_000
        hour = (local // 3_600_000) % 24
        weekday = (local // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday
        decis = np.maximum(lens // 100, 1)[:, None]  # slice length in 0.1 s
        self.group_rate = (
            group_weight[None, :]
            * np.array(HOUR_WEIGHTS)[hour]
            * np.array(WEEKDAY_WEIGHTS)[weekday]
            * decis
        ).astype(np.int64)
        self.group_cum = np.cumsum(self.group_rate, axis=1)
        # Cities in group order, their cumulative weights shifted by the group's base.
        order = [c for g in range(len(offsets)) for c in np.flatnonzero(group_of_city == g)]
        self.city_in_group_order = np.array(order, dtype=np.int64)
        city_w = np.array([geography.CITIES[c].weight for c in order], dtype=np.int64)
        self.city_cum_global = np.cumsum(city_w).astype(np.float64)
        self.group_base = np.concatenate(([0], np.cumsum(group_weight)[:-1])).astype(np.float64)
        self.group_total = group_weight.astype(np.float64)
        # Lines per slice for each kind of traffic; exact totals.
        n_bot = round(options.lines * options.bot_share)
        n_scan = round(options.lines * options.scanner_share)
        n_human = options.lines - n_bot - n_scan
        flat = np.maximum(lens // 100, 1)
        self.slice_lines = np.stack(
            [
                _allocate(n_human, self.group_rate.sum(axis=1)),
                _allocate(n_bot, flat),
                _allocate(n_scan, flat),
            ]
        )  # kinds × slices
        totals = self.slice_lines.sum(axis=0)
        batch_of_slice = (np.cumsum(totals) - totals) // BATCH_LINES
        cuts = np.flatnonzero(np.diff(batch_of_slice)) + 1
        self.batch_bounds = list(zip([0, *cuts.tolist()], [*cuts.tolist(), count], strict=True))


_LOW_OCTETS: list[str] = []


def _low_octets() -> list[str]:
    """ "c.d" for the 65,536 values of an address's low 16 bits (made once)."""
    if not _LOW_OCTETS:
        _LOW_OCTETS.extend(f"{low >> 8}.{low & 0xFF}" for low in range(65536))
    return _LOW_OCTETS


def _objects(items: Iterator[bytes] | Sequence[bytes]) -> np.ndarray:
    values = list(items)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _epoch_ms(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` lines over slices in proportion to integer weights; sums exactly."""
    if total == 0 or weights.sum() == 0:
        counts = np.zeros(len(weights), dtype=np.int64)
        if total:
            counts[-1] = total
        return counts
    cum = np.cumsum(weights).astype(np.float64)
    cut = np.floor(total * (cum / cum[-1])).astype(np.int64)
    return np.diff(cut, prepend=0)


QUANTILES = 4096
DEVICE_STREAM = 2**40  # SeedSequence key of the visitors' devices (batches use 0, 1, …)


def _geometric_table(mean: float) -> np.ndarray:
    """Integer quantiles of a geometric distribution on 0, 1, 2, … with this mean."""
    if mean <= 0:
        return np.zeros(QUANTILES, dtype=np.int64)
    p = 1 / (1 + mean)
    values = [
        math.floor(math.log(1 - (i + 0.5) / QUANTILES) / math.log(1 - p)) for i in range(QUANTILES)
    ]
    return np.array(values, dtype=np.int64)


def _exponential_table(mean_ms: float, min_ms: int) -> np.ndarray:
    """Integer quantiles (ms) of min + an exponential with the given mean."""
    values = [
        min_ms + round(-(mean_ms - min_ms) * math.log(1 - (i + 0.5) / QUANTILES))
        for i in range(QUANTILES)
    ]
    return np.array(values, dtype=np.int64)


def _pick(table: np.ndarray, u: np.ndarray) -> np.ndarray:
    picked: np.ndarray = table[(u * len(table)).astype(np.int64)]
    return picked


def _choose(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn with weights given as a cumulative array."""
    index: np.ndarray = np.searchsorted(cum, u * cum[-1], side="right")
    return index


# ---------------------------------------------------------------------------------------
# One batch: sessions → requests in time order
# ---------------------------------------------------------------------------------------


@dataclass
class _Lines:
    """Lines of one kind of traffic in a batch, before they are put in time order."""

    moment: np.ndarray  # ms since the epoch
    ip: np.ndarray
    template: np.ndarray
    referer: np.ndarray

    @staticmethod
    def empty() -> _Lines:
        z = np.zeros(0, dtype=np.int64)
        return _Lines(z, z, z, z)


def _segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items of these lengths laid end to end: owner of each element, position in it."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    first = np.cumsum(lengths) - lengths
    return owner, np.arange(len(owner)) - first[owner]


class _BatchMaker:
    def __init__(self, tables: _Tables) -> None:
        self.t = tables
        options = tables.options
        share_menu = LANDING_WEIGHTS[MENU] / sum(LANDING_WEIGHTS)
        p_menu_landing = share_menu * (1 - options.campaign_share)  # campaigns land on /cafe
        bounce = options.bounce
        # The knob is P(order | the session saw the menu); only non-bounced sessions order.
        seen_menu = (1 - bounce) + bounce * p_menu_landing
        self.order_chance = (
            min(1.0, options.conversion * seen_menu / (1 - bounce)) if bounce < 1 else 0.0
        )

    def make(self, index: int) -> _Lines:
        t = self.t
        k0, k1 = t.batch_bounds[index]
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([t.options.seed, index])))
        counts = t.slice_lines[:, k0:k1]
        self.k0 = k0
        self.batch_end = int(t.slice_start[k1 - 1] + t.slice_len[k1 - 1])
        parts = [
            self._humans(rng, counts[0]),
            self._bots(rng, counts[1]),
            self._scanners(rng, counts[2]),
        ]
        return _Lines(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Lines))
        )

    def _place(
        self,
        rng: np.random.Generator,
        counts: np.ndarray,
        session_lines: np.ndarray,
        line_session: np.ndarray,
        line_offset: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Times of the lines of sessions laid end to end (the first n), and sessions' slices.

        A session starts in the slice where its first line falls by count, so the slices get
        their share of lines; it is moved earlier (or, if longer than what is left, squeezed)
        so that its last line ends before the batch does: batches never overlap in time.
        """
        t = self.t
        n = len(line_session)
        line_slice = np.repeat(np.arange(len(counts)), counts)  # counts sum to n
        first_line = np.cumsum(session_lines) - session_lines
        used = int(np.count_nonzero(first_line < n))
        first_line = first_line[:used]
        last_line = np.minimum(first_line + session_lines[:used], n) - 1
        session_slice = line_slice[first_line]
        slice_abs = self.k0 + session_slice
        base = t.slice_start[slice_abs]
        room = self.batch_end - base
        duration = line_offset[last_line]
        starts = np.minimum(t.slice_len[slice_abs], room - duration)
        squeezed = starts < 1
        start = (rng.random(used) * np.maximum(starts, 1)).astype(np.int64)
        if squeezed.any():
            ratio_num = np.where(squeezed, room - 1, 1)[line_session]
            ratio_den = np.where(squeezed, np.maximum(duration, 1), 1)[line_session]
            line_offset = line_offset * ratio_num // ratio_den
        return (base + start)[line_session] + line_offset, session_slice

    def _humans(self, rng: np.random.Generator, counts: np.ndarray) -> _Lines:
        n = int(counts.sum())
        if n == 0:
            return _Lines.empty()
        m = max(16, int(n / self.t.human_lines_per_session * 1.2))
        while True:  # rarely more than once: the estimate has a margin
            drawn = self._human_sessions(rng, m)
            if len(drawn[0]) >= n:
                break
            m *= 2
        page, j, session, template, referer, offset, item, returning, kind, pos = drawn
        t = self.t
        session_lines = np.bincount(session[page], minlength=m)
        page, j = page[:n], j[:n]
        # What each line is: the page itself (j == 0) or what the page pulled in.
        is_asset = j > 0
        layout = np.where(pos[page] == 0, len(catalog.ASSETS), 0)
        asset = j - 1
        image_row = np.select(
            [kind[page] == HOME, kind[page] == MENU],
            [IMAGES_FEATURED, np.where(self.landed_home[session[page]], IMAGES_OTHER, IMAGES_ALL)],
            IMAGES_ITEM,
        )
        image_item = np.where(
            image_row == IMAGES_ITEM,
            item[page],
            t.image_lists[image_row, np.maximum(asset - layout, 0)],
        )
        cached = returning[session[page]].astype(np.int64)
        asset_template = np.where(
            asset < layout,
            t.asset_t_arr[np.minimum(asset, len(catalog.ASSETS) - 1), cached],
            t.item_image_t_arr[image_item, 0],
        )
        page_template = template[page]
        line_template = np.where(is_asset, asset_template, page_template)
        line_referer = np.where(is_asset, t.url_ref_of_t[page_template], referer[page])
        gaps = np.where(is_asset, _pick(t.asset_gap_ms, rng.random(n)), 0)
        line_offset = offset[page] + _within(gaps, page)
        # Where and when, then who.
        line_session = session[page]
        moment, session_slice = self._place(rng, counts, session_lines, line_session, line_offset)
        used = len(session_slice)
        city = self._cities(rng, session_slice)
        # Returning visitors (cached assets) are the city's regulars: the first fifth of its
        # pool; everyone else is anyone in the pool.
        pool = t.pool_size[city]
        pool = np.where(returning[:used], np.maximum(pool // REGULARS_DIVISOR, 1), pool)
        visitor = t.pool_start[city] + (pool * rng.random(used)).astype(np.int64)
        return _Lines(moment, visitor[line_session], line_template, line_referer)

    def _human_sessions(self, rng: np.random.Generator, m: int) -> tuple[np.ndarray, ...]:
        """m sessions: their pages, and each page's lines laid end to end."""
        t, options = self.t, self.t.options
        u = rng.random((m, 8))
        campaign = u[:, 7] < options.campaign_share
        landing = np.where(campaign, HOME, _choose(t.landing_cum, u[:, 0]))
        go_on = u[:, 1] >= options.bounce
        # Who goes on sees a second page: after landing on the menu, at least one item.
        n_items = _pick(t.items_table, u[:, 2])
        n_items = np.where(landing == MENU, np.maximum(n_items, 1), n_items) * go_on
        ordered = go_on & (u[:, 3] < self.order_chance)
        about = go_on & (u[:, 4] < ABOUT_SHARE) & (landing != ABOUT)
        to_menu = go_on & (landing != MENU)
        returning = u[:, 5] < options.returning_share
        campaign_idx = (u[:, 6] * len(CAMPAIGNS)).astype(np.int64)
        landing_ref = np.where(
            campaign,
            t.campaign_ref_arr[campaign_idx],
            t.external_ref_arr[_choose(t.external_cum, u[:, 6])],
        )
        self.landed_home = landing == HOME
        # Pages, in the order of a visit: landing, menu, items, about, order.
        pages = 1 + to_menu + n_items + about + ordered
        session, pos = _segments(pages)
        end_menu = (1 + to_menu)[session]
        end_items = end_menu + n_items[session]
        end_about = end_items + about[session]
        kind = np.where(
            pos == 0,
            landing[session],
            np.where(
                pos < end_menu,
                MENU,
                np.where(pos < end_items, ITEM, np.where(pos < end_about, ABOUT, ORDER)),
            ),
        )
        up = rng.random((len(session), 4))
        item = _choose(t.item_cum, up[:, 0])
        template = np.select(
            [kind == HOME, kind == MENU, kind == ITEM, kind == ABOUT],
            [
                np.where(campaign[session], t.campaign_t_arr[campaign_idx[session]], t.home_t),
                t.menu_t,
                t.item_t_arr[item],
                t.about_t,
            ],
            t.order_t_arr[(up[:, 1] * ORDER_VARIANTS).astype(np.int64)],
        )
        failed = up[:, 2] < options.error_share
        template = np.where(
            failed,
            np.where(up[:, 2] < options.error_share * 0.2, t.err503[template], t.err500[template]),
            template,
        )
        think = np.where(pos == 0, 0, _pick(t.think_ms, up[:, 3]))
        elapsed = np.cumsum(think)
        first_page = np.cumsum(pages) - pages
        offset = elapsed - elapsed[first_page][session]
        referer = np.where(pos == 0, landing_ref[session], t.url_ref_of_t[np.roll(template, 1)])
        # What a served page pulls in: the layout's assets on the first page (200, or 304
        # from a returning visitor's cache); pictures a new visitor has not seen yet — the
        # featured ones on the home page, the rest (or all) on the menu, an item's own
        # picture when the visit starts on it (later item pages come after the menu).
        new_visitor = ~returning[session]
        first = pos == 0
        images = np.select(
            [kind == HOME, kind == MENU, kind == ITEM],
            [
                first * len(FEATURED_ITEMS),
                np.where(self.landed_home[session], len(MENU_IMAGES_OTHER), len(catalog.MENU)),
                first * 1,
            ],
            0,
        )
        pulled = (first * len(catalog.ASSETS) + images * new_visitor) * ~failed
        page, j = _segments(1 + pulled)
        return page, j, session, template, referer, offset, item, returning, kind, pos

    def _cities(self, rng: np.random.Generator, session_slice: np.ndarray) -> np.ndarray:
        """A city per session, following the local hour of each time zone at its slice."""
        t = self.t
        u = rng.random((len(session_slice), 2))
        cum = t.group_cum[self.k0 + session_slice]
        draw = np.floor(u[:, 0] * cum[:, -1])
        group = (cum <= draw[:, None]).sum(axis=1)
        target = t.group_base[group] + np.floor(u[:, 1] * t.group_total[group])
        city: np.ndarray = t.city_in_group_order[
            np.searchsorted(t.city_cum_global, target, side="right")
        ]
        return city

    def _bots(self, rng: np.random.Generator, counts: np.ndarray) -> _Lines:
        n = int(counts.sum())
        if n == 0:
            return _Lines.empty()
        t = self.t
        m = max(8, n // 2)
        while True:
            u = rng.random((m, 3))
            agent = _choose(t.bot_cum, u[:, 0])
            monitor = t.bot_is_monitor[agent]
            length = np.where(monitor, 1, 1 + _pick(t.crawl_len_table, u[:, 1]))
            if int(length.sum()) >= n:
                break
            m *= 2
        ip = t.bot_ip_start_arr[agent] + (u[:, 2] * BOT_IPS_PER_AGENT).astype(np.int64)
        session, pos = _segments(length)
        session, pos = session[:n], pos[:n]
        ul = rng.random((n, 3))
        crawl = t.crawl_t_arr[_choose(t.crawl_cum, ul[:, 0])]
        crawl = np.where((pos == 0) & (ul[:, 1] < BOT_ROBOTS_SHARE), t.robots_t, crawl)
        template = np.where(
            monitor[session], np.where(ul[:, 1] < 0.5, t.monitor_head_t, t.home_t), crawl
        )
        gaps = np.where(pos == 0, 0, _pick(t.crawl_gap_ms, ul[:, 2]))
        moment, _ = self._place(rng, counts, length, session, _within(gaps, session))
        return _Lines(moment, ip[session], template, np.full(n, t.no_referer))

    def _scanners(self, rng: np.random.Generator, counts: np.ndarray) -> _Lines:
        n = int(counts.sum())
        if n == 0:
            return _Lines.empty()
        t = self.t
        m = max(4, n // 10)
        while True:
            u = rng.random((m, 2))
            length = 3 + _pick(t.scan_len_table, u[:, 0])
            if int(length.sum()) >= n:
                break
            m *= 2
        ip = t.scanner_ip_start + (u[:, 1] * SCANNER_IPS).astype(np.int64)
        session, pos = _segments(length)
        session, pos = session[:n], pos[:n]
        ul = rng.random((n, 2))
        template = t.scanner_t_arr[(ul[:, 0] * len(t.scanner_t_arr)).astype(np.int64)]
        gaps = np.where(pos == 0, 0, _pick(t.scan_gap_ms, ul[:, 1]))
        moment, _ = self._place(rng, counts, length, session, _within(gaps, session))
        return _Lines(moment, ip[session], template, np.full(n, t.no_referer))


def _within(gaps: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Cumulative sum of gaps restarting at each owner (owners are contiguous, ascending)."""
    total = np.cumsum(gaps)
    starts = np.flatnonzero(np.diff(owner, prepend=-1))
    base = np.repeat(total[starts] - gaps[starts], np.diff(np.append(starts, len(owner))))
    within: np.ndarray = total - base
    return within


# ---------------------------------------------------------------------------------------
# Lines: time order, text, ground truth
# ---------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _Renderer:
    """Puts a batch's lines in time order and joins their pre-serialised pieces."""

    def __init__(self, tables: _Tables) -> None:
        self.t = tables
        self.days: dict[int, str] = {}
        self.json = tables.options.log_format == "json"

    def _minute(self, minute: int) -> bytes:
        day, in_day = divmod(minute, 1440)
        text = self.days.get(day)
        if text is None:
            date = datetime(1970, 1, 1) + timedelta(days=day)
            text = (
                f'{{"time":"{date:%Y-%m-%d}T'
                if self.json
                else f"{date.day:02d}/{_MONTHS[date.month - 1]}/{date.year}:"
            )
            self.days[day] = text
        return f"{text}{in_day // 60:02d}:{in_day % 60:02d}:".encode()

    def order(self, lines: _Lines) -> tuple[np.ndarray, ...]:
        """(time ms, ip, template, referer) of each line, ascending in time."""
        order = np.argsort(lines.moment, kind="stable")
        return lines.moment[order], lines.ip[order], lines.template[order], lines.referer[order]

    def render(
        self,
        rng: np.random.Generator,
        moment: np.ndarray,
        ip: np.ndarray,
        template: np.ndarray,
        referer: np.ndarray,
    ) -> tuple[bytes, np.ndarray]:
        """The batch's text, and the index of each line's `bytes` value."""
        t = self.t
        n = len(ip)
        u = rng.random((n, 2))
        size = t.bytes_start_t[template] + (u[:, 0] * t.bytes_len_t[template]).astype(np.int64)
        # Minutes are formatted once each; the rest of the time comes from a table.
        minute = moment // 60_000
        new = np.empty(n, dtype=bool)
        new[:1] = True
        np.not_equal(minute[1:], minute[:-1], out=new[1:])
        minutes = _objects([self._minute(m) for m in minute[new].tolist()])[np.cumsum(new) - 1]
        in_minute = moment - minute * 60_000
        ua = t.ip_ua[ip]
        if self.json:
            process = (u[:, 1] * PROCESS_VARIANTS).astype(np.int64)
            # Nine pieces from small tables beat fewer from big ones: joining is bound by
            # cache misses on the pieces, not by their number.
            pieces = np.empty((n, 9), dtype=object)
            pieces[:, 0] = minutes
            pieces[:, 1] = t.second_piece[in_minute // 1000]
            pieces[:, 2] = t.ms_piece[in_minute % 1000]
            pieces[:, 3] = t.process_piece[t.process_class_t[template] * PROCESS_VARIANTS + process]
            pieces[:, 4] = t.filename_piece[template]
            pieces[:, 5] = t.ip_piece[ip]
            pieces[:, 6] = t.request_piece[template]
            pieces[:, 7] = t.bytes_ua_piece[size * t.n_ua + ua]
            pieces[:, 8] = t.referer_geo_piece[referer * t.n_city + t.ip_city[ip]]
        else:
            pieces = np.empty((n, 5), dtype=object)
            pieces[:, 0] = t.ip_piece[ip]
            pieces[:, 1] = minutes
            pieces[:, 2] = t.second_piece[in_minute // 1000 * len(t.templates) + template]
            pieces[:, 3] = t.bytes_piece[size]
            pieces[:, 4] = t.ref_ua_piece[referer * t.n_ua + ua]
        return b"".join(pieces.ravel().tolist()), size


class TruthCounter:
    """Accumulates the ground truth (DESIGN.md insights schema) batch by batch."""

    def __init__(self, tables: _Tables) -> None:
        self.t = tables
        n_ips, n_cities = len(tables.ip_piece), len(geography.CITIES)
        self.per_template = np.zeros(len(tables.templates), dtype=np.int64)
        self.hourly = np.zeros(24, dtype=np.int64)
        self.bytes = 0
        self.bot_requests = 0
        self.seen = np.zeros(n_ips, dtype=bool)
        self.menu_seen = np.zeros(n_ips, dtype=bool)
        self.order_seen = np.zeros(n_ips, dtype=bool)
        self.city_lines = np.zeros(n_cities, dtype=np.int64)
        self.city_menu = np.zeros(n_cities, dtype=np.int64)
        self.city_orders = np.zeros(n_cities, dtype=np.int64)

    def add(
        self, moment: np.ndarray, ip: np.ndarray, template: np.ndarray, size: np.ndarray
    ) -> None:
        t = self.t
        n_cities = len(geography.CITIES)
        self.per_template += np.bincount(template, minlength=len(t.templates))
        self.hourly += np.bincount(moment // 3_600_000 % 24, minlength=24)
        self.bytes += int(t.bytes_flat[size].sum())
        self.bot_requests += int(t.ua_is_bot[t.ip_ua[ip]].sum())
        self.seen[ip] = True
        path = t.path_of_t[template]
        menu, order = path == t.menu_path, path == t.order_path
        self.menu_seen[ip[menu]] = True
        self.order_seen[ip[order]] = True
        city = t.ip_city[ip]
        self.city_lines += np.bincount(city, minlength=n_cities)
        self.city_menu += np.bincount(city[menu], minlength=n_cities)
        self.city_orders += np.bincount(city[order], minlength=n_cities)

    def result(self) -> dict[str, Any]:
        """The truth as a JSON-ready dict."""
        t = self.t
        per_path = np.bincount(t.path_of_t, weights=self.per_template, minlength=len(t.paths))
        path_counts = {p: int(c) for p, c in zip(t.paths, per_path.tolist(), strict=True) if c}
        classes = np.bincount(t.status_class_t, weights=self.per_template, minlength=4)
        menu_visitors = int(self.menu_seen.sum())
        purchasers = int(self.order_seen.sum())
        groups: dict[str, dict[str, list[int]]] = {"city": {}, "region": {}, "country": {}}
        for c, city in enumerate(geography.CITIES):
            if not self.city_lines[c]:
                continue
            for key, name in (
                ("city", city.name),
                ("region", city.region),
                ("country", city.country),
            ):
                entry = groups[key].setdefault(name, [0, 0])
                entry[0] += int(self.city_menu[c])
                entry[1] += int(self.city_orders[c])
        return {
            "requests": int(self.per_template.sum()),
            "invalid_lines": 0,
            "bytes": self.bytes,
            "unique_ips": int(self.seen.sum()),
            "status_classes": {f"{k + 2}xx": int(v) for k, v in enumerate(classes.tolist())},
            "top_paths": top_paths(path_counts),
            "menu_views": path_counts.get(catalog.MENU_PATH, 0),
            "order_requests": path_counts.get(catalog.ORDER_PATH, 0),
            "menu_visitors": menu_visitors,
            "purchasers": purchasers,
            "conversion_rate": conversion_rate(purchasers, menu_visitors),
            "by_city": top_places(groups["city"]),
            "by_region": top_places(groups["region"]),
            "by_country": top_places(groups["country"]),
            "hourly": self.hourly.tolist(),
            "bot_requests": self.bot_requests,
            "scanner_requests": int(self.per_template[t.is_scanner_t].sum()),
        }


def top_paths(counts: dict[str, int], limit: int = 10) -> list[list[Any]]:
    """`[[path, requests]]`: most requested first, ties by path ascending."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [[path, count] for path, count in ranked[:limit]]


def top_places(groups: dict[str, list[int]], limit: int = 10) -> list[list[Any]]:
    """`[[name, menu_views, orders]]`: most menu views first, ties by name ascending."""
    ranked = sorted(groups.items(), key=lambda item: (-item[1][0], item[0]))
    return [[name, views, orders] for name, (views, orders) in ranked[:limit]]


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def iter_log_chunks(
    options: GeneratorOptions, truth: TruthCounter | None = None
) -> Iterator[tuple[bytes, int]]:
    """The log as byte chunks (with their line counts), in order; fills `truth` if given."""
    tables = _Tables(options)
    yield from _chunks(tables, truth)


def _chunks(tables: _Tables, truth: TruthCounter | None) -> Iterator[tuple[bytes, int]]:
    maker = _BatchMaker(tables)
    renderer = _Renderer(tables)
    seed = tables.options.seed
    for index in range(len(tables.batch_bounds)):
        lines = maker.make(index)
        if not len(lines.ip):
            continue
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index, 1])))
        moment, ip, template, referer = renderer.order(lines)
        text, size = renderer.render(rng, moment, ip, template, referer)
        if truth is not None:
            truth.add(moment, ip, template, size)
        yield text, len(ip)


def write_log(
    options: GeneratorOptions, stream: IO[bytes], progress: Progress | None = None
) -> dict[str, Any]:
    """Write the log to a binary stream; return its ground truth."""
    tables = _Tables(options)
    truth = TruthCounter(tables)
    with _BackgroundWriter(stream) as writer:
        for text, count in _chunks(tables, truth):
            writer.write(text)
            if progress is not None:
                progress(count)
    return truth.result()


class _BackgroundWriter:
    """Writes chunks on a thread: the kernel's copy (or gzip) runs beside the generator.

    File writes and zlib release the GIL, so on two cores this hides most of the I/O. The
    queue is short, which keeps memory bounded; the order of chunks is the order of writes.
    """

    def __init__(self, stream: IO[bytes], depth: int = 1) -> None:
        self.stream = stream
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.cancelled = False
        self.thread = threading.Thread(target=self._run, name="cafepipe-log-writer", daemon=True)

    def __enter__(self) -> _BackgroundWriter:
        self.thread.start()
        return self

    def _run(self) -> None:
        while True:
            chunk = self.queue.get()
            if chunk is None:
                return
            if self.error is None and not self.cancelled:
                try:
                    self.stream.write(chunk)
                except BaseException as exc:  # re-raised in the generating thread
                    self.error = exc

    def write(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.cancelled = kind is not None
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and kind is None:
            raise self.error


def generate_log(
    options: GeneratorOptions,
    out: str | os.PathLike[str] | IO[bytes],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the log to a path (`-` = stdout, `.gz` = gzip) or a binary stream; return the truth.

    A regular file is written to a temporary file beside it and renamed when complete: on any
    error or interrupt no partial file is left behind. A device or pipe (`/dev/null`, a FIFO)
    is written in place.
    """
    if not isinstance(out, (str, os.PathLike)):
        return write_log(options, out, progress)
    if os.fspath(out) == "-":
        truth = write_log(options, sys.stdout.buffer, progress)
        sys.stdout.buffer.flush()
        return truth
    path = Path(out)
    with _target_file(path) as raw:
        if path.name.endswith(".gz"):
            # No name and no mtime in the header: the same options give the same bytes.
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6
            ) as packed:
                return write_log(options, packed, progress)  # type: ignore[arg-type]
        return write_log(options, raw, progress)


def write_truth(truth: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """The ground truth as stable JSON (sorted keys), written atomically."""
    with _target_file(Path(path)) as raw:
        raw.write((json.dumps(truth, indent=2, sort_keys=True) + "\n").encode())


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail early (UsageError) when a file cannot be created at this path."""
    target = Path(path)
    if os.fspath(path) == "-":
        return
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a directory")
    if _is_special(target):
        if not os.access(target, os.W_OK):
            raise UsageError(f"cannot write {target}: permission denied")
        return
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {target}: no such directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {target}: no permission to create files in {parent}")


def _is_special(path: Path) -> bool:
    """An existing target that is not a regular file: a device (/dev/null) or a pipe."""
    return path.exists() and not path.is_file() and not path.is_dir()


@contextlib.contextmanager
def _target_file(path: Path) -> Iterator[IO[bytes]]:
    """A device or pipe is written in place (renaming over it would replace the device);
    a regular file atomically."""
    if _is_special(path):
        check_writable(path)
        with path.open("wb", buffering=1 << 20) as raw:
            yield raw
        return
    with _atomic_file(path) as raw:
        yield raw


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    check_writable(path)
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb", buffering=1 << 20) as raw:
            yield raw
        Path(temp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise


def describe(options: GeneratorOptions) -> dict[str, Any]:
    """The options as JSON-ready values (for run summaries)."""
    values = {f.name: getattr(options, f.name) for f in fields(options)}
    values["start"] = options.start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    values["end"] = options.end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return values


__all__ = [
    "FORMATS",
    "PROFILES",
    "GeneratorOptions",
    "TruthCounter",
    "build_options",
    "conversion_rate",
    "describe",
    "generate_log",
    "iter_log_chunks",
    "parse_time",
    "top_paths",
    "top_places",
    "window_warnings",
    "write_log",
    "write_truth",
]
