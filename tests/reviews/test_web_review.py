"""The review pages over a real store (SQLite and PostgreSQL), with timelines the core really makes.

One night (Saturday 4 July 2026, America/Chicago) of four shootings, plus a hospital-only arrival on the
3rd and a coverage gap on the 1st; DNS staff and two team leads sign in; the clock is the next morning.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.auth import SESSION_COOKIE
from reviews.model import CSV_COLUMNS, review_of, summarise
from reviews.store import ReviewStore
from reviews.web import (
    BAD_DATE,
    FORM_EXPIRED,
    NOT_A_USER,
    NOT_YOUR_TEAM,
    NOT_YOURS,
    SECURITY_HEADERS,
    WRONG_PASSWORD,
    create_web_app,
)
from tests.helpers import HIAWATHA, JORDAN, MIDTOWN_PHILLIPS
from tests.helpers import CoreRun as Run

pytestmark = pytest.mark.database

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)  # a Saturday evening: street teams on shift
MORNING = datetime(2026, 7, 5, 9, 30, tzinfo=CHICAGO)  # the review meeting
PASSWORD = "correct horse battery"
NEAR_JORDAN = (JORDAN[0] + 0.002, JORDAN[1])  # within 1,000 m of JORDAN: a retaliation watch
SSO = "X-Forwarded-User"


@dataclass
class Review:
    """The app under test, its store, the night's activations by name, and a settable clock."""

    app: FastAPI
    store: ReviewStore
    run: Run
    ids: dict[str, str]
    now: datetime = MORNING
    clients: list[TestClient] = field(default_factory=list)

    def client(self, app: FastAPI | None = None) -> TestClient:
        """A fresh browser."""
        client = TestClient(app or self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        return client

    def signed_in(self, username: str) -> TestClient:
        """A browser signed in as ``username``."""
        client = self.client()
        assert sign_in(client, username).status_code == 303
        return client

    def review(self, name: str):
        """The model's review of a named activation."""
        return review_of(self.run.of(self.ids[name]), CHICAGO, now=self.now)

    def audit(self, action: str | None = None) -> list:
        """Audit entries, oldest first, of one action or all."""
        return [e for e in reversed(self.store.audit_entries(1000)) if action is None or e.action == action]

    def make_app(self, **kw) -> FastAPI:
        """Another app over the same store and clock."""
        return create_web_app(AckSigner(b"review-test-secret-0123", "https://vigil.example.org"), self.store, _no_publish,
                              lambda: self.now, zone=CHICAGO, **kw)


async def _no_publish(message) -> None:
    raise AssertionError("the review pages never publish acks")


@pytest.fixture
def review(db_url: str, deployment) -> Iterator[Review]:
    """The night in a store, three users, and the app."""
    run = Run(deployment)
    ids = {
        "early_gap": run.shooting("W-0", HIAWATHA, datetime(2026, 7, 1, 21, 0, tzinfo=CHICAGO)),
        "hospital": run.arrival("V-1", datetime(2026, 7, 3, 14, 0, tzinfo=CHICAGO)),
        "jordan": run.shooting("W-1", JORDAN, T0),
    }
    run.answer("W-1", "vi-north-nearnorth", T0 + timedelta(minutes=4))
    ids["phillips"] = run.shooting("W-2", MIDTOWN_PHILLIPS, T0 + timedelta(minutes=30))
    run.until(T0 + timedelta(minutes=49))
    run.delivery = "failed"
    ids["gap"] = run.shooting("W-3", HIAWATHA, T0 + timedelta(minutes=50))
    run.delivery = "delivered"
    ids["retaliation"] = run.shooting("W-4", NEAR_JORDAN, T0 + timedelta(minutes=70))
    run.until(T0 + timedelta(hours=3))

    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    created = MORNING - timedelta(days=30)
    store.add_user("dana", PASSWORD, "dns", None, created)
    store.add_user("lee", PASSWORD, "lead", "vi-north-nearnorth", created)
    store.add_user("pat", PASSWORD, "lead", "vi-south-phillips", created)
    store.add_user("olga", PASSWORD, "dns", None, created)
    store.set_disabled("olga", True)
    holder = Review(app=None, store=store, run=run, ids=ids)  # type: ignore[arg-type]
    holder.app = holder.make_app()
    try:
        yield holder
    finally:
        for client in holder.clients:
            client.__exit__(None, None, None)
        store.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no csrf field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, next_: str = "/"):
    """Fill in and post the sign-in form."""
    form = client.get("/login")
    assert form.status_code == 200
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(form.text), "next": next_})


