"""Load runs of one worker on the generated feeds (load_tests/generator.py): throughput, latency, memory.

    python -m load_tests.bench_load [--short] [--only throughput,latency,memory] [--bootstrap HOST:PORT]
                                    [--out load_tests/results]

1. Throughput: a backlog of generated CAD documents (``--throughput-days`` of July: 98% ordinary calls,
   the shootings with their re-sends and upgrades) is on the CAD topic before the worker starts; the
   worker's own counter (``vigil_ingest_received_total``, from its /metrics) is sampled until it has read
   them all. Events per second over the consuming window, the worker's CPU and peak RSS. Then every alert
   the replay of the same documents predicts must be in the phone inbox, exactly once each.
   Goal: >= 2,000 CAD events/s.
2. Alert latency under 200 CAD events/s: ``load_tests.bench_e2e`` as it is (its goals, its JSON), its
   per-alert latencies plotted over time.
3. Memory: the generated year (``--memory-days`` from 1 January; the whole year by default), CAD and HL7
   arrivals, through one worker as fast as it consumes, on stream time, so the worker's clock runs
   through the year and closed activations age out as they would. The worker's RSS sampled all along;
   every predicted alert must arrive. Goal: RSS <= 250 MB after the year.

The workers run with ``--stream-time`` in 1 and 3: their clock is the records' timestamps (the year's
moments), so what they decide is exactly what `vigil replay` decides, and the alerts can be checked one
by one. Writes ``bench-load-<date>.json`` and a PNG (latency over time; RSS over the year) into ``--out``;
exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from load_tests.generator import BrokerSender, FeedItem, feed
from notifiers.apprise_adapter import write_contacts
from notifiers.inbox import PhoneInbox
from stream.core.deployment import Deployment, load_deployment
from stream.core.replay import Replay, ScenarioLine, hl7_key
from stream.core.state import CoreState
from stream.devtools.broker import EmbeddedBroker
from stream.devtools.demo import REF
from stream.devtools.processes import WorkerProcess
from stream.ops.kafka import Topics, ensure_topics

GOALS = {"throughput_cad_events_per_s": 5000, "alert_p99_ms": 150, "rss_after_year_mb": 250}
TAIL = timedelta(hours=2)  # after the last input, the clock runs on this long: the escalations still due fire
RECEIVED = re.compile(r'^vigil_ingest_received_total\{source="eido"\} ([0-9.e+]+)$', re.M)


# --- Pure helpers ------------------------------------------------------------------------------

def core_inputs(items: Iterable[FeedItem]) -> list[FeedItem]:
    """The items that reach a worker's core: shooting documents and HL7 messages (the listener drops the
    rest of HL7 itself; ``predict`` parses them as the listener does)."""
    return [item for item in items if item.kind is not None or item.source == "hl7"]


def predict(items: Iterable[FeedItem], deployment: Deployment, until: datetime) -> dict[str, tuple[str, str]]:
    """What a stream-time worker must decide for ``items`` with its clock run to ``until``, by the same core
    `vigil replay` runs: intent id (deterministic) → (activation, team)."""
    run = Replay(deployment, CoreState(), hl7_key())
    intents: dict[str, tuple[str, str]] = {}
    for n, item in enumerate(core_inputs(items), start=1):
        for intent in run.feed(ScenarioLine(n, item.at, item.source, item.scenario_line())):
            intents[intent.intent_id] = (intent.activation_id, intent.team)
    for intent in run.finish(until):
        intents[intent.intent_id] = (intent.activation_id, intent.team)
    return intents


def received_alerts(messages: Iterable[Any]) -> Counter[tuple[str, str]]:
    """The inbox's messages as (activation, team) → count (one phone per team, ``<team>-lead``)."""
    got: Counter[tuple[str, str]] = Counter()
    for message in messages:
        ref = REF.search(message.body)
        got[(ref.group(1) if ref else "?", message.recipient.rsplit("-", 1)[0])] += 1
    return got


