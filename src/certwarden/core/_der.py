"""A tiny DER encoder and reader: just what OCSP needs beyond ``cryptography``.

``cryptography`` builds single-certificate OCSP requests only and does not
expose the RSA-PSS parameters of a response's signature algorithm, so this
module encodes multi-certificate requests (RFC 6960 4.1.1) and reads the
``signatureAlgorithm`` of a BasicOCSPResponse (RFC 6960 4.2.1). It handles
definite-length DER only (which is all DER allows, X.690 10.1) and raises
:class:`DerError` for anything else. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DerError",
    "Tlv",
    "children",
    "encode_integer",
    "encode_null",
    "encode_octet_string",
    "encode_oid",
    "explicit",
    "read_tlv",
    "sequence",
    "tlv",
]

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
BIT_STRING = 0x03


class DerError(ValueError):
    """The bytes are not the DER structure expected."""


@dataclass(frozen=True, slots=True)
class Tlv:
    """One DER element inside ``data``: ``data[start:end]`` is the whole element."""

    tag: int
    start: int
    content_start: int
    end: int

    def content(self, data: bytes) -> bytes:
        return data[self.content_start : self.end]

    def whole(self, data: bytes) -> bytes:
        return data[self.start : self.end]


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    """Encode one element with a single-byte ``tag``."""
    return bytes([tag]) + _length(len(content)) + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def explicit(number: int, content: bytes) -> bytes:
    """A context-specific constructed ``[number] EXPLICIT`` wrapper."""
    return tlv(0xA0 | number, content)


def encode_integer(value: int) -> bytes:
    """A DER INTEGER (two's complement, minimal length)."""
    length = max(1, (value.bit_length() + 8) // 8)
    raw = value.to_bytes(length, "big", signed=True)
    # Strip redundant leading bytes (X.690 8.3.2) the +8 above may have added.
    while len(raw) > 1 and (
        (raw[0] == 0x00 and raw[1] < 0x80) or (raw[0] == 0xFF and raw[1] >= 0x80)
    ):
        raw = raw[1:]
    return tlv(INTEGER, raw)


def encode_octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def encode_null() -> bytes:
    return tlv(NULL, b"")


def encode_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2:
        raise DerError(f"not an object identifier: {dotted!r}")
    arcs = [parts[0] * 40 + parts[1], *parts[2:]]
    out = bytearray()
    for arc in arcs:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return tlv(OID, bytes(out))


def decode_oid(content: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's content octets."""
    if not content or content[-1] & 0x80:
        raise DerError("truncated object identifier")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def decode_integer(content: bytes) -> int:
    if not content:
        raise DerError("empty INTEGER")
    return int.from_bytes(content, "big", signed=True)


def read_tlv(data: bytes, offset: int = 0, end: int | None = None) -> Tlv:
    """The element starting at ``offset`` (which must end by ``end``)."""
    limit = len(data) if end is None else end
    if offset + 2 > limit:
        raise DerError("truncated: no room for a tag and a length")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used in OCSP")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > limit:
            raise DerError("truncated or oversized length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > limit:
        raise DerError("truncated: content runs past the end")
    return Tlv(tag, offset, pos, pos + length)


def children(data: bytes, parent: Tlv) -> list[Tlv]:
    """The elements directly inside a constructed ``parent``."""
    out: list[Tlv] = []
    pos = parent.content_start
    while pos < parent.end:
        child = read_tlv(data, pos, parent.end)
        out.append(child)
        pos = child.end
    return out
