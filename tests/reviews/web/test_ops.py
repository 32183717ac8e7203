"""The operators' routes (reviews/web/ops.py)."""

from __future__ import annotations

import pytest

from tests.reviews.web.fixtures import Service

pytestmark = pytest.mark.database


def test_healthz(service: Service) -> None:
    response = service.client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")