def day_ids(html: str) -> list[str]:
    """The activation ids linked from a day page, in page order, once each."""
    return list(dict.fromkeys(re.findall(r'href="/activation/([^"#/]+)"', html)))


def csv_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- access


@pytest.mark.parametrize("path", ["/review/2026-07-04", "/review/2026-07-04/packet", "/summary?from=2026-07-01&to=2026-07-04",
                                  "/export/2026-07-04.csv", "/export.csv", "/activation/act-whatever"])
def test_review_pages_redirect_to_sign_in_with_next(review: Review, path: str) -> None:
    response = review.client().get(path)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    assert parse_qs(urlsplit(location).query)["next"] == [path]


def test_home_goes_to_today_in_the_deployment_zone(review: Review) -> None:
    review.now = datetime(2026, 7, 5, 3, 30, tzinfo=ZoneInfo("UTC"))  # still the 4th in Minneapolis
    response = review.client().get("/")
    assert (response.status_code, response.headers["location"]) == (303, "/review/2026-07-04")


def test_a_form_posted_without_a_session_goes_to_sign_in_and_records_nothing(review: Review) -> None:
    response = review.client().post(f"/activation/{review.ids['jordan']}/outcome",
                                    data={"team": "gvi-outreach", "outcome": "mediation", "csrf": "x"})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert review.store.outcomes([review.ids["jordan"]]) == {}


def test_sign_in_sets_a_hardened_8_hour_cookie_and_goes_to_next(review: Review) -> None:
    client = review.client()
    response = sign_in(client, "dana", next_="/summary?from=2026-07-04&to=2026-07-04")
    assert (response.status_code, response.headers["location"]) == (303, "/summary?from=2026-07-04&to=2026-07-04")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http here: a Secure cookie would never come back
    assert client.get("/review/2026-07-04").status_code == 200
    assert [(e.username, e.target) for e in review.audit("sign_in")] == [("dana", "/login")]


def test_the_session_ends_after_8_hours(review: Review) -> None:
    client = review.signed_in("dana")
    review.now = MORNING + timedelta(hours=8)
    assert client.get("/review/2026-07-04").status_code == 200
    review.now = MORNING + timedelta(hours=8, seconds=1)
    assert client.get("/review/2026-07-04").status_code == 303


@pytest.mark.parametrize(("username", "password"), [("dana", "wrong password!"), ("nobody", PASSWORD), ("olga", PASSWORD)])
def test_wrong_credentials_are_refused_and_audited_without_the_password(review: Review, username: str, password: str) -> None:
    client = review.client()
    response = sign_in(client, username, password)
    assert response.status_code == 401
    assert WRONG_PASSWORD in response.text
    assert client.get("/review/2026-07-04").status_code == 303  # not signed in
    failed = review.audit("sign_in_failed")
    assert [(e.username, e.target) for e in failed] == [(username, "/login")]
    assert review.audit("sign_in") == []
    assert all(password not in repr(entry) for entry in review.audit())


def test_a_signed_in_user_who_is_disabled_is_signed_out(review: Review) -> None:
    client = review.signed_in("dana")
    review.store.set_disabled("dana", True)
    assert client.get("/review/2026-07-04").status_code == 303


