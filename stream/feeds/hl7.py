"""HL7 v2 ADT from emergency departments to gunshot-wound arrivals. **PHI stops here.**

Only these leave this module: the hospital (MSH-4), the arrival time, an age in years, the injury intent,
the firearm code in its canonical form (a well-formed ICD-10-CM code, never the rest of DG1-3), and keyed
hashes (HMAC-SHA256 with the deployment secret) of the visit number and of the message control id
(MSH-10). Names, record numbers, birth dates, addresses and phones are never copied into an outcome, a
dead-letter detail or an excerpt; neither are free-text fields, where a sender may type any of those
(issue 15: a name and a record number after the code in DG1-3, a record number as MSH-10). MSH-10 itself
goes back only to its sender, in the ACK (``hl7_ack_fields``).

The parser is deliberately small and lenient (segments on CR or LF, the separators MSH declares), and
reads only the fields Vigil uses; python-hl7 is ~50x slower for this job.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from stream.feeds.classify import Classification
from stream.model.errors import Rejected
from stream.model.events import DeadLetter, EventKind, IngestOutcome, Intent, ShootingEvent, Skipped, plausible_time, stable_id

MAX_MESSAGE_BYTES = 1_000_000
MAX_HOSPITAL_CHARS = 100  # MSH-4 names the hospital in every record downstream: a facility id is short
REGISTRATION = "A04"  # emergency registration: the only trigger that is a gunshot arrival (demo-deployment.md)
UPDATE = "A08"  # an update of a registration: recorded as skipped, never an alert
ICD10_SYSTEMS = {"", "I10", "I10C", "ICD10", "ICD-10", "ICD10CM", "ICD-10-CM", "ICD10-CM"}
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")


@dataclass(frozen=True)
class Hl7Message:
    """Segments by id, each a list of occurrences, each a list of fields (index n is field n)."""

    segments: dict[str, list[list[str]]]
    component_separator: str
    repetition_separator: str

    def field(self, segment: str, number: int, occurrence: int = 0) -> str:
        """Field ``number`` of a segment's ``occurrence`` ('' when absent); first repetition only."""
        found = self.segments.get(segment)
        if not found or occurrence >= len(found) or number >= len(found[occurrence]):
            return ""
        return found[occurrence][number].split(self.repetition_separator, 1)[0]

    def component(self, segment: str, number: int, component: int = 1, occurrence: int = 0) -> str:
        """Component ``component`` (1-based) of a field, stripped."""
        parts = self.field(segment, number, occurrence).split(self.component_separator)
        return parts[component - 1].strip() if component <= len(parts) else ""

    def count(self, segment: str) -> int:
        """How many occurrences of a segment the message has."""
        return len(self.segments.get(segment, ()))


def split_message(text: str) -> Hl7Message:
    """Split an HL7 v2 message; raises ``Rejected`` when it has no usable MSH header."""
    lines = [line for line in re.split(r"\r\n|\r|\n", text.strip().lstrip("\x0b").rstrip("\x1c")) if line]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise Rejected("not_hl7", "message does not begin with an MSH segment")
    header = lines[0]
    field_sep = header[3]
    encoding = header[4:8].split(field_sep, 1)[0]
    if field_sep.isalnum() or len(encoding) < 2 or len(set(field_sep + encoding)) != len(encoding) + 1:
        raise Rejected("bad_msh", "MSH-1/MSH-2 do not declare distinct separators")
    segments: dict[str, list[list[str]]] = {}
    for line in lines:
        fields = line.split(field_sep)
        name = fields[0].strip()
        if not _SEGMENT_ID.match(name):
            raise Rejected("bad_segment", "a segment id is not three capital letters or digits")
        if name == "MSH":
            fields = [name, field_sep, *fields[1:]]  # so that index n is MSH-n
        segments.setdefault(name, []).append(fields)
    return Hl7Message(segments, encoding[0], encoding[1])


def parse_dtm(text: str, zone: ZoneInfo) -> datetime | None:
    """An HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]); local ``zone`` when it has no offset."""
    match = _DTM.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        naive = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    if offset is None:
        moment = naive.replace(tzinfo=zone)
    else:
        sign = 1 if offset[0] == "+" else -1
        minutes = int(offset[1:3]) * 60 + int(offset[3:5])
        if minutes > 14 * 60:
            return None
        moment = naive.replace(tzinfo=timezone(sign * timedelta(minutes=minutes)))
    # years 1 and 9999 overflow once converted (the listener would fail without an ACK): not a date-time
    return moment if plausible_time(moment) else None


def age_in_years(birth: date, at: date) -> int | None:
    """Whole years between a birth date and a day; None when implausible."""
    years = at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))
    return years if 0 <= years < 130 else None


def visit_key(secret: bytes, hospital: str, visit_number: str) -> str:
    """The keyed hash that stands for a visit downstream (de-duplication without the number)."""
    return "visit-" + _keyed_digest(secret, hospital, visit_number)


def message_key(secret: bytes, hospital: str, control_id: str) -> str:
    """The keyed hash that stands for a message (MSH-10) downstream: the ref of its arrival or skip, in logs,
    topics, the core's state and the answer links. A sender may put anything in MSH-10, a record number too."""
    # "MSH-10" first: a message's digest is never the digest of a visit numbered like its control id
    return "msg-" + _keyed_digest(secret, "MSH-10", hospital, control_id)


