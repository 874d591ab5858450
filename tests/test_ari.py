"""ACME Renewal Information (RFC 9773) against a real HTTP server on loopback.

The server speaks the RFC's JSON: an ACME directory naming ``renewalInfo`` and
``renewalInfo/<certID>`` answers set per test (window, Retry-After, status).
Time is the injected clock: a test walks days in milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from certwarden.adapters.db.models import Alert
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.core.ari import (
    MAX_POLL,
    MIN_POLL,
    AriAnswerError,
    RenewalWindow,
    backoff,
    conditions,
    next_poll,
    parse_renewal_info,
    renewal_id,
)
from certwarden.errors import InvalidFieldsError, NotFoundError
from tests.conftest import T0
from tests.fakeca import DAY, FakeCA

H = timedelta(hours=1)


class AriServer:
    """An ACME directory + renewalInfo on 127.0.0.1; answers set per certID."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, dict[str, Any] | str, dict[str, str]]] = {}
        self.asked: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.down = False

    @property
    def directory(self) -> str:
        return f"http://127.0.0.1:{self.port}/directory"

    def window(
        self,
        cert: x509.Certificate,
        start: datetime,
        end: datetime,
        *,
        retry_after: str | None = None,
        explanation: str | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "suggestedWindow": {
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        }
        if explanation:
            body["explanationURL"] = explanation
        self.answers[renewal_id(cert)] = (
            200,
            body,
            {"Retry-After": retry_after} if retry_after else {},
        )

    async def _directory(self, _request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503)
        base = f"http://127.0.0.1:{self.port}/renewalInfo"
        return web.json_response({"newNonce": "x", "renewalInfo": base})

    async def _info(self, request: web.Request) -> web.Response:
        cert_id = request.match_info["id"]
        self.asked.append(cert_id)
        if self.down:
            return web.Response(status=503)
        status, body, headers = self.answers.get(cert_id, (404, "unknown", {}))
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, headers=headers)

    def start(self) -> AriServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/directory", self._directory)
            app.router.add_get("/renewalInfo/{id}", self._info)
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="ari-server", daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@pytest.fixture
def server() -> Iterator[AriServer]:
    s = AriServer().start()
    yield s
    s.stop()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _store(app: App, store: str, *certs: x509.Certificate) -> list[int]:
    files = [(f"c{i}.pem", _pem(c)) for i, c in enumerate(certs)]
    report = app.inventory.commit(app.inventory.prepare_bytes(files, store=store))
    return [c.id for c in report.imported]


def _alerts(app: App, kind: str) -> list[Alert]:
    with app.db.session() as s:
        return list(s.scalars(select(Alert).where(Alert.kind == kind).order_by(Alert.id)))


# ------------------------------------------------------------------ the core


def test_renewal_id_is_the_rfc_9773_example() -> None:
    """RFC 9773 4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
    and serial 00:87:65:43:21 give ``aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE``."""
    ca = FakeCA.root()
    key = ca.key
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=ari.example"))
        .issuer_name(ca.cert.subject)
        .public_key(ca.cert.public_key())
        .serial_number(0x87654321)
        .not_valid_before(T0 - DAY)
        .not_valid_after(T0 + 90 * DAY)
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(key, ca.cert.signature_hash_algorithm)  # type: ignore[arg-type]
    )
    assert renewal_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_renewal_id_needs_an_authority_key_identifier() -> None:
    ca = FakeCA.root()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=no-aki"))
        .issuer_name(ca.cert.subject)
        .public_key(ca.cert.public_key())
        .serial_number(5)
        .not_valid_before(T0 - DAY)
        .not_valid_after(T0 + DAY)
        .sign(ca.key, ca.cert.signature_hash_algorithm)  # type: ignore[arg-type]
    )
    with pytest.raises(AriAnswerError, match="no Authority Key Identifier"):
        renewal_id(cert)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "no suggestedWindow"),
        (b'{"suggestedWindow": {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}}',
         "end is not after"),
        (b'{"suggestedWindow": {"start": "yesterday", "end": "2026-01-01T00:00:00Z"}}',
         "not an RFC 3339 time"),
        (b'{"suggestedWindow": {"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"}}',
         "no time zone"),
        (b'{"suggestedWindow": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},'
         b' "explanationURL": "javascript:alert(1)"}', "explanationURL"),
        (b" " * (64 * 1024 + 1), "larger than"),
    ],
)  # fmt: skip
def test_bad_answers_are_named(body: bytes, problem: str) -> None:
    with pytest.raises(AriAnswerError, match=problem):
        parse_renewal_info(body)


