"""Small-count suppression (issue 19): an attacker who reads everything published cannot recover a ``<5``.

The attacker here is the one the suppression is meant to beat. It writes down every number published
(visible cells, row and column totals, the grand total, and the tables of other periods or the series
that share rows or totals with it) as linear equations over the true counts, solves them exactly with
fractions, and asks of every ``<5`` (cell or total):

* is it pinned by the equations (its vector lies in their row space)? It must not be;
* does a second table exist that publishes exactly the same texts, non-negative and whole, with every
  ``<5`` from 1 to 4 and every ``x`` 5 or more (what a reader knows), in which that ``<5`` has another
  value? It must: then it has at least two feasible values.

The second table is searched in the null space of the equations (combinations of one, two or three of
its basis vectors), independently of how ``suppress`` finds its cycles.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import pytest

from reviews.publish.suppression import (
    COMPLEMENTARY,
    SUPPRESSED,
    THRESHOLD,
    TOTAL,
    WITHHELD,
    CountTable,
    Published,
    _close_nodes,
    _Network,
    _published,
    _table_edges,
    median_or_none,
    share_or_none,
    suppress,
    suppress_series,
    suppress_with_series,
)

Cell = tuple[str, str]
# one published number: the true cells it sums, and its text
Entry = tuple[frozenset[Cell], str]
# a sum known to equal another without being published: (plus, minus)
Relation = tuple[frozenset[Cell], frozenset[Cell]]


def entries_of(published: Published) -> list[Entry]:
    """Every number a reader sees of a published table, as the set of true cells it sums."""
    table = published.table
    found: list[Entry] = [(frozenset({key}), text) for key, text in published.cells.items()]
    found += [(frozenset((row, c) for c in table.columns), published.row_totals[row]) for row in table.rows]
    found += [(frozenset((r, column) for r in table.rows), published.column_totals[column]) for column in table.columns]
    found.append((frozenset((r, c) for r in table.rows for c in table.columns), published.total))
    return found


def series_entries(texts: dict[str, str], cells_of: dict[str, frozenset[Cell]]) -> list[Entry]:
    """The numbers of a published series, each period being the sum of the true cells ``cells_of[period]``."""
    found = [(cells_of[period], text) for period, text in texts.items() if period != TOTAL]
    found.append((frozenset().union(*cells_of.values()), texts[TOTAL]))
    return found


@dataclass
class Attack:
    """The linear system of everything published, reduced; and what a reader knows of each hidden number."""

    unknowns: list[Cell]  # true cells not shown as such
    rows: list[tuple[list[Fraction], int]]  # the reduced equations: coefficients, pivot column
    hidden: list[tuple[frozenset[Cell], str]]  # every "<5" and "x", with the cells it sums
    known: dict[Cell, int]  # true cells shown as such

    @classmethod
    def of(cls, entries: list[Entry], relations: Sequence[Relation] = ()) -> Attack:
        """Write the published numbers as equations over the unknown cells and row-reduce them exactly.

        ``relations``: what a reader knows without its being published (sum of ``plus`` = sum of ``minus``).
        """
        known = {next(iter(cells)): int(text) for cells, text in entries if len(cells) == 1 and text.isdigit()}
        everything = set().union(*(cells for cells, _ in entries), *(p | m for p, m in relations))
        unknowns = sorted(everything - set(known))
        column = {cell: i for i, cell in enumerate(unknowns)}
        matrix = []
        for cells, text in entries:
            if text.isdigit() and not (cells <= set(known)):
                row = [Fraction(0)] * (len(unknowns) + 1)
                for cell in cells - set(known):
                    row[column[cell]] = Fraction(1)
                row[-1] = Fraction(int(text) - sum(known[c] for c in cells & set(known)))
                matrix.append(row)
        for plus, minus in relations:
            row = [Fraction(0)] * (len(unknowns) + 1)
            for cells, sign in ((plus, 1), (minus, -1)):
                for cell in cells - set(known):
                    row[column[cell]] += sign
                row[-1] -= sign * sum(known[c] for c in cells & set(known))
            matrix.append(row)
        hidden = [(cells, text) for cells, text in entries if not text.isdigit()]
        return cls(unknowns, reduce_rows(matrix, len(unknowns)), hidden, known)

    def vector(self, cells: frozenset[Cell]) -> list[Fraction]:
        """The coefficients, over the unknowns, of a sum of cells (known cells drop out: they are constants)."""
        return [Fraction(1 if cell in cells else 0) for cell in self.unknowns]

    def pinned(self, cells: frozenset[Cell]) -> bool:
        """Whether the equations determine this sum: its vector reduces to zero against the reduced rows."""
        vector = self.vector(cells)
        for row, pivot in self.rows:
            if vector[pivot]:
                factor = vector[pivot]
                vector = [v - factor * r for v, r in zip(vector, row, strict=False)]
        return not any(vector)

    def second_value(self, truth: dict[Cell, int], target: frozenset[Cell]) -> bool:
        """Whether a second table publishes the same texts with another value of ``target``.

        Every solution of the equations is the true one plus a move of the free unknowns, the pivot
        unknowns following. The search tries each free unknown at its true value +1, -1 or 0 and prunes a
        pivot unknown that would move by more than 1 or go negative: a totals table's system is totally
        unimodular, so if any second table exists, one differing by at most 1 in every cell does (one
        cycle of +1/-1). What is found is a real second table, checked in full.
        """
        values = [truth.get(cell, 0) for cell in self.unknowns]
        assert all(v.denominator == 1 for row, _ in self.rows for v in row), "a totals table's system is unimodular"
        pivots = [([int(v) for v in row[:-1]], pivot) for row, pivot in self.rows]
        linked = self.linked_to(target)  # other unknowns share no equation with it: they keep their values
        pivots = [(row, pivot) for row, pivot in pivots if pivot in linked]
        free = [c for c in sorted(linked) if c not in {pivot for _, pivot in pivots}]
        if not free:
            return False
        # a pivot unknown can be checked as soon as the last free unknown it depends on has moved
        ready: dict[int, list[tuple[list[int], int]]] = {i: [] for i in range(len(free))}
        for row, pivot in pivots:
            ready[max((i for i, f in enumerate(free) if row[f]), default=0)].append((row, pivot))
        before = self.total(values, target)
        other = list(values)

        def search(i: int) -> bool:
            if i == len(free):
                return self.total(other, target) != before and self.feasible(other)
            for move in (1, -1, 0):
                other[free[i]] = values[free[i]] + move
                good = other[free[i]] >= 0
                for row, pivot in ready[i]:
                    pivot_move = -sum(row[f] * (other[f] - values[f]) for f in free[: i + 1])
                    other[pivot] = values[pivot] + pivot_move
                    good = good and abs(pivot_move) <= 1 and other[pivot] >= 0
                if good and search(i + 1):
                    return True
            other[free[i]] = values[free[i]]
            return False

        return search(0)

    def linked_to(self, target: frozenset[Cell]) -> set[int]:
        """The unknowns tied to the target through the reduced equations and the hidden numbers."""
        groups = [{i for i, v in enumerate(row[:-1]) if v} for row, _ in self.rows]
        groups += [{i for i, cell in enumerate(self.unknowns) if cell in cells} for cells, _ in self.hidden]
        linked = {i for i, cell in enumerate(self.unknowns) if cell in target}
        grown = True
        while grown:
            grown = False
            for group in groups:
                if group & linked and not group <= linked:
                    linked |= group
                    grown = True
        return linked

    def total(self, values: list[int], cells: frozenset[Cell]) -> int:
        """The value of a sum of cells in a candidate table."""
        position = self.position
        return sum(values[position[c]] if c in position else self.known[c] for c in cells)

    @functools.cached_property
    def position(self) -> dict[Cell, int]:
        """Where each unknown cell is in a candidate's list of values."""
        return {cell: i for i, cell in enumerate(self.unknowns)}

    def feasible(self, values: list[int]) -> bool:
        """Whether a candidate publishes the same texts: counts not negative, "<5" in 1..4, "x" 5 or more."""
        if any(v < 0 for v in values):
            return False
        for cells, text in self.hidden:
            value = self.total(values, cells)
            if (text == SUPPRESSED and not 1 <= value < THRESHOLD) or (text == COMPLEMENTARY and value < THRESHOLD):
                return False
        return True


