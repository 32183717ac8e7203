"""The answer page's and SMS replies' texts per language (reviews/texts.py): every language has every English text
with exactly its placeholders; a missing language reads in English; dates in the language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reviews.texts import TEXTS, day_time, link_until, text
from stream.core.phrases import ENGLISH, PHRASES
from tests.stream.core.test_phrases import placeholders

SAT = datetime(2026, 7, 4, 22, 34, tzinfo=ZoneInfo("America/Chicago"))


def test_the_web_speaks_the_languages_of_vigils_phrases() -> None:
    assert set(TEXTS) == set(PHRASES) == {"en", "es", "so", "hmn"}


@pytest.mark.parametrize("language", sorted(set(TEXTS) - {ENGLISH}))
def test_every_language_has_every_text_with_the_english_placeholders(language: str) -> None:
    assert set(TEXTS[language]) == set(TEXTS[ENGLISH])
    for key, english in TEXTS[ENGLISH].items():
        assert placeholders(TEXTS[language][key]) == placeholders(english), (language, key)


def test_fallback_and_dates() -> None:
    assert text("choice.on_my_way", "fr") == "On my way"
    assert text("time.left", "es", minutes=3) == "quedan 3 min"
    assert day_time(SAT) == "Sat 22:34" and day_time(SAT, "so") == "Sab 22:34" and day_time(SAT, "hmn") == "Hnub Rau 22:34"
    assert link_until(SAT) == "22:34 CDT, Sat 04 Jul" and link_until(SAT, "es") == "22:34 CDT, sáb 2026-07-04"
    assert link_until(SAT, "fr") == link_until(SAT)
