"""What happens to a record whose agent raises, crashes the app, or ends the process (Vigil's app and consumer).

    python -m load_tests.agent_failure          (the three cases on an embedded broker; about 2 minutes)
    python -m load_tests.agent_failure child MODE BOOTSTRAP APP_ID TOPIC OUT   (one worker, internal)

Each case: records 0..9 on a one-partition topic, record 3 is b"boom". A first worker runs the agent in MODE
(what it does on b"boom"); then the committed offset of the group is read; then a successor worker (mode
"normal") of the same group shows which records it reads again. Measured 2026-12-02 (faust-streaming 0.15.3):

- raise: Faust restarts the agent in the same process; record 3 is acked on the way out of the stream
  iterator, committed (10) and never read again: the successor reads nothing.
- crash (``await app.crash(exc)``, then never leaving the ``async for`` body): the worker exits 1, committed 3,
  the successor reads 3..9. It depends on the record staying unacked until the consumer's last commit.
- exit (``os._exit``): nothing more is acked or committed; the successor reads everything after the last
  commit (here from 0).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

MODES = {
    "raise": "the agent raises (Faust restarts it)",
    "crash": "the agent calls app.crash(exc), then waits without acking",
    "exit": "the agent calls os._exit(70) (no ack, no commit, no cleanup)",
    "normal": "the agent handles every record",
}


def child(mode: str, bootstrap: str, app_id: str, topic_name: str, out: str) -> None:
    import faust

    from stream.runtime.transport import VigilApp

    app = VigilApp(app_id, broker=f"kafka://{bootstrap}", store="memory://", processing_guarantee="at_least_once", topic_partitions=1,
                   key_serializer="raw", value_serializer="raw", consumer_auto_offset_reset="earliest", broker_session_timeout=6.0,
                   broker_rebalance_timeout=6.0, broker_heartbeat_interval=1.0, broker_commit_interval=0.5, web_enabled=False)
    topic = app.topic(topic_name, value_type=bytes, key_type=bytes)
    seen: list[int] = []

    def note(**fields) -> None:
        with open(out, "a") as f:
            f.write(json.dumps(fields) + "\n")

    @app.agent(topic, concurrency=1)
    async def agent(stream):
        note(event="agent_started")
        async for event in stream.events():
            offset = event.message.offset
            seen.append(offset)
            note(event="handling", offset=offset, value=event.value.decode())
            if event.value == b"boom" and mode != "normal":
                if mode == "raise":
                    raise RuntimeError("boom")
                if mode == "crash":
                    await app.crash(RuntimeError("boom"))
                    await asyncio.sleep(3600)
                if mode == "exit":
                    os._exit(70)
            note(event="handled", offset=offset)

    @app.timer(interval=0.5)
    async def stop_when_done() -> None:
        if seen and seen[-1] == 9:
            await asyncio.sleep(2.0)  # two commit intervals
            note(event="done", seen=seen)
            os._exit(0)

    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


async def committed(bootstrap: str, app_id: str, topic: str) -> int | None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=app_id, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in range(10):
            await producer.send_and_wait(topic, b"boom" if n == 3 else f"r{n}".encode(), key=b"k", partition=0)
    finally:
        await producer.stop()


def run_child(mode: str, bootstrap: str, app_id: str, topic: str, out: str, timeout: float = 60.0) -> int | None:
    # the worker's data folder (Faust's datadir) goes next to its output, not into the working directory
    with open(out + ".log", "a") as log:
        root = str(Path(__file__).resolve().parents[1])  # this checkout's code, whatever the working directory
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        process = subprocess.Popen([sys.executable, "-m", "load_tests.agent_failure", "child", mode, bootstrap, app_id, topic, out],
                                   stdout=subprocess.DEVNULL, stderr=log, cwd=str(Path(out).parent), env=env)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def parent() -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from stream.devtools.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap
        for mode in ("raise", "crash", "exit"):
            app_id, topic = f"exp-{mode}-{uuid.uuid4().hex[:6]}", f"exp-{mode}-{uuid.uuid4().hex[:6]}"

            async def setup(topic: str = topic) -> None:
                admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
                await admin.start()
                await admin.create_topics([NewTopic(topic, 1, 1)])
                await admin.close()
                await produce(bootstrap, topic)

            asyncio.run(setup())
            out = str(Path(tempfile.mkdtemp(prefix="vigil-agent-failure-")) / f"{mode}.jsonl")
            for path in (out, out + ".log"):
                if os.path.exists(path):
                    os.remove(path)
            started = time.monotonic()
            code = run_child(mode, bootstrap, app_id, topic, out, timeout=40.0)
            lines = [json.loads(line) for line in open(out)]
            first_handled = [e["offset"] for e in lines if e["event"] == "handled"]
            first_seen = [e["offset"] for e in lines if e["event"] == "handling"]
            restarts = sum(e["event"] == "agent_started" for e in lines)
            after_first = asyncio.run(committed(bootstrap, app_id, topic))
            succ_out = out.replace(".jsonl", "-successor.jsonl")
            for path in (succ_out, succ_out + ".log"):
                if os.path.exists(path):
                    os.remove(path)
            run_child("normal", bootstrap, app_id, topic, succ_out, timeout=40.0)
            successor = [e["offset"] for e in (json.loads(line) for line in open(succ_out)) if e["event"] == "handling"]
            print(json.dumps({"mode": mode, "what": MODES[mode], "first worker exit code (None: still running, killed)": code,
                              "seconds": round(time.monotonic() - started, 1), "agent starts": restarts,
                              "first worker read": first_seen, "first worker finished": first_handled,
                              "committed after the first worker": after_first, "successor read": successor}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(*sys.argv[2:7])
    else:
        parent()
