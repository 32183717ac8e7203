"""Slow clients against the listeners: ``python -m load_tests.slow_clients [--clients 1000] [--hold 20]``.

Starts the embedded broker (or uses ``--bootstrap``), then, one at a time, `vigil hl7-listen`, `vigil
ingest-http` and `vigil web` as subprocesses on 127.0.0.1, each with its own log. Against each:

1. a baseline: ``--baseline`` legitimate requests, one after another (an ADT message for its ACK AA, an EIDO
   document for its 202, the sign-in page for its 200), each on a new connection, timed from connect to answer;
2. ``--clients`` slow clients, in three kinds: *silent* (connects, sends nothing), *dribble* (the start of a
   message, then a byte every 2 s) and *half* (half a message: 100 KB of an MLLP frame, or headers declaring a
   100 KB body and half of it; then nothing). When the service closes one, it reconnects 5 s later, so the
   pressure lasts the whole hold;
3. once all have connected, a legitimate request every ``--every`` seconds for ``--hold`` seconds;
4. meanwhile the service's resident memory, descriptors and threads (/proc), and what its log gained.

Loopback only, bounded in clients (at most 5,000) and time (each phase has a deadline). The drill raises its own
soft descriptor limit when the clients need it (said in the results); ``--service-nofile N`` runs the services
with a soft limit of N (the abuse run's 256, say). Goals (exit 1 when one is missed), per service: every
legitimate request answered correctly; their 95th percentile under ``--goal-ms`` (100) with the slow clients
connected; the service alive; no traceback in its log. Results: ``load_tests/results/slow-clients-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from stream.devtools.broker import EmbeddedBroker, free_port, wait_for_port
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7_builder import AdtMessage
from stream.feeds.mllp import END_BLOCK, frame
from stream.ops.kafka import Topics, ensure_topics

RESULTS = Path(__file__).parent / "results"
HOST = "127.0.0.1"  # loopback only: the drill never aims at another host
SERVICES = ("hl7", "ingest", "web")
MAX_CLIENTS = 5000
HL7_SECRET = "slow-clients-hl7-secret-0123456789"
ACK_SECRET = "slow-clients-ack-secret-0123456789"
INGEST_TOKEN = "slow-clients-ingest-token-0123456789"
DRIBBLE_EVERY_S = 2.0
RECONNECT_AFTER_S = 5.0  # a slow client the service closed comes back: the pressure lasts the whole hold
RAMP_S = 60.0  # at most this long for every slow client to connect once
HALF_BYTES = 100_000
ARRIVED = datetime(2026, 7, 4, 22, 10, tzinfo=UTC)
_LOG_PROBLEMS = ("Traceback (most recent call last)", "Exception in callback", "Task exception was never retrieved",
                 "Error handling request", "Exception in ASGI application")


def progress(message: str) -> None:
    """A line on stderr, so a run shows where it is."""
    print(f"[slow-clients {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def raise_descriptor_limit(needed: int) -> dict[str, int | bool]:
    """Raise this process's soft RLIMIT_NOFILE to ``needed`` (at most the hard limit) when it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = soft != resource.RLIM_INFINITY and soft < needed
    if raised:
        soft = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return {"soft": soft, "hard": hard, "raised": raised, "needed": needed}


# --- the services


@dataclass
class Service:
    """One service under test, a subprocess with its own log."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def sample(self) -> dict[str, int]:
        """Resident memory (KiB), open descriptors and threads now, from /proc."""
        pid = self.process.pid
        found = {"rss_kib": 0, "threads": 0, "fds": 0}
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found["rss_kib"] = int(line.split()[1])
                elif line.startswith("Threads:"):
                    found["threads"] = int(line.split()[1])
            found["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
        return found

    def stop(self) -> None:
        """Terminate the process (kill it after 20 s)."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _command(name: str, port: int, bootstrap: str, topics: Topics, workdir: Path, cap: int | None) -> tuple[list[str], dict[str, str]]:
    common = ["--bootstrap", bootstrap, "--topic-prefix", topics.prefix, "--port", str(port)]
    capped = [] if cap is None else ["--max-connections", str(cap)]
    if name == "hl7":
        return ["hl7-listen", *common, "--metrics-port", "0", *capped], {"VIGIL_HL7_SECRET": HL7_SECRET}
    if name == "ingest":
        return ["ingest-http", *common, "--metrics-port", "0", *capped], {"VIGIL_INGEST_TOKENS": INGEST_TOKEN}
    # a free metrics port, as the listeners': the default 9603 is taken by any other `vigil web` on the machine
    return ["web", *common, "--db-url", f"sqlite:///{workdir / 'review.sqlite'}", "--metrics-port", "0"], {"VIGIL_ACK_SECRET": ACK_SECRET}


