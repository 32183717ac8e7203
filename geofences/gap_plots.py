"""The two pictures of the coverage-gap report: a map of uncovered shootings and a weekday x hour heat strip.

Pure rendering: callers hand in counts already computed; nothing here knows about teams, shifts or events.
Both functions draw offline (no map tiles, no network) with matplotlib's Agg backend and write a PNG whose
bytes depend only on the input, so a report rebuilt from the same data is byte-identical.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from numbers import Integral
from pathlib import Path

import h3
import matplotlib

# Reports are built on servers and in CI; selecting Agg before pyplot loads means no display is ever needed.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colorbar import Colorbar  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from shapely.geometry import shape  # noqa: E402
from shapely.geometry.base import BaseGeometry  # noqa: E402

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = 24

# Minneapolis sits at ~45°N: one degree of longitude is cos(45°) as long as one of latitude on the ground.
_MAP_ASPECT = 1.0 / math.cos(math.radians(45.0))
_MAP_SIZE_IN = (10.0, 10.0)
_MAP_DPI = 140
_STRIP_SIZE_IN = (16.0, 4.5)
_STRIP_DPI = 100

# PNG metadata defaults to a "Software: matplotlib <version>" chunk; dropping it keeps bytes stable across upgrades.
_PNG_METADATA: dict[str, str | None] = {"Software": None}

# Sequential, colour-blind-tolerable and printable in greyscale; the palest tail is cut off so a count of 1
# still stands out from the white background and the grey outlines.
_CMAP = mcolors.LinearSegmentedColormap.from_list("vigil_gap", plt.get_cmap("YlOrRd")(np.linspace(0.18, 1.0, 256)))
_NEIGHBORHOOD_LINE = {"colors": "#9a9a9a", "linewidths": 0.5}
_COMMUNITY_LINE = {"colors": "#333333", "linewidths": 1.6}
# Counts up to this many get one colour step per integer; beyond it a continuous scale reads better.
_MAX_DISCRETE_STEPS = 12


def render_gap_map(
    cell_counts: Mapping[str, int],
    out: Path,
    *,
    neighborhoods: Path,
    communities: Path,
    title: str,
    subtitle: str = "",
) -> Path:
    """Draw uncovered shootings per H3 cell over the Minneapolis neighbourhood and community outlines.

    ``cell_counts`` maps H3 cell ids (strings, any resolution; the report uses 9) to the number of
    shootings in that cell with no street team on shift. Cells with a count of 0 are not drawn.
    ``neighborhoods`` and ``communities`` are the lon/lat GeoJSON files of ``geofences/minneapolis``
    (name fields ``BDNAME`` and ``CommName``); community names are written at each community's
    representative point. Writes a PNG to ``out`` (creating its folder) and returns ``out``.

    Raises ``ValueError`` for an invalid cell id or a negative / non-integer count.
    """
    cells = _validated_cells(cell_counts)
    neighborhood_geoms = [geom for geom, _ in _read_layer(neighborhoods, "BDNAME")]
    community_layer = _read_layer(communities, "CommName")

    fig, ax = plt.subplots(figsize=_MAP_SIZE_IN, dpi=_MAP_DPI)
    try:
        ax.set_aspect(_MAP_ASPECT)
        ax.set_axis_off()

        # h3 returns (lat, lng); matplotlib wants (x=lon, y=lat).
        polygons = [[(lng, lat) for lat, lng in h3.cell_to_boundary(cell)] for cell, _ in cells]
        values = np.array([count for _, count in cells], dtype=float)
        vmax = int(values.max()) if len(values) else 1
        cmap, norm = _count_scale(vmax)
        fill = PolyCollection(polygons, cmap=cmap, norm=norm, edgecolors="none", zorder=1)
        fill.set_array(values)
        ax.add_collection(fill)

        ax.add_collection(LineCollection(list(_rings(neighborhood_geoms)), zorder=2, **_NEIGHBORHOOD_LINE))
        ax.add_collection(LineCollection(list(_rings([g for g, _ in community_layer])), zorder=3, **_COMMUNITY_LINE))

        # A white halo keeps the names legible over dark cells and crossing outlines.
        halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
        for geom, name in community_layer:
            point = geom.representative_point()
            ax.text(
                point.x,
                point.y,
                name,
                fontsize=8.5,
                color="#1a1a1a",
                ha="center",
                va="center",
                zorder=4,
                path_effects=halo,
            )

        # Frame the city, widened for any cell lying outside it, so nothing the caller counted is cut off.
        xs = [x for geom, _ in community_layer for x in geom.bounds[0::2]]
        ys = [y for geom, _ in community_layer for y in geom.bounds[1::2]]
        xs += [x for poly in polygons for x, _ in poly]
        ys += [y for poly in polygons for _, y in poly]
        if xs:
            pad_x = (max(xs) - min(xs)) * 0.02 or 0.01
            pad_y = (max(ys) - min(ys)) * 0.02 or 0.01
            ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
            ax.set_ylim(min(ys) - pad_y, max(ys) + pad_y)

        bar = fig.colorbar(fill, ax=ax, shrink=0.6, pad=0.02, aspect=30)
        bar.set_label("uncovered shootings per cell", fontsize=10)
        _integer_ticks(bar, vmax)

        _titles(ax, title, subtitle)
        if not cells:
            # Below the frame, where it cannot collide with the city outline.
            ax.text(
                0.5,
                -0.01,
                "No uncovered shootings in this period.",
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=11,
                color="#555555",
            )
        return _save(fig, out)
    finally:
        plt.close(fig)


def render_heat_strip(counts: Sequence[Sequence[int]], out: Path, *, title: str, subtitle: str = "") -> Path:
    """Draw a weekday x hour heat strip of uncovered shootings.

    ``counts`` has 7 rows (Monday first, drawn on top) of 24 non-negative integers (local hours 00..23).
    Non-zero cells carry their count as text. Writes a PNG to ``out`` (creating its folder), sized to
    read at 1400 px wide, and returns ``out``.

    Raises ``ValueError`` naming the first problem if ``counts`` is not 7 x 24 non-negative integers.
    """
    grid = _validated_grid(counts)
    vmax = max(1, int(grid.max()))
    cmap, norm = _count_scale(vmax)

    fig, ax = plt.subplots(figsize=_STRIP_SIZE_IN, dpi=_STRIP_DPI)
    try:
        # Zeros are masked to a neutral grey so "none" reads differently from "a few".
        shown = np.ma.masked_equal(grid, 0)
        cmap = cmap.with_extremes(bad="#f3f3f3")
        image = ax.imshow(shown, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")

        for row in range(len(WEEKDAYS)):
            for hour in range(HOURS):
                value = int(grid[row, hour])
                if value:
                    ax.text(
                        hour,
                        row,
                        str(value),
                        ha="center",
                        va="center",
                        fontsize=10,
                        color=_ink_on(cmap(norm(value))),
                    )

        ax.set_yticks(range(len(WEEKDAYS)), WEEKDAYS, fontsize=10)
        ax.set_xticks(range(0, HOURS, 2), [f"{h:02d}" for h in range(0, HOURS, 2)], fontsize=10)
        ax.set_xlabel("hour of day (local time)", fontsize=10)
        # White gridlines on the cell edges separate neighbouring cells of similar colour.
        ax.set_xticks(np.arange(-0.5, HOURS, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, len(WEEKDAYS), 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.2)
        ax.tick_params(which="minor", length=0)
        ax.tick_params(which="major", length=3)
        for spine in ax.spines.values():
            spine.set_visible(False)

        bar = fig.colorbar(image, ax=ax, pad=0.015, aspect=15, fraction=0.03)
        bar.set_label("uncovered shootings", fontsize=10)
        _integer_ticks(bar, vmax)

        _titles(ax, title, subtitle)
        return _save(fig, out)
    finally:
        plt.close(fig)


def _validated_cells(cell_counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Non-zero cells, sorted so drawing order (and therefore the bytes) never depends on dict order."""
    cells: list[tuple[str, int]] = []
    for cell, count in cell_counts.items():
        if not isinstance(cell, str) or not h3.is_valid_cell(cell):
            raise ValueError(f"not an H3 cell id: {cell!r}")
        if isinstance(count, bool) or not isinstance(count, Integral) or count < 0:
            raise ValueError(f"count for cell {cell} must be a non-negative integer, got {count!r}")
        if count:
            cells.append((cell, int(count)))
    return sorted(cells)


