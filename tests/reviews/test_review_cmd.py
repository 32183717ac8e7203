"""`vigil review --date D`: the day's table in the terminal and its CSV, from a real store."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from reviews.store import ReviewStore
from stream.cli.main import app
from tests.helpers import HIAWATHA, JORDAN
from tests.reviews.test_model import T0, Run


def test_review_prints_the_day_and_writes_its_csv(db_url: str, deployment, tmp_path) -> None:
    run = Run(deployment)
    jordan = run.shooting("CMD-1", JORDAN, T0)
    run.answer("CMD-1", "vi-north-nearnorth", T0 + timedelta(minutes=4), "on_my_way")
    run.shooting("CMD-2", HIAWATHA, T0 + timedelta(minutes=20))
    run.shooting("CMD-3", JORDAN, T0 + timedelta(days=1))  # the next day: not in this review
    run.until(T0 + timedelta(hours=1))
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    store.record_outcome(jordan, "vi-north-nearnorth", "went_to_scene", None, "dns-demo", datetime.now(UTC))
    store.dispose()

    out = tmp_path / "day.csv"
    result = CliRunner().invoke(app, ["review", "--date", "2026-07-04", "--db-url", db_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 activation(s), 4 row(s) on 2026-07-04" in result.output
    street = next(line for line in result.output.splitlines() if "vi-north-nearnorth" in line)
    assert "22:15:00" in street and "on_my_way (in time)" in street and "went_to_scene" in street
    gap = next(line for line in result.output.splitlines() if "dns-oncall" in line)
    assert "Hiawatha" in gap and "coverage_gap" in gap
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["team"] for r in rows) == ["dns-oncall", "gvi-outreach", "gvi-outreach", "vi-north-nearnorth"]
    assert jordan in {r["activation"] for r in rows}


def test_review_names_a_bad_date() -> None:
    result = CliRunner().invoke(app, ["review", "--date", "4 July"])
    assert result.exit_code == 2
    assert "vigil review: --date '4 July' is not a date of the form YYYY-MM-DD" in result.output
