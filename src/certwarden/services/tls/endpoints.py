"""TLS endpoints as a source of certificates.

    app.endpoints.add("mail.example.net:25", starttls="smtp")
    app.endpoints.probe_all(now)     # each monitor run (MonitorService's before-run hook)

Each monitored endpoint is probed on every Certificate Expiry Monitor run,
just before the run looks for due certificates. The chain it serves joins the
inventory in the store ``endpoints`` (created on demand), its leaf tagged with
the endpoint, so it gets expiry notices and revocation checks like any other
certificate. What an outage must not do:

* an endpoint that cannot be reached keeps its last known certificate and
  data (``leaf_sha256``, ``last_seen_at``, the stored rows) — only
  ``last_probe_at``/``last_status``/``last_error`` say it was not reached, and
  one ``endpoint_unreachable`` alert marks the start of the outage;
* only a successful probe that finds a different leaf is a change: the old
  leaf leaves the ``endpoints`` store (unless another endpoint still serves it,
  or the endpoint takes turns serving it, as a load balancer whose backends
  differ: those stay, see :mod:`.changes`); the change is one damped info
  alert.

It must not judge certificates itself: the probe and the revocation checks do.
"""

from __future__ import annotations

import builtins
import concurrent.futures
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select, update

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, Endpoint, Store
from certwarden.clock import Clock, ensure_utc
from certwarden.core.cert_changes import ChangeSettings
from certwarden.core.ocsp.results import iso_z
from certwarden.core.tls import PeerChain, StartTls, format_where, parse_host_port
from certwarden.errors import CertwardenError, ConflictError, InputError, NotFoundError
from certwarden.services.inventory import InventoryService
from certwarden.services.revocation import RevocationService, Trigger
from certwarden.services.shared.alerts import AlertKind, Severity, record_alert
from certwarden.services.shared.lifecycle import clear_deleted, clear_subject
from certwarden.services.tls.changes import change_settings, record_change, save_change_settings
from certwarden.services.tls.probe import ProbeService

__all__ = ["ENDPOINT_STORE", "EndpointProbe", "EndpointRecord", "EndpointService"]

ENDPOINT_STORE = "endpoints"
OK = "ok"
UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class EndpointRecord:
    id: int
    host: str
    port: int
    starttls: str | None
    servername: str | None
    created_at: datetime
    last_probe_at: datetime | None
    last_status: str | None
    last_error: str | None
    last_seen_at: datetime | None
    leaf_sha256: str | None
    leaf_subject: str | None
    leaf_not_after: datetime | None
    certificate_id: int | None
    revocation_status: str | None

    @property
    def where(self) -> str:
        return format_where(self.host, self.port)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.where,
            "host": self.host,
            "port": self.port,
            "starttls": self.starttls,
            "servername": self.servername,
            "created_at": iso_z(self.created_at),
            "last_probe_at": iso_z(self.last_probe_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "last_seen_at": iso_z(self.last_seen_at),
            "certificate": {
                "id": self.certificate_id,
                "sha256": self.leaf_sha256,
                "subject": self.leaf_subject,
                "not_after": iso_z(self.leaf_not_after),
                "revocation_status": self.revocation_status,
            }
            if self.leaf_sha256
            else None,
        }


@dataclass(frozen=True)
class EndpointProbe:
    """The outcome of probing one endpoint."""

    endpoint: str
    ok: bool
    error: str | None = None
    leaf_sha256: str | None = None
    renewed_from: str | None = None
    imported: int = 0
    change: str | None = None  # the change event recorded (core/cert_changes.ChangeKind)

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "ok": self.ok,
            "error": self.error,
            "leaf_sha256": self.leaf_sha256,
            "renewed_from": self.renewed_from,
            "imported": self.imported,
            "change": self.change,
        }


def _starttls(value: str | StartTls | None) -> StartTls | None:
    if value is None or value == "":
        return None
    try:
        return StartTls(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in StartTls)
        raise InputError(f"--starttls {value!r}: use one of {choices}") from None


