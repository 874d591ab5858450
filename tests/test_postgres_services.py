"""Everything that stores data, on PostgreSQL as well as SQLite.

Three ways, all through the same service APIs the SQLite tests use:

* the existing SQLite flows (monitor schedule and runs, outbox and SMTP, users
  and tokens, revocation against the real ``openssl ocsp`` responders) run again,
  unchanged, on PostgreSQL: once through a session in UTC and once through a
  session whose ``TimeZone`` is America/St_Johns (UTC-02:30 in June), where every
  time PostgreSQL hands back carries that offset;
* new flows parametrized over both backends (``any_app``): a monitor run with
  alerts and one digest delivered once, a revocation check recording its
  evidence, tokens; a failed operation changing nothing (the database itself
  refuses an INSERT mid-transaction, through a trigger); two processes
  delivering the outbox at once;
* every time in ``--json``, API and service JSON ends in ``Z``, and the same
  story renders the same JSON on SQLite, PostgreSQL and PostgreSQL in another
  time zone.

PostgreSQL cases are marked ``postgres`` (``pg_app`` skips them with the reason
where no server answers).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.engine import make_url

from certwarden.adapters.db.models import OcspCheck
from certwarden.adapters.smtp import SmtpSettings, SmtpTransport
from certwarden.clock import ManualClock, ensure_utc
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.ocsp import CertStatus, TrustModel
from certwarden.errors import StorageError
from certwarden.interfaces.web import create_app
from certwarden.services.accounts import UserService
from certwarden.services.revocation import check_evidence
from certwarden.services.shared.outbox import OutboxService, enqueue
from tests import test_monitor, test_outbox_smtp, test_revocation_real_responder, test_users
from tests.conftest import T0, Cli
from tests.monitor_helpers import add_cert, make_pem
from tests.ocsp_responders import free_port, write_pem
from tests.pki_files import pem, small_pki, write
from tests.smtp_fixture import SmtpServer
from tests.test_outbox_smtp import email_on, use_server
from tests.web_support import FAST_HASHER, asgi_client, make_setup

# The real openssl responders (module-scoped fixture, reused as it is).
responders = test_revocation_real_responder.responders
Responders = test_revocation_real_responder.Responders

H = timedelta(hours=1)
D = timedelta(days=1)
# UTC-02:30 in June (-03:30 in winter): a half-hour offset shows any time that
# slips through as wall-clock time.
OFFSET_ZONE = "America/St_Johns"

PG = pytest.mark.postgres


def another_process(app: App, clock: ManualClock, *, zone: str | None = None) -> App:
    """A second app on the same database (another process, as far as the
    database can tell); ``zone`` sets its PostgreSQL sessions' TimeZone."""
    url = app.db.url
    if zone is not None:
        parsed = make_url(url)
        options = f"{parsed.query.get('options', '')} -c TimeZone={zone}".strip()
        url = parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)
    return build_app(AppConfig(data_dir=app.config.data_dir, database_url=url), clock=clock)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=PG)])
def any_app(request: pytest.FixtureRequest) -> App:
    """The wired app on SQLite, then on a fresh PostgreSQL schema."""
    app: App = request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")
    return app


@pytest.fixture
def pg_offset_app(pg_app: App, clock: ManualClock) -> Iterator[App]:
    """``pg_app``'s database through sessions in America/St_Johns."""
    offset = another_process(pg_app, clock, zone=OFFSET_ZONE)
    try:
        yield offset
    finally:
        offset.close()


@pytest.fixture(params=[pytest.param("utc", marks=PG), pytest.param("offset", marks=PG)])
def pg_any_zone(request: pytest.FixtureRequest) -> App:
    """PostgreSQL through a UTC session, then through one in America/St_Johns."""
    app: App = request.getfixturevalue("pg_app" if request.param == "utc" else "pg_offset_app")
    return app


def _snapshot(app: App, *tables: str) -> dict[str, list[Any]]:
    with app.db.session() as s:
        return {t: s.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in tables}


