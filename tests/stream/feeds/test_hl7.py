"""HL7 ADT to gunshot-wound arrivals: fields, intents, skips, rejections, and no PHI past the adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stream.feeds.hl7 import ingest_hl7, message_key, parse_dtm, split_message, visit_key
from stream.feeds.hl7_builder import AdtMessage, Patient
from stream.model.events import DeadLetter, EventKind, Intent, ShootingEvent, Skipped

CHICAGO = ZoneInfo("America/Chicago")
ARRIVED = datetime(2026, 7, 4, 22, 10, tzinfo=CHICAGO)
SECRET = b"test-secret-0123456789"
RECEIVED = datetime(2026, 7, 5, 3, 11, tzinfo=UTC)


def _ingest(deployment, message: AdtMessage | str):
    text = message.render() if isinstance(message, AdtMessage) else message
    return ingest_hl7(text, deployment.classification, SECRET, RECEIVED)


def test_emergency_gunshot_registration_becomes_an_arrival(deployment) -> None:
    event = _ingest(deployment, AdtMessage("CTRL-1", "hcmc", ARRIVED, visit_number="V123"))
    assert isinstance(event, ShootingEvent)
    assert (event.kind, event.hospital, event.intent, event.ref) == (EventKind.GSW_ARRIVAL, "hcmc", Intent.ASSAULT, message_key(SECRET, "hcmc", "CTRL-1"))
    assert event.reported_at == ARRIVED
    assert event.victim_ages == (27,)  # born 1999-01-01, arrived 2026-07-04
    assert event.diagnosis_codes == ("X95.XXXA",)
    assert event.incident_id == visit_key(SECRET, "hcmc", "V123")


@pytest.mark.parametrize(
    ("code", "intent"),
    [("X93.XXXA", Intent.ASSAULT), ("X95.8XXA", Intent.ASSAULT), ("W32.0XXA", Intent.UNINTENTIONAL), ("W34.00XA", Intent.UNINTENTIONAL),
     ("Y22.XXXA", Intent.UNDETERMINED), ("Y24.9XXA", Intent.UNDETERMINED), ("X72.XXXA", Intent.SELF_HARM), ("X74.9XXA", Intent.SELF_HARM),
     ("Y35.001A", Intent.LEGAL_INTERVENTION), ("x9500xa", Intent.ASSAULT)],
)
def test_intent_comes_from_the_firearm_code(deployment, code: str, intent: Intent) -> None:
    event = _ingest(deployment, AdtMessage("C", "hcmc", ARRIVED, diagnoses=[("S31.000A", "Wound", "I10"), (code, "Firearm", "I10")]))
    assert isinstance(event, ShootingEvent)
    assert event.intent is intent


def test_a08_update_never_alerts_even_with_a_firearm_code(deployment) -> None:
    # demo-deployment.md: a gunshot arrival is an ADT^A04; an update of the visit is not a new arrival
    update = _ingest(deployment, AdtMessage("C2", "hcmc", ARRIVED, trigger="A08", visit_number="V9"))
    assert isinstance(update, Skipped)
    assert (update.reason, update.ref) == ("update_not_alerting", message_key(SECRET, "hcmc", "C2"))


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (AdtMessage("C", "hcmc", ARRIVED, patient_class="I"), "not_emergency_visit"),
        (AdtMessage("C", "hcmc", ARRIVED, trigger="A03"), "not_registration"),
        (AdtMessage("C", "hcmc", ARRIVED, diagnoses=[("S31.000A", "Open wound of abdomen", "I10")]), "no_firearm_diagnosis"),
        (AdtMessage("C", "hcmc", ARRIVED, diagnoses=[("Y35.1", "Legal intervention, explosives", "I10")]), "no_firearm_diagnosis"),
        (AdtMessage("C", "hcmc", ARRIVED, diagnoses=[("X95", "not ICD-10", "I9")]), "no_firearm_diagnosis"),
        (AdtMessage("C", "hcmc", ARRIVED, diagnoses=[]), "no_firearm_diagnosis"),
    ],
)
def test_other_visits_are_skipped_with_a_reason(deployment, message: AdtMessage, reason: str) -> None:
    outcome = _ingest(deployment, message)
    assert isinstance(outcome, Skipped)
    assert (outcome.reason, outcome.ref) == (reason, message_key(SECRET, "hcmc", "C"))


def test_other_message_types_are_skipped(deployment) -> None:
    oru = AdtMessage("C", "hcmc", ARRIVED).render().replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01")
    assert _ingest(deployment, oru).reason == "not_adt"


@pytest.mark.parametrize(
    ("text", "reason", "detail"),
    [
        ("", "not_hl7", "message does not begin with an MSH segment"),
        ("PID|1||X", "not_hl7", "message does not begin with an MSH segment"),
        ("MSHA^~\\&|x", "bad_msh", "MSH-1/MSH-2 do not declare distinct separators"),
        ("MSH|^~\\&|A|hcmc|B|C|20260704||ADT^A04|\rPV1|1|E", "missing_control_id", "MSH-10 (message control id) is empty"),
        ("MSH|^~\\&|A|hcmc|B|C|20260704||ADT^A04|C1\rpid|1", "bad_segment", "a segment id is not three capital letters or digits"),
    ],
)
def test_unusable_messages_are_dead_letters_with_a_reason(deployment, text: str, reason: str, detail: str) -> None:
    outcome = _ingest(deployment, text)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.source, outcome.reason, outcome.detail) == ("hl7", reason, detail)


def test_missing_hospital_and_time_are_rejected(deployment) -> None:
    no_facility = AdtMessage("C", "", ARRIVED).render()
    assert _ingest(deployment, no_facility).reason == "missing_hospital"
    no_time = AdtMessage("C", "hcmc", ARRIVED).render().replace("20260704221000-0500", "notatime")
    outcome = _ingest(deployment, no_time)
    assert (outcome.reason, outcome.detail) == ("bad_timestamp", "none of PV1-44, EVN-2, MSH-7 holds an HL7 date-time")


def test_local_times_without_offset_are_chicago_time_dst_included() -> None:
    assert parse_dtm("20260704221000", CHICAGO).utcoffset().total_seconds() == -5 * 3600
    assert parse_dtm("20260104221000", CHICAGO).utcoffset().total_seconds() == -6 * 3600
    assert parse_dtm("202607042210+0000", CHICAGO) == datetime(2026, 7, 4, 22, 10, tzinfo=UTC)
    assert parse_dtm("20261332", CHICAGO) is None


def test_segments_split_on_lf_and_crlf_too() -> None:
    text = AdtMessage("C", "hcmc", ARRIVED).render()
    for separator in ("\n", "\r\n"):
        assert split_message(text.replace("\r", separator)).component("PV1", 19) == "V0000001"


PHI = Patient(family="ZQXPHIFAMILY", given="ZQXPHIGIVEN", mrn="ZQXMRN7731", birth_date="20100215",
              street="4417 ZQXSTREET AVE", city="ZQXCITY", phone="(612)555-7788", ssn="123-45-6789", account="ZQXACCT991")
PHI_STRINGS = ["ZQXPHIFAMILY", "ZQXPHIGIVEN", "ZQXMRN7731", "20100215", "2010-02-15", "ZQXSTREET", "ZQXCITY", "555-7788", "123-45-6789", "ZQXACCT991", "ZQXVISIT"]


@pytest.mark.parametrize("mutation", ["arrival", "rejected", "skipped"])
def test_no_patient_identity_leaves_the_adapter(deployment, mutation: str) -> None:
    message = AdtMessage("C-PHI", "hcmc", ARRIVED, visit_number="ZQXVISIT42", patient=PHI)
    text = message.render()
    if mutation == "rejected":
        text = text.replace("20260704221000-0500", "bad")  # a rejection's detail and excerpt must not leak either
    if mutation == "skipped":
        text = text.replace("|E|", "|I|")
    outcome = _ingest(deployment, text)
    dumped = outcome.model_dump_json()
    assert [s for s in PHI_STRINGS if s in dumped] == []
    if isinstance(outcome, ShootingEvent):
        assert outcome.victim_ages == (16,)  # the age is what stays of the birth date


# Issue 15: free text in DG1-3 and in MSH-10. A sender may type anything there; none of it leaves the adapter.
ABUSE_CODE = "X95.XXXA QUILLFEATHER ZEBULON MRN7734219"  # from the abuse run: prefix-matched, then passed on whole
ABUSE_STRINGS = ["QUILLFEATHER", "ZEBULON", "MRN7734219"]


def _no_abuse_text(outcome) -> list[str]:
    dumped = outcome.model_dump_json()
    return [s for s in ABUSE_STRINGS if s.lower() in dumped.lower()]


def test_dg1_code_with_text_after_it_is_no_code_and_the_arrival_still_alerts_by_another_dg1(deployment) -> None:
    diagnoses = [(ABUSE_CODE, "QUILLFEATHER free text", "I10"), ("w34.00xa", "Accidental discharge ZEBULON", "I10")]
    event = _ingest(deployment, AdtMessage("C", "hcmc", ARRIVED, diagnoses=diagnoses))
    assert isinstance(event, ShootingEvent)
    # the malformed first code is no code: the intent and code are the second's, canonical and alone
    assert (event.intent, event.diagnosis_codes) == (Intent.UNINTENTIONAL, ("W34.00XA",))
    assert _no_abuse_text(event) == []


def test_a_firearm_looking_malformed_code_alone_is_rejected_not_skipped_in_silence(deployment) -> None:
    outcome = _ingest(deployment, AdtMessage("C", "hcmc", ARRIVED, diagnoses=[(ABUSE_CODE, "Assault by firearm", "I10")]))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "bad_diagnosis_code"
    assert _no_abuse_text(outcome) == []


@pytest.mark.parametrize("code", ["S31.000A PATIENT QUILLFEATHER", "QUILLFEATHER ZEBULON", "MRN7734219"])
def test_a_malformed_code_that_is_no_firearm_code_is_skipped_as_no_firearm_diagnosis(deployment, code: str) -> None:
    outcome = _ingest(deployment, AdtMessage("C", "hcmc", ARRIVED, diagnoses=[(code, "text", "I10")]))
    assert isinstance(outcome, Skipped)
    assert outcome.reason == "no_firearm_diagnosis"
    assert _no_abuse_text(outcome) == []


@pytest.mark.parametrize("mutation", ["arrival", "rejected", "skipped"])
def test_msh10_never_leaves_the_adapter_only_its_keyed_hash(deployment, mutation: str) -> None:
    control_id = "QUILLFEATHER ZEBULON MRN7734219"
    text = AdtMessage(control_id, "hcmc", ARRIVED).render()
    if mutation == "rejected":
        text = text.replace("20260704221000-0500", "bad")
    if mutation == "skipped":
        text = text.replace("|E|", "|I|")
    outcome = _ingest(deployment, text)
    assert _no_abuse_text(outcome) == []
    if not isinstance(outcome, DeadLetter):
        assert outcome.ref == message_key(SECRET, "hcmc", control_id)
        assert outcome.ref != visit_key(SECRET, "hcmc", control_id)  # a message's key is never a visit's


def test_the_message_key_is_the_same_for_a_resent_message_and_differs_by_hospital() -> None:
    # a re-sent message (the engine's retry after an AE) gets the same event id, so the core de-duplicates it
    assert message_key(SECRET, "hcmc", "C1") == message_key(SECRET, "hcmc", "C1")
    assert message_key(SECRET, "hcmc", "C1") != message_key(SECRET, "abbott", "C1")
    assert message_key(SECRET, "hcmc", "C1") != message_key(b"another-secret-0123456", "hcmc", "C1")
