"""Adversarial tests of the OCSP transport and the revocation service.

Real servers on 127.0.0.1 only: the project's aiohttp test responder
(``FaultResponder``) and, where the HTTP itself must lie (a wrong
Content-Length, a close-delimited body, a gzip bomb), a raw socket server
that writes exactly the bytes given. Each case names the exact could-not-tell
reason and asserts that nothing said Good.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from certwarden.adapters.ocsp_http import AiohttpTransport, HttpMethod, HttpOptions, OcspFetchError
from certwarden.composition import App
from certwarden.core.certs import facts_from_certificate
from certwarden.core.ocsp import (
    CertStatus,
    Reason,
    RevocationResult,
    TrustModel,
    cert_id_for,
    encode_request,
    verify_response,
)
from certwarden.core.revocation_settings import RevocationSettings
from certwarden.demo.devpki import Issued
from certwarden.services.revocation import Target
from tests.fakeca import DAY, T0, FakeCA
from tests.ocsp_responders import FaultResponder, parse_request, write_pem
from tests.test_ocsp_adversarial import _ca_cert_with_ocsp_signing

OCSP_TYPE = "application/ocsp-response"
CAP = HttpOptions().max_response_bytes


# ---------------------------------------------------------------- servers


class RawHttp:
    """A loopback server that reads one HTTP request per connection, records its
    headers, writes the canned raw reply for its path, and closes."""

    Reply = bytes | Callable[[socket.socket], None]

    def __init__(self) -> None:
        self.replies: dict[str, RawHttp.Reply] = {}
        self.hits: dict[str, list[dict[str, str]]] = {}
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1].strip("/").split("/")[0]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:])
                }
                while len(body) < int(headers.get("content-length", "0")):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                outer.hits.setdefault(path, []).append(headers)
                reply = outer.replies[path]
                with contextlib.suppress(OSError):  # the client hung up: often the point
                    if callable(reply):
                        reply(sock)
                    else:
                        sock.sendall(reply)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, path: str, reply: RawHttp.Reply) -> str:
        self.replies[path] = reply
        return f"http://127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _head(*headers: str) -> bytes:
    # "Connection: close": the server closes after one reply, and says so.
    return ("HTTP/1.1 200 OK\r\n" + "".join(f"{h}\r\n" for h in headers)).encode() + (
        b"Connection: close\r\n\r\n"
    )


@pytest.fixture(scope="module")
def raw() -> Iterator[RawHttp]:
    server = RawHttp()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def responder() -> Iterator[FaultResponder]:
    server = FaultResponder().start()
    yield server
    server.stop()


# ---------------------------------------------------------------- the PKI


@dataclass
class Pki:
    ca: FakeCA
    leaf: Issued
    leaf2: Issued
    other: FakeCA
    trp: Issued
    request: bytes  # a real request about `leaf`


@pytest.fixture(scope="module")
def pki() -> Pki:
    root = FakeCA.root("Service Adversarial Root")
    ca = root.intermediate("Service Adversarial CA")
    leaf = ca.leaf("svc-victim.example.test")
    other = FakeCA.root("Service Unrelated CA", org="someone else")
    return Pki(
        ca=ca,
        leaf=leaf,
        leaf2=ca.leaf("svc-second.example.test"),
        other=other,
        trp=other.responder("Service Designated OCSP"),
        request=encode_request([cert_id_for(leaf.cert, ca.cert)], b"n" * 16),
    )


def _fast(**kw: Any) -> HttpOptions:
    return HttpOptions(**{"connect_timeout": 1.0, "total_timeout": 2.0, **kw})


async def _outcome(pki: Pki, url: str, options: HttpOptions | None = None) -> RevocationResult:
    """Fetch ``url`` with the real transport and judge the bytes with the core,
    as the service does (no nonce: these cases are about the bytes)."""
    async with AiohttpTransport(options or _fast()) as transport:
        try:
            der = await transport.fetch(url, pki.request)
        except OcspFetchError as exc:
            return RevocationResult.could_not_tell(
                exc.code, exc.detail, http_status=exc.http_status
            )
    (result,) = verify_response(
        der, cert_ids=[cert_id_for(pki.leaf.cert, pki.ca.cert)], issuers=[pki.ca.cert], now=T0
    )
    return result


# ---------------------------------------------------------------- transport


async def test_gzip_bomb_is_neither_invited_nor_decompressed(pki: Pki, raw: RawHttp) -> None:
    """32 MiB of zeros gzip-compressed to ~32 KiB, sent with Content-Encoding: gzip.
    No Accept-Encoding goes out, and the body is taken as sent (never inflated
    past the cap): the core then finds it is no OCSP response."""
    bomb = gzip.compress(b"\x00" * (32 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < CAP // 8
    url = raw.serve(
        "gzip-bomb",
        _head(
            f"Content-Type: {OCSP_TYPE}", "Content-Encoding: gzip", f"Content-Length: {len(bomb)}"
        )
        + bomb,
    )
    async with AiohttpTransport(_fast()) as transport:
        body = await transport.fetch(url, pki.request)
    assert body == bomb  # not decompressed
    assert "accept-encoding" not in raw.hits["gzip-bomb"][0]
    result = await _outcome(pki, url)
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.MALFORMED_RESPONSE


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("APPLICATION/OCSP-RESPONSE", True),  # RFC 2045 5.1: types are case-insensitive
        ("application/ocsp-response; charset=binary", True),
        ("Application/Ocsp-Response ; foo=bar", True),
        (None, False),
        ("application/ocsp-request", False),
        ("application/ocsp-responsex", False),
        ("text/html; application/ocsp-response", False),
        ("application/octet-stream", False),
    ],
    ids=[
        "upper-case",
        "charset-parameter",
        "mixed-case-space-before-parameter",
        "missing",
        "the-request-type",
        "longer-type",
        "html-with-ocsp-as-parameter",
        "octet-stream",
    ],
)
async def test_content_type_is_judged_by_its_media_type(
    pki: Pki, raw: RawHttp, content_type: str | None, accepted: bool
) -> None:
    body = pki.ca.response(pki.ca.answer(pki.leaf.cert))
    headers = [f"Content-Length: {len(body)}"]
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    route = f"ct-{len(raw.replies)}"
    result = await _outcome(pki, raw.serve(route, _head(*headers) + body))
    if accepted:
        assert result.status is CertStatus.GOOD  # the honest answer still counts
    else:
        assert result.status is CertStatus.COULD_NOT_TELL
        assert result.reason is Reason.BAD_CONTENT_TYPE


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", [HttpMethod.POST, HttpMethod.GET])
async def test_redirects_are_never_followed(
    pki: Pki, responder: FaultResponder, code: int, method: HttpMethod
) -> None:
    """The redirect target serves an honest Good, and is never asked."""
    target_route = f"redirect-target-{code}-{method}"
    target = responder.serve_bytes(target_route, pki.ca.response(pki.ca.answer(pki.leaf.cert)))
    url = responder.serve_redirect(f"redirect-{code}-{method}", target, status=code)
    result = await _outcome(pki, url, _fast(method=method))
    assert result.status is CertStatus.COULD_NOT_TELL
    assert (result.reason, result.http_status) == (Reason.HTTP_ERROR, code)
    assert target_route not in responder.methods


async def test_content_length_smaller_than_the_body(pki: Pki, raw: RawHttp) -> None:
    """Content-Length 5, then 2 MB more: never more than the announced bytes are
    taken as the response (aiohttp either stops at them or refuses the stream)."""
    url = raw.serve(
        "cl-smaller",
        _head(f"Content-Type: {OCSP_TYPE}", "Content-Length: 5")
        + b"\x30\x03\x0a\x01\x00"
        + b"\x30" * 2_000_000,
    )
    async with AiohttpTransport(_fast()) as transport:
        try:
            body = await transport.fetch(url, pki.request)
        except OcspFetchError as exc:
            assert exc.code is Reason.MALFORMED_RESPONSE
        else:
            assert body == b"\x30\x03\x0a\x01\x00"
    result = await _outcome(pki, url)
    assert (result.status, result.reason) == (CertStatus.COULD_NOT_TELL, Reason.MALFORMED_RESPONSE)


@pytest.mark.parametrize(
    ("route", "reply", "reason"),
    [
        pytest.param(
            "cl-larger",
            _head(f"Content-Type: {OCSP_TYPE}", "Content-Length: 1000") + b"\x30" * 10,
            Reason.MALFORMED_RESPONSE,
            id="content-length-larger-than-the-body",
        ),
        pytest.param(
            "cl-negative",
            _head(f"Content-Type: {OCSP_TYPE}", "Content-Length: -1") + b"\x30\x00",
            Reason.MALFORMED_RESPONSE,
            id="content-length-negative",
        ),
        pytest.param(
            "cl-twice",
            _head(f"Content-Type: {OCSP_TYPE}", "Content-Length: 2", "Content-Length: 5")
            + b"\x30\x03\x0a\x01\x00",
            Reason.MALFORMED_RESPONSE,
            id="content-length-twice-disagreeing",
        ),
        pytest.param(
            "cl-over-cap",
            _head(f"Content-Type: {OCSP_TYPE}", f"Content-Length: {CAP + 1}") + b"\x30" * 10,
            Reason.RESPONSE_TOO_LARGE,
            id="content-length-announces-more-than-the-cap",
        ),
    ],
)
async def test_lying_lengths(
    pki: Pki, raw: RawHttp, route: str, reply: bytes, reason: Reason
) -> None:
    result = await _outcome(pki, raw.serve(route, reply))
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is reason, result


async def test_close_delimited_body_is_cut_at_the_cap(pki: Pki, raw: RawHttp) -> None:
    """No Content-Length, no chunking: the body runs until the server closes
    (4 MiB here). Reading stops at the cap."""

    def endless(sock: socket.socket) -> None:
        sock.sendall(_head(f"Content-Type: {OCSP_TYPE}"))
        for _ in range(64):
            sock.sendall(b"\x30" * 65536)

    result = await _outcome(pki, raw.serve("close-delimited", endless))
    assert (result.status, result.reason) == (CertStatus.COULD_NOT_TELL, Reason.RESPONSE_TOO_LARGE)


async def test_a_dribbling_body_hits_the_total_timeout(pki: Pki, raw: RawHttp) -> None:
    """Headers at once, then one byte every 50 ms: the total timeout (1 s) ends it."""

    def dribble(sock: socket.socket) -> None:
        sock.sendall(_head(f"Content-Type: {OCSP_TYPE}", "Content-Length: 200"))
        for _ in range(200):
            sock.sendall(b"\x30")
            time.sleep(0.05)

    started = time.monotonic()
    result = await _outcome(
        pki, raw.serve("dribble", dribble), _fast(connect_timeout=0.5, total_timeout=1.0)
    )
    assert (result.status, result.reason) == (CertStatus.COULD_NOT_TELL, Reason.TIMEOUT)
    assert time.monotonic() - started < 5  # the 10 s body was not waited for


# ---------------------------------------------------------------- the service


def _target(issued: Issued, issuer: FakeCA) -> Target:
    facts = facts_from_certificate(issued.cert)
    return Target(issued.cert, facts.sha256, facts.subject, issuer.cert, facts.ocsp_uris)


def _settings(**changes: Any) -> RevocationSettings:
    return RevocationSettings().updated(enable_ocsp=True, **changes)


def _requests(responder: FaultResponder, route: str) -> int:
    return len(responder.methods.get(route, []))


async def test_withdrawn_trusted_responder_is_not_served_from_the_cache(
    app: App, pki: Pki, responder: FaultResponder
) -> None:
    """HOLE FOUND AND FIXED: after the administrator removes a designated
    responder, its cached Good was still reused (uploads and TLS checks use the
    cache) until nextUpdate. Now the responder is asked again, and refused."""
    route = "trp-withdrawn"
    url = responder.serve_bytes(
        route, pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=pki.trp)
    )
    service = app.revocation
    targets = [_target(pki.leaf, pki.ca)]
    kw: dict[str, Any] = {"settings": _settings(), "url_override": url, "use_cache": True}
    (first,) = await service.evaluate(targets, trusted_responders=[pki.trp.cert], now=T0, **kw)
    assert (first.status, first.trust_model) == (CertStatus.GOOD, TrustModel.TRUSTED_RESPONDER)
    (again,) = await service.evaluate(
        targets, trusted_responders=[pki.trp.cert], now=T0 + timedelta(minutes=1), **kw
    )
    assert again.status is CertStatus.GOOD
    assert _requests(responder, route) == 1  # reused while still designated
    (withdrawn,) = await service.evaluate(
        targets, trusted_responders=[], now=T0 + timedelta(minutes=2), **kw
    )
    assert withdrawn.status is CertStatus.COULD_NOT_TELL
    assert withdrawn.reason is Reason.UNAUTHORIZED_SIGNER
    assert _requests(responder, route) == 2


async def test_cached_good_never_outlives_the_certificate(
    app: App, pki: Pki, responder: FaultResponder
) -> None:
    """The answer is fresh for a day, the certificate expires in an hour: an
    hour and a second later it is revoked (expired), and nobody is asked."""
    short = pki.ca.leaf(
        "short-lived.example.test", not_before=T0 - DAY, not_after=T0 + timedelta(hours=1)
    )
    route = "short-lived"
    url = responder.serve_bytes(route, pki.ca.response(pki.ca.answer(short.cert)))
    kw: dict[str, Any] = {"settings": _settings(), "url_override": url, "use_cache": True}
    (fresh,) = await app.revocation.evaluate([_target(short, pki.ca)], now=T0, **kw)
    assert fresh.status is CertStatus.GOOD and fresh.next_update == T0 + DAY
    (later,) = await app.revocation.evaluate(
        [_target(short, pki.ca)], now=T0 + timedelta(hours=1, seconds=1), **kw
    )
    assert (later.status, later.reason, later.expired) == (CertStatus.REVOKED, None, True)
    assert _requests(responder, route) == 1


async def test_a_replayed_answer_is_cached_only_as_could_not_tell(
    app: App, pki: Pki, responder: FaultResponder
) -> None:
    """A response echoing the wrong nonce (a replay) is never stored as Good:
    within the back-off the could-not-tell stands, without asking again."""
    route = "replayed"

    def replay(request_der: bytes) -> bytes:
        sent = parse_request(request_der).nonce
        assert sent is not None
        wrong = bytes(b ^ 0x5A for b in sent)
        return pki.ca.response(pki.ca.answer(pki.leaf.cert), nonce=wrong)

    url = responder.serve_dynamic(route, replay)
    kw: dict[str, Any] = {"settings": _settings(), "url_override": url, "use_cache": True}
    targets = [_target(pki.leaf, pki.ca)]
    for minutes in (0, 1, 4):
        (result,) = await app.revocation.evaluate(
            targets, now=T0 + timedelta(minutes=minutes), **kw
        )
        assert (result.status, result.reason) == (CertStatus.COULD_NOT_TELL, Reason.NONCE_MISMATCH)
    assert _requests(responder, route) == 1


async def test_a_sha1_answer_is_not_served_for_a_sha256_check(
    app: App, pki: Pki, responder: FaultResponder
) -> None:
    """A Good cached under the SHA-1 CertID is not reused once checks use SHA-256;
    this responder answers only in SHA-1, which no longer matches."""
    route = "sha1-only"
    url = responder.serve_bytes(route, pki.ca.response(pki.ca.answer(pki.leaf2.cert)))
    targets = [_target(pki.leaf2, pki.ca)]
    common: dict[str, Any] = {"url_override": url, "use_cache": True, "now": T0}
    (sha1,) = await app.revocation.evaluate(targets, settings=_settings(), **common)
    assert sha1.status is CertStatus.GOOD
    (sha256,) = await app.revocation.evaluate(
        targets, settings=_settings(hash_algorithm="sha256"), **common
    )
    assert (sha256.status, sha256.reason) == (CertStatus.COULD_NOT_TELL, Reason.CERTID_MISMATCH)
    assert _requests(responder, route) == 2


async def test_batched_answers_cannot_smuggle_a_good_for_another_certificate(
    app: App, pki: Pki, responder: FaultResponder
) -> None:
    """The responder answers every request (batched, then the single retry) with
    a genuine Good for A and, about B, a Good under SHA-1 plus a Revoked under
    SHA-256. A is Good; B is never Good. (HOLE FOUND AND FIXED in the core: B
    was Good, the SHA-256 answer never being looked at for a SHA-1 request.)"""
    route = "batch-contradiction"

    def answer(request_der: bytes) -> bytes:
        return pki.ca.response(
            pki.ca.answer(pki.leaf.cert),
            pki.ca.answer(pki.leaf2.cert),
            pki.ca.answer(pki.leaf2.cert, "revoked", hash_algorithm="sha256"),
            nonce=parse_request(request_der).nonce,
        )

    url = responder.serve_dynamic(route, answer)
    results = await app.revocation.evaluate(
        [_target(pki.leaf, pki.ca), _target(pki.leaf2, pki.ca)],
        settings=_settings(),
        url_override=url,
        use_cache=False,
        now=T0,
    )
    assert [(r.status, r.reason) for r in results] == [
        (CertStatus.GOOD, None),
        (CertStatus.COULD_NOT_TELL, Reason.MALFORMED_RESPONSE),
    ]


def test_a_ca_certificate_with_ocsp_signing_in_tomcat_trust_is_no_responder(
    app: App, pki: Pki, responder: FaultResponder, tmp_path: Path
) -> None:
    """HOLE FOUND AND FIXED, through uploads and `check`: an unrelated sub-CA
    whose EKU lists id-kp-OCSPSigning, uploaded to tomcat-trust (as CAs are, for
    TLS), was taken for a designated responder and could vouch for any CA's
    certificates. Common Criteria mode: the check is refused."""
    rogue = _ca_cert_with_ocsp_signing(pki.other.dev, "Rogue Sub-CA with OCSPSigning")
    write_pem(tmp_path / "chain.pem", pki.ca.cert, *pki.ca.chain()[1:])
    write_pem(tmp_path / "rogue.pem", rogue.cert, pki.other.cert)
    write_pem(tmp_path / "leaf.pem", pki.leaf.cert)
    app.inventory.import_paths([tmp_path / "chain.pem"], store="tomcat-trust")
    app.inventory.import_paths([tmp_path / "rogue.pem"], store="tomcat-trust")
    leaf_id = app.inventory.import_paths([tmp_path / "leaf.pem"], store="tomcat").imported[0].id
    url = responder.serve_bytes(
        "rogue-ca", pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=rogue)
    )
    app.revocation.update_settings(
        {"enable_ocsp": True, "responder_source": "configured", "configured_uri": url}
    )
    app.revocation.set_common_criteria(True)
    (outcome,) = app.revocation.check([leaf_id]).outcomes
    assert outcome.result.status is CertStatus.COULD_NOT_TELL
    assert outcome.result.reason is Reason.UNAUTHORIZED_SIGNER
    assert "CA certificate" in outcome.result.detail
    assert outcome.refused
