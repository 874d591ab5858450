"""Real TLS servers on loopback for the real-time revocation tests.

* :func:`tls_pki`: a PKI whose leaves carry ``127.0.0.1``/``localhost`` SANs
  and name a real ``openssl ocsp`` responder in their AIA: ``good``,
  ``revoked`` (keyCompromise), ``unknown`` (absent from the responder's
  index), ``expired``, ``no_answer`` (its AIA names a port nobody listens
  on), ``syslog`` and ``mail`` (good; tests revoke them on purpose).
* :class:`SServer`: ``openssl s_server -www`` serving one leaf, optionally
  stapling a fixed response (``-status_file``). Readiness is a real TLS
  handshake (the spin problem concerns ``openssl ocsp`` only).
* :class:`SyslogReceiver`: a small asyncio TLS server in a thread that reads
  RFC 5425 octet-counted frames and notices when the client closes.
* :class:`StartTlsServer`: a threaded IMAP / POP3 / LDAP server that speaks
  just the STARTTLS dialogue, then the TLS handshake.

OpenSSL stamps OCSP responses with the wall clock, so the PKI is built around
the real time (read once, through SystemClock); tests run their app on a
ManualClock starting there. Every process started here is killed on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certwarden.clock import SystemClock
from certwarden.demo.devpki import DevCA, Issued
from tests.ocsp_responders import (
    IndexEntry,
    OpensslResponder,
    ResponderIndex,
    free_port,
    start_openssl_responder,
    write_key,
    write_pem,
)

DAY = timedelta(days=1)
LEAVES = ("good", "revoked", "unknown", "expired", "no_answer", "syslog", "mail", "mail_revoked")


@dataclass
class TlsPki:
    now: datetime
    root: DevCA
    ca: DevCA
    delegated: Issued
    leaves: dict[str, Issued]
    revoked_at: datetime
    responder_port: int
    directory: Path
    index: ResponderIndex = field(default_factory=ResponderIndex)

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def responder_url(self) -> str:
        return f"http://127.0.0.1:{self.responder_port}/"

    def write_index(self, **overrides: tuple[datetime, str] | None) -> None:
        """Rewrite index.txt; ``name=(revoked_at, reason)`` revokes a leaf, ``name=None`` un-revokes it."""
        entries = []
        for entry in self.index.entries:
            name = next((n for n, i in self.leaves.items() if i.cert == entry.cert), None)
            if name in overrides:
                change = overrides[name]
                entry = IndexEntry(entry.cert, *change) if change else IndexEntry(entry.cert)
            entries.append(entry)
        self.index = ResponderIndex(entries)
        path = self.path("index.txt")
        before = path.stat().st_mtime_ns if path.exists() else 0
        self.index.write(path)
        # openssl notices a change by the file's mtime in whole seconds: make it move.
        after = path.stat().st_mtime_ns
        if after // 1_000_000_000 <= before // 1_000_000_000:
            bumped = (before // 1_000_000_000 + 1) * 1_000_000_000
            os.utime(path, ns=(bumped, bumped))


def tls_pki(directory: Path, now: datetime | None = None) -> TlsPki:
    """Build the PKI and write every file the servers need into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = now or SystemClock().now().replace(microsecond=0)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    dead = f"http://127.0.0.1:{free_port()}/"
    root = DevCA.root("TLS Test Root", not_before=now - 400 * DAY, not_after=now + 3650 * DAY)
    ca = root.child_ca(
        "TLS Test Issuing CA", not_before=now - 300 * DAY, not_after=now + 1800 * DAY
    )
    delegated = ca.issue_ocsp_responder(
        "TLS Test OCSP Responder", not_before=now - 10 * DAY, not_after=now + 300 * DAY
    )
    leaves: dict[str, Issued] = {}
    for name in LEAVES:
        start, end = now - 30 * DAY, now + 200 * DAY
        if name == "expired":
            end = now - 2 * DAY
        leaves[name] = ca.issue(
            f"{name.replace('_', '-')}.tls.test",
            not_before=start,
            not_after=end,
            sans=["127.0.0.1", "localhost", f"{name.replace('_', '-')}.tls.test"],
            ocsp_url=dead if name == "no_answer" else url,
        )
    revoked_at = (now - 3 * DAY).replace(microsecond=0)
    index = ResponderIndex(
        [
            IndexEntry(leaves["good"].cert),
            IndexEntry(leaves["revoked"].cert, revoked_at, "keyCompromise"),
            IndexEntry(leaves["expired"].cert),
            IndexEntry(leaves["syslog"].cert),
            IndexEntry(leaves["mail"].cert),
            IndexEntry(leaves["mail_revoked"].cert, revoked_at, "keyCompromise"),
            IndexEntry(delegated.cert),
        ]
    )
    pki = TlsPki(now, root, ca, delegated, leaves, revoked_at, port, directory, index)
    write_pem(pki.path("root.pem"), root.cert)
    write_pem(pki.path("ca.pem"), ca.cert)
    write_pem(pki.path("chain.pem"), ca.cert, root.cert)
    write_pem(pki.path("delegated.pem"), delegated.cert)
    write_key(pki.path("delegated.key"), delegated)
    for name, issued in leaves.items():
        write_pem(pki.path(f"{name}.pem"), issued.cert)
        write_key(pki.path(f"{name}.key"), issued)
    index.write(pki.path("index.txt"))
    return pki


