"""The answer pages behind an alert's link: ``GET /ack/{token}`` shows a phone-sized page with the answer
buttons; ``POST /ack/{token}`` records an answer and publishes an ``AckMessage`` to the acks topic.

The signed token is the permission: nobody signs in to tap "On my way". The answer may change while the
link is valid (acknowledge → on my way → can't respond): the review store's ``ack_tokens`` table records
each answer of a link once, so the same answer twice is published once; if publishing fails that answer's use
is released, so the person can tap again. "Can't respond" asks to confirm first (a second page with one
button). Every page says what follows, truthfully for the team's state (``what_follows``). Tokens are
capabilities: nothing here logs one (only its token id).

Everything the person reads is in the alert's language (reviews/texts.py): the language its IntentCreated
records, English when absent. A refusal before the link is known to be genuine stays English.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from notifiers.ack_links import AckClaim, AckTokenError
from reviews.model import Follows, IfCantRespond, what_follows
from reviews.store import AckUse
from reviews.texts import link_until, text
from reviews.web.deps import Web, WebContext
from reviews.web.incident import incident_of, language_of
from reviews.web.pages import Refusal, render_page
from stream.core.phrases import ENGLISH
from stream.model.events import AckMessage

log = structlog.get_logger(__name__)

T = TypeVar("T")

ANSWERS = ("ack", "on_my_way", "unable")
# what the answers are called, confirmed and hinted at, in each language: reviews/texts.py (choices(), label(), text())
CONFIRMATIONS = {answer: text(f"confirm.{answer}") for answer in ANSWERS}  # English; the posted answer must be one of these
TEAM_NAMES = ("dns-oncall",)  # teams the answer page names in words (texts "team.<id>") to the person holding the phone
NOT_VALID = "This link is not valid"
NOT_ALERTED = "This link is not for a team alerted about this activation"
NOT_YET_RECORDED = "Your alert is still being recorded, please try again in a few seconds"
# how long after a link is made the store may not show its alert yet (the review sink's lag; a database outage)
RECORDING_GRACE = timedelta(minutes=5)
UNAVAILABLE = "Vigil cannot check this link right now, please try again"

router = APIRouter()


def choices(language: str = ENGLISH) -> tuple[tuple[str, str], ...]:
    """The three answers and their buttons' words in ``language``."""
    return tuple((answer, text(f"choice.{answer}", language)) for answer in ANSWERS)


def label(response: str, language: str = ENGLISH) -> str:
    """An answer's name as its button says it (the stored value when it is not one of the three)."""
    return text(f"choice.{response}", language) if response in ANSWERS else response


def _named(teams: Sequence[str], language: str) -> str:
    names = [text(f"team.{team}", language) if team in TEAM_NAMES else team for team in teams]
    joined = names[0] if names else ""
    for name in names[1:]:
        joined = text("and", language, first=joined, second=name)
    return joined


def _already_told(follows: IfCantRespond, hhmm: Callable[[datetime], str], language: str) -> str | None:
    if not follows.told or follows.told_at is None:
        return None
    return text("told.one" if len(follows.told) == 1 else "told.many", language, teams=_named(follows.told, language), at=hhmm(follows.told_at))


def unable_confirmation(follows: IfCantRespond, hhmm: Callable[[datetime], str], language: str = ENGLISH) -> str:
    """What the answer page confirms for "can't respond": "DNS on-call will be told" only when an
    escalation follows; otherwise who was already told, or that nobody else is."""
    if follows.will_tell:
        return text("unable.will_tell", language, teams=_named(follows.will_tell, language))
    return text("unable.noted", language, rest=_already_told(follows, hhmm, language) or text("nobody_told", language))


def unable_hint(follows: IfCantRespond, hhmm: Callable[[datetime], str], language: str = ENGLISH) -> str:
    """The line under the answer buttons: what tapping "can't respond" brings about."""
    if follows.will_tell:
        return text("hint.will_tell", language, teams=_named(follows.will_tell, language))
    return text("hint.noted", language, rest=_already_told(follows, hhmm, language) or text("nobody_told.after", language))


