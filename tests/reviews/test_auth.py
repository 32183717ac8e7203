"""Session cookies, CSRF tokens, safe redirects and who may see what."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from reviews.auth import SESSION_LIFETIME, SessionCodec, may_record_for, may_see, new_session, safe_next, session_key
from reviews.users import User

NOW = datetime(2026, 7, 5, 14, 30, tzinfo=UTC)
KEY = session_key(b"a-deployment-secret-0123")


def test_a_session_round_trips() -> None:
    codec = SessionCodec(KEY)
    session = new_session("dana", "password", NOW)
    back = codec.decode(codec.encode(session), NOW + timedelta(hours=1))
    assert back == session
    assert back.expires_at() == NOW + timedelta(hours=8) and SESSION_LIFETIME == timedelta(hours=8)


def test_a_session_lasts_8_hours_and_not_a_second_more() -> None:
    codec = SessionCodec(KEY)
    cookie = codec.encode(new_session("dana", "password", NOW))
    assert codec.decode(cookie, NOW + timedelta(hours=8)) is not None
    assert codec.decode(cookie, NOW + timedelta(hours=8, seconds=1)) is None
    assert codec.decode(cookie, NOW - timedelta(hours=1)) is None  # issued in the future


@pytest.mark.parametrize("tamper", ["payload", "mac", "other_key", "empty", "garbage", "three_parts"])
def test_a_tampered_cookie_is_no_session(tamper: str) -> None:
    codec = SessionCodec(KEY)
    cookie = codec.encode(new_session("lee", "password", NOW))
    payload, mac = cookie.split(".")
    bad = {
        "payload": f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}",
        "mac": f"{payload}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}",
        "other_key": SessionCodec(session_key(b"another-secret-of-16b")).encode(new_session("lee", "password", NOW)),
        "empty": "",
        "garbage": "not a cookie at all",
        "three_parts": f"{cookie}.x",
    }[tamper]
    assert codec.decode(bad, NOW) is None


def test_each_session_has_its_own_csrf_token() -> None:
    first, second = new_session("dana", "password", NOW), new_session("dana", "password", NOW)
    assert first.csrf != second.csrf and len(first.csrf) >= 40
    assert first.csrf_ok(first.csrf)
    assert not first.csrf_ok(second.csrf) and not first.csrf_ok("") and not first.csrf_ok(None)


def test_the_session_key_is_not_the_secret_and_needs_16_bytes() -> None:
    assert KEY != b"a-deployment-secret-0123" and len(KEY) == 32
    with pytest.raises(ValueError, match="at least 16 bytes"):
        session_key(b"short")


@pytest.mark.parametrize(("value", "expected"), [
    ("/review/2026-07-04", "/review/2026-07-04"),
    ("/summary?from=2026-07-01&to=2026-07-04", "/summary?from=2026-07-01&to=2026-07-04"),
    (None, "/"),
    ("", "/"),
    ("review", "/"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("/ok\\..\\x", "/"),
    ("javascript:alert(1)", "/"),
    ("/a\r\nSet-Cookie: x=1", "/"),
])
def test_next_is_a_path_on_this_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def review_for(*teams: str) -> SimpleNamespace:
    return SimpleNamespace(visible_to=lambda team: team in teams)


def test_roles() -> None:
    dns = User("dana", "dns", None, False)
    lead = User("lee", "lead", "vi-north-nearnorth", False)
    jordan, phillips = review_for("vi-north-nearnorth", "gvi-outreach"), review_for("vi-south-phillips")
    assert may_see(dns, jordan) and may_see(dns, phillips)
    assert may_see(lead, jordan) and not may_see(lead, phillips)
    assert not may_see(User("x", "lead", None, False), jordan)  # a lead without a team sees nothing
    assert not may_see(User("x", "admin", None, False), jordan)  # an unknown role sees nothing
    assert not may_see(User("dana", "dns", None, True), jordan)
    assert may_record_for(dns, "gvi-outreach") and may_record_for(lead, "vi-north-nearnorth")
    assert not may_record_for(lead, "gvi-outreach")


def test_a_session_carries_its_generation() -> None:
    codec = SessionCodec(KEY)
    session = new_session("dana", "password", NOW, generation=3)
    assert codec.decode(codec.encode(session), NOW).generation == 3


def _signed(codec: SessionCodec, fields: dict) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    return f"{payload}.{codec._mac(payload)}"


def test_a_cookie_from_before_generations_is_generation_0_and_a_bad_generation_no_session() -> None:
    codec = SessionCodec(KEY)
    old = {"u": "dana", "c": "a-csrf-token", "i": int(NOW.timestamp()), "v": "password"}
    assert codec.decode(_signed(codec, old), NOW).generation == 0
    for bad in ("1", True, 1.5, None):
        assert codec.decode(_signed(codec, {**old, "g": bad}), NOW) is None
