"""``certwarden probe``: what a TLS endpoint presents, and what certwarden makes of it.

    report = app.probe.probe("mail.example.net", 25, starttls=StartTls.SMTP)
    report.chain            # each certificate with its expiry and live OCSP status
    report.stapled          # how the stapled response (if any) was judged
    report.verdicts         # the policy with Common Criteria mode on and off
    app.probe.import_chain(report, store="tomcat-trust")

A probe connects (asking for a stapled response), reads the chain and closes.
It does not refuse anything and records nothing: it reports. The verdict uses
the same status the connection guard would (a validated staple, else the
live answer); every non-root certificate of the chain is also asked about
live, its issuer found in the chain or the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certwarden.adapters.db import Database
from certwarden.adapters.tls import open_tls
from certwarden.clock import Clock
from certwarden.core.certs import CertFacts, Role, facts_from_certificate, signed_by
from certwarden.core.ocsp import CertStatus, Reason, RevocationResult, expired_result
from certwarden.core.ocsp.results import Source, describe, iso_z
from certwarden.core.policy import Verdict, decide
from certwarden.core.tls import PeerChain, Stapling, StartTls, StatusSource
from certwarden.services.inventory import ImportReport, InventoryService
from certwarden.services.revocation import RevocationService, Target, Trigger
from certwarden.services.shared.sync_bridge import run_sync
from certwarden.services.tls.guard import TlsGuard

__all__ = ["ProbeReport", "ProbeService", "ProbedCertificate"]


@dataclass(frozen=True)
class ProbedCertificate:
    """One certificate of the chain a server sent."""

    position: int
    cert: x509.Certificate
    facts: CertFacts
    role: Role
    issuer_source: str | None
    ocsp: RevocationResult | None  # None for a root (nobody above it to ask)

    def to_json(self, now: datetime) -> dict[str, Any]:
        f = self.facts
        return {
            "position": self.position,
            "role": self.role.value,
            "subject": f.subject,
            "issuer": f.issuer,
            "serial": f.serial,
            "sha256": f.sha256,
            "not_before": iso_z(f.not_before),
            "not_after": iso_z(f.not_after),
            "days_left": round((f.not_after - now).total_seconds() / 86400, 2),
            "expired": now > f.not_after,
            "sans": list(f.sans),
            "ocsp_uris": list(f.ocsp_uris),
            "issuer_source": self.issuer_source,
            "ocsp": self.ocsp.to_json() if self.ocsp else None,
        }


@dataclass(frozen=True)
class ProbeReport:
    """Everything one probe found."""

    host: str
    port: int
    servername: str | None
    starttls: StartTls | None
    protocol: str | None
    cipher: str
    probed_at: datetime
    chain: tuple[ProbedCertificate, ...]
    stapling: Stapling
    stapled: RevocationResult | None
    status: RevocationResult
    source: StatusSource
    verdicts: dict[bool, Verdict]  # Common Criteria mode on (True) / off (False)
    ocsp_enabled: bool

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def leaf(self) -> ProbedCertificate:
        return self.chain[0]

    def pem(self) -> bytes:
        return b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def to_json(self) -> dict[str, Any]:
        now = self.probed_at
        return {
            "host": self.host,
            "port": self.port,
            "servername": self.servername,
            "starttls": self.starttls.value if self.starttls else None,
            "tls_version": self.protocol,
            "cipher": self.cipher,
            "probed_at": iso_z(now),
            "chain": [c.to_json(now) for c in self.chain],
            "stapled": {
                "state": self.stapling.value,
                "sent": self.stapling is Stapling.SENT,
                "valid": self.stapled.validated if self.stapled else None,
                "result": self.stapled.to_json() if self.stapled else None,
            },
            "status": {
                "source": self.source.value,
                "status": self.status.status.value,
                "revoked_at": iso_z(self.status.revoked_at),
                "revocation_reason": self.status.revocation_reason,
                "summary": describe(self.status),
                "result": self.status.to_json(),
            },
            "policy": {
                ("common_criteria_on" if mode else "common_criteria_off"): {
                    "decision": verdict.decision.value,
                    "allowed": verdict.allowed,
                    "why": verdict.why,
                }
                for mode, verdict in sorted(self.verdicts.items())
            },
            "ocsp_enabled": self.ocsp_enabled,
        }


class ProbeService:
    """Probes TLS endpoints (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        guard: TlsGuard,
        revocation: RevocationService,
        inventory: InventoryService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._guard = guard
        self._revocation = revocation
        self._inventory = inventory

    def fetch(
        self,
        host: str,
        port: int,
        *,
        starttls: StartTls | None = None,
        servername: str | None = None,
        timeout: float = 10.0,
    ) -> tuple[PeerChain, str]:
        """Connect, read what the server presents, close. Returns (peer, cipher).

        Raises:
            TlsError: the endpoint cannot be reached or the handshake fails.
        """
        with open_tls(
            host, port, servername=servername, starttls=starttls, timeout=timeout
        ) as conn:
            return conn.peer, conn.cipher

    def probe(
        self,
        host: str,
        port: int,
        *,
        starttls: StartTls | None = None,
        servername: str | None = None,
        timeout: float = 10.0,
    ) -> ProbeReport:
        """Fetch the chain, then judge it (live OCSP for every non-root certificate)."""
        peer, cipher = self.fetch(
            host, port, starttls=starttls, servername=servername, timeout=timeout
        )
        return self.judge(peer, cipher=cipher, starttls=starttls)

    def judge(
        self, peer: PeerChain, *, cipher: str = "", starttls: StartTls | None = None
    ) -> ProbeReport:
        now = self._clock.now()
        snapshot = self._guard.snapshot(now)
        chain = list(peer.certificates)
        entries: list[tuple[x509.Certificate, CertFacts, Role, x509.Certificate | None, str | None]]
        entries = []
        for position, cert in enumerate(chain):
            facts = facts_from_certificate(cert)
            role = facts.role(signed_by_self=facts.self_issued and signed_by(cert, cert))
            if role is Role.ROOT:
                entries.append((cert, facts, role, None, None))
                continue
            others = [c for i, c in enumerate(chain) if i != position]
            issuer, source = self._guard.locate_issuer(cert, others)
            entries.append((cert, facts, role, issuer, source))
        targets = [
            Target(cert, facts.sha256, facts.subject, issuer, facts.ocsp_uris)
            for cert, facts, role, issuer, _ in entries
            if role is not Role.ROOT
        ]
        live = iter(
            run_sync(
                lambda: self._revocation.evaluate(
                    targets,
                    settings=snapshot.revocation,
                    common_criteria=snapshot.common_criteria,
                    trusted_responders=snapshot.trusted_responders,
                    now=now,
                    use_cache=False,
                )
            )
            if targets
            else []
        )
        probed = tuple(
            ProbedCertificate(
                i, cert, facts, role, source, None if role is Role.ROOT else next(live)
            )
            for i, (cert, facts, role, _, source) in enumerate(entries)
        )
        leaf = probed[0]
        leaf_issuer = entries[0][3]
        stapled = (
            self._guard.judge_staple(peer, leaf_issuer, now=now, snapshot=snapshot)
            if leaf_issuer is not None
            else None
        )
        if stapled is None and peer.stapled_response:
            stapled = RevocationResult.could_not_tell(
                Reason.ISSUER_NOT_FOUND,
                "a response was stapled, but the leaf's issuer is unknown, so it cannot be checked",
            )
        status, source = self._leaf_status(leaf, stapled, now)
        verdicts = {mode: decide(status, common_criteria=mode) for mode in (True, False)}
        return ProbeReport(
            host=peer.host,
            port=peer.port,
            servername=peer.servername,
            starttls=starttls,
            protocol=peer.protocol,
            cipher=cipher,
            probed_at=now,
            chain=probed,
            stapling=peer.stapling,
            stapled=stapled,
            status=status,
            source=source,
            verdicts=verdicts,
            ocsp_enabled=snapshot.revocation.revocation_enabled,
        )

    @staticmethod
    def _leaf_status(
        leaf: ProbedCertificate, stapled: RevocationResult | None, now: datetime
    ) -> tuple[RevocationResult, StatusSource]:
        expired = expired_result(leaf.cert, now)
        if expired is not None:
            return expired, StatusSource.EXPIRED
        live = leaf.ocsp
        # The staple (OCSP) first, unless a CRL asked first (crl-first) told.
        crl_told = live is not None and live.source is Source.CRL and live.validated
        if stapled is not None and stapled.validated and not crl_told:
            return stapled, StatusSource.STAPLED
        if live is None:  # a self-signed leaf: nobody to ask
            return (
                RevocationResult.could_not_tell(
                    Reason.ISSUER_NOT_FOUND,
                    "the server certificate is self-signed: no issuer to ask about it",
                ),
                StatusSource.NONE,
            )
        source = (
            StatusSource.NONE
            if live.status is CertStatus.COULD_NOT_TELL
            and live.reason in (Reason.ISSUER_NOT_FOUND, Reason.NO_RESPONDER_URL)
            else StatusSource.CRL
            if live.source is Source.CRL
            else StatusSource.RESPONDER
        )
        return live, source

    def import_chain(self, report: ProbeReport, *, store: str) -> ImportReport:
        """Add the probed chain to ``store``; record the probe's OCSP answers as checks."""
        prepared = self._inventory.prepare_bytes(
            [(f"probe {report.where}", report.pem())], store=store, how="probe"
        )
        imported = self._inventory.commit(prepared)
        ids = [i.id for i in (*imported.imported, *imported.duplicates) if i.id]
        if ids and report.ocsp_enabled:
            self._revocation.check(ids, trigger=Trigger.UPLOAD, use_cache=True)
        return imported
