"""Change events of monitored endpoints: the endpoint's history kept, the event recorded.

    event = record_change(session, row, peer.leaf, now=now)   # in the probe's transaction

Each successful probe passes the leaf it found; :func:`certwarden.core.cert_changes.observe`
decides whether that is a change to announce (renewed, issuer changed, key
reused, rolled back, several certificates in turn), damped to at most one
event per endpoint per ``endpoint_changes.damping`` (default 24 hours). An
event is one ``certificate_changed`` alert, severity info.

It must not probe, import certificates or judge them: endpoints.py does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import Endpoint
from certwarden.core.cert_changes import (
    SECTION,
    ChangeEvent,
    ChangeSettings,
    ChangeState,
    leaf_facts,
    observe,
)
from certwarden.core.tls import format_where
from certwarden.services.shared.alerts import AlertKind, Severity, record_alert
from certwarden.services.shared.settings_store import load_section, save_section

__all__ = ["change_settings", "record_change", "save_change_settings"]


def change_settings(s: Session) -> ChangeSettings:
    return ChangeSettings.from_dict(load_section(s, SECTION))


def save_change_settings(s: Session, values: Mapping[str, Any], now: datetime) -> ChangeSettings:
    """Validate ``values`` over the saved settings and save them (nothing on error)."""
    settings = ChangeSettings.validate(values, change_settings(s))
    save_section(s, SECTION, settings.to_json(), now)
    return settings


def record_change(
    s: Session, row: Endpoint, leaf: x509.Certificate, *, now: datetime, store: str
) -> tuple[ChangeEvent | None, frozenset[str]]:
    """Note that ``row`` served ``leaf`` at ``now``; record the change alert, if any.

    Returns the event and the SHA-256s the endpoint serves now or in turn lately
    (:meth:`ChangeState.taking_turns`: those stay in the store).
    """
    damping = change_settings(s).damping
    state, event = observe(
        ChangeState.from_json(row.change_state), leaf_facts(leaf), now=now, damping=damping
    )
    row.change_state = state.to_json()
    serving = state.taking_turns(now, damping)
    if event is None:
        return None, serving
    where = format_where(row.host, row.port)
    record_alert(
        s,
        now=now,
        kind=AlertKind.CERTIFICATE_CHANGED,
        severity=Severity.INFO,
        message=event.message(where),
        sha256=event.new.sha256,
        subject=event.new.subject,
        store=store,
        dedupe_key=f"endpoint-change:{row.id}:{now.isoformat()}",
        details={"endpoint": where, **event.details()},
    )
    return event, serving
