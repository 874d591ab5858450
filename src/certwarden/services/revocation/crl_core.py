"""The seam between the CRL source and the CRL core (:mod:`certwarden.core.crl`).

The CRL source needs the bytes of a fetched CRL turned into a
:class:`~certwarden.core.crl.Crl` within the size cap (:func:`load_crl`, which
raises :class:`CrlLoadError` with the could-not-tell reason), and judges built
once per issuing CA and set of CRLs (:func:`judge_for`): the core validates the
CRLs once (signer, signature, freshness, scope, deltas) and every certificate
after that is a lookup in the compact serial index.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from certwarden.core.crl import Crl, CrlJudge, CrlParseError
from certwarden.core.crl import load_crl as _core_load
from certwarden.core.ocsp.results import Reason, ValidationOptions

__all__ = ["Crl", "CrlJudge", "CrlLoadError", "judge_for", "load_crl"]


class CrlLoadError(Exception):
    """Bytes that are not a usable CRL; ``reason`` is the could-not-tell reason."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def load_crl(data: bytes, *, max_bytes: int, source: str = "CRL") -> Crl:
    """``data`` (DER or PEM) as a loaded, indexed CRL.

    Raises:
        CrlLoadError: too large (``response_too_large``) or no CRL (``malformed_crl``).
    """
    try:
        return _core_load(data, source=source, max_size=max_bytes)
    except CrlParseError as exc:
        raise CrlLoadError(Reason(exc.reason), exc.problem) from exc


def judge_for(
    issuer: x509.Certificate,
    crls: Sequence[Crl],
    *,
    now: datetime,
    options: ValidationOptions,
) -> CrlJudge:
    """A judge for the certificates of ``issuer`` against ``crls`` (validated once)."""
    return CrlJudge(issuer, crls, now=now, options=options)
