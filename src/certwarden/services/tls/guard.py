"""Real-time revocation for TLS connections: the client-side verification API.

    guard = app.tls
    sock = context.wrap_socket(socket.create_connection((host, 443)), server_hostname=host)
    guard.check_socket(sock, purpose="my-client")        # raises ConnectionRefusedByPolicy
    await guard.acheck_stream(writer, purpose="my-client")   # asyncio streams
    conn, check = guard.connect(host, 6514, anchors=cas, purpose="syslog")  # pyOpenSSL, stapling

After a handshake, the guard takes the peer's leaf and the chain it sent,
finds the leaf's issuer (in that chain, else among the inventory's CA
certificates: :class:`certwarden.services.revocation.StoredIssuers`, the same
lookup the scheduled and upload checks use), and obtains the status from, in
order:

1. the server's stapled OCSP response, when it sent one and it validates
   (:mod:`.staple`: the same RFC 6960 steps as any response);
2. the OCSP cache (a still-fresh validated answer, :class:`ResponseCache`);
3. a live query to the responder (configured URI or the leaf's AIA).

:func:`certwarden.core.policy.decide` turns the status into allow / deny:
revoked (and an expired leaf) always refuses; unknown and could-not-tell
refuse in Common Criteria mode only. A refusal records a
``connection_refused`` alert and raises
:class:`~certwarden.errors.ConnectionRefusedByPolicy` naming the
certificate, the status and the reason. A peer refused once is asked about
afresh (no staple, no cache) on every later connection until its status
allows it again, so a reconnection is refused while the status stays so; on
every instance of the database (:mod:`.refused_peers`, within a second).

Cost: a settings snapshot is kept for ``settings_ttl`` of the app clock
(default 2 s) and issuers found in a chain are memoised, so a check answered
from a staple or the cache costs no database round trip
(``bench/tls_check.py``) but the shared counters' read, at most once a second.

It must not judge a response itself (the core does), open sockets other than
through :mod:`certwarden.adapters.tls`, or store anything but refusal alerts
and the refused-peer set.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certwarden.adapters.db import Database
from certwarden.adapters.smtp import SmtpDeliveryError
from certwarden.adapters.tls import (
    TlsConnection,
    open_tls,
    peer_from_ders,
    peer_from_ssl_object,
    peer_from_ssl_socket,
)
from certwarden.clock import Clock
from certwarden.core.certs import facts_from_certificate, find_issuer
from certwarden.core.extensions import (
    CERTIFICATE_UNDERSTOOD,
    TLS_CA_UNDERSTOOD,
    relies_on_unsupported,
    unsupported_critical_problem,
)
from certwarden.core.ocsp import (
    CertId,
    Reason,
    RevocationResult,
    cert_id_for,
    expired_result,
)
from certwarden.core.ocsp.results import Source
from certwarden.core.policy import Decision, Verdict, decide
from certwarden.core.tls import (
    ConnectionCheck,
    PeerChain,
    StartTls,
    StatusSource,
    verify_server_chain,
)
from certwarden.errors import TlsError
from certwarden.services.revocation import RevocationService, StoredIssuers, Target
from certwarden.services.shared.sync_bridge import run_sync
from certwarden.services.tls.refusal import accepted, refuse
from certwarden.services.tls.refused_peers import RefusedPeers
from certwarden.services.tls.snapshot import Snapshot, read_snapshot
from certwarden.services.tls.staple import judge_staple

__all__ = ["Snapshot", "TlsGuard"]

_MEMO_SIZE = 4096


@dataclass
class _Plan:
    """A check worked out as far as it goes without the network."""

    peer: PeerChain
    now: datetime
    snapshot: Snapshot
    sha256: str
    issuer: x509.Certificate | None = None
    issuer_source: str | None = None
    stapled: RevocationResult | None = None
    result: RevocationResult | None = None
    source: StatusSource | None = None
    verdict: Verdict | None = None
    target: Target | None = None
    cert_id: CertId | None = None


def _chain_refusal(peer: PeerChain) -> tuple[RevocationResult, StatusSource] | None:
    """A certificate of the peer's chain with a critical extension certwarden does not process.

    RFC 5280 4.2: such a certificate must be rejected, so the connection is
    refused in both modes (a status check could not make it acceptable).
    """
    for position, cert in enumerate(peer.certificates):
        understood = CERTIFICATE_UNDERSTOOD if position == 0 else TLS_CA_UNDERSTOOD
        if not relies_on_unsupported(cert, understood):
            continue
        what = (
            f"the server certificate {cert.subject.rfc4514_string()}"
            if position == 0
            else f"the chain certificate #{position + 1} {cert.subject.rfc4514_string()}"
        )
        problem = unsupported_critical_problem(cert, what, understood)
        if problem is not None:
            result = RevocationResult.could_not_tell(
                Reason.UNSUPPORTED_CRITICAL_EXTENSION, f"{peer.where}: {problem}"
            )
            return result, StatusSource.NONE
    return None


class TlsGuard:
    """Judges TLS peers by their revocation status (see the module docstring).

    Args:
        db, clock: as every service.
        revocation: the OCSP engine (its cache and transport are shared).
        settings_ttl: how long (app clock) a settings snapshot is reused.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        revocation: RevocationService,
        *,
        settings_ttl: timedelta = timedelta(seconds=2),
    ) -> None:
        self._db = db
        self._clock = clock
        self._revocation = revocation
        self._ttl = settings_ttl
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        # Shared by the instances (table tls_refused_peers, read at most once a second).
        self._blocked = RefusedPeers(db)
        # (leaf fingerprint, candidate fingerprints) -> issuer, for chains seen before.
        self._issuers: OrderedDict[tuple[bytes, tuple[bytes, ...]], x509.Certificate] = (
            OrderedDict()
        )

    # ------------------------------------------------------------- settings

    def snapshot(self, now: datetime | None = None) -> Snapshot:
        """The settings in force (re-read once ``settings_ttl`` has passed)."""
        now = now or self._clock.now()
        current = self._snapshot
        if current is not None and timedelta(0) <= now - current.loaded_at < self._ttl:
            return current
        with self._db.session() as s:
            fresh = read_snapshot(s, now)
        self._snapshot = fresh
        return fresh

    def reload(self) -> None:
        """Forget the settings snapshot: the next check reads the settings again."""
        self._snapshot = None

    # ------------------------------------------------------------ blocking

    def blocked(self) -> dict[str, RevocationResult]:
        """Leaf SHA-256 -> the result that refused it, for peers refused until their
        status allows (on any instance of the database)."""
        return self._blocked.all(self._clock.now())

    def block(self, sha256: str, result: RevocationResult, now: datetime | None = None) -> None:
        self._blocked.refuse(sha256, result, now or self._clock.now())

    def _is_blocked(self, sha256: str, now: datetime) -> bool:
        return self._blocked.is_refused(sha256, now)

    def _unblock(self, sha256: str, now: datetime) -> None:
        self._blocked.release(sha256, now)

    # ------------------------------------------------------------- issuers

    def locate_issuer(
        self, cert: x509.Certificate, candidates: Sequence[x509.Certificate]
    ) -> tuple[x509.Certificate | None, str | None]:
        """``cert``'s issuer and where it was found (``"chain"``, ``"inventory"``).

        Among ``candidates`` first (memoised), else among the stored CAs; both
        through :func:`certwarden.core.certs.find_issuer`, the one rule (name,
        key identifier, then the signature).
        """
        key = (
            cert.fingerprint(hashes.SHA256()),
            tuple(c.fingerprint(hashes.SHA256()) for c in candidates),
        )
        with self._lock:
            known = self._issuers.get(key)
            if known is not None:
                self._issuers.move_to_end(key)
                return known, "chain"
        if candidates:
            facts = facts_from_certificate(cert)
            index = find_issuer(cert, facts, [(c, facts_from_certificate(c)) for c in candidates])
            if index is not None:
                with self._lock:
                    self._issuers[key] = candidates[index]
                    while len(self._issuers) > _MEMO_SIZE:
                        self._issuers.popitem(last=False)
                return candidates[index], "chain"
        stored = self._issuer_from_inventory(cert)
        return (stored, "inventory") if stored is not None else (None, None)

    def _issuer_from_inventory(self, cert: x509.Certificate) -> x509.Certificate | None:
        with self._db.session() as s:
            return StoredIssuers(s).find(cert, facts_from_certificate(cert))

    # ------------------------------------------------------------- staples

    def judge_staple(
        self,
        peer: PeerChain,
        issuer: x509.Certificate,
        *,
        now: datetime,
        snapshot: Snapshot | None = None,
    ) -> RevocationResult | None:
        """How the stapled response holds up (None when none was sent), judged
        with ``snapshot`` (default: the settings in force); see :func:`.staple.judge_staple`."""
        return judge_staple(peer, issuer, now=now, snapshot=snapshot or self.snapshot(now))

    # ------------------------------------------------------------ checking

    def _plan(
        self,
        peer: PeerChain,
        *,
        recheck: bool,
        now: datetime | None,
        extra_issuers: Sequence[x509.Certificate],
    ) -> _Plan:
        now = now or self._clock.now()
        snapshot = self.snapshot(now)
        plan = _Plan(peer, now, snapshot, peer.leaf_sha256)
        leaf = peer.leaf
        expired = expired_result(leaf, now)
        if expired is not None:
            plan.result, plan.source = expired, StatusSource.EXPIRED
            return plan
        if (refusal := _chain_refusal(peer)) is not None:
            plan.result, plan.source = refusal
            plan.verdict = Verdict(
                Decision.DENY,
                f"refused: {refusal[0].detail} (whatever the revocation status; RFC 5280 4.2)",
            )
            return plan
        settings = snapshot.revocation
        if not settings.revocation_enabled:
            plan.result = RevocationResult.could_not_tell(
                Reason.OCSP_DISABLED,
                "OCSP is disabled (Security > Certificate Revocation), and CRLs too: "
                "the status was not checked",
            )
            plan.source = StatusSource.NOT_CHECKED
            plan.verdict = Verdict(
                Decision.WARN,
                "allowed with a warning: revocation is not checked while OCSP is disabled",
            )
            return plan
        plan.issuer, plan.issuer_source = self.locate_issuer(
            leaf, [*peer.certificates[1:], *extra_issuers]
        )
        if plan.issuer is None:
            plan.result = RevocationResult.could_not_tell(
                Reason.ISSUER_NOT_FOUND,
                f"the issuer of {peer.leaf_subject} was neither sent by {peer.where} nor "
                "found in the inventory (upload the issuing CA certificate)",
            )
            plan.source = StatusSource.NONE
            return plan
        plan.stapled = self.judge_staple(peer, plan.issuer, now=now, snapshot=snapshot)
        recheck = recheck or self._is_blocked(plan.sha256, now)
        cert_id = plan.cert_id = cert_id_for(leaf, plan.issuer, settings.hash_algorithm)
        # A staple and the OCSP cache answer first only when OCSP comes first;
        # with crl-first or crl-only the engine asks in the order chosen.
        if not recheck and settings.sources[:1] == ("ocsp",):
            if plan.stapled is not None and plan.stapled.validated:
                plan.result, plan.source = plan.stapled, StatusSource.STAPLED
                self._revocation.cache.put(cert_id, plan.stapled, now, options=snapshot.options)
                return plan
            # A TRP-signed answer is dropped once its signer is no longer trusted.
            cached = self._revocation.cache.get(
                cert_id,
                now,
                trusted_responders=snapshot.trusted_responders,
                options=snapshot.options,
            )
            if cached is not None:
                plan.result, plan.source = cached, StatusSource.CACHE
                return plan
        facts = facts_from_certificate(leaf)
        plan.target = Target(leaf, plan.sha256, facts.subject, plan.issuer, facts.ocsp_uris)
        return plan

    async def _ask(self, plan: _Plan) -> None:
        if plan.target is None:
            return
        snapshot = plan.snapshot
        (result,) = await self._revocation.evaluate(
            [plan.target],
            settings=snapshot.revocation,
            common_criteria=snapshot.common_criteria,
            trusted_responders=snapshot.trusted_responders,
            now=plan.now,
            use_cache=False,
        )
        plan.result = result
        plan.source = (
            StatusSource.NONE
            if result.reason in (Reason.NO_RESPONDER_URL, Reason.ISSUER_NOT_FOUND)
            else StatusSource.CRL
            if result.source is Source.CRL
            else StatusSource.RESPONDER
        )
        if (
            not result.validated
            and plan.cert_id is not None
            and "ocsp" in snapshot.revocation.sources
        ):
            # A failed re-check proves nothing: a still-fresh validated answer
            # stands (RFC 5019 2.2; the cache keeps it over the failure).
            cached = self._revocation.cache.get(
                plan.cert_id,
                plan.now,
                trusted_responders=snapshot.trusted_responders,
                options=snapshot.options,
            )
            if cached is not None and cached.validated:
                plan.result, plan.source = cached, StatusSource.CACHE

    def _finish(self, plan: _Plan, purpose: str) -> ConnectionCheck:
        result, source = plan.result, plan.source
        if result is None or source is None:
            # Neither settled without the network nor asked: a bug, and never a pass.
            raise TlsError(plan.peer.where, "the revocation status was not obtained")
        snapshot = plan.snapshot
        verdict = plan.verdict or decide(result, common_criteria=snapshot.common_criteria)
        check = ConnectionCheck(
            where=plan.peer.where,
            purpose=purpose,
            subject=plan.peer.leaf_subject,
            sha256=plan.sha256,
            not_after=plan.peer.leaf.not_valid_after_utc,
            result=result,
            verdict=verdict,
            source=source,
            stapling=plan.peer.stapling,
            stapled_result=plan.stapled,
            issuer_source=plan.issuer_source,
            checked_at=plan.now,
            common_criteria=snapshot.common_criteria,
        )
        if check.refused:
            self.block(plan.sha256, result, plan.now)
        elif source in (
            StatusSource.RESPONDER,
            StatusSource.STAPLED,
            StatusSource.CACHE,
            StatusSource.CRL,
        ):
            self._unblock(plan.sha256, plan.now)
        return check

    def evaluate(
        self,
        peer: PeerChain,
        *,
        purpose: str = "tls",
        recheck: bool = False,
        now: datetime | None = None,
        extra_issuers: Sequence[x509.Certificate] = (),
    ) -> ConnectionCheck:
        """The decision about ``peer``, without alerts or exceptions.

        ``recheck`` asks the responder whatever the staple and the cache say
        (re-checks of long-lived connections). ``extra_issuers``: more
        candidates for the leaf's issuer (e.g. the trust anchors used).
        """
        plan = self._plan(peer, recheck=recheck, now=now, extra_issuers=extra_issuers)
        if plan.target is not None:
            run_sync(lambda: self._ask(plan))
        return self._finish(plan, purpose)

    async def aevaluate(
        self,
        peer: PeerChain,
        *,
        purpose: str = "tls",
        recheck: bool = False,
        now: datetime | None = None,
        extra_issuers: Sequence[x509.Certificate] = (),
    ) -> ConnectionCheck:
        """:meth:`evaluate` for async code."""
        plan = self._plan(peer, recheck=recheck, now=now, extra_issuers=extra_issuers)
        await self._ask(plan)
        return self._finish(plan, purpose)

    def check(
        self,
        peer: PeerChain,
        *,
        purpose: str,
        extra_issuers: Sequence[x509.Certificate] = (),
    ) -> ConnectionCheck:
        """Decide about ``peer``; on a refusal record an alert and raise.

        Raises:
            ConnectionRefusedByPolicy: the policy refuses the peer.
        """
        check = self.evaluate(peer, purpose=purpose, extra_issuers=extra_issuers)
        self._enforce(check)
        return check

    async def acheck(
        self,
        peer: PeerChain,
        *,
        purpose: str,
        extra_issuers: Sequence[x509.Certificate] = (),
    ) -> ConnectionCheck:
        """:meth:`check` for async code."""
        check = await self.aevaluate(peer, purpose=purpose, extra_issuers=extra_issuers)
        self._enforce(check)
        return check

    def check_socket(
        self,
        sock: ssl.SSLSocket,
        *,
        purpose: str,
        host: str | None = None,
        port: int | None = None,
    ) -> ConnectionCheck:
        """:meth:`check` on a connected :class:`ssl.SSLSocket` (after its handshake)."""
        return self.check(peer_from_ssl_socket(sock, host=host, port=port), purpose=purpose)

    async def acheck_stream(
        self,
        writer: asyncio.StreamWriter,
        *,
        purpose: str,
        host: str | None = None,
        port: int | None = None,
    ) -> ConnectionCheck:
        """:meth:`acheck` on an asyncio TLS stream (``asyncio.open_connection(..., ssl=ctx)``)."""
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None:
            raise TlsError(f"{host}:{port}", "the stream is not a TLS connection")
        if host is None or port is None:
            address = writer.get_extra_info("peername")
            host = host or str(address[0])
            port = port or int(address[1])
        return await self.acheck(peer_from_ssl_object(ssl_object, host, port), purpose=purpose)

    def _enforce(self, check: ConnectionCheck) -> None:
        if not check.refused:
            accepted(self._db, check)
            return
        refuse(self._db, check)

    # ------------------------------------------------------------ clients

    def connect(
        self,
        host: str,
        port: int,
        *,
        anchors: Sequence[x509.Certificate],
        purpose: str,
        servername: str | None = None,
        starttls: StartTls | None = None,
        timeout: float = 10.0,
    ) -> tuple[TlsConnection, ConnectionCheck]:
        """Open a verified TLS connection with a stapling request, then :meth:`check` it.

        The chain must lead to one of ``anchors`` and name ``servername`` (or
        ``host``) at the app clock's now; nothing is sent before both checks pass.

        Raises:
            TlsError: cannot connect, or the chain or name does not verify.
            ConnectionRefusedByPolicy: the revocation policy refuses the peer.
        """
        conn = open_tls(host, port, servername=servername, starttls=starttls, timeout=timeout)
        try:
            _, problem = verify_server_chain(
                conn.peer.certificates,
                anchors=anchors,
                name=servername or host,
                now=self._clock.now(),
            )
            if problem is not None:
                raise TlsError(conn.where, problem)
            check = self.check(conn.peer, purpose=purpose, extra_issuers=anchors)
        except BaseException:
            conn.close()
            raise
        return conn, check

    async def smtp_chain_check(self, *, host: str, port: int, chain_der: Sequence[bytes]) -> None:
        """The mail delivery seam (``SmtpTransport(server_chain_check=...)``)."""
        try:
            await self.acheck(peer_from_ders(host, port, chain_der), purpose="mail")
        except TlsError as exc:
            raise SmtpDeliveryError(exc.diagnostics(), server_level=True) from exc
