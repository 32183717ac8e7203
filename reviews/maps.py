"""The review's map: the city's neighborhood outlines as inline SVG, with the activation's place on it.

No tiles, no scripts, no external assets: the page must work on a phone on a poor connection and print
as it looks. Coordinates are projected with a plain equirectangular projection scaled by the cosine of
the middle latitude, which at city scale is indistinguishable from a proper map projection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import h3
import yaml
from shapely.geometry import mapping, shape

from stream.core.deployment import DeploymentPaths

# Rings in GeoJSON order: (longitude, latitude) pairs.
Ring = Sequence[Sequence[float]]

NO_LOCATION = "no location (hospital arrival)"
FILL = "#eceff1"
STROKE = "#8a939b"
HIGHLIGHT_FILL = "#ffe08a"
HIGHLIGHT_STROKE = "#8a6d00"
CELL_FILL = "#c62828"
CELL_STROKE = "#5d0f0f"


def _polygons(geometry: Any) -> list[list[Ring]]:
    """A GeoJSON Polygon/MultiPolygon (a dict, or anything with ``__geo_interface__``) as polygons of rings."""
    data = geometry.__geo_interface__ if hasattr(geometry, "__geo_interface__") else geometry
    kind = data.get("type")
    if kind == "Polygon":
        return [list(data["coordinates"])]
    if kind == "MultiPolygon":
        return [list(polygon) for polygon in data["coordinates"]]
    raise ValueError(f"a neighborhood must be a Polygon or MultiPolygon, not {kind!r}")


def cell_ring(cell: str) -> list[tuple[float, float]]:
    """The H3 cell's boundary as (longitude, latitude) pairs; ValueError for something that is not a cell."""
    if not isinstance(cell, str) or not h3.is_valid_cell(cell):
        raise ValueError(f"not an H3 cell: {cell!r}")
    return [(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]


class _Projection:
    """Longitude/latitude to SVG pixels, fitted to a bounding box and a width."""

    def __init__(self, points: Iterable[Sequence[float]], width: int, margin: float):
        lons, lats = zip(*((p[0], p[1]) for p in points), strict=True)
        self.west, self.north = min(lons), max(lats)
        self.k = math.cos(math.radians((min(lats) + max(lats)) / 2))
        span_x = (max(lons) - self.west) * self.k
        span_y = self.north - min(lats)
        # fitted to the width; a lone cell (a degenerate box) still gets a finite scale
        self.scale = (width - 2 * margin) / max(span_x, span_y / 4, 1e-6)
        self.margin = margin
        self.width = width
        self.height = max(1, math.ceil(span_y * self.scale + 2 * margin))

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (round(self.margin + (lon - self.west) * self.k * self.scale, 1),
                round(self.margin + (self.north - lat) * self.scale, 1))


def _ring_path(ring: Ring, project: _Projection) -> str:
    points: list[tuple[float, float]] = []
    for lon, lat, *_ in ring:
        xy = project(lon, lat)
        # vertices closer than the rounding collapse: most of a surveyed outline is invisible at this scale
        if not points or points[-1] != xy:
            points.append(xy)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        return ""
    head, *rest = points
    return f"M{head[0]:g} {head[1]:g}" + "".join(f"L{x:g} {y:g}" for x, y in rest) + "Z"


def neighborhood_map_svg(neighborhoods: Mapping[str, Any], cell: str | None, highlight: str | None, width: int = 480,
                         *, margin: float = 8.0) -> str:
    """An inline SVG of the neighborhood outlines, ``highlight`` filled, and the H3 ``cell`` as a filled hexagon.

    ``neighborhoods`` maps a name to its GeoJSON Polygon/MultiPolygon (lon/lat). The view fits the outlines
    and the cell, so a cell outside the city is still drawn. Names are escaped. With no cell the outlines are
    drawn alone, captioned with ``NO_LOCATION``. A pure function: same input, same text.
    """
    if width <= 2 * margin:
        raise ValueError(f"the map width must be more than twice the margin, got {width}")
    shapes = [(str(name), _polygons(geometry)) for name, geometry in neighborhoods.items()]
    hexagon = cell_ring(cell) if cell is not None else None
    points = [p for _, polygons in shapes for polygon in polygons for ring in polygon for p in ring] + (hexagon or [])
    if not points:
        raise ValueError("nothing to draw: no neighborhoods and no cell")
    project = _Projection(points, width, margin)

    def path(polygons: list[list[Ring]]) -> str:
        return "".join(_ring_path(ring, project) for polygon in polygons for ring in polygon)

    if hexagon is not None:
        label = f"Map of the neighborhoods; the activation's H3 cell{' in ' + highlight if highlight else ''} is marked in red"
    else:
        label = f"Map of the neighborhoods: {NO_LOCATION}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {project.width} {project.height}" '
        f'width="{project.width}" height="{project.height}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<g class="neighborhoods" fill="{FILL}" stroke="{STROKE}" stroke-width="0.6" fill-rule="evenodd">',
    ]
    # the highlighted one is drawn last so that its outline is not hidden under its neighbours'
    ordered = sorted(shapes, key=lambda item: item[0] == highlight)
    for name, polygons in ordered:
        d = path(polygons)
        if not d:
            continue
        if name == highlight:
            out.append(f'<path class="highlight" d="{d}" fill="{HIGHLIGHT_FILL}" stroke="{HIGHLIGHT_STROKE}" stroke-width="1.5">'
                       f"<title>{escape(name)}</title></path>")
        else:
            out.append(f'<path d="{d}"><title>{escape(name)}</title></path>')
    out.append("</g>")
    if hexagon is not None:
        xy = [project(lon, lat) for lon, lat in hexagon]
        points_attr = " ".join(f"{x:g},{y:g}" for x, y in xy)
        cx = round(sum(x for x, _ in xy) / len(xy), 1)
        cy = round(sum(y for _, y in xy) / len(xy), 1)
        # a cell is a few pixels wide at city scale: the ring makes it findable at a glance
        out.append(f'<circle class="marker" cx="{cx:g}" cy="{cy:g}" r="14" fill="none" stroke="{CELL_FILL}" stroke-width="2"/>')
        out.append(f'<polygon class="cell" points="{points_attr}" fill="{CELL_FILL}" fill-opacity="0.85" stroke="{CELL_STROKE}" '
                   f'stroke-width="1"><title>H3 cell {escape(cell or "")}</title></polygon>')
    else:
        out.append(f'<text x="{project.width / 2:g}" y="{margin + 14:g}" text-anchor="middle" font-size="14" fill="#333">'
                   f"{escape(NO_LOCATION)}</text>")
    out.append("</svg>")
    return "\n".join(out)


@lru_cache(maxsize=4)
def load_neighborhoods(teams_file: Path | None = None, tolerance_deg: float = 0.00005) -> dict[str, dict[str, Any]]:
    """The neighborhood polygons named in a teams file's ``city:`` section (the bundled Minneapolis one by default).

    Outlines are simplified by ``tolerance_deg`` (about 5 m): the surveyed polygons have ~20,000 vertices,
    far more than a phone-sized map can show, and every review page carries the map inline.
    """
    teams_file = teams_file or DeploymentPaths.bundled().teams
    spec = yaml.safe_load(teams_file.read_text(encoding="utf-8"))
    layer = spec["city"]["neighborhoods"]
    collection = json.loads((teams_file.parent / layer["file"]).read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for feature in collection["features"]:
        name = str(feature["properties"][layer["name_field"]]).strip()
        geometry = shape(feature["geometry"])
        out[name] = mapping(geometry.simplify(tolerance_deg, preserve_topology=True) if tolerance_deg > 0 else geometry)
    return out
