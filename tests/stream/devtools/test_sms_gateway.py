"""The demo's SMS gateway: a phone's reply posted like Twilio's inbound webhook, signed, and its TwiML answer
brought back to the phone."""

from __future__ import annotations

from aiohttp import web

from notifiers.inbox import InboxMessage, PhoneInbox
from reviews.sms_replies import signature_valid
from stream.devtools.sms_gateway import GATEWAY_NUMBER, TwilioReplies
from stream.ops.http import start_site

TOKEN = "demo-auth-token-0123456789abcdef"
PHONE = "+16125550101"


async def test_a_reply_is_posted_signed_in_twilio_s_form_and_its_twiml_comes_back_to_the_phone() -> None:
    received = []

    async def inbound(request: web.Request) -> web.Response:
        form = [(k, str(v)) for k, v in (await request.post()).items()]
        valid = signature_valid(TOKEN, str(request.url), form, request.headers.get("X-Twilio-Signature"))
        received.append((dict(form), valid))
        return web.Response(text='<?xml version="1.0" encoding="UTF-8"?><Response><Message>Vigil: On my way &amp; recorded</Message></Response>',
                            content_type="application/xml")

    app = web.Application()
    app.router.add_post("/sms/inbound", inbound)
    runner, port = await start_site(app, "127.0.0.1", 0)
    inbox = PhoneInbox()
    await inbox.start()
    gateway = TwilioReplies(f"http://127.0.0.1:{port}/sms/inbound", TOKEN)
    inbox.sms_gateway = gateway
    try:
        inbox.messages.append(InboxMessage("yer-l-sms", "", "alert", "info", 0.0, PHONE))
        confirmation = await inbox.reply(inbox.messages[0], "2")
        await inbox.reply(inbox.messages[0], "2")
    finally:
        await inbox.stop()
        await runner.cleanup()
    assert confirmation == "Vigil: On my way & recorded"
    (first, valid), (second, _) = received
    assert valid
    assert {k: first[k] for k in ("From", "To", "Body")} == {"From": PHONE, "To": GATEWAY_NUMBER, "Body": "2"}
    assert first["MessageSid"].startswith("SM") and len(first["MessageSid"]) == 34 and first["AccountSid"].startswith("AC")
    assert first["MessageSid"] != second["MessageSid"]  # each reply is a message of its own
    assert gateway.answered == [(200, "Vigil: On my way & recorded"), (200, "Vigil: On my way & recorded")]
    assert TOKEN not in repr(gateway)


async def test_a_refusal_without_twiml_reaches_the_phone_as_the_status() -> None:
    async def inbound(request: web.Request) -> web.Response:
        return web.Response(status=403, text="signature not valid")

    app = web.Application()
    app.router.add_post("/sms/inbound", inbound)
    runner, port = await start_site(app, "127.0.0.1", 0)
    gateway = TwilioReplies(f"http://127.0.0.1:{port}/sms/inbound", "wrong-token")
    try:


        said = await gateway(InboxMessage("yer-l-sms", "", "alert", "info", 0.0, PHONE), "2")
    finally:
        await runner.cleanup()
    assert said == "(not delivered: the webhook answered 403 signature not valid)"
    assert gateway.answered == [(403, said)]
