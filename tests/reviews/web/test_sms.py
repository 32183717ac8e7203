"""``POST /sms/inbound``: an alert answered by SMS reply, on SQLite and PostgreSQL, through the real app and
store (only the broker's publish is a recording function, as in the answer-page tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.sms_replies import short_code, twilio_signature
from reviews.store import ReviewStore
from reviews.web.app import create_web_app
from reviews.web.sms import SmsInbound
from stream.core.activations import handle_event
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from stream.model.events import AckMessage, NotificationIntent, stable_id
from stream.model.timeline import AckRecorded, AlertDelivered, IntentCreated, RecipientResult
from tests.helpers import JORDAN, RECEIVED, as_bytes, shooting
from tests.reviews.web.fixtures import CHICAGO, SECRET

TOKEN = "twilio-auth-token-for-tests"
PUBLIC_URL = "https://vigil.example.org/mpls/sms/inbound"
ANA = "+16125550101"
ANA_RCPT = "rcpt-ana"
BEN = "+16125550102"  # a team's shared phone: no person
BEN_RCPT = "rcpt-team"
NOW = RECEIVED + timedelta(minutes=2)


@dataclass
class Gateway:
    """The app under test, its store, the intents of one Jordan shooting, and what was published."""

    client: TestClient
    store: ReviewStore
    intents: list[NotificationIntent]
    published: list[AckMessage] = field(default_factory=list)
    fail_publish: bool = False
    sids: int = 0

    def deliver(self, intent: NotificationIntent, recipient_id: str = ANA_RCPT) -> None:
        """Record that ``intent``'s alert reached ``recipient_id``."""
        self.store.append([AlertDelivered(
            entry_id=stable_id("tl", intent.activation_id, "delivery", intent.intent_id, recipient_id), activation_id=intent.activation_id,
            at=RECEIVED + timedelta(seconds=1), intent_id=intent.intent_id, team=intent.team, status="delivered",
            recipients=(RecipientResult(recipient="twilio://...0101", status="delivered", elapsed_ms=40.0, recipient_id=recipient_id),),
        )])

    def reply(self, body: str, phone: str = ANA, sid: str | None = None, token: str = TOKEN, signature: str | None = None):
        """Post a reply as Twilio would, signed with ``token`` (or with ``signature`` as given)."""
        self.sids += 1
        form = {"MessageSid": sid or f"SM{self.sids:032d}", "From": phone, "To": "+16125550000", "Body": body, "NumMedia": "0"}
        sig = signature if signature is not None else twilio_signature(token, PUBLIC_URL, list(form.items()))
        return self.client.post("/sms/inbound", data=form, headers={"X-Twilio-Signature": sig})

    def audit(self) -> list[tuple[str, str | None]]:
        """(action, detail) of the audit log, oldest first."""
        return [(e.action, e.detail) for e in reversed(self.store.audit_entries(100))]


@pytest.fixture
def gateway(db_url: str, deployment) -> Iterator[Gateway]:
    """The web app with SMS replies on, over a store holding one Jordan shooting (two teams alerted)."""
    store = ReviewStore(db_url)
    store.create_schema()
    event = classify_cad(parse_eido(as_bytes(shooting("MPLS-W1", JORDAN))), deployment.classification, RECEIVED)
    outcome = handle_event(CoreState(), event, RECEIVED, Config(deployment.coverage, deployment.protocols))
    store.append(outcome.timeline)
    holder: list[Gateway] = []

    async def publish(message: AckMessage) -> None:
        if holder[0].fail_publish:
            raise ConnectionError("broker down")
        holder[0].published.append(message)

    sms = SmsInbound(auth_token=TOKEN, public_url=PUBLIC_URL, phones={ANA: frozenset({ANA_RCPT}), BEN: frozenset({BEN_RCPT})},
                     languages=("es",), people={ANA_RCPT: "ana-r"})
    app = create_web_app(AckSigner(SECRET, "https://vigil.example.org/mpls"), store, publish, lambda: NOW, zone=CHICAGO, sms=sms)
    with TestClient(app) as client:
        holder.append(Gateway(client, store, list(outcome.intents)))
        try:
            yield holder[0]
        finally:
            store.dispose()


