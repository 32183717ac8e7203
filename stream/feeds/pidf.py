"""Coordinates from a PIDF-LO document (the ``locationByValue`` of an EIDO location).

PIDF-LO arrives from outside: parsed with defusedxml (no entity is ever resolved), and when the XML is
malformed, as real ones can be (undeclared prefixes, broken tags), ``gml:pos`` is still read as text.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from stream.model.errors import Rejected
from stream.model.events import Location

# Linear on any input: no two adjacent parts can match the same characters ([^<>] and [^<] stop at the next
# tag), so a long run of spaces or of "<pos " costs one pass, not the cubic backtracking of \s*(.+?)\s*.
_POS_TEXT = re.compile(r"<(?:[\w.-]+:)?pos(?:\s[^<>]*)?>([^<]*)</(?:[\w.-]+:)?pos\s*>")


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


def location_from_pidf(xml_text: str) -> Location | None:
    """The first ``gml:pos`` point in a PIDF-LO document, or None when it has no point (civic only).

    Raises ``Rejected`` for documents with entity declarations and for unreadable coordinates.
    """
    if not xml_text.isascii() and any("\ud800" <= c <= "\udfff" for c in xml_text):
        # a lone surrogate (a JSON escape such as \\ud800) cannot be encoded for the XML parser
        raise Rejected("bad_location", "PIDF-LO holds a lone UTF-16 surrogate, which is not a character")
    try:
        root = fromstring(xml_text)
    except DefusedXmlException as exc:
        raise Rejected("pidf_forbidden_xml", f"PIDF-LO declares DTDs or entities ({type(exc).__name__})") from None
    except ParseError:
        match = _POS_TEXT.search(xml_text)
        return _location_from_pos(match.group(1).strip()) if match else None
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "pos" or tag.endswith("}pos"):
            return _location_from_pos(element.text or "")
    return None
