"""``POST /sms/inbound`` closing a follow-up task (issue 18): a reply ``DONE K7`` to a task's reminder sends a
``TaskClose`` (outcome done) to the workers. The reminder is the core's own (a Jordan shooting, F2's family contact,
its timer fired 2 h before due), stored in a real review store on SQLite and PostgreSQL; requests are signed as
Twilio signs them; only the broker's publish is a recording function, as in tests/reviews/web/test_sms.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.sms_replies import short_code
from reviews.store import ReviewStore
from reviews.web.app import create_web_app
from reviews.web.sms import SmsInbound
from stream.core.replay import people_config
from stream.core.state import CoreState
from stream.core.step import step
from stream.feeds.ingest import ingest_cad
from stream.model.events import AckMessage, CoreInput, NotificationIntent, ShootingEvent, TaskClose, stable_id
from stream.model.timeline import AlertDelivered, IntentCreated, RecipientResult, TaskClosed, TaskCreated
from tests.helpers import JORDAN, RECEIVED, shooting
from tests.reviews.web.fixtures import CHICAGO, SECRET
from tests.reviews.web.test_sms import PUBLIC_URL, TOKEN, Gateway, message_of

LUIS, LUIS_RCPT = "+16125550103", "rcpt-luis"  # luis-g: on call for vi-north-nearnorth when the reminder fires (Spanish)
MARCUS, MARCUS_RCPT = "+16125550104", "rcpt-marcus"  # marcus-t: English
SHARED, SHARED_RCPT = "+16125550105", "rcpt-shared"  # the team's shared phone: no person
STREET = "vi-north-nearnorth"


@dataclass
class TaskPhones(Gateway):
    """The gateway of test_sms.py over the core's records of one shooting up to its family contact's reminder."""

    reminder: NotificationIntent | None = None
    task: TaskCreated | None = None
    now: datetime = RECEIVED

    def deliver_at(self, intent: NotificationIntent, recipient_id: str, at: datetime) -> None:
        """Record that ``intent``'s message reached ``recipient_id`` at ``at``."""
        self.store.append([AlertDelivered(
            entry_id=stable_id("tl", intent.activation_id, "delivery", intent.intent_id, recipient_id), activation_id=intent.activation_id,
            at=at, intent_id=intent.intent_id, team=intent.team, status="delivered",
            recipients=(RecipientResult(recipient="twilio://...", status="delivered", elapsed_ms=40.0, recipient_id=recipient_id),),
        )])

    def remind(self, recipient_id: str, language: str | None = None, kind: str | None = None) -> NotificationIntent:
        """The core's reminder delivered to ``recipient_id``; as a copy in ``language`` (another person's reminder),
        or of a second task of ``kind`` (its own TaskCreated stored), when given."""
        reminder, task = self.reminder, self.task
        assert reminder is not None and task is not None
        if language is not None or kind is not None:
            suffix = f"{language or ''}{kind or ''}"
            task_id = f"{task.task_id}-{kind}" if kind else task.task_id
            if kind:
                self.store.append([task.model_copy(update={"entry_id": f"{task.entry_id}-{kind}", "task_id": task_id, "task_kind": kind})])
            record = next(r for r in self.store.records(reminder.activation_id) if isinstance(r, IntentCreated) and r.intent_id == reminder.intent_id)
            update = {"intent_id": f"{reminder.intent_id}-{suffix}", "language": language or reminder.language, "task_id": task_id}
            self.store.append([record.model_copy(update={"entry_id": f"{record.entry_id}-{suffix}", **update})])
            reminder = reminder.model_copy(update=update)
        self.deliver_at(reminder, recipient_id, reminder.created_at)
        return reminder

    def closings(self) -> list[TaskClose]:
        """The task closings published, in order."""
        return [m for m in self.published if isinstance(m, TaskClose)]