def reduce_rows(matrix: list[list[Fraction]], width: int) -> list[tuple[list[Fraction], int]]:
    """Reduced row echelon form (exact): each row with its pivot column; the last column is the constant."""
    rows = [list(row) for row in matrix]
    reduced: list[tuple[list[Fraction], int]] = []
    for column in range(width):
        pivot = next((row for row in rows if row[column]), None)
        if pivot is None:
            continue
        rows.remove(pivot)
        pivot = [v / pivot[column] for v in pivot]
        # only rows with something in this column change (most have nothing: the system is sparse)
        rows = [[v - row[column] * p for v, p in zip(row, pivot, strict=True)] if row[column] else row for row in rows]
        reduced = [
            ([v - row[column] * p for v, p in zip(row, pivot, strict=True)] if row[column] else row, c)
            for row, c in reduced
        ]
        reduced.append((pivot, column))
    assert not any(row[-1] for row in rows), "the published numbers contradict each other"
    return reduced


def recoverable(entries: list[Entry], truth: dict[Cell, int], relations: Sequence[Relation] = ()) -> list[str]:
    """What an attacker learns of the "<5": each pinned one, and each with no second feasible value found."""
    attack = Attack.of(entries, relations)
    findings = []
    for cells, text in attack.hidden:
        if (text == SUPPRESSED or (text == WITHHELD and 1 <= sum(truth.get(c, 0) for c in cells) < THRESHOLD)) and attack.pinned(cells):
            findings.append(f"pinned by the equations: {sorted(cells)} = {sum(truth.get(c, 0) for c in cells)}")
    # a "<5", and a small count withheld (WITHHELD: nothing of its measure published) all the same
    small = [cells for cells, text in attack.hidden
             if text == SUPPRESSED or (text == WITHHELD and 1 <= sum(truth.get(c, 0) for c in cells) < THRESHOLD)]
    for cells in small:
        if not attack.second_value(truth, cells):
            findings.append(f"one feasible value only: {sorted(cells)} = {sum(truth.get(c, 0) for c in cells)}")
    return findings


