"""The coverage-gap report: which shootings had no street team on shift, ranked; files and summary."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from geofences.gaps import NO_TEAM, OFF_SHIFT, HistoricShooting, HistoryError, build_report, read_history, summary_lines
from tests.helpers import HIAWATHA, JORDAN, OUTSIDE_CITY, vigil_in_process

CHICAGO = ZoneInfo("America/Chicago")
DATA = Path(__file__).resolve().parents[1] / "data"


def shot(ref: str, where: tuple[float, float], local: str, kind: str = "person_shot") -> HistoricShooting:
    return HistoricShooting(ref, kind, datetime.fromisoformat(local).replace(tzinfo=CHICAGO), where[0], where[1])


HISTORY = [
    shot("covered", JORDAN, "2025-07-05T22:00"),          # Sat 22:00: vi-north-nearnorth on shift
    shot("off-shift", JORDAN, "2025-07-06T03:00"),        # Sun 03:00: Saturday's shift ended at 02:00
    shot("off-shift-2", JORDAN, "2025-07-06T03:40", "shots_fired"),
    shot("no-team", HIAWATHA, "2025-07-05T22:00"),        # Longfellow has no street team
    shot("outside", OUTSIDE_CITY, "2025-07-05T22:00"),
    shot("not-a-shooting", JORDAN, "2025-07-06T03:00", "burglary"),
    shot("out-of-period", JORDAN, "2025-08-02T03:00"),
]


def test_report_counts_and_reasons(deployment) -> None:
    report = build_report(HISTORY, deployment.coverage, date(2025, 7, 1), date(2025, 7, 31))
    assert (report.shootings, report.outside_city) == (5, 1)
    assert sorted((g.shooting.ref, g.reason) for g in report.uncovered) == [
        ("no-team", NO_TEAM), ("off-shift", OFF_SHIFT), ("off-shift-2", OFF_SHIFT)]
    assert report.by_neighborhood() == [("Jordan", "Near North", 3, 2, 0, 2), ("Hiawatha", "Longfellow", 1, 1, 1, 0)]
    grid = report.hour_of_week()
    assert (grid[6][3], grid[5][22], sum(map(sum, grid))) == (2, 1, 3)  # Sun 03:00 twice, Sat 22:00 once


def test_summary_first_lines(deployment) -> None:
    report = build_report(HISTORY, deployment.coverage, date(2025, 7, 1), date(2025, 7, 31))
    lines = summary_lines(report)
    assert lines[0] == "coverage gaps 2025-07-01 to 2025-07-31: 3 of 5 shootings (60%) had no street team on shift; 1 outside the city"
    assert lines[1] == "  1 where no street team covers the place, 2 where the covering team was off shift"
    assert lines[-1] == "  busiest uncovered hours: Sun 03:00 (2), Sat 22:00 (1)"


def test_reads_json_lines_of_history_and_of_vigil_parse(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join([
        json.dumps({"ref": "a", "kind": "person_shot", "reported_at": "2025-07-05T22:00:00-05:00", "lat": JORDAN[0], "lon": JORDAN[1]}),
        json.dumps({"event": {"ref": "b", "kind": "shotspotter", "reported_at": "2025-07-05T23:00:00-05:00", "lat": 44.95, "lon": -93.26}}),
        json.dumps({"event": {"ref": "c", "kind": "gsw_arrival", "reported_at": "2025-07-05T23:00:00-05:00", "lat": None, "lon": None}}),
        json.dumps({"skipped": {"ref": "d", "reason": "not_a_shooting"}}),
        "",
    ]))
    assert [s.ref for s in read_history(path)] == ["a", "b"]


def test_a_bad_history_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"ref": "a", "kind": "person_shot", "reported_at": "2025-07-05T22:00:00", "lat": 45, "lon": -93.3}\n')
    with pytest.raises(HistoryError, match=f"{path}:1: not an event with kind, reported_at \\(ISO 8601 with offset\\), lat, lon \\(no UTC offset\\)"):
        list(read_history(path))


def test_reads_open_data_csv(deployment) -> None:
    from stream.cli.geofences import csv_shootings

    shootings = list(read_history(DATA / "opendata" / "crime_data.csv", csv_shootings(deployment.classification)))
    assert shootings and all(s.kind in ("person_shot", "shots_fired", "shotspotter") for s in shootings)


def test_a_csv_history_without_its_reader_is_refused() -> None:
    with pytest.raises(HistoryError, match="open-data reader"):
        list(read_history(DATA / "opendata" / "crime_data.csv"))


def test_command_writes_csvs_and_pictures(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text("\n".join(json.dumps({"ref": s.ref, "kind": s.kind, "reported_at": s.reported_at.isoformat(), "lat": s.lat, "lon": s.lon}) for s in HISTORY))
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "stream.cli", "coverage", "gaps", "--events", str(history), "--from", "2025-07-01",
                             "--to", "2025-07-31", "--out", str(out)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "3 of 5 shootings (60%) had no street team on shift" in result.stdout
    with open(out / "gaps_by_neighborhood.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["rank"], r["neighborhood"], r["uncovered"], r["share_uncovered"]) for r in rows] == [("1", "Jordan", "2", "0.67"), ("2", "Hiawatha", "1", "1.00")]
    for picture in ("gap_map.png", "gap_hours.png"):
        assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_refuses_a_reversed_period(tmp_path: Path) -> None:
    # in-process: test_command_writes_csvs_and_pictures runs the real command
    result = vigil_in_process("coverage", "gaps", "--events", "x", "--from", "2025-08-01", "--to", "2025-07-01", "--out", str(tmp_path))
    assert result.returncode == 2 and "vigil: --from 2025-08-01 is after --to 2025-07-01" in result.stderr
