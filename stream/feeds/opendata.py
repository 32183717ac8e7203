"""City of Minneapolis open-data CSV rows to ingest outcomes (the CSV counterpart of ``ingest_cad``).

Two exports are read, told apart by their header columns:

* Crime_Data (the current layer): ``Type`` refined by ``Offense``, ``Case_Number``, ``Reported_Date``,
  ``Latitude``/``Longitude``.
* Police_Incidents (the older yearly tables): ``description``, ``caseNumber``, ``reportedDateTime`` or
  ``reportedDate`` (+ ``reportedTime`` "HHMM"), ``centerLat``/``centerLong``.

Decisions:

* A row is checked in full (format, case number, time, location) before it is classified, so a
  Skipped row is always a well-formed one and a malformed row is a dead letter whatever it describes.
* Times are returned in UTC, so the same row exported with a UTC offset or in local time gets the same
  ``reported_at`` and hence the same ``event_id``. A time without an offset is local time in the
  jurisdiction's zone; a nonexistent or ambiguous local time takes the fold=0 reading (the offset in
  force before the transition).
* Coordinates that are blank, 0 (the exports' placeholder) or out of range give ``location=None``: the
  row still counts (the city blanks the location of some cases, and the coverage-gap report needs the
  row anyway). A coordinate that is not a number at all is a dead letter: the row is garbled.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stream.feeds.classify import Classification, ShootingType, lookup
from stream.feeds.ingest import NOT_A_SHOOTING, excerpt
from stream.model.errors import Rejected
from stream.model.events import (
    EARLIEST_REPORT,
    LATEST_REPORT,
    DeadLetter,
    EventKind,
    IngestOutcome,
    Location,
    ShootingEvent,
    Skipped,
    plausible_time,
    stable_id,
)

SOURCE = "csv"
CRIME_DATA = "Crime_Data"
POLICE_INCIDENTS = "Police_Incidents"
# The columns that identify each export; the other columns are read when present.
CRIME_DATA_COLUMNS = ("Case_Number", "Reported_Date", "Type")
POLICE_INCIDENTS_COLUMNS = ("caseNumber", "description", "reportedDate")
# read_csv_rows puts a line the csv module could not read under this key, so it becomes a dead letter.
READ_ERROR_COLUMN = "_csv_error"
# Values past the header's columns (a mis-quoted line), kept so the dead-letter excerpt shows them.
EXTRA_COLUMN = "_extra"
# A case number is short; anything longer is a garbled row, and would bloat every message it rides in.
MAX_REF_CHARS = 100
# Long values are cut in detail sentences: the sentence names the problem, the excerpt shows the row.
SHOWN_CHARS = 60
EXCERPT_CELL = 200
GUNSHOT_WOUND_VICTIMS = "gunshot wound victims"

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_SLASHED_ISO = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(.*)", re.ASCII | re.DOTALL)
_US_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{4}\b", re.ASCII)
_US_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")
_CLOCK = re.compile(r"(\d{1,2}):?(\d{2})", re.ASCII)


def _text(value: Any) -> str:
    # Lone surrogates would make the outcome unencodable as UTF-8 downstream; "?" keeps the rest readable.
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return text if text.isascii() else text.encode("utf-8", errors="replace").decode("utf-8")


def _column_name(key: Any) -> str:
    # A BOM survives on the first header name when a file is read as plain UTF-8.
    return _text(key).strip().lstrip("\ufeff").strip()


def clean_row(row: Mapping[Any, Any]) -> dict[str, str]:
    """A row with trimmed, BOM-free column names and string values (None becomes ""); of two names that trim alike, the first wins."""
    cleaned: dict[str, str] = {}
    for key, value in row.items():
        cleaned.setdefault(_column_name(key), _text(value))
    return cleaned


def _shown(value: str) -> str:
    return repr(value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…")


def _row_excerpt(row: dict[str, str]) -> str:
    # Values are cut before dumping so a huge cell costs nothing; excerpt() cuts the whole anyway.
    short = {k[:EXCERPT_CELL]: v[:EXCERPT_CELL] for k, v in row.items()}
    return excerpt(json.dumps(short, ensure_ascii=False, separators=(",", ":")))


def detect_format(row: Mapping[str, str]) -> str | None:
    """``CRIME_DATA`` or ``POLICE_INCIDENTS`` by the row's columns (names already cleaned), or None."""
    if all(name in row for name in CRIME_DATA_COLUMNS):
        return CRIME_DATA
    if all(name in row for name in POLICE_INCIDENTS_COLUMNS):
        return POLICE_INCIDENTS
    return None


