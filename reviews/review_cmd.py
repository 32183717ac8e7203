"""`vigil review --date D [--now T]`: a day's activations as a table in the terminal, and a CSV.

The same rows as the web export (reviews.model.csv_rows: the incident number, who answered, minutes to answer and
the count of notes included), read from the review store, as they stand at ``now`` (the command's caller reads the
clock: a deadline after it is "awaiting"). A drill's rows say DRILL before the kind.

Beside it, a second CSV of the day's follow-up tasks (completion by team and kind, referrals by service), the same rows
as the web's tasks CSV (reviews.tasks.task_csv_rows): counts over the day, not one row per team told, so not in the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path

from reviews.model import CSV_COLUMNS, RESPONSE_LABEL, ActivationReview, csv_rows, csv_text, day_bounds, real, reviews_of
from reviews.store import ReviewStore
from reviews.tasks import summarise_activation_tasks, task_csv_rows

TABLE_COLUMNS = (("time", 8), ("activation", 24), ("incident", 14), ("kind", 15), ("neighborhood", 20), ("team", 20), ("step", 10),
                 ("delivery", 9), ("answered", 30), ("by", 22), ("escalated", 9), ("outcome", 15), ("notes", 5), ("flags", 40))


def day_reviews(store: ReviewStore, day: date, zone: tzinfo, now: datetime) -> list[ActivationReview]:
    """The activations opened on a local calendar day as they stand at ``now``, oldest first."""
    ids = store.activations_opened(*day_bounds(day, zone))
    return reviews_of(store.records_for(ids), zone, now=now)


def day_rows(store: ReviewStore, day: date, zone: tzinfo, now: datetime) -> list[dict[str, str]]:
    """The day's rows at ``now``: one per (activation, team), with the outcomes recorded at review."""
    reviews = day_reviews(store, day, zone, now)
    current = store.outcomes([r.id for r in reviews])
    notes = store.note_counts(r.id for r in reviews)
    return csv_rows(reviews, zone, {key: (row.outcome, row.reason) for key, row in current.items()}, notes)


def day_task_rows(store: ReviewStore, day: date, zone: tzinfo, now: datetime) -> list[dict[str, str]]:
    """The day's follow-up tasks at ``now`` as the tasks CSV has them (drills left out, as the summary leaves them)."""
    records = store.records_for(r.id for r in real(day_reviews(store, day, zone, now)))
    return task_csv_rows(summarise_activation_tasks(records, now), day.isoformat(), day.isoformat())


def tasks_path(path: Path) -> Path:
    """Where the tasks CSV goes beside the day's CSV: review-2026-07-04.csv → review-2026-07-04-tasks.csv."""
    return path.with_name(f"{path.stem}-tasks{path.suffix}")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _hhmm(stamp: str, pattern: str = "%H:%M:%S") -> str:
    return datetime.fromisoformat(stamp).strftime(pattern) if stamp else ""


def answered_cell(row: dict[str, str]) -> str:
    """The answered column: the first answer and how it stands against the deadline, as the CSV says it
    (a "can't respond" is named so, not "unable" (an outcome) and not "late"; a deadline still running
    is "awaiting")."""
    state = row["acked_in_time"]
    if state == "awaiting":
        return f"awaiting (deadline {_hhmm(row['ack_deadline'], '%H:%M')})"
    response = RESPONSE_LABEL["unable"] if row["response"] == "unable" else row["response"]
    answered = f"{_hhmm(row['answered'])} {response}".strip()
    if state in ("", "can't respond"):
        return answered
    if not answered:
        return "no answer"
    return f"{answered} ({'in time' if state == 'yes' else 'late'})"


def table(rows: Sequence[dict[str, str]]) -> str:
    """The rows as a fixed-width table for a terminal."""
    lines = ["  ".join(name.ljust(width) for name, width in TABLE_COLUMNS)]
    for row in rows:
        cells = {
            "time": _hhmm(row["opened"]), "activation": row["activation"], "incident": row["incident"],
            "kind": ("DRILL " if row["drill"] else "") + row["kind"], "neighborhood": row["neighborhood"],
            "team": row["team"], "step": row["step"], "delivery": row["delivery"], "answered": answered_cell(row), "by": row["answered_by"],
            "escalated": _hhmm(row["escalated"]), "outcome": row["outcome"], "notes": row["notes"], "flags": row["flags"],
        }
        lines.append("  ".join(_clip(cells[name], width).ljust(width) for name, width in TABLE_COLUMNS).rstrip())
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, str]], path: Path, columns: Sequence[str] = CSV_COLUMNS) -> None:
    """Write the rows to a CSV file, as the web export writes them (formula-like cells defused)."""
    path.write_text(csv_text(rows, columns), encoding="utf-8", newline="")
