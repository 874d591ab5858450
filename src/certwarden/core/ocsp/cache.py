"""A bounded cache of revocation results keyed by CertID.

Validated results (GOOD, REVOKED, UNKNOWN) are reused until the response's
nextUpdate — RFC 5019 2.2: a response may be used until then — bounded by
``max_lifetime``; without nextUpdate, until thisUpdate plus ``max_age`` (the
same bound validation uses). Could-not-tell results are kept only for
``failure_backoff``, so a failing responder is not hammered, yet is retried
soon. Pure: the caller passes ``now``; nothing here reads a clock.

A result that a designated (Trusted Responder Model) signer vouched for is
reused only while that signer is still designated: :meth:`ResponseCache.get`
takes the current ``trusted_responders`` and drops such an entry when its
signer is no longer among them (an administrator removed it from
tomcat-trust) or is no longer valid. Without this, withdrawing trust in a
responder took effect only at the cached answers' nextUpdate (up to
``max_lifetime``). Issuer and delegated answers need no such check: the
CertID names the issuing CA, and a delegate is authorised by that CA alone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from certwarden.core.ocsp._certinfo import cert_info
from certwarden.core.ocsp.certid import CertId
from certwarden.core.ocsp.results import CertStatus, RevocationResult, TrustModel
from certwarden.core.ocsp.validate import trusted_responder_problems

__all__ = ["ResponseCache"]


@dataclass(frozen=True, slots=True)
class _Entry:
    result: RevocationResult
    expires_at: datetime

    @property
    def validated(self) -> bool:
        return self.result.status is not CertStatus.COULD_NOT_TELL


class ResponseCache:
    """Least-recently-used map from CertID to result, with per-entry expiry."""

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        max_lifetime: timedelta = timedelta(days=7),
        failure_backoff: timedelta = timedelta(minutes=5),
        max_age: timedelta = timedelta(hours=24),
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_lifetime <= timedelta(0) or failure_backoff < timedelta(0):
            raise ValueError("max_lifetime must be positive and failure_backoff not negative")
        self.max_entries = max_entries
        self.max_lifetime = max_lifetime
        self.failure_backoff = failure_backoff
        self.max_age = max_age
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        cert_id: CertId,
        now: datetime,
        *,
        trusted_responders: Sequence[x509.Certificate] | None = None,
    ) -> RevocationResult | None:
        """The cached result for ``cert_id`` while it is still usable at ``now``.

        ``trusted_responders``: the designated signers trusted now (pass them
        whenever a TRP could have signed): a result one of them vouched for is
        dropped once its signer is no longer among them or no longer valid.
        """
        key = cert_id.key()
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.expires_at or (
            trusted_responders is not None
            and not _signer_still_trusted(entry.result, trusted_responders, now)
        ):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.result

    def put(self, cert_id: CertId, result: RevocationResult, now: datetime) -> None:
        """Remember ``result`` for as long as it may be reused (possibly not at all)."""
        key = cert_id.key()
        expires_at = self._expiry(result, now)
        current = self._entries.get(key)
        if expires_at <= now:
            return
        if (
            current is not None
            and current.validated
            and not _validated(result)
            and now < current.expires_at
        ):
            # A failed re-check proves nothing: keep the still-valid validated
            # response rather than forget it (RFC 5019 2.2 lets it be reused).
            return
        self._entries[key] = _Entry(result, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, cert_id: CertId) -> None:
        self._entries.pop(cert_id.key(), None)

    def clear(self) -> None:
        self._entries.clear()

    def _expiry(self, result: RevocationResult, now: datetime) -> datetime:
        if not _validated(result):
            return now + self.failure_backoff
        bound = now + self.max_lifetime
        if result.next_update is not None:
            return min(result.next_update, bound)
        if result.this_update is not None:
            return min(result.this_update + self.max_age, bound)
        return bound  # e.g. REVOKED because expired: no response, nothing goes stale


def _signer_still_trusted(
    result: RevocationResult, trusted_responders: Sequence[x509.Certificate], now: datetime
) -> bool:
    if result.trust_model is not TrustModel.TRUSTED_RESPONDER:
        return True
    return any(
        cert_info(cert).sha256 == result.signer_sha256 and not trusted_responder_problems(cert, now)
        for cert in trusted_responders
    )


def _validated(result: RevocationResult) -> bool:
    return result.status is not CertStatus.COULD_NOT_TELL
