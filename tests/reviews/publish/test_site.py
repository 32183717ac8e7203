"""`vigil publish` on a store filled by the real core (tests/reviews/publish/scenario.py): what a reader of the site
sees, and what no file of it may hold."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pytest

from reviews.publish.site import publish
from reviews.store import ReviewStore
from tests.helpers import vigil_in_process
from tests.reviews.publish.scenario import NOW, two_weeks


def communities(deployment) -> list[str]:
    """The deployment's communities, as the command lists them."""
    return sorted(set(deployment.coverage.neighborhood_community.values()))

pytestmark = pytest.mark.database

PLACE_COLUMNS = ("week", "month", "community", "day", "hour")
VALUE_COLUMNS = ("median_seconds_to_notify", "answered_in_time_percent", "tasks_completed_in_time_percent", "street_team_on_shift_percent")


def _stored(db_url: str, run) -> None:
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    store.dispose()


def _csv(out: Path, slug: str) -> dict[tuple[str, ...], str]:
    """A table's CSV as {(its place columns...): its figure}."""
    rows = list(csv.reader((out / "csv" / f"{slug}.csv").open(encoding="utf-8")))
    return {tuple(row[:-1]): row[-1] for row in rows[1:]}


@pytest.fixture(scope="module")
def case(deployment):
    """The known small case, made once for the module (the core's run is the slow part)."""
    return two_weeks(deployment)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, case):
    """`vigil publish` of 1 to 10 July over the case in a SQLite store: (the site's folder, the run, the command's result)."""
    folder = tmp_path_factory.mktemp("publish")
    db_url = f"sqlite:///{folder / 'review.sqlite'}"
    _stored(db_url, case)
    out = folder / "site"
    result = vigil_in_process("publish", "--db-url", db_url, "--from", "2026-07-01", "--to", "2026-07-10", "--out", str(out),
                              "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr
    return out, case, result


def test_the_known_small_case_reads_as_counted(site) -> None:
    out, _, result = site
    # 1 to 10 July is widened to whole ISO weeks: W27 (29 June to 5 July) and W28 (6 to 12 July)
    assert "files in" in result.stdout
    activations = _csv(out, "citywide-weekly-activations-count")
    assert activations == {("2026-W27",): "7", ("2026-W28",): "8", ("All weeks",): "15"}
    # W27: 2 (first shooting: street team, GVI) + 3 x 4 (P7 adds DNS) + 4 (the unanswered: its escalation) + 2 (Longfellow)
    assert _csv(out, "citywide-weekly-alerts-sent-count") == {("2026-W27",): "20", ("2026-W28",): "22", ("All weeks",): "42"}
    assert _csv(out, "citywide-weekly-answered-in-time-percent") == {("2026-W27",): "83", ("2026-W28",): "100", ("All weeks",): "93"}
    assert _csv(out, "citywide-weekly-median-seconds-to-notify")[("All weeks",)] == "1.0"
    # one coverage gap (Longfellow): a small count
    assert _csv(out, "citywide-weekly-coverage-gap-activations-count") == {("2026-W27",): "<5", ("2026-W28",): "0", ("All weeks",): "<5"}
    # tasks: W27's left open (due, not in time); W28's Near North ones closed in time, Phillips' 5 left open
    assert _csv(out, "citywide-weekly-tasks-due-count") == {("2026-W27",): "21", ("2026-W28",): "26", ("All weeks",): "47"}
    assert _csv(out, "citywide-weekly-tasks-completed-in-time-count") == {("2026-W27",): "0", ("2026-W28",): "21", ("All weeks",): "21"}
    assert _csv(out, "citywide-weekly-tasks-completed-in-time-percent") == {("2026-W27",): "0", ("2026-W28",): "81", ("All weeks",): "45"}


def test_by_community_a_small_count_is_shown_as_under_5(site) -> None:
    out, _, _ = site
    by_place = _csv(out, "community-monthly-activations-count")
    assert by_place["Near North", "2026-07"] == "12"
    assert by_place["Longfellow", "2026-07"] == by_place["Phillips", "2026-07"] == "<5"
    assert by_place["Camden", "2026-07"] == "0"
    # W27 (29 June to 5 July) is July's: its Thursday is 2 July; no June column splits it
    assert {month for _, month in by_place} == {"2026-07", "All months"}
    answered = _csv(out, "community-monthly-answered-in-time-percent")
    assert answered["Near North", "All months"] == "92"  # 11 of 12
    assert answered["Phillips", "2026-07"] == "—"  # 2 deadlines: under 5, not published
    index = (out / "index.html").read_text(encoding="utf-8")
    # what a screen reader reads for the chart: true to its table
    assert ("Activations by community, 2026-07, 11 bars, Calhoun Isle to University. Total: 15. Highest: 12 in Near North. "
            "2 bars are a count from 1 to 4, shown as &lt;5.") in index
    assert ("Team alerts answered within their deadline (%), citywide by ISO week, 2 bars, 2026-W27 to 2026-W28. "
            "Over the whole range: 93%. Highest: 100% in 2026-W28.") in index
    assert "The hour-of-week coverage is published for a range of 4 weeks or more; this one has 2." in index


def test_every_count_column_ends_in_count_and_every_cell_is_published_text(site) -> None:
    out, _, _ = site
    files = sorted((out / "csv").glob("*.csv"))
    assert len(files) == 16
    for path in files:
        rows = list(csv.reader(path.open(encoding="utf-8")))
        *places, figure = rows[0]
        assert all(p in PLACE_COLUMNS for p in places), path.name
        cells = [row[-1] for row in rows[1:]]
        if all(re.fullmatch(r"\d+|<5|x", c) for c in cells) and figure not in VALUE_COLUMNS:
            assert figure.endswith("_count"), path.name
        else:
            assert figure in VALUE_COLUMNS and all(re.fullmatch(r"\d+(\.\d)?|—", c) for c in cells), path.name


def test_no_file_holds_an_id_a_name_a_team_a_day_or_a_time(site, deployment) -> None:
    out, run, _ = site
    forbidden = {r.activation_id for r in run.records} | {"PUB-", "dns-demo", "marcus", "Marcus"}
    forbidden |= {getattr(r, "incident_id", None) or "PUB-" for r in run.records}
    forbidden |= {getattr(r, "task_id", None) or "PUB-" for r in run.records}
    for roster in deployment.rosters.values():
        forbidden |= {p.id for p in roster.people} | {p.name for p in roster.people if p.name}
    forbidden |= set(deployment.rosters)  # no team either
    # no place finer than a community: not the neighborhoods (Jordan, Midtown Phillips, Hiawatha) nor a block
    forbidden |= {getattr(r, "neighborhood", None) or "PUB-" for r in run.records} | {getattr(r, "block", None) or "PUB-" for r in run.records}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 20  # 3 pages, the stylesheet, 16 CSV
    for path in files:
        text = path.read_text(encoding="utf-8")
        found = [word for word in forbidden if word in text]
        assert not found, f"{path.name}: {found}"
        # a day only as the range's whole-week bounds; no time of day
        assert set(re.findall(r"\d{4}-\d{2}-\d{2}", text)) <= {"2026-06-29", "2026-07-12"}, path.name
        assert not re.search(r"\b\d{1,2}:\d{2}\b", text), path.name
        assert "<script" not in text


def test_the_same_site_from_postgresql(site, case, postgres_url: str, deployment, tmp_path: Path) -> None:
    out, _, _ = site
    _stored(postgres_url, case)
    again = tmp_path / "from-postgres"
    store = ReviewStore(postgres_url)
    try:  # the function the command calls, with the deployment loaded once for the session (the command loads it again)
        publish(store, date(2026, 7, 1), date(2026, 7, 10), deployment.coverage.zone, NOW, again, communities(deployment))
    finally:
        store.dispose()
    mine = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    theirs = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert mine == theirs


def test_a_bad_range_is_refused_by_name(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    bad = vigil_in_process("publish", "--db-url", db, "--from", "2026-07-10", "--to", "2026-07-01", "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "--from (2026-07-10) must be on or before --to (2026-07-01)" in bad.stderr
    bad = vigil_in_process("publish", "--db-url", db, "--from", "July", "--to", "2026-07-01", "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "--from 'July' is not a date of the form YYYY-MM-DD" in bad.stderr


def test_the_methodology_and_the_dictionary_cover_every_published_column(site) -> None:
    out, _, _ = site
    method = (out / "methodology.html").read_text(encoding="utf-8")
    assert "a count from 1 to 4 is shown as &lt;5" in method and "published only when it is over 5 or more" in method
    dictionary = (out / "data-dictionary.html").read_text(encoding="utf-8")
    for path in (out / "csv").glob("*.csv"):
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        assert f"csv/{path.name}" in dictionary
        for column in header:
            assert f"<th scope=\"row\">{column}</th>" in dictionary, column  # its own row: what the column holds
            if column.endswith(("_count", "_percent", "_to_notify")):
                assert column in method, column  # and how it is computed


def test_four_weeks_publish_the_hour_of_week_grid(site, deployment) -> None:
    out, run, _ = site
    store = ReviewStore(f"sqlite:///{out.parent / 'review.sqlite'}")
    try:  # 15 June to 12 July: W25 to W28, two of them empty
        files = publish(store, date(2026, 6, 15), date(2026, 7, 12), deployment.coverage.zone, NOW, out.parent / "four", communities(deployment))
    finally:
        store.dispose()
    assert len(files) == 22
    shootings = _csv(out.parent / "four", "hour-of-week-shootings-count")
    assert len(shootings) == 7 * 24
    # Saturday 20:00-20:59: two shootings each Saturday; Sunday 00:xx: Longfellow's one and Phillips' two
    assert shootings["Sat", "20"] == shootings["Sun", "00"] == "<5"
    assert shootings["Wed", "12"] == "0"
    share = _csv(out.parent / "four", "hour-of-week-street-team-on-shift-percent")
    assert share["Sat", "20"] == share["Wed", "12"] == "—"  # under 5 shootings: not published
    index = (out.parent / "four" / "index.html").read_text(encoding="utf-8")
    cells = list(shootings.values())
    numbers = sum(c.isdigit() for c in cells)
    # the sentence a screen reader reads says what the table holds (4 hours are <5 here; the real suppression may hide more)
    assert (f"Shootings by hour of the week, local time, 2026-W25 to 2026-W28 pooled: 7 days × 24 hours. {numbers} hours shown as "
            f"numbers; {cells.count('<5')} shown as &lt;5; {cells.count('x')} hidden (x); 0 not published (—).") in index
    assert cells.count("<5") == 4
    assert not any(r.activation_id in index for r in run.records)
