"""The revocation policy: one function turns a result into allow / warn / deny.

Every part of certwarden that decides (uploads, TLS connections, the
dashboard) calls :func:`decide`; nothing else interprets statuses. The table
below is the whole policy (SPEC section 3):

- Common Criteria mode on: only ``good`` allows; ``revoked``, ``unknown`` and
  could-not-tell deny.
- Common Criteria mode off: ``revoked`` denies; ``unknown`` and could-not-tell
  allow with a warning.
- ``revoked`` — including an expired certificate, which is revoked with
  reason ``expired`` — always denies.
- ``exempt`` — an OCSP responder certificate carrying id-pkix-ocsp-nocheck,
  whose revocation status is not checked by design (RFC 6960 4.2.2.2.1: its
  CA vouches for it for its lifetime) — allows in both modes.

Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from certwarden.core.ocsp.results import CertStatus, RevocationResult, describe

__all__ = ["POLICY_TABLE", "Decision", "Verdict", "decide", "render_table"]


@enum.unique
class Decision(enum.StrEnum):
    ALLOW = "allow"
    WARN = "allow_with_warning"
    DENY = "deny"


# (common_criteria, status) -> decision. The single source of the policy.
POLICY_TABLE: dict[tuple[bool, CertStatus], Decision] = {
    (True, CertStatus.GOOD): Decision.ALLOW,
    (True, CertStatus.REVOKED): Decision.DENY,
    (True, CertStatus.UNKNOWN): Decision.DENY,
    (True, CertStatus.COULD_NOT_TELL): Decision.DENY,
    (False, CertStatus.GOOD): Decision.ALLOW,
    (False, CertStatus.REVOKED): Decision.DENY,
    (False, CertStatus.UNKNOWN): Decision.WARN,
    (False, CertStatus.COULD_NOT_TELL): Decision.WARN,
    (True, CertStatus.EXEMPT): Decision.ALLOW,
    (False, CertStatus.EXEMPT): Decision.ALLOW,
}


@dataclass(frozen=True)
class Verdict:
    """What to do with a certificate, and why in one sentence."""

    decision: Decision
    why: str

    @property
    def allowed(self) -> bool:
        return self.decision is not Decision.DENY


def decide(result: RevocationResult, *, common_criteria: bool) -> Verdict:
    """Allow, allow with a warning, or deny, per :data:`POLICY_TABLE`."""
    decision = POLICY_TABLE[(common_criteria, result.status)]
    mode = "Common Criteria mode" if common_criteria else "Common Criteria mode off"
    verb = {Decision.ALLOW: "allowed", Decision.WARN: "allowed with a warning"}.get(
        decision, "refused"
    )
    return Verdict(decision, f"{verb}: {describe(result)} ({mode})")


def render_table() -> str:
    """The policy table as Markdown (what the README prints)."""
    statuses = list(CertStatus)
    lines = [
        "| status | Common Criteria off | Common Criteria on |",
        "|---|---|---|",
    ]
    for status in statuses:
        off = POLICY_TABLE[(False, status)].value
        on = POLICY_TABLE[(True, status)].value
        lines.append(f"| `{status.value}` | {off} | {on} |")
    return "\n".join(lines)
