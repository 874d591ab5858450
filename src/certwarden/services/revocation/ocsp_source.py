"""The OCSP source: asks responders about certificates and has each answer judged.

For each certificate (its issuer already known): the responder URL is chosen
(the configured one, or the certificate's AIA), a still-fresh cached answer
reused when the caller allows, and the rest asked for — several certificates
with the same issuer and responder in ONE request (OpenSSL's responder answers
them all), falling back to one per request when a batched answer is unusable.
Every response goes to :func:`certwarden.core.ocsp.verify_response` with the
designated responders (:mod:`.trust_inputs`); every fresh answer to the cache.

This is one revocation source of the engine (:mod:`.engine`); another (CRLs)
would sit beside it. It must not judge a response itself, apply the policy,
or read or write the database (the cache it is given may share its answers
with other instances through it: :mod:`.shared_cache`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from certwarden.adapters.ocsp_http import (
    AiohttpTransport,
    HttpMethod,
    HttpOptions,
    OcspFetchError,
    OcspTransport,
)
from certwarden.core.ocsp import (
    CertId,
    Reason,
    ResponseCache,
    RevocationResult,
    cert_id_for,
    encode_request,
    verify_response,
)
from certwarden.core.ocsp.request import NONCE_LENGTH
from certwarden.core.ocsp.results import NonceMode, ValidationOptions
from certwarden.core.revocation_settings import ResponderSource, RevocationSettings
from certwarden.services.revocation.model import Target

__all__ = [
    "BATCH_SIZE",
    "NONCE_BYTES",
    "OcspSource",
    "TransportFactory",
    "choose_url",
    "responder_for",
]

# Certificates per request when a responder takes several (OpenSSL's does).
BATCH_SIZE = 200
# RFC 9654 (which obsoletes RFC 8954) 2.1: clients use a 32-octet nonce.
NONCE_BYTES = NONCE_LENGTH
# A batched answer that fails like this may be the batching's fault: ask singly.
_BATCH_FALLBACK = frozenset(
    {Reason.MALFORMED_RESPONSE, Reason.HTTP_ERROR, Reason.RESPONSE_TOO_LARGE}
)

TransportFactory = Callable[[HttpOptions], OcspTransport]


@dataclass
class _Pending:
    index: int
    target: Target
    issuer: x509.Certificate
    cert_id: CertId
    url: str


def http_options(settings: RevocationSettings) -> HttpOptions:
    return HttpOptions(
        method=HttpMethod(settings.method.value),
        connect_timeout=min(settings.connect_timeout, settings.total_timeout),
        total_timeout=settings.total_timeout,
    )


def _http_uris(uris: Iterable[str]) -> list[str]:
    return [u for u in uris if u.lower().startswith(("http://", "https://"))]


def choose_url(settings: RevocationSettings, target: Target) -> str | None:
    """The responder to ask about ``target``: the configured one, else its AIA's first http(s)."""
    return responder_for(settings, target.ocsp_uris)


def responder_for(settings: RevocationSettings, ocsp_uris: Iterable[str]) -> str | None:
    """:func:`choose_url` from a certificate's AIA OCSP URIs (a stored row's column)."""
    if settings.responder_source is ResponderSource.CONFIGURED and settings.configured_uri:
        return settings.configured_uri
    found = _http_uris(ocsp_uris)
    return found[0] if found else None