def _keyed_digest(secret: bytes, *parts: str) -> str:
    return hmac.new(secret, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()[:24]


def redacted_excerpt(text: str) -> str:
    """What a dead letter may show of an HL7 message: its size and segment ids, never field values."""
    ids = [line[:3] for line in re.split(r"\r\n|\r|\n", text) if _SEGMENT_ID.match(line[:3])]
    return f"[HL7 redacted: {len(text)} chars; segments {' '.join(ids[:30]) or 'none'}]"


def _icd10_codes(message: Hl7Message) -> list[str]:
    """DG1-3.1 of each ICD-10 diagnosis, as sent: only the identifier component of the CWE (code^text^system);
    the text (DG1-3.2) is never read. The classifier takes the well-formed ones and drops the rest."""
    codes = []
    for n in range(message.count("DG1")):
        code = message.component("DG1", 3, 1, n)
        system = message.component("DG1", 3, 3, n).upper()
        if code and system in ICD10_SYSTEMS:
            codes.append(code)
    return codes


def _firearm_diagnosis(message: Hl7Message, rules: Classification) -> tuple[Intent, str] | None:
    """The intent and canonical code of the first well-formed firearm code; None when there is none.

    A malformed code is no code, so another DG1 with a well-formed firearm code still makes the arrival. When
    none does but a malformed code begins like a firearm code ("X95.XXXA" and a name after it), the message is
    rejected (AR to the sender, a redacted dead letter here) rather than skipped: a probable gunshot arrival is
    never dropped in silence, and nothing of the field is passed on."""
    codes = _icd10_codes(message)
    found = rules.hl7.firearm_intent(codes)
    if found is None and any(rules.hl7.begins_like_firearm(code) for code in codes):
        raise Rejected("bad_diagnosis_code", "DG1-3 begins with a firearm code but is not a well-formed ICD-10-CM code "
                       "(the code alone in the first component: code^text^system)")
    return found


def ingest_hl7(raw: bytes | str, rules: Classification, secret: bytes, received_at: datetime) -> IngestOutcome:
    """One ADT message to a gsw_arrival event, a Skipped, or a DeadLetter with a redacted excerpt."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        return _outcome(text, rules, secret, received_at)
    except Rejected as exc:
        return DeadLetter(source="hl7", reason=exc.reason, detail=exc.detail, excerpt=redacted_excerpt(text), received_at=received_at)


def _outcome(text: str, rules: Classification, secret: bytes, received_at: datetime) -> IngestOutcome:
    if len(text) > MAX_MESSAGE_BYTES:
        raise Rejected("too_large", f"HL7 message of {len(text)} characters exceeds {MAX_MESSAGE_BYTES}")
    message = split_message(text)
    control_id = message.field("MSH", 10).strip()
    if not control_id:
        raise Rejected("missing_control_id", "MSH-10 (message control id) is empty")
    if len(control_id) > 199:
        raise Rejected("bad_control_id", "MSH-10 (message control id) is longer than 199 characters")

    # MSH-10 goes no further than here (and the listener's ACK): downstream, the message is its keyed hash
    ref = message_key(secret, message.component("MSH", 4, 1).lower(), control_id)

    def skip(reason: str) -> Skipped:
        return Skipped(source="hl7", ref=ref, reason=reason, received_at=received_at)

    if message.component("MSH", 9, 1).upper() != "ADT":
        return skip("not_adt")
    trigger = message.component("MSH", 9, 2).upper() or message.field("EVN", 1).strip().upper()
    if trigger == UPDATE:
        return skip("update_not_alerting")
    if trigger != REGISTRATION:
        return skip("not_registration")
    if message.component("PV1", 2, 1).upper() not in rules.hl7.emergency_classes:
        return skip("not_emergency_visit")
    found = _firearm_diagnosis(message, rules)
    if found is None:
        return skip("no_firearm_diagnosis")
    intent, code = found

    hospital = message.component("MSH", 4, 1).lower()
    if not hospital:
        raise Rejected("missing_hospital", "MSH-4 (sending facility) is empty")
    if len(hospital) > MAX_HOSPITAL_CHARS:
        raise Rejected("bad_hospital", f"MSH-4 (sending facility) is longer than {MAX_HOSPITAL_CHARS} characters")
    arrived = next(
        (t for t in (parse_dtm(message.field(s, n), rules.zone) for s, n in (("PV1", 44), ("EVN", 2), ("MSH", 7))) if t),
        None,
    )
    if arrived is None:
        raise Rejected("bad_timestamp", "none of PV1-44, EVN-2, MSH-7 holds an HL7 date-time")
    birth = parse_dtm(message.field("PID", 7), rules.zone)
    age = age_in_years(birth.date(), arrived.astimezone(rules.zone).date()) if birth else None
    # the visit, else the account, else the message: a visit key is needed to keep A08s from re-alerting
    visit = message.component("PV1", 19) or message.component("PID", 18) or f"msg:{control_id}"
    return ShootingEvent(
        event_id=stable_id("evt", rules.jurisdiction, "hl7", hospital, ref),
        jurisdiction=rules.jurisdiction,
        source="hl7",
        incident_id=visit_key(secret, hospital, visit),
        ref=ref,
        kind=EventKind.GSW_ARRIVAL,
        reported_at=arrived,
        received_at=received_at,
        victim_count=1,
        victim_ages=(age,),
        hospital=hospital,
        intent=intent,
        diagnosis_codes=(code,),
    )


def hl7_ack_fields(message: Hl7Message | None) -> tuple[str, str, str, str, str]:
    """What an ACK echoes of the original: sending application and facility, control id, trigger, version."""
    if message is None:
        return "", "", "", "", "2.5.1"
    return (
        message.component("MSH", 3, 1)[:50],
        message.component("MSH", 4, 1)[:50],
        message.field("MSH", 10).strip()[:199],
        message.component("MSH", 9, 2)[:3],
        message.component("MSH", 12, 1)[:10] or "2.5.1",
    )
