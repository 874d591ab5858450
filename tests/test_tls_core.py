"""Pure parts of the real-time revocation work: host:port, syslog settings and
messages (RFC 5424 / 5425), server-chain verification at an injected time, and
the ``syslog settings`` CLI (bad input named, nothing saved)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certwarden.core.syslog import SyslogSettings, format_message, frame
from certwarden.core.tls import parse_host_port, verify_server_chain
from certwarden.errors import InputError, InvalidFieldsError
from tests.conftest import Cli
from tests.fakeca import T0, FakeCA


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("logs.example.net:6514", ("logs.example.net", 6514)),
        ("127.0.0.1:25", ("127.0.0.1", 25)),
        ("[::1]:6514", ("::1", 6514)),
        (" mail:587 ", ("mail", 587)),
    ],
)
def test_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "HOST:PORT"),
        ("logs.example.net", "give the port"),
        ("logs:0", "out of range"),
        ("logs:65536", "out of range"),
        ("logs:http", "not a number"),
        ("::1:6514", "in brackets"),
        ("[::1", "closing"),
        ("bad_host!:6514", "not a host name"),
    ],
)
def test_host_port_errors_name_the_value(text: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        parse_host_port(text)


def test_syslog_settings_validation() -> None:
    ca = FakeCA.root("Syslog CA").issued.cert_pem().decode()
    settings = SyslogSettings.from_dict(
        {"enabled": True, "server": "logs.example.net", "ca_pem": ca}
    )
    assert (settings.host, settings.port) == ("logs.example.net", 6514)  # RFC 5425 default
    assert settings.name_to_verify == "logs.example.net"
    assert len(settings.anchors()) == 1
    with pytest.raises(InvalidFieldsError) as info:
        SyslogSettings.from_dict(
            {"enabled": True, "server": "x:99999", "ca_pem": "not pem", "app_name": "a b", "x": 1}
        )
    assert set(info.value.errors) == {"server", "ca_pem", "app_name", "x"}
    with pytest.raises(InvalidFieldsError) as missing:
        SyslogSettings.from_dict({"enabled": True})
    assert set(missing.value.errors) == {"server", "ca_pem"}


def test_rfc5424_message_and_rfc5425_frame() -> None:
    message = format_message(
        when=datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC),
        hostname="cw host",  # a space is not allowed in HOSTNAME: dropped
        app_name="certwarden",
        msgid="revoked",
        severity="critical",
        text="CN=a] is revoked",
        params={"id": 7, "subject": 'CN="a"]', "store": None},
    )
    assert message == (
        b"<130>1 2026-06-01T12:00:00.123456Z cwhost certwarden - revoked "
        b'[certwarden@32473 id="7" subject="CN=\\"a\\"\\]"] \xef\xbb\xbfCN=a] is revoked'
    )
    assert frame(message) == str(len(message)).encode() + b" " + message


def test_server_chain_verification_uses_the_injected_time() -> None:
    root = FakeCA.root("Chain Root")
    sub = root.intermediate("Chain CA")
    leaf = sub.dev.issue(
        "svc.example.test",
        not_before=T0 - timedelta(days=1),
        not_after=T0 + timedelta(days=10),
        sans=["svc.example.test"],
    )
    chain = [leaf.cert, sub.cert]
    path, problem = verify_server_chain(chain, anchors=[root.cert], name="svc.example.test", now=T0)
    assert problem is None and path is not None and len(path) == 3
    _, late = verify_server_chain(
        chain, anchors=[root.cert], name="svc.example.test", now=T0 + timedelta(days=11)
    )
    assert late is not None and "does not verify" in late
    _, wrong = verify_server_chain(chain, anchors=[root.cert], name="other.test", now=T0)
    assert wrong is not None and "'other.test'" in wrong
    _, none = verify_server_chain(chain, anchors=[], name="svc.example.test", now=T0)
    assert none == "no trust anchor is configured"


def test_syslog_settings_cli(cli: Cli, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(FakeCA.root("Syslog CA").issued.cert_pem())
    bad = cli("syslog", "settings", "set", "--server", "logs:70000", "--ca", str(ca))
    assert bad.code == 1 and "--server" in bad.stderr and "nothing was saved" in bad.stderr
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    worse = cli("syslog", "settings", "set", "--server", "logs:6514", "--ca", str(junk))
    assert worse.code == 1 and "--ca" in worse.stderr
    shown = json.loads(cli("syslog", "settings", "--json").stdout)
    assert shown["settings"]["enabled"] is False and shown["settings"]["server"] == ""
    ok = cli("syslog", "settings", "set", "--server", "logs.example.net:6514", "--ca", str(ca))
    assert ok.code == 0, ok
    shown = json.loads(cli("syslog", "settings", "--json").stdout)
    assert shown["settings"]["enabled"] is True
    assert shown["settings"]["server"] == "logs.example.net:6514"
    assert shown["settings"]["ca"] == ["CN=Syslog CA,O=certwarden FakeCA"]
    assert shown["connected"] is False and shown["pending"] == 0
    off = cli("syslog", "settings", "set", "--disable")
    assert off.code == 0
    assert json.loads(cli("syslog", "forward", "--json").stdout)["skipped"] == (
        "syslog forwarding is off"
    )
