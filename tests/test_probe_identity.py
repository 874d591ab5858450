"""``certwarden probe`` checks the name and the chain, apart from revocation:
real TLS servers on loopback (Python's ssl module, throwaway certificates) and
a plain HTTP server. A wrong name, a self-signed certificate matching nothing
and a chain the inventory does not trust are refused (exit 1), each said on
its own line; a plain-HTTP port is named as such; ``endpoints probe`` exits 1
when an endpoint cannot be reached."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certwarden.core.server_identity import Anchor, judge_chain, match_hostname
from certwarden.demo.devpki import DevCA
from tests.conftest import T0, Cli

DAY = timedelta(days=1)
ROOT = DevCA.root("Identity Test Root", not_before=T0 - 10 * DAY, not_after=T0 + 900 * DAY)
LEAF = ROOT.issue(
    "id.test",
    not_before=T0 - DAY,
    not_after=T0 + 90 * DAY,
    sans=["127.0.0.1", "localhost", "*.wild.test"],
)


def _self_signed() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "selfsigned.id.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - DAY)
        .not_valid_after(T0 + 30 * DAY)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("selfsigned.id.test")]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


SELF_SIGNED, SELF_KEY = _self_signed()


class TlsServer:
    """A TLS server (stdlib ssl) in a thread: handshakes, then closes each connection."""

    def __init__(self, bundle: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(bundle)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def _bundle(path: Path, *pems: bytes) -> Path:
    path.write_bytes(b"".join(pems))
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    folder = tmp_path_factory.mktemp("identity")
    key = SELF_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    issued = TlsServer(_bundle(folder / "issued.pem", LEAF.cert_pem(), LEAF.key_pem()))
    lonely = TlsServer(
        _bundle(folder / "self.pem", SELF_SIGNED.public_bytes(serialization.Encoding.PEM), key)
    )
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    web_thread = threading.Thread(target=web.serve_forever, daemon=True)
    web_thread.start()
    try:
        yield {"issued": issued.port, "self": lonely.port, "http": int(web.server_address[1])}
    finally:
        issued.stop()
        lonely.stop()
        web.shutdown()
        web.server_close()


@pytest.fixture
def trusting(cli: Cli, tmp_path: Path) -> Cli:
    """A CLI whose inventory trusts the test root (in tomcat-trust)."""
    root = tmp_path / "root.pem"
    root.write_bytes(ROOT.issued.cert_pem())
    assert cli("import", "--store", "tomcat-trust", str(root)).code == 0
    return cli


def _probe(cli: Cli, port: int, *args: str) -> tuple[int, dict[str, object]]:
    result = cli("probe", f"127.0.0.1:{port}", *args, "--json")
    assert result.stdout, result
    return result.code, json.loads(result.stdout)


def test_a_trusted_chain_and_matching_name_is_accepted(
    trusting: Cli, servers: dict[str, int]
) -> None:
    code, out = _probe(trusting, servers["issued"])
    assert code == 0, out  # revocation: no responder named; Common Criteria is off
    assert out["hostname"] == {
        "name": "127.0.0.1",
        "matched": True,
        "matched_by": "IP:127.0.0.1",
        "certificate_names": ["DNS:localhost", "DNS:*.wild.test", "IP:127.0.0.1"],
        "detail": "127.0.0.1 matches IP:127.0.0.1",
    }
    trust = out["chain_trust"]
    assert isinstance(trust, dict) and trust["trusted"] is True
    assert trust["store"] == "tomcat-trust" and trust["anchor"].startswith("CN=Identity Test Root")
    refusals = out["refusals"]
    assert isinstance(refusals, dict)
    assert refusals["common_criteria_off"] == []
    (only,) = refusals["common_criteria_on"]  # no responder: only a Good answer passes then
    assert only.startswith("revocation:")


@pytest.mark.parametrize(
    ("servername", "matched"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("mail.wild.test", True),
        ("wild.test", False),  # the wildcard stands for exactly one label
        ("a.mail.wild.test", False),
        ("wrong.example", False),
        ("127.0.0.2", False),
    ],
)
def test_the_servername_is_matched_by_rfc_6125(
    trusting: Cli, servers: dict[str, int], servername: str, matched: bool
) -> None:
    code, out = _probe(trusting, servers["issued"], "--servername", servername)
    assert out["hostname"]["matched"] is matched  # type: ignore[index]
    assert out["chain_trust"]["trusted"] is True  # type: ignore[index]
    assert code == (0 if matched else 1)


def test_a_wrong_servername_says_so_on_its_own_line(trusting: Cli, servers: dict[str, int]) -> None:
    result = trusting("probe", f"127.0.0.1:{servers['issued']}", "--servername", "wrong.example")
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("hostname:  DOES NOT MATCH: wrong.example is not among") for line in lines
    )
    assert any(
        line.startswith("chain:     trusted: leads to CN=Identity Test Root") for line in lines
    )
    assert "verdict:   REFUSED (Common Criteria off):" in lines
    assert not any(line.startswith(("allowed", "Common Criteria")) for line in lines)
    assert "accepted" not in result.stdout


def test_a_chain_the_inventory_does_not_trust_is_refused(cli: Cli, servers: dict[str, int]) -> None:
    code, out = _probe(cli, servers["issued"])  # nothing imported: no anchor
    assert code == 1
    assert out["hostname"]["matched"] is True  # type: ignore[index]
    assert out["chain_trust"] == {  # type: ignore[comparison-overlap]
        "trusted": False,
        "anchor": None,
        "store": None,
        "detail": "no certificate in the inventory's trust stores issued this chain",
    }


def test_a_self_signed_certificate_matching_nothing_is_refused(
    trusting: Cli, servers: dict[str, int]
) -> None:
    code, out = _probe(trusting, servers["self"])
    assert code == 1
    assert out["hostname"]["matched"] is False  # type: ignore[index]
    assert out["chain_trust"]["trusted"] is False  # type: ignore[index]
    assert "self-signed" in out["chain_trust"]["detail"]  # type: ignore[index]
    for mode in ("common_criteria_on", "common_criteria_off"):
        reasons = out["refusals"][mode]  # type: ignore[index]
        assert reasons[0].startswith("the name does not match")
        assert reasons[1].startswith("the chain is not trusted")
    text = trusting("probe", f"127.0.0.1:{servers['self']}")
    assert text.code == 1
    assert "hostname:  DOES NOT MATCH" in text.stdout and "chain:     NOT TRUSTED" in text.stdout
    assert "allowed with a warning" not in text.stdout.split("verdict:")[1]
    # Stored in a trust store (pinned), it is trusted, and still names another host.
    pem = trusting.data_dir.parent / "self.pem"
    pem.write_bytes(SELF_SIGNED.public_bytes(serialization.Encoding.PEM))
    assert trusting("import", "--store", "tomcat-trust", str(pem)).code == 0
    code, out = _probe(trusting, servers["self"], "--servername", "selfsigned.id.test")
    assert code == 0, out
    assert out["chain_trust"]["detail"] == (  # type: ignore[index]
        "the server certificate itself is in store tomcat-trust"
    )


def test_a_plain_http_port_is_named_as_such(cli: Cli, servers: dict[str, int]) -> None:
    result = cli("probe", f"127.0.0.1:{servers['http']}")
    assert result.code == 1
    assert "this port speaks plain HTTP, not TLS" in result.stderr


def test_endpoints_probe_exits_1_when_an_endpoint_is_unreachable(
    trusting: Cli, servers: dict[str, int]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        dead = int(held.getsockname()[1])
    assert trusting("endpoints", "add", f"127.0.0.1:{servers['issued']}").code == 0
    assert trusting("endpoints", "probe").code == 0
    assert trusting("endpoints", "add", f"127.0.0.1:{dead}").code == 0
    result = trusting("endpoints", "probe", "--json")
    assert result.code == 1
    by_endpoint = {r["endpoint"]: r for r in json.loads(result.stdout)}
    assert by_endpoint[f"127.0.0.1:{servers['issued']}"]["ok"] is True
    assert by_endpoint[f"127.0.0.1:{dead}"]["ok"] is False
    assert "cannot connect" in by_endpoint[f"127.0.0.1:{dead}"]["error"]
    one = trusting("endpoints", "probe", f"127.0.0.1:{dead}")
    assert one.code == 1 and "unreachable" in one.stdout
    assert trusting("endpoints", "add", f"127.0.0.1:{servers['http']}").code == 0
    web = trusting("endpoints", "probe", f"127.0.0.1:{servers['http']}")
    assert web.code == 1 and "plain HTTP" in web.stdout


def test_name_and_chain_rules_directly() -> None:
    assert match_hostname(LEAF.cert, "x.wild.test").matched_by == "DNS:*.wild.test"
    assert not match_hostname(LEAF.cert, "x.y.wild.test").matched
    assert not match_hostname(ROOT.issued.cert, "Identity Test Root").matched  # no SAN: no CN
    assert "subject CN" in match_hostname(ROOT.issued.cert, "Identity Test Root").detail
    anchors = [Anchor(ROOT.issued.cert, "tomcat-trust")]
    assert judge_chain([LEAF.cert], anchors, now=T0).trusted
    expired = judge_chain([LEAF.cert], anchors, now=T0 + 200 * DAY)
    assert not expired.trusted and "no valid path" in expired.detail
