"""`vigil roster`: lint warns of people with no contact method; who names the people on call."""

from __future__ import annotations

from typer.testing import CliRunner

from stream.cli.main import app


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
