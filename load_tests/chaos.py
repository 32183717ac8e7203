"""Chaos runs: real workers on a real broker, with something broken on purpose; the phones must still get
what the core predicts.

    python -m load_tests.chaos kill  [--activations 500] [--kills 3] [--rate 5] [--seed 1]
    python -m load_tests.chaos inbox [--outage 60]
    python -m load_tests.chaos db    [--activations 500] [--cut-after 20] [--cut-for 60]
    python -m load_tests.chaos all                       (the three, as `make chaos` runs them)

Each run prints a table, writes its JSON to load_tests/results/ and exits 1 when a goal is missed.
Without ``--bootstrap`` a run starts the embedded broker. docs/chaos.md has the goals and the results.

- kill: two stream-time workers; the first shootings of a synthetic year (load_tests/history.py, with
  the HL7 arrivals load_tests/bench_replay.py adds) up to N activations, fed in time order as a drill
  feeds scenarios (stream/devtools/drill.py), paced in wall time; meanwhile a worker, chosen at random, is
  SIGKILLed at random moments and restarted. Goal: the phones get exactly what `vigil replay` predicts
  for the same lines, each message once.
- inbox: one worker on a fast clock (10 minutes of ack deadline pass in 0.75 x the outage); the phone
  inbox answers 503 to everything for the outage. Goal: every alert delivered; an escalation due after
  the outage on time, one due during it as soon as the inbox is back (see ON_TIME_S and RECOVERY_S).
- db: one stream-time worker whose review database (the machine's PostgreSQL, through a proxy of ours)
  goes away for a while. Goal: the alerts as predicted with the latency of before, and every timeline
  record on the topic stored once after the database returns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from load_tests.bench_replay import scenario_lines
from notifiers.apprise_adapter import write_contacts
from notifiers.inbox import InboxMessage, PhoneInbox
from notifiers.redelivery import RedeliveryPolicy
from stream.core.activations import advance, handle_event
from stream.core.deployment import Deployment, load_deployment
from stream.core.replay import ScenarioLine, hl7_key, read_scenario, replay, to_event
from stream.core.state import Config, CoreState
from stream.devtools.broker import EmbeddedBroker
from stream.devtools.drill import LiveDriver
from stream.devtools.processes import WorkerProcess
from stream.feeds.eido_builder import build_eido
from stream.feeds.ingest import ingest_cad
from stream.model.events import NotificationIntent, ShootingEvent
from stream.ops.kafka import Topics, ensure_topics

RESULTS = Path(__file__).resolve().parent / "results"
PG_ADMIN_URL = os.environ.get("VIGIL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ANSWER_LINE = re.compile(r"\n(?:Answer|Close it): (\S+)$")  # an alert's answer link, a follow-up notice's task link
REF = re.compile(r"Ref (act-[0-9a-f]+)")
CHICAGO = ZoneInfo("America/Chicago")

# The inbox run's "on time", in wall seconds (docs/chaos.md). The core sees time only when a tick comes,
# once a second, so an escalation fires up to 1 s after its moment; then it is an alert like any other.
TICK_S = 1.0
ALERT_LATENCY_S = 1.5  # generous for a shared 2-core machine: the benchmark's p99 is about 0.1 s
ON_TIME_S = TICK_S + ALERT_LATENCY_S
# Due during the outage: at most one redelivery wait after the inbox is back, then the send.
RECOVERY_S = RedeliveryPolicy().max_delay_s * (1 + RedeliveryPolicy().jitter) + ALERT_LATENCY_S
# The db run's "latency not worse": the outage's median within 1.5 x (+10 ms) of the median before it.
DB_LATENCY_FACTOR, DB_LATENCY_SLACK_S = 1.5, 0.010


# --- what the phones should get -------------------------------------------------------------------

@dataclass
class Feed:
    """A replay of the first ``activations`` activations of a synthetic year: its lines and what replay predicts."""

    texts: list[str]
    lines: list[ScenarioLine]
    predicted: list[NotificationIntent]
    until: datetime
    activations: int


def history_feed(activations: int, deployment: Deployment, year: int = 2025, seed: int = 7) -> Feed:
    """The year's lines (EIDO shootings, HL7 arrivals) up to the one that opens activation number ``activations``
    (counting activations that notify somebody), and `vigil replay`'s notifications for them until two hours
    after the last (every deadline nobody acknowledged escalates)."""
    texts = scenario_lines(year, seed)
    lines = read_scenario(texts)
    by_line = replay(texts, deployment, until=lines[-1].at)  # cheap enough (a few seconds) and the same code path
    opened: list[str] = []
    cut = len(lines)
    for intent in by_line:
        if intent.activation_id not in opened:
            opened.append(intent.activation_id)
            if len(opened) == activations:
                cut = next(n for n, line in enumerate(lines) if line.at >= intent.created_at) + 1
                break
    chosen = [json.dumps(line.data) for line in lines[:cut]]
    until = lines[cut - 1].at + timedelta(hours=2)
    predicted = replay(chosen, deployment, until=until, task_notices=True)  # a worker reminds of the tasks made too
    return Feed(chosen, read_scenario(chosen), predicted, until, len({i.activation_id for i in predicted}))


def message_key(team: str, title: str, body: str) -> tuple[str, str, str]:
    """What identifies a message whatever its answer link: team, title, body."""
    return team, title, ANSWER_LINE.sub("", body)


def compare(predicted: list[NotificationIntent], messages: list[InboxMessage]) -> dict:
    """Predicted against received: missing, duplicates (a message received more than once), unexpected."""
    wanted = Counter(message_key(i.team, i.title, i.body) for i in predicted)
    received = Counter(message_key(m.recipient.removesuffix("-lead"), m.title, m.body) for m in messages)
    extra = received - wanted
    return {
        "predicted": sum(wanted.values()),
        "received": sum(received.values()),
        "missing": sum((wanted - received).values()),
        "duplicates": sum(n for key, n in extra.items() if key in wanted),
        "unexpected": sum(n for key, n in extra.items() if key not in wanted),
        "missing_examples": [list(k) for k in list((wanted - received))[:3]],
        "duplicate_keys": [list(k) for k in extra if k in wanted],
    }


def percentiles(values: list[float]) -> dict:
    """p50, p99 and max in milliseconds (None when there is nothing to measure)."""
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"n": len(values), "p50_ms": round(statistics.median(ordered) * 1000, 1), "p99_ms": round(p99 * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


# --- the rig: broker, inbox, workers ----------------------------------------------------------------

class PatientDriver(LiveDriver):
    """The drill's driver, waiting for each input itself to be on the events topic (by event id; ticks,
    which only the driver sends, by count) rather than for a count of records: after a kill the ingest
    agent of the successor re-reads the killed worker's unacknowledged CAD records and produces their events
    again, and those duplicates would let a count run ahead, the final tick overtaking an input still
    waiting for the rebalance. It also waits longer: a killed worker's partitions stay unowned until
    the group notices (its session timeout) and rebalances, on a busy machine well over the drill's 30 s."""

    def __init__(self, *args, progress: Callable[[], int] | None = None, idle_s: float = 120.0, cap_s: float = 1800.0, **kwargs):
        super().__init__(*args, **kwargs)
        # how long to wait for an input: while the workers still make progress (``progress`` grows: their logs),
        # up to ``cap_s``; ``idle_s`` without any progress means the input is lost, not late
        self.progress = progress
        self.idle_s, self.cap_s = idle_s, cap_s
        self._awaiting: set[str] = set()
        self._ticks_sent = self._ticks_seen = 0
        # event id -> where each copy of it landed on the events topic (partition, offset): a lost input is
        # then traced from the CAD line to the events record the activation agent should have handled
        self.landed: dict[str, list[tuple[int, int]]] = {}

    async def feed(self, line: ScenarioLine) -> None:
        """Send one input and wait until its event is on the events topic."""
        event = to_event(line, self.deployment, self.hl7_secret) if line.source != "ack" else None
        if isinstance(event, ShootingEvent):
            self._awaiting.add(event.event_id)
        await super().feed(line)

    async def tick(self, at: datetime) -> None:
        """Move the core's stream time to ``at`` once every input sent is on the events topic."""
        self._ticks_sent += 1
        await super().tick(at)

    async def _wait_for_core(self, timeout: float | None = None) -> None:
        assert self._watcher is not None, "start() first"
        began = last_progress = time.monotonic()
        seen = self.progress() if self.progress is not None else 0
        idle_s = timeout if timeout is not None else self.idle_s
        while self._awaiting or self._ticks_seen < self._ticks_sent:
            now = time.monotonic()
            if self.progress is not None and (current := self.progress()) != seen:
                seen, last_progress = current, now
            if now - last_progress > idle_s or now - began > self.cap_s:
                raise TimeoutError(f"{len(self._awaiting)} input(s) not on the events topic after {now - began:.0f} s "
                                   f"({now - last_progress:.0f} s without progress): {sorted(self._awaiting)}")
            batches = await self._watcher.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    item = json.loads(record.value)
                    if item.get("type") == "tick":
                        self._ticks_seen += 1
                    elif item.get("event"):
                        self._awaiting.discard(item["event"]["event_id"])
                        self.landed.setdefault(item["event"]["event_id"], []).append((record.partition, record.offset))


