"""The revocation parts on their own: the inputs the validator is given (read in
one place for the checks, the upload check and the TLS guard), the transport's
lifetime, and a stored Certificate Monitor section that does not validate
(an error naming it, never the defaults in its place).

Real parts throughout: a real SQLite database, the project's own responder on
loopback, the real aiohttp transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certwarden.adapters.db.models import Alert, CertificateRow, OcspCheck
from certwarden.adapters.ocsp_http import AiohttpTransport, HttpOptions
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.core.certs import facts_from_certificate
from certwarden.core.ocsp import CertStatus
from certwarden.errors import StorageError
from certwarden.services.revocation import (
    RevocationService,
    StoredIssuers,
    Target,
    issuer_candidates,
    trusted_responders,
)
from certwarden.services.shared.settings_store import save_section
from tests.fakeca import T0, FakeCA
from tests.ocsp_responders import FakeCAResponder, FaultResponder, LiveAnswer, write_pem


@dataclass
class Live:
    server: FaultResponder
    sub: FakeCA
    leaf: x509.Certificate
    files: Path
    clock: ManualClock
    responder: FakeCAResponder


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = FaultResponder().start()
    try:
        files = tmp_path_factory.mktemp("parts-pki")
        root = FakeCA.root("Parts Root", now=T0)
        sub = root.intermediate("Parts Issuing CA")
        leaf = sub.leaf("watched.parts.test", ocsp_url=server.url("live")).cert
        clock = ManualClock(T0)
        responder = FakeCAResponder(sub, [leaf], this_update=clock.now)
        server.serve_dynamic("live", responder)
        write_pem(files / "chain.pem", sub.cert, root.cert)
        write_pem(files / "leaf.pem", leaf)
        yield Live(server, sub, leaf, files, clock, responder)
    finally:
        server.stop()


@pytest.fixture
def stocked(app: App, live: Live, clock: ManualClock) -> App:
    """The chain and the leaf stored, OCSP on, the responder saying good."""
    live.clock.set(clock.now())
    live.responder.answers[live.leaf.serial_number] = LiveAnswer()
    app.inventory.import_paths([live.files / "chain.pem"], store="tomcat-trust")
    app.inventory.import_paths([live.files / "leaf.pem"], store="tomcat")
    app.revocation.update_settings({"enable_ocsp": True, "enable_revocation_check": True})
    return app


def _break_monitor_section(app: App) -> None:
    # Written past the validation on purpose: what a bad manual edit or a
    # downgrade leaves behind.
    with app.db.session() as s:
        save_section(s, "monitor", {"start_days": "soon"}, app.clock.now())


def _recorded(app: App) -> tuple[int, int, list[str | None]]:
    with app.db.session() as s:
        checks = s.scalar(sa.select(sa.func.count()).select_from(OcspCheck)) or 0
        alerts = s.scalar(sa.select(sa.func.count()).select_from(Alert)) or 0
        statuses = list(
            s.scalars(sa.select(CertificateRow.revocation_status).order_by(CertificateRow.id))
        )
    return checks, alerts, statuses


# ----------------------------------------------------- the monitor settings


def test_a_check_of_all_monitored_refuses_an_invalid_monitor_section(stocked: App) -> None:
    """Which certificates are monitored depends on the Monitor's LSC switch:
    with its section unreadable, the check says so instead of guessing."""
    _break_monitor_section(stocked)
    before = _recorded(stocked)
    with pytest.raises(StorageError) as caught:
        stocked.revocation.check(all_monitored=True)
    assert "'monitor'" in str(caught.value) and "Certificate Monitor" in str(caught.value)
    assert "start_days" in caught.value.diagnostics()
    with pytest.raises(StorageError, match="'monitor'"):
        stocked.revocation.tick()
    assert _recorded(stocked) == before  # nothing checked, nothing recorded


def test_a_status_change_is_not_recorded_without_knowing_who_to_tell(
    stocked: App, live: Live
) -> None:
    """A named check that finds a change needs the notice settings; when their
    section is invalid, the run fails whole: no check, alert or status stored."""
    leaf_id = stocked.inventory.get(facts_from_certificate(live.leaf).sha256).id
    _break_monitor_section(stocked)
    live.responder.answers[live.leaf.serial_number] = LiveAnswer("revoked", T0)
    before = _recorded(stocked)
    with pytest.raises(StorageError, match="'monitor'"):
        stocked.revocation.check([leaf_id])
    assert _recorded(stocked) == before
    # The same check with the section repaired records the change.
    with stocked.db.session() as s:
        save_section(s, "monitor", {}, stocked.clock.now())
    report = stocked.revocation.check([leaf_id])
    assert [o.result.status for o in report.outcomes] == [CertStatus.REVOKED]
    assert _recorded(stocked)[0] == before[0] + 1


# ------------------------------------------------------------ the transport


class _CountedTransport(AiohttpTransport):
    """The real transport, counting its ``aclose`` calls."""

    def __init__(self, options: HttpOptions | None = None) -> None:
        super().__init__(options)
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1
        await super().aclose()


def test_the_engine_closes_the_transport_it_made_and_not_one_it_was_given(
    stocked: App, live: Live
) -> None:
    made: list[_CountedTransport] = []

    def factory(options: HttpOptions) -> _CountedTransport:
        made.append(_CountedTransport(options))
        return made[-1]

    service = RevocationService(stocked.db, stocked.clock, transport_factory=factory)
    facts = facts_from_certificate(live.leaf)
    report = service.check([facts.sha256])
    assert [o.result.status for o in report.outcomes] == [CertStatus.GOOD]
    assert [t.closed for t in made] == [1]

    target = Target(live.leaf, facts.sha256, facts.subject, live.sub.cert, facts.ocsp_uris)
    given = _CountedTransport()

    async def ask() -> None:
        try:
            (result,) = await service.evaluate(
                [target], settings=service.settings(), transport=given, use_cache=False
            )
            assert result.status is CertStatus.GOOD
            assert given.closed == 0  # the caller's to close
        finally:
            await given.aclose()

    asyncio.run(ask())
    assert given.closed == 1 and len(made) == 1


# --------------------------------------------------- what the validator gets


def test_issuer_candidates_are_stored_cas_by_subject_across_batches(app: App) -> None:
    first = FakeCA.root("Twin Name Root", now=T0)
    second = FakeCA.root("Twin Name Root", now=T0)  # same subject, another key
    leaf = second.leaf("twin.parts.test").cert
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in (first.cert, second.cert, leaf))
    app.inventory.commit(app.inventory.prepare_bytes([("twins.pem", pem)], store="tomcat-trust"))
    subject = first.cert.subject.rfc4514_string()
    # 600 names: the real one falls in the second batch of the IN (...) lookup.
    names = [f"CN=absent {i}" for i in range(599)] + [subject]
    with app.db.session() as s:
        found = list(issuer_candidates(s, names))
        assert [c.subject for c in found] == [subject, subject]
        assert [c.id for c in found] == sorted(c.id for c in found)
        assert {x509.load_der_x509_certificate(c.der) for c in found} == {
            first.cert,
            second.cert,
        }
        assert list(issuer_candidates(s, [leaf.subject.rfc4514_string()])) == []  # not a CA
        # The signature decides between the two: the scheduled checks, the
        # upload check and the TLS guard all ask this.
        assert StoredIssuers(s).find(leaf, facts_from_certificate(leaf)) == second.cert
    assert app.tls.locate_issuer(leaf, []) == (second.cert, "inventory")


def test_trusted_responders_are_the_ocsp_signers_of_the_named_store(app: App) -> None:
    ca = FakeCA.root("Responder Owner", now=T0)
    signer = ca.responder("Designated Responder").cert
    plain = ca.leaf("not-a-responder.parts.test").cert
    app.inventory.create_store("elsewhere")

    def store(name: str, *certs: x509.Certificate) -> None:
        pem = b"".join(c.public_bytes(Encoding.PEM) for c in certs)
        app.inventory.commit(app.inventory.prepare_bytes([(f"{name}.pem", pem)], store=name))

    store("tomcat-trust", plain)
    store("elsewhere", signer)
    with app.db.session() as s:
        assert trusted_responders(s, "tomcat-trust") == []
        assert trusted_responders(s, "elsewhere") == [signer]
    store("tomcat-trust", signer)
    with app.db.session() as s:
        assert trusted_responders(s, "tomcat-trust") == [signer]
    app.revocation.update_settings({"trusted_responder_store": "tomcat-trust"})
    app.tls.reload()
    assert app.tls.snapshot().trusted_responders == (signer,)