def _unknown_format() -> Rejected:
    return Rejected(
        "unknown_csv_format",
        f"the row is neither a Crime_Data row (columns {', '.join(CRIME_DATA_COLUMNS)}) "
        f"nor a Police_Incidents row (columns {', '.join(POLICE_INCIDENTS_COLUMNS)})",
    )


def _ref(row: dict[str, str], column: str) -> str:
    ref = row.get(column, "").strip()
    if not ref:
        raise Rejected("missing_ref", f"{column} is empty")
    if len(ref) > MAX_REF_CHARS:
        raise Rejected("bad_ref", f"{column} {_shown(ref)} is longer than {MAX_REF_CHARS} characters")
    return ref


def _localise(moment: datetime, zone: ZoneInfo) -> datetime:
    # fold=0 (the default) reads a nonexistent or ambiguous wall time with the offset in force before
    # the transition; converting to UTC turns it into one real instant.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone, fold=0)
    return moment.astimezone(UTC)


def _read_datetime(text: str) -> datetime | None:
    """The date-time as written (naive when it has no offset), or None when no known format fits."""
    slashed = _SLASHED_ISO.fullmatch(text)
    if slashed:
        year, month, day, rest = slashed.groups()
        text = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    elif _US_DATE.match(text):
        return _read_us(text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _read_us(text: str) -> datetime | None:
    for pattern in _US_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _unreadable(column: str, value: str) -> Rejected:
    if not value:
        return Rejected("bad_timestamp", f"{column} is empty")
    return Rejected("bad_timestamp", f"{column} {_shown(value)} is not a date-time")


def parse_csv_timestamp(value: str, column: str, zone: ZoneInfo) -> datetime:
    """An open-data date-time as a UTC datetime; local time in ``zone`` when it has no offset.

    Accepts ISO 8601, ArcGIS-hub "2024/06/01 03:15:00+00" and US "6/1/2024 10:15:00 PM". Raises
    ``Rejected("bad_timestamp")`` naming the column and the value.
    """
    text = value.strip()
    moment = _read_datetime(text)
    if moment is None:
        raise _unreadable(column, text)
    try:
        moment = _localise(moment, zone)
    except (OverflowError, ValueError):
        # Years 1 and 9999 with an offset fall outside datetime's range once converted.
        raise _unreadable(column, text) from None
    if not plausible_time(moment):
        # replays and the gap report hand the event to the core, whose date arithmetic overflows near years 1 and 9999
        raise Rejected("bad_timestamp", f"{column} {_shown(text)} is outside {EARLIEST_REPORT.year}-{LATEST_REPORT.year - 1}")
    return moment


def _clock(value: str) -> time:
    # The tables store HHMM as a number, so leading zeros may be gone ("34" is 00:34).
    matched = _CLOCK.fullmatch(value.zfill(4)) if value.isdigit() else _CLOCK.fullmatch(value)
    if matched:
        hour, minute = int(matched.group(1)), int(matched.group(2))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise Rejected("bad_timestamp", f"reportedTime {_shown(value)} is not a time of day (HHMM)")


def _calendar_date(value: str) -> date:
    moment = _read_datetime(value)
    if moment is None:
        raise _unreadable("reportedDate", value)
    return moment.date()


def _police_incidents_time(row: dict[str, str], zone: ZoneInfo) -> datetime:
    combined = row.get("reportedDateTime", "").strip()
    if combined:
        return parse_csv_timestamp(combined, "reportedDateTime", zone)
    day_text, clock_text = row.get("reportedDate", "").strip(), row.get("reportedTime", "").strip()
    if not clock_text:
        return parse_csv_timestamp(day_text, "reportedDate", zone)
    # With a separate reportedTime, reportedDate carries only the day: its own time (often midnight,
    # sometimes shifted to UTC by the export) is ignored and the calendar date as written is used.
    moment = datetime.combine(_calendar_date(day_text), _clock(clock_text))
    try:
        moment = _localise(moment, zone)
    except (OverflowError, ValueError):
        raise _unreadable("reportedDate", day_text) from None
    if not plausible_time(moment):
        raise Rejected("bad_timestamp", f"reportedDate {_shown(day_text)} is outside {EARLIEST_REPORT.year}-{LATEST_REPORT.year - 1}")
    return moment


def _coordinate(row: dict[str, str], column: str) -> float | None:
    text = row.get(column, "").strip()
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise Rejected("bad_location", f"{column} {_shown(text)} is not a number")
    value = float(text)
    # 0 is the exports' placeholder for a withheld location, never a Minneapolis coordinate.
    return value if value != 0 else None


def parse_location(row: dict[str, str], lat_column: str, lon_column: str) -> Location | None:
    """The row's point; None when a coordinate is blank, 0 or out of range. Raises ``Rejected("bad_location")``
    when a coordinate is not a number."""
    lat, lon = _coordinate(row, lat_column), _coordinate(row, lon_column)
    if lat is None or lon is None:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Location(lat=lat, lon=lon)


def _crime_data_type(row: dict[str, str], rules: Classification) -> ShootingType | None:
    table = rules.csv.crime_data
    return lookup(table.offense, row.get("Offense")) or lookup(table.type, row.get("Type"))


def _victim_count(row: dict[str, str], fmt: str, kind: EventKind) -> int:
    # A Gunshot Wound Victims row is one victim; other rows say nothing about how many were hurt.
    is_victim_row = fmt == CRIME_DATA and row.get("Type", "").strip().lower() == GUNSHOT_WOUND_VICTIMS
    return 1 if is_victim_row and kind is EventKind.PERSON_SHOT else 0


def _outcome(row: dict[str, str], rules: Classification, received_at: datetime) -> IngestOutcome:
    if READ_ERROR_COLUMN in row:
        # set by read_csv_rows; a file could also carry a column of that name, with anything in it
        raise Rejected("unreadable_csv_row", row[READ_ERROR_COLUMN] or "a row marked unreadable gave no reason")
    fmt = detect_format(row)
    if fmt is None:
        raise _unknown_format()
    if fmt == CRIME_DATA:
        ref = _ref(row, "Case_Number")
        reported_at = parse_csv_timestamp(row["Reported_Date"], "Reported_Date", rules.zone)
        location = parse_location(row, "Latitude", "Longitude")
        found = _crime_data_type(row, rules)
    else:
        ref = _ref(row, "caseNumber")
        reported_at = _police_incidents_time(row, rules.zone)
        location = parse_location(row, "centerLat", "centerLong")
        found = lookup(rules.csv.police_incidents.description, row.get("description"))
    if found is None:
        return Skipped(source=SOURCE, ref=ref, reason=NOT_A_SHOOTING, location=location, received_at=received_at)
    return ShootingEvent(
        event_id=stable_id("evt", rules.jurisdiction, SOURCE, ref, reported_at.isoformat(), found.kind.value),
        jurisdiction=rules.jurisdiction,
        source=SOURCE,
        incident_id=ref,
        ref=ref,
        kind=found.kind,
        fatal=found.fatal,
        reported_at=reported_at,
        received_at=received_at,
        location=location,
        victim_count=_victim_count(row, fmt, found.kind),
        victim_ages=(),
    )


def ingest_csv_row(row: Mapping[str, str | None], rules: Classification, received_at: datetime) -> IngestOutcome:
    """Classify one open-data CSV row; a malformed row becomes a DeadLetter naming the problem.

    Never raises for any row content: every mapping of strings (or None) gives one of the three outcomes.
    """
    cleaned = clean_row(row)
    try:
        return _outcome(cleaned, rules, received_at)
    except Rejected as exc:
        return DeadLetter(
            source=SOURCE, reason=exc.reason, detail=exc.detail, excerpt=_row_excerpt(cleaned), received_at=received_at
        )


def read_csv_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a CSV file as dicts keyed by its header; never raises for the file's content.

    Bad bytes become U+FFFD, a leading BOM is dropped, blank lines are skipped, missing cells are "".
    A line the csv module cannot read (a field past its size limit) is yielded as
    ``{READ_ERROR_COLUMN: reason}`` so it turns into a dead letter instead of ending the file.
    """
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield {READ_ERROR_COLUMN: f"line {reader.line_num} of {path.name} is unreadable as CSV: {exc}"}
                continue
            if not values:
                continue
            if header is None:
                header = values
                continue
            yield _as_dict(header, values)


def _as_dict(header: list[str], values: list[str]) -> dict[str, str]:
    row: dict[str, str] = {}
    for name, value in zip(header, values, strict=False):
        row.setdefault(name, value)
    for name in header[len(values) :]:
        row.setdefault(name, "")
    if len(values) > len(header):
        row[EXTRA_COLUMN] = ",".join(values[len(header) :])
    return row
