"""Moved to :mod:`certwarden.core.signatures` (certificates and responses share it)."""

from certwarden.core.signatures import (
    PSS_OID,
    SignatureAlgorithm,
    parse_signature_algorithm,
    verify_signature,
)

__all__ = ["PSS_OID", "SignatureAlgorithm", "parse_signature_algorithm", "verify_signature"]
