"""The CSV exports (reviews/web/exports.py)."""

from __future__ import annotations

import pytest

from reviews.model import CSV_COLUMNS
from tests.reviews.web.fixtures import Review, csrf_of, csv_of

pytestmark = pytest.mark.database


def test_day_csv_has_the_columns_and_a_row_per_activation_and_team(review: Review) -> None:
    client = review.signed_in("dana")
    page = f"/activation/{review.ids['phillips']}"
    client.post(f"{page}/outcome", data={"csrf": csrf_of(client.get(page).text), "team": "vi-south-phillips", "outcome": "unable",
                                          "reason": "=HYPERLINK(\"http://evil\")"})
    response = client.get("/export/2026-07-04.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="vigil-review-2026-07-04.csv"'
    assert response.text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = csv_of(response.text)
    expected = [(review.ids[n], line.team) for n in ("jordan", "phillips", "gap", "retaliation") for line in review.review(n).teams]
    assert [(r["activation"], r["team"]) for r in rows] == expected
    street = next(r for r in rows if r["team"] == "vi-south-phillips")
    assert (street["outcome"], street["acked_in_time"], street["date"]) == ("unable", "no", "2026-07-04")
    assert street["outcome_reason"] == "'=HYPERLINK(\"http://evil\")"  # not a formula in a spreadsheet
    assert [e.target for e in review.audit("export_csv")] == ["2026-07-04"]


def test_range_csv(review: Review) -> None:
    response = review.signed_in("dana").get("/export.csv?from=2026-07-01&to=2026-07-03")
    assert response.headers["content-disposition"] == 'attachment; filename="vigil-review-2026-07-01_to_2026-07-03.csv"'
    assert {r["activation"] for r in csv_of(response.text)} == {review.ids["early_gap"], review.ids["hospital"]}
    assert [e.target for e in review.audit("export_csv")] == ["2026-07-01..2026-07-03"]
