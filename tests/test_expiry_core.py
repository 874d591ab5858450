"""The pure Certificate Expiry Monitor rules: settings, schedule, what is due, the digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certwarden.core.expiry import (
    DueCertificate,
    MonitorSettings,
    NoticeKind,
    ScheduleReason,
    alert_dedupe_key,
    compose_digest,
    digest_dedupe_key,
    frequency_slot,
    hourly_condition,
    is_due,
    parse_emails,
    schedule_next,
    validate_email,
    validate_monitor_settings,
)
from certwarden.errors import InvalidFieldsError

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
DAILY = 24 * H

# ------------------------------------------------------------------- settings


def test_defaults_are_what_an_administrator_expects() -> None:
    s = validate_monitor_settings({})
    assert s == MonitorSettings(30, D, False, False, ())
    assert s.to_json() == {
        "start_days": 30,
        "frequency": "1d",
        "major_within": "7d",
        "critical_within": "1d",
        "email_enabled": False,
        "lsc_enabled": False,
        "emails": [],
    }


def test_good_values_round_trip_through_the_stored_form() -> None:
    s = validate_monitor_settings(
        {
            "start_days": "45",
            "frequency": "12h",
            "email_enabled": True,
            "lsc_enabled": "on",
            "emails": " a@x.org ; b@y.org;;A@x.org ",
        }
    )
    assert s == MonitorSettings(45, 12 * H, True, True, ("a@x.org", "b@y.org"))
    assert validate_monitor_settings(s.to_json()) == s


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1h", H), ("12h", 12 * H), ("36 hours", 36 * H), ("2d", 2 * D), ("1 day", D), ("24h", D)],
)
def test_frequency_accepts_hours_and_days(text: str, expected: timedelta) -> None:
    assert validate_monitor_settings({"frequency": text}).frequency == expected


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("start_days", 0, "out of range"),
        ("start_days", 366, "out of range"),
        ("start_days", -5, "out of range"),
        ("start_days", "abc", "not a whole number"),
        ("start_days", 2.5, "not a whole number"),
        ("start_days", True, "not a number"),
        ("frequency", "0h", "0h is too short; the minimum is 1 hour"),
        ("frequency", "30m", "not a whole number of hours"),
        ("frequency", "1y", "unknown unit 'y'"),
        ("frequency", "soon", "not a duration"),
        ("frequency", "366d", "maximum is 365 days"),
        ("frequency", 12, "not a frequency"),
        ("email_enabled", "maybe", "not true or false"),
        ("lsc_enabled", 3, "not true or false"),
        ("emails", "bob@", "no domain"),
        ("emails", "a@x.org;not-an-address", "exactly one @"),
        ("emails", "a b@x.org", "contains a space"),
        ("emails", "@x.org", "nothing before the @"),
        ("emails", "a@localhost", "invalid domain"),
        ("emails", "a@x..org", "invalid domain"),
        ("emails", "a..b@x.org", "invalid part before the @"),
        ("emails", 42, "not a list"),
        ("colour", "blue", "unknown setting"),
    ],
)
def test_each_bad_field_is_named_with_its_problem(field: str, value: object, words: str) -> None:
    with pytest.raises(InvalidFieldsError) as info:
        validate_monitor_settings({field: value})
    assert set(info.value.errors) == {field}
    assert words in info.value.errors[field]


def test_a_bad_address_is_named_among_good_ones() -> None:
    with pytest.raises(InvalidFieldsError) as info:
        validate_monitor_settings({"emails": "ok@x.org; bad@@x.org; fine@y.org"})
    assert "'bad@@x.org'" in info.value.errors["emails"]
    assert "ok@x.org" not in info.value.errors["emails"]


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidFieldsError) as info:
        validate_monitor_settings({"start_days": 0, "frequency": "0h", "emails": "x"})
    assert set(info.value.errors) == {"start_days", "frequency", "emails"}
    assert "Notification Start Time" in str(info.value)


def test_email_on_needs_an_address() -> None:
    with pytest.raises(InvalidFieldsError) as info:
        validate_monitor_settings({"email_enabled": True})
    assert "no address is set" in info.value.errors["emails"]
    # ... and clearing the addresses while e-mail is on is refused the same way.
    base = validate_monitor_settings({"email_enabled": True, "emails": "a@x.org"})
    with pytest.raises(InvalidFieldsError):
        validate_monitor_settings({"emails": ""}, base)


@pytest.mark.parametrize(
    "address", ["a@x.org", "first.last+tag@mail.example.co.uk", "x_y-z@sub-1.example.com"]
)
def test_valid_addresses(address: str) -> None:
    assert validate_email(f" {address} ") == address


def test_parse_emails_keeps_order_and_drops_duplicates_and_empty_entries() -> None:
    good, problems = parse_emails("b@y.org;a@x.org; ;B@Y.org;")
    assert good == ("b@y.org", "a@x.org")
    assert problems == []


# ------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    ("case", "started", "expires_in", "gap", "reason"),
    [
        ("started, nothing near", True, 60 * D, DAILY, ScheduleReason.STARTED),
        ("started, nothing at all", True, None, DAILY, ScheduleReason.STARTED),
        ("started, 7 days out", True, 7 * D, DAILY, ScheduleReason.STARTED),
        ("started, within a day", True, 20 * H, H, ScheduleReason.STARTED_HOURLY),
        ("started, expired", True, -3 * D, H, ScheduleReason.STARTED_HOURLY),
        ("run, 7 days out", False, 7 * D, DAILY, ScheduleReason.DAILY),
        ("run, 25 hours out", False, 25 * H, DAILY, ScheduleReason.DAILY),
        ("run, a day plus a second", False, D + timedelta(seconds=1), DAILY, ScheduleReason.DAILY),
        ("run, exactly a day (inclusive)", False, D, H, ScheduleReason.HOURLY),
        ("run, one hour out", False, H, H, ScheduleReason.HOURLY),
        ("run, at notAfter (still valid)", False, timedelta(0), H, ScheduleReason.HOURLY),
        ("run, expired long ago", False, -400 * D, H, ScheduleReason.HOURLY),
    ],
)
def test_schedule_next(
    case: str,
    started: bool,
    expires_in: timedelta | None,
    gap: timedelta,
    reason: ScheduleReason,
) -> None:
    earliest = NOW + expires_in if expires_in is not None else None
    nxt = schedule_next(after=NOW, started=started, earliest_not_after=earliest)
    assert (nxt.at - NOW, nxt.reason) == (gap, reason), case
    assert nxt.interval == gap
    assert nxt.explanation


def test_hourly_condition_is_inclusive_at_one_day() -> None:
    assert hourly_condition(NOW + D, NOW)
    assert not hourly_condition(NOW + D + timedelta(microseconds=1), NOW)
    assert not hourly_condition(None, NOW)


def test_explanations_name_the_certificate() -> None:
    nxt = schedule_next(
        after=NOW, started=False, earliest_not_after=NOW - H, earliest_label="web.test (tomcat)"
    )
    assert "web.test (tomcat) expired" in nxt.explanation


# ------------------------------------------------------------------ due/slots

SETTINGS = MonitorSettings(start_days=30, frequency=D)


@pytest.mark.parametrize(
    ("case", "expires_in", "notified_ago", "due"),
    [
        ("outside the window", 31 * D, None, False),
        ("on the window's edge", 30 * D, None, True),
        ("inside, never notified", 10 * D, None, True),
        ("inside, notified 23h ago", 10 * D, 23 * H, False),
        ("inside, notified exactly a frequency ago", 10 * D, D, True),
        ("expired, never notified", -5 * D, None, True),
        ("expired, notified an hour ago", -5 * D, H, False),
    ],
)
def test_is_due(
    case: str, expires_in: timedelta, notified_ago: timedelta | None, due: bool
) -> None:
    last = NOW - notified_ago if notified_ago is not None else None
    assert is_due(NOW + expires_in, last, NOW, SETTINGS) is due, case


def test_notices_a_frequency_apart_never_share_a_slot() -> None:
    for freq in (H, 12 * H, D, 3 * D):
        for start in (NOW, NOW + timedelta(minutes=17), NOW + 5 * H + timedelta(seconds=3)):
            assert frequency_slot(start + freq, freq) == frequency_slot(start, freq) + 1
            assert alert_dedupe_key("s", "ab", freq, start) != alert_dedupe_key(
                "s", "ab", freq, start + freq
            )
    # The same instant in the same slot gives the same key (a repeated run).
    assert alert_dedupe_key("s", "ab", D, NOW) == alert_dedupe_key("s", "ab", D, NOW + H)
    assert digest_dedupe_key(["a", "b"]) == digest_dedupe_key(["b", "a"])
    assert digest_dedupe_key(["a"]) != digest_dedupe_key(["a", "b"])


# --------------------------------------------------------------------- digest


def _due(cn: str, expires_in: timedelta, store: str = "tomcat-trust") -> DueCertificate:
    return DueCertificate(
        certificate_id=hash(cn) & 0xFFFF,
        store=store,
        subject=f"CN={cn}",
        serial="1A2B",
        sha256=(cn.encode().hex() * 64)[:64],
        not_after=NOW + expires_in,
    )


def test_digest_lists_expired_first_with_every_field() -> None:
    items = [
        _due("later.test", 20 * D),
        _due("gone.test", -2 * D, store="CallManager-trust"),
        _due("soon.test", 12 * H),
    ]
    digest = compose_digest(items, NOW)
    assert digest.subject == "[certwarden] Certificate expiry: 1 expired, 2 expiring"
    body = digest.body
    order = [body.index(f"CN={cn}") for cn in ("gone.test", "soon.test", "later.test")]
    assert order == sorted(order)
    assert body.index("EXPIRED (1)") < body.index("EXPIRING (2)")
    gone = body[body.index("CN=gone.test") :]
    assert "Store:      CallManager-trust" in gone
    assert "Serial:     1A2B" in gone
    assert f"SHA-256:    {items[1].sha256}" in gone
    assert "Expired:    2026-05-30T12:00:00Z" in gone  # the one notice time format
    assert "Days left:  -2.0" in gone
    assert "Days left:  0.5" in body
    assert items[1].kind(NOW) is NoticeKind.EXPIRED
