"""The revocation policy table, Common Criteria on and off, through the two
places that decide for stored data: uploads (``certwarden import``) and
on-demand checks (``certwarden check``).

    status          CC off              CC on
    good            allow               allow
    revoked         deny                deny
    on hold         deny (revoked)      deny
    unknown         allow, warning      deny
    could not tell  allow, warning      deny
    expired         deny (revoked)      deny

The responder is the project's own (FakeCA answers, served over real HTTP);
the leaves name it in their AIA extension.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from certwarden.composition import App
from certwarden.core.policy import POLICY_TABLE
from tests.conftest import Cli
from tests.fakeca import DAY, T0, FakeCA
from tests.ocsp_responders import FakeCAResponder, FaultResponder, LiveAnswer, write_pem

KINDS = ("good", "revoked", "on_hold", "unknown", "could_not_tell", "expired")
# kind -> (decision CC off, decision CC on)
EXPECTED = {
    "good": ("allow", "allow"),
    "revoked": ("deny", "deny"),
    "on_hold": ("deny", "deny"),
    "unknown": ("allow_with_warning", "deny"),
    "could_not_tell": ("allow_with_warning", "deny"),
    "expired": ("deny", "deny"),
}


@dataclass
class Setup:
    sub: FakeCA
    leaves: dict[str, x509.Certificate]
    files: Path
    responder: FakeCAResponder

    def sha(self, kind: str) -> str:
        from cryptography.hazmat.primitives import hashes

        return self.leaves[kind].fingerprint(hashes.SHA256()).hex()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    server = FaultResponder().start()
    try:
        files = tmp_path_factory.mktemp("policy-pki")
        root = FakeCA.root("Policy Root", now=T0)
        sub = root.intermediate("Policy Issuing CA")
        live = server.url("live")
        leaves = {
            kind: sub.leaf(f"{kind.replace('_', '-')}.policy.test", ocsp_url=live).cert
            for kind in ("good", "revoked", "on_hold", "unknown")
        }
        # A responder that fails: could not tell (http_error).
        leaves["could_not_tell"] = sub.leaf(
            "down.policy.test", ocsp_url=server.serve_bytes("down", b"", status=503)
        ).cert
        leaves["expired"] = sub.leaf(
            "expired.policy.test", not_before=T0 - 400 * DAY, days=300, ocsp_url=live
        ).cert
        responder = FakeCAResponder(
            sub, [leaves[k] for k in ("good", "revoked", "on_hold", "unknown")],
            this_update=lambda: T0,
        )  # fmt: skip
        responder.answers[leaves["revoked"].serial_number] = LiveAnswer(
            "revoked", T0 - 2 * DAY, x509.ReasonFlags.key_compromise
        )
        responder.answers[leaves["on_hold"].serial_number] = LiveAnswer(
            "revoked", T0 - DAY, x509.ReasonFlags.certificate_hold
        )
        responder.answers[leaves["unknown"].serial_number] = LiveAnswer("unknown")
        server.serve_dynamic("live", responder)
        write_pem(files / "chain.pem", sub.cert, root.cert)
        (files / "leaves").mkdir()
        for kind, cert in leaves.items():
            write_pem(files / "leaves" / f"{kind}.pem", cert)
        yield Setup(sub, leaves, files, responder)
    finally:
        server.stop()


def _prepare(cli: Cli, setup: Setup, *, common_criteria: bool) -> None:
    assert cli("import", str(setup.files / "chain.pem"), "--store", "tomcat-trust").code == 0
    assert cli("revocation", "settings", "set", "--enable-ocsp").code == 0
    assert cli("security", "common-criteria", "on" if common_criteria else "off").code == 0


def test_the_table_in_the_code_is_the_documented_one() -> None:
    names = {"good": "good", "revoked": "revoked", "unknown": "unknown"}
    for kind, (off, on) in EXPECTED.items():
        if kind in names:
            status = next(s for (_, s) in POLICY_TABLE if s.value == names[kind])
            assert POLICY_TABLE[(False, status)].value == off
            assert POLICY_TABLE[(True, status)].value == on


@pytest.mark.parametrize("common_criteria", [False, True], ids=["cc-off", "cc-on"])
def test_upload_applies_the_policy(cli: Cli, setup: Setup, common_criteria: bool) -> None:
    _prepare(cli, setup, common_criteria=common_criteria)
    result = cli("import", str(setup.files / "leaves"), "--store", "tomcat", "--json")
    report = json.loads(result.stdout)
    stored = {i["sha256"] for i in report["imported"]}
    rejected = {r["file"].rsplit("/", 1)[-1].removesuffix(".pem"): r for r in report["rejected"]}
    column = 1 if common_criteria else 0
    for kind in KINDS:
        decision = EXPECTED[kind][column]
        if decision == "deny":
            assert setup.sha(kind) not in stored, kind
            assert kind in rejected, kind
            assert "refused by the revocation check" in rejected[kind]["problem"]
        else:
            assert setup.sha(kind) in stored, kind
            assert kind not in rejected, kind
    assert result.code == 1  # something was refused in both modes (revoked, expired)
    # Refusals carry the time and reason; on hold is called so.
    assert "keyCompromise" in rejected["revoked"]["problem"]
    assert "2026-05-30T12:00:00Z" in rejected["revoked"]["problem"]
    assert "on hold" in rejected["on_hold"]["problem"]
    assert "expired" in rejected["expired"]["problem"]
    if common_criteria:
        assert "could_not_tell: http_error" in rejected["could_not_tell"]["problem"]
    else:
        assert any("http_error" in n for n in report["notes"])  # warned, not refused
    # Nothing stored for refused certificates.
    listed = json.loads(cli("list", "--store", "tomcat", "--json").stdout)
    assert {c["sha256"] for c in listed} == stored
    # Each stored certificate has its status recorded from the upload check.
    by_sha = {c["sha256"]: c for c in listed}
    assert by_sha[setup.sha("good")]["revocation"]["status"] == "good"
    if not common_criteria:
        assert by_sha[setup.sha("unknown")]["revocation"]["status"] == "unknown"


def test_force_stores_refused_certificates_with_their_status(cli: Cli, setup: Setup) -> None:
    _prepare(cli, setup, common_criteria=True)
    leaves = setup.files / "leaves"
    refused = cli("import", str(leaves / "revoked.pem"), "--store", "tomcat", "--json")
    assert refused.code == 1
    assert json.loads(refused.stdout)["imported"] == []
    forced = cli("import", str(leaves / "revoked.pem"), "--store", "tomcat", "--force", "--json")
    assert forced.code == 0, forced
    report = json.loads(forced.stdout)
    assert len(report["imported"]) == 1
    assert any("stored despite the revocation check, as asked" in n for n in report["notes"])
    shown = json.loads(cli("show", str(report["imported"][0]["id"]), "--json").stdout)
    assert shown["revocation"]["status"] == "revoked"
    assert shown["revocation"]["reason"] == "keyCompromise"
    assert shown["revocation"]["revoked_at"] == "2026-05-30T12:00:00Z"


def test_uploads_are_not_checked_while_ocsp_is_disabled(cli: Cli, setup: Setup) -> None:
    assert cli("import", str(setup.files / "chain.pem"), "--store", "tomcat-trust").code == 0
    result = cli(
        "import", str(setup.files / "leaves" / "revoked.pem"), "--store", "tomcat", "--json"
    )
    assert result.code == 0
    report = json.loads(result.stdout)
    assert len(report["imported"]) == 1
    assert any("OCSP is disabled" in n and "not checked" in n for n in report["notes"])
    shown = json.loads(cli("show", str(report["imported"][0]["id"]), "--json").stdout)
    assert shown["revocation"]["status"] == "not_checked"


@pytest.mark.parametrize("common_criteria", [False, True], ids=["cc-off", "cc-on"])
def test_check_applies_the_policy(cli: Cli, setup: Setup, common_criteria: bool) -> None:
    # Stored first, with OCSP off, so that nothing is refused on the way in.
    assert cli("import", str(setup.files / "chain.pem"), "--store", "tomcat-trust").code == 0
    assert cli("import", str(setup.files / "leaves"), "--store", "tomcat").code == 0
    assert cli("revocation", "settings", "set", "--enable-ocsp").code == 0
    assert cli("security", "common-criteria", "on" if common_criteria else "off").code == 0
    result = cli("check", "--all", "--json")
    assert result.code == 1  # revoked and expired are refused in both modes
    report = json.loads(result.stdout)
    assert report["common_criteria"] is common_criteria
    by_sha = {r["sha256"]: r for r in report["results"]}
    column = 1 if common_criteria else 0
    for kind in KINDS:
        assert by_sha[setup.sha(kind)]["decision"] == EXPECTED[kind][column], kind
    assert by_sha[setup.sha("on_hold")]["result"]["on_hold"] is True
    assert by_sha[setup.sha("good")]["result"]["status"] == "good"
    assert by_sha[setup.sha("good")]["result"]["trust_model"] == "issuer"
    # One certificate at a time: the exit code follows the policy.
    ids = {kind: by_sha[setup.sha(kind)]["id"] for kind in KINDS}
    assert cli("check", str(ids["good"])).code == 0
    assert cli("check", str(ids["unknown"])).code == (1 if common_criteria else 0)
    assert cli("check", str(ids["could_not_tell"])).code == (1 if common_criteria else 0)
    assert cli("check", str(ids["revoked"])).code == 1
    text = cli("check", str(ids["on_hold"]))
    assert "on hold" in text.stdout


def test_check_names_a_missing_certificate(cli: Cli) -> None:
    result = cli("check", "99999")
    assert result.code == 1
    assert "no certificate with ID 99999" in result.stderr


def test_upload_check_via_the_service_batches_per_responder(app: App, setup: Setup) -> None:
    """Several leaves of one CA at one responder: one request for all of them."""
    app.inventory.import_paths([setup.files / "chain.pem"], store="tomcat-trust")
    app.revocation.update_settings({"enable_ocsp": True})
    before = len(setup.responder.batch_sizes)
    names = ("good", "unknown")
    prepared = app.inventory.prepare(
        [setup.files / "leaves" / f"{n}.pem" for n in names], store="tomcat"
    )
    report = app.upload.commit_checked(prepared)
    assert len(report.imported) == 2
    assert setup.responder.batch_sizes[before:] == [2]
