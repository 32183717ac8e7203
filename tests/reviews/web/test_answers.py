"""The answer pages behind an alert's link (reviews/web/answers.py): a real review store (SQLite and PostgreSQL), a
signer, and a recording publisher."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from notifiers.ack_links import AckSigner
from reviews.model import Follows
from reviews.texts import TEXTS, text
from reviews.web.answers import RECORDING_GRACE, answer_confirmation, cant_respond_hint, next_step
from stream.core.activations import advance, handle_ack, handle_event
from stream.core.phrases import ENGLISH
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from stream.model.events import AckMessage, NotificationIntent, stable_id
from stream.model.timeline import AckRecorded, IntentCreated
from tests.helpers import JORDAN, RECEIVED, as_bytes, shooting
from tests.reviews.web.fixtures import BASE_URL, CHICAGO, NOW, RECIPIENT, TTL, Service

pytestmark = pytest.mark.database


def test_the_intents_are_the_street_team_and_gvi(service: Service) -> None:
    # the other tests rely on this: intents[0] is the street team, and both teams are stored as alerted
    assert [i.team for i in service.intents] == ["vi-north-nearnorth", "gvi-outreach"]


def test_page_shows_the_team_the_activation_and_three_buttons(service: Service) -> None:
    page = service.client.get(service.link_path())
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "vi-north-nearnorth" in html
    assert service.intents[0].activation_id[:12] in html
    assert "22:34 CDT" in html  # expiry, in the deployment's time
    assert '<form method="post">' in html
    for value, label in [("ack", "Acknowledge"), ("on_my_way", "On my way"), ("unable", "Can&#39;t respond")]:
        assert f'name="response" value="{value}"' in html and label in html
    body = html.split("<body>")[1]
    # no JS, no external assets: the only address off the site is the OpenStreetMap link, a link and not a load
    assert "<script" not in html and "src=" not in body and body.count("http") == 1 and 'href="https://www.openstreetmap.org/' in body
    assert service.published == []  # looking is not answering


def test_post_ack_publishes_one_message_and_confirms(service: Service) -> None:
    intent = service.intents[0]
    answer = service.client.post(service.link_path(), data={"response": "ack"})
    assert answer.status_code == 200
    assert "Acknowledged — thank you" in answer.text
    assert service.published == [
        AckMessage(ref="MPLS-W1", team="vi-north-nearnorth", response="ack", recipient=RECIPIENT,
                   token_id=stable_id("ack", intent.intent_id, RECIPIENT))
    ]
    assert intent.refs[0] == "MPLS-W1"


@pytest.mark.parametrize(
    ("response", "confirmation"),
    # gvi-outreach has no deadline and no escalation: nobody else is told of its "can't respond"
    [("on_my_way", "On my way — recorded"),
     ("unable", "Noted: you can&#39;t respond. No one else is told automatically for this alert.")],
)
def test_other_answers_are_published_as_given(service: Service, response: str, confirmation: str) -> None:
    answer = service.client.post(service.link_path(service.intents[1]), data={"response": response, "confirm": "yes"})
    assert answer.status_code == 200 and confirmation in answer.text
    assert [(m.team, m.response) for m in service.published] == [("gvi-outreach", response)]


def _read(response) -> str:
    """A page's text as the person holding the phone reads it."""
    return html.unescape(response.text)


def test_cant_respond_says_dns_oncall_will_be_told_only_when_an_escalation_follows(service: Service) -> None:
    street, gvi = service.intents  # the street team has a deadline and an escalation to dns-oncall; gvi-outreach neither
    assert "Can't respond tells DNS on-call at once." in _read(service.client.get(service.link_path(street)))
    assert "Can't respond is noted; no one else is told automatically for this alert." in _read(service.client.get(service.link_path(gvi)))
    told = service.client.post(service.link_path(street), data={"response": "unable", "confirm": "yes"})
    assert told.status_code == 200 and "Can't respond — DNS on-call will be told" in _read(told)
    untold = service.client.post(service.link_path(gvi), data={"response": "unable", "confirm": "yes"})
    assert untold.status_code == 200
    assert "Noted: you can't respond. No one else is told automatically for this alert." in _read(untold)
    assert "will be told" not in _read(untold)
    assert [(m.team, m.response) for m in service.published] == [("vi-north-nearnorth", "unable"), ("gvi-outreach", "unable")]


