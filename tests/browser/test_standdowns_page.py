"""The standdowns page on a phone, in Chromium, against `vigil web` served for real on the session's broker: DNS
adds a standdown, sees it in force, ends it, sees it ended; both versions land on the standdowns topic."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from reviews.store import ReviewStore
from stream.core.standdowns import Standdown
from stream.ops.kafka import Topics
from tests.browser.test_review_pages import MIN_TARGET_PX, PHONE, _shot
from tests.stream.cli.test_standdown import _records

CHICAGO = ZoneInfo("America/Chicago")
PASSWORD = "correct horse battery"


def test_dns_adds_a_standdown_sees_it_in_force_and_ends_it_on_a_phone(browser, kafka_bootstrap: str, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'review.sqlite'}"
    store = ReviewStore(db_url)
    store.create_schema()
    store.add_user("dana", PASSWORD, "dns", None, datetime.now(UTC))
    prefix = f"sdweb{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "VIGIL_ACK_SECRET": "browser-standdown-secret-0123", "VIGIL_DB_URL": db_url, "VIGIL_TOPIC_PREFIX": prefix}
    process = subprocess.Popen([sys.executable, "-m", "stream.cli", "web", "--bootstrap", kafka_bootstrap, "--port", "0", "--metrics-port", "0"],
                               stdout=subprocess.PIPE, stderr=open(tmp_path / "web.log", "wb"), env=env, text=True)  # noqa: SIM115
    phone = browser.new_context(**PHONE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("web listening on http://127.0.0.1:"), (tmp_path / "web.log").read_text()
        url = line.split()[-1]
        page = phone.new_page()
        page.goto(f"{url}/standdowns")
        page.fill("input[name=username]", "dana")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/standdowns")
        assert "None." in page.locator("section.in-force").inner_text()

        until = datetime.now(CHICAGO) + timedelta(hours=2)
        page.fill("input[name=team]", "vi-central")
        page.fill("input[name=ends]", f"{until:%Y-%m-%dT%H:%M}")
        page.fill("textarea[name=reason]", "funeral of a colleague")
        for control in ("input[name=team]", "input[name=area]", "input[name=starts]", "input[name=ends]", "input[name=every]",
                        "button:has-text('Add standdown')"):
            box = page.locator(control).bounding_box()
            assert box is not None and box["height"] >= MIN_TARGET_PX, (control, box)
        page.click("button:has-text('Add standdown')")
        page.wait_for_selector("section.in-force .card")
        assert "Standdown added and sent to the workers." in page.inner_text("body")
        card = page.locator("section.in-force .card").inner_text()
        assert "vi-central" in card and "funeral of a colleague" in card and "Added by dana" in card
        assert f"– {until:%H:%M} C" in card  # its window ends at the local time typed (CST or CDT)
        _shot(page, "standdowns-phone.png")
        end = page.locator("section.in-force button:has-text('End now')")
        box = end.bounding_box()
        assert box is not None and box["height"] >= MIN_TARGET_PX and box["width"] >= MIN_TARGET_PX
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]  # no sideways scroll

        end.click()
        page.wait_for_selector("section.ended .card")
        assert "Standdown ended and sent to the workers." in page.inner_text("body")
        assert "None." in page.locator("section.in-force").inner_text()
        assert "Ended " in page.locator("section.ended .card").inner_text() and "by dana" in page.locator("section.ended .card").inner_text()
    finally:
        phone.close()
        process.terminate()
        process.wait(timeout=30)
        store.dispose()
    # Playwright's sync API keeps an event loop running in this thread: read the topic from another
    with ThreadPoolExecutor(1) as thread:
        records = thread.submit(_records, kafka_bootstrap, Topics(prefix).standdowns).result(timeout=60)
    versions = [Standdown.model_validate_json(value) for _, value in records]
    assert [v.team for v in versions] == ["vi-central", "vi-central"] and len({k for k, _ in records}) == 1
    assert versions[0].ended_at is None and versions[1].ended_at is not None and versions[1].ended_by == "dana"