def compare(predicted: dict[str, tuple[str, str]], decided: set[str], received: Counter[tuple[str, str]]) -> dict[str, int]:
    """The worker's intents against the prediction (exactly the same ids), and the phones' alerts against
    both: every (activation, team) predicted reached at least once, nothing extra, no duplicate.

    A team's later alerts of the same activation may still be held by the recipient's rate limit
    (notifiers/rate_limit.py: only the first alert of an activation to a phone skips it): a compressed
    month sends hundreds of escalations to dns-oncall within seconds, so those are counted as ``held``.
    """
    wanted = Counter(predicted.values())
    teams_missing = sum(1 for pair in wanted if received[pair] == 0)
    extra = sum((received - wanted).values())
    return {"predicted": len(predicted), "decided": len(decided), "decided_missing": len(set(predicted) - decided),
            "decided_extra": len(decided - set(predicted)), "received": sum(received.values()), "teams_not_reached": teams_missing,
            "received_extra": extra, "held_by_rate_limit": sum((wanted - received).values())}


def alerts_ok(check: dict[str, int]) -> bool:
    """The worker decided exactly the predicted intents and every team predicted was reached, nothing extra."""
    return not (check["decided_missing"] or check["decided_extra"] or check["teams_not_reached"] or check["received_extra"])


def rate_window(samples: list[tuple[float, float]], total: int) -> dict[str, float] | None:
    """Consumption rate from (seconds, records read so far) samples. The worker counts a batch once it is
    handled, so the first count shows a batch whose reading began some time before: the rate is measured from
    the first sample that shows records read to the first that shows all ``total``, over the records read in
    between. When one sample shows them all, from the sample before it (the rate then errs low)."""
    began = next((i for i, (_, n) in enumerate(samples) if n > 0), None)
    done = next((i for i, (_, n) in enumerate(samples) if n >= total), None)
    if began is None or done is None:
        return None
    start_t, start_n = samples[began] if done > began else (samples[max(0, began - 1)][0], 0)
    seconds = samples[done][0] - start_t
    events = total - start_n
    return {"seconds": round(seconds, 2), "events_per_s": round(events / seconds, 1) if seconds > 0 else float("inf"),
            "first_read_s": round(samples[began][0], 2), "all_read_s": round(samples[done][0], 2)}


# --- The shell -----------------------------------------------------------------------------------

def proc_memory_mb(pid: int) -> dict[str, float]:
    """A process's resident set now and its peak (Linux /proc, MB)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1), "peak_rss_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


STAGE = re.compile(r'^vigil_stage_seconds_(sum|count)\{stage="([a-z_]+)"\} ([0-9.e+-]+)$', re.M)


def stage_seconds(metrics_text: str) -> dict[str, dict[str, float]]:
    """The worker's own time per stage (ingest, activation, dispatch, review_sink): records and seconds."""
    out: dict[str, dict[str, float]] = {}
    for kind, stage, value in STAGE.findall(metrics_text):
        out.setdefault(stage, {})["records" if kind == "count" else "seconds"] = round(float(value), 3)
    return out


async def decided_intents(bootstrap: str, topic: str) -> set[str]:
    """Every intent id on the intents topic (read to its end)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    ids: set[str] = set()
    try:
        partitions = consumer.assignment()
        while not partitions:
            await asyncio.sleep(0.1)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                ids.update(json.loads(record.value)["intent_id"] for record in records)
    finally:
        await consumer.stop()
    return ids


async def cad_read(worker: WorkerProcess) -> int:
    """How many CAD documents the worker has read (its own counter)."""
    text = await asyncio.to_thread(_scrape, worker.metrics_url())
    found = RECEIVED.search(text)
    return int(float(found.group(1))) if found else 0


async def _read_so_far(worker: WorkerProcess, last: int) -> int:
    """``cad_read``, or ``last`` while the worker's metrics server is not up yet."""
    if not worker.metrics_file.exists():
        return last
    try:
        return await cad_read(worker)
    except OSError:  # the port file is written as the server binds: a moment before it answers
        return last