def test_a_forged_cookie_is_not_a_session(review: Review) -> None:
    client = review.signed_in("lee")
    value = client.cookies[SESSION_COOKIE]
    payload, mac = value.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields["u"] = "dana"  # promote oneself to DNS staff
    forged = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    client.cookies.set(SESSION_COOKIE, f"{forged}.{mac}")
    assert client.get("/review/2026-07-04").status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_redirects_off_site(review: Review, target: str) -> None:
    response = sign_in(review.client(), "dana", next_=target)
    assert (response.status_code, response.headers["location"]) == (303, "/")


@pytest.mark.parametrize("csrf", [None, "", "not-the-token"])
def test_sign_in_needs_the_forms_csrf_token(review: Review, csrf: str | None) -> None:
    client = review.client()
    client.get("/login")
    data = {"username": "dana", "password": PASSWORD}
    if csrf is not None:
        data["csrf"] = csrf
    response = client.post("/login", data=data)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert "set-cookie" not in response.headers  # a forged post cannot replace anyone's session
    assert client.get("/review/2026-07-04").status_code == 303
    assert [e.detail for e in review.audit("refused")] == ["sign-in form without a valid csrf token"]


@pytest.mark.parametrize("csrf", [None, "not-the-token", "other-session"])
def test_every_form_post_needs_this_sessions_csrf_token(review: Review, csrf: str | None) -> None:
    client = review.signed_in("dana")
    if csrf == "other-session":
        csrf = csrf_of(review.signed_in("dana").get(f"/activation/{review.ids['jordan']}").text)
    jordan = f"/activation/{review.ids['jordan']}"
    posts = [
        (f"{jordan}/outcome", {"team": "gvi-outreach", "outcome": "mediation"}),
        (f"{jordan}/note", {"text": "a note"}),
        ("/logout", {}),
    ]
    for path, data in posts:
        if csrf is not None:
            data = {**data, "csrf": csrf}
        response = client.post(path, data=data)
        assert response.status_code == 403, path
        assert FORM_EXPIRED.replace("'", "&#39;") in response.text
    assert review.store.outcomes([review.ids["jordan"]]) == {}
    assert review.store.notes(review.ids["jordan"]) == []
    assert client.get("/review/2026-07-04").status_code == 200  # the refused logout did not sign out
    assert [e.detail for e in review.audit("refused")] == ["csrf token missing or wrong"] * 3


def test_sign_out(review: Review) -> None:
    client = review.signed_in("dana")
    token = csrf_of(client.get("/review/2026-07-04").text)
    response = client.post("/logout", data={"csrf": token})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert client.get("/review/2026-07-04").status_code == 303
    assert [e.username for e in review.audit("sign_out")] == ["dana"]


# --- who sees what


def test_dns_sees_every_activation_of_the_day(review: Review) -> None:
    page = review.signed_in("dana").get("/review/2026-07-04")
    assert page.status_code == 200
    assert day_ids(page.text) == [review.ids[n] for n in ("jordan", "phillips", "gap", "retaliation")]  # in time order
    assert review.ids["early_gap"] not in page.text and review.ids["hospital"] not in page.text  # other days


def test_day_page_shows_time_kind_place_teams_and_flags(review: Review) -> None:
    html = review.signed_in("dana").get("/review/2026-07-04").text
    rows = {i: row for row in html.split('<tr class="activation">')[1:] for i in day_ids(row)}
    jordan, phillips, gap, retaliation = (rows[review.ids[n]] for n in ("jordan", "phillips", "gap", "retaliation"))
    assert "22:15" in jordan and "person shot" in jordan and "Jordan" in jordan and "vi-north-nearnorth, gvi-outreach" in jordan
    assert 'class="badge' not in jordan
    assert '<span class="badge missed_ack">missed ack</span>' in phillips and "Midtown Phillips" in phillips
    assert '<span class="badge coverage_gap">coverage gap</span>' in gap and '<span class="badge delivery_failure">delivery failure</span>' in gap
    assert '<span class="badge retaliation_watch">retaliation watch</span>' in retaliation
    assert "vi-north-nearnorth: <span class=\"muted\">not recorded</span>" in jordan
    for link in ('href="/review/2026-07-03"', 'href="/review/2026-07-05"', 'href="/export/2026-07-04.csv"', 'href="/review/2026-07-04/packet"'):
        assert link in html