def _jordan_core(deployment) -> tuple[CoreState, Config]:
    """The core state behind the service's store (the same shooting, the same ids)."""
    config = Config(deployment.coverage, deployment.protocols)
    state = CoreState()
    event = classify_cad(parse_eido(as_bytes(shooting("MPLS-W1", JORDAN))), deployment.classification, RECEIVED)
    handle_event(state, event, RECEIVED, config)
    return state, config


def test_cant_respond_after_the_escalation_fired_says_who_was_already_told(service: Service, deployment) -> None:
    state, config = _jordan_core(deployment)
    fired = advance(state, RECEIVED + timedelta(minutes=11), config)  # the street team's 22:14 deadline passed
    assert [i.team for i in fired.intents] == ["dns-oncall"]
    service.store.append(fired.timeline)
    service.now = RECEIVED + timedelta(minutes=12)
    assert "Can't respond is noted; DNS on-call was already told at 22:14." in _read(service.client.get(service.link_path()))
    answer = service.client.post(service.link_path(), data={"response": "unable", "confirm": "yes"})
    assert answer.status_code == 200
    assert "Noted: you can't respond. DNS on-call was already told at 22:14." in _read(answer)
    assert "will be told" not in _read(answer)


def test_cant_respond_after_the_team_acked_tells_nobody(service: Service, deployment) -> None:
    state, config = _jordan_core(deployment)
    acked = handle_ack(state, "MPLS-W1", "vi-north-nearnorth", RECEIVED + timedelta(minutes=1), config, "on_my_way")
    service.store.append(acked.timeline)  # another phone of the team tapped "on my way": its escalation is stopped
    answer = service.client.post(service.link_path(recipient="tel:+1...0456"), data={"response": "unable", "confirm": "yes"})
    assert answer.status_code == 200
    # the other phone is the team's shared one: nobody by name
    assert "Noted: you can't respond. vi-north-nearnorth has answered, so the escalation stays stopped." in _read(answer)


def test_the_same_answer_twice_is_recorded_once(service: Service) -> None:
    path = service.link_path()
    assert service.client.post(path, data={"response": "on_my_way"}).status_code == 200
    service.now = NOW + timedelta(minutes=2)
    again = service.client.post(path, data={"response": "on_my_way"})
    assert again.status_code == 409
    assert "This link was already used at 22:04 (On my way)" in again.text
    # "acknowledge" after "on my way" says nothing new either
    assert "This link was already used at 22:04 (On my way)" in service.client.post(path, data={"response": "ack"}).text
    assert len(service.published) == 1
    # the same alert re-sent carries the same token id: its answers are the link's
    resent = f"/ack/{service.signer.token(service.intents[0], RECIPIENT, NOW + timedelta(minutes=1))}"
    assert "already used" in service.client.post(resent, data={"response": "on_my_way"}).text
    # another recipient of the same team has a link of their own
    assert service.client.post(service.link_path(recipient="tel:+1...0456"), data={"response": "on_my_way"}).status_code == 200
    assert len(service.published) == 2


