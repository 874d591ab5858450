"""Is a parsed certificate fit to store? Checks made once, at import.

``cryptography`` parses a certificate lazily: ``load_der_x509_certificate``
accepts one whose subject holds invalid UTF-8 or that carries an extension
twice, and raises only when ``subject`` or ``extensions`` is first read. An
import reads them far from the file they came from, so one odd certificate
used to abort a whole import with a traceback. :func:`certificate_problem`
reads everything certwarden will later read and says, in words, what is wrong.

Serial numbers that are negative or zero (RFC 5280 4.1.2.2 requires a positive
one) are refused too: ``cryptography`` warns that a future release will refuse
to load such certificates, and a stored row whose DER cannot be loaded would
break every later read of the inventory. :func:`serial_problem` reads the
serial from the DER, before ``cryptography`` sees it.
Pure: no I/O.
"""

from __future__ import annotations

from cryptography import x509

from certwarden.core import _ber
from certwarden.core._ber import BerError

__all__ = ["certificate_problem", "pkcs7_certificate_ders", "serial_problem"]

# String types whose bytes must decode (X.680 41): tag -> codec.
_TEXT_TAGS = {
    0x0C: ("UTF8String", "utf-8"),
    0x16: ("IA5String", "ascii"),
    0x1C: ("UniversalString", "utf-32-be"),
    0x1E: ("BMPString", "utf-16-be"),
}


def _tbs_fields(der: bytes) -> list[_ber.Element]:
    """TBSCertificate's fields, the optional ``[0] version`` dropped (RFC 5280 4.1).

    Raises BerError unless ``der`` has the shape of a certificate: a CSR or a
    key (also a SEQUENCE opening with an INTEGER) must not pass for one.
    """
    certificate = _ber.read_whole(der)
    outer = _ber.children(der, certificate)
    if len(outer) != 3 or outer[0].tag != _ber.SEQUENCE or outer[2].tag != 0x03:
        raise BerError("not a certificate")
    fields = _ber.children(der, outer[0])
    fields = fields[1:] if fields and fields[0].is_context(0) else fields
    # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    if len(fields) < 6 or fields[0].tag != _ber.INTEGER:
        raise BerError("not a certificate")
    if any(f.tag != _ber.SEQUENCE for f in fields[1:6]):
        raise BerError("not a certificate")
    return fields


def _serial(der: bytes) -> int | None:
    """The serial number, read by the shortest path; None when not at hand."""
    try:
        certificate = _ber.read(der)
        tbs = _ber.read(der, certificate.content_start, certificate.content_end)
        first = _ber.read(der, tbs.content_start, tbs.content_end)
        if first.is_context(0):  # [0] EXPLICIT version
            first = _ber.read(der, first.end, tbs.content_end)
        return _ber.integer(der, first)
    except BerError:
        return None


def serial_problem(der: bytes) -> str | None:
    """What is wrong with the certificate's serial number, or None (also for unreadable DER)."""
    value = _serial(der)  # this runs for every certificate: the fast path first
    if value is None or value > 0:
        return None
    try:
        _tbs_fields(der)  # a CSR or a key opens with an INTEGER too: a certificate?
    except (BerError, IndexError):
        return None  # not readable here: cryptography's parser says what is wrong
    sign = "a negative serial number" if value < 0 else "the serial number 0"
    return (
        f"has {sign} ({value:#x}); RFC 5280 4.1.2.2 requires a positive serial. "
        "certwarden does not store such certificates: a future release of the "
        "cryptography library will refuse to read them"
    )


def _name_problem(der: bytes, index: int, which: str) -> str | None:
    """The first attribute of the Name at TBS field ``index`` whose text does not decode."""
    try:
        name = _tbs_fields(der)[index]
        for rdn in _ber.children(der, name):
            for attribute in _ber.children(der, rdn):
                kind, value = _ber.children(der, attribute)[:2]
                if value.tag not in _TEXT_TAGS:
                    continue
                label, codec = _TEXT_TAGS[value.tag]
                try:
                    der[value.content_start : value.content_end].decode(codec)
                except UnicodeDecodeError:
                    oid = x509.ObjectIdentifier(_ber.oid(der, kind))
                    attr = getattr(oid, "_name", None) or oid.dotted_string
                    return f"its {which} {attr} is a {label} that is not valid {codec.upper()}"
    except (BerError, IndexError, ValueError):
        return None
    return None


def certificate_problem(cert: x509.Certificate, der: bytes) -> str | None:
    """What makes ``cert`` unfit to store, in words (completing "the certificate ..."), or None."""
    problem = serial_problem(der)
    if problem:
        return problem
    # cryptography caches what these read, so facts extraction reads them again for free.
    for which, index in (("subject", 4), ("issuer", 2)):
        try:
            _ = cert.subject if which == "subject" else cert.issuer
        except ValueError as exc:
            detail = _name_problem(der, index, which) or f"its {which} cannot be decoded ({exc})"
            return f"cannot be read: {detail}"
    try:
        for extension in cert.extensions:
            _ = extension.value
    except x509.DuplicateExtension as exc:
        ext_name = getattr(exc.oid, "_name", None) or exc.oid.dotted_string
        return (
            f"has the extension {ext_name} ({exc.oid.dotted_string}) more than once; "
            "RFC 5280 4.2 allows each extension once"
        )
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        return f"has a malformed extension ({exc})"
    try:
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_algorithm_oid)
    except ValueError as exc:
        return f"cannot be read ({exc})"
    return None


def pkcs7_certificate_ders(data: bytes) -> list[bytes]:
    """The DER of each certificate in a PKCS#7 SignedData (RFC 5652 5.1); [] if unreadable.

    ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT SignedData ::= SEQUENCE {
    version, digestAlgorithms SET, encapContentInfo, certificates [0] IMPLICIT
    SET OF CertificateChoices OPTIONAL, ... } }
    """
    try:
        info = _ber.children(data, _ber.read(data))
        signed = _ber.children(data, _ber.children(data, info[1])[0])
        for element in signed[3:]:
            if element.is_context(0) and element.constructed:
                return [
                    data[c.start : c.end]
                    for c in _ber.children(data, element)
                    if c.tag == _ber.SEQUENCE  # the other choices are not certificates
                ]
    except (BerError, IndexError):
        return []
    return []
