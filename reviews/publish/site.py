"""The public static site (`vigil publish`, issue 19): HTML, SVG and CSV files written from published figures.

``publish(store, first, last, zone, now, out, communities)`` reads the activations opened in the range (widened to
whole ISO weeks) from the review store, reduces them to figures (reviews.publish.figures: every count suppressed,
medians and shares only over 5 or more) and writes:

- ``index.html``: every figure as an SVG chart, its table and a sentence saying what the chart shows (the chart's
  accessible name, so a screen reader reads the numbers, not the drawing);
- ``methodology.html``: how each figure is computed and what is suppressed;
- ``data-dictionary.html``: every CSV's columns;
- ``csv/<table>.csv``: every table, one row per cell (a count column's name ends in ``_count``);
- ``style.css``: phone-first, no JavaScript.

This module only renders text the figures already published: it never sees a raw count, an id or a name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from html import escape
from pathlib import Path

from reviews.model import day_bounds
from reviews.publish.figures import (
    ALL_COMMUNITIES,
    ALL_PERIODS,
    COUNTS,
    DAYS,
    HOUR_OF_WEEK_MIN_WEEKS,
    HOURS,
    NOT_PLACED,
    NOT_PUBLISHED,
    VALUES,
    Figures,
    activation_facts,
    figures,
    whole_weeks,
)
from reviews.publish.suppression import Published

SMALL, HIDDEN = "<5", "x"
ALL_WEEKS, ALL_MONTHS = "All weeks", "All months"
BAR_ROW, LABEL_WIDTH, CHART_WIDTH = 20, 130, 360


@dataclass(frozen=True)
class Table:
    """One published table: its file name, title, CSV columns and rows (text), the sentence summing it up, and its chart."""

    slug: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    summary: str
    chart: str
    html: str


def number(text: str) -> float | None:
    """A published cell as a number; None for "<5", "x" and "—"."""
    try:
        return float(text)
    except ValueError:
        return None


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def series_summary(title: str, labels: Sequence[str], values: Sequence[str], total: str | None, unit: str = "") -> str:
    """What a bar chart shows, in words: its range, total (a count's; for a median or percent, ``unit`` given, the
    figure over the whole range), highest bar, and how many bars are not shown as numbers."""
    parts = [f"{title}, {_plural(len(labels), 'bar', 'bars')}" + (f", {labels[0]} to {labels[-1]}" if labels else "") + "."]
    if total is not None:
        parts.append(f"{'Over the whole range' if unit else 'Total'}: {total}{unit}.")
    shown = [(number(v), label) for label, v in zip(labels, values, strict=True) if number(v) is not None]
    if shown:
        top, label = max(shown, key=lambda pair: pair[0])  # type: ignore[arg-type, return-value]
        parts.append(f"Highest: {values[labels.index(label)]}{unit} in {label}.")
    small, hidden, missing = values.count(SMALL), values.count(HIDDEN), values.count(NOT_PUBLISHED)
    if small:
        parts.append(f"{_plural(small, 'bar is', 'bars are')} a count from 1 to 4, shown as <5.")
    if hidden:
        parts.append(f"{_plural(hidden, 'bar is', 'bars are')} hidden (x) so that no <5 can be worked out from the totals.")
    if missing:
        parts.append(f"{_plural(missing, 'bar has', 'bars have')} fewer than 5 values: not published (—).")
    return " ".join(parts)


def bar_chart(labels: Sequence[str], values: Sequence[str], summary_id: str) -> str:
    """Horizontal bars (one per label) as SVG; a bar not published as a number is drawn as its text only."""
    numbers = [number(v) for v in values]
    top = max([n for n in numbers if n is not None] or [0]) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 50
    height = BAR_ROW * len(labels) + 4
    parts = [f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-labelledby="{summary_id}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for n, (label, value, amount) in enumerate(zip(labels, values, numbers, strict=True)):
        y = n * BAR_ROW + 2
        width = 0 if amount is None else round(span * amount / top, 1)
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>')
        if width:
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_ROW - 6}" class="bar"/>')
        parts.append(f'<text x="{LABEL_WIDTH + width + 4}" y="{y + 14}">{escape(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heat_chart(values: Mapping[tuple[str, str], str], summary_id: str) -> str:
    """Day × hour of the week as an SVG grid: darker is higher; a cell not published as a number is left pale."""
    numbers = [n for n in (number(v) for v in values.values()) if n is not None]
    top = max(numbers or [0]) or 1
    cell, left, head = 13, 34, 16
    parts = [f'<svg class="chart" viewBox="0 0 {left + 24 * cell + 2} {head + 7 * cell + 2}" role="img" aria-labelledby="{summary_id}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for h in range(0, 24, 3):
        parts.append(f'<text x="{left + h * cell}" y="12" class="small">{HOURS[h]}</text>')
    for d, day in enumerate(DAYS):
        parts.append(f'<text x="{left - 4}" y="{head + d * cell + 10}" text-anchor="end" class="small">{day}</text>')
        for h, hour in enumerate(HOURS):
            amount = number(values[day, hour])
            shade = "none" if amount is None else f"{0.15 + 0.85 * amount / top:.2f}"
            fill = 'class="empty"' if amount is None else f'class="bar" fill-opacity="{shade}"'
            parts.append(f'<rect x="{left + h * cell}" y="{head + d * cell}" width="{cell - 1}" height="{cell - 1}" {fill}/>')
    parts.append("</svg>")
    return "".join(parts)


def html_table(caption: str, head: Sequence[str], rows: Iterable[Sequence[str]], header_column: bool = True) -> str:
    """An HTML table in a scrollable region (a wide table scrolls sideways on a phone, the page does not)."""
    out = [f'<div class="scroll" role="region" tabindex="0" aria-label="{escape(caption)}"><table><caption>{escape(caption)}</caption>',
           "<thead><tr>" + "".join(f'<th scope="col">{escape(h)}</th>' for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        cells = [f'<th scope="row">{escape(row[0])}</th>' if header_column else f"<td>{escape(row[0])}</td>"]
        out.append("<tr>" + "".join(cells + [f"<td>{escape(c)}</td>" for c in row[1:]]) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def weekly_table(name: str, title: str, published: Mapping[str, str], weeks: Sequence[str], unit: str = "") -> Table:
    """A citywide-by-week figure: bars per week, a week column and the figure's column; its total last."""
    slug = f"citywide-weekly-{name.replace('_', '-')}"
    values = [published[w] for w in weeks]
    summary = series_summary(f"{title}, citywide by ISO week", weeks, values, published[ALL_PERIODS], unit)
    rows = tuple((w, published[w]) for w in weeks) + ((ALL_WEEKS, published[ALL_PERIODS]),)
    return Table(slug, f"{title}, citywide by week", ("week", name), rows, summary, bar_chart(weeks, values, f"{slug}-summary"),
                 html_table(f"{title}, citywide by week", ("Week", title), rows))


