"""A team lead closes a follow-up task with a referral on a phone (issue 18), in a real Chromium, on the web app served
for real (tests/reviews/web/board_served.py) over a SQLite store holding records the core made (F1-F4 loaded): the
closing is sent to the workers (captured here), and once the record the worker writes is stored the task shows closed.

The screenshot (tasks-phone.png) goes where VIGIL_SCREENSHOTS says (`VIGIL_SCREENSHOTS=docs/screenshots` refreshes the
docs'), else nowhere: a test run leaves the tree clean."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reviews.tasks import open_tasks
from stream.model.events import Referral, TaskClose
from tests.reviews.tasks_fixture import CHICAGO, STREET, weekend_run
from tests.reviews.web.board_served import serve_board
from tests.reviews.web.fixtures import PASSWORD
from tests.rules.followups_fixture import with_followups

pytestmark = pytest.mark.integration

SHOTS = os.environ.get("VIGIL_SCREENSHOTS")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
MONDAY_NOON = datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)
MIN_TARGET_PX = 44


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_a_lead_closes_a_task_with_a_referral_on_a_phone(browser, deployment, tmp_path) -> None:
    run = weekend_run(deployment, with_followups(deployment, tmp_path))
    with serve_board(tmp_path, now=MONDAY_NOON) as served:
        served.store.append(run.records)
        grouped = served.store.records_for(served.store.activations_opened(MONDAY_NOON - timedelta(days=30), MONDAY_NOON))
        task = open_tasks(grouped, STREET)[1]  # the family contact due Monday 22:15
        phone = browser.new_context(**PHONE)
        page = phone.new_page()
        page.goto(f"{served.url}/tasks")
        page.fill("input[name=username]", "lee")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/tasks$"))
        assert page.locator("h1").inner_text() == "My team's open tasks (vi-north-nearnorth)"
        assert page.locator(".card.task").count() == 5 and page.locator(".card.task-overdue").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        card = page.locator(f"#task-{task.task_id}")
        assert "Due Mon 06 Jul 22:15" in card.inner_text()
        card.locator("summary").click()
        for target in (card.locator("summary"), card.locator("label.choice").first, card.locator("button[type=submit]")):
            box = target.bounding_box()
            assert box is not None and box["height"] >= MIN_TARGET_PX, box
        card.locator("input[name=outcome][value=done]").check()
        card.locator("input[name=refer][value=housing]").check()
        card.locator("input[name=consent-housing][value=yes]").check()
        _shot(page, "tasks-phone.png")
        card.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/tasks\?sent=1$"))
        assert "Sent: the task shows closed once recorded." in page.inner_text("body")
        assert served.published == [TaskClose(task_id=task.task_id, ref=task.activation_id, outcome="done", by="lee",
                                              referrals=(Referral(service="housing", consent=True),))]

        # the worker records the closing (as the core does for the acks topic's TaskClose); the pages read it on reload
        served.store.append(run.close(served.published[0], MONDAY_NOON + timedelta(minutes=2)))
        page.reload()
        assert page.locator(f"#task-{task.task_id}").count() == 0 and page.locator(".card.task").count() == 4
        page.goto(f"{served.url}/activation/{task.activation_id}#tasks")
        closed = page.locator(f"#task-{task.task_id}").inner_text()
        assert "Closed: done, by lee at Mon 06 Jul 12:02" in closed
        assert "Referrals: housing (consent: yes)" in closed
        phone.close()
