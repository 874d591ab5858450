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
from certwarden.errors import ConflictingWriteError
from certwarden.interfaces.web.security import Principal
from certwarden.services.changes import MONITOR_ACTIONS
from certwarden.services.inventory import CertificateRecord, ImportReport
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


def monitor_action(app: App, who: Principal, action: str) -> str:
    """Start, stop, restart or run the Certificate Expiry Monitor; a sentence saying what happened."""
    return app.changes.monitor_action(who.actor, action)
