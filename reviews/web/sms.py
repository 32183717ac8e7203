"""``POST /sms/inbound``: the SMS gateway's inbound webhook (Twilio's form format), so a person answers an
alert by replying ``1``/``2``/``3`` (or a word, and the alert's short code when several are open).

The request must carry Twilio's ``X-Twilio-Signature`` over the configured public URL (never one built
from the request's ``Host``) with the account's auth token: anything else is a 403. A signed reply is
answered by TwiML ``<Response><Message>``, which Twilio sends back to the phone as the confirmation or
the reason it was not taken. The phone number names recipients of the contacts file (``SmsInbound.phones``);
the alerts delivered to them in the last ``window`` whose team has not acknowledged are the open ones.
A reply is used once, by its ``MessageSid`` (kept with the ack links' uses in ``ack_tokens``); its
answer goes to the acks topic as an ``AckMessage`` like a link's, with the person whose contact the phone
is (``SmsInbound.people``). As on the answer page, the answer may change while the alert is open (an alert
the phone's person answered stays open to them), each answer of an alert is recorded once (under the alert
link's token id, so a link and a reply do not both publish it), and "can't respond" ("3") is taken only
when confirmed: the reply asks for "3 K7 YES" and records nothing until then. Every refusal and answer is audited;
the auth token and whole phone numbers are never logged.

A reply ``DONE K7`` (reviews/sms_replies.py ``TaskDone``) closes a follow-up task instead (issue 18): the task of the
reminder with that code delivered to the phone within ``task_window`` (plain ``DONE`` when the phone has one open task
reminder), sent to the workers as a ``TaskClose`` with outcome ``done`` on the acks topic, as the review pages send
theirs. A task is marked done by reply once (a second DONE, from any phone, is told it was already recorded); a task
already closed is told so, with its outcome, and nothing is sent.

What the phone is told back is in the alert's language (``IntentCreated.language``, reviews/texts.py): the
answered alert's for a confirmation, the latest alert sent to the phone's for a refusal or a replay; English for
an unknown number. The answer words understood are English's, the deployment's languages' and those of the
phone's open alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from notifiers.ack_links import AckClaim
from reviews.model import Follows, what_follows
from reviews.sms_replies import (
    OpenAlert,
    Reply,
    ReplyError,
    TaskDone,
    TaskReminder,
    choose_alert,
    choose_task,
    confirm_words_for,
    delivered_alerts,
    done_words_for,
    open_alerts,
    parse_reply,
    phone_language,
    signature_valid,
    task_name,
    task_reminders,
    words_for,
)
from reviews.texts import text
from reviews.web.answers import cant_respond_hint, in_ack_store, label, next_step
from reviews.web.deps import Web, WebContext
from reviews.web.pages import Refusal
from stream.model.events import AckMessage, TaskClose, stable_id
from stream.model.timeline import TimelineRecord

log = structlog.get_logger(__name__)

router = APIRouter()

SIGNATURE_HEADER = "X-Twilio-Signature"
UNKNOWN_NUMBER = "This number is not on a Vigil team. Please answer with the link in the alert."
TRY_AGAIN = text("sms.try_again")
MAX_FIELD_CHARS = 1600  # Twilio's longest message; a bigger field is not from the gateway


@dataclass(frozen=True)
class SmsInbound:
    """What the inbound webhook needs: the account's auth token (from a file or the environment, never the
    command line), the public URL the gateway posts to, the phone numbers (E.164) of the contacts file's
    recipients, the languages whose reply words are understood, how long an alert stays answerable (and a task
    reminder closable by reply), and whose contact method each recipient is (``recipient_people``)."""

    auth_token: str = field(repr=False)
    public_url: str
    phones: Mapping[str, frozenset[str]]
    languages: tuple[str, ...] = ()
    window: timedelta = timedelta(hours=12)  # the ack links' lifetime
    people: Mapping[str, str] = field(default_factory=dict)  # recipient id -> the roster person whose contact it is
    # a task is done days after its reminder at most (F3's check-ins run 72 h): its "DONE K7" is taken a week long
    task_window: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if not self.auth_token:
            raise ValueError("the SMS gateway's auth token is empty")
        if not self.public_url.startswith("https://") and not _on_this_machine(self.public_url):
            raise ValueError(f"the SMS webhook's public URL must be https://, got {self.public_url!r}")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _on_this_machine(url: str) -> bool:
    """Whether ``url`` is plain http to this machine's loopback: a gateway on the same machine (the demo's phone
    inbox plays the SMS gateway, `vigil demo`) crosses no network, so it needs no TLS; any other host does."""
    parsed = urlsplit(url)
    return parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS


def twiml(message: str, status: int = 200) -> Response:
    """A TwiML reply: Twilio sends ``message`` back to the phone."""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'
    return Response(body, status_code=status, media_type="application/xml")


def masked_phone(phone: str) -> str:
    """A phone number as the audit log and the log keep it: its last four digits."""
    return f"...{phone[-4:]}" if len(phone) > 4 else "..."


async def _audit(web: WebContext, action: str, phone: str, detail: str) -> None:
    # an audit the database refuses must not turn a refusal into a crash: it is logged instead
    try:
        await in_ack_store(web.store.audit, None, action, f"sms {masked_phone(phone)}", web.clock(), detail)
    except Refusal:
        log.warning("sms.audit_failed", action=action, detail=detail)


def _form_fields(form) -> list[tuple[str, str]] | None:
    items = [(k, v) for k, v in form.multi_items()]
    if any(not isinstance(v, str) or len(v) > MAX_FIELD_CHARS for _, v in items):
        return None
    return items


@router.post("/sms/inbound")
async def sms_inbound(request: Request, web: Web) -> Response:
    """An SMS reply from the gateway: checked, matched to one open alert, published, confirmed by TwiML."""
    sms: SmsInbound | None = request.app.state.sms
    if sms is None:
        return PlainTextResponse("SMS replies are not configured on this server", status_code=404)
    try:
        fields = _form_fields(await request.form())
    except Exception:  # noqa: BLE001 - an unreadable body is a bad request, not a crash
        fields = None
    if fields is None:
        return PlainTextResponse("not a form the SMS gateway sends", status_code=400)
    form = dict(fields)
    phone = form.get("From", "")
    if not signature_valid(sms.auth_token, sms.public_url, fields, request.headers.get(SIGNATURE_HEADER)):
        log.info("sms.refused", reason="bad_signature")
        await _audit(web, "sms_refused", phone, "bad_signature")
        return PlainTextResponse("signature not valid", status_code=403)
    message_sid, body = form.get("MessageSid", ""), form.get("Body")
    if not message_sid or not phone or body is None:
        await _audit(web, "sms_refused", phone, "missing_fields")
        return PlainTextResponse("MessageSid, From and Body are required", status_code=400)
    try:
        return await answer_reply(web, sms, phone, message_sid, body)
    except Refusal:  # the store or the broker failed: the person replies again
        await _audit(web, "sms_refused", phone, "unavailable")
        return twiml(TRY_AGAIN, 503)


async def answer_reply(web: WebContext, sms: SmsInbound, phone: str, message_sid: str, body: str) -> Response:
    """Match a signed reply to its alert (or its task reminder, "DONE K7") and record it; every outcome is audited
    and told to the phone."""
    use_id = stable_id("sms", message_sid)
    earlier = await in_ack_store(web.store.ack_token_use, use_id)
    recipients = sms.phones.get(phone) or frozenset()
    records, since, task_since = await recent_records(web, sms) if recipients else ([], web.clock(), web.clock())
    language = phone_language(records, recipients, min(since, task_since))
    if earlier is not None:
        await _audit(web, "sms_refused", phone, "replay")
        return twiml(text("sms.replayed", language, at=web.hhmm(earlier.used_at), label=_use_label(earlier.response, language)))
    if not recipients:
        log.info("sms.refused", reason="unknown_number", phone=masked_phone(phone))
        await _audit(web, "sms_refused", phone, "unknown_number")
        return twiml(UNKNOWN_NUMBER)
    alerts = await phone_alerts(web, sms, records, recipients, since)
    reminders = task_reminders(records, recipients, task_since)
    try:
        languages = (*sms.languages, *(a.language for a in alerts), *(r.language for r in reminders))
        reply = parse_reply(body, words_for(languages), confirm_words_for(languages), done_words_for(languages))
        if isinstance(reply, TaskDone):
            return await close_task_by_reply(web, sms, phone, use_id, choose_task(reminders, reply))
        alert = choose_alert(alerts, reply)
    except ReplyError as refusal:
        await _audit(web, "sms_refused", phone, f"not_an_answer: {refusal}"[:200])  # the audit log keeps English
        return twiml(text("sms.refused", language, reason=refusal.text(language)))
    person = sms.people.get(alert.recipient_id)
    follows = what_follows([r for r in records if r.activation_id == alert.activation_id], alert.team, person)
    if reply.answer == "unable" and not reply.confirmed:
        # as on the answer page, "can't respond" is taken on a second, deliberate reply: nothing is recorded yet
        await _audit(web, "sms_confirm_asked", phone, f"{alert.team} {alert.activation_id} unable {alert.code}")
        hint = cant_respond_hint(follows, web.hhmm, alert.language)
        return twiml(text("ask.sms", alert.language, code=alert.code, hint=hint))
    return await record_reply(web, phone, use_id, reply, alert, follows, person)


def _use_label(response: str, language: str) -> str:
    # a reply's recorded use: an answer's name, or "done" for a task marked done by reply
    return text("outcome.done", language) if response == "done" else label(response, language)


def answer_token(alert: OpenAlert) -> str:
    """The id an SMS answer to ``alert`` is recorded under: the token id of the ack link sent with it to the
    same recipient, so that an answer given by link and by reply is recorded (and published) once."""
    return stable_id("ack", alert.intent_id, alert.recipient_id)


async def phone_alerts(web: WebContext, sms: SmsInbound, records: list[TimelineRecord], recipients: frozenset[str],
                       since: datetime) -> list[OpenAlert]:
    """The open alerts sent to any of a phone's recipients within the answer window; an alert this phone's person,
    or this phone, answered stays open (the answer may change)."""
    delivered = delivered_alerts(records, recipients, since)
    answered = await in_ack_store(web.store.answered_tokens, [answer_token(a) for a in delivered])
    own = {a.intent_id for a in delivered if answer_token(a) in answered}
    people = {sms.people[r] for r in recipients if r in sms.people}
    person = next(iter(people)) if len(people) == 1 else None  # a number shared by two people answers for neither
    return open_alerts(records, recipients, since, person, own)


async def recent_records(web: WebContext, sms: SmsInbound) -> tuple[list[TimelineRecord], datetime, datetime]:
    """The records of every activation with an alert or task reminder delivered within the longer of the answer and
    the task window, and the two windows' starts."""
    # the deliveries' own times: judged on the activations' clock (the demo's worker runs on the sample's evening)
    since, task_since = web.review_clock() - sms.window, web.review_clock() - sms.task_window
    activations = await in_ack_store(web.store.activations_delivered_since, min(since, task_since))
    records = await in_ack_store(web.store.records_for, activations)
    return [r for rs in records.values() for r in rs], since, task_since


