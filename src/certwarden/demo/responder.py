"""The demo's OCSP responder: a small real responder on loopback for the demo PKI.

Built only by ``certwarden serve --demo``. It answers RFC 6960 requests (POST,
and the RFC 5019 GET form) about certificates issued by the demo root or the
demo issuing CA:

* certificates the issuing CA issued are answered by its **delegated
  responder** certificate (id-kp-OCSPSigning, included in the response), the
  issuing CA itself by the root (signed by the issuer: the other half of the
  Delegated Trust Model);
* the serials listed as revoked in the demo manifest are ``revoked`` (with
  their time and reason; ``certificateHold`` is "on hold"), the serials listed
  as unknown are ``unknown``, the other certificates of the demo PKI ``good``,
  and any other serial ``unknown``;
* a nonce in the request is echoed;
* a request about an issuer it does not serve gets ``unauthorized``.

Responses are built and signed with :mod:`cryptography`'s OCSP builder, which
answers one certificate per response; a request asking about several at once
gets HTTP 400, and certwarden's revocation service then asks one at a time.
Times come from the injected clock.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp

from certwarden.clock import Clock
from certwarden.demo.pki import DemoPki
from certwarden.errors import ConfigurationError

__all__ = ["DemoResponder", "ResponderKeys", "load_responder_keys"]

log = logging.getLogger("certwarden.demo.ocsp")

MAX_REQUEST = 64 * 1024
VALIDITY = timedelta(hours=1)
BACKDATE = timedelta(minutes=5)

_REASONS = {flag.value: flag for flag in x509.ReasonFlags}
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class _Issuer:
    cert: x509.Certificate
    signer: x509.Certificate
    key: SigningKey
    include: tuple[x509.Certificate, ...]
    name_hashes: dict[str, bytes]
    key_hashes: dict[str, bytes]


@dataclass(frozen=True)
class ResponderKeys:
    """What the responder knows: issuers with their signers, and every serial's status."""

    issuers: tuple[_Issuer, ...]
    known: frozenset[tuple[bytes, int]]  # (issuer key hash SHA-1, serial)
    revoked: dict[int, tuple[datetime, x509.ReasonFlags]]
    unknown: frozenset[int]


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path) -> SigningKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise ConfigurationError(f"{path}: unsupported key type for the demo responder")
    return key


def _issuer_hashes(issuer: x509.Certificate) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The issuer's name and key hashes (RFC 6960 4.1.1), computed by cryptography."""
    names: dict[str, bytes] = {}
    keys: dict[str, bytes] = {}
    # SHA-1 CertIDs are what most clients send (RFC 5019 2.1.1); not a security use.
    for name, algorithm in (("sha1", hashes.SHA1()), ("sha256", hashes.SHA256())):  # noqa: S303
        # The key hash as cryptography computes it for certificates this issuer signed;
        # the name hash is over the issuer's own subject DN (RFC 6960 4.1.1).
        request = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, algorithm).build()
        digest = hashes.Hash(algorithm)
        digest.update(issuer.subject.public_bytes())
        names[name], keys[name] = digest.finalize(), request.issuer_key_hash
    return names, keys


def load_responder_keys(pki: DemoPki) -> ResponderKeys:
    """Read the demo PKI files (certificates, keys and the manifest)."""
    trust, private = pki.trust_dir, pki.private_dir
    try:
        root = _load_cert(trust / "root-ca.pem")
        sub = _load_cert(trust / "issuing-ca.pem")
        responder = _load_cert(trust / "ocsp-responder.pem")
        root_key = _load_key(private / "root-ca.key")
        responder_key = _load_key(private / "ocsp-responder.key")
        manifest = pki.manifest()
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"the demo PKI in {pki.directory} is incomplete: {exc}") from exc
    issuers = []
    for cert, signer, key, include in (
        (root, root, root_key, ()),
        (sub, responder, responder_key, (responder,)),
    ):
        names, keys = _issuer_hashes(cert)
        issuers.append(_Issuer(cert, signer, key, include, names, keys))
    known: set[tuple[bytes, int]] = set()
    for directory in (pki.trust_dir, pki.servers_dir, pki.lsc_dir):
        for path in sorted(directory.glob("*.pem")):
            cert = _load_cert(path)
            for issuer in issuers:
                if cert.issuer == issuer.cert.subject and cert != issuer.cert:
                    known.add((issuer.key_hashes["sha1"], cert.serial_number))
    revoked: dict[int, tuple[datetime, x509.ReasonFlags]] = {}
    for item in _list(manifest.get("revoked")):
        serial = int(str(item["serial"]), 16)
        revoked[serial] = (
            datetime.fromisoformat(str(item["revoked_at"])),
            _REASONS.get(str(item.get("reason")), x509.ReasonFlags.unspecified),
        )
    unknown = frozenset(int(str(s), 16) for s in _list(manifest.get("unknown")))
    return ResponderKeys(tuple(issuers), frozenset(known), revoked, unknown)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


