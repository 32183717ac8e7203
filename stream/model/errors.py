"""The one error type for bad input: a machine-readable reason and a sentence naming the problem."""

from __future__ import annotations

MAX_DETAIL_CHARS = 500


class Rejected(ValueError):
    """Input that Vigil will not process; goes to the dead-letter topic with ``reason``.

    ``detail`` is cut to ``MAX_DETAIL_CHARS``: details quote the offending value, and a quoted 900 KB field
    would make a dead letter bigger than the broker takes (the record would be lost, and the agent with it).
    """

    def __init__(self, reason: str, detail: str):
        detail = detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 1] + "…"
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
