"""Leak scan: the whole demo pipeline with planted patient identity and planted secrets, then every place
Vigil writes anything is searched for them.

    python -m load_tests.leak_scan [--workdir DIR] [--plant-leak]

Planted:
- **patient identity** in the demo's two emergency-department messages (HL7 ADT over MLLP): names,
  record number, date of birth, address, phone, social security and account numbers, visit number; and,
  in free-text fields a sender may misuse (issue 15), a name and record number in MSH-10 (the message
  control id) and in DG1-3 (after a firearm code in the code component of an extra first DG1, and in the
  text component of the real one);
- **secrets**: ``VIGIL_ACK_SECRET``, ``VIGIL_HL7_SECRET``, an ingest bearer token of ``vigil ingest-http``
  (a document is pushed with it) and a wrong one (refused), the password and API key in the teams'
  contact URLs (every alert is sent through them), a review user's password and a wrong one, and the
  session cookie that sign-in returns (used for a page, then signed out).

Scanned, after the demo's sample, answers and the extra steps above, while everything is still up: every
record of every topic on the broker (inputs, internal topics, Faust's changelogs, the dead letters), every
row of every table of the review store; then, after everything stopped, every file the run wrote (the
worker's, the ingest service's and the broker's logs, this process's own stdout and stderr with the
answer and review web service, the HL7 listener and the phone inbox in it, the inbox's journal of alerts,
the raw SQLite file). Each planted value is looked for as is, in any letter case, URL-encoded and base64
(standard and URL-safe, at each of the three byte alignments). Exit 1 on any finding, 2 when the run
itself failed (a scan of nothing proves nothing), 0 otherwise.

Not scanned, on purpose: ``contacts.yaml`` (the contact configuration itself, which holds the contact
URLs' passwords by design and is kept out of git, as ``VIGIL_CONTACTS`` is in production).

``--plant-leak`` is the scanner's own test: it writes three planted values where they must not be (a
record on the dead-letter topic, base64; a row of the audit log, URL-encoded, so in the SQLite file too; a
log line, lower case) and the scan must report exactly those (tests/security/test_leak_scan.py).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import aiohttp
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import MetaData, select

from notifiers.inbox import PhoneInbox
from reviews.store import ReviewStore
from stream.devtools.broker import free_port, wait_for_port
from stream.devtools.demo import LocalPipeline, SampleLine, read_sample, run_demo
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7_builder import AdtMessage, Patient
from stream.ops.logs import configure_logging

NOT_SCANNED = {"contacts.yaml": "the contact configuration: holds the contact URLs' passwords by design, kept out of git"}
MIN_NEEDLE = 8  # shorter fragments (of base64 at an offset) would match by chance
PATIENT = Patient(family="QZLEAKFAMILY", given="QZLEAKGIVEN", mrn="QZMRN778812", birth_date="20090417", street="4412 QZLEAKSTREET AVE",
                  city="QZLEAKCITY", phone="(612)555-7788", ssn="512-44-9071", account="QZACCT991204")
VISIT = "QZVISIT661420"
MSH10_PREFIX = "QZMSHNAME-QZMSHMRN4471-"  # before each message's own control id: MSH-10 holding a name and a record number
DG1_FREE_TEXT = "DG1|1||X95.XXXA QZDGNAME QZDGMRN8830^QZDGNAME typed here^I10|||A"  # text after the code, in DG1-3.1 and DG1-3.2
DG1_TEXT = "QZDGTEXT5521"  # in the text component (DG1-3.2) of the message's real firearm diagnosis


@dataclass
class Planted:
    """The values that must never appear anywhere Vigil writes, by label."""

    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fresh(cls) -> Planted:
        """New secrets for this run, and the synthetic patient."""
        def secret(prefix: str) -> str:
            return f"{prefix}{secrets.token_hex(12)}"
        return cls({
            "patient family name": PATIENT.family, "patient given name": PATIENT.given, "MRN": PATIENT.mrn,
            "date of birth": PATIENT.birth_date, "date of birth (ISO)": "2009-04-17", "street address": "QZLEAKSTREET",
            "city": PATIENT.city, "phone": "555-7788", "phone (digits)": "6125557788", "SSN": PATIENT.ssn,
            "account number": PATIENT.account, "visit number": VISIT,
            "name in MSH-10": "QZMSHNAME", "record number in MSH-10": "QZMSHMRN4471", "name in DG1-3": "QZDGNAME",
            "record number in DG1-3": "QZDGMRN8830", "text in DG1-3": DG1_TEXT,
            "VIGIL_ACK_SECRET": secret("qzack"), "VIGIL_HL7_SECRET": secret("qzhl7"), "ingest token": secret("qzingest"),
            "wrong ingest token": secret("qzbadtok"), "contact URL password": secret("qzpass"), "contact URL API key": secret("qzapikey"),
            # with characters URL-encoding changes, so that encoding is exercised too
            "review password": secret("qzpw/") + "+!", "wrong review password": secret("qzwrongpw/") + "+!",
        })


def needles(value: str) -> list[tuple[str, str]]:
    """(encoding, text) of a planted value as it could appear: as is, URL-encoded, base64 and base64url at
    each byte alignment (a value inside a longer base64 text starts at any of three offsets)."""
    found = {("as is, any case", value)}
    found |= {("URL-encoded", text) for text in (quote(value, safe=""), quote(value), quote_plus(value)) if text != value}
    raw = value.encode()
    for shift in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * shift + raw).decode()
            # only the characters made entirely of the value's own bits: not those shared with what comes before or after
            fragment = text[-(-shift * 8 // 6):((shift + len(raw)) * 8) // 6]
            if len(fragment) >= MIN_NEEDLE and (name, fragment) not in found and ("base64", fragment) not in found:
                found.add((name, fragment))
    return sorted(found)


def scan(planted: Planted, sources: dict[str, bytes]) -> list[str]:
    """Every (source, planted value, encoding) found, as report lines; case-insensitive."""
    patterns = [(label, encoding, text.lower().encode()) for label, value in planted.values.items() for encoding, text in needles(value)]
    findings = []
    for where, blob in sources.items():
        haystack = blob.lower()
        hits = {(label, encoding) for label, encoding, needle in patterns if needle in haystack}
        findings += [f"LEAK  {where}: {label} ({encoding})" for label, encoding in sorted(hits)]
    return findings


def planted_lines(planted: Planted) -> list[SampleLine]:
    """The demo's sample with the planted patient in its emergency-department messages."""
    lines = []
    for line in read_sample():
        if line.source == "hl7":
            segments = line.raw.decode().split("\r")
            template = AdtMessage("X", "hcmc", datetime(2026, 7, 5, 3, 29, tzinfo=UTC), visit_number=VISIT, patient=PATIENT).render()
            pid = next(s for s in template.split("\r") if s.startswith("PID|"))
            segments = [pid if s.startswith("PID|") else re.sub(r"\|V\d+\^\^\^", f"|{VISIT}^^^", s) for s in segments]
            line = SampleLine(line.note, "hl7", "\r".join(_free_text_planted(segments)).encode())
        lines.append(line)
    assert sum(PATIENT.family.encode() in line.raw and VISIT.encode() in line.raw and DG1_TEXT.encode() in line.raw
               and MSH10_PREFIX.encode() in line.raw for line in lines) == 2, "the sample changed"
    return lines