@pytest.fixture
def phones(db_url: str, deployment) -> Iterator[TaskPhones]:
    """The web app with SMS replies on, over the core's records of a Jordan shooting until 30 min after the reminder
    of its family contact (F2) went to the street team's person on call."""
    config = people_config(deployment)  # the bundled protocols, F1-F4 included
    event = ingest_cad(shooting("MPLS-T1", JORDAN, updated_at=RECEIVED.isoformat()), deployment.classification, RECEIVED)
    assert isinstance(event, ShootingEvent)
    state, done = step(CoreState(), CoreInput(type="event", event=event), RECEIVED, config)
    timeline, intents = list(done.outcome.timeline), list(done.outcome.intents)
    [task] = [r for r in timeline if isinstance(r, TaskCreated)]
    state, done = step(state, CoreInput(type="tick"), task.due - timedelta(hours=2), config)
    timeline += done.outcome.timeline
    intents += done.outcome.intents
    [reminder] = [i for i in intents if i.purpose == "task"]
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(timeline)
    now = reminder.created_at + timedelta(minutes=30)
    holder: list[TaskPhones] = []

    async def publish(message: AckMessage | TaskClose) -> None:
        if holder[0].fail_publish:
            raise ConnectionError("broker down")
        holder[0].published.append(message)

    sms = SmsInbound(auth_token=TOKEN, public_url=PUBLIC_URL,
                     phones={LUIS: frozenset({LUIS_RCPT}), MARCUS: frozenset({MARCUS_RCPT}), SHARED: frozenset({SHARED_RCPT})},
                     people={LUIS_RCPT: "luis-g", MARCUS_RCPT: "marcus-t"})
    app = create_web_app(AckSigner(SECRET, "https://vigil.example.org/mpls"), store, publish, lambda: now, zone=CHICAGO, sms=sms)
    with TestClient(app) as client:
        holder.append(TaskPhones(client, store, [i for i in intents if i.purpose == "alert"], reminder=reminder, task=task, now=now))
        try:
            yield holder[0]
        finally:
            store.dispose()


def test_the_core_s_reminder_is_to_luis_in_spanish_for_the_family_contact(phones: TaskPhones) -> None:
    # what the tests below stand on: the core's own reminder, not a hand-made record
    assert phones.reminder is not None and phones.task is not None
    assert (phones.reminder.team, phones.reminder.person, phones.reminder.language) == (STREET, "luis-g", "es")
    assert (phones.reminder.task_id, phones.task.task_kind) == (phones.task.task_id, "family_contact")


def test_done_closes_the_phone_s_one_open_task_and_says_so_in_english(phones: TaskPhones) -> None:
    reminder = phones.remind(MARCUS_RCPT, language="en")
    response = phones.reply("DONE", phone=MARCUS)
    assert response.status_code == 200
    assert message_of(response) == (f"Vigil: Recorded: family contact for Ref {reminder.activation_id} marked done. "
                                    "To add a referral, open the link in the reminder.")
    assert phones.published == [TaskClose(task_id=reminder.task_id, ref=reminder.activation_id, outcome="done", by="marcus-t",
                                          person="marcus-t")]
    [entry] = phones.store.audit_entries(1)
    assert (entry.action, entry.target, entry.detail) == (
        "sms_task_done", "sms ...0104", f"{STREET} {reminder.activation_id} task={reminder.task_id} {short_code(reminder.intent_id)}")


def test_hecho_with_the_code_closes_it_and_is_confirmed_in_the_reminder_s_spanish(phones: TaskPhones) -> None:
    reminder = phones.remind(LUIS_RCPT)
    code = short_code(reminder.intent_id)
    response = phones.reply(f"hecho {code.lower()}", phone=LUIS)
    assert message_of(response) == (f"Vigil: Registrado como hecho: contacto con la familia de la Ref {reminder.activation_id}. "
                                    "Para añadir una derivación, abra el enlace del recordatorio.")
    assert [(c.task_id, c.outcome, c.by, c.person) for c in phones.closings()] == [(reminder.task_id, "done", "luis-g", "luis-g")]


def test_a_shared_phone_closes_it_by_its_masked_number_and_names_no_person(phones: TaskPhones) -> None:
    reminder = phones.remind(SHARED_RCPT, language="en")
    assert phones.reply(f"DONE {short_code(reminder.intent_id)}", phone=SHARED).status_code == 200
    assert phones.closings() == [TaskClose(task_id=reminder.task_id, ref=reminder.activation_id, outcome="done", by="sms ...0105")]
    assert "+16125550105" not in repr(phones.store.audit_entries(10))


def test_a_task_already_closed_says_so_and_sends_nothing(phones: TaskPhones) -> None:
    reminder = phones.remind(MARCUS_RCPT, language="en")
    assert phones.reply("done", phone=MARCUS).status_code == 200
    # a second DONE before the core's record is stored (from this phone or another of the team's)
    phones.remind(SHARED_RCPT, language="en")
    again = message_of(phones.reply("done", phone=SHARED))
    assert again == f"Vigil: family contact for Ref {reminder.activation_id} was already closed at 20:34 (done). Nothing new was recorded."
    assert len(phones.closings()) == 1
    # the core recorded a lead's closing from the review pages, "attempted", at 20:10: the phone is told that one
    phones.store.append([TaskClosed(entry_id="tl-closed", activation_id=reminder.activation_id, at=reminder.created_at + timedelta(minutes=6),
                                    task_id=reminder.task_id, team=STREET, outcome="attempted", by="lead-north")])
    closed = message_of(phones.reply(f"DONE {short_code(reminder.intent_id)}", phone=MARCUS))
    assert closed == f"Vigil: family contact for Ref {reminder.activation_id} was already closed at 20:10 (attempted). Nothing new was recorded."
    assert len(phones.closings()) == 1
    assert phones.audit()[-1] == ("sms_refused", f"task_closed_already {STREET} {reminder.activation_id} task={reminder.task_id} "
                                                 f"{short_code(reminder.intent_id)}")


