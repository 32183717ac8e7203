"""The review pages and the answer page in a real Chromium, on a served demo (`vigil demo --serve`).

Set VIGIL_SCREENSHOTS=DIR to keep screenshots of the review day and an activation page (docs/ has them). The answer
page's, on a phone in light and dark mode, answered, and asking to confirm "can't respond", always go to docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SHOTS = os.environ.get("VIGIL_SCREENSHOTS")
DOC_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"  # the answer page's, always kept (docs/review.md)
MIN_TARGET_PX = 44  # the smallest comfortable touch target (WCAG 2.5.5's 44 px)
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
LINK = re.compile(r"Answer: (\S+)")
REF = re.compile(r"Ref (act-[0-9a-f]+)")


def _inbox(served_demo) -> list[dict]:
    with urllib.request.urlopen(f"{served_demo.inbox_url}/messages", timeout=5) as response:
        return json.loads(response.read())


def _message_to(served_demo, team: str) -> dict:
    """The first alert a phone of ``team`` got: its person on call (the demo pages people by name), or, for a
    team not paged person by person, its shared phone."""
    from stream.core.deployment import load_deployment
    from stream.devtools.demo_phones import DemoPhones

    phones = DemoPhones(load_deployment())
    return next(m for m in _inbox(served_demo) if phones.team_of(m["recipient"]) == team and REF.search(m["body"]) and LINK.search(m["body"]))


def _sign_in(page, served_demo, username: str, then: str) -> None:
    page.goto(then)
    assert "/login" in page.url  # not signed in: sent to the sign-in page, and back afterwards
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", served_demo.sign_ins[username])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(then) + "$"))


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_staff_sign_in_open_the_day_and_an_activation_and_record_an_outcome(browser, served_demo) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    rows = page.locator("tr.activation")
    assert rows.count() == 6  # the sample's six activations, the hospital arrival among them
    assert "Hiawatha" in page.content() and "coverage gap" in page.inner_text("table.day").lower()
    _shot(page, "review-day.png")

    page.locator("tr.activation", has_text="Jordan").locator("a").first.click()
    page.wait_for_url(re.compile(r"/activation/act-"))
    assert page.locator("svg polygon.cell, svg .cell").count() >= 1  # the map has the activation's H3 cell
    assert "on my way (Yer L.), in time (escalation cancelled)" in page.inner_text("body")  # the demo's SMS reply "2"
    card = page.locator("#team-vi-north-nearnorth")
    card.locator("input[value=went_to_scene]").check()
    with page.expect_navigation():
        card.locator("button", has_text="Record outcome for vi-north-nearnorth").click()
    page.reload()
    kept = page.locator("#team-vi-north-nearnorth").inner_text()
    assert "went to the scene" in kept.lower() and "dns-demo" in kept
    _shot(page, "review-activation.png")
    context.close()


def test_the_review_tells_cant_respond_awaiting_and_a_true_time_to_notify(browser, served_demo) -> None:
    # before the next test acknowledges vi-central's alert: its deadline (10 minutes on the demo's clock) still runs
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    phillips = page.locator("tr.activation", has_text="Midtown Phillips").inner_text().lower()
    assert "missed ack" not in phillips

    def open_row(text: str) -> str:
        page.goto(served_demo.review_url)
        page.locator("tr.activation", has_text=text).locator("a").first.click()
        page.wait_for_url(re.compile(r"/activation/act-"))
        return page.inner_text("body")

    body = open_row("Midtown Phillips")  # the demo tapped "can't respond" for Carlos P., vi-south-phillips's primary
    assert "vi-south-phillips: can't respond (Carlos P.)" in body
    assert re.search(r"page to tanya-b \(vi-south-phillips\) by push", body)  # his team's next person, paged at once
    assert "escalated to dns-oncall" not in body and "did not ack" not in body and "not in time" not in body
    body = open_row("Downtown West")
    assert re.search(r"awaiting \(deadline 22:1\d\)", body) and "not in time" not in body
    body = open_row("gunshot arrival")  # the HCMC arrival came over HL7, stamped by the listener
    seconds = float(re.search(r"Time to notify\s+(-?[\d.]+) s", body).group(1))  # type: ignore[union-attr]
    assert 0 <= seconds < 60
    context.close()


def test_the_answer_page_shows_the_incident_on_a_phone_in_light_and_dark(browser, served_demo) -> None:
    # before the next test answers this link: once used, the link shows when it was used instead
    link = LINK.search(_message_to(served_demo, "vi-central")["body"]).group(1)
    for scheme, name in (("light", "answer-page.png"), ("dark", "answer-page-dark.png")):
        phone = browser.new_context(**PHONE, color_scheme=scheme)
        page = phone.new_page()
        page.goto(link)
        text = page.inner_text("body")
        assert page.locator("h1.what").inner_text() in ("Person shot", "Shots fired", "ShotSpotter activation", "Gunshot patient arrived")
        where = page.locator("p.where").inner_text()
        assert where == "700 block of Hennepin Ave, Downtown West", where  # the alert's words: CAD's hundred-block, no point
        geo = page.get_by_role("link", name="Open in maps").get_attribute("href")
        assert re.fullmatch(r"geo:\d+\.\d{3},-\d+\.\d{3}", geo or ""), geo
        assert re.search(r"Answer by \d\d:\d\d · |No answer deadline for vi-central", text)
        assert "Answers so far" in text
        for button in ("Acknowledge", "On my way", "Can't respond"):
            box = page.get_by_role("button", name=button).bounding_box()
            assert box is not None and box["height"] >= MIN_TARGET_PX and box["width"] >= 300
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(0, 0, 0)") == (scheme == "dark"), background
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_SHOTS / name), full_page=True)
        phone.close()


def test_an_ack_link_on_a_phone_cancels_the_escalation_in_the_timeline(browser, served_demo) -> None:
    alert = _message_to(served_demo, "vi-central")
    link, activation = LINK.search(alert["body"]).group(1), REF.search(alert["body"]).group(1)

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    page.goto(link)
    assert page.viewport_size["width"] == 390
    with page.expect_navigation():
        page.get_by_role("button", name="Acknowledge").tap()
    assert "Thank you" in page.inner_text("body")
    phone.close()

    staff = browser.new_context()
    review = staff.new_page()
    activation_url = f"{served_demo.base_url}/activation/{activation}"
    _sign_in(review, served_demo, "dns-demo", activation_url)
    deadline = time.monotonic() + 20
    text = review.inner_text("body")
    while "vi-central: acknowledged (Kia X.), in time (escalation cancelled)" not in text and time.monotonic() < deadline:
        time.sleep(0.5)  # the answer goes through the broker and the worker to the store
        review.reload()
        text = review.inner_text("body")
    assert "vi-central: acknowledged (Kia X.), in time (escalation cancelled)" in text
    staff.close()


def test_on_a_phone_the_answer_changes_and_cant_respond_asks_to_confirm(browser, served_demo) -> None:
    # issue 16, item 6, after the test above acknowledged vi-central's alert with this link
    link = LINK.search(_message_to(served_demo, "vi-central")["body"]).group(1)
    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    page.goto(link)
    assert re.search(r"Your answer: Acknowledge, \d\d:\d\d", page.inner_text("body"))
    assert page.locator("p.next").inner_text().strip()  # what follows, whatever the demo's clock says
    assert page.get_by_role("button", name="Acknowledge").count() == 0  # given already
    with page.expect_navigation():
        page.get_by_role("button", name="On my way").tap()
    assert "On my way — recorded" in page.inner_text("body")
    page.goto(link)
    assert re.search(r"Your answer: On my way, \d\d:\d\d", page.inner_text("body"))
    assert page.get_by_role("button", name="On my way").count() == 0
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SHOTS / "answer-page-answered.png"), full_page=True)

    with page.expect_navigation():
        page.get_by_role("button", name="Can't respond").tap()
    assert page.locator("h1").inner_text() == "Can't respond?"
    for target in (page.get_by_role("button", name="Yes, I can't respond"), page.get_by_role("link", name="No, go back")):
        box = target.bounding_box()
        assert box is not None and box["height"] >= MIN_TARGET_PX and box["width"] >= 300
    page.screenshot(path=str(DOC_SHOTS / "answer-page-confirm.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("link", name="No, go back").tap()
    assert re.search(r"Your answer: On my way", page.inner_text("body"))  # going back recorded nothing

    with page.expect_navigation():
        page.get_by_role("button", name="Can't respond").tap()
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, I can't respond").tap()
    assert "Noted: you can't respond." in page.inner_text("body") or "Can't respond — " in page.inner_text("body")
    page.goto(link)
    assert re.search(r"Your answer: Can't respond, \d\d:\d\d", page.inner_text("body"))
    assert page.get_by_role("button").count() == 0  # every answer given: nothing left to tap
    phone.close()


def test_a_provider_lead_sees_only_their_teams_activations(browser, served_demo) -> None:
    other = REF.search(_message_to(served_demo, "vi-central")["body"]).group(1)
    own = REF.search(_message_to(served_demo, "vi-north-nearnorth")["body"]).group(1)
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, served_demo, "lead-nearnorth", served_demo.review_url)
    assert page.locator("tr.activation").count() == 1 and "Jordan" in page.inner_text("table.day")

    refused = page.goto(f"{served_demo.base_url}/activation/{other}")
    assert refused is not None and refused.status == 403
    assert "Downtown West" not in page.inner_text("body")
    allowed = page.goto(f"{served_demo.base_url}/activation/{own}")
    assert allowed is not None and allowed.status == 200 and "Jordan" in page.inner_text("body")
    context.close()


def test_a_saved_session_cookie_is_dead_after_signing_out(browser, served_demo) -> None:
    # issue 15: signing out ends the session on the server, not only in this browser
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    saved = context.cookies()
    with page.expect_navigation():
        page.click("form[action$='/logout'] button")
    assert "/login" in page.url
    thief = browser.new_context()
    thief.add_cookies(saved)
    stolen = thief.new_page()
    stolen.goto(served_demo.review_url)
    assert "/login" in stolen.url  # the copy of the cookie no longer reads the review
    thief.close()
    context.close()


def test_the_sign_in_lockout_page_says_how_long_and_whom_to_contact(browser, served_demo) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{served_demo.base_url}/login")
    for _ in range(6):  # a username nobody has: 5 wrong passwords, then this address must wait
        page.fill("input[name=username]", "not-a-demo-user")
        page.fill("input[name=password]", "wrong password!")
        with page.expect_navigation():
            page.click("button[type=submit]")
    text = page.inner_text("body")
    assert "Too many failed sign-ins for this username from your network address: try again in 1 minute" in text
    assert "Locked out and need in now? Contact the DNS on-call." in text
    context.close()
