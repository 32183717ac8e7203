"""Street coverage compiled to H3 cells, and the point lookup the activation core calls.

"Covers a point" means the point's H3 cell (resolution 9 by default) is in the team's compiled cell set
(demo-deployment.md). Compilation keeps cells whose centre lies inside a polygon (h3.geo_to_cells).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import h3
import yaml
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import shape

from stream.events import Location


class Audience(StrEnum):
    """Who a team is, which decides which protocols can name it."""

    STREET = "street"
    GVI = "gvi"
    HOSPITAL = "hospital"
    SCHOOL = "school"
    ONCALL = "oncall"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Layer(_Frozen):
    """A polygon layer of the city: a GeoJSON file and the property that names each feature."""

    file: str
    name_field: str


class CityLayers(_Frozen):
    """The polygon layers and place lists a team file may refer to by name."""

    neighborhoods: Layer
    communities: Layer
    hospitals: str = "hospitals.csv"


class Covers(_Frozen):
    """A team's area, as whole communities and single neighborhoods."""

    communities: tuple[str, ...] = ()
    neighborhoods: tuple[str, ...] = ()
    hospitals: tuple[str, ...] = ()


class Team(_Frozen):
    """A provider team."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    audience: Audience
    covers: Covers = Covers()


class TeamFile(_Frozen):
    """A jurisdiction's teams file."""

    jurisdiction: str
    resolution: int = Field(default=9, ge=5, le=12)
    city: CityLayers
    teams: tuple[Team, ...]


class CoverageError(ValueError):
    """A team file that cannot be compiled: names the file and the problem."""


@dataclass(frozen=True)
class Placement:
    """Where a point falls: its cell, neighborhood and community, and the street teams covering it."""

    cell: str
    neighborhood: str | None
    community: str | None
    street_teams: tuple[str, ...]


@dataclass(frozen=True)
class CoverageMap:
    """Compiled coverage: cell → neighborhood, neighborhood → community, team → cells."""

    jurisdiction: str
    resolution: int
    version: str
    cell_neighborhood: dict[str, str]
    neighborhood_community: dict[str, str]
    team_cells: dict[str, frozenset[str]]
    teams: dict[str, Team]
    hospital_names: dict[str, str]
    hospital_teams: dict[str, tuple[str, ...]]

    def at(self, location: Location) -> Placement:
        """Place a point: its H3 cell, neighborhood, community and covering street teams."""
        cell = h3.latlng_to_cell(location.lat, location.lon, self.resolution)
        neighborhood = self.cell_neighborhood.get(cell)
        covering = tuple(
            team_id
            for team_id, cells in self.team_cells.items()
            if cell in cells and self.teams[team_id].audience is Audience.STREET
        )
        return Placement(
            cell=cell,
            neighborhood=neighborhood,
            community=self.neighborhood_community.get(neighborhood) if neighborhood else None,
            street_teams=covering,
        )


def _features(path: Path, name_field: str) -> dict[str, object]:
    with open(path, encoding="utf-8") as fh:
        collection = json.load(fh)
    out: dict[str, object] = {}
    for feature in collection["features"]:
        name = str(feature["properties"][name_field]).strip()
        out[name] = shape(feature["geometry"])
    return out


def _hospitals(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["id"].strip(): row["name"].strip() for row in csv.DictReader(fh)}


def _content_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "cov-" + digest.hexdigest()[:16]


def compile_coverage(team_file: Path) -> CoverageMap:
    """Load a teams file and compile every team's coverage to H3 cells."""
    with open(team_file, encoding="utf-8") as fh:
        spec = TeamFile.model_validate(yaml.safe_load(fh))
    base = team_file.parent
    layers = [base / spec.city.neighborhoods.file, base / spec.city.communities.file, base / spec.city.hospitals]
    neighborhoods = _features(layers[0], spec.city.neighborhoods.name_field)
    communities = _features(layers[1], spec.city.communities.name_field)
    hospital_names = _hospitals(layers[2])

    neighborhood_community = {}
    for name, geom in neighborhoods.items():
        point = geom.representative_point()  # type: ignore[attr-defined]
        owner = next((c for c, cgeom in communities.items() if cgeom.contains(point)), None)  # type: ignore[attr-defined]
        if owner is not None:
            neighborhood_community[name] = owner

    neighborhood_cells = {
        name: frozenset(h3.geo_to_cells(geom, spec.resolution)) for name, geom in neighborhoods.items()
    }
    cell_neighborhood = {cell: name for name, cells in neighborhood_cells.items() for cell in cells}

    team_cells: dict[str, frozenset[str]] = {}
    for team in spec.teams:
        for community in team.covers.communities:
            if community not in communities:
                raise CoverageError(f"{team_file}: team {team.id}: unknown community {community!r}")
        for neighborhood in team.covers.neighborhoods:
            if neighborhood not in neighborhoods:
                raise CoverageError(f"{team_file}: team {team.id}: unknown neighborhood {neighborhood!r}")
        for hospital in team.covers.hospitals:
            if hospital not in hospital_names:
                raise CoverageError(f"{team_file}: team {team.id}: unknown hospital {hospital!r}")
        names = set(team.covers.neighborhoods) | {
            n for n, c in neighborhood_community.items() if c in team.covers.communities
        }
        team_cells[team.id] = frozenset().union(*(neighborhood_cells[n] for n in names)) if names else frozenset()

    return CoverageMap(
        jurisdiction=spec.jurisdiction,
        resolution=spec.resolution,
        version=_content_hash([team_file, *layers]),
        cell_neighborhood=cell_neighborhood,
        neighborhood_community=neighborhood_community,
        team_cells=team_cells,
        teams={t.id: t for t in spec.teams},
        hospital_names=hospital_names,
        hospital_teams={
            h: tuple(t.id for t in spec.teams if h in t.covers.hospitals) for h in hospital_names
        },
    )
