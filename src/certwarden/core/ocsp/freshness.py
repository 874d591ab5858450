"""Freshness: the one rule for how long an OCSP answer may be believed (RFC 6960 4.2.2.1).

Validation (:mod:`.validate`) runs the steps; the cache (:mod:`.cache`)
reuses an answer only while :func:`fresh_until` says validation would still
accept it, with the same :class:`ValidationOptions` (the maximum age when
nextUpdate is absent, the clock skew), so a cached answer is never believed
longer than a fresh copy of it would be. Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime

from certwarden.core.ocsp.prechecks import DEFAULT_OPTIONS, Failure
from certwarden.core.ocsp.response import ParsedResponse, SingleAnswer
from certwarden.core.ocsp.results import Reason, ValidationOptions, iso_z

__all__ = ["fresh_until", "step_next_update", "step_produced_at", "step_this_update"]


def fresh_until(
    this_update: datetime, next_update: datetime | None, options: ValidationOptions
) -> datetime | None:
    """The last instant :func:`step_next_update` accepts these times (None: never).

    nextUpdate plus the skew; without nextUpdate, thisUpdate plus the maximum
    age; a nextUpdate before thisUpdate is fresh at no time.
    """
    if next_update is not None:
        if next_update < this_update:
            return None
        return next_update + options.skew
    return this_update + options.max_age


# -- steps: freshness (RFC 6960 4.2.2.1, 3.2 items 5-6) -----------------------


def step_this_update(
    single: SingleAnswer, now: datetime, options: ValidationOptions = DEFAULT_OPTIONS
) -> list[Failure]:
    """thisUpdate is not after ``now`` plus the allowed clock skew."""
    if single.this_update <= now + options.skew:
        return []
    return [
        Failure(
            Reason.NOT_YET_VALID,
            f"thisUpdate {iso_z(single.this_update)} is in the future "
            f"(now {iso_z(now)}, skew {options.skew})",
        )
    ]


def step_next_update(
    single: SingleAnswer, now: datetime, options: ValidationOptions = DEFAULT_OPTIONS
) -> list[Failure]:
    """nextUpdate is not before ``now`` minus skew; without it, thisUpdate is recent enough.

    A nextUpdate before thisUpdate is refused outright: the response's
    validity window is empty (RFC 6960 4.2.2.1: newer information was due
    before this information was current), so it is fresh at no time, skew or
    not. OpenSSL's OCSP_check_validity refuses it the same way.
    """
    until = fresh_until(single.this_update, single.next_update, options)
    if until is None:
        return [
            Failure(
                Reason.STALE,
                f"nextUpdate {iso_z(single.next_update)} is before thisUpdate "
                f"{iso_z(single.this_update)}: the response is valid at no time",
            )
        ]
    if now <= until:
        return []
    if single.next_update is not None:
        return [
            Failure(
                Reason.STALE,
                f"nextUpdate {iso_z(single.next_update)} has passed (now {iso_z(now)}, "
                f"skew {options.skew})",
            )
        ]
    return [
        Failure(
            Reason.STALE,
            f"the response has no nextUpdate and its thisUpdate {iso_z(single.this_update)} "
            f"is older than the maximum age {options.max_age}",
        )
    ]


def step_produced_at(
    parsed: ParsedResponse, now: datetime, options: ValidationOptions = DEFAULT_OPTIONS
) -> list[Failure]:
    """producedAt is not after ``now`` plus the allowed clock skew.

    producedAt is when the responder signed the response (RFC 6960 4.2.1).
    A response signed in the future cannot be genuine at ``now``: either the
    responder's clock is wrong (so its thisUpdate/nextUpdate cannot be relied
    on either) or the response was made ahead of time to be replayed later.
    Judged like thisUpdate (the same skew), so NOT_YET_VALID.
    """
    produced = parsed.produced_at
    if produced is None or produced <= now + options.skew:
        return []
    return [
        Failure(
            Reason.NOT_YET_VALID,
            f"producedAt {iso_z(produced)} is in the future (now {iso_z(now)}, "
            f"skew {options.skew}): the response claims to be signed later than now",
        )
    ]
