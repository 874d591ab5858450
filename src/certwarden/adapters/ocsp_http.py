"""HTTP transport to OCSP responders (RFC 6960 appendix A, RFC 5019).

The network sits behind :class:`OcspTransport`, a small protocol: ``fetch``
takes a responder URL and a DER request and returns the DER response bytes,
or raises an :class:`OcspFetchError` that carries the could-not-tell reason;
``aclose`` releases its connections. Nothing from
aiohttp leaks past this module; the service never sees a socket.

    CertwardenError
    └── OcspError
        └── OcspFetchError     reason: responder_unreachable | timeout | http_error
                               | bad_content_type | response_too_large
                               | malformed_response (the HTTP exchange broke off)

:class:`AiohttpTransport` is the real one. It was chosen by measurement
(``bench/ocsp_transport.py``: aiohttp against httpx, CPU per request against
the same loopback responder in the same run; figures in the README).

What it does, and why:

* POST by default; GET (RFC 5019 2.1.1) when asked and the encoded request is
  at most 255 bytes, otherwise POST anyway.
* A connect timeout (3 s) and a total timeout (10 s) per exchange. The total
  starts once the request may go out, not while it waits for its turn.
* At most ``max_response_bytes`` (1 MiB) are read: a larger Content-Length is
  refused before reading, and an endless (chunked) body is cut off there.
* The reply must be ``200`` with ``Content-Type: application/ocsp-response``.
  Redirects are not followed (a 3xx is an ``http_error``): a responder moved
  elsewhere is a configuration matter, not something to chase silently.
* One connection pool for the transport's lifetime (keep-alive reuse where
  the responder allows it; OpenSSL's closes every connection), and a
  semaphore per origin bounds the requests in flight to each responder.

It must not judge responses: that is :mod:`certwarden.core.ocsp`'s job.
"""

from __future__ import annotations

import asyncio
import enum
import urllib.parse
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import aiohttp

from certwarden.core.ocsp.request import get_url
from certwarden.core.ocsp.results import Reason
from certwarden.errors import OcspFetchError

__all__ = [
    "OCSP_REQUEST_TYPE",
    "OCSP_RESPONSE_TYPE",
    "AiohttpTransport",
    "HttpMethod",
    "HttpOptions",
    "OcspFetchError",
    "OcspTransport",
]

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
_GET_LIMIT = 255  # RFC 5019 2.1.1: GET for requests up to 255 bytes once encoded
_CHUNK = 64 * 1024


@enum.unique
class HttpMethod(enum.StrEnum):
    POST = "post"
    GET = "get"


@dataclass(frozen=True)
class HttpOptions:
    """How requests go out (the defaults are the ones described in the module docstring)."""

    method: HttpMethod = HttpMethod.POST
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    max_response_bytes: int = 1024 * 1024
    max_in_flight: int = 4  # per origin (scheme, host, port)
    user_agent: str = "certwarden-ocsp/1"

    def __post_init__(self) -> None:
        if not 0 < self.connect_timeout <= self.total_timeout:
            raise ValueError("connect_timeout must be positive and at most total_timeout")
        if self.max_response_bytes < 1 or self.max_in_flight < 1:
            raise ValueError("max_response_bytes and max_in_flight must be positive")


class OcspTransport(Protocol):
    """Sends DER OCSP requests to responder URLs; closed once done with."""

    async def fetch(self, url: str, request_der: bytes) -> bytes:
        """The DER response body.

        Raises:
            OcspFetchError: with the could-not-tell reason, for every failure.
        """
        ...

    async def aclose(self) -> None:
        """Release what the transport holds (connections); it is not used afterwards."""
        ...