def _count(app: App, table: str) -> int:
    with app.db.session() as s:
        return int(s.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


# ------------------------------------------- the existing flows, on PostgreSQL


def _stock_responder_pki(app: App, pki: Any, directory: Path) -> None:
    """What ``test_revocation_real_responder.real_app`` holds: the chain in
    tomcat-trust, the six leaves in tomcat (stored while OCSP is off)."""
    directory.mkdir()
    write_pem(directory / "chain.pem", pki.ca.cert, pki.root.cert)
    app.inventory.import_paths([directory / "chain.pem"], store="tomcat-trust")
    leaves = directory / "leaves"
    leaves.mkdir()
    for name, issued in pki.leaves.items():
        write_pem(leaves / f"{name}.pem", issued.cert)
    app.inventory.import_paths([leaves], store="tomcat")


def _call(flow: Callable[..., Any], app: App, request: pytest.FixtureRequest) -> Any:
    """Call a test function of another module with ``app`` as its database."""
    args: dict[str, Any] = {}
    for name in inspect.signature(flow).parameters:
        if name == "app":
            args[name] = app
        elif name == "users":
            args[name] = UserService(app.db, app.clock, hasher=test_users.FAST)
        elif name == "real_app":
            pki = request.getfixturevalue("responders").pki
            app.clock.set(pki.now + timedelta(seconds=1))  # type: ignore[attr-defined]
            _stock_responder_pki(app, pki, request.getfixturevalue("tmp_path") / "rr")
            args[name] = app
        else:
            args[name] = request.getfixturevalue(name)
    return flow(**args)


FLOWS: list[Callable[..., Any]] = [
    test_monitor.test_status_explains_the_interval,
    test_monitor.test_a_run_notifies_what_is_inside_the_window_once_per_frequency,
    test_monitor.test_a_shorter_frequency_notifies_more_often,
    test_monitor.test_deleted_or_replaced_certificates_stop_being_notified,
    test_monitor.test_a_repeated_run_in_the_same_slot_notifies_nothing_twice,
    test_monitor.test_lsc_certificates_only_when_lsc_monitoring_is_on,
    test_monitor.test_a_tick_that_is_not_due_writes_nothing,
    test_monitor.test_simulation_writes_nothing_and_matches_real_runs,
    test_monitor.test_simulation_continues_the_current_schedule_or_starts_from_a_given_time,
    test_outbox_smtp.test_one_digest_with_the_right_certificates_reaches_every_recipient,
    test_outbox_smtp.test_the_frequency_rule_over_two_days_of_hourly_runs,
    test_outbox_smtp.test_server_down_during_the_run_then_up_every_notice_arrives_once,
    test_outbox_smtp.test_a_refused_message_is_retried_with_backoff_until_accepted,
    test_outbox_smtp.test_no_smtp_server_configured_leaves_notices_queued_untouched,
    test_outbox_smtp.test_enqueue_never_stores_a_key_twice,
    test_outbox_smtp.test_a_process_dying_mid_send_leaves_the_notice_claimed_then_retried_once,
    test_users.test_the_last_admin_stays,
    test_users.test_tokens_are_shown_once_and_revocable,
    test_users.test_initial_admin,
    test_revocation_real_responder.test_delegated_responder_named_in_the_aia,
    test_revocation_real_responder.test_signed_by_the_issuing_ca_itself,
    test_revocation_real_responder.test_unrelated_responder_uploaded_to_tomcat_trust_is_trusted,
    test_revocation_real_responder.test_unrelated_responder_not_uploaded_is_refused,
]


@pytest.mark.parametrize("flow", FLOWS, ids=[f.__name__.removeprefix("test_") for f in FLOWS])
def test_sqlite_flow_on_postgres(
    flow: Callable[..., Any], pg_any_zone: App, request: pytest.FixtureRequest
) -> None:
    _call(flow, pg_any_zone, request)


@pytest.mark.parametrize(
    "scenario", test_monitor.SCENARIOS, ids=[s.id for s in test_monitor.SCENARIOS]
)
def test_monitor_schedule_on_postgres(
    scenario: test_monitor.Scenario, pg_any_zone: App, clock: ManualClock
) -> None:
    test_monitor.test_schedule(pg_any_zone, clock, scenario)


@PG
def test_the_offset_session_really_hands_back_other_offsets(pg_offset_app: App) -> None:
    """The control for every ``offset`` case: times come back as -02:30, not UTC."""
    add_cert(pg_offset_app, "soon.test", T0 + D)
    with pg_offset_app.db.session() as s:
        zone = s.execute(sa.text("SHOW TimeZone")).scalar_one()
        not_after = s.execute(sa.text("SELECT not_after FROM certificates")).scalar_one()
    assert zone == OFFSET_ZONE
    assert not_after.utcoffset() == -timedelta(hours=2, minutes=30)
    assert not_after == T0 + D
    assert pg_offset_app.inventory.list()[0].to_json(T0)["not_after"] == "2026-06-02T12:00:00Z"


# ------------------------------------------------------- key flows, both backends


def test_a_run_records_alerts_and_one_digest_delivered_once_and_a_repeat_nothing(
    any_app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    app = any_app
    use_server(app, smtp_server.port)
    email_on(app, "a@x.org; b@y.org")
    add_cert(app, "expired.test", T0 - 2 * D, store="CallManager-trust")
    add_cert(app, "soon.test", T0 + 10 * D)
    add_cert(app, "far.test", T0 + 90 * D)

    report = app.monitor.run_now()
    assert [(n.kind.value, n.certificate.subject.split(",")[0]) for n in report.notices] == [
        ("expired", "CN=expired.test"),
        ("expiring", "CN=soon.test"),
    ]
    assert report.digest_queued
    assert report.to_json()["notices"][0]["not_after"] == "2026-05-30T12:00:00Z"
    delivery = app.outbox.deliver_due()
    assert len(delivery.sent) == 1 and not delivery.failed
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ("a@x.org", "b@y.org")
    assert "CN=expired.test" in mail.body and "CN=soon.test" in mail.body
    (entry,) = app.outbox.list()
    assert (entry.state, entry.attempts, entry.sent_at) == ("sent", 1, T0)
    alerts, total = app.overview.alerts()
    assert total == 2 and {a.created_at for a in alerts} == {T0}

    # The same slot again, even with the run's marks lost: nothing new anywhere.
    before = _snapshot(app, "alerts", "outbox")
    clock.advance(2 * H)
    assert app.monitor.run_now().notices == ()
    with app.db.session() as s:
        s.execute(sa.text("UPDATE certificates SET last_notified_at = NULL"))
    again = app.monitor.run_now()
    assert again.notices == () and again.already_notified == 2 and not again.digest_queued
    assert _snapshot(app, "alerts", "outbox") == before
    assert app.outbox.deliver_due().sent == []
    assert len(smtp_server.messages) == 1
    assert app.monitor.status().last_run_at == T0 + 2 * H


def test_a_revocation_check_records_its_evidence(
    any_app: App, clock: ManualClock, responders: Responders, tmp_path: Path
) -> None:
    app, pki = any_app, responders.pki
    clock.set(pki.now + timedelta(seconds=1))
    _stock_responder_pki(app, pki, tmp_path / "pki")
    app.revocation.update_settings({"enable_ocsp": True})
    ids = {r.sha256: r.id for r in app.inventory.list()}
    sha = {n: i.cert.fingerprint(hashes.SHA256()).hex() for n, i in pki.leaves.items()}
    delegated_sha = pki.delegated.cert.fingerprint(hashes.SHA256()).hex()

    # One certificate alone: its response is kept inline, with the signer.
    report = app.revocation.check([str(ids[sha["revoked_key"]])])
    (outcome,) = report.outcomes
    assert outcome.result.status is CertStatus.REVOKED and outcome.changed
    with app.db.session() as s:
        (check,) = s.scalars(sa.select(OcspCheck))
        assert check.raw_response == outcome.result.raw_response is not None
        assert check.response_id is None and check_evidence(s, check.id) == check.raw_response
        assert (check.status, check.revocation_reason) == ("revoked", "keyCompromise")
        assert (check.trust_model, check.signer_sha256) == ("delegated", delegated_sha)
        assert check.responder_url == responders.delegated.url
        # Raw rows: naive on SQLite, aware (in the session's zone) on PostgreSQL.
        assert check.revoked_at is not None and ensure_utc(check.revoked_at) == pki.revoked_at
        assert ensure_utc(check.checked_at) == clock.now()
    record = app.inventory.get(ids[sha["revoked_key"]])
    assert (record.revocation_status, record.revoked_at) == ("revoked", pki.revoked_at)

    # All of them: one batched response, stored once and shared.
    clock.advance(H)
    outcomes = {o.sha256: o for o in app.revocation.check(all_monitored=True).outcomes}
    assert outcomes[sha["good"]].result.status is CertStatus.GOOD
    assert outcomes[sha["good"]].result.trust_model is TrustModel.DELEGATED
    with app.db.session() as s:
        batch = list(s.scalars(sa.select(OcspCheck).where(OcspCheck.checked_at == clock.now())))
        shared = {c.response_id for c in batch if c.status != "could_not_tell"}
        assert len(shared) == 1 and None not in shared
        assert {check_evidence(s, c.id) for c in batch if c.response_id} == {
            outcomes[sha["good"]].result.raw_response
        }
    # First checks told the bad news once (4 revoked, 1 unknown); the same
    # answers again are no change: no new alert.
    assert _count(app, "alerts") == 5
    clock.advance(H)
    app.revocation.check(all_monitored=True)
    assert _count(app, "alerts") == 5
    history, total = app.overview.ocsp_history(ids[sha["revoked_key"]])
    assert total == 3 and history[0].checked_at == clock.now()
    assert history[-1].to_json()["revoked_at"] == pki.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_tokens_are_touched_at_most_once_a_minute(any_app: App, clock: ManualClock) -> None:
    users = UserService(any_app.db, any_app.clock, hasher=FAST_HASHER)
    users.add_user("bot", "bot-password")
    info, secret = users.create_token("bot", "ci")
    assert info.created_at == T0 and info.last_used_at is None
    assert users.verify_token(secret) is not None
    clock.advance(timedelta(seconds=59))
    assert users.verify_token(secret) is not None
    assert users.get_token(info.id).last_used_at == T0  # not rewritten within a minute
    clock.advance(timedelta(seconds=1))
    assert users.verify_token(secret) is not None
    assert users.get_token(info.id).last_used_at == T0 + timedelta(minutes=1)
    revoked = users.revoke_token(info.id)
    assert revoked.revoked_at == clock.now() and users.verify_token(secret) is None
    assert users.get_token(info.id).to_json()["revoked_at"] == "2026-06-01T12:01:00Z"


# ------------------------------------------- a failed operation changes nothing


@contextmanager
def refused_inserts(app: App, table: str, when: str | None = None) -> Iterator[str]:
    """The database itself refuses INSERTs into ``table`` (where ``when`` holds),
    through a trigger: a failure in the middle of the operation's transaction."""
    message = f"injected failure: {table} refused the row"
    name = f"cw_refuse_{table}"
    with app.db.engine.begin() as conn:
        if app.db.dialect == "sqlite":
            cond = f" WHEN {when}" if when else ""
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table}{cond} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        else:
            conn.exec_driver_sql(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$"
            )
            cond = f" WHEN ({when})" if when else ""
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW{cond} "
                f"EXECUTE FUNCTION {name}()"
            )
    try:
        yield message
    finally:
        with app.db.engine.begin() as conn:
            if app.db.dialect == "sqlite":
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
            else:
                conn.exec_driver_sql(f"DROP TRIGGER {name} ON {table}")
                conn.exec_driver_sql(f"DROP FUNCTION {name}()")