def community_table(name: str, title: str, cells: Mapping[tuple[str, str], str], row_totals: Mapping[str, str],
                    column_totals: Mapping[str, str], total: str, communities: Sequence[str], months: Sequence[str], unit: str = "") -> Table:
    """A by-community-and-month figure: bars of each community's whole range, and a community × month table with
    the totals (CSV: one row per community and month, the totals with ALL_COMMUNITIES / ALL_MONTHS)."""
    slug = f"community-monthly-{name.replace('_', '-')}"
    bars = [row_totals[c] for c in communities]
    span = months[0] if len(months) == 1 else f"{months[0]} to {months[-1]}"
    summary = series_summary(f"{title} by community, {span}", communities, bars, total, unit)
    rows = tuple((c, m, cells[c, m]) for c in communities for m in months) + tuple((c, ALL_MONTHS, row_totals[c]) for c in communities)
    rows += tuple((ALL_COMMUNITIES, m, column_totals[m]) for m in months) + ((ALL_COMMUNITIES, ALL_MONTHS, total),)
    wide = [(c, *(cells[c, m] for m in months), row_totals[c]) for c in communities]
    wide.append((ALL_COMMUNITIES, *(column_totals[m] for m in months), total))
    return Table(slug, f"{title}, by community and month", ("community", "month", name), rows, summary,
                 bar_chart(communities, bars, f"{slug}-summary"),
                 html_table(f"{title}, by community and month", ("Community", *months, ALL_MONTHS), wide))


