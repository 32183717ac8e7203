"""Seeded, reproducible hostile inputs for ``load_tests.hostile``: mutated EIDO, HL7 (with MLLP framing),
open-data CSV files, HTTP ingest requests and ack-link requests.

Every case is a pure function of ``(seed, kind, index)`` (and, for ack requests, of the real links the run
collected): ``random.Random`` seeded with a string is stable across processes and Python hash seeds, so a
failing case is found again by its seed and index. Roughly one case in six is left valid, so the accepting
path is exercised alongside the refusing ones.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7_builder import AdtMessage

CHICAGO = ZoneInfo("America/Chicago")
EVENING = datetime(2026, 7, 4, 22, 0, tzinfo=CHICAGO)  # the worker's clock starts here: street teams on shift
VALID_SHARE = 0.17
# Under the broker's 1 MiB record limit, above the parsers' 1,000,000-byte documents: reaches the worker.
OVERSIZE_BYTES = 1_000_100
PLACES = ((45.0003, -93.3001), (44.9530, -93.2600), (44.9260, -93.2180), (44.9778, -93.2650), (44.9000, -93.4000))
# Valid shooting reports are kept to about a tenth: the core keeps every report's id in one state record per
# jurisdiction, and past about 1 MB of it the worker crashes (docs/hostile-input.md, finding 1).
SHOOTING_SHARE = 0.1
SHOOTING_IDS = 8  # shootings reuse a few incident ids: a run opens a bounded number of activations
HOSPITALS = ("hcmc", "abbott", "northmemorial", "unknownhosp")
VISITS = 4
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"
HUGE_NUMBER = "__hostile_huge_number__"
XML_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><presence><pos>&lol3;</pos></presence>'
)
XXE = '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><presence><pos>&xxe;</pos></presence>'
XML_PARAM = '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY % e SYSTEM "http://127.0.0.1:1/x.dtd"> %e;]><presence/>'


def rng_for(seed: int, kind: str, index: int) -> random.Random:
    """The generator of one case: the same seed, kind and index always give the same case."""
    return random.Random(f"hostile:{seed}:{kind}:{index}")


# --- byte-level mutations shared by every text format


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    """Replace 1-8 random bytes with random values."""
    if not data:
        return bytes([rng.randrange(256)])
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    """Cut the input at a random point (sometimes to nothing)."""
    return data[: rng.randrange(len(data) + 1)] if data else data


def insert_junk(rng: random.Random, data: bytes) -> bytes:
    """Insert control characters, NULs, invalid UTF-8 or quote/bracket noise at a random point."""
    junk = rng.choice([b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\"", b"{[", b"\x1b[2J", b"\r\n\r\n", b"\\u0000"])
    at = rng.randrange(len(data) + 1)
    return data[:at] + junk * rng.randint(1, 20) + data[at:]


def reencode(rng: random.Random, data: bytes) -> bytes:
    """The same text in another encoding (UTF-16/32 with or without BOM, Latin-1, CP1252), or with a BOM."""
    text = data.decode("utf-8", errors="replace")
    choice = rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "utf-8-sig", "utf-16-be"])
    return text.encode(choice, errors="replace")


BYTE_MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "byte_flip": flip_bytes, "truncate": truncate, "insert_junk": insert_junk, "wrong_encoding": reencode,
}


@dataclass
class Case:
    """One hostile input: its kind, its index, the mutations applied and what the harness sends."""

    kind: str
    index: int
    mutations: list[str]
    payload: bytes = b""
    # ingest and ack requests
    method: str = "POST"
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    raw_http: bytes | None = None  # sent as is over a socket (malformed HTTP the client library would refuse to make)
    # MLLP: the byte chunks written on one connection, then whether the sender closes without waiting
    chunks: list[bytes] = field(default_factory=list)
    # acks: the token used and the form posted
    token: str = ""
    form: dict[str, str] | None = None

    @property
    def valid(self) -> bool:
        """True when no mutation was applied."""
        return not self.mutations


# --- EIDO


def base_eido(rng: random.Random, index: int) -> dict[str, Any]:
    """A well-formed EIDO document: a shooting (one of a few incidents) about a third of the time."""
    minute = timedelta(seconds=rng.randrange(0, 3600))
    stamp = (EVENING + minute).isoformat()
    lat, lon = rng.choice(PLACES)
    if rng.random() < SHOOTING_SHARE:
        incident = f"HX-S-{rng.randrange(SHOOTING_IDS)}"
        return build_eido(incident, stamp, internal_text="Shooting (PFE)", internal_code="SHOOT", apco="SHOOT", lat=lat, lon=lon,
                          victim_ages=[rng.choice([None, 15, 17, 24, 33])] if rng.random() < 0.5 else None)
    kind = rng.choice([("SICK", "Sick Person (P)"), ("MVA", "Motor Vehicle Accident (P)"), ("OTHER", "Noise Complaint"),
                       ("FIRE", "Structure Fire")])
    return build_eido(f"HX-N-{index}", stamp, apco=kind[0], internal_text=kind[1], lat=lat, lon=lon)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found.append((*prefix, key))
        found += _paths(value, (*prefix, key))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def _weird_value(rng: random.Random) -> Any:
    return rng.choice([None, True, 0, -1, 1e308, float("nan"), float("inf"), [], {}, [[[]]], "", " ", "x" * 5000,
                       "\u202e\u0000\ud7ff", 10**30, {"$ref": "nowhere"}, ["Victim"] * 50, "2026-13-45T99:99:99", "²", "9" * 5000, "０１７"])


def delete_field(rng: random.Random, doc: dict[str, Any]) -> None:
    """Delete a random key or list item, anywhere in the document."""
    paths = _paths(doc)
    if paths:
        path = rng.choice(paths)
        del _parent(doc, path)[path[-1]]


def swap_type(rng: random.Random, doc: dict[str, Any]) -> None:
    """Replace a random value with one of another type (or a strange value of the same one)."""
    paths = _paths(doc)
    if paths:
        path = rng.choice(paths)
        _parent(doc, path)[path[-1]] = _weird_value(rng)


def huge_value(rng: random.Random, doc: dict[str, Any]) -> None:
    """Make a random string value 10 KB to 900 KB long (sometimes the incident id, or a 5,000-digit number)."""
    size = rng.choices([10_000, 200_000, 900_000], weights=[0.75, 0.2, 0.05])[0]
    target = rng.random()
    if target < 0.3:
        doc["$id"] = "HX-" + "9" * size  # the builder's incident id
    elif target < 0.45:
        doc["hugeNumber"] = HUGE_NUMBER  # replaced by 5,000 digits once dumped: json.loads refuses over 4,300
    else:
        paths = [p for p in _paths(doc) if isinstance(_parent(doc, p)[p[-1]], str)]
        if paths:
            path = rng.choice(paths)
            # non-ASCII is written as \uXXXX escapes (6 bytes a character): kept under the broker's record limit
            char = rng.choice(["A", " "]) if size > 100_000 else rng.choice(["A", "é", "\u2028", " "])
            _parent(doc, path)[path[-1]] = char * size


def bad_timestamp(rng: random.Random, doc: dict[str, Any]) -> None:
    """A naive, malformed or out-of-range update time (years 1 and 9999, offsets at the edges)."""
    value = rng.choice(["2026-07-04T22:03:40", "yesterday", "", 1783220620, "2026-07-04T22:03:40+25:00",
                        "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00Z",
                        "9999-12-31T23:59:59+00:00", "2026-02-30T10:00:00Z", "1900-01-01T00:00:00Z", "2026-07-04T22:03:40.123456789-05:00"])
    incident = doc.get("incidentComponent")
    if isinstance(incident, dict):
        incident["lastUpdateTimeStamp"] = value
    doc["lastUpdateTimeStamp"] = value


def hostile_pidf(rng: random.Random, doc: dict[str, Any]) -> None:
    """Replace the PIDF-LO with an XML bomb, an external entity, malformed XML or unreadable coordinates."""
    pos_run = "<presence><gml:pos>" + " " * rng.choices([3_000, 50_000], weights=[0.8, 0.2])[0] + "x"  # malformed, with a long run: regex fallback
    choice = rng.choice([XML_BOMB, XXE, XML_PARAM, "<presence><gml:pos>45 -93</gml:pos>", "not xml at all", pos_run,
                         "<presence><pos>NaN NaN</pos></presence>", "<presence><pos>1e400 5</pos></presence>",
                         "<presence><pos>91 200</pos></presence>", "<presence><pos>45</pos></presence>",
                         "<p:presence xmlns:p='x'><pos>45.0003 -93.3001</pos>" + "<a>" * 5000,
                         '<?xml version="1.0" encoding="UTF-16"?><presence><pos>45.0003 -93.3001</pos></presence>',
                         "<presence>" + "<pos " * 20_000 + "</presence>", "<" * 100_000])
    for location in doc.get("locationComponent", []) if isinstance(doc.get("locationComponent"), list) else []:
        if isinstance(location, dict):
            location["locationByValue"] = choice


def surrogates(rng: random.Random, doc: dict[str, Any]) -> None:
    """Put a lone UTF-16 surrogate (legal as a JSON escape, not encodable as UTF-8) in the incident id or a text."""
    incident = doc.get("incidentComponent")
    if isinstance(incident, dict):
        key = rng.choice(["$id", "incidentTypeInternalText", "incidentTypeCommonRegistryText"])
        target = doc if key == "$id" else incident  # the builder's incident id is the document's $id
        target[key] = str(target.get(key, "x")) + rng.choice(["\ud800", "\udfff", "\ud83d"])


def whole_document(rng: random.Random, doc: dict[str, Any]) -> bytes:
    """Not an EIDO object at all: a scalar, an array, nesting 100,000 deep, an empty body, duplicate keys."""
    choice = rng.randrange(9)
    if choice == 0:
        return b"[" * 100_000 + b"]" * 100_000
    if choice == 1:
        return b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    if choice == 2:
        return json.dumps([doc]).encode()
    if choice == 3:
        return b""
    if choice == 4:
        return rng.choice([b"null", b"42", b'"text"', b"true", b"NaN", b"-Infinity"])
    if choice == 5:
        text = json.dumps(doc)
        return (text[:-1] + ',"incidentComponent":{"$id":"dup"}}').encode()
    if choice == 6:
        return json.dumps(doc).encode() + b" trailing garbage"
    if choice == 7:
        return b"1" * 6000
    return json.dumps(doc).encode() + b"\n" + json.dumps(doc).encode()


def oversize(rng: random.Random, doc: dict[str, Any]) -> bytes:
    """A document just over the parsers' 1,000,000-byte limit (padded with whitespace or a field)."""
    text = json.dumps(doc).encode()
    return text + b" " * max(0, OVERSIZE_BYTES - len(text))


