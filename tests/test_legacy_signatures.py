"""Issue 10 item 2 end to end, with a real ``openssl`` legacy PKI signing with SHA-1.

``openssl x509 -req -sha1`` issues the leaf and the delegated responder
certificate from a SHA-1-signed issuing CA, and a real ``openssl ocsp``
responder signs its answers with SHA-1 (``-rmd sha1``). Then:

* import: the SHA-1 certificates are linked to their issuers and flagged weak;
* the scheduled check refuses with ``weak_signature_algorithm`` by default,
  accepts with legacy signatures accepted outside Common Criteria mode, and
  refuses in Common Criteria mode whatever the setting;
* ``certwarden ocsp verify-response`` on a saved response prints
  ``weak_signature_algorithm`` naming SHA-1 and exits 1, and with
  ``--allow-legacy-signatures`` prints TRUSTED; ``ocsp query`` likewise.

openssl stamps certificates and responses with the wall clock, so the app's
clock stands at the real time here (as in ``test_revocation_real_responder``);
nothing asserts a wall-clock value.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from certwarden.clock import ManualClock, SystemClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.certs import signed_by
from certwarden.core.ocsp import CertStatus, Reason, TrustModel
from certwarden.demo.devpki import DevCA, Issued, new_key
from tests.conftest import Cli
from tests.fakeca import resign
from tests.ocsp_responders import (
    IndexEntry,
    OpensslResponder,
    ResponderIndex,
    start_openssl_responder,
    write_key,
    write_pem,
)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass
class LegacyPki:
    now: datetime
    root: DevCA
    ca: Issued  # SHA-1-signed by the root
    leaf: x509.Certificate  # SHA-1, by openssl
    responder_cert: x509.Certificate  # SHA-1, by openssl: OCSPSigning + ocsp-nocheck
    directory: Path
    responder: OpensslResponder

    def path(self, name: str) -> Path:
        return self.directory / name


def _openssl_issue(
    directory: Path, name: str, ca: Path, ca_key: Path, extensions: str, serial: int
) -> tuple[x509.Certificate, Issued]:
    """``openssl x509 -req -sha1``: a SHA-1-signed certificate for a fresh key."""
    key = new_key("rsa")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (directory / f"{serial}.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (directory / f"{serial}.ext").write_text(f"[v3]\n{extensions}\n")
    out = directory / f"{serial}.pem"
    subprocess.run(
        [
            "openssl", "x509", "-req", "-sha1", "-in", str(directory / f"{serial}.csr"),
            "-CA", str(ca), "-CAkey", str(ca_key), "-set_serial", str(serial), "-days", "200",
            "-extfile", str(directory / f"{serial}.ext"), "-extensions", "v3", "-out", str(out),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    return cert, Issued(cert, key)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LegacyPki]:
    directory = tmp_path_factory.mktemp("legacy-pki")
    start = SystemClock().now().replace(microsecond=0)
    root = DevCA.root(
        "Legacy Root", not_before=start - 400 * DAY, not_after=start + 3650 * DAY, key_type="rsa"
    )
    sub = root.child_ca(
        "Legacy SHA-1 CA",
        not_before=start - 300 * DAY,
        not_after=start + 1800 * DAY,
        key_type="rsa",
    )
    ca = resign(sub.issued, root.key)  # the CA certificate itself signed with SHA-1
    write_pem(directory / "ca.pem", ca.cert)
    write_key(directory / "ca.key", ca)
    write_pem(directory / "root.pem", root.cert)
    write_pem(directory / "chain.pem", ca.cert, root.cert)
    leaf, _ = _openssl_issue(
        directory, "legacy.example.test", directory / "ca.pem", directory / "ca.key",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:legacy.example.test",
        0x5A1,
    )  # fmt: skip
    responder_cert, responder = _openssl_issue(
        directory, "Legacy OCSP Responder", directory / "ca.pem", directory / "ca.key",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=OCSPSigning\nnoCheck=ignored",
        0x5A2,
    )  # fmt: skip
    write_pem(directory / "leaf.pem", leaf)
    write_pem(directory / "responder.pem", responder_cert)
    write_key(directory / "responder.key", responder)
    ResponderIndex([IndexEntry(leaf)]).write(directory / "index.txt")
    running = start_openssl_responder(
        index=directory / "index.txt",
        ca=directory / "ca.pem",
        signer=directory / "responder.pem",
        signer_key=directory / "responder.key",
        probe_cert=leaf,
        probe_issuer=ca.cert,
        multi=None,
        extra_args=["-rmd", "sha1"],
    )
    try:
        yield LegacyPki(
            SystemClock().now().replace(microsecond=0), root, ca, leaf, responder_cert,
            directory, running,
        )  # fmt: skip
    finally:
        running.stop()


def _saved_response(legacy: LegacyPki) -> Path:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(legacy.leaf, legacy.ca.cert, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    post = urllib.request.Request(
        legacy.responder.url,
        data=request,
        headers={"Content-Type": "application/ocsp-request"},
    )
    with urllib.request.urlopen(post, timeout=10) as answer:
        der = answer.read()
    path = legacy.path("saved.der")
    path.write_bytes(der)
    return path


def test_openssl_really_signed_with_sha1(legacy: LegacyPki) -> None:
    for cert in (legacy.leaf, legacy.responder_cert, legacy.ca.cert):
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == "sha1"
    assert signed_by(legacy.leaf, legacy.ca.cert)
    assert signed_by(legacy.responder_cert, legacy.ca.cert)
    assert signed_by(legacy.ca.cert, legacy.root.cert)
    parsed = ocsp.load_der_ocsp_response(_saved_response(legacy).read_bytes())
    assert parsed.signature_hash_algorithm is not None
    assert parsed.signature_hash_algorithm.name == "sha1"


@pytest.fixture
def legacy_app(tmp_path: Path, legacy: LegacyPki) -> Iterator[App]:
    clock = ManualClock(legacy.now + timedelta(seconds=1))
    app = build_app(AppConfig(data_dir=tmp_path / "data", database_url=""), clock=clock)
    yield app
    app.close()


async def test_sha1_chain_end_to_end(legacy_app: App, legacy: LegacyPki) -> None:
    app = legacy_app
    now = legacy.now + timedelta(seconds=1)
    # Import: linked by the signature, flagged weak.
    app.inventory.import_paths([legacy.path("chain.pem")], store="tomcat-trust")
    (leaf_row,) = app.inventory.import_paths([legacy.path("leaf.pem")], store="tomcat").imported
    leaf = app.inventory.get(leaf_row.id)
    ca = app.inventory.get(leaf.issuer_id or 0)
    assert ca.sha256 == legacy.ca.cert.fingerprint(hashes.SHA256()).hex()
    assert ca.issuer_id is not None  # the SHA-1-signed CA is linked to its root too
    assert leaf.weak_signature and ca.weak_signature
    assert not app.inventory.get(ca.issuer_id).weak_signature

    app.revocation.update_settings(
        {
            "enable_ocsp": True,
            "enable_revocation_check": True,
            "check_every": "1h",
            "responder_source": "configured",
            "configured_uri": legacy.responder.url,
        }
    )

    def leaf_result(tick: object) -> object:
        report = tick.report  # type: ignore[attr-defined]
        assert report is not None
        (outcome,) = [o for o in report.outcomes if o.certificate_id == leaf.id]
        return outcome

    # Refused with the reason by default.
    refused = leaf_result(await app.revocation.atick(now))
    result = refused.result  # type: ignore[attr-defined]
    assert result.reason is Reason.WEAK_SIGNATURE_ALGORITHM
    assert "SHA-1" in result.detail and "legacy.example.test" in result.detail
    assert refused.verdict.decision.value == "allow_with_warning"  # type: ignore[attr-defined]

    # Accepted with legacy signatures accepted, outside Common Criteria mode.
    app.revocation.update_settings({"legacy_signatures": "accept"})
    accepted = leaf_result(await app.revocation.atick(now + HOUR + timedelta(seconds=1)))
    result = accepted.result  # type: ignore[attr-defined]
    assert result.status is CertStatus.GOOD, result
    assert result.trust_model is TrustModel.DELEGATED
    assert any("SHA-1" in label for label in result.legacy_signatures)

    # Refused in Common Criteria mode whatever the setting.
    app.revocation.set_common_criteria(True)
    in_cc = leaf_result(await app.revocation.atick(now + 2 * HOUR + timedelta(seconds=2)))
    result = in_cc.result  # type: ignore[attr-defined]
    assert result.reason is Reason.WEAK_SIGNATURE_ALGORITHM
    assert in_cc.verdict.decision.value == "deny"  # type: ignore[attr-defined]


def test_verify_response_names_sha1_and_allow_legacy_trusts(
    tmp_path: Path, legacy: LegacyPki
) -> None:
    """The must-show of issue 10."""
    cli = Cli(tmp_path / "cli", legacy.now + timedelta(seconds=1))
    saved = str(_saved_response(legacy))
    issuer = str(legacy.path("ca.pem"))
    refused = cli("ocsp", "verify-response", saved, "--issuer", issuer)
    assert refused.code == 1, refused
    assert "weak_signature_algorithm" in refused.stdout and "SHA-1" in refused.stdout
    assert "Legacy OCSP Responder" in refused.stdout
    trusted = cli("ocsp", "verify-response", saved, "--issuer", issuer, "--allow-legacy-signatures")
    assert trusted.code == 0, trusted
    assert "TRUSTED" in trusted.stdout and "NOT TRUSTED" not in trusted.stdout
    with_cert = cli(
        "ocsp", "verify-response", saved, "--issuer", issuer,
        "--cert", str(legacy.path("leaf.pem")), "--allow-legacy-signatures",
    )  # fmt: skip
    assert with_cert.code == 0, with_cert


def test_ocsp_query_with_and_without_legacy(tmp_path: Path, legacy: LegacyPki) -> None:
    cli = Cli(tmp_path / "cli", legacy.now + timedelta(seconds=1))
    args = [
        "ocsp", "query", "--cert", str(legacy.path("leaf.pem")),
        "--issuer", str(legacy.path("ca.pem")), "--url", legacy.responder.url,
    ]  # fmt: skip
    refused = cli(*args, "--json")
    assert refused.code == 1, refused
    assert '"weak_signature_algorithm"' in refused.stdout
    good = cli(*args, "--allow-legacy-signatures", "--json")
    assert good.code == 0, good
    assert '"good"' in good.stdout
