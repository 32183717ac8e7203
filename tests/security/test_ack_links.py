"""Ack links refused, with their status codes, on both the page (GET) and the answer (POST): a forged or
tampered link, an expired one, and one for a team not alerted about the activation (a used link is not
refused: its answer may change, and a replayed answer is recorded once, see the last test). A refused link publishes nothing and does not use the link up. The messages each case shows
are tested one by one in tests/reviews/web/test_answers.py; this is the table of them."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from notifiers.ack_links import AckSigner
from reviews.web.answers import RECORDING_GRACE
from stream.model.events import stable_id
from tests.reviews.web.fixtures import BASE_URL, NOW, RECIPIENT, TTL, Service

pytestmark = pytest.mark.database

REFUSALS = {
    # kind: (status, what the page says)
    "forged": (403, "This link is not valid"),
    "tampered": (403, "This link is not valid"),
    "other secret": (403, "This link is not valid"),
    "malformed": (403, "This link is not valid"),
    "other team": (403, "This link is not for a team alerted about this activation"),
    "expired": (410, "This link expired at 22:34"),
}


def bad_link(service: Service, kind: str) -> str:
    """A link of the given kind for the street team's alert."""
    token = service.link_path().removeprefix("/ack/")
    payload, signature = token.split(".")
    if kind == "forged":
        return f"/ack/{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    if kind == "tampered":  # a genuine link with its team changed, signature kept
        fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        fields["t"] = "gvi-outreach"
        edited = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).rstrip(b"=").decode()
        return f"/ack/{edited}.{signature}"
    if kind == "other secret":
        return f"/ack/{AckSigner(b'some-other-secret-16b', BASE_URL).token(service.intents[0], RECIPIENT, NOW)}"
    if kind == "malformed":
        return f"/ack/{payload}"
    if kind == "other team":  # genuinely signed, but vi-south-phillips was never told about this activation
        other = service.intents[0].model_copy(update={"team": "vi-south-phillips", "intent_id": "int-other"})
        path = service.link_path(other)
        service.now = NOW + RECORDING_GRACE + timedelta(seconds=1)  # past "still being recorded" (503)
        return path
    if kind == "expired":
        service.now = NOW + TTL + timedelta(seconds=1)
        return service.link_path()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", REFUSALS)
def test_a_bad_link_is_refused(service: Service, kind: str) -> None:
    path = bad_link(service, kind)
    published = len(service.published)
    status, message = REFUSALS[kind]
    for response in (service.client.get(path), service.client.post(path, data={"response": "on_my_way"})):
        assert (response.status_code, message in response.text) == (status, True), response.text
    assert len(service.published) == published  # nothing more reached the acks topic
    assert service.store.ack_token_use(stable_id("ack", service.intents[0].intent_id, RECIPIENT)) is None


def test_the_genuine_link_still_works_after_every_bad_one(service: Service) -> None:
    for kind in ("forged", "tampered", "other secret", "malformed", "other team"):
        bad_link(service, kind)
    assert service.client.post(service.link_path(), data={"response": "ack"}).status_code == 200
    assert [(m.team, m.response) for m in service.published] == [("vi-north-nearnorth", "ack")]


def test_a_replayed_answer_is_published_once(service: Service) -> None:
    path = service.link_path()
    assert service.client.post(path, data={"response": "ack"}).status_code == 200
    for _ in range(3):
        again = service.client.post(path, data={"response": "ack"})
        assert again.status_code == 409 and "This link was already used at 22:04 (Acknowledge)" in again.text
    assert [m.response for m in service.published] == ["ack"]