def test_lead_sees_only_their_teams_activations(review: Review) -> None:
    lee = review.signed_in("lee")
    assert day_ids(lee.get("/review/2026-07-04").text) == [review.ids["jordan"], review.ids["retaliation"]]
    assert day_ids(review.signed_in("pat").get("/review/2026-07-04").text) == [review.ids["phillips"]]
    assert lee.get(f"/activation/{review.ids['jordan']}").status_code == 200


def test_lead_gets_403_on_another_teams_activation_and_it_is_audited(review: Review) -> None:
    lee = review.signed_in("lee")
    for path, data in [(f"/activation/{review.ids['phillips']}", None),
                       (f"/activation/{review.ids['phillips']}/note", {"text": "sneaky"})]:
        if data is not None:
            data["csrf"] = csrf_of(lee.get(f"/activation/{review.ids['jordan']}").text)
        response = lee.get(path) if data is None else lee.post(path, data=data)
        assert response.status_code == 403
        assert NOT_YOURS in response.text
        assert "Midtown Phillips" not in response.text
    assert review.store.notes(review.ids["phillips"]) == []
    refused = review.audit("refused")
    assert [(e.username, e.target) for e in refused] == [("lee", review.ids["phillips"])] * 2


def test_another_teams_activation_is_left_out_of_a_leads_summary_csv_and_packet(review: Review) -> None:
    lee = review.signed_in("lee")
    rows = csv_of(lee.get("/export/2026-07-04.csv").text)
    assert {r["activation"] for r in rows} == {review.ids["jordan"], review.ids["retaliation"]}
    ranged = csv_of(lee.get("/export.csv?from=2026-07-01&to=2026-07-05").text)
    assert {r["activation"] for r in ranged} == {review.ids["jordan"], review.ids["retaliation"]}
    summary = lee.get("/summary?from=2026-07-04&to=2026-07-04").text
    assert re.search(r'id="activations">2\b', summary)
    assert "vi-south-phillips" not in summary
    packet = lee.get("/review/2026-07-04/packet").text
    assert review.ids["jordan"] in packet and review.ids["phillips"] not in packet and review.ids["gap"] not in packet


def test_unknown_activation_is_404(review: Review) -> None:
    response = review.signed_in("dana").get("/activation/act-00000000000000000000")
    assert response.status_code == 404 and "There is no activation with this id" in response.text


# --- the activation page


def test_activation_page_has_the_map_with_the_cell_and_the_highlighted_neighborhood(review: Review) -> None:
    html = review.signed_in("dana").get(f"/activation/{review.ids['jordan']}").text
    svg = html[html.index("<svg"):html.index("</svg>") + 6]
    assert '<polygon class="cell"' in svg and f"H3 cell {review.review('jordan').cell}" in svg
    assert re.search(r'<path class="highlight" d="M[^"]+"[^>]*><title>Jordan</title>', svg)
    assert svg.count("<path") > 50  # the city's outlines, not just the one neighborhood


def test_a_hospital_only_activation_says_it_has_no_location(review: Review) -> None:
    html = review.signed_in("dana").get(f"/activation/{review.ids['hospital']}").text
    assert "no location (hospital arrival)" in html
    assert "<svg" not in html
    assert "gunshot arrival" in html and "nextstep-hcmc" in html


def test_activation_page_shows_every_timeline_step(review: Review) -> None:
    html = review.signed_in("dana").get(f"/activation/{review.ids['jordan']}").text
    expected = review.review("jordan").steps
    rows = re.findall(r'<tr class="step (\w+)"><td>([\d:]+)</td><td class="num">([^<]*)</td><td>\w+</td><td>([^<]*)</td></tr>', html)
    assert [r[0] for r in rows] == [s.what for s in expected]
    assert rows[0][1:3] == ("22:15:00", "")
    assert rows[-1][1:] == ("22:19:00", "+4.0", "vi-north-nearnorth: acknowledged, in time (escalation cancelled)")