DOC_MUTATIONS: dict[str, Callable[[random.Random, dict[str, Any]], None]] = {
    "delete_field": delete_field, "swap_type": swap_type, "huge_value": huge_value, "bad_timestamp": bad_timestamp,
    "hostile_pidf": hostile_pidf, "surrogates": surrogates,
}
WHOLE_MUTATIONS: dict[str, Callable[[random.Random, dict[str, Any]], bytes]] = {"whole_document": whole_document, "oversize": oversize}


def eido_case(seed: int, index: int, kind: str = "eido") -> Case:
    """A mutated (or, one time in six, valid) EIDO document."""
    rng = rng_for(seed, kind, index)
    doc = base_eido(rng, index)
    if rng.random() < VALID_SHARE:
        return Case(kind, index, [], json.dumps(doc).encode())
    mutations: list[str] = []
    data: bytes | None = None
    roll = rng.random()
    if roll < 0.1:
        name = "oversize" if rng.random() < 0.1 else "whole_document"  # 1 MB each: kept rare
        mutations.append(name)
        data = WHOLE_MUTATIONS[name](rng, doc)
    else:
        for name in rng.sample(sorted(DOC_MUTATIONS), rng.randint(1, 2)):
            mutations.append(name)
            DOC_MUTATIONS[name](rng, doc)
        data = json.dumps(doc, allow_nan=True).replace(f'"{HUGE_NUMBER}"', "7" * 5000).encode()
    if roll >= 0.1 and rng.random() < 0.35:
        name = rng.choice(sorted(BYTE_MUTATIONS))
        mutations.append(name)
        data = BYTE_MUTATIONS[name](rng, data)
    return Case(kind, index, mutations, data)


