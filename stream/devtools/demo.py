"""``vigil demo``: the whole pipeline on embedded parts, on the bundled Minneapolis CAD sample.

Starts the embedded broker, the phone inbox and one worker (with a SQLite review store), sends the
sample (each document stamped at the moment the demo clock sends it), prints each page as the inbox
receives it, by name (who was paged, as which layer, on which channel) with its end-to-end latency
(event produced → inbox received), checks the pages against what the core predicts, then prints a
summary. Then the responder loop: one person answers by SMS reply (the inbox plays the SMS gateway and
posts the signed reply to ``vigil web``'s ``/sms/inbound``) and gets the confirmation; another opens an
answer page (the incident and its map link) and taps "can't respond", which escalates; the others told
in the first activation hear who is going.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from notifiers.apprise_adapter import load_people, load_recipients, recipient_people, sms_phones, write_contacts
from notifiers.inbox import InboxMessage, PhoneInbox
from reviews.store import ReviewStore
from stream.core.activations import handle_event
from stream.core.deployment import Deployment, load_deployment
from stream.core.phrases import ENGLISH, phrase
from stream.core.state import Config, CoreState
from stream.devtools.broker import EmbeddedBroker, free_port
from stream.devtools.demo_phones import DemoPhones
from stream.devtools.processes import StopSignals, WorkerProcess
from stream.devtools.sms_gateway import TwilioReplies
from stream.feeds.hl7 import ingest_hl7
from stream.feeds.ingest import ingest_cad
from stream.feeds.mllp import MllpListener, send_framed
from stream.model.events import DeadLetter, Skipped
from stream.model.timeline import TaskCreated
from stream.ops.kafka import Topics, ensure_topics

SAMPLE = Path(__file__).parent / "samples" / "demo_cad.jsonl"
REF = re.compile(r"\b(act-[0-9a-f]+)\b")  # the activation id, whatever the language calls a reference
LINK = re.compile(r"Answer: (\S+)")
HEADING = re.compile(r"<h1>(.*?)</h1>", re.S)
NOTICE = re.compile(r'<p class="notice ok">(.*?)</p>', re.S)
WHAT = re.compile(r'<h1 class="what">(.*?)</h1>', re.S)
WHERE = re.compile(r'<p class="where">(.*?)</p>', re.S)
OSM = re.compile(r'href="(https://www\.openstreetmap\.org/[^"]+)"')
DUE = re.compile(r'<p class="due">(.*?)</p>', re.S)
SEND_GAP_S = 0.4
# The responder loop the demo plays: Near North's primary answers "on my way" by SMS reply; Midtown Phillips's
# primary opens the answer page and taps "can't respond".
SMS_ANSWER = ("vi-north-nearnorth", "2")
TAP_UNABLE = "vi-south-phillips"
# The core coalesces answers for 30 s before telling the others (stream/core/answers.py): wait that and a margin.
ANSWERS_WAIT_S = 45.0
# The sample is an evening of 4 July 2026 (a Saturday): the worker's clock starts there, so the
# street teams are on shift whatever the hour the demo is run.
DEMO_EVENING = datetime(2026, 7, 4, 22, 0, tzinfo=ZoneInfo("America/Chicago"))


@dataclass
class SampleLine:
    """One line of the demo sample: a note, the feed (eido or hl7), the raw bytes it sends, and the moment
    its timestamps say (``at``; None: as written in the sample, predicted at the demo's evening)."""

    note: str
    source: str
    raw: bytes
    at: datetime | None = None


# The timestamps a line carries: EIDO's ISO 8601 with an offset, HL7's DTM to the second with an offset.
# A birth date (HL7 PID-7, day only) is not a moment of the evening and is left alone.
_ISO_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d")
_HL7_STAMP = re.compile(rb"(?<![0-9])\d{14}[+-]\d{4}(?![0-9])")
HL7_DTM = "%Y%m%d%H%M%S%z"


def stamped(line: SampleLine, at: datetime) -> SampleLine:
    """The line as CAD or the hospital would send it at ``at``: every timestamp in it moved by one amount, so
    that its latest is ``at`` (to the second). Sent at that moment of the demo clock, what its alerts say
    (reported at, acknowledge by) is then true; the sample's own times span an hour the demo does not wait."""
    iso = [datetime.fromisoformat(m.group().decode()) for m in _ISO_STAMP.finditer(line.raw)]
    hl7 = [datetime.strptime(m.group().decode(), HL7_DTM) for m in _HL7_STAMP.finditer(line.raw)]
    if not iso and not hl7:
        return SampleLine(line.note, line.source, line.raw, at)
    shift = at.replace(microsecond=0) - max(iso + hl7)  # documents say whole seconds
    raw = _ISO_STAMP.sub(lambda m: (datetime.fromisoformat(m.group().decode()) + shift).isoformat().encode(), line.raw)
    raw = _HL7_STAMP.sub(lambda m: (datetime.strptime(m.group().decode(), HL7_DTM) + shift).strftime(HL7_DTM).encode(), raw)
    return SampleLine(line.note, line.source, raw, at)


def stamped_sample(lines: list[SampleLine], start: datetime, gap_s: float = SEND_GAP_S) -> list[SampleLine]:
    """The sample on the demo's schedule: line ``n`` stamped at ``start + n * gap_s``, when the demo sends it."""
    return [stamped(line, start + timedelta(seconds=n * gap_s)) for n, line in enumerate(lines)]


@dataclass
class Prediction:
    """What the core predicts for the sample: alerts by (activation, team), gaps, dead letters."""

    # (activation, team, person): a page of one person, or (person None) the team's shared phones
    alerts: set[tuple[str, str, str | None]] = field(default_factory=set)
    shootings: int = 0
    not_shootings: int = 0
    dead_letters: int = 0
    coverage_gaps: set[str] = field(default_factory=set)
    timeline_entries: set[str] = field(default_factory=set)
    line_activations: list[str | None] = field(default_factory=list)


def read_sample(path: Path = SAMPLE) -> list[SampleLine]:
    """The sample's lines, as the bytes CAD would send."""
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(text)
        if "hl7" in item:
            lines.append(SampleLine(item["note"], "hl7", item["hl7"].encode()))
        else:
            raw = item["raw"].encode() if "raw" in item else json.dumps(item["eido"]).encode()
            lines.append(SampleLine(item["note"], "eido", raw))
    return lines


def predict(lines: list[SampleLine], deployment: Deployment, hl7_secret: bytes, phones: DemoPhones | None = None) -> Prediction:
    """Run the same core the worker and the HL7 listener run, each line at the moment it is stamped (the demo's
    evening for a line not stamped), with the demo's rosters and people, to know which pages must arrive: each
    person paged, and the shared phones of a team not paged person by person."""
    prediction = Prediction()
    phones = phones or DemoPhones(deployment)
    state, config, paged = CoreState(), phones.config(), phones.paged_teams()
    for line in lines:
        now = line.at or DEMO_EVENING
        if line.source == "hl7":
            result = ingest_hl7(line.raw, deployment.classification, hl7_secret, now)
        else:
            result = ingest_cad(line.raw, deployment.classification, now)
        if isinstance(result, Skipped):
            prediction.not_shootings += 1
            prediction.line_activations.append(None)
        elif isinstance(result, DeadLetter):
            prediction.dead_letters += 1
            prediction.line_activations.append(None)
        else:
            prediction.shootings += 1
            outcome = handle_event(state, result, now, config)
            prediction.line_activations.append(outcome.activation_id)
            # a paged team's team-level intent is recorded, not sent: its people are paged instead
            sent = [i for i in outcome.intents if i.person is not None or i.team not in paged]
            prediction.alerts |= {(i.activation_id, i.team, i.person) for i in sent}
            prediction.timeline_entries |= {e.entry_id for e in outcome.timeline}
            prediction.timeline_entries |= {f"delivery:{i.intent_id}" for i in sent}
    prediction.coverage_gaps = {a.id for a in state.activations.values() if "coverage_gap" in a.flags}
    return prediction


async def _count_topic(bootstrap: str, topic: str, timeout_ms: int = 3000) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=timeout_ms)
        return sum(len(v) for v in batches.values())
    finally:
        await consumer.stop()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