def test_activation_page_shows_each_teams_line(review: Review) -> None:
    client = review.signed_in("dana")
    jordan = client.get(f"/activation/{review.ids['jordan']}").text
    assert "acknowledged at 22:19:00 (+4.0 min) — <strong>in time</strong>" in jordan
    assert "escalation cancelled" in jordan
    assert "delivered at 22:15:01, 1 of 1 phones" in jordan
    phillips = client.get(f"/activation/{review.ids['phillips']}").text
    assert "no answer — <strong>not in time</strong>" in phillips and "escalated at 22:55:00" in phillips
    assert "because vi-south-phillips did not ack" in phillips


def test_recording_an_outcome(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['jordan']}"
    token = csrf_of(client.get(page).text)
    response = client.post(f"{page}/outcome", data={"csrf": token, "team": "vi-north-nearnorth", "outcome": "went_to_scene", "reason": ""})
    assert (response.status_code, response.headers["location"]) == (303, f"{page}#team-vi-north-nearnorth")
    stored = review.store.outcomes([review.ids["jordan"]])[(review.ids["jordan"], "vi-north-nearnorth")]
    assert (stored.outcome, stored.reason, stored.recorded_by) == ("went_to_scene", None, "dana")
    html = client.get(page).text
    card = html.split('id="team-vi-north-nearnorth"')[1].split('class="card"')[0]
    assert "<strong>went to the scene</strong>" in card and "recorded by dana at Sun 05 Jul 09:30" in card
    assert 'value="went_to_scene" checked' in card
    assert [(e.username, e.target, e.detail) for e in review.audit("record_outcome")] == [
        ("dana", review.ids["jordan"], "team=vi-north-nearnorth outcome=went_to_scene")]
    day = client.get("/review/2026-07-04").text
    assert "vi-north-nearnorth: went to the scene" in day


@pytest.mark.parametrize(("outcome", "reason", "error"), [
    ("unable", "", "a reason is required for unable"),
    ("unable", "   ", "a reason is required for unable"),
    ("nothing", "", "Choose an outcome"),
    ("", "", "Choose an outcome"),
])
def test_a_bad_outcome_is_an_error_on_the_page(review: Review, outcome: str, reason: str, error: str) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['phillips']}"
    token = csrf_of(client.get(page).text)
    response = client.post(f"{page}/outcome", data={"csrf": token, "team": "vi-south-phillips", "outcome": outcome, "reason": reason})
    assert response.status_code == 400
    card = response.text.split('id="team-vi-south-phillips"')[1].split('class="card"')[0]
    assert '<p class="error">' in card and error in card
    assert "<h2>Timeline</h2>" in response.text  # the page, not a crash
    assert review.store.outcomes([review.ids["phillips"]]) == {}
    assert review.audit("record_outcome") == []


def test_unable_with_a_reason_is_recorded_and_a_correction_supersedes(review: Review) -> None:
    client = review.signed_in("pat")
    page = f"/activation/{review.ids['phillips']}"
    token = csrf_of(client.get(page).text)
    client.post(f"{page}/outcome", data={"csrf": token, "team": "vi-south-phillips", "outcome": "unable", "reason": "both cars at another call"})
    review.now += timedelta(minutes=5)
    client.post(f"{page}/outcome", data={"csrf": token, "team": "vi-south-phillips", "outcome": "mediation", "reason": ""})
    current = review.store.outcomes([review.ids["phillips"]])
    assert current[(review.ids["phillips"], "vi-south-phillips")].outcome == "mediation"
    assert [r.outcome for r in review.store.outcome_history(review.ids["phillips"])] == ["unable", "mediation"]