def table(name: str, grid: list[list[int]]) -> CountTable:
    """A table from a list of rows (rows r0.., columns m0..)."""
    rows = tuple(f"r{i}" for i in range(len(grid)))
    columns = tuple(f"m{j}" for j in range(len(grid[0])))
    cells = {(rows[i], columns[j]): n for i, line in enumerate(grid) for j, n in enumerate(line) if n}
    return CountTable(name, rows, columns, cells)


def random_table(rng: random.Random, name: str, rows: int | None = None, columns: int | None = None) -> CountTable:
    """A sparse table: about half zeros, a third of the rest small (1 to 4), the others 5 to 40."""
    rows = rows or rng.randint(1, 6)
    columns = columns or rng.randint(1, 7)

    def count() -> int:
        draw = rng.random()
        return 0 if draw < 0.45 else rng.randint(1, 4) if draw < 0.7 else rng.randint(5, 40)

    return table(name, [[count() for _ in range(columns)] for _ in range(rows)])


# Tables designed to be attackable: each defeats a naive suppression in a different way.
HAND_MADE = {
    "one small cell in a row": [[3, 12, 20], [15, 18, 22], [30, 9, 11]],
    "a small row total": [[2, 0, 1], [14, 9, 30], [8, 25, 6]],
    "a single hidden pair, column totals known": [[3, 9, 14], [10, 11, 12], [20, 8, 7]],
    "a small cell on a row of zeros": [[0, 0, 2, 0], [6, 7, 0, 0]],
    "a small cell alone in the table": [[0, 0], [0, 3]],
    "a small grand total": [[1, 0, 1], [0, 1, 0]],
    "small cells in a column with a small total": [[1, 20], [2, 15], [0, 30]],
    "one small cell, then one just over": [[1, 5, 5], [5, 5, 5]],
    "a bridge between two blocks": [[4, 6, 0, 0], [7, 8, 0, 0], [0, 0, 3, 9], [0, 0, 10, 5]],
    "a 1-row table": [[3, 0, 12, 7]],
    "a 1-column table": [[3], [0], [12], [7]],
}


def truth_of(counts: CountTable) -> dict[Cell, int]:
    """The true cells of a table (zeros included)."""
    return {(r, c): counts.count(r, c) for r in counts.rows for c in counts.columns}


