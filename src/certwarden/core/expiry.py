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

from certwarden.core.timefmt import iso_z
from certwarden.errors import InvalidFieldsError

__all__ = [
    "DAILY",
    "DEFAULT_SETTINGS",
    "FIELD_LABELS",
    "HOURLY",
    "Digest",
    "DueCertificate",
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
MAX_EMAILS = 50

# Field name -> the label administrators see (Security > Certificate Monitor).
FIELD_LABELS = {
    "start_days": "Notification Start Time",
    "frequency": "Notification Frequency",
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

    @property
    def window(self) -> timedelta:
        """How long before notAfter notices begin."""
        return timedelta(days=self.start_days)

    def to_json(self) -> dict[str, Any]:
        """The stored and displayed form (``validate_monitor_settings`` reads it back)."""
        return {
            "start_days": self.start_days,
            "frequency": format_frequency(self.frequency),
            "email_enabled": self.email_enabled,
            "lsc_enabled": self.lsc_enabled,
            "emails": list(self.emails),
        }


DEFAULT_SETTINGS = MonitorSettings()


def format_frequency(delta: timedelta) -> str:
    """``2d`` when a whole number of days, else ``36h``."""
    hours = int(delta.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


_FREQUENCY = re.compile(r"^\s*(\d{1,6})\s*([A-Za-z]+)\s*$")
_FREQUENCY_UNITS = {"h": 1, "hour": 1, "hours": 1, "d": 24, "day": 24, "days": 24}


def _parse_frequency(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        delta = value
        if delta.total_seconds() % 3600:
            raise ValueError("must be a whole number of hours or days")
    elif isinstance(value, str):
        match = _FREQUENCY.match(value)
        if not match:
            raise ValueError(
                f"{value!r} is not a frequency; write a number and a unit, like 12h or 2d"
            )
        unit = match.group(2).lower()
        if unit not in _FREQUENCY_UNITS:
            raise ValueError(
                f"{value!r} has the unit {match.group(2)!r}; use hours (h) or days (d)"
            )
        delta = timedelta(hours=int(match.group(1)) * _FREQUENCY_UNITS[unit])
    else:
        raise ValueError(f"{value!r} is not a frequency; write a number and a unit, like 12h or 2d")
    if delta < FREQUENCY_MIN:
        raise ValueError(f"{format_frequency(delta)} is too short; the minimum is 1 hour")
    if delta > FREQUENCY_MAX:
        raise ValueError(f"{format_frequency(delta)} is too long; the maximum is 365 days")
    return delta


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


# A pragmatic address check (RFC 5321 4.1.2 Mailbox, without quoted local parts
# and address literals): what a mail server will accept from a form.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def validate_email(address: str) -> str:
    """Return ``address`` stripped, or raise ValueError saying what is wrong with it."""
    text = address.strip()
    if not text:
        raise ValueError("an empty address")
    if any(c.isspace() for c in text):
        raise ValueError(f"{text!r} contains a space")
    if text.count("@") != 1:
        raise ValueError(f"{text!r} is not an e-mail address (it needs exactly one @)")
    local, domain = text.split("@")
    if not local:
        raise ValueError(f"{text!r} has nothing before the @")
    if not domain:
        raise ValueError(f"{text!r} has no domain after the @")
    if len(local) > 64 or not _LOCAL.match(local):
        raise ValueError(f"{text!r} has an invalid part before the @")
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(f"{text!r} has an invalid domain {domain!r}")
    return text


def parse_emails(value: str | Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
    """Split ``a@x.org; b@y.org`` (or take a list). Returns (good addresses, problems).

    Empty entries (``a@x.org;``) are ignored and duplicates dropped, keeping order.
    """
    items = value.split(";") if isinstance(value, str) else list(value)
    good: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for raw in items:
        if not isinstance(raw, str):
            problems.append(f"{raw!r} is not text")
            continue
        if not raw.strip():
            continue
        try:
            address = validate_email(raw)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if address.lower() not in seen:
            seen.add(address.lower())
            good.append(address)
    if len(good) > MAX_EMAILS:
        problems.append(f"{len(good)} addresses given; at most {MAX_EMAILS} are allowed")
    return tuple(good), problems


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
    return MonitorSettings(start_days, frequency, email_enabled, lsc_enabled, emails)


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


def window_cutoffs(now: datetime, settings: MonitorSettings) -> tuple[datetime, datetime]:
    """``(window_end, notified_before)``: a certificate is due when
    ``not_after <= window_end`` and it was never notified or
    ``last_notified_at <= notified_before``. Databases query with these."""
    return now + settings.window, now - settings.frequency


def is_due(
    not_after: datetime,
    last_notified_at: datetime | None,
    now: datetime,
    settings: MonitorSettings,
) -> bool:
    """Inside the notification window (or expired) and not notified within the frequency."""
    window_end, notified_before = window_cutoffs(now, settings)
    return not_after <= window_end and (
        last_notified_at is None or last_notified_at <= notified_before
    )


def frequency_slot(now: datetime, frequency: timedelta) -> int:
    """The index of the frequency slot holding ``now`` (counted from 1970-01-01 UTC).

    Two notices at least one frequency apart never share a slot, so a slot is a
    safe idempotency key: one notice per certificate per slot.
    """
    return (now - _SLOT_ORIGIN) // frequency


def alert_dedupe_key(store: str, sha256: str, frequency: timedelta, now: datetime) -> str:
    seconds = int(frequency.total_seconds())
    return f"expiry:{store}:{sha256}:{seconds}s:{frequency_slot(now, frequency)}"


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

    def kind(self, now: datetime) -> NoticeKind:
        return notice_kind(self.not_after, now)

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


@dataclass(frozen=True)
class Digest:
    subject: str
    body: str


def _fmt(when: datetime) -> str:
    return iso_z(when) or ""


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
    subject = f"[certwarden] Certificate expiry: {', '.join(parts) or 'nothing due'}"
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
                f"  Serial:     {c.serial}",
                f"  SHA-256:    {c.sha256}",
                f"  {'Expired:' if days < 0 else 'Expires:'}    {_fmt(c.not_after)}",
                f"  Days left:  {days:.1f}",
                "",
            ]
    lines.append("Sent by certwarden. Replace or delete these certificates to stop the notices.")
    return Digest(subject, "\n".join(lines).rstrip() + "\n")