class DemoResponder:
    """A threaded HTTP OCSP responder on 127.0.0.1 (``start()``/``stop()``)."""

    def __init__(self, keys: ResponderKeys, clock: Clock, *, port: int = 0) -> None:
        self.keys = keys
        self.clock = clock
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the responder is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ocsp"

    def start(self) -> DemoResponder:
        responder = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "certwarden-demo-ocsp"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("demo OCSP: " + format, *args)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length <= 0 or length > MAX_REQUEST:
                    self._reply(400, b"an OCSP request is 1 to 65536 bytes", "text/plain")
                    return
                self._answer(self.rfile.read(length))

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                encoded = urllib.parse.unquote(path.rsplit("/", 1)[-1])
                try:
                    der = base64.b64decode(encoded, validate=True)
                except (binascii.Error, ValueError):
                    self._reply(400, b"not a base64 OCSP request", "text/plain")
                    return
                self._answer(der)

            def _answer(self, der: bytes) -> None:
                responder.requests += 1
                status, body, kind = responder.respond(der)
                self._reply(status, body, kind)

            def _reply(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-ocsp", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    # ------------------------------------------------------------ the answers

    def respond(self, der: bytes) -> tuple[int, bytes, str]:
        """``(HTTP status, body, content type)`` for one request."""
        try:
            request = ocsp.load_der_ocsp_request(der)
        except NotImplementedError:
            # cryptography reads (and builds) one certificate per request.
            return 400, b"this demo responder answers one certificate per request", "text/plain"
        except ValueError:
            return 200, _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST), _OCSP
        issuer = self._issuer_for(request)
        if issuer is None:
            return 200, _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED), _OCSP
        now = self.clock.now()
        this_update, next_update = now - BACKDATE, now + VALIDITY
        serial = request.serial_number
        key_hash = request.issuer_key_hash
        revoked_at: datetime | None = None
        reason: x509.ReasonFlags | None = None
        if serial in self.keys.unknown or (
            (issuer.key_hashes["sha1"], serial) not in self.keys.known
        ):
            status = ocsp.OCSPCertStatus.UNKNOWN
        elif serial in self.keys.revoked:
            status = ocsp.OCSPCertStatus.REVOKED
            revoked_at, reason = self.keys.revoked[serial]
        else:
            status = ocsp.OCSPCertStatus.GOOD
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                request.issuer_name_hash,
                key_hash,
                serial,
                request.hash_algorithm,
                status,
                this_update,
                next_update,
                revoked_at,
                reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.signer)
        )
        if issuer.include:
            builder = builder.certificates(list(issuer.include))
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        algorithm = None if isinstance(issuer.key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        response = builder.sign(issuer.key, algorithm)
        der_response = response.public_bytes(serialization.Encoding.DER)
        return 200, _with_produced_at(der_response, now, issuer.key), _OCSP

    def _issuer_for(self, request: ocsp.OCSPRequest) -> _Issuer | None:
        name = request.hash_algorithm.name
        for issuer in self.keys.issuers:
            if (
                issuer.name_hashes.get(name) == request.issuer_name_hash
                and issuer.key_hashes.get(name) == request.issuer_key_hash
            ):
                return issuer
        return None


_OCSP = "application/ocsp-response"


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


# cryptography stamps producedAt with the wall clock; the demo (and its tests)
# run on the injected clock, so producedAt is set to it and the response signed
# again: OCSPResponse -> responseBytes -> BasicOCSPResponse (RFC 6960 4.2.1).


def _read(data: bytes, offset: int) -> tuple[int, int, int]:
    """``(tag, content start, content end)`` of the DER element at ``offset``."""
    tag = data[offset]
    first = data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    count = first & 0x7F
    length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    start = offset + 2 + count
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """``(tag, element start, content start, end)`` of each element in ``data[start:end]``."""
    out = []
    offset = start
    while offset < end:
        tag, content, stop = _read(data, offset)
        out.append((tag, offset, content, stop))
        offset = stop
    return out


def _encode(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _sign(key: SigningKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def _with_produced_at(der: bytes, when: datetime, key: SigningKey) -> bytes:
    _, outer_start, outer_end = _read(der, 0)
    status, wrapper = _children(der, outer_start, outer_end)
    _, rb_start, rb_end = _read(der, wrapper[2])  # [0] EXPLICIT -> ResponseBytes
    oid, octets = _children(der, rb_start, rb_end)
    basic_der = der[octets[2] : octets[3]]
    _, b_start, b_end = _read(basic_der, 0)
    tbs, algorithm, _signature, *certs = _children(basic_der, b_start, b_end)
    fields = _children(basic_der, tbs[2], tbs[3])
    stamp = _encode(0x18, when.strftime("%Y%m%d%H%M%SZ").encode("ascii"))
    new_tbs = _encode(
        0x30,
        b"".join(stamp if tag == 0x18 else basic_der[start:stop] for tag, start, _, stop in fields),
    )
    basic = _encode(
        0x30,
        new_tbs
        + basic_der[algorithm[1] : algorithm[3]]
        + _encode(0x03, b"\x00" + _sign(key, new_tbs))
        + b"".join(basic_der[c[1] : c[3]] for c in certs),
    )
    response_bytes = _encode(0x30, der[oid[1] : oid[3]] + _encode(0x04, basic))
    return _encode(0x30, der[status[1] : status[3]] + _encode(0xA0, response_bytes))