def message_of(response) -> str:
    """The text of a TwiML reply."""
    assert response.headers["content-type"].startswith("application/xml")
    found = re.fullmatch(r'<\?xml version="1.0" encoding="UTF-8"\?><Response><Message>(.*)</Message></Response>', response.text)
    assert found, response.text
    return found.group(1)


def test_a_good_reply_answers_the_alert_and_is_confirmed(gateway: Gateway) -> None:
    intent = gateway.intents[0]
    gateway.deliver(intent)
    response = gateway.reply("2")
    assert response.status_code == 200
    assert message_of(response) == (f"Vigil: On my way — recorded for {intent.team} (alert {short_code(intent.intent_id)}) at 22:06. "
                                    "Thank you. Escalation stopped: DNS on-call will not be told.")
    [ack] = gateway.published
    assert (ack.ref, ack.team, ack.response, ack.recipient, ack.person) == ("MPLS-W1", intent.team, "on_my_way", ANA_RCPT, "ana-r")
    assert gateway.audit()[-1] == ("sms_answer", f"{intent.team} {intent.activation_id} on_my_way {short_code(intent.intent_id)}")


@pytest.mark.parametrize(("body", "answer"), [("1", "ack"), ("ACK", "ack"), ("2", "on_my_way"), ("omw", "on_my_way"), ("3 yes", "unable"),
                                              ("NO Y", "unable"), ("Recibido", "ack"), ("voy", "on_my_way"), ("sí 3", "unable")])
def test_each_word_answers(gateway: Gateway, body: str, answer: str) -> None:
    gateway.deliver(gateway.intents[0])
    assert gateway.reply(body).status_code == 200
    assert [m.response for m in gateway.published] == [answer]


def test_a_bad_signature_is_refused_and_audited(gateway: Gateway) -> None:
    gateway.deliver(gateway.intents[0])
    for response in (gateway.reply("1", token="not-the-token"), gateway.reply("1", signature=""), gateway.reply("1", signature="x" * 28)):
        assert response.status_code == 403
        assert response.text == "signature not valid"
    assert gateway.published == []
    assert gateway.audit() == [("sms_refused", "bad_signature")] * 3
    assert TOKEN not in repr(gateway.store.audit_entries(10))


def test_an_unknown_number_gets_a_clear_answer(gateway: Gateway) -> None:
    gateway.deliver(gateway.intents[0])
    response = gateway.reply("1", phone="+16125559999")
    assert message_of(response) == "This number is not on a Vigil team. Please answer with the link in the alert."
    assert gateway.published == []
    [entry] = gateway.store.audit_entries(10)
    assert (entry.action, entry.target, entry.detail) == ("sms_refused", "sms ...9999", "unknown_number")


def test_several_open_alerts_need_the_code(gateway: Gateway) -> None:
    first, second = gateway.intents[0], gateway.intents[1]
    gateway.deliver(first)
    gateway.deliver(second)
    codes = sorted((short_code(first.intent_id), short_code(second.intent_id)))
    text = message_of(gateway.reply("2"))
    assert text.startswith("Vigil: You have 2 open alerts: reply with the answer and the alert's code")
    assert all(code in text for code in codes)
    assert gateway.published == []
    assert gateway.audit()[-1][1].startswith("not_an_answer: You have 2 open alerts")
    assert gateway.reply(f"2 {short_code(second.intent_id).lower()}").status_code == 200
    assert [(m.team, m.response) for m in gateway.published] == [(second.team, "on_my_way")]


def test_an_unknown_code_is_named(gateway: Gateway) -> None:
    intent = gateway.intents[0]
    gateway.deliver(intent)
    wrong = next(c for c in ("ZZ", "YY") if c != short_code(intent.intent_id))
    assert message_of(gateway.reply(f"1 {wrong}")) == f"Vigil: No open alert has the code {wrong}; your open alerts: {short_code(intent.intent_id)}"
    assert gateway.published == []
    assert gateway.audit()[-1][0] == "sms_refused"


