"""`vigil geofences lint`: one test per rule, each with its exact message and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from geofences.coverage import CoverageError, compile_coverage
from geofences.lint import hour_ranges, lint
from stream.core.deployment import DeploymentPaths
from tests.helpers import vigil_in_process

BUNDLED = DeploymentPaths.bundled().teams


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled deployment with one edit to teams.yaml."""
    folder = tmp_path / "mpls"
    shutil.copytree(BUNDLED.parent, folder)
    teams = folder / "teams.yaml"
    text = teams.read_text()
    assert old in text, old
    teams.write_text(text.replace(old, new, 1))
    return teams


def errors(teams: Path) -> list[str]:
    problems, _ = lint(teams)
    return [str(p) for p in problems if p.level == "error"]


def test_the_bundled_deployment_has_no_errors() -> None:
    assert errors(BUNDLED) == []


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    teams = edited(tmp_path, "    audience: street\n    covers: {communities: [Camden]}", "    audience: street\n    covers: {communities: [Camden]")
    assert errors(teams) == [f"{teams}:20: error: YAML syntax: expected ',' or '}}', but got '<scalar>'"]


def test_schema_error_names_field_and_line(tmp_path: Path) -> None:
    teams = edited(tmp_path, "    audience: street", "    audience: streets")
    assert errors(teams) == [f"{teams}:18: error: teams.0.audience: Input should be 'street', 'gvi', 'hospital', 'school' or 'oncall'"]


def test_unknown_field_is_an_error(tmp_path: Path) -> None:
    teams = edited(tmp_path, "    audience: street", "    audience: street\n    shift: []")
    assert errors(teams) == [f"{teams}:19: error: teams.0.shift: Extra inputs are not permitted"]


def test_bad_shift_time(tmp_path: Path) -> None:
    teams = edited(tmp_path, 'start: "16:00", end: "02:00"}]\n  - id: vi-north-nearnorth', 'start: "4pm", end: "02:00"}]\n  - id: vi-north-nearnorth')
    assert errors(teams) == [f"{teams}:20: error: teams.0.shifts.0.start: '4pm' is not a time of day HH:MM (00:00 to 23:59)"]


def test_unknown_neighborhood_with_did_you_mean(tmp_path: Path) -> None:
    teams = edited(tmp_path, "neighborhoods: [Cedar Riverside]", "neighborhoods: [Cedar Riversid]")
    assert errors(teams) == [f'{teams}:35: error: team vi-central: unknown neighborhood \'Cedar Riversid\' (did you mean "Cedar Riverside"?)']


def test_unknown_community_with_did_you_mean(tmp_path: Path) -> None:
    teams = edited(tmp_path, "communities: [Camden]", "communities: [camden]")
    assert errors(teams) == [f'{teams}:19: error: team vi-north-camden: unknown community \'camden\' (did you mean "Camden"?)']


def test_unknown_hospital_and_school(tmp_path: Path) -> None:
    teams = edited(tmp_path, "covers: {hospitals: [hcmc]}", "covers: {hospitals: [hcmcc]}")
    assert errors(teams) == [f'{teams}:51: error: team nextstep-hcmc: unknown hospital \'hcmcc\' (did you mean "hcmc"?)']
    teams = edited(tmp_path / "b", "covers: {schools: all}", "covers: {schools: [nort-high]}")
    assert errors(teams) == [f'{teams}:69: error: team mps-safety: unknown school \'nort-high\' (did you mean "north-high"?)']


def test_duplicate_team_id(tmp_path: Path) -> None:
    teams = edited(tmp_path, "  - id: vi-north-nearnorth", "  - id: vi-north-camden")
    assert errors(teams) == [f"{teams}:21: error: team id vi-north-camden is used twice (first at line 17)"]


def test_team_that_covers_nothing(tmp_path: Path) -> None:
    teams = edited(tmp_path, "    covers: {communities: [Camden]}", "    covers: {}")
    assert errors(teams) == [f"{teams}:19: error: team vi-north-camden covers nothing"]


def test_team_without_hours(tmp_path: Path) -> None:
    teams = edited(tmp_path, '    shifts: [{days: daily, start: "16:00", end: "02:00"}]\n  - id: vi-north-nearnorth', "  - id: vi-north-nearnorth")
    assert errors(teams) == [f"{teams}:17: error: team vi-north-camden has no shifts (say `always: true` if it is always on)"]


def test_always_and_shifts_together(tmp_path: Path) -> None:
    teams = edited(tmp_path, "    audience: street\n    covers: {communities: [Camden]}", "    audience: street\n    always: true\n    covers: {communities: [Camden]}")
    assert errors(teams) == [f"{teams}:21: error: team vi-north-camden is `always` on and also lists shifts; keep one"]


def test_missing_polygon_file(tmp_path: Path) -> None:
    teams = edited(tmp_path, "covers: {communities: [Camden]}", "covers: {polygons: [camden-extra.geojson]}")
    assert errors(teams) == [f"{teams}:19: error: team vi-north-camden: polygon file camden-extra.geojson not found beside teams.yaml"]


def test_missing_city_layer(tmp_path: Path) -> None:
    teams = edited(tmp_path, "  schools: schools.csv", "  schools: school.csv")
    assert errors(teams) == [f"{teams}:13: error: city.schools: file school.csv not found beside teams.yaml"]


def test_overlapping_street_coverage_is_a_note(tmp_path: Path) -> None:
    teams = edited(tmp_path, "covers: {communities: [Central], neighborhoods: [Cedar Riverside]}",
                   "covers: {communities: [Central], neighborhoods: [Cedar Riverside, Ventura Village]}")
    problems, coverage = lint(teams)
    notes = [str(p) for p in problems if "overlap" in p.message]
    assert coverage is not None and errors(teams) == []
    assert len(notes) == 1
    assert notes[0].startswith(f"{teams}:33: note: street teams vi-south-phillips and vi-central overlap in ")
    assert notes[0].endswith(" cells (Ventura Village)")


def test_hours_with_no_street_team_per_community(tmp_path: Path) -> None:
    notes = {p.message for p in lint(BUNDLED)[0] if p.level == "note"}
    assert "community Camden: no street team on shift 98 of 168 hours: daily 02:00-16:00" in notes
    assert "community Longfellow: no street team covers it (168 of 168 hours)" in notes
    assert ("community University (street teams cover only Cedar Riverside): no street team on shift 141 of 168 hours: "
            "Mon all day; Tue all day; Wed all day; Thu 00:00-18:00; Fri 03:00-18:00; Sat 03:00-18:00; Sun 03:00-24:00") in notes


def test_hour_ranges_wording() -> None:
    assert hour_ranges(range(168)) == "daily all day"
    assert hour_ranges([0, 1, 2, 30]) == "Mon 00:00-03:00; Tue 06:00-07:00"


def test_the_worker_fails_at_start_with_the_same_messages(tmp_path: Path) -> None:
    teams = edited(tmp_path, "communities: [Camden]", "communities: [Camdem]")
    with pytest.raises(CoverageError) as info:
        compile_coverage(teams)
    assert str(info.value) == f'{teams}:19: error: team vi-north-camden: unknown community \'Camdem\' (did you mean "Camden"?)'


def test_lint_command_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "stream.cli", "geofences", "lint"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("version " + compile_coverage(BUNDLED).version)
    teams = edited(tmp_path, "communities: [Camden]", "communities: [Camdem]")
    bad = vigil_in_process("geofences", "lint", "--teams", str(teams))  # the real process ran above
    assert bad.returncode == 1 and "unknown community 'Camdem'" in bad.stdout and "1 error(s)" in bad.stderr
