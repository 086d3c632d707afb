#!/usr/bin/env python3
"""Build the report map's country outlines from Natural Earth 1:110m, as `world-atlas` ships it.

Source: the npm package `world-atlas` 2.0.2 (ISC licence, © Michael Bostock), whose
`countries-110m.json` is TopoJSON made from Natural Earth's 1:110m Admin 0 countries (public
domain, naturalearthdata.com). What is kept (`cafepipe/insights/map_data/world-110m.json`):
each country's ISO 3166-1 alpha-2 code, name, and rings as flat [lon, lat, …] lists in tenths of
a degree, every shared border simplified once (Douglas-Peucker, `TOLERANCE` degrees) so that
neighbours still meet; Antarctica and rings smaller than `MIN_AREA` square degrees are left out.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    .venv/bin/pip install pycountry   # numeric → alpha-2 codes, at build time only
    .venv/bin/python scripts/build_world_outlines.py package/countries-110m.json

The output is deterministic (sorted countries, fixed rounding).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

TOLERANCE = 0.25  # degrees: well under a pixel of the report's world map
MIN_AREA = 0.6  # square degrees: smaller islands do not show at that size
OUT = Path(__file__).resolve().parent.parent / "cafepipe" / "insights" / "map_data"
LEFT_OUT = {"010"}  # Antarctica: no café customers, and a third of the map's height
# Natural Earth's own ids for places ISO has no code for (or pycountry names differently).
EXTRA_CODES = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Delta-encoded, quantized TopoJSON arcs → lists of (lon, lat)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker, keeping both ends (the nodes where borders meet)."""
    if len(points) < 3:
        return points
    (ax, ay), (bx, by) = points[0], points[-1]
    length = math.hypot(bx - ax, by - ay)
    farthest, distance = 0, -1.0
    for index in range(1, len(points) - 1):
        px, py = points[index]
        if length:
            d = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
        else:
            d = math.hypot(px - ax, py - ay)
        if d > distance:
            farthest, distance = index, d
    if distance <= tolerance:
        return [points[0], points[-1]]
    left = simplify(points[: farthest + 1], tolerance)
    return left[:-1] + simplify(points[farthest:], tolerance)


def ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def area(points: list[tuple[float, float]]) -> float:
    pairs = zip(points, points[1:] + points[:1], strict=True)
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairs)) / 2


def build(topology: dict[str, Any]) -> dict[str, Any]:
    import pycountry

    arcs = [simplify(arc, TOLERANCE) for arc in decode_arcs(topology)]
    countries = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry.get("id") in LEFT_OUT or "arcs" not in geometry:
            continue
        name = geometry["properties"]["name"]
        found = pycountry.countries.get(numeric=geometry["id"]) if "id" in geometry else None
        code = found.alpha_2 if found else EXTRA_CODES.get(name, "")
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        rings = []
        for polygon in polygons:
            for number, indexes in enumerate(polygon):
                points = ring(arcs, indexes)
                # An outer ring too small to see goes, with its holes; a small hole goes too.
                if area(points) < MIN_AREA:
                    if number == 0:
                        break
                    continue
                rings.append([round(v * 10) for point in points[:-1] for v in point])
        if rings:
            countries.append({"code": code, "name": name, "rings": rings})
    countries.sort(key=lambda country: (country["code"], country["name"]))
    return {
        "source": "Natural Earth 1:110m Admin 0 countries (public domain), via the npm package "
        "world-atlas 2.0.2 (ISC, Michael Bostock); simplified by scripts/build_world_outlines.py",
        "units": "tenths of a degree, [lon, lat, lon, lat, ...] per ring",
        "countries": countries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("topojson", type=Path, help="world-atlas's countries-110m.json")
    args = parser.parse_args()
    data = build(json.loads(args.topojson.read_text(encoding="utf-8")))
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "world-110m.json"
    target.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    points = sum(len(r) // 2 for c in data["countries"] for r in c["rings"])
    print(
        f"{target}: {len(data['countries'])} countries, {points} points, "
        f"{target.stat().st_size:,} bytes"
    )


if __name__ == "__main__":
    main()