def test_not_an_answer_is_told_how_to_answer(gateway: Gateway) -> None:
    gateway.deliver(gateway.intents[0])
    assert message_of(gateway.reply("who is this?")).startswith("Vigil: Reply with 1 (acknowledge), 2 (on my way) or 3 (can't respond)")
    assert gateway.published == []


def test_no_open_alert(gateway: Gateway) -> None:
    assert message_of(gateway.reply("1")) == "Vigil: You have no open Vigil alert to answer"


def test_a_replayed_message_is_refused(gateway: Gateway) -> None:
    gateway.deliver(gateway.intents[0])
    assert gateway.reply("2", sid="SM-once").status_code == 200
    again = gateway.reply("2", sid="SM-once")
    assert again.status_code == 200
    assert message_of(again) == "Vigil: this reply was already recorded at 22:06 (On my way)."
    assert len(gateway.published) == 1
    assert gateway.audit()[-1] == ("sms_refused", "replay")


def test_a_failed_publish_releases_the_message_for_a_retry(gateway: Gateway) -> None:
    gateway.deliver(gateway.intents[0])
    gateway.fail_publish = True
    response = gateway.reply("1", sid="SM-retry")
    assert response.status_code == 503
    assert message_of(response) == "Vigil could not record your answer. Please reply again."
    gateway.fail_publish = False
    assert gateway.reply("1", sid="SM-retry").status_code == 200
    assert len(gateway.published) == 1


def test_a_form_missing_fields_or_too_big_is_a_400(gateway: Gateway) -> None:
    form = {"From": ANA, "Body": "1"}
    signed = {"X-Twilio-Signature": twilio_signature(TOKEN, PUBLIC_URL, list(form.items()))}
    assert gateway.client.post("/sms/inbound", data=form, headers=signed).status_code == 400
    assert gateway.client.post("/sms/inbound", data={"Body": "1" * 2000}).status_code == 400
    assert gateway.client.post("/sms/inbound", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}).status_code in (400, 403)


def test_replies_are_off_without_settings(db_url: str) -> None:
    store = ReviewStore(db_url)
    store.create_schema()

    async def publish(message: AckMessage) -> None:
        raise AssertionError("nothing to publish")

    app = create_web_app(AckSigner(SECRET, "https://vigil.example.org/mpls"), store, publish, lambda: NOW)
    with TestClient(app) as client:
        assert client.post("/sms/inbound", data={"Body": "1"}).status_code == 404
    store.dispose()


def test_settings_refuse_an_empty_token_and_plain_http() -> None:
    with pytest.raises(ValueError, match="auth token is empty"):
        SmsInbound(auth_token="", public_url=PUBLIC_URL, phones={})
    with pytest.raises(ValueError, match="must be https://"):
        SmsInbound(auth_token=TOKEN, public_url="http://vigil.example.org/sms/inbound", phones={})
    assert TOKEN not in repr(SmsInbound(auth_token=TOKEN, public_url=PUBLIC_URL, phones={}))


def test_the_answer_changes_by_reply_and_3_asks_to_confirm(gateway: Gateway) -> None:
    # issue 16, item 6 by SMS: 1, then 2, then 3 (confirmed with YES), each published once
    intent = gateway.intents[0]
    code = short_code(intent.intent_id)
    gateway.deliver(intent)
    assert gateway.reply("1").status_code == 200
    # the core records her ack: the team has answered, and her alert stays open to her so she can change it
    gateway.store.append([AckRecorded(entry_id="tl-ack-ana", activation_id=intent.activation_id, at=NOW, team=intent.team, first=True,
                                      within_deadline=True, response="ack", person="ana-r")])
    assert "On my way — recorded" in message_of(gateway.reply("2"))
    asked = message_of(gateway.reply("3"))
    assert asked.startswith(f"Vigil: Can't respond to alert {code}?") and asked.endswith(f"Reply 3 {code} YES to confirm.")
    assert [m.response for m in gateway.published] == ["ack", "on_my_way"]  # asking is not answering
    confirmed = message_of(gateway.reply(f"3 {code} yes"))
    assert confirmed.startswith(f"Vigil: Can't respond — recorded for {intent.team} (alert {code}) at 22:06.")
    assert confirmed.endswith("Thank you. DNS on-call will be told at once.")  # her ack withdrawn: nobody else stands answered
    again = message_of(gateway.reply("2"))
    assert again == "Vigil: this reply was already recorded at 22:06 (On my way)."
    assert [(m.response, m.person) for m in gateway.published] == [("ack", "ana-r"), ("on_my_way", "ana-r"), ("unable", "ana-r")]


