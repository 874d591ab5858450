"""Issue 11 item 4: one odd certificate never drops a whole import.

Each hostile certificate is validly signed by a real CA (DER surgery on the
TBSCertificate, then signed again): invalid UTF-8 in the subject CN (a
UTF8String), the same extension twice, a negative serial, a zero serial.
cryptography loads them and raises only when a field is first read, so each
must be caught per certificate and rejected by name with its problem, while
the good files of the same import are stored (README: exit code 1 when any
input is rejected).

Negative (and zero) serials are refused, not stored: cryptography warns that
a future release will refuse to load them, and a stored row whose DER cannot
be loaded would break later reads. The tests run with warnings as errors (as
that future release would behave) and with warnings ignored (as today).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certwarden.composition import App
from certwarden.core.certs import facts_from_certificate
from certwarden.core.parsing import load_certificates
from certwarden.errors import ParseError
from certwarden.services.inventory import InventoryService
from certwarden.services.inventory.pipeline import PARALLEL_BYTES
from tests.conftest import T0
from tests.hostile_files import (
    bad_utf8_cert,
    der_to_pem,
    duplicate_extension_cert,
    serial_cert,
)
from tests.pki_files import DAY, SmallPki, pem, small_pki, write

CERTWARDEN = Path(sys.executable).parent / "certwarden"
PKI = small_pki(T0)


def _leaf(name: str) -> x509.Certificate:
    return PKI.sub.issue(name, not_before=T0 - DAY, not_after=T0 + 90 * DAY).cert


def _issued(name: str):  # type: ignore[no-untyped-def]
    return PKI.sub.issue(name, not_before=T0 - DAY, not_after=T0 + 90 * DAY)


HOSTILE: dict[str, tuple[Callable[[SmallPki], bytes], str]] = {
    "bad-utf8": (
        lambda p: bad_utf8_cert(p.sub, _issued("utf8.test")),
        "its subject commonName is a UTF8String that is not valid UTF-8",
    ),
    "duplicate-extension": (
        lambda p: duplicate_extension_cert(p.sub, _issued("dup.test")),
        "has the extension subjectKeyIdentifier (2.5.29.14) more than once",
    ),
    "negative-serial": (
        lambda p: serial_cert(p.sub, _issued("neg.test"), -0x5555),
        "has a negative serial number (-0x5555); RFC 5280 4.1.2.2 requires a positive serial",
    ),
    "zero-serial": (
        lambda p: serial_cert(p.sub, _issued("zero.test"), 0),
        "has the serial number 0 (0x0)",
    ),
}
DERS = {name: make(PKI) for name, (make, _) in HOSTILE.items()}


def _load_quietly(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate(der)


def test_the_hostile_certificates_are_validly_signed_and_load_lazily() -> None:
    for name, der in DERS.items():
        cert = _load_quietly(der)
        cert.verify_directly_issued_by(PKI.sub.cert)  # raises if the signature is bad
        if not name.endswith("serial"):
            with pytest.raises(Exception, match=r"extension|asn1"):
                _ = cert.subject, cert.extensions


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_der_and_pem_name_the_certificate_and_its_problem(kind: str) -> None:
    der, problem = DERS[kind], HOSTILE[kind][1]
    with pytest.raises(ParseError) as info:
        load_certificates(der, "odd.der")
    assert info.value.source == "odd.der"
    assert info.value.problem.startswith("the certificate (SHA-256 ")
    assert problem in info.value.problem
    bundle = pem(PKI.leaves[1].cert) + der_to_pem(der)
    with pytest.raises(ParseError) as info:
        load_certificates(bundle, "bundle.pem")
    assert info.value.problem.startswith("PEM block 2 (CERTIFICATE) (SHA-256 ")
    assert problem in info.value.problem


@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("mode", ["ignore", "error"])
def test_pkcs7_and_pkcs12_bundles_name_the_certificate(kind: str, mode: str) -> None:
    """``error``: warnings raised, as a cryptography that refuses bad serials would."""
    cert = _load_quietly(DERS[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p7 = pkcs7.serialize_certificates([PKI.leaves[1].cert, cert], serialization.Encoding.DER)
        p12 = pkcs12.serialize_key_and_certificates(
            None, None, None, [PKI.leaves[1].cert, cert], serialization.NoEncryption()
        )
    with warnings.catch_warnings():
        warnings.simplefilter(mode)
        for data, name in ((p7, "bundle.p7b"), (p12, "bundle.p12")):
            with pytest.raises(ParseError) as info:
                load_certificates(data, name, password=b"")
            assert info.value.source == name
            assert info.value.problem.startswith("certificate ")
            assert HOSTILE[kind][1] in info.value.problem


@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("mode", ["ignore", "error"])
def test_an_encrypted_pkcs12_with_an_odd_certificate_is_rejected(kind: str, mode: str) -> None:
    """Encrypted certificates are read only by OpenSSL: it refuses invalid UTF-8 as
    a damaged file; the rest are named once loaded."""
    cert = _load_quietly(DERS[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p12 = pkcs12.serialize_key_and_certificates(
            None, None, None, [cert], serialization.BestAvailableEncryption(b"pw")
        )
    with warnings.catch_warnings():
        warnings.simplefilter(mode)
        with pytest.raises(ParseError) as info:
            load_certificates(p12, "enc.p12", password=b"pw")
    if kind == "bad-utf8":
        assert info.value.problem == "wrong PKCS#12 password, or the file is damaged"
    elif kind.endswith("serial") and mode == "error":
        assert "holds a certificate that has a serial number that is not positive" in (
            info.value.problem
        )
    else:
        assert HOSTILE[kind][1] in info.value.problem


def test_a_bad_serial_is_refused_before_cryptography_warns() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for data in (DERS["negative-serial"], der_to_pem(DERS["negative-serial"])):
            with pytest.raises(ParseError, match="negative serial"):
                load_certificates(data, "neg.pem")
    assert [str(w.message) for w in seen] == []


MIXED = {
    "good-chain.pem": pem(PKI.sub.cert, PKI.root.cert),
    "good-leaf.der": PKI.leaves[2].cert_der(),
    "bad-utf8.der": DERS["bad-utf8"],
    "dup-ext.pem": der_to_pem(DERS["duplicate-extension"]),
    "negative.crt": DERS["negative-serial"],
    "zero.pem": der_to_pem(DERS["zero-serial"]),
}


def test_facts_of_a_certificate_with_an_extension_twice_do_not_raise() -> None:
    """Other paths (TLS peers) take facts without the import's checks."""
    facts = facts_from_certificate(_load_quietly(DERS["duplicate-extension"]))
    assert facts.subject_cn == "dup.test"
    assert facts.subject_key_id is None  # the extensions were not read


