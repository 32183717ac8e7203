"""The live board (``/board``) for DNS on-call: the open activations of the last 24 hours and how each team
told stands (reviews/board.py computes the rows), kept current without a reload, and the actions DNS takes
from it.

- ``GET /board``: the page. DNS staff see every open activation; a provider lead the activations their team
  was told about, with their own team's lines only (reviews/board.py ``for_lead``).
- ``GET /board/events``: server-sent events. The stream polls the review store every ``BoardTiming.poll_s``
  for records stored after its cursor (``ReviewStore.activations_changed_since``) and sends each changed
  row as an HTML fragment (``row``), or ``remove`` for one that left the board (closed, out of the window);
  a ``beat`` with the review clock's now when nothing else went for ``heartbeat_s``. Every batch ends with an
  ``id:`` (the cursor), so the browser's automatic reconnect (``retry:``) resumes where it was. The stream
  ends after ``stream_s``, or when the user was signed out or disabled; a client that does not ask for
  ``text/event-stream`` gets one round and the end, rather than a held connection.
- ``GET /board.js``: the page's script (the CSP allows this site's scripts only, none inline).
- ``POST /board/{activation_id}/answer|repage|note|close`` (DNS only: a lead gets 403, audited): answer on a
  team's behalf (an ``AckMessage`` with ``by``), page a team again or close the activation (a ``BoardAction``),
  both published to the acks topic, or add a note to its review. Each is CSRF-checked, audited, and
  redirects back to the board.

The cursor is the store's ``stored_at`` (the sink's clock), never compared with this process's clock. A
record may be committed a moment after a later-stamped one became visible (another sink's transaction, or
its clock a little behind), so every poll looks ``OVERLAP`` further back than its cursor and sends a row
only when its fragment changed since this stream last sent it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.datastructures import FormData

from reviews.board import BOARD_FLAG_LABELS, WINDOW, BoardRow, BoardTeam, board_row, for_lead, is_open
from reviews.model import ActivationReview
from reviews.store import NOTE_MAX_CHARS
from reviews.users import User
from reviews.web.deps import CheckedForm, SignedIn, Viewer, Web, WebContext, audit, in_review_store, root
from reviews.web.pages import TEMPLATES, Refusal
from reviews.web.review import review_page, visible_activation
from reviews.web.views import teams_of
from stream.model.events import AckMessage, BoardAction
from stream.model.timeline import ActivationDecided

log = structlog.get_logger(__name__)

router = APIRouter()

SCRIPT = (Path(__file__).resolve().parents[1] / "static" / "board.js").read_text(encoding="utf-8")
OVERLAP = timedelta(seconds=3)
RETRY_MS = 2000  # the browser's wait before it reconnects a stream that ended or broke
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONLY_DNS = "Only DNS staff act from the board: a team lead answers through the link in their alert"
NOT_SENT = "It could not be sent just now (the message service did not answer): nothing was done, please try again"
RESPONSES = {"ack": "acknowledged", "on_my_way": "on my way", "unable": "can't respond"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


# --- what the board shows


def _span(seconds: float) -> str:
    """A duration as the board says it: "under a minute", "7 min", "2 h 05 min"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def team_view(web: WebContext, team: BoardTeam, now: datetime) -> dict[str, Any]:
    """One team's line on the board: told how, who was paged, its answers, deadline, time left, escalation."""
    line = team.line
    hhmm = web.hhmm
    answers = []
    for answer in team.answers:
        text = f"{answer.label} at {hhmm(answer.at)}"
        if answer.by:
            text += f", answered on the team's behalf by {answer.by}"
        elif answer.who:
            text += f" by {answer.who}"
        answers.append(text)
    left = ""
    if team.deadline is not None and not team.answered:
        remaining = (team.deadline - now).total_seconds()
        left = f"{_span(remaining)} left" if remaining >= 0 else f"overdue by {_span(-remaining)}"
    if line.escalated_at is not None:
        escalated = f"escalated at {hhmm(line.escalated_at)}"
    else:
        escalated = "not escalated" if team.deadline is not None else ""
    told = f"{line.step}, {line.protocol}"
    if line.escalated_from:
        told += f", because {line.escalated_from} " + ("answered can't respond" if line.escalated_because == "cant_respond" else "did not ack")
    if team.in_place_of:
        told += f", in place of {team.in_place_of} (stood down)"
    delivery = "no delivery outcome yet" if line.delivery is None else f"{line.delivery}, {line.reached} of {line.recipients} phones"
    return {"team": team.team, "told": told, "notified": hhmm(line.notified_at), "paged": ", ".join(team.paged),
            "on_call": ", ".join(team.on_call), "delivery": delivery, "answers": answers, "answered": team.answered,
            "deadline": hhmm(team.deadline) if team.deadline else "", "deadline_iso": _iso(team.deadline) if team.deadline else "",
            "left": left, "overdue": team.overdue, "escalated": escalated,
            "repaged": [f"paged again at {hhmm(at)} by {by}" for at, by in team.repaged]}