def _free_text_planted(segments: list[str]) -> list[str]:
    """A message's segments with identity in its free-text fields: MSH-10, and DG1-3 (a malformed first DG1 and
    text beside the real code, which stays a firearm code, so the demo still alerts by it)."""
    out = []
    for segment in segments:
        if segment.startswith("MSH|"):
            fields = segment.split("|")
            fields[9] = MSH10_PREFIX + fields[9]  # fields[9] is MSH-10 (MSH-1 is the separator itself)
            segment = "|".join(fields)
        if segment.startswith("DG1|"):
            out.append(DG1_FREE_TEXT)
            segment = segment.replace("^Assault by", f"^{DG1_TEXT} Assault by")
        out.append(segment)
    return out


def contact_urls(planted: Planted):
    """Each team's phone behind a URL with a password and an API key header, as real gateways need."""
    password, key = planted.values["contact URL password"], planted.values["contact URL API key"]

    def urls(inbox: PhoneInbox, team: str) -> list[str]:
        plain = inbox.apprise_url(f"{team}-lead")
        return [plain.replace("json://", f"json://vigil:{password}@", 1) + f"?+X-Api-Key={key}"]
    return urls


async def topic_names(bootstrap: str) -> list[str]:
    """Every topic on the broker, sorted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def read_topics(bootstrap: str) -> dict[str, list[bytes]]:
    """Every record (key, value, headers) of every topic on the broker, to each partition's end."""
    names = await topic_names(bootstrap)
    found: dict[str, list[bytes]] = {}
    for name in names:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(name, p) for p in (consumer.partitions_for_topic(name) or await _partitions(consumer, name))]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            records: list[bytes] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and await _left(consumer, ends) > 0:
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records += [b" ".join([m.key or b"", m.value or b"", *(k.encode() + b"=" + (v or b"") for k, v in m.headers or ())])
                                for m in batch]
            missing = await _left(consumer, ends)
            if missing > 0:
                raise RuntimeError(f"could not read topic {name} to its end: {missing} records left")
            found[name] = records
        finally:
            await consumer.stop()
    return found


