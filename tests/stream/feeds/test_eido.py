"""EIDO parsing: fields, spelling variants, locations, and the reasons bad documents are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.feeds.eido import parse_eido
from stream.feeds.eido_builder import build_eido, pidf_point
from stream.model.errors import Rejected
from tests.helpers import JORDAN, as_bytes, shooting

NENA_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "eido" / "sample_call_transfer.json"


def test_reads_incident_fields_location_and_victims() -> None:
    report = parse_eido(as_bytes(shooting("MPLS-1", victim_ages=[24, None])))
    assert report.incident_id == "MPLS-1"
    assert report.updated_at.isoformat() == "2026-07-04T22:03:40-05:00"
    assert report.apco_code == "SHOOT"
    assert report.internal_text == "Shooting (PFE)"
    assert (report.location.lat, report.location.lon) == JORDAN
    assert report.victim_ages == (24, None)


def test_accepts_capitalised_timestamp_and_location_information_component() -> None:
    doc = shooting("MPLS-2")
    doc["incidentComponent"]["LastUpdateTimeStamp"] = doc["incidentComponent"].pop("lastUpdateTimeStamp")
    doc["locationInformationComponent"] = doc.pop("locationComponent")
    report = parse_eido(as_bytes(doc))
    assert report.updated_at.isoformat() == "2026-07-04T22:03:40-05:00"
    assert (report.location.lat, report.location.lon) == JORDAN


def test_uses_the_location_the_incident_references() -> None:
    doc = shooting("MPLS-3")
    decoy = {"$id": "other", "lastUpdateTimeStamp": "2026-07-04T22:00:00-05:00", "locationByValue": pidf_point(44.9, -93.2)}
    doc["locationComponent"].insert(0, decoy)
    assert parse_eido(as_bytes(doc)).location.lat == JORDAN[0]


def test_reads_gml_pos_from_malformed_pidf() -> None:
    doc = shooting("MPLS-4")
    # an undeclared prefix and an unclosed tag: not XML, but the point is still there
    doc["locationComponent"][0]["locationByValue"] = "<presence><gp:geopriv><gml:pos>44.95 -93.26</gml:pos><broken></presence>"
    report = parse_eido(as_bytes(doc))
    assert (report.location.lat, report.location.lon) == (44.95, -93.26)


def test_refuses_pidf_with_an_external_entity() -> None:
    doc = shooting("MPLS-5")
    doc["locationComponent"][0]["locationByValue"] = (
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><p><pos>&x;</pos></p>'
    )
    with pytest.raises(Rejected) as info:
        parse_eido(as_bytes(doc))
    assert info.value.reason == "pidf_forbidden_xml"


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b"{not json", "invalid_json", "EIDO is not valid JSON"),
        (b"[1, 2]", "not_an_object", "EIDO document must be a JSON object"),
        (b'{"eidoVersion": "1.0"}', "missing_incident_id", "EIDO has no incidentTrackingIdentifier or $id"),
        (b'{"incidentComponent": {"lastUpdateTimeStamp": "2026-07-04T22:00:00-05:00"}}', "missing_incident_id",
         "EIDO has no incidentTrackingIdentifier or $id"),
        (b'{"incidentComponent": {"$id": "X", "lastUpdateTimeStamp": "2026-07-04T22:00:00"}}', "bad_timestamp",
         "lastUpdateTimeStamp '2026-07-04T22:00:00' has no UTC offset"),
        (b'{"incidentComponent": {"$id": "X", "lastUpdateTimeStamp": "yesterday"}}', "bad_timestamp",
         "lastUpdateTimeStamp 'yesterday' is not an ISO 8601 date-time"),
        (b'{"incidentComponent": {"$id": "X"}}', "bad_timestamp", "lastUpdateTimeStamp is missing or not a string"),
    ],
)
def test_rejects_bad_documents_with_a_reason(raw: bytes, reason: str, detail: str) -> None:
    with pytest.raises(Rejected) as info:
        parse_eido(raw)
    assert info.value.reason == reason
    assert info.value.detail.startswith(detail)


def test_rejects_coordinates_outside_wgs84() -> None:
    doc = build_eido("MPLS-6", "2026-07-04T22:00:00-05:00", apco="SHOOT", lat=95.0, lon=-93.0)
    with pytest.raises(Rejected) as info:
        parse_eido(as_bytes(doc))
    assert info.value.reason == "bad_location"
    assert info.value.detail == "gml:pos '95.0 -93.0' is outside WGS84 lat/lon ranges"


def test_nena_sample_parses_with_the_document_id_as_incident() -> None:
    # NENA's own sample is a call transfer: a call but no incident component; its $id is the incident id.
    report = parse_eido(NENA_SAMPLE.read_bytes())
    assert report.incident_id == "urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us"
    assert report.updated_at.isoformat() == "2021-04-30T14:43:49.439000-04:00"
    assert (report.apco_code, report.location) == (None, None)  # civic address only, no gml:pos


def test_nena_sample_is_skipped_as_not_a_shooting(deployment) -> None:
    from stream.feeds.ingest import ingest_cad
    from stream.model.events import Skipped
    from tests.helpers import RECEIVED

    outcome = ingest_cad(NENA_SAMPLE.read_bytes(), deployment.classification, RECEIVED)
    assert isinstance(outcome, Skipped)
    assert (outcome.ref, outcome.reason) == ("urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us", "not_a_shooting")


def test_disposition_is_read_from_the_incident() -> None:
    doc = shooting("MPLS-7")
    doc["incidentComponent"]["dispositionComponent"] = [{"dispositionCommonRegistryCode": "TRANSPORTED"}]
    assert parse_eido(as_bytes(doc)).disposition == "TRANSPORTED"


def test_nena_sample_location_parses_when_an_incident_is_added() -> None:
    doc = json.loads(NENA_SAMPLE.read_text())
    doc["incidentComponent"] = {"$id": "urn:x", "lastUpdateTimeStamp": doc["lastUpdateTimeStamp"], "incidentTypeCommonRegistryText": "SHOOT"}
    report = parse_eido(json.dumps(doc))
    assert report.incident_id == "urn:x"
    assert report.updated_at.utcoffset().total_seconds() == -4 * 3600


@pytest.mark.parametrize("roles", [True, 3, {"a": 1}, None, "Victim"])
def test_person_roles_of_any_json_type_never_break_parsing(roles) -> None:
    doc = shooting("MPLS-8", victim_ages=[20])
    doc["personComponent"][0]["personIncidentRoleRegistryText"] = roles
    assert parse_eido(as_bytes(doc)).victim_ages == ((20,) if roles == "Victim" else ())
