"""CRLs as a revocation source, end to end: real CRLs (cryptography's builder)
served by a real HTTP server on loopback and by a real slapd, judged for stored
certificates in the order the settings choose, through every consumer —
``certwarden check`` (on demand and scheduled), the upload check and the TLS
guard — with the fetch shared per URL, held between fetches, refreshed before
nextUpdate and never more often than the floor, and the last valid CRL kept
when a fetch fails or replays an older number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certwarden.adapters.db.models import CrlBlob, CrlSource, OcspCheck
from certwarden.composition import App
from certwarden.demo.devpki import Issued
from tests.conftest import Cli
from tests.crl_servers import CrlHttpServer, Raw, Slapd, make_crl
from tests.fakeca import DAY, T0, FakeCA
from tests.ocsp_responders import write_pem

HOUR = timedelta(hours=1)
REVOKED_AT = T0 - 2 * DAY


@dataclass
class Pki:
    server: CrlHttpServer
    root: FakeCA
    sub: FakeCA
    url: str
    good: Issued
    revoked: Issued
    held: Issued
    files: Path

    def crl(self, *, number: int = 1, this_update: object = None, days: float = 7) -> bytes:
        start = this_update or T0 - HOUR
        return make_crl(
            self.sub.dev,
            this_update=start,  # type: ignore[arg-type]
            next_update=start + timedelta(days=days),  # type: ignore[operator]
            number=number,
            revoked=[
                (self.revoked.cert.serial_number, REVOKED_AT, x509.ReasonFlags.key_compromise),
                (self.held.cert.serial_number, REVOKED_AT, x509.ReasonFlags.certificate_hold),
            ],
        )


def _leaf(sub: FakeCA, name: str, crl_url: str) -> Issued:
    return sub.dev.issue(
        name, not_before=T0 - 30 * DAY, not_after=T0 + 365 * DAY, sans=[name], crl_url=crl_url
    )


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[Pki]:
    server = CrlHttpServer()
    try:
        root = FakeCA.root("CRL Root", now=T0)
        sub = root.intermediate("CRL Issuing CA")
        url = server.url("/issuing.crl")
        files = tmp_path / "pki"
        files.mkdir()
        p = Pki(
            server,
            root,
            sub,
            url,
            _leaf(sub, "good.crl.test", url),
            _leaf(sub, "revoked.crl.test", url),
            _leaf(sub, "held.crl.test", url),
            files,
        )
        server.publish("/issuing.crl", p.crl())
        write_pem(files / "chain.pem", sub.cert, root.cert)
        for kind in ("good", "revoked", "held"):
            write_pem(files / f"{kind}.pem", getattr(p, kind).cert)
        yield p
    finally:
        server.close()


def _sha(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _stored(app: App, pki: Pki) -> None:
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    app.inventory.import_paths(
        [pki.files / f"{k}.pem" for k in ("good", "revoked", "held")], store="tomcat"
    )


def _cn(subject: str) -> str:
    return subject.split("CN=", 1)[1].split(",", 1)[0]


def _by_subject(report: dict[str, object]) -> dict[str, dict[str, object]]:
    return {
        _cn(r["subject"]): r["result"]  # type: ignore[index]
        for r in report["results"]  # type: ignore[attr-defined]
    }


# ------------------------------------------------------------------ must show


def test_crl_first_check_all_json_reports_a_listed_certificate_revoked_from_the_crl(
    cli: Cli, pki: Pki
) -> None:
    assert cli("import", "--store", "tomcat-trust", str(pki.files / "chain.pem")).code == 0
    for kind in ("good", "revoked", "held"):
        assert cli("import", "--store", "tomcat", str(pki.files / f"{kind}.pem")).code == 0
    saved = cli("revocation", "settings", "set", "--enable-crl", "--order", "crl-first", "--json")
    assert saved.code == 0, saved
    assert json.loads(saved.stdout)["order"] == "crl-first"
    result = cli("check", "--all", "--json")
    assert result.code == 1  # the revoked one is refused by the policy
    results = _by_subject(json.loads(result.stdout))
    revoked = results["revoked.crl.test"]
    assert (revoked["status"], revoked["source"]) == ("revoked", "crl")
    assert revoked["revocation_reason"] == "keyCompromise"
    assert revoked["revoked_at"] == "2026-05-30T12:00:00Z"
    assert revoked["crl_number"] == 1 or revoked["crl_number"] == "1"
    assert revoked["responder_url"] == pki.url
    assert (results["good.crl.test"]["status"], results["good.crl.test"]["source"]) == (
        "good",
        "crl",
    )
    held = results["held.crl.test"]
    assert held["status"] == "revoked" and held["on_hold"] is True
    assert pki.server.hits["/issuing.crl"] == 1  # one fetch for the three certificates
    listed = json.loads(cli("crl", "list", "--json").stdout)
    assert [c["url"] for c in listed] == [pki.url]
    assert listed[0]["freshness"] == "fresh" and listed[0]["certificates"] == 3


# ------------------------------------------------------------ the order setting


@pytest.mark.parametrize(
    ("order", "enable_ocsp", "status", "source", "hits"),
    [
        # The default (and an upgraded installation's): CRLs are never fetched.
        ("ocsp-only", True, "could_not_tell", "ocsp", 0),
        # No OCSP URL in the certificate: OCSP cannot tell, the CRL can.
        ("ocsp-first", True, "revoked", "crl", 1),
        ("crl-first", True, "revoked", "crl", 1),
        ("crl-only", False, "revoked", "crl", 1),
    ],
)
def test_the_order_decides_who_is_asked(
    app: App, pki: Pki, order: str, enable_ocsp: bool, status: str, source: str, hits: int
) -> None:
    _stored(app, pki)
    app.revocation.update_settings(
        {"enable_ocsp": enable_ocsp, "enable_crl": order != "ocsp-only", "order": order}
    )
    report = app.revocation.check([_sha(pki.revoked.cert)])
    result = report.outcomes[0].result
    assert (result.status.value, result.source.value) == (status, source), result
    assert pki.server.hits["/issuing.crl"] == hits
    if order == "ocsp-first":
        assert result.problems == ()  # the CRL told: no failure to report


def test_when_neither_source_can_tell_the_first_reason_stands_with_both_problems(
    app: App, pki: Pki
) -> None:
    _stored(app, pki)
    pki.server.route("/issuing.crl", Raw(503, b"down"))
    app.revocation.update_settings({"enable_ocsp": True, "enable_crl": True, "order": "crl-first"})
    result = app.revocation.check([_sha(pki.good.cert)]).outcomes[0].result
    assert result.status.value == "could_not_tell"
    assert (result.reason.value, result.source.value) == ("http_error", "crl")  # type: ignore[union-attr]
    assert any(p.startswith("ocsp: ") and "OCSP responder" in p for p in result.problems)


def test_crl_settings_are_validated_and_nothing_is_saved(app: App) -> None:
    from certwarden.errors import InvalidFieldsError

    with pytest.raises(InvalidFieldsError) as caught:
        app.revocation.update_settings(
            {"order": "crl-first", "crl_max_mib": 0, "crl_fetch_floor_minutes": "soon"}
        )
    errors = caught.value.errors
    assert "Enable CRL is off" in errors["order"]
    assert "between 1 and 1024" in errors["crl_max_mib"]
    assert "must be a number" in errors["crl_fetch_floor_minutes"]
    with pytest.raises(InvalidFieldsError) as caught:
        app.revocation.update_settings({"enable_crl": True, "order": "crl-sometimes"})
    assert "ocsp-only, ocsp-first, crl-first, crl-only" in caught.value.errors["order"]
    assert app.revocation.settings().order.value == "ocsp-only"
    assert app.revocation.settings().enable_crl is False


# ------------------------------------------------------- fetching and holding


def _crl_only(app: App, **more: object) -> None:
    app.revocation.update_settings({"enable_crl": True, "order": "crl-only", **more})


def test_one_fetch_per_url_then_held_until_next_update_minus_margin(app: App, pki: Pki) -> None:
    _stored(app, pki)
    _crl_only(app, crl_refresh_margin_minutes=60, crl_fetch_floor_minutes=15)
    first = app.revocation.check(all_monitored=True)
    # Three leaves and the issuing CA (whose certificate names no CDP).
    assert len(first.outcomes) == 4 and pki.server.hits["/issuing.crl"] == 1
    app.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    app.revocation.check(all_monitored=True)
    assert pki.server.hits["/issuing.crl"] == 1  # still fresh: held, not fetched
    # 7 days after thisUpdate (T0 - 1 h) minus the 60-minute margin: fetched again,
    # conditionally; the server says 304 and the CRL held stands.
    app.clock.set(T0 + 7 * DAY - 2 * HOUR + timedelta(minutes=1))  # type: ignore[attr-defined]
    again = app.revocation.check([_sha(pki.revoked.cert)])
    assert pki.server.hits["/issuing.crl"] == 2 and pki.server.conditional["/issuing.crl"] == 1
    assert again.outcomes[0].result.status.value == "revoked"
    # Within the floor nothing is fetched, however often a check runs.
    app.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    app.revocation.check(all_monitored=True)
    assert pki.server.hits["/issuing.crl"] == 2
    with app.db.session() as s:
        # The CRL is stored once, however many checks it answered.
        assert s.scalar(sa.select(sa.func.count()).select_from(CrlBlob)) == 1
        checks = s.scalars(
            sa.select(OcspCheck).where(
                OcspCheck.source == "crl", OcspCheck.status != "could_not_tell"
            )
        ).all()
        assert len(checks) == 10  # 3 + 3 + 1 + 3 checks of the leaves
        blob = s.scalar(sa.select(CrlBlob.sha256))
        assert {c.crl_sha256 for c in checks} == {blob} and {c.crl_number for c in checks} == {"1"}
        assert {c.responder_url for c in checks} == {pki.url}


def test_a_failed_fetch_keeps_the_last_valid_crl_until_its_next_update_and_says_so(
    app: App, pki: Pki
) -> None:
    _stored(app, pki)
    _crl_only(app)
    assert app.revocation.check([_sha(pki.revoked.cert)]).outcomes[0].result.validated
    pki.server.route("/issuing.crl", Raw(200, b"<html>maintenance</html>"))
    # Inside the refresh margin (nextUpdate is T0 + 7 d - 1 h), before nextUpdate.
    app.clock.set(T0 + 7 * DAY - 90 * timedelta(minutes=1))  # type: ignore[attr-defined]
    kept = app.revocation.check([_sha(pki.revoked.cert)]).outcomes[0].result
    assert kept.status.value == "revoked"
    assert "markup" in kept.detail and "last valid CRL" in kept.detail
    with app.db.session() as s:
        row = s.scalar(sa.select(CrlSource))
        assert row is not None and row.last_error_reason == "bad_content_type"
        assert row.blob_sha256 is not None
    # Past nextUpdate (and the skew) the held CRL answers nothing: stale, never good.
    app.clock.set(T0 + 8 * DAY)  # type: ignore[attr-defined]
    stale = app.revocation.check([_sha(pki.good.cert)]).outcomes[0].result
    assert (stale.status.value, stale.reason.value) == ("could_not_tell", "stale")  # type: ignore[union-attr]
    assert "last valid CRL" in stale.detail


@pytest.mark.parametrize("bad", ["replayed", "forged"])
def test_a_replayed_or_forged_crl_does_not_replace_the_one_held(
    app: App, pki: Pki, bad: str
) -> None:
    _stored(app, pki)
    _crl_only(app)
    pki.server.publish("/issuing.crl", pki.crl(number=5))
    assert app.revocation.check([_sha(pki.revoked.cert)]).outcomes[0].result.crl_number == 5
    later = T0 + 7 * DAY - 90 * timedelta(minutes=1)  # inside the margin, before nextUpdate
    if bad == "replayed":
        # An older CRL (number 3) in which nothing is revoked.
        body = make_crl(pki.sub.dev, this_update=T0, next_update=T0 + 9 * DAY, number=3)
        reason = "crl_number_regressed"
    else:
        impostor = FakeCA.root("CRL Issuing CA", now=T0)  # same name, another key
        body = make_crl(
            pki.sub.dev, this_update=T0, next_update=T0 + 9 * DAY, number=6, signer=impostor.dev
        )
        reason = "bad_signature"
    pki.server.publish("/issuing.crl", body)
    app.clock.set(later)  # type: ignore[attr-defined]
    result = app.revocation.check([_sha(pki.revoked.cert)]).outcomes[0].result
    assert (result.status.value, result.crl_number) == ("revoked", 5), result
    with app.db.session() as s:
        row = s.scalar(sa.select(CrlSource))
        assert row is not None and row.last_error_reason == reason and row.crl_number == "5"


def test_the_state_survives_a_restart(app: App, pki: Pki) -> None:
    _stored(app, pki)
    _crl_only(app)
    app.revocation.check(all_monitored=True)
    app.revocation.crl.forget()  # a new process: nothing in memory
    result = app.revocation.check([_sha(pki.revoked.cert)]).outcomes[0].result
    assert result.status.value == "revoked" and pki.server.hits["/issuing.crl"] == 1


# ------------------------------------------------------------ every consumer


def test_scheduled_checks_use_the_order(app: App, pki: Pki) -> None:
    _stored(app, pki)
    _crl_only(app, enable_revocation_check=True)
    tick = app.revocation.tick()
    assert tick.ran and tick.report is not None
    statuses = {_cn(o.subject): o.result for o in tick.report.outcomes}
    assert statuses["revoked.crl.test"].status.value == "revoked"
    assert statuses["revoked.crl.test"].source.value == "crl"


def test_the_upload_check_uses_the_order(app: App, pki: Pki) -> None:
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    _crl_only(app)
    prepared = app.inventory.prepare(
        [pki.files / "revoked.pem", pki.files / "good.pem"], store="tomcat"
    )
    report = app.upload.commit_checked(prepared)
    assert [_cn(i.subject) for i in report.imported] == ["good.crl.test"]
    assert any(
        "revoked.crl.test" in r.problem and "keyCompromise" in r.problem for r in report.rejected
    )
    assert any("order crl-only" in n for n in report.notes)


def test_the_tls_guard_uses_the_order(app: App, pki: Pki) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from certwarden.adapters.tls import peer_from_ders
    from certwarden.core.tls import StatusSource

    app.revocation.update_settings({"enable_ocsp": True, "enable_crl": True, "order": "crl-first"})
    app.tls.reload()
    ders = [c.public_bytes(Encoding.DER) for c in (pki.revoked.cert, pki.sub.cert)]
    check = app.tls.evaluate(peer_from_ders("127.0.0.1", 1, ders), purpose="test")
    assert check.refused and check.source is StatusSource.CRL
    assert check.result.revocation_reason == "keyCompromise"
    ders = [c.public_bytes(Encoding.DER) for c in (pki.good.cert, pki.sub.cert)]
    good = app.tls.evaluate(peer_from_ders("127.0.0.1", 1, ders), purpose="test")
    assert not good.refused and good.result.status.value == "good"
    assert pki.server.hits["/issuing.crl"] == 1


# ---------------------------------------------------------------------- LDAP


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    why = Slapd.unavailable()
    if why:
        pytest.skip(why)
    try:
        with Slapd.start(tmp_path / "slapd") as server:
            yield server
    except RuntimeError as exc:
        pytest.skip(f"slapd could not start here: {exc}")


def test_an_ldap_distribution_point_served_by_slapd(app: App, pki: Pki, slapd: Slapd) -> None:
    url = slapd.publish("IssuingCA", pki.crl(number=9))
    leaf = _leaf(pki.sub, "ldap.crl.test", url)
    write_pem(pki.files / "ldap.pem", leaf.cert)
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    app.inventory.import_paths([pki.files / "ldap.pem"], store="tomcat")
    _crl_only(app)
    result = app.revocation.check([_sha(leaf.cert)]).outcomes[0].result
    assert (result.status.value, result.source.value, result.crl_number) == ("good", "crl", 9)
    assert result.responder_url == url


# -------------------------------------------------------------- views, metrics


async def test_the_crl_page_the_certificate_page_the_api_and_the_metrics(
    app: App, pki: Pki
) -> None:
    from tests.web_support import ADMIN_PASSWORD, asgi_client, login, make_setup

    _stored(app, pki)
    _crl_only(app)
    app.revocation.check(all_monitored=True)
    pki.server.route("/issuing.crl", Raw(500, b"<b>oops</b>"))
    app.clock.set(T0 + 8 * DAY)  # type: ignore[attr-defined]
    app.revocation.check([_sha(pki.good.cert)])  # fetch fails; the held CRL is stale
    setup = make_setup(app)
    revoked_id = app.inventory.get(_sha(pki.revoked.cert)).id
    async with asgi_client(setup.web) as browser:
        await login(browser, "admin", ADMIN_PASSWORD)
        page = (await browser.get("/security/crls")).text
        assert pki.url in page and ">stale<" in page and "http_error" in page
        assert "CRL Issuing CA" in page
        detail = (await browser.get(f"/certificates/{revoked_id}")).text
        assert 'id="status-source">CRL number 1' in detail
        with app.db.session() as s:
            blob = s.scalar(sa.select(CrlBlob.sha256))
        assert f"/security/crls/{blob}.crl" in detail
        der = await browser.get(f"/security/crls/{blob}.crl")
        assert der.status_code == 200 and der.headers["content-type"] == "application/pkix-crl"
        assert x509.load_der_x509_crl(der.content).issuer == pki.sub.cert.subject
        assert (await browser.get(f"/security/crls/{'0' * 64}.crl")).status_code == 404
    async with asgi_client(setup.web, setup.viewer_token) as api:
        listed = (await api.get("/api/v1/crls")).json()
        assert listed[0]["url"] == pki.url and listed[0]["freshness"] == "stale"
        history = (await api.get(f"/api/v1/certificates/{revoked_id}/ocsp-checks")).json()
        assert history["items"][0]["source"] == "crl"
        assert history["items"][0]["crl_sha256"] == blob
    async with asgi_client(setup.web) as anonymous:
        metrics = (await anonymous.get("/metrics")).text
    nxt = next(
        m for m in metrics.splitlines() if m.startswith("x509_crl_next_update_timestamp_seconds{")
    )
    assert (
        f'url="{pki.url}"' in nxt
        and float(nxt.rsplit(" ", 1)[1]) == (T0 - HOUR + 7 * DAY).timestamp()
    )
    assert any(m.startswith("x509_crl_stale{") and m.endswith(" 1.0") for m in metrics.splitlines())
    assert 'certwarden_crl_fetch_errors_total{reason="http_error"} 1.0' in metrics
    assert f'certwarden_crl_last_fetch_failed{{reason="http_error",url="{pki.url}"}} 1.0' in metrics


def test_crl_show_url_fetches_and_prints_without_storing(cli: Cli, pki: Pki) -> None:
    shown = cli("crl", "show", pki.url, "--json")
    assert shown.code == 0, shown
    data = json.loads(shown.stdout)
    assert data["file"] == pki.url and data["number"] == 1
    assert data["issuer"] == pki.sub.cert.subject.rfc4514_string()
    serials = {e["serial"]: e["reason"] for e in data["entries"]}
    assert serials[format(pki.revoked.cert.serial_number, "x")] == "keyCompromise"
    text = cli("crl", "show", pki.url)
    assert text.code == 0 and "contents only, not verified" in text.stdout
    assert json.loads(cli("crl", "list", "--json").stdout) == []  # nothing stored
    pki.server.route("/page.crl", Raw(200, b"<html>login</html>", (("Content-Type", "text/html"),)))
    refused = cli("crl", "show", pki.server.url("/page.crl"))
    assert refused.code == 1 and "bad_content_type" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_delta_crl_named_by_freshest_crl_releases_a_hold(app: App, pki: Pki) -> None:
    from tests.fakecrl import Revoke
    from tests.fakecrl import make_crl as make_full_crl

    delta_url = pki.server.url("/issuing-delta.crl")
    held = Revoke(pki.held.cert.serial_number, reason=x509.ReasonFlags.certificate_hold)
    base = make_full_crl(pki.sub, [held], number=10, next_update=T0 + 7 * DAY, freshest=[delta_url])
    pki.server.publish("/issuing.crl", base)
    # The delta (based on #10) has nothing yet: still on hold.
    pki.server.publish(
        "/issuing-delta.crl",
        make_full_crl(pki.sub, [], number=11, delta_base=10, next_update=T0 + HOUR),
    )
    _stored(app, pki)
    _crl_only(app, crl_refresh_margin_minutes=10)
    first = app.revocation.check([_sha(pki.held.cert)]).outcomes[0].result
    assert first.on_hold and first.crl_number == 10 and first.delta_crl_number == 11
    # An hour later the next delta lifts the hold (removeFromCRL, RFC 5280 5.3.1).
    pki.server.publish(
        "/issuing-delta.crl",
        make_full_crl(
            pki.sub,
            [Revoke(pki.held.cert.serial_number, reason=x509.ReasonFlags.remove_from_crl)],
            this_update=T0 + 50 * timedelta(minutes=1),
            number=12,
            delta_base=10,
            next_update=T0 + 2 * HOUR,
        ),
    )
    app.clock.set(T0 + 55 * timedelta(minutes=1))  # type: ignore[attr-defined]
    released = app.revocation.check([_sha(pki.held.cert)]).outcomes[0].result
    assert released.status.value == "good", released
    assert (released.crl_number, released.delta_crl_number) == (10, 12)
    assert pki.server.hits["/issuing.crl"] == 1  # the base is still fresh: not fetched again
    assert pki.server.hits["/issuing-delta.crl"] == 2
    with app.db.session() as s:
        last = s.scalars(sa.select(OcspCheck).order_by(OcspCheck.id.desc())).first()
        assert last is not None and (last.crl_number, last.delta_crl_number) == ("10", "12")
        kept = set(s.scalars(sa.select(CrlBlob.sha256)))
        assert {last.crl_sha256, last.delta_crl_sha256} <= kept  # both CRLs kept as evidence


def test_probe_judges_the_chain_in_the_order(app: App, pki: Pki) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from certwarden.adapters.tls import peer_from_ders
    from certwarden.core.tls import StatusSource

    _crl_only(app)
    app.tls.reload()
    ders = [c.public_bytes(Encoding.DER) for c in (pki.revoked.cert, pki.sub.cert, pki.root.cert)]
    report = app.probe.judge(peer_from_ders("127.0.0.1", 1, ders))
    assert report.status.status.value == "revoked" and report.source is StatusSource.CRL
    assert report.verdicts[False].decision.value == "deny" and report.ocsp_enabled


@pytest.mark.postgres
def test_crl_checks_and_evidence_on_postgres(pg_app: App, pki: Pki) -> None:
    _stored(pg_app, pki)
    _crl_only(pg_app)
    report = pg_app.revocation.check(all_monitored=True)
    by_cn = {_cn(o.subject): o.result for o in report.outcomes}
    assert by_cn["revoked.crl.test"].status.value == "revoked"
    pg_app.revocation.crl.forget()
    assert pg_app.revocation.check([_sha(pki.good.cert)]).outcomes[0].result.status.value == "good"
    assert pki.server.hits["/issuing.crl"] == 1
    with pg_app.db.session() as s:
        row = s.scalar(sa.select(CrlSource))
        assert row is not None and row.crl_number == "1" and row.entries == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(CrlBlob)) == 1


def test_common_criteria_mode_applies_to_the_combined_answer(app: App, pki: Pki) -> None:
    _stored(app, pki)
    app.revocation.set_common_criteria(True)
    # ocsp-first: OCSP cannot tell (no responder URL), the CRL says good: allowed.
    app.revocation.update_settings({"enable_ocsp": True, "enable_crl": True, "order": "ocsp-first"})
    allowed = app.revocation.check([_sha(pki.good.cert)]).outcomes[0]
    assert (allowed.result.status.value, allowed.verdict.decision.value) == ("good", "allow")
    # Neither source can tell: refused in Common Criteria mode, warned without it.
    pki.server.route("/issuing.crl", Raw(404, b"gone"))
    app.revocation.crl.forget()
    with app.db.session() as s:
        s.execute(sa.delete(CrlSource))
    refused = app.revocation.check([_sha(pki.good.cert)]).outcomes[0]
    assert refused.result.status.value == "could_not_tell"
    assert refused.verdict.decision.value == "deny"
    app.revocation.set_common_criteria(False)
    app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    warned = app.revocation.check([_sha(pki.good.cert)]).outcomes[0]
    assert warned.verdict.decision.value == "allow_with_warning"