MONITOR_TABLES = ("certificates", "alerts", "outbox", "services", "settings")


def test_a_run_whose_digest_cannot_be_stored_stores_nothing(
    any_app: App, smtp_server: SmtpServer
) -> None:
    app = any_app
    use_server(app, smtp_server.port)
    email_on(app)
    add_cert(app, "expired.test", T0 - D)
    add_cert(app, "soon.test", T0 + 3 * D)
    before = _snapshot(app, *MONITOR_TABLES)
    with refused_inserts(app, "outbox") as message, pytest.raises(StorageError, match=message):
        app.monitor.run_now()
    # No alert, no "notified" mark, no schedule change: the run did not happen.
    assert _snapshot(app, *MONITOR_TABLES) == before
    report = app.monitor.run_now()
    assert len(report.notices) == 2 and report.digest_queued
    assert len(app.outbox.deliver_due().sent) == 1 and len(smtp_server.messages) == 1


def test_a_check_whose_evidence_cannot_be_stored_stores_nothing(any_app: App) -> None:
    app = any_app
    email_on(app)
    expired_id, _ = add_cert(app, "expired.test", T0 - D)
    orphan_id, _ = add_cert(app, "orphan.test", T0 + 90 * D)
    tables = ("certificates", "ocsp_checks", "ocsp_responses", "alerts", "outbox")
    before = _snapshot(app, *tables)
    with (
        refused_inserts(app, "ocsp_checks") as message,
        pytest.raises(StorageError, match=message),
    ):
        app.revocation.check([str(expired_id), str(orphan_id)])
    assert _snapshot(app, *tables) == before
    report = app.revocation.check([str(expired_id), str(orphan_id)])
    assert [o.result.status.value for o in report.outcomes] == ["revoked", "could_not_tell"]
    assert report.notices_queued == 1
    assert app.inventory.get(expired_id).revocation_status == "revoked"
    assert (_count(app, "ocsp_checks"), _count(app, "alerts")) == (2, 1)