# --- HL7 over MLLP


def base_hl7(rng: random.Random, index: int) -> str:
    """A well-formed ADT message: a firearm-injury registration about half the time, else an update, another
    trigger, a non-firearm diagnosis or a non-emergency visit."""
    arrived = EVENING + timedelta(seconds=rng.randrange(0, 3600))
    hospital = rng.choice(HOSPITALS)
    visit = f"V{rng.randrange(VISITS)}"
    message = AdtMessage(control_id=f"HX{index}", hospital=hospital, arrived=arrived, visit_number=visit)
    roll = rng.random()
    if roll < SHOOTING_SHARE:
        pass
    elif roll < 0.65:
        message.trigger = "A08"
    elif roll < 0.75:
        message.trigger = rng.choice(["A01", "A03", "A31"])
    elif roll < 0.9:
        message.diagnoses = [("S52.501A", "Fracture of radius", "I10")]
    else:
        message.patient_class = "I"
    return message.render()


def _hl7_field_edit(rng: random.Random, text: str) -> str:
    segments = text.split("\r")
    n = rng.randrange(len(segments))
    fields = segments[n].split("|")
    m = rng.randrange(len(fields))
    fields[m] = rng.choice(["", "^^^^^^", "~~~", "\\E\\", "x" * 5000, "99991231230000-1200", "00010101000000+1400", "00000000",
                            "20260704", "2026070422", "\x00", "|", "ÿ" * 10, "X95.XXXA^Assault^I10~W32^Acc^I10"])
    segments[n] = "|".join(fields)
    return "\r".join(segments)


