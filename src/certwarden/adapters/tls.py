"""TLS client connections and the certificates a server presents.

    peer = peer_from_ssl_socket(sock)                     # after a stdlib ssl handshake
    peer = peer_from_ssl_object(obj, host, port)          # asyncio: writer.get_extra_info("ssl_object")
    conn = open_tls("logs.example.net", 6514)             # pyOpenSSL, asks for a stapled response
    conn.peer.stapled_response                            # the DER OCSPResponse, or None
    conn.sendall(b"..."); conn.close()

Two libraries, for two jobs:

* Python's :mod:`ssl` is what most clients use (asyncio, aiosmtplib, http
  libraries). After its handshake we read the chain the server sent
  (``get_unverified_chain``: public from Python 3.13, the same method on the
  private ``_sslobj`` before) — but it can neither ask for nor return a
  stapled OCSP response (RFC 6066 section 8), so those peers are judged from
  the cache or a live query.
* pyOpenSSL (already a dependency) exposes ``request_ocsp`` and
  ``set_ocsp_client_callback``: :func:`open_tls` uses it to ask for stapling
  and keep the stapled bytes. It is the Python Cryptographic Authority's
  binding, maintained alongside ``cryptography``; its handshake costs the
  same as the stdlib's (``bench/tls_check.py`` measures both).

This module never judges a peer: :func:`open_tls` completes the handshake
whatever the server presents (``VERIFY_NONE``) and the caller
(``services/tls/guard.py``) validates the chain, the name and the revocation status
before it sends one byte. Every failure becomes a
:class:`~certwarden.errors.TlsError`; nothing from ``ssl``, ``socket`` or
pyOpenSSL leaks past this module.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar, cast

from cryptography import x509
from OpenSSL import SSL

from certwarden.core.tls import PeerChain, Stapling, StartTls, format_where
from certwarden.errors import TlsError

__all__ = [
    "TlsConnection",
    "chain_from_ssl_object",
    "open_tls",
    "peer_from_ders",
    "peer_from_ssl_object",
    "peer_from_ssl_socket",
]

T = TypeVar("T")
_DER = 2  # _ssl.ENCODING_DER
# RFC 4511 4.14.1: ExtendedRequest { requestName 1.3.6.1.4.1.1466.20037 }, messageID 1.
_LDAP_STARTTLS = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"
_MAX_LINE = 8192


# ------------------------------------------------------------ stdlib ssl peers


def chain_from_ssl_object(obj: ssl.SSLObject | ssl.SSLSocket) -> list[bytes]:
    """The certificates the server sent (DER, leaf first) on a stdlib TLS connection."""
    getter = getattr(obj, "get_unverified_chain", None)  # Python 3.13+
    if getter is None:
        inner = getattr(obj, "_sslobj", None)  # 3.10-3.12: the same method, not yet public
        getter = getattr(inner, "get_unverified_chain", None)
    chain: list[bytes] = []
    if getter is not None:
        for item in getter() or ():
            chain.append(item if isinstance(item, bytes) else item.public_bytes(_DER))
    if not chain:
        leaf = obj.getpeercert(binary_form=True)
        if leaf:
            chain.append(bytes(leaf))
    return chain


def peer_from_ders(
    host: str,
    port: int,
    ders: Sequence[bytes],
    *,
    stapling: Stapling = Stapling.NOT_REQUESTED,
    stapled: bytes | None = None,
    servername: str | None = None,
    protocol: str | None = None,
) -> PeerChain:
    """A :class:`PeerChain` from DER certificates (leaf first)."""
    where = format_where(host, port)
    if not ders:
        raise TlsError(where, "the server presented no certificate")
    try:
        certs = tuple(x509.load_der_x509_certificate(d) for d in ders)
    except ValueError as exc:
        raise TlsError(where, f"the server sent a certificate that cannot be read: {exc}") from exc
    return PeerChain(host, port, certs, stapling, stapled, servername, protocol)


def peer_from_ssl_object(obj: ssl.SSLObject | ssl.SSLSocket, host: str, port: int) -> PeerChain:
    """The peer of a stdlib TLS connection (asyncio streams: ``get_extra_info("ssl_object")``)."""
    return peer_from_ders(
        host,
        port,
        chain_from_ssl_object(obj),
        servername=obj.server_hostname,
        protocol=obj.version(),
    )


def peer_from_ssl_socket(
    sock: ssl.SSLSocket, *, host: str | None = None, port: int | None = None
) -> PeerChain:
    """The peer of a connected :class:`ssl.SSLSocket` (``host``/``port`` default to the peer address)."""
    if host is None or port is None:
        address = sock.getpeername()
        host = host or str(address[0])
        port = port or int(address[1])
    return peer_from_ssl_object(sock, host, port)


# ------------------------------------------------------ pyOpenSSL connections


class TlsConnection:
    """A client TLS connection made by :func:`open_tls` (blocking calls, with a deadline each).

    Attributes:
        peer: what the server presented, the stapled response included.
        cipher: the negotiated cipher suite.
    """

    def __init__(
        self, sock: socket.socket, conn: SSL.Connection, peer: PeerChain, timeout: float
    ) -> None:
        self._sock = sock
        self._conn = conn
        self.peer = peer
        self.cipher = conn.get_cipher_name() or ""
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False

    @property
    def where(self) -> str:
        return self.peer.where

    @property
    def closed(self) -> bool:
        return self._closed

    def sendall(self, data: bytes) -> None:
        """Send every byte or raise :class:`TlsError` (and close)."""
        view = memoryview(data)
        with self._lock:
            if self._closed:
                raise TlsError(self.where, "the connection is closed")
            deadline = time.monotonic() + self._timeout
            try:
                while view:
                    sent = _retry(self._sock, partial(self._conn.send, view), deadline)
                    view = view[sent:]
            except (SSL.Error, OSError, TimeoutError) as exc:
                self._close_locked()
                raise TlsError(self.where, f"sending failed: {_describe(exc)}") from exc

    def recv(self, size: int = 65536) -> bytes:
        """Up to ``size`` bytes; ``b""`` when the server closed the connection."""
        with self._lock:
            if self._closed:
                return b""
            deadline = time.monotonic() + self._timeout
            try:
                return _retry(self._sock, lambda: self._conn.recv(size), deadline)
            except SSL.ZeroReturnError:
                self._close_locked()
                return b""
            except (SSL.Error, OSError, TimeoutError) as exc:
                self._close_locked()
                raise TlsError(self.where, f"receiving failed: {_describe(exc)}") from exc

    def peer_closed(self) -> bool:
        """True once the server has closed (or broken) the connection; never blocks.

        Anything the server sent is read and dropped (a syslog receiver says
        nothing; TLS 1.3 session tickets are handled by OpenSSL).
        """
        with self._lock:
            if self._closed:
                return True
            try:
                for _ in range(64):  # a peer that talks without end is still alive
                    readable, _, _ = select.select([self._sock], [], [], 0)
                    if not readable and not self._conn.pending():
                        return False
                    if not self._conn.recv(65536):
                        self._close_locked()
                        return True
                return False
            except SSL.WantReadError:
                return False
            except (SSL.Error, OSError):
                self._close_locked()
                return True

    def close(self) -> None:
        """Send close_notify (best effort) and close the socket; idempotent."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(SSL.Error, OSError):
            self._conn.shutdown()
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> TlsConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_tls(
    host: str,
    port: int,
    *,
    servername: str | None = None,
    starttls: StartTls | None = None,
    timeout: float = 10.0,
    request_ocsp: bool = True,
) -> TlsConnection:
    """Connect, upgrade with ``starttls`` when given, and complete a TLS handshake.

    Asks for a stapled OCSP response unless ``request_ocsp`` is False. The
    server's certificates are NOT verified here (see the module docstring).

    Raises:
        TlsError: cannot connect, the plain-text upgrade failed, or the handshake failed.
    """
    where = format_where(host, port)
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise TlsError(where, f"cannot resolve {host!r}: {exc.strerror or exc}") from exc
    except TimeoutError as exc:
        raise TlsError(where, f"no connection within {timeout:g}s") from exc
    except OSError as exc:
        raise TlsError(where, f"cannot connect: {exc.strerror or exc}") from exc
    try:
        if starttls is not None:
            _upgrade(sock, starttls, where)
        stapled: list[bytes] = []
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_verify(SSL.VERIFY_NONE)
        if request_ocsp:

            def keep(_conn: SSL.Connection, data: bytes, _arg: object) -> bool:
                stapled.append(bytes(data))
                return True  # judged later, with the rest of the chain

            context.set_ocsp_client_callback(keep)
        conn = SSL.Connection(context, sock)
        name = servername or host
        if _is_dns_name(name):
            conn.set_tlsext_host_name(name.encode("idna"))
        if request_ocsp:
            conn.request_ocsp()
        conn.set_connect_state()
        sock.setblocking(False)
        _retry(sock, conn.do_handshake, deadline)
        # (The stubs predate ``as_cryptography``; pyOpenSSL 24.3+ has it.)
        loose = cast("Any", conn)
        chain: list[x509.Certificate] = list(loose.get_peer_cert_chain(as_cryptography=True) or [])
        if not chain:
            leaf = loose.get_peer_certificate(as_cryptography=True)
            chain = [leaf] if leaf is not None else []
        if not chain:
            raise TlsError(where, "the server presented no certificate")
        data = stapled[0] if stapled else b""
        if not request_ocsp:
            stapling = Stapling.NOT_REQUESTED
        else:
            stapling = Stapling.SENT if data else Stapling.NOT_SENT
        peer = PeerChain(
            host,
            port,
            tuple(chain),
            stapling,
            data or None,
            servername or host,
            conn.get_protocol_version_name(),
        )
    except TlsError:
        sock.close()
        raise
    except TimeoutError as exc:
        sock.close()
        raise TlsError(where, f"the TLS handshake did not finish within {timeout:g}s") from exc
    except (SSL.Error, OSError) as exc:
        sock.close()
        if starttls is None and _speaks_http(host, port, min(timeout, 3.0)):
            raise TlsError(where, "this port speaks plain HTTP, not TLS") from exc
        raise TlsError(where, f"the TLS handshake failed: {_describe(exc)}") from exc
    return TlsConnection(sock, conn, peer, timeout)