def start_service(name: str, bootstrap: str, topics: Topics, workdir: Path, nofile: int | None, cap: int | None = None) -> Service:
    """Start one service on a free loopback port and wait until it accepts connections (``cap``: the
    listeners' --max-connections, default theirs)."""
    port = free_port(HOST)
    args, env = _command(name, port, bootstrap, topics, workdir, cap)
    log_path = workdir / f"{name}.log"

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "stream.cli", *args], stdout=log, stderr=log, preexec_fn=limit,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
    service = Service(name, port, process, log_path)
    if not wait_for_port(HOST, port, timeout=90):
        service.stop()
        raise RuntimeError(f"{name} did not start; see {log_path}")
    return service


# --- legitimate requests


async def _read_reply(reader: asyncio.StreamReader, until: bytes | None) -> bytes:
    if until is not None:
        return await reader.readuntil(until)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    return head + await reader.readexactly(length)


async def _exchange(port: int, request: bytes, until: bytes | None, timeout: float) -> tuple[bytes, float]:
    """One request on a new connection: the reply and the seconds from connect to the reply's end."""
    started = time.perf_counter()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(request)
            await writer.drain()
            reply = await _read_reply(reader, until)
        finally:
            writer.close()
    return reply, time.perf_counter() - started


def legit_request(name: str, n: int) -> tuple[bytes, bytes | None, bytes]:
    """The ``n``-th legitimate request to a service: its bytes, the reply's terminator (None: HTTP), and what
    a correct reply contains."""
    if name == "hl7":
        control = f"SLOW-{n}"
        message = AdtMessage(control, "hcmc", ARRIVED).render()
        return frame(message), END_BLOCK, f"MSA|AA|{control}".encode()
    if name == "ingest":
        body = json.dumps(build_eido(f"SLOW-{n}", "2026-07-04T22:00:00-05:00", apco="MVA", lat=44.96, lon=-93.27)).encode()
        head = (f"POST /ingest/eido HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {INGEST_TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        return head.encode() + body, None, b"HTTP/1.1 202"
    return f"GET /login HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode(), None, b"HTTP/1.1 200"


@dataclass
class Legit:
    """What the legitimate requests met."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Count, failures, median, 95th percentile and maximum, in milliseconds."""
        ordered = sorted(self.latencies_ms)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else None
        return {"count": len(ordered) + len(self.failures), "failed": len(self.failures), "failures": self.failures[:5],
                "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
                "p95_ms": round(p95, 1) if p95 is not None else None, "max_ms": round(ordered[-1], 1) if ordered else None,
                "over_100_ms": sum(1 for v in ordered if v >= 100), "all_ms": [round(v, 1) for v in self.latencies_ms]}


async def send_legit(name: str, port: int, start: int, count: int, every: float, into: Legit) -> None:
    """``count`` legitimate requests, one every ``every`` seconds (each on a new connection)."""
    for n in range(start, start + count):
        request, until, expected = legit_request(name, n)
        try:
            reply, took = await _exchange(port, request, until, timeout=10)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            into.failures.append(f"#{n}: {type(exc).__name__}")
        else:
            if expected in reply:
                into.latencies_ms.append(took * 1000)
            else:
                into.failures.append(f"#{n}: {reply[:120]!r}")
        await asyncio.sleep(every)


# --- slow clients


def slow_openings(name: str) -> dict[str, tuple[bytes, bytes]]:
    """Per kind of slow client: what it sends at once, and what it then sends a byte at a time (if anything)."""
    if name == "hl7":
        return {"silent": (b"", b""), "dribble": (b"\x0bMSH|^~\\&|", b"X" * 10_000),
                "half": (b"\x0b" + b"MSH|^~\\&|EPIC|hcmc|" + b"A" * HALF_BYTES, b"")}
    path = "/ingest/eido" if name == "ingest" else "/login"
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n".encode()
    return {"silent": (b"", b""), "dribble": (head, b"X-Slow: " + b"x" * 10_000),
            "half": (head + f"Authorization: Bearer not-a-token\r\nContent-Length: {2 * HALF_BYTES}\r\n\r\n".encode()
                     + b"{" * HALF_BYTES, b"")}


@dataclass
class SlowStats:
    """What the slow clients saw."""

    connected: int = 0
    connect_failed: int = 0
    closed_by_service: int = 0
    held_s: list[float] = field(default_factory=list)
    open_now: int = 0

    def summary(self) -> dict[str, Any]:
        """Connections made, refused, closed by the service, and how long the service let them stay."""
        held = sorted(self.held_s)
        return {"connections": self.connected, "connect_failed": self.connect_failed, "closed_by_service": self.closed_by_service,
                "open_now": self.open_now, "held_median_s": round(statistics.median(held), 2) if held else None,
                "held_max_s": round(held[-1], 2) if held else None}


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, opening: bytes, drip: bytes, stop: asyncio.Event) -> bool:
    """Send the opening, then drip a byte every few seconds, reading whatever comes; True when the service
    closed the connection (before ``stop``)."""
    writer.write(opening)
    dripped = 0
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(reader.read(65536), DRIBBLE_EVERY_S)
        except TimeoutError:
            data = None
        except OSError:
            return True
        if data == b"":
            return True
        if data is None and dripped < len(drip):
            writer.write(drip[dripped:dripped + 1])
            dripped += 1
    return False