async def in_ack_store(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` on a worker thread; any failure is a 503 "try again", counted as a failed answer."""
    try:
        return await run_in_threadpool(call, *args)
    except Exception as exc:  # noqa: BLE001 - any store failure is "try again" to the person holding the phone
        log.warning("ack_web.store_failed", call=call.__name__, error=type(exc).__name__)
        raise Refusal(503, "Try again", UNAVAILABLE, answer="failed") from exc


async def verified_claim(web: WebContext, token: str) -> AckClaim:
    """What a genuine, unexpired link for a team alerted about its activation says; a refusal otherwise."""
    try:
        claim = web.signer.verify(token, web.clock())
    except AckTokenError as exc:
        log.info("ack_web.refused", reason=exc.reason, token_id=exc.token_id)
        result = "expired" if exc.reason == "expired" else "forged"  # malformed counts as forged
        if exc.reason == "expired" and exc.expires_at is not None:
            raise Refusal(410, "Link expired", f"This link expired at {web.hhmm(exc.expires_at)}", answer=result) from None
        raise Refusal(403, "Link not valid", NOT_VALID, answer=result) from None
    if not await in_ack_store(web.store.team_alerted, claim.activation_id, claim.team):
        # The review store fills from the timeline after the alert has gone out (and lags while the
        # database is down): a link made moments ago gets "try again", not a refusal it did not earn.
        if web.clock() - (claim.expires_at - web.signer.ttl) < RECORDING_GRACE:
            log.info("ack_web.not_yet_recorded", token_id=claim.token_id)
            raise Refusal(503, "Try again", NOT_YET_RECORDED, answer="failed")
        log.info("ack_web.refused", reason="team_not_alerted", token_id=claim.token_id)
        raise Refusal(403, "Link not valid", NOT_ALERTED, answer="other_team")
    return claim


@router.get("/ack/{token}", response_class=HTMLResponse)
async def ack_page(token: str, web: Web) -> HTMLResponse:
    """The answer page: what happened, where, by when and who has answered; the team, when the link expires, the
    answer given so far with this link and what follows it, and the buttons for the answers still to give."""
    claim = await verified_claim(web, token)
    # the records first: the page speaks the alert's language
    records = await in_ack_store(web.store.records, claim.activation_id)
    language = language_of(records, claim.intent_id)
    uses = await in_ack_store(web.store.ack_token_uses, claim.token_id)
    follows = what_follows(records, claim.team, claim.person)
    current = uses[-1] if uses else None
    expires = claim.expires_at.astimezone(web.zone)
    # deadlines are the activation's own times: time left is judged on the review clock, as the review pages do
    incident = incident_of(records, claim.team, claim.intent_id, web.team_precision or {}, web.zone, web.review_clock(),
                           web.neighborhood_centres, language)
    return render_page(
        "ack.html",
        lang=language,
        t=lambda key, **values: text(key, language, **values),
        team=claim.team,
        activation=claim.activation_id[:12],
        expires=link_until(expires, language),
        choices=choices_left(uses, language),
        incident=incident,
        your_answer=current and text("page.your_answer", language, label=label(current.response, language), at=web.hhmm(current.used_at)),
        next_step=next_step(follows, current.response if current else None, web.hhmm, web.review_clock(), language),
        unable_hint=cant_respond_hint(follows, web.hhmm, language),
    )


async def posted_response(request: Request) -> str:
    """The answer posted, as a metrics label: one of the three answers, never what a client made up."""
    try:
        value = (await request.form()).get("response")
    except Exception:  # noqa: BLE001 - an unreadable form is just not an answer
        return "invalid"
    return value if isinstance(value, str) and value in CONFIRMATIONS else "invalid"


@router.post("/ack/{token}", response_class=HTMLResponse)
async def ack_answer(token: str, request: Request, web: Web) -> HTMLResponse:
    """Record the answer tapped and confirm it; every answer is counted by its result."""
    try:
        page, result = await record_answer(web, token, request)
    except Refusal as refusal:
        if refusal.answer is not None:
            web.metrics.answer(await posted_response(request), refusal.answer)
        raise
    web.metrics.answer(await posted_response(request), result)
    return page


async def record_answer(web: WebContext, token: str, request: Request) -> tuple[HTMLResponse, str]:
    """Ask to confirm a "can't respond"; else record this answer of the link once, publish it to the acks topic
    (releasing it if that fails), and say what follows. The page and its metrics result (ok, confirm, used)."""
    claim = await verified_claim(web, token)
    form = await request.form()
    response = form.get("response")
    if response not in CONFIRMATIONS:
        allowed = ", ".join(CONFIRMATIONS)
        raise Refusal(400, "Unknown answer", f"Unknown answer: response must be one of {allowed}")
    # read before anything is recorded: a store that fails here is "try again", never a lost answer
    records = await in_ack_store(web.store.records, claim.activation_id)
    language = language_of(records, claim.intent_id)
    follows = what_follows(records, claim.team, claim.person)
    if response == "unable" and form.get("confirm") != "yes":
        # one tap on "can't respond" may page the next person or escalate: a second, deliberate tap records it
        return render_page("ack_confirm.html", lang=language, heading=text("ask.heading", language),
                           message=cant_respond_hint(follows, web.hhmm, language), confirm=text("ask.yes", language),
                           back=text("ask.back", language)), "confirm"
    # "acknowledge" after "on my way" says nothing new: like the same answer twice (a double tap, a re-sent
    # alert's link), it is not published again
    earlier = next((use for use in await in_ack_store(web.store.ack_token_uses, claim.token_id) if use.response == "on_my_way"),
                   None) if response == "ack" else None
    earlier = earlier or await in_ack_store(web.store.claim_ack_token, claim, response, web.clock())
    if earlier is not None:
        log.info("ack_web.already_recorded", token_id=claim.token_id, response=response)
        message = " ".join(part for part in (
            text("used.message", language, at=web.hhmm(earlier.used_at), label=label(earlier.response, language)) + ".",
            next_step(follows, earlier.response, web.hhmm, web.review_clock(), language)) if part)
        return render_page("message.html", 409, lang=language, heading=text("used.heading", language), message=message, tone="ok"), "used"
    message = AckMessage(ref=claim.ref, team=claim.team, response=response, recipient=claim.recipient, token_id=claim.token_id,
                         person=claim.person)
    try:
        await web.publish_ack(message)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the answer is not on the topic: let them retry
        log.warning("ack_web.publish_failed", token_id=claim.token_id, error=type(exc).__name__)
        await in_ack_store(web.store.release_ack_token, claim.token_id, response)
        raise Refusal(503, text("retry.heading", language), text("retry.message", language), answer="failed", language=language) from exc
    except BaseException:
        # Cancelled mid-publish: the answer may not be out; a second ack is harmless, a lost one is not.
        await asyncio.shield(run_in_threadpool(web.store.release_ack_token, claim.token_id, response))
        raise
    log.info("ack_web.answered", token_id=claim.token_id, activation_id=claim.activation_id, team=claim.team, response=response)
    confirmation = answer_confirmation(follows, response, web.hhmm, web.review_clock(), language)
    return render_page("message.html", lang=language, heading=text("confirm.heading", language), message=confirmation, tone="ok"), "ok"


# --- Issue 16, item 6: changing answers, the "can't respond" confirmation, and what follows each answer, in the
# alert's language like every other text of the page (reviews/texts.py): the same, true sentence in every language.


def choices_left(uses: Sequence[AckUse], language: str = ENGLISH) -> tuple[tuple[str, str], ...]:
    """The answers still to give with a link: each once; "acknowledge" no more once "on my way" is given (it says
    more)."""
    given = {use.response for use in uses}
    return tuple((value, word) for value, word in choices(language)
                 if value not in given and not (value == "ack" and "on_my_way" in given))


def _who(answered: Sequence[str | None], team: str, language: str) -> str:
    # an answer from a team's shared phone names nobody (it may be this very phone's): the team has answered
    names = [name for name in dict.fromkeys(answered) if name]
    if not names or None in answered:
        return text("who.team", language, team=team)
    return text("who.one" if len(names) == 1 else "who.many", language, names=_named(names, language))


def next_step(follows: Follows, answer: str | None, hhmm: Callable[[datetime], str], now: datetime, language: str = ENGLISH) -> str:
    """What happens next for the team, after ``answer`` (None: not answered yet with this link): the escalation
    stopped, or told at a time, or to be told at the deadline unless someone answers; or nobody told at all."""
    if follows.told and follows.told_at is not None:
        return text("next.told.one" if len(follows.told) == 1 else "next.told.many", language, teams=_named(follows.told, language),
                    at=hhmm(follows.told_at))
    if not follows.chain:
        return text("nobody_told", language)
    chain = _named(follows.chain, language)
    if answer in ("ack", "on_my_way"):
        if follows.deadline is not None and now > follows.deadline:
            return text("next.late", language, deadline=hhmm(follows.deadline), teams=chain)
        return text("next.stopped", language, teams=chain)
    if follows.answered:
        who = _who(follows.answered, follows.team, language)
        return text("next.stays_stopped" if answer == "unable" else "next.stopped_by", language, who=who)
    if answer == "unable":
        return _cant_respond_now(follows, language)
    if follows.deadline is not None and now > follows.deadline:
        return text("next.passed", language, deadline=hhmm(follows.deadline), teams=chain)
    return text("next.at_deadline", language, teams=chain, deadline=hhmm(follows.deadline)) if follows.deadline else text("nobody_told", language)


def _cant_respond_now(follows: Follows, language: str) -> str:
    if follows.pages_people:
        return text("next.pages_next", language, team=follows.team, teams=_named(follows.chain, language))
    return text("next.tells_now", language, teams=_named(follows.chain, language))


def cant_respond_hint(follows: Follows, hhmm: Callable[[datetime], str], language: str = ENGLISH) -> str:
    """The line under the answer buttons (and the confirmation question): what "can't respond" brings about."""
    if follows.chain and not follows.told:
        if follows.answered:
            return text("hint.noted", language, rest=text("next.stays_stopped", language, who=_who(follows.answered, follows.team, language)))
        if follows.pages_people:
            return text("hint.pages_next", language, teams=_named(follows.chain, language))
    return unable_hint(follows.if_cant_respond(), hhmm, language)


def answer_confirmation(follows: Follows, answer: str, hhmm: Callable[[datetime], str], now: datetime, language: str = ENGLISH) -> str:
    """What the answer page confirms after an answer is recorded, with what follows it."""
    if answer != "unable":
        follows_text = next_step(follows, answer, hhmm, now, language)
        return f"{text(f'confirm.{answer}', language)}. {follows_text}" if follows_text else text(f"confirm.{answer}", language)
    if follows.chain and not follows.told and (follows.answered or follows.pages_people):
        return text("unable.noted", language, rest=next_step(follows, answer, hhmm, now, language))
    return unable_confirmation(follows.if_cant_respond(), hhmm, language)
