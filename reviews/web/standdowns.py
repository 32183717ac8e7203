"""The standdowns page (``/standdowns``): DNS staff see every standdown and add or end them; a team lead sees
their own team's and the areas' ones, read-only.

Each change is stored in the review store first (the source of truth, audited), then sent to the workers on the
``standdowns`` topic. When the send fails the change stays stored and the page says so ("saved, but not yet sent
to the workers"), with a re-send button; `vigil standdown publish` does the same from a terminal. Sending again
is harmless: the topic is keyed by the standdown's id and compacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from reviews.standdowns import (
    ENDED_DAYS_SHOWN,
    LOCAL_EXAMPLE,
    WEEKLY_EXAMPLE,
    ListedStanddown,
    StanddownError,
    StanddownRequest,
    describe,
    describe_moment,
    describe_window,
    listing,
    may_manage,
    may_see,
    new_standdown,
    next_window,
)
from reviews.store import StoredStanddown
from reviews.web.deps import CheckedForm, SignedIn, Viewer, Web, WebContext, app_path, audit, in_review_store, root
from reviews.web.pages import Refusal, render_page
from stream.core.standdowns import REASON_MAX_CHARS

log = structlog.get_logger(__name__)

DNS_ONLY = "Only DNS staff add and end standdowns; a team lead sees their team's here"
NOT_SENT = "Saved, but not yet sent to the workers: alerts still go out as before until it is. Press Re-send."
NOT_CONNECTED = "This web service is not connected to the workers' broker"
NOTES = {
    "added": "Standdown added and sent to the workers.",
    "ended": "Standdown ended and sent to the workers.",
    "resent": "Sent to the workers.",
}

router = APIRouter()


async def send(web: WebContext, stored: StoredStanddown) -> bool:
    """Send a stored standdown's current version to the workers and note it was sent; False when it could not be
    (it stays stored, listed as not yet sent)."""
    if web.publish_standdown is None:
        log.warning("review_web.standdown_not_sent", standdown=stored.standdown.id, error=NOT_CONNECTED)
        return False
    try:
        await web.publish_standdown(stored.standdown)
    except Exception as exc:  # noqa: BLE001 - any failure to send is "not yet sent"; the log has the type
        log.warning("review_web.standdown_not_sent", standdown=stored.standdown.id, error=type(exc).__name__)
        return False
    await in_review_store(web.store.mark_standdown_published, stored.standdown, web.clock())
    return True


def _item_view(item: ListedStanddown, web: WebContext, now: datetime) -> dict[str, Any]:
    """One standdown as the page shows it, every time local."""
    s, zone = item.standdown, web.zone
    rules = web.standdown_checks()
    following = None
    if s.weekly is not None and item.window is not None and item.window[0] <= now:
        later = next_window(s, item.window[1], zone)  # in force now: the window after this one
        following = describe_window(later, zone) if later is not None else None
    elif s.weekly is not None and item.window is not None:
        following = describe_window(item.window, zone)
    return {
        "id": s.id,
        "subject": s.subject,
        "team_name": rules.teams.get(s.team, "") if s.team is not None else "",
        "reason": s.reason,
        "by": s.by,
        "added": describe_moment(s.created_at, zone),
        "span": describe(s, zone),
        "window": describe_window(item.window, zone) if item.window is not None else None,
        "weekly": s.weekly is not None,
        "next_window": following,
        "ended": None if s.ended_at is None else f"{describe_moment(s.ended_at, zone)} by {s.ended_by}",
        "over": None if s.last_moment is None else describe_moment(s.last_moment, zone),
        "sent": item.stored.sent,
    }


async def standdowns_page(request: Request, web: WebContext, who: Viewer, status: int = 200, *, error: str | None = None,
                          draft: Mapping[str, str] | None = None, note: str | None = None) -> HTMLResponse:
    """The page: in force, upcoming and ended (the last two weeks) standdowns the user may see, and for DNS the form.
    Windows are judged on the activations' clock (``review_clock``), the one the workers judge them on."""
    now = web.review_clock()
    stored = await in_review_store(web.store.standdowns, now - timedelta(days=ENDED_DAYS_SHOWN))
    shown = listing([s for s in stored if may_see(who.user, s.standdown)], now, web.zone)
    rules = web.standdown_checks()
    sections = [("in-force", "In force now", shown.in_force), ("upcoming", "Upcoming", shown.upcoming),
                ("ended", f"Ended (last {ENDED_DAYS_SHOWN} days)", shown.ended)]
    return render_page(
        "standdowns.html", status, root=root(request), me=who.user, csrf=who.session.csrf, today=web.today().isoformat(),
        manage=may_manage(who.user), error=error, draft=draft or {}, note=note, not_sent=NOT_SENT, unsent=len(shown.unsent),
        sections=[(key, title, [_item_view(i, web, now) for i in items]) for key, title, items in sections],
        teams=sorted(t for t in rules.teams if t not in rules.oncall), neighborhoods=sorted(rules.neighborhoods),
        oncall=sorted(rules.oncall), zone=str(web.zone), now_local=f"{now.astimezone(web.zone):%Y-%m-%dT%H:%M}",
        opened=now.isoformat(), reason_max=REASON_MAX_CHARS, weekly_example=WEEKLY_EXAMPLE, local_example=LOCAL_EXAMPLE,
    )


