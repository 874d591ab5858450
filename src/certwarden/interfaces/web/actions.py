"""Actions the UI pages and the REST API share: each is one call into the
services plus its audit entry, so both interfaces do exactly the same thing.

Nothing here renders or answers HTTP; :mod:`.pages` and :mod:`.api` do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from certwarden.composition import App
from certwarden.errors import ConflictingWriteError, InputError
from certwarden.interfaces.web.security import Principal
from certwarden.services.inventory import CertificateRecord, ImportReport
from certwarden.services.monitor import SERVICE_NAME as MONITOR_SERVICE
from certwarden.services.revocation import CheckReport

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MONITOR_ACTIONS",
    "check_certificates",
    "delete_certificate",
    "import_upload",
    "monitor_action",
    "save_common_criteria",
    "save_monitor_settings",
    "save_params",
    "save_revocation_settings",
    "save_smtp_settings",
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
        bounded=True,  # a worker process within a deadline: never the server's own time
    )
    try:
        report = app.upload.commit_checked(prepared, force=force)
    except ConflictingWriteError:
        # Another upload stored some of the same certificates between our
        # duplicate check and our insert; once more, they are found as duplicates.
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
