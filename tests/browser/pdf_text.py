"""Just enough of a PDF reader for the packet test: the pages of a PDF that Chromium (Skia) printed, and the text
each shows, read through its fonts' ToUnicode maps. Not a general PDF parser: Skia writes plain objects (no object
streams), Flate-compressed content, and text as hex glyph strings (``<...> Tj`` and ``[...] TJ``)."""

from __future__ import annotations

import re
import zlib

_OBJECT = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_TEXT = re.compile(rb"/([A-Za-z]\w*)\s+[\d.]+\s+Tf|<([0-9A-Fa-f]+)>\s*Tj|\[(.*?)\]\s*TJ", re.S)


def _stream(body: bytes) -> bytes:
    found = _STREAM.search(body)
    if found is None:
        return b""
    raw = found.group(1)
    # a decompressor object, not zlib.decompress: a font's binary stream may end its object early for _OBJECT (it may
    # hold "endobj"), and only the text's streams matter here
    return zlib.decompressobj().decompress(raw) if b"FlateDecode" in body[: found.start()] else raw


def _to_unicode(cmap: bytes) -> dict[int, str]:
    """A font's glyph id → text, from its ToUnicode CMap (bfchar and bfrange entries)."""
    table: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for glyph, text in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table[int(glyph, 16)] = bytes.fromhex(text.decode()).decode("utf-16-be", "replace")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for first, last, text in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            for offset, glyph in enumerate(range(int(first, 16), int(last, 16) + 1)):
                table[glyph] = chr(int(text, 16) + offset)
    return table


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page, in page order (the order of the page tree's /Kids)."""
    objects = {int(m.group(1)): m.group(2) for m in _OBJECT.finditer(pdf)}
    fonts = {}
    for number, body in objects.items():
        unicode_map = re.search(rb"/ToUnicode (\d+) 0 R", body)
        if re.search(rb"/Type\s*/Font", body) and unicode_map:
            fonts[number] = _to_unicode(_stream(objects[int(unicode_map.group(1))]))
    tree = next(body for body in objects.values() if re.search(rb"/Type\s*/Pages", body))
    kids = [int(n) for n in re.findall(rb"(\d+) 0 R", re.search(rb"/Kids\s*\[(.*?)\]", tree, re.S).group(1))]  # type: ignore[union-attr]
    texts = []
    for page in kids:
        body = objects[page]
        contents = [int(n) for n in re.findall(rb"(\d+) 0 R", re.search(rb"/Contents\s*(\[[^\]]*\]|\d+ 0 R)", body).group(1))]  # type: ignore[union-attr]
        resources = re.search(rb"/Resources\s*(\d+) 0 R", body)
        names = {name: int(ref) for name, ref in re.findall(rb"/([A-Za-z]\w*)\s+(\d+) 0 R", body + (objects[int(resources.group(1))] if resources else b""))}
        shown: list[str] = []
        for content in contents:
            font: dict[int, str] = {}
            for token in _TEXT.finditer(_stream(objects[content])):
                if token.group(1):
                    font = fonts.get(names.get(token.group(1), -1), {})
                    continue
                for glyphs in [token.group(2)] if token.group(2) else re.findall(rb"<([0-9A-Fa-f]+)>", token.group(3)):
                    text = glyphs.decode()
                    shown.append("".join(font.get(int(text[i:i + 4], 16), "?") for i in range(0, len(text), 4)))
        texts.append("".join(shown))
    return texts