def test_a_lead_records_outcomes_for_their_own_team_only(review: Review) -> None:
    client = review.signed_in("lee")
    page = f"/activation/{review.ids['jordan']}"
    html = client.get(page).text
    assert html.count('class="outcome-form"') == 1  # only vi-north-nearnorth's card has a form
    token = csrf_of(html)
    refused = client.post(f"{page}/outcome", data={"csrf": token, "team": "gvi-outreach", "outcome": "mediation"})
    assert refused.status_code == 403 and NOT_YOUR_TEAM in refused.text
    ok = client.post(f"{page}/outcome", data={"csrf": token, "team": "vi-north-nearnorth", "outcome": "family_support"})
    assert ok.status_code == 303
    assert set(review.store.outcomes([review.ids["jordan"]])) == {(review.ids["jordan"], "vi-north-nearnorth")}


def test_outcome_for_a_team_not_alerted_is_refused(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['jordan']}"
    response = client.post(f"{page}/outcome", data={"csrf": csrf_of(client.get(page).text), "team": "vi-south-phillips", "outcome": "mediation"})
    assert response.status_code == 400
    assert review.store.outcomes([review.ids["jordan"]]) == {}


def test_notes_are_added_listed_escaped_and_audited_without_their_text(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['gap']}"
    token = csrf_of(client.get(page).text)
    text = "Nobody covers Hiawatha after 22:00 <script>alert(1)</script>"
    response = client.post(f"{page}/note", data={"csrf": token, "text": text})
    assert (response.status_code, response.headers["location"]) == (303, f"{page}#notes")
    html = client.get(page).text
    assert "Nobody covers Hiawatha after 22:00 &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "<strong>dana</strong>" in html
    assert [(n.author, n.text) for n in review.store.notes(review.ids["gap"])] == [("dana", text)]
    added = review.audit("add_note")
    assert [(e.username, e.target) for e in added] == [("dana", review.ids["gap"])]
    assert "Hiawatha" not in repr(added)


def test_an_empty_note_is_an_error_on_the_page(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['gap']}"
    response = client.post(f"{page}/note", data={"csrf": csrf_of(client.get(page).text), "text": "  \n "})
    assert response.status_code == 400 and '<p class="error">A note cannot be empty</p>' in response.text
    assert review.store.notes(review.ids["gap"]) == []


# --- exports, packet, summary


