"""``certwarden ocsp verify-response`` and ``certwarden ocsp show`` (issue 4 item 8).

Saved responses of every kind get their documented verdict; exit code 0 only
when the response is trusted; any bytes give a clear error, never a traceback.
The CLI's "now" is the fixture's frozen T0.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from certwarden.demo.devpki import Issued
from tests.conftest import Cli
from tests.fakeca import DAY, T0, FakeCA, unsuccessful


@dataclass
class Files:
    root: FakeCA
    ca: FakeCA
    other: FakeCA
    leaf: Issued
    leaf2: Issued
    delegated: Issued
    no_eku: Issued
    expired: Issued
    other_responder: Issued
    directory: Path

    def write(self, name: str, data: bytes) -> str:
        path = self.directory / name
        path.write_bytes(data)
        return str(path)

    def pem(self, name: str, issued: Issued) -> str:
        return self.write(name, issued.cert_pem())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = FakeCA.root("CLI Root")
    ca = root.intermediate("CLI Issuing CA")
    other = FakeCA.root("CLI Unrelated CA", org="elsewhere")
    f = Files(
        root=root,
        ca=ca,
        other=other,
        leaf=ca.leaf("cli-one.example.test"),
        leaf2=ca.leaf("cli-two.example.test"),
        delegated=ca.responder("CLI OCSP"),
        no_eku=ca.responder("CLI no EKU", with_eku=False),
        expired=ca.responder("CLI expired", not_before=T0 - 50 * DAY, not_after=T0 - DAY),
        other_responder=other.responder("CLI unrelated OCSP"),
        directory=tmp_path_factory.mktemp("ocsp-cli"),
    )
    f.pem("ca.pem", ca.issued)
    f.pem("root.pem", root.issued)
    f.pem("other-ca.pem", other.issued)
    f.pem("leaf.pem", f.leaf)
    f.pem("leaf2.pem", f.leaf2)
    f.pem("delegated.pem", f.delegated)
    f.pem("other-responder.pem", f.other_responder)
    f.write("chain.pem", f.leaf.cert_pem() + ca.issued.cert_pem())
    return f


@dataclass(frozen=True)
class Saved:
    make: Callable[[Files], bytes]
    args: tuple[str, ...]  # besides the response; {dir} is the files' directory
    code: int
    reasons: tuple[str, ...] = ()  # every reason code expected in the JSON verdict


def _good(f: Files, **kw: object) -> bytes:
    return f.ca.response(f.ca.answer(f.leaf.cert), **kw)  # type: ignore[arg-type]


ISSUER = ("--issuer", "{dir}/ca.pem")
WITH_CERT = (*ISSUER, "--cert", "{dir}/leaf.pem")

VERDICTS: dict[str, Saved] = {
    "issuer-signed": Saved(_good, ISSUER, 0),
    "issuer-signed-by-key-hash": Saved(lambda f: _good(f, responder_id="key"), WITH_CERT, 0),
    "delegated": Saved(lambda f: _good(f, signer=f.delegated), WITH_CERT, 0),
    "rsa-pss-delegated": Saved(
        lambda f: _good(f, signer=f.ca.responder("CLI RSA OCSP", key_type="rsa"), pss=True),
        WITH_CERT,
        0,
    ),
    "batch-of-two": Saved(
        lambda f: f.ca.response(
            f.ca.answer(f.leaf.cert), f.ca.answer(f.leaf2.cert, "revoked"), signer=f.delegated
        ),
        WITH_CERT,
        0,
    ),
    "trust-store-of-several-issuers": Saved(
        _good, ("--issuer", "{dir}/other-ca.pem", "--issuer", "{dir}/root.pem", *ISSUER), 0
    ),
    "issuer-bundle-file": Saved(_good, ("--issuer", "{dir}/chain.pem"), 0),
    "revoked-is-still-a-trusted-response": Saved(
        lambda f: f.ca.response(f.ca.answer(f.leaf.cert, "revoked")), WITH_CERT, 0
    ),
    "stale-without-cert-judges-authenticity": Saved(
        lambda f: f.ca.response(f.ca.answer(f.leaf.cert, this_update=T0 - 40 * DAY)), ISSUER, 0
    ),
    "trusted-responder-given": Saved(
        lambda f: _good(f, signer=f.other_responder),
        (*WITH_CERT, "--trusted-responder", "{dir}/other-responder.pem"),
        0,
    ),
    "delegate-supplied-with-other": Saved(
        lambda f: _good(f, signer=f.delegated, certs=()),
        (*WITH_CERT, "--other", "{dir}/delegated.pem"),
        0,
    ),
    "forged-signature": Saved(
        lambda f: _good(f, tamper_signature=True), ISSUER, 1, ("bad_signature",)
    ),
    "signed-with-another-key": Saved(
        lambda f: _good(f, signing_key=f.other.key), ISSUER, 1, ("bad_signature",)
    ),
    "signer-without-eku": Saved(
        lambda f: _good(f, signer=f.no_eku), ISSUER, 1, ("unauthorized_signer",)
    ),
    "signer-from-another-ca": Saved(
        lambda f: _good(f, signer=f.other_responder), ISSUER, 1, ("unauthorized_signer",)
    ),
    "expired-responder": Saved(
        lambda f: _good(f, signer=f.expired), ISSUER, 1, ("unauthorized_signer",)
    ),
    "delegate-omitted": Saved(
        lambda f: _good(f, signer=f.delegated, certs=()), ISSUER, 1, ("unauthorized_signer",)
    ),
    "only-the-root-given": Saved(_good, ("--issuer", "{dir}/root.pem"), 1, ("issuer_not_found",)),
    "stale-with-cert": Saved(
        lambda f: f.ca.response(f.ca.answer(f.leaf.cert, this_update=T0 - 40 * DAY)),
        WITH_CERT,
        1,
        ("stale",),
    ),
    "stale-at-a-later-time": Saved(
        _good, (*WITH_CERT, "--at", "2026-06-10T00:00:00Z"), 1, ("stale",)
    ),
    "fresh-at-an-earlier-time": Saved(
        lambda f: f.ca.response(f.ca.answer(f.leaf.cert, this_update=T0 - 40 * DAY)),
        (*WITH_CERT, "--at", "2026-04-22T12:00:00+00:00"),
        0,
    ),
    "this-update-in-the-future": Saved(
        lambda f: f.ca.response(f.ca.answer(f.leaf.cert, this_update=T0 + DAY)),
        WITH_CERT,
        1,
        ("not_yet_valid",),
    ),
    "wrong-serial-for-cert": Saved(
        lambda f: f.ca.response(f.ca.answer(f.leaf2.cert)), WITH_CERT, 1, ("certid_mismatch",)
    ),
    "wrong-issuer-key-hash": Saved(
        lambda f: f.ca.response(f.ca.answer(f.leaf.cert, key_hash_override=b"\x07" * 20)),
        ISSUER,
        1,
        ("issuer_not_found",),
    ),
    "cert-not-issued-by-any-issuer": Saved(
        _good, (*ISSUER, "--cert", "{dir}/other-responder.pem"), 1, ("issuer_not_found",)
    ),
    "unsuccessful-tryLater": Saved(
        lambda f: unsuccessful("tryLater"), ISSUER, 1, ("unsuccessful_status",)
    ),
    "unsuccessful-unauthorized": Saved(
        lambda f: unsuccessful("unauthorized"), ISSUER, 1, ("unsuccessful_status",)
    ),
    "garbage": Saved(lambda f: b"\x30\x82\xff\xff junk", ISSUER, 1, ("malformed_response",)),
    "a-certificate-instead": Saved(lambda f: f.leaf.cert_der(), ISSUER, 1, ("malformed_response",)),
}


def _args(f: Files, saved: Saved) -> list[str]:
    return [a.replace("{dir}", str(f.directory)) for a in saved.args]


@pytest.mark.parametrize("saved", VERDICTS.values(), ids=VERDICTS.keys())
def test_verify_response_verdicts(cli: Cli, files: Files, saved: Saved) -> None:
    path = files.write("response.der", saved.make(files))
    result = cli("ocsp", "verify-response", path, *_args(files, saved), "--json")
    assert result.code == saved.code, result
    verdict = json.loads(result.stdout)
    assert verdict["trusted"] is (saved.code == 0)
    assert verdict["verdict"] == ("trusted" if saved.code == 0 else "not trusted")
    codes = {r["reason"] for r in verdict["reasons"]}
    assert codes == set(saved.reasons), verdict["reasons"]
    assert all(r["text"] for r in verdict["reasons"])
    if "--cert" in saved.args and saved.code == 0:
        assert verdict["certificate"]["status"] in ("good", "revoked")
    # The text form gives the same verdict and every reason.
    text = cli("ocsp", "verify-response", path, *_args(files, saved))
    assert text.code == saved.code
    assert ("NOT TRUSTED" in text.stdout) is (saved.code != 0)
    for code in saved.reasons:
        assert f"[{code}]" in text.stdout


def test_verify_response_text_names_signer_and_freshness(cli: Cli, files: Files) -> None:
    path = files.write(
        "stale.der",
        files.ca.response(
            files.ca.answer(files.leaf.cert, this_update=T0 - 40 * DAY), signer=files.delegated
        ),
    )
    result = cli("ocsp", "verify-response", path, "--issuer", str(files.directory / "ca.pem"))
    assert result.code == 0, result
    assert "TRUSTED at 2026-06-01T12:00:00Z" in result.stdout
    assert "signer: delegated" in result.stdout
    assert "freshness: nextUpdate" in result.stdout


def test_untrusted_good_is_never_shown_as_trusted(cli: Cli, files: Files) -> None:
    path = files.write("forged.der", _good(files, tamper_signature=True))
    result = cli("ocsp", "verify-response", path, "--issuer", str(files.directory / "ca.pem"))
    assert result.code == 1
    assert "says good (NOT trusted)" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["--at", "yesterday"], 1, "is not an ISO-8601 time", id="bad-at"),
        pytest.param(["--at", "2026-06-01T12:00:00"], 1, "needs a UTC offset", id="naive-at"),
        pytest.param(["--cert", "{dir}/chain.pem"], 1, "--cert takes exactly one", id="two-certs"),
        pytest.param(
            ["--trusted-responder", "{dir}/nothing.pem"], 1, "cannot read", id="missing-file"
        ),
        pytest.param(["--other", "{dir}/response.der"], 1, "response.der", id="not-a-cert"),
    ],
)
def test_verify_response_bad_input(
    cli: Cli, files: Files, args: list[str], code: int, message: str
) -> None:
    path = files.write("response.der", _good(files))
    full = [a.replace("{dir}", str(files.directory)) for a in args]
    result = cli(
        "ocsp", "verify-response", path, "--issuer", str(files.directory / "ca.pem"), *full
    )
    assert result.code == code, result
    assert message in result.stderr


def test_verify_response_needs_an_issuer(cli: Cli, files: Files) -> None:
    path = files.write("response.der", _good(files))
    assert cli("ocsp", "verify-response", path).code == 2


def test_show_prints_every_field(cli: Cli, files: Files) -> None:
    der = files.ca.response(
        files.ca.answer(files.leaf.cert),
        files.ca.answer(
            files.leaf2.cert,
            "revoked",
            revocation_reason=x509.ReasonFlags.certificate_hold,
        ),
        signer=files.delegated,
        nonce=b"\xab" * 16,
    )
    path = files.write("show.der", der)
    text = cli("ocsp", "show", path)
    assert text.code == 0, text
    for expected in (
        "response status: successful",
        "responder: name CN=CLI OCSP",
        "produced at: 2026-06-01T12:00:00Z",
        "signature: ECDSA with sha256",
        "nonce: " + "ab" * 16,
        f"serial {files.leaf.cert.serial_number:x}, sha1",
        "says revoked (on hold)",
        "reason: certificateHold",
        "included certificate: CN=CLI OCSP",
        "not verified",
    ):
        assert expected in text.stdout, expected
    data = json.loads(cli("ocsp", "show", path, "--json").stdout)
    assert data["responder_id"] == {"by": "name", "name": "CN=CLI OCSP,O=certwarden dev PKI"}
    assert [r["status"] for r in data["responses"]] == ["good", "revoked"]
    assert data["responses"][1]["on_hold"] is True
    assert data["responses"][0]["cert_id"]["serial"] == f"{files.leaf.cert.serial_number:x}"
    assert data["certificates"][0]["extended_key_usage"] == ["OCSPSigning"]


def test_show_by_key_hash_and_unsuccessful(cli: Cli, files: Files) -> None:
    data = json.loads(
        cli("ocsp", "show", files.write("k.der", _good(files, responder_id="key")), "--json").stdout
    )
    assert data["responder_id"]["by"] == "key_hash" and len(data["responder_id"]["key_hash"]) == 40
    result = cli("ocsp", "show", files.write("u.der", unsuccessful("sigRequired")))
    assert result.code == 0 and "response status: sigRequired" in result.stdout


def _mutations(seed_der: bytes, count: int) -> list[bytes]:
    rng = random.Random(20260601)
    out = [
        b"",
        b"\x00",
        b"\x30",
        b"\x30\x80\x00\x00",
        b"-----BEGIN OCSP RESPONSE-----\n!!\n-----END OCSP RESPONSE-----",
        seed_der[:-1],
        seed_der + b"\x00",
    ]
    for _ in range(count):
        data = bytearray(seed_der)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        out.append(bytes(data[: rng.randint(1, len(data))] if rng.random() < 0.2 else data))
    out.extend(rng.randbytes(rng.randint(1, 300)) for _ in range(10))
    return out


def test_any_bytes_give_a_clear_answer_never_a_traceback(cli: Cli, files: Files) -> None:
    seed = files.ca.response(files.ca.answer(files.leaf.cert), signer=files.delegated)
    for index, data in enumerate(_mutations(seed, 40)):
        path = files.write(f"fuzz-{index}.der", data)
        for args in (
            ["show", path],
            ["show", path, "--json"],
            ["verify-response", path, "--issuer", str(files.directory / "ca.pem")],
        ):
            # catch_exceptions=False in the fixture: an exception fails the test.
            result = cli("ocsp", *args)
            assert result.code in (0, 1), (data.hex(), result)
            assert "Traceback" not in result.stdout + result.stderr
            if result.code == 1 and args[0] == "show":
                # A clear error naming the file and the problem.
                assert path in result.stdout + result.stderr
                assert "not a readable OCSP response" in result.stdout + result.stderr or (
                    "PEM block" in result.stderr
                )
