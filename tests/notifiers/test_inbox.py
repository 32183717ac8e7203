"""The phone inbox over real HTTP."""

from __future__ import annotations

import json

import aiohttp
import pytest

from notifiers.inbox import InboxMessage, PhoneInbox


async def test_stores_and_lists_what_it_receives(tmp_path) -> None:
    inbox = PhoneInbox(journal=tmp_path / "inbox.jsonl")
    base = await inbox.start()
    try:
        async with aiohttp.ClientSession() as http:
            posted = await http.post(f"{base}/phone/vi-central-lead", json={"version": "1.0", "title": "T", "message": "M", "type": "info"})
            assert posted.status == 200
            listed = await (await http.get(f"{base}/messages")).json()
            page = await (await http.get(f"{base}/")).text()
    finally:
        await inbox.stop()
    assert [(m["recipient"], m["title"], m["body"]) for m in listed] == [("vi-central-lead", "T", "M")]
    assert "vi-central-lead" in page and "Phone inbox (1)" in page
    assert (tmp_path / "inbox.jsonl").read_text().count("\n") == 1


async def test_refuses_a_body_that_is_not_an_alert() -> None:
    inbox = PhoneInbox()
    base = await inbox.start()
    try:
        async with aiohttp.ClientSession() as http:
            not_json = await http.post(f"{base}/phone/x", data=b"hello")
            no_message = await http.post(f"{base}/phone/x", json={"title": "only"})
            assert (not_json.status, await not_json.json()) == (400, {"error": "body is not JSON"})
            assert (no_message.status, await no_message.json()) == (400, {"error": "expected an object with a 'message' string"})
    finally:
        await inbox.stop()
    assert inbox.messages == []


ALERT = {"version": "1.0", "title": "T", "message": "M", "type": "info"}


async def test_a_slow_recipient_is_held_while_others_are_answered_at_once() -> None:
    import asyncio
    import time

    inbox = PhoneInbox()
    inbox.slow = {"slow-phone": 0.6}
    base = await inbox.start()
    try:
        async with aiohttp.ClientSession() as http:

            async def post(recipient: str) -> tuple[int, float]:
                started = time.perf_counter()
                async with http.post(f"{base}/phone/{recipient}", json=ALERT) as response:
                    return response.status, time.perf_counter() - started

            slow_post = asyncio.create_task(post("slow-phone"))
            await asyncio.sleep(0.05)  # the slow post is in the inbox's hands first
            quick_status, quick_took = await post("quick-phone")
            stored_while_held = [m.recipient for m in inbox.messages]
            slow_status, slow_took = await slow_post
    finally:
        await inbox.stop()
    assert (quick_status, slow_status) == (200, 200)
    assert quick_took < 0.3 and slow_took >= 0.6
    assert stored_while_held == ["quick-phone"]  # stored only once answered, like a gateway that hands it on late
    assert [m.recipient for m in inbox.messages] == ["quick-phone", "slow-phone"]
    assert inbox.messages[1].received_at - inbox.messages[0].received_at >= 0.5


async def test_a_slow_recipient_gets_the_message_even_when_the_sender_gave_up() -> None:
    import asyncio

    inbox = PhoneInbox()
    inbox.slow = {"slow-phone": 0.4}
    base = await inbox.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.1)) as http:
            try:
                await http.post(f"{base}/phone/slow-phone", json=ALERT)
                raise AssertionError("the post should have timed out")
            except TimeoutError:
                pass
        await asyncio.sleep(0.6)
    finally:
        await inbox.stop()
    # as with a real gateway: the sender saw a timeout, the phone still got the alert (so a retry duplicates it)
    assert [m.recipient for m in inbox.messages] == ["slow-phone"]


def test_the_inbox_command_holds_a_slow_recipient(tmp_path) -> None:
    import time
    import urllib.request

    from tests.helpers import Inbox

    inbox = Inbox(tmp_path, slow={"slow-phone": 0.8})
    try:
        took = {}
        for recipient in ("quick-phone", "slow-phone"):
            request = urllib.request.Request(f"http://127.0.0.1:{inbox.port}/phone/{recipient}", data=json.dumps(ALERT).encode(),
                                             headers={"Content-Type": "application/json"})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
            took[recipient] = time.perf_counter() - started
        messages = inbox.messages()
    finally:
        inbox.stop()
    assert took["quick-phone"] < 0.5 and took["slow-phone"] >= 0.8
    assert [m["recipient"] for m in messages] == ["quick-phone", "slow-phone"]


@pytest.mark.parametrize("value", ["slow-phone", "slow-phone=", "=6", "slow-phone=soon", "slow-phone=-1", "slow-phone=nan", "slow-phone=inf"])
def test_the_inbox_command_refuses_a_malformed_slow_option(value: str) -> None:
    from typer.testing import CliRunner

    from stream.cli.main import app

    result = CliRunner().invoke(app, ["inbox", "--port", "0", "--slow", "ok-phone=1", "--slow", value])
    assert result.exit_code == 2, result.output
    assert (f"vigil inbox: --slow expects RECIPIENT=SECONDS with SECONDS a number >= 0 (e.g. vi-central-lead=6), got {value!r}"
            in result.output)


def test_the_inbox_page_makes_answer_links_clickable_and_escapes_the_rest() -> None:
    from notifiers.inbox import _linked

    page = _linked('Person shot <b>x</b>\nAnswer: http://127.0.0.1:8600/ack/eyJh.c2ln')
    assert '<a href="http://127.0.0.1:8600/ack/eyJh.c2ln">http://127.0.0.1:8600/ack/eyJh.c2ln</a>' in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>" not in page