def _speaks_http(host: str, port: int, timeout: float) -> bool:
    """After a failed handshake: does a plain HTTP request get an HTTP answer there?"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as plain:
            plain.sendall(
                b"HEAD / HTTP/1.0\r\nHost: " + host.encode("ascii", "replace") + b"\r\n\r\n"
            )
            return plain.recv(16).startswith(b"HTTP/")
    except (OSError, UnicodeError):
        return False


def _is_dns_name(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return bool(name)
    return False


def _retry(sock: socket.socket, op: Callable[[], T], deadline: float) -> T:
    """Run a pyOpenSSL call on a non-blocking socket until it completes or ``deadline``."""
    while True:
        try:
            return op()
        except SSL.WantReadError:
            _wait(sock, read=True, deadline=deadline)
        except SSL.WantWriteError:
            _wait(sock, read=False, deadline=deadline)


def _wait(sock: socket.socket, *, read: bool, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    readable, writable, _ = select.select(
        [sock] if read else [], [] if read else [sock], [], remaining
    )
    if not readable and not writable:
        raise TimeoutError


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SSL.ZeroReturnError):
        return "the server closed the connection"
    if isinstance(exc, SSL.SysCallError):
        code, text = (*exc.args, None, None)[:2]
        if code == -1:
            return "the server closed the connection unexpectedly"
        return str(text or exc)
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        reasons = [str(item[-1]) for item in exc.args[0] if isinstance(item, tuple)]
        return "; ".join(reasons) or "TLS error"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


# ------------------------------------------------------------------ STARTTLS


class _Lines:
    """Reads CRLF lines from a plain socket (the upgrade dialogue only)."""

    def __init__(self, sock: socket.socket, where: str) -> None:
        self._sock = sock
        self._where = where
        self._buffer = b""

    def line(self) -> str:
        while b"\n" not in self._buffer:
            if len(self._buffer) > _MAX_LINE:
                raise TlsError(self._where, "the server sent an over-long line before TLS")
            chunk = self._sock.recv(4096)
            if not chunk:
                raise TlsError(self._where, "the server closed the connection before TLS")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        return raw.rstrip(b"\r").decode("utf-8", "replace")

    def smtp_reply(self) -> tuple[int, list[str]]:
        lines: list[str] = []
        while True:
            text = self.line()
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                break
        try:
            return int(lines[-1][:3]), lines
        except ValueError:
            raise TlsError(
                self._where, f"not an SMTP server (it said {lines[-1][:80]!r})"
            ) from None


def _upgrade(sock: socket.socket, kind: StartTls, where: str) -> None:
    """The plain-text dialogue that precedes the handshake (RFC 3207, 9051, 2595, 4511)."""
    lines = _Lines(sock, where)
    try:
        if kind is StartTls.SMTP:
            code, said = lines.smtp_reply()
            if code != 220:
                raise TlsError(where, f"the SMTP greeting was {said[-1][:80]!r}")
            local = sock.getsockname()[0]
            literal = f"[IPv6:{local}]" if ":" in local else f"[{local}]"
            sock.sendall(f"EHLO {literal}\r\n".encode("ascii"))
            code, said = lines.smtp_reply()
            if code != 250:
                raise TlsError(where, f"EHLO was refused: {said[-1][:80]!r}")
            if not any(line[4:].strip().upper().startswith("STARTTLS") for line in said):
                raise TlsError(where, "the SMTP server does not offer STARTTLS")
            sock.sendall(b"STARTTLS\r\n")
            code, said = lines.smtp_reply()
            if code != 220:
                raise TlsError(where, f"STARTTLS was refused: {said[-1][:80]!r}")
        elif kind is StartTls.IMAP:
            greeting = lines.line()
            if not greeting.upper().startswith(("* OK", "* PREAUTH")):
                raise TlsError(where, f"not an IMAP greeting: {greeting[:80]!r}")
            sock.sendall(b"cw1 STARTTLS\r\n")
            while True:
                answer = lines.line()
                if answer.startswith("cw1 "):
                    break
            if not answer.upper().startswith("CW1 OK"):
                raise TlsError(where, f"STARTTLS was refused: {answer[:80]!r}")
        elif kind is StartTls.POP3:
            greeting = lines.line()
            if not greeting.startswith("+OK"):
                raise TlsError(where, f"not a POP3 greeting: {greeting[:80]!r}")
            sock.sendall(b"STLS\r\n")
            answer = lines.line()
            if not answer.startswith("+OK"):
                raise TlsError(where, f"STLS was refused: {answer[:80]!r}")
        else:
            sock.sendall(_LDAP_STARTTLS)
            code = _ldap_result(_read_ber(sock, where), where)
            if code != 0:
                raise TlsError(where, f"the LDAP server refused StartTLS (resultCode {code})")
    except TimeoutError as exc:
        raise TlsError(where, f"no answer to the {kind.value} STARTTLS dialogue") from exc
    except OSError as exc:
        raise TlsError(where, f"the {kind.value} STARTTLS dialogue failed: {exc}") from exc


def _read_exact(sock: socket.socket, size: int, where: str) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise TlsError(where, "the LDAP server closed the connection before TLS")
        data += chunk
    return data


def _read_ber(sock: socket.socket, where: str) -> bytes:
    """One BER element (the LDAPMessage) from the socket."""
    head = _read_exact(sock, 2, where)
    length = head[1]
    extra = b""
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 3:
            raise TlsError(where, "the LDAP answer has an unsupported length")
        extra = _read_exact(sock, count, where)
        length = int.from_bytes(extra, "big")
    if length > 65536:
        raise TlsError(where, "the LDAP answer is too long")
    return head + extra + _read_exact(sock, length, where)


def _ldap_result(message: bytes, where: str) -> int:
    """resultCode of the ExtendedResponse ([APPLICATION 24]) in ``message``."""

    def element(data: bytes, at: int) -> tuple[int, int, int]:
        tag, length = data[at], data[at + 1]
        start = at + 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[start : start + count], "big")
            start += count
        return tag, start, start + length

    try:
        tag, start, _ = element(message, 0)
        if tag != 0x30:
            raise ValueError
        _tag, _s, after_id = element(message, start)  # messageID
        tag, start, _ = element(message, after_id)
        if tag != 0x78:  # [APPLICATION 24] ExtendedResponse
            raise ValueError
        tag, start, end = element(message, start)  # resultCode ENUMERATED
        if tag != 0x0A:
            raise ValueError
        return int.from_bytes(message[start:end], "big")
    except (ValueError, IndexError):
        raise TlsError(where, "the answer to StartTLS is not an LDAP ExtendedResponse") from None
