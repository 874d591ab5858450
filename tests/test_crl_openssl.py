"""CRLs made by a real ``openssl ca -gencrl``, judged by certwarden (issue 13 tests).

An independent encoder: openssl writes the CRL from its own CA database
(``index.txt``) with the reasons, hold instruction, CRL number, Authority Key
Identifier and, for a partition, an Issuing Distribution Point. thisUpdate
and nextUpdate are set with ``-crl_lastupdate``/``-crl_nextupdate``, so no
wall-clock time is involved.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from certwarden.core.crl import CrlJudge, judge, load_crl
from certwarden.core.ocsp.results import CertStatus, Reason
from certwarden.demo.devpki import Issued
from tests.conftest import Cli
from tests.fakeca import DAY, T0, FakeCA
from tests.fakecrl import issue_with_dp, tamper_signature

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

URL = "http://crl.openssl.test/ca.crl"
SHARD1 = "http://crl.openssl.test/shard1.crl"
SHARD2 = "http://crl.openssl.test/shard2.crl"

# index.txt revocation field -> the CRLReason certwarden reports.
REASONS = {
    "unspecified": "unspecified",
    "keyCompromise": "keyCompromise",
    "CACompromise": "cACompromise",
    "affiliationChanged": "affiliationChanged",
    "superseded": "superseded",
    "cessationOfOperation": "cessationOfOperation",
    "certificateHold,holdInstructionReject": "certificateHold",
}


def _asn1_time(when: datetime) -> str:
    return when.strftime("%y%m%d%H%M%SZ")


@dataclass
class OpensslCA:
    ca: FakeCA
    directory: Path
    revoked: dict[str, Issued]  # index.txt reason field -> certificate
    good: Issued

    def gencrl(
        self,
        name: str,
        *,
        this_update: datetime = T0 - timedelta(hours=1),
        next_update: datetime = T0 + 7 * DAY,
        crlexts: str = "crl_ext",
    ) -> Path:
        out = self.directory / name
        subprocess.run(
            [
                "openssl", "ca", "-gencrl", "-batch",
                "-config", str(self.directory / "openssl.cnf"),
                "-crlexts", crlexts,
                "-crl_lastupdate", _asn1_time(this_update),
                "-crl_nextupdate", _asn1_time(next_update),
                "-out", str(out),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return out


def _config(directory: Path) -> str:
    return f"""
[ca]
default_ca = cw

[cw]
dir = {directory}
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
default_crl_days = 7
policy = any

[any]

[crl_ext]
authorityKeyIdentifier = keyid:always

[shard1_ext]
authorityKeyIdentifier = keyid:always
issuingDistributionPoint = critical, @shard1_idp

