"""The live board end to end on the served demo (its worker, broker, review sink and web): DNS has the board open;
a new shooting's row appears without a reload; DNS answers on the street team's behalf and the row says so once
the worker has recorded it; DNS closes it and it leaves the board, without a reload throughout."""

from __future__ import annotations

import time
import uuid

import pytest

from stream.core.activations import activation_id_for
from tests.browser.conftest import send_cad
from tests.browser.test_review_pages import _sign_in

pytestmark = pytest.mark.integration
POWDERHORN_PARK = (44.9400, -93.2550)  # vi-south-powderhorn's: a team the demo's evening leaves alone
TEAM = "vi-south-powderhorn"




def _when(read, text: str, timeout: float = 20.0) -> str:
    """``read()`` once it holds ``text`` (the page's CSP forbids the eval ``wait_for_function`` needs)."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if text in found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_dns_sees_a_new_shooting_answers_for_the_team_and_closes_it_without_a_reload(browser, served_demo, kafka_bootstrap) -> None:
    assert served_demo.topic_prefix, served_demo.output
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, served_demo, "dns-demo", f"{served_demo.base_url}/board")
    page.evaluate("window.__loaded = true")  # gone if the page ever reloads
    incident = f"BOARD-{uuid.uuid4().hex[:6]}"
    row = f"#row-{activation_id_for('minneapolis', 'eido', incident)}"
    send_cad(served_demo, kafka_bootstrap, incident, POWDERHORN_PARK)
    page.wait_for_selector(row, timeout=20_000)
    team = page.locator(f"{row} li.team[data-team='{TEAM}']")
    assert "no answer yet" in team.inner_text()

    team.locator("summary").click()
    team.locator("button.on_my_way").click()  # a form post: the board redirects back to itself, at the row
    page.wait_for_url(f"{served_demo.base_url}/board#{row[1:]}")
    page.evaluate("window.__loaded = true")
    answer = _when(lambda: page.locator(f"{row} li.team[data-team='{TEAM}'] .answer").inner_text(), "dns-demo")
    assert "on my way" in answer and "on the team's behalf by dns-demo" in answer

    page.locator(f"{row} details.row-actions summary").click()
    page.locator(f"{row} button.close").click()
    page.wait_for_url(f"{served_demo.base_url}/board#{row[1:]}")
    page.evaluate("window.__loaded = true")
    page.wait_for_selector(row, state="detached", timeout=20_000)  # the worker recorded the close: the row left
    assert page.evaluate("window.__loaded === true")