@dataclass
class Rig:
    """A running deployment for one chaos run."""

    bootstrap: str
    topics: Topics
    inbox: PhoneInbox
    workers: list[WorkerProcess]
    workdir: Path
    deployment: Deployment
    notes: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def rig(bootstrap: str, workdir: Path, deployment: Deployment, workers: int, db_url: str | None = None,
              stream_time: bool = True, clock_start: str | None = None, clock_rate: float = 1.0) -> AsyncIterator[Rig]:
    """Start the phone inbox (in this process), write one phone per team, make the run's topics, start
    ``workers`` workers of one app and wait until they are ready; stop everything afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    inbox = PhoneInbox(journal=workdir / "inbox.jsonl")
    await inbox.start()
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"chaos{run}.")
    contacts = workdir / "contacts.yaml"
    write_contacts(contacts, {t: [inbox.apprise_url(f"{t}-lead")] for t in deployment.coverage.teams})
    await ensure_topics(bootstrap, topics)
    started = [WorkerProcess(bootstrap, contacts, db_url or f"sqlite:///{workdir / 'review.sqlite'}", workdir, name=f"worker-{n}",
                             app_id=f"vigil-chaos-{run}", topic_prefix=topics.prefix, stream_time=stream_time,
                             clock_start=clock_start, clock_rate=clock_rate, ack_secret="chaos-run-ack-secret-0123456789")
               for n in range(1, workers + 1)]
    try:
        for worker in started:
            worker.start()
        for worker in started:
            await asyncio.to_thread(worker.wait_ready, 120.0)
        yield Rig(bootstrap, topics, inbox, started, workdir, deployment)
    finally:
        for worker in started:
            await asyncio.to_thread(worker.stop)
        await inbox.stop()


async def paced_feed(driver: LiveDriver, feed: Feed, rate: float, sent_at: list[float]) -> None:
    """Feed the lines at ``rate`` per second of wall time (later when the deployment holds the driver up),
    noting when each was sent; then run the core's clock to the feed's end."""
    began = time.monotonic()
    for n, line in enumerate(feed.lines):
        delay = began + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent_at.append(time.time())
        await driver.feed(line)
    await driver.tick(feed.until)


def held_until(workers: list[WorkerProcess]) -> float:
    """The latest moment (unix time) a worker said it would send a message it holds back for a phone's rate
    limit (``notify.rate_limited``: the line's time plus its wait); 0 when none was held."""
    latest = 0.0
    for worker in workers:
        if not worker.log_path.exists():
            continue
        for text in worker.log_path.read_text(errors="replace").splitlines():
            if '"notify.rate_limited"' not in text:
                continue
            with contextlib.suppress(json.JSONDecodeError, KeyError, ValueError, TypeError):
                entry = json.loads(text[text.find("{"):])
                at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
                latest = max(latest, at + float(entry["wait_s"]))
    return latest


def every_predicted(predicted: list[NotificationIntent]) -> Callable[[list[InboxMessage]], bool]:
    """True once every predicted message arrived (a message sent twice does not stand in for a missing one)."""
    wanted = Counter(message_key(i.team, i.title, i.body) for i in predicted)

    def arrived(messages: list[InboxMessage]) -> bool:
        received = Counter(message_key(m.recipient.removesuffix("-lead"), m.title, m.body) for m in messages)
        return not (wanted - received)

    return arrived


async def settle(inbox: PhoneInbox, expected: int, cap_s: float, quiet_s: float = 3.0, workers: list[WorkerProcess] | None = None,
                 idle_s: float = 60.0, complete: Callable[[list[InboxMessage]], bool] | None = None) -> str:
    """Wait for the phones as long as they still get messages: until ``complete`` says every expected message
    is there (default: the inbox holds ``expected``); or nothing arrived for ``idle_s`` and no worker holds a
    message back for later (``held_until``); or, at the latest, ``cap_s`` (generous: a slower machine makes the
    run wait longer, never give up while messages still come). Then ``quiet_s`` more for any message sent
    twice. Returns why it stopped waiting."""
    began = last_change = time.monotonic()
    last_count = len(inbox.messages)
    while True:
        count, now = len(inbox.messages), time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
        if complete(list(inbox.messages)) if complete is not None else count >= expected:
            reason = "all arrived"
            break
        if now - began >= cap_s:
            reason = f"cap of {cap_s:.0f} s reached"
            break
        if now - last_change >= idle_s and time.time() >= held_until(workers or []) + 1.0:
            reason = f"no message for {idle_s:.0f} s and none held back"
            break
        await inbox.wait_for(count + 1, 1.0)
    await asyncio.sleep(quiet_s)
    return reason


def direct_latencies(feed: Feed, sent_at: list[float], messages: list[InboxMessage]) -> list[tuple[float, float]]:
    """(moment the causing line was sent, its alert's latency) for each alert a line caused directly
    (escalations have no line of their own); first receipt only."""
    line_at = {line.at: n for n, line in enumerate(feed.lines)}
    by_key = {message_key(i.team, i.title, i.body): i for i in feed.predicted}
    out, seen = [], set()
    for message in messages:
        key = message_key(message.recipient.removesuffix("-lead"), message.title, message.body)
        intent = by_key.get(key)
        if intent is None or key in seen or intent.created_at not in line_at or line_at[intent.created_at] >= len(sent_at):
            continue
        seen.add(key)
        sent = sent_at[line_at[intent.created_at]]
        out.append((sent, message.received_at - sent))
    return out


def _killed_between(sends: list[str], kills: list[dict]) -> bool:
    """Whether the worker that logged an intent's first send was killed before the next send of it: the kill came
    after the gateway took the post and before the delivery was recorded (``sent_log``'s "worker time status")."""
    if len(sends) < 2:
        return False
    (first_worker, first_at, *_), (_, second_at, *_) = (entry.split(" ") for entry in sends[:2])
    begun, again = (datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in (first_at, second_at))
    return any(k["worker"] == first_worker and begun <= k.get("killed_at", 0.0) <= again for k in kills)


def sent_log(workers: list[WorkerProcess], intent_ids: set[str]) -> dict[str, list[str]]:
    """Which worker logged notify.sent for each intent, with its time: how a duplicate came about."""
    found: dict[str, list[str]] = {i: [] for i in intent_ids}
    for worker in workers:
        if not worker.log_path.exists():
            continue
        for text in worker.log_path.read_text(errors="replace").splitlines():
            if '"notify.sent"' not in text:
                continue
            with contextlib.suppress(json.JSONDecodeError):
                entry = json.loads(text)
                if entry.get("intent_id") in found:
                    found[entry["intent_id"]].append(f"{worker.name} {entry.get('timestamp', '')} {entry.get('status')}")
    return found


async def ready_while_progress(worker: WorkerProcess, workers: list[WorkerProcess], idle_s: float = 120.0, cap_s: float = 1800.0) -> None:
    """Until ``worker`` is ready (its group's rebalance done), for as long as the workers still make progress:
    a rebalance waits for every delivery a phone's rate limit holds (minutes at this pace), so a fixed deadline
    would call a slow rebalance a failure. ``TimeoutError`` after ``idle_s`` without any log line, or ``cap_s``."""
    began = last_change = time.monotonic()
    seen = _log_bytes(workers)
    while True:
        try:
            await asyncio.to_thread(worker.wait_ready, 5.0)
            return
        except TimeoutError:
            now, current = time.monotonic(), _log_bytes(workers)
            if current != seen:
                seen, last_change = current, now
            if now - last_change > idle_s or now - began > cap_s:
                raise TimeoutError(f"{worker.name} not ready after {now - began:.0f} s ({now - last_change:.0f} s without progress); "
                                   f"last log lines:\n{worker.log_tail()}") from None


def _log_bytes(workers: list[WorkerProcess]) -> int:
    """How much the workers have logged so far: grows while they work (a stalled input's wait goes on)."""
    return sum(w.log_path.stat().st_size for w in workers if w.log_path.exists())


def _log_entries(worker: WorkerProcess) -> list[dict]:
    """A worker's JSON log lines (terminal escapes before the brace dropped), each with its worker's name."""
    entries = []
    if worker.log_path.exists():
        for text in worker.log_path.read_text(errors="replace").splitlines():
            start = text.find("{")
            if start < 0:
                continue
            with contextlib.suppress(json.JSONDecodeError):
                entry = json.loads(text[start:])
                if isinstance(entry, dict):
                    entry["worker"] = worker.name
                    entries.append(entry)
    return entries


def explain_missing(feed: Feed, messages: list[InboxMessage], workers: list[WorkerProcess], landed: dict[str, list[tuple[int, int]]],
                    deployment: Deployment, events_topic: str) -> list[dict]:
    """For each activation with a predicted message that never arrived: its input lines, where their events landed on
    the events topic, which worker ingested and which decided them (log lines), and (with VIGIL_TRACE_OFFSETS=1 in the
    workers) who fetched, acked and committed past that events record. Says which hop lost the input."""
    received = Counter(message_key(m.recipient.removesuffix("-lead"), m.title, m.body) for m in messages)
    wanted = Counter(message_key(i.team, i.title, i.body) for i in feed.predicted)
    missing_keys = wanted - received
    by_key = {message_key(i.team, i.title, i.body): i for i in feed.predicted}
    missing: dict[str, list[NotificationIntent]] = {}
    for key in missing_keys:
        intent = by_key[key]
        missing.setdefault(intent.activation_id, []).append(intent)
    if not missing:
        return []
    hl7_secret = hl7_key()
    line_events: list[tuple[int, ScenarioLine, ShootingEvent]] = []
    for n, line in enumerate(feed.lines):
        event = to_event(line, deployment, hl7_secret) if line.source != "ack" else None
        if isinstance(event, ShootingEvent):
            line_events.append((n, line, event))
    logs = [entry for worker in workers for entry in _log_entries(worker)]
    short = events_topic.rsplit(".", 1)[-1]
    out = []
    for activation_id, intents in missing.items():
        predicted_all = [i for i in feed.predicted if i.activation_id == activation_id]
        refs = {r for i in predicted_all for r in i.refs}
        inputs = []
        for n, line, event in line_events:
            if event.ref not in refs:
                continue
            where = landed.get(event.event_id, [])
            lines_of = [e for e in logs if e.get("event_id") == event.event_id]
            trace = [e for e in logs if str(e.get("event", "")).startswith("offsets.") and e.get("t") == short
                     and (e.get("p"), e.get("o")) in where]
            commits = []
            for p, o in where:
                crossing = [e for e in logs if e.get("event") == "offsets.committed" and (e.get("offsets") or {}).get(f"{short}:{p}", -1) > o]
                if crossing:
                    first = min(crossing, key=lambda e: e.get("timestamp", ""))
                    commits.append({"partition": p, "offset": o, "first_commit_past": first["offsets"][f"{short}:{p}"],
                                    "by": first["worker"], "at": first.get("timestamp")})
            inputs.append({
                "line": n, "source": line.source, "ref": event.ref, "kind": event.kind.value, "event_id": event.event_id,
                "on_events_topic": where,
                "ingested": [f"{e['worker']} {e.get('timestamp')}" for e in lines_of if str(e.get("event", "")).startswith("ingest.")],
                "decided": [f"{e['worker']} {e.get('timestamp')}" for e in lines_of if e.get("event") == "activation.decided"],
                "trace": [f"{e['worker']} {e.get('timestamp')} {e['event']} gen={e.get('gen')} counted={e.get('counted', '')} "
                          f"committed={e.get('committed', '')}" for e in sorted(trace, key=lambda e: e.get("timestamp", ""))],
                "committed_past": commits,
            })
        hop = "unknown"
        if inputs and all(not i["on_events_topic"] for i in inputs):
            hop = "cad/arrivals -> events (never on the events topic)"
        elif inputs and all(not i["decided"] for i in inputs):
            hop = "events -> activation agent (on the topic, never decided)"
        elif inputs:
            hop = "after the decision (intents, dispatch or the inbox)"
        out.append({"activation_id": activation_id, "missing": [f"{i.team} {i.step}" for i in intents], "hop": hop, "inputs": inputs})
    return out


async def partition_state(bootstrap: str, group: str, topics: list[str]) -> dict[str, str]:
    """Per partition of ``topics``: the broker's end offset (as Tansu reports it: the last batch's base + 1)
    and the group's committed offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    found: dict[str, str] = {}
    try:
        for topic in topics:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh consumer knows no topics until asked
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            for tp in partitions:
                found[f"{topic.rsplit('.', 1)[-1]}:{tp.partition}"] = f"end {ends.get(tp)}, committed {await consumer.committed(tp)}"
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the run's own result
        found["error"] = repr(exc)
    finally:
        await consumer.stop()
    return found


def worker_exits(workers: list[WorkerProcess]) -> list[str]:
    """Workers that stopped by themselves (a crash; the kills are the run's own), with the reason their log gives."""
    found = []
    for worker in workers:
        if not worker.log_path.exists():
            continue
        text = worker.log_path.read_text(errors="replace")
        for match in re.finditer(r"\[ERROR\] \[\^-*(\w+)\]: Crashed reason=(\w+)", text):
            found.append(f"{worker.name}: {match.group(1)} crashed ({match.group(2)})")
    return found


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- run 1: kill ----------------------------------------------------------------------------------

async def run_kill(bootstrap: str, workdir: Path, activations: int = 500, kills: int = 3, rate: float = 5.0, seed: int = 1,
                   restart_after_s: float = 0.5, settle_s: float = 1800.0, deployment: Deployment | None = None,
                   out: Callable[[str], None] = print) -> dict:
    """Two workers, a replay of ``activations`` activations, ``kills`` SIGKILLs of a random worker at random
    moments (each restarted); the phones against the prediction."""
    deployment = deployment or load_deployment()
    feed = history_feed(activations, deployment)
    rnd = random.Random(seed)
    planned_s = len(feed.lines) / rate
    # one kill in each equal slice of the feed's middle 80%: random, yet never two on top of each other
    slice_s = 0.8 * planned_s / max(kills, 1)
    kill_at = [0.1 * planned_s + k * slice_s + rnd.uniform(0.1, 0.9) * slice_s for k in range(kills)]
    out(f"kill: {len(feed.lines)} inputs, {feed.activations} activations, {len(feed.predicted)} predicted alerts; "
        f"kills at {', '.join(f'{t:.1f}' for t in kill_at)} s of ~{planned_s:.0f} s")
    events: list[dict] = []
    async with rig(bootstrap, workdir, deployment, workers=2) as running:
        driver = PatientDriver(bootstrap, running.topics, deployment, progress=lambda: _log_bytes(running.workers))
        await driver.start()
        sent_at: list[float] = []
        began = time.monotonic()

        async def chaos_monkey() -> None:
            for at in kill_at:
                await asyncio.sleep(max(0.0, began + at - time.monotonic()))
                for worker in running.workers:  # a restarted worker first rejoins: one kill at a time
                    if not worker.ready_file.exists():
                        await ready_while_progress(worker, running.workers)
                victim = rnd.choice(running.workers)
                killed = time.monotonic()
                victim.kill()
                await asyncio.sleep(restart_after_s)
                victim.start()
                await ready_while_progress(victim, running.workers)
                events.append({"worker": victim.name, "killed_at_s": round(killed - began, 1), "killed_at": time.time() - (time.monotonic() - killed),
                               "inputs_sent": len(sent_at), "ready_again_s": round(time.monotonic() - killed, 1)})
                out(f"  SIGKILL {victim.name} at {killed - began:.1f} s (after {len(sent_at)} inputs), ready again "
                    f"{time.monotonic() - killed:.1f} s later")

        monkey = asyncio.create_task(chaos_monkey())
        stalled: dict | None = None
        try:
            await paced_feed(driver, feed, rate, sent_at)
            await monkey
        except (TimeoutError, RuntimeError) as exc:
            # an input that never reached the events topic, or a restarted worker that never got ready (or
            # exited): say what the broker holds and what the group committed
            stalled = {"error": str(exc), "workers_alive": [w.name for w in running.workers if w.alive()],
                       "partitions": await partition_state(bootstrap, f"vigil-chaos-{running.topics.prefix[5:-1]}",
                                                           [running.topics.cad, running.topics.hospital_arrivals, running.topics.events])}
            out(f"  STALLED: {exc}")
            for name, state in stalled["partitions"].items():
                out(f"    {name}: {state}")
        finally:
            monkey.cancel()
            await driver.stop()
        fed_s = time.monotonic() - began
        # a month of alerts in two minutes runs dns-oncall's phone far past its rate limit (10 at once, then
        # one a second): its later escalations are held back by design, for minutes
        waited = await settle(running.inbox, len(feed.predicted), cap_s=settle_s, workers=running.workers,
                              complete=every_predicted(feed.predicted))
        out(f"  stopped waiting for the phones: {waited}")
        messages = list(running.inbox.messages)
        verdict = compare(feed.predicted, messages)
        verdict["held_back_by_rate_limit"] = sum(w.log_path.read_text(errors="replace").count('"notify.rate_limited"') for w in running.workers)
        by_key = {message_key(i.team, i.title, i.body): i.intent_id for i in feed.predicted}
        dup_ids = {by_key[tuple(k)] for k in verdict["duplicate_keys"]}
        verdict["duplicate_sends"] = sent_log(running.workers, dup_ids)
        # a copy no worker logged was posted by the worker SIGKILLed between the gateway taking it and the log: at
        # least once without a provider idempotency key can send that one twice (docs/chaos.md); any other is a bug
        received = Counter(by_key.get(message_key(m.recipient.removesuffix("-lead"), m.title, m.body)) for m in messages)
        verdict["killed_mid_send"] = sum(1 for i, sends in verdict["duplicate_sends"].items()
                                         if len(sends) < received[i] or _killed_between(sends, events))
        latencies = [lat for _, lat in direct_latencies(feed, sent_at, messages)]
        lost = explain_missing(feed, messages, running.workers, driver.landed, deployment, running.topics.events)
        crashes = worker_exits(running.workers)
    for activation in lost:
        out(f"  MISSING {activation['activation_id']}: {', '.join(activation['missing'])}; lost at {activation['hop']}")
        for item in activation["inputs"]:
            out(f"    line {item['line']} {item['source']} {item['kind']} {item['ref']} {item['event_id']}: on events at {item['on_events_topic']}, "
                f"ingested {item['ingested']}, decided {item['decided']}")
            for step in item["trace"]:
                out(f"      {step}")
            for commit in item["committed_past"]:
                out(f"      committed past it: {commit}")
    for crash in crashes:
        out(f"  WORKER CRASHED {crash}")
    bugs = verdict["duplicates"] - verdict["killed_mid_send"]
    ok = (verdict["missing"] == 0 and bugs == 0 and verdict["killed_mid_send"] <= kills and verdict["unexpected"] == 0
          and len(events) == kills and not crashes and stalled is None)
    return {"run": "kill", "ok": ok, "activations": feed.activations, "inputs": len(feed.lines), "kills": events,
            "fed_s": round(fed_s, 1), "alerts": verdict, "latency_from_input": percentiles(latencies), "lost": lost, "crashes": crashes,
            "stalled": stalled,
            "goals": {"every predicted alert received": verdict["missing"] == 0,
                      "no duplicates (but one a kill cut between the post and its log, at most one per kill)":
                          bugs == 0 and verdict["killed_mid_send"] <= kills,
                      "nothing unexpected": verdict["unexpected"] == 0, f"{kills} kills done": len(events) == kills,
                      "no worker crashed by itself": not crashes, "every input reached the events topic": stalled is None}}


# --- run 2: inbox outage --------------------------------------------------------------------------

# Person-shot places of distinct street teams, far enough apart (over 1 km) that no rule joins them.
PLACES = {"Jordan": (45.0003, -93.3001), "Midtown Phillips": (44.9530, -93.2600), "Downtown West": (44.9780, -93.2720),
          "Folwell": (45.0400, -93.3000), "Powderhorn Park": (44.9405, -93.2530)}
SATURDAY_EVENING = datetime(2026, 7, 4, 22, 0, tzinfo=CHICAGO)


def _worker_clock(worker: WorkerProcess, rate: float) -> tuple[Callable[[datetime], float], Callable[[float], datetime]]:
    """The worker's clock against the wall, both ways (wall time of a moment, moment of a wall time): its
    ready file holds the clock's reading when it was written."""
    read_at = worker.ready_file.stat().st_mtime
    reading = datetime.fromisoformat(worker.ready_file.read_text(encoding="utf-8"))
    return (lambda moment: read_at + (moment - reading).total_seconds() / rate,
            lambda wall: reading + timedelta(seconds=(wall - read_at) * rate))


async def run_inbox(bootstrap: str, workdir: Path, outage_s: float = 60.0, deployment: Deployment | None = None,
                    out: Callable[[str], None] = print) -> dict:
    """One worker on a fast clock; shootings before, during and after an inbox outage of ``outage_s``."""
    deployment = deployment or load_deployment()
    window_s = 0.75 * outage_s  # wall seconds of a person shot's 10-minute ack deadline
    rate = 600.0 / window_s
    outage_at = window_s / 2 + 2.0
    # when (wall seconds from the start) each shooting is sent, and why
    plan = [("Jordan", 2.0, "before; its escalation falls due during the outage"),
            ("Midtown Phillips", outage_at + outage_s / 2, "during; its escalation falls due after the outage"),
            ("Downtown West", outage_at + outage_s + 2.0, "after")]
    config = Config(deployment.coverage, deployment.protocols)
    state = CoreState()
    predicted: list[NotificationIntent] = []
    async with rig(bootstrap, workdir, deployment, workers=1, stream_time=False, clock_start=SATURDAY_EVENING.isoformat(),
                   clock_rate=rate) as running:
        worker = running.workers[0]
        wall_of, moment_of = _worker_clock(worker, rate)
        began_wall = time.time()
        sent: dict[str, float] = {}
        opened_at: dict[str, float] = {}  # activation → wall time its shooting was sent
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        outage: tuple[float, float] | None = None
        try:
            for name, at, _ in plan:
                if outage is None and at > outage_at:
                    await asyncio.sleep(max(0.0, began_wall + outage_at - time.time()))
                    end = running.inbox.start_outage(outage_s)
                    outage = (end - outage_s, end)
                    out(f"  inbox answers 503 from {outage[0] - began_wall:.1f} s to {end - began_wall:.1f} s")
                await asyncio.sleep(max(0.0, began_wall + at - time.time()))
                moment = moment_of(time.time())
                doc = build_eido(f"CHAOS-INBOX-{name}", moment.isoformat(), apco="SHOOT", internal_text="Shooting (PFE)",
                                 lat=PLACES[name][0], lon=PLACES[name][1])
                sent[name] = time.time()
                await producer.send_and_wait(running.topics.cad, json.dumps(doc).encode(), key=b"cad")
                # the prediction: the same core at (about) the worker's moment; shifts do not change for hours
                event = ingest_cad(doc, deployment.classification, moment)
                assert isinstance(event, ShootingEvent)
                made = handle_event(state, event, moment, config).intents
                predicted += made
                opened_at.update({i.activation_id: sent[name] for i in made})
                out(f"  sent   person shot, {name} at {at:.1f} s ({_})")
        finally:
            await producer.stop()
        predicted += advance(state, SATURDAY_EVENING + timedelta(days=1), config).intents
        last_due = max(wall_of(i.created_at) for i in predicted)
        await asyncio.sleep(max(0.0, last_due + ON_TIME_S - time.time()))
        await settle(running.inbox, len(predicted), cap_s=30.0, quiet_s=2.0, workers=running.workers, idle_s=10.0)
        messages = list(running.inbox.messages)
        refused = running.inbox.refused
    assert outage is not None
    got = {(REF.search(m.body).group(1), m.recipient.removesuffix("-lead"), "ESCALATION" in m.body): m  # type: ignore[union-attr]
           for m in reversed(messages) if REF.search(m.body)}  # first receipt wins
    per_message: list[dict] = []
    ok_all = True
    for intent in predicted:
        escalation = intent.step == "escalation"
        message = got.get((intent.activation_id, intent.team, escalation))
        due = wall_of(intent.created_at) if escalation else opened_at[intent.activation_id]
        row = {"team": intent.team, "step": intent.step, "due_s": round(due - began_wall, 2),
               "received_s": round(message.received_at - began_wall, 2) if message else None}
        if message is None:
            row["verdict"], good = "missing", False
        elif outage[0] <= due < outage[1]:
            late = message.received_at - outage[1]
            row["after_recovery_s"] = round(late, 2)
            good = late <= RECOVERY_S and message.received_at >= due
            row["verdict"] = "delivered after recovery" if good else f"late ({late:.1f} s after recovery)"
        else:
            late = message.received_at - due
            row["late_s"] = round(late, 2)
            good = -0.1 <= late <= (ON_TIME_S if escalation else ALERT_LATENCY_S)
            row["verdict"] = "on time" if good else f"off ({late:+.2f} s)"
        ok_all = ok_all and good
        per_message.append(row)
    # texts carry times the prediction can only approximate ("reported 22:03"): compare by what each alert is
    wanted = Counter((i.activation_id, i.team, i.step == "escalation") for i in predicted)
    received = Counter((REF.search(m.body).group(1), m.recipient.removesuffix("-lead"), "ESCALATION" in m.body)  # type: ignore[union-attr]
                       for m in messages if REF.search(m.body))
    verdict = {"predicted": sum(wanted.values()), "received": len(messages), "missing": sum((wanted - received).values()),
               "duplicates": sum(n for k, n in (received - wanted).items() if k in wanted),
               "unexpected": sum(n for k, n in (received - wanted).items() if k not in wanted) + sum(not REF.search(m.body) for m in messages)}
    during_escalation = [r for r in per_message if r["step"] == "escalation" and outage[0] - began_wall <= r["due_s"] < outage[1] - began_wall]
    after_escalation = [r for r in per_message if r["step"] == "escalation" and r["due_s"] >= outage[1] - began_wall]
    goals = {"every alert delivered": verdict["missing"] == 0, "no duplicates": verdict["duplicates"] == 0 and verdict["unexpected"] == 0,
             "an escalation fell due during the outage": bool(during_escalation),
             "an escalation fell due after the outage": bool(after_escalation),
             "each alert on time (see docs/chaos.md)": ok_all, "the inbox refused posts": refused > 0}
    return {"run": "inbox", "ok": all(goals.values()), "outage_s": outage_s, "clock_rate": round(rate, 2),
            "outage_from_s": round(outage[0] - began_wall, 2), "outage_to_s": round(outage[1] - began_wall, 2),
            "refused_posts": refused, "messages": per_message, "alerts": verdict, "goals": goals,
            "on_time_s": ON_TIME_S, "recovery_s": RECOVERY_S}


# --- run 3: database outage -----------------------------------------------------------------------

async def _timeline_ids(bootstrap: str, topic: str, quiet_ms: int = 1500) -> tuple[set[str], int]:
    """The distinct entry ids on the timeline topic, and how many records carry them."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    ids: list[str] = []
    try:
        while batches := await consumer.getmany(timeout_ms=quiet_ms):
            ids += [json.loads(m.value)["entry_id"] for records in batches.values() for m in records]
    finally:
        await consumer.stop()
    return set(ids), len(ids)


@contextlib.contextmanager
def scratch_database(admin_url: str = PG_ADMIN_URL):
    """A fresh database on the machine's PostgreSQL, dropped afterwards; yields its name."""
    from sqlalchemy import create_engine, text

    name = f"vigil_chaos_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _caught_up_after(log_text: str, restored_at: float) -> float | None:
    """Seconds from the database's return to the sink's first "caught up" line after it (its own log's clock)."""
    for text in log_text.splitlines():
        if '"review_sink.caught_up"' in text:
            with contextlib.suppress(json.JSONDecodeError, KeyError, ValueError):
                at = datetime.fromisoformat(json.loads(text)["timestamp"].replace("Z", "+00:00")).timestamp()
                if at >= restored_at:
                    return at - restored_at
    return None


async def run_db(bootstrap: str, workdir: Path, activations: int = 500, rate: float = 5.0, cut_after_s: float = 20.0,
                 cut_for_s: float = 60.0, settle_s: float = 1800.0, deployment: Deployment | None = None,
                 out: Callable[[str], None] = print) -> dict:
    """One stream-time worker storing into PostgreSQL through a proxy that is cut for ``cut_for_s``."""
    from sqlalchemy import make_url

    from load_tests.chaos_proxy import CuttableProxy
    from reviews.store import ReviewStore

    deployment = deployment or load_deployment()
    feed = history_feed(activations, deployment)
    admin = make_url(PG_ADMIN_URL)
    proxy = CuttableProxy(admin.host or "127.0.0.1", admin.port or 5432)
    port = await asyncio.to_thread(proxy.start)
    with scratch_database() as name:
        through_proxy = admin.set(host="127.0.0.1", port=port, database=name).render_as_string(hide_password=False)
        direct = ReviewStore(admin.set(database=name).render_as_string(hide_password=False))
        out(f"db: {len(feed.lines)} inputs, {feed.activations} activations, {len(feed.predicted)} predicted alerts; "
            f"database cut at {cut_after_s:.0f} s for {cut_for_s:.0f} s")
        try:
            async with rig(bootstrap, workdir, deployment, workers=1, db_url=through_proxy) as running:
                driver = PatientDriver(bootstrap, running.topics, deployment, progress=lambda: _log_bytes(running.workers))
                await driver.start()
                sent_at: list[float] = []
                began = time.time()
                window: list[float] = []

                async def outage() -> None:
                    await asyncio.sleep(cut_after_s)
                    await asyncio.to_thread(proxy.cut)
                    window.append(time.time())
                    out(f"  database cut at {time.time() - began:.1f} s")
                    await asyncio.sleep(cut_for_s)
                    await asyncio.to_thread(proxy.restore)
                    window.append(time.time())
                    out(f"  database back at {time.time() - began:.1f} s")

                cutter = asyncio.create_task(outage())
                try:
                    await paced_feed(driver, feed, rate, sent_at)
                    await cutter
                finally:
                    cutter.cancel()
                    await driver.stop()
                # as in the kill run: dns-oncall's later escalations wait for its rate limit, by design
                waited = await settle(running.inbox, len(feed.predicted), cap_s=settle_s, quiet_s=2.0, workers=running.workers,
                                      complete=every_predicted(feed.predicted))
                out(f"  stopped waiting for the phones: {waited}")
                messages = list(running.inbox.messages)
                verdict = compare(feed.predicted, messages)
                # the store catches up: every record of the timeline topic stored, once
                on_topic, records_on_topic = await _timeline_ids(bootstrap, running.topics.timeline)
                deadline = time.time() + 120.0
                stored: set[str] = set()
                rows = 0
                while time.time() < deadline:
                    stored_records = await asyncio.to_thread(direct.records)
                    stored, rows = {r.entry_id for r in stored_records}, len(stored_records)
                    if on_topic <= stored:
                        break
                    await asyncio.sleep(0.5)
                logs = running.workers[0].log_path.read_text(errors="replace")
                caught_up_s = _caught_up_after(logs, window[1]) if len(window) == 2 else None
        finally:
            direct.dispose()
            await asyncio.to_thread(proxy.stop)
    before = [lat for at, lat in direct_latencies(feed, sent_at, messages) if at < window[0]]
    during = [lat for at, lat in direct_latencies(feed, sent_at, messages) if window[0] <= at < window[1]]
    after = [lat for at, lat in direct_latencies(feed, sent_at, messages) if at >= window[1]]
    lat_before, lat_during = percentiles(before), percentiles(during)
    not_worse = bool(before and during) and lat_during["p50_ms"] <= lat_before["p50_ms"] * DB_LATENCY_FACTOR + DB_LATENCY_SLACK_S * 1000
    store_failures = logs.count('"review_sink.store_failed"')
    goals = {"every predicted alert received": verdict["missing"] == 0, "no duplicate alerts": verdict["duplicates"] == 0 and verdict["unexpected"] == 0,
             "latency during the outage not worse (p50)": not_worse, "every timeline record stored": on_topic <= stored,
             "no record stored twice": rows == len(stored) and stored <= on_topic, "the store really failed": store_failures > 0}
    return {"run": "db", "ok": all(goals.values()), "activations": feed.activations, "inputs": len(feed.lines),
            "cut_at_s": round(window[0] - began, 1) if window else None, "cut_for_s": cut_for_s, "alerts": verdict,
            "latency_before": lat_before, "latency_during": lat_during, "latency_after": percentiles(after),
            "timeline_on_topic": {"distinct": len(on_topic), "records": records_on_topic}, "stored_rows": rows,
            "store_failures_logged": store_failures, "catch_up_s_after_restore": round(caught_up_s, 1) if caught_up_s else None,
            "proxy_connections": proxy.connections, "goals": goals}


# --- the command line -----------------------------------------------------------------------------

def print_table(result: dict, out: Callable[[str], None] = print) -> None:
    """The run's goals, and its main figures."""
    out(f"\n{result['run']}: {'OK' if result['ok'] else 'GOAL MISSED'}")
    for goal, met in result["goals"].items():
        out(f"  {'met ' if met else 'MISS'}  {goal}")
    alerts = result.get("alerts", {})
    out(f"  alerts: {alerts.get('received')} received of {alerts.get('predicted')} predicted, {alerts.get('missing')} missing, "
        f"{alerts.get('duplicates')} duplicate(s), {alerts.get('unexpected')} unexpected")
    for name in ("latency_from_input", "latency_before", "latency_during", "latency_after"):
        if name in result:
            lat = result[name]
            out(f"  {name.replace('_', ' '):<20} n={lat['n']} p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms")
    for row in result.get("messages", []):
        out(f"  {row['team']:<22} {row['step']:<11} due {row['due_s']:7.2f} s  received {row['received_s']} s  {row['verdict']}")
    if "catch_up_s_after_restore" in result:
        out(f"  store: {result['stored_rows']} rows for {result['timeline_on_topic']['distinct']} distinct records on the topic "
            f"({result['timeline_on_topic']['records']} records), caught up {result['catch_up_s_after_restore']} s after the database returned")


async def _with_broker(bootstrap: str | None, workdir: Path, body) -> dict:
    broker = None if bootstrap else EmbeddedBroker(log_path=workdir / "broker.log")
    try:
        if broker is not None:
            bootstrap = await asyncio.to_thread(broker.start)
        return await body(bootstrap)
    finally:
        if broker is not None:
            broker.stop()


def main(argv: list[str] | None = None) -> int:
    """Run one chaos run (or all); 1 when a goal is missed."""
    parser = argparse.ArgumentParser(prog="python -m load_tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", choices=("kill", "inbox", "db", "all"))
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"))
    parser.add_argument("--activations", type=int, default=500)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--rate", type=float, default=5.0, help="inputs per second of wall time (kill, db)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outage", type=float, default=60.0, help="inbox: seconds of 503")
    parser.add_argument("--cut-after", type=float, default=20.0, help="db: seconds into the feed")
    parser.add_argument("--cut-for", type=float, default=60.0, help="db: seconds without the database")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--trace-offsets", action="store_true",
                        help="workers log every fetch, ack, commit and seek of their consumer (stream/runtime/offset_trace.py)")
    args = parser.parse_args(argv)
    if args.trace_offsets:
        os.environ["VIGIL_TRACE_OFFSETS"] = "1"  # the workers inherit it
    deployment = load_deployment()
    runs = ("kill", "inbox", "db") if args.run == "all" else (args.run,)
    failed = 0
    for name in runs:
        workdir = Path(tempfile.mkdtemp(prefix=f"vigil-chaos-{name}-"))

        async def body(bootstrap: str, name: str = name, workdir: Path = workdir) -> dict:
            if name == "kill":
                return await run_kill(bootstrap, workdir, args.activations, args.kills, args.rate, args.seed, deployment=deployment)
            if name == "inbox":
                return await run_inbox(bootstrap, workdir, args.outage, deployment=deployment)
            return await run_db(bootstrap, workdir, args.activations, args.rate, args.cut_after, args.cut_for, deployment=deployment)

        started = time.monotonic()
        result = asyncio.run(_with_broker(args.bootstrap, workdir, body))
        result.update({"date": datetime.now(UTC).isoformat(timespec="seconds"), "wall_s": round(time.monotonic() - started, 1),
                       "load_average_after": _load(), "cpus": os.cpu_count(), "python": platform.python_version(),
                       "command": " ".join(["python -m load_tests.chaos", *(argv if argv is not None else sys.argv[1:])]),
                       "workdir": str(workdir)})
        print_table(result)
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"chaos-{name}-{result['date'][:19].replace(':', '')}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"  results: {path}  (load average {result['load_average_after']}, {result['wall_s']} s)")
        failed += not result["ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
