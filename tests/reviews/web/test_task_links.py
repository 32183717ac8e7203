"""Closing a follow-up task from the phone by its link (reviews/web/task_links.py): the page a reminder's link opens,
the closing it sends to the workers (and the review store showing the task closed once the core records it), a bad
form, and the refusals an answer link gets (a forged, malformed or expired link; an answer link here), through the
real app on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.tasks import find_task
from reviews.web.app import create_web_app
from stream.model.events import NotificationIntent, Referral, TaskClose
from stream.model.timeline import IntentCreated
from tests.reviews.tasks_fixture import CHICAGO, STREET, TaskRun, weekend_run
from tests.rules.followups_fixture import with_followups

MONDAY_NOON = datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)
SECRET = b"task-link-test-secret-0123"
RECIPIENT = "rcpt-0123456789abcdef0123"  # a recipient label, as notifiers/apprise_adapter.py gives a phone


def intent_of(record: IntentCreated, **changes) -> NotificationIntent:
    """The intent a recorded reminder or overdue notice was (the fields a link carries are the record's)."""
    return NotificationIntent(intent_id=record.intent_id, activation_id=record.activation_id, team=record.team, protocol=record.protocol,
                              step=record.step, title="-", body="-", created_at=record.at, person=record.person, purpose=record.purpose,
                              task_id=record.task_id, drill=record.drill).model_copy(update=changes)


@dataclass
class Phone:
    """The app, its store and what it published; the run whose reminders were sent; a settable real clock."""

    client: TestClient
    store: ReviewStore
    signer: AckSigner
    run: TaskRun
    now: datetime = MONDAY_NOON
    published: list = field(default_factory=list)
    fail_publish: bool = False

    def sent(self, purpose: str) -> IntentCreated:
        """The first reminder (purpose "task") or overdue notice ("notice") of a task the core sent."""
        return next(r for r in self.run.records if isinstance(r, IntentCreated) and r.task_id and r.purpose == purpose)

    def link(self, record: IntentCreated, made: datetime | None = None, **changes) -> str:
        """The path of the task link in that message, made at ``made`` (the notice's own time by default)."""
        return f"/task/{self.signer.task_token(intent_of(record, **changes), RECIPIENT, made or record.at)}"

    def task(self, task_id: str):
        record = next(r for r in self.run.tasks() if r.task_id == task_id)
        return find_task(self.store.records(record.activation_id), task_id)

    def audit(self, action: str) -> list:
        return [e for e in reversed(self.store.audit_entries(1000)) if e.action == action]


@pytest.fixture
def phone(db_url: str, deployment, tmp_path) -> Iterator[Phone]:
    run = weekend_run(deployment, with_followups(deployment, tmp_path))
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    signer = AckSigner(SECRET, "https://vigil.example.org")
    holder: list[Phone] = []

    async def publish(message) -> None:
        if holder[0].fail_publish:
            raise ConnectionError("broker down")
        holder[0].published.append(message)

    app = create_web_app(signer, store, publish, lambda: holder[0].now, zone=CHICAGO)
    with TestClient(app, follow_redirects=False) as client:
        holder.append(Phone(client, store, signer, run))
        try:
            yield holder[0]
        finally:
            store.dispose()


def test_a_reminders_link_shows_what_the_task_is_and_the_close_form(phone: Phone) -> None:
    reminder = phone.sent("task")
    page = phone.client.get(phone.link(reminder))
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert '<h1 class="what">Retaliation check-in</h1>' in text
    assert "Vigil follow-up task for vi-north-nearnorth" in text
    assert f"Ref {reminder.activation_id}" in text and "After the shooting in " in text
    assert "Due Sun 05 Jul 23:25 CDT · OVERDUE" in text  # Monday noon: its due time has passed
    assert "Open: not closed yet." in text and "DRILL" not in text
    assert [v for v in re.findall(r'name="outcome" value="([^"]+)"', text)] == ["done", "attempted", "declined", "not_reachable"]
    assert re.findall(r'name="refer" value="([^"]+)"', text) == ["housing", "employment", "mental_health", "relocation", "legal", "other"]
    assert 'name="consent-housing" value="yes"' in text and 'name="consent-housing" value="no"' in text
    # service and consent only: nowhere to write who the person is
    assert "<textarea" not in text and 'type="text"' not in text
    assert "This link works until</dt><dd>Sun 12 Jul 21:25 CDT" in text  # 7 days after the reminder went


def test_closing_by_the_link_sends_the_closing_says_what_follows_and_the_review_store_shows_it_closed(phone: Phone) -> None:
    reminder = phone.sent("task")
    answer = phone.client.post(phone.link(reminder), data={"outcome": "done", "refer": ["housing", "legal"], "consent-housing": "yes",
                                                           "consent-legal": "no"})
    assert answer.status_code == 200
    assert ("Sent: the retaliation check-in for vi-north-nearnorth closed as done; referrals: housing (consent: yes), legal (consent: no). "
            "It is recorded once Vigil&#39;s workers take it (usually within seconds); then it shows closed on the review pages, and Vigil "
            "sends no more reminders or overdue notices for it.") in answer.text
    closing = TaskClose(task_id=reminder.task_id, ref=reminder.activation_id, outcome="done", by="yer-l", person="yer-l",
                        referrals=(Referral(service="housing", consent=True), Referral(service="legal", consent=False)))
    assert phone.published == [closing]
    [entry] = phone.audit("task_closed")
    assert (entry.username, entry.target) == ("yer-l", reminder.activation_id)
    assert entry.detail.startswith(f"task={reminder.task_id} team={STREET} outcome=done referrals=housing:yes,legal:no via=task_link:")
    # the workers record it (the core's TaskClosed) and the review store has it: closed, and the link's page says how
    phone.store.append(phone.run.close(phone.published[0], MONDAY_NOON + timedelta(minutes=1)))
    task = phone.task(reminder.task_id)
    assert task.closed is not None and task.closed.outcome == "done" and task.referrals == closing.referrals
    again = re.sub(r"\s+", " ", phone.client.get(phone.link(reminder)).text)
    assert ("Closed: done by yer-l at Mon 06 Jul 12:01 CDT. Referrals: housing (consent: yes), legal (consent: no).") in again
    assert "Correct the closing" in again


def test_the_overdue_notices_link_closes_the_task_too_by_the_recipient_when_no_person_was_paged(phone: Phone) -> None:
    notice = phone.sent("notice")
    assert notice.team == "dns-oncall"
    # the same notice sent to a team's shared phone (no roster person): the closing is by that recipient, no person
    answer = phone.client.post(phone.link(notice, person=None), data={"outcome": "not_reachable"})
    assert answer.status_code == 200 and "closed as not reachable; referrals: none." in answer.text
    assert phone.published == [TaskClose(task_id=notice.task_id, ref=notice.activation_id, outcome="not_reachable", by=RECIPIENT)]


@pytest.mark.parametrize(("form", "says"), [
    ({}, "Choose what happened"),
    ({"outcome": "finished"}, "Choose what happened"),
    ({"outcome": "done", "refer": "housing"}, "consented to the housing referral"),
    ({"outcome": "done", "refer": "housing", "consent-housing": "maybe"}, "consented to the housing referral"),
    ({"outcome": "done", "refer": "name:Jane", "consent-name:Jane": "yes"}, "not one Vigil records"),
])
def test_a_bad_form_is_a_400_with_its_reason_and_nothing_is_sent(phone: Phone, form, says) -> None:
    answer = phone.client.post(phone.link(phone.sent("task")), data=form)
    assert answer.status_code == 400 and says in answer.text
    assert phone.published == [] and phone.audit("task_closed") == []


def test_links_that_are_not_a_tasks_get_the_refusals_an_answer_link_gets(phone: Phone) -> None:
    reminder = phone.sent("task")
    token = phone.link(reminder).removeprefix("/task/")
    payload, signature = token.split(".")
    ack_token = phone.signer.token(intent_of(reminder, refs=("MPLS-W-1",)), RECIPIENT, reminder.at)
    for path in (f"/task/{payload}.{'A' * 22}", "/task/not-a-token", f"/task/{ack_token}", f"/ack/{token}"):
        for method in ("GET", "POST"):
            answer = phone.client.request(method, path, data={"outcome": "done"})
            assert (answer.status_code, "This link is not valid" in answer.text) == (403, True), (method, path)
    phone.now = reminder.at + timedelta(days=7, minutes=1)
    for method in ("GET", "POST"):
        answer = phone.client.request(method, f"/task/{token}", data={"outcome": "done"})
        assert answer.status_code == 410 and "This link expired at Sun 12 Jul 21:25 CDT" in answer.text
    assert phone.published == [] and phone.audit("task_closed") == []


def test_a_link_for_a_task_not_recorded_is_try_again_while_new_and_refused_after(phone: Phone) -> None:
    reminder = phone.sent("task")
    path = phone.link(reminder, made=MONDAY_NOON, intent_id="int-not-recorded")
    answer = phone.client.get(path)
    assert answer.status_code == 503 and "still being recorded" in answer.text
    phone.now = MONDAY_NOON + timedelta(minutes=6)
    answer = phone.client.post(path, data={"outcome": "done"})
    assert answer.status_code == 403 and "not for a follow-up task of this activation" in answer.text
    assert phone.published == []


def test_a_closing_that_cannot_be_sent_says_so_and_is_not_audited(phone: Phone) -> None:
    phone.fail_publish = True
    answer = phone.client.post(phone.link(phone.sent("task")), data={"outcome": "done"})
    assert answer.status_code == 503 and "nothing was recorded" in answer.text
    assert phone.audit("task_closed") == []


def test_a_drills_task_link_says_drill(db_url: str, deployment, tmp_path) -> None:
    from stream.feeds.ingest import ingest_cad
    from stream.model.events import CoreInput
    from tests.helpers import JORDAN, shooting
    from tests.reviews.tasks_fixture import T0

    run = TaskRun(with_followups(deployment, tmp_path))
    event = ingest_cad(shooting("D-1", JORDAN, updated_at=T0.astimezone(UTC).isoformat()), deployment.classification, T0.astimezone(UTC))
    run(CoreInput(type="event", event=event.model_copy(update={"drill": True})), T0)
    run.until(datetime(2026, 7, 6, 21, 0, tzinfo=CHICAGO))  # the family contact (F2) is reminded at 20:15
    reminder = next(r for r in run.records if isinstance(r, IntentCreated) and r.task_id and r.purpose == "task")
    assert reminder.drill
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    published: list = []

    async def publish(message) -> None:
        published.append(message)

    signer = AckSigner(SECRET, "https://vigil.example.org")
    app = create_web_app(signer, store, publish, lambda: MONDAY_NOON, zone=CHICAGO)
    try:
        with TestClient(app) as client:
            path = f"/task/{signer.task_token(intent_of(reminder), RECIPIENT, reminder.at)}"
            page = client.get(path)
            assert page.status_code == 200
            assert "<title>DRILL Vigil follow-up" in page.text and "DRILL - not a real shooting, practice only." in page.text
            answer = client.post(path, data={"outcome": "done"})
            assert answer.status_code == 200 and "DRILL: Sent: the" in answer.text
    finally:
        store.dispose()
