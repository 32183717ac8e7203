"""The follow-up protocol's scenarios (tests/rules/followup_scenarios/: F1-F4, across the spring clock change and a
retaliation watch over a weekend), run by `vigil rules test`'s checker against the deployment with F1-F4 loaded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stream.core.scenarios import check_scenario
from tests.rules.followups_fixture import with_followups

SCENARIOS = sorted((Path(__file__).parent / "followup_scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_each_follow_up_scenario_makes_exactly_the_tasks_it_expects(path: Path, deployment, tmp_path: Path) -> None:
    followups = replace(deployment, protocols=with_followups(deployment, tmp_path).protocols)
    result = check_scenario(path, followups)
    assert result.passed, "\n".join(result.problems)


def test_a_task_not_made_is_named_with_its_line(deployment, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(SCENARIOS[0].read_text().replace('due: "2026-07-05T22:40:00-05:00"', 'due: "2026-07-05T21:40:00-05:00"'))
    followups = replace(deployment, protocols=with_followups(deployment, tmp_path).protocols)
    problems = check_scenario(wrong, followups).problems
    assert any("wrong.yaml:11" in p and "task expected but not made" in p for p in problems), problems
    assert any("task made but not expected" in p and "bedside" in p for p in problems), problems


FOLDER = Path(__file__).parent / "followup_scenarios"
CLOSED = FOLDER / "f2-closed-before-its-reminder.yaml"


def _problems(tmp_path: Path, deployment, text: str) -> list[str]:
    path = tmp_path / "closing.yaml"
    path.write_text(text)
    return check_scenario(path, deployment).problems


def test_without_its_closing_the_reminder_and_the_overdue_notice_go(deployment, tmp_path: Path) -> None:
    # the control for f2-closed-before-its-reminder: the same file without the close_task step
    lines = CLOSED.read_text().splitlines()
    text = "\n".join(line for n, line in enumerate(lines) if not (9 <= n <= 10)) + "\n"
    assert "close_task" not in text
    problems = _problems(tmp_path, deployment, text)
    assert len(problems) == 2, problems
    assert '"at": "2026-07-06T20:15:00-05:00", "team": "vi-north-nearnorth", "rule": "F2"' in problems[0] and '"purpose": "task"' in problems[0]
    assert '"team": "dns-oncall", "rule": "F2"' in problems[1] and '"purpose": "notice"' in problems[1]


@pytest.mark.parametrize(("wrong", "message"), [
    ("team: vi-north-northside, kind: family_contact", "error: close_task: 'vi-north-northside' is not a team of the deployment"),
    ("team: vi-north-nearnorth, kind: bedside_visit", "error: steps.2.close_task.kind: Input should be 'bedside', 'family_contact',"),
    ("team: vi-north-nearnorth, kind: family_contact, outcome: finished, x: 1", "error: steps.2.close_task.outcome: Input should be 'done',"),
])
def test_a_bad_close_task_step_is_named_with_its_file_and_line_when_loaded(deployment, tmp_path: Path, wrong: str, message: str) -> None:
    text = CLOSED.read_text().replace("team: vi-north-nearnorth, kind: family_contact, outcome: done", wrong)
    problems = _problems(tmp_path, deployment, text)
    assert any(p.startswith(f"{tmp_path / 'closing.yaml'}:11: {message}") for p in problems), problems
    assert check_scenario(tmp_path / "closing.yaml", deployment).notifications == []  # nothing was run


def test_a_close_task_kind_the_protocol_file_never_makes_is_named_when_loaded(deployment, tmp_path: Path) -> None:
    # a deployment whose follow-ups make no family contacts (F2 taken out of the bundled protocols)
    followups = deployment.protocols.spec.followups
    spec = deployment.protocols.spec.model_copy(update={"followups": followups.model_copy(
        update={"tasks": [t for t in followups.tasks if t.kind != "family_contact"]})})
    without_f2 = replace(deployment, protocols=replace(deployment.protocols, spec=spec))
    problems = _problems(tmp_path, without_f2, CLOSED.read_text())
    assert problems == [f"{tmp_path / 'closing.yaml'}:11: error: close_task: the protocol file makes no 'family_contact' tasks "
                        "(it makes bedside, retaliation_checkin, school_followup)"]


def test_a_close_task_step_whose_task_is_not_there_is_named_with_its_line(deployment, tmp_path: Path) -> None:
    # a street shooting makes no bedside visit (F1 is a hospital team's): the step is reported, and the reminder goes
    problems = _problems(tmp_path, deployment, CLOSED.read_text().replace("team: vi-north-nearnorth, kind: family_contact",
                                                                          "team: vi-north-nearnorth, kind: bedside"))
    assert f"{tmp_path / 'closing.yaml'}:11: error: close_task: no bedside task of vi-north-nearnorth in the activation of 'FC-1'" in problems
    assert any('"purpose": "task"' in p for p in problems)


def test_a_close_task_step_among_several_check_ins_needs_their_due_time(deployment, tmp_path: Path) -> None:
    retaliation = (FOLDER / "f3-retaliation-over-a-weekend.yaml").read_text()
    step = '  - at: "2026-07-05T12:00:00-05:00"\n    close_task: {ref: FR-2, team: vi-north-nearnorth, kind: retaliation_checkin%s}\nuntil:'
    several = _problems(tmp_path, deployment, retaliation.replace("until:", step % ""))
    assert any(":15: error: close_task: 3 retaliation_checkin tasks of vi-north-nearnorth in the activation of 'FR-2' (due "
               "2026-07-05T19:00:00-05:00, 2026-07-06T19:00:00-05:00, 2026-07-07T19:00:00-05:00): give its due" in p for p in several), several
    one = _problems(tmp_path, deployment, retaliation.replace("until:", step % ', due: "2026-07-05T19:00:00-05:00"'))
    assert one == []


@pytest.mark.parametrize(("old", "new"), [
    ("rule: P2, step: initial, purpose: alert}", "rule: P2, step: initial, purpose: task}"),  # the alert is no reminder
    ("purpose: task, person: luis-g", "purpose: task, person: marcus-t"),  # Marcus T.'s turn ended Monday 16:00
    ("team: dns-oncall, rule: F2, purpose: notice", "team: dns-oncall, rule: F2, purpose: task"),  # an overdue notice, not a reminder
])
def test_an_expectation_tells_a_reminder_and_a_notice_from_an_alert_and_names_the_person(deployment, tmp_path: Path, old: str,
                                                                                          new: str) -> None:
    text = (FOLDER / "f2-reminder-and-overdue.yaml").read_text()
    assert old in text
    problems = _problems(tmp_path, deployment, text.replace(old, new, 1))
    assert any("expected but not sent" in p for p in problems) and any("sent but not expected" in p for p in problems), problems
