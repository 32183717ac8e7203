"""The drill's layout of scenarios in time (the live run itself is tests/integration/test_live_scenarios.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from stream.core.scenarios import Scenario, run_scenario
from stream.devtools.drill import GAP, end_of, load_scenarios, place, shift_scenario, shift_time, signature, start_of

CHICAGO = ZoneInfo("America/Chicago")
SCENARIOS = Path(__file__).parents[3] / "rules" / "minneapolis" / "scenarios"


def test_a_shift_keeps_the_local_wall_clock_across_daylight_saving() -> None:
    summer = datetime(2026, 7, 4, 22, 0, tzinfo=CHICAGO)
    moved = shift_time(summer, 20, CHICAGO)
    assert moved.astimezone(CHICAGO).replace(tzinfo=None) == datetime(2026, 11, 21, 22, 0)
    assert moved.astimezone(CHICAGO).utcoffset() == timedelta(hours=-6)
    # an hour longer in real time: the clocks went back in between (same-zone datetimes subtract as wall times)
    assert moved.timestamp() - summer.timestamp() == timedelta(weeks=20, hours=1).total_seconds()


def test_a_shift_of_no_weeks_keeps_the_second_one_thirty_of_a_fall_back_night() -> None:
    second = datetime(2026, 11, 1, 1, 30, tzinfo=CHICAGO, fold=1)
    assert shift_time(second, 0, CHICAGO).utcoffset() == timedelta(hours=-6)


def test_placed_scenarios_follow_one_another_and_keep_what_they_test(deployment) -> None:
    originals = dict(load_scenarios(SCENARIOS))
    placed = place(originals.items(), deployment)
    assert sorted(p.name for p in placed) == sorted(originals)
    zone = deployment.coverage.zone
    for earlier, later in zip(placed, placed[1:], strict=False):
        assert start_of(later.scenario) >= end_of(earlier.scenario) + GAP, later.name
    for p in placed:
        original = originals[p.name]
        # the teams' alerts keep what the scenario tests (what is sent also has the answers updates of its acks)
        alerts = [i for i in p.predicted if i.purpose == "alert"]
        assert signature(p.scenario, alerts, zone) == signature(original, run_scenario(original, deployment), zone), p.name
        # and, the follow-up protocol being on, the reminders of the tasks it makes and the notices of those overdue
        assert {i.purpose for i in p.predicted} <= {"alert", "answers", "stand_down", "task", "notice"}
        assert all(i.task_id for i in p.predicted if i.purpose in ("task", "notice"))


def test_a_daylight_saving_scenario_lands_on_a_transition_night(deployment) -> None:
    placed = {p.name: p for p in place(load_scenarios(SCENARIOS), deployment)}
    moved = placed["dst-spring-forward-escalation-across-the-jump"]
    first_step = start_of(moved.scenario).astimezone(CHICAGO)
    # 01:50 CST, and the escalation 15 minutes later lands after the jump, at 03:05 CDT
    assert first_step.utcoffset() == timedelta(hours=-6)
    assert any(i.created_at.astimezone(CHICAGO).utcoffset() == timedelta(hours=-5) for i in moved.predicted)


def test_a_close_task_steps_due_time_moves_with_the_scenario() -> None:
    chicago = ZoneInfo("America/Chicago")
    scenario = Scenario.model_validate({"name": "closing", "steps": [
        {"at": "2026-07-04T19:00:00-05:00", "cad": {"incident": "D-1", "type": "Shooting (PFE)", "lat": 45.0003, "lon": -93.3001, "victims": [20]}},
        {"at": "2026-07-05T12:00:00-05:00", "close_task": {"ref": "D-1", "team": "vi-north-nearnorth", "kind": "retaliation_checkin",
                                                          "due": "2026-07-05T19:00:00-05:00"}}]})
    moved = shift_scenario(scenario, 2, chicago).steps[1]
    assert (moved.at, moved.close_task.due) == (datetime(2026, 7, 19, 12, 0, tzinfo=chicago), datetime(2026, 7, 19, 19, 0, tzinfo=chicago))