def _done(request: Request, note: str, sent: bool, anchor: str = "") -> RedirectResponse:
    """Back to the page after a change, saying whether the workers got it."""
    return RedirectResponse(f"{root(request)}/standdowns?note={note}&sent={int(sent)}{anchor}", status_code=303)


async def _dns_only(request: Request, web: WebContext, who: Viewer, what: str) -> None:
    """A lead's change is refused (403) and audited."""
    if not may_manage(who.user):
        await audit(web, who.user.username, "refused", app_path(request), f"{what}: standdowns are DNS's (role {who.user.role})")
        raise Refusal(403, "DNS only", DNS_ONLY)


@router.get("/standdowns", response_class=HTMLResponse)
async def standdowns_view(request: Request, who: SignedIn, web: Web, note: str | None = None, sent: str | None = None) -> HTMLResponse:
    """Every standdown the user may see; after a change, whether it reached the workers."""
    await audit(web, who.user.username, "view_standdowns", None)
    said = NOT_SENT if sent == "0" else NOTES.get(note or "") if sent == "1" else None
    return await standdowns_page(request, web, who, note=said)


@router.post("/standdowns", response_class=HTMLResponse)
async def add_standdown(request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Add a standdown (DNS), store it, then send it; a request that cannot be taken is the page again with why."""
    await _dns_only(request, web, who, "add")
    fields = {name: str(form.get(name) or "") for name in ("team", "area", "starts", "ends", "every", "reason")}
    now = web.review_clock()  # the workers' clock: "from now" is their now (they differ only under `vigil demo --serve`)
    try:
        opened = datetime.fromisoformat(str(form.get("opened") or ""))
        requested_at = opened if opened.tzinfo is not None and abs(now - opened) < timedelta(days=1) else now
    except ValueError:
        requested_at = now
    try:
        standdown = new_standdown(web.standdown_checks(), StanddownRequest(**fields), who.user.username, now, requested_at)
    except (StanddownError, ValueError) as exc:
        return await standdowns_page(request, web, who, 400, error=str(exc), draft=fields)
    stored = await in_review_store(web.store.add_standdown, standdown)
    await audit(web, who.user.username, "standdown_added", standdown.id,
                f"{standdown.subject}: {describe(standdown, web.zone)}; reason: {standdown.reason}")
    return _done(request, "added", await send(web, stored), f"#{quote(standdown.id, safe='')}")


@router.post("/standdowns/send", response_class=HTMLResponse)
async def resend_standdowns(request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """Send again every stored change the workers were not yet sent (DNS)."""
    await _dns_only(request, web, who, "re-send")
    stored = await in_review_store(web.store.standdowns)
    unsent = [s for s in stored if not s.sent]
    results = [await send(web, s) for s in unsent]
    await audit(web, who.user.username, "standdowns_resent", None, f"{sum(results)} of {len(unsent)} sent")
    return _done(request, "resent", all(results))


@router.post("/standdowns/{standdown_id}/end", response_class=HTMLResponse)
async def end_standdown(standdown_id: str, request: Request, who: SignedIn, form: CheckedForm, web: Web) -> Response:
    """End a standdown now (DNS): the team is back on alerts (or the area unmuted) once the workers have it."""
    await _dns_only(request, web, who, "end")
    if len(standdown_id) > 64 or await in_review_store(web.store.standdown, standdown_id) is None:
        raise Refusal(404, "Not found", "There is no standdown with this id")
    try:
        stored = await in_review_store(web.store.end_standdown, standdown_id, who.user.username, web.review_clock(),
                                       passthrough=(ValueError,))
    except ValueError as exc:
        return await standdowns_page(request, web, who, 409, error=str(exc))
    await audit(web, who.user.username, "standdown_ended", standdown_id, stored.standdown.subject)
    return _done(request, "ended", await send(web, stored), f"#{quote(standdown_id, safe='')}")
