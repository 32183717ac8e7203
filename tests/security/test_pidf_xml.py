"""Hostile PIDF-LO (the XML inside an EIDO location) is refused with a clear reason before anything in it
is resolved: external entities (XXE, to a file or a URL), entity expansion (billion laughs), parameter
entities. The ingest turns it into a dead letter naming the reason, never into an event."""

from __future__ import annotations

import socket
import threading

import pytest

from stream.feeds.ingest import ingest_cad
from stream.feeds.pidf import location_from_pidf
from stream.model.errors import Rejected
from stream.model.events import DeadLetter, ShootingEvent
from tests.helpers import RECEIVED, as_bytes, shooting

FORBIDDEN = "pidf_forbidden_xml: PIDF-LO declares DTDs or entities (EntitiesForbidden)"
POS = '<gml:pos xmlns:gml="http://www.opengis.net/gml">{}</gml:pos>'
LAUGHS = "".join(f'<!ENTITY lol{k} "{f"&lol{k - 1};" * 10}">' for k in range(1, 10))
HOSTILE = {
    "external entity, a file": f'<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence>{POS.format("&x;")}</presence>',
    "external entity, a URL": f'<!DOCTYPE p [<!ENTITY x SYSTEM "http://{{host}}/x">]><presence>{POS.format("&x;")}</presence>',
    "billion laughs": f'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY lol0 "lol">{LAUGHS}]><presence>{POS.format("&lol9;")}</presence>',
    "parameter entity": f'<!DOCTYPE p [<!ENTITY % e SYSTEM "http://{{host}}/e.dtd"> %e;]><presence>{POS.format("44.9 -93.2")}</presence>',
    "an unused entity declaration": f'<!DOCTYPE p [<!ENTITY a "b">]><presence>{POS.format("44.9 -93.2")}</presence>',
}


@pytest.fixture
def listener():
    """A TCP port that records whether anything connected: the parser must never fetch what XML names."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    hits: list[bool] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                hits.append(True)
                conn.close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}", hits
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_pidf_is_refused_naming_the_reason(kind: str, listener) -> None:
    host, hits = listener
    with pytest.raises(Rejected) as info:
        location_from_pidf(HOSTILE[kind].format(host=host))
    assert (info.value.reason, str(info.value)) == ("pidf_forbidden_xml", FORBIDDEN)
    assert hits == []


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_shooting_with_hostile_pidf_is_a_dead_letter_not_an_event(kind: str, deployment, listener) -> None:
    host, hits = listener
    doc = shooting("MPLS-XXE")
    doc["locationComponent"][0]["locationByValue"] = HOSTILE[kind].format(host=host)
    outcome = ingest_cad(as_bytes(doc), deployment.classification, RECEIVED)
    assert isinstance(outcome, DeadLetter) and not isinstance(outcome, ShootingEvent)
    assert (outcome.reason, outcome.detail) == ("pidf_forbidden_xml", "PIDF-LO declares DTDs or entities (EntitiesForbidden)")
    assert "root:" not in outcome.model_dump_json() and hits == []


def test_an_external_dtd_is_never_fetched(listener) -> None:
    # A DOCTYPE naming an outside DTD, with no entity, is read as plain PIDF-LO: the parser never loads it.
    host, hits = listener
    pidf = f'<!DOCTYPE presence SYSTEM "http://{host}/p.dtd"><presence>{POS.format("44.9 -93.2")}</presence>'
    assert (location_from_pidf(pidf).lat, hits) == (44.9, [])
