"""OCSP responders for the tests and benchmarks, both real servers on loopback.

1. :class:`OpensslResponder`: a real ``openssl ocsp`` responder over an
   ``index.txt`` written from a :class:`ResponderIndex` (good, revoked with
   reasons, on hold; any serial not in the index is answered ``unknown``).
   Three signing configurations (see :func:`openssl_pki`): a delegated responder
   certificate (DTM), the CA itself (DTM), and a responder certificate from an
   unrelated CA (TRP when it is uploaded to tomcat-trust, refused when not).
2. :class:`FaultResponder`: the project's own test responder, a small
   aiohttp.web server that serves canned bytes and misbehaviours per path
   (``/<case>``): forged and stale responses made by ``FakeCA``, HTTP errors,
   wrong content types, truncated and endless bodies, a slow answer.

OpenSSL 3.0's responder spins at full CPU after a connection that closes without
a request, so readiness is a real OCSP request, never a bare TCP connect; every
process started here is killed (its whole process group) on stop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certwarden.demo.devpki import DevCA, Issued

__all__ = [
    "FaultResponder",
    "IndexEntry",
    "OpensslPki",
    "OpensslResponder",
    "ResponderIndex",
    "free_port",
    "openssl_pki",
    "start_openssl_responder",
]

DAY = timedelta(days=1)
OCSP_CONTENT_TYPE = "application/ocsp-response"


def free_port() -> int:
    """A loopback port nobody listens on right now (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------- index.txt


@dataclass(frozen=True)
class IndexEntry:
    """One line of an OpenSSL CA database (``index.txt``)."""

    cert: x509.Certificate
    revoked_at: datetime | None = None
    # An RFC 5280 CRLReason name as OpenSSL spells it: keyCompromise,
    # cessationOfOperation, certificateHold, superseded, ...
    reason: str | None = None

    def line(self) -> str:
        expiry = _openssl_utc(self.cert.not_valid_after_utc)
        serial = format(self.cert.serial_number, "X")
        if len(serial) % 2:
            serial = "0" + serial
        subject = "/" + "/".join(
            f"{a.rfc4514_attribute_name}={a.value!s}" for a in self.cert.subject
        )
        if self.revoked_at is None:
            return f"V\t{expiry}\t\t{serial}\tunknown\t{subject}\n"
        revoked = _openssl_utc(self.revoked_at)
        if self.reason == "certificateHold":
            # apps/lib/apps.c unpack_revinfo: a hold needs its instruction.
            revoked += ",certificateHold,holdInstructionNone"
        elif self.reason:
            revoked += f",{self.reason}"
        return f"R\t{expiry}\t{revoked}\t{serial}\tunknown\t{subject}\n"


def _openssl_utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%y%m%d%H%M%SZ")


@dataclass
class ResponderIndex:
    entries: list[IndexEntry] = field(default_factory=list)

    def write(self, path: Path) -> Path:
        path.write_text("".join(e.line() for e in self.entries))
        path.with_name(path.name + ".attr").write_text("unique_subject = no\n")
        return path


# ------------------------------------------------------------------ the test PKI


@dataclass
class OpensslPki:
    """The certificates behind the openssl responder configurations.

    ``leaves`` maps a name to its certificate: ``good``, ``revoked_key``
    (keyCompromise), ``revoked_cessation`` (cessationOfOperation),
    ``revoked_superseded`` (superseded), ``on_hold`` (certificateHold) and
    ``unknown`` (issued by the CA but absent from the index).
    """

    now: datetime
    root: DevCA
    ca: DevCA
    delegated: Issued
    unrelated_ca: DevCA
    unrelated_responder: Issued
    leaves: dict[str, Issued]
    revoked_at: datetime
    index: ResponderIndex
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name


def openssl_pki(directory: Path, now: datetime, *, ocsp_url: str | None = None) -> OpensslPki:
    """Build the PKI and write every file ``openssl ocsp`` needs into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    root = DevCA.root("OCSP Test Root", not_before=now - 400 * DAY, not_after=now + 3650 * DAY)
    ca = root.child_ca(
        "OCSP Test Issuing CA", not_before=now - 300 * DAY, not_after=now + 1800 * DAY
    )
    delegated = ca.issue_ocsp_responder(
        "OCSP Test Delegated Responder", not_before=now - 10 * DAY, not_after=now + 300 * DAY
    )
    unrelated_ca = DevCA.root(
        "Unrelated Responder CA",
        not_before=now - 400 * DAY,
        not_after=now + 3650 * DAY,
        org="someone else",
    )
    unrelated_responder = unrelated_ca.issue_ocsp_responder(
        "Unrelated OCSP Signer", not_before=now - 10 * DAY, not_after=now + 300 * DAY
    )
    leaves = {
        name: ca.issue(
            f"{name.replace('_', '-')}.ocsp.test",
            not_before=now - 30 * DAY,
            not_after=now + 200 * DAY,
            ocsp_url=ocsp_url,
        )
        for name in (
            "good",
            "revoked_key",
            "revoked_cessation",
            "revoked_superseded",
            "on_hold",
            "unknown",
        )
    }
    revoked_at = (now - 3 * DAY).replace(microsecond=0)
    index = ResponderIndex(
        [
            IndexEntry(leaves["good"].cert),
            IndexEntry(leaves["revoked_key"].cert, revoked_at, "keyCompromise"),
            IndexEntry(leaves["revoked_cessation"].cert, revoked_at, "cessationOfOperation"),
            IndexEntry(leaves["revoked_superseded"].cert, revoked_at, "superseded"),
            IndexEntry(leaves["on_hold"].cert, revoked_at, "certificateHold"),
            IndexEntry(delegated.cert),
        ]
    )
    pki = OpensslPki(
        now, root, ca, delegated, unrelated_ca, unrelated_responder, leaves, revoked_at, index,
        directory,
    )  # fmt: skip
    write_pem(pki.path("ca.pem"), ca.cert)
    write_key(pki.path("ca.key"), ca.issued)
    write_pem(pki.path("root.pem"), root.cert)
    write_pem(pki.path("delegated.pem"), delegated.cert)
    write_key(pki.path("delegated.key"), delegated)
    write_pem(pki.path("unrelated-ca.pem"), unrelated_ca.cert)
    write_pem(pki.path("unrelated.pem"), unrelated_responder.cert)
    write_key(pki.path("unrelated.key"), unrelated_responder)
    for name, issued in leaves.items():
        write_pem(pki.path(f"{name}.pem"), issued.cert)
    index.write(pki.path("index.txt"))
    return pki


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_key(path: Path, issued: Issued) -> Path:
    path.write_bytes(issued.key_pem())
    path.chmod(0o600)
    return path


# --------------------------------------------------------- the openssl responder


@dataclass
class OpensslResponder:
    """A running ``openssl ocsp`` responder process (group)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _signal_group(self, sig: signal.Signals) -> None:
        # -multi forks children: end the whole group, but only once it is the
        # responder's own group (never ours).
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(self.process.pid) == self.process.pid:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)

    def stop(self) -> None:
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=5)
        # Children left behind after the parent ended.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def start_openssl_responder(
    *,
    index: Path,
    ca: Path,
    signer: Path,
    signer_key: Path,
    probe_cert: x509.Certificate,
    probe_issuer: x509.Certificate,
    multi: int | None = 2,
    ndays: int | None = 1,
    extra_args: Sequence[str] = (),
    log: Path | None = None,
    attempts: int = 3,
    port: int | None = None,
) -> OpensslResponder:
    """Start ``openssl ocsp`` on a free loopback port and wait until it answers.

    Readiness is a real OCSP request for ``probe_cert`` (a bare TCP connect would
    leave OpenSSL 3.0's responder spinning). The port is picked free, then
    handed to openssl; when another process grabs it first, we try another
    (unless ``port`` is fixed, e.g. because certificates name it in their AIA).
    """
    log = log or index.with_name(f"openssl-ocsp-{signer.stem}.log")
    probe = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(probe_cert, probe_issuer, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    last_error = ""
    fixed_port = port
    for _ in range(attempts):
        port = fixed_port or free_port()
        args = [
            "openssl", "ocsp", "-index", str(index), "-port", str(port), "-CA", str(ca),
            "-rsigner", str(signer), "-rkey", str(signer_key), "-ignore_err",
        ]  # fmt: skip
        if ndays is not None:
            args += ["-ndays", str(ndays)]
        if multi:
            args += ["-multi", str(multi)]
        args += list(extra_args)
        with log.open("ab") as out:
            # With -multi, openssl makes itself a process-group leader (setpgid,
            # which fails in a new session); without it, we give it a group.
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=None if multi else 0,
            )
        responder = OpensslResponder(process, port, log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = log.read_text(errors="replace")[-2000:]
                break
            if _answers(port, probe):
                return responder
            time.sleep(0.05)
        responder.stop()
    raise RuntimeError(f"openssl ocsp did not start: {last_error or 'no answer in 15 s'}")


def _answers(port: int, request_der: bytes) -> bool:
    """One real OCSP POST; True when a successful-looking OCSP response came back."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request(
            "POST", "/", body=request_der, headers={"Content-Type": "application/ocsp-request"}
        )
        response = conn.getresponse()
        body = response.read()
    except OSError:
        return False
    finally:
        conn.close()
    if response.status != 200 or not body:
        return False
    try:
        return (
            ocsp.load_der_ocsp_response(body).response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        )
    except ValueError:
        return False


# --------------------------------------------------------- the project's responder

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultResponder:
    """The project's own test responder: an aiohttp.web server on loopback in a
    thread of its own, serving one behaviour per path.

    Routes are added with :meth:`serve_bytes` (canned DER with a content type and
    status) or :meth:`add` (any handler). The server records the request bodies
    it saw per path, so tests can build the answer for the nonce they sent.
    """

    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}
        self.requests: dict[str, list[bytes]] = {}
        self.methods: dict[str, list[str]] = {}
        self.endless_bytes_sent: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.peers: dict[str, list[int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- routes

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def add(self, path: str, handler: Handler) -> str:
        self._routes[path.strip("/")] = handler
        return self.url(path)

    def serve_bytes(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = OCSP_CONTENT_TYPE,
    ) -> str:
        async def handler(_request: web.Request) -> web.StreamResponse:
            return web.Response(body=body, status=status, headers={"Content-Type": content_type})

        return self.add(path, handler)

    def serve_dynamic(self, path: str, make: Callable[[bytes], bytes]) -> str:
        """Answer each request with ``make(request_der)`` (e.g. echo a wrong nonce)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            der = self.requests[path.strip("/")][-1]
            return web.Response(body=make(der), headers={"Content-Type": OCSP_CONTENT_TYPE})

        return self.add(path, handler)

    def serve_redirect(self, path: str, location: str, status: int = 302) -> str:
        async def handler(_request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})

        return self.add(path, handler)

    def serve_slow(self, path: str, body: bytes, delay: float) -> str:
        """Answers correctly, but only after ``delay`` seconds."""

        async def handler(_request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(delay)
            return web.Response(body=body, headers={"Content-Type": OCSP_CONTENT_TYPE})

        return self.add(path, handler)

    def serve_endless(self, path: str) -> str:
        """A chunked body that never ends (until the client goes away)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": OCSP_CONTENT_TYPE})
            response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b"\x30\x82" * 32768
            self.endless_bytes_sent[path] = 0
            with contextlib.suppress(Exception):  # the client hung up: that is the point
                while True:
                    await response.write(chunk)
                    self.endless_bytes_sent[path] += len(chunk)
            return response

        return self.add(path, handler)

    def serve_truncated(self, path: str, body: bytes, keep: int) -> str:
        """Announces ``len(body)`` bytes, sends ``keep`` of them, then drops the connection."""

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(
                headers={"Content-Type": OCSP_CONTENT_TYPE, "Content-Length": str(len(body))}
            )
            await response.prepare(request)
            await response.write(body[:keep])
            assert request.transport is not None
            request.transport.close()
            return response

        return self.add(path, handler)

    def serve_counting(self, path: str, body: bytes, delay: float) -> str:
        """Answers after ``delay``; records the most requests seen in flight at once
        (``max_in_flight[path]``) and the client ports (``peers[path]``)."""
        self.max_in_flight[path] = 0
        in_flight = 0

        async def handler(request: web.Request) -> web.StreamResponse:
            nonlocal in_flight
            in_flight += 1
            self.max_in_flight[path] = max(self.max_in_flight[path], in_flight)
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self.peers.setdefault(path, []).append(peer[1] if peer else -1)
            try:
                await asyncio.sleep(delay)
            finally:
                in_flight -= 1
            return web.Response(body=body, headers={"Content-Type": OCSP_CONTENT_TYPE})

        return self.add(path, handler)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"].strip("/")
        route = path if path in self._routes else path.split("/", 1)[0]
        self.methods.setdefault(route, []).append(request.method)
        if request.method == "POST":
            self.requests.setdefault(route, []).append(await request.read())
        elif request.method == "GET" and route != path:
            # RFC 6960 A.1: GET {url}/{url-encoding of base64 of the DER request}
            encoded = urllib.parse.unquote(path.split("/", 1)[1])
            self.requests.setdefault(route, []).append(base64.b64decode(encoded))
        handler = self._routes.get(route)
        if handler is None:
            return web.Response(status=404, text=f"no route {path!r}")
        return await handler(request)

    # -- lifecycle

    def start(self) -> FaultResponder:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                app = web.Application()
                app.router.add_route("*", "/{path:.*}", self._dispatch)
                self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                loop.run_until_complete(site.start())
                server = site._server
                assert server is not None
                self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-responder", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@contextlib.contextmanager
def running(responder: FaultResponder) -> Iterator[FaultResponder]:
    responder.start()
    try:
        yield responder
    finally:
        responder.stop()


# ------------------------------------------- a live FakeCA responder (any batch)


@dataclass(frozen=True)
class ParsedRequest:
    """What a (possibly multi-certificate) OCSP request asks: serials and nonce."""

    serials: tuple[int, ...]
    key_hashes: tuple[bytes, ...]
    nonce: bytes | None
    hash_algorithms: tuple[str, ...] = ()


def parse_request(der: bytes) -> ParsedRequest:
    """Read an OCSPRequest (RFC 6960 4.1.1) — cryptography only reads single ones."""
    from certwarden.core.ocsp import _der

    top = _der.read_tlv(der)
    tbs = _der.children(der, top)[0]
    serials: list[int] = []
    key_hashes: list[bytes] = []
    algorithms: list[str] = []
    nonce = None
    for part in _der.children(der, tbs):
        if part.tag == _der.SEQUENCE:  # requestList
            for request in _der.children(der, part):
                cert_id = _der.children(der, request)[0]
                fields_ = _der.children(der, cert_id)
                oid = _der.decode_oid(_der.children(der, fields_[0])[0].content(der))
                algorithms.append("sha256" if oid == "2.16.840.1.101.3.4.2.1" else "sha1")
                key_hashes.append(fields_[2].content(der))
                serials.append(_der.decode_integer(fields_[3].content(der)))
        elif part.tag == 0xA2:  # [2] EXPLICIT Extensions
            extensions = _der.children(der, part)[0]
            for ext in _der.children(der, extensions):
                items = _der.children(der, ext)
                if _der.decode_oid(items[0].content(der)) == "1.3.6.1.5.5.7.48.1.2":
                    value = items[-1].content(der)  # extnValue: OCTET STRING (nonce)
                    nonce = _der.read_tlv(value).content(value)
    return ParsedRequest(tuple(serials), tuple(key_hashes), nonce, tuple(algorithms))


@dataclass
class LiveAnswer:
    status: str = "good"  # good | revoked | unknown
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


class FakeCAResponder:
    """Answers any request about ``certs`` (issued by ``ca``) from ``answers``
    (serial -> :class:`LiveAnswer`), in the CertID hash asked for, echoing the
    nonce; serials it has no certificate for get no SingleResponse. Tests change ``answers`` to make a status change; ``batch_sizes``
    records how many certificates each request asked about. With
    ``single_only`` it answers multi-certificate requests ``malformedRequest``
    (a responder that does not batch)."""

    def __init__(
        self,
        ca: object,
        certs: Sequence[x509.Certificate],
        *,
        this_update: Callable[[], datetime],
        signer: Issued | None = None,
        single_only: bool = False,
    ) -> None:
        self.ca = ca
        self.certs = {c.serial_number: c for c in certs}
        self.answers: dict[int, LiveAnswer] = {c.serial_number: LiveAnswer() for c in certs}
        self.this_update = this_update
        self.signer = signer
        self.single_only = single_only
        self.batch_sizes: list[int] = []

    def __call__(self, der: bytes) -> bytes:
        from tests.fakeca import unsuccessful

        request = parse_request(der)
        self.batch_sizes.append(len(request.serials))
        if self.single_only and len(request.serials) > 1:
            return unsuccessful("malformedRequest")
        now = self.this_update()
        answers = []
        for serial, algorithm in zip(request.serials, request.hash_algorithms, strict=True):
            cert = self.certs.get(serial)
            live = self.answers.get(serial)
            if cert is None or live is None:
                continue
            answers.append(
                self.ca.answer(  # type: ignore[attr-defined]
                    cert,
                    live.status,
                    this_update=now,
                    revoked_at=live.revoked_at,
                    revocation_reason=live.reason,
                    hash_algorithm=algorithm,  # answer in the CertID hash asked for
                )
            )
        if not answers:
            return unsuccessful("unauthorized")
        return self.ca.response(*answers, signer=self.signer, nonce=request.nonce)  # type: ignore[attr-defined,no-any-return]