def test_day_csv_has_the_columns_and_a_row_per_activation_and_team(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['phillips']}"
    client.post(f"{page}/outcome", data={"csrf": csrf_of(client.get(page).text), "team": "vi-south-phillips", "outcome": "unable",
                                          "reason": "=HYPERLINK(\"http://evil\")"})
    response = client.get("/export/2026-07-04.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="vigil-review-2026-07-04.csv"'
    assert response.text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = csv_of(response.text)
    expected = [(review.ids[n], line.team) for n in ("jordan", "phillips", "gap", "retaliation") for line in review.review(n).teams]
    assert [(r["activation"], r["team"]) for r in rows] == expected
    street = next(r for r in rows if r["team"] == "vi-south-phillips")
    assert (street["outcome"], street["acked_in_time"], street["date"]) == ("unable", "no", "2026-07-04")
    assert street["outcome_reason"] == "'=HYPERLINK(\"http://evil\")"  # not a formula in a spreadsheet
    assert [e.target for e in review.audit("export_csv")] == ["2026-07-04"]


def test_range_csv(review: Review) -> None:
    response = review.signed_in("dana").get("/export.csv?from=2026-07-01&to=2026-07-03")
    assert response.headers["content-disposition"] == 'attachment; filename="vigil-review-2026-07-01_to_2026-07-03.csv"'
    assert {r["activation"] for r in csv_of(response.text)} == {review.ids["early_gap"], review.ids["hospital"]}
    assert [e.target for e in review.audit("export_csv")] == ["2026-07-01..2026-07-03"]


def test_packet_has_every_activation_with_map_timeline_outcomes_and_notes(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['gap']}"
    token = csrf_of(client.get(page).text)
    client.post(f"{page}/note", data={"csrf": token, "text": "raise at the coverage meeting"})
    client.post(f"{page}/outcome", data={"csrf": token, "team": "gvi-outreach", "outcome": "family_support"})
    response = client.get("/review/2026-07-04/packet")
    assert response.status_code == 200
    sections = response.text.split('<section class="packet-activation">')[1:]
    assert len(sections) == 4
    for name, section in zip(("jordan", "phillips", "gap", "retaliation"), sections, strict=True):
        assert review.ids[name] in section
        assert '<polygon class="cell"' in section and '<table class="timeline">' in section and '<table class="teams stack">' in section
    gap = sections[2]
    assert "raise at the coverage meeting" in gap and "<strong>family support</strong>" in gap
    assert "break-after: page" in response.text and "@media print" in response.text
    assert '<form method="post" action="/activation' not in response.text  # a packet is for reading
    assert [e.target for e in review.audit("view_packet")] == ["2026-07-04"]


def test_summary_numbers(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['jordan']}"
    token = csrf_of(client.get(page).text)
    for team, outcome in [("vi-north-nearnorth", "went_to_scene"), ("gvi-outreach", "went_to_scene")]:
        client.post(f"{page}/outcome", data={"csrf": token, "team": team, "outcome": outcome})
    html = client.get("/summary?from=2026-07-04&to=2026-07-04").text
    expected = summarise([review.review(n) for n in ("jordan", "phillips", "gap", "retaliation")], CHICAGO)
    assert re.search(r'id="activations">4\b', html)
    assert expected.median_seconds_to_notify == 1.0
    assert '<span id="notify-median">1.0 s</span>' in html and '<span id="notify-p90">1.0 s</span>' in html
    for flag, n in {"coverage_gap": 1, "retaliation_watch": 1, "missed_ack": 2, "delivery_failure": 1}.items():
        assert expected.flags[flag] == n
        assert re.search(rf'<tr id="flag-{flag}"><td>[^<]+</td><td class="num">{n}</td></tr>', html), flag
    street = html.split('<tr id="team-vi-north-nearnorth">')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">([^<]*)<', street) == ["2", "1", "50% (1 of 2)", "4.0"]
    assert re.search(r'id="outcome-went_to_scene"><td>went to the scene</td><td class="num">2</td>', html)
    assert re.search(r'id="outcome-unable"><td>unable</td><td class="num">0</td>', html)
    assert 'id="outcome-missing">' + str(sum(len({line.team for line in review.review(n).teams})
                                                 for n in ("jordan", "phillips", "gap", "retaliation")) - 2) in html
    assert "<td>Hiawatha</td><td class=\"num\">1</td>" in html and "<td>23:00–23:59</td>" in html
    assert [e.target for e in review.audit("view_summary")] == ["2026-07-04..2026-07-04"]


def test_summary_defaults_to_the_last_7_days(review: Review) -> None:
    html = review.signed_in("dana").get("/summary").text
    assert "Summary, 2026-06-29 to 2026-07-05" in html
    assert re.search(r'id="activations">6\b', html)


@pytest.mark.parametrize(("query", "message"), [
    ("from=2025-07-01&to=2026-07-04", "A range is at most 366 days; this one has 369"),
    ("from=2026-07-04&to=2026-07-01", "must be on or before"),
    ("from=last-week", "YYYY-MM-DD"),
])
def test_a_bad_summary_or_export_range_is_400(review: Review, query: str, message: str) -> None:
    client = review.signed_in("dana")
    for path in ("/summary", "/export.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400 and message.replace("'", "&#39;") in response.text


def test_a_year_is_not_too_long(review: Review) -> None:
    assert review.signed_in("dana").get("/summary?from=2025-07-05&to=2026-07-05").status_code == 200  # 366 days


@pytest.mark.parametrize("path", ["/review/2026-13-01", "/review/yesterday", "/review/2026-7-4", "/review/2026-07-04x/packet",
                                  "/export/04-07-2026.csv", "/review/9999-12-31", "/review/0001-01-01/packet"])
def test_a_bad_date_is_400_naming_the_format(review: Review, path: str) -> None:
    response = review.signed_in("dana").get(path)
    assert response.status_code == 400
    assert BAD_DATE in response.text and "YYYY-MM-DD" in BAD_DATE


# --- single sign-on


def test_the_trusted_header_signs_in_an_existing_user(review: Review) -> None:
    client = review.client(review.make_app(trusted_user_header=SSO))
    response = client.get("/review/2026-07-04", headers={SSO: "lee"})
    assert response.status_code == 200
    assert day_ids(response.text) == [review.ids["jordan"], review.ids["retaliation"]]  # as lee, a lead
    assert [(e.username, e.detail) for e in review.audit("sign_in")] == [("lee", "single sign-on")]
    # the proxy's word is needed on every request: the cookie alone is not a session
    assert client.get("/review/2026-07-04").status_code == 303
    # forms still need the CSRF token of the session the header started
    page = f"/activation/{review.ids['jordan']}"
    token = csrf_of(client.get(page, headers={SSO: "lee"}).text)
    assert client.post(f"{page}/note", data={"text": "x"}, headers={SSO: "lee"}).status_code == 403
    assert client.post(f"{page}/note", data={"text": "x", "csrf": token}, headers={SSO: "lee"}).status_code == 303
    assert len(review.audit("sign_in")) == 1  # one session, not one per request


@pytest.mark.parametrize("name", ["nobody", "olga", ""])
def test_the_trusted_header_naming_no_enabled_user_is_403(review: Review, name: str) -> None:
    client = review.client(review.make_app(trusted_user_header=SSO))
    response = client.get("/review/2026-07-04", headers={SSO: name})
    assert response.status_code == 403 and NOT_A_USER.replace("'", "&#39;") in response.text
    assert [e.action for e in review.audit()] == ["sign_in_failed"]


def test_the_header_is_ignored_unless_configured(review: Review) -> None:
    assert review.client().get("/review/2026-07-04", headers={SSO: "dana"}).status_code == 303


def test_the_header_overrides_a_password_session_of_someone_else(review: Review) -> None:
    client = review.client(review.make_app(trusted_user_header=SSO))
    assert sign_in(client, "dana").status_code == 303
    page = client.get("/review/2026-07-04", headers={SSO: "pat"})
    assert day_ids(page.text) == [review.ids["phillips"]]


# --- audit and headers


def test_every_view_and_change_is_audited(review: Review) -> None:
    client = review.signed_in("dana")
    jordan = f"/activation/{review.ids['jordan']}"
    client.get("/review/2026-07-04")
    token = csrf_of(client.get(jordan).text)
    client.post(f"{jordan}/outcome", data={"csrf": token, "team": "gvi-outreach", "outcome": "mediation"})
    client.post(f"{jordan}/note", data={"csrf": token, "text": "ok"})
    client.get("/summary?from=2026-07-01&to=2026-07-04")
    client.get("/export/2026-07-04.csv")
    client.get("/review/2026-07-04/packet")
    client.post("/logout", data={"csrf": token})
    assert [(e.username, e.action, e.target) for e in review.audit()] == [
        ("dana", "sign_in", "/login"),
        ("dana", "view_day", "2026-07-04"),
        ("dana", "view_activation", review.ids["jordan"]),
        ("dana", "record_outcome", review.ids["jordan"]),
        ("dana", "add_note", review.ids["jordan"]),
        ("dana", "view_summary", "2026-07-01..2026-07-04"),
        ("dana", "export_csv", "2026-07-04"),
        ("dana", "view_packet", "2026-07-04"),
        ("dana", "sign_out", "/logout"),
    ]
    assert all(e.at == MORNING for e in review.audit())


def test_review_pages_carry_the_security_headers_and_no_script(review: Review) -> None:
    client = review.signed_in("dana")
    for path in ("/login", "/review/2026-07-04", f"/activation/{review.ids['jordan']}", "/summary", "/review/2026-07-04/packet",
                 "/export/2026-07-04.csv", "/review/bad"):
        response = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (path, name)
        assert "<script" not in response.text
        body = response.text.split("<body>")[-1].replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in body and "https://" not in body, path  # nothing fetched from anywhere