def row_view(web: WebContext, row: BoardRow, now: datetime) -> dict[str, Any]:
    """One activation's row on the board."""
    review = row.review
    where = review.neighborhood or ("outside the city's neighborhoods" if review.cell else "no location given")
    stood_down = [f"{s.team} stood down ({s.reason}) until {web.local(s.until, '%a %H:%M')}: alerted {', '.join(s.redirected_to) or 'nobody'} instead"
                  for s in row.stood_down]
    return {"id": row.id, "what": row.what, "where": where, "community": review.community or "", "incidents": ", ".join(review.incidents),
            "opened": web.hhmm(row.opened_at), "opened_iso": _iso(row.opened_at), "age": _span((now - row.opened_at).total_seconds()),
            "flags": [(flag, BOARD_FLAG_LABELS[flag]) for flag in row.flags], "drill": row.drill, "overdue": row.overdue,
            "settled": row.settled, "teams": [team_view(web, t, now) for t in row.teams], "other_teams": row.other_teams,
            "stood_down": stood_down}


def seen_by(user: User, row: BoardRow) -> BoardRow | None:
    """The row as ``user`` sees it: DNS staff all of it, a lead their own team's lines (None: not theirs)."""
    if user.disabled:
        return None
    if user.role == "dns":
        return row
    return for_lead(row, user.team) if user.role == "lead" and user.team else None


def render_row(request: Request, who: Viewer, view: dict[str, Any]) -> str:
    """A row's HTML fragment, as the page shows it and the event stream sends it."""
    return TEMPLATES.get_template("_board_row.html").render(r=view, root=root(request), me=who.user, csrf=who.session.csrf,
                                                            responses=RESPONSES.items(), note_max=NOTE_MAX_CHARS)


def load_board(web: WebContext, stored_after: datetime) -> tuple[dict[str, BoardRow], datetime | None]:
    """The activations of the window with a record stored after ``stored_after``, as rows (open or not: see
    ``is_open``), and the newest ``stored_at`` among them (blocking: call it on a worker thread)."""
    now = web.review_clock()
    changed = web.store.activations_changed_since(stored_after, now - WINDOW)
    rows = {activation_id: board_row(records, web.zone, now=now) for activation_id, records in web.store.records_for(changed).items()
            if any(isinstance(r, ActivationDecided) for r in records)}
    return rows, max(changed.values(), default=None)


def parse_cursor(text: str | None) -> datetime:
    """A cursor sent back by the browser (its Last-Event-ID, or ``since``); the start of time when there is none
    or it does not read as one (the stream then sends every row)."""
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return EPOCH
    return moment if moment.tzinfo is not None else EPOCH


@router.get("/board", response_class=HTMLResponse)
async def board_page(request: Request, who: SignedIn, web: Web) -> HTMLResponse:
    """The open activations of the last 24 hours, newest first, live."""
    found, newest = await in_review_store(load_board, web, EPOCH)
    now = web.review_clock()
    rows = visible_rows(who.user, sorted((r for r in found.values() if is_open(r, now)), key=lambda r: (r.opened_at, r.id), reverse=True))
    await audit(web, who.user.username, "view_board", None, f"{len(rows)} activations")
    fragments = [render_row(request, who, row_view(web, row, now)) for row in rows]
    return review_page(request, web, who, "board.html", rows=fragments, cursor=(newest or EPOCH).isoformat(), now_iso=_iso(now),
                       updated=web.local(web.clock(), "%H:%M:%S"), stale_s=int(web.board.heartbeat_s * 3))


@router.get("/board.js")
async def board_script(who: SignedIn) -> Response:
    """The board's script: renders what the event stream sends, counts ages and deadlines, says when the feed is stale."""
    return Response(SCRIPT, media_type="text/javascript; charset=utf-8")


# --- the event stream


