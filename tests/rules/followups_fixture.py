"""The demo deployment's follow-up protocol F1-F4 (docs/demo-deployment.md, "Follow-up protocol"), as the bundled
protocol file will carry it once the tasks' pages, phone closing and metrics land (issue 18): until then the tests
load the bundled file with this section added."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rules.protocols import load_protocols
from stream.core.deployment import DeploymentPaths
from stream.core.replay import people_config
from stream.core.state import Config

FOLLOWUPS = """\
# Follow-up tasks in the days after (docs/demo-deployment.md, "Follow-up protocol"; rules/followups.py). Hours are
# counted on the local wall clock; a task's reminder goes to its team's person on call `remind_before_minutes` before
# it is due, and an overdue task is told to dns-oncall once.
followups:
  remind_before_minutes: 120
  tasks:
    - id: F1
      name: bedside
      kind: bedside
      notified_under: [P3]
      intents: [assault, undetermined]
      due: {hours_after: 24, from: arrival}
    - id: F2
      name: family contact
      kind: family_contact
      notified_under: [P2]
      audience: street
      due: {hours_after: 48}
    - id: F3
      name: retaliation check-ins
      kind: retaliation_checkin
      flag: retaliation_watch
      audience: street
      due: [{hours_after: 24, from: flag}, {hours_after: 48, from: flag}, {hours_after: 72, from: flag}]
    - id: F4
      name: school follow-up
      kind: school_followup
      notified_under: [P4, P5]
      teams: [mps-safety]
      due: {next_weekday_at: "09:00"}
"""


def with_followups(deployment, folder: Path) -> Config:
    """The bundled deployment's config (rosters, everyone on push, SMS and e-mail) with F1-F4 in its protocols."""
    path = folder / "protocols.yaml"
    path.write_text(DeploymentPaths.bundled().protocols.read_text(encoding="utf-8") + "\n" + FOLLOWUPS, encoding="utf-8")
    return replace(people_config(deployment), protocols=load_protocols(path, teams=set(deployment.coverage.teams)))