def _mixed_import(tmp_path: Path) -> None:
    for name, data in MIXED.items():
        write(tmp_path / "in" / name, data)


EXPECTED_REJECTIONS = {
    "bad-utf8.der": HOSTILE["bad-utf8"][1],
    "dup-ext.pem": HOSTILE["duplicate-extension"][1],
    "negative.crt": HOSTILE["negative-serial"][1],
    "zero.pem": HOSTILE["zero-serial"][1],
}


@pytest.mark.parametrize("workers", [1, 2], ids=["inline", "worker-processes"])
def test_an_import_stores_the_good_files_and_names_each_bad_one(
    app: App, tmp_path: Path, workers: int
) -> None:
    _mixed_import(tmp_path)
    good = {"Test Issuing CA", "Test Root", "leaf2.test"}
    if workers > 1:  # over a megabyte: parsed by worker processes
        many = pem(PKI.leaves[3].cert) * 1600
        assert len(many) > PARALLEL_BYTES
        write(tmp_path / "in" / "many.pem", many)
        good.add("leaf3.test")
    inventory = InventoryService(app.db, app.clock, workers=workers)
    report = inventory.import_paths([tmp_path / "in"], store="tomcat-trust")
    rejected = {Path(r.source).name: r.problem for r in report.rejected}
    for name, problem in EXPECTED_REJECTIONS.items():
        assert problem in rejected.pop(name), name
    assert rejected == {}
    stored = {r.subject_cn for r in app.inventory.list()}
    assert stored == good
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every stored row loads, even if warnings are errors
        for record in app.inventory.list():
            x509.load_der_x509_certificate(app.inventory.der(record.id))


def test_uploaded_bytes_are_handled_the_same(app: App) -> None:
    """The path the web upload takes (``prepare_bytes``)."""
    prepared = app.inventory.prepare_bytes(
        [("good.pem", pem(PKI.leaves[3].cert)), ("dup.der", DERS["duplicate-extension"]),
         ("utf8.der", DERS["bad-utf8"]), ("neg.der", DERS["negative-serial"])],
        store="tomcat",
    )  # fmt: skip
    report = app.inventory.commit(prepared)
    assert [i.subject for i in report.imported] == ["CN=leaf3.test,O=certwarden dev PKI"]
    assert {r.source for r in report.rejected} == {"dup.der", "utf8.der", "neg.der"}


def test_the_cli_reports_each_rejection_without_a_traceback(tmp_path: Path) -> None:
    _mixed_import(tmp_path)
    env = {**os.environ, "CERTWARDEN_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "500"}
    done = subprocess.run(
        [CERTWARDEN, "import", tmp_path / "in", "--store", "tomcat-trust"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 1, done  # README: 1 when some input was rejected
    for name, problem in EXPECTED_REJECTIONS.items():
        line = next(ln for ln in done.stderr.splitlines() if f"/{name}:" in ln)
        assert line.startswith("rejected ") and problem in line, line
    assert "3 imported, 0 duplicate(s), 4 rejected, from 6 file(s)" in done.stdout
    listed = subprocess.run(
        [CERTWARDEN, "list", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert listed.returncode == 0, listed
    assert listed.stdout.count('"sha256"') == 3
