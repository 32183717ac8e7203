"""The security checks reuse the review pages' and the ack pages' fixtures (a real store on SQLite and
PostgreSQL, the night's activations, three users) rather than building their own copies."""

from __future__ import annotations

from tests.reviews.test_web import service  # noqa: F401 - a fixture, re-exported for these tests
from tests.reviews.test_web_review import review  # noqa: F401 - a fixture, re-exported for these tests
