"""The hundred-block from a PIDF-LO civic address (stream/feeds/pidf.py): what street alerts say instead of a point."""

from __future__ import annotations

import pytest

from stream.feeds.eido_builder import pidf_point
from stream.feeds.pidf import block_from_pidf, hundred_block, read_pidf

CIVIC = '<civicAddress xmlns="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">{}</civicAddress>'


def _pidf(*elements: str) -> str:
    inner = "".join(elements)
    return ('<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10">'
            f'<gp:geopriv><gp:location-info>{CIVIC.format(inner)}</gp:location-info></gp:geopriv></presence>')


@pytest.mark.parametrize(("civic", "block"), [
    ({"HNO": "1418", "RD": "Lowry", "STS": "Ave", "POD": "N"}, "1400 block of Lowry Ave N"),
    ({"HNO": "2418", "RD": "James", "STS": "Ave", "POD": "N", "HNS": "1/2"}, "2400 block of James Ave N"),  # the suffix goes too
    ({"HNO": "3001", "PRD": "E", "RD": "Lake", "STS": "St"}, "3000 block of E Lake St"),
    ({"HNO": "42", "PRD": "W", "RD": "Cellular", "STS": "Street"}, "0 block of W Cellular Street"),  # under 100: the 0 block
    ({"HNO": "100", "RD": "Main", "STS": "St", "PRM": "Old", "POM": "Extended"}, "100 block of Old Main St Extended"),
    ({"HNO": "0815", "A6": "Broadway", "POD": "W"}, "800 block of Broadway W"),  # RFC 4119's A6 when there is no RD
    ({"HNO": " 1200 ", "RD": "  Penn   ", "STS": "Ave", "POD": "N"}, "1200 block of Penn Ave N"),
    ({"HNO": "1200", "STP": "Avenue", "RD": "of the Arts"}, "1200 block of Avenue of the Arts"),  # RFC 6848 street type prefix
])
def test_hundred_block_rounds_the_house_number_down_and_names_the_street(civic: dict[str, str], block: str) -> None:
    assert hundred_block(civic) == block


@pytest.mark.parametrize("civic", [
    {"RD": "Lowry", "STS": "Ave", "POD": "N"},  # no house number
    {"HNO": "1418"},  # no street
    {"HNO": "1418", "RD": "  "},
    {"LMK": "North High School", "RD": "Fremont", "STS": "Ave", "POD": "N"},  # a landmark, no number
    {"RD": "Penn Ave N & Lowry Ave N"},  # an intersection: no number
    {"HNO": "N123W456", "RD": "Main", "STS": "St"},  # a grid address: not a house number to round
    {"HNO": "1400-1410", "RD": "Main", "STS": "St"},
    {"HNO": "1234567", "RD": "Main", "STS": "St"},  # too long to be a house number
    {"HNO": "١٤٠٠", "RD": "Main", "STS": "St"},  # decimal digits, but not the ASCII ones an alert can show
    {"HNO": "1400", "RD": "Main\x07St"},  # control characters are not a street name
    {"HNO": "1400", "RD": "x" * 81},
])
def test_no_hundred_block_without_a_number_and_a_plain_street(civic: dict[str, str]) -> None:
    assert hundred_block(civic) is None


def test_reads_the_civic_address_of_a_pidf_lo() -> None:
    pidf = _pidf("<country>US</country><A1>MN</A1><A3>Minneapolis</A3><HNO>1418</HNO><RD>Lowry</RD><STS>Ave</STS><POD>N</POD>")
    assert block_from_pidf(pidf) == "1400 block of Lowry Ave N"
    assert read_pidf(pidf) == (None, "1400 block of Lowry Ave N")  # civic only: no point


def test_reads_the_rfc_6848_extension_namespace() -> None:
    ext = '<ext:STP xmlns:ext="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr:ext">Avenue</ext:STP>'
    assert block_from_pidf(_pidf("<HNO>1250</HNO>", ext, "<RD>of the Arts</RD>")) == "1200 block of Avenue of the Arts"


def test_a_point_only_pidf_has_no_block() -> None:
    location, block = read_pidf(pidf_point(45.0003, -93.3001))
    assert (location.lat, location.lon, block) == (45.0003, -93.3001, None)


def test_the_first_civic_address_is_read() -> None:
    pidf = _pidf("<HNO>1418</HNO><RD>Lowry</RD>").replace("</gp:location-info>", CIVIC.format("<HNO>99</HNO><RD>Elm</RD>") + "</gp:location-info>")
    assert block_from_pidf(pidf) == "1400 block of Lowry"


def test_malformed_pidf_has_no_block_but_keeps_its_point() -> None:
    location, block = read_pidf("<presence><gml:pos>44.95 -93.26</gml:pos><HNO>1418</HNO><RD>Lowry</RD><broken></presence>")
    assert (location.lat, block) == (44.95, None)
