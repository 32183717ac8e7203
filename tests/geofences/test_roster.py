"""Roster files: validated at load with file, line and did-you-mean; the demo has a roster per team."""

from __future__ import annotations

from pathlib import Path

from geofences.roster import load_roster, load_rosters
from notifiers.contacts import person_channels
from stream.core.deployment import DeploymentPaths

TEAMS = {"vi-central", "vi-north-camden"}
GOOD = """team: vi-central
people:
  - {id: ana}
  - {id: bo, languages: [so, en]}
rotations:
  - {layer: primary, people: [ana, bo], handoff: "16:00", turn_days: 7, starts: 2026-01-05}
"""


def write(tmp_path: Path, text: str, name: str = "vi-central.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_person_has_file_line_and_did_you_mean(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("people: [ana, bo]", "people: [ana, boo]"))
    roster, problems = load_roster(path, TEAMS)
    assert roster is None
    assert [str(p) for p in problems] == [f"{path}:6: error: rotations.0.people.1: unknown person 'boo' (did you mean \"bo\"?)"]


def test_unknown_team_has_did_you_mean(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("team: vi-central", "team: vi-centrl"), "vi-centrl.yaml")
    _, problems = load_roster(path, TEAMS)
    assert f"{path}:1: error: team: unknown team 'vi-centrl' (did you mean \"vi-central\"?)" in [str(p) for p in problems]


def test_bad_handoff_and_swap_of_someone_elses_turn(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace('"16:00"', '"25:00"'))
    _, problems = load_roster(path, TEAMS)
    assert str(problems[0]).startswith(f"{path}:6: error: rotations.0.handoff:") and "HH:MM" in str(problems[0])
    path = write(tmp_path, GOOD + "swaps:\n  - {layer: primary, date: 2026-01-12, person: ana, covered_by: bo}\n")
    _, problems = load_roster(path, TEAMS)
    assert [str(p) for p in problems] == [f"{path}:8: error: swaps.0: the primary turn beginning on 2026-01-12 is bo's, not 'ana''s"]


def test_override_with_an_offset_is_refused(tmp_path) -> None:
    path = write(tmp_path, GOOD + "overrides:\n  - {layer: primary, person: ana, start: 2026-12-24T18:00-06:00, end: 2026-12-25T09:00}\n")
    _, problems = load_roster(path, TEAMS)
    assert "without a UTC offset" in str(problems[0]) and str(problems[0]).startswith(f"{path}:8:")


def test_demo_has_a_valid_roster_for_every_team() -> None:
    from geofences.coverage import compile_coverage

    paths = DeploymentPaths.bundled()
    teams = set(compile_coverage(paths.teams).teams)
    assert paths.rosters is not None
    rosters, problems = load_rosters(paths.rosters, teams)
    assert problems == []
    assert set(rosters.rosters) == teams


def test_person_channels_in_order_and_team_tags_untouched(tmp_path) -> None:
    contacts = write(tmp_path, """version: 1
urls:
  - mailtos://u:p@mail.example.org?to=ana@example.org:
      - tag: person-ana, via-email
  - twilio://AC0:0@16125550100/16125550101:
      - tag: person-ana, via-sms
  - ntfys://ntfy.example.org/ana:
      - tag: person-ana, via-push
  - ntfys://ntfy.example.org/team:
      - tag: vi-central, via-push
""", "contacts.yaml")
    assert person_channels(contacts) == {"ana": ("push", "sms", "email")}
