"""Truthful review records, as the reader sees them: a team that answered "can't respond" is shown as
such (not as a missed deadline), a deadline still running is "awaiting", and a report stamped by another
clock never makes a time to notify negative.

One evening (Saturday 4 July 2026, America/Chicago), looked at while it is still going on (23:10):
- the HCMC arrival at 21:15, whose HL7 listener stamped it with a clock 150 days ahead (the demo's
  listener runs on the wall clock while the worker runs on the demo's), acknowledged in time;
- a person shot in Midtown Phillips at 22:15, whose street team answers "can't respond" at 22:17;
- a person shot in Jordan at 23:05, whose street team's deadline (23:15) is still running.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from notifiers.ack_links import AckSigner
from reviews.store import ReviewStore
from reviews.web.app import create_web_app
from stream.model.events import EventKind, Intent, ShootingEvent, stable_id
from tests.helpers import JORDAN, MIDTOWN_PHILLIPS
from tests.helpers import CoreRun as Run

pytestmark = pytest.mark.database

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 7, 4, 22, 15, tzinfo=CHICAGO)
NOW = T0 + timedelta(minutes=55)  # 23:10: the Jordan deadline (23:15) is still running
OTHER_CLOCK = timedelta(days=150)  # how far ahead the HL7 listener's clock was
PASSWORD = "correct horse battery"


def truthful_night(deployment) -> tuple[Run, dict[str, str]]:
    """The evening of this module's docstring, fed through the real core up to NOW."""
    run = Run(deployment)
    arrived = T0 - timedelta(hours=1)
    arrival = ShootingEvent(
        event_id=stable_id("evt", "HCMC-1", arrived.isoformat()), jurisdiction="minneapolis", source="hl7", incident_id="visit-HCMC-1",
        ref="HCMC-1", kind=EventKind.GSW_ARRIVAL, reported_at=arrived, received_at=arrived + OTHER_CLOCK, location=None,
        hospital="hcmc", intent=Intent.ASSAULT, victim_count=1, victim_ages=(30,),
    )
    ids = {"hospital": run._event(arrival, arrived)}
    run.answer("HCMC-1", "nextstep-hcmc", arrived + timedelta(minutes=3))
    ids["declined"] = run.shooting("TR-1", MIDTOWN_PHILLIPS, T0)
    run.answer("TR-1", "vi-south-phillips", T0 + timedelta(minutes=2), "unable")
    ids["running"] = run.shooting("TR-2", JORDAN, T0 + timedelta(minutes=50))
    run.until(NOW)
    return run, ids


@dataclass
class Night:
    """The app over the evening's store, signed in as DNS staff."""

    client: TestClient
    ids: dict[str, str]

    def text(self, path: str) -> str:
        """A page as the reader reads it (entities decoded, tags kept)."""
        response = self.client.get(path)
        assert response.status_code == 200, response.text
        return html.unescape(response.text)

    def csv_rows(self) -> list[dict[str, str]]:
        response = self.client.get("/export/2026-07-04.csv")
        assert response.status_code == 200
        return list(csv.DictReader(io.StringIO(response.text)))


@pytest.fixture
def night(db_url: str, deployment) -> Iterator[Night]:
    run, ids = truthful_night(deployment)
    store = ReviewStore(db_url)
    store.create_schema()
    store.append(run.records)
    store.add_user("dana", PASSWORD, "dns", None, NOW - timedelta(days=30))
    app = create_web_app(AckSigner(b"truthful-test-secret-0123", "https://vigil.example.org"), store, _no_publish, lambda: NOW,
                         zone=CHICAGO)
    try:
        with TestClient(app, follow_redirects=False) as client:
            form = client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            assert client.post("/login", data={"username": "dana", "password": PASSWORD, "csrf": token, "next": "/"}).status_code == 303
            yield Night(client, ids)
    finally:
        store.dispose()


async def _no_publish(message) -> None:
    raise AssertionError("the review pages never publish acks")


def _team_row(page: str, team: str) -> str:
    rows = re.findall(r"<tr><td><strong>([^<]+)</strong></td>(.*?)</tr>", page, re.S)
    return next(row for name, row in rows if name == team)


def test_cant_respond_is_shown_as_such_on_the_activation_page(night: Night) -> None:
    page = night.text(f"/activation/{night.ids['declined']}")
    assert "escalated to dns-oncall: vi-south-phillips answered can't respond at 22:17:00" in page
    assert "did not ack" not in page
    street = _team_row(page, "vi-south-phillips")
    assert "can't respond at 22:17:00" in street
    assert "not in time" not in street
    oncall = _team_row(page, "dns-oncall")
    assert "because vi-south-phillips answered can't respond" in oncall
    assert '<span class="badge cant_respond">can\'t respond</span>' in page
    assert "missed ack" not in page


def test_the_day_page_flags_cant_respond_not_a_missed_ack(night: Night) -> None:
    page = night.text("/review/2026-07-04")
    row = next(r for r in page.split('<tr class="activation">')[1:] if night.ids["declined"] in r)
    assert '<span class="badge cant_respond">can\'t respond</span>' in row
    assert "missed ack" not in row


def test_a_running_deadline_is_awaiting_not_late(night: Night) -> None:
    page = night.text(f"/activation/{night.ids['running']}")
    street = _team_row(page, "vi-north-nearnorth")
    assert "awaiting (deadline 23:15)" in street
    assert "not in time" not in street
    assert "missed ack" not in page


def test_the_csv_says_cant_respond_and_awaiting(night: Night) -> None:
    rows = {(r["activation"], r["team"]): r for r in night.csv_rows()}
    declined = rows[(night.ids["declined"], "vi-south-phillips")]
    assert (declined["response"], declined["answered"], declined["acked_in_time"]) == ("unable", "2026-07-04T22:17:00-05:00", "can't respond")
    assert declined["flags"].split() == ["cant_respond"]
    running = rows[(night.ids["running"], "vi-north-nearnorth")]
    assert (running["acked_in_time"], running["ack_deadline"], running["flags"]) == ("awaiting", "2026-07-04T23:15:00-05:00", "")


def test_the_summary_counts_cant_respond_apart_from_missed_acks(night: Night) -> None:
    page = night.text("/summary?from=2026-07-04&to=2026-07-04")
    flags = dict(re.findall(r'<tr id="flag-(\w+)"><td>[^<]+</td><td class="num">(\d+)</td></tr>', page))
    assert (flags["cant_respond"], flags["missed_ack"]) == ("1", "0")
    phillips = page.split('<tr id="team-vi-south-phillips">')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num"[^>]*>([^<]*)<', phillips)[:3] == ["1", "0", "0% (0 of 1; 1 can't respond)"]
    jordan = page.split('<tr id="team-vi-north-nearnorth">')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num"[^>]*>([^<]*)<', jordan)[:3] == ["1", "0", "1 awaiting"]


def test_an_arrival_stamped_by_another_clock_has_a_true_time_to_notify(night: Night) -> None:
    page = night.text(f"/activation/{night.ids['hospital']}")
    shown = re.search(r"<dt>Time to notify</dt><dd>([^<]*)</dd>", page).group(1)  # type: ignore[union-attr]
    assert shown == "1.0 s"  # the alert reached the phones a second after the arrival was decided on
    times = re.findall(r'<tr class="step \w+"><td>([\d:]+)</td>', page)
    assert times[0] == "21:15:00" and times == sorted(times)  # received first, on the evening's clock
