"""Issue 11 item 2: a 1 KB PKCS#12 asking for 2^31-1 iterations is refused by its
counts, before any key is derived, naming the file, the part and the bound.

Without the check, OpenSSL runs the MAC's key derivation (2^31-1 iterations,
minutes of CPU) before it can say the password is wrong; the end-to-end test
runs the real CLI in a subprocess so that a regression fails by its timeout
instead of freezing the test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

from certwarden.core.ocsp import _der
from certwarden.core.parsing import load_certificates
from certwarden.core.pkcs12_cost import (
    MAX_ITERATIONS,
    MAX_SCRYPT_WORK,
    MAX_TOTAL_ITERATIONS,
    check_pkcs12_cost,
    pkcs12_derivations,
)
from certwarden.errors import ParseError
from tests.conftest import T0
from tests.hostile_files import (
    BOMB_ITERATIONS,
    p12_bomb,
    rewrite_integers,
    small_p12,
    to_ber,
)
from tests.pki_files import pem, small_pki

PKI = small_pki(T0)
LEAF = PKI.leaves[1]
CERTWARDEN = Path(sys.executable).parent / "certwarden"


def _refusal(data: bytes, password: bytes | None = b"pw") -> str:
    with pytest.raises(ParseError) as info:
        load_certificates(data, "/uploads/bomb.p12", password=password)
    assert info.value.source == "/uploads/bomb.p12"
    return info.value.problem


@pytest.mark.parametrize("password", [b"pw", b"wrong", None], ids=["right", "wrong", "none"])
def test_the_bomb_is_refused_by_its_counts_whatever_the_password(password: bytes | None) -> None:
    bomb = p12_bomb(LEAF)
    assert len(bomb) < 1300  # the audit's file was about 1 KB
    problem = _refusal(bomb, password)
    assert "MAC (macData)" in problem
    assert f"{BOMB_ITERATIONS:,}" in problem
    assert f"at most {MAX_ITERATIONS:,}" in problem
    assert "before deriving any key" in problem


@pytest.mark.parametrize(
    ("mac", "encryption", "algorithm", "where", "scheme"),
    [
        pytest.param(True, False, PBES.PBESv2SHA256AndAES256CBC, "MAC (macData)", "MAC",
                     id="mac-only"),
        pytest.param(False, True, PBES.PBESv2SHA256AndAES256CBC, "encrypted contents (part 1)",
                     "PBKDF2", id="pbes2-pbkdf2"),
        pytest.param(False, True, PBES.PBESv1SHA1And3KeyTripleDESCBC,
                     "encrypted contents (part 1)", "PKCS#12 PBE", id="pkcs12-pbe"),
    ],
)  # fmt: skip
def test_each_kind_of_count_is_bounded(
    mac: bool, encryption: bool, algorithm: PBES, where: str, scheme: str
) -> None:
    data = small_p12(LEAF, b"pw", rounds=3001, algorithm=algorithm)

    def change(_path: tuple[str, ...], value: int) -> int | None:
        if (mac and value == 2048) or (encryption and value == 3001):
            return BOMB_ITERATIONS
        return None

    problem = _refusal(rewrite_integers(data, change))
    assert where in problem
    assert scheme in problem
    assert f"{BOMB_ITERATIONS:,}" in problem


def test_the_private_key_bag_is_counted_too() -> None:
    counts = pkcs12_derivations(small_p12(LEAF, b"pw", rounds=3001))
    assert [(d.where, d.iterations) for d in counts] == [
        ("MAC (macData)", 2048),
        ("encrypted contents (part 1)", 3001),
        ("private key (bag 1 of part 2)", 3001),
    ]


def test_a_file_made_by_the_openssl_cli_is_read_and_its_bomb_refused(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(LEAF.cert_pem())
    key.write_bytes(LEAF.key_pem())
    out = tmp_path / "o.p12"
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", out,
         "-passout", "pass:pw", "-iter", "4321", "-maciter"],
        check=True, capture_output=True,
    )  # fmt: skip
    data = out.read_bytes()
    assert {d.iterations for d in pkcs12_derivations(data)} == {4321}
    assert LEAF.cert in load_certificates(data, "o.p12", password=b"pw").certificates
    bomb = rewrite_integers(data, lambda _p, v: BOMB_ITERATIONS if v == 4321 else None)
    assert f"{BOMB_ITERATIONS:,}" in _refusal(bomb)


def test_ber_files_like_windows_writes_are_read_and_bounded() -> None:
    ber = to_ber(small_p12(LEAF, b"pw", rounds=3001))
    assert ber[:2] == b"\x30\x80"  # indefinite length
    with pytest.warns(UserWarning, match="BER"):  # cryptography's own note about BER
        loaded = load_certificates(ber, "win.pfx", password=b"pw")
    assert loaded.certificates == (LEAF.cert,)
    assert f"{BOMB_ITERATIONS:,}" in _refusal(to_ber(p12_bomb(LEAF)))


def test_counts_at_the_bound_pass_and_one_more_is_refused() -> None:
    data = small_p12(LEAF, b"pw", rounds=3001)
    at = rewrite_integers(data, lambda _p, v: MAX_ITERATIONS if v == 3001 else None)
    assert [d.iterations for d in check_pkcs12_cost(at, "at.p12").derivations][1:] == [
        MAX_ITERATIONS
    ] * 2
    over = rewrite_integers(data, lambda _p, v: MAX_ITERATIONS + 1 if v == 3001 else None)
    with pytest.raises(ParseError, match=f"{MAX_ITERATIONS + 1:,}"):
        check_pkcs12_cost(over, "over.p12")


# ------------------------------------------------ hand-built PFX structures

DATA, ENCRYPTED = "1.2.840.113549.1.7.1", "1.2.840.113549.1.7.6"


def _seq(*items: bytes) -> bytes:
    return _der.sequence(*items)


def _pbkdf2(iterations: int) -> bytes:
    params = _seq(_der.encode_octet_string(b"salt" * 4), _der.encode_integer(iterations))
    return _seq(_der.encode_oid("1.2.840.113549.1.5.12"), params)


def _pbes2(kdf: bytes) -> bytes:
    aes = _seq(_der.encode_oid("2.16.840.1.101.3.4.1.42"), _der.encode_octet_string(b"i" * 16))
    return _seq(_der.encode_oid("1.2.840.113549.1.5.13"), _seq(kdf, aes))


def _encrypted_safe(algorithm: bytes) -> bytes:
    info = _seq(_der.encode_oid(DATA), algorithm, _der.tlv(0x80, b"ciphertext"))
    return _seq(_der.encode_oid(ENCRYPTED), _der.explicit(0, _seq(_der.encode_integer(0), info)))


def _pfx(*safes: bytes, mac_iterations: int = 2048, mac_algorithm: bytes | None = None) -> bytes:
    auth_safe = _der.encode_octet_string(_seq(*safes))
    digest_alg = mac_algorithm or _seq(_der.encode_oid("2.16.840.1.101.3.4.2.1"))
    mac = _seq(
        _seq(digest_alg, _der.encode_octet_string(b"m" * 32)),
        _der.encode_octet_string(b"s" * 8),
        _der.encode_integer(mac_iterations),
    )
    content_info = _seq(_der.encode_oid(DATA), _der.explicit(0, auth_safe))
    return _seq(_der.encode_integer(3), content_info, mac)


def test_many_derivations_under_the_bound_are_refused_by_their_total() -> None:
    each = MAX_ITERATIONS - 1
    count = MAX_TOTAL_ITERATIONS // each + 1
    data = _pfx(*(_encrypted_safe(_pbes2(_pbkdf2(each))) for _ in range(count)))
    with pytest.raises(ParseError) as info:
        load_certificates(data, "many.p12", password=b"pw")
    assert f"at most {MAX_TOTAL_ITERATIONS:,} per file" in info.value.problem


def test_scrypt_work_is_bounded() -> None:
    def scrypt(n: int) -> bytes:
        params = _seq(_der.encode_octet_string(b"salt"), *map(_der.encode_integer, (n, 8, 1)))
        return _seq(_der.encode_oid("1.3.6.1.4.1.11591.4.11"), params)

    fine = _pfx(_encrypted_safe(_pbes2(scrypt(1 << 14))))
    assert pkcs12_derivations(fine)[1].scrypt_work == (1 << 14) * 8
    bomb = _pfx(_encrypted_safe(_pbes2(scrypt(1 << 30))))
    with pytest.raises(ParseError, match=f"at most {MAX_SCRYPT_WORK:,}"):
        load_certificates(bomb, "scrypt.p12", password=b"pw")


def test_a_pbmac1_mac_is_bounded_by_its_pbkdf2_count() -> None:
    hmac = _seq(_der.encode_oid("1.2.840.113549.2.9"))
    pbmac1 = _seq(_der.encode_oid("1.2.840.113549.1.5.14"), _seq(_pbkdf2(BOMB_ITERATIONS), hmac))
    with pytest.raises(ParseError) as info:
        load_certificates(_pfx(mac_iterations=1, mac_algorithm=pbmac1), "m.p12", password=b"pw")
    assert "MAC (PBMAC1)" in info.value.problem
    assert f"{BOMB_ITERATIONS:,} PBKDF2" in info.value.problem


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(
            _pfx(_encrypted_safe(_seq(_der.encode_oid("1.2.3.4")))),
            "encrypted with an algorithm certwarden does not know (1.2.3.4)",
            id="unknown-cipher",
        ),
        pytest.param(
            _pfx(_encrypted_safe(_pbes2(_seq(_der.encode_oid("1.2.3.5"), _seq())))),
            "key derivation certwarden does not know (1.2.3.5)",
            id="unknown-kdf",
        ),
        pytest.param(_pfx(mac_iterations=0), "invalid iteration count (0)", id="zero-count"),
    ],
)
def test_what_cannot_be_costed_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(ParseError) as info:
        load_certificates(data, "odd.p12", password=b"pw")
    assert problem in info.value.problem


def test_public_key_integrity_mode_is_refused() -> None:
    # load_certificates takes such a file for PKCS#7 (it opens with signedData);
    # the cost check, asked directly, refuses it rather than guess.
    signed = _seq(_der.encode_oid("1.2.840.113549.1.7.2"), _der.explicit(0, _seq()))
    with pytest.raises(ParseError, match="public-key integrity mode"):
        check_pkcs12_cost(_seq(_der.encode_integer(3), signed), "signed.p12")


def test_every_truncation_of_a_pkcs12_is_a_parse_error() -> None:
    data = small_p12(LEAF, b"pw", rounds=3001)
    for cut in range(40, len(data), 23):
        with pytest.raises(ParseError) as info:
            load_certificates(data[:cut], "cut.p12", password=b"pw")
        assert info.value.source == "cut.p12"


def test_the_cli_import_refuses_the_bomb_and_stores_the_good_file(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bomb.p12").write_bytes(p12_bomb(LEAF))
    (tmp_path / "in" / "good.pem").write_bytes(pem(PKI.leaves[2].cert))
    env = {**os.environ, "P12_PASSWORD": "pw", "CERTWARDEN_DATA_DIR": str(tmp_path / "data"),
           "COLUMNS": "500"}  # fmt: skip
    done = subprocess.run(
        [CERTWARDEN, "import", tmp_path / "in", "--store", "tomcat-trust",
         "--password-env", "P12_PASSWORD"],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert done.returncode == 1, done  # README: 1 when some input was rejected
    assert "Traceback" not in done.stderr
    refusal = next(line for line in done.stderr.splitlines() if "bomb.p12" in line)
    assert refusal.startswith("rejected ")
    assert f"{BOMB_ITERATIONS:,}" in refusal
    assert f"at most {MAX_ITERATIONS:,}" in refusal
    assert "1 imported, 0 duplicate(s), 1 rejected, from 2 file(s)" in done.stdout
