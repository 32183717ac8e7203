"""structlog JSON logging: one JSON object per line on stderr.

Lines on an activation's path carry its ids from ``structlog.contextvars`` (bound per task by the agents
and the per-intent delivery tasks; see ``bound_ids``). No line may carry a secret: ``redact`` blanks the
values of secret-like keys and the token of every ack link, wherever they are in a line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

REDACTED = "<redacted>"
# Keys whose values are secrets wherever they appear. "token" only at the end of a key: ``token_id`` is
# the id the service logs instead of the token, and must stay.
_SECRET_KEY = re.compile(r"secret|password|passwd|authorization|credential|api_?key|cookie|token(s)?$", re.IGNORECASE)
# An ack link is a capability: whoever has the URL can answer for the team.
_ACK_LINK = re.compile(r"(/ack/)[^\s/?#\"'<>]+")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _ACK_LINK.sub(r"\1" + REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]  # JSON has no tuples
    return value


def redact(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: the value of any key named like a secret, token, password or authorization
    becomes ``<redacted>`` (in nested dicts too), and every ``…/ack/<token>`` in a string value becomes
    ``…/ack/<redacted>``."""
    return _scrub(event_dict)


@contextmanager
def bound_ids(**ids: Any) -> Iterator[None]:
    """Bind ids (``activation_id``, ``event_id``, ``intent_id``...) to every log line of this task while
    the block runs; ids that are None are left out. Context variables are per task, so concurrent
    deliveries never see each other's ids."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield


class _StderrLogger:
    """Writes each line to the ``sys.stderr`` of the moment (a stream bound once may since be closed)."""

    def msg(self, message: str) -> None:
        """Write one log line."""
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def configure_logging(level: str = "info") -> None:
    """Log JSON lines to stderr at ``level``; stdlib loggers (Faust, aiokafka) go to stderr as text."""
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # never the frames' local variables: they hold raw messages (an HL7 message has PHI) and keys
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_: _StderrLogger(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
