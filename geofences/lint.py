"""`vigil geofences lint`: every error of a teams file with its line, then what planners should know:
street teams whose areas overlap, and per community the hours of a regular week with no street team."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

from geofences.coverage import Audience, CoverageMap, check_team_file, compile_loaded
from geofences.problems import NOTE, Problem
from geofences.shifts import DAY_NAMES

DAY_LABELS = tuple(d.capitalize() for d in DAY_NAMES)


def hour_ranges(hours: Iterable[int]) -> str:
    """Hours of the week (0 = Monday 00:00) as readable ranges: 'daily 02:00-16:00' when every day has
    the same gap, else per-day ranges such as 'Mon 02:00-18:00, Fri 03:00-18:00'."""
    by_day: dict[int, list[tuple[int, int]]] = {}
    for day in range(7):
        day_hours = sorted(h % 24 for h in hours if h // 24 == day)
        spans: list[tuple[int, int]] = []
        for hour in day_hours:
            if spans and spans[-1][1] == hour:
                spans[-1] = (spans[-1][0], hour + 1)
            else:
                spans.append((hour, hour + 1))
        if spans:
            by_day[day] = spans

    def fmt(spans: list[tuple[int, int]]) -> str:
        return ", ".join(f"{a:02d}:00-{b:02d}:00" if (a, b) != (0, 24) else "all day" for a, b in spans)

    if len(by_day) == 7 and len({tuple(v) for v in by_day.values()}) == 1:
        return "daily " + fmt(by_day[0])
    return "; ".join(f"{DAY_LABELS[d]} {fmt(spans)}" for d, spans in by_day.items())


def overlap_notes(path: Path, coverage: CoverageMap, line_of_team: dict[str, int]) -> list[Problem]:
    """Street teams covering the same cells: named with the neighborhoods where they meet."""
    street = [t for t, team in coverage.teams.items() if team.audience is Audience.STREET]
    notes = []
    for a, b in combinations(street, 2):
        shared = coverage.team_cells[a] & coverage.team_cells[b]
        if shared:
            places = sorted({coverage.cells[c].neighborhood or "outside the city" for c in shared})
            notes.append(Problem(path, line_of_team[b], NOTE,
                                 f"street teams {a} and {b} overlap in {len(shared)} cells ({', '.join(places)})"))
    return notes


def uncovered_hours_notes(path: Path, coverage: CoverageMap, line_of_team: dict[str, int], communities_line: int) -> list[Problem]:
    """Per community, the hours of a regular week in which no street team covering any of it is on."""
    notes = []
    for community in sorted(set(coverage.neighborhood_community.values())):
        neighborhoods = sorted(n for n, c in coverage.neighborhood_community.items() if c == community)
        covered = [n for n in neighborhoods if any(coverage.cells[c].street for c in coverage.cells if coverage.cells[c].neighborhood == n)]
        cells = [c for c, info in coverage.cells.items() if info.community == community]
        teams = sorted({t for c in cells for t in coverage.cells[c].street})
        if not teams:
            notes.append(Problem(path, communities_line, NOTE, f"community {community}: no street team covers it (168 of 168 hours)"))
            continue
        on = frozenset().union(*(coverage.schedules[t].hours_of_week_on() for t in teams))
        off = sorted(set(range(168)) - on)
        part = f" (street teams cover only {', '.join(covered)})" if len(covered) < len(neighborhoods) else ""
        if off:
            notes.append(Problem(path, line_of_team[teams[0]], NOTE,
                                 f"community {community}{part}: no street team on shift {len(off)} of 168 hours: {hour_ranges(off)}"))
    return notes


def lint(path: Path) -> tuple[list[Problem], CoverageMap | None]:
    """All errors of a teams file; when there are none, the planner notes and the compiled map."""
    loaded, problems = check_team_file(path)
    if loaded is None:
        return problems, None
    coverage = compile_loaded(loaded)
    line_of_team = {team.id: loaded.locator.line(("teams", n)) for n, team in enumerate(loaded.spec.teams)}
    communities_line = loaded.locator.line(("city", "communities"))
    return overlap_notes(path, coverage, line_of_team) + uncovered_hours_notes(path, coverage, line_of_team, communities_line), coverage
