"""The compact serial index of a CRL's revokedCertificates (issue 13 item 4).

A CRL of a million entries must be checked a million times without holding a
million Python objects. :func:`build_index` walks the DER of
revokedCertificates once (a bounded walk: every step moves forward, every
length is checked against its parent) and keeps flat arrays:

* the offset of each entry, and of its serial INTEGER, in the CRL's DER
  (two ``array('I')``);
* an open-addressing hash table of entry numbers keyed by the serial's
  content octets (``array('I')``, at most half full, linear probing).

The entry's revocationDate, reason and invalidity date are read from the DER
only when an entry is asked for (:meth:`CrlIndex.entry`). Python's ``hash()``
of bytes is keyed per process (PYTHONHASHSEED), so a CRL author cannot
choose serials that collide in the table.

The walk expects DER that ``cryptography`` already accepted (it checks the
whole structure, minimal INTEGERs and Times on load) and still refuses with
:class:`CrlIndexError` anything unexpected rather than misreading it.

Entry extensions (RFC 5280 5.3): reasonCode, invalidityDate,
certificateIssuer and holdInstructionCode are understood; any other critical
one is recorded (``unknown_critical``) so that validation refuses the CRL.
certificateIssuer (RFC 5280 5.3.3) applies to its entry and every later one
until the next, so an indirect CRL's entries are grouped by issuer.
Pure: no I/O.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from certwarden.core.ocsp import _der

__all__ = ["CrlIndex", "CrlIndexError", "RevokedEntry", "build_index", "serial_key"]

# One non-critical reasonCode extension (the most common entry extension):
# Extensions { Extension { id-ce-cRLReasons, OCTET STRING { ENUMERATED x } } }.
_REASON_ONLY = bytes.fromhex("300c300a0603551d1504030a01")

_OID_REASON = "2.5.29.21"
_OID_INVALIDITY = "2.5.29.24"
_OID_CERT_ISSUER = "2.5.29.29"
_OID_HOLD_INSTRUCTION = "2.5.29.23"
_KNOWN_ENTRY_EXTENSIONS = frozenset(
    {_OID_REASON, _OID_INVALIDITY, _OID_CERT_ISSUER, _OID_HOLD_INSTRUCTION}
)

# CRLReason (RFC 5280 5.3.1) code -> the name cryptography and the OCSP results use.
REASON_NAMES: dict[int, str] = {
    0: x509.ReasonFlags.unspecified.value,
    1: x509.ReasonFlags.key_compromise.value,
    2: x509.ReasonFlags.ca_compromise.value,
    3: x509.ReasonFlags.affiliation_changed.value,
    4: x509.ReasonFlags.superseded.value,
    5: x509.ReasonFlags.cessation_of_operation.value,
    6: x509.ReasonFlags.certificate_hold.value,
    8: x509.ReasonFlags.remove_from_crl.value,
    9: x509.ReasonFlags.privilege_withdrawn.value,
    10: x509.ReasonFlags.aa_compromise.value,
}
REMOVE_FROM_CRL = 8


class CrlIndexError(ValueError):
    """The revokedCertificates DER is not the structure expected."""


def serial_key(serial: int) -> bytes:
    """The content octets of ``serial`` as a DER INTEGER (minimal two's complement)."""
    raw = serial.to_bytes(max(1, (serial.bit_length() + 8) // 8), "big", signed=True)
    # X.690 8.3.2: no redundant leading 0x00 / 0xFF octet (negative serials exist).
    while len(raw) > 1 and (
        (raw[0] == 0x00 and raw[1] < 0x80) or (raw[0] == 0xFF and raw[1] >= 0x80)
    ):
        raw = raw[1:]
    return raw


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """One revokedCertificates entry, read on demand."""

    serial: int
    revoked_at: datetime
    reason: str | None  # CRLReason name ("keyCompromise"), None when absent
    invalidity_date: datetime | None
    certificate_issuer: bytes | None  # DER of GeneralNames (indirect CRLs), if set for it

    @property
    def removed(self) -> bool:
        """removeFromCRL (RFC 5280 5.3.1): only meaningful in a delta CRL."""
        return self.reason == x509.ReasonFlags.remove_from_crl.value


def _header(data: bytes, pos: int, limit: int) -> tuple[int, int]:
    """(content start, content end) of the element at ``pos``; bounded by ``limit``."""
    node = _der.read_tlv(data, pos, limit)
    return node.content_start, node.end


def _time(data: bytes, pos: int) -> datetime:
    tag, length = data[pos], data[pos + 1]
    text = data[pos + 2 : pos + 2 + length].decode("ascii")
    if tag == 0x17 and length == 13:  # UTCTime YYMMDDHHMMSSZ; RFC 5280 4.1.2.5.1
        year = int(text[0:2])
        year += 1900 if year >= 50 else 2000
        rest = text[2:]
    elif tag == 0x18 and length == 15:  # GeneralizedTime YYYYMMDDHHMMSSZ
        year = int(text[0:4])
        rest = text[4:]
    else:
        raise CrlIndexError("a revocation time that is neither UTCTime nor GeneralizedTime")
    return datetime(
        year,
        int(rest[0:2]),
        int(rest[2:4]),
        int(rest[4:6]),
        int(rest[6:8]),
        int(rest[8:10]),
        tzinfo=UTC,
    )


@dataclass(frozen=True, slots=True)
class _Extension:
    oid: str
    critical: bool
    value_start: int  # content of the OCTET STRING extnValue
    value_end: int


def _extensions(data: bytes, start: int, end: int) -> list[_Extension]:
    """The entry's crlEntryExtensions: ``data[start:end]`` is the Extensions SEQUENCE."""
    outer = _der.read_tlv(data, start, end)
    if outer.tag != 0x30 or outer.end != end:
        raise CrlIndexError("an entry's extensions are not one SEQUENCE")
    out: list[_Extension] = []
    for ext in _der.children(data, outer):
        parts = _der.children(data, ext)
        if ext.tag != 0x30 or not 2 <= len(parts) <= 3 or parts[0].tag != _der.OID:
            raise CrlIndexError("a malformed entry extension")
        critical = False
        if len(parts) == 3:
            if parts[1].tag != 0x01:
                raise CrlIndexError("an entry extension's critical flag is not a BOOLEAN")
            critical = parts[1].content(data) != b"\x00"
        value = parts[-1]
        if value.tag != _der.OCTET_STRING:
            raise CrlIndexError("an entry extension's value is not an OCTET STRING")
        oid = _der.decode_oid(parts[0].content(data))
        out.append(_Extension(oid, critical, value.content_start, value.end))
    return out


class CrlIndex:
    """Serial -> entry, for one CRL version. Build with :func:`build_index`.

    Attributes:
        unknown_critical: OIDs of critical entry extensions not understood
            (validation refuses the CRL when there is any).
        problems: other structural problems (e.g. certificateIssuer in a CRL
            that is not indirect); validation refuses the CRL on any.
    """

    __slots__ = (
        "_crl_issuer",
        "_data",
        "_group_starts",
        "_groups",
        "_mask",
        "_serials",
        "_starts",
        "_table",
        "problems",
        "unknown_critical",
    )

    def __init__(
        self,
        data: bytes,
        starts: array[int],
        serials: array[int],
        table: array[int],
        groups: list[tuple[int, bytes]],
        unknown_critical: tuple[str, ...],
        problems: tuple[str, ...],
        crl_issuer: bytes,
    ) -> None:
        self._crl_issuer = crl_issuer
        self._data = data
        self._starts = starts
        self._serials = serials
        self._table = table
        self._mask = len(table) - 1
        self._groups = groups
        self._group_starts = [g[0] for g in groups]
        self.unknown_critical = unknown_critical
        self.problems = problems

    def __len__(self) -> int:
        return len(self._serials)

    @property
    def indirect_issuers(self) -> tuple[bytes, ...]:
        """The certificateIssuer GeneralNames (DER) the entries name, in order."""
        return tuple(g[1] for g in self._groups)

    def find(self, key: bytes, issuer: bytes | None = None) -> int:
        """The number of the first entry for serial ``key`` (:func:`serial_key`), or -1.

        ``issuer`` (the DER of the certificate's issuer name) selects among
        the entries of an indirect CRL (RFC 5280 5.3.3): an entry after a
        certificateIssuer counts only when that extension names the issuer
        as a directoryName; entries before any count for the CRL issuer.
        """
        data = self._data
        serials = self._serials
        table = self._table
        mask = self._mask
        slot = hash(key) & mask
        while True:
            number = table[slot]
            if not number:
                return -1
            at = serials[number - 1]
            if data[at + 2 : at + 2 + data[at + 1]] == key and (
                issuer is None or self._issuer_matches(number - 1, issuer)
            ):
                return number - 1
            slot = (slot + 1) & mask

    def _issuer_matches(self, number: int, issuer: bytes) -> bool:
        group = bisect.bisect_right(self._group_starts, number) - 1
        if group < 0:
            return issuer == self._crl_issuer
        return issuer in _directory_names(self._groups[group][1])

    def entry(self, number: int) -> RevokedEntry:
        """Entry ``number`` read from the DER (revocationDate, reason, ...)."""
        data = self._data
        at = self._serials[number]
        serial_end = at + 2 + data[at + 1]
        serial = int.from_bytes(data[at + 2 : serial_end], "big", signed=True)
        revoked_at = _time(data, serial_end)
        ext_start = serial_end + 2 + data[serial_end + 1]
        end = self._entry_end(number)
        reason: str | None = None
        invalidity: datetime | None = None
        issuer: bytes | None = None
        if end - ext_start == 14 and data[ext_start : ext_start + 13] == _REASON_ONLY:
            reason = REASON_NAMES.get(data[ext_start + 13], f"reason {data[ext_start + 13]}")
        elif ext_start < end:
            for ext in _extensions(data, ext_start, end):
                if ext.oid == _OID_REASON:
                    value = data[ext.value_start : ext.value_end]
                    if len(value) == 3 and value[0] == 0x0A and value[1] == 1:
                        reason = REASON_NAMES.get(value[2], f"reason {value[2]}")
                elif ext.oid == _OID_INVALIDITY:
                    invalidity = _time(data, ext.value_start)
        if self._groups:
            group = bisect.bisect_right(self._group_starts, number) - 1
            issuer = self._groups[group][1] if group >= 0 else None
        return RevokedEntry(serial, revoked_at, reason, invalidity, issuer)

    def _entry_end(self, number: int) -> int:
        return _der.read_tlv(self._data, self._starts[number]).end

    def entries(self) -> Iterator[RevokedEntry]:
        """Every entry in CRL order, one at a time."""
        for number in range(len(self._serials)):
            yield self.entry(number)


def _directory_names(general_names: bytes) -> list[bytes]:
    """The Name DERs of the directoryName ([4]) choices of a GeneralNames DER."""
    try:
        top = _der.read_tlv(general_names)
        return [
            _der.children(general_names, child)[0].whole(general_names)
            for child in _der.children(general_names, top)
            if child.tag == 0xA4
        ]
    except (_der.DerError, IndexError):
        return []


def build_index(
    data: bytes, start: int, end: int, *, indirect: bool, crl_issuer: bytes = b""
) -> CrlIndex:
    """Index the entries in ``data[start:end]`` (the content of revokedCertificates).

    One pass; a handful of byte reads per entry. Entries with only a
    non-critical reasonCode take the fast path; others have their extensions
    read here to find critical ones and certificateIssuer.
    """
    # The table is sized from the first entries' mean length (at most 40%
    # full then) and doubled should it pass half full.
    size = _table_size(_estimate(data, start, end))
    mask = size - 1
    limit = size // 2
    table = array("I", bytes(4 * size))
    starts = array("I")
    serials = array("I")
    append = serials.append
    append_start = starts.append
    groups: list[tuple[int, bytes]] = []
    unknown: set[str] = set()
    problems: list[str] = []
    reason_only = _REASON_ONLY
    pos = start
    number = 0
    try:
        while pos < end:
            if data[pos] != 0x30:
                raise CrlIndexError(f"entry {number + 1} is not a SEQUENCE")
            first = data[pos + 1]
            if first < 0x80:
                at = pos + 2
                entry_end = at + first
            elif first == 0x81:
                at = pos + 3
                entry_end = at + data[pos + 2]
            else:
                at, entry_end = _header(data, pos, end)
            if entry_end > end or data[at] != 0x02 or data[at + 1] >= 0x80:
                raise CrlIndexError(f"entry {number + 1} does not start with a serial INTEGER")
            serial_end = at + 2 + data[at + 1]
            ext_start = serial_end + 2 + data[serial_end + 1]
            if ext_start != entry_end and not (
                entry_end - ext_start == 14 and data[ext_start : ext_start + 13] == reason_only
            ):
                _slow_entry(data, ext_start, entry_end, number, groups, unknown)
            if number >= limit:
                table = _rehash(data, serials, 2 * size)
                size = len(table)
                mask, limit = size - 1, size // 2
            append_start(pos)
            append(at)
            number += 1
            slot = hash(data[at + 2 : serial_end]) & mask
            while table[slot]:
                slot = (slot + 1) & mask
            table[slot] = number
            pos = entry_end
    except (IndexError, _der.DerError) as exc:
        raise CrlIndexError(f"entry {number + 1} is malformed: {exc}") from exc
    if pos != end:
        raise CrlIndexError("the last entry runs past the end of revokedCertificates")
    if groups and not indirect:
        problems.append(
            "an entry carries certificateIssuer but the CRL is not indirect (RFC 5280 5.3.3)"
        )
    return CrlIndex(
        data, starts, serials, table, groups, tuple(sorted(unknown)), tuple(problems), crl_issuer
    )


def _estimate(data: bytes, start: int, end: int) -> int:
    """How many entries ``data[start:end]`` holds, judged by its first 64."""
    pos, count = start, 0
    try:
        while pos < end and count < 64:
            pos = _der.read_tlv(data, pos, end).end
            count += 1
    except _der.DerError:
        return 8  # the walk reports the problem
    if pos >= end or count == 0:
        return max(count, 1)
    return (end - start) * count // (pos - start) + 1


def _table_size(entries: int) -> int:
    size = 8
    while size * 2 < entries * 5:  # load factor at most 0.4
        size <<= 1
    return size


def _rehash(data: bytes, serials: array[int], size: int) -> array[int]:
    """A table of ``size`` slots holding every entry indexed so far."""
    table = array("I", bytes(4 * size))
    mask = size - 1
    for number, at in enumerate(serials, start=1):
        slot = hash(data[at + 2 : at + 2 + data[at + 1]]) & mask
        while table[slot]:
            slot = (slot + 1) & mask
        table[slot] = number
    return table


def _slow_entry(
    data: bytes,
    ext_start: int,
    entry_end: int,
    number: int,
    groups: list[tuple[int, bytes]],
    unknown: set[str],
) -> None:
    if ext_start > entry_end:
        raise CrlIndexError("the revocation time runs past the entry")
    for ext in _extensions(data, ext_start, entry_end):
        if ext.oid == _OID_CERT_ISSUER:
            groups.append((number, data[ext.value_start : ext.value_end]))
        elif ext.critical and ext.oid not in _KNOWN_ENTRY_EXTENSIONS:
            unknown.add(ext.oid)
