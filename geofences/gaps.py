"""The coverage-gap report: shootings that happened where or when no street team was on shift.

Pure computation over a list of events and the compiled coverage; `vigil coverage gaps` reads the events
(open-data CSV, or JSON Lines from the history generator or `vigil parse`) and writes the files.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from geofences.coverage import CoverageMap
from geofences.lint import DAY_LABELS

SHOOTING_KINDS = ("person_shot", "shots_fired", "shotspotter")
NO_TEAM = "no street team covers the place"
OFF_SHIFT = "no street team on shift"


@dataclass(frozen=True)
class HistoricShooting:
    """One shooting of the history: what, when, where."""

    ref: str
    kind: str
    reported_at: datetime
    lat: float
    lon: float


@dataclass(frozen=True)
class UncoveredShooting:
    """A shooting with no street team on shift, and why."""

    shooting: HistoricShooting
    neighborhood: str
    community: str
    cell: str
    reason: str
    off_shift_teams: tuple[str, ...]


@dataclass
class GapReport:
    """The report's figures."""

    first: date
    last: date
    shootings: int = 0
    outside_city: int = 0
    uncovered: list[UncoveredShooting] = field(default_factory=list)
    by_neighborhood_total: Counter[str] = field(default_factory=Counter)

    def by_neighborhood(self) -> list[tuple[str, str, int, int, int, int]]:
        """(neighborhood, community, shootings, uncovered, no team, off shift), most uncovered first."""
        rows: dict[str, list] = {}
        for gap in self.uncovered:
            row = rows.setdefault(gap.neighborhood, [gap.neighborhood, gap.community, self.by_neighborhood_total[gap.neighborhood], 0, 0, 0])
            row[3] += 1
            row[4 if gap.reason == NO_TEAM else 5] += 1
        return sorted((tuple(r) for r in rows.values()), key=lambda r: (-r[3], r[0]))  # type: ignore[misc]

    def hour_of_week(self) -> list[list[int]]:
        """Uncovered shootings by local weekday (Mon first) and hour: 7 rows of 24."""
        grid = [[0] * 24 for _ in range(7)]
        for gap in self.uncovered:
            local = gap.shooting.reported_at
            grid[local.weekday()][local.hour] += 1
        return grid

    def by_cell(self) -> Counter[str]:
        """Uncovered shootings per H3 cell."""
        return Counter(gap.cell for gap in self.uncovered)


def build_report(shootings: Iterable[HistoricShooting], coverage: CoverageMap, first: date, last: date) -> GapReport:
    """Place every shooting of [first, last] (local dates) at its moment and keep those with no street team on."""
    report = GapReport(first, last)
    for shooting in shootings:
        local = shooting.reported_at.astimezone(coverage.zone)
        if shooting.kind not in SHOOTING_KINDS or not first <= local.date() <= last:
            continue
        report.shootings += 1
        place = coverage.at(shooting.lat, shooting.lon, shooting.reported_at)
        if place.neighborhood is None:
            report.outside_city += 1
            continue
        report.by_neighborhood_total[place.neighborhood] += 1
        if place.street_on_shift:
            continue
        reason = NO_TEAM if not place.street_teams else OFF_SHIFT
        local_shooting = HistoricShooting(shooting.ref, shooting.kind, local, shooting.lat, shooting.lon)
        report.uncovered.append(UncoveredShooting(local_shooting, place.neighborhood, place.community or "", place.cell, reason, place.street_teams))
    return report


class HistoryError(ValueError):
    """A history file that cannot be read: names the file, the line and the problem."""


