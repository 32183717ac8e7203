"""The phone inbox over real HTTP."""

from __future__ import annotations

import aiohttp

from notifiers.inbox import PhoneInbox


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
