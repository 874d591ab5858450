"""The revocation engine: one result per certificate, from its revocation source.

What holds whatever the source: an expired certificate is revoked (reason
``expired``) without asking anyone, and one whose issuer is not known cannot
be told about (no response could be matched to it). Every other certificate
goes to the source: today OCSP (:class:`.ocsp_source.OcspSource`). A second
source (CRLs) joins here, next to ``ocsp``; the callers (scheduled checks,
uploads, the TLS guard, the probe) keep calling :meth:`RevocationEngine.evaluate`.

It must not read or write the database, read the clock (``now`` is given),
or apply the policy (:func:`certwarden.core.policy.decide` does that).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from certwarden.adapters.ocsp_http import OcspTransport
from certwarden.core.ocsp import Reason, RevocationResult, expired_result
from certwarden.core.revocation_settings import RevocationSettings
from certwarden.services.revocation.model import Target
from certwarden.services.revocation.ocsp_source import OcspSource

__all__ = ["RevocationEngine"]


class RevocationEngine:
    """Statuses for targets, in order (see the module docstring)."""

    def __init__(self, ocsp: OcspSource) -> None:
        self.ocsp = ocsp

    async def evaluate(
        self,
        targets: Sequence[Target],
        *,
        settings: RevocationSettings,
        now: datetime,
        trusted_responders: Sequence[x509.Certificate] = (),
        url_override: str | None = None,
        transport: OcspTransport | None = None,
        use_cache: bool = False,
    ) -> list[RevocationResult]:
        """One result per target, in order (the core judges every response).

        ``use_cache`` (default False, the same everywhere): reuse a still-valid
        cached answer (uploads and new endpoints ask for it); scheduled and
        on-demand checks ask the responder afresh, so that Check Every means
        what it says. Every fresh answer goes into the cache.
        ``url_override`` asks that URL whatever the settings say (``ocsp query --url``).
        """
        results: list[RevocationResult | None] = [None] * len(targets)
        asked: list[int] = []
        pairs: list[tuple[Target, x509.Certificate]] = []
        for i, target in enumerate(targets):
            expired = expired_result(target.cert, now)
            if expired is not None:
                results[i] = expired
            elif target.issuer is None:
                results[i] = RevocationResult.could_not_tell(
                    Reason.ISSUER_NOT_FOUND,
                    f"the issuer of {target.subject} is not in the inventory "
                    "(upload the issuing CA certificate)",
                )
            else:
                asked.append(i)
                pairs.append((target, target.issuer))
        if pairs:
            answers = await self.ocsp.statuses(
                pairs,
                settings=settings,
                trusted_responders=trusted_responders,
                now=now,
                url_override=url_override,
                transport=transport,
                use_cache=use_cache,
            )
            for i, answer in zip(asked, answers, strict=True):
                results[i] = answer
        return [r for r in results if r is not None]
