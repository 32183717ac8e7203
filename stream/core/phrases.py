"""The short texts Vigil itself writes (not the planners' templates): answers, updates, stand-downs.

One table per language; a phrase missing in a language falls back to English, so a half-done translation
still reads. Texts other than English await review by native speakers (docs/languages.md).
"""

from __future__ import annotations

from collections.abc import Iterable

ENGLISH = "en"

PHRASES: dict[str, dict[str, str]] = {
    ENGLISH: {
        "answer.ack": "acknowledged",
        "answer.on_my_way": "on the way",
        "answer.unable": "can't respond",
        "answers.title": "VIGIL: who is going - {place}",
        "answers.line": "{name}, {team}: {answer}, {at}",
        "answers.team_line": "{team}: {answer}, {at}",
        "answers.ref": "Ref {ref}",
        "stand_down.title": "VIGIL on-call: stand down - {place}",
        "stand_down.body": "Stand down: {team} answered after the escalation.",
    },
}


def phrase(key: str, language: str = ENGLISH, **values: object) -> str:
    """The phrase ``key`` in ``language`` (English when that language lacks it), filled with ``values``."""
    table = PHRASES.get(language, {})
    text = table.get(key) or PHRASES[ENGLISH][key]
    return text.format(**values) if values else text


def language_for(preferred: Iterable[str], available: Iterable[str]) -> str:
    """The first of a person's languages (preferred first) that Vigil has texts in; English otherwise."""
    have = set(available)
    return next((code for code in preferred if code in have), ENGLISH)