def _validated_grid(counts: Sequence[Sequence[int]]) -> np.ndarray:
    if isinstance(counts, np.ndarray):
        counts = counts.tolist()
    if isinstance(counts, (str, bytes)) or not isinstance(counts, Sequence):
        raise ValueError(f"counts must be a sequence of 7 rows (Mon..Sun), got {type(counts).__name__}")
    if len(counts) != len(WEEKDAYS):
        raise ValueError(f"counts must have 7 rows (Mon..Sun), got {len(counts)}")
    for day, row in zip(WEEKDAYS, counts, strict=True):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise ValueError(f"row {day} must be a sequence of 24 hours, got {type(row).__name__}")
        if len(row) != HOURS:
            raise ValueError(f"row {day} must have 24 hours (00..23), got {len(row)}")
        for hour, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
                raise ValueError(f"count at {day} {hour:02d}:00 must be a non-negative integer, got {value!r}")
    return np.array(counts, dtype=np.int64)


def _count_scale(vmax: int) -> tuple[mcolors.Colormap, mcolors.Normalize]:
    """Colour map and norm for counts 1..vmax; zero is never coloured (not drawn, or neutral grey).

    Small counts get one colour step per integer, so a planner reads "3" off the bar and a lone 1 is
    always the palest step (rather than whatever mid-ramp colour a one-bin scale would pick).
    """
    if vmax <= _MAX_DISCRETE_STEPS:
        steps = max(vmax, 1)
        listed = mcolors.ListedColormap(_CMAP(np.linspace(0.0, 1.0, steps) if steps > 1 else [0.0]))
        return listed, mcolors.BoundaryNorm(np.arange(0.5, steps + 1.0, 1.0), steps)
    return _CMAP, mcolors.Normalize(vmin=1, vmax=vmax)


