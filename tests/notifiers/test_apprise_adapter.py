"""The Apprise adapter: contacts by team tag, Apprise's per-object wait off, masked URLs only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from notifiers.apprise_adapter import (
    AppriseNotifier,
    ContactsError,
    RetryPolicy,
    load_people,
    load_recipients,
    recipient_people,
    sms_phones,
    write_contacts,
)
from notifiers.inbox import PhoneInbox
from stream.model.events import NotificationIntent

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)


def _intent(team: str, n: int = 0) -> NotificationIntent:
    return NotificationIntent(
        intent_id=f"int-{n}", activation_id="act-1", team=team, protocol="P2", step="initial",
        title="VIGIL: Person shot - Jordan", body="Person shot near Jordan.\nRef act-1",
        created_at=datetime(2026, 7, 5, 3, 0, tzinfo=UTC),
    )


async def test_sends_to_every_recipient_of_the_team_only(tmp_path: Path) -> None:
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {"vi-central": [inbox.apprise_url("a"), inbox.apprise_url("b")], "vi-south-phillips": [inbox.apprise_url("c")]})
        delivery = await AppriseNotifier(load_recipients(contacts)).send(_intent("vi-central"))
    finally:
        await inbox.stop()
    assert delivery.status == "delivered"
    assert sorted(m.recipient for m in inbox.messages) == ["a", "b"]
    assert inbox.messages[0].title == "VIGIL: Person shot - Jordan"


async def test_a_team_without_recipients_is_reported_not_dropped(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.yaml"
    write_contacts(contacts, {"vi-central": ["json://127.0.0.1:9/phone/x"]})
    delivery = await AppriseNotifier(load_recipients(contacts)).send(_intent("vi-north-camden"))
    assert (delivery.status, delivery.recipients) == ("no_recipients", ())


async def test_an_unreachable_phone_is_a_failed_delivery(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.yaml"
    write_contacts(contacts, {"vi-central": ["json://127.0.0.1:9/phone/x"]})  # port 9: nothing listens
    delivery = await AppriseNotifier(load_recipients(contacts), timeout=5, retry=FAST).send(_intent("vi-central"))
    assert delivery.status == "failed"
    assert (delivery.recipients[0].status, delivery.recipients[0].attempts) == ("failed", 3)


async def test_ntfy_recipient_gets_two_alerts_without_apprise_wait(tmp_path: Path) -> None:
    # ntfy plugin objects wait request_rate_per_sec (5.5 s) between sends unless we turn it off;
    # json:// has no wait, so only a real throttled plugin shows the problem.
    received: list[bytes] = []

    async def ntfy(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.json_response({"id": str(len(received))})

    server = web.Application()
    server.router.add_post("/", ntfy)  # ntfy's JSON publish: the topic is in the body
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {"vi-central": [f"ntfy://127.0.0.1:{port}/vigil-central"]})
        recipients = load_recipients(contacts)
        (recipient,) = recipients["vi-central"]
        assert type(recipient.server).__name__ == "NotifyNtfy"
        assert recipient.server.request_rate_per_sec == 0
        notifier = AppriseNotifier(recipients)
        first = await notifier.send(_intent("vi-central", 1))
        second = await notifier.send(_intent("vi-central", 2))
    finally:
        await runner.cleanup()
    assert (first.status, second.status) == ("delivered", "delivered")
    assert [b'"topic": "vigil-central"' in body for body in received] == [True, True]


async def test_recorded_recipient_urls_are_masked(tmp_path: Path) -> None:
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        secret_url = f"json://dispatcher:hunter2secret@127.0.0.1:{inbox.port}/phone/a"
        write_contacts(contacts, {"vi-central": [secret_url]})
        delivery = await AppriseNotifier(load_recipients(contacts)).send(_intent("vi-central"))
    finally:
        await inbox.stop()
    assert delivery.status == "delivered"
    assert "hunter2secret" not in delivery.recipients[0].recipient


def test_missing_contacts_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ContactsError) as info:
        load_recipients(tmp_path / "nope.yaml")
    assert str(info.value) == f"contacts file {tmp_path / 'nope.yaml'} does not exist"


def test_contacts_file_without_tags_is_refused(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("version: 1\nurls:\n  - json://127.0.0.1:9/x\n")
    with pytest.raises(ContactsError) as info:
        load_recipients(contacts)
    assert str(info.value) == f"contacts file {contacts} defines no tagged recipient"


async def test_a_phone_that_fails_twice_gets_the_alert_on_the_third_attempt(tmp_path: Path) -> None:
    inbox = PhoneInbox()
    await inbox.start()
    inbox.failures_left = 2  # HTTP 503, twice
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {"vi-central": [inbox.apprise_url("a")]})
        delivery = await AppriseNotifier(load_recipients(contacts), retry=FAST, seed=1).send(_intent("vi-central"))
    finally:
        await inbox.stop()
    assert delivery.status == "delivered"
    assert (delivery.recipients[0].status, delivery.recipients[0].attempts) == ("delivered", 3)
    assert [m.recipient for m in inbox.messages] == ["a"]


async def test_falls_back_to_the_next_channel_when_nobody_is_reached(tmp_path: Path) -> None:
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        push, sms, email = "json://127.0.0.1:9/phone/push", inbox.apprise_url("sms-phone"), inbox.apprise_url("mailbox")
        write_contacts(contacts, {"vi-central": [email, sms, push]}, channels={push: "push", sms: "sms", email: "email"})
        delivery = await AppriseNotifier(load_recipients(contacts), timeout=5, retry=FAST).send(_intent("vi-central"))
    finally:
        await inbox.stop()
    assert delivery.status == "delivered"
    assert [(r.channel, r.status, r.attempts) for r in delivery.recipients] == [("push", "failed", 3), ("sms", "delivered", 1)]
    assert [m.recipient for m in inbox.messages] == ["sms-phone"]  # e-mail not needed


async def test_no_fallback_when_the_first_channel_works(tmp_path: Path) -> None:
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        push, sms = inbox.apprise_url("push-phone"), inbox.apprise_url("sms-phone")
        write_contacts(contacts, {"vi-central": [sms, push]}, channels={push: "push", sms: "sms"})
        delivery = await AppriseNotifier(load_recipients(contacts), retry=FAST).send(_intent("vi-central"))
    finally:
        await inbox.stop()
    assert [m.recipient for m in inbox.messages] == ["push-phone"]
    assert [(r.channel, r.status) for r in delivery.recipients] == [("push", "delivered")]


def test_backoff_grows_with_jitter_within_bounds() -> None:
    import random

    policy, rnd = RetryPolicy(attempts=5, base_delay_s=0.2, max_delay_s=1.0, jitter=0.5), random.Random(3)
    for attempt, base in ((1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (5, 1.0)):
        delay = policy.delay(attempt, rnd)
        assert base * 0.5 <= delay <= base * 1.5


ACK_BASE = "https://vigil.example.org"


def _ref_intent(team: str, activation: str, n: int, step: str = "initial") -> NotificationIntent:
    """An intent with a report ref (ack links need one), of the given activation."""
    return NotificationIntent(
        intent_id=f"int-{activation}-{n}", activation_id=activation, team=team, protocol="P2", step=step,  # type: ignore[arg-type]
        refs=(f"MPLS-{activation}",), title="VIGIL: Person shot - Jordan", body=f"Person shot near Jordan.\nRef {activation}",
        created_at=datetime(2026, 7, 5, 3, 0, tzinfo=UTC),
    )


def _result_of(delivery, phone: str):
    """The delivery's result for the inbox phone ``phone`` (its masked URL keeps the path)."""
    (result,) = [r for r in delivery.recipients if f"/phone/{phone}?" in r.recipient]
    return result