[shard1_idp]
fullname = URI:{SHARD1}
onlyuser = TRUE
"""


@pytest.fixture(scope="module")
def openssl_ca(tmp_path_factory: pytest.TempPathFactory) -> OpensslCA:
    directory = tmp_path_factory.mktemp("openssl-ca")
    ca = FakeCA.root("OpenSSL CRL Root").intermediate("OpenSSL CRL CA", key_type="rsa")
    (directory / "ca.pem").write_bytes(ca.issued.cert_pem())
    (directory / "ca.key").write_bytes(ca.issued.key_pem())
    (directory / "crlnumber").write_text("1A\n")
    (directory / "serial").write_text("01\n")
    (directory / "index.txt.attr").write_text("unique_subject = no\n")
    (directory / "openssl.cnf").write_text(_config(directory))
    revoked = {
        reason: issue_with_dp(ca, f"r{i}.openssl.test", urls=[URL, SHARD1])
        for i, reason in enumerate(REASONS)
    }
    good = issue_with_dp(ca, "good.openssl.test", urls=[URL, SHARD1])
    lines = []
    for i, (reason, issued) in enumerate(revoked.items()):
        cert = issued.cert
        when = _asn1_time(T0 - timedelta(days=10 - i))
        lines.append(
            f"R\t{_asn1_time(cert.not_valid_after_utc)}\t{when},{reason}\t"
            f"{cert.serial_number:X}\tunknown\t/CN=r{i}.openssl.test\n"
        )
    cert = good.cert
    lines.append(
        f"V\t{_asn1_time(cert.not_valid_after_utc)}\t\t{cert.serial_number:X}\tunknown\t/CN=good\n"
    )
    (directory / "index.txt").write_text("".join(lines))
    return OpensslCA(ca, directory, revoked, good)


def test_openssl_crl_reasons_and_good(openssl_ca: OpensslCA) -> None:
    path = openssl_ca.gencrl("full.crl")
    crl = load_crl(path.read_bytes(), source=str(path))  # PEM, as openssl writes it
    assert crl.number == 0x1A
    assert crl.this_update == T0 - timedelta(hours=1)
    assert crl.authority_key_id is not None
    assert len(crl.index) == len(REASONS)
    judge_ = CrlJudge(openssl_ca.ca.cert, [crl], now=T0)
    for i, (field, name) in enumerate(REASONS.items()):
        result = judge_.check(openssl_ca.revoked[field].cert)
        assert result.status is CertStatus.REVOKED, field
        assert result.revocation_reason == name
        assert result.revoked_at == T0 - timedelta(days=10 - i)
        assert result.on_hold is (name == "certificateHold")
    good = judge_.check(openssl_ca.good.cert)
    assert good.status is CertStatus.GOOD
    assert good.crl_number == crl.number


def test_openssl_crl_forged_stale_and_future(openssl_ca: OpensslCA) -> None:
    path = openssl_ca.gencrl("again.crl")
    der = load_crl(path.read_bytes()).der
    ca, leaf = openssl_ca.ca.cert, openssl_ca.good.cert
    assert judge(leaf, ca, [load_crl(tamper_signature(der))], now=T0).reason is Reason.BAD_SIGNATURE
    assert judge(leaf, ca, [load_crl(der)], now=T0 + 8 * DAY).reason is Reason.STALE
    future = openssl_ca.gencrl("future.crl", this_update=T0 + DAY, next_update=T0 + 8 * DAY)
    assert judge(leaf, ca, [load_crl(future.read_bytes())], now=T0).reason is Reason.NOT_YET_VALID


def test_openssl_crl_numbers_advance_and_replay_is_refused(openssl_ca: OpensslCA) -> None:
    from certwarden.core.crl import number_key

    first = load_crl(openssl_ca.gencrl("n1.crl").read_bytes())
    second = load_crl(openssl_ca.gencrl("n2.crl").read_bytes())
    assert second.number == first.number + 1  # type: ignore[operator]
    known = {number_key(second): second.number}
    result = judge(openssl_ca.good.cert, openssl_ca.ca.cert, [first], now=T0, known_numbers=known)  # type: ignore[dict-item]
    assert result.reason is Reason.CRL_NUMBER_REGRESSED


def test_openssl_partition_with_idp(openssl_ca: OpensslCA) -> None:
    shard = load_crl(openssl_ca.gencrl("shard1.crl", crlexts="shard1_ext").read_bytes())
    assert shard.idp is not None and shard.idp.only_contains_user_certs
    ca = openssl_ca.ca
    # Certificates naming shard 1 (among others) are judged by it ...
    result = judge(openssl_ca.revoked["keyCompromise"].cert, ca.cert, [shard], now=T0)
    assert result.status is CertStatus.REVOKED
    # ... one naming only shard 2 is not, even though it is not listed.
    elsewhere = issue_with_dp(ca, "shard2.openssl.test", urls=[SHARD2]).cert
    wrong = judge(elsewhere, ca.cert, [shard], now=T0)
    assert wrong.status is CertStatus.COULD_NOT_TELL
    assert wrong.reason is Reason.CRL_SCOPE_MISMATCH
    # onlyuser: a CA certificate in shard 1 is out of scope too.
    sub_ca = issue_with_dp(ca, "Sub CA", urls=[SHARD1], is_ca=True).cert
    assert judge(sub_ca, ca.cert, [shard], now=T0).reason is Reason.CRL_SCOPE_MISMATCH


def test_openssl_agrees_with_certwarden_on_the_signature(openssl_ca: OpensslCA) -> None:
    path = openssl_ca.gencrl("check.crl")
    ca_pem = str(openssl_ca.directory / "ca.pem")
    ok = subprocess.run(
        ["openssl", "crl", "-in", str(path), "-noout", "-CAfile", ca_pem],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "verify OK" in ok.stdout + ok.stderr
    forged = openssl_ca.directory / "check-forged.crl"
    forged.write_bytes(tamper_signature(load_crl(path.read_bytes()).der))
    bad = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(forged), "-noout", "-CAfile", ca_pem],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "verify OK" not in bad.stdout + bad.stderr


def test_cli_verify_on_an_openssl_crl(cli: Cli, openssl_ca: OpensslCA, tmp_path: Path) -> None:
    path = openssl_ca.gencrl("cli.crl")
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(openssl_ca.revoked["superseded"].cert_pem())
    result = cli(
        "crl",
        "verify",
        str(path),
        "--issuer",
        str(openssl_ca.directory / "ca.pem"),
        "--cert",
        str(leaf),
    )
    assert result.code == 0, result
    assert "(superseded)" in result.stdout


def test_x509_name_matches_openssl_issuer(openssl_ca: OpensslCA) -> None:
    crl = load_crl(openssl_ca.gencrl("name.crl").read_bytes())
    assert crl.issuer == openssl_ca.ca.cert.subject
    assert isinstance(crl.issuer, x509.Name)
