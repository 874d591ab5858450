"""Real servers that publish CRLs, for the tests: HTTP on loopback and slapd.

    server = CrlHttpServer()                      # http.server in a thread, 127.0.0.1
    server.publish("/ca.crl", der)                # 200 with ETag / Last-Modified, 304 when unchanged
    server.route("/slow.crl", Hang())             # never answers (until the test ends)
    url = server.url("/ca.crl"); server.hits["/ca.crl"]

    with Slapd.start(tmp_path) as ldap:           # real slapd, throwaway config, free port
        url = ldap.publish("cn=Issuing CA", der)  # an entry with certificateRevocationList;binary

CRLs are made with cryptography's CertificateRevocationListBuilder
(:func:`make_crl`).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from certwarden.demo.devpki import DevCA

__all__ = ["CrlHttpServer", "Hang", "Raw", "Slapd", "make_crl"]


def make_crl(
    ca: DevCA,
    *,
    this_update: datetime,
    next_update: datetime | None,
    revoked: Sequence[tuple[int, datetime, x509.ReasonFlags | None]] = (),
    number: int | None = 1,
    signer: DevCA | None = None,
) -> bytes:
    """A DER CRL issued under ``ca``'s name (signed by ``signer``'s key, default ``ca``'s)."""
    key = (signer or ca).key
    builder = x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
    builder = builder.last_update(this_update)
    if next_update is not None:
        builder = builder.next_update(next_update)
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    for serial, when, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    algorithm = None if key.__class__.__name__.startswith("Ed") else hashes.SHA256()
    crl = builder.sign(key, algorithm)  # type: ignore[arg-type]
    return crl.public_bytes(Encoding.DER)


# ---------------------------------------------------------------------- HTTP


@dataclass
class Raw:
    """A hand-made answer: status, headers, body; ``declared`` overstates Content-Length."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    declared: int | None = None


@dataclass
class Hang:
    """Accept the request and never answer (until the server stops)."""


Route = bytes | Raw | Hang | Callable[[BaseHTTPRequestHandler], None]


class CrlHttpServer:
    """A real HTTP server on 127.0.0.1 serving CRLs (see the module docstring)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()  # requests that carried a validator
        self._stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                owner._serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def publish(self, path: str, der: bytes) -> str:
        self.routes[path] = der
        return self.url(path)

    def route(self, path: str, answer: Route) -> str:
        self.routes[path] = answer
        return self.url(path)

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        self.hits[path] += 1
        answer = self.routes.get(path)
        if h.headers.get("If-None-Match") or h.headers.get("If-Modified-Since"):
            self.conditional[path] += 1
        if answer is None:
            self._send(h, Raw(404, b"not found", (("Content-Type", "text/plain"),)))
        elif isinstance(answer, bytes):
            etag = '"' + hashlib.sha256(answer).hexdigest()[:16] + '"'
            if h.headers.get("If-None-Match") == etag:
                self._send(h, Raw(304, b"", (("ETag", etag),)))
                return
            modified = format_datetime(datetime(2026, 1, 1), usegmt=False)
            self._send(
                h,
                Raw(
                    200,
                    answer,
                    (
                        ("Content-Type", "application/pkix-crl"),
                        ("ETag", etag),
                        ("Last-Modified", modified),
                    ),
                ),
            )
        elif isinstance(answer, Raw):
            self._send(h, answer)
        elif isinstance(answer, Hang):
            self._stop.wait(60)
        else:
            answer(h)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, raw: Raw) -> None:
        h.send_response(raw.status)
        for name, value in raw.headers:
            h.send_header(name, value)
        h.send_header("Content-Length", str(raw.declared or len(raw.body)))
        if raw.declared is not None:
            h.send_header("Connection", "close")
        h.end_headers()
        if raw.body and raw.status != 304:
            try:
                h.wfile.write(raw.body)
                h.wfile.flush()
            except OSError:
                return
        if raw.declared is not None:
            h.close_connection = True


# ---------------------------------------------------------------------- LDAP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SLAPD = "/usr/sbin/slapd"
_SCHEMA = Path("/etc/ldap/schema/core.schema")
_MODULES = Path("/usr/lib/ldap")
SUFFIX = "o=certwarden-test"


class Slapd:
    """A real OpenLDAP server on a free loopback port with a throwaway config dir."""

    def __init__(self, directory: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.directory = directory
        self.port = port
        self.process = process

    @classmethod
    def unavailable(cls) -> str | None:
        """Why slapd cannot run here (None: it can)."""
        if not Path(_SLAPD).exists() or shutil.which("ldapadd") is None:
            return "slapd and ldap-utils (Debian packages) are not installed"
        if not _SCHEMA.exists() or not any(_MODULES.glob("back_mdb*")):
            return "slapd's core schema or back_mdb module is missing"
        return None

    @classmethod
    @contextmanager
    def start(cls, directory: Path) -> Iterator[Slapd]:
        """Start slapd; raise RuntimeError with its log when it does not come up."""
        (directory / "db").mkdir(parents=True)
        conf = directory / "slapd.conf"
        conf.write_text(
            f"include {_SCHEMA}\n"
            f"modulepath {_MODULES}\n"
            "moduleload back_mdb\n"
            f"pidfile {directory / 'slapd.pid'}\n"
            "database mdb\n"
            "maxsize 104857600\n"
            f'suffix "{SUFFIX}"\n'
            f'rootdn "cn=admin,{SUFFIX}"\n'
            "rootpw secret\n"
            f"directory {directory / 'db'}\n"
            "access to * by * read\n"
        )
        port = _free_port()
        log = (directory / "slapd.log").open("wb")
        process = subprocess.Popen(
            [_SLAPD, "-d", "0", "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"slapd exited: {(directory / 'slapd.log').read_text()[-500:]}"
                    )
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("slapd did not listen within 10 s") from None
                    time.sleep(0.05)
            server = cls(directory, port, process)
            server._ldapadd(f"dn: {SUFFIX}\nobjectClass: organization\no: certwarden-test\n")
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()

    def _ldapadd(self, ldif: str, *, modify: bool = False) -> None:
        command = "ldapmodify" if modify else "ldapadd"
        done = subprocess.run(
            [
                command,
                "-x",
                "-H",
                f"ldap://127.0.0.1:{self.port}",
                "-D",
                f"cn=admin,{SUFFIX}",
                "-w",
                "secret",
            ],
            input=ldif.encode(),
            capture_output=True,
            timeout=20,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command} failed: {done.stderr.decode(errors='replace')}")

    def publish(self, cn: str, der: bytes | None) -> str:
        """An entry ``cn=...`` holding ``der`` as certificateRevocationList;binary; its URL."""
        dn = f"cn={cn},{SUFFIX}"
        ldif = f"dn: {dn}\nobjectClass: cRLDistributionPoint\ncn: {cn}\n"
        if der is not None:
            ldif += f"certificateRevocationList;binary:: {base64.b64encode(der).decode()}\n"
        self._ldapadd(ldif)
        return self.url(dn)

    def replace(self, cn: str, der: bytes) -> None:
        dn = f"cn={cn},{SUFFIX}"
        self._ldapadd(
            f"dn: {dn}\nchangetype: modify\nreplace: certificateRevocationList;binary\n"
            f"certificateRevocationList;binary:: {base64.b64encode(der).decode()}\n",
            modify=True,
        )

    def url(self, dn: str) -> str:
        return f"ldap://127.0.0.1:{self.port}/{dn}?certificateRevocationList;binary?base"


def later(when: datetime, **kw: float) -> datetime:
    return when + timedelta(**kw)
