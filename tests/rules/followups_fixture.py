"""The demo deployment's follow-up protocol F1-F4 (docs/demo-deployment.md, "Follow-up protocol") as the bundled
protocol file carries it, and the same file without it: what a test or a benchmark compares "before" with."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rules.followups import Followups
from rules.protocols import ProtocolSet, load_protocols
from stream.core.deployment import DeploymentPaths
from stream.core.replay import people_config
from stream.core.state import Config

MARKER = "# Follow-up tasks in the days after"  # the bundled file's follow-ups section starts here and runs to its end


def bundled_text() -> str:
    """The bundled protocol file's text."""
    return DeploymentPaths.bundled().protocols.read_text(encoding="utf-8")


def without_followups(text: str) -> str:
    """A protocol file's text without its follow-ups section (the bundled file keeps it last, from ``MARKER``)."""
    start = text.index(MARKER)
    return text[:start].rstrip() + "\n"


FOLLOWUPS = bundled_text()[bundled_text().index(MARKER):]


def with_followups(deployment, folder: Path) -> Config:  # noqa: ARG001 - kept: the tests name the folder they own
    """The bundled deployment's config (rosters, everyone on push, SMS and e-mail), whose protocols carry F1-F4."""
    return people_config(deployment)


def without_followups_config(deployment, folder: Path) -> Config:
    """The bundled deployment's config with the follow-ups section taken out of its protocols."""
    path = folder / "protocols.yaml"
    path.write_text(without_followups(bundled_text()), encoding="utf-8")
    return replace(people_config(deployment), protocols=load_protocols(path, teams=set(deployment.coverage.teams)))


def no_followups(protocols: ProtocolSet) -> ProtocolSet:
    """``protocols`` without follow-up rules: for a test of something else that a task pending for days would hold
    (an activation with an open task is kept, so it is never shed or pruned)."""
    return replace(protocols, spec=protocols.spec.model_copy(update={"followups": Followups()}))
