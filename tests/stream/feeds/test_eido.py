"""EIDO parsing: fields, spelling variants, locations, and the reasons bad documents are refused."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from stream.core.activations import handle_ack, handle_event
from stream.core.state import Config, CoreState, Outcome
from stream.feeds.eido import parse_eido
from stream.feeds.eido_builder import build_eido, pidf_point
from stream.feeds.ingest import ingest_cad
from stream.model.errors import Rejected
from stream.model.events import ShootingEvent
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, as_bytes, shooting

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
    # the incident component's $id names the component: the incident is still the document's $id
    assert report.incident_id == "urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us"
    assert report.updated_at.utcoffset().total_seconds() == -4 * 3600


@pytest.mark.parametrize("roles", [True, 3, {"a": 1}, None, "Victim"])
def test_person_roles_of_any_json_type_never_break_parsing(roles) -> None:
    doc = shooting("MPLS-8", victim_ages=[20])
    doc["personComponent"][0]["personIncidentRoleRegistryText"] = roles
    assert parse_eido(as_bytes(doc)).victim_ages == ((20,) if roles == "Victim" else ())


# --- Incident identity. NENA's 2020 sample (Samples/Sample_EIDO.json) carries incidentTrackingIdentifier at
# the top level; its document $id ("...:header") and incident component $id ("...:incident:0") are
# component ids, so two incidents from a producer that numbers components this way share both.

NENA_2020_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "eido" / "sample_eido_2020.json"
NENA_2020_TRACKING_ID = "urn:emergency:uid:incidentid:0:psap.allegheny.pa.us"
NENA_2020_COMPONENT_ID = "incidentid:0:psap.allegheny.pa.us:incident:0"
SHOTS_FIRED = ("OTHER", "Sound of Shots Fired (P)")
PERSON_SHOT = ("SHOOT", "Shooting (PFE)")


def tracking(number: int) -> str:
    """An Incident Tracking Identifier of the Minneapolis PSAP (NENA-STA-010 form)."""
    return f"urn:emergency:uid:incidentid:{number}:mpls.mn.us"


def nena_shaped(tracking_id: str, updated_at: str, call: tuple[str, str] = PERSON_SHOT, where: tuple[float, float] = JORDAN,
                component_id: str = NENA_2020_COMPONENT_ID) -> dict:
    """NENA's 2020 sample turned into a Minneapolis call: its shape and spellings kept (top-level tracking id,
    LastUpdateTimeStamp, locationInformationComponent), the incident, time, type and place changed."""
    doc = json.loads(NENA_2020_SAMPLE.read_text())
    doc["incidentTrackingIdentifier"] = tracking_id
    doc["LastUpdateTimeStamp"] = updated_at
    incident = doc["incidentComponent"][0]
    incident.update({"$id": component_id, "LastUpdateTimeStamp": updated_at, "incidentTypeCommonRegistryText": call[0],
                     "incidentTypeInternalText": call[1]})
    del incident["incidentTypeInternalCode"]  # "10-101" is Allegheny's own code
    doc["locationInformationComponent"][0]["locationByValue"] = pidf_point(*where)
    return doc


def test_nena_2020_sample_incident_is_its_top_level_tracking_identifier() -> None:
    report = parse_eido(NENA_2020_SAMPLE.read_bytes(), with_location=False)
    assert report.incident_id == NENA_2020_TRACKING_ID
    assert report.updated_at.isoformat() == "2020-10-29T18:40:04.337000+00:00"


def test_incident_id_precedence_tracking_id_then_document_id_then_component_id() -> None:
    # Merge and link components name other incidents by their tracking ids: never the incident's own id.
    doc = {"$id": tracking(1), "lastUpdateTimeStamp": "2026-07-04T22:15:00-05:00", "incidentTrackingIdentifier": tracking(2),
           "mergeComponent": [{"$id": "merge:0", "incidentTrackingIdentifier": tracking(8),
                               "incidentMergeDirectionCode": "REPLACED"}],
           "linkComponent": [{"$id": "link:0", "incidentTrackingIdentifier": tracking(9), "linkDirectionCode": "RELATED"}],
           "incidentComponent": [{"$id": "incident:0", "incidentTrackingIdentifier": tracking(3),
                                  "incidentTypeCommonRegistryText": "SHOOT"}]}
    found = [parse_eido(json.dumps(doc)).incident_id]
    for remove in (lambda: doc["incidentComponent"][0].pop("incidentTrackingIdentifier"),
                   lambda: doc.pop("incidentTrackingIdentifier"), lambda: doc.pop("$id")):
        remove()
        found.append(parse_eido(json.dumps(doc)).incident_id)
    assert found == [tracking(3), tracking(2), tracking(1), "incident:0"]


class Core:
    """The activation core fed EIDO documents through the ingest stage, as the worker feeds it."""

    def __init__(self, deployment):
        self.classification = deployment.classification
        self.state, self.config = CoreState(), Config(deployment.coverage, deployment.protocols)

    def send(self, doc: dict, at: str) -> Outcome:
        """Ingest one document received at ``at`` and hand its event to the core."""
        now = datetime.fromisoformat(at)
        event = ingest_cad(as_bytes(doc), self.classification, now)
        assert isinstance(event, ShootingEvent), event
        return handle_event(self.state, event, now, self.config)

    def ack(self, ref: str, team: str, at: str) -> Outcome:
        """A team's ack naming ``ref``."""
        return handle_ack(self.state, ref, team, datetime.fromisoformat(at), self.config)