def _hl7_structure(rng: random.Random, text: str) -> str:
    segments = text.split("\r")
    choice = rng.randrange(11)
    if choice == 0 and len(segments) > 1:
        del segments[rng.randrange(len(segments))]
    elif choice == 1:
        segments[0] = "MSH" + rng.choice(["", "|", "||||", "A^~\\&", "|^", "|^^^^|", "\r"]) + segments[0][8:]
    elif choice == 2:
        segments.insert(rng.randrange(len(segments) + 1), rng.choice(["zz1|x", "PID", "1234|x", "", "MSH|^~\\&|again"]))
    elif choice == 3:
        return rng.choice(["\n", "\r\n"]).join(segments)
    elif choice == 4:
        fields = segments[0].split("|")
        if len(fields) > 9:
            fields[9] = rng.choice(["", "C" * 250, "   "])
        segments[0] = "|".join(fields)
    elif choice == 5:
        segments += [f"DG1|{n}|I10|X95.XXXA^Assault^I10" for n in range(rng.choice([100, 5000]))]
    elif choice == 6:
        segments = segments[:1]
    elif choice == 7:
        fields = segments[0].split("|")
        if len(fields) > 3:
            fields[3] = "H" * rng.choice([150, 100_000])  # the sending facility names the hospital downstream
        segments[0] = "|".join(fields)
    elif choice == 8:
        return ""
    elif choice == 9:
        return text + "\r" + "NTE|1||" + "n" * 1_000_100  # over the listener's 1,000,000-character limit
    else:
        segments.reverse()
    return "\r".join(segments)


