"""Change events of monitored endpoints, against a real TLS server on loopback.

The server is a small stdlib TLS server whose certificates a test chooses: it
serves one of them, or takes them in turn per connection as a round-robin
load balancer whose backends differ. The PKI is built here (DevCA): two CAs,
one subject, renewals with new and with reused keys. Time is the app's
ManualClock; the server does not care what time it is.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from certwarden.composition import App
from certwarden.core.cert_changes import (
    ChangeKind,
    ChangeSettings,
    ChangeState,
    LeafFacts,
    leaf_facts,
    observe,
)
from certwarden.demo.devpki import DevCA, Issued, new_key
from certwarden.errors import InvalidFieldsError
from certwarden.services.shared.alerts import AlertRecord, list_alerts
from tests.conftest import T0, Cli
from tests.web_support import VIEWER_PASSWORD, asgi_client, login, make_setup

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SUBJECT = "www.change.test"


@dataclass
class ChangePki:
    """Certificates for one name: ``a``, then renewals (``b`` new key, ``c`` the same key
    as ``b``), ``d`` from another CA; ``a`` is the oldest."""

    certs: dict[str, Issued]
    chains: dict[str, bytes]  # name -> PEM of leaf + its CA + key, for the server


def _pem(*issued: Issued) -> bytes:
    out = b""
    for i in issued:
        out += i.cert.public_bytes(serialization.Encoding.PEM)
    return out


@pytest.fixture(scope="module")
def pki() -> ChangePki:
    root = DevCA.root("Change Test Root", not_before=T0 - 400 * DAY, not_after=T0 + 3650 * DAY)
    ca1 = root.child_ca("Change Test CA 1", not_before=T0 - 300 * DAY, not_after=T0 + 1800 * DAY)
    other = DevCA.root("Other Root", not_before=T0 - 400 * DAY, not_after=T0 + 3650 * DAY)
    ca2 = other.child_ca("Other CA", not_before=T0 - 300 * DAY, not_after=T0 + 1800 * DAY)
    reused = new_key()
    sans = [SUBJECT, "127.0.0.1"]
    certs = {
        "a": ca1.issue(SUBJECT, not_before=T0 - 60 * DAY, not_after=T0 + 30 * DAY, sans=sans),
        "b": ca1.issue(
            SUBJECT, not_before=T0 - DAY, not_after=T0 + 89 * DAY, sans=sans, key=reused
        ),
        "c": ca1.issue(
            SUBJECT, not_before=T0 + 5 * DAY, not_after=T0 + 95 * DAY, sans=sans, key=reused
        ),
        "d": ca2.issue(SUBJECT, not_before=T0 + 10 * DAY, not_after=T0 + 100 * DAY, sans=sans),
    }
    cas = {"a": ca1, "b": ca1, "c": ca1, "d": ca2}
    chains = {
        name: _pem(issued, cas[name].issued) + issued.key_pem() for name, issued in certs.items()
    }
    return ChangePki(certs, chains)


class TurnServer:
    """A TLS server on loopback presenting ``serving[0]``, ``serving[1]``, ... in turn,
    one per connection (one name: always that one)."""

    def __init__(self, pki: ChangePki, directory: Path) -> None:
        self._contexts: dict[str, ssl.SSLContext] = {}
        for name, pem in pki.chains.items():
            path = directory / f"{name}.pem"
            path.write_bytes(pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(path)
            self._contexts[name] = context
        self._turns: Iterator[str] = itertools.cycle(["a"])
        self._lock = threading.Lock()
        self.served: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="turn-server", daemon=True)
        self._thread.start()

    def serve(self, *names: str) -> None:
        with self._lock:
            self._turns = itertools.cycle(names)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                name = next(self._turns)
                self.served.append(name)
            with conn, contextlib.suppress(OSError, ssl.SSLError):
                conn.settimeout(10)
                with self._contexts[name].wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def server(pki: ChangePki, tmp_path: Path) -> Iterator[TurnServer]:
    turn = TurnServer(pki, tmp_path)
    yield turn
    turn.stop()


def _changes(app: App) -> list[AlertRecord]:
    with app.db.session() as s:
        return list(reversed(list_alerts(s, kind="certificate_changed", limit=1000)))


def _probe(app: App) -> str | None:
    (result,) = app.endpoints.probe_all()
    assert result.ok, result.error
    return result.change


def _stored_leaves(app: App) -> set[str]:
    return {c.sha256 for c in app.inventory.list() if c.store == "endpoints" and c.role == "leaf"}


def _sha(pki: ChangePki, name: str) -> str:
    return leaf_facts(pki.certs[name].cert).sha256


# ------------------------------------------------------- each change, once


def test_renewed_key_reused_issuer_changed_rolled_back_each_one_info_alert(
    app: App, server: TurnServer, pki: ChangePki
) -> None:
    app.endpoints.add(f"127.0.0.1:{server.port}")
    clock: Any = app.clock
    assert _probe(app) is None  # the first certificate seen is no change
    steps = [
        ("b", "renewed"),
        ("c", "key_reused"),
        ("d", "issuer_changed"),
        ("a", "rolled_back"),
    ]
    for name, change in steps:
        clock.advance(25 * HOUR)  # past the default damping (24 hours)
        server.serve(name)
        assert _probe(app) == change
        clock.advance(HOUR)
        assert _probe(app) is None  # the same certificate again: nothing new
    alerts = _changes(app)
    assert [a.details["change"] for a in alerts] == [c for _, c in steps]
    assert {a.severity for a in alerts} == {"info"}
    assert server.served.count("a") == 3  # the probes really went to the server

    renewed, reused, issuer, rolled = alerts
    assert renewed.details["old"]["sha256"] == _sha(pki, "a")
    assert renewed.details["new"]["sha256"] == _sha(pki, "b") == renewed.sha256
    assert renewed.details["new"]["serial"] == format(pki.certs["b"].cert.serial_number, "x")
    assert renewed.details["new"]["not_after"] == "2026-08-29T12:00:00Z"
    assert "renewed" in renewed.message and renewed.store == "endpoints"
    assert reused.details["findings"] == ["key_reused", "renewed"]
    assert reused.details["old"]["key_sha256"] == reused.details["new"]["key_sha256"]
    assert issuer.details["new"]["issuer"] == "CN=Other CA,O=certwarden dev PKI"
    assert issuer.details["old"]["issuer"] == "CN=Change Test CA 1,O=certwarden dev PKI"
    assert rolled.details["new"]["sha256"] == _sha(pki, "a")
    assert rolled.details["old"]["sha256"] == _sha(pki, "d")


def test_a_change_while_damped_is_announced_when_the_period_ends(
    app: App, server: TurnServer, pki: ChangePki
) -> None:
    app.endpoints.add(f"127.0.0.1:{server.port}")
    clock: Any = app.clock
    _probe(app)
    server.serve("b")
    clock.advance(HOUR)
    assert _probe(app) == "renewed"
    server.serve("c")  # renewed again two hours later: damped, not forgotten
    clock.advance(2 * HOUR)
    assert _probe(app) is None
    clock.advance(23 * HOUR)  # 25 hours after the first alert
    assert _probe(app) == "key_reused"
    (_, late) = _changes(app)
    assert late.details["old"]["sha256"] == _sha(pki, "b")
    assert late.details["damped_switches"] == 1


# ------------------------------------------------------------------ flapping


def _at_most_one_per(alerts: list[AlertRecord], period: timedelta) -> bool:
    times = [a.created_at for a in alerts]
    return all(later - earlier >= period for earlier, later in itertools.pairwise(times))


def test_a_flapping_endpoint_over_a_simulated_week(
    app: App, server: TurnServer, pki: ChangePki
) -> None:
    """A round-robin balancer serving a and b in turn, probed every hour for a week."""
    app.endpoints.add(f"127.0.0.1:{server.port}")
    clock: Any = app.clock
    server.serve("a", "b")
    probes = 7 * 24
    imports = []
    for _ in range(probes):
        (result,) = app.endpoints.probe_all()
        assert result.ok, result.error
        imports.append(result.imported)
        clock.advance(HOUR)
    assert server.served.count("a") == server.served.count("b") == probes // 2
    # Both stay in the inventory once they take turns: no leaving and arriving
    # again (and no revocation check of a "new" certificate) at every switch.
    assert sum(1 for n in imports if n) <= 4
    assert _stored_leaves(app) == {_sha(pki, "a"), _sha(pki, "b")}
    alerts = _changes(app)
    assert _at_most_one_per(alerts, timedelta(hours=24))
    # Said twice in the week: the first switch looks like a renewal; by the end of
    # the damping period it is plain that the endpoint serves both in turn.
    assert [a.details["change"] for a in alerts] == ["renewed", "several_certificates"]
    assert alerts[1].details["certificates"] == sorted([_sha(pki, "a"), _sha(pki, "b")])
    assert alerts[1].details["damped_switches"] > 20
    assert "2 certificates in turn" in alerts[1].message

    # The balancer settles on b: a leaves the store once it has not come back for
    # twice the damping period, and that is no change to announce.
    server.serve("b")
    for _ in range(3 * 24):
        _probe(app)
        clock.advance(HOUR)
    assert _stored_leaves(app) == {_sha(pki, "b")}
    assert len(_changes(app)) == 2
    assert app.endpoints.remove(f"127.0.0.1:{server.port}") == 1


def test_flapping_with_a_shorter_damping_period(
    app: App, server: TurnServer, pki: ChangePki
) -> None:
    """Damping 6 hours, probes every 2 hours, a week: still one alert a period at most,
    and the alternation is said once, not every period."""
    app.endpoints.update_change_settings({"damping": "6h"})
    app.endpoints.add(f"127.0.0.1:{server.port}")
    clock: Any = app.clock
    server.serve("a", "b")
    for _ in range(7 * 12):
        _probe(app)
        clock.advance(2 * HOUR)
    alerts = _changes(app)
    assert _at_most_one_per(alerts, timedelta(hours=6))
    assert [a.details["change"] for a in alerts] == ["renewed", "several_certificates"]
    # A new certificate among them is news again (once the period has passed).
    server.serve("c")
    _probe(app)
    assert [a.details["change"] for a in _changes(app)][-1] == "key_reused"


# ---------------------------------------------------------- the pure part


def _facts(pki: ChangePki, name: str) -> LeafFacts:
    return leaf_facts(pki.certs[name].cert)


def test_daily_probes_of_an_alternation_rollback_then_several(pki: ChangePki) -> None:
    """Probed once a day (the monitor's default), a/b in turn: a rollback can only be
    told from an alternation once the newer certificate comes back."""
    state, kinds = ChangeState(), []
    now = T0
    for day in range(14):
        state, event = observe(
            state, _facts(pki, "ab"[day % 2]), now=now, damping=timedelta(hours=24)
        )
        kinds.append(event.kind if event else None)
        now += DAY
    changes = [k for k in kinds if k]
    assert changes == [ChangeKind.RENEWED, ChangeKind.ROLLED_BACK, ChangeKind.SEVERAL_CERTIFICATES]


def test_history_stays_bounded_and_round_trips_through_json(pki: ChangePki) -> None:
    state = ChangeState()
    now = T0
    for i in range(200):
        state, _ = observe(state, _facts(pki, "abcd"[i % 4]), now=now, damping=DAY)
        now += HOUR
    assert len(state.history) <= 8 and len(state.switches) <= 32
    again = ChangeState.from_json(state.to_json())
    assert again == state
    assert ChangeState.from_json({"history": [{"sha256": "x"}]}) == ChangeState()


def test_damping_setting_is_validated_and_nothing_is_saved_on_error(app: App) -> None:
    assert app.endpoints.change_settings() == ChangeSettings(timedelta(hours=24))
    with pytest.raises(InvalidFieldsError) as caught:
        app.endpoints.update_change_settings({"damping": "10m", "colour": "red"})
    assert set(caught.value.errors) == {"damping", "colour"}
    assert "minimum is 1 hour" in caught.value.errors["damping"]
    assert app.endpoints.change_settings().damping == timedelta(hours=24)
    assert app.endpoints.update_change_settings({"damping": "2d"}).damping == 2 * DAY
    assert app.endpoints.change_settings().to_json() == {"damping": "2d"}


def test_time_is_the_callers(pki: ChangePki) -> None:
    """observe reads no clock: the same inputs give the same state."""
    at = datetime(2030, 1, 1, tzinfo=T0.tzinfo)
    one, _ = observe(ChangeState(), _facts(pki, "a"), now=at, damping=DAY)
    two, _ = observe(ChangeState(), _facts(pki, "a"), now=at, damping=DAY)
    assert one == two and one.history[0].first_seen_at == at


def test_cli_endpoint_settings(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "cli-data", T0)
    shown = cli("endpoints", "settings", "--json")
    assert shown.code == 0 and json.loads(shown.stdout) == {"damping": "1d"}
    refused = cli("endpoints", "settings", "set", "--change-damping", "45d")
    assert refused.code == 1
    assert "--change-damping: 45d is too long; the maximum is 30 days" in refused.stderr
    assert "nothing was saved" in refused.stderr
    assert cli("endpoints", "settings", "set", "--change-damping", "6h").code == 0
    assert json.loads(cli("endpoints", "settings", "--json").stdout) == {"damping": "6h"}
    (entry, *_) = json.loads(cli("audit", "list", "--json").stdout)
    assert entry["action"] == "settings.endpoint_changes" and entry["details"]["damping"] == "6h"


async def test_api_endpoint_change_settings(app: App) -> None:
    setup = make_setup(app)
    async with asgi_client(setup.web, setup.admin_token) as admin:
        got = await admin.get("/api/v1/settings/endpoint-changes")
        assert got.status_code == 200 and got.json() == {"damping": "1d"}
        bad = await admin.patch("/api/v1/settings/endpoint-changes", json={"damping": "0h"})
        assert bad.status_code == 422 and "damping" in bad.text
        assert app.endpoints.change_settings().damping == timedelta(hours=24)
        ok = await admin.patch("/api/v1/settings/endpoint-changes", json={"damping": "12h"})
        assert ok.status_code == 200 and ok.json() == {"damping": "12h"}
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        refused = await viewer.patch("/api/v1/settings/endpoint-changes", json={"damping": "2h"})
        assert refused.status_code == 403
        assert (await viewer.get("/api/v1/settings/endpoint-changes")).json()["damping"] == "12h"


@pytest.mark.postgres
def test_change_events_on_postgresql(pg_app: App, server: TurnServer, pki: ChangePki) -> None:
    """The history is a JSON column: the same events on PostgreSQL."""
    pg_app.endpoints.add(f"127.0.0.1:{server.port}")
    clock: Any = pg_app.clock
    assert _probe(pg_app) is None
    server.serve("b")
    clock.advance(HOUR)
    assert _probe(pg_app) == "renewed"
    server.serve("a", "b")
    for _ in range(30):
        clock.advance(HOUR)
        _probe(pg_app)
    assert [a.details["change"] for a in _changes(pg_app)] == ["renewed", "several_certificates"]


def test_a_hostile_name_stays_one_visible_line_in_the_message(pki: ChangePki) -> None:
    ca = DevCA.root("evil\r\nInjected: yes\x1b[31m", not_before=T0 - DAY, not_after=T0 + 90 * DAY)
    odd = ca.issue(SUBJECT, not_before=T0, not_after=T0 + 99 * DAY)
    state, _ = observe(ChangeState(), _facts(pki, "a"), now=T0, damping=DAY)
    _, event = observe(state, leaf_facts(odd.cert), now=T0 + 2 * DAY, damping=DAY)
    assert event is not None and event.kind is ChangeKind.ISSUER_CHANGED
    text = event.message("h:443")
    assert "\r" not in text and "\n" not in text and "\x1b" not in text
    assert "evil\\x0d\\x0aInjected: yes\\x1b[31m" in text
    assert event.findings == (ChangeKind.ISSUER_CHANGED, ChangeKind.RENEWED)
    assert "\r\n" in event.details()["new"]["issuer"]  # the data itself kept as it is


async def test_the_endpoints_page_names_the_damping(app: App) -> None:
    app.endpoints.update_change_settings({"damping": "36h"})
    setup = make_setup(app)
    async with asgi_client(setup.web) as client:
        await login(client, "viewer", VIEWER_PASSWORD)
        html = (await client.get("/endpoints")).text
    start = html.index('id="change-events"')
    line = html[start : html.index("</p>", start)]
    assert "at most one per endpoint every 36h" in line
    assert 'href="/alerts?kind=certificate_changed"' in line
