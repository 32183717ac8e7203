"""The coverage-gap report's pictures: real PNGs, offline, deterministic, and showing the counts where they belong."""

from __future__ import annotations

from pathlib import Path

import h3
import matplotlib.image as mpimg
import numpy as np
import pytest

from geofences.gap_plots import render_gap_map, render_heat_strip
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS

CITY = Path(__file__).resolve().parents[2] / "geofences" / "minneapolis"
LAYERS = {"neighborhoods": CITY / "neighborhoods.geojson", "communities": CITY / "communities.geojson"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

JORDAN_CELL = h3.latlng_to_cell(*JORDAN, 9)
PHILLIPS_CELL = h3.latlng_to_cell(*MIDTOWN_PHILLIPS, 9)


def _zeros() -> list[list[int]]:
    return [[0] * 24 for _ in range(7)]


def _pixels(path: Path) -> np.ndarray:
    """RGB floats in 0..1, after checking the file really is a PNG."""
    assert path.read_bytes()[:8] == PNG_MAGIC
    return mpimg.imread(path)[..., :3]


def _map(tmp_path: Path, name: str, cells: dict[str, int]) -> Path:
    return render_gap_map(cells, tmp_path / name, title="Uncovered shootings", subtitle="June 2026", **LAYERS)


# --- the map -------------------------------------------------------------------------------------------------


def test_the_map_is_a_png_of_plausible_size_in_a_folder_it_creates(tmp_path: Path) -> None:
    out = tmp_path / "report" / "figures" / "gap.png"
    returned = render_gap_map({JORDAN_CELL: 3, PHILLIPS_CELL: 1}, out, title="t", **LAYERS)

    assert returned == out
    height, width, _ = _pixels(out).shape
    # 10 x 10 in at 140 dpi, cropped tight around a city taller than it is wide.
    assert 900 <= height <= 1500
    assert 500 <= width <= 1400
    assert height > width


def test_a_map_with_no_cells_still_renders(tmp_path: Path) -> None:
    height, width, _ = _pixels(_map(tmp_path, "empty.png", {})).shape
    assert height > 500 and width > 500


def test_cells_change_the_map(tmp_path: Path) -> None:
    empty = _pixels(_map(tmp_path, "empty.png", {}))
    with_cells = _pixels(_map(tmp_path, "cells.png", {JORDAN_CELL: 4, PHILLIPS_CELL: 2}))

    # The empty map carries a note below the frame, so compare the part both images share (top-left anchored).
    height, width = min(empty.shape[0], with_cells.shape[0]), min(empty.shape[1], with_cells.shape[1])
    changed = np.abs(empty[:height, :width] - with_cells[:height, :width]).max(axis=2) > 0.2
    assert changed.sum() > 100


def test_the_map_draws_the_cells_in_the_right_places(tmp_path: Path) -> None:
    """Jordan (north) appears above Midtown Phillips (south): the (lat, lng) order of h3 is respected."""
    reference = _pixels(_map(tmp_path, "ref.png", {JORDAN_CELL: 1, PHILLIPS_CELL: 1}))
    north = _pixels(_map(tmp_path, "north.png", {JORDAN_CELL: 1}))
    south = _pixels(_map(tmp_path, "south.png", {PHILLIPS_CELL: 1}))
    assert reference.shape == north.shape == south.shape

    # Dropping a cell leaves its hexagon white; the rows where that happens locate the cell on the image.
    jordan_rows = np.nonzero(np.abs(reference - south).max(axis=(1, 2)) > 0.2)[0]
    phillips_rows = np.nonzero(np.abs(reference - north).max(axis=(1, 2)) > 0.2)[0]
    assert len(jordan_rows) and len(phillips_rows)
    assert jordan_rows.max() < phillips_rows.min()


def test_zero_counts_are_not_drawn(tmp_path: Path) -> None:
    empty = _map(tmp_path, "empty.png", {})
    zero = _map(tmp_path, "zero.png", {JORDAN_CELL: 0})
    assert zero.read_bytes() == empty.read_bytes()


def test_the_map_is_byte_for_byte_deterministic_and_carries_no_version_or_date(tmp_path: Path) -> None:
    first = _map(tmp_path, "a.png", {JORDAN_CELL: 2, PHILLIPS_CELL: 5})
    second = _map(tmp_path, "b.png", {PHILLIPS_CELL: 5, JORDAN_CELL: 2})

    assert first.read_bytes() == second.read_bytes()
    for chunk in (b"tIME", b"matplotlib", b"Software"):
        assert chunk not in first.read_bytes()


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"not-a-cell": 1}, "not an H3 cell id: 'not-a-cell'"),
        ({JORDAN_CELL: -1}, f"count for cell {JORDAN_CELL} must be a non-negative integer, got -1"),
        ({JORDAN_CELL: 1.5}, f"count for cell {JORDAN_CELL} must be a non-negative integer, got 1.5"),
    ],
)
def test_bad_cell_counts_are_refused(tmp_path: Path, cells: dict, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        _map(tmp_path, "bad.png", cells)
    assert str(raised.value) == message
    assert not (tmp_path / "bad.png").exists()


# --- the heat strip ------------------------------------------------------------------------------------------


def _strip(tmp_path: Path, name: str, counts) -> Path:
    return render_heat_strip(counts, tmp_path / name, title="Uncovered shootings by weekday and hour", subtitle="June")


def _grid_span(grey_per_line: np.ndarray) -> tuple[int, int]:
    """The longest run of image rows (or columns) that are mostly neutral grey: the heat grid's extent.

    Anti-aliased text and the colour bar's outline have stray pixels of that grey, even whole one-pixel
    lines of it, but only the grid has it over a long unbroken run (white gridlines excepted, hence the gap).
    """
    lines = np.nonzero(grey_per_line > 0.5 * grey_per_line.max())[0]
    runs = np.split(lines, np.nonzero(np.diff(lines) > 6)[0] + 1)
    longest = max(runs, key=lambda run: run[-1] - run[0])
    return int(longest[0]), int(longest[-1]) + 1


def _cell_luminance(tmp_path: Path, counts: list[list[int]]) -> np.ndarray:
    """Mean luminance of each of the 7 x 24 cells of a rendered strip.

    The grid is found on the all-zero strip, whose every cell is the neutral grey and nothing else is;
    both strips share one layout because the colour bar of an all-zero strip is the same as for max 1.
    """
    blank = _pixels(_strip(tmp_path, "blank.png", _zeros()))
    grey = np.all(np.abs(blank - 0xF3 / 255) < 0.01, axis=2)
    top, bottom = _grid_span(grey.sum(axis=1))
    left, right = _grid_span(grey.sum(axis=0))

    image = _pixels(_strip(tmp_path, "strip.png", counts))
    assert image.shape == blank.shape
    luminance = image @ np.array([0.2126, 0.7152, 0.0722])
    row_edges = np.linspace(top, bottom, 8).round().astype(int)
    col_edges = np.linspace(left, right, 25).round().astype(int)
    return np.array(
        [
            [luminance[row_edges[r] : row_edges[r + 1], col_edges[c] : col_edges[c + 1]].mean() for c in range(24)]
            for r in range(7)
        ]
    )


def test_the_strip_is_a_png_readable_at_1400_px_in_a_folder_it_creates(tmp_path: Path) -> None:
    out = tmp_path / "report" / "heat.png"
    counts = _zeros()
    counts[4][22] = 3
    assert render_heat_strip(counts, out, title="t") == out

    height, width, _ = _pixels(out).shape
    assert 1150 <= width <= 1500
    assert 250 <= height <= 600


def test_a_strip_of_zeros_still_renders(tmp_path: Path) -> None:
    height, width, _ = _pixels(_strip(tmp_path, "zeros.png", _zeros())).shape
    assert width > height > 200


@pytest.mark.parametrize(("day", "hour"), [(5, 23), (0, 0), (6, 12)], ids=["Sat-23h", "Mon-00h", "Sun-12h"])
def test_the_hot_cell_is_the_darkest_cell_where_it_belongs(tmp_path: Path, day: int, hour: int) -> None:
    """Monday is the top row, 00:00 the leftmost column, and the highest count the darkest fill."""
    counts = [[1] * 24 for _ in range(7)]
    counts[day][hour] = 9

    luminance = _cell_luminance(tmp_path, counts)

    assert np.unravel_index(luminance.argmin(), luminance.shape) == (day, hour)
    others = np.delete(luminance.ravel(), day * 24 + hour)
    assert luminance[day, hour] < others.min() - 0.15


def test_counts_colour_only_their_cells(tmp_path: Path) -> None:
    counts = _zeros()
    counts[5][23] = 2
    luminance = _cell_luminance(tmp_path, counts)

    grey_level = 0xF3 / 255
    empty = np.delete(luminance.ravel(), 5 * 24 + 23)
    # Cell means include the white gridlines at their edges, so they are a little above the grey itself.
    assert np.all(np.abs(empty - grey_level) < 0.05)
    assert luminance[5, 23] < grey_level - 0.1


def test_the_strip_accepts_a_numpy_array_and_is_deterministic(tmp_path: Path) -> None:
    counts = np.arange(168, dtype=np.int64).reshape(7, 24) % 5
    first = _strip(tmp_path, "a.png", counts)
    second = _strip(tmp_path, "b.png", counts.tolist())
    assert first.read_bytes() == second.read_bytes()
    for chunk in (b"tIME", b"matplotlib", b"Software"):
        assert chunk not in first.read_bytes()


def _with(day: int, hour: int, value: object) -> list[list[object]]:
    counts: list[list[object]] = [list(row) for row in _zeros()]
    counts[day][hour] = value
    return counts


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (_zeros()[:6], "counts must have 7 rows (Mon..Sun), got 6"),
        (_zeros() + [[0] * 24], "counts must have 7 rows (Mon..Sun), got 8"),
        ([[0] * 24] * 2 + [[0] * 23] + [[0] * 24] * 4, "row Wed must have 24 hours (00..23), got 23"),
        ([[0] * 24] * 6 + [[0] * 25], "row Sun must have 24 hours (00..23), got 25"),
        ([[0] * 24] * 6 + [5], "row Sun must be a sequence of 24 hours, got int"),
        (42, "counts must be a sequence of 7 rows (Mon..Sun), got int"),
        ("7x24", "counts must be a sequence of 7 rows (Mon..Sun), got str"),
        (_with(5, 23, -1), "count at Sat 23:00 must be a non-negative integer, got -1"),
        (_with(0, 0, 1.5), "count at Mon 00:00 must be a non-negative integer, got 1.5"),
        (_with(2, 7, True), "count at Wed 07:00 must be a non-negative integer, got True"),
        (_with(3, 9, "3"), "count at Thu 09:00 must be a non-negative integer, got '3'"),
        (np.zeros((7, 23), dtype=int), "row Mon must have 24 hours (00..23), got 23"),
    ],
)
def test_bad_shapes_and_values_are_refused_with_the_problem_named(tmp_path: Path, counts, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        _strip(tmp_path, "bad.png", counts)
    assert str(raised.value) == message
    assert not (tmp_path / "bad.png").exists()