def test_several_open_tasks_ask_which_with_their_codes_and_kinds(phones: TaskPhones) -> None:
    first = phones.remind(MARCUS_RCPT, language="en")
    second = phones.remind(MARCUS_RCPT, language="en", kind="bedside")
    one, two = short_code(first.intent_id), short_code(second.intent_id)
    asked = message_of(phones.reply("DONE", phone=MARCUS))
    assert asked == (f"Vigil: You have 2 open follow-up tasks: reply DONE and the task's code ({one} (family contact), "
                     f"{two} (bedside visit)), e.g. DONE {two}")
    assert phones.published == []
    assert phones.audit()[-1] == ("sms_refused", f"not_an_answer: You have 2 open follow-up tasks: reply DONE and the task's code "
                                                 f"({one} (family contact), {two} (bedside visit)), e.g. DONE {two}")
    assert phones.reply(f"DONE {two}", phone=MARCUS).status_code == 200
    assert [c.task_id for c in phones.closings()] == [second.task_id]


def test_an_unknown_code_names_the_phone_s_open_tasks(phones: TaskPhones) -> None:
    reminder = phones.remind(MARCUS_RCPT, language="en")
    code = short_code(reminder.intent_id)
    wrong = next(c for c in ("ZZ", "YY") if c != code)
    assert message_of(phones.reply(f"DONE {wrong}", phone=MARCUS)) == (
        f"Vigil: No open follow-up task has the code {wrong}; your open tasks: {code} (family contact)")
    assert phones.published == []


def test_no_open_task(phones: TaskPhones) -> None:
    alert = next(i for i in phones.intents if i.language == "hmn")
    phones.deliver_at(alert, MARCUS_RCPT, phones.now - timedelta(minutes=1))  # an alert is no task
    # told in the language of the latest message to the phone, the alert's Hmong; the audit keeps English
    assert message_of(phones.reply("DONE", phone=MARCUS)) == "Vigil: Koj tsis muaj haujlwm saib xyuas qhib los cim tias ua tiav"
    assert phones.audit()[-1] == ("sms_refused", "not_an_answer: You have no open follow-up task to mark done")
    assert phones.published == []


def test_a_failed_publish_records_nothing_and_asks_to_reply_again(phones: TaskPhones) -> None:
    reminder = phones.remind(MARCUS_RCPT, language="en")
    code = short_code(reminder.intent_id)
    phones.fail_publish = True
    response = phones.reply(f"DONE {code}", phone=MARCUS, sid="SM-retry")
    assert response.status_code == 503
    assert message_of(response) == (f"Vigil could not record family contact for Ref {reminder.activation_id}: nothing was recorded. "
                                    f"Please reply DONE {code} again.")
    assert phones.audit()[-1] == ("sms_refused", "publish_failed")
    phones.fail_publish = False
    assert message_of(phones.reply(f"DONE {code}", phone=MARCUS, sid="SM-retry")).startswith("Vigil: Recorded: family contact")
    assert len(phones.closings()) == 1
    assert message_of(phones.reply(f"DONE {code}", phone=MARCUS, sid="SM-retry")) == "Vigil: this reply was already recorded at 20:34 (done)."
    assert len(phones.closings()) == 1


def test_answers_still_answer_alerts_and_a_reminder_is_no_alert(phones: TaskPhones) -> None:
    reminder = phones.remind(MARCUS_RCPT, language="en")
    # with only the reminder, "1" acknowledges nothing (before, the reminder counted as an open alert of the team)
    assert message_of(phones.reply("1", phone=MARCUS)) == "Vigil: You have no open Vigil alert to answer"
    alert = next(i for i in phones.intents if i.language == "en")
    phones.deliver_at(alert, MARCUS_RCPT, phones.now - timedelta(minutes=1))
    code = short_code(alert.intent_id)
    assert message_of(phones.reply(f"2 {short_code(reminder.intent_id)}", phone=MARCUS)) == (
        f"Vigil: No open alert has the code {short_code(reminder.intent_id)}; your open alerts: {code}")
    answered = message_of(phones.reply(f"2 {code}", phone=MARCUS))
    assert answered.startswith(f"Vigil: On my way — recorded for {alert.team} (alert {code}) at 20:34.")
    assert [(m.team, m.response, m.person) for m in phones.published] == [(alert.team, "on_my_way", "marcus-t")]
    assert phones.closings() == []
