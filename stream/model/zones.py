"""Time-zone names in config files."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def checked_zone_name(value: str) -> str:
    """``value`` when it names an IANA time zone; a ValueError that says so otherwise (pydantic shows it)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as America/Chicago)") from None
    return value


ZoneName = Annotated[str, AfterValidator(checked_zone_name)]
"""A config field holding an IANA time-zone name, checked at load."""
