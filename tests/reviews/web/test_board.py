"""The live board's routes (reviews/web/board.py) over a real store (SQLite and PostgreSQL) with the night the core
really made: who sees which rows, the event stream, and acting from the board (what each form publishes, who may)."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from fastapi import FastAPI

from notifiers.ack_links import AckSigner
from reviews.web.app import create_web_app
from reviews.web.board import NOT_SENT, ONLY_DNS
from reviews.web.deps import BoardTiming
from reviews.web.review import NOT_YOURS
from stream.model.events import AckMessage, BoardAction
from stream.model.timeline import AckRecorded, BoardActed
from tests.reviews.web.fixtures import CHICAGO, Review, csrf_of

pytestmark = pytest.mark.database

STREET = "vi-north-nearnorth"
ROW = re.compile(r'<article class="board-row[^"]*" id="row-([^"]+)"')
FAST = BoardTiming(poll_s=0.05, heartbeat_s=0.2, stream_s=1.0)


class Published(list):
    """What the app published to the acks topic; ``fail`` makes the next publish raise."""

    fail = False

    async def __call__(self, message) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.append(message)


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def app(review: Review, published: Published) -> FastAPI:
    made = create_web_app(AckSigner(b"board-test-secret-0123", "https://vigil.example.org"), review.store, published,
                          lambda: review.now, zone=CHICAGO, board_timing=FAST)
    review.app = made  # review.signed_in() signs in to this app
    return made


def rows_of(html: str) -> list[str]:
    return ROW.findall(html)


def events_of(text: str) -> list[tuple[str, str]]:
    """(event, data) of an event stream's text, in order."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], fields.get("data", "")))
    return found


def test_dns_sees_the_open_activations_newest_first(review: Review, app: FastAPI) -> None:
    page = review.signed_in("dana").get("/board")
    assert page.status_code == 200
    assert rows_of(page.text) == [review.ids[n] for n in ("retaliation", "gap", "phillips", "jordan")]  # the 1st and 3rd are older than 24 h
    jordan = page.text.split(f'id="row-{review.ids["jordan"]}"')[1].split("</article>")[0]
    assert "acknowledged at 22:19" in jordan and "not escalated" in jordan and "escalated at" not in jordan
    phillips = page.text.split(f'id="row-{review.ids["phillips"]}"')[1].split("</article>")[0]
    assert "escalated at 22:55" in phillips and "overdue" in phillips  # the deadline passed unanswered
    assert '<script src="/board.js" defer></script>' in page.text and "<script>" not in page.text
    assert [e.action for e in review.audit("view_board")] == ["view_board"]


def test_a_lead_sees_their_teams_rows_and_lines_only(review: Review, app: FastAPI) -> None:
    page = review.signed_in("lee").get("/board").text
    assert rows_of(page) == [review.ids["retaliation"], review.ids["jordan"]]
    assert "gvi-outreach" not in page and "Midtown Phillips" not in page and review.ids["phillips"] not in page
    assert "other team told" in page and "/board/" + review.ids["jordan"] + "/answer" not in page  # no action forms for a lead
    stream = review.signed_in("lee").get("/board/events").text
    assert review.ids["phillips"] not in stream and "gvi-outreach" not in stream and review.ids["jordan"] in stream


def _form(review: Review, client, path: str, **data):
    csrf = csrf_of(client.get("/board").text)
    return client.post(path, data={"csrf": csrf, **data})


def test_answering_on_a_teams_behalf_publishes_it_with_the_dns_user(review: Review, app: FastAPI, published: Published) -> None:
    dana = review.signed_in("dana")
    response = _form(review, dana, f"/board/{review.ids['phillips']}/answer", team="vi-south-phillips", response="on_my_way")
    assert response.status_code == 303 and response.headers["location"] == f"/board#row-{review.ids['phillips']}"
    assert published == [AckMessage(ref=review.ids["phillips"], team="vi-south-phillips", response="on_my_way", by="dana")]
    assert [(e.username, e.target, e.detail) for e in review.audit("board_answer")] == [
        ("dana", review.ids["phillips"], "team=vi-south-phillips response=on_my_way")]


