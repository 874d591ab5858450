"""The revocation CLI: settings validation (every bad field named, nothing
saved), enterprise parameters, Common Criteria mode, and ``ocsp query``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import Cli
from tests.fakeca import DAY, T0, FakeCA
from tests.ocsp_responders import FakeCAResponder, FaultResponder, LiveAnswer, write_pem

DEFAULTS = {
    "check_every": 24,
    "check_every_unit": "hours",
    "clock_skew_seconds": 300,
    "configured_uri": "",
    "connect_timeout": 3.0,
    "enable_ocsp": False,
    "enable_revocation_check": False,
    "hash_algorithm": "sha1",
    "max_age_hours": 24,
    "legacy_signatures": "refuse",
    "method": "post",
    "nonce": "send",
    "responder_source": "certificate",
    "total_timeout": 10.0,
    "trusted_responder_store": "tomcat-trust",
    # CRLs (issue 13): off, ocsp-only, for a new and an upgraded installation alike.
    "enable_crl": False,
    "order": "ocsp-only",
    "crl_max_mib": 50,
    "crl_timeout": 30.0,
    "crl_refresh_margin_minutes": 60,
    "crl_fetch_floor_minutes": 15,
}


def _settings(cli: Cli) -> dict[str, object]:
    result = cli("revocation", "settings", "--json")
    assert result.code == 0, result
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_defaults(cli: Cli) -> None:
    assert _settings(cli) == DEFAULTS
    shown = cli("revocation", "settings")
    assert "Use OCSP URI from Certificate" in shown.stdout
    assert "uploads are not checked" in shown.stdout


def test_every_bad_field_is_named_and_nothing_is_saved(cli: Cli) -> None:
    result = cli(
        "revocation", "settings", "set",
        "--enable-ocsp", "--source", "configured", "--uri", "ftp://ocsp.example.test",
        "--check-every", "0h", "--hash", "md5", "--nonce", "sometimes", "--method", "put",
        "--connect-timeout", "5", "--total-timeout", "2",
    )  # fmt: skip
    assert result.code == 1
    error = result.stderr
    for field, words in {
        "configured_uri": "must be an http:// or https:// URL",
        "check_every": "must be between 1 and 8760 hours",
        "hash_algorithm": "must be one of sha1, sha256",
        "nonce": "must be one of off, send, require",
        "method": "must be one of post, get",
        "total_timeout": "must not be shorter than the connect timeout",
    }.items():
        assert f"{field}: " in error and words in error, (field, error)
    assert "Traceback" not in error
    assert _settings(cli) == DEFAULTS  # enable_ocsp was fine, but nothing was saved


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (["--enable-ocsp", "--source", "configured"], "configured_uri", "is required"),
        (["--uri", "http://"], "configured_uri", "has no host name"),
        (["--uri", "https://ocsp.example.test/a b"], "configured_uri", "white space"),
        (["--check-every", "3 weeks"], "check_every", "is not an interval"),
        (["--check-every", "400d"], "check_every", "between 1 and 365 days"),
        (["--total-timeout", "abc"], "total_timeout", "must be a number"),
        (["--connect-timeout", "0"], "connect_timeout", "between 0.1 and 60"),
        (["--source", "crl"], "responder_source", "configured, certificate"),
        (["--trusted-responder-store", "no-such-store"], "trusted_responder_store", "no store"),
        (["--trusted-responder-store", "../etc"], "trusted_responder_store", "not a store name"),
        (["--clock-skew", "-1"], "clock_skew_seconds", "between 0 and 3600"),
        (["--clock-skew", "2h"], "clock_skew_seconds", "must be"),
        (["--max-age", "0"], "max_age_hours", "between 1 and 720"),
        (["--max-age", "1000"], "max_age_hours", "between 1 and 720"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_one_bad_field(cli: Cli, args: list[str], field: str, words: str) -> None:
    result = cli("revocation", "settings", "set", *args)
    assert result.code == 1, result
    assert f"{field}: " in result.stderr and words in result.stderr, result.stderr
    assert _settings(cli) == DEFAULTS


def test_good_settings_are_saved(cli: Cli) -> None:
    result = cli(
        "revocation", "settings", "set", "--enable-ocsp", "--source", "configured",
        "--uri", "https://ocsp.example.test/ocsp", "--enable-revocation-check",
        "--check-every", "2d", "--hash", "sha256", "--nonce", "require", "--method", "get",
        "--connect-timeout", "1.5", "--total-timeout", "4", "--json",
    )  # fmt: skip
    assert result.code == 0, result
    expected = {
        **DEFAULTS,
        "enable_ocsp": True,
        "responder_source": "configured",
        "configured_uri": "https://ocsp.example.test/ocsp",
        "enable_revocation_check": True,
        "check_every": 2,
        "check_every_unit": "days",
        "hash_algorithm": "sha256",
        "nonce": "require",
        "method": "get",
        "connect_timeout": 1.5,
        "total_timeout": 4.0,
    }
    assert json.loads(result.stdout) == expected
    assert _settings(cli) == expected
    # A later bad change leaves the good settings alone.
    assert cli("revocation", "settings", "set", "--check-every", "soon").code == 1
    assert _settings(cli) == expected


def test_set_without_changes_is_a_usage_error(cli: Cli) -> None:
    assert cli("revocation", "settings", "set").code == 2


def test_enterprise_parameters(cli: Cli) -> None:
    shown = json.loads(cli("params", "--json").stdout)
    assert shown == {
        "certificate_validity_check": False,
        "validity_check_frequency_hours": 24,
        "effective_recheck_hours": None,
    }
    result = cli("params", "set", "--validity-check", "--validity-frequency", "12h", "--json")
    assert result.code == 0, result
    assert json.loads(result.stdout)["effective_recheck_hours"] == 12
    # Check Every takes precedence once the scheduled check is on.
    cli("revocation", "settings", "set", "--enable-ocsp", "--enable-revocation-check",
        "--check-every", "3h")  # fmt: skip
    assert json.loads(cli("params", "--json").stdout)["effective_recheck_hours"] == 3
    bad = cli("params", "set", "--no-validity-check", "--validity-frequency", "1000h")
    assert bad.code == 1
    assert "validity_check_frequency_hours: must be between 1 and 720 hours" in bad.stderr
    assert json.loads(cli("params", "--json").stdout)["certificate_validity_check"] is True


def test_common_criteria_mode(cli: Cli) -> None:
    assert json.loads(cli("security", "common-criteria", "--json").stdout) == {
        "common_criteria": False
    }
    assert "is ON" in cli("security", "common-criteria", "on").stdout
    assert json.loads(cli("security", "common-criteria", "status", "--json").stdout) == {
        "common_criteria": True
    }
    assert cli("security", "common-criteria", "maybe").code == 2
    assert "is off" in cli("security", "common-criteria", "off").stdout


# ------------------------------------------------------------------ ocsp query


@dataclass
class Query:
    files: Path
    url: str
    responder: FakeCAResponder


@pytest.fixture(scope="module")
def query_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Query]:
    server = FaultResponder().start()
    try:
        files = tmp_path_factory.mktemp("query-pki")
        root = FakeCA.root("Query Root", now=T0)
        sub = root.intermediate("Query Issuing CA")
        url = server.url("q")
        good = sub.leaf("good.query.test", ocsp_url=url).cert
        revoked = sub.leaf("revoked.query.test", ocsp_url=url).cert
        no_aia = sub.leaf("no-aia.query.test").cert
        responder = FakeCAResponder(sub, [good, revoked, no_aia], this_update=lambda: T0)
        responder.answers[revoked.serial_number] = LiveAnswer(
            "revoked", T0 - DAY, x509.ReasonFlags.superseded
        )
        server.serve_dynamic("q", responder)
        write_pem(files / "issuer.pem", sub.cert)
        write_pem(files / "root.pem", root.cert)
        write_pem(files / "good.pem", good)
        write_pem(files / "revoked.pem", revoked)
        write_pem(files / "no-aia.pem", no_aia)
        write_pem(files / "two.pem", good, revoked)
        (files / "junk.pem").write_bytes(b"not a certificate at all")
        yield Query(files, url, responder)
    finally:
        server.stop()


def test_query_good(cli: Cli, query_pki: Query) -> None:
    f = query_pki.files
    result = cli("ocsp", "query", "--cert", str(f / "good.pem"), "--issuer", str(f / "issuer.pem"),
                 "--json")  # fmt: skip
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert data["status"] == "good"
    assert data["trust_model"] == "issuer"
    assert data["responder_url"] == query_pki.url
    assert data["raw_response"]  # base64 evidence
    human = cli("ocsp", "query", "--cert", str(f / "good.pem"), "--issuer", str(f / "issuer.pem"))
    assert "good" in human.stdout and "allow" in human.stdout


def test_query_revoked_exits_1_with_time_and_reason(cli: Cli, query_pki: Query) -> None:
    f = query_pki.files
    result = cli("ocsp", "query", "--cert", str(f / "revoked.pem"), "--issuer",
                 str(f / "issuer.pem"), "--json", "--sha256", "--no-nonce")  # fmt: skip
    assert result.code == 1
    data = json.loads(result.stdout)
    assert (data["status"], data["revocation_reason"]) == ("revoked", "superseded"), data
    assert data["revoked_at"] == "2026-05-31T12:00:00Z"
    assert data["decision"] == "deny"


def test_query_url_override(cli: Cli, query_pki: Query) -> None:
    f = query_pki.files
    no_url = cli(
        "ocsp", "query", "--cert", str(f / "no-aia.pem"), "--issuer", str(f / "issuer.pem")
    )
    assert no_url.code == 1 and "give one with --url" in no_url.stderr
    result = cli("ocsp", "query", "--cert", str(f / "no-aia.pem"), "--issuer",
                 str(f / "issuer.pem"), "--url", query_pki.url, "--json")  # fmt: skip
    assert result.code == 0, result
    assert json.loads(result.stdout)["status"] == "good"


@pytest.mark.parametrize(
    ("cert", "issuer", "words"),
    [
        ("junk.pem", "issuer.pem", "junk.pem"),
        ("missing.pem", "issuer.pem", "cannot read the certificate file"),
        ("two.pem", "issuer.pem", "holds 2 certificates"),
        ("good.pem", "root.pem", "did not sign"),
    ],
)
def test_query_bad_input(cli: Cli, query_pki: Query, cert: str, issuer: str, words: str) -> None:
    f = query_pki.files
    result = cli("ocsp", "query", "--cert", str(f / cert), "--issuer", str(f / issuer))
    assert result.code == 1
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_freshness_settings_are_saved_and_shown(cli: Cli) -> None:
    result = cli("revocation", "settings", "set", "--clock-skew", "120", "--max-age", "48")
    assert result.code == 0, result
    assert "Clock skew allowed" in result.stdout and "120 s" in result.stdout
    assert "48 h" in result.stdout
    assert _settings(cli) == {**DEFAULTS, "clock_skew_seconds": 120, "max_age_hours": 48}
