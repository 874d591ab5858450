"""HTTP client for ACME Renewal Information (RFC 9773): the directory and renewalInfo.

Two GETs, nothing else: the ACME directory (RFC 8555 7.1.1) for its
``renewalInfo`` URL, and ``<renewalInfo>/<certID>`` for a certificate's
suggested window. What it does, and why:

* aiohttp, as for OCSP (one well-kept client in the project; the OCSP
  transport's benchmark chose it).
* A connect timeout (3 s) and a total timeout (10 s); at most 64 KiB read
  (an answer is a few hundred bytes, a directory a few kilobytes).
* Redirects are not followed: a 3xx is an error naming the status.
* Failures become :class:`AriFetchError` with one sentence for a person; the
  service keeps the last good window and never alerts on a failure.

It does not judge answers: :mod:`certwarden.core.ari` does.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from certwarden.core.ari import MAX_BODY_BYTES
from certwarden.errors import AriFetchError

__all__ = ["AriAnswer", "AriClient", "AriFetchError"]

_CHUNK = 16 * 1024


@dataclass(frozen=True)
class AriAnswer:
    body: bytes
    retry_after: str | None


class AriClient:
    """One connection pool; ``async with AriClient() as c: await c.renewal_info(url)``."""

    def __init__(self, *, connect_timeout: float = 3.0, total_timeout: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout, sock_connect=connect_timeout, connect=connect_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AriClient:
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
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": "certwarden"}
            )
        return self._session

    async def get(self, url: str) -> AriAnswer:
        """GET ``url``: its body (at most 64 KiB) and Retry-After; 200 only.

        Raises:
            AriFetchError: unreachable, timed out, not 200, or too large.
        """
        if not url.lower().startswith(("http://", "https://")):
            raise AriFetchError(url, "not an http(s) URL")
        try:
            async with self._client().get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise AriFetchError(url, f"HTTP {response.status}")
                size = response.content_length
                if size is not None and size > MAX_BODY_BYTES:
                    raise AriFetchError(url, f"the answer is larger than {MAX_BODY_BYTES} bytes")
                body = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise AriFetchError(
                            url, f"the answer is larger than {MAX_BODY_BYTES} bytes"
                        )
                return AriAnswer(bytes(body), response.headers.get("Retry-After"))
        except TimeoutError:
            raise AriFetchError(url, "timed out") from None
        except asyncio.CancelledError:
            raise
        except aiohttp.ClientError as exc:
            raise AriFetchError(url, f"unreachable ({type(exc).__name__})") from None

    async def renewal_info_base(self, directory_url: str) -> str:
        """The directory's ``renewalInfo`` URL.

        Raises:
            AriFetchError: the directory cannot be read or names no renewalInfo.
        """
        answer = await self.get(directory_url)
        try:
            data = json.loads(answer.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise AriFetchError(directory_url, "the ACME directory is not JSON") from None
        base = data.get("renewalInfo") if isinstance(data, dict) else None
        if not isinstance(base, str) or not base.lower().startswith(("http://", "https://")):
            raise AriFetchError(
                directory_url, "the ACME directory names no renewalInfo URL (no ARI)"
            )
        return base
