"""Certificate Expiry Monitor rules: settings, schedule, what is due, the digest.

Pure: no I/O, no clock. Every function that needs "now" takes it. The service
(``services/monitor/``) asks the database only the questions these rules
pose (the earliest expiry, the certificates inside a window) and applies the
answers through these functions, for real runs and for the what-if simulation.

The schedule follows the admin guide's note on the service: it "runs once every
24 hours"; after a (re)start "the next schedule [is] only after 24 hours"; "the
interval does not change even when the certificate is close to the expiry date
of seven days"; it "runs every 1 hour when the certificate either has expired or
is going to expire in one day". The interval is decided each time the next run
is scheduled: after every run, and at a start or restart.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from certwarden.core.durations import parse_duration
from certwarden.core.mailboxes import parse_emails, validate_email
from certwarden.core.notices import subject as notice_subject
from certwarden.core.notices import when as notice_time
from certwarden.errors import InvalidFieldsError

__all__ = [
    "DAILY",
    "DEFAULT_SETTINGS",
    "FIELD_LABELS",
    "HOURLY",
    "Digest",
    "DueCertificate",
    "Level",
    "MonitorSettings",
    "NextRun",
    "NoticeKind",
    "ScheduleReason",
    "alert_dedupe_key",
    "compose_digest",
    "digest_dedupe_key",
    "format_frequency",
    "frequency_slot",
    "hourly_condition",
    "is_due",
    "level_at",
    "lifetime_start",
    "notice_kind",
    "order_for_digest",
    "parse_emails",
    "schedule_next",
    "validate_email",
    "validate_monitor_settings",
    "window_cutoffs",
]

DAILY = timedelta(hours=24)
HOURLY = timedelta(hours=1)
# "expired or going to expire in one day" switches the service to hourly runs.
LAST_DAY = timedelta(days=1)

START_DAYS_MIN, START_DAYS_MAX = 1, 365
FREQUENCY_MIN = timedelta(hours=1)
FREQUENCY_MAX = timedelta(days=365)

# Field name -> the label administrators see (Security > Certificate Monitor).
FIELD_LABELS = {
    "start_days": "Notification Start Time",
    "frequency": "Notification Frequency",
    "major_within": "Major Level",
    "critical_within": "Critical Level",
    "email_enabled": "Enable E-mail notification",
    "lsc_enabled": "Enable LSC Monitoring",
    "emails": "E-mail IDs",
}

# Slots are counted from a fixed origin so that every process agrees on them.
_SLOT_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MonitorSettings:
    """Security > Certificate Monitor. Build through :func:`validate_monitor_settings`."""

    start_days: int = 30
    frequency: timedelta = timedelta(days=1)
    email_enabled: bool = False
    lsc_enabled: bool = False
    emails: tuple[str, ...] = ()
    # Levels after the Notification Start Time (the warning level): each is
    # notified once when reached, whatever the frequency.
    major_within: timedelta = timedelta(days=7)
    critical_within: timedelta = timedelta(days=1)

    @property
    def window(self) -> timedelta:
        """How long before notAfter notices begin."""
        return timedelta(days=self.start_days)

    def to_json(self) -> dict[str, Any]:
        """The stored and displayed form (``validate_monitor_settings`` reads it back)."""
        return {
            "start_days": self.start_days,
            "frequency": format_frequency(self.frequency),
            "major_within": format_frequency(self.major_within),
            "critical_within": format_frequency(self.critical_within),
            "email_enabled": self.email_enabled,
            "lsc_enabled": self.lsc_enabled,
            "emails": list(self.emails),
        }


DEFAULT_SETTINGS = MonitorSettings()


def format_frequency(delta: timedelta) -> str:
    """``2d`` when a whole number of days, else ``36h``."""
    hours = int(delta.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _parse_frequency(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        delta = value
        if delta % HOURLY:
            raise ValueError("must be a whole number of hours or days")
        shown = format_frequency(delta)
        if delta < FREQUENCY_MIN:
            raise ValueError(f"{shown} is too short; the minimum is 1 hour")
        if delta > FREQUENCY_MAX:
            raise ValueError(f"{shown} is too long; the maximum is 365 days")
        return delta
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a frequency; write a number and a unit, like 12h or 2d")
    # The one duration parser (also --expiring-within, Check Every): the same
    # units everywhere, and the message quotes what was typed.
    return parse_duration(value, minimum=FREQUENCY_MIN, maximum=FREQUENCY_MAX, step=HOURLY)


def _parse_level(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        value = format_frequency(value) if value >= HOURLY and not value % HOURLY else "0h"
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; write a number and a unit, like 7d or 12h")
    return parse_duration(value, minimum=HOURLY, maximum=FREQUENCY_MAX, step=HOURLY)


def _parse_start_days(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number of days")
    if isinstance(value, int):
        days = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,9}\s*", value):
        days = int(value)
    else:
        raise ValueError(f"{value!r} is not a whole number of days")
    if not START_DAYS_MIN <= days <= START_DAYS_MAX:
        raise ValueError(
            f"{days} is out of range; give a whole number of days from "
            f"{START_DAYS_MIN} to {START_DAYS_MAX}"
        )
    return days


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "on", "yes", "1"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "off", "no", "0", ""}:
        return False
    raise ValueError(f"{value!r} is not true or false")


def validate_monitor_settings(
    values: Mapping[str, Any], base: MonitorSettings = DEFAULT_SETTINGS
) -> MonitorSettings:
    """``base`` with ``values`` applied, every field checked.

    Raises:
        InvalidFieldsError: naming every bad field (and unknown ones); nothing is half-applied.
    """
    errors: dict[str, str] = {}
    unknown = sorted(set(values) - set(FIELD_LABELS))
    for name in unknown:
        errors[name] = f"unknown setting {name!r}; known: {', '.join(FIELD_LABELS)}"
    start_days, frequency = base.start_days, base.frequency
    email_enabled, lsc_enabled, emails = base.email_enabled, base.lsc_enabled, base.emails
    major_within, critical_within = base.major_within, base.critical_within
    if "start_days" in values:
        try:
            start_days = _parse_start_days(values["start_days"])
        except ValueError as exc:
            errors["start_days"] = f"{FIELD_LABELS['start_days']}: {exc}"
    if "frequency" in values:
        try:
            frequency = _parse_frequency(values["frequency"])
        except ValueError as exc:
            errors["frequency"] = f"{FIELD_LABELS['frequency']}: {exc}"
    if "major_within" in values:
        try:
            major_within = _parse_level(values["major_within"])
        except ValueError as exc:
            errors["major_within"] = f"{FIELD_LABELS['major_within']}: {exc}"
    if "critical_within" in values:
        try:
            critical_within = _parse_level(values["critical_within"])
        except ValueError as exc:
            errors["critical_within"] = f"{FIELD_LABELS['critical_within']}: {exc}"
    _check_level_order(errors, values, timedelta(days=start_days), major_within, critical_within)
    for name in ("email_enabled", "lsc_enabled"):
        if name in values:
            try:
                flag = _parse_bool(values[name])
            except ValueError as exc:
                errors[name] = f"{FIELD_LABELS[name]}: {exc}"
                continue
            if name == "email_enabled":
                email_enabled = flag
            else:
                lsc_enabled = flag
    if "emails" in values:
        raw = values["emails"]
        if raw is None:
            raw = ""
        if not isinstance(raw, str | list | tuple):
            errors["emails"] = f"{FIELD_LABELS['emails']}: {raw!r} is not a list of addresses"
        else:
            parsed, problems = parse_emails(raw)
            if problems:
                errors["emails"] = f"{FIELD_LABELS['emails']}: " + "; ".join(problems)
            else:
                emails = parsed
    if email_enabled and not emails and "emails" not in errors and "email_enabled" not in errors:
        errors["emails"] = (
            f"{FIELD_LABELS['emails']}: e-mail notification is enabled but no address is set; "
            "give at least one address (or turn e-mail notification off)"
        )
    if errors:
        raise InvalidFieldsError(errors)
    return MonitorSettings(
        start_days, frequency, email_enabled, lsc_enabled, emails, major_within, critical_within
    )


def _check_level_order(
    errors: dict[str, str],
    values: Mapping[str, Any],
    start: timedelta,
    major: timedelta,
    critical: timedelta,
) -> None:
    """critical < major < start; the message goes on the field that was changed."""
    if {"start_days", "major_within", "critical_within"} & set(errors):
        return
    if not major < start:
        name = (
            "major_within"
            if "major_within" in values or "start_days" not in values
            else "start_days"
        )
        errors[name] = (
            f"{FIELD_LABELS[name]}: the Major Level ({format_frequency(major)} before expiry) "
            f"must come after the Notification Start Time ({start.days} days before expiry); "
            "shorten the Major Level or lengthen the Notification Start Time"
        )
    elif not critical < major:
        name = "critical_within" if "critical_within" in values else "major_within"
        errors[name] = (
            f"{FIELD_LABELS[name]}: the Critical Level ({format_frequency(critical)} before "
            f"expiry) must come after the Major Level ({format_frequency(major)} before expiry)"
        )


# --------------------------------------------------------------------- schedule


@enum.unique
class ScheduleReason(enum.StrEnum):
    STARTED = "started"  # first run 24 hours after a (re)start
    STARTED_HOURLY = "started_hourly"  # ... or 1 hour, when the hourly condition holds
    DAILY = "daily"
    HOURLY = "hourly"


@dataclass(frozen=True)
class NextRun:
    """When the next run is, and why the interval is what it is."""

    at: datetime
    interval: timedelta
    reason: ScheduleReason
    explanation: str


def hourly_condition(earliest_not_after: datetime | None, now: datetime) -> bool:
    """True while a monitored certificate has expired or expires within one day.

    ``earliest_not_after`` is the smallest notAfter among monitored certificates
    (None when nothing is monitored). notAfter is inclusive (RFC 5280 4.1.2.5),
    so "within one day" means ``notAfter - now <= 1 day``.
    """
    return earliest_not_after is not None and earliest_not_after - now <= LAST_DAY


def schedule_next(
    *,
    after: datetime,
    started: bool,
    earliest_not_after: datetime | None,
    earliest_label: str = "",
) -> NextRun:
    """The next run, decided at ``after`` (a run's time, or a start/restart time).

    The interval is 1 hour when the hourly condition holds at ``after``, else
    24 hours; seven (or any number above one) days from expiry changes nothing.
    """
    hourly = hourly_condition(earliest_not_after, after)
    what = ""
    if hourly and earliest_not_after is not None:
        who = earliest_label or "a monitored certificate"
        what = (
            f"{who} expired at {_fmt(earliest_not_after)}"
            if after > earliest_not_after
            else f"{who} expires at {_fmt(earliest_not_after)}, within one day"
        )
    if started:
        if hourly:
            return NextRun(
                after + HOURLY,
                HOURLY,
                ScheduleReason.STARTED_HOURLY,
                f"first run 1 hour after the (re)start, because {what}",
            )
        return NextRun(
            after + DAILY,
            DAILY,
            ScheduleReason.STARTED,
            "first run 24 hours after the (re)start (no monitored certificate has expired "
            "or expires within one day)",
        )
    if hourly:
        return NextRun(after + HOURLY, HOURLY, ScheduleReason.HOURLY, f"hourly runs: {what}")
    return NextRun(
        after + DAILY,
        DAILY,
        ScheduleReason.DAILY,
        "every 24 hours: no monitored certificate has expired or expires within one day",
    )


# ------------------------------------------------------------------ due / slots


@enum.unique
class NoticeKind(enum.StrEnum):
    EXPIRING = "expiring"
    EXPIRED = "expired"


def notice_kind(not_after: datetime, now: datetime) -> NoticeKind:
    # RFC 5280 4.1.2.5: the certificate is still valid at notAfter itself.
    return NoticeKind.EXPIRED if now > not_after else NoticeKind.EXPIRING


@enum.unique
class Level(enum.IntEnum):
    """How close to (or past) expiry a certificate is; each is notified once when reached.

    ``WARNING`` starts at the Notification Start Time (or the lifetime share),
    ``MAJOR`` at ``major_within``, ``CRITICAL`` at ``critical_within``, and
    ``EXPIRED`` (critical again) once notAfter has passed.
    """

    WARNING = 1
    MAJOR = 2
    CRITICAL = 3
    EXPIRED = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def severity(self) -> str:
        """The alert severity: ``warning``, ``major`` or ``critical`` (expired too)."""
        return "critical" if self is Level.EXPIRED else self.name.lower()


def lifetime_start(not_before: datetime, not_after: datetime, share: float) -> datetime:
    """When less than ``share`` (0 < share < 1) of the lifetime remains:
    ``not_after - share * (not_after - not_before)``."""
    return not_after - (not_after - not_before) * share


def level_at(
    not_after: datetime, now: datetime, settings: MonitorSettings, start: datetime | None = None
) -> Level | None:
    """The level reached at ``now`` (None before the notification start).

    ``start`` is the certificate's own notification start (a lifetime share);
    without it, ``not_after - start_days``. Nothing is notified before the
    start (expiry excepted); a start later than a level's own moment makes
    the certificate enter at that level directly.
    """
    if now > not_after:
        return Level.EXPIRED
    begins = start if start is not None else not_after - settings.window
    if now < begins:
        return None
    left = not_after - now
    if left <= settings.critical_within:
        return Level.CRITICAL
    if left <= settings.major_within:
        return Level.MAJOR
    return Level.WARNING


def window_cutoffs(now: datetime, settings: MonitorSettings) -> tuple[datetime, datetime]:
    """``(window_end, notified_before)``: a certificate is due when
    ``not_after <= window_end`` and it was never notified or
    ``last_notified_at <= notified_before`` (or its level rose since). Databases query with these."""
    return now + settings.window, now - settings.frequency


def is_due(
    not_after: datetime,
    last_notified_at: datetime | None,
    now: datetime,
    settings: MonitorSettings,
    *,
    last_level: int | None = None,
    start: datetime | None = None,
) -> bool:
    """A level is reached, and either it rose since the last notice or the
    last notice is at least a frequency old."""
    level = level_at(not_after, now, settings, start)
    if level is None:
        return False
    if last_notified_at is None or (last_level is not None and level > last_level):
        return True
    return last_notified_at <= now - settings.frequency


def frequency_slot(now: datetime, frequency: timedelta) -> int:
    """The index of the frequency slot holding ``now`` (counted from 1970-01-01 UTC).

    Two notices at least one frequency apart never share a slot, so a slot is a
    safe idempotency key: one notice per certificate per slot.
    """
    return (now - _SLOT_ORIGIN) // frequency


def alert_dedupe_key(
    store: str, sha256: str, frequency: timedelta, now: datetime, level: Level = Level.WARNING
) -> str:
    """One alert per certificate, level and frequency slot."""
    seconds = int(frequency.total_seconds())
    return f"expiry:{store}:{sha256}:{level.label}:{seconds}s:{frequency_slot(now, frequency)}"


def digest_dedupe_key(alert_keys: Sequence[str]) -> str:
    """One digest per distinct set of notices: a repeated run cannot queue it twice."""
    digest = hashlib.sha256("\n".join(sorted(alert_keys)).encode()).hexdigest()
    return f"expiry-digest:{digest}"


# ----------------------------------------------------------------------- digest


@dataclass(frozen=True)
class DueCertificate:
    """A certificate a run notifies about."""

    certificate_id: int
    store: str
    subject: str
    serial: str
    sha256: str
    not_after: datetime
    is_lsc: bool = False
    level: Level = Level.WARNING

    def kind(self, now: datetime) -> NoticeKind:
        return notice_kind(self.not_after, now)

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


@dataclass(frozen=True)
class Digest:
    subject: str
    body: str


def _fmt(moment: datetime) -> str:
    return notice_time(moment)


def order_for_digest(items: Iterable[DueCertificate], now: datetime) -> list[DueCertificate]:
    """Expired first, then soonest expiry first."""
    return sorted(
        items,
        key=lambda c: (c.kind(now) is not NoticeKind.EXPIRED, c.not_after, c.store, c.sha256),
    )


def compose_digest(items: Sequence[DueCertificate], now: datetime) -> Digest:
    """The e-mail of one run: every certificate with subject, store, serial,
    SHA-256, expiry time and days left; expired ones first."""
    ordered = order_for_digest(items, now)
    expired = [c for c in ordered if c.kind(now) is NoticeKind.EXPIRED]
    expiring = [c for c in ordered if c.kind(now) is NoticeKind.EXPIRING]
    parts = []
    if expired:
        parts.append(f"{len(expired)} expired")
    if expiring:
        parts.append(f"{len(expiring)} expiring")
    subject = notice_subject("Certificate expiry", ", ".join(parts) or "nothing due")
    lines = [
        f"Certificate Expiry Monitor run at {_fmt(now)}.",
        "",
        f"{len(ordered)} certificate(s) need attention: "
        f"{len(expired)} expired, {len(expiring)} expiring.",
    ]
    for title, group in (("EXPIRED", expired), ("EXPIRING", expiring)):
        if not group:
            continue
        lines += ["", f"{title} ({len(group)})", ""]
        for c in group:
            days = c.days_left(now)
            lines += [
                f"  Subject:    {c.subject}",
                f"  Store:      {c.store}" + (" (LSC)" if c.is_lsc else ""),
                f"  Level:      {c.level.label}",
                f"  Serial:     {c.serial}",
                f"  SHA-256:    {c.sha256}",
                f"  {'Expired:' if days < 0 else 'Expires:'}    {_fmt(c.not_after)}",
                f"  Days left:  {days:.1f}",
                "",
            ]
    lines.append("Sent by certwarden. Replace or delete these certificates to stop the notices.")
    return Digest(subject, "\n".join(lines).rstrip() + "\n")
