"""The settings sections revocation checks read, loaded and saved.

Security > Certificate Revocation (``revocation``), the enterprise parameters
(``params``) and the Common Criteria switch (``security``), each validated by
:mod:`certwarden.core.revocation_settings`; and the Certificate Monitor's
section (``monitor``), read for e-mail notices and LSC monitoring.

A stored section that does not validate is an error that names it; it is
never replaced by the defaults. This module must not judge answers, contact
responders or decide policy: it only reads and writes sections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Store
from certwarden.clock import Clock
from certwarden.core.expiry import MonitorSettings, validate_monitor_settings
from certwarden.core.revocation_settings import (
    PARAMS_SECTION,
    REVOCATION_SECTION,
    SECURITY_SECTION,
    EnterpriseParams,
    RevocationSettings,
    SecuritySettings,
)
from certwarden.errors import InvalidFieldsError, StorageError
from certwarden.services.shared.settings_store import load_section, save_section

__all__ = [
    "MONITOR_SECTION",
    "RevocationSettingsStore",
    "judging",
    "load_monitor",
    "load_revocation",
    "load_security",
]

MONITOR_SECTION = "monitor"  # the Certificate Monitor's section (e-mail, LSC monitoring)


def judging(settings: RevocationSettings) -> tuple[object, ...]:
    """The settings that decide whether an answer is believed."""
    return (
        settings.nonce,
        settings.clock_skew_seconds,
        settings.max_age_hours,
        settings.trusted_responder_store,
        settings.hash_algorithm,
        settings.legacy_signatures,
    )


def load_revocation(s: Session) -> RevocationSettings:
    return RevocationSettings.from_dict(load_section(s, REVOCATION_SECTION))


def load_params(s: Session) -> EnterpriseParams:
    return EnterpriseParams.from_dict(load_section(s, PARAMS_SECTION))


def load_security(s: Session) -> SecuritySettings:
    return SecuritySettings.from_dict(load_section(s, SECURITY_SECTION))


def load_monitor(s: Session) -> MonitorSettings:
    """The Certificate Monitor settings (its defaults while none are stored).

    Raises:
        StorageError: the stored section does not validate (it names the
            section and every bad field).
    """
    try:
        return validate_monitor_settings(load_section(s, MONITOR_SECTION) or {})
    except InvalidFieldsError as exc:
        raise StorageError(
            f"the stored Certificate Monitor settings (section {MONITOR_SECTION!r}) are "
            f"invalid, so revocation notices and LSC monitoring cannot be decided: {exc}"
        ) from exc


class RevocationSettingsStore:
    """Reads and saves the revocation sections; every save validates every field first.

    Args:
        db, clock: as every service.
        on_rules_changed: called after a save that changes how answers are
            judged (:func:`judging`): cached answers must not outlive the rules
            they passed under.
    """

    def __init__(self, db: Database, clock: Clock, *, on_rules_changed: Callable[[], None]) -> None:
        self._db = db
        self._clock = clock
        self._on_rules_changed = on_rules_changed

    def settings(self) -> RevocationSettings:
        with self._db.session() as s:
            return load_revocation(s)

    def params(self) -> EnterpriseParams:
        with self._db.session() as s:
            return load_params(s)

    def security(self) -> SecuritySettings:
        with self._db.session() as s:
            return load_security(s)

    def update_settings(self, changes: Mapping[str, Any]) -> RevocationSettings:
        """Validate every field, then save; nothing is saved when any is bad."""
        with self._db.session() as s:
            current = load_revocation(s)
            new = current.updated(**dict(changes))
            if s.scalar(select(Store.id).where(Store.name == new.trusted_responder_store)) is None:
                raise InvalidFieldsError(
                    {
                        "trusted_responder_store": (
                            f"no store named {new.trusted_responder_store!r}; create it first "
                            "or use tomcat-trust"
                        )
                    }
                )
            save_section(s, REVOCATION_SECTION, new.to_dict(), self._clock.now())
        if judging(new) != judging(current):
            # Answers cached under the old rules (no nonce demanded, a wider skew,
            # another trusted-responder store) must not pass under the new ones.
            self._on_rules_changed()
        return new

    def update_params(self, changes: Mapping[str, Any]) -> EnterpriseParams:
        with self._db.session() as s:
            current = load_params(s)
            new = current.updated(**dict(changes))
            save_section(s, PARAMS_SECTION, new.to_dict(), self._clock.now())
        return new

    def set_common_criteria(self, on: bool) -> SecuritySettings:
        with self._db.session() as s:
            current = load_security(s)
            new = current.updated(common_criteria=on)
            save_section(s, SECURITY_SECTION, new.to_dict(), self._clock.now())
        if new != current:
            # The mode decides whether legacy signatures count (never in Common
            # Criteria mode): answers cached under the other mode must go.
            self._on_rules_changed()
        return new
