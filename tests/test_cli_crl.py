"""``certwarden crl show`` and ``certwarden crl verify`` (issue 13 item 6, "Must show").

Exit code 0 only when the CRL is trusted; every reason printed otherwise; any
bytes give a clear error, never a traceback. The CLI's "now" is T0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from certwarden.demo.devpki import Issued
from tests.conftest import Cli
from tests.fakeca import DAY, T0, FakeCA
from tests.fakecrl import (
    HOLD,
    KEY_COMPROMISE,
    REMOVE,
    Revoke,
    issue_with_dp,
    make_crl,
    tamper_signature,
)


@dataclass
class Files:
    ca: FakeCA
    leaf: Issued
    fine: Issued
    directory: Path

    def write(self, name: str, data: bytes) -> str:
        path = self.directory / name
        path.write_bytes(data)
        return str(path)

    @property
    def ca_pem(self) -> str:
        return str(self.directory / "ca.pem")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("crl-cli")
    ca = FakeCA.root("CRL CLI Root").intermediate("CRL CLI Issuing CA")
    f = Files(
        ca, issue_with_dp(ca, "revoked.cli.test"), issue_with_dp(ca, "fine.cli.test"), directory
    )
    f.write("ca.pem", ca.issued.cert_pem())
    f.write("leaf.pem", f.leaf.cert_pem())
    f.write("fine.pem", f.fine.cert_pem())
    f.write(
        "revoking.crl",
        make_crl(
            ca,
            [Revoke(f.leaf.cert.serial_number, at=T0 - 2 * DAY, reason=KEY_COMPROMISE)],
            number=12,
        ),
    )
    return f


def test_verify_revoked_certificate_exits_0_with_reason(cli: Cli, files: Files) -> None:
    crl = str(files.directory / "revoking.crl")
    result = cli(
        "crl", "verify", crl, "--issuer", files.ca_pem, "--cert", str(files.directory / "leaf.pem")
    )
    assert result.code == 0, result
    assert "TRUSTED" in result.stdout and "NOT TRUSTED" not in result.stdout
    assert "certificate (--cert): revoked at 2026-05-30T12:00:00Z (keyCompromise)" in result.stdout
    data = json.loads(
        cli(
            "crl",
            "verify",
            crl,
            "--issuer",
            files.ca_pem,
            "--cert",
            str(files.directory / "leaf.pem"),
            "--json",
        ).stdout
    )
    assert data["trusted"] is True
    assert data["certificate"]["status"] == "revoked"
    assert data["certificate"]["revocation_reason"] == "keyCompromise"
    assert data["certificate"]["source"] == "crl"
    assert data["crl"]["number"] == 12
    assert data["reasons"] == []


def test_verify_good_certificate(cli: Cli, files: Files) -> None:
    crl = str(files.directory / "revoking.crl")
    result = cli(
        "crl", "verify", crl, "--issuer", files.ca_pem, "--cert", str(files.directory / "fine.pem")
    )
    assert result.code == 0, result
    assert "certificate (--cert): good" in result.stdout


def test_one_signature_byte_changed_is_bad_signature_exit_1(cli: Cli, files: Files) -> None:
    original = (files.directory / "revoking.crl").read_bytes()
    forged = files.write("forged.crl", tamper_signature(original))
    result = cli(
        "crl",
        "verify",
        forged,
        "--issuer",
        files.ca_pem,
        "--cert",
        str(files.directory / "leaf.pem"),
    )
    assert result.code == 1
    assert "NOT TRUSTED" in result.stdout
    assert "[bad_signature]" in result.stdout
    data = json.loads(cli("crl", "verify", forged, "--issuer", files.ca_pem, "--json").stdout)
    assert [r["reason"] for r in data["reasons"]] == ["bad_signature"]


def test_after_next_update_is_stale_exit_1(cli: Cli, files: Files) -> None:
    crl = str(files.directory / "revoking.crl")
    at = (T0 + 2 * DAY).isoformat()
    result = cli("crl", "verify", crl, "--issuer", files.ca_pem, "--at", at)
    assert result.code == 1
    assert "[stale]" in result.stdout
    result = cli(
        "crl",
        "verify",
        crl,
        "--issuer",
        files.ca_pem,
        "--cert",
        str(files.directory / "leaf.pem"),
        "--at",
        at,
    )
    assert result.code == 1
    assert "[stale]" in result.stdout


def test_wrong_issuer_lists_every_reason(cli: Cli, files: Files, tmp_path: Path) -> None:
    stranger = FakeCA.root("CRL CLI Stranger")
    other_pem = tmp_path / "other.pem"
    other_pem.write_bytes(stranger.issued.cert_pem())
    crl = str(files.directory / "revoking.crl")
    result = cli("crl", "verify", crl, "--issuer", str(other_pem), "--json")
    assert result.code == 1
    reasons = [r["reason"] for r in json.loads(result.stdout)["reasons"]]
    assert reasons[0] == "unauthorized_signer"
    # The certificate's issuer is not among the --issuer certificates.
    result = cli(
        "crl",
        "verify",
        crl,
        "--issuer",
        str(other_pem),
        "--cert",
        str(files.directory / "leaf.pem"),
    )
    assert result.code == 1
    assert "[issuer_not_found]" in result.stdout


def test_delta_releases_a_hold(cli: Cli, files: Files) -> None:
    serial = files.leaf.cert.serial_number
    base = files.write("hold.crl", make_crl(files.ca, [Revoke(serial, reason=HOLD)], number=30))
    delta = files.write(
        "release.crl", make_crl(files.ca, [Revoke(serial, reason=REMOVE)], number=31, delta_base=30)
    )
    leaf = str(files.directory / "leaf.pem")
    held = cli("crl", "verify", base, "--issuer", files.ca_pem, "--cert", leaf)
    assert held.code == 0 and "revoked, on hold" in held.stdout
    released = cli(
        "crl", "verify", base, "--issuer", files.ca_pem, "--cert", leaf, "--delta", delta
    )
    assert released.code == 0, released
    assert "certificate (--cert): good" in released.stdout


def test_show_prints_entries(cli: Cli, files: Files) -> None:
    crl = str(files.directory / "revoking.crl")
    result = cli("crl", "show", crl)
    assert result.code == 0
    assert "issuer: CN=CRL CLI Issuing CA" in result.stdout
    assert "number: 12 (complete)" in result.stdout
    assert (
        f"{files.leaf.cert.serial_number:x}  2026-05-30T12:00:00Z  keyCompromise" in result.stdout
    )
    data = json.loads(cli("crl", "show", crl, "--json").stdout)
    assert data["entries"] == [
        {
            "serial": f"{files.leaf.cert.serial_number:x}",
            "revoked_at": "2026-05-30T12:00:00Z",
            "reason": "keyCompromise",
            "invalidity_date": None,
        }
    ]
    assert data["next_update"] == "2026-06-02T12:00:00Z"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><body>Sign in to continue</body></html>",
        b"\x30\x82\x10\x00garbage",
        b"-----BEGIN X509 CRL-----\n%%%\n-----END X509 CRL-----\n",
        bytes(range(256)),
    ],
    ids=["empty", "html", "truncated", "bad-pem", "noise"],
)
def test_any_bytes_give_a_clear_error(cli: Cli, files: Files, data: bytes) -> None:
    path = files.write("bad.crl", data)
    for command in (["show", path], ["verify", path, "--issuer", files.ca_pem]):
        result = cli("crl", *command)
        assert result.code == 1
        assert "Traceback" not in result.stdout + result.stderr
        assert "bad.crl" in result.stderr
    data_json = json.loads(cli("crl", "show", path, "--json").stdout)
    assert data_json["reason"] == "malformed_crl"


def test_control_characters_in_names_are_escaped(cli: Cli, tmp_path: Path) -> None:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Evil\x1b[31mCA")])
    ca = FakeCA.root("CRL CLI Root 2")
    path = tmp_path / "evil.crl"
    path.write_bytes(make_crl(ca, [], issuer_name=name))
    result = cli("crl", "show", str(path))
    assert result.code == 0
    assert "\x1b" not in result.stdout
    assert "Evil\\x1b[31mCA" in result.stdout


def test_missing_file_is_a_clear_error(cli: Cli, files: Files) -> None:
    result = cli("crl", "show", str(files.directory / "nope.crl"))
    assert result.code == 1
    assert "cannot read the CRL file" in result.stderr
