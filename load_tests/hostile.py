"""Hostile input against the running services: ``python -m load_tests.hostile [--count 100000] [--seed N]``.

Starts the embedded broker (or uses ``--bootstrap``), a phone inbox, a real worker, `vigil hl7-listen`,
`vigil ingest-http` and `vigil web` as subprocesses, then sends ``--count`` seeded mutations of the
inputs Vigil takes (see ``load_tests/mutators.py`` and ``docs/hostile-input.md``):

* EIDO documents produced straight to the CAD topic, and pushed to `vigil ingest-http`;
* HL7 ADT messages over MLLP to `vigil hl7-listen`, with framing errors;
* open-data CSV files through their real entry point, `vigil parse csv` (CSV never goes through Kafka);
* GET and POST of ack links on `vigil web`.

Each input's fate is predicted with the same pure core the services run (``ingest_cad``, ``ingest_hl7``,
the CSV reader, the link signer), then observed: the edge's answer (HTTP status and body, MLLP ACK code and
text), the dead-letter topic's records, the events topic, the worker's counters, the acks topic and the
timeline. Goals (exit 1 when one is missed): every process alive and answering at the end; no traceback
or uncaught-error line in any log; every input that reached Kafka is an event, a counted skip or a dead
letter with its reason (the dead-letter count equals the rejected count, input by input); every input
refused at the edge got an answer that names the problem. Results: ``load_tests/results/hostile-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from load_tests.mutators import (
    END_BLOCK,
    START_BLOCK,
    Case,
    TokenPool,
    ack_case,
    csv_case,
    eido_case,
    hl7_case,
    ingest_case,
)
from notifiers.ack_links import AckSigner, AckTokenError
from notifiers.apprise_adapter import write_contacts
from stream.cli.parse import outcome_line, outcomes
from stream.core.deployment import Deployment, load_deployment
from stream.devtools.broker import EmbeddedBroker, free_port, wait_for_port
from stream.devtools.processes import WorkerProcess
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7 import ingest_hl7
from stream.feeds.ingest import ingest_cad
from stream.feeds.mllp import FRAME_LIMIT_BYTES
from stream.model.events import CoreInput, DeadLetter, NotificationIntent, ShootingEvent, Skipped
from stream.ops.kafka import Topics, ensure_topics

RESULTS = Path(__file__).parent / "results"
ACK_SECRET = "hostile-ack-secret-0123456789"
HL7_SECRET = "hostile-hl7-secret-0123456789"
INGEST_TOKEN = "hostile-ingest-token-0123456789"
CLOCK_START = "2026-07-04T22:00:00-05:00"
# of --count: (kind, share)
MIX = (("eido", 0.30), ("ingest", 0.25), ("hl7", 0.20), ("csv", 0.15), ("ack", 0.10))
SEEDS = 4  # valid shootings sent first, so that alerts (and their answer links) exist for the ack requests
CONCURRENCY = {"eido": 64, "ingest": 12, "hl7": 8, "ack": 8}
CSV_BATCH = 400
# the listener reads a frame's first byte, then up to its StreamReader limit before the end block
MLLP_LIMIT = FRAME_LIMIT_BYTES + 1
LINK = re.compile(r"Answer: \S+/ack/(\S+)")
# Log lines that mean an exception nobody handled, or one handled only by logging its traceback.
_LOG_PROBLEMS = ("Traceback (most recent call last)", "Unhandled exception", "Task exception was never retrieved",
                 "Error handling request", "Exception in ASGI application", "exception was never retrieved", "Agent crashed")
# Edge answers must name the problem: the phrase each status must carry.
_HTTP_PHRASES = {400: ("error", "detail", "Bad Request", "Invalid", "invalid", "Unknown answer"), 401: ("bearer token",), 413: ("body over",), 415: ("Content-Type",), 404: ("Not Found",),
                 405: ("Method Not Allowed",), 403: ("Link not valid", "not issued", "damaged", "not alerted", "was not sent"),
                 410: ("expired",), 409: ("already used", "Already answered")}


def _mix(count: int) -> dict[str, int]:
    sizes = {kind: int(count * share) for kind, share in MIX}
    sizes["eido"] += count - sum(sizes.values())
    return sizes


# --- the running services


@dataclass
class Stack:
    """The services under test, each a subprocess with its own log in ``workdir``."""

    workdir: Path
    deployment: Deployment
    bootstrap: str | None = None
    topics: Topics = field(default_factory=lambda: Topics(prefix=f"hostile{uuid.uuid4().hex[:8]}."))
    broker: EmbeddedBroker | None = None
    worker: WorkerProcess | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it; closed with the process
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "stream.cli", *args], stdout=log, stderr=log,
                                                env={**os.environ, "PYTHONUNBUFFERED": "1", **env})

    def start(self) -> None:
        """Start everything and wait until each answers."""
        if self.bootstrap is None:
            self.broker = EmbeddedBroker(log_path=self.workdir / "broker.log")
            self.bootstrap = self.broker.start()
        asyncio.run(ensure_topics(self.bootstrap, self.topics))
        for name in ("inbox", "hl7", "ingest", "web"):
            self.ports[name] = free_port()
        self._spawn("inbox", ["inbox", "--port", str(self.ports["inbox"]), "--journal", str(self.workdir / "inbox.jsonl")], {})
        contacts = self.workdir / "contacts.yaml"
        write_contacts(contacts, {team: [f"json://127.0.0.1:{self.ports['inbox']}/phone/{team}-lead"] for team in self.deployment.coverage.teams})
        db_url = f"sqlite:///{self.workdir / 'review.sqlite'}"
        common = ["--bootstrap", self.bootstrap, "--topic-prefix", self.topics.prefix]
        self._spawn("hl7", ["hl7-listen", *common, "--port", str(self.ports["hl7"]), "--metrics-port", "0"], {"VIGIL_HL7_SECRET": HL7_SECRET})
        self._spawn("ingest", ["ingest-http", *common, "--port", str(self.ports["ingest"]), "--metrics-port", "0"], {"VIGIL_INGEST_TOKENS": INGEST_TOKEN})
        # a free metrics port, as the listeners': the default 9603 is taken by any other `vigil web` on the machine
        self._spawn("web", ["web", *common, "--port", str(self.ports["web"]), "--db-url", db_url, "--metrics-port", "0"],
                    {"VIGIL_ACK_SECRET": ACK_SECRET})
        run = self.topics.prefix.rstrip(".")
        self.worker = WorkerProcess(self.bootstrap, contacts, db_url, self.workdir, app_id=f"vigil-{run}", topic_prefix=self.topics.prefix,
                                    clock_start=CLOCK_START, ack_secret=ACK_SECRET, public_url=self.url("web"))
        self.worker.start()
        for name in ("inbox", "hl7", "ingest", "web"):
            if not wait_for_port("127.0.0.1", self.ports[name], timeout=90):
                raise RuntimeError(f"{name} did not start; see {self.workdir / (name + '.log')}")
        self.worker.wait_ready(timeout=120)

    def url(self, name: str) -> str:
        """The HTTP address of a service."""
        return f"http://127.0.0.1:{self.ports[name]}"

    def alive(self) -> dict[str, bool]:
        """Which processes still run."""
        found = {name: process.poll() is None for name, process in self.processes.items()}
        found["worker"] = self.worker is not None and self.worker.alive()
        if self.broker is not None:
            found["broker"] = self.broker.alive()
        return found

    def stop(self) -> None:
        """Stop every process this stack started (the worker first, the broker last)."""
        if self.worker is not None:
            self.worker.stop()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.broker is not None:
            self.broker.stop()

    def logs(self) -> dict[str, Path]:
        """The log file of every service (the broker's own is Tansu's, in Rust: not scanned)."""
        return {path.stem: path for path in sorted(self.workdir.glob("*.log")) if path.stem != "broker"}


# --- what is expected and what was seen


@dataclass
class Tally:
    """Everything counted for one input kind."""

    sent: int = 0
    valid: int = 0
    reached_kafka: int = 0
    refused_at_edge: Counter[str] = field(default_factory=Counter)
    answered_at_edge: Counter[str] = field(default_factory=Counter)  # accepted answers: 202, AA, 200, CSV outcome lines
    expected_events: int = 0
    expected_skipped: int = 0
    expected_dead_letters: Counter[str] = field(default_factory=Counter)
    observed_dead_letters: Counter[str] = field(default_factory=Counter)
    reconciled: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def mismatch(self, case: Case, problem: str, **detail: Any) -> None:
        """Record an input whose fate was not the expected one (the first 25 are kept in full)."""
        if len(self.mismatches) < 25:
            self.mismatches.append({"index": case.index, "mutations": case.mutations, "problem": problem, **detail})
        else:
            self.mismatches.append({"index": case.index, "problem": problem})

    def as_json(self) -> dict[str, Any]:
        """The tally as plain JSON."""
        return {
            "sent": self.sent, "valid": self.valid, "reached_kafka": self.reached_kafka,
            "refused_at_edge": dict(self.refused_at_edge), "accepted_at_edge": dict(self.answered_at_edge),
            "expected_events": self.expected_events, "expected_skipped": self.expected_skipped,
            "expected_dead_letters": dict(self.expected_dead_letters), "observed_dead_letters": dict(self.observed_dead_letters),
            "reconciled": self.reconciled, "not_sent": dict(self.not_sent), "mismatch_count": len(self.mismatches),
            "mismatches": self.mismatches[:25],
        }


@dataclass
class Pending:
    """An input that reached Kafka, and the record it must leave there."""

    case: Case
    kind: str  # event, skipped, dead_letter
    key: Any  # event id, or the dead letter's (source, reason, detail, excerpt)


def _dead_letter_key(letter: DeadLetter) -> tuple[str, str, str, str]:
    return (letter.source, letter.reason, letter.detail, letter.excerpt)


def predict_cad(raw: bytes, deployment: Deployment, now: datetime) -> Any:
    """What the worker's ingest makes of a CAD record (an exception is returned, not raised: a bug)."""
    try:
        return ingest_cad(raw, deployment.classification, now)
    except Exception as exc:  # noqa: BLE001 - the harness reports it as an unexpected failure
        return exc


