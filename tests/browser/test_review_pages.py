"""The review pages and the answer page in a real Chromium, on a served demo (`vigil demo --serve`).

Set VIGIL_SCREENSHOTS=DIR to keep screenshots of the review day, an activation page and the answer page (on a phone in
light and dark mode, answered, and asking to confirm "can't respond"); docs/screenshots/ has them
(`VIGIL_SCREENSHOTS=docs/screenshots`). Without it they go to a temporary folder: a test run leaves the tree clean.

The review pages as DNS staff read them (issue 17): the packet printed to a Letter PDF (a cover, then one page per
activation, numbered), the desktop activation page's first screen, tap targets and sideways scrolling on a phone,
notes that are too long or hold a long URL, a rejected POST, the refusal pages' links and the top links.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.pdf_text import page_texts

pytestmark = pytest.mark.integration

SHOTS = os.environ.get("VIGIL_SCREENSHOTS")
DOC_SHOTS = Path(SHOTS) if SHOTS else Path(tempfile.mkdtemp(prefix="vigil-shots-"))  # the answer page's (docs/review.md)
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
    answers = page.inner_text("table.day")  # the answer column: who answered what and when, or what is still awaited
    assert re.search(r"vi-north-nearnorth: on my way \d\d:\d\d \(Yer L\.\)", answers), answers
    assert re.search(r"vi-central: awaiting, ack by \d\d:\d\d", answers), answers
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


DESKTOP = {"width": 1366, "height": 768}
PHONE_375 = {**PHONE, "viewport": {"width": 375, "height": 740}}
# every control a thumb may aim at, as [what, width, height]: a radio's or a checkbox's target is its label (the input is
# inside it, and the whole label toggles it)
TAP_TARGETS = """() => [...document.querySelectorAll(
    'a, button, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), textarea, select, '
    + 'label:has(input[type=radio]), label:has(input[type=checkbox])')]
  .filter(e => e.offsetParent !== null)
  .map(e => { const r = e.getBoundingClientRect(); return [e.tagName + ' ' + (e.innerText || e.name || '').slice(0, 40), r.width, r.height]; })"""


def _day(served_demo) -> str:
    return served_demo.review_url.rsplit("/", 1)[1]


def test_the_packet_prints_a_cover_then_one_numbered_letter_page_per_activation(browser, served_demo) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    activations = page.locator("tr.activation").count()
    page.goto(f"{served_demo.review_url}/packet")
    texts = page_texts(page.pdf(format="Letter"))
    assert (len(texts), activations) == (7, 6)  # a cover and the demo's six activations, one to a page
    for number, text in enumerate(texts, 1):
        assert f"page {number} of 7" in text and f"Vigil review packet, {_day(served_demo)}" in text
    assert "Action items" in texts[0] and "Flagged activations" in texts[0] and "Missed acks" in texts[0]
    for number, text in enumerate(texts[1:], 1):  # each activation starts its own page, its tables with it
        assert f"{_day(served_demo)}{number}. " in text and "Timeline" in text and "Notes" in text, text[:200]
    context.close()


def test_on_a_desktop_the_teams_and_the_timeline_are_beside_the_map_in_the_first_screen(browser, served_demo) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    links = [a.get_attribute("href") for a in page.locator("tr.activation td:nth-child(2) a").all()]
    assert len(links) == 6
    for link in links:
        page.goto(f"{served_demo.base_url}{link}")
        timeline, teams, map_box = (page.locator(selector).bounding_box() for selector in ("#timeline", "#teams", ".map-box"))
        assert timeline is not None and teams is not None and map_box is not None
        # the heading and the first rows under it show without scrolling (it was about 1,400 px down)
        assert timeline["y"] + 100 <= DESKTOP["height"], (link, timeline)
        assert teams["y"] + 100 <= DESKTOP["height"], (link, teams)
        assert teams["x"] >= map_box["x"] + map_box["width"]  # beside the map, not under it
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    context.close()


def test_on_a_phone_every_tap_target_is_44_px_and_nothing_scrolls_sideways(browser, served_demo) -> None:
    context = browser.new_context(**PHONE_375)
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    activation = page.locator("tr.activation", has_text="Jordan").locator("a").first.get_attribute("href")
    day = _day(served_demo)
    for path in (f"/review/{day}", activation, f"/summary?from={day}&to={day}", "/summary", "/activation/act-nothing"):
        page.goto(f"{served_demo.base_url}{path}")
        small = [t for t in page.evaluate(TAP_TARGETS) if t[1] < MIN_TARGET_PX or t[2] < MIN_TARGET_PX]
        assert small == [], (path, small)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    page.goto(f"{served_demo.base_url}{activation}")
    radio = page.locator("#team-vi-north-nearnorth input[type=radio]").first.bounding_box()
    assert radio is not None and radio["height"] >= 24  # 13 px before
    page.goto(f"{served_demo.base_url}/summary?from={day}&to={day}")
    table = page.locator("table.teams").bounding_box()
    assert table is not None and table["x"] >= 0 and table["x"] + table["width"] <= 375  # the whole table on the phone's screen
    assert page.evaluate("[...document.querySelectorAll('.scroll')].every(e => e.scrollWidth <= e.clientWidth)")
    context.close()


def test_a_long_url_in_a_note_stays_on_the_screen_and_an_over_long_note_is_refused_not_cut(browser, served_demo) -> None:
    context = browser.new_context(**PHONE_375)
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    page.locator("tr.activation", has_text="Jordan").locator("a").first.click()
    page.wait_for_url(re.compile(r"/activation/act-"))
    url = "https://example.org/" + "incident-report-" * 30
    page.fill("textarea[name=text]", url)
    with page.expect_navigation():
        page.click("button:has-text('Add note')")
    assert url in page.inner_text(".notes")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    page.fill("textarea[name=text]", "n" * 4001)
    assert len(page.input_value("textarea[name=text]")) == 4001  # the form does not cut it silently
    with page.expect_navigation() as refused:
        page.click("button:has-text('Add note')")
    assert refused.value is not None and refused.value.status == 400
    assert "Not saved: a note is at most 4,000 characters, this one has 4,001." in page.inner_text("#note-error")
    assert len(page.input_value("textarea[name=text]")) == 4001  # the draft is kept to shorten
    assert "n" * 4001 not in page.inner_text(".notes")
    context.close()


def test_a_rejected_post_and_the_refusal_pages_give_a_way_back_not_json(browser, served_demo) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    with page.expect_navigation() as posted:  # a form sent to a page that takes none (GET only)
        page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post'; f.action = location.href;
                                 document.body.appendChild(f); f.submit(); }""")
    assert posted.value is not None and posted.value.status == 405
    body = page.inner_text("body")
    assert '"detail"' not in body and "That cannot be done here" in body
    with page.expect_navigation():
        page.get_by_role("link", name="Back to the page").click()
    assert page.url == served_demo.review_url and page.locator("tr.activation").count() == 6

    missing = page.goto(f"{served_demo.base_url}/activation/act-nothing")
    assert missing is not None and missing.status == 404
    assert page.get_by_role("link", name="The live board").get_attribute("href") == "/board"
    assert page.get_by_role("link", name=re.compile(r"The day's activations")).get_attribute("href", timeout=1000).startswith("/review/")
    context.close()


def test_today_and_summary_follow_the_day_being_viewed(browser, served_demo) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, served_demo, "dns-demo", served_demo.review_url)
    day = _day(served_demo)
    before = (datetime.date.fromisoformat(day) - datetime.timedelta(days=1)).isoformat()
    with page.expect_navigation():
        page.locator(".pager a", has_text=before).click()
    assert page.locator("nav.top a").first.inner_text() == f"Day {before}"  # not today's date on the wall clock
    with page.expect_navigation():
        page.locator("nav.top a", has_text="Summary").click()
    assert page.url.endswith(f"/summary?from={before}&to={before}") and page.locator("h1").inner_text() == f"Summary, {before} to {before}"
    page.goto(served_demo.review_url)
    page.locator("tr.activation a").first.click()
    page.wait_for_url(re.compile(r"/activation/act-"))
    assert page.locator("nav.top a", has_text="Summary").get_attribute("href") == f"/summary?from={day}&to={day}"
    context.close()