def start_responder(pki: TlsPki) -> OpensslResponder:
    """The real ``openssl ocsp`` responder the leaves name (one process, no -multi,
    so a rewritten index.txt is picked up after one request; see :func:`nudge`)."""
    return start_openssl_responder(
        index=pki.path("index.txt"),
        ca=pki.path("ca.pem"),
        signer=pki.path("delegated.pem"),
        signer_key=pki.path("delegated.key"),
        probe_cert=pki.leaves["good"].cert,
        probe_issuer=pki.ca.cert,
        multi=None,
        ndays=30,
        port=pki.responder_port,
    )


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


def fetch_response(pki: TlsPki, name: str) -> bytes:
    """A real response from the responder about leaf ``name`` (what a server would staple)."""
    conn = http.client.HTTPConnection("127.0.0.1", pki.responder_port, timeout=5)
    try:
        conn.request(
            "POST",
            "/",
            body=ocsp_request(pki.leaves[name].cert, pki.ca.cert),
            headers={"Content-Type": "application/ocsp-request"},
        )
        return conn.getresponse().read()
    finally:
        conn.close()


def nudge(pki: TlsPki) -> None:
    """OpenSSL 3.0's responder reloads index.txt when its mtime changes, but it
    checks just before it blocks in accept(): the first request after a change
    is still answered from the old index. One real request moves it on."""
    fetch_response(pki, "good")


# ------------------------------------------------------------------ s_server


@dataclass
class SServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def _handshakes(port: int) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw) as tls,
        ):
            return tls.version() is not None
    except OSError:
        return False


def start_s_server(
    pki: TlsPki, leaf: str, *, staple: bytes | None = None, port: int | None = None
) -> SServer:
    """``openssl s_server -www`` serving ``leaf`` with the issuing CA as chain
    (on ``port`` when given: a server "renewed" in place)."""
    tag = f"{leaf}-{'stapled' if staple else 'plain'}-{os.urandom(3).hex()}"
    log = pki.path(f"s_server-{tag}.log")
    last = ""
    fixed = port
    for _ in range(3):
        port = fixed or free_port()
        args = [
            "openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet",
            "-cert", str(pki.path(f"{leaf}.pem")), "-key", str(pki.path(f"{leaf}.key")),
            "-cert_chain", str(pki.path("ca.pem")),
        ]  # fmt: skip
        if staple is not None:
            status = pki.path(f"staple-{tag}.der")
            status.write_bytes(staple)
            args += ["-status_file", str(status)]
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                process_group=0,
            )  # fmt: skip
        server = SServer(process, port, log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last = log.read_text(errors="replace")[-1500:]
                break
            if _handshakes(port):
                return server
            time.sleep(0.05)
        server.stop()
    raise RuntimeError(f"openssl s_server did not start: {last or 'no handshake in 10 s'}")


def server_context(pki: TlsPki, leaf: str) -> ssl.SSLContext:
    """A stdlib server context presenting ``leaf`` and the issuing CA."""
    bundle = pki.path(f"{leaf}-bundle.pem")
    bundle.write_bytes(
        pki.path(f"{leaf}.pem").read_bytes()
        + pki.path("ca.pem").read_bytes()
        + pki.path(f"{leaf}.key").read_bytes()
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(bundle)
    return context


# ------------------------------------------------------------- syslog receiver


class SyslogReceiver:
    """A TLS syslog server (RFC 5425 octet counting) in a thread of its own."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.port = 0
        self.messages: list[bytes] = []
        self.connections = 0
        self.closed = 0
        self.bad_frames: list[bytes] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        try:
            while True:
                length = await reader.readuntil(b" ")
                if not length[:-1].isdigit():
                    self.bad_frames.append(length)
                    break
                message = await reader.readexactly(int(length[:-1]))
                with self._lock:
                    self.messages.append(message)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self.closed += 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def start(self) -> SyslogReceiver:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.context)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="syslog-receiver", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return condition()


# ------------------------------------------------------ STARTTLS test servers


class StartTlsServer:
    """Speaks the IMAP, POP3 or LDAP STARTTLS dialogue, then a TLS handshake."""

    def __init__(self, kind: str, context: ssl.SSLContext) -> None:
        self.kind = kind
        self.context = context
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self.handshakes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{kind}-server", daemon=True)

    def start(self) -> StartTlsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError, ssl.SSLError):
                    self._dialogue(conn)
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        self.handshakes += 1
                        with contextlib.suppress(OSError, ssl.SSLError):
                            tls.recv(1)

    def _dialogue(self, conn: socket.socket) -> None:
        if self.kind == "imap":
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] test server ready\r\n")
            tag = _read_line(conn).split(b" ", 1)[0]
            conn.sendall(tag + b" OK Begin TLS negotiation now\r\n")
        elif self.kind == "pop3":
            conn.sendall(b"+OK test POP3 server ready\r\n")
            _read_line(conn)
            conn.sendall(b"+OK Begin TLS negotiation\r\n")
        elif self.kind == "ldap":
            request = conn.recv(4096)
            assert b"1.3.6.1.4.1.1466.20037" in request
            # LDAPMessage { messageID 1, extendedResp { resultCode success(0), "", "" } }
            conn.sendall(bytes.fromhex("300c02010178070a010004000400"))
        else:
            raise ValueError(self.kind)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def running(*servers: SServer | SyslogReceiver | StartTlsServer) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            server.stop()
