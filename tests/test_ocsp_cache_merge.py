"""The response cache's one rule between two validated answers for a CertID:
the later thisUpdate stands, and a REVOKED is not overridden by a GOOD of the
same instant (core/ocsp/cache.py; the shared cache merges by it too)."""

from __future__ import annotations

from datetime import timedelta

from certwarden.core.ocsp import CertId, CertStatus, ResponseCache, RevocationResult
from certwarden.core.ocsp.results import HashAlgorithm, Reason, TrustModel, ValidationOptions
from tests.conftest import T0

OPTIONS = ValidationOptions()
CID = CertId(HashAlgorithm.SHA1, b"\x01" * 20, b"\x02" * 20, 42)
H = timedelta(hours=1)


def answer(status: CertStatus, this_update_hours: float) -> RevocationResult:
    this_update = T0 + this_update_hours * H
    return RevocationResult(
        status,
        trust_model=TrustModel.ISSUER,
        this_update=this_update,
        next_update=this_update + 24 * H,
        revoked_at=T0 - 48 * H if status is CertStatus.REVOKED else None,
    )


def held(cache: ResponseCache) -> RevocationResult | None:
    return cache.get(CID, T0, trusted_responders=[], options=OPTIONS)


def test_an_older_answer_never_replaces_a_newer_one() -> None:
    cache = ResponseCache()
    revoked = answer(CertStatus.REVOKED, 0)
    assert cache.put(CID, revoked, T0, options=OPTIONS)
    assert not cache.put(CID, answer(CertStatus.GOOD, -1), T0, options=OPTIONS)
    assert held(cache) == revoked
    # Of the same instant, a GOOD does not override the REVOKED; the reverse does.
    assert not cache.put(CID, answer(CertStatus.GOOD, 0), T0, options=OPTIONS)
    assert held(cache) == revoked
    good = ResponseCache()
    good.put(CID, answer(CertStatus.GOOD, 0), T0, options=OPTIONS)
    assert good.put(CID, revoked, T0, options=OPTIONS) and held(good) == revoked
    # A later answer stands, whatever it says (a hold released).
    later = answer(CertStatus.GOOD, 0.5)
    assert cache.put(CID, later, T0, options=OPTIONS) and held(cache) == later


def test_the_same_answer_again_is_not_new_and_a_failure_does_not_replace_it() -> None:
    cache = ResponseCache()
    good = answer(CertStatus.GOOD, 0)
    assert cache.put(CID, good, T0, options=OPTIONS)
    assert not cache.put(CID, good, T0, options=OPTIONS)  # nothing to tell the others
    failed = RevocationResult.could_not_tell(Reason.RESPONDER_UNREACHABLE, "down")
    assert not cache.put(CID, failed, T0, options=OPTIONS)
    assert held(cache) == good
