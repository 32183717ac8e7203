"""`vigil parse eido|hl7|csv FILE...`: one JSON line per message; exit 0 whenever the files could be read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from stream.cli.parse import hl7_messages
from stream.feeds.eido_builder import build_eido
from stream.feeds.hl7 import message_key
from stream.feeds.hl7_builder import AdtMessage
from tests.helpers import JORDAN, shooting, vigil_in_process

DATA = Path(__file__).resolve().parents[2] / "data"
ARRIVED = datetime(2026, 7, 4, 22, 10, tzinfo=ZoneInfo("America/Chicago"))
EVENT_KEYS = {"kind", "ref", "lat", "lon", "fatal", "victims", "ages", "hospital", "intent"}


SECRET = "parse-test-secret-012345"


def _parse(*args: str, secret: str | None = SECRET, real: bool = False) -> tuple[int, list[dict], str]:
    """`vigil parse`: as a real process with ``real`` (one test does), else in-process (``vigil_in_process``)."""
    if real:
        env = {k: v for k, v in os.environ.items() if k != "VIGIL_HL7_SECRET"}
        if secret:
            env["VIGIL_HL7_SECRET"] = secret
        result = subprocess.run([sys.executable, "-m", "stream.cli", "--log-level", "error", "parse", *args],
                                capture_output=True, text=True, timeout=120, env=env)
    else:
        result = vigil_in_process("--log-level", "error", "parse", *args, env={"VIGIL_HL7_SECRET": secret or None})
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test_eido_files_give_one_line_per_document(tmp_path: Path) -> None:
    lines = tmp_path / "cad.jsonl"
    traffic = build_eido("P-2", "2026-07-04T22:05:00-05:00", apco="MVA", lat=44.96, lon=-93.27)
    lines.write_text("\n".join([json.dumps(shooting("P-1", JORDAN, victim_ages=[19])), json.dumps(traffic), "{broken"]) + "\n")
    code, out, _ = _parse("eido", str(DATA / "eido" / "sample_call_transfer.json"), str(lines), real=True)
    assert code == 0
    assert [list(line) for line in out] == [["skipped"], ["event"], ["skipped"], ["rejected"]]
    event = out[1]["event"]
    assert EVENT_KEYS <= set(event)
    assert (event["kind"], event["ref"], event["lat"], event["lon"], event["fatal"], event["victims"], event["ages"]) == (
        "person_shot", "P-1", JORDAN[0], JORDAN[1], False, 1, [19])
    assert out[2]["skipped"] == {"ref": "P-2", "reason": "not_a_shooting", "lat": 44.96, "lon": -93.27}
    assert out[3]["rejected"]["reason"] == "invalid_json"


def test_hl7_files_split_at_msh_with_or_without_framing(tmp_path: Path) -> None:
    arrival = AdtMessage("H-1", "hcmc", ARRIVED).render()
    update = AdtMessage("H-2", "hcmc", ARRIVED, trigger="A08").render()
    path = tmp_path / "feed.hl7"
    path.write_text(arrival.replace("\r", "\n") + "\n\n" + "\x0b" + update + "\x1c\r" + "MSH|^~\\&|X|hcmc\n")
    code, out, _ = _parse("hl7", str(path))
    assert code == 0
    assert [list(line) for line in out] == [["event"], ["skipped"], ["rejected"]]
    assert {k: out[0]["event"][k] for k in ("kind", "ref", "hospital", "intent", "ages")} == {
        "kind": "gsw_arrival", "ref": message_key(SECRET.encode(), "hcmc", "H-1"), "hospital": "hcmc", "intent": "assault", "ages": [27]}
    assert out[1]["skipped"] == {"ref": message_key(SECRET.encode(), "hcmc", "H-2"), "reason": "update_not_alerting"}
    assert set(out[2]["rejected"]) == {"reason", "detail"}  # no excerpt: HL7 may hold patient identity


def test_hl7_without_a_secret_still_parses_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "one.hl7"
    path.write_text(AdtMessage("H-3", "hcmc", ARRIVED).render())
    code, out, err = _parse("hl7", str(path), secret=None)
    assert code == 0 and out[0]["event"]["ref"].startswith("msg-")  # MSH-10's hash, with a one-off key
    assert "VIGIL_HL7_SECRET not set; visit keys use a one-off random secret" in err


def test_csv_files_of_both_layouts() -> None:
    code, out, _ = _parse("csv", str(DATA / "opendata" / "crime_data.csv"), str(DATA / "opendata" / "police_incidents_2019.csv"))
    assert code == 0
    kinds = [line["event"]["kind"] for line in out if "event" in line]
    assert "person_shot" in kinds and "shotspotter" in kinds
    assert all(len(line) == 1 and next(iter(line)) in ("event", "skipped", "rejected") for line in out)


def test_unreadable_file_is_exit_1_and_named(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(shooting("P-9", JORDAN)))
    code, out, err = _parse("eido", str(tmp_path / "missing.json"), str(good))
    assert code == 1
    assert [line["event"]["ref"] for line in out] == ["P-9"]
    assert f"vigil parse: cannot read {tmp_path / 'missing.json'}: No such file or directory" in err


def test_unknown_kind_is_a_usage_error() -> None:
    code, _, err = _parse("xml", "x")
    assert code == 2 and "vigil parse: unknown kind 'xml'; expected one of eido, hl7, csv" in err


def test_hl7_messages_splitter_ignores_framing() -> None:
    assert list(hl7_messages("\x0bMSH|a\rPID|1\x1c\r\x0bMSH|b\x1c\r")) == ["MSH|a\rPID|1", "MSH|b"]
