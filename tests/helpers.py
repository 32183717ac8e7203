"""Small builders shared by tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

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
