"""Small builders shared by tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stream.core.activations import advance, handle_ack, handle_event
from stream.core.state import Config, CoreState, Outcome
from stream.devtools.broker import free_port, wait_for_port
from stream.feeds.eido_builder import build_eido
from stream.feeds.ingest import ingest_cad
from stream.model.events import EventKind, Intent, ShootingEvent, stable_id
from stream.model.timeline import AlertDelivered, RecipientResult, TimelineRecord

JORDAN = (45.0003, -93.3001)  # Near North community
MIDTOWN_PHILLIPS = (44.9530, -93.2600)  # Phillips community
HIAWATHA = (44.9260, -93.2180)  # Longfellow community: no street team
OUTSIDE_CITY = (44.9000, -93.4000)  # Hopkins, outside every city polygon

RECEIVED = datetime(2026, 7, 5, 3, 4, tzinfo=UTC)


def shooting(incident_id: str = "MPLS-T-1", where: tuple[float, float] = JORDAN, updated_at: str = "2026-07-04T22:03:40-05:00", **kw: object) -> dict:
    """An EIDO person-shot incident."""
    return build_eido(incident_id, updated_at, apco="SHOOT", internal_text="Shooting (PFE)", lat=where[0], lon=where[1], **kw)  # type: ignore[arg-type]


def as_bytes(doc: dict) -> bytes:
    """A document as CAD sends it."""
    return json.dumps(doc).encode()


@dataclass(frozen=True)
class CliRun:
    """What a `vigil` command did: its exit code and what it wrote (as ``subprocess.CompletedProcess`` names them)."""

    returncode: int
    stdout: str
    stderr: str


def vigil_in_process(*args: str, env: dict[str, str | None] | None = None) -> CliRun:
    """`vigil *args` through the same Typer app as the installed script, in this process: a `python -m
    stream.cli` child costs an interpreter start and every import (2-7 s on a busy machine). Each command
    keeps one test that runs it as a real process; the others check its output through this. ``env`` is set
    for the call (None removes a variable). An exception the command did not turn into an exit code is
    raised here, as a traceback would have been printed."""
    from typer.testing import CliRunner

    from stream.cli.main import app

    result = CliRunner().invoke(app, list(args), prog_name="vigil", env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliRun(result.exit_code, result.stdout, result.stderr)


class Inbox:
    """A `vigil inbox` process for integration tests."""

    def __init__(self, workdir: Path, slow: dict[str, float] | None = None):
        """Start the inbox on a free port; ``slow`` maps recipients to the seconds their posts are held (--slow)."""
        self.port = free_port()
        holds = [arg for recipient, seconds in (slow or {}).items() for arg in ("--slow", f"{recipient}={seconds}")]
        self.process = subprocess.Popen([sys.executable, "-m", "stream.cli", "inbox", "--port", str(self.port), *holds],
                                        stdout=subprocess.DEVNULL, stderr=open(workdir / "inbox.log", "wb"))  # noqa: SIM115
        assert wait_for_port("127.0.0.1", self.port, timeout=30)

    def messages(self) -> list[dict]:
        """Every message the inbox stored so far, oldest first."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/messages", timeout=5) as response:
            return json.loads(response.read())

    def wait(self, predicate, timeout: float) -> list[dict]:
        """Poll until ``predicate(messages)`` holds or ``timeout`` passes; returns the messages either way."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages()
            if predicate(found):
                return found
            time.sleep(0.2)
        return self.messages()

    def stop(self) -> None:
        """Terminate the inbox process."""
        self.process.terminate()
        self.process.wait(timeout=10)


class CoreRun:
    """The core fed by hand (review tests), every timeline record kept, every intent 'delivered' (or not) a second later."""

    def __init__(self, deployment, delivery: str = "delivered"):
        self.config = Config(deployment.coverage, deployment.protocols)
        self.deployment = deployment
        self.state = CoreState()
        self.records: list[TimelineRecord] = []
        self.delivery = delivery

    def _keep(self, outcome: Outcome) -> None:
        self.records += outcome.timeline
        for intent in outcome.intents:
            self.records.append(AlertDelivered(
                entry_id=stable_id("tl", intent.activation_id, "delivery", intent.intent_id), activation_id=intent.activation_id,
                at=intent.created_at + timedelta(seconds=1), intent_id=intent.intent_id, team=intent.team, status=self.delivery,
                recipients=(RecipientResult(recipient=f"json://inbox/{intent.team}", status=self.delivery, elapsed_ms=40.0),),
            ))

    def _event(self, event: ShootingEvent, at: datetime) -> str:
        self._keep(advance(self.state, at, self.config))
        outcome = handle_event(self.state, event, at, self.config)
        self._keep(outcome)
        return outcome.activation_id  # type: ignore[return-value]

    def shooting(self, incident: str, where: tuple[float, float], at: datetime) -> str:
        event = ingest_cad(shooting(incident, where, updated_at=at.isoformat()), self.deployment.classification, at)
        assert isinstance(event, ShootingEvent)
        return self._event(event, at)

    def arrival(self, control: str, at: datetime, hospital: str = "hcmc") -> str:
        """A gunshot patient at a hospital's emergency department, with no person_shot to join."""
        event = ShootingEvent(
            event_id=stable_id("evt", control, at.isoformat()), jurisdiction="minneapolis", source="hl7", incident_id=f"visit-{control}",
            ref=control, kind=EventKind.GSW_ARRIVAL, reported_at=at, received_at=at, location=None, hospital=hospital,
            intent=Intent.ASSAULT, victim_count=1, victim_ages=(30,),
        )
        return self._event(event, at)

    def answer(self, ref: str, team: str, at: datetime, response: str = "ack") -> None:
        self._keep(advance(self.state, at - timedelta(microseconds=1), self.config))
        self._keep(handle_ack(self.state, ref, team, at, self.config, response))

    def until(self, at: datetime) -> None:
        self._keep(advance(self.state, at, self.config))

    def of(self, activation_id: str) -> list[TimelineRecord]:
        return [r for r in self.records if r.activation_id == activation_id]
