"""NENA-STA-021 EIDO (JSON) incident documents to ``CadReport``.

Field spelling varies between producers (NENA's own samples use ``lastUpdateTimeStamp`` and
``LastUpdateTimeStamp``, ``locationComponent`` and ``locationInformationComponent``): both are read.
The incident is named by its Incident Tracking Identifier wherever the producer puts it (``incident_identity``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from stream.feeds.pidf import read_pidf
from stream.model.errors import Rejected
from stream.model.events import EARLIEST_REPORT, LATEST_REPORT, CadReport, plausible_time

MAX_DOCUMENT_BYTES = 1_000_000
# An incident id is the ref an ack names (AckMessage.ref holds at most 200 characters) and rides in every
# record of the activation: a longer one is garbage.
MAX_INCIDENT_ID_CHARS = 200


def _first(obj: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in obj and obj[name] is not None:
            return obj[name]
    return None


def _component(value: Any) -> dict[str, Any] | None:
    """EIDO components are arrays in most producers, single objects in some."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else None


def _components(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _refs(value: Any) -> list[str]:
    return [r["$ref"] for r in _components(value) if isinstance(r.get("$ref"), str)]


def parse_timestamp(text: Any, field: str) -> datetime:
    """An ISO 8601 timestamp with a UTC offset; naive or malformed times are rejected."""
    if not isinstance(text, str):
        raise Rejected("bad_timestamp", f"{field} is missing or not a string")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected("bad_timestamp", f"{field} {text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise Rejected("bad_timestamp", f"{field} {text!r} has no UTC offset")
    if not plausible_time(moment):
        raise Rejected("bad_timestamp", f"{field} {text!r} is outside {EARLIEST_REPORT.year}-{LATEST_REPORT.year - 1}")
    return moment


def _incident_pidf(doc: dict[str, Any], incident: dict[str, Any]) -> str | None:
    locations = _components(_first(doc, "locationComponent", "locationInformationComponent"))
    if not locations:
        return None
    wanted = _refs(incident.get("locationReference"))
    chosen = next((loc for ref in wanted for loc in locations if loc.get("$id") == ref), locations[0])
    pidf = chosen.get("locationByValue")
    return pidf if isinstance(pidf, str) else None


def locate(report: CadReport) -> CadReport:
    """The report with its location (the point, and the hundred-block of a civic address) read from its PIDF-LO;
    raises ``Rejected`` for hostile or bad XML.

    Separate from parsing because most CAD incidents are not shootings and never need a location.
    """
    if report.location is not None or report.block is not None or report.pidf is None:
        return report
    location, block = read_pidf(report.pidf)
    return report.model_copy(update={"location": location, "block": block})


def _age(person: dict[str, Any]) -> int | None:
    nc = _component(person.get("ncPersonComponent")) or {}
    measure = _component(nc.get("ageMeasure")) or {}
    for key in ("integerValue", "decimalValue", "doubleValue", "measureValue"):
        value = _component(measure.get(key)) if isinstance(measure.get(key), list) else measure.get(key)
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, int | float) and 0 <= value < 130:
            return int(value)
        text = value.strip() if isinstance(value, str) else ""
        # isdecimal, not isdigit: "²" is a digit that int() refuses; and no 5,000-digit int() either
        if text.isdecimal() and len(text) <= 3 and int(text) < 130:
            return int(text)
    return None


def _victim_ages(doc: dict[str, Any]) -> tuple[int | None, ...]:
    ages = []
    for person in _components(doc.get("personComponent")):
        roles = person.get("personIncidentRoleRegistryText")
        # the schema says a list of strings; producers send a string, and fuzzing sends anything
        roles = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        if any(isinstance(r, str) and r.strip().lower() == "victim" for r in roles):
            ages.append(_age(person))
    return tuple(ages)


def parse_eido(raw: bytes | str, with_location: bool = True) -> CadReport:
    """Parse one EIDO document; raise ``Rejected`` naming the problem when it cannot be used.

    With ``with_location=False`` the PIDF-LO is kept unread (``locate`` reads it later).
    """
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise Rejected("too_large", f"EIDO document of {len(raw)} bytes exceeds {MAX_DOCUMENT_BYTES}")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Rejected("invalid_json", f"EIDO is not valid JSON ({exc})") from None
    except RecursionError:
        raise Rejected("invalid_json", "EIDO nests arrays or objects too deeply to be read") from None
    except ValueError as exc:
        # json.loads refuses integers of more than 4,300 digits with a plain ValueError
        raise Rejected("invalid_json", f"EIDO holds a value that cannot be read ({exc})") from None
    return eido_report(doc, with_location)


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def incident_identity(doc: dict[str, Any], incident: dict[str, Any]) -> Any:
    """The incident's id as sent (``eido_report`` checks it), the first given of: ``incidentTrackingIdentifier``
    in the incident component, then at the document's top level, the document's ``$id``, the incident
    component's ``$id``.

    NENA-STA-021 makes the document's ``$id`` the Incident Tracking Identifier (the call-transfer sample);
    NENA's 2020 sample sends ``incidentTrackingIdentifier`` beside a document ``$id`` of its own. A component's
    ``$id`` names the component: producers that number components ("...:incident:0") would merge two
    incidents, those that mint one per version split one, so it comes last. Merge and link components carry
    the tracking ids of other incidents and are never read.
    """
    candidates = (incident.get("incidentTrackingIdentifier"), doc.get("incidentTrackingIdentifier"),
                  doc.get("$id"), incident.get("$id"))
    return next((c for c in candidates if _given(c)), None)


def eido_report(doc: Any, with_location: bool = True) -> CadReport:
    """An EIDO document already decoded from JSON (replays carry it as an object); see ``parse_eido``."""
    if not isinstance(doc, dict):
        raise Rejected("not_an_object", "EIDO document must be a JSON object")
    incident = _component(doc.get("incidentComponent")) or {}
    incident_id = incident_identity(doc, incident)
    if not isinstance(incident_id, str) or not incident_id.strip():
        raise Rejected("missing_incident_id", "EIDO has no incidentTrackingIdentifier or $id")
    if len(incident_id.strip()) > MAX_INCIDENT_ID_CHARS:
        raise Rejected("bad_incident_id", f"the incident id is {len(incident_id.strip())} characters long, over {MAX_INCIDENT_ID_CHARS}")
    if not incident_id.isascii() and any("\ud800" <= c <= "\udfff" for c in incident_id):
        # legal as a JSON escape, but not a character: the id could never be written out as UTF-8
        raise Rejected("bad_incident_id", "the incident id holds a lone UTF-16 surrogate")
    updated = _first(incident, "lastUpdateTimeStamp", "LastUpdateTimeStamp") or _first(
        doc, "lastUpdateTimeStamp", "LastUpdateTimeStamp"
    )
    disposition = _component(_first(incident, "dispositionComponent") or doc.get("dispositionComponent")) or {}
    report = CadReport(
        incident_id=incident_id.strip(),
        updated_at=parse_timestamp(updated, "lastUpdateTimeStamp"),
        apco_code=_text(incident.get("incidentTypeCommonRegistryText")),
        internal_code=_text(incident.get("incidentTypeInternalCode")),
        internal_text=_text(incident.get("incidentTypeInternalText")),
        pidf=_incident_pidf(doc, incident),
        victim_ages=_victim_ages(doc),
        disposition=_text(_first(disposition, "dispositionCommonRegistryCode", "dispositionCategoryText", "dispositionDescriptionText")),
    )
    return locate(report) if with_location else report


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value.strip() if isinstance(value, str) and value.strip() else None
