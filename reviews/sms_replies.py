"""Answers by SMS reply, the parts without I/O: Twilio's request signature, the reply grammar, the short
code that tells one open alert from another, and which of a phone's alerts are still open.

Signature (Twilio's documented algorithm, "Validating requests"): the full public URL of the webhook,
then each form field sorted by name as name + value, concatenated; HMAC-SHA1 of that with the account's
auth token, base64. Compared in constant time.

Grammar: one answer word and at most one short code, in either order, case and accents ignored:
``1``/``ACK``, ``2``/``OMW``, ``3``/``NO`` in English, and the words of ``REPLY_WORDS`` for each other
language (the non-English words await review by native speakers); and optionally a confirmation word
(``YES``/``Y``, and ``CONFIRM_WORDS`` per language): "can't respond" is taken only when confirmed
("3 K7 YES"); the webhook asks for it otherwise. Words are single words: a reply is split on spaces, so a
phrase such as Hmong "tsis tau" would read as two tokens.

Task closing (issue 18): a follow-up task's reminder carries a short code too ("Reply DONE K7 when it is done"):
``DONE`` (every language) or a word of ``DONE_WORDS`` and at most one code, nothing else, is a ``TaskDone``, not
an answer. A phone's open task reminders are the reminders (IntentCreated purpose "task" with a task id) delivered
to it whose task has no ``TaskClosed``; a task reminder is never an open alert (1/2/3 answer alerts only).

Language: an open alert speaks the language its IntentCreated records (English when absent); what the phone is
told back is in that language (reviews/texts.py), and a refusal before an alert is chosen is in the language
of the latest alert sent to the phone (``phone_language``). ``ReplyError``'s own text stays English: it is
what the audit log keeps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from notifiers.sms_codes import CODE_ALPHABET, CODE_CHARS, short_code
from reviews.texts import text
from stream.core.phrases import ENGLISH, PHRASES, phrase
from stream.model.timeline import (
    AckRecorded,
    AlertDelivered,
    EventReceived,
    IntentCreated,
    TaskClosed,
    TaskCreated,
    TimelineRecord,
)

Answer = Literal["ack", "on_my_way", "unable"]

DIGITS: dict[str, Answer] = {"1": "ack", "2": "on_my_way", "3": "unable"}
# language -> word -> answer; a deployment extends it per language its roster uses (issue 16, item 8)
REPLY_WORDS: dict[str, dict[str, Answer]] = {
    "en": {"ACK": "ack", "OK": "ack", "OMW": "on_my_way", "GOING": "on_my_way", "NO": "unable"},
    # awaiting review by native speakers (docs/languages.md); a word shared by two languages means the same answer
    "es": {"RECIBIDO": "ack", "VOY": "on_my_way", "NO": "unable"},
    "so": {"HAA": "ack", "HELAY": "ack", "IMANAYA": "on_my_way", "MAYA": "unable"},  # yes, received, coming, no
    "hmn": {"YOG": "ack", "TUAJ": "on_my_way", "MUS": "on_my_way", "TSIS": "unable"},  # yes, coming, going, not
}
# language -> the words that confirm a "can't respond" ("3 YES"); none is two characters of CODE_ALPHABET
CONFIRM_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"YES", "Y"}),
    "es": frozenset({"SI"}),  # "sí", accents folded; awaiting review by a native speaker
    # Somali and Hmong "yes" (HAA, YOG) already mean "acknowledge": their speakers confirm with YES
}
# language -> the words that mark a follow-up task done ("DONE K7"); DONE works in every language. None is an answer
# word, a confirmation word or two characters of CODE_ALPHABET (tests/reviews/test_sms_replies.py checks)
DONE_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"DONE"}),
    "es": frozenset({"HECHO"}),  # awaiting review by a native speaker
    # Somali and Hmong: DONE only, until a native speaker gives the word
}
# no 0/O, 1/I/L: a code read off a lock screen at night is typed back right
MAX_REPLY_CHARS = 160  # one SMS segment: a longer body is not an answer


def twilio_signature(auth_token: str, url: str, form: Iterable[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature`` for a POST of ``form`` to ``url``: base64 HMAC-SHA1 of the URL
    followed by every field, sorted by name (then value, for repeated names), as name + value."""
    data = url + "".join(name + value for name, value in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()).decode("ascii")


