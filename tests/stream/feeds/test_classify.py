"""Classification of CAD incidents into the event kinds of demo-deployment.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stream.feeds.classify import canonical_icd, classify_cad, load_classification
from stream.feeds.eido import parse_eido
from stream.feeds.eido_builder import build_eido
from stream.model.events import EventKind
from tests.helpers import RECEIVED, as_bytes

_BASE = "jurisdiction: x\ntimezone: America/Chicago\nhl7:\n  firearm_codes: []\n"


def _report(apco: str = "OTHER", internal_text: str | None = None):
    return parse_eido(as_bytes(build_eido("MPLS-C", "2026-07-04T22:00:00-05:00", apco=apco, internal_text=internal_text, lat=45.0, lon=-93.3)))


@pytest.mark.parametrize(
    ("apco", "text", "kind", "fatal"),
    [
        ("SHOOT", None, EventKind.PERSON_SHOT, False),
        ("HOMICIDE", None, EventKind.PERSON_SHOT, True),
        ("OTHER", "Shooting (PFE)", EventKind.PERSON_SHOT, False),
        ("OTHER", "Shooting Report Only (P)", EventKind.PERSON_SHOT, False),
        ("OTHER", "Sound of Shots Fired (P)", EventKind.SHOTS_FIRED, False),
        ("OTHER", "ShotSpotter Activation (P)", EventKind.SHOTSPOTTER, False),
        ("other", "  sound of shots fired (p) ", EventKind.SHOTS_FIRED, False),
    ],
)
def test_shootings_get_their_kind(deployment, apco: str, text: str | None, kind: EventKind, fatal: bool) -> None:
    event = classify_cad(_report(apco, text), deployment.classification, RECEIVED)
    assert event is not None
    assert (event.kind, event.fatal, event.jurisdiction) == (kind, fatal, "minneapolis")


@pytest.mark.parametrize(("apco", "text"), [("SICK", "Sick Person (P)"), ("MVA", None), ("STABBING", "Stabbing (PFE)")])
def test_other_incidents_are_not_shootings(deployment, apco: str, text: str | None) -> None:
    assert classify_cad(_report(apco, text), deployment.classification, RECEIVED) is None


def test_event_id_is_deterministic_per_incident_version(deployment) -> None:
    first = classify_cad(_report("SHOOT"), deployment.classification, RECEIVED)
    again = classify_cad(_report("SHOOT"), deployment.classification, RECEIVED)
    assert first.event_id == again.event_id


def test_unknown_kind_in_mapping_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "classification.yaml"
    path.write_text(_BASE + "cad:\n  apco:\n    SHOOT: {kind: person_stabbed}\n")
    with pytest.raises(ValidationError, match="person_stabbed"):
        load_classification(path)


def test_a_call_type_listed_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "classification.yaml"
    path.write_text(_BASE + 'cad:\n  internal_text:\n    "Shooting (PFE)": {kind: person_shot}\n    "shooting (pfe) ": {kind: shots_fired}\n')
    with pytest.raises(ValidationError, match=r"internal text 'shooting \(pfe\) ' is listed twice \(matching ignores case and outer spaces\)"):
        load_classification(path)


@pytest.mark.parametrize(
    ("code", "canonical"),
    [("X95.XXXA", "X95.XXXA"), ("W34.00XA", "W34.00XA"), ("Y24.9", "Y24.9"), ("y249", "Y24.9"), ("x9500xa", "X95.00XA"),
     (" X95 ", "X95"), ("Y35.001A", "Y35.001A")],
)
def test_a_well_formed_icd10cm_code_has_one_written_form(code: str, canonical: str) -> None:
    assert canonical_icd(code) == canonical


@pytest.mark.parametrize(
    "code",
    ["X95.XXXA QUILLFEATHER ZEBULON MRN7734219", "X95.XXXAB", "X95 XXXA", "X95..XA", "X95.", "X9", "95X.XXXA", "X95.XX-A", "X95.XXXA\tZ", ""],
)
def test_anything_else_is_not_a_code(code: str) -> None:
    assert canonical_icd(code) is None