def _integer_ticks(bar: Colorbar, vmax: int) -> None:
    if vmax <= _MAX_DISCRETE_STEPS:
        bar.set_ticks(range(1, max(vmax, 1) + 1))
    else:
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
    bar.ax.tick_params(labelsize=9)


def _ink_on(rgba: tuple[float, float, float, float]) -> str:
    """Black or white text, whichever contrasts with the fill (relative luminance, sRGB approximation)."""
    red, green, blue = rgba[:3]
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "black" if luminance > 0.5 else "white"


def _read_layer(path: Path, name_field: str) -> list[tuple[BaseGeometry, str]]:
    with Path(path).open(encoding="utf-8") as handle:
        collection = json.load(handle)
    layer = []
    for feature in collection.get("features", []):
        if not feature.get("geometry"):
            continue
        layer.append((shape(feature["geometry"]), str(feature.get("properties", {}).get(name_field, ""))))
    return layer


def _rings(geoms: Sequence[BaseGeometry]) -> Iterator[list[tuple[float, float]]]:
    """Every exterior and interior ring of (Multi)Polygons, as (lon, lat) lines; holes get outlines too."""
    for geom in geoms:
        parts = getattr(geom, "geoms", [geom])
        for polygon in parts:
            if polygon.geom_type != "Polygon":
                continue
            yield [(x, y) for x, y, *_ in polygon.exterior.coords]
            for hole in polygon.interiors:
                yield [(x, y) for x, y, *_ in hole.coords]


def _titles(ax: plt.Axes, title: str, subtitle: str) -> None:
    ax.set_title(title, loc="left", fontsize=15, fontweight="bold", pad=24 if subtitle else 10)
    if subtitle:
        ax.annotate(
            subtitle,
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(0, 8),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=10.5,
            color="#444444",
        )


def _save(fig: plt.Figure, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight", pad_inches=0.2, facecolor="white", metadata=_PNG_METADATA)
    return out
