"""The standdowns page (reviews/web/standdowns.py) over a real store (SQLite and PostgreSQL): DNS adds and ends
standdowns, each stored then sent, a lead reads their own team's and the areas' ones and cannot change any, a form
that cannot be taken comes back with why, a failed send is said and can be sent again, and every change is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from reviews.web.standdowns import DNS_ONLY, NOT_SENT
from stream.core.standdowns import Standdown
from tests.reviews.web.fixtures import CHICAGO, MORNING, Review, csrf_of, sign_in

pytestmark = pytest.mark.database


@dataclass
class Sends:
    """What the app sent to the workers, and a switch that makes sending fail."""

    sent: list[Standdown] = field(default_factory=list)
    failing: bool = False


@pytest.fixture
def sends(review: Review) -> Iterator[Sends]:
    """The review app, sending standdowns into a list (or failing to)."""
    sends = Sends()

    async def publish(standdown: Standdown) -> None:
        if sends.failing:
            raise ConnectionError("broker down")
        sends.sent.append(standdown)

    review.app = review.make_app(publish_standdown=publish)
    yield sends


def _local(moment) -> str:
    return f"{moment.astimezone(CHICAGO):%Y-%m-%dT%H:%M}"


def _add(client: TestClient, **fields: str):
    form = {"team": "", "area": "", "starts": _local(MORNING), "ends": _local(MORNING + timedelta(hours=2)), "every": "",
            "reason": "funeral of a colleague", **fields}
    form["csrf"] = csrf_of(client.get("/standdowns").text)
    return client.post("/standdowns", data=form)


def _section(html: str, name: str) -> str:
    found = re.search(rf'<section class="{name}">(.*?)</section>', html, re.S)
    assert found, f"no section {name}"
    return found.group(1)


def test_dns_adds_a_standdown_it_is_stored_sent_audited_and_in_force(review: Review, sends: Sends) -> None:
    dana = review.signed_in("dana")
    response = _add(dana, team="vi-north-camden")
    assert response.status_code == 303 and "sent=1" in response.headers["location"]
    [stored] = review.store.standdowns()
    s = stored.standdown
    assert (s.team, s.by, s.reason, s.starts, s.ends) == ("vi-north-camden", "dana", "funeral of a colleague", MORNING,
                                                           MORNING + timedelta(hours=2))
    assert sends.sent == [s] and stored.sent
    [added] = review.audit("standdown_added")
    assert (added.username, added.target) == ("dana", s.id) and "vi-north-camden" in added.detail
    page = dana.get(response.headers["location"])
    assert "Standdown added and sent to the workers." in page.text
    in_force = _section(page.text, "in-force")
    assert "vi-north-camden" in in_force and "In force: Sun 5 Jul 09:30 – 11:30 CDT" in in_force
    assert "funeral of a colleague" in in_force and "Added by dana" in in_force and "End now" in in_force


def test_dns_ends_a_standdown_and_the_ended_version_is_sent(review: Review, sends: Sends) -> None:
    dana = review.signed_in("dana")
    _add(dana, area="jordan", ends=_local(MORNING + timedelta(days=1)), reason="a drill")
    [stored] = review.store.standdowns()
    assert stored.standdown.area == "Jordan"  # as the coverage map names it
    review.now = MORNING + timedelta(minutes=20)
    csrf = csrf_of(dana.get("/standdowns").text)
    response = dana.post(f"/standdowns/{stored.standdown.id}/end", data={"csrf": csrf})
    assert response.status_code == 303 and "note=ended&sent=1" in response.headers["location"]
    ended = review.store.standdown(stored.standdown.id)
    assert ended is not None and ended.standdown.ended_at == review.now and ended.standdown.ended_by == "dana" and ended.sent
    assert [x.ended_at for x in sends.sent] == [None, review.now]
    assert [(e.username, e.target) for e in review.audit("standdown_ended")] == [("dana", stored.standdown.id)]
    page = dana.get("/standdowns").text
    assert "area Jordan" in _section(page, "ended") and "Ended Sun 5 Jul 2026 09:50 CDT by dana" in page
    again = dana.post(f"/standdowns/{stored.standdown.id}/end", data={"csrf": csrf})
    assert again.status_code == 409 and "already ended by dana" in again.text


def test_a_lead_reads_their_teams_and_the_areas_standdowns_and_cannot_change_them(review: Review, sends: Sends) -> None:
    dana = review.signed_in("dana")
    for fields in ({"team": "vi-north-nearnorth", "reason": "team training"}, {"team": "vi-south-phillips", "reason": "retreat"},
                   {"area": "Jordan", "reason": "vigil march"}):
        assert _add(dana, **fields).status_code == 303
    ids = {s.standdown.subject: s.standdown.id for s in review.store.standdowns()}
    lee = review.signed_in("lee")
    page = lee.get("/standdowns")
    assert page.status_code == 200
    assert "team training" in page.text and "vigil march" in page.text and "retreat" not in page.text
    assert 'action="/standdowns"' not in page.text and "/end" not in page.text  # read-only: no forms
    csrf = csrf_of(page.text)  # the sign-out form's
    refused = [lee.post("/standdowns", data={"csrf": csrf, "team": "vi-north-nearnorth", "ends": _local(MORNING + timedelta(hours=1)),
                                             "reason": "mine"}),
               lee.post(f"/standdowns/{ids['vi-north-nearnorth']}/end", data={"csrf": csrf}),
               lee.post("/standdowns/send", data={"csrf": csrf})]
    assert [r.status_code for r in refused] == [403] * 3 and all(str(escape(DNS_ONLY)) in r.text for r in refused)
    assert len(review.store.standdowns()) == 3 and all(s.standdown.ended_at is None for s in review.store.standdowns())
    assert [(e.username, e.target) for e in review.audit("refused")] == [
        ("lee", "/standdowns"), ("lee", f"/standdowns/{ids['vi-north-nearnorth']}/end"), ("lee", "/standdowns/send")]
    assert len(sends.sent) == 3


@pytest.mark.parametrize(("fields", "message"), [
    ({"team": "vi-nort-camden"}, 'there is no team &#39;vi-nort-camden&#39; (did you mean &#34;vi-north-camden&#34;?)'),
    ({"area": "Jordn"}, 'there is no neighborhood &#39;Jordn&#39; (did you mean &#34;Jordan&#34;?)'),
    ({"team": "dns-oncall"}, "dns-oncall is the on-call team: every alert of a stood-down team goes to it"),
    ({"team": "vi-central", "reason": "  "}, "a reason is required"),
    ({"team": "vi-central", "reason": "x" * 301}, "the reason is at most 300 characters, this one has 301"),
    ({"team": "vi-central", "ends": ""}, "a one-off standdown needs an end"),
    ({"team": "vi-central", "every": "every mun 16:00-18:00"}, "&#39;mun&#39; is not a day of the week (did you mean"),
])
def test_a_form_that_cannot_be_taken_comes_back_with_why_and_its_draft(review: Review, sends: Sends, fields, message) -> None:
    response = _add(review.signed_in("dana"), **fields)
    assert response.status_code == 400
    assert message in response.text
    typed = fields.get("team") or fields.get("area")
    assert f'value="{typed}"' in response.text  # the draft is kept
    assert review.store.standdowns() == [] and sends.sent == [] and review.audit("standdown_added") == []


def test_a_failed_send_is_said_kept_and_sent_again(review: Review, sends: Sends) -> None:
    dana = review.signed_in("dana")
    sends.failing = True
    response = _add(dana, team="vi-central", every="every mon,wed 16:00-18:00", ends="")
    assert "sent=0" in response.headers["location"]
    page = dana.get(response.headers["location"]).text
    assert str(escape(NOT_SENT)) in page and "1 change saved but not yet sent to the workers." in page and "Not yet sent to the workers" in page
    [stored] = review.store.standdowns()
    assert not stored.sent and stored.standdown.weekly is not None
    upcoming = _section(page, "upcoming")  # Sunday morning: the next window is Monday's
    assert "Next: Mon 6 Jul 16:00 – 18:00 CDT" in upcoming and "every mon, wed 16:00-18:00" in upcoming
    sends.failing = False
    resent = dana.post("/standdowns/send", data={"csrf": csrf_of(page)})
    assert resent.status_code == 303 and "sent=1" in resent.headers["location"]
    assert review.store.standdowns()[0].sent and sends.sent == [stored.standdown]
    assert "not yet sent" not in dana.get("/standdowns").text
    assert [e.detail for e in review.audit("standdowns_resent")] == ["1 of 1 sent"]


def test_a_recurring_standdown_in_force_shows_its_next_window(review: Review, sends: Sends) -> None:
    review.now = MORNING + timedelta(days=1, hours=7)  # Monday 16:30
    dana = review.signed_in("dana")
    _add(dana, team="vi-central", starts=_local(MORNING), ends="", every="every mon,wed 16:00-18:00")
    in_force = _section(dana.get("/standdowns").text, "in-force")
    assert "In force: Mon 6 Jul 16:00 – 18:00 CDT" in in_force and "Next window: Wed 8 Jul 16:00 – 18:00 CDT" in in_force


def test_the_same_form_sent_twice_is_one_standdown(review: Review, sends: Sends) -> None:
    dana = review.signed_in("dana")
    page = dana.get("/standdowns").text
    opened = re.search(r'name="opened" value="([^"]+)"', page)
    assert opened
    form = {"csrf": csrf_of(page), "opened": opened.group(1), "team": "vi-central", "starts": _local(MORNING),
            "ends": _local(MORNING + timedelta(hours=1)), "reason": "training"}
    assert dana.post("/standdowns", data=form).status_code == 303
    review.now = MORNING + timedelta(seconds=5)
    assert dana.post("/standdowns", data=form).status_code == 303
    assert len(review.store.standdowns()) == 1


def test_without_a_session_or_a_csrf_token_nothing_changes(review: Review, sends: Sends) -> None:
    anonymous = review.client()
    assert anonymous.get("/standdowns").status_code == 303
    dana = review.client()
    assert sign_in(dana, "dana").status_code == 303
    response = dana.post("/standdowns", data={"team": "vi-central", "ends": _local(MORNING + timedelta(hours=1)), "reason": "x"})
    assert response.status_code == 403 and review.store.standdowns() == []
