"""Every change an administrator makes, from any interface, with its audit entry.

    changes = Changes(app)                       # the composition root's services
    changes.delete_store(Actor.cli(), "partners", force=True)
    changes.save_revocation_settings("alice", {"nonce": "require"})

The web pages, the REST API and the CLI all call these, so a change is
audited the same way whichever interface made it: the web layer names the
signed-in user (or API token), the CLI :meth:`Actor.cli` (``cli`` and the
operating-system user). Each method makes the change through its service,
then records the entry; a change that fails raises and records nothing.

Nothing here decides who may make a change, and nothing is changed here that
the services do not do themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from certwarden.clock import Clock
from certwarden.core.tls import StartTls
from certwarden.errors import InputError
from certwarden.services.accounts import Actor, AuditLog
from certwarden.services.inventory import (
    CertificateRecord,
    ImportReport,
    InventoryService,
    PreparedImport,
    StoreInfo,
)
from certwarden.services.shared.lifecycle import ConditionRecord, acknowledge

if TYPE_CHECKING:
    from certwarden.adapters.db import Database
    from certwarden.core.expiry import NextRun
    from certwarden.services.monitor import MonitorService, RunReport
    from certwarden.services.revocation import CheckReport, RevocationService, UploadCheck
    from certwarden.services.shared.outbox import OutboxService
    from certwarden.services.tls.endpoints import EndpointRecord, EndpointService
    from certwarden.services.tls.syslog import SyslogForwarder

__all__ = ["MONITOR_ACTIONS", "ChangeServices", "Changes"]

MONITOR_ACTIONS = ("start", "stop", "restart", "run-now")

# An import of tens of thousands of LSCs is one entry: it names the first
# fingerprints and counts the rest.
_LISTED = 100

Who = Actor | str


class ChangeServices(Protocol):
    """The services changes go through (the composition root's ``App`` is one)."""

    @property
    def db(self) -> Database: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def inventory(self) -> InventoryService: ...
    @property
    def upload(self) -> UploadCheck: ...
    @property
    def monitor(self) -> MonitorService: ...
    @property
    def revocation(self) -> RevocationService: ...
    @property
    def outbox(self) -> OutboxService: ...
    @property
    def endpoints(self) -> EndpointService: ...
    @property
    def syslog(self) -> SyslogForwarder: ...


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    return {k: after[k] for k in after if before.get(k) != after[k]}


class Changes:
    """Audited changes (see the module docstring). Services are used lazily."""

    def __init__(self, services: ChangeServices) -> None:
        self._s = services
        self._audit = AuditLog(services.db, services.clock)

    def record(
        self, who: Who, action: str, target: str = "", details: Mapping[str, Any] | None = None
    ) -> None:
        """An entry for a change made elsewhere (users and tokens: the accounts service)."""
        self._audit.record_as(who, action, target, details)

    # -------------------------------------------------------------- inventory

    def commit_import(
        self, who: Who, prepared: PreparedImport, *, force: bool = False
    ) -> ImportReport:
        """Store a prepared import through the upload check; ``certificate.<how>``."""
        report = self._s.upload.commit_checked(prepared, force=force)
        imported = [i.sha256 for i in report.imported]
        sources = sorted(
            {item.source for item in prepared.items} | {r.source for r in report.rejected}
        )
        self._audit.record_as(
            who,
            "certificate.upload" if prepared.how == "upload" else "certificate.import",
            prepared.store,
            {
                "how": prepared.how,
                "files": sources[:_LISTED],
                "file_count": prepared.files,
                "imported": imported[:_LISTED],
                "imported_count": len(imported),
                "duplicates": len(report.duplicates),
                "rejected": len(report.rejected),
                "lsc": prepared.lsc,
                "force": force,
            },
        )
        return report

    def delete_certificate(self, who: Who, ref: str | int) -> CertificateRecord:
        record = self._s.inventory.delete(ref)
        self._audit.record_as(
            who,
            "certificate.delete",
            f"#{record.id}",
            {"subject": record.subject, "store": record.store, "sha256": record.sha256},
        )
        return record

    def create_store(self, who: Who, name: str, description: str = "") -> StoreInfo:
        info = self._s.inventory.create_store(name, description)
        self._audit.record_as(who, "store.create", name, {"description": description})
        return info

    def delete_store(self, who: Who, name: str, *, force: bool = False) -> int:
        removed = self._s.inventory.delete_store(name, force=force)
        self._audit.record_as(who, "store.delete", name, {"certificates_removed": removed})
        return removed

    def empty_store(self, who: Who, name: str) -> int:
        removed = self._s.inventory.empty_store(name)
        self._audit.record_as(who, "store.empty", name, {"certificates_removed": removed})
        return removed

    def check_certificates(
        self, who: Who, refs: Sequence[str | int] = (), *, all_monitored: bool = False
    ) -> CheckReport:
        report = self._s.revocation.check(list(refs), all_monitored=all_monitored)
        if all_monitored:
            self._audit.record_as(who, "revocation.check_all", "", report.counts())
        else:
            target = ", ".join(str(r) for r in refs)
            self._audit.record_as(who, "revocation.check", target, report.counts())
        return report

    # --------------------------------------------------------------- settings

    def save_monitor_settings(self, who: Who, values: Mapping[str, Any]) -> dict[str, Any]:
        before = self._s.monitor.settings().to_json()
        after = self._s.monitor.update_settings(values).to_json()
        self._audit.record_as(who, "settings.monitor", "monitor", _changed(before, after))
        return after

    def set_store_threshold(self, who: Who, store: str, share: float | None) -> dict[str, Any]:
        """A store's lifetime-share threshold (None clears it); ``store.threshold``."""
        done = self._s.monitor.set_store_threshold(store, share).to_json()
        self._audit.record_as(who, "store.threshold", store, done)
        return done

    def set_certificate_threshold(
        self, who: Who, ref: str | int, share: float | None
    ) -> dict[str, Any]:
        """One certificate's lifetime-share override (None clears it); ``certificate.threshold``."""
        done = self._s.monitor.set_certificate_threshold(ref, share).to_json()
        self._audit.record_as(who, "certificate.threshold", done["target"], done)
        return done

    def save_revocation_settings(self, who: Who, values: Mapping[str, Any]) -> dict[str, Any]:
        before = self._s.revocation.settings().to_dict()
        after = self._s.revocation.update_settings(values).to_dict()
        self._audit.record_as(who, "settings.revocation", "revocation", _changed(before, after))
        return after

    def save_params(self, who: Who, values: Mapping[str, Any]) -> dict[str, Any]:
        before = self._s.revocation.params().to_dict()
        after = self._s.revocation.update_params(values).to_dict()
        self._audit.record_as(who, "settings.params", "params", _changed(before, after))
        return after

    def set_common_criteria(self, who: Who, on: bool) -> dict[str, Any]:
        before = self._s.revocation.security().to_dict()
        after = self._s.revocation.set_common_criteria(on).to_dict()
        self._audit.record_as(who, "settings.security", "security", _changed(before, after))
        return after

    def save_smtp_settings(self, who: Who, values: Mapping[str, Any]) -> dict[str, Any]:
        before = self._s.outbox.stored_smtp_settings().to_json()
        after = self._s.outbox.update_smtp_settings(values).to_json()
        self._audit.record_as(who, "settings.smtp", "smtp", _changed(before, after))
        return after

    def save_syslog_settings(self, who: Who, values: Mapping[str, Any]) -> dict[str, Any]:
        before = self._s.syslog.settings().to_json()
        after = self._s.syslog.update_settings(values).to_json()
        self._audit.record_as(who, "settings.syslog", "syslog", _changed(before, after))
        return after

    def save_endpoint_change_settings(self, who: Who, values: Mapping[str, Any]) -> dict[str, Any]:
        """How endpoint change events are damped; ``settings.endpoint_changes``."""
        before = self._s.endpoints.change_settings().to_json()
        after = self._s.endpoints.update_change_settings(values).to_json()
        self._audit.record_as(
            who, "settings.endpoint_changes", "endpoint_changes", _changed(before, after)
        )
        return after

    # ---------------------------------------------------------------- monitor

    def start_monitor(self, who: Who) -> bool:
        """Start the Certificate Expiry Monitor; False when it was running already."""
        done = self._s.monitor.start()
        self._monitor_entry(who, "start", {"changed": done})
        return done

    def stop_monitor(self, who: Who) -> bool:
        """Stop the Certificate Expiry Monitor; False when it was stopped already."""
        done = self._s.monitor.stop()
        self._monitor_entry(who, "stop", {"changed": done})
        return done

    def restart_monitor(self, who: Who) -> NextRun:
        nxt = self._s.monitor.restart()
        self._monitor_entry(who, "restart", {})
        return nxt

    def run_monitor_now(self, who: Who) -> RunReport:
        report = self._s.monitor.run_now()
        self._monitor_entry(
            who, "run-now", {"notices": len(report.notices), "digest_queued": report.digest_queued}
        )
        return report

    def _monitor_entry(self, who: Who, action: str, details: dict[str, Any]) -> None:
        from certwarden.services.monitor import SERVICE_NAME  # loaded when used

        self._audit.record_as(who, f"monitor.{action}", SERVICE_NAME, details)

    def monitor_action(self, who: Who, action: str) -> str:
        """One of :data:`MONITOR_ACTIONS`; what happened, as a sentence."""
        if action == "start":
            return (
                "Certificate Expiry Monitor started."
                if self.start_monitor(who)
                else "The Certificate Expiry Monitor was already running."
            )
        if action == "stop":
            return (
                "Certificate Expiry Monitor stopped."
                if self.stop_monitor(who)
                else "The Certificate Expiry Monitor was already stopped."
            )
        if action == "restart":
            nxt = self.restart_monitor(who)
            return f"Certificate Expiry Monitor restarted; next run {nxt.at:%Y-%m-%d %H:%M} UTC."
        if action == "run-now":
            report = self.run_monitor_now(who)
            return (
                f"Run finished: {len(report.notices)} certificate(s) notified"
                + (", e-mail digest queued" if report.digest_queued else "")
                + "."
            )
        raise InputError(f"{action!r} is not an action; use {', '.join(MONITOR_ACTIONS)}")

    # -------------------------------------------------------------- endpoints

    def add_endpoint(
        self,
        who: Who,
        target: str,
        *,
        starttls: str | StartTls | None = None,
        servername: str | None = None,
    ) -> EndpointRecord:
        record = self._s.endpoints.add(target, starttls=starttls, servername=servername)
        self._audit.record_as(
            who,
            "endpoint.add",
            record.where,
            {"starttls": record.starttls, "servername": record.servername},
        )
        return record

    def remove_endpoint(self, who: Who, target: str | int) -> int:
        removed = self._s.endpoints.remove(target)
        self._audit.record_as(
            who, "endpoint.remove", str(target), {"certificates_removed": removed}
        )
        return removed

    # -------------------------------------------------------------- alerts

    def acknowledge_alert(self, who: Who, alert_id: int, note: str | None) -> ConditionRecord:
        """Acknowledge alert ``alert_id`` (``alert.acknowledge``); the change and its
        audit entry are one transaction. Raises as :func:`lifecycle.acknowledge`."""
        actor = Actor.of(who)
        by = actor.name
        if actor.context.get("os_user"):
            by = f"{actor.name} ({actor.context['os_user']})"
        with self._s.db.session() as s:
            record = acknowledge(s, alert_id, by=by, note=note, now=self._s.clock.now())
            self._audit.record_in(
                s,
                actor.name,
                "alert.acknowledge",
                f"#{alert_id}",
                {
                    "kind": record.kind,
                    "severity": record.severity,
                    "sha256": record.sha256,
                    "note": record.ack_note,
                    **actor.context,
                },
            )
        return record
