"""Signing in and out of the review: the sign-in form (``/login``, throttled by the audit log's count of
failures), signing out (``/logout``, which ends every session of the user), and the site's root (``/``),
which goes to today's day page.

The session cookie itself is set or cleared by the app's session middleware from
``request.state.new_session`` (see reviews/web/app.py): a route only says what the session becomes.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from reviews.auth import Lockout, Session, new_session, safe_next
from reviews.web.deps import (
    FORM_EXPIRED,
    SignedIn,
    Web,
    WebContext,
    audit,
    client_of,
    clip,
    csrf_checked_form,
    current_user,
    in_review_store,
    root,
)
from reviews.web.pages import Redirect, Refusal, render_page

log = structlog.get_logger(__name__)

WRONG_PASSWORD = "Wrong username or password"

router = APIRouter()


def login_page(request: Request, session: Session, target: str, status: int = 200, error: str | None = None,
               username: str = "", contact: str | None = None) -> HTMLResponse:
    """The sign-in form, carrying ``session``'s CSRF token and where to go afterwards; ``contact`` (whom a
    locked-out user calls) under the error."""
    return render_page("login.html", status, root=root(request), csrf=session.csrf, next=target, error=error, username=username,
                       contact=contact)


def lockout_page(request: Request, web: WebContext, session: Session, target: str, lockout: Lockout, username: str) -> HTMLResponse:
    """The 429 sign-in page of a refused attempt: how long to wait, whom to contact, and ``Retry-After``."""
    now = web.clock()
    page = login_page(request, session, target, 429, lockout.message(now), username[:100], web.support_contact)
    page.headers["Retry-After"] = str(lockout.retry_after(now))
    return page


def client_address(request: Request) -> str:
    """The client's network address, as the throttle counts and the audit log records it: the peer, and the
    client a trusted proxy forwarded, labelled (reviews/web/edge.py ``ClientAddress``)."""
    return str(client_of(request))


def anonymous_session(request: Request, web: WebContext) -> Session:
    """The session of nobody that carries the sign-in form's CSRF token (a new one unless the browser
    already has one); sign-in replaces it."""
    session: Session | None = request.state.session
    if session is None or session.username is not None:
        session = new_session(None, "anonymous", web.clock())
        request.state.new_session = session
    return session


@router.get("/", response_class=RedirectResponse)
async def home(request: Request, web: Web) -> RedirectResponse:
    """The site's root: today's day page (which asks for sign-in itself)."""
    return RedirectResponse(f"{root(request)}/review/{web.today().isoformat()}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, web: Web) -> Response:
    """The sign-in form; a browser already signed in goes straight on to ``next``."""
    target = safe_next(request.query_params.get("next"))
    try:
        await current_user(request, web)
        return RedirectResponse(f"{root(request)}{target}", status_code=303)
    except Redirect:
        pass
    return login_page(request, anonymous_session(request, web), target)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, web: Web) -> Response:
    """Sign in with a username and password: a new session and on to ``next``; 401 for wrong
    credentials, 429 while the username or the client's address is locked out."""
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    session: Session | None = request.state.session
    if session is None or session.username is not None or not session.csrf_ok(form.get("csrf")):
        await audit(web, username or None, "refused", "/login", "sign-in form without a valid csrf token")
        # no new cookie here: a cross-site post must not be able to replace (sign out) someone's session
        raise Refusal(403, "Form expired", FORM_EXPIRED)
    typed, client = clip(username, 100) or None, client_address(request)
    # reserved before the password is checked, for any typed name alike: a lockout must not tell whether a
    # username exists, and guesses fired at once must each find the ones before them counted
    attempt = await in_review_store(web.throttle.reserve, typed, client, web.clock())
    if isinstance(attempt, Lockout):
        if attempt.started:
            log.warning("review_web.sign_in_locked", client=client, scope=attempt.scope)
        return lockout_page(request, web, session, target, attempt, username)
    # bounded before scrypt: a megabyte "password" must not buy a megabyte of hashing
    user = await in_review_store(web.store.check_password, username, password) if 0 < len(username) <= 100 and len(password) <= 1024 else None
    if user is None:
        await in_review_store(web.throttle.failed, attempt)
        return login_page(request, session, target, 401, WRONG_PASSWORD, username[:100])
    await in_review_store(web.throttle.succeeded, attempt)  # the attempt's audit entry becomes the sign_in
    request.state.new_session = new_session(user.username, "password", web.clock(), user.session_generation)
    log.info("review_web.signed_in", username=user.username, role=user.role)
    return RedirectResponse(f"{root(request)}{target}", status_code=303)


# the sign-out form holds nothing but its CSRF token: checked, not read
@router.post("/logout", dependencies=[Depends(csrf_checked_form)])
async def logout(request: Request, who: SignedIn, web: Web) -> RedirectResponse:
    """Sign out: every session of the user ends, on this browser and any other, copies of the cookie included
    (the single sign-on proxy's own sign-on is not this app's to end)."""
    await in_review_store(web.store.end_sessions, who.user.username)
    await audit(web, who.user.username, "sign_out", "/logout")
    request.state.new_session = None
    return RedirectResponse(f"{root(request)}/login", status_code=303)
