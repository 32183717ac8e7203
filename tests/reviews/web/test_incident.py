"""The answer page shows the incident (reviews/web/incident.py, reviews/web/answers.py): what, where at the team's
precision, map links at that precision, reported time, deadline and time left, who has answered; on SQLite and
PostgreSQL through the real app, and the precision rules on the records directly."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from reviews.web.incident import incident_of, neighborhood_centres, team_precisions
from stream.core.activations import handle_ack, handle_event
from stream.core.state import Config, CoreState
from stream.feeds.classify import classify_cad
from stream.feeds.eido import parse_eido
from tests.helpers import JORDAN, RECEIVED, as_bytes, shooting
from tests.reviews.web.fixtures import CHICAGO, JAMES_AVE, Service

STREET, GVI = "vi-north-nearnorth", "gvi-outreach"


def _read(response) -> str:
    """A page's text as the person holding the phone reads it."""
    assert response.status_code == 200
    return html.unescape(response.text)


def _jordan(deployment, address: dict[str, str] | None = JAMES_AVE):
    """The Jordan shooting's timeline records, as the service's store holds them (``address=None``: CAD sent no civic
    address), and the core that made them."""
    config = Config(deployment.coverage, deployment.protocols)
    state = CoreState()
    event = classify_cad(parse_eido(as_bytes(shooting("MPLS-W1", JORDAN, address=address))), deployment.classification, RECEIVED)
    return state, config, handle_event(state, event, RECEIVED, config)


@pytest.mark.database
def test_page_says_what_where_when_and_the_deadline(service: Service) -> None:
    page = _read(service.client.get(service.link_path()))
    assert "<h1 class=\"what\">Person shot</h1>" in page
    assert "2400 block of James Ave N, Jordan" in page  # the alert's words: the hundred-block and the neighborhood
    assert "45.0003" not in page and "-93.3001" not in page  # never the raw point
    assert "2418" not in page  # nor the house number
    assert "reported Sat 22:03" in page  # the CAD report's time, in the deployment's local time
    assert "Answer by 22:14 · 10 min left" in page
    assert "No one has answered yet." in page


@pytest.mark.database
def test_map_links_carry_the_rounded_point(service: Service) -> None:
    page = _read(service.client.get(service.link_path()))
    assert 'href="geo:45.000,-93.300"' in page
    assert 'href="https://www.openstreetmap.org/?mlat=45.000&mlon=-93.300#map=17/45.000/-93.300"' in page


@pytest.mark.database
def test_time_left_counts_down_and_says_when_the_deadline_passed(service: Service) -> None:
    service.now = RECEIVED + timedelta(minutes=7, seconds=30)
    assert "Answer by 22:14 · 2 min left" in _read(service.client.get(service.link_path()))
    service.now = RECEIVED + timedelta(minutes=13)
    assert "Answer by 22:14 · passed 3 min ago" in _read(service.client.get(service.link_path()))


@pytest.mark.database
def test_page_lists_who_else_has_answered(service: Service, deployment) -> None:
    state, config, _ = _jordan(deployment)
    service.store.append(handle_ack(state, "MPLS-W1", GVI, RECEIVED + timedelta(minutes=2), config, "on_my_way").timeline)
    service.store.append(handle_ack(state, "MPLS-W1", STREET, RECEIVED + timedelta(minutes=3), config, "ack").timeline)
    page = _read(service.client.get(service.link_path()))
    assert "gvi-outreach: on the way, 22:06" in page
    assert "vi-north-nearnorth (your team): acknowledged, 22:07" in page
    assert "No one has answered yet." not in page


@pytest.mark.database
def test_a_team_without_a_deadline_is_told_so_truthfully(service: Service) -> None:
    assert service.intents[1].team == GVI and service.intents[1].ack_deadline is None
    page = _read(service.client.get(service.link_path(service.intents[1])))
    assert "No answer deadline for gvi-outreach: nobody is told automatically if you do not answer." in page
    assert "Answer by" not in page and "min left" not in page
    assert "2400 block of James Ave N, Jordan" in page  # gvi's alerts are at block precision too


