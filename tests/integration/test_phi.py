"""Patient identity never passes the hospital adapter: synthetic ADT messages with planted names, record
numbers, birth dates, addresses and phones go through `vigil hl7-listen` and a real worker; none of those
strings appears in any topic, dead-letter entry, log line, review row or alert. Nor does what a sender typed
into the free-text fields Vigil reads (issue 15): a name and a record number as the message control id
(MSH-10), and after the firearm code in DG1-3 (and in its text component)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from hl7.client import MLLPClient
from sqlalchemy import text

from stream.devtools.broker import free_port, wait_for_port
from stream.feeds.hl7_builder import AdtMessage, Patient

pytestmark = pytest.mark.integration

ARRIVED = datetime(2026, 7, 4, 23, 40, tzinfo=ZoneInfo("America/Chicago"))
PATIENT = Patient(family="QWPHIFAMILY", given="QWPHIGIVEN", mrn="QWMRN55001", birth_date="20100309",
                  street="977 QWSTREET LN", city="QWCITY", phone="(763)555-4242", ssn="987-65-4321", account="QWACCT3141")
VISIT = "QWVISIT8080"
CONTROL_ID = "QWMSHNAME-QWMSHMRN3301-"  # MSH-10 holding a name and a record number, then each message's number
DIAGNOSES = [("X95.XXXA QWDGNAME QWDGMRN9911", "QWDGNAME typed", "I10"), ("X95.XXXA", "QWDGTEXT Assault by firearm", "I10")]
PLANTED = ["QWPHIFAMILY", "QWPHIGIVEN", "QWMRN55001", "20100309", "2010-03-09", "QWSTREET", "QWCITY", "555-4242", "7635554242",
           "987-65-4321", "QWACCT3141", VISIT, "QWMSHNAME", "QWMSHMRN3301", "QWDGNAME", "QWDGMRN9911", "QWDGTEXT"]


async def _all_records(bootstrap: str, prefixes: tuple[str, ...]) -> dict[str, list[bytes]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefixes)]
    finally:
        await admin.close()
    found: dict[str, list[bytes]] = {}
    for topic in topics:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=2000)
            found[topic] = [(m.key or b"") + b" " + (m.value or b"") for msgs in batches.values() for m in msgs]
        finally:
            await consumer.stop()
    return found


def _leaks(blob: str) -> list[str]:
    return [s for s in PLANTED if s.lower() in blob.lower()]


def _decoded_tokens(alerts: str) -> str:
    """The claims inside the alerts' answer links (base64url JSON before the signature): a ref travels there."""
    payloads = re.findall(r"/ack/([A-Za-z0-9_-]+)\.", alerts)
    assert payloads, "no answer link in the alerts"
    return "\n".join(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode("utf-8", "replace") for p in payloads)


def _message(number: int, **kwargs) -> str:
    return AdtMessage(f"{CONTROL_ID}{number}", "hcmc", ARRIVED, visit_number=VISIT, patient=PATIENT, diagnoses=DIAGNOSES, **kwargs).render()


async def test_no_patient_identity_anywhere_downstream(pipeline) -> None:
    port = free_port()
    log_path = pipeline.workdir / "hl7-listen.log"
    env = {**os.environ, "VIGIL_HL7_SECRET": "phi-test-secret-0123456789"}
    log = open(log_path, "wb")  # noqa: SIM115
    listener = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "--log-level", "debug", "hl7-listen", "--bootstrap", pipeline.bootstrap,
         "--port", str(port), "--topic-prefix", pipeline.topics.prefix],
        env=env, stdout=log, stderr=log,
    )
    messages = [
        _message(1),  # alerts nextstep-hcmc: by its second DG1, the first (text after the code) being no code
        _message(2, trigger="A08"),  # update: no new alert
        _message(3).replace("|E|", "|I|"),  # skipped
        _message(4).replace(ARRIVED.strftime("%Y%m%d%H%M%S%z"), "x"),  # rejected
    ]
    before = len(pipeline.messages())
    try:
        assert wait_for_port("127.0.0.1", port, timeout=60), log_path.read_text()
        with MLLPClient("127.0.0.1", port) as client:
            acks = [client.send_message(m) for m in messages]
        alerts = pipeline.wait_for_messages(before + 2)
        time.sleep(1.5)  # the update and the review sink have their turn
    finally:
        listener.terminate()
        listener.wait(timeout=15)
        log.close()

    assert [a.decode().split("MSA|")[1][:2] for a in acks] == ["AA", "AA", "AA", "AR"]
    assert all(f"|{CONTROL_ID}{n}|".encode() in a for n, a in enumerate(acks, start=1))  # MSH-10 goes back to its sender only
    new = pipeline.messages()[before:]
    # the Next Step team (P3), and the school team because the patient is a juvenile (P5)
    assert sorted(m["recipient"] for m in new) == ["mps-safety-lead", "nextstep-hcmc-lead"]
    hospital = next(m for m in new if m["recipient"] == "nextstep-hcmc-lead")
    assert hospital["title"] == "VIGIL: Gunshot patient - Hennepin Healthcare (HCMC)"
    assert "under 18" in hospital["body"]  # an age band, never the birth date

    records = await _all_records(pipeline.bootstrap, (pipeline.topics.prefix, pipeline.worker.app_id))
    assert records[pipeline.topics.hospital_arrivals] and records[pipeline.topics.dlq]
    everything = {
        **{f"topic {t}": b"\n".join(v).decode("utf-8", "replace") for t, v in records.items()},
        "listener log": log_path.read_text(errors="replace"),
        "worker log": pipeline.worker.log_path.read_text(errors="replace"),
        "alerts": str(alerts),
        "answer-link tokens": _decoded_tokens(str(alerts)),
    }
    with pipeline.store.engine.connect() as conn:
        everything["review rows"] = "\n".join(str(tuple(row)) for row in conn.execute(text("SELECT * FROM timeline")))
    assert "gsw_arrival" in everything["review rows"]  # the arrival did reach the review store
    leaks = {where: _leaks(blob) for where, blob in everything.items() if _leaks(blob)}
    assert leaks == {}
