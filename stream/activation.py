"""The activation core: one shooting event → an activation, its intents and its timeline entries.

A pure function over explicit inputs and an explicit clock (``now``); the Faust activation agent,
``vigil demo``'s prediction and the tests all call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from geofences.coverage import CoverageMap, Placement
from rules.messages import alert_text
from rules.protocols import ProtocolSet, route
from stream.events import NotificationIntent, ShootingEvent, stable_id
from stream.timeline import (
    ActivationDecided,
    EventReceived,
    IntentCreated,
    TimelineRecord,
)

INITIAL_STEP = 0


def activation_id_for(jurisdiction: str, incident_id: str) -> str:
    """The activation id of a CAD incident: every re-send of the incident maps to the same one."""
    return stable_id("act", jurisdiction, incident_id)


@dataclass(frozen=True)
class Decision:
    """What the core decided for one event."""

    activation_id: str
    placement: Placement | None
    intents: tuple[NotificationIntent, ...]
    timeline: tuple[TimelineRecord, ...]


def activate(event: ShootingEvent, coverage: CoverageMap, protocols: ProtocolSet, now: datetime) -> Decision:
    """Place the event, apply the protocols, and return the intents and timeline entries."""
    activation_id = activation_id_for(event.jurisdiction, event.incident_id)
    placement = coverage.at(event.location.lat, event.location.lon, now) if event.location is not None else None
    decided = route(event, placement, protocols, coverage)
    routings = decided.routings

    intents = []
    for routing in routings:
        deadline = now + timedelta(minutes=routing.ack_within_minutes) if routing.ack_within_minutes else None
        title, body = alert_text(event, placement, activation_id, deadline, protocols.zone, coverage.hospital_names)
        intents.append(
            NotificationIntent(
                intent_id=stable_id("int", activation_id, routing.team, routing.protocol_id, INITIAL_STEP),
                activation_id=activation_id,
                team=routing.team,
                protocol=routing.protocol_id,
                step=INITIAL_STEP,
                title=title,
                body=body,
                created_at=now,
                ack_deadline=deadline,
            )
        )

    timeline: list[TimelineRecord] = [
        EventReceived(
            entry_id=stable_id("tl", activation_id, "event_received", event.event_id),
            activation_id=activation_id,
            at=event.received_at,
            event_id=event.event_id,
            event_kind=event.kind,
            source=event.source,
            incident_id=event.incident_id,
            reported_at=event.reported_at,
            location=event.location,
        ),
        ActivationDecided(
            entry_id=stable_id("tl", activation_id, "decided", event.event_id),
            activation_id=activation_id,
            at=now,
            event_id=event.event_id,
            teams=tuple(r.team for r in routings),
            protocols=tuple(dict.fromkeys(r.protocol_id for r in routings)),
            flags=decided.flags,
            cell=placement.cell if placement else None,
            neighborhood=placement.neighborhood if placement else None,
            community=placement.community if placement else None,
            coverage_version=coverage.version,
            protocol_version=protocols.version,
        ),
    ]
    timeline.extend(
        IntentCreated(
            entry_id=stable_id("tl", activation_id, "intent", intent.intent_id),
            activation_id=activation_id,
            at=now,
            intent_id=intent.intent_id,
            team=intent.team,
            protocol=intent.protocol,
            step=intent.step,
            ack_deadline=intent.ack_deadline,
        )
        for intent in intents
    )
    return Decision(activation_id, placement, tuple(intents), tuple(timeline))
