"""How long `vigil publish` takes for a synthetic year (issue 19).

    python -m load_tests.bench_publish [--year 2025] [--db-url URL]

The year is load_tests/bench_replay.py's shootings-only scenario (every shooting as EIDO, every person-shot victim an
HL7 arrival 5-40 minutes later), run through the core step by step with every timeline record kept, as the worker
stores them: every alert delivered a second after it is made (as tests.helpers.CoreRun), four street-team alerts in
five answered 1-9 minutes after they were sent (the rest run to their escalation), and half the follow-up tasks closed
before their due time. The records go into a review store (a fresh SQLite file unless --db-url names another), then
two timings of the whole year (1 January to 31 December, judged on 1 February of the next year):
- ``publish()``: reading the store, the figures and writing the site (the deployment already loaded);
- the command: `vigil publish` as a new process (its interpreter start and the deployment's loading included).
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from load_tests.bench_replay import scenario_lines
from reviews.publish.site import publish
from reviews.store import ReviewStore
from stream.core.deployment import load_deployment
from stream.core.replay import Replay, read_scenario
from stream.core.state import CoreState
from stream.core.step import step
from stream.model.events import AckMessage, CoreInput, TaskClose, stable_id
from stream.model.timeline import AlertDelivered, RecipientResult, TaskCreated, TimelineRecord

ANSWERED_SHARE = 0.8
CLOSED_SHARE = 0.5


def year_records(year: int, deployment) -> list[TimelineRecord]:
    """The synthetic year's timeline records, with deliveries, answers and task closings (module docstring)."""
    rnd = random.Random(11)
    run = Replay(deployment, CoreState(), b"bench-publish-key")
    records: list[TimelineRecord] = []
    later: list[tuple[datetime, int, CoreInput]] = []  # answers and closings, fed in time order between the lines

    def keep(at: datetime, item: CoreInput) -> None:
        run.state, done = step(run.state, item, at, run.config)  # type: ignore[arg-type]
        records.extend(done.outcome.timeline)
        for intent in done.outcome.intents:
            records.append(AlertDelivered(
                entry_id=stable_id("tl", intent.activation_id, "delivery", intent.intent_id), activation_id=intent.activation_id,
                at=intent.created_at + timedelta(seconds=1), intent_id=intent.intent_id, team=intent.team, status="delivered",
                recipients=(RecipientResult(recipient=f"json://inbox/{intent.team}", status="delivered", elapsed_ms=40.0),)))
            if intent.ack_deadline is not None and intent.purpose == "alert" and rnd.random() < ANSWERED_SHARE:
                answer = CoreInput(type="ack", ack=AckMessage(ref=intent.activation_id, team=intent.team))
                heapq.heappush(later, (intent.created_at + timedelta(minutes=rnd.randint(1, 9)), len(later), answer))
        for task in (r for r in done.outcome.timeline if isinstance(r, TaskCreated)):
            if rnd.random() < CLOSED_SHARE:
                closing = TaskClose(task_id=task.task_id, ref=task.activation_id, outcome="done")
                heapq.heappush(later, (task.due - timedelta(hours=rnd.randint(1, 20)), len(later), CoreInput(type="task_close", task_close=closing)))

    for line in read_scenario(scenario_lines(year)):
        while later and later[0][0] <= line.at:
            at, _, item = heapq.heappop(later)
            keep(at, item)
        item = run.input_of(line)
        if item is not None:
            keep(line.at, item)
    while later:
        at, _, item = heapq.heappop(later)
        keep(at, item)
    return records


def main() -> int:
    """Fill a store with the year, time publish() and the command, print the seconds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--db-url", default=None, help="Review store to fill (default: a new SQLite file in a temporary folder).")
    args = parser.parse_args()
    deployment = load_deployment()
    with tempfile.TemporaryDirectory() as folder:
        db_url = args.db_url or f"sqlite:///{Path(folder) / 'review.sqlite'}"
        started = time.perf_counter()
        records = year_records(args.year, deployment)
        store = ReviewStore(db_url)
        store.create_schema()
        store.append(records)
        filled = time.perf_counter() - started
        now = datetime(args.year + 1, 2, 1, tzinfo=UTC)
        communities = sorted(set(deployment.coverage.neighborhood_community.values()))
        started = time.perf_counter()
        files = publish(store, date(args.year, 1, 1), date(args.year, 12, 31), deployment.coverage.zone, now, Path(folder) / "site", communities)
        in_process = time.perf_counter() - started
        store.dispose()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stream.cli", "publish", "--db-url", db_url, "--from", f"{args.year}-01-01", "--to",
                        f"{args.year}-12-31", "--out", str(Path(folder) / "site-command"), "--now", now.isoformat()], check=True,
                       stdout=subprocess.DEVNULL)
        command = time.perf_counter() - started
    print(f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"synthetic year {args.year}: {len(records)} timeline records stored in {filled:.1f} s ({db_url.split(':')[0]})")
    print(f"publish(): {in_process:.2f} s, {len(files)} files")
    print(f"vigil publish (a new process): {command:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