@dataclass
class LocalPipeline:
    """A running local pipeline: the phone inbox (in this process) and one worker process."""

    bootstrap: str
    topics: Topics
    inbox: PhoneInbox
    worker: WorkerProcess
    db_path: Path
    hl7: MllpListener
    contacts: Path | None = None


@asynccontextmanager
async def local_pipeline(
    bootstrap: str, workdir: Path, deployment: Deployment, topics: Topics, app_id: str, hl7_secret: bytes, fetch_wait_ms: int = 10,
    clock_start: datetime | None = DEMO_EVENING, phones_per_team: dict[str, int] | None = None, public_url: str = "http://127.0.0.1:8600",
    ack_secret: str | None = None, contact_urls: Callable[[PhoneInbox, str], list[str]] | None = None,
    people: Callable[[PhoneInbox], dict[str, list[tuple[str, str]]]] | None = None,
) -> AsyncIterator[LocalPipeline]:
    """Start the inbox, write contacts for every team (one phone each, ``<team>-lead``, or
    ``phones_per_team`` phones ``<team>-p01``...; ``contact_urls(inbox, team)`` overrides both) and, with
    ``people(inbox)``, each roster person's contact methods; make the topics, start the HL7 listener and a
    worker, and wait for the worker."""
    phone_inbox = PhoneInbox(journal=workdir / "inbox.jsonl")
    await phone_inbox.start()
    worker: WorkerProcess | None = None
    listener = MllpListener(bootstrap, topics, deployment.classification, hl7_secret, CollectorRegistry(), port=0)
    try:
        contacts = workdir / "contacts.yaml"
        many = phones_per_team or {}
        write_contacts(contacts, {t: [phone_inbox.apprise_url(f"{t}-p{k:02d}") for k in range(1, many[t] + 1)] if t in many
                                  else contact_urls(phone_inbox, t) if contact_urls else [phone_inbox.apprise_url(f"{t}-lead")]
                                  for t in deployment.coverage.teams}, people=people(phone_inbox) if people else None)
        db_path = workdir / "review.sqlite"
        await ensure_topics(bootstrap, topics)
        await listener.start()
        worker = WorkerProcess(
            bootstrap, contacts, f"sqlite:///{db_path}", workdir, app_id=app_id, topic_prefix=topics.prefix, fetch_wait_ms=fetch_wait_ms,
            clock_start=clock_start.isoformat() if clock_start else None, ack_secret=ack_secret, public_url=public_url,
        )
        worker.start()
        await asyncio.to_thread(worker.wait_ready)
        yield LocalPipeline(bootstrap, topics, phone_inbox, worker, db_path, listener, contacts)
    finally:
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        await listener.stop()
        await phone_inbox.stop()