def _pending_of(case: Case, outcome: Any, tally: Tally) -> Pending | None:
    if isinstance(outcome, ShootingEvent):
        tally.expected_events += 1
        return Pending(case, "event", outcome.event_id)
    if isinstance(outcome, Skipped):
        tally.expected_skipped += 1
        return Pending(case, "skipped", None)
    if isinstance(outcome, DeadLetter):
        tally.expected_dead_letters[outcome.reason] += 1
        return Pending(case, "dead_letter", _dead_letter_key(outcome))
    tally.expected_dead_letters["ingest_failed"] += 1
    return Pending(case, "failed", None)


# --- EIDO straight to the CAD topic


async def _pool(cases: Iterable[Case], workers: int, tally: Tally, handle: Callable[[Case], Awaitable[None]]) -> None:
    """Run ``handle`` on every case, ``workers`` at a time, drawing the cases lazily (100,000 generated at
    once would hold gigabytes of payloads)."""
    iterator = iter(cases)

    async def worker() -> None:
        for case in iterator:  # one shared iterator: next() never awaits, so no case is taken twice
            tally.sent += 1
            tally.valid += case.valid
            await handle(case)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def send_eido(cases: Iterable[Case], stack: Stack, deployment: Deployment, tally: Tally, pending: list[Pending]) -> None:
    """Produce each document to the CAD topic, as a CAD system with Kafka access would."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", linger_ms=5, max_request_size=1_048_576)
    await producer.start()
    now = datetime.now(UTC)
    slots = asyncio.Semaphore(CONCURRENCY["eido"])

    async def one(case: Case) -> None:
        async with slots:
            try:
                await producer.send_and_wait(stack.topics.cad, case.payload, key=f"hx{case.index % 16}".encode())
            except KafkaError as exc:
                tally.not_sent[type(exc).__name__] += 1  # the client refused it (over the broker's record size)
                return
        tally.reached_kafka += 1
        found = _pending_of(case, predict_cad(case.payload, deployment, now), tally)
        if found is not None:
            pending.append(found)

    try:
        await _pool(cases, CONCURRENCY["eido"], tally, one)
    finally:
        await producer.stop()


# --- EIDO pushed over HTTP


def _names_problem(status: int, body: str) -> bool:
    phrases = _HTTP_PHRASES.get(status)
    if phrases is None:
        return bool(body.strip())
    return any(p in body for p in phrases)


def expected_ingest_status(case: Case, outcome: Any) -> int | None:
    """The status `vigil ingest-http` must answer (None: any 4xx, for malformed HTTP)."""
    if case.raw_http is not None:
        return None
    if case.path != "/ingest/eido":
        return 404
    if case.method != "POST":
        return 405
    auth = case.headers.get("Authorization", "")
    scheme, _, credential = auth.partition(" ")
    if scheme.lower() != "bearer" or credential.strip() != INGEST_TOKEN:
        return 401
    content_type = case.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return 415
    if len(case.payload) > 1_000_000:
        return 413
    return 400 if isinstance(outcome, DeadLetter) else 500 if isinstance(outcome, Exception) else 202


async def _raw_http(port: int, data: bytes) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 15)
    finally:
        writer.close()
    text = answer.decode("latin-1")
    match = re.match(r"HTTP/1\.[01] (\d{3})", text)
    return (int(match.group(1)) if match else 0), text


async def send_ingest(cases: Iterable[Case], stack: Stack, deployment: Deployment, tally: Tally, pending: list[Pending]) -> None:
    """Push each request to `vigil ingest-http` and check its answer."""
    now = datetime.now(UTC)
    slots = asyncio.Semaphore(CONCURRENCY["ingest"])
    base = stack.url("ingest")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), skip_auto_headers=("Content-Type",)) as session:

        async def one(case: Case) -> None:
            outcome = predict_cad(case.payload, deployment, now)
            expected = expected_ingest_status(case, outcome)
            async with slots:
                try:
                    if case.raw_http is not None:
                        status, body = await _raw_http(stack.ports["ingest"], case.raw_http)
                    else:
                        async with session.request(case.method, URL(base + case.path, encoded=True), data=case.payload,
                                                   headers=case.headers) as response:
                            status, body = response.status, await response.text(errors="replace")
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    tally.mismatch(case, "no answer", error=type(exc).__name__)
                    return
            ok_status = (400 <= status < 500) if expected is None else status == expected
            if not ok_status:
                tally.mismatch(case, "unexpected status", expected=expected, got=status, body=body[:300])
                return
            if status == 202:
                tally.answered_at_edge["202"] += 1
                tally.reached_kafka += 1
                found = _pending_of(case, outcome, tally)
                if found is not None:
                    pending.append(found)
                return
            if status == 400 and isinstance(outcome, DeadLetter) and case.raw_http is None:
                if json.loads(body).get("error") != outcome.reason:
                    tally.mismatch(case, "400 does not give the reason", expected=outcome.reason, body=body[:300])
                    return
                tally.refused_at_edge[f"400 {outcome.reason}"] += 1
            else:
                tally.refused_at_edge[str(status)] += 1
            if not _names_problem(status, body):
                tally.mismatch(case, "refusal does not name the problem", status=status, body=body[:300])
                return
            tally.reconciled += 1

        await _pool(cases, CONCURRENCY["ingest"], tally, one)


# --- HL7 over MLLP


def expect_mllp(case: Case, deployment: Deployment, now: datetime) -> list[tuple[str, str, Any]]:
    """Frame the bytes as the listener does (blocks end at <FS><CR>; the start block is optional; a block
    over the reader's limit is refused and the connection closed) and predict each block's ACK: (code,
    reason the ACK text starts with, the block's outcome or None when it is never parsed)."""
    rest = b"".join(case.chunks)
    found: list[tuple[str, str, Any]] = []
    while True:
        end = rest.find(END_BLOCK)
        if (end < 0 and len(rest) > MLLP_LIMIT) or end > MLLP_LIMIT:
            found.append(("AR", "message over", None))
            break
        if end < 0:
            break  # an unterminated tail: the sender hangs up, nothing to answer
        block, rest = rest[:end], rest[end + len(END_BLOCK):]
        start = block.find(START_BLOCK)
        payload = block[start + 1:] if start >= 0 else block
        try:
            outcome: Any = ingest_hl7(payload, deployment.classification, HL7_SECRET.encode(), now)
        except Exception as exc:  # noqa: BLE001 - reported as an unexpected failure
            outcome = exc
        if isinstance(outcome, DeadLetter):
            found.append(("AR", outcome.reason, outcome))
        elif isinstance(outcome, Exception):
            found.append(("AR", "internal_error", outcome))
        else:
            found.append(("AA", "", outcome))
    return found


def _ack_fields(frame: bytes) -> tuple[str, str]:
    text = frame.lstrip(START_BLOCK).decode("utf-8", errors="replace")
    for segment in text.split("\r"):
        if segment.startswith("MSA|"):
            fields = segment.split("|")
            return fields[1], fields[3] if len(fields) > 3 else ""
    return "", text[:100]


async def send_hl7(cases: Iterable[Case], stack: Stack, deployment: Deployment, tally: Tally, pending: list[Pending]) -> None:
    """Send each case on its own MLLP connection and check every ACK against the prediction."""
    now = datetime.now(UTC)
    slots = asyncio.Semaphore(CONCURRENCY["hl7"])

    async def one(case: Case) -> None:
        expected = expect_mllp(case, deployment, now)
        got: list[tuple[str, str]] = []
        async with slots:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", stack.ports["hl7"], limit=2**21)
            except OSError as exc:
                tally.mismatch(case, "cannot connect", error=str(exc))
                return
            try:
                for chunk in case.chunks:
                    writer.write(chunk)
                    await writer.drain()
                for _ in expected:
                    got.append(_ack_fields(await asyncio.wait_for(reader.readuntil(END_BLOCK), 30)))
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
                tally.mismatch(case, "ACK missing", error=type(exc).__name__, expected=[e[:2] for e in expected], got=got)
                return
            finally:
                writer.close()
        for (code, reason, _), (got_code, text) in zip(expected, got, strict=True):
            clean = reason.replace("|", "/").replace("^", "/")
            if got_code != code or not text.startswith(clean) or (code != "AA" and not text):
                tally.mismatch(case, "unexpected ACK", expected=[code, reason], got=[got_code, text[:200]])
                return
        if not expected:
            tally.reconciled += 1  # nothing framed (the sender hung up mid-message): nothing answered, nothing kept
        for code, reason, outcome in expected:
            if code == "AA":
                tally.answered_at_edge["AA"] += 1
            else:
                tally.refused_at_edge[f"{code} {reason}"] += 1
            if isinstance(outcome, ShootingEvent | DeadLetter | Exception):
                tally.reached_kafka += 1
                found = _pending_of(case, outcome, tally)
                if found is not None:
                    pending.append(found)
            else:
                tally.reconciled += 1  # AA for a message Vigil does not act on, or AR over the size limit: never on Kafka

    await _pool(cases, CONCURRENCY["hl7"], tally, one)


# --- CSV files through `vigil parse csv`


def run_csv(cases: Iterable[Case], workdir: Path, deployment: Deployment, tally: Tally, log: Path) -> None:
    """Write each case as a file and run `vigil parse csv` on them in batches; every row must come out
    as exactly the predicted line (an event, a skip, or a rejection with its reason)."""
    folder = workdir / "csv"
    folder.mkdir(exist_ok=True)
    now = datetime.now(UTC)
    iterator = iter(cases)
    while batch := list(itertools.islice(iterator, CSV_BATCH)):
        paths = []
        for case in batch:
            path = folder / f"case-{case.index}.csv"
            path.write_bytes(case.payload)
            paths.append(path)
            tally.sent += 1
            tally.valid += case.valid
        with open(log, "ab") as err:
            done = subprocess.run([sys.executable, "-m", "stream.cli", "parse", "csv", *map(str, paths)], stdout=subprocess.PIPE,
                                  stderr=err, env={**os.environ, "VIGIL_HL7_SECRET": HL7_SECRET}, check=False)
        lines = done.stdout.decode("utf-8", errors="replace").splitlines()
        if done.returncode != 0:
            for case in batch:
                tally.mismatch(case, f"vigil parse csv exited {done.returncode}")
            continue
        at = 0
        for case, path in zip(batch, paths, strict=True):
            expected = [json.loads(json.dumps(outcome_line(o), ensure_ascii=False)) for o in outcomes("csv", path, deployment.classification, b"", now)]
            got = [json.loads(line) for line in lines[at:at + len(expected)]]
            at += len(expected)
            # received_at is never printed; reported_at and the rest are the row's own
            if got != expected:
                tally.mismatch(case, "parse output differs", expected=expected[:3], got=got[:3])
                continue
            if not expected:
                tally.reconciled += 1  # a file with no data rows: no line, by design
                continue
            for line in got:
                if "rejected" in line:
                    rejected = line["rejected"]
                    if not rejected.get("reason") or not rejected.get("detail"):
                        tally.mismatch(case, "rejection without a reason")
                    tally.refused_at_edge[f"rejected {rejected['reason']}"] += 1
                else:
                    tally.answered_at_edge["event" if "event" in line else "skipped"] += 1
            tally.reconciled += 1
        if at != len(lines):
            tally.mismatches.append({"index": batch[0].index, "problem": f"{len(lines) - at} extra output line(s) in a batch"})
        for path in paths:
            path.unlink()


# --- ack links on `vigil web`


async def wait_store_has_alerts(stack: Stack, tokens: list[str], timeout: float) -> float:
    """Wait until the answer page knows every alerted team (a GET does not use the link up); returns the wait."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        while time.monotonic() - started < timeout:
            statuses = []
            for token in tokens:
                async with session.get(f"{stack.url('web')}/ack/{token}") as response:
                    statuses.append(response.status)
            if 403 not in statuses:
                break
            await asyncio.sleep(1.0)
    return round(time.monotonic() - started, 1)


async def inbox_tokens(stack: Stack, timeout: float) -> list[str]:
    """The answer links' tokens the phones received (waits until some arrived)."""
    deadline = time.monotonic() + timeout
    tokens: list[str] = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{stack.url('inbox')}/messages", timeout=10) as response:
            rows = json.loads(response.read())
        tokens = [m.group(1) for row in rows for m in [LINK.search(row.get("body", ""))] if m]
        if len(tokens) >= 3:
            return tokens
        await asyncio.sleep(0.5)
    return tokens


def token_pool(real: list[str], deployment: Deployment, alerted: dict[str, set[str]]) -> TokenPool:
    """Real tokens, and tokens the harness signs: expired ones, ones for a team that was not alerted (by
    ``alerted``: activation → teams with an intent), and ones signed with another key."""
    signer = AckSigner(ACK_SECRET.encode(), "http://unused")
    stranger = AckSigner(b"some-other-deployment-key-0123", "http://unused")
    now = datetime.now(UTC)
    expired, other_team, foreign = [], [], []
    claims = [signer.verify(token, now) for token in real]
    for claim in claims:
        intent = NotificationIntent(intent_id=claim.intent_id, activation_id=claim.activation_id, team=claim.team, protocol="hostile",
                                    step="initial", refs=(claim.ref,), title="t", body="b", created_at=now)
        expired.append(signer.token(intent, claim.recipient, now - timedelta(hours=13)))
        foreign.append(stranger.token(intent, claim.recipient, now))
        # A team no rule can alert: a real team not alerted yet may be by the time the link is used (an
        # "unable" answer escalates to dns-oncall at once), and then the link is rightly accepted.
        never = [t for t in ("hostile-no-such-team", f"{claim.team}-x") if t not in alerted.get(claim.activation_id, set())]
        other = intent.model_copy(update={"team": never[len(other_team) % len(never)]})
        # made before the answer page's recording grace (a fresh one is "try again", 503, not a refusal)
        other_team.append(signer.token(other, claim.recipient, now - timedelta(minutes=10)))
    return TokenPool(tuple(real), tuple(expired), tuple(other_team), tuple(foreign))


def expected_ack_status(case: Case, pool: TokenPool, used: set[tuple[str, str]]) -> tuple[int, tuple[str, str] | None]:
    """The status `vigil web` must answer, and the (token id, answer) a 200 POST records (None otherwise): each
    answer of a link once ("acknowledge" after "on my way" is not recorded); "can't respond" only when confirmed."""
    if not case.token:
        return 404, None
    if case.method not in ("GET", "POST"):
        return 405, None
    token = urllib.parse.unquote(case.token)
    signer = AckSigner(ACK_SECRET.encode(), "http://unused")
    try:
        claim = signer.verify(token, datetime.now(UTC))
    except AckTokenError as exc:
        return (410 if exc.reason == "expired" else 403), None
    if token in pool.other_team:
        return 403, None
    if case.method == "GET":
        return 200, None
    if "multipart_garbage" in case.mutations or "huge_form" in case.mutations:
        return 400, None
    response = (case.form or {}).get("response")
    if response not in ("ack", "on_my_way", "unable"):
        return 400, None
    if response == "unable" and (case.form or {}).get("confirm") != "yes":
        return 200, None  # the confirmation question: nothing recorded
    if (claim.token_id, response) in used or (response == "ack" and (claim.token_id, "on_my_way") in used):
        return 409, None
    used.add((claim.token_id, response))
    return 200, (claim.token_id, response)


async def send_acks(cases: list[Case], stack: Stack, pool: TokenPool, tally: Tally, answered: list[tuple[str, str]]) -> None:
    """Request each ack link; requests for one token go in order (one use per answer makes order matter)."""
    used: set[tuple[str, str]] = set()
    groups: dict[str, list[Case]] = {}
    for case in cases:
        tally.sent += 1
        tally.valid += case.valid
        groups.setdefault(urllib.parse.unquote(case.token), []).append(case)
    slots = asyncio.Semaphore(CONCURRENCY["ack"])
    base = stack.url("web")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def group(items: list[Case]) -> None:
            async with slots:
                for case in items:
                    expected, token_id = expected_ack_status(case, pool, used)
                    path = "/ack/" + urllib.parse.quote(case.token, safe="%.-_~")
                    kwargs: dict[str, Any] = {"headers": case.headers}
                    if case.form is not None:
                        kwargs["data"] = case.form
                    elif "multipart_garbage" in case.mutations:
                        kwargs["data"] = b"--zz\r\nContent-Disposition: form-data; name=\"response\r\n\r\nack\r\n--z"
                    try:
                        async with session.request(case.method, URL(base + path, encoded=True), **kwargs) as response:
                            status, body = response.status, await response.text(errors="replace")
                    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                        tally.mismatch(case, "no answer", error=type(exc).__name__)
                        continue
                    if status != expected:
                        tally.mismatch(case, "unexpected status", expected=expected, got=status, body=body[:300])
                        if status == 200 and case.method == "POST" and token_id is not None:
                            used.add(token_id)
                        continue
                    if status == 200:
                        tally.answered_at_edge[f"{case.method} 200"] += 1
                        if token_id is not None:
                            tally.reached_kafka += 1
                            answered.append(token_id)
                            continue  # reconciled against the acks topic and the timeline
                        tally.reconciled += 1
                        continue
                    tally.refused_at_edge[str(status)] += 1
                    if not _names_problem(status, body):
                        tally.mismatch(case, "refusal does not name the problem", status=status, body=body[:300])
                        continue
                    tally.reconciled += 1

        await asyncio.gather(*(group(items) for items in groups.values()))


# --- reading back what reached Kafka


async def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record on ``topic`` up to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", fetch_max_bytes=52428800,
                                max_partition_fetch_bytes=4 * 1048576)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await _partitions(consumer, topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=2000, max_records=5000)
            for records in batches.values():
                values += [r.value for r in records]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        # Reaching the end offsets read once was not always enough (one 100,000 run missed the last dead letter
        # of two partitions, found by a later read): poll on until a poll brings nothing (at most three more
        # polls: the events topic gets a tick every second).
        for _ in range(3):
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            found = [r.value for records in batches.values() for r in records]
            values += found
            if not found:
                break
        return values
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # fills the metadata partitions_for_topic reads (a fresh consumer knows no topic)
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise RuntimeError(f"topic {topic} has no partitions in the broker's metadata")
    return found


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> int:
    """The sum of the end offsets of ``topics`` (how much has been written so far)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        total = 0
        for topic in topics:
            parts = await _partitions(consumer, topic)
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            total += sum(ends.values())
        return total
    finally:
        await consumer.stop()


def worker_counters(stack: Stack) -> dict[str, float]:
    """The worker's ingest and dead-letter counters, by ``name{labels}``."""
    assert stack.worker is not None
    with urllib.request.urlopen(stack.worker.metrics_url(), timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(("vigil_ingest_", "vigil_dead_letters_total")) and sample.name.endswith("_total"):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def _sum(counters: dict[str, float], prefix: str, *must: str) -> float:
    return sum(v for k, v in counters.items() if k.startswith(prefix) and all(m in k for m in must))


async def wait_drained(stack: Stack, cad_records: int, timeout: float) -> dict[str, float]:
    """Wait until the worker has read every CAD record and its outputs stop growing (or stop growing for
    30 s short of that: what is missing then is reported by the reconciliation)."""
    deadline = time.monotonic() + timeout
    topics = (stack.topics.dlq, stack.topics.timeline, stack.topics.intents)
    last, stable_since, seen = -1.0, time.monotonic(), 0.0
    while time.monotonic() < deadline:
        counters = await asyncio.to_thread(worker_counters, stack)
        seen = _sum(counters, "vigil_ingest_received_total", "source=eido") + _sum(counters, "vigil_dead_letters_total", "stage=ingest", "ingest_failed")
        written = seen + await end_offsets(stack.bootstrap or "", topics)
        if written != last:
            last, stable_since = written, time.monotonic()
        quiet = time.monotonic() - stable_since
        if (seen >= cad_records and quiet >= 3) or quiet >= 30:
            break
        await asyncio.sleep(1.0)
    progress(f"drained: worker read {seen:.0f} of {cad_records} CAD records")
    return {"cad_records_sent": cad_records, "cad_records_read": seen}


def progress(message: str) -> None:
    """A line on stderr, so a long run shows where it is."""
    print(f"[hostile {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- the run


def scan_logs(logs: dict[str, Path]) -> tuple[dict[str, int], list[str], int]:
    """Lines of each log that show an unhandled (or merely logged) exception; and the worker's refused acks."""
    problems: dict[str, int] = {}
    examples: list[str] = []
    refused_acks = 0
    for name, path in logs.items():
        count = 0
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            bad = any(p in line for p in _LOG_PROBLEMS)
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = {}
                bad = bad or "exception" in entry or entry.get("level") in ("error", "critical")
                refused_acks += entry.get("event") == "ack.refused"
            if bad:
                count += 1
                if len(examples) < 10:
                    examples.append(f"{name}: {line[:400]}")
        if count:
            problems[name] = count
    return problems, examples, refused_acks


def reconcile(pending: list[Pending], events: list[bytes], dead: list[bytes], tallies: dict[str, Tally]) -> dict[str, Any]:
    """Match every input that reached Kafka to its record: an event by id, a dead letter by source, reason,
    detail and excerpt. Records nobody expected are reported (a stage that failed, say)."""
    event_ids: Counter[str] = Counter()
    for raw in events:
        item = CoreInput.model_validate_json(raw)
        if item.type == "event" and item.event is not None:
            event_ids[item.event.event_id] += 1
    letters: Counter[tuple[str, str, str, str]] = Counter()
    observed_reasons: Counter[tuple[str, str]] = Counter()
    for raw in dead:
        letter = DeadLetter.model_validate_json(raw)
        letters[_dead_letter_key(letter)] += 1
        observed_reasons[(letter.source, letter.reason)] += 1
    for item in pending:
        tally = tallies[item.case.kind]
        if item.kind == "event":
            if event_ids[item.key] > 0:
                event_ids[item.key] -= 1
                tally.reconciled += 1
            else:
                tally.mismatch(item.case, "event missing from the events topic", event_id=item.key)
        elif item.kind == "dead_letter":
            if letters[item.key] > 0:
                letters[item.key] -= 1
                tally.reconciled += 1
                tally.observed_dead_letters[item.key[1]] += 1
            else:
                tally.mismatch(item.case, "dead letter missing", reason=item.key[1], detail=item.key[2][:200])
        elif item.kind == "failed":
            tally.mismatch(item.case, "the core raised on this input (a stage would fail)")
    unexpected_letters = {f"{k[0]}/{k[1]}: {k[2][:150]}": n for k, n in letters.items() if n > 0}
    unexpected_events = sum(n for n in event_ids.values() if n > 0)
    return {"dead_letters_by_source_reason": {f"{s}/{r}": n for (s, r), n in sorted(observed_reasons.items())},
            "unexpected_dead_letters": unexpected_letters, "unexpected_events": unexpected_events}


async def run(count: int, seed: int, bootstrap: str | None, workdir: Path, drain_timeout: float = 600.0) -> dict[str, Any]:
    """Start the services, send the hostile inputs, reconcile, and return the results (see the module doc)."""
    started = time.monotonic()
    deployment = load_deployment()
    stack = Stack(workdir, deployment, bootstrap=bootstrap)
    sizes = _mix(count)
    tallies = {kind: Tally() for kind in ("eido", "ingest", "hl7", "csv", "ack")}
    pending: list[Pending] = []
    answered: list[tuple[str, str]] = []
    results: dict[str, Any] = {"count": count, "seed": seed, "mix": sizes, "started_at": datetime.now(UTC).isoformat()}
    await asyncio.to_thread(stack.start)
    try:
        results["startup_s"] = round(time.monotonic() - started, 1)
        # Valid shootings first, so that alerts with answer links exist for the ack requests.
        seeds = [Case("eido", -1 - n, [], json.dumps(build_eido(f"HX-SEED-{n}", f"2026-07-04T22:0{n}:00-05:00", apco="SHOOT",
                                                                 internal_text="Shooting (PFE)", lat=lat, lon=lon)).encode())
                 for n, (lat, lon) in enumerate(((45.0003, -93.3001), (44.9530, -93.2600), (44.9778, -93.2650), (44.9260, -93.2180))[:SEEDS])]
        await send_eido(seeds, stack, deployment, tallies["eido"], pending)
        sending = time.monotonic()
        progress(f"services up in {results['startup_s']} s; sending {count} cases")
        eido_cases = (eido_case(seed, i) for i in range(sizes["eido"]))
        ingest_cases = (ingest_case(seed, i, INGEST_TOKEN) for i in range(sizes["ingest"]))
        hl7_cases = (hl7_case(seed, i) for i in range(sizes["hl7"]))
        csv_cases = (csv_case(seed, i) for i in range(sizes["csv"]))
        csv_job = asyncio.to_thread(run_csv, csv_cases, workdir, deployment, tallies["csv"], workdir / "parse-csv.log")
        await asyncio.gather(
            send_eido(eido_cases, stack, deployment, tallies["eido"], pending),
            send_ingest(ingest_cases, stack, deployment, tallies["ingest"], pending),
            send_hl7(hl7_cases, stack, deployment, tallies["hl7"], pending),
            csv_job,
        )
        progress("EIDO, ingest, HL7 and CSV sent")
        cad_records = tallies["eido"].reached_kafka + tallies["ingest"].answered_at_edge["202"]
        results["drain"] = await wait_drained(stack, cad_records, drain_timeout)
        real = await inbox_tokens(stack, timeout=120)
        if real and sizes["ack"]:
            alerted: dict[str, set[str]] = {}
            for raw in await read_topic(stack.bootstrap or "", stack.topics.intents):
                intent = NotificationIntent.model_validate_json(raw)
                alerted.setdefault(intent.activation_id, set()).update({intent.team})
            pool = token_pool(real, deployment, alerted)
            # the answer page checks the review store, which the worker's review sink fills a little after the alert
            results["store_caught_up_s"] = await wait_store_has_alerts(stack, real, timeout=120)
            ack_cases = [ack_case(seed, i, pool) for i in range(sizes["ack"])]
            await send_acks(ack_cases, stack, pool, tallies["ack"], answered)
        elif sizes["ack"]:
            results["ack_error"] = "no answer links reached the inbox"
        results["send_s"] = round(time.monotonic() - sending, 1)
        progress("acks sent")
        # acks take two more hops (acks topic, events topic) and the review sink's batch
        deadline = time.monotonic() + 60
        while answered and time.monotonic() < deadline:
            timeline = await read_topic(stack.bootstrap or "", stack.topics.timeline)
            if sum(b'"kind":"ack"' in r for r in timeline) >= len(answered):
                break
            await asyncio.sleep(2)
        results["drained_s"] = round(time.monotonic() - sending, 1)
        progress("reading the topics back")
        events = await read_topic(stack.bootstrap or "", stack.topics.events)
        dead = await read_topic(stack.bootstrap or "", stack.topics.dlq)
        acks_topic = await read_topic(stack.bootstrap or "", stack.topics.acks)
        timeline = await read_topic(stack.bootstrap or "", stack.topics.timeline)
        arrivals = await read_topic(stack.bootstrap or "", stack.topics.hospital_arrivals)
        counters = await asyncio.to_thread(worker_counters, stack)
        results["kafka"] = reconcile(pending, events, dead, tallies)
        results["kafka"]["hospital_arrivals"] = len(arrivals)
        # skipped records leave no record: the worker's counters must say the same number
        expected_skipped = tallies["eido"].expected_skipped + tallies["ingest"].expected_skipped
        filtered = _sum(counters, "vigil_ingest_filtered_total", "source=eido")
        results["kafka"]["skipped"] = {"expected": expected_skipped, "worker_counted": filtered}
        for kind in ("eido", "ingest"):
            skipped = [p for p in pending if p.case.kind == kind and p.kind == "skipped"]
            if filtered >= expected_skipped:
                tallies[kind].reconciled += len(skipped)
            else:
                for item in skipped[:25]:
                    tallies[kind].mismatch(item.case, "skip not counted by the worker")
        # acks: each 200 answer once on the acks topic, once as an ack on the events topic, once on the timeline
        ack_ids = Counter((json.loads(r).get("token_id"), json.loads(r).get("response")) for r in acks_topic)
        core_acks = sum(1 for r in events if b'"type":"ack"' in r)
        recorded = sum(1 for r in timeline if b'"kind":"ack"' in r)
        results["acks"] = {"answered_200": len(answered), "acks_topic": sum(ack_ids.values()), "core_inputs": core_acks, "timeline_recorded": recorded}
        for token_id in answered:
            if ack_ids[token_id] == 1:
                tallies["ack"].reconciled += 1
            else:
                tallies["ack"].mismatches.append({"problem": f"answer {token_id} is {ack_ids[token_id]} times on the acks topic"})
        if not (len(answered) == core_acks == recorded):
            tallies["ack"].mismatches.append({"problem": f"{len(answered)} answers, {core_acks} core inputs, {recorded} timeline records"})
        results["worker_counters"] = counters
        # still alive, and still answering
        alive = stack.alive()
        answering = await answering_check(stack, deployment)
        results["processes"] = {"alive": alive, "answering": answering}
    finally:
        await asyncio.to_thread(stack.stop)
    problems, examples, refused_acks = scan_logs(stack.logs())
    results["logs"] = {"problem_lines": problems, "examples": examples, "worker_refused_acks": refused_acks}
    results["kinds"] = {kind: tally.as_json() for kind, tally in tallies.items()}
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["load"] = os.getloadavg()
    results["goals"] = goals(results)
    return results


async def answering_check(stack: Stack, deployment: Deployment) -> dict[str, bool]:
    """After the run: every service still answers a normal request."""
    found: dict[str, bool] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        for name, path in (("ingest", "/healthz"), ("web", "/healthz"), ("inbox", "/messages")):
            try:
                async with session.get(stack.url(name) + path) as response:
                    found[name] = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                found[name] = False
    case = hl7_case(0, 0)
    case.chunks = [START_BLOCK + b"MSH|^~\\&|EDIS|hcmc|VIGIL|DNS|20260704221000||ADT^A08^ADT_A01|HXCHECK|P|2.5.1" + END_BLOCK]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", stack.ports["hl7"])
        writer.write(case.chunks[0])
        await writer.drain()
        found["hl7"] = _ack_fields(await asyncio.wait_for(reader.readuntil(END_BLOCK), 20))[0] == "AA"
        writer.close()
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        found["hl7"] = False
    try:
        found["worker"] = bool(await asyncio.to_thread(worker_counters, stack))
    except OSError:
        found["worker"] = False
    return found


def goals(results: dict[str, Any]) -> dict[str, bool]:
    """The four goals, each met or not."""
    kinds = results["kinds"]
    kafka = results["kafka"]
    expected_dead = sum(sum(k["expected_dead_letters"].values()) for name, k in kinds.items() if name in ("eido", "hl7"))
    observed_dead = sum(kafka["dead_letters_by_source_reason"].values())
    edge = all(k["mismatch_count"] == 0 for k in kinds.values())
    return {
        "no_crash": all(results["processes"]["alive"].values()) and all(results["processes"]["answering"].values()),
        "no_unhandled_exception": not results["logs"]["problem_lines"],
        "dead_letters_equal_rejected": expected_dead == observed_dead and not kafka["unexpected_dead_letters"]
        and kafka["unexpected_events"] == 0 and kafka["skipped"]["expected"] == kafka["skipped"]["worker_counted"]
        and results["logs"]["worker_refused_acks"] == 0,
        "every_input_reconciled": edge and all(k["reconciled"] + sum(k["not_sent"].values()) >= k["sent"] for k in kinds.values()),
    }


def table(results: dict[str, Any]) -> str:
    """The printed summary."""
    lines = [f"{'kind':8} {'sent':>7} {'valid':>6} {'kafka':>7} {'edge-ok':>8} {'edge-refused':>12} {'events':>7} {'skipped':>8} "
             f"{'dead-lettered':>13} {'reconciled':>10} {'mismatch':>8}"]
    for kind, k in results["kinds"].items():
        lines.append(f"{kind:8} {k['sent']:>7} {k['valid']:>6} {k['reached_kafka']:>7} {sum(k['accepted_at_edge'].values()):>8} "
                     f"{sum(k['refused_at_edge'].values()):>12} {k['expected_events']:>7} {k['expected_skipped']:>8} "
                     f"{sum(k['observed_dead_letters'].values()):>13} {k['reconciled']:>10} {k['mismatch_count']:>8}")
    lines.append("")
    lines.append("dead letters by source/reason: " + ", ".join(f"{k} {v}" for k, v in results["kafka"]["dead_letters_by_source_reason"].items()))
    lines.append(f"skipped (not shootings): expected {results['kafka']['skipped']['expected']}, "
                 f"worker counted {results['kafka']['skipped']['worker_counted']:.0f}")
    lines.append(f"acks: {results['acks']}")
    if results["kafka"]["unexpected_dead_letters"]:
        lines.append(f"UNEXPECTED dead letters: {results['kafka']['unexpected_dead_letters']}")
    if results["logs"]["problem_lines"]:
        lines.append(f"log problems: {results['logs']['problem_lines']}")
        lines += [f"  {e}" for e in results["logs"]["examples"]]
    for kind, k in results["kinds"].items():
        for m in k["mismatches"][:5]:
            lines.append(f"  {kind} mismatch: {json.dumps(m)[:400]}")
    lines.append(f"processes: {results['processes']}")
    lines.append(f"duration {results['duration_s']} s (send {results.get('send_s')} s, drained {results.get('drained_s')} s); "
                 f"load {tuple(round(x, 2) for x in results['load'])}")
    lines.append("goals: " + ", ".join(f"{g} {'MET' if ok else 'MISSED'}" for g, ok in results["goals"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: run, write the JSON results, print the table; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", default=None, help="an existing broker (default: start the embedded one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, store) afterwards")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-hostile-"))
    try:
        results = asyncio.run(run(args.count, args.seed, args.bootstrap, workdir))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"hostile-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-n{args.count}-s{args.seed}.json"
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(table(results))
    print(f"results: {out}" + (f"; work folder {workdir}" if args.keep else ""))
    return 0 if all(results["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
