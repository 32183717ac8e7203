"""Coverage maps and shifts as code: a teams file compiled to H3 cells, and the point lookup.

"Covers a point" means the point's H3 cell (resolution 9 by default) is in the team's compiled cell set
(demo-deployment.md). Polygons compile to the cells whose centre lies inside (h3.geo_to_cells); a point
with a radius to the cells whose centre lies within the radius. A point outside every city polygon is
in no neighborhood and covered by no team that covers by area.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import h3
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from shapely.prepared import prep

from geofences.problems import ERROR, ConfigError, LineLocator, Problem, did_you_mean, load_model
from geofences.shifts import Schedule, Shift, ShiftException
from stream.model.zones import ZoneName

EARTH_RADIUS_M = 6_371_008.8


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
    """The city's polygon layers and place lists, files beside the teams file."""

    neighborhoods: Layer
    communities: Layer
    precincts: Layer | None = None
    hospitals: str = "hospitals.csv"
    schools: str = "schools.csv"


class RadiusPoint(_Frozen):
    """A point and a radius in metres."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=20_000)


class Covers(_Frozen):
    """A team's area: any mix of named places, polygons, points with a radius, or the whole city."""

    communities: tuple[str, ...] = ()
    neighborhoods: tuple[str, ...] = ()
    polygons: tuple[str, ...] = ()  # GeoJSON files beside the teams file
    points: tuple[RadiusPoint, ...] = ()
    hospitals: tuple[str, ...] = ()
    schools: tuple[str, ...] | Literal["all"] = ()
    city: bool = False

    def is_empty(self) -> bool:
        """True when it names nothing at all."""
        return not (self.communities or self.neighborhoods or self.polygons or self.points or self.hospitals or self.schools or self.city)


class Team(_Frozen):
    """A provider team: its audience, what it covers, and when it is on."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = ""
    audience: Audience
    covers: Covers
    always: bool = False
    shifts: tuple[Shift, ...] = ()
    exceptions: tuple[ShiftException, ...] = ()


class TeamFile(_Frozen):
    """A jurisdiction's teams file."""

    jurisdiction: str
    timezone: ZoneName
    resolution: int = Field(default=9, ge=5, le=12)
    schools_within_m: float = Field(default=500, gt=0, le=5_000)
    city: CityLayers
    teams: tuple[Team, ...] = Field(min_length=1)


class CoverageError(ConfigError):
    """A teams file that cannot be compiled: every problem with its file and line."""


@dataclass(frozen=True)
class School:
    """A school from the schools list."""

    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class NearbySchool:
    """A school near a point, with the exact distance."""

    id: str
    name: str
    distance_m: float


@dataclass(frozen=True)
class CellInfo:
    """Everything known about one H3 cell, precomputed so a lookup is one dictionary read."""

    neighborhood: str | None
    community: str | None
    precinct: str | None
    covering: tuple[str, ...]
    street: tuple[str, ...]
    school_candidates: tuple[School, ...]


_NOWHERE = CellInfo(None, None, None, (), (), ())


@dataclass(frozen=True)
class EdgeCell:
    """A cell across the city's outer boundary: which neighborhood a point in it falls in is decided by an
    exact point-in-polygon test, so a point inside the city always has a neighborhood and one outside none."""

    candidates: tuple[tuple[Any, CellInfo], ...]  # (prepared neighborhood polygon, facts if the point is in it)
    outside: CellInfo


@dataclass(frozen=True)
class Placement:
    """Where a point falls, and who covers it and is on shift at the moment asked about."""

    cell: str
    neighborhood: str | None
    community: str | None
    precinct: str | None
    covering: tuple[str, ...]
    on_shift: tuple[str, ...]
    street_teams: tuple[str, ...]
    street_on_shift: tuple[str, ...]
    schools: tuple[NearbySchool, ...]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def cells_within(lat: float, lon: float, radius_m: float, resolution: int) -> set[str]:
    """Cells whose centre lies within ``radius_m`` of a point (an H3 disk, then exact distances)."""
    edge = h3.average_hexagon_edge_length(resolution, unit="m")
    k = math.ceil((radius_m + edge) / (1.5 * edge)) + 1
    return {c for c in h3.grid_disk(h3.latlng_to_cell(lat, lon, resolution), k) if distance_m(lat, lon, *h3.cell_to_latlng(c)) <= radius_m}


