"""`vigil roster`: lint warns of people with no contact method; who names the people on call."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from stream.cli.main import app
from stream.core.deployment import DeploymentPaths


def test_lint_warns_of_people_without_contact(tmp_path) -> None:
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("version: 1\nurls:\n  - ntfys://ntfy.example.org/ana:\n      - tag: person-ana-r, via-push\n")
    result = CliRunner().invoke(app, ["roster", "lint", "--contacts", str(contacts), "--from", "2026-12-01", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "warning: deshawn-m: no contact method" in result.output
    assert "ana-r: no contact method" not in result.output


def test_who_names_primary_and_secondary() -> None:
    result = CliRunner().invoke(app, ["roster", "who", "--team", "vi-north-camden", "--at", "2026-12-02T20:00:00-06:00"])
    assert result.exit_code == 0, result.output
    assert "primary   pa-v" in result.output and "(rotation)" in result.output


def test_show_unknown_team_has_did_you_mean() -> None:
    result = CliRunner().invoke(app, ["roster", "show", "vi-centrl"])
    assert result.exit_code == 2
    assert 'no roster for team \'vi-centrl\' (did you mean "vi-central"?)' in result.output


# ---- languages: every language a roster uses has its templates -----------------------------------

ROSTERS = DeploymentPaths.bundled().rosters
PROTOCOLS = DeploymentPaths.bundled().protocols
FAISAL = '  - {id: faisal-o, name: "Faisal O.", languages: [so, en]}'


def _lint(*args: str):
    return CliRunner().invoke(app, ["roster", "lint", "--from", "2026-12-01", "--days", "1", *args])


def _rosters(tmp_path: Path, faisal_languages: str) -> Path:
    """A copy of the demo rosters where vi-central's Faisal O. reads ``faisal_languages``."""
    folder = tmp_path / "rosters"
    shutil.copytree(ROSTERS, folder)
    path = folder / "vi-central.yaml"
    text = path.read_text()
    assert FAISAL in text
    path.write_text(text.replace(FAISAL, FAISAL.replace("[so, en]", faisal_languages)))
    return folder


def _protocols(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "protocols.yaml"
    text = PROTOCOLS.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def test_the_demo_rosters_languages_all_have_templates() -> None:
    result = _lint()
    assert result.exit_code == 0, result.output
    assert "template" not in result.output


def test_a_language_without_templates_is_a_warning_at_the_person(tmp_path: Path) -> None:
    folder = _rosters(tmp_path, "[fr, so, en]")
    result = _lint("--rosters", str(folder))
    assert result.exit_code == 0, result.output
    assert (f"{folder / 'vi-central.yaml'}:6: warning: faisal-o: no templates in {PROTOCOLS} for language 'fr': "
            "alerts reach them in so") in result.output
    only = _rosters(tmp_path / "other", "[om]")
    assert f"faisal-o: no templates in {PROTOCOLS} for language 'om': alerts reach them in en" in _lint("--rosters", str(only)).output


def test_an_unknown_audience_under_a_language_is_the_protocols_error(tmp_path: Path) -> None:
    protocols = _protocols(tmp_path, "  so:  # Somali: awaiting native-speaker review\n    street:\n", "  so:\n    stret:\n")
    result = _lint("--protocols", str(protocols))
    assert result.exit_code == 1
    assert f"{protocols}:" in result.output and "translations.so: unknown audience 'stret' (did you mean \"street\"?)" in result.output


def test_a_used_language_without_the_teams_audience_gets_english(tmp_path: Path) -> None:
    text = PROTOCOLS.read_text()
    start = text.index("  so:  # Somali")
    street, gvi = text.index("    street:", start), text.index("    gvi:", start)
    protocols = tmp_path / "protocols.yaml"
    protocols.write_text(text[:street] + text[gvi:])  # Somali has no street template any more
    result = _lint("--protocols", str(protocols))
    assert result.exit_code == 0, result.output
    assert (f"{ROSTERS / 'vi-central.yaml'}:6: warning: faisal-o: no so template for audience 'street' in {protocols}: "
            "vi-central's alerts reach them in English") in result.output


def test_a_broken_template_in_a_used_language_is_an_error(tmp_path: Path) -> None:
    protocols = _protocols(tmp_path, "Fadlan xaqiiji ka hor {{ ack_by }}", "Fadlan xaqiiji ka hor {{ ack_by }")
    result = _lint("--protocols", str(protocols))
    assert result.exit_code == 1
    assert f"{protocols}:" in result.output and "error: translations.so.street.body: does not compile" in result.output