def count_community_table(name: str, title: str, published: Published, communities: Sequence[str], months: Sequence[str]) -> Table:
    """A count's community × month table, as ``suppress`` published it."""
    return community_table(name, title, published.cells, published.row_totals, published.column_totals, published.total, communities, months)


def value_community_table(name: str, title: str, values: Mapping[tuple[str, str], str], communities: Sequence[str],
                          months: Sequence[str], unit: str) -> Table:
    """A median's or share's community × month table (its "totals": over a community's or the city's whole range)."""
    return community_table(name, title, values, {c: values[c, ALL_PERIODS] for c in communities},
                           {m: values[ALL_COMMUNITIES, m] for m in months}, values[ALL_COMMUNITIES, ALL_PERIODS], communities, months, unit)


def hour_tables(result: Figures) -> list[Table]:
    """The hour-of-week coverage: shootings by day and hour (suppressed) and the percent with a street team on shift."""
    if result.shootings_by_hour is None or result.covered_share is None:
        return []
    tables = []
    for slug, name, title, values in (
        ("hour-of-week-shootings-count", "shootings_count", "Shootings by hour of the week", result.shootings_by_hour.cells),
        ("hour-of-week-street-team-on-shift-percent", "street_team_on_shift_percent",
         "Shootings with a street team on shift (%), by hour of the week", result.covered_share),
    ):
        shown = list(values.values())
        summary = (f"{title}, local time, {result.weeks[0]} to {result.weeks[-1]} pooled: 7 days × 24 hours. "
                   f"{sum(number(v) is not None for v in shown)} hours shown as numbers; "
                   f"{shown.count(SMALL)} shown as <5; {shown.count(HIDDEN)} hidden (x); {shown.count(NOT_PUBLISHED)} not published (—).")
        rows = tuple((d, h, values[d, h]) for d in DAYS for h in HOURS)
        wide = [(d, *(values[d, h] for h in HOURS)) for d in DAYS]
        tables.append(Table(slug, title, ("day", "hour", name), rows, summary, heat_chart(values, f"{slug}-summary"),
                            html_table(title, ("Day", *HOURS), wide)))
    return tables


def tables_of(result: Figures) -> list[Table]:
    """Every table of the site, in the order the index shows them."""
    units = {"median_seconds_to_notify": " s", "answered_in_time_percent": "%", "tasks_completed_in_time_percent": "%"}
    tables = [weekly_table(name, title, result.weekly_counts[name], result.weeks) for name, title, _ in COUNTS]
    tables += [weekly_table(name, title, result.weekly_values[name], result.weeks, units[name]) for name, title in VALUES]
    tables += [count_community_table(name, title, result.community_counts[name], result.communities, result.months) for name, title, _ in COUNTS]
    tables += [value_community_table(name, title, result.community_values[name], result.communities, result.months, units[name])
               for name, title in VALUES]
    return tables + hour_tables(result)


def csv_of(table: Table) -> str:
    """A table as CSV: its columns, then one row per cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buffer.getvalue()


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; padding: 1rem; font-size: 1rem;
       line-height: 1.45; color: #111; background: #fff; }
main { max-width: 60rem; margin: 0 auto; }
nav a { margin-right: 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.2rem; margin-top: 2rem; } h3 { font-size: 1.05rem; margin-top: 1.5rem; }
figure { margin: 0 0 1.5rem; }
.chart { width: 100%; max-width: 36rem; height: auto; font-size: 11px; }
.chart .small { font-size: 9px; }
.bar { fill: #1d4f91; }
.empty { fill: #eee; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.4rem; text-align: right; white-space: nowrap; }
th[scope="row"], caption { text-align: left; }
caption { font-weight: 600; padding: 0.3rem 0; }
a { color: #1d4f91; }
a:focus, .scroll:focus { outline: 3px solid #b35900; }
@media (min-width: 48rem) { body { font-size: 1.05rem; } }
"""