async def record_reply(web: WebContext, phone: str, use_id: str, reply: Reply, alert: OpenAlert, follows: Follows,
                       person: str | None) -> Response:
    """Use the reply once and its answer once per alert, publish it to the acks topic (releasing both uses if that
    fails), and confirm it with what follows."""
    now = web.clock()
    claim = AckClaim(token_id=use_id, activation_id=alert.activation_id, ref=alert.ref, team=alert.team,
                     recipient=alert.recipient_id, intent_id=alert.intent_id, expires_at=now, person=person)
    earlier = await in_ack_store(web.store.claim_ack_token, claim, reply.answer, now)
    if earlier is not None:  # the same message posted twice at once: the other request recorded it
        await _audit(web, "sms_refused", phone, "replay")
        return twiml(text("sms.replayed_now", alert.language, at=web.hhmm(earlier.used_at)))
    answer = replace(claim, token_id=answer_token(alert))
    uses = await in_ack_store(web.store.ack_token_uses, answer.token_id)
    # as on the answer page: the same answer twice, or "acknowledge" after "on my way", is not published again
    given = next((u for u in uses if u.response == "on_my_way"), None) if reply.answer == "ack" else None
    given = given or await in_ack_store(web.store.claim_ack_token, answer, reply.answer, now)
    if given is not None:
        await _audit(web, "sms_refused", phone, f"already_answered {alert.code}")
        return twiml(text("sms.replayed", alert.language, at=web.hhmm(given.used_at), label=label(given.response, alert.language)))
    message = AckMessage(ref=alert.ref, team=alert.team, response=reply.answer, recipient=alert.recipient_id, token_id=use_id, person=person)
    try:
        await web.publish_ack(message)
    except Exception as exc:  # noqa: BLE001 - the answer is not on the topic: the person replies again
        log.warning("sms.publish_failed", token_id=use_id, error=type(exc).__name__)
        await in_ack_store(web.store.release_ack_token, answer.token_id, reply.answer)
        await in_ack_store(web.store.release_ack_token, use_id, reply.answer)
        await _audit(web, "sms_refused", phone, "publish_failed")
        return twiml(text("sms.try_again", alert.language), 503)
    log.info("sms.answered", token_id=use_id, activation_id=alert.activation_id, team=alert.team, response=reply.answer)
    await _audit(web, "sms_answer", phone, f"{alert.team} {alert.activation_id} {reply.answer} {alert.code}")
    # the time the timeline will show for the answer: the activations' clock, as the pages and alerts say times
    recorded = text("sms.recorded", alert.language, label=label(reply.answer, alert.language), team=alert.team, code=alert.code,
                    at=web.hhmm(web.review_clock()))
    follows_text = next_step(follows, reply.answer, web.hhmm, web.review_clock(), alert.language)
    return twiml(f"{recorded} {follows_text}" if follows_text else recorded)


