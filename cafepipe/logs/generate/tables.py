"""The tables a run looks everything up in, built once from its options.

Request kinds (`Template`: path, query, method, status, body sizes, class of time to serve), client
addresses (each visitor's IP, city and device; bots' and scanners' networks), referrers, and
the time model: the window cut into slices, the human rhythm of each time zone at each slice,
the lines of each kind of traffic per slice, and the batches the slices are grouped into.
Every path is a real page or file of the site (`cafepipe.cafe.catalog`) or a scanner's probe.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from cafepipe.cafe import catalog, geography, traffic
from cafepipe.logs.generate.profiles import GeneratorOptions
from cafepipe.logs.generate.sampling import allocate, choose, exponential_table, geometric_table
from cafepipe.logs.generate.visitors import (
    ABOUT_SHARE,
    BOT_AGENTS,
    BOT_IPS_PER_AGENT,
    CAMPAIGNS,
    EXTERNAL_REFERERS,
    HOME,
    HOUR_WEIGHTS,
    HUMAN_USER_AGENTS,
    ITEM,
    LANDING_WEIGHTS,
    MENU,
    ORDER_VARIANTS,
    SCANNER_IPS,
    SCANNER_NETWORKS,
    SCANNER_USER_AGENTS,
    WEEKDAY_WEIGHTS,
)

DOCUMENT_ROOT = "/var/www/html"
BATCH_LINES = 8_192  # lines per batch: bounds memory, keeps numpy's work in cache
PROCESS_VARIANTS = 64  # distinct %D values per class of request
DEVICE_STREAM = 2**40  # SeedSequence key of the visitors' devices (batches use 0, 1, …)
# Picture lists a page can pull in (rows of Tables.image_lists).
IMAGES_FEATURED, IMAGES_ALL, IMAGES_OTHER, IMAGES_ITEM = range(4)
FEATURED_ITEMS = tuple(catalog.MENU_BY_ID[i] for i in catalog.FEATURED_ITEM_IDS)
MENU_IMAGES_OTHER = tuple(item for item in catalog.MENU if item not in FEATURED_ITEMS)


@dataclass
class Template:
    """One kind of request: the same request line, status and file every time."""

    path: str
    query: str
    method: str
    status: int
    filename: str
    bytes_group: int
    process_class: str


def _filename(path: str) -> str:
    """Apache's `%f`: the file that served the path."""
    if path == catalog.HOME_PATH:
        return f"{DOCUMENT_ROOT}{path}/index.php"
    return f"{DOCUMENT_ROOT}{path}"


def _stable_size(text: str, low: int, high: int) -> int:
    """A size that depends on the text only, the same in every run: assets have fixed sizes."""
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


class Tables:
    """Everything a batch looks up: request kinds, addresses, referrers, the time model."""

    def __init__(self, options: GeneratorOptions) -> None:
        self.options = options
        # The steps that take `seeded` draw from it in this order: keep it, or the tables move.
        seeded = random.Random(f"cafepipe-tables-{options.seed}")
        self.bytes_values: list[list[int]] = []
        self.templates: list[Template] = []
        self._build_templates(seeded)
        self._build_addresses(seeded)
        self._build_referers()
        self._build_arrays()
        self._build_process_times(seeded)
        self._build_time_model()

    # -- request kinds ------------------------------------------------------------------
    def _bytes_group(self, values: Sequence[int]) -> int:
        self.bytes_values.append(list(values))
        return len(self.bytes_values) - 1

    def _add(self, path: str, query: str, method: str, status: int, group: int, cls: str) -> int:
        self.templates.append(Template(path, query, method, status, _filename(path), group, cls))
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
            ip_ua.extend(choose(human_ua_cum, device_draws.random(size)).tolist())
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
        self.items_table = geometric_table(self.options.items_per_visit)
        self.crawl_len_table = geometric_table(3.0)
        self.scan_len_table = np.minimum(geometric_table(18.0), 60)
        self.think_ms = exponential_table(28_000, 3_000)  # between pages
        self.asset_gap_ms = exponential_table(60, 15)  # between a page and its assets
        self.crawl_gap_ms = exponential_table(6_000, 800)
        self.scan_gap_ms = exponential_table(350, 40)

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

    # -- time to serve (%D, µs) ------------------------------------------------------------
    def _build_process_times(self, seeded: random.Random) -> None:
        classes = list(PROCESS_CLASSES)
        self.process_class_t = np.array(
            [classes.index(t.process_class) for t in self.templates], dtype=np.int64
        )
        # PROCESS_VARIANTS values per class, class after class: class * PROCESS_VARIANTS + k.
        self.process_us = [
            max(50, round(median * math.exp(sigma * seeded.gauss(0, 1))))
            for median, sigma in PROCESS_CLASSES.values()
            for _ in range(PROCESS_VARIANTS)
        ]

    def take_ips(self) -> list[str]:
        """The client addresses, handed over once: the renderer's pieces hold them after."""
        ips, self.ips = self.ips, []
        return ips

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
                allocate(n_human, self.group_rate.sum(axis=1)),
                allocate(n_bot, flat),
                allocate(n_scan, flat),
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


def _epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, in integers only (a float would round some)."""
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