def test_an_upload_whose_check_evidence_cannot_be_stored_stores_nothing(any_app: App) -> None:
    """The upload check stores the certificates and the evidence of their checks
    in one transaction (they were two: a failure left the certificates behind)."""
    app = any_app
    app.revocation.update_settings({"enable_ocsp": True})
    # Its issuer is not in the inventory: could not tell, stored with a warning.
    data = make_pem("orphan.test", T0 + 90 * D)
    tables = ("certificates", "ocsp_checks", "ocsp_responses", "alerts", "outbox")
    before = _snapshot(app, *tables)
    prepared = app.inventory.prepare_bytes([("orphan.pem", data)], store="tomcat")
    with (
        refused_inserts(app, "ocsp_checks") as message,
        pytest.raises(StorageError, match=message),
    ):
        app.upload.commit_checked(prepared)
    assert _snapshot(app, *tables) == before
    report = app.upload.commit_checked(prepared)
    assert len(report.imported) == 1 and not report.rejected
    (record,) = app.inventory.list()
    assert (record.revocation_status, record.revocation_reason) == (
        "could_not_tell",
        "issuer_not_found",
    )
    assert _count(app, "ocsp_checks") == 1


def test_an_import_the_database_refuses_halfway_stores_nothing(
    any_app: App, tmp_path: Path
) -> None:
    pki = small_pki(T0)
    bundle = write(
        tmp_path / "all.pem", pem(pki.root.cert, pki.sub.cert, *(x.cert for x in pki.leaves))
    )
    with (
        refused_inserts(any_app, "certificates", "NEW.subject_cn = 'leaf2.test'") as message,
        pytest.raises(StorageError, match=message),
    ):
        any_app.inventory.import_paths([bundle], store="tomcat")
    assert _count(any_app, "certificates") == 0
    assert len(any_app.inventory.import_paths([bundle], store="tomcat").imported) == 6