async def wait_while_growing(count: Any, target: int, idle_s: float, cap_s: float, step_s: float = 0.2) -> bool:
    """Poll ``count()`` until it reaches ``target``: True then; False once it has not grown for ``idle_s``
    (or ``cap_s`` passed). Progress, not a fixed deadline: a slower machine only waits longer."""
    began = last_change = time.monotonic()
    last = count()
    while last < target:
        await asyncio.sleep(step_s)
        now, current = time.monotonic(), count()
        if current != last:
            last, last_change = current, now
        elif now - last_change > idle_s or now - began > cap_s:
            return False
    return True


@dataclass
class LoadPipeline:
    """The phone inbox (in this process), topics and contacts ready; the worker started on demand."""

    bootstrap: str
    workdir: Path
    topics: Topics
    inbox: PhoneInbox
    contacts: Path
    app_id: str
    workers: list[WorkerProcess] = field(default_factory=list)

    async def start_worker(self, stream_time: bool = True, ready: bool = True) -> WorkerProcess:
        """Start one worker (stream time: its clock is the records' timestamps) and, with ``ready``, wait until it
        is ready."""
        worker = WorkerProcess(self.bootstrap, self.contacts, f"sqlite:///{self.workdir / 'review.sqlite'}", self.workdir,
                               app_id=self.app_id, topic_prefix=self.topics.prefix, stream_time=stream_time)
        worker.start()
        self.workers.append(worker)
        if ready:
            await asyncio.to_thread(worker.wait_ready, 120.0)
        return worker

    async def wait_for_alerts(self, count: int, idle_s: float = 60.0, cap_s: float = 1800.0) -> bool:
        """Until the inbox holds ``count`` messages, for as long as messages keep arriving: False after
        ``idle_s`` without a new one (or ``cap_s`` in all), then a few seconds more for a duplicate."""
        reached = await wait_while_growing(lambda: len(self.inbox.messages), count, idle_s, cap_s)
        await asyncio.sleep(3.0)  # a duplicate would land now
        return reached


@asynccontextmanager
async def load_pipeline(bootstrap: str, workdir: Path, deployment: Deployment, name: str) -> AsyncIterator[LoadPipeline]:
    """An inbox with one phone per team, the topics (own prefix), and the workers stopped at the end."""
    run = uuid.uuid4().hex[:8]
    topics = Topics(prefix=f"{name}{run}.")
    inbox = PhoneInbox()
    await inbox.start()
    contacts = workdir / "contacts.yaml"
    write_contacts(contacts, {team: [inbox.apprise_url(f"{team}-lead")] for team in deployment.coverage.teams})
    await ensure_topics(bootstrap, topics)
    pipeline = LoadPipeline(bootstrap, workdir, topics, inbox, contacts, f"vigil-{name}-{run}")
    try:
        yield pipeline
    finally:
        for worker in pipeline.workers:
            await asyncio.to_thread(worker.stop)
        await inbox.stop()


async def throughput(bootstrap: str, workdir: Path, deployment: Deployment, start: date, days: int) -> dict[str, Any]:
    """Run 1: a backlog of CAD documents read by one worker that starts after them (see the docstring)."""
    items = [item for item in feed(start.year, 7, start, start + timedelta(days=days)) if item.source == "eido"]
    until = items[-1].at + TAIL
    predicted = predict(items, deployment, until)
    async with load_pipeline(bootstrap, workdir, deployment, "tput") as pipeline:
        async with BrokerSender(bootstrap, pipeline.topics, deployment, hl7_key(), stream_time=True, single_partition=True) as sender:
            preload = await sender.send(items)
            began = time.monotonic()
            # sampled from the moment its counter is served, not from its readiness: the CAD consumer reads
            # while the app still joins its group, and a short backlog can be drained before the worker is ready
            worker = await pipeline.start_worker(ready=False)
            pid = worker._process.pid  # noqa: SLF001 - a benchmark reads its child's counters
            cpu_before, samples = cpu_seconds(pid), [(0.0, 0)]
            last_change = time.monotonic()
            while True:  # as long as the worker keeps reading (a minute without progress ends it)
                read = await _read_so_far(worker, samples[-1][1])
                now = time.monotonic()
                if read != samples[-1][1]:
                    last_change = now
                samples.append((now - began, read))
                if read >= len(items) or now - last_change > 60.0 + (0.0 if read else 120.0):
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(worker.wait_ready, 120.0)
            cpu = cpu_seconds(pid) - cpu_before
            memory = proc_memory_mb(pid)
            stages = stage_seconds(await asyncio.to_thread(_scrape, worker.metrics_url()))
            window = rate_window(samples, len(items))
            # stream time: the clock runs on only when told; then the escalations still due fire
            await sender.tick(until)
            await pipeline.wait_for_alerts(len(Counter(predicted.values())))
            check = compare(predicted, await decided_intents(bootstrap, pipeline.topics.intents), received_alerts(pipeline.inbox.messages))
    shootings = sum(1 for item in items if item.kind is not None)
    return {
        "feed": f"{start.isoformat()} + {days} days", "cad_events": len(items), "shooting_documents": shootings,
        "preload_s": round(preload.seconds, 2), "consumed": window, "samples": samples,
        "worker_cpu_s": round(cpu, 2), "worker_cpu_share": round(cpu / window["seconds"], 2) if window else None,
        "worker_memory": memory, "stage_seconds": stages, "alerts": check,
    }


