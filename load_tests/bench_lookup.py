"""Coverage lookup speed: `coverage.at(lat, lon, when)` on a year of synthetic shootings.

    python -m load_tests.bench_lookup [--calls 200000]

Places and moments come from the synthetic history (load_tests/history.py), plus points in the cells
across the city's outer boundary (the exact point-in-polygon path). Goal (coverage issue): <= 20 µs per call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import h3

from load_tests.history import generate_year
from stream.core.deployment import load_deployment

GOAL_US = 20.0


def timed(calls: list[tuple[float, float, datetime]], coverage, rounds: int = 5) -> float:
    """Best of ``rounds`` mean µs per call (the best run has the least interference from the machine)."""
    means = []
    for _ in range(rounds):
        started = time.perf_counter()
        for lat, lon, when in calls:
            coverage.at(lat, lon, when)
        means.append((time.perf_counter() - started) / len(calls) * 1e6)
    return min(means)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=Path("load_tests/results"))
    args = parser.parse_args()
    coverage = load_deployment().coverage
    year = generate_year(2025)
    history = [(e.lat, e.lon, e.reported_at) for e in year]
    calls = (history * (args.calls // len(history) + 1))[: args.calls]
    edge = [(*h3.cell_to_latlng(c), year[i % len(year)].reported_at) for i, c in enumerate(coverage.edge_cells)]
    edge_calls = (edge * (args.calls // 10 // len(edge) + 1))[: args.calls // 10]
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "history_points_us": round(timed(calls, coverage), 2),
        "edge_cell_points_us": round(timed(edge_calls, coverage), 2),
        "calls": len(calls),
        "goal_us": GOAL_US,
        "command": "python -m load_tests.bench_lookup",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench-lookup-{results['date'][:10]}.json").write_text(json.dumps(results, indent=2))
    print(f"{results['machine']}\n\n| points | calls | µs per call (best of 5) | goal |\n|---|---|---|---|")
    print(f"| a year of synthetic shootings | {len(calls)} | {results['history_points_us']} | {GOAL_US} |")
    print(f"| cells across the city boundary | {len(edge_calls)} | {results['edge_cell_points_us']} | {GOAL_US} |")
    slowest = max(results["history_points_us"], results["edge_cell_points_us"])
    raise SystemExit(0 if slowest <= GOAL_US else 1)