async def test_each_recipient_gets_its_own_verifiable_ack_link(tmp_path: Path) -> None:
    from notifiers.ack_links import AckSigner

    signer = AckSigner(b"k" * 32, ACK_BASE)
    intent = _ref_intent("vi-central", "act-7", 1)
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {"vi-central": [inbox.apprise_url("a"), inbox.apprise_url("b")]})
        delivery = await AppriseNotifier(load_recipients(contacts), ack_links=signer).send(intent)
    finally:
        await inbox.stop()
    assert delivery.status == "delivered"
    links = {}
    for message in inbox.messages:
        text, _, link = message.body.rpartition("\nAnswer: ")
        assert text == intent.body  # the link is the one line added, at the end
        assert link.startswith(f"{ACK_BASE}/ack/") and "\n" not in link
        links[message.recipient] = link
    assert sorted(links) == ["a", "b"] and links["a"] != links["b"]
    now = datetime.now(UTC)
    for phone, link in links.items():
        claim = signer.verify(link.removeprefix(f"{ACK_BASE}/ack/"), now)
        result = _result_of(delivery, phone)
        assert (claim.activation_id, claim.team, claim.intent_id) == ("act-7", "vi-central", intent.intent_id)
        assert claim.recipient == result.recipient_id
        assert result.recipient_id and "127.0.0.1" not in result.recipient_id  # a short id, not the URL
    assert _result_of(delivery, "a").recipient_id != _result_of(delivery, "b").recipient_id