def test_the_answer_changes_while_the_link_is_valid_and_cant_respond_asks_to_confirm(service: Service) -> None:
    # issue 16, item 6: acknowledge → on my way → can't respond, each recorded and published once
    path = service.link_path()
    acked = service.client.post(path, data={"response": "ack"})
    assert acked.status_code == 200 and "Acknowledged — thank you" in acked.text
    assert "Escalation stopped: DNS on-call will not be told." in _read(acked)
    service.now = NOW + timedelta(minutes=1)
    page = service.client.get(path)
    assert page.status_code == 200 and "Your answer: Acknowledge, 22:04" in _read(page)
    assert 'value="ack"' not in page.text and 'value="on_my_way"' in page.text and 'value="unable"' in page.text
    assert service.client.post(path, data={"response": "on_my_way"}).status_code == 200
    service.now = NOW + timedelta(minutes=3)
    asked = service.client.post(path, data={"response": "unable"})
    assert asked.status_code == 200 and "Yes, I can't respond" in _read(asked)
    assert 'name="confirm" value="yes"' in asked.text
    assert [m.response for m in service.published] == ["ack", "on_my_way"]  # asking is not answering
    confirmed = service.client.post(path, data={"response": "unable", "confirm": "yes"})
    assert confirmed.status_code == 200
    assert [m.response for m in service.published] == ["ack", "on_my_way", "unable"]
    assert {m.token_id for m in service.published} == {stable_id("ack", service.intents[0].intent_id, RECIPIENT)}
    assert "Your answer: Can't respond, 22:07" in _read(service.client.get(path))


def _person_page(service: Service, person: str = "ana-r", language: str = "en") -> tuple:
    """A page of one roster person of the street team (in ``language``), stored as the core records it; its link path."""
    street = service.intents[0]
    intent = street.model_copy(update={"person": person, "channel": "push", "intent_id": f"int-{person}", "language": language})
    service.store.append([IntentCreated(entry_id=f"tl-{person}", activation_id=intent.activation_id, at=NOW, intent_id=intent.intent_id,
                                        team=intent.team, protocol=intent.protocol, step="initial", ack_deadline=street.ack_deadline,
                                        escalates_to=street.escalates_to, person=person, channel="push", language=language)])
    return intent, service.link_path(intent)


def _answer_of(service: Service, person: str, response: str, name: str | None = None) -> AckRecorded:
    return AckRecorded(entry_id=f"tl-ack-{person}-{response}", activation_id=service.intents[0].activation_id, at=NOW + timedelta(minutes=1),
                       team=service.intents[0].team, first=False, within_deadline=True, response=response, person=person, name=name)


def test_a_persons_answers_carry_the_person(service: Service) -> None:
    _, path = _person_page(service)
    assert service.client.post(path, data={"response": "ack"}).status_code == 200
    assert service.client.post(path, data={"response": "unable", "confirm": "yes"}).status_code == 200
    assert [(m.person, m.response) for m in service.published] == [("ana-r", "ack"), ("ana-r", "unable")]
    assert service.client.post(service.link_path(), data={"response": "ack"}).status_code == 200
    assert service.published[-1].person is None  # a team's shared phone: nobody by name


def test_what_follows_before_the_deadline_and_for_a_team_without_one(service: Service) -> None:
    street, gvi = service.intents
    assert "DNS on-call will be told at 22:14 unless someone answers." in _read(service.client.get(service.link_path(street)))
    assert "No one else is told automatically for this alert." in _read(service.client.get(service.link_path(gvi)))
    went = service.client.post(service.link_path(gvi), data={"response": "on_my_way"})
    assert "No one else is told automatically for this alert." in _read(went) and "Escalation" not in _read(went)


def test_what_follows_once_the_escalation_fired(service: Service, deployment) -> None:
    state, config = _jordan_core(deployment)
    service.store.append(advance(state, RECEIVED + timedelta(minutes=11), config).timeline)
    service.now = RECEIVED + timedelta(minutes=12)
    assert "DNS on-call was told at 22:14." in _read(service.client.get(service.link_path()))
    late = service.client.post(service.link_path(), data={"response": "on_my_way"})
    assert "DNS on-call was told at 22:14." in _read(late) and "Escalation stopped" not in _read(late)


def test_cant_respond_after_ones_own_ack_withdraws_it_and_pages_the_next_person(service: Service) -> None:
    _, path = _person_page(service)
    service.store.append([_answer_of(service, "ana-r", "ack")])  # her ack, as the core recorded it
    asked = service.client.post(path, data={"response": "unable"})
    assert "Can't respond pages the next person on call now; DNS on-call is told at once only when nobody is left." in _read(asked)
    confirmed = service.client.post(path, data={"response": "unable", "confirm": "yes"})
    assert ("Noted: you can't respond. The next person on call for vi-north-nearnorth is paged now; if nobody is left, "
            "DNS on-call is told at once.") in _read(confirmed)


