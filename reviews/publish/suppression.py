"""STAND-IN (primary suppression only) for the suppression module another helper writes: the same names and
signatures, so the site can be built and tested against it. A count from 1 to 4 is published as "<5"; there is
no complementary suppression here (no "x"), so a total can give a suppressed cell away. Replace with the real module."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

SMALL = "<5"


@dataclass(frozen=True)
class CountTable:
    """Counts by row and column (a missing cell is 0)."""

    name: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class Published:
    """A table as published: every cell, total and the grand total as text."""

    table: CountTable
    cells: Mapping[tuple[str, str], str]
    row_totals: Mapping[str, str]
    column_totals: Mapping[str, str]
    total: str
    primary: frozenset[tuple[str, str]]
    complementary: frozenset[tuple[str, str]]


def _shown(count: int, threshold: int) -> str:
    return SMALL if 0 < count < threshold else str(count)


def suppress(table: CountTable, threshold: int = 5) -> Published:
    """The table with every count from 1 to threshold-1 shown as "<5" (primary suppression only)."""
    cells = {(r, c): table.cells.get((r, c), 0) for r in table.rows for c in table.columns}
    rows = {r: sum(cells[r, c] for c in table.columns) for r in table.rows}
    columns = {c: sum(cells[r, c] for r in table.rows) for c in table.columns}
    return Published(table, {k: _shown(v, threshold) for k, v in cells.items()}, {k: _shown(v, threshold) for k, v in rows.items()},
                     {k: _shown(v, threshold) for k, v in columns.items()}, _shown(sum(cells.values()), threshold),
                     frozenset(k for k, v in cells.items() if 0 < v < threshold), frozenset())


def suppress_series(counts: Mapping[str, int], threshold: int = 5) -> Mapping[str, str]:
    """One row of periods, with its "total", each count from 1 to threshold-1 shown as "<5"."""
    shown = {k: _shown(v, threshold) for k, v in counts.items()}
    shown["total"] = _shown(sum(counts.values()), threshold)
    return shown


def share_or_none(numerator: int, denominator: int, threshold: int = 5) -> float | None:
    """numerator/denominator, or None when the denominator is under the threshold."""
    return None if denominator < threshold else numerator / denominator


def median_or_none(values, threshold: int = 5) -> float | None:
    """The median of the values, or None when there are fewer than the threshold."""
    values = list(values)
    return None if len(values) < threshold else statistics.median(values)