def test_repage_and_close_publish_board_actions(review: Review, app: FastAPI, published: Published) -> None:
    dana = review.signed_in("dana")
    jordan = review.ids["jordan"]
    assert _form(review, dana, f"/board/{jordan}/repage", team=STREET, request_id="req-1").status_code == 303
    assert _form(review, dana, f"/board/{jordan}/repage", team=STREET, request_id="req-1").status_code == 303  # a retried form
    assert _form(review, dana, f"/board/{jordan}/close").status_code == 303
    assert published[:2] == [BoardAction(action="repage", ref=jordan, team=STREET, by="dana", request_id="req-1")] * 2
    close = published[2]
    assert isinstance(close, BoardAction) and (close.action, close.ref, close.team, close.by) == ("close", jordan, None, "dana")
    assert re.fullmatch(r"[0-9a-f]{32}", close.request_id)  # no id in the form (no script): a fresh one
    assert [e.action for e in review.audit() if e.action.startswith("board_")] == ["board_repage", "board_repage", "board_close"]


def test_a_note_from_the_board_goes_to_the_review(review: Review, app: FastAPI, published: Published) -> None:
    dana = review.signed_in("dana")
    assert _form(review, dana, f"/board/{review.ids['gap']}/note", text="  called Longfellow's pastor  ").status_code == 303
    assert [n.text for n in review.store.notes(review.ids["gap"])] == ["called Longfellow's pastor"]
    assert _form(review, dana, f"/board/{review.ids['gap']}/note", text="   ").status_code == 400
    assert _form(review, dana, f"/board/{review.ids['gap']}/note", text="x" * 4001).status_code == 400
    assert published == []


def test_a_lead_may_not_act_from_the_board(review: Review, app: FastAPI, published: Published) -> None:
    lee = review.signed_in("lee")
    jordan = review.ids["jordan"]
    for action, data in [("answer", {"team": STREET, "response": "ack"}), ("repage", {"team": STREET}), ("close", {}), ("note", {"text": "hi"})]:
        response = _form(review, lee, f"/board/{jordan}/{action}", **data)
        assert response.status_code == 403 and ONLY_DNS in response.text, action
    other = _form(review, lee, f"/board/{review.ids['phillips']}/close")
    assert other.status_code == 403 and NOT_YOURS in other.text
    assert published == [] and review.store.notes(jordan) == []
    assert [e.detail for e in review.audit("refused")][:4] == [f"board {a}: only DNS staff act from the board" for a in ("answer", "repage", "close", "note")]


def test_forms_without_the_csrf_token_or_with_bad_fields_are_refused(review: Review, app: FastAPI, published: Published) -> None:
    dana = review.signed_in("dana")
    jordan = review.ids["jordan"]
    assert dana.post(f"/board/{jordan}/close", data={"csrf": "forged"}).status_code == 403
    assert dana.post(f"/board/{jordan}/answer", data={"team": STREET, "response": "ack"}).status_code == 403
    assert _form(review, dana, f"/board/{jordan}/answer", team="vi-south-phillips", response="ack").status_code == 400  # not told
    assert _form(review, dana, f"/board/{jordan}/answer", team=STREET, response="maybe").status_code == 400
    assert _form(review, dana, "/board/act-00000000000000000000/close").status_code == 404
    assert published == []
    assert [e.detail for e in review.audit("refused")] == ["csrf token missing or wrong"] * 2


def test_a_failed_publish_says_nothing_was_done(review: Review, app: FastAPI, published: Published) -> None:
    dana = review.signed_in("dana")
    published.fail = True
    response = _form(review, dana, f"/board/{review.ids['jordan']}/close")
    assert response.status_code == 503 and NOT_SENT in response.text
    assert [e.action for e in review.audit() if e.action.startswith("board_")] == ["board_failed"]


def test_the_script_is_served_as_javascript_behind_sign_in(review: Review, app: FastAPI) -> None:
    script = review.signed_in("dana").get("/board.js")
    assert script.status_code == 200 and script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "EventSource" in script.text
    assert review.client().get("/board.js").status_code == 303


