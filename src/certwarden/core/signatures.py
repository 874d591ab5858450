"""Checking signatures: on a BasicOCSPResponse (RFC 6960 4.2.1) and on a certificate.

The algorithm comes from the ``signatureAlgorithm`` OID (and, for RSASSA-PSS,
its parameters, RFC 4055 3.1), never from the key alone, and must fit the
signer's key type: an RSA key cannot vouch for an "ecdsa-with-SHA256"
signature. Supported: RSA PKCS#1 v1.5, RSASSA-PSS, ECDSA, Ed25519 and Ed448,
with MD5 (RSA only), SHA-1, SHA-2 or SHA-3 digests; anything unknown is refused.

This module answers only "did this key make this signature?". Whether the
algorithm is acceptable (SHA-1 and MD5 are legacy) is the policy's question:
:mod:`certwarden.core.algorithms`. So a SHA-1-signed certificate verifies
here — ``cryptography``'s ``verify_directly_issued_by`` refuses SHA-1 outright,
which made a legacy PKI's certificates look "not issued by" their own CA.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from certwarden.core import _der

__all__ = [
    "PSS_OID",
    "SignatureAlgorithm",
    "certificate_signature_algorithm",
    "parse_signature_algorithm",
    "verify_certificate_signature",
    "verify_signature",
]

PSS_OID = "1.2.840.113549.1.1.10"
_MGF1_OID = "1.2.840.113549.1.1.8"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.2.840.113549.2.5": hashes.MD5,
    "1.3.14.3.2.26": hashes.SHA1,
    "2.16.840.1.101.3.4.2.4": hashes.SHA224,
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
    "2.16.840.1.101.3.4.2.7": hashes.SHA3_224,
    "2.16.840.1.101.3.4.2.8": hashes.SHA3_256,
    "2.16.840.1.101.3.4.2.9": hashes.SHA3_384,
    "2.16.840.1.101.3.4.2.10": hashes.SHA3_512,
}

_HASH_NAMES: dict[type[hashes.HashAlgorithm], str] = {
    hashes.MD5: "md5",
    hashes.SHA1: "sha1",
    hashes.SHA224: "sha224",
    hashes.SHA256: "sha256",
    hashes.SHA384: "sha384",
    hashes.SHA512: "sha512",
    hashes.SHA3_224: "sha3-224",
    hashes.SHA3_256: "sha3-256",
    hashes.SHA3_384: "sha3-384",
    hashes.SHA3_512: "sha3-512",
}

# signatureAlgorithm OID -> (family, digest). RFC 4055, RFC 5758, RFC 8410, NIST CSOR.
_ALGORITHMS: dict[str, tuple[str, type[hashes.HashAlgorithm] | None]] = {
    "1.2.840.113549.1.1.4": ("rsa", hashes.MD5),
    "1.2.840.113549.1.1.5": ("rsa", hashes.SHA1),
    "1.3.14.3.2.29": ("rsa", hashes.SHA1),  # the old OIW sha1WithRSASignature
    "1.2.840.113549.1.1.14": ("rsa", hashes.SHA224),
    "1.2.840.113549.1.1.11": ("rsa", hashes.SHA256),
    "1.2.840.113549.1.1.12": ("rsa", hashes.SHA384),
    "1.2.840.113549.1.1.13": ("rsa", hashes.SHA512),
    "2.16.840.1.101.3.4.3.13": ("rsa", hashes.SHA3_224),
    "2.16.840.1.101.3.4.3.14": ("rsa", hashes.SHA3_256),
    "2.16.840.1.101.3.4.3.15": ("rsa", hashes.SHA3_384),
    "2.16.840.1.101.3.4.3.16": ("rsa", hashes.SHA3_512),
    "1.2.840.10045.4.1": ("ecdsa", hashes.SHA1),
    "1.2.840.10045.4.3.1": ("ecdsa", hashes.SHA224),
    "1.2.840.10045.4.3.2": ("ecdsa", hashes.SHA256),
    "1.2.840.10045.4.3.3": ("ecdsa", hashes.SHA384),
    "1.2.840.10045.4.3.4": ("ecdsa", hashes.SHA512),
    "2.16.840.1.101.3.4.3.9": ("ecdsa", hashes.SHA3_224),
    "2.16.840.1.101.3.4.3.10": ("ecdsa", hashes.SHA3_256),
    "2.16.840.1.101.3.4.3.11": ("ecdsa", hashes.SHA3_384),
    "2.16.840.1.101.3.4.3.12": ("ecdsa", hashes.SHA3_512),
    "1.3.101.112": ("ed25519", None),
    "1.3.101.113": ("ed448", None),
}

_NAMES = {
    "rsa": "RSA PKCS#1 v1.5",
    "rsa-pss": "RSASSA-PSS",
    "ecdsa": "ECDSA",
    "ed25519": "Ed25519",
    "ed448": "Ed448",
}


@dataclass(frozen=True, slots=True)
class SignatureAlgorithm:
    """A response's signature algorithm, understood or not.

    ``family`` is "rsa", "rsa-pss", "ecdsa", "ed25519", "ed448" or
    "unsupported"; ``problem`` explains an unsupported one.
    """

    oid: str
    family: str
    digest: str | None = None  # cryptography's hash name, e.g. "sha256"
    mgf1_digest: str | None = None
    salt_length: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.family == "unsupported":
            return f"unsupported ({self.oid})"
        name = _NAMES[self.family]
        if self.family == "rsa-pss":
            return f"{name} ({self.digest}, MGF1-{self.mgf1_digest}, salt {self.salt_length})"
        return f"{name} with {self.digest}" if self.digest else name


def _hash_from_algorithm_identifier(data: bytes, node: _der.Tlv) -> str:
    parts = _der.children(data, node)
    if not parts or parts[0].tag != _der.OID:
        raise _der.DerError("AlgorithmIdentifier without an OID")
    oid = _der.decode_oid(parts[0].content(data))
    if oid not in _HASHES:
        raise _der.DerError(f"unsupported digest {oid}")
    return _HASH_NAMES[_HASHES[oid]]


def _parse_pss(params: bytes) -> SignatureAlgorithm:
    """RSASSA-PSS-params (RFC 4055 3.1), with its SHA-1 defaults."""
    digest, mgf1_digest, salt = "sha1", "sha1", 20
    top = _der.read_tlv(params)
    if top.end != len(params) or top.tag != _der.SEQUENCE:
        raise _der.DerError("RSASSA-PSS parameters are not one SEQUENCE")
    for item in _der.children(params, top):
        inner = _der.children(params, item)
        if len(inner) != 1:
            raise _der.DerError("malformed RSASSA-PSS parameter")
        if item.tag == 0xA0:
            digest = _hash_from_algorithm_identifier(params, inner[0])
        elif item.tag == 0xA1:
            mgf = _der.children(params, inner[0])
            if len(mgf) != 2 or _der.decode_oid(mgf[0].content(params)) != _MGF1_OID:
                raise _der.DerError("RSASSA-PSS mask generation is not MGF1")
            mgf1_digest = _hash_from_algorithm_identifier(params, mgf[1])
        elif item.tag == 0xA2:
            salt = _der.decode_integer(inner[0].content(params))
        elif item.tag == 0xA3:
            if _der.decode_integer(inner[0].content(params)) != 1:
                raise _der.DerError("RSASSA-PSS trailerField must be 1 (RFC 4055 3.1)")
        else:
            raise _der.DerError("unknown RSASSA-PSS parameter")
    if salt < 0:
        raise _der.DerError("negative RSASSA-PSS salt length")
    return SignatureAlgorithm(PSS_OID, "rsa-pss", digest, mgf1_digest, salt)


def parse_signature_algorithm(oid: str, parameters: bytes | None) -> SignatureAlgorithm:
    """Understand ``signatureAlgorithm``; ``parameters`` is its DER parameters field."""
    if oid == PSS_OID:
        if parameters is None:
            return SignatureAlgorithm(oid, "unsupported", problem="RSASSA-PSS without parameters")
        try:
            return _parse_pss(parameters)
        except (_der.DerError, IndexError) as exc:
            return SignatureAlgorithm(oid, "unsupported", problem=f"RSASSA-PSS parameters: {exc}")
    known = _ALGORITHMS.get(oid)
    if known is None:
        return SignatureAlgorithm(
            oid, "unsupported", problem=f"signature algorithm {oid} is not accepted"
        )
    family, digest = known
    return SignatureAlgorithm(oid, family, _HASH_NAMES[digest] if digest else None)


def _hash(name: str | None) -> hashes.HashAlgorithm:
    for cls, cls_name in _HASH_NAMES.items():
        if cls_name == name:
            return cls()
    raise UnsupportedAlgorithm(f"digest {name}")


def verify_signature(
    public_key: object, algorithm: SignatureAlgorithm, tbs: bytes, signature: bytes
) -> str | None:
    """None when ``signature`` over ``tbs`` verifies under ``public_key``; else why not."""
    if algorithm.family == "unsupported":
        return algorithm.problem or f"signature algorithm {algorithm.oid} is not accepted"
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            if algorithm.family == "rsa":
                public_key.verify(signature, tbs, padding.PKCS1v15(), _hash(algorithm.digest))
            elif algorithm.family == "rsa-pss":
                pss = padding.PSS(
                    mgf=padding.MGF1(_hash(algorithm.mgf1_digest)),
                    salt_length=algorithm.salt_length or 0,
                )
                public_key.verify(signature, tbs, pss, _hash(algorithm.digest))
            else:
                return _mismatch(algorithm, "an RSA key")
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if algorithm.family != "ecdsa":
                return _mismatch(algorithm, "an EC key")
            public_key.verify(signature, tbs, ec.ECDSA(_hash(algorithm.digest)))
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            if algorithm.family != "ed25519":
                return _mismatch(algorithm, "an Ed25519 key")
            public_key.verify(signature, tbs)
        elif isinstance(public_key, ed448.Ed448PublicKey):
            if algorithm.family != "ed448":
                return _mismatch(algorithm, "an Ed448 key")
            public_key.verify(signature, tbs)
        else:
            return f"the signer's {type(public_key).__name__} key type is not supported"
    except InvalidSignature:
        return f"the {algorithm.describe()} signature does not verify with the signer's key"
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        return f"the {algorithm.describe()} signature cannot be checked: {exc}"
    return None


def _mismatch(algorithm: SignatureAlgorithm, key: str) -> str:
    return f"a {algorithm.describe()} signature cannot come from {key}"


def _certificate_algorithm_fields(der: bytes) -> tuple[bytes, bytes]:
    """(tbsCertificate.signature, Certificate.signatureAlgorithm), both as DER.

    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue };
    TBSCertificate ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, serialNumber,
    signature AlgorithmIdentifier, ... } (RFC 5280 4.1).
    """
    top = _der.children(der, _der.read_tlv(der))
    if len(top) != 3:
        raise _der.DerError("a Certificate is a SEQUENCE of three fields")
    tbs_fields = _der.children(der, top[0])
    inner = tbs_fields[2] if tbs_fields and tbs_fields[0].tag == 0xA0 else tbs_fields[1]
    return inner.whole(der), top[1].whole(der)


def certificate_signature_algorithm(cert: x509.Certificate) -> SignatureAlgorithm:
    """The algorithm ``cert`` is signed with (RSASSA-PSS parameters included).

    RFC 5280 4.1.1.2: signatureAlgorithm must equal tbsCertificate.signature;
    a certificate whose two disagree is "unsupported" (it cannot be checked).
    """
    oid = cert.signature_algorithm_oid.dotted_string
    der = cert.public_bytes(serialization.Encoding.DER)
    try:
        inner, outer = _certificate_algorithm_fields(der)
    except (_der.DerError, IndexError) as exc:
        return SignatureAlgorithm(oid, "unsupported", problem=f"unreadable certificate ({exc})")
    if inner != outer:
        return SignatureAlgorithm(
            oid,
            "unsupported",
            problem="its signatureAlgorithm differs from the signature field inside "
            "tbsCertificate (RFC 5280 4.1.1.2)",
        )
    parameters: bytes | None = None
    if oid == PSS_OID:
        parts = _der.children(outer, _der.read_tlv(outer))
        parameters = parts[1].whole(outer) if len(parts) > 1 else None
    return parse_signature_algorithm(oid, parameters)


def verify_certificate_signature(cert: x509.Certificate, issuer_key: object) -> str | None:
    """None when ``issuer_key`` made ``cert``'s signature (over its TBS bytes); else why not.

    Any algorithm this module knows verifies, SHA-1 and MD5 included: apply
    :mod:`certwarden.core.algorithms` to :func:`certificate_signature_algorithm`
    to decide whether the algorithm is acceptable.
    """
    algorithm = certificate_signature_algorithm(cert)
    return verify_signature(issuer_key, algorithm, cert.tbs_certificate_bytes, cert.signature)