def test_a_good_answer() -> None:
    window = parse_renewal_info(
        b'{"suggestedWindow": {"start": "2026-01-01T00:00:00+01:00", "end": "2026-01-03T00:00:00Z"},'
        b' "explanationURL": "https://ca.example/incident"}'
    )
    assert window == RenewalWindow(
        datetime(2025, 12, 31, 23, tzinfo=UTC),
        datetime(2026, 1, 3, tzinfo=UTC),
        "https://ca.example/incident",
    )


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        (None, timedelta(hours=6)),  # certwarden's default without Retry-After
        ("3600", H),
        ("5", MIN_POLL),  # clamped up (RFC 9773 4.3: reasonable limits)
        ("999999", MAX_POLL),  # clamped down
        ("Fri, 01 Jun 2026 13:00:00 GMT", H),  # an HTTP-date, one hour after T0
        ("soon", timedelta(hours=6)),  # unreadable: the default
    ],
)
def test_next_poll_honours_retry_after_within_limits(header: str | None, wait: timedelta) -> None:
    assert datetime(2026, 6, 1, 12, tzinfo=UTC) == T0
    assert next_poll(header, T0) == T0 + wait


def test_backoff_doubles_from_a_minute_to_a_day() -> None:
    assert [backoff(n, T0) - T0 for n in (1, 2, 3)] == [MIN_POLL, 2 * MIN_POLL, 4 * MIN_POLL]
    assert backoff(30, T0) - T0 == MAX_POLL


def test_conditions() -> None:
    w = RenewalWindow(T0, T0 + DAY)
    assert conditions(w, previous=None, renewed=False, now=T0 - H) == []
    assert [c.value for c in conditions(w, previous=None, renewed=False, now=T0)] == [
        "renewal_window_open"
    ]
    assert conditions(w, previous=None, renewed=True, now=T0) == []  # renewed: nothing to ask
    earlier = RenewalWindow(T0 - 10 * DAY, T0 - 9 * DAY)
    assert [c.value for c in conditions(earlier, previous=w, renewed=True, now=T0)] == [
        "renewal_window_moved"
    ]


# ---------------------------------------------------- the watch, end to end


def test_window_opens_alert_once_and_renewal_silences(
    app: App, clock: ManualClock, server: AriServer
) -> None:
    ca = FakeCA.root()
    leaf = ca.leaf("acme.example.test", not_after=T0 + 60 * DAY).cert
    _store(app, "tomcat", ca.cert, leaf)
    app.ari.set_directory("store", "tomcat", server.directory)
    server.window(leaf, T0 + 2 * DAY, T0 + 4 * DAY, retry_after="21600")

    report = app.ari.tick(clock.now())
    assert (report.asked, report.updated, report.alerts) == (1, 1, ())  # not open yet
    assert server.asked == [renewal_id(leaf)]  # the leaf only, never the CA
    assert app.ari.tick(clock.now()).asked == 0  # Retry-After: not asked again yet

    clock.advance(2 * DAY)  # the window has opened
    opened = app.ari.tick(clock.now())
    assert len(opened.alerts) == 1 and "acme.example.test" in opened.alerts[0]
    clock.advance(7 * H)
    assert app.ari.tick(clock.now()).alerts == ()  # once per window
    assert len(_alerts(app, "renewal_window_open")) == 1

    # A renewal appears in the store: a new window asks nothing of anyone.
    renewal = ca.leaf("acme.example.test", not_before=clock.now() - H,
                      not_after=clock.now() + 90 * DAY).cert  # fmt: skip
    _store(app, "tomcat", renewal)
    server.window(leaf, clock.now() - H, clock.now() + DAY)
    clock.advance(7 * H)
    report = app.ari.tick(clock.now())
    assert report.asked == 2  # the old certificate (moved window) and its renewal
    assert len(_alerts(app, "renewal_window_open")) == 1


def test_window_moved_earlier_is_critical_with_the_explanation(
    app: App, clock: ManualClock, server: AriServer
) -> None:
    ca = FakeCA.root()
    leaf = ca.leaf("moved.example.test", not_after=T0 + 80 * DAY).cert
    _store(app, "tomcat", ca.cert, leaf)
    issuer_sha = ca.cert.fingerprint(__import__("cryptography.hazmat.primitives.hashes",
                                                fromlist=["SHA256"]).SHA256()).hex()  # fmt: skip
    app.ari.set_directory("issuer", issuer_sha.upper(), server.directory)  # upper case is fine
    server.window(leaf, T0 + 50 * DAY, T0 + 55 * DAY)
    assert app.ari.tick(clock.now()).alerts == ()

    server.window(leaf, T0 + 1 * DAY, T0 + 3 * DAY, explanation="https://ca.example/incident-42")
    clock.advance(7 * H)
    report = app.ari.tick(clock.now())
    moved = _alerts(app, "renewal_window_moved")
    assert len(moved) == 1 and moved[0].severity == "critical"
    assert "https://ca.example/incident-42" in moved[0].message
    assert moved[0].details["explanation_url"] == "https://ca.example/incident-42"
    assert len(report.alerts) == 1  # not open yet: only the move
    info = app.ari.get(moved[0].certificate_id or 0)
    assert info is not None and info.previous_start == T0 + 50 * DAY
    assert info.window_start == T0 + DAY


