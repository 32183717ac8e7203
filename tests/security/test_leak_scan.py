"""The leak scan (load_tests/leak_scan.py): its matching, and a full run of the demo pipeline with three
leaks planted on purpose, which must be found, and nothing else (so the rest of the run is clean)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from load_tests.leak_scan import Planted, needles, scan

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VALUE = "qzsecret0123456789abcdef/+!"


@pytest.mark.parametrize(("blob", "encoding"), [
    (VALUE, "as is, any case"),
    (VALUE.upper(), "as is, any case"),
    (quote(VALUE, safe=""), "URL-encoded"),
    (quote(VALUE), "URL-encoded"),
    *[(base64.b64encode(prefix + VALUE.encode() + b"tail").decode(), "base64") for prefix in (b"", b"x", b"xy", b"xyz")],
    *[(base64.urlsafe_b64encode(prefix + VALUE.encode()).decode(), "base64url") for prefix in (b"", b"x", b"xy")],
])
def test_a_planted_value_is_found_in_each_encoding(blob: str, encoding: str) -> None:
    found = scan(Planted({"the secret": VALUE}), {"somewhere": f"before {blob} after".encode()})
    # where base64url and base64 spell a value alike, it is reported once, as base64
    assert found in ([f"LEAK  somewhere: the secret ({encoding})"], ["LEAK  somewhere: the secret (base64)"])
    assert len(found) == 1


def test_clean_text_has_no_finding() -> None:
    assert scan(Planted({"the secret": VALUE}), {"somewhere": b"qzsecret0123 and 456789abcdef, apart"}) == []


def test_every_needle_is_long_enough_not_to_match_by_chance() -> None:
    assert all(len(text) >= 8 for _, text in needles("qzpass0123456789"))


def test_a_full_run_finds_exactly_the_planted_leaks(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "load_tests.leak_scan", "--plant-leak", "--workdir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=280)
    report = run.stdout
    assert run.returncode == 1, report + run.stderr[-3000:]
    assert "PROBLEM" not in report
    assert sorted(line.strip() for line in report.splitlines() if line.strip().startswith("LEAK")) == [
        "LEAK  file demo.out: patient family name (as is, any case)",
        "LEAK  file review.sqlite: review password (URL-encoded)",
        "LEAK  table audit_log: review password (URL-encoded)",
        "LEAK  topic dlq: VIGIL_ACK_SECRET (base64)",
    ]
    assert "result   4 finding(s)" in report
