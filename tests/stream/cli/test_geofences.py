"""`vigil geofences show` and `vigil geofences compile` as planners run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import vigil_in_process


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as a real process: one test per command; the rest through ``vigil_in_process``."""
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], capture_output=True, text=True, timeout=120)


def test_show_on_the_spring_forward_night_at_a_school() -> None:
    result = vigil("geofences", "show", "--lat", "44.9987", "--lon", "-93.3034", "--at", "2026-03-08T03:30:00-05:00")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "moment       Sun 2026-03-08 03:30 CDT" in lines
    assert "neighborhood Jordan" in lines
    assert "  covers     vi-north-nearnorth       street   off" in lines
    assert "  covers     gvi-outreach             gvi      ON SHIFT" in lines
    assert "  no street team on shift: a coverage gap" in lines
    assert "  school     North Community High School (north-high), 0 m" in lines


def test_show_outside_the_city() -> None:
    result = vigil_in_process("geofences", "show", "--lat", "45.0137", "--lon", "-93.3207", "--at", "2026-07-04T22:00:00-05:00")
    assert "neighborhood -- outside the city" in result.stdout
    assert "  no street team covers this place" in result.stdout


def test_show_refuses_a_moment_without_offset() -> None:
    result = vigil_in_process("geofences", "show", "--lat", "45", "--lon", "-93.3", "--at", "2026-07-04T22:00:00")
    assert result.returncode == 2 and "vigil: --at '2026-07-04T22:00:00' has no UTC offset" in result.stderr


def test_compile_writes_cells_and_version(tmp_path: Path, deployment) -> None:
    out = tmp_path / "compiled.json"
    result = vigil("geofences", "compile", "--out", str(out))
    assert result.returncode == 0, result.stderr
    compiled = json.loads(out.read_text())
    assert compiled["version"] == deployment.coverage.version
    assert set(compiled["teams"]["vi-central"]["cells"]) == set(deployment.coverage.team_cells["vi-central"])
    assert f"version {deployment.coverage.version} (resolution 9)" in result.stdout