async def run_demo(bootstrap: str | None = None, serve: bool = False, workdir: Path | None = None, timeout: float = 60.0, out: Any = print,
                   *, lines: list[SampleLine] | None = None, ack_secret: str | None = None, hl7_secret: bytes | None = None,
                   contact_urls: Callable[[PhoneInbox, str], list[str]] | None = None,
                   hold: Callable[[LocalPipeline, str], Awaitable[None]] | None = None) -> int:
    """Run the demo; return 0 when every predicted page arrived exactly once and the answers did what they
    should (an SMS reply recorded and confirmed, a "can't respond" escalated at once, a used link refused, the
    others told in the activation heard who is going), 1 otherwise;
    128 + the signal's number when SIGTERM or SIGINT stopped it (after every process it started has stopped).

    The leak scan (load_tests/leak_scan.py) plants its own ``lines``, secrets and ``contact_urls``, and
    ``hold(running, web_url)`` runs after the answers while everything is still up, so it can read every
    topic and table before they go.
    """
    with StopSignals() as stop:
        try:
            return await _run_demo(bootstrap, serve, workdir, timeout, out, lines=lines, ack_secret=ack_secret, hl7_secret=hl7_secret,
                                   contact_urls=contact_urls, hold=hold)
        except asyncio.CancelledError:
            if stop.received is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the stop was this function's to handle, and it is done
            out(f"\nstopped by {stop.received.name}: the broker, the worker and the demo's services have stopped")
            return 128 + stop.received


