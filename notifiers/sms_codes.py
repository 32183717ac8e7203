"""The short code an SMS alert carries so that a phone with several open alerts answers the right one
("reply 2 K7"): derived from the intent id alone, so every worker and every re-send agrees, and read back by
the SMS reply webhook (reviews/sms_replies.py)."""

from __future__ import annotations

import hashlib

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a phone at night
CODE_CHARS = 2


def short_code(intent_id: str) -> str:
    """The code a phone's SMS for this intent carries: two characters from ``CODE_ALPHABET``."""
    number = int.from_bytes(hashlib.sha256(intent_id.encode("utf-8")).digest()[:4], "big")
    chars = []
    for _ in range(CODE_CHARS):
        number, index = divmod(number, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[index])
    return "".join(chars)


# the line an SMS alert ends with, per language (the alert's); the answer words of reviews/sms_replies.py are
# understood too, but digits work in every language. Non-English lines await native-speaker review.
REPLY_LINES = {
    "en": "Reply 1 {code} ack, 2 {code} on my way, 3 {code} can't respond",
    "es": "Responda 1 {code} recibido, 2 {code} voy en camino, 3 {code} no puedo responder",
    "so": "Ku jawaab 1 {code} waa la helay, 2 {code} waan soo socdaa, 3 {code} ma jawaabi karo",
    "hmn": "Teb 1 {code} lees paub, 2 {code} kuv tab tom tuaj, 3 {code} kuv tuaj tsis tau",
}


def reply_line(intent_id: str, language: str = "en") -> str:
    """The line an SMS alert ends with: how to answer it by reply, in ``language`` (English when it has none)."""
    return REPLY_LINES.get(language, REPLY_LINES["en"]).format(code=short_code(intent_id))


# the line an SMS task reminder (issue 18) ends with, per language: the word DONE is kept in every language, since the
# SMS webhook reads "DONE K7" whatever the language. Non-English lines await native-speaker review, like REPLY_LINES.
TASK_REPLY_LINES = {
    "en": "Reply DONE {code} when it is done",
    "es": "Responda DONE {code} cuando esté hecho",
    "so": "Ku jawaab DONE {code} marka la dhammeeyo",
    "hmn": "Teb DONE {code} thaum ua tiav lawm",
}


def task_reply_line(intent_id: str, language: str = "en") -> str:
    """The line an SMS task reminder ends with: how to close the task by reply, in ``language`` (English when it has
    none)."""
    return TASK_REPLY_LINES.get(language, TASK_REPLY_LINES["en"]).format(code=short_code(intent_id))
