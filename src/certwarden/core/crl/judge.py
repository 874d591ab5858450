"""The answer for one certificate from its issuer's CRLs (issue 13 item 3).

:class:`CrlJudge` is built once for an issuing CA, the CRLs at hand (complete
and delta, any number of partitions) and ``now``: every CRL is validated then
(:func:`.validate.check_crl`). Each :meth:`CrlJudge.check` after that is a
scope decision looked up by the certificate's ``scope_key`` (computed once
per distinct issuer/CA-flag/distribution-points combination) and one or two
index lookups; the GOOD result is built once per plan and shared.

The rules, RFC 5280 6.3.3:

* only CRLs in scope for the certificate count (:func:`.scope.scope_of`):
  judged against the wrong partition, a certificate is never good;
* of the usable complete CRLs of one scope, the highest CRL number answers;
  with none usable, the result is could-not-tell with the first failure of
  the newest one (and every failure as ``problems``);
* a delta CRL (deltaCRLIndicator) of the same scope whose BaseCRLNumber is at
  most the complete CRL's number and whose own number is higher applies on
  top of it (RFC 5280 5.2.4): its entries win; removeFromCRL in it releases
  a certificate the complete CRL lists (typically certificateHold). A delta
  that needs a newer complete CRL is ``delta_crl_mismatch``; a supplied
  delta of the right scope that fails validation decides the answer;
* listed: REVOKED with its time and reason (certificateHold shows as on
  hold); not listed: GOOD only when the CRLs used cover every reason
  (onlySomeReasons partitions), else could-not-tell ``crl_scope_mismatch``.

Expiry is not judged here (the engine answers expired certificates before
asking any source). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from certwarden.core.crl._entries import RevokedEntry
from certwarden.core.crl._names import ALL_REASONS, reasons_text
from certwarden.core.crl.load import Crl
from certwarden.core.crl.scope import CertRef, ScopeKey, cert_ref, scope_of
from certwarden.core.crl.validate import DEFAULT_OPTIONS, CrlCheck, check_crl
from certwarden.core.ocsp.results import (
    CertStatus,
    Reason,
    RevocationResult,
    Source,
    ValidationOptions,
    iso_z,
)

__all__ = ["CrlJudge", "judge"]


@dataclass(frozen=True, slots=True)
class _Use:
    """One complete CRL used for a certificate, its delta, and the reasons it covers."""

    base: CrlCheck
    delta: CrlCheck | None
    reasons: frozenset[x509.ReasonFlags]
    # Look entries up by issuer too: the CRL issuer is not the certificate's
    # issuer, or some entries name another issuer (certificateIssuer).
    by_issuer: bool


@dataclass(frozen=True, slots=True)
class _Plan:
    """What to do for every certificate of one scope key, decided once."""

    uses: tuple[_Use, ...]
    good: RevocationResult  # the answer when no CRL lists the certificate
    evidence: dict[str, Any]  # the CRL fields every result of this plan carries
    final: RevocationResult | None = None  # set: the answer, without any lookup


def _final(result: RevocationResult) -> _Plan:
    return _Plan((), result, {}, result)


def _describe(crl: Crl) -> str:
    number = f"#{crl.number}" if crl.number is not None else "(no number)"
    return f"CRL {number} from {crl.source}"


class CrlJudge:
    """Judges certificates of one issuing CA against a set of CRLs, as of ``now``.

    Args:
        issuer: the issuing CA's certificate (its key must sign the CRLs,
            or have issued the indirect CRL issuer that does).
        crls: complete and delta CRLs, any partitions, in any order.
        now: the time of judgement.
        options: clock skew and the maximum age for CRLs without nextUpdate.
        crl_issuers: certificates of indirect CRL issuers (RFC 5280 6.3.3 (f)).
        known_numbers: highest CRL numbers already seen, by
            :func:`.validate.number_key` (replays are refused).
    """

    def __init__(
        self,
        issuer: x509.Certificate,
        crls: Sequence[Crl],
        *,
        now: datetime,
        options: ValidationOptions = DEFAULT_OPTIONS,
        crl_issuers: Sequence[x509.Certificate] = (),
        known_numbers: Mapping[str, int] | None = None,
    ) -> None:
        self.issuer = issuer
        self.now = now
        unique = list({c.sha256: c for c in crls}.values())
        self.checks: tuple[CrlCheck, ...] = tuple(
            check_crl(
                c,
                issuer,
                now=now,
                options=options,
                crl_issuers=crl_issuers,
                known_numbers=known_numbers,
            )
            for c in unique
        )
        self._complete = [c for c in self.checks if not c.crl.is_delta]
        self._deltas = [c for c in self.checks if c.crl.is_delta]
        self._plans: dict[ScopeKey, _Plan] = {}
        # The last scope key seen: certificates of one CA usually share it,
        # and an identity test is cheaper than hashing.
        self._last: tuple[ScopeKey | None, _Plan | None] = (None, None)

    # -- per scope (computed once per scope_key) ------------------------------

    def _plan(self, ref: CertRef) -> _Plan:
        decided = self._decide(ref)
        return _final(decided) if isinstance(decided, RevocationResult) else decided

    def _decide(self, ref: CertRef) -> _Plan | RevocationResult:
        if not self.checks:
            return RevocationResult.could_not_tell(
                Reason.CRL_SCOPE_MISMATCH,
                "no CRL was available for the certificate",
                source=Source.CRL,
            )
        in_scope: dict[str, list[tuple[CrlCheck, frozenset[x509.ReasonFlags]]]] = {}
        problems: list[str] = []
        for check in self._complete:
            scope = scope_of(ref, check.crl)
            if scope.covers:
                in_scope.setdefault(check.crl.scope_id, []).append((check, scope.reasons))
            else:
                problems.append(f"{_describe(check.crl)}: {scope.problem}")
        if not in_scope:
            return RevocationResult.could_not_tell(
                Reason.CRL_SCOPE_MISMATCH,
                "no CRL given covers the certificate" + (f": {problems[0]}" if problems else ""),
                problems=tuple(problems) or None,
                source=Source.CRL,
            )
        uses: list[_Use] = []
        for group in in_scope.values():
            use = self._use(ref, group)
            if isinstance(use, RevocationResult):
                return use
            uses.append(use)
        covered = frozenset().union(*(u.reasons for u in uses))
        evidence = self._evidence(uses[0])
        return _Plan(tuple(uses), self._good(uses[0], covered, evidence), evidence)

    def _use(
        self, ref: CertRef, group: list[tuple[CrlCheck, frozenset[x509.ReasonFlags]]]
    ) -> _Use | RevocationResult:
        group.sort(key=lambda g: (g[0].crl.number or -1, g[0].crl.this_update), reverse=True)
        usable = [g for g in group if g[0].usable]
        if not usable:
            newest = group[0][0]
            failures = [f"{_describe(c.crl)}: {f.text}" for c, _ in group for f in c.failures]
            return RevocationResult.could_not_tell(
                newest.failures[0].reason,
                failures[0],
                problems=tuple(failures),
                source=Source.CRL,
                crl_number=newest.crl.number,
                crl_sha256=newest.crl.sha256,
                this_update=newest.crl.this_update,
                next_update=newest.crl.next_update,
            )
        base, reasons = usable[0]
        delta = self._delta_for(base)
        if isinstance(delta, RevocationResult):
            return delta
        by_issuer = base.crl.issuer != ref.issuer or bool(base.crl.index.indirect_issuers)
        if delta is not None:
            by_issuer = by_issuer or bool(delta.crl.index.indirect_issuers)
        return _Use(base, delta, reasons, by_issuer)

    def _delta_for(self, base: CrlCheck) -> CrlCheck | RevocationResult | None:
        crl = base.crl
        mine = [d for d in self._deltas if d.crl.scope_id == crl.scope_id]
        # Deltas older than (or as old as) the complete CRL add nothing: ignored.
        newer = [
            d
            for d in mine
            if d.crl.number is None or crl.number is None or d.crl.number > crl.number
        ]
        if not newer:
            return None
        newer.sort(key=lambda d: (d.crl.number or -1, d.crl.this_update), reverse=True)
        for delta in newer:
            if not delta.usable:
                failure = delta.failures[0]
                return RevocationResult.could_not_tell(
                    failure.reason,
                    f"delta {_describe(delta.crl)}: {failure.text}",
                    problems=tuple(
                        f"delta {_describe(delta.crl)}: {f.text}" for f in delta.failures
                    ),
                    source=Source.CRL,
                    crl_number=crl.number,
                    crl_sha256=crl.sha256,
                )
            base_number = delta.crl.base_number
            if (
                crl.number is None
                or delta.crl.number is None
                or (base_number is not None and base_number > crl.number)
            ):
                return RevocationResult.could_not_tell(
                    Reason.DELTA_CRL_MISMATCH,
                    f"delta {_describe(delta.crl)} applies to complete CRLs numbered "
                    f"{base_number} or later, but the complete CRL is "
                    f"{'unnumbered' if crl.number is None else f'#{crl.number}'} (RFC 5280 5.2.4)",
                    source=Source.CRL,
                    crl_number=crl.number,
                    crl_sha256=crl.sha256,
                )
            return delta
        return None

    @staticmethod
    def _evidence(use: _Use) -> dict[str, Any]:
        crl = use.base.crl
        delta = use.delta.crl if use.delta else None
        next_update = crl.next_update
        if delta is not None and delta.next_update is not None:
            next_update = min(next_update or delta.next_update, delta.next_update)
        return {
            "source": Source.CRL,
            "this_update": delta.this_update if delta else crl.this_update,
            "next_update": next_update,
            "crl_number": crl.number,
            "crl_sha256": crl.sha256,
            "delta_crl_number": delta.number if delta else None,
            "delta_crl_sha256": delta.sha256 if delta else None,
            "responder_url": crl.source,
        }

    @staticmethod
    def _good(
        use: _Use, covered: frozenset[x509.ReasonFlags], evidence: dict[str, Any]
    ) -> RevocationResult:
        crl = use.base.crl
        delta = use.delta.crl if use.delta else None
        if covered != ALL_REASONS:
            missing = ALL_REASONS - covered
            return RevocationResult.could_not_tell(
                Reason.CRL_SCOPE_MISMATCH,
                f"the certificate is not listed, but the CRLs given cover only some reasons; "
                f"missing: {reasons_text(missing)}",
                **evidence,
            )
        via = f" and delta #{delta.number}" if delta else ""
        return RevocationResult(
            status=CertStatus.GOOD,
            detail=f"not listed in {_describe(crl)}{via}",
            **evidence,
        )

    # -- per certificate --------------------------------------------------------

    def check(self, cert: x509.Certificate | CertRef) -> RevocationResult:
        """The status of ``cert`` (an issued certificate or its :func:`.scope.cert_ref`)."""
        # type() rather than isinstance: the cheaper test, on every check.
        ref = cert if type(cert) is CertRef else cert_ref(cert)  # type: ignore[arg-type]
        scope_key = ref.scope_key
        last_key, plan = self._last
        if scope_key is not last_key or plan is None:
            plan = self._plans.get(scope_key)
            if plan is None:
                plan = self._plans[scope_key] = self._plan(ref)
            self._last = (scope_key, plan)
        if plan.final is not None:
            return plan.final
        key = ref.key
        for use in plan.uses:
            issuer = ref.issuer_der if use.by_issuer else None
            if use.delta is not None:
                index = use.delta.crl.index
                number = index.find(key, issuer)
                if number >= 0:
                    entry = index.entry(number)
                    if entry.removed:
                        continue  # released by the delta (RFC 5280 5.2.4, 5.3.1)
                    return _revoked(plan.evidence, entry, use.delta.crl)
            index = use.base.crl.index
            number = index.find(key, issuer)
            if number >= 0:
                entry = index.entry(number)
                if entry.removed:
                    return RevocationResult.could_not_tell(
                        Reason.MALFORMED_CRL,
                        f"{_describe(use.base.crl)} lists serial {ref.serial:x} with removeFromCRL, "
                        "which only a delta CRL may (RFC 5280 5.3.1)",
                        source=Source.CRL,
                        crl_sha256=use.base.crl.sha256,
                        crl_number=use.base.crl.number,
                    )
                return _revoked(plan.evidence, entry, use.base.crl)
        return plan.good


def _revoked(evidence: dict[str, Any], entry: RevokedEntry, crl: Crl) -> RevocationResult:
    hold = " (on hold)" if entry.reason == _HOLD else ""
    why = f" ({entry.reason})" if entry.reason else ""
    return RevocationResult(
        status=CertStatus.REVOKED,
        detail=f"listed in {_describe(crl)} as revoked at {iso_z(entry.revoked_at)}{why}{hold}",
        revoked_at=entry.revoked_at,
        revocation_reason=entry.reason,
        **evidence,
    )


_HOLD = x509.ReasonFlags.certificate_hold.value


def judge(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[Crl],
    *,
    now: datetime,
    options: ValidationOptions = DEFAULT_OPTIONS,
    crl_issuers: Sequence[x509.Certificate] = (),
    known_numbers: Mapping[str, int] | None = None,
) -> RevocationResult:
    """The CRL answer for one certificate: GOOD, REVOKED (time, reason) or COULD_NOT_TELL.

    For many certificates of one CA, build one :class:`CrlJudge` and call its
    ``check``: the CRLs are then validated once.
    """
    return CrlJudge(
        issuer, crls, now=now, options=options, crl_issuers=crl_issuers, known_numbers=known_numbers
    ).check(cert)