def signature_valid(auth_token: str, url: str, form: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """Whether ``signature`` is Twilio's for this request (constant-time comparison; missing is invalid)."""
    if not signature:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, form).encode("ascii"), signature.encode("ascii", "replace"))


@dataclass(frozen=True)
class Reply:
    """What an SMS reply says: the answer, the short code when the person typed one, and whether it carries a
    confirmation word (a "can't respond" is taken only with one)."""

    answer: Answer
    code: str | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class TaskDone:
    """An SMS reply that marks a follow-up task done ("DONE K7"): the reminder's short code when the person typed one."""

    code: str | None = None


class ReplyError(ValueError):
    """A reply that is not an answer: ``key`` and ``values`` of its text in reviews/texts.py; ``str()`` is the
    English (the audit log's), ``text(language)`` what the phone is told. A value may be a function of the
    language (a task's kind is named in the phone's language, and in English in the audit log)."""

    def __init__(self, key: str, **values: object):
        self.key = key
        self.values = values
        super().__init__(self.text(ENGLISH))

    def text(self, language: str = ENGLISH) -> str:
        """The refusal in ``language`` (English when it has no text there)."""
        values = {name: value(language) if callable(value) else value for name, value in self.values.items()}
        return text(self.key, language, **values)


def _folded(text: str) -> str:
    # "Recibído", "recibido" and "RECIBIDO" are the same word
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _answer_of(token: str, words: Mapping[str, Answer]) -> Answer | None:
    return DIGITS.get(token) or words.get(token)


def words_for(languages: Iterable[str]) -> dict[str, Answer]:
    """The answer words of English and of each language given (an unknown language adds nothing)."""
    words = dict(REPLY_WORDS["en"])
    for language in languages:
        words.update(REPLY_WORDS.get(language, {}))
    return words


def confirm_words_for(languages: Iterable[str]) -> frozenset[str]:
    """The confirmation words of English and of each language given."""
    return CONFIRM_WORDS["en"].union(*(CONFIRM_WORDS.get(language, frozenset()) for language in languages))


def done_words_for(languages: Iterable[str]) -> frozenset[str]:
    """The task-closing words of English (DONE, understood in every language) and of each language given."""
    return DONE_WORDS["en"].union(*(DONE_WORDS.get(language, frozenset()) for language in languages))


def _is_code(token: str) -> bool:
    return re.fullmatch(rf"[{CODE_ALPHABET}]{{{CODE_CHARS}}}", token) is not None


def _task_done(tokens: list[str], done_words: frozenset[str], other_words: Collection[str]) -> TaskDone:
    # a task closing is the word and at most a code: "2 DONE" or "DONE K7 K8" says neither clearly
    rest = [t for t in tokens if t not in done_words]
    if len(tokens) - len(rest) != 1 or len(rest) > 1 or (rest and rest[0] in other_words):
        raise ReplyError("task.how")
    if rest and not _is_code(rest[0]):
        raise ReplyError("task.not_a_code", token=rest[0][:8])
    return TaskDone(rest[0] if rest else None)


def parse_reply(body: str, words: Mapping[str, Answer] | None = None, confirm_words: frozenset[str] | None = None,
                done_words: frozenset[str] | None = None) -> Reply | TaskDone:
    """The answer, short code and confirmation in an SMS body, or a ``TaskDone`` when it carries a task-closing word
    (``done_words``, English's by default); ``ReplyError`` (its text for the phone) when it has no answer, two
    answers, or a token that is none of these."""
    if len(body) > MAX_REPLY_CHARS:
        raise ReplyError("reply.how")
    table = words if words is not None else REPLY_WORDS["en"]
    confirms = confirm_words if confirm_words is not None else CONFIRM_WORDS["en"]
    tokens = re.findall(r"[^\s.,;:!?]+", _folded(body))
    done = done_words if done_words is not None else DONE_WORDS["en"]
    if any(t in done for t in tokens):
        return _task_done(tokens, done, {*DIGITS, *table, *confirms})
    confirmed = any(t in confirms for t in tokens)
    tokens = [t for t in tokens if t not in confirms]
    answers = [a for a in (_answer_of(t, table) for t in tokens) if a is not None]
    codes = [t for t in tokens if _answer_of(t, table) is None]
    if len(answers) != 1 or len(codes) > 1:
        raise ReplyError("reply.how_with_code")
    if codes and not _is_code(codes[0]):
        raise ReplyError("reply.not_a_code", token=codes[0][:8])
    return Reply(answers[0], codes[0] if codes else None, confirmed)