def assert_truthful(published: Published) -> None:
    """What is shown is true, and what is hidden is marked the way the methodology page says."""
    counts = published.table
    for entries_cells, text in entries_of(published):
        value = sum(counts.count(r, c) for r, c in entries_cells)
        assert text in (str(value), SUPPRESSED, COMPLEMENTARY), (entries_cells, text)
        assert (text == SUPPRESSED) == (1 <= value < THRESHOLD), (entries_cells, text, value)
        if text == COMPLEMENTARY:
            assert value >= THRESHOLD  # never a hidden zero: see the module's docstring


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_no_small_count_of_a_hand_made_table_can_be_recovered(name):
    counts = table(name, HAND_MADE[name])
    published = suppress(counts)
    assert_truthful(published)
    assert published.primary  # each of them has something to protect
    assert recoverable(entries_of(published), truth_of(counts)) == []


def test_no_small_count_of_a_random_sparse_table_can_be_recovered():
    rng = random.Random(19)
    protected = 0
    for n in range(300):
        counts = random_table(rng, f"random {n}")
        published = suppress(counts)
        assert_truthful(published)
        assert recoverable(entries_of(published), truth_of(counts)) == [], counts
        protected += len(published.primary)
    assert protected > 500  # the tables did have small counts to protect


def consecutive_periods(rng: random.Random, n: int) -> list[CountTable]:
    """Three consecutive periods (communities x months), sharing their rows; months p0m0, p0m1, ..., p2m2."""
    periods = []
    for p in range(3):
        drawn = random_table(rng, f"period {n}.{p}", rows=4, columns=3)
        months = tuple(f"p{p}{column}" for column in drawn.columns)
        cells = {(row, f"p{p}{column}"): count for (row, column), count in drawn.cells.items()}
        periods.append(CountTable(f"period {n}.{p}", drawn.rows, months, cells))
    return periods


def citywide(periods: list[CountTable]) -> tuple[dict[str, int], dict[str, frozenset[Cell]]]:
    """The citywide series by month of some periods, and the true cells each month sums."""
    counts = {m: sum(t.count(r, m) for r in t.rows) for t in periods for m in t.columns}
    cells_of = {m: frozenset((r, m) for r in t.rows) for t in periods for m in t.columns}
    return counts, cells_of


def test_adjacent_periods_sharing_rows_and_the_citywide_series_give_nothing_away():
    """Three consecutive periods and the citywide series by month, attacked together.

    The periods share their rows (the communities); the series repeats the tables' column totals, taken
    from their Published texts (never suppressed again on its own: see the next test).
    """
    rng = random.Random(1919)
    for n in range(60):
        periods = consecutive_periods(rng, n)
        entries: list[Entry] = []
        truth: dict[Cell, int] = {}
        series: dict[str, str] = {}
        for counts in periods:
            published = suppress(counts)
            entries += entries_of(published)
            truth.update(truth_of(counts))
            series.update(published.column_totals)
        _, cells_of = citywide(periods)
        entries += [(cells_of[month], text) for month, text in series.items()]
        assert recoverable(entries, truth) == [], periods


def test_a_series_suppressed_apart_from_the_tables_it_repeats_gives_cells_away():
    """The trap the site must avoid: the same citywide numbers suppressed twice, each way safe alone.

    The series hides other months than the tables' column totals do, and its total adds the three grand
    totals: together they pin cells.
    """
    rng = random.Random(1919)
    pinned = 0
    for n in range(60):
        periods = consecutive_periods(rng, n)
        entries = [entry for counts in periods for entry in entries_of(suppress(counts))]
        truth = {cell: count for counts in periods for cell, count in truth_of(counts).items()}
        counts, cells_of = citywide(periods)
        entries += series_entries(dict(suppress_series(counts)), cells_of)
        pinned += any(finding.startswith("pinned") for finding in recoverable(entries, truth))
    assert pinned > 10