async def _run_demo(bootstrap: str | None, serve: bool, workdir: Path | None, timeout: float, out: Any, *, lines: list[SampleLine] | None,
                    ack_secret: str | None, hl7_secret: bytes | None, contact_urls: Callable[[PhoneInbox, str], list[str]] | None,
                    hold: Callable[[LocalPipeline, str], Awaitable[None]] | None) -> int:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="vigil-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    deployment = load_deployment()
    phones = DemoPhones(deployment)
    lines = lines if lines is not None else read_sample()
    hl7_secret = hl7_secret or secrets.token_bytes(32)  # a fresh key each run: the demo keeps no visit keys
    sms_token = workdir / "sms-auth-token"  # the SMS gateway's auth token, as `vigil web --sms-auth-token-file` reads it
    sms_token.touch(mode=0o600)
    sms_token.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    # unique per run: two demos on one external broker (the browser tests' processes) must not share topics
    run = f"{int(time.time())}-{secrets.token_hex(3)}"
    topics = Topics(prefix=f"demo{run}." if bootstrap else "")

    broker = None if bootstrap else EmbeddedBroker(log_path=workdir / "broker.log")
    try:
        if broker is not None:
            bootstrap = await _started(broker)
        assert bootstrap is not None
        out(f"broker     {bootstrap}" + (" (embedded Tansu, memory storage)" if broker else f" (external; topics {topics.prefix}*)"))
        started = time.monotonic()
        ack_secret = ack_secret or secrets.token_urlsafe(32)  # signs the alerts' answer links; the web service checks them
        web_url = f"http://127.0.0.1:{free_port()}"
        async with local_pipeline(bootstrap, workdir, deployment, topics, app_id=f"vigil-demo-{run}", hl7_secret=hl7_secret,
                                  ack_secret=ack_secret, public_url=web_url, contact_urls=contact_urls,
                                  people=phones.people_contacts) as running, \
                answer_service(running, ack_secret, web_url, deployment, sms_token_file=sms_token):
            # the inbox plays the SMS gateway: a phone's reply goes to /sms/inbound, signed with the gateway's token
            running.inbox.sms_gateway = TwilioReplies(f"{web_url}/sms/inbound", sms_token.read_text(encoding="utf-8"))
            out(f"inbox      {running.inbox.base_url}/ (every roster person's app and SMS phone, by name)")
            out(f"answers    {web_url}/ack/... (the link in each alert); SMS replies {web_url}/sms/inbound (the inbox plays the gateway)")
            out(f"hl7 mllp   127.0.0.1:{running.hl7.port}")
            out(f"review db  {running.db_path}")
            out(f"worker     ready in {time.monotonic() - started:.1f} s (log {running.worker.log_path})")
            clock = worker_clock(running.worker)
            # each document is stamped at the moment the demo clock sends it, and predicted at that moment
            start = (clock() + timedelta(seconds=1)).astimezone(deployment.coverage.zone)
            lines = stamped_sample(lines, start)
            prediction = predict(lines, deployment, hl7_secret, phones)
            ok = await _send_and_report(running, lines, prediction, timeout, out, phones, clock)
            ok = await _answers(running, out, phones, clock) and ok
            if hold is not None:
                await hold(running, web_url)
            if serve:
                sign_ins = await asyncio.to_thread(demo_users, running.db_path)
                day = f"{DEMO_EVENING:%Y-%m-%d}"
                out(f"\nreview     {web_url}/review/{day}  (the next-day activation review of the sample's evening)")
                out(f"board      {web_url}/board  (DNS's live board: open activations, who answered, time left; act from it)")
                out(f"standdowns {web_url}/standdowns  (stand a team down or mute an area for a window, with a reason)")
                for username, password, role in sign_ins:
                    out(f"sign in    {username} / {password}  ({role})")
                out(f"\nserving: inbox {running.inbox.base_url}/ (tap an alert's link to answer it, or reply to an SMS from the "
                    f"inbox page; unanswered pages move to the next channel and person, unanswered deadlines escalate to "
                    f"dns-oncall as they pass)  broker {bootstrap}  (Ctrl-C to stop)")
                await asyncio.Event().wait()
        return 0 if ok else 1
    finally:
        if broker is not None:
            broker.stop()


def _demo_time(clock: Callable[[], datetime], zone: Any) -> Callable[[float], datetime]:
    """A unix time as the demo clock read it then (the worker's clock, in the deployment's zone)."""
    offset = clock() - datetime.now(UTC)
    return lambda unix: (datetime.fromtimestamp(unix, UTC) + offset).astimezone(zone)


def _page_line(message: InboxMessage, phones: DemoPhones, at: Callable[[float], datetime], latency: float | None) -> str:
    """How the demo prints a page as it arrives: ``PAGE`` and the person by name (layer, team, channel, demo
    time), or ``ALERT`` and a team's shared phone as before people."""
    phone = phones.directory.get(message.recipient)
    took = _ms(latency) if latency is not None else "      ?   "
    if phone is None or phone.person is None:
        return f"  ALERT  {message.recipient:<28} {took}  {message.title}"
    when = at(message.received_at)
    return f"  PAGE   {phones.label(message.recipient, when) + f' {when:%H:%M:%S}':<58} {took}  {message.title}"


def _arrived(messages: list[InboxMessage], phones: DemoPhones) -> set[tuple[str, str, str | None]]:
    """(activation, team, person) of each page received: the person's id, None for a team's shared phone."""
    found = set()
    for message in messages:
        ref = REF.search(message.body)
        if ref is not None:
            phone = phones.directory.get(message.recipient)
            found.add((ref.group(1), phones.team_of(message.recipient), phone.person if phone else None))
    return found