def test_an_alert_someone_else_answered_is_closed_to_a_phone_that_did_not(gateway: Gateway) -> None:
    intent = gateway.intents[0]
    gateway.deliver(intent, BEN_RCPT)
    gateway.store.append([AckRecorded(entry_id="tl-ack-ana", activation_id=intent.activation_id, at=NOW, team=intent.team, first=True,
                                      within_deadline=True, response="on_my_way", person="ana-r")])
    assert message_of(gateway.reply("2", phone=BEN)) == "Vigil: You have no open Vigil alert to answer"
# ---- the alert's language --------------------------------------------------------------------------


def in_language(gateway: Gateway, language: str, intent: NotificationIntent | None = None, person: str | None = None) -> NotificationIntent:
    """An alert like ``intent`` (the first) written in ``language`` (to ``person``, a page of the team's people): its
    IntentCreated stored with that language."""
    intent = intent or gateway.intents[0]
    record = next(r for r in gateway.store.records(intent.activation_id) if isinstance(r, IntentCreated) and r.intent_id == intent.intent_id)
    other = f"{intent.intent_id}-{language}"
    update = {"intent_id": other, "language": language, "person": person}
    gateway.store.append([record.model_copy(update={"entry_id": f"{record.entry_id}-{language}", **update})])
    return intent.model_copy(update=update)


def test_a_reply_to_a_spanish_alert_is_confirmed_in_spanish(gateway: Gateway) -> None:
    intent = in_language(gateway, "es")
    gateway.deliver(intent)
    response = gateway.reply("voy", sid="SM-es")
    assert message_of(response) == (f"Vigil: Voy en camino — registrado para {intent.team} (alerta {short_code(intent.intent_id)}) a las "
                                    "22:06. Gracias. Escalada detenida: no se avisará a la guardia de DNS.")  # what follows, as in English
    assert [m.response for m in gateway.published] == ["on_my_way"]
    assert message_of(gateway.reply("voy", sid="SM-es")) == "Vigil: esta respuesta ya se registró a las 22:06 (Voy en camino)."
    gateway.deliver(intent, BEN_RCPT)
    gateway.store.append([AckRecorded(entry_id="ack-es", activation_id=intent.activation_id, at=NOW, team=intent.team, first=True,
                                      within_deadline=True, response="on_my_way")])  # the core recorded the answer: no alert is open
    # to another phone of the team (the phone that answered keeps it open, to change its answer)
    assert message_of(gateway.reply("1", phone=BEN)) == "Vigil: No tiene ninguna alerta de Vigil abierta para responder"
    assert gateway.audit()[-1] == ("sms_refused", "not_an_answer: You have no open Vigil alert to answer")  # the audit keeps English


