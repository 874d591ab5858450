"""The revocation engine: one result per certificate, from its revocation source.

What holds whatever the source, in this order: an expired certificate is
revoked (``expired``) without asking anyone; one whose issuer is not known
cannot be told about (no response could be matched to it); one signed with a
refused algorithm (SHA-1 unless legacy signatures are accepted, MD5 always:
:mod:`certwarden.core.algorithms`) is ``weak_signature_algorithm``; an OCSP
responder certificate with id-pkix-ocsp-nocheck is ``exempt`` (RFC 6960
4.2.2.2.1), before any question of a responder URL. Every other certificate
goes to the sources in the order the settings choose (``ocsp-only``,
``ocsp-first``, ``crl-first``, ``crl-only``): OCSP
(:class:`.ocsp_source.OcspSource`) and CRLs (:class:`.crl_source.CrlSource`).
The second source is asked only about the certificates the first could not
tell about; when neither can, the first one's reason stands and the second's
problems are added to it. The callers (scheduled checks, uploads, the TLS
guard, the probe) keep calling :meth:`RevocationEngine.evaluate`; the policy
(Common Criteria mode included) is applied to this combined answer.

It must not read or write the database, read the clock (``now`` is given),
or apply the policy (:func:`certwarden.core.policy.decide` does that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from cryptography import x509

from certwarden.adapters.ocsp_http import OcspTransport
from certwarden.core.algorithms import certificate_algorithm_problem, digest_label, is_legacy
from certwarden.core.ocsp import Reason, RevocationResult, expired_result
from certwarden.core.ocsp.results import exempt_result
from certwarden.core.revocation_settings import RevocationSettings
from certwarden.core.signatures import certificate_signature_algorithm
from certwarden.services.revocation.crl_source import CrlSource
from certwarden.services.revocation.model import Target
from certwarden.services.revocation.ocsp_source import OcspSource

__all__ = ["RevocationEngine"]


def _sources(settings: RevocationSettings, have_crl: bool) -> tuple[str, ...]:
    """The sources to ask, in order. With none switched on, an administrator's
    on-demand check still asks the first of the order (OCSP, as before CRLs)."""
    sources = settings.sources or settings.order.sources[:1]
    return tuple(s for s in sources if s != "crl" or have_crl) or ("ocsp",)


class RevocationEngine:
    """Statuses for targets, in order (see the module docstring)."""

    def __init__(self, ocsp: OcspSource, crl: CrlSource | None = None) -> None:
        self.ocsp = ocsp
        self.crl = crl

    async def evaluate(
        self,
        targets: Sequence[Target],
        *,
        settings: RevocationSettings,
        now: datetime,
        common_criteria: bool = True,
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
        ``common_criteria``: the mode in force; legacy signatures are accepted
        only outside it (the default, True, fails closed).
        """
        accept_legacy = settings.validation_options_for(
            common_criteria=common_criteria
        ).accept_legacy_signatures
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
            elif weak := certificate_algorithm_problem(
                target.cert, accept_legacy=accept_legacy, what=f"the certificate {target.subject}"
            ):
                results[i] = RevocationResult.could_not_tell(Reason.WEAK_SIGNATURE_ALGORITHM, weak)
            elif (exempt := exempt_result(target.cert)) is not None:
                results[i] = exempt
            else:
                asked.append(i)
                pairs.append((target, target.issuer))
        # url_override: an OCSP query of one responder (``ocsp query --url``).
        sources = ("ocsp",) if url_override else _sources(settings, self.crl is not None)
        for name in sources:
            if not pairs:
                break
            if name == "crl" and self.crl is not None:
                answers = await self.crl.statuses(
                    pairs, settings=settings, now=now, common_criteria=common_criteria
                )
            else:
                answers = await self.ocsp.statuses(
                    pairs,
                    settings=settings,
                    common_criteria=common_criteria,
                    trusted_responders=trusted_responders,
                    now=now,
                    url_override=url_override,
                    transport=transport,
                    use_cache=use_cache,
                )
            still: list[int] = []
            still_pairs: list[tuple[Target, x509.Certificate]] = []
            for i, pair, answer in zip(asked, pairs, answers, strict=True):
                legacy = _legacy_label(targets[i])
                if legacy is not None and answer.validated:
                    # Relied on: the cache must not serve it once legacy is refused.
                    answer = replace(answer, legacy_signatures=(*answer.legacy_signatures, legacy))
                earlier = results[i]
                if earlier is None or answer.validated:
                    results[i] = answer
                else:
                    # Neither source could tell: the first one's reason, both's problems.
                    results[i] = replace(
                        earlier,
                        problems=(
                            *earlier.problems,
                            *(f"{answer.source.value}: {p}" for p in answer.problems),
                        ),
                    )
                if not answer.validated:
                    still.append(i)
                    still_pairs.append(pair)
            asked, pairs = still, still_pairs
        return [r for r in results if r is not None]


def _legacy_label(target: Target) -> str | None:
    algorithm = certificate_signature_algorithm(target.cert)
    if not is_legacy(algorithm):
        return None
    return f"certificate {target.subject}: {digest_label(algorithm)}"
