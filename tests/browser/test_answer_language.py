"""The answer page of a Spanish alert reads in Spanish on a phone, in Chromium: the web app served for real over a
store holding one Jordan shooting whose street alert was written in Spanish (IntentCreated.language)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notifiers.ack_links import AckSigner
from stream.core.activations import handle_event
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from stream.model.timeline import IntentCreated
from tests.browser.test_review_pages import MIN_TARGET_PX, PHONE
from tests.helpers import JORDAN, RECEIVED, as_bytes, shooting
from tests.reviews.web.fixtures import MORNING
from tests.reviews.web.test_server import served


def test_the_answer_page_of_a_spanish_alert_reads_in_spanish(browser, deployment, tmp_path: Path) -> None:
    config = Config(deployment.coverage, deployment.protocols)
    event = classify_cad(parse_eido(as_bytes(shooting("MPLS-W1", JORDAN))), deployment.classification, RECEIVED)
    outcome = handle_event(CoreState(), event, RECEIVED, config)
    street = outcome.intents[0]
    created = next(r for r in outcome.timeline if isinstance(r, IntentCreated) and r.intent_id == street.intent_id)
    spanish = street.model_copy(update={"intent_id": f"{street.intent_id}-es", "language": "es"})
    with served(tmp_path) as live:  # its signer and clock are these: the link is minted just before its "now"
        live.store.append([*outcome.timeline, created.model_copy(update={"entry_id": f"{created.entry_id}-es",
                                                                          "intent_id": spanish.intent_id, "language": "es"})])
        token = AckSigner(b"server-test-secret-0123", "https://vigil.example.org").token(spanish, "tel:+1...0123", MORNING - timedelta(minutes=1))
        phone = browser.new_context(**PHONE)
        page = phone.new_page()
        page.goto(f"http://127.0.0.1:{live.port}/ack/{token}")
        assert page.get_attribute("html", "lang") == "es"
        assert page.locator("h1.what").inner_text() == "Persona herida de bala"
        text = page.inner_text("body")
        assert "Respuestas hasta ahora" in text and "Este enlace funciona hasta" in text and "venció hace" in text
        for button in ("Recibido", "Voy en camino", "No puedo responder"):
            box = page.get_by_role("button", name=button).bounding_box()
            assert box is not None and box["height"] >= MIN_TARGET_PX and box["width"] >= 300
        # this server has no broker (its publish refuses): the tap is refused, and says so in Spanish
        page.get_by_role("button", name="Voy en camino").click()
        assert page.get_attribute("html", "lang") == "es" and page.locator("h1").inner_text() == "No registrado"
        assert "No se pudo registrar su respuesta, inténtelo de nuevo" in page.inner_text("body")
        phone.close()