async def test_without_a_signer_the_body_is_sent_as_it_is(tmp_path: Path) -> None:
    intent = _ref_intent("vi-central", "act-7", 1)
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {"vi-central": [inbox.apprise_url("a")]})
        delivery = await AppriseNotifier(load_recipients(contacts)).send(intent)
    finally:
        await inbox.stop()
    assert delivery.status == "delivered"
    assert [m.body for m in inbox.messages] == [intent.body]


async def test_an_update_waits_for_the_rate_limit_but_a_new_activation_does_not(tmp_path: Path) -> None:
    from notifiers.rate_limit import RateLimit, RecipientRateLimiter

    limiter = RecipientRateLimiter(limits={"default": RateLimit(burst=1, every_s=0.3)})
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {"vi-central": [inbox.apprise_url("a")]})
        notifier = AppriseNotifier(load_recipients(contacts), limiter=limiter)
        first = await notifier.send(_ref_intent("vi-central", "act-1", 1))
        update = await notifier.send(_ref_intent("vi-central", "act-1", 2, step="update"))
        other = await notifier.send(_ref_intent("vi-central", "act-2", 1))  # a new shooting, with the bucket in debt
    finally:
        await inbox.stop()
    assert [d.status for d in (first, update, other)] == ["delivered"] * 3
    assert [m.body.splitlines()[-1] for m in inbox.messages] == ["Ref act-1", "Ref act-1", "Ref act-2"]
    assert first.recipients[0].waited_ms == 0
    # the wait is counted from the first send's reservation, less the few ms that send took
    assert update.recipients[0].waited_ms == pytest.approx(300, abs=60)
    assert inbox.messages[1].received_at - inbox.messages[0].received_at >= 0.25
    assert other.recipients[0].waited_ms == 0  # not held (how fast it then went is the benchmarks' business)


async def test_a_send_abandoned_while_it_waits_on_the_rate_limit_gives_its_reservation_back(tmp_path: Path) -> None:
    from notifiers.rate_limit import RateLimit, RecipientRateLimiter

    limiter = RecipientRateLimiter(limits={"default": RateLimit(burst=1, every_s=30.0)})
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = tmp_path / "contacts.yaml"
        write_contacts(contacts, {"vi-central": [inbox.apprise_url("a")]})
        notifier = AppriseNotifier(load_recipients(contacts), limiter=limiter)
        await notifier.send(_ref_intent("vi-central", "act-1", 1))
        update = _ref_intent("vi-central", "act-1", 2, step="update")
        held = asyncio.create_task(notifier.send(update))
        await asyncio.sleep(0.05)
        assert notifier.waiting(update.intent_id)  # held by the limit: nothing posted yet
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        assert not notifier.waiting(update.intent_id) and len(inbox.messages) == 1
        # the reservation came back: the next update waits one interval, not two
        assert limiter.reserve(notifier.channels("vi-central")[0][1][0].id, "default", "act-1") == pytest.approx(30.0, abs=1.0)
    finally:
        await inbox.stop()


