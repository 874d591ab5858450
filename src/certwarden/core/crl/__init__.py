"""CRLs as a revocation source beside OCSP (RFC 5280 5, 6.3): the pure core.

No I/O, no clock: bytes and ``now`` come from the caller (fetching, storage
and the revocation engine build on this).

    load.py      load_crl: DER/PEM bytes -> Crl (size cap; a clear error for any bytes)
    _entries.py  the compact serial index of revokedCertificates (no object per entry)
    _names.py    distribution point names, expanded and compared
    scope.py     CertRef (what of a certificate is read) and scope_of (IDP, partitions,
                 indirect CRLs, reasons: RFC 5280 6.3.3 (b), (d))
    validate.py  check_crl: the named steps (signer, signature, freshness, number)
    judge.py     CrlJudge / judge: one RevocationResult per certificate (deltas applied)

Typical use::

    crl = load_crl(data, source=url)                  # CrlParseError if unusable
    judge = CrlJudge(issuer, [crl, delta], now=now)   # validated once
    result = judge.check(cert)                        # good / revoked / could_not_tell
"""

from certwarden.core.crl._entries import CrlIndex, RevokedEntry, serial_key
from certwarden.core.crl.judge import CrlJudge, judge
from certwarden.core.crl.load import DEFAULT_MAX_CRL_BYTES, Crl, CrlParseError, crl_der, load_crl
from certwarden.core.crl.scope import CertRef, DistPoint, Scope, cert_ref, crl_urls, scope_of
from certwarden.core.crl.validate import CrlCheck, Failure, check_crl, number_key

__all__ = [
    "DEFAULT_MAX_CRL_BYTES",
    "CertRef",
    "Crl",
    "CrlCheck",
    "CrlIndex",
    "CrlJudge",
    "CrlParseError",
    "DistPoint",
    "Failure",
    "RevokedEntry",
    "Scope",
    "cert_ref",
    "check_crl",
    "crl_der",
    "crl_urls",
    "judge",
    "load_crl",
    "number_key",
    "scope_of",
    "serial_key",
]
