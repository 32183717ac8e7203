"""The live board's latency: a stored answer to its row changing in a real Chromium (issue 17).

    python -m load_tests.bench_board [--out board.json]

Runs tests/browser/test_board.py's latency test as a benchmark (VIGIL_BOARD_BENCH): 50 answers appended to the
review store at random phases of the board's 0.5 s poll, each timed from just before the insert to the page's
MutationObserver seeing it. Prints p50, p99 and their ratios to the poll interval, writes them to ``--out``, and
fails when p50 >= 2x or p99 >= 4x the interval (docs/benchmarks.md, "Live board"). `make test` runs the same
test with 8 answers and no speed bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    """Run the benchmark; its exit code is pytest's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vigil-board-latency.json")
    args = parser.parse_args()
    env = {**os.environ, "VIGIL_BOARD_BENCH": str(args.out)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                             "tests/browser/test_board.py", "-k", "latency"], env=env, check=False)
    if args.out.exists():
        print(json.dumps(json.loads(args.out.read_text()), indent=2))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
