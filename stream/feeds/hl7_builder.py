"""Build HL7 v2.5.1 ADT messages with every field in its numbered place: for tests, the demo and load runs.

The patient fields are synthetic; tests plant known values in them to prove they never leave the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


def hl7_time(moment: datetime) -> str:
    """An HL7 DTM with its UTC offset (YYYYMMDDHHMMSS+ZZZZ)."""
    return moment.strftime("%Y%m%d%H%M%S%z")


def _segment(name: str, fields: dict[int, str]) -> str:
    """A segment with field n at position n (empty fields in between)."""
    width = max(fields) if fields else 0
    return "|".join([name, *(fields.get(n, "") for n in range(1, width + 1))])


@dataclass
class Patient:
    """Synthetic identity: everything the adapter must strip."""

    family: str = "TESTPATIENT"
    given: str = "ALEX"
    mrn: str = "MRN0000001"
    birth_date: str = "19990101"
    street: str = "100 EXAMPLE AVE N"
    city: str = "MINNEAPOLIS"
    phone: str = "(612)555-0100"
    ssn: str = "000-00-0000"
    account: str = "ACCT0000001"


@dataclass
class AdtMessage:
    """One ADT message's parameters."""

    control_id: str
    hospital: str
    arrived: datetime
    trigger: str = "A04"
    patient_class: str = "E"
    visit_number: str = "V0000001"
    diagnoses: list[tuple[str, str, str]] = field(default_factory=lambda: [("X95.XXXA", "Assault by unspecified firearm discharge", "I10")])
    patient: Patient = field(default_factory=Patient)

    def render(self) -> str:
        """The message text, segments separated by CR."""
        p = self.patient
        when = hl7_time(self.arrived)
        segments = [
            "MSH|^~\\&|" + "|".join([
                "EDIS", self.hospital, "VIGIL", "DNS", when, "", f"ADT^{self.trigger}^ADT_A01", self.control_id, "P", "2.5.1",
            ]),
            _segment("EVN", {1: self.trigger, 2: when}),
            _segment("PID", {
                1: "1", 3: f"{p.mrn}^^^{self.hospital.upper()}^MR", 5: f"{p.family}^{p.given}", 7: p.birth_date, 8: "U",
                11: f"{p.street}^^{p.city}^MN^55411", 13: p.phone, 18: f"{p.account}^^^{self.hospital.upper()}^AN", 19: p.ssn,
            }),
            _segment("PV1", {1: "1", 2: self.patient_class, 3: "ED^^^" + self.hospital.upper(), 19: f"{self.visit_number}^^^{self.hospital.upper()}^VN", 44: when}),
        ]
        segments += [
            _segment("DG1", {1: str(n), 3: f"{code}^{text}^{system}", 6: "A"})
            for n, (code, text, system) in enumerate(self.diagnoses, start=1)
        ]
        return "\r".join(segments)
