"""Coverage compiled from the real Minneapolis polygons: placement, teams, schools, versions."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import h3
import pytest

from geofences.coverage import cells_within, compile_coverage, distance_m
from stream.core.deployment import DeploymentPaths
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, OUTSIDE_CITY

TEAMS = DeploymentPaths.bundled().teams
CHICAGO = ZoneInfo("America/Chicago")
SAT_NIGHT = datetime(2026, 7, 4, 22, 3, tzinfo=CHICAGO)
CITY_WIDE = ("gvi-outreach", "dns-oncall")


@pytest.mark.parametrize(
    ("point", "neighborhood", "community", "precinct", "street"),
    [
        (JORDAN, "Jordan", "Near North", "4", "vi-north-nearnorth"),
        (MIDTOWN_PHILLIPS, "Midtown Phillips", "Phillips", "3", "vi-south-phillips"),
        ((44.9778, -93.2650), "Downtown West", "Central", "1", "vi-central"),
        # Cedar Riverside belongs to the University community but is covered by vi-central
        ((44.9690, -93.2500), "Cedar Riverside", "University", "1", "vi-central"),
        ((45.0400, -93.3000), "Lind - Bohanon", "Camden", "4", "vi-north-camden"),
        ((44.9405, -93.2530), "Powderhorn Park", "Powderhorn", "3", "vi-south-powderhorn"),
        (HIAWATHA, "Hiawatha", "Longfellow", "3", None),
    ],
)
def test_points_are_placed_covered_and_on_shift(deployment, point, neighborhood, community, precinct, street) -> None:
    place = deployment.coverage.at(point[0], point[1], SAT_NIGHT)
    assert (place.neighborhood, place.community, place.precinct) == (neighborhood, community, precinct)
    assert place.street_teams == ((street,) if street else ())
    assert place.covering == ((street,) if street else ()) + CITY_WIDE
    assert place.on_shift == place.covering  # Saturday 22:03: every covering team is on


def test_outside_every_city_polygon_is_nowhere_and_covered_by_nobody(deployment) -> None:
    for lat, lon in (OUTSIDE_CITY, (45.0137, -93.3207)):  # Hopkins; North Memorial in Robbinsdale
        place = deployment.coverage.at(lat, lon, SAT_NIGHT)
        assert (place.neighborhood, place.community, place.precinct, place.covering, place.schools) == (None, None, None, (), ())


def test_points_near_a_border_map_to_one_of_the_two_neighbors(deployment) -> None:
    # Penn Ave N is the Jordan / Willard - Hay border: points a few metres either side of it
    for lon in (-93.30835, -93.30825, -93.30815):
        place = deployment.coverage.at(44.9930, lon, SAT_NIGHT)
        assert place.neighborhood in {"Jordan", "Willard - Hay"}
        assert place.street_teams == ("vi-north-nearnorth",)


def test_every_city_cell_has_one_neighborhood_and_every_neighborhood_a_community(deployment) -> None:
    assert len(deployment.coverage.neighborhood_community) == 87
    assert set(deployment.coverage.cell_neighborhood.values()) <= set(deployment.coverage.neighborhood_community)


def test_street_teams_do_not_overlap(deployment) -> None:
    street = [c for t, c in deployment.coverage.team_cells.items() if deployment.coverage.teams[t].audience.value == "street"]
    assert sum(len(c) for c in street) == len(frozenset().union(*street))


def test_schools_within_500_m_with_exact_distance_nearest_first(deployment) -> None:
    north_high = (44.9987, -93.3034)
    place = deployment.coverage.at(JORDAN[0], JORDAN[1], SAT_NIGHT)
    assert [s.id for s in place.schools] == ["north-high"]
    assert place.schools[0].distance_m == pytest.approx(distance_m(*JORDAN, *north_high), abs=0.1)
    assert 300 < place.schools[0].distance_m < 330
    far = deployment.coverage.at(45.0040, -93.3034, SAT_NIGHT)  # ~590 m north of North High
    assert far.schools == ()


def test_hospital_and_school_teams_by_name(deployment) -> None:
    assert deployment.coverage.hospital_teams["hcmc"] == ("nextstep-hcmc",)
    assert deployment.coverage.hospital_teams["umm-westbank"] == ()
    assert deployment.coverage.school_teams["north-high"] == ("mps-safety",)


def test_cells_within_a_radius_keep_only_centres_inside() -> None:
    cells = cells_within(44.9987, -93.3034, 500, 9)
    assert all(distance_m(44.9987, -93.3034, *h3.cell_to_latlng(c)) <= 500 for c in cells)
    # a 500 m circle is 0.79 km², about 7.5 cells of 0.105 km²
    assert h3.latlng_to_cell(44.9987, -93.3034, 9) in cells and 6 <= len(cells) <= 10


def _edited_copy(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled teams folder with one edit to teams.yaml; returns the copied teams.yaml."""
    copy = tmp_path / "mpls"
    shutil.copytree(TEAMS.parent, copy)
    teams = copy / "teams.yaml"
    text = teams.read_text()
    assert old in text
    teams.write_text(text.replace(old, new, 1))
    return teams


def test_version_is_a_content_hash(tmp_path: Path, deployment) -> None:
    unchanged = _edited_copy(tmp_path / "a", "jurisdiction: minneapolis", "jurisdiction: minneapolis")
    assert compile_coverage(unchanged).version == deployment.coverage.version
    changed = _edited_copy(tmp_path / "b", "communities: [Camden]", "communities: [Camden, Northeast]")
    assert compile_coverage(changed).version != deployment.coverage.version


def test_polygon_and_point_coverage(tmp_path: Path) -> None:
    teams = _edited_copy(tmp_path, "    covers: {communities: [Camden]}",
                         "    covers: {polygons: [patch.geojson], points: [{lat: 44.9405, lon: -93.2530, radius_m: 300}]}")
    (teams.parent / "patch.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",'
        ' "coordinates": [[[-93.275, 44.96], [-93.265, 44.96], [-93.265, 44.967], [-93.275, 44.967], [-93.275, 44.96]]]}}]}')
    coverage = compile_coverage(teams)
    assert "vi-north-camden" in coverage.at(44.9635, -93.27, SAT_NIGHT).street_teams  # inside the polygon
    assert "vi-north-camden" in coverage.at(44.9405, -93.2530, SAT_NIGHT).street_teams  # the point itself
    assert "vi-north-camden" not in coverage.at(45.0400, -93.3000, SAT_NIGHT).street_teams  # Camden no longer


def test_inside_the_city_always_has_a_neighborhood_and_outside_never(deployment) -> None:
    # cells across the city's outer boundary are decided by an exact point-in-polygon test
    import json
    import random

    from shapely.geometry import Point, shape
    from shapely.ops import unary_union

    features = json.loads((TEAMS.parent / "neighborhoods.geojson").read_text())["features"]
    city = unary_union([shape(f["geometry"]) for f in features])
    edge_points = [h3.cell_to_latlng(c) for c in deployment.coverage.edge_cells]
    rnd = random.Random(5)
    checked = 0
    for lat, lon in edge_points:
        for _ in range(10):  # points scattered within a cell's width of each boundary cell centre
            plat, plon = lat + rnd.uniform(-0.002, 0.002), lon + rnd.uniform(-0.003, 0.003)
            inside = city.contains(Point(plon, plat))
            place = deployment.coverage.at(plat, plon, SAT_NIGHT)
            assert (place.neighborhood is not None) == inside, (plat, plon)
            if not inside:
                assert place.covering == ()
            checked += 1
    assert checked > 1500
