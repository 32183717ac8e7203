"""Minneapolis open-data CSV rows (Crime_Data, Police_Incidents) to events, skips and dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.feeds.classify import Classification
from stream.feeds.opendata import CRIME_DATA_COLUMNS, POLICE_INCIDENTS_COLUMNS, ingest_csv_row, read_csv_rows
from stream.model.events import DeadLetter, EventKind, Location, ShootingEvent, Skipped, stable_id
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS, RECEIVED

DATA = Path(__file__).resolve().parents[2] / "data" / "opendata"
CHICAGO = ZoneInfo("America/Chicago")
UNKNOWN_FORMAT = (
    "the row is neither a Crime_Data row (columns Case_Number, Reported_Date, Type) "
    "nor a Police_Incidents row (columns caseNumber, description, reportedDate)"
)


@pytest.fixture(scope="module")
def rules(deployment) -> Classification:
    """The Minneapolis classification (module-scoped so property tests may use it)."""
    return deployment.classification


def crime_row(**overrides: str | None) -> dict[str, str | None]:
    """A Crime_Data Gunshot Wound Victims row in Jordan, reported 2024-06-01 03:15 UTC."""
    row: dict[str, str | None] = {
        "Type": "Gunshot Wound Victims",
        "Case_Number": "24-150001",
        "Case_NumberAlt": "MP24150001",
        "Reported_Date": "2024/06/01 03:15:00+00",
        "Occurred_Date": "2024/06/01 03:05:00+00",
        "NIBRS_Crime_Against": "Person",
        "Offense_Category": "Gunshot Wound Victims",
        "Offense": "Gunshot Wound Victim",
        "Problem_Initial": "Shooting (PFE)",
        "Problem_Final": "Shooting (PFE)",
        "Address": "26XX PENN AVE N",
        "Precinct": "4",
        "Neighborhood": "Jordan",
        "Ward": "4",
        "Latitude": str(JORDAN[0]),
        "Longitude": str(JORDAN[1]),
        "Crime_Count": "1",
    }
    row.update(overrides)
    return row


def incident_row(**overrides: str | None) -> dict[str, str | None]:
    """A Police_Incidents "Shooting" row in Midtown Phillips, reported 2018-07-04 22:15 local time."""
    row: dict[str, str | None] = {
        "publicaddress": "24XX Bloomington Ave",
        "caseNumber": "MP2018210001",
        "precinct": "3",
        "reportedDate": "2018/07/04 00:00:00+00",
        "reportedTime": "2215",
        "beginDate": "2018/07/04 00:00:00+00",
        "offense": "ASLT2",
        "description": "Shooting",
        "UCRCode": "4",
        "centerLong": str(MIDTOWN_PHILLIPS[1]),
        "centerLat": str(MIDTOWN_PHILLIPS[0]),
        "centerX": "-10381655.7",
        "centerY": "5614125.3",
        "neighborhood": "Midtown Phillips",
    }
    row.update(overrides)
    return row


def at(where: tuple[float, float]) -> Location:
    """A (lat, lon) pair as a Location."""
    return Location(lat=where[0], lon=where[1])


def utc(*parts: int) -> datetime:
    """A UTC datetime."""
    return datetime(*parts, tzinfo=UTC)


# --- Crime_Data classification ---------------------------------------------------------------


def test_gunshot_wound_victim_row_is_one_person_shot_at_its_point(rules) -> None:
    event = ingest_csv_row(crime_row(), rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert (event.kind, event.fatal, event.source, event.jurisdiction) == (EventKind.PERSON_SHOT, False, "csv", "minneapolis")
    assert (event.incident_id, event.ref, event.victim_count, event.victim_ages) == ("24-150001", "24-150001", 1, ())
    assert event.location == at(JORDAN)
    assert event.reported_at == utc(2024, 6, 1, 3, 15)
    assert event.received_at == RECEIVED


def test_shotspotter_offense_refines_a_shots_fired_call(rules) -> None:
    row = crime_row(Type="Shots Fired Calls", Offense="ShotSpotter Activation (P)", Case_Number="24-150002")
    event = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert (event.kind, event.ref, event.victim_count) == (EventKind.SHOTSPOTTER, "24-150002", 0)


@pytest.mark.parametrize("offense", ["Sound of Shots Fired (P)", "Shots Fired Call", ""])
def test_other_shots_fired_calls_are_shots_fired(rules, offense: str) -> None:
    event = ingest_csv_row(crime_row(Type="Shots Fired Calls", Offense=offense), rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert (event.kind, event.victim_count) == (EventKind.SHOTS_FIRED, 0)


def test_type_and_offense_match_ignoring_case_and_outer_spaces(rules) -> None:
    victim = ingest_csv_row(crime_row(Type="  gunshot wound VICTIMS "), rules, RECEIVED)
    spotter = ingest_csv_row(crime_row(Type="Shots Fired Calls", Offense=" shotspotter activation (p)"), rules, RECEIVED)
    assert isinstance(victim, ShootingEvent) and (victim.kind, victim.victim_count) == (EventKind.PERSON_SHOT, 1)
    assert isinstance(spotter, ShootingEvent) and spotter.kind is EventKind.SHOTSPOTTER


def test_nibrs_offense_is_skipped_with_its_location(rules) -> None:
    row = crime_row(
        Type="Crime Offenses (NIBRS)",
        Offense="Aggravated Assault",
        Case_Number="24-150004",
        Latitude=str(MIDTOWN_PHILLIPS[0]),
        Longitude=str(MIDTOWN_PHILLIPS[1]),
    )
    outcome = ingest_csv_row(row, rules, RECEIVED)
    assert outcome == Skipped(
        source="csv", ref="24-150004", reason="not_a_shooting", location=at(MIDTOWN_PHILLIPS), received_at=RECEIVED
    )


# --- Police_Incidents classification ---------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "kind"),
    [
        ("Shooting", EventKind.PERSON_SHOT),
        ("Shots Fired", EventKind.SHOTS_FIRED),
        (" sound of shots fired ", EventKind.SHOTS_FIRED),
        ("ShotSpotter Activation", EventKind.SHOTSPOTTER),
    ],
)
def test_police_incidents_description_is_classified(rules, description: str, kind: EventKind) -> None:
    event = ingest_csv_row(incident_row(description=description), rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert (event.kind, event.source, event.ref, event.incident_id) == (kind, "csv", "MP2018210001", "MP2018210001")
    assert (event.location, event.victim_count) == (at(MIDTOWN_PHILLIPS), 0)


def test_police_incidents_other_description_is_skipped(rules) -> None:
    outcome = ingest_csv_row(incident_row(description="Theft From Motr Vehc"), rules, RECEIVED)
    assert outcome == Skipped(
        source="csv", ref="MP2018210001", reason="not_a_shooting", location=at(MIDTOWN_PHILLIPS), received_at=RECEIVED
    )


@pytest.mark.parametrize(
    ("reported_time", "expected"),
    [
        ("2215", utc(2018, 7, 5, 3, 15)),  # 22:15 CDT
        ("22:15", utc(2018, 7, 5, 3, 15)),
        ("0005", utc(2018, 7, 4, 5, 5)),
        ("34", utc(2018, 7, 4, 5, 34)),  # HHMM stored as a number: 00:34
    ],
)
def test_reported_date_and_time_combine_in_local_time(rules, reported_time: str, expected: datetime) -> None:
    event = ingest_csv_row(incident_row(reportedTime=reported_time), rules, RECEIVED)
    assert isinstance(event, ShootingEvent) and event.reported_at == expected


def test_the_calendar_date_of_reported_date_is_used_as_written(rules) -> None:
    # An export that shifted local midnight to UTC (06:00+00) still names the right day.
    event = ingest_csv_row(incident_row(reportedDate="2018/01/15 06:00:00+00", reportedTime="2215"), rules, RECEIVED)
    assert isinstance(event, ShootingEvent) and event.reported_at == utc(2018, 1, 16, 4, 15)  # 22:15 CST


def test_reported_date_time_wins_over_the_separate_columns(rules) -> None:
    row = incident_row(reportedDateTime="2019/06/15 14:05:00", reportedDate="2019/06/16 00:00:00+00", reportedTime="0900")
    event = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(event, ShootingEvent) and event.reported_at == utc(2019, 6, 15, 19, 5)


def test_blank_reported_date_time_falls_back_to_the_separate_columns(rules) -> None:
    event = ingest_csv_row(incident_row(reportedDateTime=" "), rules, RECEIVED)
    assert isinstance(event, ShootingEvent) and event.reported_at == utc(2018, 7, 5, 3, 15)


def test_reported_date_alone_is_the_time(rules) -> None:
    row = incident_row(reportedDate="2019-06-15T14:05:00-05:00")
    del row["reportedTime"]
    event = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(event, ShootingEvent) and event.reported_at == utc(2019, 6, 15, 19, 5)


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"reportedTime": "2561"}, "reportedTime '2561' is not a time of day (HHMM)"),
        ({"reportedTime": "noon"}, "reportedTime 'noon' is not a time of day (HHMM)"),
        ({"reportedDate": "soon"}, "reportedDate 'soon' is not a date-time"),
        ({"reportedDate": "", "reportedTime": ""}, "reportedDate is empty"),
        ({"reportedDateTime": "soon"}, "reportedDateTime 'soon' is not a date-time"),
    ],
)
def test_unreadable_police_incidents_time_is_a_dead_letter(rules, overrides: dict[str, str], detail: str) -> None:
    outcome = ingest_csv_row(incident_row(**overrides), rules, RECEIVED)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.source, outcome.reason, outcome.detail) == ("csv", "bad_timestamp", detail)


# --- Timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01T22:15:00-05:00", utc(2024, 6, 2, 3, 15)),
        ("2024-06-01T03:15:00Z", utc(2024, 6, 1, 3, 15)),
        ("2024-06-01T03:15:00.000Z", utc(2024, 6, 1, 3, 15)),
        ("2024-06-01 22:15:00", utc(2024, 6, 2, 3, 15)),  # local, CDT
        ("2024-01-15 22:15:00", utc(2024, 1, 16, 4, 15)),  # local, CST
        ("2024/06/01 03:15:00+00", utc(2024, 6, 1, 3, 15)),
        ("2024/06/01 22:15:00", utc(2024, 6, 2, 3, 15)),
        ("6/1/2024 10:15:00 PM", utc(2024, 6, 2, 3, 15)),
        ("1/15/2024 10:15 PM", utc(2024, 1, 16, 4, 15)),
        ("06/01/2024 22:15", utc(2024, 6, 2, 3, 15)),
    ],
)
def test_timestamp_formats(rules, text: str, expected: datetime) -> None:
    event = ingest_csv_row(crime_row(Reported_Date=text), rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert event.reported_at == expected and event.reported_at.tzinfo is UTC


def test_nonexistent_local_time_reads_with_the_offset_before_the_change(rules) -> None:
    # 02:30 on 2024-03-10 never happened in Chicago; fold=0 reads it as CST, i.e. 03:30 CDT.
    first = ingest_csv_row(crime_row(Reported_Date="2024/03/10 02:30:00"), rules, RECEIVED)
    again = ingest_csv_row(crime_row(Reported_Date="2024/03/10 02:30:00"), rules, RECEIVED)
    assert isinstance(first, ShootingEvent) and isinstance(again, ShootingEvent)
    assert first.reported_at == utc(2024, 3, 10, 8, 30)
    assert first.reported_at.astimezone(CHICAGO).isoformat() == "2024-03-10T03:30:00-05:00"
    assert first.event_id == again.event_id


def test_ambiguous_local_time_is_the_first_daylight_time_reading(rules) -> None:
    event = ingest_csv_row(crime_row(Reported_Date="2024-11-03 01:30:00"), rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert event.reported_at == utc(2024, 11, 3, 6, 30)
    assert event.reported_at.astimezone(CHICAGO).utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("", "Reported_Date is empty"),
        ("   ", "Reported_Date is empty"),
        (None, "Reported_Date is empty"),
        ("yesterday", "Reported_Date 'yesterday' is not a date-time"),
        ("2024-13-01 00:00:00", "Reported_Date '2024-13-01 00:00:00' is not a date-time"),
        ("13/45/2024 10:15 PM", "Reported_Date '13/45/2024 10:15 PM' is not a date-time"),
        ("1717211700000", "Reported_Date '1717211700000' is not a date-time"),
        ("9999-12-31T23:00:00-05:00", "Reported_Date '9999-12-31T23:00:00-05:00' is not a date-time"),
        ("9" * 500, "Reported_Date '" + "9" * 60 + "…' is not a date-time"),
    ],
)
def test_missing_or_unreadable_date_is_a_dead_letter(rules, value: str | None, detail: str) -> None:
    outcome = ingest_csv_row(crime_row(Reported_Date=value), rules, RECEIVED)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.source, outcome.reason, outcome.detail) == ("csv", "bad_timestamp", detail)


# --- Location --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        ("", ""),
        ("  ", "  "),
        (None, None),
        ("0", "0"),
        ("0.0", str(JORDAN[1])),
        (str(JORDAN[0]), ""),
        (str(JORDAN[1]), str(JORDAN[0])),  # swapped: latitude out of range
        ("450003", "-933001"),
        ("1e999", str(JORDAN[1])),
    ],
)
def test_blank_zero_or_out_of_range_coordinates_keep_the_event_without_a_location(
    rules, lat: str | None, lon: str | None
) -> None:
    event = ingest_csv_row(crime_row(Latitude=lat, Longitude=lon), rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert (event.kind, event.location, event.victim_count) == (EventKind.PERSON_SHOT, None, 1)


def test_missing_coordinate_columns_keep_the_event_without_a_location(rules) -> None:
    row = incident_row()
    del row["centerLat"], row["centerLong"]
    event = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(event, ShootingEvent) and event.location is None


@pytest.mark.parametrize(
    ("column", "value", "detail"),
    [
        ("Latitude", "45.00O3", "Latitude '45.00O3' is not a number"),
        ("Longitude", "N/A", "Longitude 'N/A' is not a number"),
        ("Longitude", "-93,3001", "Longitude '-93,3001' is not a number"),
        ("Latitude", "nan", "Latitude 'nan' is not a number"),
        ("Latitude", "4_5", "Latitude '4_5' is not a number"),
        ("Latitude", "٤٥", "Latitude '٤٥' is not a number"),
    ],
)
def test_garbage_coordinates_are_a_dead_letter(rules, column: str, value: str, detail: str) -> None:
    outcome = ingest_csv_row(crime_row(**{column: value}), rules, RECEIVED)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.source, outcome.reason, outcome.detail) == ("csv", "bad_location", detail)


def test_garbage_coordinates_are_a_dead_letter_even_on_a_non_shooting(rules) -> None:
    outcome = ingest_csv_row(incident_row(description="Burglary Of Dwelling", centerLat="abc"), rules, RECEIVED)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.reason, outcome.detail) == ("bad_location", "centerLat 'abc' is not a number")


# --- Format and case number ------------------------------------------------------------------


def test_a_row_of_neither_format_is_a_dead_letter_naming_the_expected_columns(rules) -> None:
    outcome = ingest_csv_row({"CASEID": "240001234", "TITLE": "Pothole"}, rules, RECEIVED)
    assert outcome == DeadLetter(
        source="csv",
        reason="unknown_csv_format",
        detail=UNKNOWN_FORMAT,
        excerpt='{"CASEID":"240001234","TITLE":"Pothole"}',
        received_at=RECEIVED,
    )


@pytest.mark.parametrize(
    "row",
    [
        {},
        {
            "type": "Gunshot Wound Victims",
            "case_number": "24-1",
            "reported_date": "2024-06-01T03:15:00Z",
        },  # names are case-sensitive
        {k: v for k, v in incident_row().items() if k != "description"},
    ],
)
def test_rows_lacking_a_format_column_are_unknown_format(rules, row: dict) -> None:
    outcome = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.reason, outcome.detail) == ("unknown_csv_format", UNKNOWN_FORMAT)


def test_header_names_tolerate_a_bom_and_outer_spaces(rules) -> None:
    row = {
        "\ufeffType": "Shots Fired Calls",
        " Case_Number ": "24-150002",
        "Reported_Date\t": "2024/06/01 04:40:00+00",
        " Offense": "x",
    }
    event = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(event, ShootingEvent)
    assert (event.kind, event.ref, event.location) == (EventKind.SHOTS_FIRED, "24-150002", None)


@pytest.mark.parametrize("value", ["", "   ", None])
def test_missing_case_number_is_a_dead_letter(rules, value: str | None) -> None:
    crime = ingest_csv_row(crime_row(Case_Number=value), rules, RECEIVED)
    incident = ingest_csv_row(incident_row(caseNumber=value), rules, RECEIVED)
    assert isinstance(crime, DeadLetter) and isinstance(incident, DeadLetter)
    assert (crime.source, crime.reason, crime.detail) == ("csv", "missing_ref", "Case_Number is empty")
    assert (incident.reason, incident.detail) == ("missing_ref", "caseNumber is empty")


def test_overlong_case_number_is_a_dead_letter(rules) -> None:
    outcome = ingest_csv_row(crime_row(Case_Number="X" * 101), rules, RECEIVED)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.reason, outcome.detail) == ("bad_ref", "Case_Number '" + "X" * 60 + "…' is longer than 100 characters")


def test_case_number_is_trimmed(rules) -> None:
    event = ingest_csv_row(crime_row(Case_Number=" 24-150001 "), rules, RECEIVED)
    assert isinstance(event, ShootingEvent) and (event.ref, event.incident_id) == ("24-150001", "24-150001")


# --- Identity and excerpts -------------------------------------------------------------------


def test_event_id_is_deterministic(rules) -> None:
    first = ingest_csv_row(crime_row(), rules, RECEIVED)
    replayed = ingest_csv_row(crime_row(), rules, RECEIVED + timedelta(days=30))
    local_export = ingest_csv_row(crime_row(Reported_Date="2024-05-31 22:15:00"), rules, RECEIVED)  # same instant, CDT
    other_case = ingest_csv_row(crime_row(Case_Number="24-150099"), rules, RECEIVED)
    assert all(isinstance(e, ShootingEvent) for e in (first, replayed, local_export, other_case))
    assert first.event_id == stable_id("evt", "minneapolis", "csv", "24-150001", "2024-06-01T03:15:00+00:00", "person_shot")
    assert first.event_id == replayed.event_id == local_export.event_id
    assert other_case.event_id != first.event_id


def test_dead_letter_excerpt_is_the_row_as_compact_json_cut_to_200(rules) -> None:
    row = crime_row(Latitude="45.00O3")
    outcome = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(outcome, DeadLetter)
    assert outcome.excerpt == json.dumps(row, ensure_ascii=False, separators=(",", ":"))[:200]
    assert len(outcome.excerpt) == 200


# --- Never raises ----------------------------------------------------------------------------

_COLUMNS = sorted(
    {*CRIME_DATA_COLUMNS, *POLICE_INCIDENTS_COLUMNS, "Offense", "Latitude", "Longitude", "centerLat", "centerLong"}
    | {"reportedTime", "reportedDateTime", "\ufeffType", " Case_Number "}
)
_VALUES = st.one_of(
    st.none(),
    st.text(),
    st.sampled_from(["", "0", "45.0003", "-93.3001", "2215", "2024/03/10 02:30:00", "6/1/2024 10:15:00 PM", "Shooting", "1e999"]),
    st.sampled_from(["Gunshot Wound Victims", "Shots Fired Calls", "\ud800", "\x00", "\u202e\ufeff", "9" * 10_000]),
)


@settings(max_examples=300, deadline=None)
@given(row=st.dictionaries(st.one_of(st.sampled_from(_COLUMNS), st.text()), _VALUES, max_size=12))
def test_no_row_content_raises(rules, row: dict[str, str | None]) -> None:
    outcome = ingest_csv_row(row, rules, RECEIVED)
    assert isinstance(outcome, ShootingEvent | Skipped | DeadLetter)
    outcome.model_dump_json().encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(column=st.sampled_from(sorted(crime_row())), value=_VALUES)
def test_no_single_bad_cell_in_a_valid_row_raises(rules, column: str, value: str | None) -> None:
    outcome = ingest_csv_row(crime_row(**{column: value}), rules, RECEIVED)
    assert isinstance(outcome, ShootingEvent | Skipped | DeadLetter)
    outcome.model_dump_json().encode("utf-8")


def test_huge_and_odd_unicode_cells_give_encodable_outcomes(rules) -> None:
    huge = ingest_csv_row(crime_row(Address="A" * 5_000_000, Case_Number="24-\ud800"), rules, RECEIVED)
    nul = ingest_csv_row(crime_row(Latitude="\x00"), rules, RECEIVED)
    assert isinstance(huge, ShootingEvent) and huge.ref == "24-?"
    assert isinstance(nul, DeadLetter) and nul.detail == "Latitude '\\x00' is not a number"
    for outcome in (huge, nul):
        outcome.model_dump_json().encode("utf-8")


# --- Files end to end ------------------------------------------------------------------------


def summary(outcome: ShootingEvent | Skipped | DeadLetter) -> tuple:
    """What a test cares about in an outcome, as a comparable tuple."""
    if isinstance(outcome, ShootingEvent):
        where = (outcome.location.lat, outcome.location.lon) if outcome.location else None
        return ("event", outcome.ref, outcome.kind.value, where, outcome.victim_count, outcome.reported_at)
    if isinstance(outcome, Skipped):
        return ("skipped", outcome.ref, outcome.reason)
    return ("dead", outcome.reason, outcome.detail)


def ingest_file(name: str, rules: Classification) -> list[tuple]:
    """The summaries of every row of a fixture file."""
    return [summary(ingest_csv_row(row, rules, RECEIVED)) for row in read_csv_rows(DATA / name)]


def test_crime_data_file_with_a_bom_end_to_end(rules) -> None:
    first = next(read_csv_rows(DATA / "crime_data.csv"))
    assert next(iter(first)) == "Type"  # the BOM is gone
    assert ingest_file("crime_data.csv", rules) == [
        ("event", "24-150001", "person_shot", JORDAN, 1, utc(2024, 6, 1, 3, 15)),
        ("event", "24-150002", "shotspotter", MIDTOWN_PHILLIPS, 0, utc(2024, 6, 1, 4, 40)),
        ("event", "24-150003", "shots_fired", (45.0120, -93.2890), 0, utc(2024, 6, 2, 2, 10)),
        ("skipped", "24-150004", "not_a_shooting"),
        ("skipped", "24-150005", "not_a_shooting"),
        ("event", "24-150006", "person_shot", None, 1, utc(2024, 6, 3, 6, 45)),
        ("event", "24-150007", "person_shot", None, 1, utc(2024, 6, 4, 5, 5)),
        ("dead", "bad_location", "Latitude '44.92G0' is not a number"),
        ("dead", "missing_ref", "Case_Number is empty"),
        ("dead", "bad_timestamp", "Reported_Date is empty"),
    ]


def test_police_incidents_2018_file_end_to_end(rules) -> None:
    assert ingest_file("police_incidents_2018.csv", rules) == [
        ("event", "MP2018210001", "person_shot", JORDAN, 0, utc(2018, 7, 5, 3, 15)),
        ("event", "MP2018210002", "shots_fired", MIDTOWN_PHILLIPS, 0, utc(2018, 7, 5, 5, 34)),
        ("skipped", "MP2018210003", "not_a_shooting"),
        ("event", "MP2018210004", "shotspotter", None, 0, utc(2018, 7, 6, 5, 5)),
        ("event", "MP2018210005", "shots_fired", (44.9400, -93.2560), 0, utc(2018, 11, 4, 6, 30)),  # 01:30, first (CDT)
        ("dead", "bad_timestamp", "reportedTime '2561' is not a time of day (HHMM)"),
    ]


def test_police_incidents_2019_file_end_to_end(rules) -> None:
    assert ingest_file("police_incidents_2019.csv", rules) == [
        ("event", "MP2019060001", "shotspotter", (44.9850, -93.3120), 0, utc(2019, 3, 10, 8, 30)),  # nonexistent 02:30
        ("event", "MP2019060002", "person_shot", JORDAN, 0, utc(2019, 6, 15, 19, 5)),
        ("event", "MP2019060003", "shots_fired", MIDTOWN_PHILLIPS, 0, utc(2019, 6, 16, 3, 15)),
        ("skipped", "MP2019060004", "not_a_shooting"),
    ]


def test_a_file_of_another_export_is_all_unknown_format(rules) -> None:
    assert ingest_file("service_requests.csv", rules) == [("dead", "unknown_csv_format", UNKNOWN_FORMAT)] * 2


def test_short_long_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\r\n\r\n1\r\n1,2,3,4,5\r\n", encoding="utf-8")
    assert list(read_csv_rows(path)) == [{"a": "1", "b": "", "c": ""}, {"a": "1", "b": "2", "c": "3", "_extra": "4,5"}]


def test_empty_file_yields_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert list(read_csv_rows(path)) == []


def test_a_file_that_is_not_csv_still_yields_rows_that_become_dead_letters(rules, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n\x80,"unclosed\n,,,\n')
    outcomes = [ingest_csv_row(row, rules, RECEIVED) for row in read_csv_rows(path)]
    assert outcomes and all(isinstance(o, DeadLetter) and o.reason == "unknown_csv_format" for o in outcomes)


def test_a_line_the_csv_module_cannot_read_is_a_dead_letter_and_reading_goes_on(rules, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    header = ",".join(CRIME_DATA_COLUMNS)
    path.write_text(f'{header}\n"{"x" * 200_000}\n24-150002,2024/06/01 04:40:00+00,Shots Fired Calls\n', encoding="utf-8")
    outcomes = [ingest_csv_row(row, rules, RECEIVED) for row in read_csv_rows(path)]
    assert [type(o) for o in outcomes] == [DeadLetter, ShootingEvent]
    assert outcomes[0].reason == "unreadable_csv_row"
    assert outcomes[0].detail == "line 2 of huge.csv is unreadable as CSV: field larger than field limit (131072)"
    assert outcomes[1].ref == "24-150002"