def test_long_serials_and_key_identifiers_are_stored_on_every_backend(
    any_app: App, tmp_path: Path
) -> None:
    """RFC 5280 asks CAs for serials of at most 20 octets and bounds key
    identifiers not at all; the parser takes longer ones, so the database must too
    (PostgreSQL refused a VARCHAR(128) overflow where SQLite stored it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "long-ids.test")])
    long_ids = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - D)
        .not_valid_after(T0 + 90 * D)
        .add_extension(x509.SubjectKeyIdentifier(b"\x01" * 100), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(b"\x02" * 100, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_pem(tmp_path / "long-ids.pem", long_ids)
    serial = "7f" + "ab" * 69  # 70 octets: only openssl will still make one
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "long-serial.pem"),
         "-subj", "/CN=long-serial.test", "-days", "30", "-set_serial", "0x" + serial],
        check=True, capture_output=True,
    )  # fmt: skip
    files = [tmp_path / "long-ids.pem", tmp_path / "long-serial.pem"]
    report = any_app.inventory.import_paths(files, store="tomcat")
    assert len(report.imported) == 2 and not report.rejected
    records = {r.subject_cn: r.to_json(T0) for r in any_app.inventory.list()}
    assert records["long-ids.test"]["subject_key_id"] == "01" * 100
    assert records["long-ids.test"]["authority_key_id"] == "02" * 100
    assert records["long-serial.test"]["serial"] == serial
    assert len(any_app.inventory.import_paths(files, store="tomcat").duplicates) == 2


# --------------------------------------------- two processes deliver at once


class HeldTransport(SmtpTransport):
    """The real SMTP transport, held at its first message until released: the
    process delivering through it is caught in the middle of sending."""

    def __init__(self, settings: SmtpSettings, sending: threading.Event, go: threading.Event):
        super().__init__(settings)
        self._sending, self._go = sending, go

    def send(self, message: EmailMessage) -> dict[str, str]:
        if not self._sending.is_set():
            self._sending.set()
            assert self._go.wait(20), "never released"
        return super().send(message)


def test_two_processes_delivering_at_once_send_each_notice_once(
    any_app: App, smtp_server: SmtpServer
) -> None:
    """Both processes read the same eight due notices; the first claims notice 1
    and is held while sending it; the second then tries all eight and must skip
    the claimed one."""
    use_server(any_app, smtp_server.port)
    with any_app.db.session() as s:
        for i in range(8):
            enqueue(s, now=T0, kind="test", dedupe_key=f"n{i}", recipients=["ops@x.org"],
                    subject=f"notice {i}", body="b")  # fmt: skip
    second_read, first_sending, go = threading.Event(), threading.Event(), threading.Event()

    def second_transport(settings: SmtpSettings) -> SmtpTransport:
        # Built after the second process has read what is due, before any claim.
        second_read.set()
        assert first_sending.wait(20), "the first process never started sending"
        return SmtpTransport(settings)

    second_app = another_process(any_app, ManualClock(T0))
    first = OutboxService(
        any_app.db,
        ManualClock(T0),
        transport_factory=lambda st: HeldTransport(st, first_sending, go),
    )
    second = OutboxService(second_app.db, ManualClock(T0), transport_factory=second_transport)
    reports: dict[str, Any] = {}
    started: list[threading.Thread] = []

    def deliver(name: str, outbox: OutboxService) -> threading.Thread:
        thread = threading.Thread(target=lambda: reports.update({name: outbox.deliver_due(T0)}))
        thread.start()
        started.append(thread)
        return thread

    try:
        second_thread = deliver("second", second)
        assert second_read.wait(20), "the second process never read the outbox"
        deliver("first", first)
        second_thread.join(20)  # done while the first is still held mid-send
        assert not second_thread.is_alive()
    finally:
        go.set()
        for thread in started:
            thread.join(20)
        second_app.close()
    first_report, second_report = reports["first"], reports["second"]
    assert len(first_report.sent) == 1 and len(second_report.sent) == 7
    assert set(first_report.sent).isdisjoint(second_report.sent)
    assert not first_report.failed and not second_report.failed
    subjects = sorted(m.subject for m in smtp_server.messages)
    assert subjects == [f"notice {i}" for i in range(8)]
    assert len({m.message["Message-ID"] for m in smtp_server.messages}) == 8
    assert {(e.state, e.attempts) for e in any_app.outbox.list()} == {("sent", 1)}
    assert any_app.outbox.deliver_due(T0 + D).sent == []


# ------------------------------------------------------- every time ends in Z

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _times(value: Any, where: str = "") -> list[tuple[str, str]]:
    """Every string in ``value`` that starts like a date-time, with its path."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _times(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _times(v, f"{where}[{i}]")]
    if isinstance(value, str) and LOOKS_LIKE_TIME.match(value):
        return [(where, value)]
    return []