async def topics_settled(bootstrap: str, quiet_s: float = 2.0, cap_s: float = 120.0, ticking: frozenset[str] = frozenset()) -> None:
    """Until no topic on the broker has grown for ``quiet_s`` (the worker's changelogs and the review sink
    caught up), at most ``cap_s``: progress, not a fixed sleep. ``ticking`` topics are left out of the count:
    the worker's clock writes a tick to its events topic every second, so counting it would never settle
    (every scan waited the whole ``cap_s``); what an event on it sets off lands on the topics still counted."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        began = last_change = time.monotonic()
        last: int | None = None
        while time.monotonic() - began < cap_s:
            names = [name for name in await topic_names(bootstrap) if name not in ticking]
            partitions = [TopicPartition(name, p) for name in names for p in await _partitions(consumer, name)]
            total = sum((await consumer.end_offsets(partitions)).values()) if partitions else 0
            if total != last:
                last, last_change = total, time.monotonic()
            elif time.monotonic() - last_change >= quiet_s:
                return
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


async def _left(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> int:
    return sum([ends[tp] - await consumer.position(tp) for tp in ends])


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh consumer knows no topics until asked
    return consumer.partitions_for_topic(topic) or {0}


def read_tables(db_url: str) -> dict[str, list[str]]:
    """Every row of every table of the review store."""
    store = ReviewStore(db_url)
    try:
        meta = MetaData()
        meta.reflect(store.engine)
        with store.engine.connect() as conn:
            return {name: [repr(tuple(row)) for row in conn.execute(select(table))] for name, table in meta.tables.items()}
    finally:
        store.dispose()


@dataclass
class Extras:
    """What the steps beyond the demo did, for the report and the checks that the scan saw real traffic."""

    steps: dict[str, str] = field(default_factory=dict)
    topics: dict[str, list[bytes]] = field(default_factory=dict)
    tables: dict[str, list[str]] = field(default_factory=dict)


async def push_through_ingest(running: LocalPipeline, planted: Planted, workdir: Path, extras: Extras) -> None:
    """`vigil ingest-http` with the planted token: one document pushed with it, one with a wrong token."""
    port = free_port()
    log = open(workdir / "ingest-http.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "VIGIL_INGEST_TOKENS": f"{planted.values['ingest token']},another-token-0001"}
    process = subprocess.Popen([sys.executable, "-m", "stream.cli", "--log-level", "debug", "ingest-http", "--bootstrap", running.bootstrap,
                                "--port", str(port), "--metrics-port", "0", "--topic-prefix", running.topics.prefix], env=env, stdout=log, stderr=log)
    try:
        if not await asyncio.to_thread(wait_for_port, "127.0.0.1", port, 60):
            raise RuntimeError("vigil ingest-http did not start")
        doc = build_eido("LEAK-INGEST-1", "2026-07-04T22:40:00-05:00", apco="MVA", lat=44.96, lon=-93.27)
        async with aiohttp.ClientSession() as session:
            for label in ("ingest token", "wrong ingest token"):
                headers = {"Authorization": f"Bearer {planted.values[label]}", "Content-Type": "application/json"}
                async with session.post(f"http://127.0.0.1:{port}/ingest/eido", data=json.dumps(doc), headers=headers) as reply:
                    extras.steps[f"ingest-http, {label}"] = str(reply.status)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)
        log.close()


async def sign_in_and_out(running: LocalPipeline, web_url: str, planted: Planted, extras: Extras) -> str:
    """A wrong then a right password for a review user, a page with the session, sign-out; the cookie."""
    store = ReviewStore(f"sqlite:///{running.db_path}")
    try:
        await asyncio.to_thread(store.add_user, "leak-dns", planted.values["review password"], "dns", None, datetime.now(UTC))
    finally:
        store.dispose()
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        for label in ("wrong review password", "review password"):
            async with session.get(f"{web_url}/login") as form:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
            data = {"username": "leak-dns", "password": planted.values[label], "csrf": csrf, "next": "/review/2026-07-04"}
            async with session.post(f"{web_url}/login", data=data, allow_redirects=False) as reply:
                extras.steps[f"sign-in, {label}"] = str(reply.status)
        cookie = next((c.value for c in jar if c.key == "vigil_session"), "")
        async with session.get(f"{web_url}/review/2026-07-04") as page:
            body = await page.text()
            extras.steps["review day page with the session"] = str(page.status)
        csrf = re.search(r'name="csrf" value="([^"]+)"', body)
        async with session.post(f"{web_url}/logout", data={"csrf": csrf.group(1) if csrf else ""}, allow_redirects=False) as reply:
            extras.steps["sign-out"] = str(reply.status)
    return cookie


async def plant_leaks(running: LocalPipeline, planted: Planted) -> None:
    """--plant-leak: three planted values where they must not be, each in another encoding."""
    producer = AIOKafkaProducer(bootstrap_servers=running.bootstrap)
    await producer.start()
    try:
        leaked = base64.b64encode(f"key={planted.values['VIGIL_ACK_SECRET']}".encode())
        await producer.send_and_wait(running.topics.dlq, b'{"planted": "' + leaked + b'"}')
    finally:
        await producer.stop()
    store = ReviewStore(f"sqlite:///{running.db_path}")
    try:
        await asyncio.to_thread(store.audit, None, "leak_scan_plant", None, datetime.now(UTC), quote(planted.values["review password"]))
    finally:
        store.dispose()
    structlog.get_logger("leak_scan").warning("leak_scan.planted", patient=PATIENT.family.lower())


@contextlib.contextmanager
def captured(path: Path) -> Iterator[None]:
    """This process's stdout and stderr (file descriptors 1 and 2, so C code and subprocess writes too) into ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def files_of(workdir: Path) -> dict[str, bytes]:
    """Every file the run wrote, but the ones ``NOT_SCANNED`` says why."""
    return {f"file {path.relative_to(workdir)}": path.read_bytes() for path in sorted(workdir.rglob("*"))
            if path.is_file() and path.name not in NOT_SCANNED}