def months_of_weeks(rng: random.Random, n: int) -> tuple[CountTable, dict[str, list[str]], dict[str, int], dict[Cell, int]]:
    """Communities x weeks drawn at random, as the site sees them: a community x month table (months of 4 or 5
    whole weeks) and the citywide series by week; with the true community x week counts."""
    drawn = random_table(rng, f"weekly {n}", rows=rng.randint(2, 5), columns=rng.randint(4, 10))
    week = {column: f"w{j}" for j, column in enumerate(drawn.columns)}
    weekly = CountTable(drawn.name, drawn.rows, tuple(week.values()), {(r, week[c]): v for (r, c), v in drawn.cells.items()})
    weeks = list(weekly.columns)
    periods_of: dict[str, list[str]] = {}
    while weeks:
        size = min(len(weeks), rng.choice([1, 2, 4, 5]))  # short months at the range's ends
        periods_of[f"month{len(periods_of)}"] = [weeks.pop(0) for _ in range(size)]
    cells = {(r, m): sum(weekly.count(r, w) for w in ws) for r in weekly.rows for m, ws in periods_of.items()}
    monthly = CountTable(f"monthly {n}", weekly.rows, tuple(periods_of), {k: v for k, v in cells.items() if v})
    series = {w: sum(weekly.count(r, w) for r in weekly.rows) for w in weekly.columns}
    return monthly, periods_of, series, truth_of(weekly)


def month_and_week_attack(monthly: CountTable, periods_of, series, texts) -> tuple[list[Entry], list[Relation], dict]:
    """What a reader has of a table by month and a series by week: both publications, and that each month's
    citywide count is the sum of its weeks (true without being published)."""
    entries = entries_of(texts[0]) + [(frozenset({("city", w)}), t) for w, t in texts[1].items() if w != TOTAL]
    entries.append((frozenset(("city", w) for w in series), texts[1][TOTAL]))
    relations = [(frozenset((r, m) for r in monthly.rows), frozenset(("city", w) for w in ws)) for m, ws in periods_of.items()]
    truth = truth_of(monthly) | {("city", w): n for w, n in series.items()}
    return entries, relations, truth


def test_a_table_by_month_and_a_series_by_week_suppressed_together_give_nothing_away():
    """The site's shape: months of whole weeks, so a month's citywide count is the sum of its weeks."""
    rng = random.Random(4)
    protected = 0
    for n in range(120):
        monthly, periods_of, series, _ = months_of_weeks(rng, n)
        published, texts = suppress_with_series(monthly, periods_of, series)
        assert_truthful(published)
        assert all(texts[w] == SUPPRESSED for w, c in series.items() if 1 <= c < THRESHOLD)
        assert texts[TOTAL] == published.total
        entries, relations, truth = month_and_week_attack(monthly, periods_of, series, (published, texts))
        assert recoverable(entries, truth, relations) == [], (monthly, series)
        protected += sum(t == SUPPRESSED for t in texts.values()) + len(published.primary)
    assert protected > 200


def test_a_table_by_month_and_a_series_by_week_suppressed_apart_give_cells_away():
    """The trap ``suppress_with_series`` avoids: each publication safe alone, the two together not."""
    rng = random.Random(4)
    pinned = 0
    for n in range(120):
        monthly, periods_of, series, _ = months_of_weeks(rng, n)
        entries, relations, truth = month_and_week_attack(monthly, periods_of, series, (suppress(monthly), suppress_series(series)))
        pinned += any(f.startswith("pinned") for f in recoverable(entries, truth, relations))
    assert pinned > 5


def test_a_series_must_add_up_to_the_table_it_splits():
    monthly = table("m", [[3, 9]])
    with pytest.raises(ValueError):
        suppress_with_series(monthly, {"m0": ["w1"], "m1": ["w2"]}, {"w1": 3, "w2": 8})
    with pytest.raises(ValueError):
        suppress_with_series(monthly, {"m0": ["w1"], "m1": ["w2"]}, {"w1": 3, "w2": 9, "w3": 0})


def test_a_series_and_its_total_give_nothing_away():
    rng = random.Random(7)
    for _ in range(100):
        weeks = {f"2026-W{w:02d}": rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 14]) for w in range(1, rng.randint(2, 12))}
        texts = dict(suppress_series(weeks))
        assert list(texts) == [*weeks, TOTAL]
        cells_of = {week: frozenset({("city", week)}) for week in weeks}
        assert recoverable(series_entries(texts, cells_of), {("city", w): n for w, n in weeks.items()}) == [], weeks
        for week, count in weeks.items():
            assert texts[week] in ((SUPPRESSED,) if 1 <= count < THRESHOLD else (str(count), COMPLEMENTARY))


