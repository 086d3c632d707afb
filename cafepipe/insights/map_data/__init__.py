"""The report's world map: country outlines and a Robinson projection, all offline.

`world-110m.json` holds Natural Earth's 1:110m country outlines (public domain), as the npm
package `world-atlas` 2.0.2 ships them (ISC licence, © Michael Bostock), simplified by
`scripts/build_world_outlines.py` (about 50 KB). The projection is computed here, so the report
draws its map as plain SVG with no script, tile server or font request.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

# Robinson's table (Snyder, "Flattening the Earth", 1993): X and Y factors every 5° of latitude.
_ROBINSON = (
    (1.0000, 0.0000), (0.9986, 0.0620), (0.9954, 0.1240), (0.9900, 0.1860), (0.9822, 0.2480),
    (0.9730, 0.3100), (0.9600, 0.3720), (0.9427, 0.4340), (0.9216, 0.4958), (0.8962, 0.5571),
    (0.8679, 0.6176), (0.8350, 0.6769), (0.7986, 0.7346), (0.7597, 0.7903), (0.7186, 0.8435),
    (0.6732, 0.8936), (0.6213, 0.9394), (0.5722, 0.9761), (0.5322, 1.0000),
)  # fmt: skip
WIDTH = 1000.0  # the world's width in SVG units
_SCALE = WIDTH / (2 * 0.8487 * math.pi)
NORTH, SOUTH = 84.0, -57.0  # what the world view shows (no Antarctica, no polar sea)


def project(lon: float, lat: float) -> tuple[float, float]:
    """Robinson: (lon, lat) in degrees → (x, y) in SVG units, x 0..WIDTH, y down from 90°N."""
    position = min(abs(lat), 90.0) / 5
    low = min(int(position), 17)
    fraction = position - low
    (x0, y0), (x1, y1) = _ROBINSON[low], _ROBINSON[low + 1]
    factor_x = x0 + (x1 - x0) * fraction
    factor_y = y0 + (y1 - y0) * fraction
    x = 0.8487 * factor_x * math.radians(lon) * _SCALE + WIDTH / 2
    y = 1.3523 * factor_y * math.copysign(1.0, lat) * _SCALE
    return x, 1.3523 * _SCALE - y


@lru_cache(maxsize=1)
def _outlines() -> dict[str, Any]:
    text = resources.files(__name__).joinpath("world-110m.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class CountryShape:
    code: str  # ISO 3166-1 alpha-2
    name: str
    path: str  # SVG path data in the projection's units


@lru_cache(maxsize=1)
def country_shapes() -> tuple[CountryShape, ...]:
    """Every country's outline as SVG path data (computed once per process)."""
    shapes = []
    for country in _outlines()["countries"]:
        parts = []
        for ring in country["rings"]:
            points = [project(ring[i] / 10, ring[i + 1] / 10) for i in range(0, len(ring), 2)]
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z")
        shapes.append(CountryShape(country["code"], country["name"], "".join(parts)))
    return tuple(shapes)


@dataclass(frozen=True)
class View:
    """A rectangle of the projected world (SVG viewBox numbers)."""

    x: float
    y: float
    width: float
    height: float

    def holds(self, point: tuple[float, float]) -> bool:
        x, y = point
        return self.x <= x <= self.x + self.width and self.y <= y <= self.y + self.height

    @property
    def box(self) -> str:
        return f"{self.x:.1f} {self.y:.1f} {self.width:.1f} {self.height:.1f}"


def world_view() -> View:
    top = project(0, NORTH)[1]
    bottom = project(0, SOUTH)[1]
    return View(0.0, top, WIDTH, bottom - top)


def view_around(points: list[tuple[float, float]], aspect: float = 1.6) -> View:
    """A view that holds `points` (projected) with a margin, `aspect` wide to high."""
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    width = max((max(xs) - min(xs)) * 1.25, 90.0)
    height = max((max(ys) - min(ys)) * 1.35, 50.0)
    width = max(width, height * aspect)
    height = width / aspect
    centre_x = (max(xs) + min(xs)) / 2
    centre_y = (max(ys) + min(ys)) / 2
    return View(centre_x - width / 2, centre_y - height / 2, width, height)
