"""Small-count suppression for the public site (issue 19): what may be shown of a table of counts.

A count from 1 to 4 is published as ``<5`` (primary suppression). That alone is not enough: a hidden
cell can be recovered by subtracting the visible cells of its row from the row total, and two hidden
cells in one row whose column totals are known can be recovered one after the other (the hidden cells
form a path, no cycle, and the linear system of the published numbers has a unique solution). So more
cells are hidden, as ``x`` (complementary suppression), until every ``<5`` has a *witness*: a different
table that publishes the very same numbers and in which that ``<5`` has another value.

How the witness is found. Think of the table with its totals as one (rows + 1) x (columns + 1) grid,
the row totals as a last column, the column totals as a last row, the grand total in the corner. Flip
the sign of the row and column totals (not of the grand total) and every line of the grid sums to
zero. Adding ``+d`` and ``-d`` alternately around a cycle of hidden entries (row, column, row, ...)
then keeps every line balanced, so every visible number is unchanged; the other table is published the
same way if each hidden entry stays in the range a reader knows it is in: 1 to 4 for ``<5``, 5 or more
for ``x``. A breadth-first search finds such a cycle through each ``<5``; when none exists, one more
entry is hidden and the search runs again. The hidden set only grows, so a witness once found stays
valid and the loop ends (at worst everything but the zeros is hidden).

Totals are hidden by the same rules as cells, as they are entries of the same grid: a total from 1 to
4 is ``<5``; a total may be chosen as ``x`` when it is the smallest entry left to hide in its line.
Totals appear in ``Published.primary`` and ``Published.complementary`` under the key ``(row, TOTAL)``
for a row total, ``(TOTAL, column)`` for a column total, and ``(TOTAL, TOTAL)`` for the grand total.

Zero is shown as ``0`` and never hidden. Showing it is safe: a zero says that nothing happened, and
names no one; it does shrink what a reader must guess, and the attack test counts every visible zero
as known. Hiding a zero would protect nothing anyway: a reader knows an ``x`` is 5 or more (counts
from 1 to 4 are ``<5``), so a hidden zero could only be 0 or jump by 5 or more, and it would blank
most of a sparse table.

Pure: no I/O, standard library only. The same data always publishes the same way: complementary
entries are chosen smallest count first, ties in row then column order (totals last).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SUPPRESSED = "<5"
COMPLEMENTARY = "x"
THRESHOLD = 5
# the key of a total in Published.primary / .complementary, and of the total in suppress_series' answer
TOTAL = "total"

Key = tuple[str, str]


@dataclass(frozen=True)
class CountTable:
    """Counts by row and column (e.g. community x month) of one measure, e.g. "activations_count"."""

    name: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: Mapping[tuple[str, str], int]  # (row, column) -> count; a missing cell is 0

    def __post_init__(self) -> None:
        """Refuse a table whose totals could not be keyed or whose counts are not counts."""
        for names, what in ((self.rows, "row"), (self.columns, "column")):
            if len(set(names)) != len(names):
                raise ValueError(f"{self.name}: a {what} is named twice")
            if TOTAL in names:
                raise ValueError(f"{self.name}: no {what} may be named {TOTAL!r} (the key of the totals)")
        row_set, column_set = set(self.rows), set(self.columns)
        for (row, column), count in self.cells.items():
            if row not in row_set or column not in column_set:
                raise ValueError(f"{self.name}: cell {(row, column)!r} is outside the table")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"{self.name}: cell {(row, column)!r} is not a count: {count!r}")

    def count(self, row: str, column: str) -> int:
        """The count of one cell (0 when the cell is missing)."""
        return self.cells.get((row, column), 0)


@dataclass(frozen=True)
class Published:
    """What may be shown of a CountTable: each cell, row total, column total and the grand total, as text."""

    table: CountTable
    cells: Mapping[tuple[str, str], str]  # "0", "17", "<5" or "x"
    row_totals: Mapping[str, str]
    column_totals: Mapping[str, str]
    total: str
    primary: frozenset[tuple[str, str]]  # cells 1-4 (and totals 1-4, keyed with TOTAL)
    complementary: frozenset[tuple[str, str]]  # entries hidden to protect them (totals keyed with TOTAL)


@dataclass
class _Grid:
    """The table with its totals as one grid, and what is hidden of it so far."""

    values: dict[Key, int]
    order: dict[Key, tuple[int, int]]  # row index, column index: the tie-break (totals are last)
    lines: list[list[Key]]  # every row and every column of the grid, totals included
    primary: frozenset[Key]
    hidden: set[Key]
    threshold: int
    row_names: tuple[str, ...]  # the table's rows, then TOTAL
    column_names: tuple[str, ...]  # the table's columns, then TOTAL

    def allows(self, key: Key, step: int) -> bool:
        """Whether the entry may move by ``step`` (in the sign-flipped grid) and still publish the same text."""
        is_total_line = (key[0] == TOTAL) != (key[1] == TOTAL)  # a row or column total, not the grand total
        value = self.values[key] + (-step if is_total_line else step)
        if key in self.primary:
            return 1 <= value < self.threshold
        return value >= self.threshold

    def smallest(self, keys: list[Key]) -> Key | None:
        """The entry to hide next among ``keys``: visible, not zero, smallest count, then first in order."""
        candidates = [key for key in keys if key not in self.hidden and self.values[key] > 0]
        return min(candidates, key=lambda key: (self.values[key], self.order[key]), default=None)


def _grid(table: CountTable, threshold: int) -> _Grid:
    """The grid of a table: its cells, its row and column totals, its grand total."""
    rows, columns = table.rows + (TOTAL,), table.columns + (TOTAL,)
    values: dict[Key, int] = {}
    for row in table.rows:
        for column in table.columns:
            values[(row, column)] = table.count(row, column)
        values[(row, TOTAL)] = sum(table.count(row, column) for column in table.columns)
    for column in table.columns:
        values[(TOTAL, column)] = sum(table.count(row, column) for row in table.rows)
    values[(TOTAL, TOTAL)] = sum(values[(row, TOTAL)] for row in table.rows)
    order = {(row, column): (i, j) for i, row in enumerate(rows) for j, column in enumerate(columns)}
    lines = [[(row, column) for column in columns] for row in rows]
    lines += [[(row, column) for row in rows] for column in columns]
    primary = frozenset(key for key, value in values.items() if 1 <= value < threshold)
    return _Grid(values, order, lines, primary, set(primary), threshold, rows, columns)


def _close_lines(grid: _Grid) -> None:
    """Hide entries until no line of the grid has exactly one hidden entry (it would be its line's difference)."""
    changed = True
    while changed:  # hiding an entry can leave another line with one hidden entry: go round until stable
        changed = False
        for line in grid.lines:
            if sum(key in grid.hidden for key in line) == 1:
                # never None: the hidden entry is not zero, so its line has another entry that is not zero
                chosen = grid.smallest(line)
                assert chosen is not None
                grid.hidden.add(chosen)
                changed = True


def _has_witness(grid: _Grid, target: Key) -> bool:
    """Whether a cycle of hidden entries through ``target`` lets it move while all that is published stays.

    The cycle is searched as a path from the target's column back to its row that alternates entries
    moving by ``-step`` (taken from a column) and ``+step`` (taken from a row); a shortest path repeats
    no line, so the cycle is simple and every entry on it moves once.
    """
    for step in (1, -1, 2, -2):
        if not grid.allows(target, step):
            continue
        start, goal = ("column", target[1]), ("row", target[0])
        seen = {start}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == goal:
                return True
            kind, name = node
            if kind == "column":  # leave a column by an entry moving -step, to that entry's row
                moves = [(("row", row), (row, name), -step) for row in grid.row_names]
            else:  # leave a row by an entry moving +step, to that entry's column
                moves = [(("column", column), (name, column), step) for column in grid.column_names]
            for next_node, key, move in moves:
                if next_node not in seen and key != target and key in grid.hidden and grid.allows(key, move):
                    seen.add(next_node)
                    queue.append(next_node)
    return False


def suppress(table: CountTable, threshold: int = THRESHOLD) -> Published:
    """Publish a table: counts 1 to ``threshold - 1`` as ``<5``, and enough ``x`` that none can be recovered.

    Every line (row or column, totals included) with a hidden entry gets at least two, and every ``<5``
    gets a witness cycle (see the module's docstring); when one has none, the smallest visible entry
    of its row or column (else of the whole grid) is hidden too, and both rules run again until stable.
    """
    grid = _grid(table, threshold)
    unprotected = sorted(grid.primary, key=grid.order.__getitem__)
    while True:
        _close_lines(grid)
        # the hidden set only grows, so an entry with a witness keeps it: check only those still without
        unprotected = [key for key in unprotected if not _has_witness(grid, key)]
        if not unprotected:
            break
        target = unprotected[0]
        row_line = [key for key in grid.values if key[0] == target[0]]
        column_line = [key for key in grid.values if key[1] == target[1]]
        chosen = grid.smallest(row_line + column_line) or grid.smallest(list(grid.values))
        if chosen is None:  # everything that is not zero is hidden already: nothing more can be done
            break
        grid.hidden.add(chosen)
    return _published(table, grid)


def _published(table: CountTable, grid: _Grid) -> Published:
    """The texts of a grid whose hidden entries are settled."""

    def text(key: Key) -> str:
        if key not in grid.hidden:
            return str(grid.values[key])
        return SUPPRESSED if key in grid.primary else COMPLEMENTARY

    return Published(
        table=table,
        cells={(row, column): text((row, column)) for row in table.rows for column in table.columns},
        row_totals={row: text((row, TOTAL)) for row in table.rows},
        column_totals={column: text((TOTAL, column)) for column in table.columns},
        total=text((TOTAL, TOTAL)),
        primary=frozenset(grid.hidden & grid.primary),
        complementary=frozenset(grid.hidden - grid.primary),
    )


def suppress_series(counts: Mapping[str, int], threshold: int = THRESHOLD) -> Mapping[str, str]:
    """Publish one row of periods (e.g. citywide by week) and its total: the rule of ``suppress`` for a 1-row table.

    The answer maps each period to its text, in the order given, and ``TOTAL`` to the total's text.
    """
    row = "series"
    table = CountTable(name="series", rows=(row,), columns=tuple(counts), cells={(row, p): n for p, n in counts.items()})
    published = suppress(table, threshold)
    texts = {period: published.cells[(row, period)] for period in counts}
    texts[TOTAL] = published.row_totals[row]
    return texts


def share_or_none(numerator: int, denominator: int, threshold: int = THRESHOLD) -> float | None:
    """The share ``numerator / denominator``, or None when the denominator is under ``threshold``.

    A share over fewer than 5 would tell of one or two people. Note: a share whose denominator is an
    ``x`` in a published table, with its numerator visible, gives that ``x`` away; publish a share only
    where its denominator is shown.
    """
    if numerator < 0 or numerator > denominator:
        raise ValueError(f"not a share: {numerator} of {denominator}")
    if denominator < threshold:
        return None
    return numerator / denominator


def median_or_none(values: Sequence[float], threshold: int = THRESHOLD) -> float | None:
    """The median of ``values``, or None when there are fewer than ``threshold`` of them.

    The median of fewer than 5 values is nearly one person's value (of 1 or 2, it is exactly theirs).
    """
    if len(values) < threshold:
        return None
    return float(statistics.median(values))
