"""Fetching CRLs: the aiohttp fetcher against a real HTTP server on loopback, and
the ldap3 fetcher against a real slapd (skipped, with the reason, where slapd
cannot start).

Every failure is a could-not-tell reason carried by CrlFetchError; nothing
from aiohttp or ldap3 leaks out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from certwarden.adapters.crl_http import AiohttpCrlFetcher, CrlFetchError, CrlFetchOptions
from certwarden.adapters.crl_ldap import LdapCrlFetcher, parse_ldap_url
from certwarden.core.ocsp.results import Reason
from tests.crl_servers import CrlHttpServer, Hang, Raw, Slapd, make_crl
from tests.fakeca import DAY, T0, FakeCA


@pytest.fixture(scope="module")
def der() -> bytes:
    ca = FakeCA.root("Fetch Root", now=T0).intermediate("Fetch CA")
    return make_crl(ca.dev, this_update=T0, next_update=T0 + 7 * DAY, revoked=[(5, T0, None)])


@pytest.fixture
def server() -> Iterator[CrlHttpServer]:
    s = CrlHttpServer()
    yield s
    s.close()


def _fetch(url: str, **kw: object) -> object:
    total = float(kw.pop("timeout", 5.0))  # type: ignore[arg-type]
    options = CrlFetchOptions(
        max_bytes=int(kw.pop("max_bytes", 1024 * 1024)),  # type: ignore[call-overload]
        connect_timeout=min(1.0, total),
        total_timeout=total,
    )

    async def go() -> object:
        fetcher = AiohttpCrlFetcher(options)
        try:
            return await fetcher.fetch(url, **kw)  # type: ignore[arg-type]
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def _fails(url: str, **kw: object) -> CrlFetchError:
    with pytest.raises(CrlFetchError) as caught:
        _fetch(url, **kw)
    return caught.value


def test_a_crl_is_fetched_with_its_validators_and_a_304_keeps_it(
    server: CrlHttpServer, der: bytes
) -> None:
    url = server.publish("/ca.crl", der)
    got = _fetch(url)
    assert got.body == der and got.etag and got.last_modified  # type: ignore[attr-defined]
    again = _fetch(url, etag=got.etag, last_modified=got.last_modified)  # type: ignore[attr-defined]
    assert again.not_modified and again.body is None  # type: ignore[attr-defined]
    assert server.conditional["/ca.crl"] == 1


@pytest.mark.parametrize(
    ("answer", "reason", "words"),
    [
        pytest.param(
            Raw(200, b"<html><body>Sign in</body></html>", (("Content-Type", "text/html"),)),
            Reason.BAD_CONTENT_TYPE,
            "web page",
            id="html-page-200",
        ),
        pytest.param(
            Raw(200, b"<!DOCTYPE html><p>portal", (("Content-Type", "application/pkix-crl"),)),
            Reason.BAD_CONTENT_TYPE,
            "markup",
            id="html-body-labelled-crl",
        ),
        pytest.param(Raw(503, b"busy"), Reason.HTTP_ERROR, "HTTP 503", id="http-503"),
        pytest.param(
            Raw(200, b"\x30\x82" + b"\x00" * 100, declared=5000),
            Reason.MALFORMED_RESPONSE,
            "broke off",
            id="truncated-body",
        ),
        pytest.param(
            Raw(200, b"\x30" * 10, declared=10 * 1024 * 1024),
            Reason.RESPONSE_TOO_LARGE,
            "announced",
            id="oversized-content-length",
        ),
    ],
)
def test_bad_answers_are_could_not_tell_reasons(
    server: CrlHttpServer, answer: Raw, reason: Reason, words: str
) -> None:
    error = _fails(server.route("/x.crl", answer))
    assert error.code is reason and words in error.detail, error.detail


def test_an_oversized_body_is_cut_off_while_streaming(server: CrlHttpServer) -> None:
    # No Content-Length to refuse up front: the cap is enforced as bytes arrive.
    def chunked(h: object) -> None:
        from http.server import BaseHTTPRequestHandler

        assert isinstance(h, BaseHTTPRequestHandler)
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        block = b"\x30" * 65536
        try:
            for _ in range(64):  # 4 MiB offered
                h.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        h.close_connection = True

    error = _fails(server.route("/endless.crl", chunked), max_bytes=256 * 1024)
    assert error.code is Reason.RESPONSE_TOO_LARGE and "stopped reading" in error.detail


def test_an_endpoint_that_never_answers_times_out(server: CrlHttpServer) -> None:
    error = _fails(server.route("/hang.crl", Hang()), timeout=0.5)
    assert error.code is Reason.TIMEOUT and "0.5 s" in error.detail


def test_redirects_only_to_the_same_scheme_and_host(server: CrlHttpServer, der: bytes) -> None:
    server.publish("/moved/ca.crl", der)
    same = server.route("/ca.crl", Raw(301, b"", (("Location", "/moved/ca.crl"),)))
    assert _fetch(same).body == der  # type: ignore[attr-defined]
    other = CrlHttpServer()
    try:
        elsewhere = other.publish("/ca.crl", der)
        away = server.route("/away.crl", Raw(302, b"", (("Location", elsewhere),)))
        error = _fails(away)
        assert error.code is Reason.HTTP_ERROR and "same scheme and host" in error.detail
        assert other.hits["/ca.crl"] == 0
    finally:
        other.close()


def test_a_server_that_is_not_there_is_unreachable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = _fails(f"http://127.0.0.1:{port}/ca.crl")
    assert error.code is Reason.RESPONDER_UNREACHABLE and str(port) in error.detail


# ---------------------------------------------------------------------- LDAP


def test_ldap_urls_are_read_as_rfc_4516() -> None:
    where = parse_ldap_url(
        "ldap://dc1.example.test/CN=Example%20CA,CN=CDP,DC=example,DC=test"
        "?certificateRevocationList?base?objectClass=cRLDistributionPoint"
    )
    assert (where.host, where.port, where.dn) == (
        "dc1.example.test",
        389,
        "CN=Example CA,CN=CDP,DC=example,DC=test",
    )
    assert where.attribute == "certificateRevocationList;binary"  # RFC 4523 2.2
    with pytest.raises(CrlFetchError) as caught:
        parse_ldap_url("ldap:///CN=Example CA,CN=CDP,DC=example,DC=test")
    assert "names no directory server" in caught.value.detail


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    why = Slapd.unavailable()
    if why:
        pytest.skip(why)
    try:
        with Slapd.start(tmp_path_factory.mktemp("slapd")) as server:
            yield server
    except RuntimeError as exc:
        pytest.skip(f"slapd could not start here: {exc}")


def _ldap(url: str, **kw: float) -> bytes | None:
    options = CrlFetchOptions(
        max_bytes=int(kw.get("max_bytes", 1024 * 1024)), connect_timeout=1, total_timeout=5
    )
    return asyncio.run(LdapCrlFetcher(options).fetch(url)).body


def test_slapd_serves_certificate_revocation_list_binary(slapd: Slapd, der: bytes) -> None:
    url = slapd.publish("FetchCA", der)
    assert _ldap(url) == der
    # The AD CS form: the attribute named without ;binary, base scope, a filter.
    plain = url.replace("certificateRevocationList;binary", "certificateRevocationList")
    assert _ldap(plain + "?objectClass=cRLDistributionPoint") == der


def test_ldap_failures_are_could_not_tell_reasons(slapd: Slapd, der: bytes) -> None:
    empty = slapd.publish("EmptyCA", None)
    with pytest.raises(CrlFetchError) as caught:
        _ldap(empty)
    assert caught.value.code is Reason.MALFORMED_RESPONSE and "no" in caught.value.detail
    missing = slapd.url("cn=NoSuchCA,o=certwarden-test")
    with pytest.raises(CrlFetchError) as caught:
        _ldap(missing)
    assert caught.value.code is Reason.HTTP_ERROR and "no entry" in caught.value.detail
    big = slapd.publish("BigCA", der)
    with pytest.raises(CrlFetchError) as caught:
        _ldap(big, max_bytes=len(der) - 1)
    assert caught.value.code is Reason.RESPONSE_TOO_LARGE


def test_an_ldap_server_that_is_not_there_is_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CrlFetchError) as caught:
        _ldap(f"ldap://127.0.0.1:{port}/cn=X,o=certwarden-test?certificateRevocationList;binary")
    assert caught.value.code is Reason.RESPONDER_UNREACHABLE
