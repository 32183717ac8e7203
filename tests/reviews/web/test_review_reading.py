"""The review pages as DNS staff read them (issue 17, item 5), over a real store: the links that follow the day being
viewed, the answer column, the packet's cover, a refused note or request that leaves the reader somewhere to go,
drills and the records the live board and the standdowns add, and the CSV's new columns."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import pytest

from reviews.store import NOTE_MAX_CHARS
from stream.model.timeline import AckRecorded, ActivationDecided, BoardActed, IntentCreated, StoodDown
from tests.reviews.web.fixtures import T0, Review, csrf_of, csv_of

pytestmark = pytest.mark.database


def _text(response) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", response.text))


def test_the_top_links_follow_the_day_being_viewed(review: Review) -> None:
    client = review.signed_in("dana")
    day = client.get("/review/2026-07-04").text
    assert '<a href="/review/2026-07-04">Day 2026-07-04</a>' in day  # the review's clock says 5 July
    assert '<a href="/summary?from=2026-07-04&amp;to=2026-07-04">Summary</a>' in day
    activation = client.get(f"/activation/{review.ids['hospital']}").text
    assert '<a href="/review/2026-07-03">Day 2026-07-03</a>' in activation and "/summary?from=2026-07-03&amp;to=2026-07-03" in activation
    today = client.get("/review/2026-07-05").text
    assert '<a href="/review/2026-07-05">Today</a>' in today
    summary = client.get("/summary?from=2026-07-01&to=2026-07-04").text
    assert "/summary?from=2026-07-01&amp;to=2026-07-04" in summary


def test_the_day_list_says_who_answered_what_and_when(review: Review) -> None:
    client = review.signed_in("dana")
    rows = {i: row for row in client.get("/review/2026-07-04").text.split('<tr class="activation">')[1:]
            for i in re.findall(r'href="/activation/([^"#/]+)"', row)}
    jordan, phillips = _text_of(rows[review.ids["jordan"]]), _text_of(rows[review.ids["phillips"]])
    assert "vi-north-nearnorth: acknowledged 22:19" in jordan
    assert "gvi-outreach: no answer (no deadline)" in jordan
    assert "vi-south-phillips: no answer, ack was due 22:55" in phillips


def _text_of(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_an_over_long_note_is_refused_with_its_count_and_kept_and_the_form_does_not_cut_it(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['gap']}"
    form = client.get(page).text
    assert "maxlength" not in form.split('action="/activation')[-1]  # a browser would cut a pasted note silently
    assert "At most 4,000 characters." in _text(client.get(page))
    text = "x" * (NOTE_MAX_CHARS + 1)
    response = client.post(f"{page}/note", data={"csrf": csrf_of(form), "text": text})
    assert response.status_code == 400
    assert "Not saved: a note is at most 4,000 characters, this one has 4,001. Shorten it and add it again." in _text(response)
    assert f">{text}</textarea>" in response.text and "this draft has 4,001." in _text(response)
    assert review.store.notes(review.ids["gap"]) == []


def test_a_refused_activation_links_back_to_the_day_and_the_board(review: Review) -> None:
    lee = review.signed_in("lee")
    for path, status in ((f"/activation/{review.ids['phillips']}", 403), ("/activation/act-nothing", 404)):
        response = lee.get(path)
        assert response.status_code == status
        assert '<a href="/review/2026-07-05">' in response.text and '<a href="/board">The live board</a>' in response.text


def test_a_wrong_method_or_address_is_the_sites_page_not_json(review: Review) -> None:
    client = review.signed_in("dana")
    posted = client.post("/review/2026-07-04", data={"csrf": "x"})
    assert posted.status_code == 405 and posted.headers["allow"] == "GET"
    assert posted.headers["content-type"].startswith("text/html") and '"detail"' not in posted.text
    assert "That cannot be done here" in posted.text and '<a href="/review/2026-07-04">Back to the page</a>' in posted.text
    fetched = client.get(f"/activation/{review.ids['gap']}/note")  # a form's address opened as a page
    assert fetched.status_code == 405 and f'<a href="/activation/{review.ids["gap"]}">Back to the page</a>' in fetched.text
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "There is no page at this address." in missing.text and 'href="/board"' in missing.text


def test_the_packet_opens_with_the_days_summary_flagged_activations_and_action_items(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['jordan']}"
    token = csrf_of(client.get(page).text)
    client.post(f"{page}/outcome", data={"csrf": token, "team": "vi-north-nearnorth", "outcome": "went_to_scene"})
    packet = client.get("/review/2026-07-04/packet").text
    cover = _text_of(packet.split('<section class="packet-cover">')[1].split("</section>")[0])
    assert re.search(r"Activations\s*4 \(person shot: 4\)", cover) and re.search(r"Missed acks\s*2", cover)
    assert "Time to notify" in cover and "median 1.0 s" in cover
    flagged = packet.split('<table class="flagged">')[1].split("</table>")[0]
    assert [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', flagged)] == [2, 3, 4]  # jordan is not flagged
    items = _text_of(packet.split('<table class="actions">')[1].split("</table>")[0])
    assert "vi-south-phillips lead" in items and "record vi-south-phillips's outcome (22:45 person shot, Midtown Phillips)" in items
    assert "decide and document why vi-south-phillips missed its ack (22:45 person shot, Midtown Phillips)" in items
    assert "record vi-north-nearnorth's outcome (22:15" not in items  # recorded above (23:25's is still to do)
    assert "@bottom-right" in packet and "counter(page)" in packet


def _add(review: Review, *records) -> None:
    review.store.append(list(records))
    review.run.records += list(records)


def test_a_drill_is_labelled_on_every_page_and_left_out_of_the_summary(review: Review) -> None:
    gap = review.ids["gap"]
    decided = next(r for r in review.run.of(gap) if isinstance(r, ActivationDecided))
    _add(review, decided.model_copy(update={"entry_id": "drill-mark", "step": "update", "drill": True, "at": decided.at + timedelta(seconds=1)}))
    client = review.signed_in("dana")
    day = client.get("/review/2026-07-04").text
    row = next(r for r in day.split('<tr class="activation">')[1:] if gap in r)
    assert '<span class="drill-label">DRILL</span>' in row
    assert 'title="A drill: left out of the summaries">DRILL</span>' in client.get(f"/activation/{gap}").text
    packet = client.get("/review/2026-07-04/packet").text
    assert 'title="A drill: left out of the summaries">DRILL</span>' in packet.split('id="activation-3"')[1]
    assert "1 drill left out of these numbers" in _text_of(packet)
    summary = client.get("/summary?from=2026-07-04&to=2026-07-04").text
    assert re.search(r'id="activations">3\b', summary) and "1 drill left out" in _text_of(summary)
    assert re.search(r'<tr id="flag-coverage_gap"><td>[^<]+</td><td class="num">0</td>', summary)


def test_the_board_and_standdown_records_read_on_the_activation_page(review: Review) -> None:
    jordan = review.ids["jordan"]
    street = next(r for r in review.run.of(jordan) if isinstance(r, IntentCreated) and r.team == "vi-north-nearnorth")
    _add(review,
         StoodDown(entry_id="sd", activation_id=jordan, at=street.at, team="vi-west-lyndale", standdown_id="sd-1", reason="training",
                   until=T0 + timedelta(hours=2), redirected_to=("dns-oncall",)),
         street.model_copy(update={"entry_id": "sd-alert", "intent_id": "sd-alert", "team": "dns-oncall", "ack_deadline": None,
                                   "stood_down_team": "vi-west-lyndale"}),
         BoardActed(entry_id="rp", activation_id=jordan, at=T0 + timedelta(minutes=2), action="repage", team="vi-north-nearnorth", by="dana"),
         AckRecorded(entry_id="behalf", activation_id=jordan, at=T0 + timedelta(minutes=3), team="dns-oncall", first=True,
                     within_deadline=True, response="on_my_way", by="dana"),
         BoardActed(entry_id="cl", activation_id=jordan, at=T0 + timedelta(minutes=30), action="close", by="olga"))
    text = _text(review.signed_in("dana").get(f"/activation/{jordan}"))
    assert "vi-west-lyndale stood down (training) until Sun 05 Jul 00:15: alert sent to dns-oncall" in text  # the step
    assert "vi-west-lyndale stood down (training) until Sun 00:15: alert sent to dns-oncall" in text  # the header
    assert "because vi-west-lyndale is stood down" in text and "stood down" in text
    assert "re-paged vi-north-nearnorth by dana" in text and "re-paged 22:17 by dana" in text
    assert "answered on the team's behalf by dana at 22:18" in text
    assert "closed from the board by olga at 22:45" in text and "closed by olga" in text


def test_the_csv_has_the_incident_the_answer_and_who_minutes_to_answer_and_notes(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['jordan']}"
    token = csrf_of(client.get(page).text)
    for text in ("first", "second"):
        client.post(f"{page}/note", data={"csrf": token, "text": text})
    rows = csv_of(client.get("/export/2026-07-04.csv").text)
    street = next(r for r in rows if r["activation"] == review.ids["jordan"] and r["team"] == "vi-north-nearnorth")
    assert (street["incident"], street["response"], street["minutes_to_answer"], street["notes"]) == ("W-1", "ack", "4.0", "2")
    assert street["answered"] == "2026-07-04T22:19:00-05:00"
    hospital = csv_of(client.get("/export/2026-07-03.csv").text)
    assert {r["incident"] for r in hospital} == {""}  # a hospital's ref is a keyed hash of the visit, not a number
