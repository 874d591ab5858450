"""Actions the UI pages and the REST API share: each is one call into
:class:`~certwarden.services.changes.Changes` (the change and its audit entry,
the same call the CLI makes) as the signed-in user, so every interface does
exactly the same thing.

Nothing here renders or answers HTTP; :mod:`.pages` and :mod:`.api` do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from certwarden.composition import App
from certwarden.errors import ConflictingWriteError, NotificationError
from certwarden.interfaces.web.security import Principal
from certwarden.services.changes import MONITOR_ACTIONS
from certwarden.services.inventory import CertificateRecord, ImportReport
from certwarden.services.revocation import CheckReport
from certwarden.services.shared.channels import ChannelInfo, ChannelTestReport
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
    "save_endpoint_change_settings",
    "save_monitor_settings",
    "save_params",
    "save_revocation_settings",
    "save_smtp_settings",
    "save_syslog_settings",
    "send_test_mail",
    "split_addresses",
]

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
    """Parse uploaded files, then store them through the upload check."""
    prepared = app.inventory.prepare_bytes(
        files,
        store=store,
        lsc=lsc,
        password=password.encode() if password else None,
        how="upload",
        bounded=True,  # a worker process within a deadline: never the server's own time
    )
    try:
        return app.changes.commit_import(who.actor, prepared, force=force)
    except ConflictingWriteError:
        # Another upload stored some of the same certificates between our
        # duplicate check and our insert (nothing of ours was stored); once
        # more, they are found as duplicates.
        return app.changes.commit_import(who.actor, prepared, force=force)


def delete_certificate(app: App, who: Principal, ref: str | int) -> CertificateRecord:
    return app.changes.delete_certificate(who.actor, ref)


def check_certificates(app: App, who: Principal, refs: Sequence[str | int]) -> CheckReport:
    return app.changes.check_certificates(who.actor, refs)


def save_monitor_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    return app.changes.save_monitor_settings(who.actor, values)


def save_revocation_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    return app.changes.save_revocation_settings(who.actor, values)


def save_params(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    return app.changes.save_params(who.actor, values)


def save_common_criteria(app: App, who: Principal, on: bool) -> dict[str, Any]:
    return app.changes.set_common_criteria(who.actor, on)


def save_smtp_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    return app.changes.save_smtp_settings(who.actor, values)


def add_endpoint(
    app: App, who: Principal, target: str, starttls: str | None, servername: str | None
) -> EndpointRecord:
    return app.changes.add_endpoint(
        who.actor, target, starttls=starttls or None, servername=servername or None
    )


def remove_endpoint(app: App, who: Principal, target: str | int) -> tuple[EndpointRecord, int]:
    """Stop monitoring an endpoint: the record as it was and the certificates removed."""
    record = app.endpoints.get(target)
    removed = app.changes.remove_endpoint(who.actor, record.id)
    return record, removed


def probe_endpoints(app: App, who: Principal, target: str | int | None) -> list[EndpointProbe]:
    """Probe one endpoint (or all) now and record what each served."""
    results = [app.endpoints.probe_one(target)] if target is not None else app.endpoints.probe_all()
    app.changes.record(
        who.actor,
        "endpoint.probe",
        str(target) if target is not None else "all",
        {"probed": [r.to_json() for r in results]},
    )
    return results


def save_syslog_settings(app: App, who: Principal, values: Mapping[str, Any]) -> dict[str, Any]:
    return app.changes.save_syslog_settings(who.actor, values)


def save_endpoint_change_settings(
    app: App, who: Principal, values: Mapping[str, Any]
) -> dict[str, Any]:
    return app.changes.save_endpoint_change_settings(who.actor, values)


def send_test_mail(app: App, who: Principal, recipients: Sequence[str]) -> TestMailReport:
    """Send a test message through the mail settings now (its result is audited too)."""
    try:
        report = app.outbox.send_test(recipients)
    except NotificationError as exc:
        app.changes.record(
            who.actor, "smtp.test", "smtp", {"to": list(recipients), "error": str(exc)}
        )
        raise
    app.changes.record(who.actor, "smtp.test", "smtp", report.to_json())
    return report


def split_addresses(text: str) -> list[str]:
    """Addresses typed into one field, separated by semicolons or commas."""
    return [part.strip() for part in text.replace(",", ";").split(";") if part.strip()]


def monitor_action(app: App, who: Principal, action: str) -> str:
    """Start, stop, restart or run the Certificate Expiry Monitor; a sentence saying what happened."""
    return app.changes.monitor_action(who.actor, action)


def add_channel(
    app: App, who: Principal, name: str, url: str, min_severity: str, kinds: str | Sequence[str]
) -> ChannelInfo:
    """Add a notification channel (audited without its URL: scheme and host only)."""
    info = app.channels.add(name, url, min_severity=min_severity, kinds=kinds)
    details = {k: v for k, v in info.to_json().items() if k != "pending"}
    app.changes.record(who.actor, "channel.add", info.name, details)
    return info


def remove_channel(app: App, who: Principal, name: str) -> int:
    dropped = app.channels.remove(name)
    app.changes.record(who.actor, "channel.remove", name.strip().lower(), {"dropped": dropped})
    return dropped


def test_channel(app: App, who: Principal, name: str) -> ChannelTestReport:
    """Send one test notice now (its result is audited too)."""
    try:
        report = app.channels.test(name)
    except NotificationError as exc:
        app.changes.record(who.actor, "channel.test", name.strip().lower(), {"error": str(exc)})
        raise
    app.changes.record(who.actor, "channel.test", report.channel, {"url": report.url})
    return report
