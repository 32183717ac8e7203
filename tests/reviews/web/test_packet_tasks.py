"""The packet's cover lists the overdue follow-up tasks (reviews/web/review.py ``overdue_tasks_view``): what DNS staff go
through at the activation review, read as the page's text; over the core's own records, on SQLite and PostgreSQL."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.tasks import open_tasks
from reviews.web.app import create_web_app
from stream.model.events import TaskClose
from tests.reviews.tasks_fixture import CHICAGO, SOUTH, STREET, weekend_run
from tests.reviews.web.fixtures import PASSWORD, Review, sign_in
from tests.rules.followups_fixture import with_followups

pytestmark = pytest.mark.database

TUESDAY_NOON = datetime(2026, 7, 7, 12, 0, tzinfo=CHICAGO)


@pytest.fixture
def browsers(db_url: str, deployment, tmp_path) -> Iterator[dict[str, TestClient]]:
    """The weekend's records run on to Tuesday noon (the review's clock), the street team's Saturday family contact
    closed on Monday; DNS's browser, both street team leads' and the HCMC hospital team lead's (no task of theirs)."""
    run = weekend_run(deployment, with_followups(deployment, tmp_path), end=TUESDAY_NOON)
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    grouped = store.records_for(store.activations_opened(TUESDAY_NOON - timedelta(days=30), TUESDAY_NOON))
    contact = next(t for t in open_tasks(grouped, STREET) if t.kind == "family_contact")
    store.append(run.close(TaskClose(task_id=contact.task_id, ref=contact.activation_id, outcome="done", by="lee"),
                           datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)))
    for name, role, team in (("dana", "dns", None), ("lee", "lead", STREET), ("pat", "lead", SOUTH), ("hcmc", "lead", "nextstep-hcmc")):
        store.add_user(name, PASSWORD, role, team, TUESDAY_NOON - timedelta(days=30))
    app = create_web_app(AckSigner(b"packet-tasks-secret-01", "https://vigil.example.org"), store, _no_publish, lambda: TUESDAY_NOON,
                         zone=CHICAGO)
    clients = {}
    for name in ("dana", "lee", "pat", "hcmc"):
        clients[name] = TestClient(app, follow_redirects=False)
        clients[name].__enter__()
        assert sign_in(clients[name], name).status_code == 303
    try:
        yield clients
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
        store.dispose()


async def _no_publish(message) -> None:
    raise AssertionError("the packet never publishes")


def _text(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _overdue(client: TestClient, day: str = "2026-07-04") -> tuple[str, list[list[str]]]:
    """The cover's overdue tasks as the reader sees them: the line under the heading, and each row's cells."""
    page = client.get(f"/review/{day}/packet")
    assert page.status_code == 200
    part = page.text.split('<section class="packet-cover">')[1].split("</section>")[0].split("<h2>Overdue follow-up tasks</h2>")[1]
    intro = _text(part.split("</p>")[0])
    rows = part.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:] if "<tbody>" in part else []
    return intro, [[_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in rows]


def test_the_packet_cover_lists_the_overdue_tasks_soonest_due_first(browsers) -> None:
    intro, rows = _overdue(browsers["dana"])
    assert intro == ("Open past their due time on Tue 07 Jul 2026 12:00 CDT, of the activations opened in the last 30 days; "
                     "the number is the activation's in this packet.")
    assert rows == [  # the Saturday family contact of W-1 was closed: not there
        ["vi-north-nearnorth", "retaliation check-in", "W-4: Sat 04 Jul 23:25 person shot, Jordan", "3", "Sun 05 Jul 23:25 CDT"],
        ["vi-south-phillips", "family contact", "W-2: Sat 04 Jul 22:45 person shot, Midtown Phillips", "2", "Mon 06 Jul 22:45 CDT"],
        ["vi-north-nearnorth", "family contact", "W-4: Sat 04 Jul 23:25 person shot, Jordan", "3", "Mon 06 Jul 23:25 CDT"],
        ["vi-north-nearnorth", "retaliation check-in", "W-4: Sat 04 Jul 23:25 person shot, Jordan", "3", "Mon 06 Jul 23:25 CDT"],
    ]


def test_another_days_packet_lists_them_too_without_a_number(browsers) -> None:
    _, rows = _overdue(browsers["dana"], "2026-07-06")
    assert [(r[2], r[3]) for r in rows][:2] == [("W-4: Sat 04 Jul 23:25 person shot, Jordan", ""),
                                                ("W-2: Sat 04 Jul 22:45 person shot, Midtown Phillips", "")]


def test_a_leads_cover_lists_their_teams_overdue_tasks_only(browsers) -> None:
    intro, rows = _overdue(browsers["pat"])
    assert intro.endswith("in the last 30 days (vi-south-phillips's tasks); the number is the activation's in this packet.")
    assert [r[:2] for r in rows] == [["vi-south-phillips", "family contact"]]
    assert {r[0] for r in _overdue(browsers["lee"])[1]} == {"vi-north-nearnorth"}


def test_a_hospital_arrivals_overdue_bedside_visit_is_listed_without_a_place(review: Review) -> None:
    # the review night's store (tests/reviews/web/fixtures.py): Sunday 09:30, the Friday arrival's bedside visit is overdue
    _, rows = _overdue(review.signed_in("dana"))
    assert rows == [["nextstep-hcmc", "bedside visit", "Fri 03 Jul 14:00 gunshot arrival, no location (hospital arrival)", "",
                     "Sat 04 Jul 14:00 CDT"]]


def test_a_cover_with_nothing_overdue_says_so(browsers) -> None:
    page = browsers["hcmc"].get("/review/2026-07-04/packet").text
    assert _overdue(browsers["hcmc"])[1] == [] and "No follow-up task is overdue." in page
