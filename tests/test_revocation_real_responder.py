"""Revocation checks against a REAL ``openssl ocsp`` responder, three ways.

The index holds a good certificate, three revoked with different reasons, one
on hold (certificateHold) and one serial it does not know. The responder signs:

* with a delegated responder certificate the issuing CA issued (Delegated
  Trust Model; the leaves name this responder in their AIA),
* with the issuing CA's own key (Delegated Trust Model, the CA itself),
* with a responder certificate from an unrelated CA: trusted only once that
  certificate is uploaded to tomcat-trust (Trusted Responder Model); refused
  with ``unauthorized_signer`` when it is not.

OpenSSL stamps responses with the wall clock, so these tests run their app at
the real time (read once, through SystemClock); they assert no times except
those the test PKI itself chose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes

from certwarden.adapters.db.models import OcspCheck
from certwarden.clock import ManualClock, SystemClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.ocsp import CertStatus, Reason, TrustModel
from certwarden.services.revocation import check_evidence
from tests.ocsp_responders import (
    OpensslPki,
    OpensslResponder,
    free_port,
    openssl_pki,
    start_openssl_responder,
    write_pem,
)

EXPECTED = {
    "good": (CertStatus.GOOD, None),
    "revoked_key": (CertStatus.REVOKED, "keyCompromise"),
    "revoked_cessation": (CertStatus.REVOKED, "cessationOfOperation"),
    "revoked_superseded": (CertStatus.REVOKED, "superseded"),
    "on_hold": (CertStatus.REVOKED, "certificateHold"),
    "unknown": (CertStatus.UNKNOWN, None),
}


@dataclass
class Responders:
    pki: OpensslPki
    delegated: OpensslResponder
    by_ca: OpensslResponder
    unrelated: OpensslResponder


@pytest.fixture(scope="module")
def responders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Responders]:
    now = SystemClock().now().replace(microsecond=0)
    port = free_port()
    pki = openssl_pki(
        tmp_path_factory.mktemp("openssl-pki"), now, ocsp_url=f"http://127.0.0.1:{port}/"
    )
    common = {
        "index": pki.path("index.txt"),
        "ca": pki.path("ca.pem"),
        "probe_cert": pki.leaves["good"].cert,
        "probe_issuer": pki.ca.cert,
    }
    started: list[OpensslResponder] = []
    try:
        started.append(
            start_openssl_responder(
                signer=pki.path("delegated.pem"),
                signer_key=pki.path("delegated.key"),
                port=port,
                **common,  # type: ignore[arg-type]
            )
        )
        started.append(
            start_openssl_responder(
                signer=pki.path("ca.pem"),
                signer_key=pki.path("ca.key"),
                multi=None,
                **common,  # type: ignore[arg-type]
            )
        )
        started.append(
            start_openssl_responder(
                signer=pki.path("unrelated.pem"),
                signer_key=pki.path("unrelated.key"),
                multi=None,
                **common,  # type: ignore[arg-type]
            )
        )
        yield Responders(pki, *started)
    finally:
        for responder in started:
            responder.stop()


@pytest.fixture
def real_app(tmp_path: Path, responders: Responders) -> Iterator[App]:
    """An app whose clock stands at the responder's (real) time."""
    clock = ManualClock(responders.pki.now + timedelta(seconds=1))
    app = build_app(AppConfig(data_dir=tmp_path / "data", database_url=""), clock=clock)
    pki = responders.pki
    write_pem(tmp_path / "chain.pem", pki.ca.cert, pki.root.cert)
    app.inventory.import_paths([tmp_path / "chain.pem"], store="tomcat-trust")
    leaves = tmp_path / "leaves"
    leaves.mkdir()
    for name, issued in pki.leaves.items():
        write_pem(leaves / f"{name}.pem", issued.cert)
    # Stored while OCSP is off (so nothing is refused on the way in).
    app.inventory.import_paths([leaves], store="tomcat")
    yield app
    app.close()


def _by_name(app: App, responders: Responders, **kw: object) -> dict[str, object]:
    report = app.revocation.check(all_monitored=True, **kw)  # type: ignore[arg-type]
    by_sha = {o.sha256: o for o in report.outcomes}
    out = {}
    for name, issued in responders.pki.leaves.items():
        out[name] = by_sha[issued.cert.fingerprint(hashes.SHA256()).hex()]
    return out