def test_one_round_of_events_without_an_event_stream_client(review: Review, app: FastAPI) -> None:
    dana = review.signed_in("dana")
    response = dana.get("/board/events")
    assert response.headers["content-type"].startswith("text/event-stream") and response.text.startswith("retry: 2000\n\n")
    events = events_of(response.text)
    assert [name for name, _ in events] == ["row"] * 4 + ["beat"]
    assert re.findall(r"^id: (.+)$", response.text, re.M)  # the batch ends with the cursor
    assert [name for name, _ in events_of(dana.get("/board/events?since=not-a-time").text)] == ["row"] * 4 + ["beat"]


def _later(seconds: float, action) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _answer(review: Review, name: str, team: str, n: int) -> AckRecorded:
    return AckRecorded(entry_id=f"tl-board-ack-{n}", activation_id=review.ids[name], at=review.now - timedelta(minutes=1), team=team,
                       first=True, within_deadline=False, response="on_my_way", by="dana")


def test_the_stream_sends_what_was_stored_after_its_cursor_each_change_once(review: Review, app: FastAPI) -> None:
    dana = review.signed_in("dana")
    jordan, phillips, gap = review.ids["jordan"], review.ids["phillips"], review.ids["gap"]
    time.sleep(3.2)  # the night's records now lie further back than the stream's overlap
    review.store.append([_answer(review, "gap", "gvi-outreach", 1)])
    cursor = max(review.store.activations_changed_since(review.now - timedelta(days=9), review.now - timedelta(days=9)).values())
    close = BoardActed(entry_id="tl-board-close", activation_id=jordan, at=review.now, action="close", by="dana")
    writer = _later(0.3, lambda: review.store.append([_answer(review, "phillips", "vi-south-phillips", 2), close]))
    stream = dana.get("/board/events", headers={"Accept": "text/event-stream", "Last-Event-ID": cursor.isoformat()}).text
    writer.join()
    events = events_of(stream)
    sent = [(name, data.split('"html"')[0]) for name, data in events if name != "beat"]
    # the gap's row is in the overlap: sent again on a (re)connect; then the later changes; each change once, however
    # many polls saw it (in which batch the writer's records land depends on the machine's speed: not compared)
    assert sorted(sent) == sorted([("row", f'{{"id":"{gap}","opened":"2026-07-05T04:05:00+00:00",'), ("remove", f'{{"id":"{jordan}"}}'),
                                   ("row", f'{{"id":"{phillips}","opened":"2026-07-05T03:45:00+00:00",')])
    names = [name for name, _ in events]
    assert names[0] != "beat" and "beat" in names  # changes first, and a beat in the first batch: the page knows it is live
    assert names.index("beat") <= 3
    row = next(data for name, data in events if name == "row" and phillips in data)
    assert "on my way at 09:29, answered on the team" in row and "by dana" in row
    assert rows_of(dana.get("/board").text) == [review.ids[n] for n in ("retaliation", "gap", "phillips")]


def test_the_stream_ends_when_its_user_is_signed_out(review: Review, app: FastAPI) -> None:
    dana = review.signed_in("dana")
    ender = _later(0.3, lambda: review.store.end_sessions("dana"))
    started = time.monotonic()
    stream = dana.get("/board/events", headers={"Accept": "text/event-stream"}).text
    ender.join()
    assert events_of(stream)[-1] == ("signed_out", "{}") and time.monotonic() - started < FAST.stream_s


def test_a_busy_stream_still_notices_its_user_was_disabled(review: Review, app: FastAPI, deployment) -> None:
    dana = review.signed_in("dana")
    stop = threading.Event()

    def answers() -> None:  # a row changes every 0.1 s: there is never a quiet moment for a heartbeat
        for n in range(100):
            if stop.is_set():
                return
            review.store.append([_answer(review, "gap", "gvi-outreach", 100 + n).model_copy(update={"name": f"busy-{n}"})])
            time.sleep(0.1)

    writer = _later(0, answers)
    ender = _later(0.4, lambda: review.store.set_disabled("dana", True))
    stream = dana.get("/board/events", headers={"Accept": "text/event-stream"}).text
    stop.set()
    writer.join()
    ender.join()
    events = events_of(stream)
    assert events[-1] == ("signed_out", "{}"), [name for name, _ in events][-5:]
    assert [name for name, _ in events].count("row") >= 3

