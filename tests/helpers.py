"""Small builders shared by tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from stream.broker import free_port, wait_for_port
from stream.eido_builder import build_eido

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