def _event(name: str, data: dict[str, Any], cursor: datetime | None = None) -> str:
    # JSON keeps the fragment on one data line (an event's data ends at a blank line)
    head = f"id: {cursor.isoformat()}\n" if cursor is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _as_signed_in(web: WebContext, who: Viewer) -> Viewer | None:
    """The stream's user as the store has them now (their role or team may have changed: the rows follow it); None
    when they were disabled or signed out since (their session's generation)."""
    user = await in_review_store(web.store.user, who.user.username)
    if user is None or user.disabled or user.session_generation != who.session.generation:
        return None
    return Viewer(user, who.session)


class BoardFeed:
    """One browser's stream: what it was sent (a digest per row), and its cursor."""

    def __init__(self, request: Request, web: WebContext, who: Viewer, cursor: datetime):
        self.request, self.web, self.who, self.cursor = request, web, who, cursor
        self.sent: dict[str, str] = {}

    async def poll(self) -> str:
        """The events for what changed since the cursor (the cursor moved on), "" when nothing did."""
        found, newest = await in_review_store(load_board, self.web, self.cursor - OVERLAP if self.cursor > EPOCH else EPOCH)
        now = self.web.review_clock()
        events = []
        for activation_id, row in sorted(found.items(), key=lambda item: (item[1].opened_at, item[0])):
            seen = seen_by(self.who.user, row)
            if seen is None:
                continue  # not this viewer's: not even its id goes out
            if not is_open(row, now):
                # closed, or older than the window: off the page (a reconnected page may still show it)
                if self.sent.get(activation_id) != "removed":
                    self.sent[activation_id] = "removed"
                    events.append(("remove", {"id": activation_id}))
                continue
            fragment = render_row(self.request, self.who, row_view(self.web, seen, now))
            digest = hashlib.sha256(fragment.encode()).hexdigest()
            if self.sent.get(activation_id) != digest:
                self.sent[activation_id] = digest
                events.append(("row", {"id": activation_id, "opened": _iso(seen.opened_at), "html": fragment}))
        if newest is not None and newest > self.cursor:
            self.cursor = newest
        # the cursor goes on the batch's last event only: a stream cut mid-batch resumes before it
        return "".join(_event(name, data, self.cursor if n == len(events) - 1 else None) for n, (name, data) in enumerate(events))

    def beat(self) -> str:
        """A heartbeat: the stream is alive, and the review clock's now (the page counts ages and deadlines on it)."""
        return _event("beat", {"now": _iso(self.web.review_clock())}, self.cursor)

    async def stream(self, rounds: int | None) -> AsyncIterator[str]:
        """The events, until ``stream_s`` passed, the client went, or its user was signed out; ``rounds`` polls at most."""
        loop = asyncio.get_running_loop()
        timing = self.web.board
        ends = loop.time() + timing.stream_s
        yield f"retry: {RETRY_MS}\n\n"
        last_sent = last_checked = -float("inf")
        done = 0
        while loop.time() < ends and (rounds is None or done < rounds):
            # who is watching is checked on its own clock: on a busy night rows go out all the time and no beat does
            if loop.time() - last_checked >= timing.heartbeat_s:
                viewer = await _as_signed_in(self.web, self.who)
                if viewer is None:
                    yield _event("signed_out", {})
                    return
                self.who, last_checked = viewer, loop.time()
            batch = await self.poll()
            done += 1
            if loop.time() - last_sent >= timing.heartbeat_s:
                batch += self.beat()
            if batch:
                yield batch
                last_sent = loop.time()
            if rounds is not None and done >= rounds:
                return
            if await self.request.is_disconnected():
                return
            await asyncio.sleep(timing.poll_s)