@dataclass(frozen=True)
class CoverageMap:
    """Compiled coverage: per-cell facts, team cells and schedules, places by name."""

    jurisdiction: str
    resolution: int
    zone: ZoneInfo
    version: str
    schools_within_m: float
    cells: dict[str, CellInfo]
    edge_cells: dict[str, EdgeCell]
    team_cells: dict[str, frozenset[str]]
    teams: dict[str, Team]
    schedules: dict[str, Schedule]
    neighborhood_community: dict[str, str]
    hospital_names: dict[str, str]
    hospital_teams: dict[str, tuple[str, ...]]
    schools: dict[str, School]
    school_teams: dict[str, tuple[str, ...]]

    @property
    def cell_neighborhood(self) -> dict[str, str]:
        """Cell → neighborhood, for the cells inside the city."""
        return {cell: info.neighborhood for cell, info in self.cells.items() if info.neighborhood}

    def on_shift(self, team: str, when: datetime) -> bool:
        """Whether a team is on shift at an aware moment."""
        return self.schedules[team].on_shift(when.astimezone(self.zone))

    def at(self, lat: float, lon: float, when: datetime) -> Placement:
        """Place a point at a moment: neighborhood, community, precinct, covering teams, teams on shift,
        and schools within ``schools_within_m`` (exact metres, nearest first)."""
        cell = h3.latlng_to_cell(lat, lon, self.resolution)
        edge = self.edge_cells.get(cell)
        if edge is None:
            info = self.cells.get(cell, _NOWHERE)
        else:
            point = Point(lon, lat)
            info = next((facts for polygon, facts in edge.candidates if polygon.contains(point)), edge.outside)
        local = when.astimezone(self.zone)
        on_shift = tuple(t for t in info.covering if self.schedules[t].on_shift(local))
        nearby = []
        for school in info.school_candidates:
            metres = distance_m(lat, lon, school.lat, school.lon)
            if metres <= self.schools_within_m:
                nearby.append(NearbySchool(school.id, school.name, round(metres, 1)))
        nearby.sort(key=lambda s: s.distance_m)
        return Placement(
            cell=cell,
            neighborhood=info.neighborhood,
            community=info.community,
            precinct=info.precinct,
            covering=info.covering,
            on_shift=on_shift,
            street_teams=info.street,
            street_on_shift=tuple(t for t in info.street if t in on_shift),
            schools=tuple(nearby),
        )


# ---- loading and checking -------------------------------------------------------------------------


