"""Write demo_cad.jsonl: the small sample `vigil demo` sends (run: python -m stream.samples.make_demo_sample).

Invented incidents at real Minneapolis places, on an evening of 4 July 2026 (America/Chicago); a few
shootings among ordinary CAD calls, one CAD re-send, one malformed document, and an emergency-department
gunshot registration (HL7 ADT over MLLP, synthetic patient) with its A08 update. The shootings' CAD documents carry
the scene's civic address beside the point, as a CAD does (invented house numbers on real streets: the alerts name
the hundred-block); the sound of shots fired, a point only, shows the alert without one (the neighborhood).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7_builder import AdtMessage, Patient

OUT = Path(__file__).with_name("demo_cad.jsonl")
JAMES_AVE = {"HNO": "2418", "RD": "James", "STS": "Ave", "POD": "N"}


def sample() -> list[dict]:
    """The sample's lines: ``{"note": ..., "eido": {...}}`` or ``{"note": ..., "raw": "..."}``."""
    return [
        {"note": "medical call (not a shooting)",
         "eido": build_eido("MPLS-26-184101", "2026-07-04T21:58:12-05:00", apco="SICK",
                            internal_text="Sick Person (P)", lat=44.9483, lon=-93.2390)},
        {"note": "person shot, Jordan (Near North)",
         "eido": build_eido("MPLS-26-184102", "2026-07-04T22:03:40-05:00", apco="SHOOT",
                            internal_code="SHOOT", internal_text="Shooting (PFE)",
                            lat=45.0003, lon=-93.3001, victim_ages=[24], address=JAMES_AVE)},
        {"note": "traffic collision (not a shooting)",
         "eido": build_eido("MPLS-26-184103", "2026-07-04T22:05:02-05:00", apco="MVA",
                            internal_text="Motor Vehicle Accident (P)", lat=44.9631, lon=-93.2770)},
        {"note": "person shot, Midtown Phillips",
         "eido": build_eido("MPLS-26-184104", "2026-07-04T22:11:27-05:00", apco="SHOOT",
                            internal_text="Shooting Report Only (P)", lat=44.9530, lon=-93.2600,
                            victim_ages=[31], address={"HNO": "2640", "RD": "Chicago", "STS": "Ave", "POD": "S"})},
        {"note": "CAD re-send of the Jordan shooting (no second alert)",
         "eido": build_eido("MPLS-26-184102", "2026-07-04T22:12:05-05:00", apco="SHOOT",
                            internal_code="SHOOT", internal_text="Shooting (PFE)",
                            lat=45.0003, lon=-93.3001, victim_ages=[24], address=JAMES_AVE)},
        {"note": "sound of shots fired, Powderhorn Park",
         "eido": build_eido("MPLS-26-184105", "2026-07-04T22:20:44-05:00", apco="OTHER",
                            internal_text="Sound of Shots Fired (P)", lat=44.9405, lon=-93.2530)},
        {"note": "malformed document from CAD (dead-lettered)",
         "raw": '{"incidentComponent": {"$id": "MPLS-26-184106", "lastUpdateTimeStamp": '},
        {"note": "person shot, Hiawatha (Longfellow: no street team, a coverage gap)",
         "eido": build_eido("MPLS-26-184107", "2026-07-04T22:34:18-05:00", apco="SHOOT",
                            internal_text="Shooting (PFE)", lat=44.9260, lon=-93.2180,
                            victim_ages=[19], address={"HNO": "4215", "RD": "43rd", "STS": "Ave", "POD": "S"})},
        {"note": "burglary (not a shooting)",
         "eido": build_eido("MPLS-26-184108", "2026-07-04T22:40:00-05:00", apco="BURGLARY",
                            internal_text="Burglary Of Business (P)", lat=44.9870, lon=-93.2570)},
        {"note": "ED registration: gunshot wound, assault, at HCMC (HL7 ADT^A04 over MLLP)",
         "hl7": AdtMessage("HCMC-2607042229", "hcmc", datetime(2026, 7, 4, 22, 29, tzinfo=ZoneInfo("America/Chicago")),
                           visit_number="V26070400917", patient=Patient(family="DEMOPATIENT", given="SAM")).render()},
        {"note": "ED update of the same visit (ADT^A08: no second alert)",
         "hl7": AdtMessage("HCMC-2607042236", "hcmc", datetime(2026, 7, 4, 22, 29, tzinfo=ZoneInfo("America/Chicago")),
                           trigger="A08", visit_number="V26070400917", patient=Patient(family="DEMOPATIENT", given="SAM")).render()},
        {"note": "person shot, Downtown West",
         "eido": build_eido("MPLS-26-184109", "2026-07-04T23:02:51-05:00", apco="SHOOT",
                            internal_text="Shooting (PFE)", lat=44.9790, lon=-93.2720,
                            victim_ages=[22, 27], address={"HNO": "712", "RD": "Hennepin", "STS": "Ave"})},
    ]


if __name__ == "__main__":
    with open(OUT, "w", encoding="utf-8") as fh:
        for line in sample():
            fh.write(json.dumps(line, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
