"""The stored inputs to "may this answer be believed", read in one place.

The validator, :mod:`certwarden.core.ocsp.validate` (``verify_response`` and
``verify_parsed``), is pure: it is handed, with each response, the issuer of
each certificate asked about and the designated responders. This module is
where both come from, for every caller: the scheduled and on-demand checks,
the upload check and the TLS guard (and the probe through the guard).

* :func:`trusted_responders`: the Trusted Responder Model signers, the
  OCSPSigning certificates of the configured store (RFC 6960 4.2.2.2,
  "locally configured").
* :func:`issuer_candidates`: stored CA certificates by subject, the
  candidates for a certificate's issuer (the inventory links imports by
  the same query).
* :class:`StoredIssuers`: a certificate's issuer from those: the stored link,
  else a candidate with the matching key identifier whose key verifies the
  signature (:func:`certwarden.core.certs.find_issuer`).

It must not judge anything itself and never writes: the core decides which
candidate signed and whether a responder is authorised. It lives in
``services/shared`` because three use cases read it (revocation, tls,
inventory) and the inventory cannot import the revocation package (which
imports the inventory).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import NamedTuple

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.core.certs import CertFacts, facts_from_certificate, find_issuer

__all__ = ["IssuerCandidate", "StoredIssuers", "issuer_candidates", "trusted_responders"]

# Subjects per IN (...) lookup: well under every backend's parameter limit.
_SUBJECTS_PER_QUERY = 500


class IssuerCandidate(NamedTuple):
    """A stored CA certificate that may be some certificate's issuer."""

    id: int
    der: bytes
    subject_key_id: str | None
    subject: str


def trusted_responders(s: Session, store: str) -> list[x509.Certificate]:
    """Designated OCSP signers (Trusted Responder Model): OCSPSigning certs in ``store``."""
    ders = s.scalars(
        select(CertificateRow.der)
        .join(Store, Store.id == CertificateRow.store_id)
        .where(Store.name == store, CertificateRow.is_ocsp_signer.is_(True))
        .order_by(CertificateRow.id)
    )
    return [x509.load_der_x509_certificate(d) for d in ders]


def issuer_candidates(s: Session, subjects: Collection[str]) -> Iterator[IssuerCandidate]:
    """Stored CA certificates whose subject is one of ``subjects`` (by ID per batch).

    The candidates for the issuer of certificates that name those subjects as
    their issuer; which candidate (if any) signed is for the caller to confirm
    (:func:`certwarden.core.certs.find_issuer`, or the inventory's bulk check).
    """
    names = list(subjects)
    for start in range(0, len(names), _SUBJECTS_PER_QUERY):
        rows = s.execute(
            select(
                CertificateRow.id,
                CertificateRow.der,
                CertificateRow.subject_key_id,
                CertificateRow.subject,
            )
            .where(
                CertificateRow.is_ca.is_(True),
                CertificateRow.subject.in_(names[start : start + _SUBJECTS_PER_QUERY]),
            )
            .order_by(CertificateRow.id)
        )
        for row_id, der, subject_key_id, subject in rows:
            yield IssuerCandidate(row_id, der, subject_key_id, subject)


class StoredIssuers:
    """Issuer certificates from the inventory: the stored link, else name + key id.

    Lives for one session; what it loads is kept for that session's lookups.
    """

    def __init__(self, s: Session) -> None:
        self._s = s
        self._by_id: dict[int, x509.Certificate] = {}
        self._by_subject: dict[str, list[tuple[x509.Certificate, CertFacts]]] = {}

    def _load(self, row_id: int) -> x509.Certificate | None:
        if row_id not in self._by_id:
            der = self._s.scalar(select(CertificateRow.der).where(CertificateRow.id == row_id))
            if der is None:
                return None
            self._by_id[row_id] = x509.load_der_x509_certificate(der)
        return self._by_id[row_id]

    def candidates(self, subject: str) -> list[tuple[x509.Certificate, CertFacts]]:
        """Stored CA certificates named ``subject``, with their facts."""
        if subject not in self._by_subject:
            found = []
            for row in issuer_candidates(self._s, [subject]):
                cert = x509.load_der_x509_certificate(row.der)
                found.append((cert, facts_from_certificate(cert)))
            self._by_subject[subject] = found
        return self._by_subject[subject]

    def for_cert(self, issuer_id: int | None, cert: x509.Certificate) -> x509.Certificate | None:
        """The linked issuer (``issuer_id``), else one found by name and key id."""
        if issuer_id is not None:
            issuer = self._load(issuer_id)
            if issuer is not None:
                return issuer
        return self.find(cert, facts_from_certificate(cert))

    def find(
        self,
        cert: x509.Certificate,
        facts: CertFacts,
        extra: Sequence[tuple[x509.Certificate, CertFacts]] = (),
    ) -> x509.Certificate | None:
        """``cert``'s issuer among ``extra`` (tried first), then the stored CAs."""
        options = [*extra, *self.candidates(facts.issuer)]
        index = find_issuer(cert, facts, options)
        return options[index][0] if index is not None else None