def test_recipients_that_mask_alike_get_distinct_ids(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.yaml"
    urls = ["json://dispatch:first-secret@127.0.0.1:9/phone/x", "json://dispatch:second-secret@127.0.0.1:9/phone/x"]
    write_contacts(contacts, {"vi-central": urls})
    one, two = load_recipients(contacts)["vi-central"]
    assert one.server.url(privacy=True) == two.server.url(privacy=True)  # the case this is about
    assert one.id and two.id and one.id != two.id
    assert "secret" not in one.id + two.id
    # ids survive a reload (a worker restart): links already sent keep naming the same recipient
    assert [r.id for r in load_recipients(contacts)["vi-central"]] == [one.id, two.id]


def test_a_person_tag_is_no_team(tmp_path) -> None:
    # a roster person's contact method (notifiers/contacts.py) reaches nobody by team
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("urls:\n  - json://127.0.0.1:8700/phone/ana:\n      - tag: person-ana-r, via-sms\n"
                        "  - json://127.0.0.1:8700/phone/lead:\n      - tag: vi-central\n")
    assert set(load_recipients(contacts)) == {"vi-central"}


def test_an_sms_alert_says_how_to_answer_it_by_reply_with_its_own_code(tmp_path) -> None:
    # a phone with several open alerts answers the right one: "reply 2 K7" (reviews/sms_replies.py reads it back)
    from notifiers.ack_links import AckSigner
    from notifiers.sms_codes import short_code
    from reviews.sms_replies import parse_reply, words_for

    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("urls:\n  - json://127.0.0.1:8700/phone/sms:\n      - tag: vi-central, via-sms\n"
                        "  - json://127.0.0.1:8700/phone/push:\n      - tag: vi-central, via-push\n")
    recipients = load_recipients(contacts)["vi-central"]
    notifier = AppriseNotifier(load_recipients(contacts), ack_links=AckSigner(b"k" * 32, "https://vigil.example.org"))
    intent = _ref_intent("vi-central", "act-sms", 7)
    by_channel = {r.channel: notifier.body_for(r, intent) for r in recipients}
    code = short_code(intent.intent_id)
    assert f"Reply 1 {code} ack, 2 {code} on my way, 3 {code} can't respond" in by_channel["sms"]
    assert "Reply" not in by_channel["push"]
    reply = parse_reply(f"2 {code}", words_for(()))
    assert reply.code == code


def _person_intent(person: str | None, channel: str | None, team: str = "vi-central") -> NotificationIntent:
    return _intent(team).model_copy(update={"person": person, "channel": channel})


def _people_contacts(path: Path, inbox: PhoneInbox, ana_push: str | None = None) -> Path:
    # Ana has push and SMS, Ben push only; the lead's phone is the team's (tagged with the team, as before)
    contacts = path / "contacts.yaml"
    contacts.write_text(
        "urls:\n"
        f"  - {ana_push or inbox.apprise_url('ana-push')}:\n      - tag: person-ana, via-push\n"
        f"  - {inbox.apprise_url('ana-sms')}:\n      - tag: person-ana, via-sms\n"
        f"  - {inbox.apprise_url('ben-push')}:\n      - tag: person-ben, via-push\n"
        f"  - {inbox.apprise_url('lead')}:\n      - tag: vi-central\n"
    )
    return contacts


async def test_a_person_page_reaches_that_person_on_that_channel_only(tmp_path: Path) -> None:
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = _people_contacts(tmp_path, inbox)
        notifier = AppriseNotifier(load_recipients(contacts), people=load_people(contacts), retry=FAST)
        sms = await notifier.send(_person_intent("ana", "sms"))
        anyhow = await notifier.send(_person_intent("ben", None))
        team = await notifier.send(_person_intent(None, None))
    finally:
        await inbox.stop()
    assert [(r.channel, r.status) for r in sms.recipients] == [("sms", "delivered")]
    assert [(r.channel, r.status) for r in anyhow.recipients] == [("push", "delivered")]
    assert team.status == "delivered" and len(team.recipients) == 1
    assert [m.recipient for m in inbox.messages] == ["ana-sms", "ben-push", "lead"]


async def test_a_person_page_on_a_channel_that_fails_does_not_fall_through(tmp_path: Path) -> None:
    # the core cycles a person's channels by time: the adapter tries only the channel it was given
    inbox = PhoneInbox()
    await inbox.start()
    try:
        contacts = _people_contacts(tmp_path, inbox, ana_push="json://127.0.0.1:9/phone/ana-push")
        notifier = AppriseNotifier(load_recipients(contacts), people=load_people(contacts), retry=FAST, timeout=5)
        delivery = await notifier.send(_person_intent("ana", "push"))
    finally:
        await inbox.stop()
    assert (delivery.status, [(r.channel, r.status) for r in delivery.recipients]) == ("failed", [("push", "failed")])
    assert inbox.messages == []


async def test_a_person_without_a_recipient_on_the_channel_has_no_recipients(tmp_path: Path) -> None:
    inbox = PhoneInbox()
    contacts = _people_contacts(tmp_path, inbox)
    notifier = AppriseNotifier(load_recipients(contacts), people=load_people(contacts))
    for person, channel in (("ben", "sms"), ("zoe", None), ("zoe", "push")):
        delivery = await notifier.send(_person_intent(person, channel))
        assert (delivery.status, delivery.recipients) == ("no_recipients", ()), (person, channel)


def test_sms_phones_and_their_people_include_person_contacts(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "urls:\n"
        "  - twilio://ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@16125550000/16125550101:\n"
        "      - tag: person-ana, via-sms\n"
        "  - twilio://ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@16125550000/16125550199:\n"
        "      - tag: vi-central, via-sms\n"
    )
    teams, people = load_recipients(contacts), load_people(contacts)
    phones = sms_phones(teams, people)
    assert set(phones) == {"+16125550101", "+16125550199"}
    (ana,) = people["ana"]
    assert phones["+16125550101"] == {ana.id}
    assert recipient_people(people) == {ana.id: "ana"}
    assert "bbbb" not in ana.id


def test_a_contacts_file_of_people_only_is_accepted(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("urls:\n  - json://127.0.0.1:8700/phone/ana:\n      - tag: person-ana, via-push\n")
    assert load_recipients(contacts) == {}
    assert [r.channel for r in load_people(contacts)["ana"]] == ["push"]
def test_an_sms_alert_says_how_to_answer_in_its_language(tmp_path) -> None:
    from notifiers.ack_links import AckSigner
    from notifiers.sms_codes import short_code

    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("urls:\n  - json://127.0.0.1:8700/phone/sms:\n      - tag: vi-central, via-sms\n")
    [recipient] = load_recipients(contacts)["vi-central"]
    notifier = AppriseNotifier(load_recipients(contacts), ack_links=AckSigner(b"k" * 32, "https://vigil.example.org"))
    intent = _ref_intent("vi-central", "act-sms", 7).model_copy(update={"language": "es"})
    code = short_code(intent.intent_id)
    assert f"Responda 1 {code} recibido, 2 {code} voy en camino, 3 {code} no puedo responder" in notifier.body_for(recipient, intent)


def _task_intent(purpose: str, language: str = "en", body: str = "") -> NotificationIntent:
    """A task's reminder (purpose "task") or overdue notice (purpose "notice") as stream/core/tasks.py ``fire`` makes it:
    no report ref, its task id set."""
    return NotificationIntent(
        intent_id=f"int-task-{purpose}", activation_id="act-jordan", team="vi-central", protocol="F2", step="initial",
        title="VIGIL follow-up: family contact - Jordan", purpose=purpose, task_id="task-0123456789abcdef0123", language=language,  # type: ignore[arg-type]
        body=body or "Follow-up due Mon 06 Jul 22:15: family contact for vi-central after the shooting in Jordan (Sat 04 Jul 22:15). Ref act-jordan",
        created_at=datetime(2026, 7, 6, 20, 15, tzinfo=UTC),
    )


def _sms_and_push(tmp_path: Path):
    from notifiers.ack_links import AckSigner

    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("urls:\n  - json://127.0.0.1:8700/phone/sms:\n      - tag: vi-central, via-sms\n"
                        "  - json://127.0.0.1:8700/phone/push:\n      - tag: vi-central, via-push\n")
    signer = AckSigner(b"k" * 32, "https://vigil.example.org")
    recipients = {r.channel: r for r in load_recipients(contacts)["vi-central"]}
    return AppriseNotifier(load_recipients(contacts), ack_links=signer), signer, recipients


def _closing_link(signer, line: str, intent: NotificationIntent, recipient) -> None:
    """``line`` is "Close it: " and a task link that closes ``intent``'s task, for ``recipient``, for 7 days."""
    prefix = "Close it: https://vigil.example.org/task/"
    assert line.startswith(prefix)
    claim = signer.verify_task(line.removeprefix(prefix), datetime.now(UTC))
    assert (claim.task_id, claim.intent_id, claim.recipient) == (intent.task_id, intent.intent_id, recipient.id)


def test_an_sms_task_reminder_says_close_it_and_how_to_close_it_by_reply_never_reply_1_ack(tmp_path: Path) -> None:
    from notifiers.sms_codes import short_code

    notifier, signer, recipients = _sms_and_push(tmp_path)
    intent = _task_intent("task")
    code = short_code(intent.intent_id)
    lines = notifier.body_for(recipients["sms"], intent).split("\n")
    assert lines[:2] == ["Follow-up due Mon 06 Jul 22:15: family contact for vi-central after the shooting in Jordan (Sat 04 Jul 22:15). "
                         "Ref act-jordan", f"Reply DONE {code} when it is done"]
    assert len(lines) == 3
    _closing_link(signer, lines[2], intent, recipients["sms"])
    push = notifier.body_for(recipients["push"], intent).split("\n")
    assert push[0] == lines[0] and len(push) == 2  # no reply line off SMS
    _closing_link(signer, push[1], intent, recipients["push"])
    for body in (lines, push):
        assert not any("Reply 1" in line or line.startswith("Answer:") for line in body)
        assert "/ack/" not in "\n".join(body)


def test_an_overdue_notice_of_a_task_carries_its_task_link_and_no_reply_line(tmp_path: Path) -> None:
    notifier, signer, recipients = _sms_and_push(tmp_path)
    intent = _task_intent("notice", body="vi-central's family contact after the shooting in Jordan (Sat 04 Jul 22:15) was due "
                                         "Mon 06 Jul 22:15 and is not closed. Ref act-jordan")
    for channel in ("sms", "push"):
        lines = notifier.body_for(recipients[channel], intent).split("\n")
        assert lines[0] == intent.body and len(lines) == 2
        _closing_link(signer, lines[1], intent, recipients[channel])


@pytest.mark.parametrize(("language", "line"), [("es", "Responda DONE {code} cuando esté hecho"),
                                                ("so", "Ku jawaab DONE {code} marka la dhammeeyo"),
                                                ("hmn", "Teb DONE {code} thaum ua tiav lawm"),
                                                ("xx", "Reply DONE {code} when it is done")])
def test_an_sms_task_reminder_says_reply_done_in_its_language(tmp_path: Path, language: str, line: str) -> None:
    from notifiers.sms_codes import short_code

    notifier, _, recipients = _sms_and_push(tmp_path)
    intent = _task_intent("task", language)
    assert notifier.body_for(recipients["sms"], intent).split("\n")[1] == line.format(code=short_code(intent.intent_id))
