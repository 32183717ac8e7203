"""The review map: neighborhood outlines and the activation's H3 cell as inline SVG."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import h3
import pytest

from reviews.maps import NO_LOCATION, cell_ring, load_neighborhoods, neighborhood_map_svg
from tests.helpers import JORDAN, OUTSIDE_CITY

SVG = "{http://www.w3.org/2000/svg}"


def square(west: float, south: float, size: float) -> dict:
    """A GeoJSON square polygon."""
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]


def view_box(root: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = numbers(root.attrib["viewBox"])
    return x, y, w, h


def cell_points(root: ET.Element) -> list[tuple[float, float]]:
    polygon = root.find(f"{SVG}polygon[@class='cell']")
    assert polygon is not None, "no cell polygon"
    values = numbers(polygon.attrib["points"])
    return list(zip(values[::2], values[1::2], strict=True))


@pytest.fixture(scope="module")
def city() -> dict:
    return load_neighborhoods()


def test_the_cell_is_a_hexagon_inside_the_view_box_and_in_its_neighborhood(city: dict) -> None:
    cell = h3.latlng_to_cell(*JORDAN, 9)
    root = ET.fromstring(neighborhood_map_svg(city, cell, "Jordan", width=400))
    _, _, width, height = view_box(root)
    assert width == 400 and 400 < height < 1000  # Minneapolis is taller than wide
    points = cell_points(root)
    assert len(points) == 6
    assert all(0 <= x <= width and 0 <= y <= height for x, y in points)
    # Jordan is in the north-west of the city: the cell is in the top-left third
    cx, cy = sum(x for x, _ in points) / 6, sum(y for _, y in points) / 6
    assert cx < width / 2 and cy < height / 3
    highlight = root.findall(f"{SVG}g/{SVG}path[@class='highlight']")
    assert [p.find(f"{SVG}title").text for p in highlight] == ["Jordan"]
    xs, ys = numbers(highlight[0].attrib["d"])[::2], numbers(highlight[0].attrib["d"])[1::2]
    assert min(xs) <= cx <= max(xs) and min(ys) <= cy <= max(ys)


def test_every_neighborhood_is_drawn_and_named(city: dict) -> None:
    root = ET.fromstring(neighborhood_map_svg(city, None, None))
    titles = [p.find(f"{SVG}title").text for p in root.iter(f"{SVG}path")]
    assert sorted(titles) == sorted(city)
    assert len(titles) > 80


def test_the_projection_keeps_shapes_square(city: dict) -> None:
    # a square kilometre-ish box at 45°N is cos(45°) as wide as tall in degrees: on the map it is square
    lat = 45.0
    box = {"type": "Polygon", "coordinates": [[[0, lat], [0.01 / math.cos(math.radians(lat)), lat],
                                               [0.01 / math.cos(math.radians(lat)), lat + 0.01], [0, lat + 0.01], [0, lat]]]}
    root = ET.fromstring(neighborhood_map_svg({"box": box}, None, None, width=216, margin=8))
    _, _, width, height = view_box(root)
    assert width == 216 and abs(height - 216) <= 1  # the cosine is taken at the middle latitude, and the height rounded up


def test_names_are_escaped(city: dict) -> None:
    hoods = {'<script>alert("x")</script> & Co': square(-93.30, 44.99, 0.02), "Plain": square(-93.28, 44.99, 0.02)}
    text = neighborhood_map_svg(hoods, None, '<script>alert("x")</script> & Co')
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in text
    root = ET.fromstring(text)  # still well-formed XML
    titles = [p.find(f"{SVG}title").text for p in root.iter(f"{SVG}path")]
    assert '<script>alert("x")</script> & Co' in titles


def test_a_cell_outside_the_outlines_widens_the_view(city: dict) -> None:
    hoods = {"A": square(-93.30, 44.99, 0.02)}
    cell = h3.latlng_to_cell(*OUTSIDE_CITY, 9)
    root = ET.fromstring(neighborhood_map_svg(hoods, cell, None, width=300))
    _, _, width, height = view_box(root)
    assert all(0 <= x <= width and 0 <= y <= height for x, y in cell_points(root))


def test_no_cell_says_no_location(city: dict) -> None:
    text = neighborhood_map_svg(city, None, None)
    root = ET.fromstring(text)
    assert root.find(f"{SVG}polygon") is None
    assert root.find(f"{SVG}text").text == NO_LOCATION == "no location (hospital arrival)"


def test_multipolygons_and_holes_are_drawn(city: dict) -> None:
    outer = [[-93.3, 44.9], [-93.2, 44.9], [-93.2, 45.0], [-93.3, 45.0], [-93.3, 44.9]]
    hole = [[-93.26, 44.94], [-93.24, 44.94], [-93.24, 44.96], [-93.26, 44.96], [-93.26, 44.94]]
    hoods = {"Ring": {"type": "MultiPolygon", "coordinates": [[outer, hole], [[[-93.1, 44.9], [-93.05, 44.9], [-93.05, 44.95], [-93.1, 44.9]]]]}}
    root = ET.fromstring(neighborhood_map_svg(hoods, None, None))
    d = root.find(f"{SVG}g/{SVG}path").attrib["d"]
    assert d.count("M") == 3 and d.count("Z") == 3
    assert root.find(f"{SVG}g").attrib["fill-rule"] == "evenodd"


def test_the_output_is_deterministic_and_compact(city: dict) -> None:
    cell = h3.latlng_to_cell(*JORDAN, 9)
    first = neighborhood_map_svg(city, cell, "Jordan")
    assert first == neighborhood_map_svg(city, cell, "Jordan")
    assert len(first) < 60_000  # it is inlined on every activation page and in every packet


def test_bad_input_is_refused_by_name(city: dict) -> None:
    with pytest.raises(ValueError, match="not an H3 cell"):
        neighborhood_map_svg(city, "not-a-cell", None)
    with pytest.raises(ValueError, match="Polygon or MultiPolygon"):
        neighborhood_map_svg({"x": {"type": "Point", "coordinates": [0, 0]}}, None, None)
    with pytest.raises(ValueError, match="nothing to draw"):
        neighborhood_map_svg({}, None, None)


def test_cell_ring_is_lon_lat(city: dict) -> None:
    ring = cell_ring(h3.latlng_to_cell(*JORDAN, 9))
    assert len(ring) == 6
    assert all(-94 < lon < -93 and 44 < lat < 46 for lon, lat in ring)
