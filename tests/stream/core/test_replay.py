"""`vigil replay`: same input, same output byte for byte; bad lines named and skipped; the clock runs on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7_builder import AdtMessage
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS


def scenario(path: Path) -> Path:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    lines = [
        {"at": "2026-07-04T22:15:00-05:00", "source": "eido",
         "payload": build_eido("R-1", "2026-07-04T22:14:00-05:00", internal_text="Shooting (PFE)", lat=JORDAN[0], lon=JORDAN[1], victim_ages=[19])},
        {"at": "2026-07-04T22:20:00-05:00", "source": "ack", "ref": "R-1", "team": "vi-north-nearnorth"},
        "this is not json",
        {"at": "2026-07-04T22:40:00-05:00", "source": "hl7",
         "payload": AdtMessage("H-R1", "hcmc", datetime(2026, 7, 4, 22, 40, tzinfo=ZoneInfo("America/Chicago"))).render()},
        {"at": "2026-07-04T23:00:00-05:00", "source": "csv", "payload": {"Type": "Shots Fired Calls", "Case_Number": "26-1", "Reported_Date": "2026/07/05 04:00:00+00",
                                                                         "Latitude": str(MIDTOWN_PHILLIPS[0]), "Longitude": str(MIDTOWN_PHILLIPS[1])}},
        {"at": "2026-07-04T23:05:00-05:00", "source": "fax", "payload": {}},
    ]
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream.cli", "--log-level", "error", "replay", *args], capture_output=True, text=True, timeout=120)


def test_same_input_same_output_byte_for_byte(tmp_path: Path) -> None:
    source = scenario(tmp_path / "s.jsonl")
    first, second = run(str(source), "--out", str(tmp_path / "a.jsonl")), run(str(source), "--out", str(tmp_path / "b.jsonl"))
    assert first.returncode == second.returncode == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    out = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [(o["at"][11:16], o["team"], o["rule"], o["step"]) for o in out] == [
        ("22:15", "vi-north-nearnorth", "P2", "initial"), ("22:15", "gvi-outreach", "P2", "initial"),
        ("22:40", "nextstep-hcmc", "P3", "update"),       # the arrival joins R-1 (acked at 22:20: no P2 escalation)
        ("22:55", "dns-oncall", "P3", "escalation"),      # Next Step did not ack within 15 minutes
        ("23:00", "vi-south-phillips", "P1", "initial"),  # the open-data row
        ("23:15", "dns-oncall", "P1", "escalation"),
    ]
    assert set(out[0]) == {"at", "activation", "refs", "team", "rule", "step", "flags", "message"}
    assert [o["at"] for o in out] == sorted(o["at"] for o in out)


def test_bad_lines_are_reported_with_their_number_and_the_replay_goes_on(tmp_path: Path) -> None:
    result = run(str(scenario(tmp_path / "s.jsonl")), "--out", str(tmp_path / "o.jsonl"))
    assert "line 3: invalid_json: not JSON (Expecting value)" in result.stderr
    assert "line 6: bad_source: source 'fax' is not one of eido, hl7, csv, ack" in result.stderr
    assert (tmp_path / "o.jsonl").read_text().count("\n") >= 4


def test_until_stops_the_clock_before_due_escalations(tmp_path: Path) -> None:
    source = scenario(tmp_path / "s.jsonl")
    run(str(source), "--out", str(tmp_path / "short.jsonl"), "--until", "2026-07-04T23:01:00-05:00")
    run(str(source), "--out", str(tmp_path / "long.jsonl"))
    short = [json.loads(line) for line in (tmp_path / "short.jsonl").read_text().splitlines()]
    long = [json.loads(line) for line in (tmp_path / "long.jsonl").read_text().splitlines()]
    assert [o for o in long if o["at"] > "2026-07-04T23:01:00-05:00"] and len(short) < len(long)


def test_people_adds_a_line_per_person_paged_and_keeps_the_team_lines(tmp_path: Path) -> None:
    source = scenario(tmp_path / "s.jsonl")
    assert run(str(source), "--out", str(tmp_path / "teams.jsonl")).returncode == 0
    assert run(str(source), "--out", str(tmp_path / "people.jsonl"), "--people").returncode == 0
    teams = [json.loads(line) for line in (tmp_path / "teams.jsonl").read_text().splitlines()]
    people = [json.loads(line) for line in (tmp_path / "people.jsonl").read_text().splitlines()]
    assert [line for line in people if "person" not in line] == teams  # the team-level lines do not change
    pages = [line for line in people if "person" in line]
    assert set(pages[0]) == {"at", "activation", "team", "person", "name", "channel", "language", "step"}
    street = [(p["at"][11:19], p["name"], p["channel"]) for p in pages if p["team"] == "vi-north-nearnorth"]
    # R-1 at 22:15, acked at 22:20: the primary on push, then SMS, the secondary at 22:18, the primary's e-mail; the
    # secondary's SMS fell due at the very moment of the ack, which comes first (the step rule)
    assert street == [("22:15:00", "Yer L.", "push"), ("22:17:00", "Yer L.", "sms"), ("22:18:00", "Luis G.", "push"),
                      ("22:19:00", "Yer L.", "email")]
    assert {p["language"] for p in pages if p["name"] == "Yer L."} == {"hmn"}  # her roster's first language


def test_a_standdowns_file_redirects_the_stood_down_teams_alerts_in_the_replay(tmp_path: Path) -> None:
    source = scenario(tmp_path / "s.jsonl")
    standdowns = tmp_path / "standdowns.jsonl"
    standdowns.write_text(json.dumps({
        "id": "sd-1", "team": "vi-north-nearnorth", "reason": "funeral", "by": "dns1", "created_at": "2026-07-04T12:00:00-05:00",
        "starts": "2026-07-04T20:00:00-05:00", "ends": "2026-07-05T02:00:00-05:00"}) + "\n")
    assert run(str(source), "--out", str(tmp_path / "o.jsonl"), "--standdowns", str(standdowns)).returncode == 0
    out = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    first = [(o["at"][11:16], o["team"], o.get("stood_down")) for o in out if o["at"][11:16] == "22:15"]
    assert first == [("22:15", "dns-oncall", "vi-north-nearnorth"), ("22:15", "gvi-outreach", None)]
    assert "vi-north-nearnorth is stood down until 02:00 (funeral)" in out[0]["message"]


def test_a_standdowns_file_with_an_unknown_team_is_refused_with_a_did_you_mean(tmp_path: Path) -> None:
    standdowns = tmp_path / "standdowns.jsonl"
    standdowns.write_text(json.dumps({
        "id": "sd-1", "team": "vi-north-nearnort", "reason": "funeral", "by": "dns1", "created_at": "2026-07-04T12:00:00-05:00",
        "starts": "2026-07-04T20:00:00-05:00", "ends": "2026-07-05T02:00:00-05:00"}) + "\n" + '{"id": "sd-2"}\n')
    result = run(str(scenario(tmp_path / "s.jsonl")), "--out", str(tmp_path / "o.jsonl"), "--standdowns", str(standdowns))
    assert result.returncode == 1
    assert "standdowns.jsonl:1: sd-1: no team 'vi-north-nearnort' (did you mean 'vi-north-nearnorth'?)" in result.stderr
    assert "standdowns.jsonl:2: Field required (reason)" in result.stderr


def test_tasks_writes_a_line_per_follow_up_task_made(tmp_path: Path) -> None:
    result = run(str(scenario(tmp_path / "s.jsonl")), "--out", str(tmp_path / "o.jsonl"),
                 "--tasks", str(tmp_path / "tasks.jsonl"))
    assert result.returncode == 0, result.stderr
    tasks = [json.loads(line) for line in (tmp_path / "tasks.jsonl").read_text().splitlines()]
    assert [(t["team"], t["kind"], t["due"]) for t in tasks] == [
        ("vi-north-nearnorth", "family_contact", "2026-07-06T22:15:00-05:00"),  # F2: 48 h after the 22:15 alert
        ("nextstep-hcmc", "bedside", "2026-07-05T22:40:00-05:00"),  # F1: 24 h after the 22:40 arrival
    ]
    assert set(tasks[0]) == {"at", "activation", "team", "kind", "rule", "due", "task"}
