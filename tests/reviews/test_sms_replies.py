"""The SMS reply parts without I/O: Twilio's signature, the reply grammar, short codes, open alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifiers.sms_codes import reply_line
from reviews.sms_replies import (
    CODE_ALPHABET,
    CONFIRM_WORDS,
    DONE_WORDS,
    REPLY_WORDS,
    OpenAlert,
    Reply,
    ReplyError,
    TaskDone,
    choose_alert,
    choose_task,
    confirm_words_for,
    done_words_for,
    open_alerts,
    parse_reply,
    phone_language,
    short_code,
    signature_valid,
    task_reminders,
    twilio_signature,
    words_for,
)
from stream.model.timeline import (
    AckRecorded,
    AlertDelivered,
    EventReceived,
    IntentCreated,
    RecipientResult,
    TaskClosed,
    TaskCreated,
)

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def _fields(phone: str) -> list[tuple[str, str]]:
    return [("CallSid", "CA1234567890ABCDE"), ("Caller", phone), ("Digits", "1234"), ("From", phone), ("To", "+18005551212")]


@pytest.mark.parametrize(("phone", "expected"), [
    # Twilio's published example ("Validating requests"); the two numbers appear in its docs over the years,
    # each with its own signature (computed here and by many independent implementations)
    ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="),
    ("+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
])
def test_twilio_published_example_vector(phone: str, expected: str) -> None:
    assert twilio_signature("12345", URL, _fields(phone)) == expected
    assert signature_valid("12345", URL, list(reversed(_fields(phone))), expected)  # fields sorted by name


def test_any_change_breaks_the_signature() -> None:
    good = twilio_signature("12345", URL, _fields("+14158675310"))
    assert not signature_valid("12346", URL, _fields("+14158675310"), good)
    assert not signature_valid("12345", URL.replace("https", "http"), _fields("+14158675310"), good)
    assert not signature_valid("12345", URL, _fields("+14158675311"), good)
    assert not signature_valid("12345", URL, _fields("+14158675310"), None)
    assert not signature_valid("12345", URL, _fields("+14158675310"), "")
    assert not signature_valid("12345", URL, _fields("+14158675310"), "ü" + good)


@pytest.mark.parametrize(("body", "answer"), [
    ("1", "ack"), ("2", "on_my_way"), ("3", "unable"),
    ("ACK", "ack"), ("ack", "ack"), (" Ok. ", "ack"), ("OMW", "on_my_way"), ("omw!", "on_my_way"), ("going", "on_my_way"), ("No", "unable"),
])
def test_english_answers(body: str, answer: str) -> None:
    assert parse_reply(body) == Reply(answer)


@pytest.mark.parametrize(("body", "answer"), [("recibido", "ack"), ("Recibído", "ack"), ("voy", "on_my_way"), ("NO", "unable")])
def test_spanish_answers_when_the_deployment_uses_spanish(body: str, answer: str) -> None:
    assert parse_reply(body, words_for(["es"])) == Reply(answer)


def test_a_language_not_used_adds_no_words() -> None:
    with pytest.raises(ReplyError):
        parse_reply("voy", words_for(["so"]))


@pytest.mark.parametrize(("body", "reply"), [("2 K7", Reply("on_my_way", "K7")), ("k7 2", Reply("on_my_way", "K7")),
                                             ("ACK 3X", Reply("ack", "3X"))])
def test_a_short_code_in_either_order(body: str, reply: Reply) -> None:
    assert parse_reply(body) == reply


@pytest.mark.parametrize("body", ["", "hello there", "1 2", "2 K7 K8", "yes", "x" * 161])
def test_not_an_answer(body: str) -> None:
    with pytest.raises(ReplyError, match="Reply with 1"):
        parse_reply(body)


def test_a_malformed_code_is_named() -> None:
    with pytest.raises(ReplyError, match="K0 is not an alert code"):
        parse_reply("2 K0")


def test_short_codes_are_deterministic_and_readable() -> None:
    codes = {short_code(f"int-{n:020x}") for n in range(200)}
    assert short_code("int-abc") == short_code("int-abc")
    assert all(len(c) == 2 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert len(codes) > 150  # spread over the 961 codes


T0 = datetime(2026, 7, 5, 3, 0, tzinfo=UTC)


def _received(act: str) -> EventReceived:
    return EventReceived(entry_id=f"e-{act}", activation_id=act, at=T0, event_id="ev", event_kind="person_shot", source="cad",
                         incident_id=f"REF-{act}", reported_at=T0, location=None)


def _delivered(act: str, intent: str, team: str, rid: str, at: datetime = T0, status: str = "delivered") -> AlertDelivered:
    return AlertDelivered(entry_id=f"d-{intent}", activation_id=act, at=at, intent_id=intent, team=team, status="delivered",
                          recipients=(RecipientResult(recipient="twilio://...", status=status, elapsed_ms=1, recipient_id=rid),))


def test_open_alerts_are_the_unanswered_deliveries_to_the_phone() -> None:
    records = [
        _received("a1"), _delivered("a1", "i1", "vi-central", "r1"),
        _received("a2"), _delivered("a2", "i2", "vi-north", "r1"),
        AckRecorded(entry_id="k", activation_id="a2", at=T0, team="vi-north", first=True, within_deadline=True, response="on_my_way"),
        _received("a3"), _delivered("a3", "i3", "vi-central", "r2"),  # someone else's phone
        _received("a4"), _delivered("a4", "i4", "vi-central", "r1", at=T0 - timedelta(hours=13)),  # too old
        _received("a5"), _delivered("a5", "i5", "vi-central", "r1", status="failed"),  # never reached the phone
        _delivered("a6", "i6", "vi-central", "r1"),  # no report stored: the core could not route it
    ]
    found = open_alerts(records, frozenset({"r1"}), T0 - timedelta(hours=12))
    assert [(a.intent_id, a.ref, a.team) for a in found] == [("i1", "REF-a1", "vi-central")]


def test_cant_respond_leaves_the_alert_open() -> None:
    records = [_received("a1"), _delivered("a1", "i1", "vi-central", "r1"),
               AckRecorded(entry_id="k", activation_id="a1", at=T0, team="vi-central", first=False, within_deadline=True, response="unable")]
    assert len(open_alerts(records, frozenset({"r1"}), T0)) == 1


def _alert(intent: str) -> OpenAlert:
    return OpenAlert("a", intent, "t", "ref", "r1", T0)


def test_choosing_the_alert() -> None:
    one, two = _alert("int-one"), _alert("int-two")
    assert choose_alert([one], Reply("ack")) == one
    assert choose_alert([one, two], Reply("ack", two.code)) == two
    with pytest.raises(ReplyError, match=f"You have 2 open alerts: reply with the answer and the alert's code \\({one.code}, {two.code}\\)"):
        choose_alert([one, two], Reply("ack"))
    with pytest.raises(ReplyError, match="No open alert has the code"):
        choose_alert([one], Reply("ack", "ZZ" if one.code != "ZZ" else "YY"))
    with pytest.raises(ReplyError, match="You have no open Vigil alert"):
        choose_alert([], Reply("ack"))


@pytest.mark.parametrize(("body", "reply"), [("3 yes", Reply("unable", None, True)), ("3 K7 YES", Reply("unable", "K7", True)),
                                             ("y 3", Reply("unable", None, True)), ("3", Reply("unable")), ("3 K7", Reply("unable", "K7"))])
def test_a_confirmation_word(body: str, reply: Reply) -> None:
    assert parse_reply(body) == reply


def test_a_spanish_confirmation_when_the_deployment_uses_spanish() -> None:
    assert parse_reply("NO SÍ", words_for(["es"]), confirm_words_for(["es"])) == Reply("unable", None, True)
    with pytest.raises(ReplyError):
        parse_reply("3 SI", words_for([]), confirm_words_for([]))


def test_an_alert_stays_open_to_the_person_who_answered_it() -> None:
    records = [_received("a1"), _delivered("a1", "i1", "vi-central", "r1"),
               AckRecorded(entry_id="k", activation_id="a1", at=T0, team="vi-central", first=True, within_deadline=True, response="ack",
                           person="ana-r")]
    assert len(open_alerts(records, frozenset({"r1"}), T0, person="ana-r")) == 1  # she may still change her answer
    assert open_alerts(records, frozenset({"r1"}), T0, person="ben-k") == []
    assert open_alerts(records, frozenset({"r1"}), T0) == []
    # and to a phone that answered it itself (its answer is in the store before the core's record arrives)
    assert len(open_alerts(records, frozenset({"r1"}), T0, own=frozenset({"i1"}))) == 1
# ---- languages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "body", "answer"), [
    ("so", "haa", "ack"), ("so", "Helay", "ack"), ("so", "imanaya", "on_my_way"), ("so", "MAYA", "unable"),
    ("hmn", "yog", "ack"), ("hmn", "Tuaj", "on_my_way"), ("hmn", "mus", "on_my_way"), ("hmn", "tsis", "unable"),
])
def test_somali_and_hmong_answers(language: str, body: str, answer: str) -> None:
    assert parse_reply(body, words_for([language])) == Reply(answer)
    assert parse_reply(f"{body} K7", words_for([language])) == Reply(answer, "K7")


def test_every_language_agrees_on_a_shared_word_and_no_word_looks_like_a_code() -> None:
    seen: dict[str, str] = {}
    for language, words in REPLY_WORDS.items():
        for word, answer in words.items():
            assert word == word.upper() and not (len(word) == 2 and set(word) <= set(CODE_ALPHABET)), (language, word)
            assert seen.setdefault(word, answer) == answer, (language, word)
    assert set(REPLY_WORDS) == {"en", "es", "so", "hmn"}


def test_refusals_in_the_alerts_language() -> None:
    with pytest.raises(ReplyError) as refused:
        parse_reply("quién es?", words_for(["es"]))
    assert str(refused.value).startswith("Reply with 1 (acknowledge)")  # English for the audit log
    assert refused.value.text("es").startswith("Responda 1 (recibido), 2 (voy en camino) o 3 (no puedo responder)")
    with pytest.raises(ReplyError) as none:
        choose_alert([], Reply("ack"))
    assert none.value.text("so") == "Ma haysid digniin Vigil oo furan oo aad ka jawaabto"


def _intent(act: str, intent: str, team: str, language: str) -> IntentCreated:
    return IntentCreated(entry_id=f"c-{intent}", activation_id=act, at=T0, intent_id=intent, team=team, protocol="P2", step="initial",
                         ack_deadline=None, language=language)


def test_an_open_alert_carries_its_language_and_the_phone_speaks_its_latest() -> None:
    records = [_received("a1"), _intent("a1", "i1", "vi-central", "so"), _delivered("a1", "i1", "vi-central", "r1"),
               _received("a2"), _delivered("a2", "i2", "vi-north", "r1", at=T0 - timedelta(minutes=1))]  # no IntentCreated: English
    found = open_alerts(records, frozenset({"r1"}), T0 - timedelta(hours=12))
    assert [(a.intent_id, a.language) for a in found] == [("i2", "en"), ("i1", "so")]
    assert phone_language(records, frozenset({"r1"}), T0 - timedelta(hours=12)) == "so"
    assert phone_language(records, frozenset({"r9"}), T0 - timedelta(hours=12)) == "en"
    # an answered alert still sets the language the phone is answered in (a replayed reply, "no open alert")
    answered = [*records, AckRecorded(entry_id="k", activation_id="a1", at=T0, team="vi-central", first=True, within_deadline=True,
                                      response="ack")]
    assert phone_language(answered, frozenset({"r1"}), T0 - timedelta(hours=12)) == "so"


def test_the_reply_line_in_the_alerts_language() -> None:
    code = short_code("int-abc")
    assert reply_line("int-abc") == reply_line("int-abc", "en") == reply_line("int-abc", "fr") == \
        f"Reply 1 {code} ack, 2 {code} on my way, 3 {code} can't respond"
    assert reply_line("int-abc", "es") == f"Responda 1 {code} recibido, 2 {code} voy en camino, 3 {code} no puedo responder"
    for language in ("so", "hmn"):
        line = reply_line("int-abc", language)
        assert all(f"{n} {code}" in line for n in (1, 2, 3)) and line != reply_line("int-abc")


# ---- "DONE K7": a follow-up task's reminder closed by reply (issue 18) -----------------------------------------


@pytest.mark.parametrize(("body", "done"), [("DONE", TaskDone()), ("done K7", TaskDone("K7")), ("k7 Done.", TaskDone("K7")),
                                            (" Done! ", TaskDone())])
def test_done_marks_a_task_done(body: str, done: TaskDone) -> None:
    assert parse_reply(body) == done
    assert parse_reply(body, words_for(["so"]), confirm_words_for(["so"]), done_words_for(["so"])) == done  # DONE in every language


def test_spanish_hecho_when_the_deployment_or_the_reminder_speaks_spanish() -> None:
    assert parse_reply("Hecho k7", words_for(["es"]), confirm_words_for(["es"]), done_words_for(["es"])) == TaskDone("K7")
    with pytest.raises(ReplyError, match="Reply with 1"):
        parse_reply("hecho", words_for([]), confirm_words_for([]), done_words_for([]))


@pytest.mark.parametrize(("body", "refusal"), [
    ("2 DONE", "To close a follow-up task, reply DONE and the task's code, e.g. DONE K7"),
    ("DONE K7 K8", "To close a follow-up task, reply DONE and the task's code, e.g. DONE K7"),
    ("DONE done", "To close a follow-up task, reply DONE and the task's code, e.g. DONE K7"),
    ("DONE thanks", "THANKS is not a task code; codes are like K7"),
    ("DONE K0", "K0 is not a task code; codes are like K7"),
])
def test_a_task_closing_with_anything_else_is_refused(body: str, refusal: str) -> None:
    with pytest.raises(ReplyError) as refused:
        parse_reply(body)
    assert str(refused.value) == refusal


@pytest.mark.parametrize(("body", "reply"), [("2 K7", Reply("on_my_way", "K7")), ("1", Reply("ack")), ("3 K7 YES", Reply("unable", "K7", True))])
def test_answers_are_unchanged_by_the_task_words(body: str, reply: Reply) -> None:
    assert parse_reply(body, words_for(["es"]), confirm_words_for(["es"]), done_words_for(["es"])) == reply


def test_no_task_word_clashes_with_an_answer_a_confirmation_or_a_code() -> None:
    answers = {w for words in REPLY_WORDS.values() for w in words}
    confirms = {w for words in CONFIRM_WORDS.values() for w in words}
    for language, words in DONE_WORDS.items():
        for word in words:
            assert word == word.upper() and not (len(word) == 2 and set(word) <= set(CODE_ALPHABET)), (language, word)
            assert word not in answers and word not in confirms and not word.isdigit(), (language, word)
    assert all("DONE" in done_words_for([language]) for language in REPLY_WORDS)


def _task(act: str, task: str, kind: str) -> TaskCreated:
    return TaskCreated(entry_id=f"t-{task}", activation_id=act, at=T0 - timedelta(hours=40), task_id=task, team="vi-central",
                       task_kind=kind, rule="F2", due=T0 + timedelta(hours=2))


def _reminder(act: str, intent: str, task: str, language: str = "en", purpose: str = "task") -> IntentCreated:
    return IntentCreated(entry_id=f"c-{intent}", activation_id=act, at=T0, intent_id=intent, team="vi-central", protocol="F2",
                         step="initial", ack_deadline=None, language=language, purpose=purpose, task_id=task)


def _closed(act: str, task: str, outcome: str = "done", at: datetime = T0) -> TaskClosed:
    return TaskClosed(entry_id=f"x-{task}-{outcome}", activation_id=act, at=at, task_id=task, team="vi-central", outcome=outcome)


def test_a_phones_task_reminders_and_whether_their_task_is_closed() -> None:
    records = [
        _received("a1"), _task("a1", "t1", "family_contact"), _reminder("a1", "i1", "t1", "es"), _delivered("a1", "i1", "vi-central", "r1"),
        _task("a1", "t2", "bedside"), _reminder("a1", "i2", "t2"), _delivered("a1", "i2", "vi-central", "r1"),
        _closed("a1", "t2", "attempted", T0 - timedelta(minutes=5)), _closed("a1", "t2", "done"),  # a later closing corrects it
        _task("a1", "t3", "bedside"), _reminder("a1", "i3", "t3"), _delivered("a1", "i3", "vi-central", "r2"),  # another phone
        _task("a1", "t4", "bedside"), _reminder("a1", "i4", "t4"), _delivered("a1", "i4", "vi-central", "r1", status="failed"),
        _task("a1", "t5", "bedside"), _reminder("a1", "i5", "t5"), _delivered("a1", "i5", "vi-central", "r1", at=T0 - timedelta(days=8)),
        _reminder("a1", "i6", "t1", purpose="notice"), _delivered("a1", "i6", "vi-central", "r1"),  # its overdue notice: not a reminder
        _intent("a1", "i7", "vi-central", "en"), _delivered("a1", "i7", "vi-central", "r1"),  # the alert
    ]
    found = task_reminders(records, frozenset({"r1"}), T0 - timedelta(days=7))
    assert [(r.intent_id, r.task_id, r.kind, r.language, r.closed and r.closed.outcome) for r in found] == [
        ("i1", "t1", "family_contact", "es", None), ("i2", "t2", "bedside", "en", "done")]
    # a task's reminder or overdue notice is no alert: "1" answers the alert only
    assert [a.intent_id for a in open_alerts(records, frozenset({"r1"}), T0 - timedelta(hours=12))] == ["i7"]


def _reminders(*kinds: str, closed: tuple[str, ...] = ()) -> list:
    records = [_received("a1")]
    for n, kind in enumerate(kinds):
        records += [_task("a1", f"t{n}", kind), _reminder("a1", f"int-{n}", f"t{n}"), _delivered("a1", f"int-{n}", "vi-central", "r1")]
    records += [_closed("a1", task) for task in closed]
    return task_reminders(records, frozenset({"r1"}), T0)


def test_choosing_the_task() -> None:
    one, two = _reminders("family_contact", "bedside")
    assert choose_task([one], TaskDone()) == one
    assert choose_task([one, two], TaskDone(two.code)) == two
    with pytest.raises(ReplyError) as several:
        choose_task([one, two], TaskDone())
    assert str(several.value) == (f"You have 2 open follow-up tasks: reply DONE and the task's code ({one.code} (family contact), "
                                  f"{two.code} (bedside visit)), e.g. DONE {two.code}")
    assert several.value.text("es") == (f"Tiene 2 seguimientos abiertos: responda DONE y el código de la tarea ({one.code} (contacto con "
                                        f"la familia), {two.code} (visita junto a la cama)), p. ej. DONE {two.code}")
    wrong = next(c for c in ("ZZ", "YY", "XX") if c not in (one.code, two.code))
    with pytest.raises(ReplyError, match=f"^No open follow-up task has the code {wrong}; your open tasks: {one.code} \\(family contact\\), "):
        choose_task([one, two], TaskDone(wrong))
    with pytest.raises(ReplyError, match="^You have no open follow-up task to mark done$"):
        choose_task([], TaskDone())


def test_a_closed_task_is_chosen_to_say_so_and_counts_as_not_open() -> None:
    one, two = _reminders("family_contact", "bedside", closed=("t0",))
    assert choose_task([one, two], TaskDone()) == two  # one open task: DONE alone closes it
    assert choose_task([one, two], TaskDone(one.code)) == one  # the webhook says it was closed already
    [alone] = _reminders("bedside", closed=("t0",))
    assert choose_task([alone], TaskDone()) == alone
