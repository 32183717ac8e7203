"""Review users: DNS staff (every team's activations) and team leads (their own team's), with scrypt passwords.

A stored password is ``scrypt$n$r$p$salt_b64$hash_b64``: the cost parameters travel with the hash, so
raising them later leaves the passwords already stored checkable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["dns", "lead"]
ROLES: tuple[str, ...] = ("dns", "lead")
MIN_PASSWORD_LENGTH = 10

_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
# 128 * r * n bytes is what scrypt needs (16 MiB here); leave headroom for stored hashes with a higher n.
_MAX_MEMORY = 64 * 1024 * 1024
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,100}")


@dataclass(frozen=True)
class User:
    """A review user; ``team`` is set for leads only. ``session_generation`` is the store's count of the
    times their sessions were ended (sign-out, password change, disabling): only a session issued under the
    current one is accepted."""

    username: str
    role: str
    team: str | None
    disabled: bool
    # bookkeeping of sessions, not who the user is or what they may see: left out of equality
    session_generation: int = field(default=0, compare=False)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=_MAX_MEMORY)


def hash_password(password: str) -> str:
    """Hash a password with scrypt and a new random salt, in the ``scrypt$n$r$p$salt$hash`` format."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P, _HASH_BYTES)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (False for a malformed hash)."""
    try:
        scheme, n, r, p, salt_b64, hash_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(hash_b64, validate=True)
        actual = _scrypt(password, salt, int(n), int(r), int(p), len(expected))
    except ValueError:  # wrong field count, bad base64 or numbers, or parameters scrypt refuses
        return False
    return hmac.compare_digest(actual, expected)


def check_new_user(username: str, password: str, role: str, team: str | None) -> None:
    """Raise ``ValueError`` saying what is wrong with a user about to be added (duplicates are the store's to find)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: expected dns or lead")
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"invalid username {username!r}: use 1 to 100 letters, digits, '.', '_', '@' or '-'")
    if role == "lead" and not team:
        raise ValueError("a lead needs a team")
    if role == "dns" and team is not None:
        raise ValueError("a dns user reviews every team and takes no team")
    if team is not None and len(team) > 100:
        raise ValueError("team must be at most 100 characters")
    check_new_password(password)


def check_new_password(password: str) -> None:
    """Raise ``ValueError`` when a password about to be set is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
