"""Fuzzing the parsers with hypothesis: random and mutated EIDO, HL7 and CSV input.

Whatever comes in, the only way out is an event, a skip, or a dead letter with a reason; nothing
raises, and every outcome serialises. About 13,000 cases per run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.feeds.hl7 import ingest_hl7
from stream.feeds.hl7_builder import AdtMessage
from stream.feeds.ingest import ingest_cad
from stream.feeds.opendata import ingest_csv_row, read_csv_rows
from stream.model.events import DeadLetter, ShootingEvent, Skipped
from tests.helpers import JORDAN, shooting

RECEIVED = datetime(2026, 7, 5, 3, 0, tzinfo=UTC)
SECRET = b"fuzz-secret-0123456789"
FUZZ = settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _clean(outcome) -> None:
    assert isinstance(outcome, ShootingEvent | Skipped | DeadLetter)
    if isinstance(outcome, DeadLetter):
        assert outcome.reason and outcome.detail
    outcome.model_dump_json()  # everything that comes out can be written to a topic


def _mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    for _ in range(data.draw(st.integers(1, 6))):
        if not raw:
            break
        at = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip":
            raw = raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1 :]
        elif op == "insert":
            raw = raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]
        elif op == "delete":
            raw = raw[:at] + raw[at + data.draw(st.integers(1, 16)) :]
        else:
            raw = raw[:at]
    return raw


def _mutate_json(data: st.DataObject, node):
    """Replace, drop or retype one randomly chosen part of a JSON document."""
    if isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        op = data.draw(st.sampled_from(["recurse", "drop", "replace"]))
        if op == "drop":
            return {k: v for k, v in node.items() if k != key}
        value = _mutate_json(data, node[key]) if op == "recurse" else data.draw(json_values)
        return {**node, key: value}
    if isinstance(node, list) and node:
        at = data.draw(st.integers(0, len(node) - 1))
        return node[:at] + [_mutate_json(data, node[at])] + node[at + 1 :]
    return data.draw(json_values)


@FUZZ
@given(st.binary(max_size=300))
def test_eido_random_bytes(raw: bytes) -> None:
    _clean(ingest_cad(raw, _rules(), RECEIVED))


@FUZZ
@given(json_values)
def test_eido_random_json(value) -> None:
    _clean(ingest_cad(json.dumps(value), _rules(), RECEIVED))


@FUZZ
@given(st.data())
def test_eido_mutated_documents(data: st.DataObject) -> None:
    doc = shooting("FUZZ-1", JORDAN, victim_ages=[17, None])
    for _ in range(data.draw(st.integers(1, 4))):
        doc = _mutate_json(data, doc)
    raw = json.dumps(doc).encode()
    if data.draw(st.booleans()):
        raw = _mutate_bytes(data, raw)
    _clean(ingest_cad(raw, _rules(), RECEIVED))


@FUZZ
@given(st.text(max_size=400))
def test_hl7_random_text(text: str) -> None:
    _clean(ingest_hl7(text, _rules(), SECRET, RECEIVED))


@FUZZ
@given(st.data())
def test_hl7_mutated_messages(data: st.DataObject) -> None:
    message = AdtMessage("FUZZ-H1", "hcmc", datetime(2026, 7, 4, 22, 10, tzinfo=ZoneInfo("America/Chicago"))).render()
    segments = message.split("\r")
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(segments) - 1))
        fields = segments[at].split("|")
        field = data.draw(st.integers(0, len(fields) - 1))
        op = data.draw(st.sampled_from(["field", "drop_segment", "separator", "duplicate"]))
        if op == "field":
            fields[field] = data.draw(st.text(max_size=30))
            segments[at] = "|".join(fields)
        elif op == "drop_segment":
            segments.pop(at) if len(segments) > 1 else None
        elif op == "separator":
            segments[at] = segments[at].replace(data.draw(st.sampled_from("|^~\\&")), data.draw(st.text(max_size=2)))
        else:
            segments.insert(at, segments[at])
    raw = "\r".join(segments).encode()
    if data.draw(st.booleans()):
        raw = _mutate_bytes(data, raw)
    _clean(ingest_hl7(raw, _rules(), SECRET, RECEIVED))


CSV_COLUMNS = ["Type", "Case_Number", "Reported_Date", "Latitude", "Longitude", "Offense", "Neighborhood",
               "caseNumber", "reportedDate", "reportedTime", "reportedDateTime", "description", "centerLat", "centerLong"]


@FUZZ
@given(st.dictionaries(st.sampled_from(CSV_COLUMNS) | st.text(max_size=10), st.none() | st.text(max_size=30) |
                       st.sampled_from(["Gunshot Wound Victims", "Shots Fired Calls", "2024/06/01 03:15:00+00", "44.98", "-93.27", "0"]), max_size=10))
def test_csv_random_rows(row) -> None:
    _clean(ingest_csv_row(row, _rules(), RECEIVED))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600))
def test_csv_random_files(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(b"Type,Case_Number,Reported_Date,Latitude,Longitude\n" + raw)
    for row in read_csv_rows(path):
        _clean(ingest_csv_row(row, _rules(), RECEIVED))


_RULES = []


def _rules():
    # hypothesis runs each example many times: load the deployment's classification once
    if not _RULES:
        from stream.core.deployment import load_deployment

        _RULES.append(load_deployment().classification)
    return _RULES[0]
