"""structlog JSON logging: one JSON object per line on stderr."""

from __future__ import annotations

import logging
import sys

import structlog


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
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_: _StderrLogger(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
