"""CRLs obey the signature-algorithm policy of OCSP responses (issue 13 item 3, issue 10 item 2):
a SHA-1-signed CRL is ``weak_signature_algorithm`` unless legacy signatures are accepted, which
never happens in Common Criteria mode; a SHA-256 one is untouched by the setting."""

from __future__ import annotations

from dataclasses import replace

from cryptography import x509

from certwarden.core.algorithms import LegacySignatures
from certwarden.core.crl import judge, load_crl
from certwarden.core.ocsp.results import CertStatus, Reason, ValidationOptions
from certwarden.core.revocation_settings import RevocationSettings
from tests.fakeca import T0, FakeCA
from tests.fakecrl import KEY_COMPROMISE, Revoke, issue_with_dp, make_crl, sha1_signed

URL = "http://crl.example.test/legacy.crl"


def _setup() -> tuple[FakeCA, x509.Certificate]:
    ca = FakeCA.root("Legacy CRL Root", key_type="rsa").intermediate(
        "Legacy CRL Issuing CA", key_type="rsa"
    )
    return ca, issue_with_dp(ca, "legacy.example.test", urls=[URL]).cert


def test_sha1_crl_is_weak_by_default_and_accepted_only_when_asked() -> None:
    ca, leaf = _setup()
    der = sha1_signed(
        make_crl(ca, [Revoke(leaf.serial_number, reason=KEY_COMPROMISE)]),
        ca.key,  # type: ignore[arg-type]
    )
    crl = load_crl(der, source=URL)
    refused = judge(leaf, ca.cert, [crl], now=T0, options=ValidationOptions())
    assert (refused.status, refused.reason) == (CertStatus.COULD_NOT_TELL,
                                                Reason.WEAK_SIGNATURE_ALGORITHM)  # fmt: skip
    assert "SHA-1" in refused.detail and URL in refused.detail
    accepted = judge(
        leaf, ca.cert, [crl], now=T0, options=ValidationOptions(accept_legacy_signatures=True)
    )
    assert accepted.status is CertStatus.REVOKED and accepted.revocation_reason == "keyCompromise"


def test_the_setting_never_accepts_sha1_in_common_criteria_mode() -> None:
    settings = RevocationSettings()
    accept = replace(settings, legacy_signatures=LegacySignatures.ACCEPT)
    assert accept.validation_options_for(common_criteria=False).accept_legacy_signatures
    assert not accept.validation_options_for(common_criteria=True).accept_legacy_signatures
    assert not settings.validation_options_for(common_criteria=False).accept_legacy_signatures


def test_sha256_crl_is_not_touched_by_the_policy() -> None:
    ca, leaf = _setup()
    crl = load_crl(make_crl(ca, []), source=URL)
    good = judge(leaf, ca.cert, [crl], now=T0, options=ValidationOptions())
    assert good.status is CertStatus.GOOD