def notified(outcome: Outcome) -> list[tuple[str, str, str]]:
    return [(i.team, i.protocol, i.step) for i in outcome.intents]


def test_incidents_whose_components_share_an_id_stay_two_activations(deployment) -> None:
    core, at_jordan, at_phillips = Core(deployment), "2026-07-04T22:15:00-05:00", "2026-07-04T22:17:00-05:00"
    jordan = core.send(nena_shaped(tracking(7101), at_jordan), at_jordan)
    phillips = core.send(nena_shaped(tracking(7102), at_phillips, where=MIDTOWN_PHILLIPS), at_phillips)
    assert jordan.activation_id != phillips.activation_id
    assert notified(jordan) == [("vi-north-nearnorth", "P2", "initial"), ("gvi-outreach", "P2", "initial")]
    assert notified(phillips) == [("vi-south-phillips", "P2", "initial"), ("gvi-outreach", "P2", "initial")]


def test_a_resend_notifies_nobody_and_an_upgrade_notifies_only_what_p2_adds(deployment) -> None:
    # A producer that mints a new component $id for every version of the incident: only the tracking id holds.
    core = Core(deployment)
    first_at, resent_at, upgraded_at = "2026-07-04T22:15:00-05:00", "2026-07-04T22:20:00-05:00", "2026-07-04T22:25:00-05:00"
    first = core.send(nena_shaped(tracking(7201), first_at, SHOTS_FIRED, component_id="c-1"), first_at)
    resent = core.send(nena_shaped(tracking(7201), resent_at, SHOTS_FIRED, component_id="c-2"), resent_at)
    upgraded = core.send(nena_shaped(tracking(7201), upgraded_at, PERSON_SHOT, component_id="c-3"), upgraded_at)
    assert notified(first) == [("vi-north-nearnorth", "P1", "initial")]
    assert (resent.activation_id, notified(resent)) == (first.activation_id, [])
    assert (upgraded.activation_id, notified(upgraded)) == (first.activation_id, [("gvi-outreach", "P2", "update")])


def test_an_ack_naming_the_tracking_id_finds_the_activation(deployment) -> None:
    core, at = Core(deployment), "2026-07-04T22:15:00-05:00"
    opened = core.send(nena_shaped(tracking(7301), at), at)
    acked = core.ack(tracking(7301), "vi-north-nearnorth", "2026-07-04T22:18:00-05:00")
    assert (acked.problem, acked.activation_id) == (None, opened.activation_id)
    assert [(r.team, r.first, r.within_deadline) for r in acked.timeline] == [("vi-north-nearnorth", True, True)]


JAMES_AVE = {"HNO": "2418", "RD": "James", "STS": "Ave", "POD": "N"}


def test_reads_the_hundred_block_beside_the_point() -> None:
    report = parse_eido(as_bytes(shooting("MPLS-B1", address=JAMES_AVE)))
    assert (report.location.lat, report.location.lon, report.block) == (*JORDAN, "2400 block of James Ave N")
    assert parse_eido(as_bytes(shooting("MPLS-B2"))).block is None  # a point only: no block


def test_nena_sample_civic_address_gives_its_hundred_block() -> None:
    assert parse_eido(NENA_SAMPLE.read_bytes()).block == "0 block of W Cellular Street"


def test_a_shooting_event_carries_the_hundred_block(deployment) -> None:
    from tests.helpers import RECEIVED

    event = ingest_cad(as_bytes(shooting("MPLS-B3", address=JAMES_AVE)), deployment.classification, RECEIVED)
    assert isinstance(event, ShootingEvent) and event.block == "2400 block of James Ave N"
    assert ShootingEvent.model_validate({k: v for k, v in event.model_dump().items() if k != "block"}).block is None  # older events