def origin(url: str) -> str:
    """``scheme://host:port`` (what the in-flight bound is counted per)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class AiohttpTransport:
    """The real transport. Use as ``async with AiohttpTransport(opts) as t:``,
    or call :meth:`aclose` when done; the pool is made on first use, inside the
    running event loop, and belongs to that loop."""

    def __init__(self, options: HttpOptions | None = None) -> None:
        self.options = options or HttpOptions()
        self._session: aiohttp.ClientSession | None = None
        self._gates: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> AiohttpTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            opts = self.options
            connector = aiohttp.TCPConnector(
                limit=0,  # the per-origin semaphores do the bounding
                limit_per_host=opts.max_in_flight,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # The total is enforced around each exchange (see fetch).
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=None, sock_connect=opts.connect_timeout
                ),
                headers={"User-Agent": opts.user_agent},
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    def _gate(self, url: str) -> asyncio.Semaphore:
        key = origin(url)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Semaphore(self.options.max_in_flight)
        return gate

    async def fetch(self, url: str, request_der: bytes) -> bytes:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in {"http", "https"}:
            raise OcspFetchError(
                Reason.RESPONDER_UNREACHABLE,
                url,
                f"{url} is not an http or https URL; certwarden can only ask HTTP responders",
            )
        async with self._gate(url):
            try:
                async with asyncio.timeout(self.options.total_timeout):
                    try:
                        return await self._exchange(url, request_der)
                    except aiohttp.ServerDisconnectedError:
                        # A pooled keep-alive connection the responder had
                        # already closed without saying "Connection: close".
                        # An OCSP request is idempotent (RFC 6960 A.1), so one
                        # more try on a fresh connection is safe; a responder
                        # that hangs up on every request still fails below.
                        return await self._exchange(url, request_der)
            except OcspFetchError:
                raise
            except TimeoutError as exc:  # asyncio's, aiohttp's connect timeout included
                raise OcspFetchError(
                    Reason.TIMEOUT, url, _timeout_detail(url, exc, self.options)
                ) from exc
            except aiohttp.ClientPayloadError as exc:
                raise OcspFetchError(
                    Reason.MALFORMED_RESPONSE,
                    url,
                    f"the response body from {url} broke off or was badly framed ({_short(exc)})",
                ) from exc
            except aiohttp.ClientResponseError as exc:
                raise OcspFetchError(
                    Reason.MALFORMED_RESPONSE,
                    url,
                    f"{url} did not answer with valid HTTP ({_short(exc)})",
                ) from exc
            except aiohttp.ServerDisconnectedError as exc:
                raise OcspFetchError(
                    Reason.RESPONDER_UNREACHABLE,
                    url,
                    f"{url} closed the connection without answering",
                ) from exc
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                raise OcspFetchError(
                    Reason.RESPONDER_UNREACHABLE,
                    url,
                    f"cannot reach the OCSP responder at {url}: {_short(exc)}",
                ) from exc

    async def _exchange(self, url: str, request_der: bytes) -> bytes:
        client = self._client()
        opts = self.options
        if opts.method is HttpMethod.GET and len(get_url("", request_der)) - 1 <= _GET_LIMIT:
            response_cm = client.get(get_url(url, request_der), allow_redirects=False)
        else:
            response_cm = client.post(
                url,
                data=request_der,
                headers={"Content-Type": OCSP_REQUEST_TYPE},
                allow_redirects=False,
            )
        async with response_cm as response:
            try:
                return await self._read(url, response)
            except BaseException:
                # Never hand a half-read connection back to the pool.
                response.close()
                raise

    async def _read(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        cap = self.options.max_response_bytes
        if 300 <= response.status < 400:
            where = response.headers.get("Location", "elsewhere")
            raise OcspFetchError(
                Reason.HTTP_ERROR,
                url,
                f"HTTP {response.status} from {url} redirects to {where}; "
                "redirects are not followed: configure the responder's real URL",
                http_status=response.status,
            )
        if response.status != 200:
            raise OcspFetchError(
                Reason.HTTP_ERROR,
                url,
                f"HTTP {response.status} {response.reason or ''} from {url}".replace("  ", " "),
                http_status=response.status,
            )
        content_type = response.headers.get("Content-Type")
        mime = (content_type or "").split(";", 1)[0].strip().lower()
        if mime != OCSP_RESPONSE_TYPE:
            shown = repr(content_type) if content_type else "no content type"
            raise OcspFetchError(
                Reason.BAD_CONTENT_TYPE,
                url,
                f"{url} answered with {shown}, not {OCSP_RESPONSE_TYPE}",
            )
        if response.content_length is not None and response.content_length > cap:
            raise OcspFetchError(
                Reason.RESPONSE_TOO_LARGE,
                url,
                f"{url} announced a {response.content_length}-byte response; "
                f"the limit is {cap} bytes",
            )
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > cap:
                raise OcspFetchError(
                    Reason.RESPONSE_TOO_LARGE,
                    url,
                    f"the response from {url} exceeded the {cap}-byte limit; stopped reading",
                )
        return bytes(body)


def _timeout_detail(url: str, exc: BaseException, options: HttpOptions) -> str:
    if isinstance(exc, aiohttp.ServerTimeoutError) or "connect" in str(exc).lower():
        return f"connecting to {url} took longer than {options.connect_timeout:g} s"
    return f"{url} did not answer within {options.total_timeout:g} s"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= 200 else text[:197] + "..."
