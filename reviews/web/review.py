"""The next-day review pages, for signed-in staff only: a day's activations (``/review/{day}``) and its
printable packet, an activation with its map, timeline, team lines, outcomes and notes
(``/activation/{id}``) and the forms that record an outcome or add a note, and a date range's summary
(``/summary``). A provider lead sees only the activations their team was alerted about; every view and
change is written to the audit log."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from reviews.auth import may_record_for, may_see
from reviews.maps import NO_LOCATION
from reviews.model import KIND_LABEL, OUTCOMES, ActivationReview, action_items, day_bounds, real, review_of, reviews_of, summarise
from reviews.store import NOTE_MAX_CHARS
from reviews.tasks import KIND_LABELS as TASK_KIND_LABELS
from reviews.tasks import OUTCOME_LABELS as TASK_OUTCOME_LABELS
from reviews.tasks import OVERDUE, SERVICE_LABELS, TaskSummary, open_tasks, summarise_activation_tasks, tasks_of
from reviews.users import User
from reviews.web.deps import CheckedForm, SignedIn, Viewer, Web, WebContext, audit, in_review_store, root
from reviews.web.pages import Refusal, render_page
from reviews.web.views import FLAG_LABELS, activation_view, day_row_view, task_views, teams_of
from stream.model.timeline import ActivationDecided

BAD_DATE = "Dates are written YYYY-MM-DD, for example 2026-07-04"
NOT_YOURS = "This activation is not one your team was alerted about"
NOT_YOUR_TEAM = "A team lead records outcomes for their own team only"
NO_SUCH_ACTIVATION = "There is no activation with this id"
MAX_RANGE_DAYS = 366
SUMMARY_DAYS = 7
REASON_MAX_CHARS = 1000
OVERDUE_TASK_DAYS = 30  # the packet cover's overdue tasks: of activations opened in the last 30 days, as /tasks reads
PACKET_MAP_WIDTH = 300  # the packet's map: small enough to leave a printed page to the timeline and the teams
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

router = APIRouter()


def parse_day(text: str | None) -> date:
    """A YYYY-MM-DD date from a path or query; a 400 page naming the format otherwise."""
    if text is None or not _DATE.fullmatch(text):
        raise Refusal(400, "Bad date", BAD_DATE)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refusal(400, "Bad date", BAD_DATE) from None
    # pages link the day before and after, and a range reaches back from its end: keep well inside date's bounds
    if not 1900 <= day.year <= 2999:
        raise Refusal(400, "Bad date", f"{BAD_DATE}, in the years 1900 to 2999")
    return day


def parse_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """A ``from``/``to`` pair (the last 7 days to today by default), at most 366 days; a 400 page otherwise."""
    last = parse_day(end) if end else today
    first = parse_day(start) if start else last - timedelta(days=SUMMARY_DAYS - 1)
    if last < first:
        raise Refusal(400, "Bad range", f"'from' ({first}) must be on or before 'to' ({last})")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise Refusal(400, "Bad range", f"A range is at most {MAX_RANGE_DAYS} days; this one has {(last - first).days + 1}")
    return first, last


def visible_activations(web: WebContext, user: User, first: date, last: date) -> list[ActivationReview]:
    """The activations opened on the local days ``first`` to ``last`` that ``user`` may see, in time order
    (blocking: call it on a worker thread)."""
    ids = web.store.activations_opened(day_bounds(first, web.zone)[0], day_bounds(last, web.zone)[1])
    return [r for r in reviews_of(web.store.records_for(ids), web.zone, now=web.review_clock()) if may_see(user, r)]


def ways_back(request: Request, web: WebContext) -> tuple[tuple[str, str], ...]:
    """The links a refused review page offers: today's day list (on the review's clock) and the live board."""
    today = web.today().isoformat()
    return (f"{root(request)}/review/{today}", f"The day's activations ({today})"), (f"{root(request)}/board", "The live board")


async def visible_activation(web: WebContext, who: Viewer, activation_id: str, request: Request | None = None) -> ActivationReview:
    """One activation, if the signed-in user may see it: 404 when there is none, 403 (audited) when it is
    another team's; with ``request``, the refusal's page links back to the day and the board."""
    links = ways_back(request, web) if request is not None else ()
    records = await in_review_store(web.store.records, activation_id) if len(activation_id) <= 100 else []
    if not any(isinstance(r, ActivationDecided) for r in records):
        raise Refusal(404, "Not found", NO_SUCH_ACTIVATION, links=links)
    review = review_of(records, web.zone, now=web.review_clock())
    if not may_see(who.user, review):
        await audit(web, who.user.username, "refused", activation_id, f"activation not visible to role {who.user.role} team {who.user.team}")
        raise Refusal(403, "Not your team's activation", NOT_YOURS, links=links)
    return review


def review_page(request: Request, web: WebContext, who: Viewer, template: str, status: int = 200, *, viewing: date | None = None,
                summary_range: tuple[date, date] | None = None, **context: Any) -> HTMLResponse:
    """A review page: ``template`` with what every review page shows (who is signed in, the CSRF token for
    its forms, the labels) and its top links: the day list and the summary of the day ``viewing`` (today on the
    review's clock when None), or of ``summary_range`` for the summary's own link."""
    today = web.today()
    day = viewing or today
    first, last = summary_range or (day, day)
    summary_href = f"{root(request)}/summary" + (f"?from={first}&to={last}" if viewing or summary_range else "")
    return render_page(
        template, status, root=root(request), me=who.user, csrf=who.session.csrf, today=today.isoformat(),
        nav_day=day.isoformat(), nav_day_label="Today" if day == today else f"Day {day}", summary_href=summary_href,
        flag_labels=FLAG_LABELS, outcome_labels=OUTCOMES, outcome_choices=tuple(OUTCOMES.items()), no_location=NO_LOCATION,
        **context,
    )


async def activation_response(request: Request, web: WebContext, who: Viewer, review: ActivationReview, status: int = 200, *,
                              errors: Mapping[str, str] | None = None, drafts: Mapping[str, tuple[str, str]] | None = None,
                              note_error: str | None = None, note_draft: str = "", sent: bool = False) -> HTMLResponse:
    """The activation page, with a refused form's error and draft when there is one; ``sent``: a task closing was sent."""
    current = await in_review_store(web.store.outcomes, [review.id])
    notes = await in_review_store(web.store.notes, review.id)
    tasks = tasks_of(await in_review_store(web.store.records, review.id))
    # drawing the map is CPU work: off the event loop
    view = await run_in_threadpool(lambda: activation_view(web, review, who.user, current, notes, errors=errors, drafts=drafts))
    return review_page(request, web, who, "activation.html", status, viewing=review.opened_at.astimezone(web.zone).date(), a=view,
                       note_max=NOTE_MAX_CHARS, note_error=note_error, note_draft=note_draft, tasks=task_views(web, tasks, who.user),
                       back="activation", sent=sent, no_tasks="No follow-up tasks.", task_outcomes=tuple(TASK_OUTCOME_LABELS.items()),
                       task_services=tuple(SERVICE_LABELS.items()))


def back_to(request: Request, review: ActivationReview, anchor: str = "") -> RedirectResponse:
    """The redirect after a form is recorded: back to the activation page, at ``anchor``."""
    return RedirectResponse(f"{root(request)}/activation/{quote(review.id, safe='')}{anchor}", status_code=303)


@router.get("/review/{day}", response_class=HTMLResponse)
async def day_page(day: str, request: Request, who: SignedIn, web: Web) -> HTMLResponse:
    """A day's activations in time order, with their flags and outcomes."""
    when = parse_day(day)
    reviews = await in_review_store(visible_activations, web, who.user, when, when)
    current = await in_review_store(web.store.outcomes, [r.id for r in reviews])
    rows = [day_row_view(web, r, current) for r in reviews]
    await audit(web, who.user.username, "view_day", when.isoformat())
    return review_page(request, web, who, "day.html", viewing=when, day=when.isoformat(), day_label=f"{when:%A %d %B %Y}",
                       previous_day=(when - timedelta(days=1)).isoformat(), next_day=(when + timedelta(days=1)).isoformat(),
                       activations=rows)


@router.get("/review/{day}/packet", response_class=HTMLResponse)
async def packet(day: str, request: Request, who: SignedIn, web: Web) -> HTMLResponse:
    """Every activation of a day with its map, timeline, team lines, outcomes and notes, laid out to print."""
    when = parse_day(day)
    reviews = await in_review_store(visible_activations, web, who.user, when, when)
    current = await in_review_store(web.store.outcomes, [r.id for r in reviews])
    notes = {r.id: await in_review_store(web.store.notes, r.id) for r in reviews}
    views = await run_in_threadpool(
        lambda: [activation_view(web, r, who.user, current, notes[r.id], map_width=PACKET_MAP_WIDTH) for r in reviews])
    number = {r.id: n for n, r in enumerate(reviews, 1)}
    counted = real(reviews)
    pairs = _pairs(counted)
    result = summarise(reviews, web.zone, [row.outcome for key, row in current.items() if key in pairs])
    flagged = [{"n": number[v["review"].id], "a": v} for v in views if v["review"].review_flags and not v["review"].drill]
    items = [{"n": number[i.activation_id], "owner": i.owner, "text": i.text} for i in action_items(reviews, current, web.zone)]
    overdue = await in_review_store(overdue_tasks_view, web, who.user, number)
    await audit(web, who.user.username, "view_packet", when.isoformat())
    return review_page(request, web, who, "packet.html", viewing=when, day=when.isoformat(), day_label=f"{when:%A %d %B %Y}",
                       activations=views, s=result, flagged=flagged, items=items, seconds=seconds_text,
                       missed_acks=sum(line.missed for r in counted for line in r.teams), overdue=overdue,
                       overdue_as_of=web.local(web.review_clock(), "%a %d %b %Y %H:%M %Z"), overdue_days=OVERDUE_TASK_DAYS,
                       printed=web.local(web.clock(), "%a %d %b %Y %H:%M %Z"))


def overdue_tasks_view(web: WebContext, user: User, numbers: Mapping[str, int]) -> list[dict[str, str]]:
    """The follow-up tasks still open past their due time on the review's clock, of the activations opened in the last
    ``OVERDUE_TASK_DAYS`` days (a lead: their team's only), soonest due first, as the packet's cover lists them: team,
    task, the activation (its CAD incident, when and what and where; its number when it is in this packet) and the due
    time, local (blocking: call it on a worker thread)."""
    now = web.review_clock()
    records = web.store.records_for(web.store.activations_opened(now - timedelta(days=OVERDUE_TASK_DAYS), now + timedelta(minutes=1)))
    tasks = [t for t in open_tasks(records, None if user.role == "dns" else (user.team or "-")) if t.state(now) == OVERDUE]
    reviews = {r.id: r for r in reviews_of({t.activation_id: records[t.activation_id] for t in tasks}, web.zone, now=now)}
    views = []
    for task in tasks:
        review = reviews[task.activation_id]
        about = f"{web.local(review.opened_at, '%a %d %b %H:%M')} {KIND_LABEL[review.kind]}, {review.neighborhood or NO_LOCATION}"
        refs = " ".join(review.cad_incidents)
        views.append({"team": task.team, "kind": TASK_KIND_LABELS.get(task.kind, task.kind), "drill": "DRILL " if review.drill else "",
                      "activation": f"{refs}: {about}" if refs else about, "due": web.local(task.due, "%a %d %b %H:%M %Z"),
                      "n": str(numbers[review.id]) if review.id in numbers else ""})
    return views


def _pairs(reviews: list[ActivationReview]) -> set[tuple[str, str]]:
    """The (activation, team) pairs an outcome is recorded for."""
    return {(r.id, team) for r in reviews for team in teams_of(r)}


@router.get("/activation/{activation_id}", response_class=HTMLResponse)
async def activation_page(activation_id: str, request: Request, who: SignedIn, web: Web, sent: str | None = None) -> HTMLResponse:
    """An activation: header, map, timeline, team lines, outcome forms, follow-up tasks and notes."""
    review = await visible_activation(web, who, activation_id, request)
    await audit(web, who.user.username, "view_activation", review.id)
    return await activation_response(request, web, who, review, sent=sent == "1")


def _outcome_error(outcome: str, reason: str) -> str | None:
    """What is wrong with an outcome form, before it reaches the store."""
    if outcome not in OUTCOMES:
        return "Choose an outcome"
    if outcome == "unable" and not reason:
        return "Say why the team was unable: a reason is required for unable"
    if len(reason) > REASON_MAX_CHARS:
        return f"The reason is at most {REASON_MAX_CHARS} characters"
    return None


@router.post("/activation/{activation_id}/outcome", response_class=HTMLResponse)
async def record_outcome(activation_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Record a team's outcome (a lead: their own team's only); a bad form is the page again with its error."""
    review = await visible_activation(web, who, activation_id, request)
    team = str(form.get("team") or "")
    outcome = str(form.get("outcome") or "")
    reason = str(form.get("reason") or "").strip()
    if team not in teams_of(review):
        raise Refusal(400, "Unknown team", "That team was not alerted about this activation")
    if not may_record_for(who.user, team):
        await audit(web, who.user.username, "refused", review.id, f"outcome for another team: {team}")
        raise Refusal(403, "Not your team", NOT_YOUR_TEAM)
    error = _outcome_error(outcome, reason)
    if error is None:
        try:
            await in_review_store(web.store.record_outcome, review.id, team, outcome, reason or None, who.user.username, web.clock(),
                                  passthrough=(ValueError,))
        except ValueError as exc:
            error = str(exc)
    if error is not None:
        return await activation_response(request, web, who, review, 400, errors={team: error}, drafts={team: (outcome, reason)})
    await audit(web, who.user.username, "record_outcome", review.id, f"team={team} outcome={outcome}")
    return back_to(request, review, f"#team-{quote(team, safe='')}")


@router.post("/activation/{activation_id}/note", response_class=HTMLResponse)
async def add_note(activation_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Add a note to an activation; an empty or over-long note is the page again with its error."""
    review = await visible_activation(web, who, activation_id, request)
    text = str(form.get("text") or "").strip()
    error = None
    if not text:
        error = "A note cannot be empty"
    elif len(text) > NOTE_MAX_CHARS:
        error = f"Not saved: a note is at most {NOTE_MAX_CHARS:,} characters, this one has {len(text):,}. Shorten it and add it again."
    else:
        try:
            await in_review_store(web.store.add_note, review.id, who.user.username, text, web.clock(), passthrough=(ValueError,))
        except ValueError as exc:
            error = str(exc)
    if error is not None:
        return await activation_response(request, web, who, review, 400, note_error=error, note_draft=text)
    # the text stays out of the audit log: a note can say more about people than the log should
    await audit(web, who.user.username, "add_note", review.id, f"{len(text)} characters")
    return back_to(request, review, "#notes")


def seconds_text(value: float | None) -> str:
    """A duration in seconds as the summary shows it ("—" when there is none)."""
    return "—" if value is None else f"{value:.1f} s"


async def task_summary(web: WebContext, reviews: list[ActivationReview]) -> TaskSummary:
    """The follow-up tasks of these activations (drills left out with them) as they stand at the review's now: what the
    summary page shows and the tasks CSV exports, from this one place."""
    task_records = await in_review_store(web.store.records_for, [r.id for r in real(reviews)])
    return summarise_activation_tasks(task_records, web.review_clock())


@router.get("/summary", response_class=HTMLResponse)
async def summary(request: Request, who: SignedIn, web: Web) -> HTMLResponse:
    """A date range's numbers (the last 7 days by default): time to notify, per-team acks, flags, coverage
    gaps and outcomes."""
    first, last = parse_range(request.query_params.get("from"), request.query_params.get("to"), web.today())
    reviews = await in_review_store(visible_activations, web, who.user, first, last)
    current = await in_review_store(web.store.outcomes, [r.id for r in reviews])
    pairs = _pairs(real(reviews))  # a drill's outcomes are left out with it
    recorded = [row.outcome for key, row in current.items() if key in pairs]
    result = summarise(reviews, web.zone, recorded)
    tasks = await task_summary(web, reviews)
    await audit(web, who.user.username, "view_summary", f"{first}..{last}")
    return review_page(request, web, who, "summary.html", viewing=last, summary_range=(first, last), s=result, start=first.isoformat(),
                       end=last.isoformat(), seconds=seconds_text, missing_outcomes=len(pairs) - len(recorded), tasks=tasks,
                       task_kinds=TASK_KIND_LABELS, services=SERVICE_LABELS)
