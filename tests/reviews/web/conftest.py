"""The web app's fixtures (tests/reviews/web/fixtures.py), for these tests."""

from __future__ import annotations

from tests.reviews.web.fixtures import review, service  # noqa: F401 - fixtures, re-exported for these tests