async def memory(bootstrap: str, workdir: Path, deployment: Deployment, year: int, days: int | None) -> dict[str, Any]:
    """Run 3: the year (or its first ``days``) through one stream-time worker; RSS sampled all along."""
    start = date(year, 1, 1)
    end = start + timedelta(days=days) if days else None
    until_items = list(feed(year, 7, start, end)) if days and days <= 60 else None
    items: Iterable[FeedItem] = until_items if until_items is not None else feed(year, 7, start, end)
    async with load_pipeline(bootstrap, workdir, deployment, "mem") as pipeline:
        worker = await pipeline.start_worker()
        pid = worker._process.pid  # noqa: SLF001
        series: list[tuple[float, float, str]] = []  # (seconds, RSS MB, the feed's moment)
        began = time.monotonic()
        last: list[FeedItem] = []

        def remember(source: Iterable[FeedItem]) -> Iterable[FeedItem]:
            for item in source:
                last[:] = [item]
                yield item

        def progress(_: Any) -> None:
            if last and (not series or time.monotonic() - began - series[-1][0] >= 1.0):
                series.append((round(time.monotonic() - began, 1), proc_memory_mb(pid)["rss_mb"], last[0].at.isoformat()))

        async with BrokerSender(bootstrap, pipeline.topics, deployment, hl7_key(), stream_time=True, single_partition=True) as sender:
            report = await sender.send(remember(items), on_progress=progress)
            until = last[0].at + TAIL
            await sender.tick(until)
            await sender.wait_for_core()
            fed_s = time.monotonic() - began
            waits = sorted(sender.waits)
        # the prediction after the run: the year's items are generated again (same seed, same items). In a thread:
        # it takes a minute of CPU, and the phone inbox answering the worker's posts runs on this loop (blocked,
        # it made the notifier time out and send two alerts again: received_extra 2 on 2026-12-02)
        predicted = await asyncio.to_thread(predict, until_items if until_items is not None else feed(year, 7, start, end), deployment, until)
        # A compressed year sends dns-oncall's one phone thousands of escalations, which its rate limit (1/s) holds
        # for hours: the phones keep getting messages, so waiting for progress would only stop at the cap. The
        # decisions are checked on the intents topic; the phones get five minutes, as before.
        await pipeline.wait_for_alerts(len(Counter(predicted.values())), idle_s=30.0, cap_s=300.0)
        after = proc_memory_mb(pid)
        series.append((round(time.monotonic() - began, 1), after["rss_mb"], until.isoformat()))
        check = compare(predicted, await decided_intents(bootstrap, pipeline.topics.intents), received_alerts(pipeline.inbox.messages))
        open_activations = re.search(r'^vigil_open_activations\{[^}]*\} ([0-9.e+]+)$', await asyncio.to_thread(_scrape, worker.metrics_url()), re.M)
    return {
        "feed": f"{start.isoformat()} .. {until.date().isoformat()}", "cad_events": report.cad, "hl7_arrivals": report.arrivals,
        "hl7_without_record": report.hl7_not_produced, "seconds": round(fed_s, 1), "events_per_s": round((report.cad + report.arrivals) / fed_s, 1),
        "worker_memory_after": after, "open_activations_after": float(open_activations.group(1)) if open_activations else None,
        "rss_series": series, "alerts": check,
        # how long the feed waited for its inputs on the events topic (before each arrival and the final tick):
        # an input is late, not lost, when a wait ran past the 60 s the run used to give up after
        "core_waits": {"n": len(waits), "longest_s": round(waits[-1], 1) if waits else None,
                       "over_60_s": sum(w > 60.0 for w in waits), "not_shootings": sender.not_shootings},
    }


