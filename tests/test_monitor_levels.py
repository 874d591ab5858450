"""Severities by level and lifetime-share thresholds, through simulated weeks
with the injected clock: each level is notified once when reached, the
frequency bounds repeats within a level, and a lifetime share gives a 7-day
and a 398-day certificate their own notification start."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from certwarden.adapters.db.models import Alert, AuditEntry, CertificateRow, OutboxMessage
from certwarden.clock import ManualClock, ensure_utc
from certwarden.composition import App
from certwarden.errors import InputError
from certwarden.services.monitor.thresholds import parse_share, share_or_error
from tests.conftest import T0
from tests.monitor_helpers import add_cert

H = timedelta(hours=1)
D = timedelta(days=1)


def drive(app: App, clock: ManualClock, *, days: float) -> None:
    """Tick the real service from run to run, as the server loop does."""
    end = T0 + timedelta(days=days)
    while True:
        nxt = app.monitor.status().next_run_at
        if nxt is None or nxt > end:
            return
        clock.set(nxt)
        assert app.monitor.tick(nxt) is not None


def alerts(app: App) -> list[tuple[datetime, str, str, str]]:
    """(when, subject CN, severity, level) of every alert, oldest first."""
    with app.db.session() as s:
        return [
            (ensure_utc(a.created_at), a.subject.split(",")[0][3:], a.severity, a.details["level"])
            for a in s.scalars(select(Alert).order_by(Alert.id))
        ]


def firsts(rows: list[tuple[datetime, str, str, str]]) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for at, _, _, level in rows:
        out.setdefault(level, at)
    return out


# ------------------------------------------------------------------- levels


def test_three_level_crossings_and_expiry_are_four_notices_not_one_per_slot(
    app: App, clock: ManualClock
) -> None:
    # A 30-day frequency: without levels, one notice in the whole month.
    app.monitor.update_settings({"frequency": "30d", "email_enabled": True, "emails": "ops@x.org"})
    add_cert(app, "web.test", T0 + 20 * D)
    drive(app, clock, days=30)
    rows = alerts(app)
    assert [(r[2], r[3]) for r in rows] == [
        ("warning", "warning"),
        ("major", "major"),
        ("critical", "critical"),
        ("critical", "expired"),
    ]
    # daily runs at T0 + k days; hourly from one day before expiry
    assert [r[0] for r in rows] == [T0 + D, T0 + 13 * D, T0 + 19 * D, T0 + 20 * D + H]
    with app.db.session() as s:
        bodies = [m.body for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        row = s.scalars(select(CertificateRow)).one()
        assert row.notice_level == 4
    assert len(bodies) == 4  # one digest per notice
    for body, level in zip(bodies, ("warning", "major", "critical", "expired"), strict=True):
        assert f"Level:      {level}" in body


def test_the_frequency_still_bounds_repeats_within_a_level(app: App, clock: ManualClock) -> None:
    add_cert(app, "web.test", T0 + 20 * D)  # default frequency: 1 day
    drive(app, clock, days=23)
    rows = alerts(app)
    assert firsts(rows) == {
        "warning": T0 + D,
        "major": T0 + 13 * D,
        "critical": T0 + 19 * D,
        "expired": T0 + 20 * D + H,  # at once, though the last notice is an hour old
    }
    by_level: dict[str, list[datetime]] = {}
    for at, _, _, level in rows:
        by_level.setdefault(level, []).append(at)
    for level, times in by_level.items():
        gaps = {b - a for a, b in pairwise(times)}
        assert gaps <= {D}, (level, gaps)  # repeats a frequency apart, never closer
    assert len(by_level["warning"]) == 12  # days 1..12
    assert len(by_level["major"]) == 6  # days 13..18
    assert by_level["critical"] == [T0 + 19 * D, T0 + 20 * D]  # notAfter itself is not expired
    assert by_level["expired"] == [T0 + 20 * D + H, T0 + 21 * D + H, T0 + 22 * D + H]


def test_a_repeated_run_in_the_same_slot_records_each_level_once(
    app: App, clock: ManualClock
) -> None:
    add_cert(app, "soon.test", T0 + 12 * H)  # critical at once
    assert [n.certificate.level.label for n in app.monitor.run_now().notices] == ["critical"]
    assert app.monitor.run_now().notices == ()
    clock.set(T0 + 13 * H)  # expired: a new level inside the same daily slot
    assert [n.certificate.level.label for n in app.monitor.run_now().notices] == ["expired"]
    assert app.monitor.run_now().notices == ()
    assert [r[3] for r in alerts(app)] == ["critical", "expired"]


def test_custom_levels(app: App, clock: ManualClock) -> None:
    app.monitor.update_settings({"start_days": 10, "major_within": "3d", "critical_within": "12h"})
    add_cert(app, "web.test", T0 + 9 * D + 12 * H)
    drive(app, clock, days=10)
    assert firsts(alerts(app)) == {
        "warning": T0 + D,
        "major": T0 + 7 * D,  # 2.5 days left (3 days left fell between runs)
        "critical": T0 + 9 * D,  # 12 hours left
        "expired": T0 + 9 * D + 13 * H,
    }


# ------------------------------------------------------- lifetime thresholds


def test_lifetime_share_on_a_7_day_and_a_398_day_certificate(app: App, clock: ManualClock) -> None:
    app.inventory.create_store("acme", "short- and long-lived")
    done = app.changes.set_store_threshold("ops", "acme", parse_share("33%"))
    assert done == {
        "target": "acme",
        "lifetime_share": "33%",
        "certificates": 0,
        "notice_from": None,
    }
    # 7 days: notices start 2.31 days before expiry (T0 + 4.69 d)
    add_cert(app, "short.test", T0 + 7 * D, store="acme", not_before=T0)
    # 398 days: start 131.34 days before expiry (T0 + 16.66 d), not 30 days before
    long_id, _ = add_cert(app, "long.test", T0 + 148 * D, store="acme", not_before=T0 - 250 * D)
    # the same 7-day certificate in a store without a share: the 30-day window
    add_cert(app, "plain.test", T0 + 7 * D, not_before=T0)
    with app.db.session() as s:
        start = {
            r.subject_cn: ensure_utc(r.notice_from) if r.notice_from else None
            for r in s.scalars(select(CertificateRow))
        }
    assert start["short.test"] == T0 + 7 * D - 7 * D * 0.33
    assert start["long.test"] == T0 + 148 * D - 398 * D * 0.33
    assert start["plain.test"] is None
    drive(app, clock, days=20)
    rows = alerts(app)
    short = firsts([r for r in rows if r[1] == "short.test"])
    plain = firsts([r for r in rows if r[1] == "plain.test"])
    long = firsts([r for r in rows if r[1] == "long.test"])
    assert plain["major"] == T0 + D  # the 30-day window: at the first run
    # nothing before its start at T0 + 4.69 d; at the next run (5 d) 2 days are
    # left, past the 7-day major level: it enters at major, once
    assert short == {"major": T0 + 5 * D, "critical": T0 + 6 * D, "expired": T0 + 7 * D + H}
    # The hourly rule still applies to the day before expiry (and after it):
    # the expired 7-day certificates keep runs hourly, so long.test, 131 days
    # from expiry, is notified at the first hourly run after its start.
    assert long == {"warning": T0 + 16 * D + 16 * H}
    assert app.monitor.status().interval == H

    # A per-certificate override: 20% moves long.test's start to T0 + 68.4 d.
    override = app.changes.set_certificate_threshold("ops", long_id, parse_share("20%"))
    assert override["lifetime_share"] == "20%"
    assert override["notice_from"] == "2026-08-08T21:36:00Z"  # T0 + 148 d - 79.6 d
    # clearing the store's share leaves the override alone
    cleared = app.changes.set_store_threshold("ops", "acme", None)
    assert cleared["certificates"] == 1  # short.test only
    with app.db.session() as s:
        rows_now = {r.subject_cn: r for r in s.scalars(select(CertificateRow))}
        assert rows_now["short.test"].notice_from is None
        moved = rows_now["long.test"].notice_from
        assert moved is not None and ensure_utc(moved) == T0 + 148 * D - 398 * D * 0.2
        audit = [
            (e.action, e.target, e.details.get("lifetime_share"))
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.endswith(".threshold")
        ]
    assert audit == [
        ("store.threshold", "acme", "33%"),
        ("certificate.threshold", str(long_id), "20%"),
        ("store.threshold", "acme", None),
    ]
    # back to its store's (none now): the 30-day window again
    app.changes.set_certificate_threshold("ops", long_id, None)
    with app.db.session() as s:
        assert s.get_one(CertificateRow, long_id).notice_from is None


def test_the_simulation_sees_lifetime_share_starts(app: App) -> None:
    app.inventory.create_store("acme")
    app.changes.set_store_threshold("ops", "acme", 0.33)
    add_cert(app, "long.test", T0 + 148 * D, store="acme", not_before=T0 - 250 * D)
    report = app.monitor.simulate(20)
    notified = [r.at for r in report.runs if r.notices]
    assert notified == [T0 + 17 * D, T0 + 18 * D, T0 + 19 * D, T0 + 20 * D]
    with app.db.session() as s:
        assert not s.scalars(select(Alert)).all()  # nothing stored


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0%", "out of range"),
        ("100%", "out of range"),
        ("a third", "is not a share"),
        ("-5%", "is not a share"),
        ("", "is not a share"),
    ],
)
def test_bad_shares_are_named(text: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        share_or_error(text, "--lifetime-share")
    assert "--lifetime-share" in str(caught.value) and words in str(caught.value)


def test_a_share_for_an_unknown_store_or_certificate_changes_nothing(app: App) -> None:
    with pytest.raises(Exception, match="no store named 'nowhere'"):
        app.changes.set_store_threshold("ops", "nowhere", 0.5)
    with pytest.raises(Exception, match="999"):
        app.changes.set_certificate_threshold("ops", 999, 0.5)
    with app.db.session() as s:
        assert not [e for e in s.scalars(select(AuditEntry)) if "threshold" in e.action]


async def test_a_store_threshold_set_and_cleared_in_the_ui(app: App) -> None:
    """Trust stores page: the threshold shown, set (audited), refused with the reason
    when it is not a share (nothing stored), and cleared."""
    from tests.web_support import ADMIN_PASSWORD, asgi_client, login, make_setup

    setup = make_setup(app)
    app.inventory.create_store("acme", "short-lived")
    add_cert(app, "short.test", T0 + 7 * D, store="acme", not_before=T0)
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        page = (await browser.get("/stores")).text
        assert (
            'action="/stores/acme/threshold"' in page and "at the Notification Start Time" in page
        )
        bad = await browser.post(
            "/stores/acme/threshold", data={"csrf_token": csrf, "lifetime_share": "<b>lots</b>"}
        )
        assert bad.status_code == 303
        shown = (await browser.get("/stores")).text
        assert "is not a share of the lifetime" in shown and "<b>lots</b>" not in shown
        assert [s.lifetime_share for s in app.inventory.list_stores() if s.name == "acme"] == [None]
        done = await browser.post(
            "/stores/acme/threshold",
            data={"csrf_token": csrf, "lifetime_share": "33%", "action": "set"},
        )
        assert done.status_code == 303
        shown = (await browser.get("/stores")).text
        assert "when less than 33% of the lifetime remains" in shown
        assert "(1 certificate(s) updated)" in shown
        async with asgi_client(setup.web, setup.admin_token) as api:
            listed = (await api.get("/api/v1/stores")).json()
        acme = [s for s in listed["items"] if s["name"] == "acme"]
        assert acme[0]["lifetime_share"] == "33%"
        await browser.post("/stores/acme/threshold", data={"csrf_token": csrf, "action": "clear"})
        assert [s.lifetime_share for s in app.inventory.list_stores() if s.name == "acme"] == [None]
    async with asgi_client(setup.web) as viewer:
        await login(viewer, "viewer", "viewer-password-1")
        page = (await viewer.get("/stores")).text
        assert "/stores/acme/threshold" not in page  # the form is for administrators
    with app.db.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry)) if e.target == "acme"]
    assert actions.count("store.threshold") == 2