def page(title: str, body: str) -> str:
    """A page of the site: its title, the links between the pages, and ``body``."""
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, '
            f'initial-scale=1">\n<title>{escape(title)}</title>\n<link rel="stylesheet" href="style.css">\n</head>\n<body>\n'
            f'<header><nav aria-label="Site"><a href="index.html">Figures</a><a href="methodology.html">How it is computed</a>'
            f'<a href="data-dictionary.html">Data dictionary</a></nav></header>\n<main>\n<h1>{escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n')


def index_page(result: Figures, tables: Sequence[Table]) -> str:
    """Every figure: its chart (named by its summary), the summary, its table and its CSV."""
    body = [f"<p>Shooting activations from {result.first} to {result.last} (ISO weeks {result.weeks[0]} to {result.weeks[-1]}): "
            "how fast and how reliably the responders were told, and what followed. A count from 1 to 4 is shown as &lt;5; "
            "x is a count hidden so that no &lt;5 can be worked out; — is a median or share over fewer than 5, or a count of a "
            "table too small to break down at all, not published. "
            '<a href="methodology.html">How each figure is computed</a>.</p>']
    if result.shootings_by_hour is None:
        body.append(f"<p>The hour-of-week coverage is published for a range of {HOUR_OF_WEEK_MIN_WEEKS} weeks or more; "
                    f"this one has {len(result.weeks)}.</p>")
    for table in tables:
        body.append(f'<section aria-labelledby="{table.slug}"><h2 id="{table.slug}">{escape(table.title)}</h2><figure>{table.chart}'
                    f'<figcaption id="{table.slug}-summary">{escape(table.summary)}</figcaption></figure>{table.html}'
                    f'<p><a href="csv/{table.slug}.csv">Download this table (CSV)</a></p></section>')
    return page("Vigil: how fast responders are told", "\n".join(body))


METHODS = (
    ("Activations", "activations_count",
     "An activation is opened when Vigil decides whom to tell about a shooting report (a 911 call, a ShotSpotter alert, "
     "a hospital's gunshot arrival); reports of one shooting join one activation. Drills are left out. An activation "
     "belongs to the week, month and hour of its opening (local time) and to its community."),
    ("Alerts sent", "alerts_sent_count",
     "Each team told about an activation is one alert (a team's escalation is another); an alert counts once Vigil "
     "recorded the outcome of sending it (delivered, partly delivered, failed or no recipients)."),
    ("Median time to notify", "median_seconds_to_notify",
     "For each activation, the seconds from the first report received to the first alert delivered to a team; the "
     "median over the activations of the week, month or community that have one, published over 5 or more."),
    ("Team alerts answered within their deadline", "answered_in_time_percent",
     "Of the alerts with an answer deadline that has passed or been answered, the percent acknowledged (or answered "
     "\"on my way\") by the deadline. \"Can't respond\" is an answer, not an acknowledgement: it counts in the "
     "denominator, not the numerator. A deadline still running when the site is built is left out. Published when "
     "5 or more deadlines are judged."),
    ("Coverage-gap activations", "coverage_gap_activations_count",
     "Activations for which the protocols looked for a street team on shift at the place and found none (the "
     "coverage_gap flag), so the on-call staff were told instead."),
    ("Follow-up tasks", "tasks_due_count, tasks_completed_in_time_count, tasks_completed_in_time_percent",
     "The follow-up tasks of the activations (a bedside visit, a family contact, a retaliation check-in, a school "
     "follow-up): due ones are those closed or past their due time when the site is built; completed in time "
     "are those whose latest closing was at or before their due time. The percent is over the due ones, "
     "published over 5 or more. A task belongs to its activation's week, month and community."),
    ("Hour-of-week coverage", "shootings_count, street_team_on_shift_percent",
     "The activations reported as a shooting (person shot, shots fired or a ShotSpotter alert: the reports whose "
     "protocols look for a street team on shift), counted by local day of the week and hour, over the whole range; "
     "the percent of them without the coverage_gap flag, that is, with a street team on shift at the place when the "
     "activation opened. Published for a range of 4 weeks or more; a percent over 5 or more shootings."),
)