def _frame(rng: random.Random, payload: bytes) -> tuple[list[bytes], list[str]]:
    """MLLP framing: well-formed most of the time, else one of the framing errors senders make."""
    if rng.random() < 0.75:
        return [START_BLOCK + payload + END_BLOCK], []
    choice = rng.randrange(9)
    if choice == 0:
        return [payload + END_BLOCK], ["no_start_block"]
    if choice == 1:
        return [START_BLOCK + payload], ["no_end_block"]  # then the sender hangs up: nothing to answer
    if choice == 2:
        return [b"garbage\r\n" + START_BLOCK + payload + END_BLOCK], ["junk_before_frame"]
    if choice == 3:
        return [START_BLOCK + payload + END_BLOCK + START_BLOCK + payload + END_BLOCK], ["two_frames_one_write"]
    if choice == 4:
        cut = rng.randrange(len(payload) + 1)
        return [START_BLOCK + payload[:cut], payload[cut:] + END_BLOCK], ["split_frame"]
    if choice == 5:
        return [START_BLOCK + payload + b"\x1c"], ["fs_without_cr"]
    if choice == 6:
        return [START_BLOCK + END_BLOCK], ["empty_frame"]
    if choice == 7:
        return [START_BLOCK + payload[: len(payload) // 2] + END_BLOCK + payload[len(payload) // 2:] + END_BLOCK], ["end_block_inside"]
    return [START_BLOCK + b"A" * 1_100_000], ["oversize_unframed"]


def hl7_case(seed: int, index: int) -> Case:
    """A mutated (or valid) ADT message in MLLP framing (sometimes broken)."""
    rng = rng_for(seed, "hl7", index)
    text = base_hl7(rng, index)
    if rng.random() < VALID_SHARE:
        return Case("hl7", index, [], text.encode(), chunks=[START_BLOCK + text.encode() + END_BLOCK])
    mutations: list[str] = []
    roll = rng.random()
    if roll < 0.35:
        mutations.append("field_edit")
        text = _hl7_field_edit(rng, text)
    elif roll < 0.65:
        mutations.append("structure")
        text = _hl7_structure(rng, text)
    data = text.encode("utf-8")
    if roll >= 0.65 or rng.random() < 0.3:
        name = rng.choice(sorted(BYTE_MUTATIONS))
        mutations.append(name)
        data = BYTE_MUTATIONS[name](rng, data)
    chunks, framing = _frame(rng, data)
    return Case("hl7", index, mutations + framing, data, chunks=chunks)


# --- open-data CSV files


CRIME_HEADER = ["Type", "Case_Number", "Reported_Date", "Offense", "Neighborhood", "Latitude", "Longitude"]
POLICE_HEADER = ["caseNumber", "description", "reportedDate", "reportedTime", "centerLat", "centerLong"]


def base_csv_rows(rng: random.Random, index: int) -> tuple[list[str], list[list[str]]]:
    """A header and 1-3 well-formed rows of one of the two city exports."""
    lat, lon = rng.choice(PLACES)
    rows = []
    crime = rng.random() < 0.6
    for n in range(rng.randint(1, 3)):
        when = EVENING + timedelta(seconds=rng.randrange(0, 86400))
        case_number = f"HX{index}-{n}"
        if crime:
            kind = rng.choice([("Gunshot Wound Victims", "Gunshot Wound Victim"), ("Shots Fired Calls", "ShotSpotter Activation (P)"),
                               ("Robbery", "Robbery of Person")])
            rows.append([kind[0], case_number, when.strftime("%Y/%m/%d %H:%M:%S+00"), kind[1], "Jordan", str(lat), str(lon)])
        else:
            description = rng.choice(["Shooting", "Shots Fired", "Theft", "ShotSpotter Activation"])
            rows.append([case_number, description, when.strftime("%Y/%m/%d 00:00:00+00"), when.strftime("%H%M"), str(lat), str(lon)])
    return (CRIME_HEADER if crime else POLICE_HEADER), rows


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_cell_edit(rng: random.Random, header: list[str], rows: list[list[str]]) -> None:
    row = rng.choice(rows)
    n = rng.randrange(len(row))
    row[n] = rng.choice(["", "NaN", "inf", "1e999", "-0", "0", "45,0003", "x" * 200, "9999/12/31 23:59:59+00",
                         "0001/01/01 00:00:00-14", "13/45/2026 99:99 PM", "2500", "\ud800", "=cmd|' /C calc'!A0", "\u202e"])


def csv_case(seed: int, index: int) -> Case:
    """A mutated (or valid) open-data CSV file: the real entry point reads files (`vigil parse csv`)."""
    rng = rng_for(seed, "csv", index)
    header, rows = base_csv_rows(rng, index)
    if rng.random() < VALID_SHARE:
        return Case("csv", index, [], _csv_text(header, rows).encode("utf-8"))
    mutations: list[str] = []
    roll = rng.randrange(8)
    if roll == 0:
        mutations.append("cell_edit")
        _csv_cell_edit(rng, header, rows)
    elif roll == 1:
        mutations.append("header_edit")
        header = list(header)
        choice = rng.randrange(4)
        if choice == 0:
            del header[rng.randrange(len(header))]
        elif choice == 1:
            header = [h.upper() for h in header]
        elif choice == 2:
            header = header + header
        else:
            header = ["\ufeff" + header[0], *header[1:]]
    elif roll == 2:
        mutations.append("ragged_rows")
        for row in rows:
            del row[rng.randrange(len(row)):]
            row += ["extra"] * rng.randint(0, 3)
    elif roll == 3:
        mutations.append("huge_cell")
        rows[0][rng.randrange(len(rows[0]))] = "Z" * rng.choices([200_000, 2_000_000], weights=[0.9, 0.1])[0]  # past the csv module's field limit
    elif roll == 4:
        mutations.append("quote_chaos")
        text = _csv_text(header, rows).encode()
        return Case("csv", index, mutations, text.replace(b",", b',"', rng.randint(1, 3)) + b'\n"unterminated')
    elif roll == 5:
        mutations.append("no_rows")
        rows = [] if rng.random() < 0.5 else [[""] * len(header)]
    elif roll == 6:
        mutations.append("cell_edit")
        for _ in range(3):
            _csv_cell_edit(rng, header, rows)
    else:
        mutations.append("nul_and_newlines")
        rows[0][rng.randrange(len(rows[0]))] = rng.choice(["a\x00b", "line1\nline2", "\r", "a\"b"])
    try:
        data = _csv_text(header, rows).encode("utf-8")
    except UnicodeEncodeError:
        data = _csv_text(header, rows).encode("utf-8", errors="surrogatepass")  # a file with a lone surrogate's bytes
        mutations.append("surrogate_bytes")
    if rng.random() < 0.3:
        name = rng.choice(sorted(BYTE_MUTATIONS))
        mutations.append(name)
        data = BYTE_MUTATIONS[name](rng, data)
    return Case("csv", index, mutations, data)


# --- HTTP ingest requests


def ingest_case(seed: int, index: int, token: str) -> Case:
    """A push to `vigil ingest-http`: an EIDO case's body, with the request itself sometimes broken
    (bad auth, wrong Content-Type, oversize, wrong method or path, malformed HTTP)."""
    body_case = eido_case(seed, index, kind="ingest")
    rng = rng_for(seed, "ingest-request", index)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    case = Case("ingest", index, list(body_case.mutations), body_case.payload, method="POST", path="/ingest/eido", headers=headers)
    if rng.random() >= 0.3:
        return case
    choice = rng.randrange(14)
    names = ["no_auth", "wrong_token", "basic_auth", "empty_bearer", "long_token", "no_content_type", "text_plain",
             "utf16_charset", "oversize_body", "wrong_method", "wrong_path", "raw_bad_request", "raw_huge_header", "multipart"]
    case.mutations.append(names[choice])
    if choice == 0:
        del headers["Authorization"]
    elif choice == 1:
        headers["Authorization"] = f"Bearer {token[:-1]}{'x' if token[-1] != 'x' else 'y'}"
    elif choice == 2:
        headers["Authorization"] = "Basic " + base64.b64encode(f"cad:{token}".encode()).decode()
    elif choice == 3:
        headers["Authorization"] = "Bearer   "
    elif choice == 4:
        headers["Authorization"] = "Bearer " + "t" * 6000
    elif choice == 5:
        del headers["Content-Type"]
    elif choice == 6:
        headers["Content-Type"] = "text/plain"
    elif choice == 7:
        headers["Content-Type"] = "application/json; charset=utf-16"
        case.payload = case.payload.decode("utf-8", errors="replace").encode("utf-16")
    elif choice == 8:
        case.payload = b"[" + b" " * 1_200_000 + b"]"
    elif choice == 9:
        case.method = rng.choice(["GET", "PUT", "DELETE"])
    elif choice == 10:
        case.path = rng.choice(["/ingest", "/ingest/eido/../../etc/passwd", "/ingest/EIDO", "/%00"])
    elif choice == 11:
        case.raw_http = rng.choice([b"POST /ingest/eido HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                                    b"GARBAGE\r\n\r\n", b"POST /ingest/eido HTTP/9.9\r\n\r\n",
                                    b"POST /ingest/eido HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
    elif choice == 12:
        case.raw_http = b"POST /ingest/eido HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 20_000 + b"\r\n\r\n"
    else:
        headers["Content-Type"] = "multipart/form-data; boundary=zz"
    return case


# --- ack-link requests


@dataclass(frozen=True)
class TokenPool:
    """The run's material for ack requests: real links' tokens from the phones' inbox, and tokens the harness
    signs itself (expired, other team, signed with another key)."""

    real: tuple[str, ...]
    expired: tuple[str, ...]
    other_team: tuple[str, ...]
    foreign: tuple[str, ...]


def _alter(rng: random.Random, token: str) -> tuple[str, str]:
    choice = rng.randrange(8)
    if choice == 0:
        n = rng.randrange(len(token))
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return token[:n] + rng.choice([c for c in alphabet if c != token[n]]) + token[n + 1:], "altered_char"
    if choice == 1:
        return token[: rng.randrange(len(token))], "truncated_token"
    if choice == 2:
        return token + "." + token.split(".")[-1], "extra_part"
    if choice == 3:
        return "A" * rng.choice([3000, 2049]), "huge_token"
    if choice == 4:
        return token.replace(".", "%2E", 1), "encoded_dot"
    if choice == 5:
        return "%FF%FE" + token, "bad_percent_bytes"
    if choice == 6:
        payload, _, signature = token.partition(".")
        swapped = base64.urlsafe_b64encode(b'{"a":"x","r":"y","t":"z","u":"w","i":"v","e":99999999999999999999}').rstrip(b"=").decode()
        return f"{swapped}.{signature}", "swapped_payload"
    return "é" + token, "non_ascii"


def ack_case(seed: int, index: int, pool: TokenPool) -> Case:
    """A GET or POST of an ack link: real (answered once, then again), altered, forged, expired or for
    another team; sometimes with an unknown answer, an unreadable form or the wrong method."""
    rng = rng_for(seed, "ack", index)
    method = "POST" if rng.random() < 0.6 else "GET"
    form: dict[str, str] | None = {"response": rng.choice(["ack", "on_my_way", "unable"])} if method == "POST" else None
    real = rng.choice(pool.real)
    roll = rng.random()
    mutations: list[str] = []
    token = real
    if roll < 0.25:
        pass  # a real link (the first POST answers it; later ones are "already answered")
    elif roll < 0.55:
        token, name = _alter(rng, real)
        mutations.append(name)
    elif roll < 0.65:
        token, name = rng.choice(pool.expired), "expired"
        mutations.append(name)
    elif roll < 0.75:
        token, name = rng.choice(pool.other_team), "other_team"
        mutations.append(name)
    elif roll < 0.85:
        token, name = rng.choice(pool.foreign), "forged_other_key"
        mutations.append(name)
    headers: dict[str, str] = {}
    if method == "POST" and rng.random() < 0.3:
        choice = rng.randrange(5)
        mutations.append(["unknown_answer", "no_form", "multipart_garbage", "huge_form", "wrong_method"][choice])
        if choice == 0:
            form = {"response": rng.choice(["yes", "", "ACK", "ack ", "x" * 500])}
        elif choice == 1:
            form = None
        elif choice == 2:
            form = None
            headers["Content-Type"] = "multipart/form-data; boundary=zz"
        elif choice == 3:
            form = {"response": "ack", "pad": "p" * 2_000_000}
        else:
            method = rng.choice(["PUT", "DELETE", "PATCH"])
            form = None
    return Case("ack", index, mutations, method=method, path=f"/ack/{token}", token=token, form=form, headers=headers)