async def slow_client(port: int, opening: bytes, drip: bytes, stop: asyncio.Event, stats: SlowStats, connects: asyncio.Semaphore) -> None:
    """One slow client until ``stop``: connect, hold; when closed by the service, reconnect a little later."""
    while not stop.is_set():
        try:
            async with connects:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
        except (OSError, TimeoutError):
            stats.connect_failed += 1
            await asyncio.sleep(RECONNECT_AFTER_S)
            continue
        stats.connected += 1
        stats.open_now += 1
        opened = time.monotonic()
        try:
            closed = await _hold(reader, writer, opening, drip, stop)
        except OSError:
            closed = True
        finally:
            stats.open_now -= 1
            writer.close()
        if closed:
            stats.closed_by_service += 1
            stats.held_s.append(time.monotonic() - opened)
            await asyncio.sleep(RECONNECT_AFTER_S)


def swarm_main(name: str, port: int, clients: int, pipe: Connection) -> None:
    """The slow clients, in a process of their own (so that their work does not slow the timed requests'
    event loop): reports ("ramped", stats) once all have connected, then ("done", stats) after "stop"."""
    raise_descriptor_limit(clients + 256)
    asyncio.run(_swarm(name, port, clients, pipe))


async def _swarm(name: str, port: int, clients: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop, stats = asyncio.Event(), SlowStats()
    threading.Thread(target=lambda: (pipe.recv(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    kinds = list(slow_openings(name).values())
    connects = asyncio.Semaphore(100)
    started = time.monotonic()
    tasks = [asyncio.create_task(slow_client(port, *kinds[i % len(kinds)], stop, stats, connects)) for i in range(clients)]
    while stats.connected + stats.connect_failed < clients and time.monotonic() - started < RAMP_S:
        await asyncio.sleep(0.1)
    pipe.send(("ramped", {**stats.summary(), "ramp_s": round(time.monotonic() - started, 2)}))
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(("done", stats.summary()))


def _receive(pipe: Connection, timeout: float) -> tuple[str, dict[str, Any]]:
    if not pipe.poll(timeout):
        raise TimeoutError(f"the slow clients said nothing for {timeout:g} s")
    return pipe.recv()


# --- one service's drill


async def _watch(service: Service, samples: list[dict[str, int]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(service.sample())
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


def scan_log(path: Path, since: int) -> dict[str, Any]:
    """What the log gained after byte ``since``: bytes, lines, and lines that show a traceback or an error."""
    text = path.read_bytes()[since:].decode("utf-8", errors="replace")
    lines = text.splitlines()
    problems = [line for line in lines if any(p in line for p in _LOG_PROBLEMS) or '"level": "error"' in line]
    events: dict[str, int] = {}
    for line in lines:
        if line.startswith("{"):
            try:
                event = json.loads(line).get("event", "?")
            except ValueError:
                continue
            events[event] = events.get(event, 0) + 1
    return {"bytes": len(text.encode()), "lines": len(lines), "problems": len(problems), "examples": problems[:3], "events": events}


async def drill_service(service: Service, clients: int, hold: float, every: float, baseline: int) -> dict[str, Any]:
    """Baseline, then the slow clients and the legitimate requests among them; the figures."""
    before, during = Legit(), Legit()
    await send_legit(service.name, service.port, 0, baseline, 0.1, before)
    idle = service.sample()
    log_start = service.log.stat().st_size
    samples: list[dict[str, int]] = []
    stop = asyncio.Event()
    context = multiprocessing.get_context("spawn")  # not fork: this process runs an event loop
    pipe, child_end = context.Pipe()
    swarm = context.Process(target=swarm_main, args=(service.name, service.port, clients, child_end), daemon=True)
    swarm.start()
    watcher = asyncio.create_task(_watch(service, samples, stop))
    try:
        _, ramped = await asyncio.to_thread(_receive, pipe, RAMP_S + 30)
        await asyncio.sleep(DRIBBLE_EVERY_S)  # the dribblers have started dribbling
        progress(f"{service.name}: {ramped['connections']} slow connections made in {ramped['ramp_s']} s "
                 f"({ramped['open_now']} open); legitimate requests")
        await send_legit(service.name, service.port, baseline, max(1, int(hold / every)), every, during)
        under_load = service.sample()
        pipe.send("stop")
        _, done = await asyncio.to_thread(_receive, pipe, 60)
    finally:
        stop.set()
        await watcher
        swarm.join(10)
        if swarm.is_alive():
            swarm.kill()
    return {
        "baseline": before.summary(), "under_slow_clients": during.summary(),
        "slow_clients": {**done, "ramp_s": ramped["ramp_s"], "open_when_ramped": ramped["open_now"]},
        "service": {"idle": idle, "under_load": under_load, "peak_rss_kib": max((s["rss_kib"] for s in samples), default=0),
                    "peak_fds": max((s["fds"] for s in samples), default=0), "peak_threads": max((s["threads"] for s in samples), default=0)},
        "log": scan_log(service.log, log_start), "alive": service.alive(),
    }


# --- the run


async def run(clients: int, hold: float, every: float, baseline: int, bootstrap: str | None, workdir: Path,
              services: tuple[str, ...] = SERVICES, service_nofile: int | None = None, cap: int | None = None) -> dict[str, Any]:
    """The whole drill: the broker (unless given), then each service in turn; the results with their goals."""
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"--clients must be between 1 and {MAX_CLIENTS}")
    limits = raise_descriptor_limit(clients + 256)
    broker = None
    if bootstrap is None:
        broker = EmbeddedBroker(log_path=workdir / "broker.log")
        bootstrap = broker.start()
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "clients": clients, "hold_s": hold, "every_s": every,
                               "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}, "drill_nofile": limits,
                               "service_nofile": service_nofile, "max_connections": cap, "services": {}}
    try:
        topics = Topics(prefix=f"slow{os.getpid()}.")
        await ensure_topics(bootstrap, topics)
        # all started at once (each start is an interpreter and its imports, seconds on a busy machine), then
        # drilled one at a time: an idle service costs the one being drilled nothing
        progress(f"{', '.join(services)}: starting")
        started = await asyncio.gather(*(asyncio.to_thread(start_service, name, bootstrap, topics, workdir, service_nofile, cap)
                                         for name in services), return_exceptions=True)
        try:
            failed = [s for s in started if isinstance(s, BaseException)]
            if failed:
                raise failed[0]
            for name, service in zip(services, started, strict=True):
                try:
                    results["services"][name] = await drill_service(service, clients, hold, every, baseline)
                finally:
                    service.stop()
        finally:
            for service in started:
                if isinstance(service, Service):
                    service.stop()
    finally:
        if broker is not None:
            broker.stop()
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["finished"] = datetime.now(UTC).isoformat()
    return results


def goals(results: dict[str, Any], goal_ms: float) -> dict[str, bool]:
    """Each service's goals."""
    found = {}
    for name, got in results["services"].items():
        during = got["under_slow_clients"]
        found[f"{name}: every legitimate request answered"] = during["failed"] == 0 and during["count"] > 0
        found[f"{name}: p95 under {goal_ms:g} ms with the slow clients connected"] = during["p95_ms"] is not None and during["p95_ms"] < goal_ms
        found[f"{name}: alive at the end"] = got["alive"]
        found[f"{name}: no traceback or error in its log"] = got["log"]["problems"] == 0
    return found


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    rows = ["| service | baseline p50 / max ms | under slow clients p50 / p95 / max ms | failed | slow connections (closed by service, held median / max s) | peak RSS MiB (idle) | peak fds | peak threads | log during |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, got in results["services"].items():
        b, d, s, svc, log = got["baseline"], got["under_slow_clients"], got["slow_clients"], got["service"], got["log"]
        rows.append(f"| {name} | {b['p50_ms']} / {b['max_ms']} | {d['p50_ms']} / {d['p95_ms']} / {d['max_ms']} | {d['failed']} of {d['count']} "
                    f"| {s['connections']} ({s['closed_by_service']}, {s['held_median_s']} / {s['held_max_s']}) "
                    f"| {svc['peak_rss_kib'] / 1024:.0f} ({svc['idle']['rss_kib'] / 1024:.0f}) | {svc['peak_fds']} | {svc['peak_threads']} "
                    f"| {log['lines']} lines, {log['bytes']} B, {log['problems']} problems |")
    lines = ["\n".join(rows), ""]
    lines += [f"- [{'x' if ok else ' '}] {goal}" for goal, ok in results["goals"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: run, write the JSON results, print the table; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help=f"slow clients per service (1-{MAX_CLIENTS})")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds of legitimate requests among the slow clients")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between legitimate requests")
    parser.add_argument("--baseline", type=int, default=10, help="legitimate requests before the slow clients")
    parser.add_argument("--goal-ms", type=float, default=100.0)
    parser.add_argument("--services", default=",".join(SERVICES), help="comma-separated, of " + ", ".join(SERVICES))
    parser.add_argument("--service-nofile", type=int, default=None, help="the services' soft descriptor limit (default: inherited)")
    parser.add_argument("--max-connections", type=int, default=None, help="the listeners' --max-connections (default: theirs)")
    parser.add_argument("--bootstrap", default=None, help="an existing broker (default: start the embedded one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) afterwards")
    args = parser.parse_args(argv)
    chosen = tuple(s.strip() for s in args.services.split(",") if s.strip())
    if not chosen or set(chosen) - set(SERVICES):
        parser.error(f"--services: choose from {', '.join(SERVICES)}")
    workdir = Path(tempfile.mkdtemp(prefix="vigil-slow-clients-"))
    try:
        results = asyncio.run(run(args.clients, args.hold, args.every, args.baseline, args.bootstrap, workdir, chosen, args.service_nofile,
                                  args.max_connections))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["goals"] = goals(results, args.goal_ms)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"slow-clients-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-c{args.clients}.json"
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(table(results))
    print(f"results: {out}" + (f"; work folder {workdir}" if args.keep else ""))
    return 0 if all(results["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