def done_token(reminder: TaskReminder) -> str:
    """The id a task marked done by reply is recorded under: one per task, whichever phone or reminder replies."""
    return stable_id("sms-done", reminder.task_id)


async def close_task_by_reply(web: WebContext, sms: SmsInbound, phone: str, use_id: str, reminder: TaskReminder) -> Response:
    """Close ``reminder``'s task as done: the reply used once and the task marked done by reply once, its ``TaskClose``
    published to the acks topic (both uses released if that fails), told to the phone in the reminder's language; a
    task already closed is told so and nothing is sent."""
    language, ref = reminder.language, reminder.activation_id
    named = {"task": task_name(reminder.kind, language), "ref": ref}
    detail = f"{reminder.team} {reminder.activation_id} task={reminder.task_id} {reminder.code}"
    if reminder.closed is not None:  # closed from the review pages, its link or an earlier reply: its record is stored
        await _audit(web, "sms_refused", phone, f"task_closed_already {detail}"[:200])
        return twiml(text("task.closed_already", language, at=web.hhmm(reminder.closed.at),
                          outcome=text(f"outcome.{reminder.closed.outcome}", language), **named))
    now = web.clock()
    person = sms.people.get(reminder.recipient_id)
    claim = AckClaim(token_id=use_id, activation_id=reminder.activation_id, ref=ref, team=reminder.team, recipient=reminder.recipient_id,
                     intent_id=reminder.intent_id, expires_at=now, person=person)
    earlier = await in_ack_store(web.store.claim_ack_token, claim, "done", now)
    if earlier is not None:  # the same message posted twice at once: the other request recorded it
        await _audit(web, "sms_refused", phone, "replay")
        return twiml(text("sms.replayed_now", language, at=web.hhmm(earlier.used_at)))
    given = await in_ack_store(web.store.claim_ack_token, replace(claim, token_id=done_token(reminder)), "done", now)
    if given is not None:  # marked done by reply already, its TaskClosed not stored yet: this reply records nothing
        await in_ack_store(web.store.release_ack_token, use_id, "done")
        await _audit(web, "sms_refused", phone, f"task_closed_already {detail}"[:200])
        return twiml(text("task.closed_already", language, at=web.hhmm(given.used_at), outcome=text("outcome.done", language), **named))
    closing = TaskClose(task_id=reminder.task_id, ref=ref, outcome="done", by=person or f"sms {masked_phone(phone)}", person=person)
    try:
        await web.publish_ack(closing)
    except Exception as exc:  # noqa: BLE001 - the closing is not on the topic: the person replies again
        log.warning("sms.publish_failed", token_id=use_id, error=type(exc).__name__)
        await in_ack_store(web.store.release_ack_token, done_token(reminder), "done")
        await in_ack_store(web.store.release_ack_token, use_id, "done")
        await _audit(web, "sms_refused", phone, "publish_failed")
        return twiml(text("task.try_again", language, code=reminder.code, **named), 503)
    log.info("sms.task_done", token_id=use_id, activation_id=reminder.activation_id, team=reminder.team, task_id=reminder.task_id)
    await _audit(web, "sms_task_done", phone, detail[:200])
    return twiml(text("task.recorded", language, **named))
