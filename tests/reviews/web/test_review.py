"""The review pages (reviews/web/review.py) over a real store (SQLite and PostgreSQL), with timelines the core really
makes: who sees what, the day, the activation page, outcomes, notes, the packet, the summary, and the audit trail."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from reviews.model import summarise
from reviews.web.review import BAD_DATE, NOT_YOUR_TEAM, NOT_YOURS
from tests.reviews.web.fixtures import CHICAGO, MORNING, Review, csrf_of, csv_of, day_ids

pytestmark = pytest.mark.database


def test_dns_sees_every_activation_of_the_day(review: Review) -> None:
    page = review.signed_in("dana").get("/review/2026-07-04")
    assert page.status_code == 200
    assert day_ids(page.text) == [review.ids[n] for n in ("jordan", "phillips", "gap", "retaliation")]  # in time order
    assert review.ids["early_gap"] not in page.text and review.ids["hospital"] not in page.text  # other days


def test_day_page_shows_time_kind_place_teams_and_flags(review: Review) -> None:
    html = review.signed_in("dana").get("/review/2026-07-04").text
    rows = {i: row for row in html.split('<tr class="activation">')[1:] for i in day_ids(row)}
    jordan, phillips, gap, retaliation = (rows[review.ids[n]] for n in ("jordan", "phillips", "gap", "retaliation"))
    assert "22:15" in jordan and "person shot" in jordan and "Jordan" in jordan and "<strong>vi-north-nearnorth</strong>: " in jordan
    assert jordan.index("<strong>vi-north-nearnorth</strong>") < jordan.index("<strong>gvi-outreach</strong>")  # the teams told, in order
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
    acked = next(r for r in rows if r[0] == "acked")
    assert acked[1:] == ("22:19:00", "+4.0", "vi-north-nearnorth: acknowledged, in time (escalation cancelled)")
    updated = [r[1:] for r in rows if r[0] == "updated"]  # 30 s later, the teams told heard who answered
    assert sorted((at, text) for at, _, text in updated) == [("22:19:30", "gvi-outreach told who has answered"),
                                                              ("22:19:30", "vi-north-nearnorth told who has answered")]
    assert updated[0][1] == "+0.5"


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
    assert '<h2 id="timeline">Timeline</h2>' in response.text  # the page, not a crash
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
    assert response.status_code == 400 and '<p class="error" id="note-error">A note cannot be empty</p>' in response.text
    assert review.store.notes(review.ids["gap"]) == []


def test_packet_has_every_activation_with_map_timeline_outcomes_and_notes(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['gap']}"
    token = csrf_of(client.get(page).text)
    client.post(f"{page}/note", data={"csrf": token, "text": "raise at the coverage meeting"})
    client.post(f"{page}/outcome", data={"csrf": token, "team": "gvi-outreach", "outcome": "family_support"})
    response = client.get("/review/2026-07-04/packet")
    assert response.status_code == 200
    sections = re.split(r'<section class="packet-activation" id="activation-\d+">', response.text)[1:]
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
    assert re.findall(r'<td class="num"[^>]*>([^<]*)<', street) == ["2", "1", "50% (1 of 2)", "4.0"]
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
