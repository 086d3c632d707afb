"""Log lines as text: a batch in time order, joined from pre-serialised pieces.

Lines are in ascending time order, all in `[start, end)`. Two formats:

- `json`: the deployed Apache's `cloudwatch` LogFormat (`templates/instance/httpd-cafe.conf.j2`),
  in its key order — `time` (`%Y-%m-%dT%H:%M:%S.mmmZ`, UTC), `process` (`%D`, µs), `filename`
  (`%f`), `remoteIP` (`%a`; behind CloudFront, the viewer's address), `host` (`%V`), `request`
  (`%U`), `query` (`%q`: `?a=b` or empty), `method` (`%m`), `status` (`%>s`), `bytes` (`%B`:
  body bytes, `0` for none), `userAgent`, `referer`, `country`, `region`, `city`, `lat`, `lon`
  (the `CloudFront-Viewer-*` headers). Every value is a JSON string, as Apache writes a
  LogFormat whose fields are all quoted (`"status":"%>s"`).
- `combined`: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"` (`%b` is `-` for no
  body), time zone `+0000`, the query string in the request line. No geo fields: a client
  address maps to its city with `cafepipe.cafe.geography.city_for_ip`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import numpy as np

from cafepipe.cafe import geography
from cafepipe.logs.generate.batches import BatchLines
from cafepipe.logs.generate.tables import PROCESS_VARIANTS, Tables

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _objects(items: Iterator[bytes] | Sequence[bytes]) -> np.ndarray:
    """A numpy array of bytes objects, to pick pieces with index arrays."""
    values = list(items)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


class Renderer:
    """Puts a batch's lines in time order and joins their pre-serialised pieces."""

    def __init__(self, tables: Tables) -> None:
        self.t = tables
        self.days: dict[int, str] = {}
        self.json = tables.options.log_format == "json"
        for text in (*tables.user_agents, *tables.referers, tables.options.host):
            if '"' in text or "\\" in text or not text.isascii():  # pragma: no cover
                raise AssertionError(f"would need escaping in a log line: {text!r}")
        self.n_ua, self.n_city = len(tables.user_agents), len(geography.CITIES)
        # The pieces hold the addresses from now on: the strings would double the memory.
        if self.json:
            self._build_json_pieces(tables.take_ips())
        else:
            self._build_combined_pieces(tables.take_ips())

    def _build_json_pieces(self, ips: list[str]) -> None:
        tables = self.t
        host = tables.options.host
        templates = tables.templates
        self.process_piece = _objects(str(us).encode() for us in tables.process_us)
        self.filename_piece = _objects(
            f'","filename":"{t.filename}","remoteIP":"'.encode() for t in templates
        )
        self.ip_piece = _objects(ip.encode() for ip in ips)
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
            for b in tables.bytes_flat.tolist()
            for ua in tables.user_agents
        )
        self.referer_geo_piece = _objects(
            (
                f'{ref}","country":"{c.country}","region":"{c.region}","city":"{c.name}",'
                f'"lat":"{c.lat:.2f}","lon":"{c.lon:.2f}"}}\n'
            ).encode()
            for ref in tables.referers
            for c in geography.CITIES
        )
        self.second_piece = _objects(f"{second:02d}.".encode() for second in range(60))
        self.ms_piece = _objects(f'{ms:03d}Z","process":"'.encode() for ms in range(1000))

    def _build_combined_pieces(self, ips: list[str]) -> None:
        tables = self.t
        self.ip_piece = _objects(f"{ip} - - [".encode() for ip in ips)
        self.second_piece = _objects(
            f'{second:02d} +0000] "{t.method} {t.path}{t.query} HTTP/1.1" {t.status} '.encode()
            for second in range(60)
            for t in tables.templates
        )
        self.bytes_piece = _objects(
            f'{b if b else "-"} "'.encode() for b in tables.bytes_flat.tolist()
        )
        self.ref_ua_piece = _objects(
            f'{ref}" "{ua}"\n'.encode() for ref in tables.referers for ua in tables.user_agents
        )

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

    def order(self, lines: BatchLines) -> tuple[np.ndarray, ...]:
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
            variant = (u[:, 1] * PROCESS_VARIANTS).astype(np.int64)
            process = t.process_class_t[template] * PROCESS_VARIANTS + variant
            # Nine pieces from small tables beat fewer from big ones: joining is bound by
            # cache misses on the pieces, not by their number.
            pieces = np.empty((n, 9), dtype=object)
            pieces[:, 0] = minutes
            pieces[:, 1] = self.second_piece[in_minute // 1000]
            pieces[:, 2] = self.ms_piece[in_minute % 1000]
            pieces[:, 3] = self.process_piece[process]
            pieces[:, 4] = self.filename_piece[template]
            pieces[:, 5] = self.ip_piece[ip]
            pieces[:, 6] = self.request_piece[template]
            pieces[:, 7] = self.bytes_ua_piece[size * self.n_ua + ua]
            pieces[:, 8] = self.referer_geo_piece[referer * self.n_city + t.ip_city[ip]]
        else:
            pieces = np.empty((n, 5), dtype=object)
            pieces[:, 0] = self.ip_piece[ip]
            pieces[:, 1] = minutes
            pieces[:, 2] = self.second_piece[in_minute // 1000 * len(t.templates) + template]
            pieces[:, 3] = self.bytes_piece[size]
            pieces[:, 4] = self.ref_ua_piece[referer * self.n_ua + ua]
        return b"".join(pieces.ravel().tolist()), size
