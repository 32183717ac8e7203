"""A standdown from the web, end to end on the served demo (its worker, broker and phones): DNS stands a street team
down on the standdowns page; the next shooting in the team's area pages DNS on-call at once, saying why, and nobody
of the team; DNS ends it on the page; DNS on-call is told the team is back on, and the next shooting pages the team.
Windows are on the demo's clock (the activations' clock), which the page follows."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from stream.core.deployment import load_deployment
from stream.devtools.demo_phones import DemoPhones
from tests.browser.conftest import send_cad
from tests.browser.test_review_pages import _inbox, _sign_in

pytestmark = pytest.mark.integration
TEAM = "vi-north-camden"  # a team the demo's evening leaves alone (the served demo is shared by the browser tests)
WEBBER_CAMDEN = (45.0330, -93.2930)




def _pages_about(served_demo, incident: str, phones: DemoPhones, want: int = 1, timeout: float = 30.0) -> list[dict]:
    """The pages of the activation ``incident`` opened, by team (the demo's phones are named by person)."""
    from stream.core.activations import activation_id_for

    ref = activation_id_for("minneapolis", "eido", incident)  # "Ref act-…", "Tix. act-…": the id is in every language
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m | {"team": phones.team_of(m["recipient"])} for m in _inbox(served_demo) if ref in m["body"]]
        if len(found) >= want:
            return found
        time.sleep(0.1)
    return []


def _notices(served_demo) -> list[dict]:
    return [m for m in _inbox(served_demo) if m["title"] == f"VIGIL on-call: {TEAM} is back on alerts"]


def test_a_standdown_from_the_page_redirects_the_next_alert_to_dns_and_ends_when_dns_ends_it(browser, served_demo, kafka_bootstrap) -> None:
    assert served_demo.topic_prefix, served_demo.output
    phones = DemoPhones(load_deployment())
    page = browser.new_page()
    _sign_in(page, served_demo, "dns-demo", f"{served_demo.base_url}/standdowns")
    page.fill("input[name=team]", TEAM)
    starts = page.input_value("input[name=starts]")  # the demo clock's now, as the page offers it
    hour = int(starts[11:13])
    page.fill("input[name=ends]", f"{starts[:11]}{(hour + 1) % 24:02d}{starts[13:]}" if hour < 23 else f"{starts[:11]}23:59")
    page.fill("textarea[name=reason]", "funeral of a colleague")
    page.click("button:has-text('Add standdown')")
    page.wait_for_selector("section.in-force .card")
    assert "Standdown added and sent to the workers." in page.inner_text("body")
    time.sleep(1.0)  # the worker's feed reads the topic within a fetch

    first = f"SD-WEB-{uuid.uuid4().hex[:6]}"
    send_cad(served_demo, kafka_bootstrap, first, WEBBER_CAMDEN)
    _pages_about(served_demo, first, phones, want=2)
    time.sleep(1.0)  # a page to the stood-down team would land now
    pages = _pages_about(served_demo, first, phones, want=2)
    assert TEAM not in {m["team"] for m in pages}  # nobody of the stood-down team is paged
    dns = [m for m in pages if m["team"] == "dns-oncall"]
    assert dns and f"{TEAM} is stood down until" in dns[0]["body"] and "(funeral of a colleague)" in dns[0]["body"]

    before = len(_notices(served_demo))
    page.click("section.in-force .card button:has-text('End now')")
    page.wait_for_selector("section.ended .card")
    deadline = time.monotonic() + 20
    while len(_notices(served_demo)) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    notice = _notices(served_demo)[before:]
    assert notice and phones.team_of(notice[0]["recipient"]) == "dns-oncall"
    assert re.search(r"\(funeral of a colleague\) ended at \d\d:\d\d", notice[0]["body"])

    second = f"SD-WEB-{uuid.uuid4().hex[:6]}"
    send_cad(served_demo, kafka_bootstrap, second, WEBBER_CAMDEN)
    assert TEAM in {m["team"] for m in _pages_about(served_demo, second, phones, want=2)}