def _features(path: Path, name_field: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        collection = json.load(fh)
    return {str(f["properties"][name_field]).strip(): shape(f["geometry"]) for f in collection["features"]}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _content_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "cov-" + digest.hexdigest()[:16]


@dataclass
class _Loaded:
    """A parsed teams file and the city data it refers to."""

    path: Path
    spec: TeamFile
    locator: LineLocator
    neighborhoods: dict[str, Any]
    communities: dict[str, Any]
    precincts: dict[str, Any]
    hospitals: dict[str, str]
    schools: dict[str, School]
    polygons: dict[str, Any]
    files: list[Path]


def _load(path: Path) -> tuple[_Loaded | None, list[Problem]]:
    spec, locator, problems = load_model(path, TeamFile)
    if spec is None or locator is None:
        return None, problems
    base = path.parent
    layer_files = {
        "neighborhoods": base / spec.city.neighborhoods.file,
        "communities": base / spec.city.communities.file,
        "hospitals": base / spec.city.hospitals,
        "schools": base / spec.city.schools,
    }
    if spec.city.precincts is not None:
        layer_files["precincts"] = base / spec.city.precincts.file
    missing = [Problem(path, locator.line(("city", key)), ERROR, f"city.{key}: file {file.name} not found beside {path.name}")
               for key, file in layer_files.items() if not file.is_file()]
    polygon_files = {name: base / name for team in spec.teams for name in team.covers.polygons}
    for t, team in enumerate(spec.teams):
        for p, name in enumerate(team.covers.polygons):
            if not polygon_files[name].is_file():
                missing.append(Problem(path, locator.line(("teams", t, "covers", "polygons", p)), ERROR,
                                       f"team {team.id}: polygon file {name} not found beside {path.name}"))
    if missing:
        return None, missing
    polygons = {}
    for name, file in polygon_files.items():
        with open(file, encoding="utf-8") as fh:
            geo = json.load(fh)
        features = geo.get("features", [geo]) if geo.get("type") == "FeatureCollection" else [geo]
        polygons[name] = [shape(f.get("geometry", f)) for f in features]
    schools = {r["id"]: School(r["id"], r.get("name", r["id"]), float(r["lat"]), float(r["lon"])) for r in _csv_rows(layer_files["schools"])}
    loaded = _Loaded(
        path=path, spec=spec, locator=locator,
        neighborhoods=_features(layer_files["neighborhoods"], spec.city.neighborhoods.name_field),
        communities=_features(layer_files["communities"], spec.city.communities.name_field),
        precincts=_features(layer_files["precincts"], spec.city.precincts.name_field) if spec.city.precincts else {},
        hospitals={r["id"]: r.get("name", r["id"]) for r in _csv_rows(layer_files["hospitals"])},
        schools=schools,
        polygons=polygons,
        files=[path, *layer_files.values(), *polygon_files.values()],
    )
    return loaded, []


def _reference_problems(loaded: _Loaded) -> list[Problem]:
    """Every name a team uses must exist; ids unique; every team covers something and has hours."""
    problems: list[Problem] = []
    path, line = loaded.path, loaded.locator.line
    seen: dict[str, int] = {}
    for t, team in enumerate(loaded.spec.teams):
        if team.id in seen:
            problems.append(Problem(path, line(("teams", t, "id")), ERROR, f"team id {team.id} is used twice (first at line {seen[team.id]})"))
        seen.setdefault(team.id, line(("teams", t, "id")))
        known = {
            "communities": loaded.communities, "neighborhoods": loaded.neighborhoods,
            "hospitals": loaded.hospitals, "schools": loaded.schools,
        }
        singular = {"communities": "community", "neighborhoods": "neighborhood", "hospitals": "hospital", "schools": "school"}
        for field, names in known.items():
            listed = getattr(team.covers, field)
            if listed == "all":
                continue
            for n, name in enumerate(listed):
                if name not in names:
                    problems.append(Problem(path, line(("teams", t, "covers", field, n)), ERROR,
                                            f"team {team.id}: unknown {singular[field]} {name!r}{did_you_mean(name, names)}"))
        if team.covers.is_empty():
            problems.append(Problem(path, line(("teams", t, "covers")), ERROR, f"team {team.id} covers nothing"))
        if not team.always and not team.shifts and not any(not e.off for e in team.exceptions):
            problems.append(Problem(path, line(("teams", t)), ERROR, f"team {team.id} has no shifts (say `always: true` if it is always on)"))
        if team.always and team.shifts:
            problems.append(Problem(path, line(("teams", t, "shifts")), ERROR, f"team {team.id} is `always` on and also lists shifts; keep one"))
    return problems


def check_team_file(path: Path) -> tuple[_Loaded | None, list[Problem]]:
    """Load a teams file and find every error (schema, files, references); None when it cannot load."""
    loaded, problems = _load(path)
    if loaded is None:
        return None, problems
    problems = _reference_problems(loaded)
    return (None if problems else loaded), problems


def _shape_cells(loaded: _Loaded, team: Team) -> frozenset[str]:
    """Cells of a team's own shapes (polygons, points with a radius): these apply inside and outside the city."""
    resolution = loaded.spec.resolution
    cells: set[str] = set()
    for polygon_file in team.covers.polygons:
        for geom in loaded.polygons[polygon_file]:
            cells |= set(h3.geo_to_cells(geom, resolution))
    for point in team.covers.points:
        cells |= cells_within(point.lat, point.lon, point.radius_m, resolution)
    return frozenset(cells)


def _area_cells(loaded: _Loaded, team: Team, neighborhood_cells: dict[str, frozenset[str]], city_cells: frozenset[str], shapes: frozenset[str]) -> frozenset[str]:
    covers = team.covers
    names = set(covers.neighborhoods) | {
        n for n, geom in loaded.neighborhoods.items()
        if any(loaded.communities[c].contains(geom.representative_point()) for c in covers.communities)
    }
    cells: set[str] = set(city_cells) if covers.city else set()
    for name in names:
        cells |= neighborhood_cells[name]
    return frozenset(cells | shapes)


def _layer_index(layer: dict[str, Any], resolution: int) -> dict[str, str]:
    return {cell: name for name, geom in layer.items() for cell in h3.geo_to_cells(geom, resolution)}


def compile_loaded(loaded: _Loaded) -> CoverageMap:
    """Compile a checked teams file to cells, schedules and per-cell facts."""
    spec, resolution = loaded.spec, loaded.spec.resolution
    neighborhood_cells = {name: frozenset(h3.geo_to_cells(geom, resolution)) for name, geom in loaded.neighborhoods.items()}
    cell_neighborhood = {cell: name for name, cells in neighborhood_cells.items() for cell in cells}
    city_cells = frozenset(cell_neighborhood)
    neighborhood_community = {}
    for name, geom in loaded.neighborhoods.items():
        point = geom.representative_point()
        owner = next((c for c, cgeom in loaded.communities.items() if cgeom.contains(point)), None)
        if owner is not None:
            neighborhood_community[name] = owner
    cell_precinct = _layer_index(loaded.precincts, resolution)

    shape_cells = {team.id: _shape_cells(loaded, team) for team in spec.teams}
    team_cells = {team.id: _area_cells(loaded, team, neighborhood_cells, city_cells, shape_cells[team.id]) for team in spec.teams}
    schedules = {team.id: Schedule.build(team.shifts, team.exceptions, team.always) for team in spec.teams}

    school_candidates: dict[str, list[School]] = {}
    for school in loaded.schools.values():
        for cell in cells_within(school.lat, school.lon, spec.schools_within_m + 2 * h3.average_hexagon_edge_length(resolution, unit="m"), resolution):
            school_candidates.setdefault(cell, []).append(school)

    cells: dict[str, CellInfo] = {}
    for cell in set(cell_neighborhood) | set().union(*team_cells.values()) | set(school_candidates):
        neighborhood = cell_neighborhood.get(cell)
        cells[cell] = CellInfo(
            neighborhood=neighborhood,
            community=neighborhood_community.get(neighborhood) if neighborhood else None,
            precinct=cell_precinct.get(cell),
            covering=tuple(team.id for team in spec.teams if cell in team_cells[team.id]),
            street=tuple(team.id for team in spec.teams if team.audience is Audience.STREET and cell in team_cells[team.id]),
            school_candidates=tuple(school_candidates.get(cell, ())),
        )

    edge_cells = _edge_cells(loaded, cells, shape_cells, neighborhood_community, cell_precinct)

    def named_teams(field: str, key: str) -> tuple[str, ...]:
        return tuple(t.id for t in spec.teams if getattr(t.covers, field) == "all" or key in getattr(t.covers, field))

    return CoverageMap(
        jurisdiction=spec.jurisdiction,
        resolution=resolution,
        zone=ZoneInfo(spec.timezone),
        version=_content_hash(loaded.files),
        schools_within_m=spec.schools_within_m,
        cells=cells,
        edge_cells=edge_cells,
        team_cells=team_cells,
        teams={t.id: t for t in spec.teams},
        schedules=schedules,
        neighborhood_community=neighborhood_community,
        hospital_names=dict(loaded.hospitals),
        hospital_teams={h: named_teams("hospitals", h) for h in loaded.hospitals},
        schools=dict(loaded.schools),
        school_teams={s: named_teams("schools", s) for s in loaded.schools},
    )


def _edge_cells(
    loaded: _Loaded,
    cells: dict[str, CellInfo],
    shape_cells: dict[str, frozenset[str]],
    neighborhood_community: dict[str, str],
    cell_precinct: dict[str, str],
) -> dict[str, EdgeCell]:
    """Cells across the city's outer boundary, with the facts of each neighborhood a point there may be in.

    Outside the city a point there is covered only by teams whose own shapes (polygons, points) take in
    the cell; inside, also by teams naming its neighborhood (or community) and by city-wide teams.
    """
    resolution = loaded.spec.resolution
    city = unary_union(list(loaded.neighborhoods.values()))
    outline = city.boundary
    by_name = {t.id: t for t in loaded.spec.teams}
    edge: dict[str, EdgeCell] = {}
    for cell in h3.h3shape_to_cells_experimental(h3.geo_to_h3shape(city), resolution, contain="overlap"):
        hexagon = shape(h3.cells_to_geo([cell]))
        if not hexagon.intersects(outline):
            continue
        base = cells.get(cell, _NOWHERE)
        outside_teams = tuple(t.id for t in loaded.spec.teams if cell in shape_cells[t.id])
        outside = CellInfo(None, None, None, outside_teams, tuple(t for t in outside_teams if by_name[t].audience is Audience.STREET), base.school_candidates)
        candidates = []
        for name, geom in loaded.neighborhoods.items():
            if not geom.intersects(hexagon):
                continue
            community = neighborhood_community.get(name)
            covering = tuple(t.id for t in loaded.spec.teams if cell in shape_cells[t.id] or t.covers.city or _names_place(t, name, community))
            candidates.append((prep(geom), CellInfo(name, community, cell_precinct.get(cell), covering,
                                                    tuple(t for t in covering if by_name[t].audience is Audience.STREET), base.school_candidates)))
        edge[cell] = EdgeCell(tuple(candidates), outside)
    return edge


def _names_place(team: Team, neighborhood: str, community: str | None) -> bool:
    return neighborhood in team.covers.neighborhoods or community in team.covers.communities


def compile_coverage(team_file: Path) -> CoverageMap:
    """Load, check and compile a teams file; raises CoverageError listing every problem with its line."""
    loaded, problems = check_team_file(team_file)
    if loaded is None:
        raise CoverageError(problems)
    return compile_loaded(loaded)