async def test_an_outage_answers_503_until_it_ends_then_stores_again() -> None:
    inbox = PhoneInbox()
    base = await inbox.start()
    alert = {"version": "1.0", "title": "T", "message": "M", "type": "info"}
    try:
        async with aiohttp.ClientSession() as http:
            started = await http.post(f"{base}/drill/outage?seconds=60")
            assert started.status == 200 and (await started.json())["fail_until"] > 0
            refused = [(await http.post(f"{base}/phone/vi-central-lead", json=alert)).status for _ in range(3)]
            ended = await http.post(f"{base}/drill/outage?seconds=0")
            assert (await ended.json())["refused"] == 3
            accepted = await http.post(f"{base}/phone/vi-central-lead", json=alert)
            bad = [(await http.post(f"{base}/drill/outage?seconds={value}")).status for value in ("nan", "-1", "x", "")]
    finally:
        await inbox.stop()
    assert refused == [503, 503, 503] and accepted.status == 200
    assert bad == [400, 400, 400, 400]
    assert [m.title for m in inbox.messages] == ["T"]


async def test_a_timed_outage_ends_by_itself() -> None:
    import asyncio

    inbox = PhoneInbox()
    base = await inbox.start()
    inbox.start_outage(0.3)
    alert = {"version": "1.0", "title": "T", "message": "M", "type": "info"}
    try:
        async with aiohttp.ClientSession() as http:
            during = (await http.post(f"{base}/phone/x", json=alert)).status
            await asyncio.sleep(0.4)
            after = (await http.post(f"{base}/phone/x", json=alert)).status
    finally:
        await inbox.stop()
    assert (during, after) == (503, 200)


PHONE = "+16125550101"  # 555-01xx: numbers reserved for fiction


async def test_an_sms_phone_gets_its_number_with_each_message_and_sms_phones_finds_it(tmp_path) -> None:
    from apprise import Apprise

    from notifiers.apprise_adapter import load_recipients, masked_url, sms_phones, write_contacts

    inbox = PhoneInbox()
    await inbox.start()
    try:
        url = inbox.sms_url("yer-l-sms", PHONE)
        sender = Apprise()
        sender.add(url)
        assert await sender.async_notify(title="T", body="M")
        write_contacts(tmp_path / "contacts.yaml", {"vi-north-nearnorth": [url, inbox.apprise_url("lead")]}, channels={url: "sms"})
        recipients = load_recipients(tmp_path / "contacts.yaml")
    finally:
        await inbox.stop()
    assert [(m.recipient, m.phone) for m in inbox.messages] == [("yer-l-sms", PHONE)]
    sms = next(r for r in recipients["vi-north-nearnorth"] if r.channel == "sms")
    # the reply webhook finds the alerts sent to the number; the number itself never reaches a log
    assert sms_phones(recipients) == {PHONE: frozenset({sms.id})}
    assert PHONE not in masked_url(sms.server) and PHONE.removeprefix("+") not in masked_url(sms.server)


async def test_a_reply_goes_through_the_gateway_and_its_confirmation_reaches_the_phone() -> None:
    inbox = PhoneInbox()
    base = await inbox.start()
    replies = []

    async def gateway(message, body: str) -> str:
        replies.append((message.phone, body))
        return "Vigil: On my way — recorded for vi-north-nearnorth (alert K7) at 22:00. Thank you."

    try:
        async with aiohttp.ClientSession() as http:
            await http.post(f"{base}/phone/yer-l-sms", json={**ALERT, "to": PHONE})
            no_gateway = await http.post(f"{base}/phone/yer-l-sms/reply", data={"body": "2"})
            inbox.sms_gateway = gateway
            answered = await http.post(f"{base}/phone/yer-l-sms/reply", data={"body": "2"})
            answered_json = await answered.json()
            not_sms = await http.post(f"{base}/phone/nobody/reply", data={"body": "2"})
            from_page = await http.post(f"{base}/phone/yer-l-sms/reply", data={"body": "1"}, headers={"Accept": "text/html"},
                                        allow_redirects=False)
            page = await (await http.get(f"{base}/")).text()
    finally:
        await inbox.stop()
    assert no_gateway.status == 503
    assert answered.status == 200 and answered_json["confirmation"].startswith("Vigil: On my way")
    assert not_sms.status == 404
    assert (from_page.status, from_page.headers["Location"]) == (303, "/")  # a reply from the page goes back to the inbox
    assert replies == [(PHONE, "2"), (PHONE, "1")]
    # as on a phone: the alert, the reply sent, then the gateway's confirmation
    assert [(m.recipient, m.type, m.body[:12]) for m in inbox.messages][:3] == [
        ("yer-l-sms", "info", "M"), ("yer-l-sms", "sent", "2"), ("yer-l-sms", "info", "Vigil: On my")]
    assert [m.phone for m in inbox.messages] == [PHONE] * 5
    assert 'action="/phone/yer-l-sms/reply"' in page


async def test_a_reply_answers_the_message_it_is_given() -> None:
    inbox = PhoneInbox()
    await inbox.start()
    seen = []

    async def gateway(message, body: str) -> str:
        seen.append(message.body)
        return "ok"

    inbox.sms_gateway = gateway
    try:
        async with aiohttp.ClientSession() as http:
            for body in ("first", "second"):
                await http.post(f"{inbox.base_url}/phone/yer-l-sms", json={**ALERT, "message": body, "to": PHONE})
        confirmation = await inbox.reply(inbox.messages[0], "2 K7")
    finally:
        await inbox.stop()
    assert (confirmation, seen) == ("ok", ["first"])
    with pytest.raises(ValueError, match="not an SMS"):
        await inbox.reply(InboxMessage("x", "T", "M", "info", 0.0), "2")