def test_cant_respond_while_someone_else_of_the_team_is_going_keeps_the_escalation_stopped(service: Service) -> None:
    _, path = _person_page(service)
    service.store.append([_answer_of(service, "ben-k", "on_my_way", name="Ben")])
    assert "Escalation stopped: Ben answered." in _read(service.client.get(path))
    confirmed = service.client.post(path, data={"response": "unable", "confirm": "yes"})
    assert "Ben answered, so the escalation stays stopped." in _read(confirmed)


def test_expired_link_is_refused_with_its_expiry(service: Service) -> None:
    path = service.link_path()
    service.now = NOW + TTL  # still good at the exact expiry
    assert service.client.get(path).status_code == 200
    service.now = NOW + TTL + timedelta(seconds=1)
    for response in (service.client.get(path), service.client.post(path, data={"response": "ack"})):
        assert response.status_code == 410
        assert "This link expired at 22:34" in response.text
    assert service.published == []


@pytest.mark.parametrize("kind", ["forged", "other_secret", "malformed"])
def test_forged_or_malformed_link_is_not_valid(service: Service, kind: str) -> None:
    token = service.link_path().removeprefix("/ack/")
    payload, signature = token.split(".")
    bad = {
        "forged": f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",
        "other_secret": AckSigner(b"some-other-secret-16b", BASE_URL).token(service.intents[0], RECIPIENT, NOW),
        "malformed": payload,
    }[kind]
    for response in (service.client.get(f"/ack/{bad}"), service.client.post(f"/ack/{bad}", data={"response": "ack"})):
        assert response.status_code == 403
        assert "This link is not valid" in response.text
    assert service.published == []


def test_link_for_a_team_not_alerted_is_refused(service: Service) -> None:
    # genuinely signed, but vi-south-phillips was never told about this activation
    other = service.intents[0].model_copy(update={"team": "vi-south-phillips", "intent_id": "int-other"})
    path = service.link_path(other)
    service.now = NOW + RECORDING_GRACE + timedelta(seconds=1)  # long enough for its alert to be in the store
    for response in (service.client.get(path), service.client.post(path, data={"response": "ack"})):
        assert response.status_code == 403
        assert "This link is not for a team alerted about this activation" in response.text
    assert service.published == []
    assert service.store.ack_token_use(stable_id("ack", "int-other", RECIPIENT)) is None


def test_link_made_moments_ago_whose_alert_is_not_stored_yet_says_try_again(service: Service) -> None:
    """The review store fills from the timeline after the alert went out: a quick tap is not refused."""
    other = service.intents[0].model_copy(update={"team": "vi-south-phillips", "intent_id": "int-other"})
    path = service.link_path(other)
    service.now = NOW + RECORDING_GRACE - timedelta(seconds=1)
    for response in (service.client.get(path), service.client.post(path, data={"response": "ack"})):
        assert response.status_code == 503
        assert "Your alert is still being recorded, please try again in a few seconds" in response.text
    assert service.published == []
    assert service.store.ack_token_use(stable_id("ack", "int-other", RECIPIENT)) is None


@pytest.mark.parametrize("data", [{"response": "maybe"}, {"response": ""}, {}, {"answer": "ack"}])
def test_unknown_answer_is_refused_and_the_link_stays_usable(service: Service, data: dict) -> None:
    path = service.link_path()
    refused = service.client.post(path, data=data)
    assert refused.status_code == 400
    assert "response must be one of ack, on_my_way, unable" in refused.text
    assert service.published == []
    assert service.client.post(path, data={"response": "ack"}).status_code == 200


def test_failed_publish_releases_the_link_for_a_retry(service: Service) -> None:
    path = service.link_path()
    service.fail_publish = True
    failed = service.client.post(path, data={"response": "ack"})
    assert failed.status_code == 503
    assert "Could not record your answer, please try again" in failed.text
    assert service.published == []
    service.fail_publish = False
    assert service.client.get(path).status_code == 200  # not marked used
    retried = service.client.post(path, data={"response": "ack"})
    assert retried.status_code == 200
    assert len(service.published) == 1