def _without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


@cache
def _story_pems() -> dict[str, bytes]:
    """The same certificates for every backend (so that their JSON can be compared)."""
    return {
        "expired": make_pem("expired.test", T0 - 2 * D),
        "soon": make_pem("soon.test", T0 + 10 * D),
        "far": make_pem("far.test", T0 + 90 * D),
    }


def _story(app: App, clock: ManualClock, smtp_port: int, closed_port: int) -> str:
    """Three certificates, an endpoint nobody answers at, a monitor run delivered,
    a revocation check (one expired, one without its issuer), users, tokens;
    returns the admin token."""
    clock.set(T0)
    use_server(app, smtp_port)
    email_on(app)
    app.endpoints.add(f"127.0.0.1:{closed_port}")  # probed (unreachable) by the run
    for name, data in _story_pems().items():
        store = "CallManager-trust" if name == "expired" else "tomcat-trust"
        app.inventory.commit(app.inventory.prepare_bytes([(f"{name}.pem", data)], store=store))
    app.monitor.run_now()
    app.outbox.deliver_due()
    clock.advance(H)
    app.revocation.check(["1", "2"])
    setup = make_setup(app)
    clock.advance(H)
    assert app.users.verify_token(setup.viewer_token) is not None
    app.users.revoke_token(app.users.list_tokens("viewer")[0].id)
    app.users.audit("admin", "test.story", "tomcat-trust")
    clock.advance(H)
    # Used now, so that the API calls of _views (within the minute) write nothing.
    assert app.users.verify_token(setup.admin_token) is not None
    return setup.admin_token