async def _send_and_report(running: LocalPipeline, lines: list[SampleLine], prediction: Prediction, timeout: float, out: Any,
                           phones: DemoPhones, clock: Callable[[], datetime]) -> bool:
    """Send the sample, each line when the demo clock reaches its stamp; print pages as they arrive, then the
    summary; True when all is as predicted."""
    phone_inbox = running.inbox
    at = _demo_time(clock, phones.deployment.coverage.zone)
    out(f"\nsending {len(lines)} messages, each stamped when it is sent (from {lines[0].at or DEMO_EVENING:%H:%M:%S}); predicted: "
        f"{len(prediction.alerts)} pages, {len(prediction.coverage_gaps)} coverage gap(s), {prediction.dead_letters} dead letter(s)\n")
    produced_at: dict[str, float] = {}
    latencies: list[float] = []
    seen = 0

    def show_new() -> None:
        nonlocal seen
        for message in phone_inbox.messages[seen:]:
            ref = REF.search(message.body)
            latency = message.received_at - produced_at[ref.group(1)] if ref and ref.group(1) in produced_at else None
            if latency is not None:
                latencies.append(latency)
            out(_page_line(message, phones, at, latency))
        seen = len(phone_inbox.messages)

    producer = AIOKafkaProducer(bootstrap_servers=running.bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for line, activation_id in zip(lines, prediction.line_activations, strict=True):
            if line.at is not None:  # sent when the demo clock says what the document says
                await asyncio.sleep(max(0.0, (line.at - clock()).total_seconds()))
            show_new()
            if activation_id is not None:
                produced_at.setdefault(activation_id, time.time())
            if line.source == "hl7":
                (ack,) = await send_framed("127.0.0.1", running.hl7.port, [line.raw.decode()])
                code = ack.split("MSA|", 1)[1][:2] if "MSA|" in ack else "??"
                out(f"  sent   {line.note}  [ACK {code}]")
            else:
                await producer.send_and_wait(running.topics.cad, line.raw)
                out(f"  sent   {line.note}")
    finally:
        await producer.stop()

    deadline = time.monotonic() + timeout
    while len(phone_inbox.messages) < len(prediction.alerts) and time.monotonic() < deadline:
        await phone_inbox.wait_for(len(phone_inbox.messages) + 1, timeout=max(0.1, deadline - time.monotonic()))
        show_new()
    await asyncio.sleep(1.0)  # an unexpected extra page would arrive now
    show_new()
    return await _summary(running, lines, prediction, phones, latencies, out)


async def _summary(running: LocalPipeline, lines: list[SampleLine], prediction: Prediction, phones: DemoPhones, latencies: list[float],
                   out: Any) -> bool:
    """Compare what arrived and what was stored with the prediction, and print the summary."""
    phone_inbox = running.inbox
    store = ReviewStore(f"sqlite:///{running.db_path}")
    expected_rows = len(prediction.timeline_entries)
    store_deadline = time.monotonic() + 10.0
    rows = await asyncio.to_thread(store.count)
    while rows < expected_rows and time.monotonic() < store_deadline:
        await asyncio.sleep(0.2)
        rows = await asyncio.to_thread(store.count)
    records = await asyncio.to_thread(store.records)
    gaps = {r.activation_id for r in records if r.kind == "decided" and "coverage_gap" in r.flags}
    tasks = [r for r in records if isinstance(r, TaskCreated)]
    store.dispose()
    dead_letters = await _count_topic(running.bootstrap, running.topics.dlq)

    got = _arrived(phone_inbox.messages, phones)
    duplicates = len(phone_inbox.messages) - len(got)
    people = {person for _, _, person in got if person is not None}
    ok = got == prediction.alerts and duplicates == 0 and rows >= expected_rows and dead_letters == prediction.dead_letters
    out("\nsummary")
    cad = sum(line.source == "eido" for line in lines)
    out(f"  messages sent          {cad} CAD, {len(lines) - cad} HL7 ({prediction.shootings} shooting reports, {prediction.not_shootings} not shootings, {prediction.dead_letters} malformed)")
    out(f"  pages                  {len(got)} of {len(prediction.alerts)} predicted ({len(people)} people by name), {duplicates} duplicate(s)")
    if latencies:
        out(f"  end-to-end latency     p50 {_ms(statistics.median(latencies)).strip()}, max {_ms(max(latencies)).strip()} (produced -> inbox received)")
    out(f"  coverage gaps          {len(gaps)} (no street team covers the place)")
    out(f"  follow-up tasks        {tasks_made(tasks, phones.deployment)}")
    out(f"  dead-lettered          {dead_letters}")
    out(f"  timeline rows stored   {rows} of {expected_rows}")
    out(f"  result                 {'OK' if ok else 'MISMATCH'}")
    return ok


def tasks_made(tasks: list[TaskCreated], deployment: Deployment) -> str:
    """The summary's line of the follow-up tasks made (docs/demo-deployment.md, F1-F4): how many, and each one's kind,
    team and due time on the local clock, and when its reminder goes (the protocol file's ``remind_before_minutes``)."""
    if not tasks:
        return "none made"
    zone, before = deployment.coverage.zone, deployment.protocols.spec.followups.remind_before_minutes
    made = "; ".join(f"{phrase(f'task.{t.task_kind}', ENGLISH)} by {t.team}, due {t.due.astimezone(zone):%a %d %b %H:%M %Z}"
                     for t in sorted(tasks, key=lambda t: (t.due, t.team)))
    return (f"{len(tasks)} made ({made}): each reminded to its team's person on call {before} minutes before it is due; "
            "closed from the phone or /tasks")


async def _started(broker: EmbeddedBroker) -> str:
    """Start the broker off the loop. A stop meanwhile waits for the start to finish, so that the caller's
    ``finally`` finds a process to stop: cancelled mid-start, the thread would start one nobody stops."""
    starting = asyncio.ensure_future(asyncio.to_thread(broker.start))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        await asyncio.wait([starting])
        raise


def worker_clock(worker: WorkerProcess) -> Callable[[], datetime]:
    """The worker's clock, followed from this process: the worker writes its clock's time into its ready
    file, and the file's modification time says when (on the real clock). The review pages judge
    deadlines on it, so a deadline of the demo's evening still running shows as running."""
    for _ in range(50):
        try:
            written = datetime.fromisoformat(worker.ready_file.read_text(encoding="utf-8").strip())
            written_at = worker.ready_file.stat().st_mtime
            break
        except (OSError, ValueError):  # read between its creation and its write: look again
            time.sleep(0.02)
    else:
        return lambda: datetime.now(UTC)
    offset = written - datetime.fromtimestamp(written_at, UTC)
    return lambda: datetime.now(UTC) + offset


@asynccontextmanager
async def answer_service(running: LocalPipeline, ack_secret: str, web_url: str, deployment: Deployment,
                         sms_token_file: Path | None = None) -> AsyncIterator[None]:
    """`vigil web` in this process: the page behind each alert's answer link, publishing to the acks topic; with
    ``sms_token_file``, answers by SMS reply at ``/sms/inbound`` too, as ``--sms-auth-token-file`` and ``--contacts``
    turn them on (stream/cli/web.py). Its review pages run on the worker's clock (the demo's evening), its links
    on the real one."""
    from reviews.web.app import run_web
    from reviews.web.incident import neighborhood_centres, team_precisions
    from reviews.web.sms import SmsInbound

    sms = None
    if sms_token_file is not None and running.contacts is not None:
        # the phone numbers the SMS alerts go to; the webhook is on this machine, so its URL is plain http
        people = load_people(running.contacts)
        sms = SmsInbound(auth_token=sms_token_file.read_text(encoding="utf-8").strip(), public_url=f"{web_url}/sms/inbound",
                         phones=sms_phones(load_recipients(running.contacts), people), people=recipient_people(people))

    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    port = int(web_url.rsplit(":", 1)[1])
    task = asyncio.create_task(run_web("127.0.0.1", port, running.bootstrap, running.topics, f"sqlite:///{running.db_path}",
                                       ack_secret.encode(), web_url, ready, zone=deployment.coverage.zone,
                                       review_clock=worker_clock(running.worker), sms=sms,
                                       team_precision=team_precisions(Config(deployment.coverage, deployment.protocols)),
                                       neighborhood_centres=neighborhood_centres(deployment.coverage)))
    try:
        await asyncio.wait_for(ready, timeout=30)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _tap(link: str, response: str) -> tuple[int, str]:
    """Tap an answer on an alert's link page, as the phone's owner would; the status and the page's heading
    (with what the page confirmed, when it took the answer)."""
    # "can't respond" asks to confirm: the demo taps "yes" on that page at once
    form = {"response": response, **({"confirm": "yes"} if response == "unable" else {})}
    async with aiohttp.ClientSession() as session, session.post(link, data=form) as reply:
        page = await reply.text()
    heading = HEADING.search(page)
    if heading is None:
        return reply.status, page[:80]
    said = NOTICE.search(page) if reply.status == 200 else None
    return reply.status, html.unescape(heading.group(1).strip() + (f": {said.group(1).strip()}" if said else ""))


def _first_page(messages: list[InboxMessage], phones: DemoPhones, team: str, channel: str | None = None) -> InboxMessage | None:
    """The first page with an answer link a person of ``team`` got (on ``channel``, when given)."""
    for message in messages:
        phone = phones.directory.get(message.recipient)
        if phone and phone.person and phone.team == team and channel in (None, phone.channel) and REF.search(message.body) \
                and LINK.search(message.body):
            return message
    return None


async def _answers(running: LocalPipeline, out: Any, phones: DemoPhones, clock: Callable[[], datetime], timeout: float = 20.0) -> bool:
    """The responder loop: an answer by SMS reply, an answer page and a "can't respond" tapped on it, the
    others in the activation hearing who is going, and the answers in the timeline."""
    out("\nanswers (an SMS reply through the inbox, which plays the gateway; an answer page and its link)")
    at = _demo_time(clock, phones.deployment.coverage.zone)
    ok, answered = await _sms_answer(running, out, phones, at)
    ok = await _unable_by_link(running, out, phones, at, timeout) and ok
    ok = answered is not None and await _who_is_going(running, out, phones, at, answered) and ok
    return await _timeline_answers(running, out, timeout) and ok


async def _sms_answer(running: LocalPipeline, out: Any, phones: DemoPhones, at: Callable[[float], datetime]) -> tuple[bool, InboxMessage | None]:
    """Near North's primary, SMS only, replies "2" (on my way) to the page she got by text; the inbox posts the
    reply, signed, to /sms/inbound and texts her the confirmation the webhook answers."""
    team, reply = SMS_ANSWER
    sms = _first_page(running.inbox.messages, phones, team, channel="sms")
    if sms is None:
        out(f"  no SMS page with a link reached a person of {team}")
        return False, None
    phone = phones.directory[sms.recipient]
    # the line before the answer link says how to answer by reply, in the alert's language (notifiers/sms_codes.py)
    lines = sms.body.splitlines()
    how_to = next((lines[n - 1] for n, line in enumerate(lines) if n and LINK.search(line)), "(no reply line)")
    out(f"  SMS    {phones.label(sms.recipient, at(sms.received_at))} got \"{sms.title}\": {how_to}")
    confirmation = await running.inbox.reply(sms, reply)
    gateway = running.inbox.sms_gateway
    status = gateway.answered[-1][0] if isinstance(gateway, TwilioReplies) and gateway.answered else 0
    out(f"  REPLY  {phone.name:<28} texts \"{reply}\" -> /sms/inbound {status}")
    out(f"  SMS    {phone.name:<28} gets back: {confirmation}")
    return status == 200 and team in confirmation, sms  # the confirmation names the team, in any language


async def _open(link: str) -> tuple[int, str]:
    """Open an answer link as a phone would: the status, and what the page shows (what, where, map link, by when)."""
    async with aiohttp.ClientSession() as session, session.get(link) as reply:
        page = await reply.text()
    parts = [html.unescape(m.group(1).strip()) for m in (p.search(page) for p in (WHAT, WHERE, DUE)) if m]
    osm = OSM.search(page)
    return reply.status, " | ".join(parts + ([f"map {html.unescape(osm.group(1))}"] if osm else ["no map link"]))


async def _unable_by_link(running: LocalPipeline, out: Any, phones: DemoPhones, at: Callable[[float], datetime], timeout: float) -> bool:
    """Midtown Phillips's primary opens the answer page (the incident and its map link) and taps "can't
    respond" (and confirms it): the next person on call for the team is paged at once (the team escalates to DNS
    on-call only when nobody is left); the same answer again is not taken twice."""
    phone_inbox = running.inbox
    page = _first_page(phone_inbox.messages, phones, TAP_UNABLE)
    if page is None:
        out(f"  no page with a link reached a person of {TAP_UNABLE}")
        return False
    declined = phones.directory[page.recipient]
    name, link = declined.name, LINK.search(page.body).group(1)  # type: ignore[union-attr]
    opened, shows = await _open(link)
    out(f"  OPEN   {phones.label(page.recipient, at(page.received_at))} answer page -> {opened} {shows}")
    before, tapped = len(phone_inbox.messages), time.time()
    status, heading = await _tap(link, "unable")
    out(f"  TAP    {name:<28} unable     -> {status} {heading}")
    ok = opened == 200 and status == 200 and "map https://www.openstreetmap.org/" in shows

    def next_person(message: InboxMessage) -> bool:
        phone = phones.directory.get(message.recipient)
        return phone is not None and phone.team == TAP_UNABLE and phone.person not in (None, declined.person)

    paged = None
    deadline = time.monotonic() + timeout
    while paged is None and time.monotonic() < deadline:
        paged = next((m for m in phone_inbox.messages[before:] if next_person(m)), None)
        if paged is None:
            await phone_inbox.wait_for(len(phone_inbox.messages) + 1, timeout=max(0.1, deadline - time.monotonic()))
    if paged is None:
        out(f"  nobody else of {TAP_UNABLE} was paged")
        ok = False
    else:
        out(_page_line(paged, phones, at, paged.received_at - tapped) + f" (paged at once: {name} can't respond)")
    # an answer may change while the link is valid, but the same answer is not taken twice
    again, heading = await _tap(link, "unable")
    out(f"  TAP    {name:<28} unable     -> {again} {heading} (the same answer again)")
    return ok and again == 409


async def _who_is_going(running: LocalPipeline, out: Any, phones: DemoPhones, at: Callable[[float], datetime], answered: InboxMessage) -> bool:
    """Everyone else paged in the answered activation (the other teams told, and their people) hears who is going:
    one update each, once the core's 30-second coalescing window has passed."""
    phone_inbox = running.inbox
    ref = REF.search(answered.body).group(1)  # type: ignore[union-attr]
    answerer = phones.directory[answered.recipient]

    def who(message: InboxMessage) -> str:
        phone = phones.directory.get(message.recipient)
        return phone.person if phone is not None and phone.person is not None else message.recipient

    told = {who(m) for m in phone_inbox.messages if (r := REF.search(m.body)) and r.group(1) == ref} - {answerer.person}
    out(f"  ...    the others told in {ref} hear who is going once the answers are coalesced (30 s)")
    start = phone_inbox.messages.index(answered)
    deadline = time.monotonic() + ANSWERS_WAIT_S
    heard: dict[str, InboxMessage] = {}
    while True:
        heard = {who(m): m for m in phone_inbox.messages[start + 1:] if who(m) in told and answerer.name in m.title + m.body}
        if (told and heard.keys() >= told) or time.monotonic() >= deadline:
            break
        await phone_inbox.wait_for(len(phone_inbox.messages) + 1, timeout=max(0.1, deadline - time.monotonic()))
    for message in heard.values():
        line = next((text for text in message.body.splitlines() if answerer.name in text), message.title)
        out(f"  HEARS  {phones.label(message.recipient, at(message.received_at))} {at(message.received_at):%H:%M:%S}: {line}")
    for missing in sorted(told - heard.keys()):
        out(f"  not told who is going: {missing}")
    return bool(told) and heard.keys() >= told


async def _timeline_answers(running: LocalPipeline, out: Any, timeout: float) -> bool:
    """The two answers as the review store recorded them: by whom, and whether they stopped an escalation."""
    store = ReviewStore(f"sqlite:///{running.db_path}")
    deadline = time.monotonic() + timeout
    answers: list = []
    while time.monotonic() < deadline:
        answers = [r for r in await asyncio.to_thread(store.records) if r.kind == "ack"]
        if len(answers) >= 2:
            break
        await asyncio.sleep(0.2)
    store.dispose()
    for record in answers:
        out(f"  timeline: {record.team} answered {record.response}" + (f" ({record.name})" if record.name else "")
            + (" (its escalation is stopped)" if record.first else ""))
    return len(answers) >= 2


DEMO_USERS = (("dns-demo", "dns", None, "DNS staff: every activation"),
              ("lead-nearnorth", "lead", "vi-north-nearnorth", "the Near North street team's lead: its own activations"))


def demo_users(db_path: Path) -> list[tuple[str, str, str]]:
    """Sign-ins for the served demo, each with a fresh password: (username, password, what it sees)."""
    store = ReviewStore(f"sqlite:///{db_path}")
    out = []
    try:
        for username, role, team, sees in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            if store.user(username) is None:
                store.add_user(username, password, role, team, datetime.now(UTC))  # type: ignore[arg-type]
                out.append((username, password, sees))
    finally:
        store.dispose()
    return out