def _from_json(obj: dict, where: str) -> HistoricShooting | None:
    obj = obj.get("event", obj)
    if not isinstance(obj, dict) or obj.get("lat") is None or obj.get("lon") is None:
        return None  # no location: it cannot be placed (counted by the caller as skipped)
    try:
        moment = datetime.fromisoformat(obj["reported_at"])
        if moment.tzinfo is None:
            raise ValueError("no UTC offset")
        return HistoricShooting(str(obj.get("ref", "")), str(obj["kind"]), moment, float(obj["lat"]), float(obj["lon"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise HistoryError(f"{where}: not an event with kind, reported_at (ISO 8601 with offset), lat, lon ({exc})") from None


def read_history(path: Path, csv_shootings: Callable[[Path], Iterable[HistoricShooting]] | None = None) -> Iterator[HistoricShooting]:
    """Shootings from JSON Lines (history or `vigil parse` output), or from the city's open-data CSV through
    ``csv_shootings`` (the feeds read CSV; this package sits below them)."""
    if path.suffix.lower() == ".csv":
        if csv_shootings is None:
            raise HistoryError(f"{path}: a CSV history needs the open-data reader (vigil coverage gaps has it)")
        yield from csv_shootings(path)
        return
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HistoryError(f"{path}:{number}: not JSON ({exc.msg})") from None
            shooting = _from_json(obj, f"{path}:{number}") if isinstance(obj, dict) else None
            if shooting is not None:
                yield shooting


def write_report(report: GapReport, coverage: CoverageMap, out: Path, neighborhoods: Path, communities: Path) -> list[Path]:
    """Write the CSVs and the two pictures; returns the files written."""
    from geofences.gap_plots import render_gap_map, render_heat_strip

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "uncovered_shootings.csv", out / "gaps_by_neighborhood.csv", out / "gaps_by_hour_of_week.csv"]
    with open(written[0], "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ref", "kind", "reported_at_local", "lat", "lon", "neighborhood", "community", "reason", "street_teams_off_shift"])
        for gap in sorted(report.uncovered, key=lambda g: g.shooting.reported_at):
            s = gap.shooting
            writer.writerow([s.ref, s.kind, s.reported_at.isoformat(), s.lat, s.lon, gap.neighborhood, gap.community, gap.reason, " ".join(gap.off_shift_teams)])
    with open(written[1], "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "neighborhood", "community", "shootings", "uncovered", "share_uncovered", "no_street_team", "street_team_off_shift"])
        for rank, (name, community, total, uncovered, no_team, off) in enumerate(report.by_neighborhood(), start=1):
            writer.writerow([rank, name, community, total, uncovered, f"{uncovered / total:.2f}", no_team, off])
    grid = report.hour_of_week()
    slots = sorted(((grid[d][h], d, h) for d in range(7) for h in range(24)), key=lambda x: (-x[0], x[1], x[2]))
    with open(written[2], "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "weekday", "hour", "uncovered"])
        for rank, (count, day, hour) in enumerate(slots, start=1):
            writer.writerow([rank, DAY_LABELS[day], f"{hour:02d}:00", count])
    period = f"{report.first.isoformat()} to {report.last.isoformat()}"
    subtitle = f"{len(report.uncovered)} of {report.shootings} shootings with no street team on shift, {period}"
    written.append(render_gap_map(report.by_cell(), out / "gap_map.png", neighborhoods=neighborhoods, communities=communities,
                                  title="Shootings with no street team on shift", subtitle=subtitle))
    written.append(render_heat_strip(grid, out / "gap_hours.png", title="Uncovered shootings by weekday and hour (local time)", subtitle=subtitle))
    return written


def summary_lines(report: GapReport, top: int = 10) -> list[str]:
    """A one-screen summary for the terminal."""
    share = len(report.uncovered) / report.shootings if report.shootings else 0.0
    lines = [
        f"coverage gaps {report.first} to {report.last}: {len(report.uncovered)} of {report.shootings} shootings "
        f"({share:.0%}) had no street team on shift" + (f"; {report.outside_city} outside the city" if report.outside_city else ""),
        f"  {sum(g.reason == NO_TEAM for g in report.uncovered)} where no street team covers the place, "
        f"{sum(g.reason == OFF_SHIFT for g in report.uncovered)} where the covering team was off shift",
        "",
        f"  {'neighborhood':<28} {'community':<13} {'uncovered':>9} {'of':>5}",
    ]
    for name, community, total, uncovered, _, _ in report.by_neighborhood()[:top]:
        lines.append(f"  {name:<28} {community:<13} {uncovered:>9} {total:>5}")
    grid = report.hour_of_week()
    slots = sorted(((grid[d][h], d, h) for d in range(7) for h in range(24)), key=lambda x: (-x[0], x[1], x[2]))[:top]
    lines += ["", "  busiest uncovered hours: " + ", ".join(f"{DAY_LABELS[d]} {h:02d}:00 ({c})" for c, d, h in slots if c)]
    return lines