@dataclass(frozen=True)
class OpenAlert:
    """An alert sent to a phone and not yet answered by its team: what an SMS reply can answer."""

    activation_id: str
    intent_id: str
    team: str
    ref: str
    recipient_id: str
    sent_at: datetime
    language: str = ENGLISH  # the alert's (its IntentCreated's): the reply is confirmed in it

    @property
    def code(self) -> str:
        """The alert's short code."""
        return short_code(self.intent_id)


def delivered_alerts(records: Iterable[TimelineRecord], recipient_ids: frozenset[str], since: datetime) -> list[OpenAlert]:
    """The alerts delivered to any of ``recipient_ids`` at or after ``since`` whose activation has a stored
    report, answered or not, oldest first (a follow-up task's reminder or overdue notice is not an alert)."""
    records = list(records)
    refs = {r.activation_id: r.incident_id for r in records if isinstance(r, EventReceived)}
    languages = {r.intent_id: r.language for r in records if isinstance(r, IntentCreated)}
    # a follow-up task's reminder or overdue notice is no alert: "1" must not acknowledge it for the team
    about_tasks = {r.intent_id for r in records if isinstance(r, IntentCreated) and r.task_id is not None}
    found: dict[str, OpenAlert] = {}
    for record in records:
        if not isinstance(record, AlertDelivered) or record.at < since or record.intent_id in about_tasks:
            continue
        if record.activation_id not in refs:
            continue  # no report stored to name the activation by: the core could not route the answer
        for result in record.recipients:
            if result.recipient_id in recipient_ids and result.status != "failed" and record.intent_id not in found:
                found[record.intent_id] = OpenAlert(record.activation_id, record.intent_id, record.team, refs[record.activation_id],
                                                    result.recipient_id, record.at, languages.get(record.intent_id, ENGLISH))
    return sorted(found.values(), key=lambda a: a.sent_at)


def open_alerts(records: Iterable[TimelineRecord], recipient_ids: frozenset[str], since: datetime, person: str | None = None,
                own: Collection[str] = ()) -> list[OpenAlert]:
    """The alerts delivered to any of ``recipient_ids`` at or after ``since`` whose team has not acknowledged
    (an "on my way" or "ack" closes it; "can't respond" does not), oldest first. An alert the phone's own
    ``person`` answered, or whose intent id is in ``own`` (answered from this phone), stays open: its answer
    may change."""
    records = list(records)
    answered = {(r.activation_id, r.team) for r in records
                if isinstance(r, AckRecorded) and r.response != "unable" and (person is None or r.person != person)}
    return [a for a in delivered_alerts(records, recipient_ids, since) if (a.activation_id, a.team) not in answered or a.intent_id in own]


def phone_language(records: Iterable[TimelineRecord], recipient_ids: frozenset[str], since: datetime) -> str:
    """The language of the latest alert delivered to any of ``recipient_ids`` at or after ``since``, answered or
    not (what a phone is told when its reply answers no alert); English when none."""
    records = list(records)
    languages = {r.intent_id: r.language for r in records if isinstance(r, IntentCreated)}
    sent = [(r.at, languages.get(r.intent_id, ENGLISH)) for r in records if isinstance(r, AlertDelivered) and r.at >= since
            and any(x.recipient_id in recipient_ids and x.status != "failed" for x in r.recipients)]
    return max(sent, key=lambda item: item[0])[1] if sent else ENGLISH


def choose_alert(alerts: list[OpenAlert], reply: Reply) -> OpenAlert:
    """The one open alert ``reply`` answers; ``ReplyError`` when there is none, the code matches none,
    or several are open and no code (or an ambiguous one) says which."""
    if not alerts:
        raise ReplyError("reply.none_open")
    if reply.code is None:
        if len(alerts) == 1:
            return alerts[0]
        raise ReplyError("reply.several", count=len(alerts), codes=", ".join(a.code for a in alerts), example=alerts[-1].code)
    matching = [a for a in alerts if a.code == reply.code]
    if not matching:
        raise ReplyError("reply.unknown_code", code=reply.code, codes=", ".join(a.code for a in alerts))
    if len(matching) > 1:
        raise ReplyError("reply.shared_code", code=reply.code)
    return matching[0]


