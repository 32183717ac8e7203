"""Where an alert says the shooting was (stream/core/messages.py ``where``): the hundred-block and the
neighborhood at block precision, never the raw point; the neighborhood alone at neighborhood precision."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from stream.core.activations import handle_event
from stream.core.messages import where
from stream.core.state import Activation, Config, CoreState
from stream.model.events import EventKind, Location, ShootingEvent, stable_id
from tests.helpers import JORDAN, OUTSIDE_CITY

T0 = datetime(2026, 7, 4, 22, 15, tzinfo=ZoneInfo("America/Chicago"))
JAMES_AVE = "2400 block of James Ave N"


def _activation(deployment, point: tuple[float, float] | None = JORDAN, block: str | None = None) -> Activation:
    event = ShootingEvent(event_id=stable_id("evt", "W-1"), jurisdiction="minneapolis", source="eido", incident_id="W-1", ref="W-1",
                          kind=EventKind.PERSON_SHOT, reported_at=T0, received_at=T0, block=block,
                          location=Location(lat=point[0], lon=point[1]) if point else None)
    state = CoreState()
    outcome = handle_event(state, event, T0, Config(deployment.coverage, deployment.protocols))
    return state.activations[outcome.activation_id]


@pytest.mark.parametrize(("point", "block", "precision", "said"), [
    (JORDAN, JAMES_AVE, "block", "2400 block of James Ave N, Jordan"),
    (JORDAN, None, "block", "Jordan"),  # no civic address: the neighborhood, not the point
    (OUTSIDE_CITY, None, "block", "outside the city"),
    (OUTSIDE_CITY, "100 block of Main St", "block", "100 block of Main St"),
    (None, JAMES_AVE, "block", JAMES_AVE),  # a civic address only: no point, no neighborhood
    (None, None, "block", "location not given"),
    (JORDAN, JAMES_AVE, "neighborhood", "Jordan"),  # a school team never hears the block
    (OUTSIDE_CITY, JAMES_AVE, "neighborhood", "outside the city"),
    (JORDAN, JAMES_AVE, "none", "the city"),
    (None, None, "none", "location not given"),
])
def test_where_says_the_place_at_the_audience_precision(deployment, point, block, precision: str, said: str) -> None:
    assert where(_activation(deployment, point, block), precision) == said


@pytest.mark.parametrize("block", [JAMES_AVE, None])
def test_block_precision_never_gives_the_raw_point(deployment, block: str | None) -> None:
    assert "45." not in where(_activation(deployment, JORDAN, block), "block")
