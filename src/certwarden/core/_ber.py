"""A small, bounded BER reader (X.690): enough to walk a PKCS#12 file.

``core/ocsp/_der.py`` reads strict DER, which OCSP requires. PKCS#12 files in
the wild are BER (Windows and Java write indefinite lengths and constructed
OCTET STRINGs), so this reader takes both definite and indefinite lengths,
multi-byte tags and constructed strings, and bounds what an attacker can make
it do: nesting at most :data:`MAX_DEPTH` deep, lengths of at most four octets,
and every element inside its parent. A call reads each byte it covers at most
once per level of nesting of indefinite lengths (so at most ``MAX_DEPTH``
times). Pure: no I/O. Raises :class:`BerError` for anything it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "BOOLEAN",
    "INTEGER",
    "MAX_DEPTH",
    "OCTET_STRING",
    "OID",
    "SEQUENCE",
    "BerError",
    "Element",
    "children",
    "integer",
    "octets",
    "oid",
    "read",
    "read_whole",
]

BOOLEAN: Final = 0x01
INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
OID: Final = 0x06
SEQUENCE: Final = 0x30
MAX_DEPTH: Final = 32


class BerError(ValueError):
    """The bytes are not the BER structure expected."""


@dataclass(frozen=True, slots=True)
class Element:
    """One element: ``data[start:end]`` whole, ``data[content_start:content_end]`` its content.

    ``tag`` is the first identifier octet (class, constructed bit and, for
    low tag numbers, the number); ``number`` is the tag number.
    """

    tag: int
    number: int
    start: int
    content_start: int
    content_end: int
    end: int

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    @property
    def universal(self) -> int | None:
        """The universal tag number (primitive or constructed), else None."""
        return self.number if self.tag & 0xC0 == 0 else None

    def is_context(self, number: int) -> bool:
        return self.tag & 0xC0 == 0x80 and self.number == number


def read(data: bytes, offset: int = 0, limit: int | None = None, depth: int = 0) -> Element:
    """The element starting at ``offset``, which must end by ``limit``."""
    if depth > MAX_DEPTH:
        raise BerError(f"nested more than {MAX_DEPTH} deep")
    limit = len(data) if limit is None else limit
    if offset + 2 > limit:
        raise BerError("truncated: no room for a tag and a length")
    tag = data[offset]
    pos = offset + 1
    number = tag & 0x1F
    if number == 0x1F:  # high tag number form (X.690 8.1.2.4)
        number = 0
        for _ in range(4):
            if pos >= limit:
                raise BerError("truncated tag")
            byte = data[pos]
            pos += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        else:
            raise BerError("tag number too long")
    if pos >= limit:
        raise BerError("truncated: no length")
    first = data[pos]
    pos += 1
    if first == 0x80:  # indefinite length (X.690 8.1.3.6): constructed only
        if not tag & 0x20:
            raise BerError("indefinite length on a primitive element")
        inner = pos
        while True:
            if inner + 2 <= limit and data[inner] == 0 and data[inner + 1] == 0:
                return Element(tag, number, offset, pos, inner, inner + 2)
            inner = read(data, inner, limit, depth + 1).end
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count > 4 or pos + count > limit:
            raise BerError("truncated or oversized length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > limit:
        raise BerError("truncated: content runs past the end")
    return Element(tag, number, offset, pos, pos + length, pos + length)


def read_whole(data: bytes) -> Element:
    """The one element that ``data`` is (nothing may follow it)."""
    element = read(data)
    if element.end != len(data):
        raise BerError("trailing bytes after the element")
    return element


def children(data: bytes, parent: Element, depth: int = 0) -> list[Element]:
    """The elements directly inside a constructed ``parent``."""
    if not parent.constructed:
        raise BerError("expected a constructed element")
    out: list[Element] = []
    pos = parent.content_start
    while pos < parent.content_end:
        child = read(data, pos, parent.content_end, depth + 1)
        out.append(child)
        pos = child.end
    return out


def octets(data: bytes, element: Element, depth: int = 0) -> bytes:
    """The value of a string element, joining the segments of a constructed one."""
    if not element.constructed:
        return data[element.content_start : element.content_end]
    if depth > MAX_DEPTH:
        raise BerError(f"nested more than {MAX_DEPTH} deep")
    return b"".join(octets(data, part, depth + 1) for part in children(data, element, depth))


def integer(data: bytes, element: Element) -> int:
    """The value of an INTEGER."""
    if element.tag != INTEGER or element.content_end == element.content_start:
        raise BerError("expected an INTEGER")
    return int.from_bytes(data[element.content_start : element.content_end], "big", signed=True)


def oid(data: bytes, element: Element) -> str:
    """The dotted form of an OBJECT IDENTIFIER."""
    content = data[element.content_start : element.content_end]
    if element.tag != OID or not content or content[-1] & 0x80:
        raise BerError("expected an OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))