def test_the_token_is_never_logged(service: Service) -> None:
    path = service.link_path()
    token = path.removeprefix("/ack/")
    with capture_logs() as logs:
        service.client.get(path)
        service.client.post(path, data={"response": "ack"})
        service.client.post(path, data={"response": "ack"})
        service.client.get(f"/ack/{token}A")
    assert {entry["event"] for entry in logs} >= {"ack_web.answered", "ack_web.already_recorded", "ack_web.refused"}
    assert all(token not in repr(entry) and token.split(".")[0] not in repr(entry) for entry in logs)
    answered = next(entry for entry in logs if entry["event"] == "ack_web.answered")
    assert answered["token_id"] == service.published[0].token_id


def test_team_names_are_escaped(service: Service) -> None:
    # teams come from config, but the page must not trust any text it shows
    intent = service.intents[0].model_copy(update={"team": "<b>x</b>", "intent_id": "int-escape"})
    service.store.append([IntentCreated(entry_id="tl-escape", activation_id=intent.activation_id, at=NOW, intent_id=intent.intent_id,
                                        team=intent.team, protocol="P2", step="initial", ack_deadline=None)])
    page = service.client.get(service.link_path(intent))
    assert page.status_code == 200
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text and "<b>x</b>" not in page.text


def test_now_is_utc_in_these_tests() -> None:
    assert NOW.tzinfo is UTC and f"{NOW.astimezone(CHICAGO):%H:%M}" == "22:04"


# ---- the alert's language --------------------------------------------------------------------------


def in_language(service: Service, language: str, intent: NotificationIntent | None = None) -> NotificationIntent:
    """An alert like ``intent`` (the street team's) but written in ``language``: its IntentCreated stored with that language."""
    intent = intent or service.intents[0]
    record = next(r for r in service.store.records(intent.activation_id) if isinstance(r, IntentCreated) and r.intent_id == intent.intent_id)
    other = f"{intent.intent_id}-{language}"
    service.store.append([record.model_copy(update={"entry_id": f"{record.entry_id}-{language}", "intent_id": other, "language": language})])
    return intent.model_copy(update={"intent_id": other, "language": language})


def test_the_page_of_a_spanish_alert_reads_in_spanish(service: Service) -> None:
    page = service.client.get(service.link_path(in_language(service, "es")))
    assert page.status_code == 200
    text = _read(page)
    assert '<html lang="es">' in text
    for spanish in ("Persona herida de bala", "Alerta de Vigil para vi-north-nearnorth · reportado sáb 22:03", "Abrir en mapas",
                    "Responda antes de las 22:14 · quedan 10 min", "Recibido", "Voy en camino", "No puedo responder",
                    "«No puedo responder» avisa de inmediato a la guardia de DNS.", "Respuestas hasta ahora",
                    "Nadie ha respondido todavía.", "Este enlace funciona hasta", "22:34 CDT, sáb 2026-07-04"):
        assert spanish in text, spanish
    for english in ("Person shot", "Acknowledge", "On my way", "Answers so far", "This link works until"):
        assert english not in text, english


@pytest.mark.parametrize(("response", "confirmation"), [("on_my_way", "En camino — registrado"),
                                                        ("unable", "No puede responder — se avisará a la guardia de DNS")])
def test_the_answer_to_a_spanish_alert_is_confirmed_in_spanish(service: Service, response: str, confirmation: str) -> None:
    path = service.link_path(in_language(service, "es"))
    answer = service.client.post(path, data={"response": response, "confirm": "yes"})  # "can't respond" is confirmed
    assert answer.status_code == 200 and '<html lang="es">' in answer.text
    assert "Gracias" in _read(answer) and confirmation in _read(answer)
    again = service.client.post(path, data={"response": response, "confirm": "yes"})  # the same answer again: not taken twice
    assert again.status_code == 409 and "Este enlace ya se usó a las 22:04" in _read(again)


