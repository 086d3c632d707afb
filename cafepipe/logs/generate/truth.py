"""The ground truth of a generated log, counted from the generated lines themselves.

Every line the generator writes is valid, and each key is defined on the log lines alone, so
the insights (`cafepipe.insights`) can compute the same numbers in SQL and be checked
against it:

- `requests`: lines; `invalid_lines`: 0; `bytes`: sum of the `bytes` field (`%b` `-` is 0).
- `unique_ips`: distinct `remoteIP`.
- `status_classes`: lines per status class `"2xx"`, `"3xx"`, `"4xx"`, `"5xx"` (all four keys).
- `top_paths`: `[[path, requests]]`, the 10 most requested paths (`request`, no query string),
  ties broken by path ascending.
- `menu_views`: lines whose path is `/cafe/menu.php`, whatever the method, status, user agent
  (bots included); `order_requests`: lines whose path is `/cafe/processOrder.php` and whose
  status is not 4xx (the site refuses a bogus order with 400, a GET with 405: no order;
  the generator writes 200, 500 and 503 there), whatever the user agent.
- `menu_visitors` / `purchasers`: distinct `remoteIP` of those lines (bots included).
- `conversion_rate`: purchasers / menu_visitors rounded to 4 decimals (0.0 with no visitors).
  It is per client address and counts bots, so it differs from the generator's `conversion`
  knob, which is per human session.
- `by_city` / `by_region` / `by_country`: `[[name, menu_views, orders]]` where `orders` counts
  the orders (as `order_requests`), of customers only (robots' lines and scanner probes left
  out: Googlebot's Mountain View is no city of customers); grouped by the `city` /
  `region` / `country` field (combined logs: the city of `city_for_ip(remoteIP)`; the same
  name in two countries is one group); sorted by menu_views descending, then name
  ascending; the first 10 (a group with 0 menu views can appear when fewer have more).
- `hourly`: 24 line counts by the UTC hour of `time`.
- `cafe_timezone`, `cafe_hourly`, `cafe_weekday`: the café's IANA zone, and 24 line counts by
  its local hour and 7 by its local weekday (Monday first), daylight saving included: each
  quarter hour of UTC time (every zone's offset changes on one) converted by zoneinfo.
- `bot_requests` / `scanner_requests`: lines matching `cafepipe.cafe.traffic` (user-agent
  tokens / exact probe paths).

The page-view keys (`cafepipe.cafe.traffic.PAGE_VIEW_KEYS`; rows as objects, as
`insights --format json` prints them) count customers' page views: lines whose user agent is no
robot's, whose path is no scanner probe and no asset (`catalog.is_asset_path`), at the time the
log shows (to the second in a combined log, to the millisecond in JSON). A visitor is an address
with its user agent; its page views in order of time, then path, query and referer, make visits,
a gap of more than `VISIT_TIMEOUT_MS` starting a new one:

- `visits`, `visitors` (with a visit), `returning_visitors` (more than one visit),
  `new_visitors` (one), `pageviews`, `bounces` (visits of one page view);
  `pageviews_per_visit` (2 decimals), `bounce_rate` (4), `visit_duration_mean_s` and
  `visit_duration_median_s` (1; a visit lasts from its first page view to its last; the median
  of an even count is the mean of the two middle ones): each rounded half up, exactly.
- `entry_pages` `{path, visits, bounces}` / `exit_pages` `{path, visits}`: the first / last
  page view's path, top 10 by visits, ties by path.
- `funnel`: `{step, page, visits, conversion, drop_off}` for landing (every visit), menu (the
  menu page), item (an item page at or after the first menu view), order (an order placed at or
  after the first such item page); conversion from the step before (4 decimals), drop_off the
  visits lost since it.
- `funnel_by_source` `{source, campaign, visits, menu, item, orders, conversion}` (source: the
  entry's utm_source, else its referer's host in lower case, else "(direct)"; campaign: its
  utm_campaign) and `funnel_by_device` `{device, …}`: top 10 by visits, ties by name.
- `top_pages`: `{path, views}`, top 10 by views, ties by path.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cafepipe.cafe import catalog, geography
from cafepipe.cafe.metrics import conversion_rate
from cafepipe.insights.queries import DEVICE_FAMILIES, FUNNEL_STEPS, OTHER_FAMILY, TOP
from cafepipe.logs.generate.tables import Tables

_CLIENT_ERROR = 2  # Tables.status_class_t: 0 = 2xx … 2 = 4xx
VISIT_TIMEOUT_MS = 30 * 60 * 1000
SCHEMA_VERSION = 2  # docs/insights.schema.json's, as `insights --format json` prints it
_NEVER = np.iinfo(np.int64).max
_UTM_SOURCE = re.compile(r"[?&]utm_source=([^&]*)")
_UTM_CAMPAIGN = re.compile(r"[?&]utm_campaign=([^&]*)")
_REFERER_HOST = re.compile(r"[a-zA-Z]+://([^/:?#]+)")
_QUARTER_MS = 900_000
CAFE_TIME_KEYS: tuple[str, ...] = ("cafe_timezone", "cafe_hourly", "cafe_weekday")


class TruthCounter:
    """Accumulates the ground truth batch by batch."""

    def __init__(self, tables: Tables, zone: str | None = None) -> None:
        self.t = tables
        # The café's zone: given, else the generator's `timezone` option (the config's, from
        # generate-logs, simulate-logs and demo), so the truth's café keys are the insights'.
        self.zone = zone or tables.options.timezone
        self.quarters: dict[int, int] = {}  # lines per quarter hour since the epoch (UTC)
        # The request kinds that are orders: the order page, not refused (4xx).
        self.is_order_t = (tables.path_of_t == tables.order_path) & (
            tables.status_class_t != _CLIENT_ERROR
        )
        n_ips, n_cities = len(tables.ip_city), len(geography.CITIES)
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
        # Customers' page views, kept whole (a few bytes each): visits need all of them.
        self.is_page_t = ~tables.is_scanner_t & ~np.array(
            [catalog.is_asset_path(template.path) for template in tables.templates], dtype=bool
        )
        self.views: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        moment: np.ndarray,
        ip: np.ndarray,
        template: np.ndarray,
        size: np.ndarray,
        referer: np.ndarray,
    ) -> None:
        """Count one batch's lines: time, address, request kind, `bytes` value, referer."""
        t = self.t
        view = self.is_page_t[template] & ~t.ua_is_bot[t.ip_ua[ip]]
        # The time the log shows: a combined line has whole seconds.
        shown = moment[view] // 1000 * 1000 if t.options.log_format == "combined" else moment[view]
        self.views.append((shown, ip[view], template[view], referer[view]))
        n_cities = len(geography.CITIES)
        self.per_template += np.bincount(template, minlength=len(t.templates))
        self.hourly += np.bincount(moment // 3_600_000 % 24, minlength=24)
        quarters, counts = np.unique(moment // _QUARTER_MS, return_counts=True)
        for quarter, count in zip(quarters.tolist(), counts.tolist(), strict=True):
            self.quarters[quarter] = self.quarters.get(quarter, 0) + count
        self.bytes += int(t.bytes_flat[size].sum())
        self.bot_requests += int(t.ua_is_bot[t.ip_ua[ip]].sum())
        self.seen[ip] = True
        path = t.path_of_t[template]
        menu = path == t.menu_path
        order = self.is_order_t[template]
        self.menu_seen[ip[menu]] = True
        self.order_seen[ip[order]] = True
        # Places rank customers: robots and scanner probes left out.
        customer = ~t.ua_is_bot[t.ip_ua[ip]] & ~t.is_scanner_t[template]
        city = t.ip_city[ip]
        self.city_lines += np.bincount(city[customer], minlength=n_cities)
        self.city_menu += np.bincount(city[menu & customer], minlength=n_cities)
        self.city_orders += np.bincount(city[order & customer], minlength=n_cities)

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
            "order_requests": int(self.per_template[self.is_order_t].sum()),
            "menu_visitors": menu_visitors,
            "purchasers": purchasers,
            "conversion_rate": conversion_rate(purchasers, menu_visitors),
            "by_city": top_places(groups["city"]),
            "by_region": top_places(groups["region"]),
            "by_country": top_places(groups["country"]),
            "hourly": self.hourly.tolist(),
            **self.cafe_time(),
            "bot_requests": self.bot_requests,
            "scanner_requests": int(self.per_template[t.is_scanner_t].sum()),
            "schema_version": SCHEMA_VERSION,
            **self.page_view_result(),
        }

    def page_view_result(self) -> dict[str, Any]:
        """The page-view keys: visits, bounces, durations, entry/exit pages, the funnel."""
        t = self.t
        empty = np.zeros(0, dtype=np.int64)
        moment, ip, template, referer = (
            np.concatenate([batch[k] for batch in self.views]) if self.views else empty
            for k in range(4)
        )
        # Page views by visitor (an address has one user agent here), then time, path, query,
        # referer: the order the SQL gives them.
        pairs = sorted({(tp.path, tp.query) for tp in t.templates})
        pair_rank = {pair: k for k, pair in enumerate(pairs)}
        rank_t = np.array([pair_rank[(tp.path, tp.query)] for tp in t.templates], dtype=np.int64)
        ref_order = {text: k for k, text in enumerate(sorted(t.referers))}
        rank_r = np.array([ref_order[text] for text in t.referers], dtype=np.int64)
        order = np.lexsort((rank_r[referer], rank_t[template], moment, ip))
        moment, ip, template, referer = moment[order], ip[order], template[order], referer[order]
        n = len(moment)
        starts = np.ones(n, dtype=bool)
        starts[1:] = (ip[1:] != ip[:-1]) | (moment[1:] - moment[:-1] > VISIT_TIMEOUT_MS)
        visit = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        last = np.append(first[1:] - 1, n - 1).astype(np.int64) if n else empty
        count = len(first)
        pages = last - first + 1
        durations = moment[last] - moment[first]
        per_visitor = np.bincount(ip[first]) if count else empty
        # The funnel, in order within each visit.
        path = t.path_of_t[template]
        item_path = t.paths.index(catalog.ITEM_PATH)
        menu_at = np.full(count, _NEVER)
        menu = path == t.menu_path
        np.minimum.at(menu_at, visit[menu], moment[menu])
        item = (path == item_path) & (moment >= menu_at[visit])
        item_at = np.full(count, _NEVER)
        np.minimum.at(item_at, visit[item], moment[item])
        placed = self.is_order_t[template] & (moment >= item_at[visit])
        steps = [
            np.ones(count, dtype=bool),
            menu_at < _NEVER,
            item_at < _NEVER,
            np.bincount(visit[placed], minlength=count) > 0,
        ]
        # Each visit's entry, exit, source, campaign and device.
        entry = [t.paths[p] for p in path[first].tolist()]
        leaving = [t.paths[p] for p in path[last].tolist()]
        devices = [_device(t.user_agents[ua]) for ua in t.ip_ua[ip[first]].tolist()]
        sources = [
            _source(t.templates[tp].query, t.referers[rf])
            for tp, rf in zip(template[first].tolist(), referer[first].tolist(), strict=True)
        ]
        bounced = (pages == 1).tolist()
        entries: Counter[str] = Counter(entry)
        entry_bounces: Counter[str] = Counter(p for p, b in zip(entry, bounced, strict=True) if b)
        ranked_durations = np.sort(durations)
        middle = ranked_durations[(count - 1) // 2 : count // 2 + 1] if count else empty
        visitors = int(np.count_nonzero(per_visitor))
        returning = int(np.count_nonzero(per_visitor > 1))
        pageviews = int(pages.sum())
        bounces = int(sum(bounced))
        reached = [int(np.count_nonzero(step)) for step in steps]
        views_by_path = Counter(t.paths[p] for p in path.tolist())
        return {
            "visits": count,
            "visitors": visitors,
            "new_visitors": visitors - returning,
            "returning_visitors": returning,
            "pageviews": pageviews,
            "pageviews_per_visit": rounded(pageviews, count, 2),
            "bounces": bounces,
            "bounce_rate": rounded(bounces, count, 4),
            "visit_duration_median_s": rounded(int(middle.sum()), 1000 * len(middle), 1),
            "visit_duration_mean_s": rounded(int(durations.sum()), 1000 * count, 1),
            "entry_pages": [
                {"path": p, "visits": v, "bounces": entry_bounces[p]} for p, v in _top(entries)
            ],
            "exit_pages": [{"path": p, "visits": v} for p, v in _top(Counter(leaving))],
            "funnel": [
                {
                    "step": step,
                    "page": page or "",
                    "visits": reached[k],
                    "conversion": rounded(reached[k], reached[max(k - 1, 0)], 4),
                    "drop_off": reached[max(k - 1, 0)] - reached[k],
                }
                for k, (step, page) in enumerate(FUNNEL_STEPS)
            ],
            "funnel_by_source": [
                {"source": key[0], "campaign": key[1], **counts}
                for key, counts in _funnel_groups(sources, steps)
            ],
            "funnel_by_device": [
                {"device": key, **counts} for key, counts in _funnel_groups(devices, steps)
            ],
            "top_pages": [{"path": p, "views": v} for p, v in _top(views_by_path)],
        }

    def cafe_time(self) -> dict[str, Any]:
        """`cafe_timezone`, `cafe_hourly`, `cafe_weekday` of the lines counted so far."""
        zone = ZoneInfo(self.zone)
        hourly, weekday = [0] * 24, [0] * 7
        for quarter, count in self.quarters.items():
            local = datetime.fromtimestamp(quarter * _QUARTER_MS / 1000, zone)
            hourly[local.hour] += count
            weekday[local.weekday()] += count
        return {"cafe_timezone": self.zone, "cafe_hourly": hourly, "cafe_weekday": weekday}


def top_paths(counts: dict[str, int], limit: int = 10) -> list[list[Any]]:
    """`[[path, requests]]`: most requested first, ties by path ascending."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [[path, count] for path, count in ranked[:limit]]


def top_places(groups: dict[str, list[int]], limit: int = 10) -> list[list[Any]]:
    """`[[name, menu_views, orders]]`: most menu views first, ties by name ascending."""
    ranked = sorted(groups.items(), key=lambda item: (-item[1][0], item[0]))
    return [[name, views, orders] for name, (views, orders) in ranked[:limit]]


def rounded(numerator: int, denominator: int, digits: int) -> int | float:
    """numerator / denominator rounded half up to `digits` decimals, in integers; 0 for x / 0."""
    if denominator <= 0:
        return 0
    scale = 10**digits
    value = (2 * scale * numerator + denominator) // (2 * denominator) / scale
    return int(value) if value.is_integer() else value


def _top(counts: Counter[Any], limit: int = TOP) -> list[tuple[Any, int]]:
    """Most first, ties by key ascending."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _device(user_agent: str) -> str:
    """The device family, as `cafepipe.insights.queries.DEVICE_FAMILIES` orders them."""
    agent = user_agent.lower()
    for family, tokens in DEVICE_FAMILIES:
        if any(token in agent for token in tokens):
            return family
    return OTHER_FAMILY


def _source(query: str, referer: str) -> tuple[str, str]:
    """A visit's (source, campaign) from its entry's query string and referer."""
    tag = _UTM_SOURCE.search(query)
    host = _REFERER_HOST.match(referer)
    if tag and tag.group(1):
        source = tag.group(1)
    elif host and host.group(1):
        source = host.group(1).lower()
    else:
        source = "(direct)"
    campaign = _UTM_CAMPAIGN.search(query)
    return source, campaign.group(1) if campaign else ""


def _funnel_groups(
    keys: list[Any], steps: list[np.ndarray]
) -> list[tuple[Any, dict[str, int | float]]]:
    """Visits, menu, item and order steps reached per key, top 10 by visits, ties by key."""
    counts: dict[Any, list[int]] = {}
    for key, *reached in zip(keys, *(step.tolist() for step in steps), strict=True):
        entry = counts.setdefault(key, [0, 0, 0, 0])
        for k, hit in enumerate(reached):
            entry[k] += hit
    ranked = sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))[:TOP]
    return [
        (
            key,
            {
                "visits": visits,
                "menu": menu,
                "item": item,
                "orders": orders,
                "conversion": rounded(orders, visits, 4),
            },
        )
        for key, (visits, menu, item, orders) in ranked
    ]
