"""The follow-up tasks' CSV (reviews/web/exports.py ``/export/tasks.csv``): the summary page's completion by team and
kind and referrals by service, the same numbers from the same function, for a known weekend of records made by the
core; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.tasks import TASK_CSV_COLUMNS, open_tasks
from reviews.web.app import create_web_app
from stream.model.events import Referral, TaskClose
from tests.reviews.tasks_fixture import CHICAGO, STREET, weekend_run
from tests.reviews.web.fixtures import PASSWORD, csv_of, sign_in
from tests.rules.followups_fixture import with_followups

pytestmark = pytest.mark.database

MONDAY_NOON = datetime(2026, 7, 6, 12, 0, tzinfo=CHICAGO)


@pytest.fixture
def signed_in(db_url: str, deployment, tmp_path) -> Iterator[tuple[ReviewStore, TestClient, TestClient]]:
    """The weekend's records to Monday noon (tests/reviews/tasks_fixture.py), with the street team's first family
    contact closed in time (done; a housing referral with consent, a legal one without) and its first retaliation
    check-in closed late (attempted, a housing referral with consent); DNS's and the street team lead's browsers."""
    run = weekend_run(deployment, with_followups(deployment, tmp_path))
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    grouped = store.records_for(store.activations_opened(MONDAY_NOON - timedelta(days=30), MONDAY_NOON))
    checkin, contact = open_tasks(grouped, STREET)[:2]  # the check-in due Sunday 23:25, the family contact due Monday 22:15
    assert (checkin.kind, contact.kind) == ("retaliation_checkin", "family_contact")
    store.append(run.close(TaskClose(task_id=contact.task_id, ref=contact.activation_id, outcome="done", by="lee",
                                     referrals=(Referral(service="housing", consent=True), Referral(service="legal", consent=False))),
                           MONDAY_NOON))
    store.append(run.close(TaskClose(task_id=checkin.task_id, ref=checkin.activation_id, outcome="attempted", by="lee",
                                     referrals=(Referral(service="housing", consent=True),)), MONDAY_NOON))
    for name, role, team in (("dana", "dns", None), ("lee", "lead", STREET)):
        store.add_user(name, PASSWORD, role, team, MONDAY_NOON - timedelta(days=30))
    app = create_web_app(AckSigner(b"task-csv-secret-0123", "https://vigil.example.org"), store, _no_publish, lambda: MONDAY_NOON,
                         zone=CHICAGO)
    clients = []
    for name in ("dana", "lee"):
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        assert sign_in(client, name).status_code == 303
        clients.append(client)
    try:
        yield store, clients[0], clients[1]
    finally:
        for client in clients:
            client.__exit__(None, None, None)
        store.dispose()


async def _no_publish(message) -> None:
    raise AssertionError("the exports never publish")


def test_the_tasks_csv_has_the_summarys_completion_and_referral_rows(signed_in) -> None:
    store, dana, _ = signed_in
    response = dana.get("/export/tasks.csv?from=2026-07-04&to=2026-07-04")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="vigil-tasks-2026-07-04_to_2026-07-04.csv"'
    assert response.text.splitlines()[0] == ",".join(TASK_CSV_COLUMNS)
    assert response.text.splitlines()[1:] == [
        "2026-07-04,2026-07-04,completion,vi-north-nearnorth,family contact,2,1,1,50,0,,,",
        "2026-07-04,2026-07-04,completion,vi-north-nearnorth,retaliation check-in,3,1,0,0,0,,,",
        "2026-07-04,2026-07-04,completion,vi-south-phillips,family contact,1,0,0,0,0,,,",
        "2026-07-04,2026-07-04,referrals,,,,,,,,housing,2,0",
        "2026-07-04,2026-07-04,referrals,,,,,,,,employment,0,0",
        "2026-07-04,2026-07-04,referrals,,,,,,,,mental health,0,0",
        "2026-07-04,2026-07-04,referrals,,,,,,,,relocation,0,0",
        "2026-07-04,2026-07-04,referrals,,,,,,,,legal,0,1",
        "2026-07-04,2026-07-04,referrals,,,,,,,,other,0,0",
    ]
    entry = next(e for e in store.audit_entries(100) if e.action == "export_tasks_csv")
    assert (entry.username, entry.target) == ("dana", "2026-07-04..2026-07-04")


def test_the_tasks_csv_says_what_the_summary_page_says(signed_in) -> None:
    _, dana, _ = signed_in
    page = dana.get("/summary?from=2026-07-04&to=2026-07-04")
    assert 'href="/export/tasks.csv?from=2026-07-04&amp;to=2026-07-04"' in page.text
    rows = csv_of(dana.get("/export/tasks.csv?from=2026-07-04&to=2026-07-04").text)
    for row in (r for r in rows if r["section"] == "completion"):
        kind = {"family contact": "family_contact", "retaliation check-in": "retaliation_checkin"}[row["kind"]]
        cells = page.text.split(f'id="tasks-{row["team"]}-{kind}"')[1].split("</tr>")[0]
        shown = re.findall(r'class="num"[^>]*>([^<]+)<', cells)
        assert shown == [row["tasks"], row["closed"], f"{row['closed_in_time']} ({row['closed_in_time_percent']}%)", row["overdue"]]
    for row in (r for r in rows if r["section"] == "referrals"):
        service = row["service"].replace(" ", "_")
        cells = page.text.split(f'id="referral-{service}"')[1].split("</tr>")[0]
        assert re.findall(r'class="num">(\d+)<', cells) == [row["consent_yes"], row["consent_no"]]


def test_a_leads_tasks_csv_leaves_out_activations_their_team_was_not_alerted_about(signed_in) -> None:
    _, _, lee = signed_in
    rows = csv_of(lee.get("/export/tasks.csv?from=2026-07-04&to=2026-07-04").text)
    assert [(r["team"], r["kind"]) for r in rows if r["section"] == "completion"] == [
        ("vi-north-nearnorth", "family contact"), ("vi-north-nearnorth", "retaliation check-in")]


def test_a_range_with_no_tasks_has_the_referral_rows_at_zero(signed_in) -> None:
    _, dana, _ = signed_in
    rows = csv_of(dana.get("/export/tasks.csv?from=2026-06-01&to=2026-06-02").text)
    assert [(r["section"], r["service"], r["consent_yes"], r["consent_no"]) for r in rows] == [
        ("referrals", s, "0", "0") for s in ("housing", "employment", "mental health", "relocation", "legal", "other")]