class EndpointService:
    """Monitored TLS endpoints (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        probe: ProbeService,
        inventory: InventoryService,
        revocation: RevocationService,
        *,
        timeout: float = 10.0,
        workers: int = 8,
    ) -> None:
        self._db = db
        self._clock = clock
        self._probe = probe
        self._inventory = inventory
        self._revocation = revocation
        self._timeout = timeout
        self._workers = workers

    # ------------------------------------------------------------------ CRUD

    def add(
        self,
        target: str,
        *,
        starttls: str | StartTls | None = None,
        servername: str | None = None,
    ) -> EndpointRecord:
        host, port = parse_host_port(target)
        mode = _starttls(starttls)
        name = (servername or "").strip() or None
        if name is not None:
            parse_host_port(name, default_port=1)  # a host name or address
        with self._db.session() as s:
            if s.scalar(select(Endpoint.id).where(Endpoint.host == host, Endpoint.port == port)):
                raise ConflictError(f"endpoint {format_where(host, port)} is already monitored")
            row = Endpoint(
                host=host,
                port=port,
                starttls=mode.value if mode else None,
                servername=name,
                created_at=self._clock.now(),
            )
            s.add(row)
            s.flush()
            endpoint_id = row.id
        return self.get(endpoint_id)

    def _find(self, s: Any, target: str | int) -> Endpoint:
        if isinstance(target, int) or str(target).isdigit():
            row = s.get(Endpoint, int(target))
        else:
            host, port = parse_host_port(str(target))
            row = s.scalar(select(Endpoint).where(Endpoint.host == host, Endpoint.port == port))
        if row is None:
            raise NotFoundError(f"no monitored endpoint {target} (certwarden endpoints list)")
        return row  # type: ignore[no-any-return]

    def get(self, target: str | int) -> EndpointRecord:
        with self._db.session() as s:
            return self._record(s, self._find(s, target))

    def list(self) -> list[EndpointRecord]:
        with self._db.session() as s:
            rows = s.scalars(select(Endpoint).order_by(Endpoint.host, Endpoint.port))
            return [self._record(s, r) for r in rows]

    def _record(self, s: Any, row: Endpoint) -> EndpointRecord:
        cert = None
        if row.leaf_sha256:
            cert = s.execute(
                select(
                    CertificateRow.id,
                    CertificateRow.subject,
                    CertificateRow.not_after,
                    CertificateRow.revocation_status,
                )
                .join(Store, Store.id == CertificateRow.store_id)
                .where(Store.name == ENDPOINT_STORE, CertificateRow.sha256 == row.leaf_sha256)
            ).first()
        return EndpointRecord(
            id=row.id,
            host=row.host,
            port=row.port,
            starttls=row.starttls,
            servername=row.servername,
            created_at=ensure_utc(row.created_at),
            last_probe_at=ensure_utc(row.last_probe_at) if row.last_probe_at else None,
            last_status=row.last_status,
            last_error=row.last_error,
            last_seen_at=ensure_utc(row.last_seen_at) if row.last_seen_at else None,
            leaf_sha256=row.leaf_sha256,
            leaf_subject=cert.subject if cert else None,
            leaf_not_after=ensure_utc(cert.not_after) if cert else None,
            certificate_id=cert.id if cert else None,
            revocation_status=cert.revocation_status if cert else None,
        )

    def remove(self, target: str | int) -> int:
        """Stop monitoring; its leaves leave the ``endpoints`` store unless another
        endpoint serves them. Returns the number of certificates removed."""
        with self._db.session() as s:
            row = self._find(s, target)
            removed = 0
            now = self._clock.now()
            for sha256 in sorted(self._tagged(s, row.id, row.leaf_sha256)):
                if not self._served_elsewhere(s, row.id, sha256):
                    removed += self._delete_leaf(s, sha256, now)
            clear_subject(
                s, "endpoint_unreachable", f"endpoint:{format_where(row.host, row.port)}",
                now=now, why="the endpoint is no longer monitored",
            )  # fmt: skip
            s.delete(row)
            return removed

    @staticmethod
    def _tagged(s: Any, endpoint_id: int, leaf: str | None) -> set[str]:
        """The leaves in the ``endpoints`` store this endpoint served (``leaf`` too)."""
        found = set(
            s.scalars(
                select(CertificateRow.sha256)
                .join(Store, Store.id == CertificateRow.store_id)
                .where(Store.name == ENDPOINT_STORE, CertificateRow.endpoint_id == endpoint_id)
            )
        )
        return found | ({leaf} if leaf else set())

    @staticmethod
    def _served_elsewhere(s: Any, endpoint_id: int, sha256: str) -> bool:
        other = s.scalar(
            select(Endpoint.id).where(Endpoint.id != endpoint_id, Endpoint.leaf_sha256 == sha256)
        )
        return other is not None

    @staticmethod
    def _delete_leaf(s: Any, sha256: str, now: datetime) -> int:
        store_id = s.scalar(select(Store.id).where(Store.name == ENDPOINT_STORE))
        if store_id is None:
            return 0
        clear_deleted(
            s, CertificateRow.store_id == store_id, CertificateRow.sha256 == sha256, now=now
        )
        result = s.execute(
            delete(CertificateRow).where(
                CertificateRow.store_id == store_id, CertificateRow.sha256 == sha256
            )
        )
        return int(result.rowcount or 0)

    def change_settings(self) -> ChangeSettings:
        """How change events are damped (section ``endpoint_changes``)."""
        with self._db.session() as s:
            return change_settings(s)

    def update_change_settings(self, values: Mapping[str, Any]) -> ChangeSettings:
        """Raises InvalidFieldsError naming each bad field; nothing is saved then."""
        with self._db.session() as s:
            return save_change_settings(s, values, self._clock.now())

    # ---------------------------------------------------------------- probing

    def probe_all(self, now: datetime | None = None) -> builtins.list[EndpointProbe]:
        """Probe every endpoint (in parallel) and record what each served."""
        now = now or self._clock.now()
        with self._db.session() as s:
            targets = [
                (r.id, r.host, r.port, r.starttls, r.servername)
                for r in s.scalars(select(Endpoint).order_by(Endpoint.id))
            ]
        if not targets:
            return []
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=min(self._workers, len(targets)), thread_name_prefix="certwarden-probe"
        ) as pool:
            fetched = list(pool.map(self._fetch, targets))
        return [
            self._record_probe(endpoint_id, outcome, now)
            for (endpoint_id, *_), outcome in zip(targets, fetched, strict=True)
        ]

    def probe_one(self, target: str | int, now: datetime | None = None) -> EndpointProbe:
        now = now or self._clock.now()
        record = self.get(target)
        outcome = self._fetch(
            (record.id, record.host, record.port, record.starttls, record.servername)
        )
        return self._record_probe(record.id, outcome, now)

    def _fetch(self, target: tuple[int, str, int, str | None, str | None]) -> PeerChain | str:
        _id, host, port, starttls, servername = target
        try:
            peer, _cipher = self._probe.fetch(
                host,
                port,
                starttls=_starttls(starttls),
                servername=servername,
                timeout=self._timeout,
            )
        except CertwardenError as exc:
            return exc.diagnostics()
        return peer

    def _record_probe(
        self, endpoint_id: int, outcome: PeerChain | str, now: datetime
    ) -> EndpointProbe:
        if isinstance(outcome, str):
            return self._unreachable(endpoint_id, outcome, now)
        return self._seen(endpoint_id, outcome, now)

    def _unreachable(self, endpoint_id: int, error: str, now: datetime) -> EndpointProbe:
        with self._db.session() as s:
            row = s.get_one(Endpoint, endpoint_id)
            where = format_where(row.host, row.port)
            first = row.last_status != UNREACHABLE
            # Only the probe fields change: the certificate and when it was
            # last seen stay as they were (an outage is not a renewal).
            row.last_probe_at, row.last_status, row.last_error = now, UNREACHABLE, error
            if first:
                since = iso_z(ensure_utc(row.last_seen_at)) if row.last_seen_at else "never"
                record_alert(
                    s,
                    now=now,
                    kind=AlertKind.ENDPOINT_UNREACHABLE,
                    severity=Severity.WARNING,
                    message=(
                        f"endpoint {where} cannot be reached: {error}; its last known "
                        f"certificate is kept (last reached: {since})"
                    ),
                    sha256=row.leaf_sha256,
                    store=ENDPOINT_STORE,
                    dedupe_key=f"endpoint-unreachable:{endpoint_id}:{now.isoformat()}",
                    details={"endpoint": where, "error": error},
                )
        return EndpointProbe(where, False, error=error)

    def _seen(self, endpoint_id: int, peer: PeerChain, now: datetime) -> EndpointProbe:
        self._inventory.ensure_store(
            ENDPOINT_STORE, "certificates served by monitored TLS endpoints"
        )
        prepared = self._inventory.prepare_bytes(
            [(f"endpoint {peer.where}", _pem(peer))], store=ENDPOINT_STORE, how="endpoint"
        )
        report = self._inventory.commit(prepared)
        leaf = peer.leaf_sha256
        renewed_from: str | None = None
        with self._db.session() as s:
            row = s.get_one(Endpoint, endpoint_id)
            where = format_where(row.host, row.port)
            previous, was = row.leaf_sha256, row.last_status
            store_id = s.scalar(select(Store.id).where(Store.name == ENDPOINT_STORE))
            s.execute(
                update(CertificateRow)
                .where(CertificateRow.store_id == store_id, CertificateRow.sha256 == leaf)
                .values(endpoint_id=endpoint_id)
            )
            # Renewed, issuer changed, key reused, rolled back: one damped info alert.
            event, serving = record_change(s, row, peer.leaf, now=now, store=ENDPOINT_STORE)
            # Its leaves no longer served (nor taking turns lately) leave the store.
            for gone in sorted(self._tagged(s, endpoint_id, previous) - serving):
                if not self._served_elsewhere(s, endpoint_id, gone):
                    self._delete_leaf(s, gone, now)
            if previous and previous != leaf:
                renewed_from = previous
            elif was == UNREACHABLE:
                record_alert(
                    s,
                    now=now,
                    kind=AlertKind.STATUS_CHANGED,
                    severity=Severity.INFO,
                    message=f"endpoint {where} can be reached again (same certificate)",
                    sha256=leaf,
                    subject=peer.leaf_subject,
                    store=ENDPOINT_STORE,
                    details={"endpoint": where},
                )
            clear_subject(
                s, "endpoint_unreachable", f"endpoint:{where}", now=now,
                why="the endpoint answers again",
            )  # fmt: skip
            row.leaf_sha256 = leaf
            row.last_probe_at = row.last_seen_at = now
            row.last_status, row.last_error = OK, None
        new_ids = [i.id for i in report.imported if i.id]
        if new_ids and self._revocation.settings().revocation_enabled:
            # Like an upload: what arrives is checked (recorded, never refused).
            self._revocation.check(new_ids, trigger=Trigger.UPLOAD, use_cache=True)
        return EndpointProbe(
            where,
            True,
            leaf_sha256=leaf,
            renewed_from=renewed_from,
            imported=len(new_ids),
            change=event.kind.value if event else None,
        )


def _pem(peer: PeerChain) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in peer.certificates)
