"""Vigil's own short texts per language (stream/core/phrases.py): every language has every English phrase with
exactly its placeholders, a missing phrase or language reads in English, and a person's language is chosen."""

from __future__ import annotations

from string import Formatter

import pytest

from stream.core.phrases import ENGLISH, PHRASES, language_for, phrase


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a format string."""
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def test_the_demo_languages_have_tables() -> None:
    assert set(PHRASES) == {"en", "es", "so", "hmn"}


@pytest.mark.parametrize("language", sorted(set(PHRASES) - {ENGLISH}))
def test_every_language_has_every_key_with_the_english_placeholders(language: str) -> None:
    table = PHRASES[language]
    assert set(table) == set(PHRASES[ENGLISH])
    for key, english in PHRASES[ENGLISH].items():
        assert placeholders(table[key]) == placeholders(english), (language, key)
        assert table[key].strip(), (language, key)


def test_a_phrase_is_filled_in_the_language_and_falls_back_to_english() -> None:
    assert phrase("answers.line", "es", name="Ana", team="vi-central", answer=phrase("answer.on_my_way", "es"), at="21:14") == \
        "Ana, vi-central: en camino, 21:14"
    assert phrase("answer.on_my_way", "fr") == "on the way"
    assert phrase("stand_down.body", team="vi-central") == "Stand down: vi-central answered after the escalation."


def test_language_for_picks_the_first_available() -> None:
    assert language_for(("so", "en"), ("en", "es", "so", "hmn")) == "so"
    assert language_for(("fr", "es"), ("en", "es")) == "es"
    assert language_for(("fr",), ("en", "es")) == "en"


def test_what_names_every_kind_as_the_alerts_do() -> None:
    from stream.core.messages import WHAT

    assert {kind: phrase(f"what.{kind.value}") for kind in WHAT} == WHAT