def test_block_precision_without_a_civic_address_says_the_neighborhood_and_the_rounded_point(deployment) -> None:
    _, _, outcome = _jordan(deployment, address=None)
    incident = incident_of(outcome.timeline, STREET, outcome.intents[0].intent_id, {STREET: "block"}, CHICAGO, RECEIVED)
    assert incident.where == "Jordan (45.000, -93.300)"
    assert (incident.map.geo, incident.map.osm) == (
        "geo:45.000,-93.300", "https://www.openstreetmap.org/?mlat=45.000&mlon=-93.300#map=17/45.000/-93.300")


def test_block_precision_names_the_hundred_block_with_the_map_at_the_rounded_point(deployment) -> None:
    _, _, outcome = _jordan(deployment)
    incident = incident_of(outcome.timeline, STREET, outcome.intents[0].intent_id, {STREET: "block"}, CHICAGO, RECEIVED)
    assert incident.where == "2400 block of James Ave N, Jordan"
    assert incident.map.geo == "geo:45.000,-93.300"  # the block's own point is not known: the ~100 m point instead


def test_neighborhood_precision_names_the_neighborhood_and_maps_its_centre(deployment) -> None:
    _, _, outcome = _jordan(deployment)
    centres = neighborhood_centres(deployment.coverage)
    incident = incident_of(outcome.timeline, STREET, outcome.intents[0].intent_id, {STREET: "neighborhood"}, CHICAGO, RECEIVED,
                           centres)
    assert incident.where == "Jordan"  # never the block
    lat, lon = centres["Jordan"]
    assert incident.map.geo == f"geo:{lat},{lon}" and incident.map.osm.endswith(f"#map=15/{lat}/{lon}")
    assert (lat, lon) != ("45.000", "-93.300")  # the neighborhood's point, not the shooting's
    assert incident_of(outcome.timeline, STREET, outcome.intents[0].intent_id, {STREET: "neighborhood"}, CHICAGO,
                       RECEIVED).map is None  # a web not given the centres gives no map


def test_a_neighborhood_centre_lies_in_its_neighborhood(deployment) -> None:
    centres = neighborhood_centres(deployment.coverage)
    assert set(centres) == set(deployment.coverage.cell_neighborhood.values())
    for name, (lat, lon) in centres.items():  # rounded to ~100 m, still inside: every one of the 87
        assert deployment.coverage.at(float(lat), float(lon), RECEIVED).neighborhood == name


@pytest.mark.parametrize("precisions", [{STREET: "none"}, {}], ids=["none", "team-unknown"])
def test_no_place_for_an_audience_whose_alert_has_none_or_an_unknown_team(deployment, precisions) -> None:
    _, _, outcome = _jordan(deployment)
    incident = incident_of(outcome.timeline, STREET, outcome.intents[0].intent_id, precisions, CHICAGO, RECEIVED)
    assert incident.where == "the city" and incident.map is None


def test_team_precisions_follow_the_audience_templates(deployment) -> None:
    precisions = team_precisions(Config(deployment.coverage, deployment.protocols))
    assert precisions[STREET] == "block" and precisions[GVI] == "block" and precisions["dns-oncall"] == "block"
    assert {precisions[t.id] for t in deployment.coverage.teams.values() if t.audience.value == "school"} == {"neighborhood"}
    assert {precisions[t.id] for t in deployment.coverage.teams.values() if t.audience.value == "hospital"} == {"none"}


def test_a_drill_says_so_first_and_a_real_shooting_does_not(deployment) -> None:
    _, _, real = _jordan(deployment)
    config = Config(deployment.coverage, deployment.protocols)
    event = classify_cad(parse_eido(as_bytes(shooting("MPLS-D1", JORDAN))), deployment.classification, RECEIVED)
    drill = handle_event(CoreState(), event.model_copy(update={"drill": True}), RECEIVED, config)
    assert incident_of(real.timeline, STREET, real.intents[0].intent_id, {STREET: "block"}, CHICAGO, RECEIVED).drill is None
    shown = incident_of(drill.timeline, STREET, drill.intents[0].intent_id, {STREET: "block"}, CHICAGO, RECEIVED, language="es")
    assert shown.drill == "DRILL (SIMULACRO) - no es un tiroteo real, solo práctica."
