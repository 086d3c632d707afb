"""One batch of the log: sessions of visitors, crawlers and scanners, as lines to render.

A batch covers whole slices of the window (`Tables.batch_bounds`, which depend on the options
only, never on buffering) and draws from its own PCG64 stream, seeded with the run's seed and
the batch's index, so every batch comes out the same whatever was generated before it, and
memory stays bounded however many lines are asked for. Sessions never cross the end of their
batch: batches never overlap in time.

Human sessions follow `visitors`: landing, menu, items, about, order, and a share of pages
failing with 500/503. The first page of a session pulls the stylesheet, script, logo and
favicon (304 for a returning visitor's cache); a new visitor's browser also fetches the
pictures the page shows and it has not seen yet (the featured items on the home page, the rest
on the menu, an item's own on an item page the visit starts on), as the deployed site's pages
do. Crawlers fetch pages (some start with /robots.txt), monitors ask for the home page, and
scanners probe in bursts, answered 403/404.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from cafepipe.cafe import catalog
from cafepipe.logs.generate.sampling import choose, pick, segments, within
from cafepipe.logs.generate.tables import (
    FEATURED_ITEMS,
    IMAGES_ALL,
    IMAGES_FEATURED,
    IMAGES_ITEM,
    IMAGES_OTHER,
    MENU_IMAGES_OTHER,
    Tables,
)
from cafepipe.logs.generate.visitors import (
    ABOUT,
    ABOUT_SHARE,
    BOT_IPS_PER_AGENT,
    BOT_ROBOTS_SHARE,
    CAMPAIGNS,
    HOME,
    ITEM,
    LANDING_WEIGHTS,
    MENU,
    ORDER,
    ORDER_VARIANTS,
    REGULARS_DIVISOR,
    SCANNER_IPS,
)


@dataclass
class BatchLines:
    """Lines of a batch (or of one kind of traffic in it) as table indexes, in no order yet."""

    moment: np.ndarray  # ms since the epoch
    ip: np.ndarray
    template: np.ndarray
    referer: np.ndarray

    @staticmethod
    def empty() -> BatchLines:
        z = np.zeros(0, dtype=np.int64)
        return BatchLines(z, z, z, z)


class BatchMaker:
    """Makes the lines of batch after batch of one run (`make(index)`)."""

    def __init__(self, tables: Tables) -> None:
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

    def make(self, index: int) -> BatchLines:
        """The lines of batch `index`: humans, bots and scanners, from the batch's stream."""
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
        return BatchLines(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(BatchLines))
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

    def _humans(self, rng: np.random.Generator, counts: np.ndarray) -> BatchLines:
        """Human lines: sessions drawn until their lines fill the slices' counts."""
        n = int(counts.sum())
        if n == 0:
            return BatchLines.empty()
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
        gaps = np.where(is_asset, pick(t.asset_gap_ms, rng.random(n)), 0)
        line_offset = offset[page] + within(gaps, page)
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
        return BatchLines(moment, visitor[line_session], line_template, line_referer)

    def _human_sessions(self, rng: np.random.Generator, m: int) -> tuple[np.ndarray, ...]:
        """m sessions: their pages, and each page's lines laid end to end."""
        t, options = self.t, self.t.options
        u = rng.random((m, 8))
        campaign = u[:, 7] < options.campaign_share
        landing = np.where(campaign, HOME, choose(t.landing_cum, u[:, 0]))
        go_on = u[:, 1] >= options.bounce
        # Who goes on sees a second page: after landing on the menu, at least one item.
        n_items = pick(t.items_table, u[:, 2])
        n_items = np.where(landing == MENU, np.maximum(n_items, 1), n_items) * go_on
        ordered = go_on & (u[:, 3] < self.order_chance)
        about = go_on & (u[:, 4] < ABOUT_SHARE) & (landing != ABOUT)
        to_menu = go_on & (landing != MENU)
        returning = u[:, 5] < options.returning_share
        campaign_idx = (u[:, 6] * len(CAMPAIGNS)).astype(np.int64)
        landing_ref = np.where(
            campaign,
            t.campaign_ref_arr[campaign_idx],
            t.external_ref_arr[choose(t.external_cum, u[:, 6])],
        )
        self.landed_home = landing == HOME
        # Pages, in the order of a visit: landing, menu, items, about, order.
        pages = 1 + to_menu + n_items + about + ordered
        session, pos = segments(pages)
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
        item = choose(t.item_cum, up[:, 0])
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
        think = np.where(pos == 0, 0, pick(t.think_ms, up[:, 3]))
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
        page, j = segments(1 + pulled)
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

    def _bots(self, rng: np.random.Generator, counts: np.ndarray) -> BatchLines:
        """Crawler sessions (a few pages) and monitor checks (one request each)."""
        n = int(counts.sum())
        if n == 0:
            return BatchLines.empty()
        t = self.t
        m = max(8, n // 2)
        while True:
            u = rng.random((m, 3))
            agent = choose(t.bot_cum, u[:, 0])
            monitor = t.bot_is_monitor[agent]
            length = np.where(monitor, 1, 1 + pick(t.crawl_len_table, u[:, 1]))
            if int(length.sum()) >= n:
                break
            m *= 2
        ip = t.bot_ip_start_arr[agent] + (u[:, 2] * BOT_IPS_PER_AGENT).astype(np.int64)
        session, pos = segments(length)
        session, pos = session[:n], pos[:n]
        ul = rng.random((n, 3))
        crawl = t.crawl_t_arr[choose(t.crawl_cum, ul[:, 0])]
        crawl = np.where((pos == 0) & (ul[:, 1] < BOT_ROBOTS_SHARE), t.robots_t, crawl)
        template = np.where(
            monitor[session], np.where(ul[:, 1] < 0.5, t.monitor_head_t, t.home_t), crawl
        )
        gaps = np.where(pos == 0, 0, pick(t.crawl_gap_ms, ul[:, 2]))
        moment, _ = self._place(rng, counts, length, session, within(gaps, session))
        return BatchLines(moment, ip[session], template, np.full(n, t.no_referer))

    def _scanners(self, rng: np.random.Generator, counts: np.ndarray) -> BatchLines:
        """Scanner bursts: one address probing path after path, fast."""
        n = int(counts.sum())
        if n == 0:
            return BatchLines.empty()
        t = self.t
        m = max(4, n // 10)
        while True:
            u = rng.random((m, 2))
            length = 3 + pick(t.scan_len_table, u[:, 0])
            if int(length.sum()) >= n:
                break
            m *= 2
        ip = t.scanner_ip_start + (u[:, 1] * SCANNER_IPS).astype(np.int64)
        session, pos = segments(length)
        session, pos = session[:n], pos[:n]
        ul = rng.random((n, 2))
        template = t.scanner_t_arr[(ul[:, 0] * len(t.scanner_t_arr)).astype(np.int64)]
        gaps = np.where(pos == 0, 0, pick(t.scan_gap_ms, ul[:, 1]))
        moment, _ = self._place(rng, counts, length, session, within(gaps, session))
        return BatchLines(moment, ip[session], template, np.full(n, t.no_referer))
