"""The CRL core: loading any bytes, the serial index, validation steps, scope, deltas.

Every case of issue 13's list, on CRLs made by cryptography's builder
(tests/fakecrl.py); tests/test_crl_openssl.py repeats the main ones on CRLs
made by ``openssl ca -gencrl``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509

from certwarden.core.crl import (
    CrlJudge,
    CrlParseError,
    cert_ref,
    check_crl,
    judge,
    load_crl,
    number_key,
    serial_key,
)
from certwarden.core.ocsp.results import CertStatus, Reason, Source, ValidationOptions
from tests.fakeca import DAY, T0, FakeCA
from tests.fakecrl import (
    HOLD,
    KEY_COMPROMISE,
    REMOVE,
    UNKNOWN_OID,
    Revoke,
    crl_issuer_cert,
    issue_with_dp,
    make_crl,
    tamper_signature,
    unknown_extension,
)

URL = "http://crl.example.test/ca.crl"


@pytest.fixture(scope="module")
def ca() -> FakeCA:
    return FakeCA.root("CRL Test Root").intermediate("CRL Test Issuing CA")


@pytest.fixture(scope="module")
def leaf(ca: FakeCA) -> x509.Certificate:
    return issue_with_dp(ca, "revoked.example.test", urls=[URL]).cert


@pytest.fixture(scope="module")
def other(ca: FakeCA) -> x509.Certificate:
    return issue_with_dp(ca, "fine.example.test", urls=[URL]).cert


def _judge(ca: FakeCA, cert: x509.Certificate, *ders: bytes, **kw: object):  # type: ignore[no-untyped-def]
    crls = [load_crl(d, source=f"crl{i}") for i, d in enumerate(ders)]
    now = kw.pop("now", T0)
    return judge(cert, ca.cert, crls, now=now, **kw)  # type: ignore[arg-type]


# -- loading any bytes ---------------------------------------------------------


def test_loads_der_and_pem_alike(ca: FakeCA, leaf: x509.Certificate) -> None:
    der = make_crl(ca, [Revoke(leaf.serial_number, reason=KEY_COMPROMISE)], number=3)
    pem = make_crl(ca, [Revoke(leaf.serial_number, reason=KEY_COMPROMISE)], number=3, pem=True)
    a, b = load_crl(der), load_crl(pem)
    assert a.number == b.number == 3
    assert len(a.index) == len(b.index) == 1
    assert a.to_json()["entries"][0]["reason"] == "keyCompromise"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"<!DOCTYPE html><html><body>Login</body></html>", "HTML"),
        (b"  <html><head></head></html>", "HTML"),
        (b'{"error": "nope"}', "JSON"),
        (b"\x30\x82\xff\xff\x01\x02", "not a readable CRL"),
        (b"-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n", "broken base64"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "without an X509 CRL"),
        (bytes(range(256)) * 4, "neither a DER CRL nor PEM"),
    ],
    ids=["empty", "html", "html-spaces", "json", "der-garbage", "pem-bad-b64", "pem-cert", "noise"],
)
def test_any_bytes_give_a_clear_error(data: bytes, words: str) -> None:
    with pytest.raises(CrlParseError) as info:
        load_crl(data, source="http://crl.example.test/x.crl")
    assert words in str(info.value)
    assert "http://crl.example.test/x.crl" in str(info.value)
    assert info.value.reason is Reason.MALFORMED_CRL


def test_truncated_crl_is_refused_at_every_length(ca: FakeCA, leaf: x509.Certificate) -> None:
    der = make_crl(ca, [Revoke(leaf.serial_number + i) for i in range(5)])
    for cut in range(1, len(der)):
        with pytest.raises(CrlParseError):
            load_crl(der[:cut])


def test_oversized_body_is_refused_before_parsing(ca: FakeCA) -> None:
    der = make_crl(ca, [Revoke(1000 + i) for i in range(50)])
    with pytest.raises(CrlParseError) as info:
        load_crl(der, max_size=len(der) - 1)
    assert info.value.reason is Reason.RESPONSE_TOO_LARGE
    assert load_crl(der, max_size=len(der)).index is not None


# -- the index -----------------------------------------------------------------


def test_index_finds_every_serial_and_nothing_else(ca: FakeCA) -> None:
    serials = [1, 127, 128, 255, 256, 0x7FFF, 0x8000, 2**64 + 5, 2**159 - 1, *range(5000, 5400)]
    der = make_crl(ca, [Revoke(s, reason=KEY_COMPROMISE if s % 2 else None) for s in serials])
    index = load_crl(der).index
    assert len(index) == len(serials)
    for s in serials:
        number = index.find(serial_key(s))
        assert number >= 0
        assert index.entry(number).serial == s
    for s in [0, 2, 129, 0x8001, 2**64, 4999, 5400]:
        assert index.find(serial_key(s)) == -1


def test_serial_key_is_minimal_der() -> None:
    assert serial_key(0) == b"\x00"
    assert serial_key(127) == b"\x7f"
    assert serial_key(128) == b"\x00\x80"
    assert serial_key(-128) == b"\x80"
    assert serial_key(-129) == b"\xff\x7f"


def test_entries_read_lazily_with_time_reason_and_invalidity(ca: FakeCA) -> None:
    der = make_crl(
        ca,
        [
            Revoke(10, at=T0 - 3 * DAY, reason=x509.ReasonFlags.superseded),
            Revoke(11, at=T0 - 2 * DAY, invalidity_date=T0 - 5 * DAY),
            Revoke(12, at=T0 - DAY),
        ],
    )
    entries = {e.serial: e for e in load_crl(der).index.entries()}
    assert entries[10].reason == "superseded"
    assert entries[10].revoked_at == T0 - 3 * DAY
    assert entries[11].invalidity_date == T0 - 5 * DAY
    assert entries[12].reason is None


# -- answers ---------------------------------------------------------------------


def test_not_listed_is_good_with_evidence(
    ca: FakeCA, leaf: x509.Certificate, other: x509.Certificate
) -> None:
    der = make_crl(ca, [Revoke(leaf.serial_number, reason=KEY_COMPROMISE)], number=9)
    result = _judge(ca, other, der)
    assert result.status is CertStatus.GOOD
    assert result.source is Source.CRL
    assert result.crl_number == 9
    assert result.crl_sha256 == load_crl(der).sha256
    assert result.this_update == T0 - timedelta(hours=1)
    assert result.next_update == T0 + DAY
    assert result.to_json()["source"] == "crl"


REASONS = [r for r in x509.ReasonFlags if r is not REMOVE]


@pytest.mark.parametrize("reason", [*REASONS, None], ids=[r.value for r in REASONS] + ["none"])
def test_revoked_with_each_reason(
    ca: FakeCA, leaf: x509.Certificate, reason: x509.ReasonFlags | None
) -> None:
    der = make_crl(ca, [Revoke(leaf.serial_number, at=T0 - 2 * DAY, reason=reason)])
    result = _judge(ca, leaf, der)
    assert result.status is CertStatus.REVOKED
    assert result.revoked_at == T0 - 2 * DAY
    assert result.revocation_reason == (reason.value if reason else None)
    assert result.on_hold is (reason is HOLD)


def test_hold_then_released_by_a_delta(ca: FakeCA, leaf: x509.Certificate) -> None:
    base = make_crl(ca, [Revoke(leaf.serial_number, reason=HOLD)], number=20, freshest=[URL + "d"])
    held = _judge(ca, leaf, base)
    assert held.status is CertStatus.REVOKED and held.on_hold
    delta = make_crl(ca, [Revoke(leaf.serial_number, reason=REMOVE)], number=21, delta_base=20)
    released = _judge(ca, leaf, base, delta)
    assert released.status is CertStatus.GOOD
    assert (released.crl_number, released.delta_crl_number) == (20, 21)
    # A delta that turns the hold into a compromise wins over the base.
    worse = make_crl(
        ca, [Revoke(leaf.serial_number, reason=KEY_COMPROMISE)], number=22, delta_base=20
    )
    assert _judge(ca, leaf, base, worse).revocation_reason == "keyCompromise"


def test_delta_revokes_what_the_base_does_not_list(
    ca: FakeCA, leaf: x509.Certificate, other: x509.Certificate
) -> None:
    base = make_crl(ca, [], number=30)
    delta = make_crl(
        ca, [Revoke(other.serial_number, reason=KEY_COMPROMISE)], number=31, delta_base=30
    )
    assert _judge(ca, other, base, delta).status is CertStatus.REVOKED
    assert _judge(ca, leaf, base, delta).status is CertStatus.GOOD


def test_delta_needing_a_newer_base_is_a_mismatch(ca: FakeCA, leaf: x509.Certificate) -> None:
    base = make_crl(ca, [], number=40)
    delta = make_crl(ca, [], number=45, delta_base=42)
    result = _judge(ca, leaf, base, delta)
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.DELTA_CRL_MISMATCH


def test_older_delta_is_ignored(ca: FakeCA, leaf: x509.Certificate) -> None:
    base = make_crl(ca, [], number=50)
    old = make_crl(ca, [Revoke(leaf.serial_number)], number=49, delta_base=48)
    assert _judge(ca, leaf, base, old).status is CertStatus.GOOD


def test_forged_delta_decides(ca: FakeCA, leaf: x509.Certificate) -> None:
    base = make_crl(ca, [Revoke(leaf.serial_number, reason=HOLD)], number=60)
    delta = tamper_signature(
        make_crl(ca, [Revoke(leaf.serial_number, reason=REMOVE)], number=61, delta_base=60)
    )
    result = _judge(ca, leaf, base, delta)
    assert result.reason is Reason.BAD_SIGNATURE


def test_remove_from_crl_in_a_complete_crl_is_not_trusted(
    ca: FakeCA, leaf: x509.Certificate
) -> None:
    der = make_crl(ca, [Revoke(leaf.serial_number, reason=REMOVE)])
    assert _judge(ca, leaf, der).reason is Reason.MALFORMED_CRL


# -- validation failures ----------------------------------------------------------


def test_forged_signature(ca: FakeCA, leaf: x509.Certificate) -> None:
    der = tamper_signature(make_crl(ca, [Revoke(leaf.serial_number)]))
    result = _judge(ca, leaf, der)
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.BAD_SIGNATURE


def test_signed_by_another_key_with_the_same_name(ca: FakeCA, other: x509.Certificate) -> None:
    impostor = FakeCA.root("CRL Test Issuing CA", org="certwarden dev PKI")
    assert impostor.cert.subject == ca.cert.subject
    der = make_crl(impostor, [])
    assert _judge(ca, other, der).reason is Reason.BAD_SIGNATURE


def test_wrong_issuer(ca: FakeCA, other: x509.Certificate) -> None:
    stranger = FakeCA.root("Some Other CA")
    result = _judge(ca, other, make_crl(stranger, []))
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.CRL_SCOPE_MISMATCH
    assert "Some Other CA" in result.detail
    # Checked on its own, the CRL is not one this CA's certificates may use.
    check = check_crl(load_crl(make_crl(stranger, [])), ca.cert, now=T0)
    assert check.reason is Reason.UNAUTHORIZED_SIGNER


def test_stale_past_next_update(ca: FakeCA, other: x509.Certificate) -> None:
    der = make_crl(ca, [], next_update=T0 - timedelta(minutes=6))
    assert _judge(ca, other, der).reason is Reason.STALE
    within_skew = make_crl(ca, [], next_update=T0 - timedelta(minutes=4))
    assert _judge(ca, other, within_skew).status is CertStatus.GOOD


def test_without_next_update_the_maximum_age_applies(ca: FakeCA, other: x509.Certificate) -> None:
    der = make_crl(ca, [], this_update=T0 - 2 * DAY, next_update=None)
    assert _judge(ca, other, der).reason is Reason.STALE
    options = ValidationOptions(max_age=3 * DAY)
    assert _judge(ca, other, der, options=options).status is CertStatus.GOOD


def test_future_this_update(ca: FakeCA, other: x509.Certificate) -> None:
    der = make_crl(ca, [], this_update=T0 + timedelta(minutes=10), next_update=T0 + 2 * DAY)
    assert _judge(ca, other, der).reason is Reason.NOT_YET_VALID


def test_replayed_older_number_is_refused(ca: FakeCA, other: x509.Certificate) -> None:
    old = load_crl(make_crl(ca, [], number=5))
    known = {number_key(old): 7}
    result = judge(other, ca.cert, [old], now=T0, known_numbers=known)
    assert result.reason is Reason.CRL_NUMBER_REGRESSED
    same = judge(other, ca.cert, [old], now=T0, known_numbers={number_key(old): 5})
    assert same.status is CertStatus.GOOD


def test_newest_of_several_versions_answers(ca: FakeCA, leaf: x509.Certificate) -> None:
    older = make_crl(ca, [], number=70)
    newer = make_crl(ca, [Revoke(leaf.serial_number, reason=KEY_COMPROMISE)], number=71)
    assert _judge(ca, leaf, older, newer).status is CertStatus.REVOKED
    assert _judge(ca, leaf, newer, older).status is CertStatus.REVOKED


def test_unknown_critical_crl_extension(ca: FakeCA, other: x509.Certificate) -> None:
    der = make_crl(ca, [], extensions=[(unknown_extension(), True)])
    result = _judge(ca, other, der)
    assert result.reason is Reason.UNSUPPORTED_CRITICAL_EXTENSION
    assert UNKNOWN_OID.dotted_string in result.detail
    harmless = make_crl(ca, [], extensions=[(unknown_extension(), False)])
    assert _judge(ca, other, harmless).status is CertStatus.GOOD


def test_unknown_critical_entry_extension(ca: FakeCA, other: x509.Certificate) -> None:
    der = make_crl(ca, [Revoke(99, extra=[(unknown_extension(), True)])])
    assert _judge(ca, other, der).reason is Reason.UNSUPPORTED_CRITICAL_EXTENSION


def test_ca_without_crl_sign_may_not_sign(ca: FakeCA) -> None:
    from tests.fakecrl import crl_issuer_cert as make_signer

    no_sign = make_signer(ca, "No CRL Sign CA", crl_sign=False)
    cert = issue_with_dp(FakeCA(ca.dev.__class__(no_sign)), "x.test").cert
    der = make_crl(no_sign, [])
    result = judge(cert, no_sign.cert, [load_crl(der)], now=T0)
    assert result.reason is Reason.UNAUTHORIZED_SIGNER


# -- scope: partitions, kinds of certificate, reasons -------------------------------


def _idp(url: str | None = None, **kw: object) -> x509.IssuingDistributionPoint:
    args: dict[str, object] = {
        "full_name": [x509.UniformResourceIdentifier(url)] if url else None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    args.update(kw)
    return x509.IssuingDistributionPoint(**args)  # type: ignore[arg-type]


def test_a_shard_answers_only_for_its_own_certificates(ca: FakeCA) -> None:
    one = issue_with_dp(ca, "one.test", urls=["http://crl.test/shard1.crl"]).cert
    two = issue_with_dp(ca, "two.test", urls=["http://crl.test/shard2.crl"]).cert
    shard1 = make_crl(ca, [Revoke(one.serial_number)], idp=_idp("http://crl.test/shard1.crl"))
    shard2 = make_crl(ca, [Revoke(two.serial_number)], idp=_idp("http://crl.test/shard2.crl"))
    # Against the wrong shard a revoked certificate must never come out good.
    wrong = _judge(ca, two, shard1)
    assert wrong.status is CertStatus.COULD_NOT_TELL
    assert wrong.reason is Reason.CRL_SCOPE_MISMATCH
    assert "another partition" in wrong.detail
    assert _judge(ca, two, shard2).status is CertStatus.REVOKED
    # Both shards at hand: each certificate uses its own.
    assert _judge(ca, one, shard1, shard2).status is CertStatus.REVOKED
    assert _judge(ca, two, shard1, shard2).status is CertStatus.REVOKED


def test_certificate_without_dp_only_matches_a_crl_without_dp_name(ca: FakeCA) -> None:
    bare = issue_with_dp(ca, "bare.test", urls=[]).cert
    assert _judge(ca, bare, make_crl(ca, [])).status is CertStatus.GOOD
    result = _judge(ca, bare, make_crl(ca, [], idp=_idp("http://crl.test/shard1.crl")))
    assert result.reason is Reason.CRL_SCOPE_MISMATCH


def test_user_and_ca_only_crls(ca: FakeCA, other: x509.Certificate) -> None:
    sub_ca = issue_with_dp(ca, "Sub CA", urls=[URL], is_ca=True).cert
    users = make_crl(ca, [], idp=_idp(URL, only_contains_user_certs=True))
    cas = make_crl(ca, [], idp=_idp(URL, only_contains_ca_certs=True))
    assert _judge(ca, other, users).status is CertStatus.GOOD
    assert _judge(ca, sub_ca, users).reason is Reason.CRL_SCOPE_MISMATCH
    assert _judge(ca, sub_ca, cas).status is CertStatus.GOOD
    assert _judge(ca, other, cas).reason is Reason.CRL_SCOPE_MISMATCH


def test_only_some_reasons_needs_every_reason_covered(ca: FakeCA, leaf: x509.Certificate) -> None:
    compromise = frozenset({KEY_COMPROMISE, x509.ReasonFlags.ca_compromise})
    rest = frozenset(
        r for r in REASONS if r not in compromise and r is not x509.ReasonFlags.unspecified
    )
    part1 = make_crl(ca, [], number=1, idp=_idp(URL, only_some_reasons=compromise))
    part2 = make_crl(ca, [], number=1, idp=_idp(URL, only_some_reasons=rest))
    alone = _judge(ca, leaf, part1)
    assert alone.status is CertStatus.COULD_NOT_TELL
    assert alone.reason is Reason.CRL_SCOPE_MISMATCH
    assert _judge(ca, leaf, part1, part2).status is CertStatus.GOOD
    listed = make_crl(
        ca,
        [Revoke(leaf.serial_number, reason=KEY_COMPROMISE)],
        idp=_idp(URL, only_some_reasons=compromise),
    )
    assert _judge(ca, leaf, listed).status is CertStatus.REVOKED


# -- indirect CRLs (RFC 5280 6.3.3 (b)(1), (f)) ------------------------------------


def _indirect_point(issuer_name: x509.Name) -> x509.DistributionPoint:
    return x509.DistributionPoint(
        [x509.UniformResourceIdentifier("http://crl.test/indirect.crl")],
        None,
        None,
        [x509.DirectoryName(issuer_name)],
    )


def test_indirect_crl_by_an_authorised_crl_issuer(ca: FakeCA) -> None:
    signer = crl_issuer_cert(ca, "Indirect CRL Issuer")
    point = _indirect_point(signer.cert.subject)
    revoked = issue_with_dp(ca, "ind-revoked.test", points=[point]).cert
    fine = issue_with_dp(ca, "ind-fine.test", points=[point]).cert
    idp = _idp("http://crl.test/indirect.crl", indirect_crl=True)
    der = make_crl(
        signer,
        [
            Revoke(fine.serial_number),  # the CRL issuer's own certificate of that serial
            Revoke(
                revoked.serial_number, certificate_issuer=ca.cert.subject, reason=KEY_COMPROMISE
            ),
        ],
        idp=idp,
    )
    crl = load_crl(der)
    judge_ = CrlJudge(ca.cert, [crl], now=T0, crl_issuers=[signer.cert])
    assert judge_.check(revoked).status is CertStatus.REVOKED
    # The first entry belongs to the CRL issuer's own certificates, not the CA's.
    assert judge_.check(fine).status is CertStatus.GOOD
    # Without the CRL issuer's certificate, nobody authorised signed it.
    assert judge(revoked, ca.cert, [crl], now=T0).reason is Reason.UNAUTHORIZED_SIGNER


def test_indirect_crl_issuer_needs_crl_sign_and_the_ca(ca: FakeCA) -> None:
    weak = crl_issuer_cert(ca, "Weak CRL Issuer", crl_sign=False)
    stranger = crl_issuer_cert(ca, "Stranger CRL Issuer", issuer=FakeCA.root("Elsewhere"))
    for signer in (weak, stranger):
        cert = issue_with_dp(ca, "x.test", points=[_indirect_point(signer.cert.subject)]).cert
        der = make_crl(signer, [], idp=_idp("http://crl.test/indirect.crl", indirect_crl=True))
        result = judge(cert, ca.cert, [load_crl(der)], now=T0, crl_issuers=[signer.cert])
        assert result.reason is Reason.UNAUTHORIZED_SIGNER


def test_crl_issuer_not_named_by_the_certificate_is_out_of_scope(
    ca: FakeCA, other: x509.Certificate
) -> None:
    signer = crl_issuer_cert(ca, "Unnamed CRL Issuer")
    der = make_crl(signer, [], idp=_idp(None, indirect_crl=True))
    result = judge(other, ca.cert, [load_crl(der)], now=T0, crl_issuers=[signer.cert])
    assert result.reason is Reason.CRL_SCOPE_MISMATCH


# -- the judge: state per CRL, shared -------------------------------------------------


def test_judge_validates_each_crl_once(
    ca: FakeCA, leaf: x509.Certificate, other: x509.Certificate
) -> None:
    crl = load_crl(make_crl(ca, [Revoke(leaf.serial_number)]))
    judge_ = CrlJudge(ca.cert, [crl], now=T0)
    assert len(crl.signature_verdicts) == 1
    first = judge_.check(cert_ref(other))
    assert judge_.check(other) is first  # the shared GOOD result
    assert judge_.check(leaf).status is CertStatus.REVOKED
    CrlJudge(ca.cert, [crl], now=T0 + timedelta(hours=1))
    assert len(crl.signature_verdicts) == 1  # the signature is not checked again


def test_no_crl_at_all(ca: FakeCA, other: x509.Certificate) -> None:
    result = judge(other, ca.cert, [], now=T0)
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.source is Source.CRL


# -- more of RFC 5280 6.3.3 -----------------------------------------------------------


def test_relative_idp_name_matches_the_certificates_full_name(ca: FakeCA) -> None:
    rdn = x509.RelativeDistinguishedName(
        [x509.NameAttribute(x509.NameOID.COMMON_NAME, "Partition 7")]
    )
    full = x509.DirectoryName(x509.Name([*ca.cert.subject.rdns, rdn]))
    cert = issue_with_dp(
        ca, "p7.test", points=[x509.DistributionPoint([full], None, None, None)]
    ).cert
    idp = _idp(None, relative_name=rdn)
    assert _judge(ca, cert, make_crl(ca, [], idp=idp)).status is CertStatus.GOOD
    other_rdn = x509.RelativeDistinguishedName(
        [x509.NameAttribute(x509.NameOID.COMMON_NAME, "Partition 8")]
    )
    result = _judge(ca, cert, make_crl(ca, [], idp=_idp(None, relative_name=other_rdn)))
    assert result.reason is Reason.CRL_SCOPE_MISMATCH


def test_distribution_point_reasons_limit_what_a_crl_answers(ca: FakeCA) -> None:
    point = x509.DistributionPoint(
        [x509.UniformResourceIdentifier(URL)], None, frozenset({KEY_COMPROMISE}), None
    )
    cert = issue_with_dp(ca, "reasons.test", points=[point]).cert
    # The only DP covers keyCompromise alone: not listed is not "good".
    result = _judge(ca, cert, make_crl(ca, []))
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.CRL_SCOPE_MISMATCH
    listed = make_crl(ca, [Revoke(cert.serial_number, reason=KEY_COMPROMISE)])
    assert _judge(ca, cert, listed).status is CertStatus.REVOKED


def test_delta_of_another_partition_is_not_applied(ca: FakeCA) -> None:
    one = issue_with_dp(ca, "d1.test", urls=["http://crl.test/shard1.crl"]).cert
    base = make_crl(ca, [], number=5, idp=_idp("http://crl.test/shard1.crl"))
    other_delta = make_crl(
        ca,
        [Revoke(one.serial_number)],
        number=6,
        delta_base=5,
        idp=_idp("http://crl.test/shard2.crl"),
    )
    assert _judge(ca, one, base, other_delta).status is CertStatus.GOOD


def test_certificate_issuer_entry_in_a_crl_that_is_not_indirect(
    ca: FakeCA, other: x509.Certificate
) -> None:
    der = make_crl(ca, [Revoke(77, certificate_issuer=ca.cert.subject)])
    assert _judge(ca, other, der).reason is Reason.MALFORMED_CRL


@pytest.mark.parametrize("key_type", ["ec", "rsa", "ed25519"])
def test_signature_algorithms(key_type: str) -> None:
    root = FakeCA.root(f"Alg Root {key_type}", key_type=key_type)  # type: ignore[arg-type]
    cert = issue_with_dp(root, "alg.test").cert
    der = make_crl(root, [Revoke(cert.serial_number, reason=KEY_COMPROMISE)])
    assert _judge(root, cert, der).status is CertStatus.REVOKED
    assert _judge(root, cert, tamper_signature(der)).reason is Reason.BAD_SIGNATURE


def test_a_large_crl_with_random_serials(ca: FakeCA) -> None:
    import random

    rnd = random.Random(5)
    serials = list({rnd.getrandbits(rnd.choice([8, 64, 127, 159])) | 1 for _ in range(3000)})
    crl = load_crl(make_crl(ca, [Revoke(s) for s in serials]))
    assert len(crl.index) == len(serials)
    assert all(crl.index.entry(crl.index.find(serial_key(s))).serial == s for s in serials)
    absent = {rnd.getrandbits(100) for _ in range(3000)} - set(serials)
    assert all(crl.index.find(serial_key(s)) == -1 for s in absent)


def test_index_grows_when_the_first_entries_mislead_the_estimate(ca: FakeCA) -> None:
    # 64 long entries first (big serials, reason, invalidity date), then many short ones.
    long = [
        Revoke(2**150 + i, reason=KEY_COMPROMISE, invalidity_date=T0 - 9 * DAY) for i in range(64)
    ]
    short = [Revoke(i) for i in range(1, 4000)]
    crl = load_crl(make_crl(ca, [*long, *short]))
    assert len(crl.index) == 64 + 3999
    for entry in (*long, *short):
        assert crl.index.entry(crl.index.find(serial_key(entry.serial))).serial == entry.serial
    assert crl.index.find(serial_key(4000)) == -1
