"""Replaying a synthetic year with the follow-up protocol F1-F4 loaded (issue 18): tasks made, tasks per second, and
the ratio to the same replay without follow-ups.

    python -m load_tests.bench_tasks [--year 2025] [--repeat 3]

The year is load_tests/bench_replay.py's shootings-only scenario (every shooting as EIDO, every person-shot victim an
HL7 arrival 5-40 minutes later): the worst case, every line a core step. Three runs in the same process on the same
lines, each a fresh core state, timed from the parsed scenario to the end (parsing included, as bench_replay):
- without follow-ups: the bundled protocols with their follow-ups section taken out (a temporary file);
- with follow-ups: the bundled protocols as they are, F1-F4 included: tasks made, their reminders and overdue notices (nothing
  closes them, so every task goes overdue in the year);
- with follow-ups and the worker's metrics: the same, each step also fed to ``WorkerMetrics.followups`` as
  ``ActivationAgent._observe`` feeds it (the open and overdue counts recounted on the steps that touch a task).
Each run is repeated and the fastest kept; judge by the ratios (same process, same machine), not the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from load_tests.bench_replay import scenario_lines
from rules.protocols import load_protocols
from stream.core.deployment import Deployment, load_deployment
from stream.core.replay import Replay, read_scenario
from stream.core.state import Config, CoreState
from stream.core.step import step
from stream.model.events import CoreInput
from stream.model.timeline import TaskCreated, TaskOverdue
from stream.ops.metrics import WorkerMetrics
from tests.rules.followups_fixture import bundled_text, without_followups

KEY = b"bench-tasks-key"
JURISDICTION = "minneapolis"


@dataclass
class Run:
    """One timed replay: its seconds, the inputs stepped, and what the steps made."""

    seconds: float
    steps: int
    intents: int
    tasks: Counter[str] = field(default_factory=Counter)  # tasks made, by kind
    overdue: int = 0
    recounts: int = 0  # steps on which the metrics walked the state
    metrics_seconds: float = 0.0  # inside WorkerMetrics.followups, of ``seconds``

    @property
    def made(self) -> int:
        """Tasks made in the run."""
        return sum(self.tasks.values())


def baseline_config(deployment: Deployment, folder: Path) -> Config:
    """The bundled deployment's core config without its follow-ups section (the same config as the run with, but the
    follow-ups; no rosters, as the run with)."""
    path = folder / "protocols.yaml"
    path.write_text(without_followups(bundled_text()), encoding="utf-8")
    return Config(deployment.coverage, load_protocols(path, teams=set(deployment.coverage.teams)))


def replay(lines: list[str], deployment: Deployment, config: Config, metrics: WorkerMetrics | None = None) -> Run:
    """Replay ``lines`` through the core's step under ``config`` (a final tick 2 hours after the last line), timed;
    with ``metrics``, each step also fed to the follow-up metrics as the worker feeds them."""
    parser = Replay(deployment, CoreState(), KEY, config=config)
    state = CoreState()
    tasks: Counter[str] = Counter()
    steps = intents = overdue = recounts = 0
    in_metrics = 0.0
    started = time.perf_counter()
    scenario = read_scenario(lines)
    moments = [(parser.input_of(line), line.at) for line in scenario]
    moments.append((CoreInput(type="tick"), scenario[-1].at + timedelta(hours=2)))
    for item, at in moments:
        if item is None:
            continue
        state, done = step(state, item, at, config)
        steps += 1
        intents += len(done.outcome.intents)
        for record in done.outcome.timeline:
            if isinstance(record, TaskCreated):
                tasks[record.task_kind] += 1
            elif isinstance(record, TaskOverdue):
                overdue += 1
        if metrics is not None:
            before = time.perf_counter()
            recounts += metrics.followups(JURISDICTION, done.outcome, state.activations.values, done.forgotten)
            in_metrics += time.perf_counter() - before
    return Run(time.perf_counter() - started, steps, intents, tasks, overdue, recounts, in_metrics)


def fastest(repeat: int, run) -> Run:
    """The fastest of ``repeat`` runs (the others only warmed the caches or met a busy moment)."""
    return min((run() for _ in range(repeat)), key=lambda r: r.seconds)


def measure(lines: list[str], deployment: Deployment, folder: Path, repeat: int = 1) -> dict:
    """The three runs on ``lines`` (see the module) and their ratios."""
    base = baseline_config(deployment, folder)
    with_tasks = Config(deployment.coverage, deployment.protocols)
    assert not base.protocols.spec.followups.tasks and with_tasks.protocols.spec.followups.tasks
    without = fastest(repeat, lambda: replay(lines, deployment, base))
    tasks = fastest(repeat, lambda: replay(lines, deployment, with_tasks))
    observed = fastest(repeat, lambda: replay(lines, deployment, with_tasks, WorkerMetrics(CollectorRegistry())))
    assert observed.made == tasks.made
    return {
        "lines": len(lines), "steps": tasks.steps,
        "without_followups": {"seconds": round(without.seconds, 3), "steps_per_s": round(without.steps / without.seconds),
                              "intents": without.intents},
        "with_followups": {"seconds": round(tasks.seconds, 3), "steps_per_s": round(tasks.steps / tasks.seconds), "intents": tasks.intents,
                           "tasks": tasks.made, "tasks_by_kind": dict(sorted(tasks.tasks.items())), "overdue": tasks.overdue,
                           "tasks_per_s": round(tasks.made / tasks.seconds)},
        "with_followups_and_metrics": {"seconds": round(observed.seconds, 3), "steps_per_s": round(observed.steps / observed.seconds),
                                       "recounts": observed.recounts, "metrics_seconds": round(observed.metrics_seconds, 4),
                                       "metrics_us_per_step": round(observed.metrics_seconds / observed.steps * 1e6, 1)},
        # > 1: slower than without; the throughput ratio is its inverse
        "time_ratio_followups": round(tasks.seconds / without.seconds, 3),
        "time_ratio_metrics": round(observed.seconds / tasks.seconds, 3),
    }


def main() -> int:
    """Run the measurement, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("load_tests/results"))
    args = parser.parse_args()
    deployment = load_deployment()
    with tempfile.TemporaryDirectory() as folder:
        results = measure(scenario_lines(args.year), deployment, Path(folder), args.repeat)
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "year": args.year, "repeat": args.repeat, **results, "command": "python -m load_tests.bench_tasks"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench-tasks-{results['date'][:10]}.json").write_text(json.dumps(results, indent=2))
    w, t, m = results["without_followups"], results["with_followups"], results["with_followups_and_metrics"]
    print(f"{results['machine']}\n\nsynthetic year {args.year}, shootings only: {results['lines']} lines, {results['steps']} steps "
          f"(fastest of {args.repeat})\n")
    print("| run | seconds | steps/s | tasks made | tasks/s | time vs without |\n|---|---|---|---|---|---|")
    print(f"| without follow-ups | {w['seconds']} | {w['steps_per_s']} | 0 | - | 1.00 |")
    print(f"| with F1-F4 | {t['seconds']} | {t['steps_per_s']} | {t['tasks']} | {t['tasks_per_s']} | {results['time_ratio_followups']:.2f} |")
    print(f"| with F1-F4 and the worker's metrics | {m['seconds']} | {m['steps_per_s']} | {t['tasks']} | "
          f"{round(t['tasks'] / m['seconds'])} | {m['seconds'] / w['seconds']:.2f} |")
    print(f"\ntasks by kind: {t['tasks_by_kind']}; overdue notices: {t['overdue']}; metrics recounts: {m['recounts']} of {results['steps']} steps, "
          f"{m['metrics_seconds']} s inside WorkerMetrics.followups ({m['metrics_us_per_step']} µs a step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
