"""`vigil review --date D`: a day's activations as a table in the terminal, and a CSV.

The same rows as the web export (reviews.model.csv_rows), read from the review store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path

from reviews.model import ActivationReview, csv_rows, csv_text, day_bounds, reviews_of
from reviews.store import ReviewStore

TABLE_COLUMNS = (("time", 8), ("activation", 24), ("kind", 15), ("neighborhood", 20), ("team", 20), ("step", 10), ("delivery", 9),
                 ("answered", 30), ("escalated", 9), ("outcome", 15), ("flags", 40))


def day_reviews(store: ReviewStore, day: date, zone: tzinfo) -> list[ActivationReview]:
    """The activations opened on a local calendar day, oldest first."""
    ids = store.activations_opened(*day_bounds(day, zone))
    return reviews_of(store.records_for(ids), zone)


def day_rows(store: ReviewStore, day: date, zone: tzinfo) -> list[dict[str, str]]:
    """The day's rows: one per (activation, team), with the outcomes recorded at review."""
    reviews = day_reviews(store, day, zone)
    current = store.outcomes([r.id for r in reviews])
    return csv_rows(reviews, zone, {key: (row.outcome, row.reason) for key, row in current.items()})


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[dict[str, str]]) -> str:
    """The rows as a fixed-width table for a terminal."""

    def hhmm(stamp: str) -> str:
        return datetime.fromisoformat(stamp).strftime("%H:%M:%S") if stamp else ""

    lines = ["  ".join(name.ljust(width) for name, width in TABLE_COLUMNS)]
    for row in rows:
        answered = f"{hhmm(row['answered'])} {row['response']}".strip() if row["answered"] or row["response"] else ""
        if row["acked_in_time"]:
            answered = f"{answered} ({'in time' if row['acked_in_time'] == 'yes' else 'late'})" if answered else "no answer"
        cells = {
            "time": hhmm(row["opened"]), "activation": row["activation"], "kind": row["kind"], "neighborhood": row["neighborhood"],
            "team": row["team"], "step": row["step"], "delivery": row["delivery"], "answered": answered,
            "escalated": hhmm(row["escalated"]), "outcome": row["outcome"], "flags": row["flags"],
        }
        lines.append("  ".join(_clip(cells[name], width).ljust(width) for name, width in TABLE_COLUMNS).rstrip())
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, str]], path: Path) -> None:
    """Write the rows to a CSV file, as the web export writes them (formula-like cells defused)."""
    path.write_text(csv_text(rows), encoding="utf-8", newline="")
