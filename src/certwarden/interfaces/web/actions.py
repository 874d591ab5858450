"""Actions the UI pages and the REST API share: each is one call into the
services plus its audit entry, so both interfaces do exactly the same thing.

Nothing here renders or answers HTTP; :mod:`.pages` and :mod:`.api` do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from certwarden.composition import App
from certwarden.errors import InputError, NotificationError
from certwarden.interfaces.web.security import Principal
from certwarden.services.inventory import CertificateRecord, ImportReport
from certwarden.services.monitor import SERVICE_NAME as MONITOR_SERVICE
from certwarden.services.revocation import CheckReport
from certwarden.services.shared.outbox import TestMailReport
from certwarden.services.tls import EndpointProbe, EndpointRecord

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MONITOR_ACTIONS",
    "add_endpoint",
    "check_certificates",
    "delete_certificate",
    "import_upload",
    "monitor_action",
    "probe_endpoints",
    "remove_endpoint",
    "save_common_criteria",
    "save_monitor_settings",
    "save_params",
    "save_revocation_settings",
    "save_smtp_settings",
    "save_syslog_settings",
    "send_test_mail",
    "split_addresses",
]

MONITOR_ACTIONS = ("start", "stop", "restart", "run-now")

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def import_upload(
    app: App,
    who: Principal,
    files: Sequence[tuple[str, bytes]],
    store: str,
    password: str | None,
    lsc: bool,
    force: bool,
) -> ImportReport:
    """Parse uploaded files, then store them through the upload check when there is one."""
    prepared = app.inventory.prepare_bytes(
        files,
        store=store,
        lsc=lsc,
        password=password.encode() if password else None,
        how="upload",
    )
    report = app.upload.commit_checked(prepared, force=force)
    app.users.audit(
        who.actor,
        "certificate.upload",
        store,
        {
            "files": [name for name, _ in files],
            "imported": [i.sha256 for i in report.imported],
            "duplicates": len(report.duplicates),
            "rejected": len(report.rejected),
            "force": force,
        },
    )
    return report


def delete_certificate(app: App, who: Principal, ref: str | int) -> CertificateRecord:
    record = app.inventory.delete(ref)
    app.users.audit(
        who.actor,
        "certificate.delete",
        f"#{record.id}",
        {"subject": record.subject, "store": record.store, "sha256": record.sha256},
    )
    return record


def check_certificates(app: App, who: Principal, refs: Sequence[str | int]) -> CheckReport:
    report = app.revocation.check(list(refs))
    app.users.audit(who.actor, "revocation.check", ", ".join(str(r) for r in refs), report.counts())
    return report


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    return {k: after[k] for k in after if before.get(k) != after[k]}


def save_monitor_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    before = app.monitor.settings().to_json()
    after = app.monitor.update_settings(values).to_json()
    app.users.audit(who.actor, "settings.monitor", "monitor", _changed(before, after))
    return after


def save_revocation_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    before = app.revocation.settings().to_dict()
    after = app.revocation.update_settings(values).to_dict()
    app.users.audit(who.actor, "settings.revocation", "revocation", _changed(before, after))
    return after


def save_params(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    before = app.revocation.params().to_dict()
    after = app.revocation.update_params(values).to_dict()
    app.users.audit(who.actor, "settings.params", "params", _changed(before, after))
    return after


def save_common_criteria(app: App, who: Principal, on: bool) -> dict[str, Any]:
    before = app.revocation.security().to_dict()
    after = app.revocation.set_common_criteria(on).to_dict()
    app.users.audit(who.actor, "settings.security", "security", _changed(before, after))
    return after


def save_smtp_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    before = app.outbox.stored_smtp_settings().to_json()
    after = app.outbox.update_smtp_settings(values).to_json()
    app.users.audit(who.actor, "settings.smtp", "smtp", _changed(before, after))
    return after


def add_endpoint(
    app: App, who: Principal, target: str, starttls: str | None, servername: str | None
) -> EndpointRecord:
    record = app.endpoints.add(target, starttls=starttls or None, servername=servername or None)
    app.users.audit(
        who.actor,
        "endpoint.add",
        record.where,
        {"starttls": record.starttls, "servername": record.servername},
    )
    return record


def remove_endpoint(app: App, who: Principal, target: str | int) -> tuple[EndpointRecord, int]:
    """Stop monitoring an endpoint: the record as it was and the certificates removed."""
    record = app.endpoints.get(target)
    removed = app.endpoints.remove(record.id)
    app.users.audit(who.actor, "endpoint.remove", record.where, {"certificates_removed": removed})
    return record, removed


def probe_endpoints(app: App, who: Principal, target: str | int | None) -> list[EndpointProbe]:
    """Probe one endpoint (or all) now and record what each served."""
    results = [app.endpoints.probe_one(target)] if target is not None else app.endpoints.probe_all()
    app.users.audit(
        who.actor,
        "endpoint.probe",
        str(target) if target is not None else "all",
        {"probed": [r.to_json() for r in results]},
    )
    return results


def save_syslog_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    before = app.syslog.settings().to_json()
    after = app.syslog.update_settings(values).to_json()
    app.users.audit(who.actor, "settings.syslog", "syslog", _changed(before, after))
    return after


def send_test_mail(app: App, who: Principal, recipients: Sequence[str]) -> TestMailReport:
    """Send a test message through the mail settings now (its result is audited too)."""
    try:
        report = app.outbox.send_test(recipients)
    except NotificationError as exc:
        app.users.audit(who.actor, "smtp.test", "smtp", {"to": list(recipients), "error": str(exc)})
        raise
    app.users.audit(who.actor, "smtp.test", "smtp", report.to_json())
    return report


def split_addresses(text: str) -> list[str]:
    """Addresses typed into one field, separated by semicolons or commas."""
    return [part.strip() for part in text.replace(",", ";").split(";") if part.strip()]


def monitor_action(app: App, who: Principal, action: str) -> str:
    """Start, stop, restart or run the Certificate Expiry Monitor; a sentence saying what happened."""
    monitor = app.monitor
    if action == "start":
        message = (
            "Certificate Expiry Monitor started."
            if monitor.start()
            else "The Certificate Expiry Monitor was already running."
        )
    elif action == "stop":
        message = (
            "Certificate Expiry Monitor stopped."
            if monitor.stop()
            else "The Certificate Expiry Monitor was already stopped."
        )
    elif action == "restart":
        nxt = monitor.restart()
        message = f"Certificate Expiry Monitor restarted; next run {nxt.at:%Y-%m-%d %H:%M} UTC."
    elif action == "run-now":
        report = monitor.run_now()
        message = (
            f"Run finished: {len(report.notices)} certificate(s) notified"
            + (", e-mail digest queued" if report.digest_queued else "")
            + "."
        )
    else:
        raise InputError(f"{action!r} is not an action; use {', '.join(MONITOR_ACTIONS)}")
    app.users.audit(who.actor, f"monitor.{action}", MONITOR_SERVICE)
    return message