DICTIONARY = (
    ("week", "text", "An ISO week, YYYY-Www (weeks start on Monday, local time); \"All weeks\": the whole range."),
    ("month", "text", "A month, YYYY-MM: the ISO weeks whose Thursday falls in it (a month is made of whole weeks); "
                      "\"All months\": the whole range."),
    ("community", "text", f"One of the city's communities; \"{ALL_COMMUNITIES}\": the city; \"{NOT_PLACED}\": activations "
                          "with no location (a hospital arrival not joined to a 911 report)."),
    ("day", "text", "A day of the week, Mon to Sun, local time."),
    ("hour", "text", "An hour of the day, 00 to 23, local time."),
    *((name, "count", text) for name, _, text in COUNTS),
    ("shootings_count", "count", "Activations reported as a shooting (see the methodology)."),
    ("median_seconds_to_notify", "number", "Median seconds from the first report received to the first alert delivered."),
    ("answered_in_time_percent", "percent", "Team alerts answered within their deadline, of those judged."),
    ("tasks_completed_in_time_percent", "percent", "Follow-up tasks closed by their due time, of those due."),
    ("street_team_on_shift_percent", "percent", "Shootings with a street team on shift at the place."),
)


def methodology_page(result: Figures) -> str:
    """How each figure is computed, and what is suppressed and why."""
    body = [f"<p>Built from Vigil's review store: the record of every activation, from {result.first} to {result.last}, "
            "widened to whole ISO weeks so that no part of a week is shown; a month is the ISO weeks whose Thursday falls in it, "
            "so that no week is split between two months. No figure names a place finer than a community, a time "
            "finer than a week (the hour-of-week grid pools every week of the range), a person, a team member, an incident "
            "number or a note.</p>", "<h2>Small counts</h2>",
            "<p>Every count is published through the same rule: a count from 1 to 4 is shown as &lt;5. So that a &lt;5 "
            "cannot be worked out by subtracting the other cells of its row or column from a total, other cells may be hidden "
            "too and are shown as x. Zero is shown as 0. A median or a percent is published only when it is over 5 or more "
            "values (activations, deadlines, tasks or shootings); otherwise it is shown as —.</p>", "<h2>The figures</h2>"]
    for title, columns, text in METHODS:
        body.append(f"<h3>{escape(title)}</h3><p>{escape(text)}</p><p>Columns: {escape(columns)}.</p>")
    return page("How the figures are computed", "\n".join(body))


def dictionary_page(tables: Sequence[Table]) -> str:
    """Every CSV's file and columns, and what each column holds."""
    files = html_table("The CSV files", ("File", "Columns", "Table"),
                       ((f"csv/{t.slug}.csv", ", ".join(t.columns), t.title) for t in tables))
    columns = html_table("The columns", ("Column", "Type", "Meaning"), DICTIONARY)
    note = ("<p>A count column's name ends in _count. A count cell holds a whole number, &lt;5 (a count from 1 to 4) or x (hidden so "
            "that no &lt;5 can be worked out) or — (the whole table is so small that nothing of it can be shown safely); a number or "
            "percent cell holds a number or — (over fewer than 5, not published). "
            "Percents are rounded to whole numbers, seconds to tenths.</p>")
    return page("Data dictionary", note + files + columns)


def write_site(result: Figures, out: Path) -> list[Path]:
    """Write every page, the stylesheet and every table's CSV under ``out``; the files written."""
    tables = tables_of(result)
    (out / "csv").mkdir(parents=True, exist_ok=True)
    files = {out / "index.html": index_page(result, tables), out / "methodology.html": methodology_page(result),
             out / "data-dictionary.html": dictionary_page(tables), out / "style.css": STYLE.lstrip()}
    files |= {out / "csv" / f"{t.slug}.csv": csv_of(t) for t in tables}
    for path, text in files.items():
        path.write_text(text, encoding="utf-8", newline="")
    return list(files)


def publish(store, first: date, last: date, zone: tzinfo, now: datetime, out: Path, communities: Iterable[str]) -> list[Path]:
    """Read the activations opened from ``first`` to ``last`` (widened to whole ISO weeks, local days) from the review
    ``store``, as they stand at ``now``, and write the site under ``out``; the files written."""
    first, last = whole_weeks(first, last)
    ids = store.activations_opened(day_bounds(first, zone)[0], day_bounds(last, zone)[1])
    facts = activation_facts(store.records_for(ids), zone, now)
    return write_site(figures(facts, first, last, communities), out)
