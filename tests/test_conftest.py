"""The test run's own arrangements (tests/conftest.py) hold: every file that uses the served demo is in the one unit
`make test` gives a single process (else a second process starts a second demo, a minute of both cores)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import SERVED_DEMO_FILES, ServedDemoScheduling

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_using_the_served_demo_is_in_its_unit() -> None:
    uses = {str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py")
            if re.search(r"def test_\w+\([^)]*\bserved_demo\b", path.read_text(encoding="utf-8"))}
    assert uses == SERVED_DEMO_FILES


def test_the_served_demo_files_are_one_scope_and_the_others_one_each() -> None:
    scheduling = ServedDemoScheduling.__new__(ServedDemoScheduling)  # _split_scope reads nothing of the instance
    scopes = {scheduling._split_scope(f"{path}::test_x") for path in SERVED_DEMO_FILES}
    assert scopes == {"served-demo"}
    assert scheduling._split_scope("tests/browser/test_board.py::test_x") == "tests/browser/test_board.py"
