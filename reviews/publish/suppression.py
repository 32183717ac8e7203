"""Small-count suppression for the public site (issue 19): what may be shown of a table of counts.

A count from 1 to 4 is published as ``<5`` (primary suppression). That alone is not enough: a hidden
cell can be recovered by subtracting the visible cells of its row from the row total, and two hidden
cells in one row whose column totals are known can be recovered one after the other (the hidden cells
form a path, no cycle, and the linear system of the published numbers has a unique solution). So more
cells are hidden, as ``x`` (complementary suppression), until every ``<5`` has a *witness*: a different
table that publishes the very same numbers and in which that ``<5`` has another value.

How the witness is found. Every published number of a table is an edge of a flow network: a row
total flows from a source into its row, each cell from its row into its column, each column total from
its column into a sink, and the grand total from the sink back to the source; at every node what flows
in flows out. Adding ``d`` along a cycle of hidden edges (``+d`` walked along an edge, ``-d`` against
it) keeps every node balanced, so every visible number is unchanged; the other table is published the
same way if each hidden entry stays in the range a reader knows it is in: 1 to 4 for ``<5``, 5 or more
for ``x``. A breadth-first search finds such a cycle through each ``<5``; when none exists, one more
entry is hidden and the search runs again. The hidden set only grows, so a witness once found stays
valid and the loop ends (at worst everything but the zeros is hidden). The network's matrix is totally
unimodular, so if any second table exists a cycle moving each entry by 1 does: the search is complete.

A series whose periods split the table's columns (weeks in months of whole weeks) is the same network
with each column total flowing on into its periods (``suppress_with_series``): the two are suppressed
together, because suppressed apart they hide different entries of the same sums and give cells away.

Totals are hidden by the same rules as cells, as they are edges of the same network: a total from 1 to
4 is ``<5``; a total may be chosen as ``x`` when it is the smallest entry left to hide at its node (its
row, or the row of totals).
Totals appear in ``Published.primary`` and ``Published.complementary`` under the key ``(row, TOTAL)``
for a row total, ``(TOTAL, column)`` for a column total, and ``(TOTAL, TOTAL)`` for the grand total.

Zero is shown as ``0`` and never hidden. Showing it is safe: a zero says that nothing happened, and
names no one; it does shrink what a reader must guess, and the attack test counts every visible zero
as known. Hiding a zero would protect nothing anyway: a reader knows an ``x`` is 5 or more (counts
from 1 to 4 are ``<5``), so a hidden zero could only be 0 or jump by 5 or more, and it would blank
most of a sparse table.

Pure: no I/O, standard library only. The same data always publishes the same way: complementary
entries are chosen smallest count first, ties in row then column order (totals last). A reader who
knows that rule learns that an ``x`` is no larger than the visible counts beside it, which the witness
does not account for (docs/publish.md says so).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SUPPRESSED = "<5"
COMPLEMENTARY = "x"
# every entry of a measure, zeros and totals included, when no choice of hidden entries protects its "<5": so few
# that the zeros and the "<5" lower bounds alone pin them (4 activations in a whole range: every "<5" is 1, and the
# sums show which). Nothing of the measure is published then.
WITHHELD = "—"
THRESHOLD = 5
# the key of a total in Published.primary / .complementary, and of the total in suppress_series' answer
TOTAL = "total"
SERIES = "\x00series"  # the row of a series' entries in the network (no table row can be named so: see CountTable)

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
            if TOTAL in names or SERIES in names:
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


# An entry's place in the network: (tail node, head node). Nodes are plain tuples.
Node = tuple[str, ...]
SOURCE, SINK = ("all", "out"), ("all", "in")


@dataclass
class _Network:
    """Everything published of one measure as a flow network: each number is an edge, and at every node what
    flows in is what flows out (a row: its total in, its cells out; a column: its cells in, its total out; the
    grand total closes the loop). A move that keeps every node balanced keeps every published number."""

    values: dict[Key, int]
    ends: dict[Key, tuple[Node, Node]]  # tail, head
    order: dict[Key, tuple[int, int]]  # the tie-break: row index, column index (totals last)
    primary: frozenset[Key]
    hidden: set[Key]
    threshold: int
    touching: dict[Node, list[Key]]  # the edges at each node, in order
    withheld: bool = False  # no protection was found: nothing of the measure is published (WITHHELD)

    @classmethod
    def of(cls, edges: list[tuple[Key, int, Node, Node, tuple[int, int]]], threshold: int) -> _Network:
        """A network from its edges: (key, count, tail, head, order)."""
        touching: dict[Node, list[Key]] = {}
        for key, _, tail, head, _ in edges:
            touching.setdefault(tail, []).append(key)
            touching.setdefault(head, []).append(key)
        primary = frozenset(key for key, value, *_ in edges if 1 <= value < threshold)
        return cls(
            values={key: value for key, value, *_ in edges},
            ends={key: (tail, head) for key, _, tail, head, _ in edges},
            order={key: order for key, *_, order in edges},
            primary=primary,
            hidden=set(primary),
            threshold=threshold,
            touching=touching,
        )

    def allows(self, key: Key, step: int) -> bool:
        """Whether the entry may move by ``step`` and still publish the same text ("<5": 1 to 4; "x": 5 or more)."""
        value = self.values[key] + step
        if key in self.primary:
            return 1 <= value < self.threshold
        return value >= self.threshold

    def smallest(self, keys: list[Key]) -> Key | None:
        """The entry to hide next among ``keys``: visible, not zero, smallest count, then first in order."""
        candidates = [key for key in keys if key not in self.hidden and self.values[key] > 0]
        return min(candidates, key=lambda key: (self.values[key], self.order[key]), default=None)


def _table_edges(table: CountTable) -> list[tuple[Key, int, Node, Node, tuple[int, int]]]:
    """A table as edges: row total (source -> row), cell (row -> column), column total (column -> sink), grand
    total (sink -> source)."""
    last_row, last_column = len(table.rows), len(table.columns)
    edges = []
    for i, row in enumerate(table.rows):
        cells = [table.count(row, column) for column in table.columns]
        edges.append(((row, TOTAL), sum(cells), SOURCE, ("row", row), (i, last_column)))
        for j, (column, count) in enumerate(zip(table.columns, cells, strict=True)):
            edges.append(((row, column), count, ("row", row), ("column", column), (i, j)))
    for j, column in enumerate(table.columns):
        count = sum(table.count(row, column) for row in table.rows)
        edges.append(((TOTAL, column), count, ("column", column), SINK, (last_row, j)))
    grand = sum(table.count(row, column) for row in table.rows for column in table.columns)
    edges.append(((TOTAL, TOTAL), grand, SINK, SOURCE, (last_row, last_column)))
    return edges


def _close_nodes(network: _Network) -> None:
    """Hide entries until no node has exactly one hidden entry (it would be the difference of the others)."""
    changed = True
    while changed:  # hiding an entry can leave another node with one hidden entry: go round until stable
        changed = False
        for keys in network.touching.values():
            if sum(key in network.hidden for key in keys) == 1:
                # never None: the hidden entry is not zero, so its node has another entry that is not zero
                chosen = network.smallest(keys)
                assert chosen is not None
                network.hidden.add(chosen)
                changed = True


def _has_witness(network: _Network, target: Key) -> bool:
    """Whether a cycle of hidden entries through ``target`` lets it move while every published number stays.

    The target moves by ``step`` along its direction; the cycle is then a path from its head back to its
    tail, each entry on it moving by ``+step`` when walked along its direction and ``-step`` against it.
    A shortest path repeats no node, so every entry on the cycle moves once and every node stays balanced.
    """
    tail, head = network.ends[target]
    for step in (1, -1, 2, -2):
        if not network.allows(target, step):
            continue
        seen = {head}
        queue = deque([head])
        while queue:
            node = queue.popleft()
            if node == tail:
                return True
            for key in network.touching[node]:
                if key == target or key not in network.hidden:
                    continue
                key_tail, key_head = network.ends[key]
                along = key_tail == node
                if network.allows(key, step if along else -step):
                    other = key_head if along else key_tail
                    if other not in seen:
                        seen.add(other)
                        queue.append(other)
    return False


def _settle(network: _Network) -> None:
    """Hide entries until every node has no lone hidden entry and every primary entry has a witness.

    When a primary entry has no witness, the smallest visible entry at its two nodes (else anywhere) is
    hidden and both rules run again. The hidden set only grows, so a witness once found stays valid, and
    the loop ends (at worst with everything but the zeros hidden).
    """
    unprotected = sorted(network.primary, key=network.order.__getitem__)
    while True:
        _close_nodes(network)
        unprotected = [key for key in unprotected if not _has_witness(network, key)]
        if not unprotected:
            return
        tail, head = network.ends[unprotected[0]]
        chosen = network.smallest(network.touching[tail] + network.touching[head]) or network.smallest(list(network.values))
        if chosen is None:  # everything that is not zero is hidden already: publish nothing of it
            network.withheld = True
            return
        network.hidden.add(chosen)


def _text(network: _Network, key: Key) -> str:
    """What is published of one entry."""
    if network.withheld:
        return WITHHELD
    if key not in network.hidden:
        return str(network.values[key])
    return SUPPRESSED if key in network.primary else COMPLEMENTARY


def _published(table: CountTable, network: _Network) -> Published:
    """The texts of a table whose hidden entries are settled."""
    table_keys = {key for key in network.values if key[0] != SERIES}
    return Published(
        table=table,
        cells={(row, column): _text(network, (row, column)) for row in table.rows for column in table.columns},
        row_totals={row: _text(network, (row, TOTAL)) for row in table.rows},
        column_totals={column: _text(network, (TOTAL, column)) for column in table.columns},
        total=_text(network, (TOTAL, TOTAL)),
        primary=frozenset(network.hidden & network.primary & table_keys),
        complementary=frozenset((network.hidden - network.primary) & table_keys),
    )


def suppress(table: CountTable, threshold: int = THRESHOLD) -> Published:
    """Publish a table: counts 1 to ``threshold - 1`` as ``<5``, and enough ``x`` that none can be recovered.

    Every row and column (totals included) with a hidden entry gets at least two, and every ``<5`` gets a
    witness cycle (see the module's docstring).
    """
    network = _Network.of(_table_edges(table), threshold)
    _settle(network)
    return _published(table, network)


def suppress_series(counts: Mapping[str, int], threshold: int = THRESHOLD) -> Mapping[str, str]:
    """Publish one row of periods (e.g. citywide by week) and its total: the rule of ``suppress`` for a 1-row table.

    The answer maps each period to its text, in the order given, and ``TOTAL`` to the total's text. When the
    periods also add up to the columns of a published table, use ``suppress_with_series``.
    """
    if TOTAL in counts or any(not isinstance(n, int) or n < 0 for n in counts.values()):
        raise ValueError(f"a series needs counts, and no period named {TOTAL!r}: {dict(counts)!r}")
    total = sum(counts.values())
    edges = [((SERIES, period), counts[period], SINK, SOURCE, (0, j)) for j, period in enumerate(counts)]
    edges.append(((SERIES, TOTAL), total, SOURCE, SINK, (0, len(counts))))
    network = _Network.of(edges, threshold)
    _settle(network)
    return {period: _text(network, (SERIES, period)) for period in [*counts, TOTAL]}


def suppress_with_series(
    table: CountTable, periods_of: Mapping[str, Sequence[str]], series: Mapping[str, int], threshold: int = THRESHOLD
) -> tuple[Published, Mapping[str, str]]:
    """Publish a table and a series whose periods split its columns (months of whole weeks, and weeks), together.

    ``periods_of[column]``: the series' periods that make up that column; each column total must be the
    sum of its periods, and the series' total is the table's grand total. Suppressed apart, the two would
    hide different entries of the same sums and give cells away; here they are one network: each column
    total flows on into its periods.
    """
    edges = [edge for edge in _table_edges(table) if edge[0][0] != TOTAL or edge[0][1] == TOTAL]
    row, place = len(table.rows), {period: k for k, period in enumerate(series)}
    for j, column in enumerate(table.columns):
        parts = periods_of.get(column, ())
        if sum(series[p] for p in parts) != sum(table.count(r, column) for r in table.rows):
            raise ValueError(f"{table.name}: column {column!r} is not the sum of its periods {list(parts)!r}")
        edges.append(((TOTAL, column), sum(series[p] for p in parts), ("column", column), ("periods", column), (row, j)))
        edges += [((SERIES, p), series[p], ("periods", column), SINK, (row + 1, place[p])) for p in parts]
    if sorted(p for parts in periods_of.values() for p in parts) != sorted(series):
        raise ValueError(f"{table.name}: the series' periods do not split the table's columns")
    network = _Network.of(edges, threshold)
    _settle(network)
    texts = {period: _text(network, (SERIES, period)) for period in series}
    texts[TOTAL] = _text(network, (TOTAL, TOTAL))
    return _published(table, network), texts


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