def run(workdir: Path, plant_leak: bool = False) -> int:
    """Run the pipeline with the planted values, scan, print the report; the exit code (see the module doc)."""
    planted = Planted.fresh()
    extras = Extras()

    async def hold(running: LocalPipeline, web_url: str) -> None:
        await push_through_ingest(running, planted, workdir, extras)
        planted.values["session cookie"] = await sign_in_and_out(running, web_url, planted, extras)
        if plant_leak:
            await plant_leaks(running, planted)
        # the worker's changelogs and the review sink catch up (its clock ticks on the events topic meanwhile)
        await topics_settled(running.bootstrap, ticking=frozenset({running.topics.events}))
        extras.topics = await read_topics(running.bootstrap)
        extras.tables = await asyncio.to_thread(read_tables, f"sqlite:///{running.db_path}")

    with captured(workdir / "demo.out"):
        configure_logging("debug")
        try:
            code = asyncio.run(run_demo(workdir=workdir, lines=planted_lines(planted), ack_secret=planted.values["VIGIL_ACK_SECRET"],
                                        hl7_secret=planted.values["VIGIL_HL7_SECRET"].encode(), contact_urls=contact_urls(planted),
                                        hold=hold))
        except Exception as exc:  # noqa: BLE001 - reported as a failed run (exit 2); the traceback is in demo.out
            import traceback

            traceback.print_exc()
            code = f"{type(exc).__name__}: {exc}"
    print(f"leak scan of {workdir}")
    problems = _coverage_problems(code, extras, planted)
    sources = {f"topic {name}": b"\n".join(records) for name, records in extras.topics.items()}
    sources |= {f"table {name}": "\n".join(rows).encode() for name, rows in extras.tables.items()}
    sources |= files_of(workdir)
    for step, status in extras.steps.items():
        print(f"  step     {step}: {status}")
    print(f"  scanned  {len(extras.topics)} topics ({sum(map(len, extras.topics.values()))} records), {len(extras.tables)} tables "
          f"({sum(map(len, extras.tables.values()))} rows), {sum(k.startswith('file ') for k in sources)} files, "
          f"for {len(planted.values)} planted values in {sum(len(needles(v)) for v in planted.values.values())} forms")
    for name, reason in NOT_SCANNED.items():
        print(f"  skipped  {name}: {reason}")
    findings = scan(planted, sources)
    for line in problems + findings:
        print(f"  {line}")
    print(f"result   {len(findings)} finding(s)" + (f", {len(problems)} problem(s) with the run" if problems else ""))
    return 2 if problems else 1 if findings else 0


