"""`vigil web`'s SMS reply settings from its options: the phone numbers from the contacts file, the token
from its file, and a clear exit naming the option at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from notifiers.apprise_adapter import load_recipients, sms_phones
from stream.cli.web import sms_inbound

TOKEN = "0123456789abcdef0123456789abcdef"
CONTACTS = """urls:
  - twilio://ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@16125550000/16125550100/16125550101:
      - tag: vi-central, via-sms
  - json://127.0.0.1:8700/phone/vi-central-lead:
      - tag: vi-central
  - twilio://ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@16125550000/16125550177:
      - tag: person-ana-r, via-sms
"""


def files(tmp_path: Path) -> tuple[Path, Path]:
    token, contacts = tmp_path / "token", tmp_path / "contacts.yaml"
    token.write_text(TOKEN + "\n")
    contacts.write_text(CONTACTS)
    return token, contacts


def test_the_phone_numbers_are_the_sms_gateways_targets(tmp_path: Path) -> None:
    _, contacts = files(tmp_path)
    recipients = load_recipients(contacts)
    [sms] = [r for r in recipients["vi-central"] if r.channel == "sms"]
    assert sms_phones(recipients) == {"+16125550100": frozenset({sms.id}), "+16125550101": frozenset({sms.id})}


def test_sms_replies_are_on_with_a_token_file_contacts_and_an_https_url(tmp_path: Path) -> None:
    token, contacts = files(tmp_path)
    settings = sms_inbound(token, contacts, "https://vigil.example.org/")
    assert settings.public_url == "https://vigil.example.org/sms/inbound" and settings.auth_token == TOKEN
    assert set(settings.phones) == {"+16125550100", "+16125550101", "+16125550177"}  # a person's SMS number too
    [ana] = settings.phones["+16125550177"]
    assert settings.people == {ana: "ana-r"}
    assert TOKEN not in repr(settings)
    assert sms_inbound(None, contacts, "https://vigil.example.org") is None  # off without a token file


@pytest.mark.parametrize(("change", "message"), [
    ("no contacts", "--sms-auth-token-file needs --contacts"),
    ("http", "public URL must be https://"),
    ("no token file", "--sms-auth-token-file"),
])
def test_bad_sms_settings_exit_2_naming_the_problem(tmp_path: Path, capsys, change: str, message: str) -> None:
    token, contacts = files(tmp_path)
    args = {"no contacts": (token, None, "https://v.example"), "http": (token, contacts, "http://v.example"),
            "no token file": (tmp_path / "missing", contacts, "https://v.example")}[change]
    with pytest.raises(typer.Exit) as exited:
        sms_inbound(*args)
    assert exited.value.exit_code == 2
    err = capsys.readouterr().err
    assert message in err and TOKEN not in err
