"""Closing a follow-up task from the phone by its link (issue 18): ``GET /task/{token}`` shows a phone-sized page
saying what the task is (its kind, team, the activation's place and ref, its due time in local time, and whether it
is closed already and how) with the close form; ``POST /task/{token}`` sends the closing to the workers.

The link is in a task's reminder (to the team's person on call) and its overdue notice (to the on-call team); its
signed token (notifiers/ack_links.py ``verify_task``) is the permission, as an answer link's is: nobody signs in. An
answer link is refused here and a task link at ``/ack/``. The form is the review pages' (outcome, and referrals each
with the person's consent, never who), checked by the same function (reviews/web/tasks.py ``task_closing``); the
closing goes on the acks topic as a ``TaskClose`` and is audited, and the core records it: the answer page says so,
and no more than so. A second closing from the link corrects the first, as on the review pages. Tokens are
capabilities: nothing here logs one (only its token id).

The page is in English, as the review pages are; the reminder itself is in the recipient's language.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from notifiers.ack_links import AckTokenError, TaskClaim
from reviews.tasks import CLOSED, KIND_LABELS, OUTCOME_LABELS, Task, find_task, referral_text
from reviews.web.deps import Web, WebContext, audit, in_review_store
from reviews.web.incident import incident_of
from reviews.web.pages import Refusal, render_page
from reviews.web.tasks import NOT_SENT, TASK_CHOICES, closing_detail, task_closing
from stream.core.phrases import ENGLISH, phrase
from stream.model.timeline import IntentCreated, TimelineRecord

log = structlog.get_logger(__name__)

NOT_VALID = "This link is not valid"
NOT_A_TASK = "This link is not for a follow-up task of this activation"
NOT_YET_RECORDED = "The task's reminder is still being recorded, please try again in a few seconds"
# how long after a link is made the store may not show its reminder yet (the review sink's lag; a database outage)
RECORDING_GRACE = timedelta(minutes=5)
DAY_TIME = "%a %d %b %H:%M %Z"  # a week-long link: the day too, and the zone (the phone may be elsewhere)

router = APIRouter()


async def verified_task_claim(web: WebContext, token: str) -> tuple[TaskClaim, list[TimelineRecord], Task, IntentCreated]:
    """A genuine, unexpired task link whose reminder (or overdue notice) and task are recorded: its claim, the
    activation's records, the task and that intent's record; the same refusals as an answer link's otherwise."""
    try:
        claim = web.signer.verify_task(token, web.clock())
    except AckTokenError as exc:
        log.info("task_link.refused", reason=exc.reason, token_id=exc.token_id)
        if exc.reason == "expired" and exc.expires_at is not None:
            raise Refusal(410, "Link expired", f"This link expired at {web.local(exc.expires_at, DAY_TIME)}") from None
        raise Refusal(403, "Link not valid", NOT_VALID) from None
    records = await in_review_store(web.store.records, claim.activation_id)
    intent = next((r for r in records if isinstance(r, IntentCreated) and r.intent_id == claim.intent_id and r.task_id == claim.task_id
                   and r.team == claim.team), None)
    task = find_task(records, claim.task_id)
    if intent is None or task is None:
        # the review store fills from the timeline after the reminder went out: a link made moments ago is "try again"
        if web.clock() - (claim.expires_at - web.signer.task_ttl) < RECORDING_GRACE:
            log.info("task_link.not_yet_recorded", token_id=claim.token_id)
            raise Refusal(503, "Try again", NOT_YET_RECORDED)
        log.info("task_link.refused", reason="no_such_task", token_id=claim.token_id)
        raise Refusal(403, "Link not valid", NOT_A_TASK)
    return claim, records, task, intent


def _closed_text(web: WebContext, task: Task) -> str | None:
    """How the task was closed, as the review pages say it: outcome, referrals, by whom and when; None while open."""
    closed = task.closed
    if closed is None:
        return None
    who = closed.by or closed.person
    referrals = ", ".join(referral_text(r) for r in closed.referrals) or "none"
    return (f"Closed: {OUTCOME_LABELS.get(closed.outcome, closed.outcome)}{f' by {who}' if who else ''} at "
            f"{web.local(closed.at, DAY_TIME)}. Referrals: {referrals}.")


@router.get("/task/{token}", response_class=HTMLResponse)
async def task_page(token: str, web: Web) -> HTMLResponse:
    """The task's page: what it is, where and when it is due, whether it is closed and how, and the close form."""
    claim, records, task, intent = await verified_task_claim(web, token)
    now = web.review_clock()
    state = task.state(now)
    incident = incident_of(records, claim.team, claim.intent_id, web.team_precision or {}, web.zone, now, web.neighborhood_centres)
    return render_page(
        "task_link.html",
        drill=phrase("drill.body", ENGLISH) if intent.drill or incident.drill else None,
        kind=KIND_LABELS.get(task.kind, task.kind),
        team=task.team,
        where=incident.where,
        ref=task.activation_id,
        due=web.local(task.due, DAY_TIME),
        overdue=state == "overdue",
        closed=_closed_text(web, task),
        is_closed=state == CLOSED,
        expires=web.local(claim.expires_at, DAY_TIME),
        **TASK_CHOICES,
    )


@router.post("/task/{token}", response_class=HTMLResponse)
async def task_close(token: str, request: Request, web: Web) -> HTMLResponse:
    """Close the task as the form says (checked as the review pages check it: 400 with the reason otherwise), by the
    roster person the reminder paged (else the recipient the link was sent to); sent to the workers, audited, and
    a page saying what was sent and what happens next."""
    claim, _, task, intent = await verified_task_claim(web, token)
    closing = task_closing(await request.form(), task, claim.person or claim.recipient, claim.person)
    try:
        await web.publish_ack(closing)
    except Exception as exc:  # noqa: BLE001 - any failure to send is "not sent, try again"; the log has the type
        log.warning("task_link.publish_failed", token_id=claim.token_id, error=type(exc).__name__)
        raise Refusal(503, "Not sent", NOT_SENT) from exc
    await audit(web, closing.by, "task_closed", task.activation_id, f"{closing_detail(closing, task)} via=task_link:{claim.token_id}")
    log.info("task_link.closed", token_id=claim.token_id, activation_id=task.activation_id, task_id=task.task_id, outcome=closing.outcome)
    referrals = ", ".join(referral_text(r) for r in closing.referrals) or "none"
    drill = "DRILL: " if intent.drill else ""
    message = (f"{drill}Sent: the {KIND_LABELS.get(task.kind, task.kind)} for {task.team} closed as "
               f"{OUTCOME_LABELS[closing.outcome]}; referrals: {referrals}. It is recorded once Vigil's workers take it "
               "(usually within seconds); then it shows closed on the review pages, and Vigil sends no more reminders or "
               "overdue notices for it. To correct it, open this link again and close it again.")
    return render_page("message.html", heading="Sent", message=message, tone="ok")
