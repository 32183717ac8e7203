"""``vigil demo``: the whole pipeline on embedded parts, on the bundled Minneapolis CAD sample.

Starts the embedded broker, the phone inbox and one worker (with a SQLite review store), sends the
sample, prints each alert as the inbox receives it with its end-to-end latency (event produced →
inbox received), checks the alerts against what the core predicts, then prints a summary.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from notifiers.apprise_adapter import write_contacts
from notifiers.inbox import PhoneInbox
from reviews.store import ReviewStore
from stream.core.activations import handle_event
from stream.core.deployment import Deployment, load_deployment
from stream.core.state import Config, CoreState
from stream.devtools.broker import EmbeddedBroker, free_port
from stream.devtools.processes import StopSignals, WorkerProcess
from stream.feeds.hl7 import ingest_hl7
from stream.feeds.ingest import ingest_cad
from stream.feeds.mllp import MllpListener, send_framed
from stream.model.events import DeadLetter, Skipped
from stream.ops.kafka import Topics, ensure_topics

SAMPLE = Path(__file__).parent / "samples" / "demo_cad.jsonl"
REF = re.compile(r"Ref (act-[0-9a-f]+)")
LINK = re.compile(r"Answer: (\S+)")
HEADING = re.compile(r"<h1>(.*?)</h1>", re.S)
NOTICE = re.compile(r'<p class="notice ok">(.*?)</p>', re.S)
SEND_GAP_S = 0.4
# The answers the demo taps through the alerts' links, as the phones' owners would.
TAPS = (("vi-north-nearnorth-lead", "on_my_way"), ("vi-south-phillips-lead", "unable"))
# The sample is an evening of 4 July 2026 (a Saturday): the worker's clock starts there, so the
# street teams are on shift whatever the hour the demo is run.
DEMO_EVENING = datetime(2026, 7, 4, 22, 0, tzinfo=ZoneInfo("America/Chicago"))


@dataclass
class SampleLine:
    """One line of the demo sample: a note, the feed (eido or hl7), and the raw bytes it sends."""

    note: str
    source: str
    raw: bytes


@dataclass
class Prediction:
    """What the core predicts for the sample: alerts by (activation, team), gaps, dead letters."""

    alerts: set[tuple[str, str]] = field(default_factory=set)
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


def predict(lines: list[SampleLine], deployment: Deployment, hl7_secret: bytes) -> Prediction:
    """Run the same core the worker and the HL7 listener run, at the demo's evening, to know which
    alerts must arrive."""
    prediction = Prediction()
    state, config = CoreState(), Config(deployment.coverage, deployment.protocols)
    for line in lines:
        if line.source == "hl7":
            result = ingest_hl7(line.raw, deployment.classification, hl7_secret, DEMO_EVENING)
        else:
            result = ingest_cad(line.raw, deployment.classification, DEMO_EVENING)
        if isinstance(result, Skipped):
            prediction.not_shootings += 1
            prediction.line_activations.append(None)
        elif isinstance(result, DeadLetter):
            prediction.dead_letters += 1
            prediction.line_activations.append(None)
        else:
            prediction.shootings += 1
            outcome = handle_event(state, result, DEMO_EVENING, config)
            prediction.line_activations.append(outcome.activation_id)
            prediction.alerts |= {(i.activation_id, i.team) for i in outcome.intents}
            prediction.timeline_entries |= {e.entry_id for e in outcome.timeline}
            prediction.timeline_entries |= {f"delivery:{i.intent_id}" for i in outcome.intents}
    prediction.coverage_gaps = {a.id for a in state.activations.values() if "coverage_gap" in a.flags}
    return prediction


def _team_of(recipient: str) -> str:
    return recipient.rsplit("-", 1)[0]


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


@asynccontextmanager
async def local_pipeline(
    bootstrap: str, workdir: Path, deployment: Deployment, topics: Topics, app_id: str, hl7_secret: bytes, fetch_wait_ms: int = 10,
    clock_start: datetime | None = DEMO_EVENING, phones_per_team: dict[str, int] | None = None, public_url: str = "http://127.0.0.1:8600",
    ack_secret: str | None = None, contact_urls: Callable[[PhoneInbox, str], list[str]] | None = None,
) -> AsyncIterator[LocalPipeline]:
    """Start the inbox, write contacts for every team (one phone each, ``<team>-lead``, or
    ``phones_per_team`` phones ``<team>-p01``...; ``contact_urls(inbox, team)`` overrides both), make the
    topics, start the HL7 listener and a worker, and wait for the worker."""
    phone_inbox = PhoneInbox(journal=workdir / "inbox.jsonl")
    await phone_inbox.start()
    worker: WorkerProcess | None = None
    listener = MllpListener(bootstrap, topics, deployment.classification, hl7_secret, CollectorRegistry(), port=0)
    try:
        contacts = workdir / "contacts.yaml"
        many = phones_per_team or {}
        write_contacts(contacts, {t: [phone_inbox.apprise_url(f"{t}-p{k:02d}") for k in range(1, many[t] + 1)] if t in many
                                  else contact_urls(phone_inbox, t) if contact_urls else [phone_inbox.apprise_url(f"{t}-lead")]
                                  for t in deployment.coverage.teams})
        db_path = workdir / "review.sqlite"
        await ensure_topics(bootstrap, topics)
        await listener.start()
        worker = WorkerProcess(
            bootstrap, contacts, f"sqlite:///{db_path}", workdir, app_id=app_id, topic_prefix=topics.prefix, fetch_wait_ms=fetch_wait_ms,
            clock_start=clock_start.isoformat() if clock_start else None, ack_secret=ack_secret, public_url=public_url,
        )
        worker.start()
        await asyncio.to_thread(worker.wait_ready)
        yield LocalPipeline(bootstrap, topics, phone_inbox, worker, db_path, listener)
    finally:
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        await listener.stop()
        await phone_inbox.stop()


async def run_demo(bootstrap: str | None = None, serve: bool = False, workdir: Path | None = None, timeout: float = 60.0, out: Any = print,
                   *, lines: list[SampleLine] | None = None, ack_secret: str | None = None, hl7_secret: bytes | None = None,
                   contact_urls: Callable[[PhoneInbox, str], list[str]] | None = None,
                   hold: Callable[[LocalPipeline, str], Awaitable[None]] | None = None) -> int:
    """Run the demo; return 0 when every predicted alert arrived exactly once and the tapped answers did
    what they should (an ack recorded, a "can't respond" escalated at once, a used link refused), 1 otherwise;
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
    lines = lines if lines is not None else read_sample()
    hl7_secret = hl7_secret or secrets.token_bytes(32)  # a fresh key each run: the demo keeps no visit keys
    prediction = predict(lines, deployment, hl7_secret)
    run = int(time.time())
    topics = Topics(prefix=f"demo{run}." if bootstrap else "")

    broker = None if bootstrap else EmbeddedBroker(log_path=workdir / "broker.log")
    try:
        if broker is not None:
            bootstrap = await _started(broker)
        assert bootstrap is not None
        out(f"broker     {bootstrap}" + (" (embedded Tansu, memory storage)" if broker else " (external)"))
        started = time.monotonic()
        ack_secret = ack_secret or secrets.token_urlsafe(32)  # signs the alerts' answer links; the web service checks them
        web_url = f"http://127.0.0.1:{free_port()}"
        async with local_pipeline(bootstrap, workdir, deployment, topics, app_id=f"vigil-demo-{run}", hl7_secret=hl7_secret,
                                  ack_secret=ack_secret, public_url=web_url, contact_urls=contact_urls) as running, \
                answer_service(running, ack_secret, web_url, deployment):
            out(f"inbox      {running.inbox.base_url}/")
            out(f"answers    {web_url}/ack/... (the link in each alert)")
            out(f"hl7 mllp   127.0.0.1:{running.hl7.port}")
            out(f"review db  {running.db_path}")
            out(f"worker     ready in {time.monotonic() - started:.1f} s (log {running.worker.log_path})")
            ok = await _send_and_report(running, lines, prediction, timeout, out)
            ok = await _tap_answers(running, out) and ok
            if hold is not None:
                await hold(running, web_url)
            if serve:
                sign_ins = await asyncio.to_thread(demo_users, running.db_path)
                day = f"{DEMO_EVENING:%Y-%m-%d}"
                out(f"\nreview     {web_url}/review/{day}  (the next-day activation review of the sample's evening)")
                for username, password, role in sign_ins:
                    out(f"sign in    {username} / {password}  ({role})")
                out(f"\nserving: inbox {running.inbox.base_url}/ (tap an alert's link to answer it; unanswered deadlines "
                    f"escalate to dns-oncall as they pass)  broker {bootstrap}  (Ctrl-C to stop)")
                await asyncio.Event().wait()
        return 0 if ok else 1
    finally:
        if broker is not None:
            broker.stop()