API_PATHS = (
    "/api/v1/me",
    "/api/v1/dashboard",
    "/api/v1/certificates",
    "/api/v1/certificates/1",
    "/api/v1/certificates/1/ocsp-checks",
    "/api/v1/alerts",
    "/api/v1/outbox",
    "/api/v1/services",
    "/api/v1/services/monitor",
    "/api/v1/users",
    "/api/v1/tokens",
    "/api/v1/audit",
    "/api/v1/stores",
)
CLI_COMMANDS = (
    ("list", "--json"),
    ("show", "1", "--json"),
    ("alerts", "list", "--json"),
    ("outbox", "list", "--json"),
    ("monitor", "status", "--json"),
    ("monitor", "simulate", "--days", "2", "--json"),
    ("users", "list", "--json"),
    ("tokens", "list", "--json"),
    ("endpoints", "list", "--json"),
    ("stores", "list", "--json"),
)
# The appliance's stores are made by the migration, stamped with the wall clock.
MIGRATION_STAMPED = frozenset({"GET /api/v1/stores", "cli stores list --json"})


def _views(app: App, admin_token: str) -> dict[str, Any]:
    """Everything the story shows as JSON: services, ``--json`` and the API."""
    now = app.clock.now()
    out: dict[str, Any] = {
        "inventory": [r.to_json(now) for r in app.inventory.list()],
        "status": app.monitor.status().to_json(),
        "simulation": app.monitor.simulate(2).to_json(),
        "alerts": [a.to_json() for a in app.overview.alerts()[0]],
        "outbox": [e.to_json() for e in app.outbox.list()],
        "ocsp": [c.to_json() for c in app.overview.ocsp_history(1)[0]],
        "services": [s.to_json() for s in app.overview.service_states()],
        "users": [u.to_json() for u in app.users.list_users()],
        "tokens": [t.to_json() for t in app.users.list_tokens()],
        "audit": [a.to_json() for a in app.users.list_audit()[0]],
        "endpoints": [e.to_json() for e in app.endpoints.list()],
    }
    cli = Cli(app.config.data_dir, now)
    for command in CLI_COMMANDS:
        result = cli(*command, env={"CERTWARDEN_DATABASE_URL": app.db.url})
        assert result.code == 0, (command, result)
        out["cli " + " ".join(command)] = json.loads(result.stdout)

    async def api() -> None:
        async with asgi_client(create_app(app), admin_token) as client:
            for path in API_PATHS:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.text)
                out["GET " + path] = response.json()

    asyncio.run(api())
    # Token prefixes are random; nothing else may differ between backends.
    return _without(out, frozenset({"prefix"}))


def test_every_json_time_ends_in_z(
    any_app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    views = _views(any_app, _story(any_app, clock, smtp_server.port, free_port()))
    times = _times(views)
    wrong = [(where, value) for where, value in times if not ISO_Z.match(value)]
    assert wrong == []
    assert len(times) > 150  # the walk did see the times
    for view in ("GET /api/v1/certificates/1", "cli show 1 --json"):
        assert views[view]["not_after"] == "2026-05-30T12:00:00Z"
    assert views["cli outbox list --json"][-1]["sent_at"] == "2026-06-01T12:00:00Z"
    assert views["GET /api/v1/audit"]["items"][0]["at"] == "2026-06-01T14:00:00Z"
    (endpoint,) = views["cli endpoints list --json"]
    assert endpoint["last_probe_at"] == "2026-06-01T12:00:00Z"


@PG
def test_the_same_story_renders_the_same_json_on_every_backend(
    app: App, pg_app: App, pg_offset_app: App, clock: ManualClock, smtp_server: SmtpServer
) -> None:
    closed = free_port()
    on_sqlite = _without(
        _views(app, _story(app, clock, smtp_server.port, closed)), MIGRATION_STAMPED
    )
    token = _story(pg_app, clock, smtp_server.port, closed)
    assert _without(_views(pg_app, token), MIGRATION_STAMPED) == on_sqlite
    # The same rows, read through sessions that get every time back as -02:30. The views
    # above used the token, so its last_used_at is now set: compare with the same rows
    # read again through the UTC sessions.
    again = _without(_views(pg_app, token), MIGRATION_STAMPED)
    assert again["GET /api/v1/me"]["token"]["last_used_at"] is not None
    assert _without(_views(pg_offset_app, token), MIGRATION_STAMPED) == again
