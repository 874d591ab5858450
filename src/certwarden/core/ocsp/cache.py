"""A bounded cache of revocation results keyed by CertID.

Validated results (GOOD, REVOKED, UNKNOWN: :attr:`RevocationResult.validated`,
the one predicate) are reused exactly as long as validation would accept the
response they came from — the one freshness rule,
:func:`.freshness.fresh_until`, with the validator's own options (maximum age
when nextUpdate is absent, clock skew) passed to every :meth:`get` — and never
longer than ``max_lifetime``. Of two validated answers for one CertID the
one with the later thisUpdate stands (a REVOKED beats a GOOD of the same
instant), whichever arrived last. So with ``max_age`` 1 hour an answer without
nextUpdate is served for an hour, not for a cache default. Could-not-tell
results are kept only for ``failure_backoff``, so a failing responder is not
hammered, yet is retried soon. Pure: the caller passes ``now``; nothing here
reads a clock.

Fail closed: :meth:`get` requires the designated signers trusted now and the
validation options in force. A result that a designated (Trusted Responder
Model) signer vouched for is reused only while that signer is still
designated and valid (an administrator may remove it from tomcat-trust); a
result that relied on a legacy (SHA-1) signature only while legacy
signatures are accepted. Issuer and delegated answers need no signer check:
the CertID names the issuing CA, and a delegate is authorised by that CA alone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from certwarden.core.ocsp._certinfo import cert_info
from certwarden.core.ocsp.certid import CertId
from certwarden.core.ocsp.freshness import fresh_until
from certwarden.core.ocsp.results import (
    CertStatus,
    RevocationResult,
    TrustModel,
    ValidationOptions,
)
from certwarden.core.ocsp.signer import trusted_responder_problems

__all__ = ["ResponseCache"]


@dataclass(frozen=True, slots=True)
class _Entry:
    result: RevocationResult
    # The latest instant the entry may serve whatever the options say:
    # put time + failure_backoff (could-not-tell) or + max_lifetime.
    until: datetime

    def usable(self, now: datetime, options: ValidationOptions) -> bool:
        """Whether the entry may still serve at ``now`` under ``options``."""
        if now >= self.until:
            return False
        result = self.result
        if not result.validated or result.this_update is None:
            # Could-not-tell, or REVOKED because expired (no response, nothing goes stale).
            return True
        fresh = fresh_until(result.this_update, result.next_update, options)
        # Inclusive, as in validation (freshness.step_next_update).
        return fresh is not None and now <= fresh


class ResponseCache:
    """Least-recently-used map from CertID to result, with per-entry expiry."""

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        max_lifetime: timedelta = timedelta(days=7),
        failure_backoff: timedelta = timedelta(minutes=5),
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_lifetime <= timedelta(0) or failure_backoff < timedelta(0):
            raise ValueError("max_lifetime must be positive and failure_backoff not negative")
        self.max_entries = max_entries
        self.max_lifetime = max_lifetime
        self.failure_backoff = failure_backoff
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        cert_id: CertId,
        now: datetime,
        *,
        trusted_responders: Sequence[x509.Certificate],
        options: ValidationOptions,
    ) -> RevocationResult | None:
        """The cached result for ``cert_id`` while it is still usable at ``now``.

        ``trusted_responders``: the designated signers trusted now; ``options``:
        the validation options in force (freshness, legacy signatures). An
        entry they would no longer accept is dropped.
        """
        key = cert_id.key()
        entry = self._entries.get(key)
        if entry is None:
            return None
        result = entry.result
        if (
            not entry.usable(now, options)
            or not _signer_still_trusted(result, trusted_responders, now)
            or (result.legacy_signatures and not options.accept_legacy_signatures)
        ):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return result

    def put(
        self,
        cert_id: CertId,
        result: RevocationResult,
        now: datetime,
        *,
        options: ValidationOptions,
    ) -> bool:
        """Remember ``result`` for as long as it may be reused under ``options`` (maybe not at all).

        True when the cache holds something new (not what it held already).
        """
        return self.put_key(cert_id.key(), result, now, options=options)

    def put_key(
        self,
        key: str,
        result: RevocationResult,
        now: datetime,
        *,
        options: ValidationOptions,
    ) -> bool:
        """:meth:`put` by :meth:`CertId.key` (answers another instance shared)."""
        entry = _Entry(
            result,
            now + (self.max_lifetime if result.validated else self.failure_backoff),
        )
        if not entry.usable(now, options):
            return False
        current = self._entries.get(key)
        if current is not None and current.usable(now, options) and _keeps(current.result, result):
            return False
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return current is None or not _same_answer(current.result, result)

    def put_many(
        self,
        items: Sequence[tuple[CertId, RevocationResult]],
        now: datetime,
        *,
        options: ValidationOptions,
    ) -> int:
        """:meth:`put` of each pair; how many were new."""
        return sum(self.put(cert_id, result, now, options=options) for cert_id, result in items)

    def invalidate(self, cert_id: CertId) -> None:
        self._entries.pop(cert_id.key(), None)

    def clear(self) -> None:
        self._entries.clear()

    def forget_local(self) -> None:
        """Empty this process's copy only (a shared cache's :meth:`clear` empties
        every instance's); here the same as :meth:`clear`."""
        ResponseCache.clear(self)


def _signer_still_trusted(
    result: RevocationResult, trusted_responders: Sequence[x509.Certificate], now: datetime
) -> bool:
    if result.trust_model is not TrustModel.TRUSTED_RESPONDER:
        return True
    return any(
        cert_info(cert).sha256 == result.signer_sha256 and not trusted_responder_problems(cert, now)
        for cert in trusted_responders
    )


def _keeps(current: RevocationResult, new: RevocationResult) -> bool:
    """Whether a still-usable ``current`` stands against ``new``."""
    if not current.validated:
        return False
    if not new.validated:
        # A failed re-check proves nothing: keep the still-valid validated
        # response rather than forget it (RFC 5019 2.2 lets it be reused).
        return True
    if current.this_update is None or new.this_update is None:
        return False
    if new.this_update != current.this_update:
        # The newer answer wins: an older one (a pre-produced response, another
        # instance's) never overrides what a later response said.
        return new.this_update < current.this_update
    # Answers of the same instant: a revocation is not overridden by a GOOD.
    return new.status is CertStatus.GOOD and current.status is not CertStatus.GOOD


def _same_answer(a: RevocationResult, b: RevocationResult) -> bool:
    return (
        a.status is b.status
        and a.this_update == b.this_update
        and a.next_update == b.next_update
        and a.signer_sha256 == b.signer_sha256
    )
