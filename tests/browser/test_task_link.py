"""A person closes a follow-up task from its reminder's link on a phone (issue 18), in a real Chromium, on the web app
served for real (tests/reviews/web/board_served.py) over a SQLite store holding records the core made (F1-F4 loaded):
the link opens the task's page with no sign-in, the closing is sent to the workers (captured here), and once the
record the worker writes is stored the review store and the review pages show the task closed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from notifiers.ack_links import AckSigner
from reviews.tasks import find_task, open_tasks
from stream.model.events import Referral, TaskClose
from stream.model.timeline import IntentCreated
from tests.reviews.tasks_fixture import CHICAGO, STREET, weekend_run
from tests.reviews.web.board_served import SIGNER_SECRET, serve_board
from tests.reviews.web.fixtures import PASSWORD
from tests.reviews.web.test_task_links import intent_of
from tests.rules.followups_fixture import with_followups

pytestmark = pytest.mark.integration

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
MONDAY_NOON = datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)
MIN_TARGET_PX = 44


def test_a_person_closes_a_task_from_its_reminders_link_with_a_referral_on_a_phone(browser, deployment, tmp_path) -> None:
    run = weekend_run(deployment, with_followups(deployment, tmp_path))
    reminder = next(r for r in run.records if isinstance(r, IntentCreated) and r.task_id and r.purpose == "task")
    link = AckSigner(SIGNER_SECRET, "https://vigil.example.org").task_token(intent_of(reminder), "rcpt-yer-l-sms", reminder.at)
    with serve_board(tmp_path, now=MONDAY_NOON) as served:
        served.store.append(run.records)
        phone = browser.new_context(**PHONE)
        page = phone.new_page()
        page.goto(f"{served.url}/task/{link}")
        assert page.locator("h1").inner_text() == "Retaliation check-in"
        body = page.inner_text("body")
        assert "Vigil follow-up task for vi-north-nearnorth" in body and "Due Sun 05 Jul 23:25 CDT · OVERDUE" in body
        assert "Open: not closed yet." in body
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        for target in (page.locator("label.choice").first, page.locator("button[type=submit]")):
            box = target.bounding_box()
            assert box is not None and box["height"] >= MIN_TARGET_PX, box
        page.locator("input[name=outcome][value=done]").check()
        page.locator("input[name=refer][value=mental_health]").check()
        page.locator("input[name=consent-mental_health][value=yes]").check()
        page.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Sent"
        assert ("Sent: the retaliation check-in for vi-north-nearnorth closed as done; referrals: mental health (consent: yes). "
                "It is recorded once Vigil's workers take it") in page.inner_text("body")
        assert served.published == [TaskClose(task_id=reminder.task_id, ref=reminder.activation_id, outcome="done", by="yer-l", person="yer-l",
                                              referrals=(Referral(service="mental_health", consent=True),))]

        # the worker records the closing (as the core does for the acks topic's TaskClose): the review store has it closed
        served.store.append(run.close(served.published[0], MONDAY_NOON + timedelta(minutes=2)))
        task = find_task(served.store.records(reminder.activation_id), reminder.task_id)
        assert task is not None and task.closed is not None and task.closed.outcome == "done"
        grouped = served.store.records_for(served.store.activations_opened(MONDAY_NOON - timedelta(days=30), MONDAY_NOON))
        assert reminder.task_id not in {t.task_id for t in open_tasks(grouped, STREET)}
        page.goto(f"{served.url}/task/{link}")
        assert "Closed: done by yer-l at Mon 06 Jul 12:02 CDT. Referrals: mental health (consent: yes)." in page.inner_text("body")
        # and the lead's review page shows it closed
        page.goto(f"{served.url}/activation/{reminder.activation_id}")
        page.fill("input[name=username]", "lee")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/activation/"))
        closed = page.locator(f"#task-{reminder.task_id}").inner_text()
        assert "Closed: done, by yer-l at Mon 06 Jul 12:02" in closed and "Referrals: mental health (consent: yes)" in closed
        phone.close()
