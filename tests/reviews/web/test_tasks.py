"""Follow-up tasks on the review pages (reviews/web/tasks.py, the activation page's tasks): a lead's open tasks, DNS's,
closing one (CSRF, a lead's own team only, what is sent to the workers, the audit), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.tasks import open_tasks
from reviews.web.app import create_web_app
from stream.model.events import Referral, TaskClose
from tests.reviews.tasks_fixture import CHICAGO, SOUTH, STREET, TaskRun, weekend_run
from tests.reviews.web.fixtures import PASSWORD, csrf_of, sign_in
from tests.rules.followups_fixture import with_followups

MONDAY_NOON = datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)


@dataclass
class Site:
    store: ReviewStore
    run: TaskRun
    client_of: object
    published: list = field(default_factory=list)

    def grouped(self):
        return self.store.records_for(self.store.activations_opened(MONDAY_NOON - timedelta(days=30), MONDAY_NOON))

    def open(self, team: str | None):
        return open_tasks(self.grouped(), team)

    def audit(self, action: str) -> list:
        return [e for e in reversed(self.store.audit_entries(1000)) if e.action == action]


@pytest.fixture
def site(db_url: str, deployment, tmp_path) -> Iterator[Site]:
    run = weekend_run(deployment, with_followups(deployment, tmp_path))
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    for name, role, team in (("dana", "dns", None), ("lee", "lead", STREET), ("pat", "lead", SOUTH)):
        store.add_user(name, PASSWORD, role, team, MONDAY_NOON - timedelta(days=30))
    clients: list[TestClient] = []
    made = Site(store, run, None)

    async def publish(message) -> None:
        made.published.append(message)

    app = create_web_app(AckSigner(b"tasks-test-secret-0123", "https://vigil.example.org"), store, publish, lambda: MONDAY_NOON, zone=CHICAGO)

    def client_of(username: str) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        assert sign_in(client, username).status_code == 303
        return client

    made.client_of = client_of
    try:
        yield made
    finally:
        for client in clients:
            client.__exit__(None, None, None)
        store.dispose()


def test_a_lead_sees_their_teams_open_tasks_soonest_due_first_with_the_overdue_one_marked(site) -> None:
    page = site.client_of("lee").get("/tasks")
    assert page.status_code == 200
    assert "My team&#39;s open tasks (vi-north-nearnorth)" in page.text
    dues = [d.strip() for d in re.findall(r'<p class="due">Due ([^<]+)', page.text)]
    assert dues == ["Sun 05 Jul 23:25", "Mon 06 Jul 22:15", "Mon 06 Jul 23:25", "Mon 06 Jul 23:25", "Tue 07 Jul 23:25"]
    assert page.text.count("OVERDUE") == 1 and SOUTH not in page.text
    assert page.text.count('action="/tasks/') == 5  # a close form for each
    assert site.audit("view_tasks")[-1].username == "lee"


def test_dns_sees_every_teams_open_tasks(site) -> None:
    page = site.client_of("dana").get("/tasks")
    assert "All teams&#39; open tasks" in page.text
    assert len(re.findall(r'<p class="due">', page.text)) == 6 and SOUTH in page.text and STREET in page.text


def test_a_lead_closes_their_teams_task_and_the_closing_goes_to_the_acks_topic(site) -> None:
    client = site.client_of("lee")
    task = site.open(STREET)[1]
    page = client.get("/tasks")
    answer = client.post(f"/tasks/{task.task_id}/close", data={
        "csrf": csrf_of(page.text), "activation": task.activation_id, "back": "tasks", "outcome": "attempted",
        "refer": ["housing", "legal"], "consent-housing": "yes", "consent-legal": "no", "consent-employment": "yes"})
    assert answer.status_code == 303 and answer.headers["location"] == "/tasks?sent=1"
    assert site.published == [TaskClose(task_id=task.task_id, ref=task.activation_id, outcome="attempted", by="lee",
                                         referrals=(Referral(service="housing", consent=True), Referral(service="legal", consent=False)))]
    assert site.audit("task_closed")[-1].detail == (f"task={task.task_id} team={STREET} outcome=attempted "
                                                    "referrals=housing:yes,legal:no")
    assert "Sent: the task shows closed once recorded." in client.get("/tasks?sent=1").text
    # the task shows closed once the worker's record is stored
    site.store.append(site.run.close(site.published[0], MONDAY_NOON + timedelta(minutes=1)))
    activation = client.get(f"/activation/{task.activation_id}")
    card = activation.text.split(f'id="task-{task.task_id}"')[1].split('<div class="card')[0]
    assert "Closed: attempted, by lee at Mon 06 Jul 12:01" in card
    assert "Referrals: housing (consent: yes), legal (consent: no)" in card
    assert task.task_id not in client.get("/tasks").text


def test_closing_from_the_activation_page_returns_there(site) -> None:
    client = site.client_of("dana")
    task = site.open(SOUTH)[0]
    page = client.get(f"/activation/{task.activation_id}")
    assert 'id="tasks"' in page.text and "Family contact" in page.text
    answer = client.post(f"/tasks/{task.task_id}/close", data={"csrf": csrf_of(page.text), "activation": task.activation_id,
                                                               "back": "activation", "outcome": "done"})
    assert answer.headers["location"] == f"/activation/{task.activation_id}?sent=1#tasks"
    assert site.published[-1].by == "dana" and site.published[-1].referrals == ()


def test_a_lead_may_not_close_another_teams_task(site) -> None:
    client = site.client_of("pat")
    task = site.open(STREET)[0]
    page = client.get("/tasks")
    answer = client.post(f"/tasks/{task.task_id}/close", data={"csrf": csrf_of(page.text), "activation": task.activation_id,
                                                               "outcome": "done"})
    assert answer.status_code == 403 and "their own team" in answer.text
    assert site.published == []
    assert site.audit("refused")[-1].detail == f"task of another team: {STREET} {task.task_id}"


def test_a_closing_without_the_sessions_csrf_token_is_refused(site) -> None:
    client = site.client_of("lee")
    task = site.open(STREET)[0]
    answer = client.post(f"/tasks/{task.task_id}/close", data={"csrf": "forged", "activation": task.activation_id, "outcome": "done"})
    assert answer.status_code == 403 and site.published == []


@pytest.mark.parametrize(("form", "status", "says"), [
    ({"outcome": "finished"}, 400, "Choose what happened"),
    ({"outcome": "done", "refer": "housing"}, 400, "consented to the housing referral"),
    ({"outcome": "done", "refer": "name:Jane", "consent-name:Jane": "yes"}, 400, "not one Vigil records"),
    ({"outcome": "done", "activation": "act-nope"}, 404, "no follow-up task"),
])
def test_a_bad_closing_is_refused_and_nothing_is_sent(site, form, status, says) -> None:
    client = site.client_of("lee")
    task = site.open(STREET)[0]
    page = client.get("/tasks")
    answer = client.post(f"/tasks/{task.task_id}/close", data={"csrf": csrf_of(page.text), "activation": task.activation_id, **form})
    assert answer.status_code == status and says in answer.text
    assert site.published == []


def test_the_summary_shows_completion_by_team_and_kind_and_referrals_by_service(site) -> None:
    task = site.open(STREET)[1]  # the family contact due Monday 22:15
    site.store.append(site.run.close(TaskClose(task_id=task.task_id, ref=task.activation_id, outcome="done", by="lee",
                                               referrals=(Referral(service="housing", consent=True),)), MONDAY_NOON))
    page = site.client_of("dana").get("/summary?from=2026-07-04&to=2026-07-04")
    assert page.status_code == 200
    row = page.text.split(f'id="tasks-{STREET}-family_contact"')[1].split("</tr>")[0]
    assert re.findall(r'class="num"[^>]*>([^<]+)<', row) == ["2", "1", "1 (50%)", "0"]
    housing = page.text.split('id="referral-housing"')[1].split("</tr>")[0]
    assert re.findall(r'class="num">(\d+)<', housing) == ["1", "0"]
    assert "Referrals by service (1)" in page.text