class OcspSource:
    """Statuses from OCSP responders (see the module docstring).

    Args:
        cache: the response cache (shared with the TLS guard's staples).
        transport_factory: builds the HTTP transport for a run.
        nonce_source: ``n -> n random bytes``.
    """

    def __init__(
        self,
        cache: ResponseCache,
        *,
        transport_factory: TransportFactory = AiohttpTransport,
        nonce_source: Callable[[int], bytes],
    ) -> None:
        self.cache = cache
        self._transport_factory = transport_factory
        self._nonce = nonce_source
        # Responders that could not answer a batched request: asked singly from then on.
        self.unbatched: set[str] = set()

    async def statuses(
        self,
        targets: Sequence[tuple[Target, x509.Certificate]],
        *,
        settings: RevocationSettings,
        trusted_responders: Sequence[x509.Certificate],
        now: datetime,
        common_criteria: bool = True,
        url_override: str | None = None,
        transport: OcspTransport | None = None,
        use_cache: bool = False,
    ) -> list[RevocationResult]:
        """One result per ``(target, its issuer)``, in order.

        Judged with :meth:`RevocationSettings.validation_options_for` the mode
        (``common_criteria``; True, the default, refuses legacy signatures);
        the cache serves only what those options would still accept.

        ``use_cache``: reuse a still-valid cached answer. ``url_override``
        asks that URL whatever the settings say. ``transport``: the caller's
        (left open); without one, a transport is made for this call and closed.
        """
        options = settings.validation_options_for(common_criteria=common_criteria)
        results: list[RevocationResult | None] = [None] * len(targets)
        pending: list[_Pending] = []
        for i, (target, issuer) in enumerate(targets):
            url = url_override or choose_url(settings, target)
            if url is None:
                results[i] = RevocationResult.could_not_tell(
                    Reason.NO_RESPONDER_URL,
                    f"{target.subject} names no http(s) OCSP responder in its AIA extension "
                    "(configure an OCSP URI, or use one from the certificate)",
                )
                continue
            cert_id = cert_id_for(target.cert, issuer, settings.hash_algorithm)
            # A TRP-signed answer is reused only while its signer is still designated.
            cached = (
                self.cache.get(cert_id, now, trusted_responders=trusted_responders, options=options)
                if use_cache
                else None
            )
            if cached is not None:
                results[i] = cached
                continue
            pending.append(_Pending(i, target, issuer, cert_id, url))
        if pending:
            own = transport is None
            active = transport or self._transport_factory(http_options(settings))
            try:
                answered = await self._ask_all(
                    active, pending, settings, options, trusted_responders, now
                )
                for p, result in answered:
                    results[p.index] = result
                # Fresh answers always refresh the cache (TLS checks reuse them), in
                # one go: a shared cache writes them in one transaction.
                self.cache.put_many(
                    [(p.cert_id, result) for p, result in answered], now, options=options
                )
            finally:
                if own:
                    await active.aclose()
        return [r for r in results if r is not None]

    async def _ask_all(
        self,
        transport: OcspTransport,
        pending: Sequence[_Pending],
        settings: RevocationSettings,
        options: ValidationOptions,
        trusted: Sequence[x509.Certificate],
        now: datetime,
    ) -> list[tuple[_Pending, RevocationResult]]:
        """Every pending certificate, in batches per responder and issuer, concurrently."""
        groups: dict[tuple[str, bytes], list[_Pending]] = {}
        for p in pending:
            groups.setdefault((p.url, p.cert_id.issuer_key_hash), []).append(p)
        jobs: list[Awaitable[list[tuple[_Pending, RevocationResult]]]] = []
        for (url, _), members in groups.items():
            for start in range(0, len(members), BATCH_SIZE):
                batch = members[start : start + BATCH_SIZE]
                jobs.append(self._ask(transport, url, batch, settings, options, trusted, now))
        return [pair for answered in await asyncio.gather(*jobs) for pair in answered]

    async def _ask(
        self,
        transport: OcspTransport,
        url: str,
        batch: list[_Pending],
        settings: RevocationSettings,
        options: ValidationOptions,
        trusted: Sequence[x509.Certificate],
        now: datetime,
    ) -> list[tuple[_Pending, RevocationResult]]:
        if len(batch) > 1 and url in self.unbatched:
            singles = await asyncio.gather(
                *(self._ask(transport, url, [p], settings, options, trusted, now) for p in batch)
            )
            return [pair for one in singles for pair in one]
        results = await self._request(transport, url, batch, settings, options, trusted, now)
        if len(batch) == 1:
            return list(zip(batch, results, strict=True))
        if all(
            r.reason in _BATCH_FALLBACK
            or (r.reason is Reason.UNSUCCESSFUL_STATUS and r.ocsp_response_status != "tryLater")
            for r in results
        ):
            # The responder may not take several certificates at once: never again.
            self.unbatched.add(url)
            return await self._ask(transport, url, batch, settings, options, trusted, now)
        out = list(zip(batch, results, strict=True))
        # Some certificates left unanswered by a batched reply: ask for those alone.
        missing = [i for i, r in enumerate(results) if r.reason is Reason.CERTID_MISMATCH]
        if missing:
            again = await asyncio.gather(
                *(
                    self._ask(transport, url, [batch[i]], settings, options, trusted, now)
                    for i in missing
                )
            )
            for i, one in zip(missing, again, strict=True):
                out[i] = one[0]
        return out

    async def _request(
        self,
        transport: OcspTransport,
        url: str,
        batch: list[_Pending],
        settings: RevocationSettings,
        options: ValidationOptions,
        trusted: Sequence[x509.Certificate],
        now: datetime,
    ) -> list[RevocationResult]:
        nonce = self._nonce(NONCE_BYTES) if settings.nonce is not NonceMode.OFF else None
        results = await self._fetch_and_verify(transport, url, batch, options, trusted, now, nonce)
        if nonce is None or settings.nonce is not NonceMode.SEND:
            return results
        rejected = [r for r in results if _rejects_nonce(r)]
        if len(rejected) != len(results):
            return results
        # SEND mode: a responder that refuses requests carrying a nonce (some
        # reject the extension, or a 32-octet one, RFC 9654 2.1) is asked again
        # without one (SEND accepts answers without an echo anyway), and the
        # result says so, naming the responder, instead of failing silently.
        first = rejected[0]
        refusal = (
            f"the responder at {url} rejected the request carrying a {len(nonce)}-octet "
            f"nonce ({first.reason.value if first.reason else 'error'}: {first.detail})"
        )
        again = await self._fetch_and_verify(transport, url, batch, options, trusted, now, None)
        return [_noted(r, refusal) for r in again]

    async def _fetch_and_verify(
        self,
        transport: OcspTransport,
        url: str,
        batch: list[_Pending],
        options: ValidationOptions,
        trusted: Sequence[x509.Certificate],
        now: datetime,
        nonce: bytes | None,
    ) -> list[RevocationResult]:
        cert_ids = [p.cert_id for p in batch]
        request = encode_request(cert_ids, nonce)
        try:
            der = await transport.fetch(url, request)
        except OcspFetchError as exc:
            return [
                RevocationResult.could_not_tell(
                    exc.code, exc.detail, responder_url=url, http_status=exc.http_status
                )
                for _ in batch
            ]
        return verify_response(
            der,
            cert_ids=cert_ids,
            issuers=[p.issuer for p in batch],
            now=now,
            trusted_responders=trusted,
            nonce=nonce,
            options=options,
            responder_url=url,
        )


def _rejects_nonce(result: RevocationResult) -> bool:
    """An answer that may be a refusal of the nonce: an error status, or HTTP 4xx/5xx."""
    if result.reason is Reason.UNSUCCESSFUL_STATUS:
        return result.ocsp_response_status in {"malformedRequest", "internalError", "unauthorized"}
    return result.reason is Reason.HTTP_ERROR and result.http_status in {400, 500}


def _noted(result: RevocationResult, refusal: str) -> RevocationResult:
    if result.validated:
        detail = f"{result.detail}; {refusal}, so it was asked again without a nonce"
        return replace(result, detail=detail)
    note = f"{refusal}; asked again without a nonce, it still gave no usable answer"
    return replace(result, problems=(*result.problems, note))
