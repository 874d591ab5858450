"""Fetching CRLs over HTTP(S) (RFC 5280 4.2.1.13, RFC 5280 appendix: ``http://`` CDPs).

A CRL is a plain DER (or PEM) file served by a web server. :class:`CrlFetcher`
is the small protocol every CRL transport follows (this module for
``http(s)://``, :mod:`.crl_ldap` for ``ldap://``): ``fetch(url, etag=...,
last_modified=...)`` returns a :class:`FetchedCrl` — the body, or
``not_modified`` after a 304 — or raises :class:`CrlFetchError` carrying the
could-not-tell reason. Nothing from aiohttp leaks past this module.

    CertwardenError
    └── OcspError
        └── CrlFetchError      reason: responder_unreachable | timeout | http_error
                               | bad_content_type | response_too_large
                               | malformed_response (the exchange broke off)

What it does, and why:

* A conditional GET: the ETag and Last-Modified of the CRL held are sent as
  If-None-Match / If-Modified-Since; a 304 keeps the CRL held, no body read.
* The size cap is enforced while streaming: a larger Content-Length is refused
  before reading, and an endless or lying body is cut off at the cap.
* One total timeout per fetch (the settings' CRL timeout) and the connect
  timeout of the OCSP settings.
* Redirects are followed only to the same scheme and host (a CDP moved to
  another path on its server), at most 3; any other 3xx is an ``http_error``:
  a CRL fetched from elsewhere is a configuration matter, never chased silently
  (and never from https down to http).
* A body that is an HTML page (200 with ``text/html``, or bytes starting with
  ``<``) is ``bad_content_type``; the core judges everything else.

It must not judge CRLs: that is :mod:`certwarden.core.crl`'s job.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from certwarden.core.ocsp.results import Reason
from certwarden.errors import OcspError

__all__ = [
    "AiohttpCrlFetcher",
    "CrlFetchError",
    "CrlFetchOptions",
    "CrlFetcher",
    "FetchedCrl",
]

_CHUNK = 256 * 1024
_MAX_REDIRECTS = 3
# What CRL servers send; anything else is accepted unless it is clearly a web page.
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@dataclass(frozen=True)
class CrlFetchOptions:
    """How CRLs are fetched (from the Certificate Revocation settings)."""

    max_bytes: int = 50 * 1024 * 1024
    connect_timeout: float = 3.0
    total_timeout: float = 30.0
    user_agent: str = "certwarden-crl/1"

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or not 0 < self.connect_timeout <= self.total_timeout:
            raise ValueError("max_bytes must be positive, connect_timeout within total_timeout")


@dataclass(frozen=True)
class FetchedCrl:
    """What a fetch brought: the body, or ``not_modified`` (the CRL held stands)."""

    url: str
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.body is None


class CrlFetchError(OcspError):
    """No usable CRL came back from a distribution point.

    Attributes:
        code: the could-not-tell :class:`Reason`.
        url: the distribution point.
        detail: one sentence for a person.
        http_status: the status for ``http_error`` (else None).
    """

    def __init__(self, code: Reason, url: str, detail: str, http_status: int | None = None):
        super().__init__(code.value, url, detail)
        self.code = code
        self.http_status = http_status

    def diagnostics(self) -> str:
        return self.detail


class CrlFetcher(Protocol):
    """Fetches CRLs from distribution point URLs; closed once done with."""

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedCrl:
        """The CRL at ``url`` (or ``not_modified``).

        Raises:
            CrlFetchError: with the could-not-tell reason, for every failure.
        """
        ...

    async def aclose(self) -> None: ...


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme.lower(), (pa.hostname or "").lower(), pa.port) == (
        pb.scheme.lower(),
        (pb.hostname or "").lower(),
        pb.port,
    )


class AiohttpCrlFetcher:
    """The real HTTP(S) fetcher; its pool is made on first use inside the running loop."""

    def __init__(self, options: CrlFetchOptions | None = None) -> None:
        self.options = options or CrlFetchOptions()
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=None, sock_connect=self.options.connect_timeout
                ),
                headers={"User-Agent": self.options.user_agent},
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedCrl:
        if urllib.parse.urlsplit(url).scheme.lower() not in {"http", "https"}:
            raise CrlFetchError(
                Reason.RESPONDER_UNREACHABLE, url, f"{url} is not an http or https URL"
            )
        opts = self.options
        try:
            async with asyncio.timeout(opts.total_timeout):
                return await self._follow(url, etag, last_modified)
        except CrlFetchError:
            raise
        except TimeoutError as exc:
            raise CrlFetchError(
                Reason.TIMEOUT,
                url,
                f"the CRL at {url} did not arrive within {opts.total_timeout:g} s",
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise CrlFetchError(
                Reason.MALFORMED_RESPONSE,
                url,
                f"the CRL body from {url} broke off or was badly framed ({_short(exc)})",
            ) from exc
        except aiohttp.ClientResponseError as exc:
            raise CrlFetchError(
                Reason.MALFORMED_RESPONSE, url, f"{url} did not answer with valid HTTP"
            ) from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise CrlFetchError(
                Reason.RESPONDER_UNREACHABLE,
                url,
                f"cannot reach the CRL distribution point {url}: {_short(exc)}",
            ) from exc

    async def _follow(self, url: str, etag: str | None, last_modified: str | None) -> FetchedCrl:
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            async with self._client().get(
                current, headers=headers, allow_redirects=False
            ) as response:
                if response.status in (301, 302, 303, 307, 308):
                    where = response.headers.get("Location", "")
                    target = urllib.parse.urljoin(current, where)
                    if not where or not _same_origin(current, target):
                        raise CrlFetchError(
                            Reason.HTTP_ERROR,
                            url,
                            f"HTTP {response.status} from {current} redirects to "
                            f"{where or 'nowhere'}; only redirects to the same scheme and host "
                            "are followed",
                            http_status=response.status,
                        )
                    current = target
                    continue
                try:
                    return await self._read(url, response)
                except BaseException:
                    response.close()  # never hand a half-read connection back
                    raise
        raise CrlFetchError(
            Reason.HTTP_ERROR, url, f"{url} redirected more than {_MAX_REDIRECTS} times"
        )

    async def _read(self, url: str, response: aiohttp.ClientResponse) -> FetchedCrl:
        cap = self.options.max_bytes
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        if response.status == 304:
            return FetchedCrl(url, None, etag, modified)
        if response.status != 200:
            raise CrlFetchError(
                Reason.HTTP_ERROR,
                url,
                f"HTTP {response.status} {response.reason or ''} from {url}".replace("  ", " "),
                http_status=response.status,
            )
        mime = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if mime in _HTML_TYPES:
            raise CrlFetchError(
                Reason.BAD_CONTENT_TYPE, url, f"{url} answered with a web page ({mime}), not a CRL"
            )
        if response.content_length is not None and response.content_length > cap:
            raise CrlFetchError(
                Reason.RESPONSE_TOO_LARGE,
                url,
                f"{url} announced a {response.content_length}-byte CRL; the limit is {cap} bytes",
            )
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > cap:
                raise CrlFetchError(
                    Reason.RESPONSE_TOO_LARGE,
                    url,
                    f"the CRL from {url} exceeded the {cap}-byte limit; stopped reading",
                )
        if body[:1] == b"<" or body[:15].lower().startswith(b"<!doctype"):
            raise CrlFetchError(
                Reason.BAD_CONTENT_TYPE, url, f"{url} answered with markup, not a CRL"
            )
        return FetchedCrl(url, bytes(body), etag, modified)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= 200 else text[:197] + "..."