def _assert_statuses(outcomes: dict[str, object], model: TrustModel, pki: OpensslPki) -> None:
    for name, (status, crl_reason) in EXPECTED.items():
        result = outcomes[name].result  # type: ignore[attr-defined]
        assert result.status is status, (name, result)
        assert result.trust_model is model, (name, result)
        assert result.signer_sha256 and result.raw_response
        if status is CertStatus.REVOKED:
            assert result.revocation_reason == crl_reason
            assert result.revoked_at == pki.revoked_at
        else:
            assert result.revoked_at is None
    assert outcomes["on_hold"].result.on_hold  # type: ignore[attr-defined]
    assert not outcomes["revoked_key"].result.on_hold  # type: ignore[attr-defined]


def test_delegated_responder_named_in_the_aia(real_app: App, responders: Responders) -> None:
    real_app.revocation.update_settings({"enable_ocsp": True, "responder_source": "certificate"})
    outcomes = _by_name(real_app, responders)
    _assert_statuses(outcomes, TrustModel.DELEGATED, responders.pki)
    delegated_sha = responders.pki.delegated.cert.fingerprint(hashes.SHA256()).hex()
    assert outcomes["good"].result.signer_sha256 == delegated_sha  # type: ignore[attr-defined]
    # Every check is recorded with its evidence, and the latest status is on the row.
    with real_app.db.session() as s:
        checks = list(s.scalars(sa.select(OcspCheck)))
    leaves = [c for c in checks if c.status != "could_not_tell"]
    assert len(leaves) == len(EXPECTED)
    assert all(c.trust_model == "delegated" and c.signer_sha256 for c in leaves)
    # The six were answered by one batched response, stored once and shared.
    assert {c.response_id for c in leaves} != {None}
    assert len({c.response_id for c in leaves}) == 1
    with real_app.db.session() as s:
        evidence = {check_evidence(s, c.id) for c in leaves}
    assert len(evidence) == 1
    (der,) = evidence
    assert der == outcomes["good"].result.raw_response  # type: ignore[attr-defined]
    # The issuing CA is checked too (it is not a root), but names no responder.
    (ca_check,) = [c for c in checks if c.status == "could_not_tell"]
    assert ca_check.reason == "no_responder_url"
    record = real_app.inventory.get(outcomes["revoked_key"].certificate_id)  # type: ignore[attr-defined]
    assert (record.revocation_status, record.revocation_reason) == ("revoked", "keyCompromise")
    assert record.revoked_at == responders.pki.revoked_at


def test_signed_by_the_issuing_ca_itself(real_app: App, responders: Responders) -> None:
    real_app.revocation.update_settings(
        {
            "enable_ocsp": True,
            "responder_source": "configured",
            "configured_uri": responders.by_ca.url,
        }
    )
    _assert_statuses(_by_name(real_app, responders), TrustModel.ISSUER, responders.pki)


def test_unrelated_responder_uploaded_to_tomcat_trust_is_trusted(
    real_app: App, responders: Responders, tmp_path: Path
) -> None:
    signer = write_pem(tmp_path / "signer.pem", responders.pki.unrelated_responder.cert)
    real_app.inventory.import_paths([signer], store="tomcat-trust")
    real_app.revocation.update_settings(
        {
            "enable_ocsp": True,
            "responder_source": "configured",
            "configured_uri": responders.unrelated.url,
        }
    )
    _assert_statuses(_by_name(real_app, responders), TrustModel.TRUSTED_RESPONDER, responders.pki)


def test_unrelated_responder_not_uploaded_is_refused(real_app: App, responders: Responders) -> None:
    real_app.revocation.update_settings(
        {
            "enable_ocsp": True,
            "responder_source": "configured",
            "configured_uri": responders.unrelated.url,
        }
    )
    outcomes = _by_name(real_app, responders)
    for name, outcome in outcomes.items():
        result = outcome.result  # type: ignore[attr-defined]
        assert result.status is CertStatus.COULD_NOT_TELL, name
        assert result.reason is Reason.UNAUTHORIZED_SIGNER, (name, result)
        # Even the revoked ones: an untrusted "revoked" is not believed either.
        assert result.revoked_at is None
    assert all(o.verdict.decision.value == "allow_with_warning" for o in outcomes.values())  # type: ignore[attr-defined]


def test_responder_answers_a_batched_request_for_every_certificate(
    real_app: App, responders: Responders
) -> None:
    """Six certificates, one issuer, one responder: one request answers them all."""
    real_app.revocation.update_settings({"enable_ocsp": True})
    service = real_app.revocation
    outcomes = _by_name(real_app, responders)
    assert {n: o.result.status for n, o in outcomes.items()} == {  # type: ignore[attr-defined]
        n: s for n, (s, _) in EXPECTED.items()
    }
    # All six came from one response: the same raw bytes.
    raws = {o.result.raw_response for o in outcomes.values()}  # type: ignore[attr-defined]
    assert len(raws) == 1
    assert not service.ocsp.unbatched
