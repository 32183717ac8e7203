"""The security checks reuse the review pages' and the ack pages' fixtures (a real store on SQLite and
PostgreSQL, the night's activations, three users) rather than building their own copies."""

from __future__ import annotations

from tests.reviews.web.fixtures import review, service  # noqa: F401 - fixtures, re-exported for these tests
