"""Issuer linking: which CA in the inventory issued each new certificate.

A link is made by name and key identifier and **confirmed by the signature**,
whichever of the two certificates arrives first: a new certificate is linked
to its issuer (new in the same import, or stored), and stored certificates
whose issuer arrives only now are linked to it. A CA with the right name but
another key is never linked. Which key made the signature is an identity
question, so a SHA-1-signed certificate is linked to its CA like any other
(:func:`certwarden.core.certs.signed_by` checks the signature itself; the
record's ``weak_signature`` flag says the algorithm is legacy, and the
revocation checks apply the algorithm policy). The signature checks of a big import run over
processes (:func:`.pipeline.verify_issuers`). Nothing here inserts rows; it
only sets ``issuer_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import CertificateRow
from certwarden.core.certs import CertFacts, Role, facts_from_certificate, find_issuer
from certwarden.services.inventory.pipeline import verify_issuers
from certwarden.services.inventory.records import PreparedCertificate
from certwarden.services.shared.trust_inputs import issuer_candidates

__all__ = ["find_issuers", "link_orphans", "stored_issuer_id"]


def find_issuers(
    s: Session,
    items: Sequence[PreparedCertificate],
    roles: dict[str, Role],
    workers: int,
) -> dict[str, tuple[str, str]]:
    """Each new non-root certificate's issuer: ``("new", sha256)`` or ``("stored", id)``.

    Candidates are CAs named as the issuer (new in this import, or stored),
    narrowed by key identifier and confirmed by the signature.
    """
    wanted = {i.facts.issuer for i in items if roles[i.facts.sha256] is not Role.ROOT}
    candidates: list[tuple[tuple[str, str], bytes, CertFacts]] = [
        (("new", i.facts.sha256), i.der, i.facts)
        for i in items
        if i.facts.is_ca and i.facts.subject in wanted
    ]
    for candidate in issuer_candidates(s, wanted):
        stub = _CandidateFacts(candidate.subject, candidate.subject_key_id)
        candidates.append((("stored", str(candidate.id)), candidate.der, stub))  # type: ignore[arg-type]
    by_name: dict[str, list[int]] = {}
    for index, (_, _, cfacts) in enumerate(candidates):
        by_name.setdefault(cfacts.subject, []).append(index)
    jobs: list[tuple[bytes, tuple[int, ...]]] = []
    owners: list[str] = []
    for item in items:
        f = item.facts
        if roles[f.sha256] is Role.ROOT:
            continue
        options = tuple(
            idx
            for idx in by_name.get(f.issuer, ())
            if candidates[idx][0] != ("new", f.sha256)
            and not (f.authority_key_id and candidates[idx][2].subject_key_id
                     and f.authority_key_id != candidates[idx][2].subject_key_id)
        )  # fmt: skip
        if options:
            jobs.append((item.der, options))
            owners.append(f.sha256)
    found = verify_issuers([c[1] for c in candidates], jobs, workers)
    return {
        sha: candidates[idx][0] for sha, idx in zip(owners, found, strict=True) if idx is not None
    }


@dataclass(frozen=True)
class _CandidateFacts:
    """What issuer matching needs of a stored CA (without re-deriving all facts)."""

    subject: str
    subject_key_id: str | None


def stored_issuer_id(ref: tuple[str, str] | None) -> int | None:
    """The stored issuer's ID from a :func:`find_issuers` answer (None for a new one)."""
    return int(ref[1]) if ref is not None and ref[0] == "stored" else None


def link_orphans(s: Session, new_cas: Sequence[tuple[int, PreparedCertificate]]) -> None:
    """Link stored certificates whose issuer arrived only now."""
    if not new_cas:
        return
    by_subject: dict[str, list[tuple[int, PreparedCertificate]]] = {}
    for rid, item in new_cas:
        by_subject.setdefault(item.facts.subject, []).append((rid, item))
    new_ids = {rid for rid, _ in new_cas}
    orphans = s.execute(
        select(CertificateRow.id, CertificateRow.der).where(
            CertificateRow.issuer_id.is_(None),
            CertificateRow.role != Role.ROOT.value,
            CertificateRow.issuer.in_(list(by_subject)),
        )
    ).all()
    for orphan_id, der in orphans:
        if orphan_id in new_ids:
            continue
        cert = x509.load_der_x509_certificate(der)
        facts = facts_from_certificate(cert, der)
        options = by_subject[facts.issuer]
        index = find_issuer(cert, facts, [(i.cert, i.facts) for _, i in options])
        if index is not None:
            s.execute(
                update(CertificateRow)
                .where(CertificateRow.id == orphan_id)
                .values(issuer_id=options[index][0])
            )
