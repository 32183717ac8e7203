"""The public figures from activation facts (reviews/publish/figures.py): periods in whole weeks, the hour-of-week
coverage, and medians and shares only over 5 or more."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from reviews.publish.figures import NOT_PUBLISHED, ActivationFacts, figures, periods, value_of, week_month, whole_weeks

FACT = ActivationFacts(community="Near North", week="2026-W27", month="2026-07", weekday=5, hour=22, shooting=True, covered=True,
                       coverage_gap=False, alerts=2, seconds_to_notify=10.0, deadlines=1, in_time=1, tasks_due=0, tasks_in_time=0)


def test_a_range_is_widened_to_whole_iso_weeks() -> None:
    first, last = whole_weeks(date(2026, 7, 1), date(2026, 7, 10))
    assert (first, last) == (date(2026, 6, 29), date(2026, 7, 12))  # Monday of W27, Sunday of W28
    assert periods(first, last) == (("2026-W27", "2026-W28"), ("2026-07",))  # W27's Thursday is 2 July
    # a month is made of whole weeks: 1 June 2026 is a Monday, 28 June a Sunday; W27 goes to July
    assert periods(*whole_weeks(date(2026, 6, 10), date(2026, 7, 2))) == (("2026-W24", "2026-W25", "2026-W26", "2026-W27"),
                                                                          ("2026-06", "2026-07"))
    assert week_month(date(2026, 6, 29)) == week_month(date(2026, 7, 5)) == "2026-07"
    assert week_month(date(2025, 12, 29)) == "2026-01"  # ISO week 2026-W01 begins on 29 December 2025
    # a week across a new year is the ISO year's
    assert periods(*whole_weeks(date(2026, 12, 31), date(2026, 12, 31)))[0] == ("2026-W53",)


def test_a_median_or_a_share_is_published_over_5_or_more_only() -> None:
    four = [replace(FACT, seconds_to_notify=s) for s in (1.0, 2.0, 3.0, 40.0)]
    assert value_of(four, "median_seconds_to_notify") == NOT_PUBLISHED
    assert value_of([*four, replace(FACT, seconds_to_notify=5.0)], "median_seconds_to_notify") == "3.0"
    assert value_of([replace(FACT, deadlines=4, in_time=4)], "answered_in_time_percent") == NOT_PUBLISHED
    assert value_of([replace(FACT, deadlines=4, in_time=3), replace(FACT, deadlines=2, in_time=2)], "answered_in_time_percent") == "83"


def test_hour_of_week_coverage_over_four_weeks_or_more() -> None:
    saturday_night = [replace(FACT, covered=k != 0, coverage_gap=k == 0) for k in range(6)]  # 5 of 6 with a team on shift
    monday_morning = [replace(FACT, weekday=0, hour=10, covered=False, coverage_gap=True) for _ in range(5)]
    arrival = replace(FACT, weekday=0, hour=10, shooting=False, community="No community")
    tuesday_night = [replace(FACT, weekday=1, hour=3) for _ in range(2)]
    facts = [*saturday_night, *monday_morning, arrival, *tuesday_night]
    four_weeks = figures(facts, date(2026, 6, 29), date(2026, 7, 26), ["Near North"])
    assert four_weeks.shootings_by_hour is not None and four_weeks.covered_share is not None
    counts = four_weeks.shootings_by_hour.cells
    assert counts["Tue", "03"] == "<5" and counts["Wed", "12"] == "0"
    assert four_weeks.covered_share["Tue", "03"] == NOT_PUBLISHED  # 2 shootings
    # another cell is hidden (x) so that the 2 cannot be worked out from the totals: the smallest, Monday's 5; its
    # share is not published either (0% of a hidden count would narrow it down)
    assert (counts["Sat", "22"], counts["Mon", "10"]) == ("6", "x")
    assert four_weeks.covered_share["Sat", "22"] == "83"
    assert four_weeks.covered_share["Mon", "10"] == NOT_PUBLISHED
    # a share is only ever over a count that is shown
    assert all(share == NOT_PUBLISHED for key, share in four_weeks.covered_share.items() if not counts[key].isdigit())
    three_weeks = figures(facts, date(2026, 6, 29), date(2026, 7, 19), ["Near North"])
    assert three_weeks.shootings_by_hour is None and three_weeks.covered_share is None


def test_every_community_is_listed_and_an_unplaced_activation_has_its_own_row() -> None:
    arrival = replace(FACT, community="No community")
    result = figures([FACT, arrival], date(2026, 6, 29), date(2026, 7, 5), ["Phillips", "Near North"])
    assert result.communities == ("Near North", "Phillips", "No community")
    table = result.community_counts["activations_count"]
    assert table.cells["Phillips", "2026-07"] == "0" and table.cells["Near North", "2026-07"] == "<5"


def test_the_community_table_by_month_and_the_weekly_series_together_give_no_small_count_away() -> None:
    """Months are whole weeks, so a month's citywide count is the sum of its weeks: the site's two publications of each
    count (communities x months, citywide by week), attacked together as tests/reviews/publish/test_suppression.py
    attacks them, pin no small count. (Suppressed apart, as the site first did, they gave cells away.)"""
    import random

    from reviews.publish.figures import COUNTS, weeks_of_months
    from reviews.publish.suppression import CountTable
    from tests.reviews.publish.test_suppression import month_and_week_attack, recoverable

    first, last = date(2026, 6, 1), date(2026, 8, 2)  # 9 whole weeks: June (4), July (5)
    days = [first + (last - first) * k / 62 for k in range(63)]
    rng = random.Random(11)
    leaks = []
    for run in range(40):
        facts = []
        for community in ("Near North", "Phillips", "Camden"):
            for _ in range(rng.choice([0, 1, 2, 3, 6, 12])):
                day = rng.choice(days)
                facts.append(replace(FACT, community=community, week=periods(day, day)[0][0], month=week_month(day)))
        result = figures(facts, first, last, ["Near North", "Phillips", "Camden"])
        name = COUNTS[0][0]  # activations_count: one per fact
        cells: dict[tuple[str, str], int] = {}
        for fact in facts:
            cells[fact.community, fact.month] = cells.get((fact.community, fact.month), 0) + 1
        monthly = CountTable(name, result.communities, result.months, cells)
        series = {week: sum(f.week == week for f in facts) for week in result.weeks}
        texts = (result.community_counts[name], result.weekly_counts[name])
        entries, relations, truth = month_and_week_attack(monthly, weeks_of_months(first, last), series, texts)
        leaks += [(run, found) for found in recoverable(entries, truth, relations)]
    assert leaks == []