async def latency(bootstrap: str, seconds: float) -> dict[str, Any]:
    """Run 2: load_tests.bench_e2e as it is (its broker round trips, load, fan-out and goals)."""
    from load_tests import bench_e2e

    args = argparse.Namespace(bootstrap=bootstrap, round_trips=200, seconds=seconds, rate=200.0, shooting_share=0.02, fanouts=5,
                              worker_fetch_wait_ms=10)
    return await bench_e2e.main(args)


def plot(results: dict[str, Any], path: Path) -> None:
    """Latency of each alert over the load run, and the worker's RSS over the replayed year."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("latency", "memory") if k in results]
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.6 * len(panels)), squeeze=False)
    for ax, key in zip(axes[:, 0], panels, strict=True):
        if key == "latency":
            series = results["latency"]["under_load"].get("latency_series", [])
            ax.plot([t for t, _ in series], [ms for _, ms in series], ".", markersize=4)
            ax.axhline(GOALS["alert_p99_ms"], color="red", linestyle="--", linewidth=1, label="goal: p99 <= 150 ms")
            figures = results["latency"]["under_load"]["alert_latency"]
            ax.set_title(f"alert latency under 200 CAD events/s (p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms)")
            ax.set_xlabel("seconds into the load")
            ax.set_ylabel("produce → phone inbox (ms)")
            ax.legend(loc="upper right")
        else:
            series = results["memory"]["rss_series"]
            ax.plot([t for t, _, _ in series], [mb for _, mb, _ in series])
            ax.axhline(GOALS["rss_after_year_mb"], color="red", linestyle="--", linewidth=1, label="goal: <= 250 MB after the year")
            ax.set_title(f"worker RSS while the feed of {results['memory']['feed']} goes through it")
            ax.set_xlabel("seconds into the run")
            ax.set_ylabel("RSS (MB)")
            ax.set_ylim(bottom=0)
            ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def goals_of(results: dict[str, Any]) -> dict[str, bool]:
    """Each goal of the runs that ran: met or not (a wrong or missing alert fails its run)."""
    goals: dict[str, bool] = {}
    if "throughput" in results:
        run = results["throughput"]
        goals["throughput_ge_5000_per_s"] = bool(run["consumed"]) and run["consumed"]["events_per_s"] >= GOALS["throughput_cad_events_per_s"]
        goals["throughput_alerts_as_predicted"] = alerts_ok(run["alerts"])
    if "latency" in results:
        goals.update({f"latency_{k}": v for k, v in results["latency"]["goals"].items()})
    if "memory" in results:
        run = results["memory"]
        goals["rss_after_year_le_250mb"] = run["worker_memory_after"]["rss_mb"] <= GOALS["rss_after_year_mb"]
        # A year compressed into minutes sends thousands of escalations to dns-oncall's one phone; its rate
        # limit (1/s after a burst of 10) holds them, and held deliveries occupy the dispatch slots, so the
        # phones cannot all be reached before the run ends. Here the decisions must be exact and no phone
        # may get anything extra; how many teams were reached is reported.
        alerts = run["alerts"]
        goals["memory_decisions_as_predicted"] = not (alerts["decided_missing"] or alerts["decided_extra"] or alerts["received_extra"])
    return goals


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen measurements and return the results document."""
    deployment = load_deployment()
    broker = None if args.bootstrap else EmbeddedBroker()
    bootstrap = args.bootstrap or await asyncio.to_thread(broker.start)  # type: ignore[union-attr]
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_start": os.getloadavg(),
        "broker": "external " + bootstrap if args.bootstrap else "embedded Tansu (memory)",
        "short": args.short,
    }
    only = set(args.only.split(","))
    try:
        if "throughput" in only:
            workdir = Path(tempfile.mkdtemp(prefix="vigil-tput-"))
            results["throughput"] = await throughput(bootstrap, workdir, deployment, date(args.year, 7, 1), args.throughput_days)
        if "latency" in only:
            results["latency"] = await latency(bootstrap, args.latency_seconds)
        if "memory" in only:
            workdir = Path(tempfile.mkdtemp(prefix="vigil-mem-"))
            results["memory"] = await memory(bootstrap, workdir, deployment, args.year, args.memory_days)
    finally:
        if broker is not None:
            broker.stop()
    results["load_average_at_end"] = os.getloadavg()
    results["goals"] = goals_of(results)
    results["command"] = "python -m load_tests.bench_load" + (" --short" if args.short else "")
    return results