def test_a_spanish_cant_respond_by_reply_says_the_next_person_is_paged(gateway: Gateway) -> None:
    # the team pages its people one by one: a "can't respond" pages the next person; DNS on-call only when nobody is left
    intent = in_language(gateway, "es", person="ana-r")
    code = short_code(intent.intent_id)
    gateway.deliver(intent)
    asked = message_of(gateway.reply("3"))
    assert asked == (f"Vigil: ¿No puede responder a la alerta {code}? «No puedo responder» llama ahora a la siguiente persona de "
                     f"guardia; solo si no queda nadie se avisa de inmediato a la guardia de DNS. Responda 3 {code} SÍ para confirmar.")
    confirmed = message_of(gateway.reply(f"3 {code} sí"))
    assert confirmed == (f"Vigil: No puedo responder — registrado para {intent.team} (alerta {code}) a las 22:06. Gracias. Se llama ahora "
                         f"a la siguiente persona de guardia de {intent.team}; si no queda nadie, se avisa de inmediato a la guardia de DNS.")
    assert [(m.response, m.person) for m in gateway.published] == [("unable", "ana-r")]


@pytest.mark.parametrize(("language", "body", "answer", "confirmed"), [
    ("so", "imanaya", "on_my_way", "Vigil: Waan soo socdaa — waa loo diiwaangeliyay"),
    ("hmn", "tuaj", "on_my_way", "Vigil: Kuv tab tom tuaj — sau tseg rau"),
])
def test_somali_and_hmong_words_answer_an_alert_in_that_language(gateway: Gateway, language: str, body: str, answer: str,
                                                                  confirmed: str) -> None:
    gateway.deliver(in_language(gateway, language))  # the deployment's settings name only Spanish: the alert's language counts
    assert message_of(gateway.reply(body)).startswith(confirmed)
    assert [m.response for m in gateway.published] == [answer]


def test_not_an_answer_is_told_how_to_answer_in_the_alerts_language(gateway: Gateway) -> None:
    gateway.deliver(in_language(gateway, "so"))
    assert message_of(gateway.reply("waa maxay?")).startswith("Vigil: Ku jawaab 1 (waa la helay), 2 (waan soo socdaa) ama 3 (ma jawaabi karo)")
    assert gateway.published == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:8600/sms/inbound", "http://localhost:8600/sms/inbound", "http://[::1]:8600/sms/inbound"])
def test_plain_http_is_allowed_on_this_machine_only(url: str) -> None:
    # the demo's inbox plays the gateway on the same machine: no network to cross, nothing to encrypt
    assert SmsInbound(auth_token=TOKEN, public_url=url, phones={}).public_url == url
    for remote in ("http://127.0.0.1.example.org/sms/inbound", "http://10.0.0.5/sms/inbound", "http://localhost.evil.example/sms"):
        with pytest.raises(ValueError, match="must be https://"):
            SmsInbound(auth_token=TOKEN, public_url=remote, phones={})


def test_open_alerts_and_the_confirmation_s_time_are_on_the_activations_clock(db_url: str, deployment) -> None:
    # `vigil demo` runs its worker on the sample's evening while links and sessions keep the real clock: an
    # alert of that evening is still open, and the confirmation says the evening's time, as the timeline will
    store = ReviewStore(db_url)
    store.create_schema()
    event = classify_cad(parse_eido(as_bytes(shooting("MPLS-W2", JORDAN))), deployment.classification, RECEIVED)
    outcome = handle_event(CoreState(), event, RECEIVED, Config(deployment.coverage, deployment.protocols))
    store.append(outcome.timeline)
    published: list[AckMessage] = []

    async def publish(message: AckMessage) -> None:
        published.append(message)

    sms = SmsInbound(auth_token=TOKEN, public_url=PUBLIC_URL, phones={ANA: frozenset({ANA_RCPT})})
    real_now = NOW + timedelta(days=150)
    app = create_web_app(AckSigner(SECRET, "https://vigil.example.org/mpls"), store, publish, lambda: real_now, zone=CHICAGO, sms=sms,
                         review_clock=lambda: NOW)
    try:
        with TestClient(app) as client:
            gateway = Gateway(client, store, list(outcome.intents))
            gateway.deliver(outcome.intents[0])
            response = gateway.reply("2")
    finally:
        store.dispose()
    assert message_of(response).startswith("Vigil: On my way — recorded for") and "at 22:06. Thank you." in message_of(response)
    assert [m.response for m in published] == ["on_my_way"]
