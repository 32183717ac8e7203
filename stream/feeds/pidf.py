"""The point and the hundred-block from a PIDF-LO document (the ``locationByValue`` of an EIDO location).

PIDF-LO arrives from outside: parsed with defusedxml (no entity is ever resolved), and when the XML is
malformed, as real ones can be (undeclared prefixes, broken tags), ``gml:pos`` is still read as text (the
civic address is not: its elements are too many to pick out of broken XML safely).

The hundred-block is what street alerts say instead of a point: the house number rounded down to the hundred
and the street, "1400 block of Lowry Ave N" (``hundred_block``). It comes from the first ``civicAddress``
(RFC 4119/5139; RFC 6848's extension elements read too) and is None unless the address has both a plain
house number and a street: an intersection or a landmark alone gives none. Why: RFC 5139 has no intersection
element (producers put the cross street in RD, LOC or a landmark, each differently), and a landmark or a name
(LMK, NAM) can say more than a block, a business or a home; the alert then falls back to the neighborhood.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from stream.model.errors import Rejected
from stream.model.events import Location

# Linear on any input: no two adjacent parts can match the same characters ([^<>] and [^<] stop at the next
# tag), so a long run of spaces or of "<pos " costs one pass, not the cubic backtracking of \s*(.+?)\s*.
_POS_TEXT = re.compile(r"<(?:[\w.-]+:)?pos(?:\s[^<>]*)?>([^<]*)</(?:[\w.-]+:)?pos\s*>")

# The street's parts in the order NENA's CLDXF writes them: pre-modifier, pre-directional, pre-type (RFC 6848),
# name (RD; RFC 4119's A6 when there is no RD), post-type (suffix), post-directional, post-modifier.
_STREET_PARTS = ("PRM", "PRD", "STP", "RD", "STS", "POD", "POM")
_PART_CHARS, _STREET_CHARS = 40, 80  # longer is not a street name an alert can carry
_HOUSE_DIGITS = 6


def _location_from_pos(text: str) -> Location:
    parts = text.split()
    if len(parts) < 2:
        raise Rejected("bad_location", f"gml:pos {text!r} does not hold 'lat lon'")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise Rejected("bad_location", f"gml:pos {text!r} is not numeric") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Rejected("bad_location", f"gml:pos {text!r} is outside WGS84 lat/lon ranges")
    return Location(lat=lat, lon=lon)


def _local(element: Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _plain(text: str | None) -> str | None:
    """One part of a street name with its spaces collapsed; None when empty, too long or not printable."""
    words = " ".join((text or "").split())
    return words if words and len(words) <= _PART_CHARS and words.isprintable() else None


def hundred_block(civic: Mapping[str, str]) -> str | None:
    """"1400 block of Lowry Ave N" from civic address elements (RFC 5139 names: HNO, PRD, RD, STS, POD, ...).

    The house number (HNO, ASCII digits only; its suffix HNS and prefix HNP are dropped) is rounded down to the
    hundred; a number under 100 is the "0 block", as police blotters say it. None without a house number or a
    street (RD, else A6), or when either is not plain text.
    """
    number = (civic.get("HNO") or "").strip()
    if not (number.isascii() and number.isdecimal() and len(number) <= _HOUSE_DIGITS):
        return None  # "N123W456", "1400-1410": not one house number to round
    parts = {name: _plain(civic.get(name)) for name in _STREET_PARTS}
    if any(civic.get(name) and not parts[name] for name in _STREET_PARTS):
        return None  # a part that is there but unreadable: better no block than a garbled one
    parts["RD"] = parts["RD"] or _plain(civic.get("A6"))
    if not parts["RD"]:
        return None
    street = " ".join(part for part in (parts[name] for name in _STREET_PARTS) if part)
    if len(street) > _STREET_CHARS:
        return None
    return f"{int(number) // 100 * 100} block of {street}"


def _civic_block(root: Element) -> str | None:
    for element in root.iter():
        if _local(element) == "civicAddress":
            civic: dict[str, str] = {}
            for child in element:
                civic.setdefault(_local(child), child.text or "")  # the first of a repeated element
            return hundred_block(civic)
    return None


def _parsed(xml_text: str) -> Element | None:
    """The document's root; None for malformed XML. Raises ``Rejected`` for entities and lone surrogates."""
    if not xml_text.isascii() and any("\ud800" <= c <= "\udfff" for c in xml_text):
        # a lone surrogate (a JSON escape such as \\ud800) cannot be encoded for the XML parser
        raise Rejected("bad_location", "PIDF-LO holds a lone UTF-16 surrogate, which is not a character")
    try:
        return fromstring(xml_text)
    except DefusedXmlException as exc:
        raise Rejected("pidf_forbidden_xml", f"PIDF-LO declares DTDs or entities ({type(exc).__name__})") from None
    except ParseError:
        return None


def read_pidf(xml_text: str) -> tuple[Location | None, str | None]:
    """The first ``gml:pos`` point (None when civic only) and the hundred-block of the first civic address
    (None without one; see ``hundred_block``) of a PIDF-LO document.

    Raises ``Rejected`` for documents with entity declarations and for unreadable coordinates.
    """
    root = _parsed(xml_text)
    if root is None:
        match = _POS_TEXT.search(xml_text)
        return (_location_from_pos(match.group(1).strip()) if match else None), None
    point = next((element for element in root.iter() if _local(element) == "pos"), None)
    return (_location_from_pos(point.text or "") if point is not None else None), _civic_block(root)


def location_from_pidf(xml_text: str) -> Location | None:
    """The first ``gml:pos`` point in a PIDF-LO document, or None when it has no point (civic only).

    Raises ``Rejected`` for documents with entity declarations and for unreadable coordinates.
    """
    return read_pidf(xml_text)[0]


def block_from_pidf(xml_text: str) -> str | None:
    """The hundred-block of a PIDF-LO document's first civic address (see ``hundred_block``), or None."""
    return read_pidf(xml_text)[1]
