"""Build NENA EIDO incident documents: for the demo sample, the tests and the load generator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

AGENCY = "mpls.mn.us"

_PIDF = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
    'xmlns:gml="http://www.opengis.net/gml" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
    'entity="pres:cad@{agency}"><dm:device id="cad"><gp:geopriv><gp:location-info>'
    '<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{lat} {lon}</gml:pos></gml:Point>{civic}'
    "</gp:location-info><gp:method>Manual</gp:method></gp:geopriv></dm:device></presence>"
)


_CIVIC = '<civicAddress xmlns="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">{elements}</civicAddress>'
# a CAD's street address of the scene in Minneapolis, as RFC 5139 civic address elements
CITY = {"country": "US", "A1": "MN", "A2": "Hennepin", "A3": "Minneapolis"}


def pidf_point(lat: float, lon: float, agency: str = AGENCY, address: Mapping[str, str] | None = None) -> str:
    """A PIDF-LO document holding one WGS84 point and, with ``address`` (RFC 5139 element → text, e.g.
    ``{"HNO": "1418", "RD": "Lowry", "STS": "Ave", "POD": "N"}``), a civic address in the city too."""
    civic = ""
    if address:
        elements = {**CITY, **address}
        civic = _CIVIC.format(elements="".join(f"<{name}>{escape(text)}</{name}>" for name, text in elements.items()))
    return _PIDF.format(lat=lat, lon=lon, agency=agency, civic=civic)


def build_eido(
    incident_id: str,
    updated_at: str,
    *,
    internal_text: str | None = None,
    internal_code: str | None = None,
    apco: str = "OTHER",
    lat: float | None = None,
    lon: float | None = None,
    victim_ages: list[int | None] | None = None,
    agency: str = AGENCY,
    address: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An EIDO document for one incident version, as a CAD system sends it on every change; ``address``: the
    scene's civic address beside the point (see ``pidf_point``).

    Shaped as NENA-STA-021 says: the document's ``$id`` is the incident (tracking) id, the same in every
    version; each component has an id of its own.
    """
    stamp = {"lastUpdateTimeStamp": updated_at, "updatedByAgencyReference": {"$ref": agency}}
    location_id = f"{incident_id}:loc:1"
    incident: dict[str, Any] = {
        "$id": f"{incident_id}:incident:1",
        **stamp,
        "incidentTypeCommonRegistryText": apco,
    }
    if internal_code:
        incident["incidentTypeInternalCode"] = internal_code
    if internal_text:
        incident["incidentTypeInternalText"] = internal_text
    doc: dict[str, Any] = {
        "$id": incident_id,
        **stamp,
        "eidoVersion": "1.0",
        "issuingElementIdentification": f"cad.{agency}",
        "agencyComponent": [{"$id": agency, **stamp, "agencyType": ["psap"]}],
        "incidentComponent": incident,
    }
    if lat is not None and lon is not None:
        incident["locationReference"] = [{"$ref": location_id}]
        doc["locationComponent"] = [
            {"$id": location_id, **stamp, "locationByValue": pidf_point(lat, lon, agency, address)}
        ]
    persons = []
    for n, age in enumerate(victim_ages or [], start=1):
        person: dict[str, Any] = {"$id": f"{incident_id}:person:{n}", **stamp, "personIncidentRoleRegistryText": ["Victim"]}
        if age is not None:
            person["ncPersonComponent"] = {"ageMeasure": [{"integerValue": age}]}
        persons.append(person)
    if persons:
        incident["personReference"] = [{"$ref": p["$id"]} for p in persons]
        doc["personComponent"] = persons
    return doc
