"""Ack links: signed, expiring tokens; every refusal has its reason, and the link fits an SMS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from notifiers.ack_links import AckClaim, AckSigner, AckTokenError, TaskClaim
from stream.model.events import NotificationIntent, stable_id

SECRET = b"0123456789abcdef-test-secret"
BASE_URL = "https://vigil.example.org/mpls"  # 30 characters, the brief's yardstick
NOW = datetime(2026, 7, 5, 3, 4, 5, tzinfo=UTC)
RECIPIENT = "tel:+1...0123/north1"  # a 20-character recipient label


def _intent(team: str = "vi-north-nearnorth", refs: tuple[str, ...] = ("MPLS-2607",), **kw: object) -> NotificationIntent:
    activation = stable_id("act", "minneapolis", "eido:MPLS-2607")
    fields: dict = {
        "intent_id": stable_id("int", activation, team, "P2", "initial"),
        "activation_id": activation,
        "team": team,
        "protocol": "P2",
        "step": "initial",
        "refs": refs,
        "title": "VIGIL: Person shot - Jordan",
        "body": "Person shot near Jordan.",
        "created_at": NOW,
    }
    return NotificationIntent(**{**fields, **kw})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(payload_bytes: bytes, secret: bytes = SECRET) -> str:
    """A token over arbitrary payload bytes, signed as the signer signs (first 16 bytes of HMAC-SHA256)."""
    payload = _b64(payload_bytes)
    return f"{payload}.{_b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:16])}"


def _reason(token: str, now: datetime = NOW, signer: AckSigner | None = None) -> str:
    with pytest.raises(AckTokenError) as info:
        (signer or AckSigner(SECRET, BASE_URL)).verify(token, now)
    assert str(info.value)  # every refusal says something in plain words
    return info.value.reason


def test_round_trip_gives_back_the_claim() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    intent = _intent()
    claim = signer.verify(signer.token(intent, RECIPIENT, NOW), NOW + timedelta(hours=1))
    assert claim == AckClaim(
        token_id=stable_id("ack", intent.intent_id, RECIPIENT),
        activation_id=intent.activation_id,
        ref="MPLS-2607",
        team="vi-north-nearnorth",
        recipient=RECIPIENT,
        intent_id=intent.intent_id,
        expires_at=NOW + timedelta(hours=12),
    )
    assert claim.expires_at.tzinfo is not None


def test_ref_is_the_intents_first_ref_and_an_intent_without_refs_is_refused() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    assert signer.verify(signer.token(_intent(refs=("FIRST", "SECOND")), RECIPIENT, NOW), NOW).ref == "FIRST"
    with pytest.raises(ValueError, match="no report ref"):
        signer.token(_intent(refs=()), RECIPIENT, NOW)


def test_link_is_the_base_url_and_the_token() -> None:
    signer = AckSigner(SECRET, BASE_URL + "/")
    link = signer.link(_intent(), RECIPIENT, NOW)
    assert link == f"{BASE_URL}/ack/{signer.token(_intent(), RECIPIENT, NOW)}"


def test_token_id_is_deterministic_per_intent_and_recipient() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    first = signer.verify(signer.token(_intent(), RECIPIENT, NOW), NOW)
    # the same alert re-sent later carries the same token id, so single use holds across re-sends
    resent = signer.verify(signer.token(_intent(), RECIPIENT, NOW + timedelta(minutes=5)), NOW + timedelta(minutes=5))
    assert resent.token_id == first.token_id
    other_recipient = signer.verify(signer.token(_intent(), "tel:+1...0456", NOW), NOW)
    other_team = signer.verify(signer.token(_intent(team="gvi-outreach"), RECIPIENT, NOW), NOW)
    assert len({first.token_id, other_recipient.token_id, other_team.token_id}) == 3


def test_valid_exactly_at_expiry_and_expired_one_second_after() -> None:
    signer = AckSigner(SECRET, BASE_URL, ttl=timedelta(minutes=30))
    token = signer.token(_intent(), RECIPIENT, NOW)
    expiry = NOW + timedelta(minutes=30)
    assert signer.verify(token, expiry).expires_at == expiry
    with pytest.raises(AckTokenError) as info:
        signer.verify(token, expiry + timedelta(seconds=1))
    assert info.value.reason == "expired"
    assert info.value.expires_at == expiry
    assert str(info.value) == "this link expired at 03:34"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-dot-at-all",
        "a.b.c",
        ".",
        "eyJhIjoxfQ.",
        "!!!notbase64!!!.AAAAAAAAAAAAAAAAAAAAAA",
        "eyJhIjoxfQ.short",
        "eyJhIjoxfQ.AAAAAAAAAAAAAAAAAAAAAA==",  # padding is not part of the format
        "x" * 5000,
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert _reason(token) == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe not utf-8",
        b"not json",
        b"[1, 2, 3]",
        b'{"a": "act-1", "r": "R", "t": "team", "u": "u", "i": "int-1"}',  # no expiry
        b'{"a": "act-1", "r": "R", "t": "team", "u": "u", "e": 1783224245}',  # no intent
        b'{"a": "act-1", "r": "", "t": "team", "u": "u", "i": "int-1", "e": 1783224245}',  # empty ref
        b'{"a": "act-1", "r": "R", "t": 7, "u": "u", "i": "int-1", "e": 1783224245}',  # team not text
        b'{"a": "act-1", "r": "R", "t": "team", "u": "u", "i": "int-1", "e": "1783224245"}',  # expiry not a number
        b'{"a": "act-1", "r": "R", "t": "team", "u": "u", "i": "int-1", "e": true}',
        b'{"a": "act-1", "r": "R", "t": "team", "u": "u", "i": "int-1", "e": 99999999999999999999}',
    ],
)
def test_well_signed_but_unreadable_payloads_are_malformed(payload: bytes) -> None:
    assert _reason(_signed(payload)) == "malformed"


def test_a_hand_signed_payload_in_the_format_is_accepted() -> None:
    # proves the malformed cases above fail on their payload, not on the way the test signs
    payload = b'{"a": "act-1", "r": "R", "t": "team", "u": "u", "i": "int-1", "e": 1783224245}'
    assert AckSigner(SECRET, BASE_URL).verify(_signed(payload), NOW).team == "team"


def test_changed_payload_is_forged() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    payload, signature = signer.token(_intent(), RECIPIENT, NOW).split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields["t"] = "gvi-outreach"  # someone tries to ack for another team
    changed = _b64(json.dumps(fields, separators=(",", ":")).encode())
    assert _reason(f"{changed}.{signature}") == "forged"


def test_one_changed_character_is_forged() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    payload, signature = signer.token(_intent(), RECIPIENT, NOW).split(".")
    flipped = ("B" if signature[-1] != "B" else "C")
    assert _reason(f"{payload}.{signature[:-1]}{flipped}") == "forged"
    assert _reason(f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{signature}") == "forged"


def test_token_of_another_secret_is_forged() -> None:
    other = AckSigner(b"another-secret-of-16+bytes", BASE_URL)
    assert _reason(other.token(_intent(), RECIPIENT, NOW)) == "forged"
    assert _reason(_signed(b'{"a":"act-1","r":"R","t":"team","u":"u","i":"int-1","e":1783224245}', b"x" * 16)) == "forged"


def test_forgery_is_checked_before_expiry() -> None:
    # an old forged token must not learn anything from an "expired" answer
    other = AckSigner(b"another-secret-of-16+bytes", BASE_URL)
    assert _reason(other.token(_intent(), RECIPIENT, NOW), now=NOW + timedelta(days=2)) == "forged"


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes, got 15"):
        AckSigner(b"x" * 15, BASE_URL)
    AckSigner(b"x" * 16, BASE_URL)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AckSigner(SECRET, BASE_URL).token(_intent(), RECIPIENT, datetime(2026, 7, 5, 3, 4))


def test_link_length_fits_the_sms_budget() -> None:
    assert len(BASE_URL) == 30
    link = AckSigner(SECRET, BASE_URL).link(_intent(), RECIPIENT, NOW)
    # the number in notifiers/ack_links.py's docstring
    assert len(link) == 253
    assert len(link) < 260
    # a full masked Apprise URL does not fit: the docstring says so
    masked = "twilio://...aaaa:b...b@%2B15551234567/%2B16125550123/?overflow=upstream&format=text&retry=0&wait=0.5&optional=no&method=sms"
    assert len(AckSigner(SECRET, BASE_URL).link(_intent(), masked, NOW)) == 390


def test_a_persons_page_carries_the_person_and_keeps_its_token_id() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    team_claim = signer.verify(signer.token(_intent(), RECIPIENT, NOW), NOW)
    person_claim = signer.verify(signer.token(_intent(person="ana-r", channel="sms"), RECIPIENT, NOW), NOW)
    assert (team_claim.person, person_claim.person) == (None, "ana-r")
    # the token id still names (intent, recipient): the person is vouched for by the signature, not by the id
    assert person_claim.token_id == stable_id("ack", person_claim.intent_id, RECIPIENT)


def test_a_token_made_before_people_is_still_verified() -> None:
    # the payload of a link sent before person pages existed: no "p" key
    payload = b'{"a":"act-1","r":"R","t":"vi-central","u":"rcpt-1","i":"int-1","e":1783224245}'
    claim = AckSigner(SECRET, BASE_URL).verify(_signed(payload), NOW)
    assert (claim.team, claim.person) == ("vi-central", None)


@pytest.mark.parametrize("person", [b'""', b"7", b"null", b'["ana"]'])
def test_a_person_that_is_not_a_name_is_malformed(person: bytes) -> None:
    payload = b'{"a":"act-1","r":"R","t":"vi-central","u":"rcpt-1","i":"int-1","e":1783224245,"p":' + person + b"}"
    assert _reason(_signed(payload)) == "malformed"


def test_a_persons_link_length() -> None:
    # a roster id of 8 characters adds 20 characters: the number in notifiers/ack_links.py's docstring
    signer = AckSigner(SECRET, BASE_URL)
    assert len(signer.link(_intent(person="ana-r123"), RECIPIENT, NOW)) - len(signer.link(_intent(), RECIPIENT, NOW)) == 20


# --- task links (issue 18): the same scheme, the task's id in the payload, each kind refused where the other is read

TASK_ID = stable_id("task", "act-x", "vi-north-nearnorth", "family_contact", "2026-07-06T22:15:00-05:00")


def _task_intent(**kw: object) -> NotificationIntent:
    return _intent(refs=(), **{"purpose": "task", "task_id": TASK_ID, "person": "ana-r", **kw})


def test_a_task_link_round_trips_with_its_task_id_and_lives_seven_days() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    intent = _task_intent()
    link = signer.task_link(intent, RECIPIENT, NOW)
    assert link.startswith(f"{BASE_URL}/task/")
    claim = signer.verify_task(link.rsplit("/", 1)[1], NOW + timedelta(days=7))
    assert claim == TaskClaim(token_id=stable_id("task-link", intent.intent_id, RECIPIENT), activation_id=intent.activation_id,
                              task_id=TASK_ID, team="vi-north-nearnorth", recipient=RECIPIENT, intent_id=intent.intent_id,
                              expires_at=NOW + timedelta(days=7), person="ana-r")
    with pytest.raises(AckTokenError) as info:
        signer.verify_task(link.rsplit("/", 1)[1], NOW + timedelta(days=7, seconds=1))
    assert info.value.reason == "expired"


def test_a_task_link_is_not_an_answer_link_nor_an_answer_link_a_task_link() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    task_token = signer.task_token(_task_intent(), RECIPIENT, NOW)
    ack_token = signer.token(_intent(), RECIPIENT, NOW)
    assert _reason(task_token) == "malformed"
    with pytest.raises(AckTokenError) as info:
        signer.verify_task(ack_token, NOW)
    assert info.value.reason == "malformed" and "does not close a follow-up task" in str(info.value)
    # a payload with both a ref and a task id, genuinely signed, is neither
    both = _signed(json.dumps({"a": "act-1", "r": "MPLS-1", "k": TASK_ID, "t": "t", "u": "u", "i": "int-1",
                               "e": int(NOW.timestamp()) + 60}).encode())
    assert _reason(both) == "malformed"
    with pytest.raises(AckTokenError):
        signer.verify_task(both, NOW)


def test_a_task_links_task_id_is_covered_by_the_signature() -> None:
    signer = AckSigner(SECRET, BASE_URL)
    payload, signature = signer.task_token(_task_intent(), RECIPIENT, NOW).split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields["k"] = "task-of-somebody-else"
    with pytest.raises(AckTokenError) as info:
        signer.verify_task(f"{_b64(json.dumps(fields, separators=(',', ':')).encode())}.{signature}", NOW)
    assert info.value.reason == "forged"
    with pytest.raises(AckTokenError) as info:
        AckSigner(b"another-secret-0123456789", BASE_URL).verify_task(f"{payload}.{signature}", NOW)
    assert info.value.reason == "forged"


def test_a_task_links_length() -> None:
    # the numbers in notifiers/ack_links.py's docstring
    signer = AckSigner(SECRET, BASE_URL)
    assert len(signer.task_link(_task_intent(person=None), RECIPIENT, NOW)) == 275
    assert len(signer.task_link(_task_intent(person="ana-r123"), RECIPIENT, NOW)) == 295


def test_only_a_tasks_intent_gets_a_task_link() -> None:
    with pytest.raises(ValueError, match="no task id"):
        AckSigner(SECRET, BASE_URL).task_token(_intent(), RECIPIENT, NOW)
