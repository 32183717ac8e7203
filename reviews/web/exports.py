"""The review's CSV exports, for signed-in staff only: a day (``/export/{day}.csv``) or a date range
(``/export.csv?from=&to=``), one row per (activation, team) with the columns of
``reviews.model.CSV_COLUMNS`` (the CAD incident number, the first answer and who gave it, minutes to answer, the
activation's count of notes among them); a provider lead's leave out other teams' activations.

The follow-up tasks of a date range (``/export/tasks.csv?from=&to=``) are a second CSV, not rows of the first: they
are counts over the range (completion by team and kind, referrals by service, the summary page's numbers from
``reviews.web.review.task_summary``), not one row per (activation, team), so a spreadsheet of either keeps one shape."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reviews.model import csv_rows, csv_text
from reviews.tasks import TASK_CSV_COLUMNS, task_csv_rows
from reviews.web.deps import SignedIn, Viewer, Web, WebContext, audit, in_review_store
from reviews.web.review import parse_day, parse_range, task_summary, visible_activations

router = APIRouter()


async def csv_export(web: WebContext, who: Viewer, first: date, last: date, name: str, target: str) -> Response:
    """The rows of the activations ``who`` may see from ``first`` to ``last``, as a CSV attachment named
    ``name``; audited with ``target`` and the row count."""
    reviews = await in_review_store(visible_activations, web, who.user, first, last)
    current = await in_review_store(web.store.outcomes, [r.id for r in reviews])
    notes = await in_review_store(web.store.note_counts, [r.id for r in reviews])
    rows = csv_rows(reviews, web.zone, {key: (row.outcome, row.reason) for key, row in current.items()}, notes)
    await audit(web, who.user.username, "export_csv", target, f"{len(rows)} rows")
    return Response(csv_text(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# before /export/{day}.csv, which would take "tasks" for a day
@router.get("/export/tasks.csv")
async def export_tasks(request: Request, who: SignedIn, web: Web) -> Response:
    """A date range's follow-up tasks (the last 7 days by default), as the summary page counts them."""
    first, last = parse_range(request.query_params.get("from"), request.query_params.get("to"), web.today())
    reviews = await in_review_store(visible_activations, web, who.user, first, last)
    rows = task_csv_rows(await task_summary(web, reviews), first.isoformat(), last.isoformat())
    await audit(web, who.user.username, "export_tasks_csv", f"{first}..{last}", f"{len(rows)} rows")
    return Response(csv_text(rows, TASK_CSV_COLUMNS), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="vigil-tasks-{first}_to_{last}.csv"'})


@router.get("/export/{day}.csv")
async def export_day(day: str, who: SignedIn, web: Web) -> Response:
    """A day's rows."""
    when = parse_day(day)
    return await csv_export(web, who, when, when, f"vigil-review-{when}.csv", when.isoformat())


@router.get("/export.csv")
async def export_range(request: Request, who: SignedIn, web: Web) -> Response:
    """A date range's rows (the last 7 days by default, at most 366)."""
    first, last = parse_range(request.query_params.get("from"), request.query_params.get("to"), web.today())
    return await csv_export(web, who, first, last, f"vigil-review-{first}_to_{last}.csv", f"{first}..{last}")