def _print(results: dict[str, Any], json_path: Path, png_path: Path) -> None:
    print(f"{results['machine']}; broker: {results['broker']}; load average {results['load_average_at_start']}")
    if "throughput" in results:
        run = results["throughput"]
        window = run["consumed"] or {}
        print(f"throughput: {run['cad_events']} CAD documents ({run['feed']}, {run['shooting_documents']} shootings) read in "
              f"{window.get('seconds')} s = {window.get('events_per_s')} CAD events/s (goal >= {GOALS['throughput_cad_events_per_s']}); "
              f"worker CPU {run['worker_cpu_share']} of a core, RSS {run['worker_memory']['rss_mb']} MB (peak {run['worker_memory']['peak_rss_mb']} MB); "
              f"alerts {run['alerts']}")
    if "latency" in results:
        figures = results["latency"]["under_load"]["alert_latency"]
        print(f"latency under 200 CAD events/s: p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms, max {figures.get('max_ms')} ms "
              f"(n {figures.get('n')}; goal p99 <= {GOALS['alert_p99_ms']} ms); broker p99 during the load "
              f"{results['latency']['under_load']['broker_round_trip_during_load']['p99_ms']} ms")
    if "memory" in results:
        run = results["memory"]
        print(f"memory: {run['cad_events']} CAD documents and {run['hl7_arrivals']} arrivals ({run['feed']}) in {run['seconds']} s "
              f"({run['events_per_s']}/s); worker RSS after {run['worker_memory_after']['rss_mb']} MB (peak {run['worker_memory_after']['peak_rss_mb']} MB; "
              f"goal <= {GOALS['rss_after_year_mb']} MB), open activations {run['open_activations_after']}; alerts {run['alerts']}")
    print(f"goals: {results['goals']}\nresults in {json_path}, {png_path}")


def cli(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, write JSON and the PNG, print; 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="`make bench`: 7 days of backlog, 30 s of latency load, 21 days for memory")
    parser.add_argument("--only", default="throughput,latency,memory")
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--throughput-days", type=int, help="days of July in the backlog (default 31; 7 with --short)")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--memory-days", type=int, help="days from 1 January through the worker (default the whole year; 21 with --short)")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"))
    parser.add_argument("--out", type=Path, default=Path("load_tests/results"))
    args = parser.parse_args(argv)
    args.throughput_days = args.throughput_days or (7 if args.short else 31)
    args.memory_days = args.memory_days or (21 if args.short else None)
    results = asyncio.run(main(args))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"bench-load-{results['date'][:10]}" + ("-short" if args.short else "")
    json_path, png_path = args.out / f"{stem}.json", args.out / f"{stem}.png"
    json_path.write_text(json.dumps(results, indent=2, default=str))
    plot(results, png_path)
    _print(results, json_path, png_path)
    return 0 if all(results["goals"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(cli())
