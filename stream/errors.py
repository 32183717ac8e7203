"""The one error type for bad input: a machine-readable reason and a sentence naming the problem."""

from __future__ import annotations


class Rejected(ValueError):
    """Input that Vigil will not process; goes to the dead-letter topic with ``reason``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