def test_server_down_is_no_false_alert_and_keeps_the_window(
    app: App, clock: ManualClock, server: AriServer
) -> None:
    ca = FakeCA.root()
    leaf = ca.leaf("down.example.test", not_after=T0 + 60 * DAY).cert
    (_, leaf_id) = _store(app, "tomcat", ca.cert, leaf)
    app.ari.set_directory("store", "tomcat", server.directory)
    server.window(leaf, T0 + 10 * DAY, T0 + 12 * DAY)
    app.ari.tick(clock.now())

    server.down = True
    clock.advance(7 * H)
    failed = app.ari.tick(clock.now())
    assert failed.failed and "HTTP 503" in failed.failed[leaf_id]
    info = app.ari.get(leaf_id)
    assert info is not None
    assert (info.window_start, info.failures) == (T0 + 10 * DAY, 1)  # kept
    assert info.next_check_at == clock.now() + MIN_POLL  # backing off
    clock.advance(2 * MIN_POLL)
    app.ari.tick(clock.now())
    info = app.ari.get(leaf_id)
    assert info is not None and info.failures == 2
    assert _alerts(app, "renewal_window_open") == _alerts(app, "renewal_window_moved") == []

    server.down = False
    clock.advance(DAY)
    assert app.ari.tick(clock.now()).failed == {}
    info = app.ari.get(leaf_id)
    assert info is not None and (info.failures, info.last_error) == (0, None)


def test_directories_are_validated_and_named(app: App, server: AriServer) -> None:
    with pytest.raises(InvalidFieldsError) as bad:
        app.ari.set_directory("store", "tomcat", "ftp://ca.example/dir")
    assert "url" in bad.value.errors
    with pytest.raises(InvalidFieldsError) as bad:
        app.ari.set_directory("issuer", "12ab", server.directory)
    assert "issuer" in bad.value.errors
    with pytest.raises(NotFoundError, match="no store named 'nope'"):
        app.ari.set_directory("store", "nope", server.directory)
    with pytest.raises(NotFoundError, match="no CA certificate"):
        app.ari.set_directory("issuer", "ab" * 32, server.directory)
    assert app.ari.directories() == []  # nothing stored by a failed call
    app.ari.set_directory("store", "tomcat", server.directory)
    app.ari.set_directory("store", "tomcat", server.directory + "?v=2")  # replaces
    assert [d.url for d in app.ari.directories()] == [server.directory + "?v=2"]
    app.ari.remove_directory("store", "tomcat")
    with pytest.raises(NotFoundError):
        app.ari.remove_directory("store", "tomcat")


def test_cli_check_and_show(cli: Any, tmp_path: Any, server: AriServer) -> None:
    ca = FakeCA.root()
    leaf = ca.leaf("cli.example.test", not_after=T0 + 60 * DAY).cert
    path = tmp_path / "chain.pem"
    path.write_bytes(_pem(ca.cert) + _pem(leaf))
    assert cli("import", str(path), "--store", "tomcat").code == 0
    assert cli("ari", "directory", "set", server.directory, "--store", "tomcat").code == 0
    server.window(leaf, T0 - DAY, T0 + DAY, explanation="https://ca.example/[bold]x[/bold]")
    checked = cli("ari", "check", "--json")
    assert checked.code == 0, checked
    data = json.loads(checked.stdout)
    assert (data["asked"], data["updated"], len(data["alerts"])) == (1, 1, 1)
    listed = json.loads(cli("ari", "list", "--json").stdout)
    assert listed[0]["window"] == {"start": "2026-05-31T12:00:00Z", "end": "2026-06-02T12:00:00Z"}
    shown = cli("ari", "show", str(listed[0]["certificate_id"]))
    assert "https://ca.example/[bold]x[/bold]" in shown.stdout  # data, not markup
    assert cli("ari", "show", "999").code == 1
    assert base64.urlsafe_b64decode(renewal_id(leaf).split(".")[1] + "==")  # decodes
