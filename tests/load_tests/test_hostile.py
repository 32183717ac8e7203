"""The hostile-input harness: its mutators are reproducible, its reconciliation catches what it must, and a
small run against real services (the session's broker, a real worker, `vigil hl7-listen`, `vigil
ingest-http`, `vigil web`) meets every goal."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from load_tests import hostile
from load_tests.mutators import TokenPool, ack_case, csv_case, eido_case, hl7_case, ingest_case
from stream.feeds.ingest import ingest_cad
from stream.model.events import DeadLetter, ShootingEvent

NOW = datetime(2026, 7, 5, 3, 0, tzinfo=UTC)
POOL = TokenPool(real=("aaaa.bbbbbbbbbbbbbbbbbbbbbb",), expired=("cccc.dddddddddddddddddddddd",),
                 other_team=("eeee.ffffffffffffffffffffff",), foreign=("gggg.hhhhhhhhhhhhhhhhhhhhhh",))


def _fingerprint(case) -> tuple:
    return (case.kind, tuple(case.mutations), case.payload, tuple(case.chunks), case.method, case.path,
            tuple(sorted(case.headers.items())), case.raw_http, case.token, json.dumps(case.form))


@pytest.mark.parametrize("make", [lambda s, i: eido_case(s, i), lambda s, i: hl7_case(s, i), lambda s, i: csv_case(s, i),
                                  lambda s, i: ingest_case(s, i, "tok"), lambda s, i: ack_case(s, i, POOL)],
                         ids=["eido", "hl7", "csv", "ingest", "ack"])
def test_cases_are_reproducible_from_seed_and_index(make) -> None:
    first = [_fingerprint(make(7, i)) for i in range(60)]
    assert first == [_fingerprint(make(7, i)) for i in range(60)]
    assert first != [_fingerprint(make(8, i)) for i in range(60)]  # another seed, other cases
    assert len(set(first)) > 25  # and the indices differ from each other (ack cases share a one-token pool)


def test_mutations_cover_every_family_and_leave_some_inputs_valid() -> None:
    names: Counter[str] = Counter()
    valid = 0
    for i in range(1500):
        for case in (eido_case(3, i), hl7_case(3, i), csv_case(3, i), ingest_case(3, i, "tok"), ack_case(3, i, POOL)):
            names.update(case.mutations)
            valid += case.valid
    for expected in ("byte_flip", "truncate", "wrong_encoding", "delete_field", "swap_type", "huge_value", "bad_timestamp",
                     "hostile_pidf", "surrogates", "whole_document", "oversize", "no_end_block", "two_frames_one_write",
                     "oversize_unframed", "huge_cell", "quote_chaos", "no_auth", "wrong_token", "raw_bad_request",
                     "oversize_body", "altered_char", "expired", "other_team", "forged_other_key", "unknown_answer"):
        assert names[expected] > 0, expected
    assert 0.1 < valid / 7500 < 0.4


def test_valid_eido_cases_are_accepted_by_the_core(deployment) -> None:
    valid = [c for c in (eido_case(5, i) for i in range(200)) if c.valid]
    outcomes = [ingest_cad(c.payload, deployment.classification, NOW) for c in valid]
    assert valid and not [o for o in outcomes if isinstance(o, DeadLetter)]
    assert any(isinstance(o, ShootingEvent) for o in outcomes)


def test_reconcile_reports_a_missing_dead_letter_and_an_unexpected_one(deployment) -> None:
    """The check can fail: a dead letter that never came, and one nobody expected (a stage failure)."""
    case = eido_case(1, 0)
    rejected = ingest_cad(b"not json", deployment.classification, NOW)
    other = ingest_cad(b"[]", deployment.classification, NOW)
    assert isinstance(rejected, DeadLetter) and isinstance(other, DeadLetter)
    tallies = {"eido": hostile.Tally()}
    pending = [hostile._pending_of(case, rejected, tallies["eido"])]
    stray = other.model_copy(update={"source": "activation", "reason": "activation_failed"})
    found = hostile.reconcile(pending, [], [stray.model_dump_json().encode()], tallies)
    assert tallies["eido"].mismatches[0]["problem"] == "dead letter missing"
    assert found["unexpected_dead_letters"] and tallies["eido"].reconciled == 0


def test_reconcile_matches_events_and_dead_letters_one_for_one(deployment) -> None:
    from stream.model.events import CoreInput

    valid = next(c for c in (eido_case(5, i) for i in range(200))
                 if c.valid and isinstance(ingest_cad(c.payload, deployment.classification, NOW), ShootingEvent))
    event = ingest_cad(valid.payload, deployment.classification, NOW)
    letter = ingest_cad(b"not json", deployment.classification, NOW)
    tallies = {"eido": hostile.Tally()}
    pending = [hostile._pending_of(valid, event, tallies["eido"]), hostile._pending_of(valid, letter, tallies["eido"]),
               hostile._pending_of(valid, letter, tallies["eido"])]
    found = hostile.reconcile(pending, [CoreInput(type="event", event=event).model_dump_json().encode()],
                              [letter.model_dump_json().encode()], tallies)
    # the second identical rejection has no record of its own: one dead letter for two inputs is a drop
    assert tallies["eido"].reconciled == 2 and len(tallies["eido"].mismatches) == 1
    assert found["unexpected_events"] == 0


def test_expected_mllp_acks_follow_the_framing(deployment) -> None:
    case = hl7_case(1, 0)
    good = b"MSH|^~\\&|EDIS|hcmc|VIGIL|DNS|20260704221000||ADT^A08^ADT_A01|C1|P|2.5.1"
    case.chunks = [b"junk\x0b" + good + b"\x1c\x0d" + b"\x0bnot hl7\x1c\x0d" + b"\x0bunterminated"]
    assert [a[:2] for a in hostile.expect_mllp(case, deployment, NOW)] == [("AA", ""), ("AR", "not_hl7")]
    case.chunks = [b"\x0b" + b"A" * 1_100_000]
    assert [a[:2] for a in hostile.expect_mllp(case, deployment, NOW)] == [("AR", "message over")]


def test_scan_logs_finds_tracebacks_and_errors(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text('{"event": "stage.failed", "level": "error", "exception": []}\n'
                                         '{"event": "ack.refused", "level": "warning"}\n{"event": "fine", "level": "info"}\n')
    (tmp_path / "web.log").write_text("Traceback (most recent call last):\n")
    problems, examples, refused = hostile.scan_logs({p.stem: p for p in tmp_path.glob("*.log")})
    assert problems == {"worker": 1, "web": 1} and refused == 1 and len(examples) == 2


@pytest.mark.integration
async def test_a_small_hostile_run_meets_every_goal(kafka_bootstrap: str, tmp_path: Path) -> None:
    results = await hostile.run(2000, 11, kafka_bootstrap, tmp_path, drain_timeout=120)
    summary = hostile.table(results)
    assert results["goals"] == {"no_crash": True, "no_unhandled_exception": True, "dead_letters_equal_rejected": True,
                                "every_input_reconciled": True}, summary
    kinds = results["kinds"]
    assert sum(k["sent"] for k in kinds.values()) == 2000 + hostile.SEEDS
    # every path was taken: accepted, refused at the edge, dead-lettered
    assert kinds["eido"]["expected_events"] and kinds["eido"]["expected_skipped"] and sum(kinds["eido"]["observed_dead_letters"].values())
    assert kinds["hl7"]["observed_dead_letters"] and kinds["hl7"]["accepted_at_edge"]["AA"]
    assert kinds["ingest"]["accepted_at_edge"]["202"] and kinds["ingest"]["refused_at_edge"]
    assert kinds["csv"]["refused_at_edge"] and kinds["csv"]["accepted_at_edge"]
    assert results["acks"]["answered_200"] > 0 and kinds["ack"]["refused_at_edge"]