@router.get("/board/events")
async def board_events(request: Request, who: SignedIn, web: Web) -> StreamingResponse:
    """Server-sent events of the board's changes (see the module docstring)."""
    cursor = parse_cursor(request.headers.get("last-event-id") or request.query_params.get("since"))
    feed = BoardFeed(request, web, who, cursor)
    live = "text/event-stream" in request.headers.get("accept", "")
    # X-Accel-Buffering: a buffering proxy (nginx) would hold the events back until its buffer fills
    return StreamingResponse(feed.stream(None if live else 1), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


# --- acting from the board (DNS only)


async def _acting(request: Request, web: WebContext, who: Viewer, activation_id: str, action: str) -> ActivationReview:
    """The activation DNS acts on: 404 when there is none, 403 (audited) for another team's (a lead), then 403
    (audited) for anyone but DNS staff."""
    review = await visible_activation(web, who, activation_id)
    if who.user.role != "dns":
        await audit(web, who.user.username, "refused", review.id, f"board {action}: only DNS staff act from the board")
        raise Refusal(403, "DNS only", ONLY_DNS)
    return review


def _team_of(form: FormData, review: ActivationReview) -> str:
    team = str(form.get("team") or "")
    if team not in teams_of(review):
        raise Refusal(400, "Unknown team", "That team was not told about this activation")
    return team


def _request_id(form: FormData) -> str:
    """The form's request id (the page's script puts one in, kept when the form is sent again), or a new one."""
    given = str(form.get("request_id") or "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


async def _publish(web: WebContext, who: Viewer, review: ActivationReview, message: AckMessage | BoardAction, what: str) -> None:
    """Publish to the acks topic; a failure is a 503 "try again" page (audited: DNS must know nothing happened)."""
    try:
        await web.publish_ack(message)
    except Exception as exc:  # noqa: BLE001 - whatever the producer raised, the action did not happen
        log.warning("review_web.board_publish_failed", activation_id=review.id, error=type(exc).__name__)
        await audit(web, who.user.username, "board_failed", review.id, f"{what}: not published ({type(exc).__name__})")
        raise Refusal(503, "Not sent", NOT_SENT) from exc


def back_to_board(request: Request, review: ActivationReview) -> RedirectResponse:
    """The redirect after an action: the board, at the activation's row."""
    return RedirectResponse(f"{root(request)}/board#row-{quote(review.id, safe='')}", status_code=303)


@router.post("/board/{activation_id}/answer")
async def answer_for_team(activation_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Answer on a team's behalf (acknowledged, on my way, can't respond): recorded with the DNS user as ``by``."""
    review = await _acting(request, web, who, activation_id, "answer")
    team = _team_of(form, review)
    response = str(form.get("response") or "")
    if response not in RESPONSES:
        raise Refusal(400, "Choose an answer", "Choose acknowledged, on my way or can't respond")
    what = f"team={team} response={response}"
    await _publish(web, who, review, AckMessage(ref=review.id, team=team, response=response, by=who.user.username), f"answer {what}")  # type: ignore[arg-type]
    await audit(web, who.user.username, "board_answer", review.id, what)
    return back_to_board(request, review)


@router.post("/board/{activation_id}/repage")
async def repage_team(activation_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Page a team again."""
    review = await _acting(request, web, who, activation_id, "repage")
    team = _team_of(form, review)
    action = BoardAction(action="repage", ref=review.id, team=team, by=who.user.username, request_id=_request_id(form))
    await _publish(web, who, review, action, f"repage team={team}")
    await audit(web, who.user.username, "board_repage", review.id, f"team={team} request={action.request_id}")
    return back_to_board(request, review)


@router.post("/board/{activation_id}/close")
async def close_activation(activation_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Close an activation: paging and escalations stop, it leaves the board; its review stays."""
    review = await _acting(request, web, who, activation_id, "close")
    action = BoardAction(action="close", ref=review.id, by=who.user.username, request_id=_request_id(form))
    await _publish(web, who, review, action, "close")
    await audit(web, who.user.username, "board_close", review.id, f"request={action.request_id}")
    return back_to_board(request, review)


@router.post("/board/{activation_id}/note")
async def board_note(activation_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Add a note to the activation's review; an empty or over-long one is refused with the reason."""
    review = await _acting(request, web, who, activation_id, "note")
    text = str(form.get("text") or "").strip()
    if not text:
        raise Refusal(400, "Empty note", "A note cannot be empty: go back and write it")
    if len(text) > NOTE_MAX_CHARS:
        raise Refusal(400, "Note too long", f"A note is at most {NOTE_MAX_CHARS} characters, this one has {len(text)}: go back and shorten it")
    await in_review_store(web.store.add_note, review.id, who.user.username, text, web.clock())
    # the text stays out of the audit log, as on the review page
    await audit(web, who.user.username, "add_note", review.id, f"{len(text)} characters, from the board")
    return back_to_board(request, review)


def visible_rows(user: User, rows: Sequence[BoardRow]) -> list[BoardRow]:
    """The rows ``user`` sees, as they see them, in the given order."""
    return [seen for seen in (seen_by(user, row) for row in rows) if seen is not None]