def _coverage_problems(code: int | str, extras: Extras, planted: Planted) -> list[str]:
    """Why the scan would prove nothing: the run failed, or what it was meant to exercise did not happen."""
    expected = {"ingest-http, ingest token": "202", "ingest-http, wrong ingest token": "401", "sign-in, wrong review password": "401",
                "sign-in, review password": "303", "review day page with the session": "200", "sign-out": "303"}
    problems = [f"PROBLEM  the demo run failed ({code if isinstance(code, str) else f'exit {code}'}; see demo.out)"] if code != 0 else []
    problems += [f"PROBLEM  {step}: got {extras.steps.get(step)}, expected {status}" for step, status in expected.items()
                 if extras.steps.get(step) != status]
    if not planted.values.get("session cookie"):
        problems.append("PROBLEM  sign-in returned no session cookie")
    if not any("changelog" in name for name in extras.topics):
        problems.append("PROBLEM  no changelog topic was read")
    for suffix in ("hospital.arrivals", "dlq", "timeline", "cad.eido"):
        if not any(name.endswith(suffix) and records for name, records in extras.topics.items()):
            problems.append(f"PROBLEM  the {suffix} topic was empty or not read")
    for table in ("timeline", "audit_log", "users"):
        if not extras.tables.get(table):
            problems.append(f"PROBLEM  the {table} table was empty or not read")
    return problems


def main() -> None:
    """Command line: see the module doc."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="Folder for the run's files (default: a new temporary one).")
    parser.add_argument("--plant-leak", action="store_true", help="Plant three leaks, to see the scanner find them.")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-leak-scan-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sys.exit(run(workdir, args.plant_leak))


if __name__ == "__main__":
    main()