async def _send_and_report(running: LocalPipeline, lines: list[SampleLine], prediction: Prediction, timeout: float, out: Any) -> bool:
    """Send the sample, print alerts as they arrive, then the summary; True when all is as predicted."""
    phone_inbox = running.inbox
    out(f"\nsending {len(lines)} messages; predicted: {len(prediction.alerts)} alerts, "
        f"{len(prediction.coverage_gaps)} coverage gap(s), {prediction.dead_letters} dead letter(s)\n")
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
            out(f"  ALERT  {message.recipient:<28} {_ms(latency) if latency is not None else '      ?   '}  {message.title}")
        seen = len(phone_inbox.messages)

    producer = AIOKafkaProducer(bootstrap_servers=running.bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for line, activation_id in zip(lines, prediction.line_activations, strict=True):
            if activation_id is not None:
                produced_at.setdefault(activation_id, time.time())
            if line.source == "hl7":
                (ack,) = await send_framed("127.0.0.1", running.hl7.port, [line.raw.decode()])
                code = ack.split("MSA|", 1)[1][:2] if "MSA|" in ack else "??"
                out(f"  sent   {line.note}  [ACK {code}]")
            else:
                await producer.send_and_wait(running.topics.cad, line.raw)
                out(f"  sent   {line.note}")
            await asyncio.sleep(SEND_GAP_S)
            show_new()
    finally:
        await producer.stop()

    deadline = time.monotonic() + timeout
    while len(phone_inbox.messages) < len(prediction.alerts) and time.monotonic() < deadline:
        await phone_inbox.wait_for(len(phone_inbox.messages) + 1, timeout=max(0.1, deadline - time.monotonic()))
        show_new()
    await asyncio.sleep(1.0)  # an unexpected extra alert would arrive now
    show_new()

    store = ReviewStore(f"sqlite:///{running.db_path}")
    expected_rows = len(prediction.timeline_entries)
    store_deadline = time.monotonic() + 10.0
    rows = await asyncio.to_thread(store.count)
    while rows < expected_rows and time.monotonic() < store_deadline:
        await asyncio.sleep(0.2)
        rows = await asyncio.to_thread(store.count)
    gaps = {r.activation_id for r in store.records() if r.kind == "decided" and "coverage_gap" in r.flags}
    store.dispose()
    dead_letters = await _count_topic(running.bootstrap, running.topics.dlq)

    refs = [(REF.search(m.body), m.recipient) for m in phone_inbox.messages]
    got = {(ref.group(1), _team_of(recipient)) for ref, recipient in refs if ref}
    duplicates = len(phone_inbox.messages) - len(got)
    ok = got == prediction.alerts and duplicates == 0 and rows >= expected_rows and dead_letters == prediction.dead_letters
    out("\nsummary")
    cad = sum(line.source == "eido" for line in lines)
    out(f"  messages sent          {cad} CAD, {len(lines) - cad} HL7 ({prediction.shootings} shooting reports, {prediction.not_shootings} not shootings, {prediction.dead_letters} malformed)")
    out(f"  alerts                 {len(got)} of {len(prediction.alerts)} predicted, {duplicates} duplicate(s)")
    if latencies:
        out(f"  end-to-end latency     p50 {_ms(statistics.median(latencies)).strip()}, max {_ms(max(latencies)).strip()} (produced -> inbox received)")
    out(f"  coverage gaps          {len(gaps)} (no street team covers the place)")
    out(f"  dead-lettered          {dead_letters}")
    out(f"  timeline rows stored   {rows} of {expected_rows}")
    out(f"  result                 {'OK' if ok else 'MISMATCH'}")
    return ok


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
async def answer_service(running: LocalPipeline, ack_secret: str, web_url: str, deployment: Deployment) -> AsyncIterator[None]:
    """`vigil web` in this process: the page behind each alert's answer link, publishing to the acks topic.
    Its review pages run on the worker's clock (the demo's evening), its links on the real one."""
    from reviews.web.app import run_web
    from reviews.web.incident import team_precisions

    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    port = int(web_url.rsplit(":", 1)[1])
    task = asyncio.create_task(run_web("127.0.0.1", port, running.bootstrap, running.topics, f"sqlite:///{running.db_path}",
                                       ack_secret.encode(), web_url, ready, zone=deployment.coverage.zone,
                                       review_clock=worker_clock(running.worker),
                                       team_precision=team_precisions(Config(deployment.coverage, deployment.protocols))))
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


async def _tap_answers(running: LocalPipeline, out: Any, timeout: float = 20.0) -> bool:
    """Answer two alerts through their links: "on my way" stops the Near North team's escalation; "can't
    respond" (confirmed) from Midtown Phillips escalates to dns-oncall at once; an answer already given is not taken again."""
    phone_inbox = running.inbox
    out("\nanswers (tapped through the alerts' links)")
    links = {}
    for recipient, _ in TAPS:
        message = next((m for m in phone_inbox.messages if m.recipient == recipient and LINK.search(m.body)), None)
        if message is None:
            out(f"  no alert with a link reached {recipient}")
            return False
        links[recipient] = LINK.search(message.body).group(1)  # type: ignore[union-attr]
    ok = True
    for recipient, response in TAPS:
        before = len(phone_inbox.messages)
        tapped = time.time()
        status, heading = await _tap(links[recipient], response)
        out(f"  TAP    {recipient:<28} {response:<10} -> {status} {heading}")
        ok = ok and status == 200
        if response == "unable":
            arrived = await phone_inbox.wait_for(before + 1, timeout=timeout)
            escalation = next((m for m in phone_inbox.messages[before:] if m.recipient == "dns-oncall-lead"), None) if arrived else None
            if escalation is None:
                out("  no escalation reached dns-oncall")
                ok = False
            else:
                out(f"  ALERT  {escalation.recipient:<28} {_ms(escalation.received_at - tapped)}  {escalation.title} (escalation)")
    recipient, response = TAPS[0]
    status, heading = await _tap(links[recipient], "ack")
    out(f"  TAP    {recipient:<28} {'ack':<10} -> {status} {heading} (the same link again)")
    ok = ok and status == 409

    store = ReviewStore(f"sqlite:///{running.db_path}")
    deadline = time.monotonic() + timeout
    answers: list = []
    while time.monotonic() < deadline:
        answers = [r for r in await asyncio.to_thread(store.records) if r.kind == "ack"]
        if len(answers) >= len(TAPS):
            break
        await asyncio.sleep(0.2)
    store.dispose()
    for record in answers:
        out(f"  timeline: {record.team} answered {record.response}" + (" (its escalation is stopped)" if record.first else ""))
    return ok and len(answers) >= len(TAPS)


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
