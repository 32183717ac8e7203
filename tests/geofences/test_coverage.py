"""Coverage compiled from the real Minneapolis polygons, and the point lookup."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from geofences.coverage import CoverageError, compile_coverage
from stream.deployment import DeploymentPaths
from stream.events import Location
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS, OUTSIDE_CITY

TEAMS = DeploymentPaths.bundled().teams


@pytest.mark.parametrize(
    ("point", "neighborhood", "community", "teams"),
    [
        (JORDAN, "Jordan", "Near North", ("vi-north-nearnorth",)),
        (MIDTOWN_PHILLIPS, "Midtown Phillips", "Phillips", ("vi-south-phillips",)),
        ((44.9778, -93.2650), "Downtown West", "Central", ("vi-central",)),
        # Cedar Riverside belongs to the University community but is covered by vi-central
        ((44.9690, -93.2500), "Cedar Riverside", "University", ("vi-central",)),
        ((45.0400, -93.3000), "Lind - Bohanon", "Camden", ("vi-north-camden",)),
        ((44.9405, -93.2530), "Powderhorn Park", "Powderhorn", ("vi-south-powderhorn",)),
        (HIAWATHA, "Hiawatha", "Longfellow", ()),
    ],
)
def test_points_are_placed_and_covered(deployment, point, neighborhood, community, teams) -> None:
    placement = deployment.coverage.at(Location(lat=point[0], lon=point[1]))
    assert (placement.neighborhood, placement.community, placement.street_teams) == (neighborhood, community, teams)


def test_a_point_outside_every_city_polygon_is_covered_by_nobody(deployment) -> None:
    placement = deployment.coverage.at(Location(lat=OUTSIDE_CITY[0], lon=OUTSIDE_CITY[1]))
    assert (placement.neighborhood, placement.community, placement.street_teams) == (None, None, ())


def test_every_neighborhood_belongs_to_a_community(deployment) -> None:
    assert len(deployment.coverage.neighborhood_community) == 87


def test_street_teams_do_not_overlap(deployment) -> None:
    cells = list(deployment.coverage.team_cells.values())
    assert sum(len(c) for c in cells) == len(frozenset().union(*cells))


def _edited_copy(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled teams folder with one edit to teams.yaml; returns the copied teams.yaml."""
    copy = tmp_path / "mpls"
    shutil.copytree(TEAMS.parent, copy)
    teams = copy / "teams.yaml"
    text = teams.read_text()
    assert old in text
    teams.write_text(text.replace(old, new))
    return teams


def test_version_is_a_content_hash(tmp_path: Path, deployment) -> None:
    unchanged = _edited_copy(tmp_path / "a", "jurisdiction: minneapolis", "jurisdiction: minneapolis")
    assert compile_coverage(unchanged).version == deployment.coverage.version
    changed = _edited_copy(tmp_path / "b", "communities: [Camden]", "communities: [Camden, Northeast]")
    assert compile_coverage(changed).version != deployment.coverage.version


def test_unknown_community_names_the_file_and_team(tmp_path: Path) -> None:
    teams = _edited_copy(tmp_path, "communities: [Camden]", "communities: [Camdem]")
    with pytest.raises(CoverageError) as info:
        compile_coverage(teams)
    assert str(info.value) == f"{teams}: team vi-north-camden: unknown community 'Camdem'"


def test_unknown_neighborhood_names_the_file_and_team(tmp_path: Path) -> None:
    teams = _edited_copy(tmp_path, "neighborhoods: [Cedar Riverside]", "neighborhoods: [Cedar Riversid]")
    with pytest.raises(CoverageError) as info:
        compile_coverage(teams)
    assert str(info.value) == f"{teams}: team vi-central: unknown neighborhood 'Cedar Riversid'"
