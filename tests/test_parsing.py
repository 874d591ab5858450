"""load_certificates over every container format, and every kind of bad input."""

from __future__ import annotations

import pytest

from certwarden.core.parsing import load_certificates
from certwarden.errors import ParseError
from tests.conftest import T0
from tests.pki_files import (
    broken_base64_pem,
    csr_der,
    csr_pem,
    der,
    p7b,
    p12,
    pem,
    small_pki,
)

PKI = small_pki(T0)
CHAIN = [PKI.sub.cert, PKI.root.cert]
LEAF = PKI.leaves[1]


@pytest.mark.parametrize(
    ("data", "password", "container", "count"),
    [
        pytest.param(pem(LEAF.cert), None, "PEM", 1, id="pem-one"),
        pytest.param(pem(LEAF.cert, *CHAIN), None, "PEM", 3, id="pem-bundle"),
        pytest.param(der(LEAF.cert), None, "DER", 1, id="der"),
        pytest.param(p7b(LEAF.cert, *CHAIN), None, "PKCS#7", 3, id="p7b-der"),
        pytest.param(p7b(LEAF.cert, *CHAIN, encoding="pem"), None, "PEM", 3, id="p7b-pem"),
        pytest.param(p12(LEAF, CHAIN, b"s3cret"), b"s3cret", "PKCS#12", 3, id="pkcs12"),
        pytest.param(pem(LEAF.cert) + LEAF.key_pem(), None, "PEM", 1, id="pem-with-key"),
    ],
)
def test_containers(data: bytes, password: bytes | None, container: str, count: int) -> None:
    loaded = load_certificates(data, "input", password=password)
    assert loaded.container == container
    assert len(loaded.certificates) == count
    assert LEAF.cert in loaded.certificates  # a PKCS#7 SET need not keep file order


def test_keys_in_a_container_are_dropped_with_a_note() -> None:
    loaded = load_certificates(p12(LEAF, CHAIN, b"pw"), "x.p12", password=b"pw")
    assert "private key" in loaded.notes[0]
    loaded = load_certificates(pem(LEAF.cert) + LEAF.key_pem(), "x.pem")
    assert "private key" in loaded.notes[0]


@pytest.mark.parametrize(
    ("data", "password", "problem"),
    [
        pytest.param(b"", None, "the file is empty", id="empty"),
        pytest.param(b"  \n\n", None, "the file is empty", id="whitespace"),
        pytest.param(b"\x8f\x00garbage bytes \xff" * 20, None, "neither PEM nor DER", id="random"),
        pytest.param(der(LEAF.cert)[:200], None, "truncated or malformed DER", id="truncated-der"),
        pytest.param(broken_base64_pem(LEAF.cert), None, "broken base64", id="broken-base64"),
        pytest.param(pem(LEAF.cert)[:300], None, "no complete BEGIN/END block", id="truncated-pem"),
        pytest.param(LEAF.key_pem(), None, "private key, not a certificate", id="key-pem"),
        pytest.param(csr_pem(LEAF), None, "certificate signing request (CSR)", id="csr-pem"),
        pytest.param(csr_der(LEAF), None, "certificate signing request (CSR)", id="csr-der"),
        pytest.param(
            p12(LEAF, CHAIN, b"right"), b"wrong", "wrong PKCS#12 password", id="p12-wrong-pw"
        ),
        pytest.param(p12(LEAF, CHAIN, b"right"), None, "protected by a password", id="p12-no-pw"),
    ],
)
def test_bad_input_names_the_file_and_the_problem(
    data: bytes, password: bytes | None, problem: str
) -> None:
    with pytest.raises(ParseError) as info:
        load_certificates(data, "/uploads/thing.crt", password=password)
    assert info.value.source == "/uploads/thing.crt"
    assert problem in info.value.problem
    assert str(info.value).startswith("/uploads/thing.crt: ")


def test_der_private_key_is_named() -> None:
    from cryptography.hazmat.primitives import serialization

    key_der = LEAF.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ParseError, match="private key"):
        load_certificates(key_der, "key.der")
