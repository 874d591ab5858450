"""The OCSP HTTP transport against a real loopback HTTP server (no mocks).

Every failure must come out as an OcspFetchError with its could-not-tell
reason; nothing from aiohttp may leak.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from certwarden.adapters.ocsp_http import (
    AiohttpTransport,
    HttpMethod,
    HttpOptions,
    OcspFetchError,
    origin,
)
from certwarden.core.ocsp import Reason, cert_id_for, encode_request
from tests.fakeca import T0, FakeCA
from tests.ocsp_responders import FaultResponder, free_port

BODY = b"\x30\x03\x0a\x01\x00"  # any bytes: the transport does not judge responses


@pytest.fixture(scope="module")
def server() -> Iterator[FaultResponder]:
    responder = FaultResponder().start()
    yield responder
    responder.stop()


@pytest.fixture(scope="module")
def small_request() -> bytes:
    root = FakeCA.root("HTTP Test Root", now=T0)
    leaf = root.leaf("http.test")
    return encode_request([cert_id_for(leaf.cert, root.cert)], b"n" * 16)


def _fast(**kw: object) -> HttpOptions:
    return HttpOptions(**{"connect_timeout": 1.0, "total_timeout": 2.0, **kw})  # type: ignore[arg-type]


async def _fetch_error(url: str, der: bytes, options: HttpOptions | None = None) -> OcspFetchError:
    async with AiohttpTransport(options or _fast()) as transport:
        with pytest.raises(OcspFetchError) as info:
            await transport.fetch(url, der)
    return info.value


async def test_post_by_default_with_the_ocsp_request_type(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_bytes("ok-post", BODY)
    async with AiohttpTransport() as transport:
        assert await transport.fetch(url, small_request) == BODY
    assert server.methods["ok-post"] == ["POST"]
    assert server.requests["ok-post"] == [small_request]


async def test_get_for_small_requests_when_asked(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_bytes("ok-get", BODY)
    async with AiohttpTransport(HttpOptions(method=HttpMethod.GET)) as transport:
        assert await transport.fetch(url, small_request) == BODY
        # A request too big for RFC 5019's 255-byte GET goes out as POST anyway.
        big = small_request + b"\x00" * 300
        assert await transport.fetch(url, big) == BODY
    assert server.methods["ok-get"] == ["GET", "POST"]
    assert server.requests["ok-get"][0] == small_request


async def test_http_500_is_an_http_error_with_its_status(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_bytes("h500", b"oops", status=500, content_type="text/plain")
    error = await _fetch_error(url, small_request)
    assert (error.code, error.http_status) == (Reason.HTTP_ERROR, 500)
    assert "HTTP 500" in error.detail and url in error.detail


async def test_redirects_are_not_followed(server: FaultResponder, small_request: bytes) -> None:
    target = server.serve_bytes("redirect-target", BODY)
    url = server.serve_redirect("redirect", target)
    error = await _fetch_error(url, small_request)
    assert (error.code, error.http_status) == (Reason.HTTP_ERROR, 302)
    assert "not followed" in error.detail
    assert "redirect-target" not in server.methods


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/octet-stream", "application/ocsp-request"]
)
async def test_wrong_content_type_is_refused(
    server: FaultResponder, small_request: bytes, content_type: str
) -> None:
    url = server.serve_bytes(
        f"ct-{content_type.replace('/', '-')}", BODY, content_type=content_type
    )
    error = await _fetch_error(url, small_request)
    assert error.code is Reason.BAD_CONTENT_TYPE
    assert content_type in error.detail


async def test_content_type_parameters_are_tolerated(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_bytes("ct-params", BODY, content_type="Application/OCSP-Response; x=1")
    async with AiohttpTransport(_fast()) as transport:
        assert await transport.fetch(url, small_request) == BODY


async def test_announced_size_over_the_cap_is_refused_unread(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_bytes("big", b"\x30" * (1024 * 1024 + 1))
    error = await _fetch_error(url, small_request)
    assert error.code is Reason.RESPONSE_TOO_LARGE
    assert "1048576" in error.detail


async def test_exactly_the_cap_is_accepted(server: FaultResponder, small_request: bytes) -> None:
    body = b"\x30" * 4096
    url = server.serve_bytes("at-cap", body)
    async with AiohttpTransport(_fast(max_response_bytes=4096)) as transport:
        assert await transport.fetch(url, small_request) == body


async def test_endless_body_is_cut_off_at_the_cap(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_endless("endless")
    error = await _fetch_error(url, small_request)
    assert error.code is Reason.RESPONSE_TOO_LARGE
    assert "stopped reading" in error.detail


async def test_body_cut_short_by_the_server_is_malformed(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_truncated("cut", b"\x30" * 2000, keep=500)
    error = await _fetch_error(url, small_request)
    assert error.code is Reason.MALFORMED_RESPONSE
    assert url in error.detail


async def test_slower_than_the_total_timeout(server: FaultResponder, small_request: bytes) -> None:
    url = server.serve_slow("slow", BODY, delay=1.0)
    # The answer would come (after 1 s): a timeout means we gave up at 0.3 s.
    error = await _fetch_error(url, small_request, _fast(connect_timeout=0.2, total_timeout=0.3))
    assert error.code is Reason.TIMEOUT
    assert "0.3 s" in error.detail


async def test_connection_refused_is_unreachable(small_request: bytes) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    error = await _fetch_error(url, small_request)
    assert error.code is Reason.RESPONDER_UNREACHABLE
    assert "127.0.0.1" in error.diagnostics()


async def test_non_http_urls_are_not_attempted(small_request: bytes) -> None:
    error = await _fetch_error("ldap://ocsp.example.test/", small_request)
    assert error.code is Reason.RESPONDER_UNREACHABLE
    assert "not an http" in error.detail


async def test_requests_in_flight_per_responder_are_bounded(
    server: FaultResponder, small_request: bytes
) -> None:
    url = server.serve_counting("bounded", BODY, delay=0.05)
    async with AiohttpTransport(_fast(max_in_flight=2)) as transport:
        bodies = await asyncio.gather(*(transport.fetch(url, small_request) for _ in range(8)))
    assert bodies == [BODY] * 8
    assert server.max_in_flight["bounded"] == 2


async def test_connections_are_reused(server: FaultResponder, small_request: bytes) -> None:
    url = server.serve_counting("reuse", BODY, delay=0)
    async with AiohttpTransport(_fast()) as transport:
        for _ in range(5):
            await transport.fetch(url, small_request)
    assert len(server.peers["reuse"]) == 5
    assert len(set(server.peers["reuse"])) == 1  # one TCP connection for all five


def test_origin_counts_default_ports() -> None:
    assert origin("http://OCSP.example.test/a") == "http://ocsp.example.test:80"
    assert origin("https://ocsp.example.test:8443/") == "https://ocsp.example.test:8443"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="connect_timeout"):
        HttpOptions(connect_timeout=5, total_timeout=1)
    with pytest.raises(ValueError, match="positive"):
        HttpOptions(max_in_flight=0)


async def test_a_stale_pooled_connection_is_retried_once(small_request: bytes) -> None:
    """A keep-alive responder that drops a connection just as it is reused.

    Each connection answers one request, promising keep-alive; the next request
    on it is read and the socket closed without an answer (the responder's idle
    timeout racing the client). The client must try once more on a fresh
    connection instead of reporting the responder unreachable.
    """
    connections = 0

    async def read_request(reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
        )
        await reader.readexactly(length)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
            b"Connection: keep-alive\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
        )
        await writer.drain()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await read_request(reader)  # the reuse ...
        writer.close()  # ... is met with a hang-up

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    transport = AiohttpTransport(_fast())
    try:
        assert await transport.fetch(url, small_request) == BODY
        assert await transport.fetch(url, small_request) == BODY
        assert connections == 2
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
