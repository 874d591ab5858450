"""The revocation policy table (issue 4 item 5): one function decides."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certwarden.core.ocsp import CertStatus, Reason, RevocationResult, expired_result
from certwarden.core.policy import POLICY_TABLE, Decision, decide, render_table
from tests.fakeca import T0, FakeCA

GOOD = RevocationResult(CertStatus.GOOD)
REVOKED = RevocationResult(
    CertStatus.REVOKED, revoked_at=T0 - timedelta(days=2), revocation_reason="keyCompromise"
)
ON_HOLD = RevocationResult(
    CertStatus.REVOKED, revoked_at=T0 - timedelta(days=1), revocation_reason="certificateHold"
)
UNKNOWN = RevocationResult(CertStatus.UNKNOWN)
TIMEOUT = RevocationResult.could_not_tell(Reason.TIMEOUT, "no answer from http://x in 10 s")
FORGED = RevocationResult.could_not_tell(Reason.BAD_SIGNATURE, "the signature does not verify")


@pytest.mark.parametrize(
    ("result", "common_criteria", "decision"),
    [
        pytest.param(GOOD, True, Decision.ALLOW, id="cc-on-good-allows"),
        pytest.param(REVOKED, True, Decision.DENY, id="cc-on-revoked-denies"),
        pytest.param(ON_HOLD, True, Decision.DENY, id="cc-on-on-hold-denies"),
        pytest.param(UNKNOWN, True, Decision.DENY, id="cc-on-unknown-denies"),
        pytest.param(TIMEOUT, True, Decision.DENY, id="cc-on-could-not-tell-denies"),
        pytest.param(FORGED, True, Decision.DENY, id="cc-on-forged-denies"),
        pytest.param(GOOD, False, Decision.ALLOW, id="cc-off-good-allows"),
        pytest.param(REVOKED, False, Decision.DENY, id="cc-off-revoked-denies"),
        pytest.param(ON_HOLD, False, Decision.DENY, id="cc-off-on-hold-denies"),
        pytest.param(UNKNOWN, False, Decision.WARN, id="cc-off-unknown-warns"),
        pytest.param(TIMEOUT, False, Decision.WARN, id="cc-off-could-not-tell-warns"),
        pytest.param(FORGED, False, Decision.WARN, id="cc-off-forged-warns"),
    ],
)
def test_policy_table(result: RevocationResult, common_criteria: bool, decision: Decision) -> None:
    verdict = decide(result, common_criteria=common_criteria)
    assert verdict.decision is decision
    assert verdict.allowed is (decision is not Decision.DENY)
    assert verdict.why


@pytest.mark.parametrize("common_criteria", [True, False], ids=["cc-on", "cc-off"])
def test_expired_always_denies(common_criteria: bool) -> None:
    leaf = FakeCA.root().leaf(not_before=T0 - timedelta(days=10), days=5)
    result = expired_result(leaf.cert, T0)
    assert result is not None
    verdict = decide(result, common_criteria=common_criteria)
    assert verdict.decision is Decision.DENY
    assert "expired" in verdict.why


def test_why_names_the_reason() -> None:
    assert "timeout" in decide(TIMEOUT, common_criteria=False).why
    assert "on hold" in decide(ON_HOLD, common_criteria=False).why
    assert "keyCompromise" in decide(REVOKED, common_criteria=True).why


def test_table_is_complete_and_rendered() -> None:
    assert set(POLICY_TABLE) == {(cc, s) for cc in (True, False) for s in CertStatus}
    # Only GOOD (and EXEMPT, not checked by design) allows outright; REVOKED never allows.
    assert {k for k, v in POLICY_TABLE.items() if v is Decision.ALLOW} == {
        (True, CertStatus.GOOD),
        (False, CertStatus.GOOD),
        # Not checked by design: ocsp-nocheck responders (RFC 6960 4.2.2.2.1).
        (True, CertStatus.EXEMPT),
        (False, CertStatus.EXEMPT),
    }
    table = render_table()
    assert "| `revoked` | deny | deny |" in table
    assert "| `could_not_tell` | allow_with_warning | deny |" in table