def test_a_spanish_cant_respond_of_a_paged_team_says_the_next_person_is_paged(service: Service) -> None:
    # the core pages the team's next person at once (docs/responders.md): DNS on-call is told only when nobody is left
    _, path = _person_page(service, language="es")
    asked = _read(service.client.post(path, data={"response": "unable"}))
    assert '<html lang="es">' in asked and "¿No puede responder?" in asked and "Sí, no puedo responder" in asked
    assert "Can't respond" not in asked and "«No puedo responder» avisa de inmediato" not in asked
    assert ("«No puedo responder» llama ahora a la siguiente persona de guardia; solo si no queda nadie se avisa de inmediato "
            "a la guardia de DNS.") in asked
    confirmed = _read(service.client.post(path, data={"response": "unable", "confirm": "yes"}))
    assert "se avisará a la guardia de DNS" not in confirmed
    assert ("Anotado: usted no puede responder. Se llama ahora a la siguiente persona de guardia de vi-north-nearnorth; si no "
            "queda nadie, se avisa de inmediato a la guardia de DNS.") in confirmed
    assert "Su respuesta: No puedo responder, 22:04" in _read(service.client.get(path))


def test_a_spanish_page_says_what_follows_in_spanish(service: Service) -> None:
    path = service.link_path(in_language(service, "es"))
    assert "Se avisará a la guardia de DNS a las 22:14 si nadie responde." in _read(service.client.get(path))
    went = _read(service.client.post(path, data={"response": "on_my_way"}))
    assert "En camino — registrado. Escalada detenida: no se avisará a la guardia de DNS." in went


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(CHICAGO).strftime("%H:%M")


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_every_language_says_what_follows_as_english_does(language: str) -> None:
    # no language falls back to the older "DNS on-call will be told" where the core pages the next person instead
    deadline = NOW + timedelta(minutes=10)
    paged = Follows("vi-north-nearnorth", ("dns-oncall",), deadline, pages_people=True)
    dns = text("team.dns-oncall", language)
    pages_next = text("next.pages_next", language, team="vi-north-nearnorth", teams=dns)
    assert answer_confirmation(paged, "unable", _hhmm, NOW, language) == text("unable.noted", language, rest=pages_next)
    assert cant_respond_hint(paged, _hhmm, language) == text("hint.pages_next", language, teams=dns)
    assert text("unable.will_tell", language, teams=dns) not in answer_confirmation(paged, "unable", _hhmm, NOW, language)
    stands = replace(paged, answered=("Ben",))
    assert answer_confirmation(stands, "unable", _hhmm, NOW, language) == text(
        "unable.noted", language, rest=text("next.stays_stopped", language, who=text("who.one", language, names="Ben")))
    for follows, answer in ((paged, None), (paged, "ack"), (stands, None), (replace(paged, told=("dns-oncall",), told_at=deadline), "ack")):
        assert next_step(follows, answer, _hhmm, NOW, language), (follows, answer)  # a sentence in every language
    if language == ENGLISH:
        assert cant_respond_hint(paged, _hhmm) == (
            "Can't respond pages the next person on call now; DNS on-call is told at once only when nobody is left.")


@pytest.mark.parametrize(("language", "words"), [("so", ("Qof xabbad ku dhacday", "Waan soo socdaa", "Jawaabaha ilaa hadda")),
                                                 ("hmn", ("Neeg raug phom", "Kuv tab tom tuaj", "Cov lus teb txog tam sim no"))])
def test_somali_and_hmong_pages(service: Service, language: str, words: tuple[str, ...]) -> None:
    text = _read(service.client.get(service.link_path(in_language(service, language))))
    assert f'<html lang="{language}">' in text and all(word in text for word in words)


def test_a_language_without_texts_reads_in_english(service: Service) -> None:
    text = _read(service.client.get(service.link_path(in_language(service, "fr"))))
    assert '<html lang="en">' in text and "Person shot" in text and "On my way" in text