# ---- follow-up tasks' reminders ("DONE K7") ------------------------------------------------------------------


def task_name(kind: str, language: str = ENGLISH) -> str:
    """A task's kind as its reminder names it, in ``language`` ("family contact"); the kind itself when unknown."""
    return phrase(f"task.{kind}", language) if f"task.{kind}" in PHRASES[ENGLISH] else kind.replace("_", " ")


@dataclass(frozen=True)
class TaskReminder:
    """A follow-up task's reminder delivered to a phone: what "DONE K7" closes. ``closed``: the task's latest
    closing, None while it is open."""

    activation_id: str
    intent_id: str
    task_id: str
    team: str
    kind: str
    recipient_id: str
    sent_at: datetime
    language: str = ENGLISH  # the reminder's (its IntentCreated's): the reply is confirmed in it
    closed: TaskClosed | None = None

    @property
    def code(self) -> str:
        """The reminder's short code."""
        return short_code(self.intent_id)


def task_reminders(records: Iterable[TimelineRecord], recipient_ids: frozenset[str], since: datetime) -> list[TaskReminder]:
    """The task reminders (IntentCreated purpose "task" with a task id) delivered to any of ``recipient_ids`` at or
    after ``since``, closed or not, oldest first."""
    records = list(records)
    reminders = {r.intent_id: r for r in records if isinstance(r, IntentCreated) and r.purpose == "task" and r.task_id is not None}
    kinds = {r.task_id: r.task_kind for r in records if isinstance(r, TaskCreated)}
    closed: dict[str, TaskClosed] = {}
    for record in sorted((r for r in records if isinstance(r, TaskClosed)), key=lambda r: r.at):
        closed[record.task_id] = record  # a later closing corrects an earlier one
    found: dict[str, TaskReminder] = {}
    for record in records:
        intent = reminders.get(record.intent_id) if isinstance(record, AlertDelivered) and record.at >= since else None
        if intent is None or intent.task_id is None or record.intent_id in found:
            continue
        result = next((x for x in record.recipients if x.recipient_id in recipient_ids and x.status != "failed"), None)
        if result is not None and result.recipient_id is not None:
            found[record.intent_id] = TaskReminder(record.activation_id, record.intent_id, intent.task_id, intent.team,
                                                   kinds.get(intent.task_id, "follow-up"), result.recipient_id, record.at,
                                                   intent.language, closed.get(intent.task_id))
    return sorted(found.values(), key=lambda r: r.sent_at)


def _listed(reminders: list[TaskReminder]):
    # "K7 (family contact), M3 (bedside visit)" in the phone's language; English in the audit log
    return lambda language: ", ".join(f"{r.code} ({task_name(r.kind, language)})" for r in reminders)


def choose_task(reminders: list[TaskReminder], done: TaskDone) -> TaskReminder:
    """The task reminder ``done`` closes (a closed one too: the phone is told it was closed already); ``ReplyError``
    when the code matches none, or no code is given and the phone's open tasks are none or several. Reminders of the
    same task count once (its latest names it)."""
    latest = {r.task_id: r for r in reminders}  # oldest first: the last of a task is its latest
    open_ = [r for r in latest.values() if r.closed is None]
    if done.code is None:
        if len(open_) == 1 or (not open_ and len(latest) == 1):
            return open_[0] if open_ else next(iter(latest.values()))
        if not open_:
            raise ReplyError("task.none_open")
        raise ReplyError("task.several", count=len(open_), tasks=_listed(open_), example=open_[-1].code)
    matching = {r.task_id: r for r in reminders if r.code == done.code}
    if not matching:
        if not open_:
            raise ReplyError("task.none_open")
        raise ReplyError("task.unknown_code", code=done.code, tasks=_listed(open_))
    if len(matching) > 1:
        raise ReplyError("task.shared_code", code=done.code)
    return next(iter(matching.values()))
