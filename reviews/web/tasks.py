"""Follow-up tasks on the review pages (issue 18): ``/tasks``, the open tasks of the last 30 days soonest due first
(a lead's team's only; DNS sees every team's), phone first; and closing a task (``POST /tasks/{task_id}/close``) with
its outcome and any referrals (a service and the person's consent, never who), for a lead their own team's only.

A closing is not stored here: it goes to the workers as a ``TaskClose`` on the acks topic, like an answer, and the
core records the ``TaskClosed``; the page says "sent" and shows the task closed once that record is stored."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from reviews.auth import may_record_for
from reviews.tasks import OUTCOME_LABELS, SERVICE_LABELS, Task, find_task, open_tasks
from reviews.users import User
from reviews.web.deps import CheckedForm, SignedIn, Web, WebContext, audit, in_review_store, root
from reviews.web.pages import Refusal
from reviews.web.review import review_page
from reviews.web.views import task_views
from stream.model.events import Referral, TaskClose

OPEN_TASK_DAYS = 30  # the activations /tasks reads: opened in the last 30 days (follow-ups run for days, not months)
NO_SUCH_TASK = "There is no follow-up task with this id in that activation"
NOT_YOUR_TEAM = "A team lead closes their own team's tasks only"
NOT_SENT = "The closing could not be sent to the workers: nothing was recorded. Try again in a minute."
TASK_CHOICES = {"task_outcomes": tuple(OUTCOME_LABELS.items()), "task_services": tuple(SERVICE_LABELS.items())}

router = APIRouter()


def visible_open_tasks(web: WebContext, user: User) -> list[Task]:
    """The open tasks ``user`` works on (a lead: their team's; DNS: all), of activations opened in the last
    ``OPEN_TASK_DAYS`` days on the review's clock (blocking: call it on a worker thread)."""
    now = web.review_clock()
    ids = web.store.activations_opened(now - timedelta(days=OPEN_TASK_DAYS), now + timedelta(minutes=1))
    return open_tasks(web.store.records_for(ids), None if user.role == "dns" else (user.team or "-"))


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request, who: SignedIn, web: Web, sent: str | None = None) -> HTMLResponse:
    """The open follow-up tasks: a lead's team's ("my team's open tasks"), every team's for DNS."""
    tasks = await in_review_store(visible_open_tasks, web, who.user)
    await audit(web, who.user.username, "view_tasks", who.user.team or "all")
    heading = "All teams' open tasks" if who.user.role == "dns" else f"My team's open tasks ({who.user.team})"
    return review_page(request, web, who, "tasks.html", heading=heading, tasks=task_views(web, tasks, who.user), back="tasks",
                       sent=sent == "1", days=OPEN_TASK_DAYS, zone=web.local(web.review_clock(), "%Z"),
                       no_tasks="No open tasks.", **TASK_CHOICES)


def task_closing(form, task: Task, by: str, person: str | None = None) -> TaskClose:
    """The ``TaskClose`` a close form asks for, closed ``by`` (a review user, or on a task link the roster person or the
    recipient) and ``person`` (the roster person, when known); a 400 page when its outcome, a referral's service or
    a referral's consent is missing or unknown. The review pages' form and a task link's page share it."""
    outcome = str(form.get("outcome") or "")
    if outcome not in OUTCOME_LABELS:
        raise Refusal(400, "Choose an outcome", "Choose what happened: done, attempted, declined or not reachable")
    referrals = []
    for service in dict.fromkeys(str(s) for s in form.getlist("refer")):
        if service not in SERVICE_LABELS:
            raise Refusal(400, "Unknown service", "That referral service is not one Vigil records")
        consent = form.get(f"consent-{service}")
        if consent not in ("yes", "no"):
            raise Refusal(400, "Say whether they consented",
                          f"Say whether the person consented to the {SERVICE_LABELS[service]} referral (yes or no)")
        referrals.append(Referral(service=service, consent=consent == "yes"))
    return TaskClose(task_id=task.task_id, ref=task.activation_id, outcome=outcome, referrals=tuple(referrals), by=by, person=person)


def closing_detail(closing: TaskClose, task: Task) -> str:
    """A closing as the audit log records it: the task, its team, the outcome and the referrals (service and consent)."""
    referrals = ",".join(f"{r.service}:{'yes' if r.consent else 'no'}" for r in closing.referrals) or "none"
    return f"task={task.task_id} team={task.team} outcome={closing.outcome} referrals={referrals}"


@router.post("/tasks/{task_id}/close")
async def close_task(task_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> RedirectResponse:
    """Close a task (a lead: their own team's only, else 403 audited): its ``TaskClose`` sent to the workers on the
    acks topic; back to where the form was, saying it was sent."""
    activation_id = str(form.get("activation") or "")
    records = await in_review_store(web.store.records, activation_id) if 0 < len(activation_id) <= 100 else []
    task = find_task(records, task_id) if len(task_id) <= 64 else None
    if task is None:
        raise Refusal(404, "Not found", NO_SUCH_TASK)
    if not may_record_for(who.user, task.team):
        await audit(web, who.user.username, "refused", activation_id, f"task of another team: {task.team} {task.task_id}")
        raise Refusal(403, "Not your team", NOT_YOUR_TEAM)
    closing = task_closing(form, task, who.user.username)
    try:
        await web.publish_ack(closing)
    except Exception as exc:  # noqa: BLE001 - any failure to send is "not sent, try again"; the log has the type
        raise Refusal(503, "Not sent", NOT_SENT) from exc
    await audit(web, who.user.username, "task_closed", activation_id, closing_detail(closing, task))
    if form.get("back") == "activation":
        return RedirectResponse(f"{root(request)}/activation/{quote(activation_id, safe='')}?sent=1#tasks", status_code=303)
    return RedirectResponse(f"{root(request)}/tasks?sent=1", status_code=303)
