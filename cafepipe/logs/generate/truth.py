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
  the orders (as `order_requests`); grouped over all lines by the `city` /
  `region` / `country` field (combined logs: the city of `city_for_ip(remoteIP)`; the same
  name in two countries is one group); sorted by menu_views descending, then name
  ascending; the first 10 (a group with 0 menu views can appear when fewer have more).
- `hourly`: 24 line counts by the UTC hour of `time`.
- `bot_requests` / `scanner_requests`: lines matching `cafepipe.cafe.traffic` (user-agent
  tokens / exact probe paths).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cafepipe.cafe import catalog, geography
from cafepipe.cafe.metrics import conversion_rate
from cafepipe.logs.generate.tables import Tables

_CLIENT_ERROR = 2  # Tables.status_class_t: 0 = 2xx … 2 = 4xx


class TruthCounter:
    """Accumulates the ground truth batch by batch."""

    def __init__(self, tables: Tables) -> None:
        self.t = tables
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

    def add(
        self, moment: np.ndarray, ip: np.ndarray, template: np.ndarray, size: np.ndarray
    ) -> None:
        """Count one batch's lines: time, address, request kind, index of the `bytes` value."""
        t = self.t
        n_cities = len(geography.CITIES)
        self.per_template += np.bincount(template, minlength=len(t.templates))
        self.hourly += np.bincount(moment // 3_600_000 % 24, minlength=24)
        self.bytes += int(t.bytes_flat[size].sum())
        self.bot_requests += int(t.ua_is_bot[t.ip_ua[ip]].sum())
        self.seen[ip] = True
        path = t.path_of_t[template]
        menu = path == t.menu_path
        order = self.is_order_t[template]
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
            "order_requests": int(self.per_template[self.is_order_t].sum()),
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