def test_a_table_without_small_counts_is_published_whole():
    counts = table("large", [[0, 12, 5], [30, 0, 7], [9, 9, 0]])
    published = suppress(counts)
    assert published.cells == {key: str(counts.count(*key)) for key in published.cells}
    assert published.row_totals == {"r0": "17", "r1": "37", "r2": "18"}
    assert published.column_totals == {"m0": "39", "m1": "21", "m2": "12"}
    assert published.total == "72"
    assert published.primary == published.complementary == frozenset()


def test_zero_is_shown_and_never_hidden():
    published = suppress(table("zeros", [[0, 0, 2, 0], [6, 7, 0, 0]]))
    assert [published.cells[("r0", c)] for c in ("m0", "m1", "m3")] == ["0", "0", "0"]
    assert all(published.table.count(*key) > 0 for key in published.complementary if TOTAL not in key)


def test_the_same_data_always_publishes_the_same_way():
    rng = random.Random(3)
    for n in range(50):
        counts = random_table(rng, f"random {n}")
        shuffled = list(counts.cells.items())
        rng.shuffle(shuffled)
        again = CountTable(counts.name, counts.rows, counts.columns, dict(shuffled))
        assert suppress(again) == suppress(counts)


def test_complementary_cells_are_the_smallest_first():
    # row r0 has a 3: its partner is the 6 (the smallest other count), not the 8 or the 40
    published = suppress(table("smallest", [[3, 8, 6, 40], [20, 21, 22, 23], [30, 31, 32, 33]]))
    assert published.cells[("r0", "m0")] == SUPPRESSED
    assert published.cells[("r0", "m2")] == COMPLEMENTARY
    assert published.cells[("r0", "m1")] == "8"


def primary_only(counts: CountTable) -> Published:
    """The naive publication: every count from 1 to 4 as "<5", nothing else hidden."""

    def shown(value: int) -> str:
        return SUPPRESSED if 1 <= value < THRESHOLD else str(value)

    return Published(
        table=counts,
        cells={key: shown(value) for key, value in truth_of(counts).items()},
        row_totals={r: shown(sum(counts.count(r, c) for c in counts.columns)) for r in counts.rows},
        column_totals={c: shown(sum(counts.count(r, c) for r in counts.rows)) for c in counts.columns},
        total=shown(sum(counts.cells.values())),
        primary=frozenset(),
        complementary=frozenset(),
    )


def test_the_attack_recovers_cells_from_primary_only_suppression():
    """The attacker is not toothless: with only the "<5" hidden, the tables designed for it give a cell away.

    (A table whose every count is small, "a small cell alone" or "a small grand total", hides all but its
    zeros already.)
    """
    for name, grid in HAND_MADE.items():
        if name not in ("a small cell alone in the table", "a small grand total"):
            counts = table(name, grid)
            assert any(finding.startswith("pinned") for finding in recoverable(entries_of(primary_only(counts)), truth_of(counts))), name


def test_the_attack_recovers_cells_when_each_line_only_has_two_hidden():
    """Two hidden entries per row and column are not enough (they need to lie on a cycle): the attacker finds one."""
    rng = random.Random(19)
    found = 0
    for n in range(300):
        counts = random_table(rng, f"random {n}")
        network = _Network.of(_table_edges(counts), THRESHOLD)
        _close_nodes(network)  # the rule of two per row and column, without the search for a witness
        if recoverable(entries_of(_published(counts, network)), truth_of(counts)):
            found += 1
            break  # one is enough to show it
    assert found > 0


def test_share_and_median_only_over_five():
    assert share_or_none(3, 4) is None
    assert share_or_none(3, 5) == 0.6
    assert share_or_none(0, 5) == 0.0
    with pytest.raises(ValueError):
        share_or_none(6, 5)
    assert median_or_none([1.0, 2.0, 3.0, 4.0]) is None
    assert median_or_none([5.0, 1.0, 3.0, 2.0, 4.0]) == 3.0
    assert median_or_none([1, 2, 3, 4, 5, 6]) == 3.5


def test_a_table_refuses_a_row_named_like_the_totals_and_a_negative_count():
    with pytest.raises(ValueError):
        CountTable("bad", ("a", TOTAL), ("m",), {})
    with pytest.raises(ValueError):
        CountTable("bad", ("a",), ("m",), {("a", "m"): -1})
    with pytest.raises(ValueError):
        CountTable("bad", ("a",), ("m",), {("b", "m"): 1})
