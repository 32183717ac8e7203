"""`vigil review --date D`: the day's table in the terminal and its CSV, from a real store."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from reviews.store import ReviewStore
from stream.cli.main import app
from tests.helpers import HIAWATHA, JORDAN
from tests.reviews.test_model import T0, Run
from tests.reviews.test_truthful_review import NOW, truthful_night


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
    store.add_note(jordan, "dns-demo", "talked to the family", datetime.now(UTC))
    store.dispose()

    out = tmp_path / "day.csv"
    result = CliRunner().invoke(app, ["review", "--date", "2026-07-04", "--db-url", db_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 activation(s), 4 row(s) on 2026-07-04" in result.output
    street = next(line for line in result.output.splitlines() if "vi-north-nearnorth" in line)
    assert "22:15:00" in street and "on_my_way (in time)" in street and "went_to_scene" in street
    assert "CMD-1" in street and re.search(r"went_to_scene\s+1(\s|$)", street)  # the incident number and the count of notes
    gap = next(line for line in result.output.splitlines() if "dns-oncall" in line)
    assert "Hiawatha" in gap and "coverage_gap" in gap
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["team"] for r in rows) == ["dns-oncall", "gvi-outreach", "gvi-outreach", "vi-north-nearnorth"]
    answered = next(r for r in rows if r["team"] == "vi-north-nearnorth")
    assert (answered["incident"], answered["minutes_to_answer"], answered["notes"]) == ("CMD-1", "4.0", "1")
    assert jordan in {r["activation"] for r in rows}


def test_review_names_a_bad_date() -> None:
    result = CliRunner().invoke(app, ["review", "--date", "4 July"])
    assert result.exit_code == 2
    assert "vigil review: --date '4 July' is not a date of the form YYYY-MM-DD" in result.output


def _stored(db_url: str, run: Run) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    store.dispose()


def test_review_says_cant_respond_and_awaiting_as_of_now(db_url: str, deployment, tmp_path) -> None:
    run, ids = truthful_night(deployment)
    _stored(db_url, run)
    out = tmp_path / "day.csv"
    result = CliRunner().invoke(app, ["review", "--date", "2026-07-04", "--db-url", db_url, "--out", str(out), "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    declined = next(line for line in lines if "vi-south-phillips" in line)
    assert "22:17:00 can't respond" in declined and "cant_respond" in declined
    assert "(late)" not in declined and "unable" not in declined and "missed_ack" not in declined
    running = next(line for line in lines if "vi-north-nearnorth" in line)
    assert "awaiting (deadline 23:15)" in running and "no answer" not in running
    rows = {(r["activation"], r["team"]): r for r in csv.DictReader(out.open())}
    assert rows[(ids["declined"], "vi-south-phillips")]["acked_in_time"] == "can't respond"
    assert rows[(ids["running"], "vi-north-nearnorth")]["acked_in_time"] == "awaiting"


def test_review_judges_deadlines_at_the_moment_it_runs(db_url: str, deployment, tmp_path) -> None:
    arrived = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)  # nextstep-hcmc has 15 minutes, day and night
    run = Run(deployment)
    run.arrival("CMD-NOW", arrived)
    _stored(db_url, run)
    local = arrived.astimezone(ZoneInfo("America/Chicago"))
    result = CliRunner().invoke(app, ["review", "--date", f"{local:%Y-%m-%d}", "--db-url", db_url, "--out", str(tmp_path / "day.csv")])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "nextstep-hcmc" in line)
    assert f"awaiting (deadline {local + timedelta(minutes=15):%H:%M})" in line


def test_review_writes_the_days_follow_up_tasks_csv_beside_it(db_url: str, deployment, tmp_path) -> None:
    run = Run(deployment)
    run.shooting("CMD-1", JORDAN, T0)
    run.answer("CMD-1", "vi-north-nearnorth", T0 + timedelta(minutes=4), "on_my_way")
    run.shooting("CMD-3", JORDAN, T0 + timedelta(days=1))  # the next day: not in this review
    run.until(T0 + timedelta(days=1, hours=1))
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    store.dispose()

    out = tmp_path / "day.csv"
    now = (T0 + timedelta(days=3)).isoformat()  # the family contact (due 48 h after) is overdue by then
    result = CliRunner().invoke(app, ["review", "--date", "2026-07-04", "--db-url", db_url, "--out", str(out), "--now", now])
    assert result.exit_code == 0, result.output
    tasks = tmp_path / "day-tasks.csv"
    assert f"follow-up tasks CSV: {tasks}" in result.output
    assert tasks.read_text().splitlines() == [
        "from,to,section,team,kind,tasks,closed,closed_in_time,closed_in_time_percent,overdue,service,consent_yes,consent_no",
        "2026-07-04,2026-07-04,completion,vi-north-nearnorth,family contact,1,0,0,0,1,,,",  # the next day's is left out
        *(f"2026-07-04,2026-07-04,referrals,,,,,,,,{service},0,0"
          for service in ("housing", "employment", "mental health", "relocation", "legal", "other")),
    ]
