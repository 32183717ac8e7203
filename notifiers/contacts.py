"""People's contact methods in the contacts file (kept out of git): which channels each person has, in order.

A URL of the Apprise YAML contacts file tagged ``person-<id>`` is a contact method of that roster person;
its ``via-push``, ``via-sms`` or ``via-email`` tag says which channel, tried in that order. Team-tagged URLs
are untouched: a URL tagged only ``person-<id>`` reaches nobody by team (no team is named so), so a contacts
file that adds people keeps every team's alerts exactly as before. The file is read as plain YAML here
(no Apprise), for the roster linter: ids and channels only, never the secrets in the URLs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CHANNEL_TAG = "via-"
PERSON_TAG = "person-"
CHANNEL_ORDER = ("push", "sms", "email")


class ContactsFileError(ValueError):
    """A contacts file that cannot be read as YAML: names the file and the problem."""


def _tags_of(entry: Any) -> list[str]:
    """The tags of one ``urls`` entry (``{url: [{tag: "a, b"}]}``, ``{url: {tag: ...}}`` or a bare URL)."""
    if not isinstance(entry, dict):
        return []
    tags: list[str] = []
    for options in entry.values():
        for option in options if isinstance(options, list) else [options]:
            if isinstance(option, dict):
                raw = option.get("tag", "")
                words = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
                tags += [str(word).strip() for word in words if str(word).strip()]
    return tags


def _channel_rank(channel: str) -> int:
    return CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNEL_ORDER)


def person_channels(contacts: Path) -> dict[str, tuple[str, ...]]:
    """Person id → their channels in the order they are tried (push, sms, email, then others)."""
    try:
        data = yaml.safe_load(contacts.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ContactsFileError(f"contacts file {contacts}: cannot read it ({exc})") from None
    found: dict[str, list[str]] = {}
    for entry in data.get("urls", []) if isinstance(data, dict) else []:
        tags = _tags_of(entry)
        channels = [t.removeprefix(CHANNEL_TAG) for t in tags if t.startswith(CHANNEL_TAG)] or ["default"]
        for tag in tags:
            if tag.startswith(PERSON_TAG):
                found.setdefault(tag.removeprefix(PERSON_TAG), []).extend(channels)
    return {person: tuple(sorted(dict.fromkeys(chs), key=_channel_rank)) for person, chs in found.items()}
