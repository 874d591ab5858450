"""Fetching CRLs from LDAP directories (``ldap://`` / ``ldaps://`` distribution points).

Enterprise CAs (Microsoft AD CS above all) publish their CRLs in the
directory and name an LDAP URL (RFC 4516) first in the certificate:

    ldap://dc1.example.net/CN=Example CA,CN=dc1,CN=CDP,CN=Public Key Services,...
        ?certificateRevocationList?base?objectClass=cRLDistributionPoint

The entry is read with an anonymous bind and a base-scope search for the
CRL attribute. RFC 4523 2.2 (and OpenLDAP) transfer ``certificateRevocationList``
only with the ``;binary`` option, so that is what is asked for; the first
value is the DER CRL.

The client is **ldap3** (pure Python: no C extension, no OpenLDAP headers to
build against, on every machine the project runs on; the README says more).
It is synchronous, so a fetch runs in a worker thread, bounded by ldap3's
connect and receive timeouts and by the fetch's total timeout. ldap3
exceptions are translated here into :class:`.crl_http.CrlFetchError` with a
could-not-tell reason; nothing from ldap3 leaks past this module.

LDAP has no conditional fetch: every fetch reads the attribute (the refresh
schedule, not the protocol, keeps the traffic down). The size cap is applied
to the value read (ldap3 cannot stream an attribute).

It must not judge CRLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import warnings
from dataclasses import dataclass

with warnings.catch_warnings():
    # ldap3 2.9.1 (2021) imports pyasn1 names that pyasn1 0.6 deprecates; the
    # names still work. Silenced here, at the one import, and nowhere else.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core import exceptions as ldap_errors

from certwarden.adapters.crl_http import CrlFetchError, CrlFetchOptions, FetchedCrl
from certwarden.core.ocsp.results import Reason

__all__ = ["CRL_ATTRIBUTE", "LdapCrlFetcher", "LdapLocation", "parse_ldap_url"]

CRL_ATTRIBUTE = "certificateRevocationList;binary"


@dataclass(frozen=True)
class LdapLocation:
    """Where an LDAP URL points: server, entry (DN) and attribute."""

    host: str
    port: int
    use_ssl: bool
    dn: str
    attribute: str


def parse_ldap_url(url: str) -> LdapLocation:
    """The parts of an RFC 4516 LDAP URL that a CRL fetch needs.

    Raises:
        CrlFetchError: (``responder_unreachable``) the URL names no server
            (``ldap:///...``: "the default directory" is unknown here) or no entry.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CrlFetchError(
            Reason.RESPONDER_UNREACHABLE, url, f"{url} is not a valid LDAP URL ({exc})"
        ) from exc
    scheme = parts.scheme.lower()
    if scheme not in {"ldap", "ldaps"}:
        raise CrlFetchError(Reason.RESPONDER_UNREACHABLE, url, f"{url} is not an ldap:// URL")
    if not parts.hostname:
        raise CrlFetchError(
            Reason.RESPONDER_UNREACHABLE,
            url,
            f"{url} names no directory server (ldap:/// means the client's default "
            "directory, which certwarden does not have); the certificate's http:// "
            "distribution point, if it has one, is used instead",
        )
    dn = urllib.parse.unquote(parts.path.lstrip("/"))
    if not dn:
        raise CrlFetchError(Reason.RESPONDER_UNREACHABLE, url, f"{url} names no directory entry")
    # RFC 4516: ?attributes?scope?filter?extensions; the query part holds them.
    attrs = urllib.parse.unquote(parts.query.split("?", 1)[0]) if parts.query else ""
    attribute = (attrs.split(",")[0].strip() if attrs else "") or CRL_ATTRIBUTE
    if attribute.lower() in {"certificaterevocationlist", "authorityrevocationlist"}:
        attribute += ";binary"
    return LdapLocation(
        host=parts.hostname,
        port=port or (636 if scheme == "ldaps" else 389),
        use_ssl=scheme == "ldaps",
        dn=dn,
        attribute=attribute,
    )


class LdapCrlFetcher:
    """Reads CRLs from LDAP entries (see the module docstring)."""

    def __init__(self, options: CrlFetchOptions | None = None) -> None:
        self.options = options or CrlFetchOptions()

    async def aclose(self) -> None:
        """Nothing is pooled: each fetch opens and closes its own connection."""

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedCrl:
        where = parse_ldap_url(url)
        opts = self.options
        try:
            async with asyncio.timeout(opts.total_timeout + 1):
                body = await asyncio.to_thread(self._read, url, where)
        except TimeoutError as exc:
            raise CrlFetchError(
                Reason.TIMEOUT,
                url,
                f"the CRL at {url} did not arrive within {opts.total_timeout:g} s",
            ) from exc
        return FetchedCrl(url, body)

    def _read(self, url: str, where: LdapLocation) -> bytes:
        opts = self.options
        server = ldap3.Server(
            where.host,
            port=where.port,
            use_ssl=where.use_ssl,
            connect_timeout=max(1, round(opts.connect_timeout)),
            get_info=ldap3.NONE,
        )
        conn = ldap3.Connection(
            server,
            auto_bind=ldap3.AUTO_BIND_NONE,
            read_only=True,
            receive_timeout=max(1, round(opts.total_timeout)),
            raise_exceptions=False,
        )
        try:
            conn.open()
            if not conn.bind():
                raise CrlFetchError(
                    Reason.RESPONDER_UNREACHABLE,
                    url,
                    f"the directory at {where.host}:{where.port} refused an anonymous bind "
                    f"({conn.result.get('description', '?')})",
                )
            found = conn.search(
                where.dn,
                "(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=[where.attribute],
                size_limit=1,
                time_limit=max(1, round(opts.total_timeout)),
            )
            if not found or not conn.response:
                description = conn.result.get("description", "no such entry")
                raise CrlFetchError(
                    Reason.HTTP_ERROR,
                    url,
                    f"the directory at {where.host}:{where.port} has no entry {where.dn!r} "
                    f"with a CRL ({description})",
                )
            value = _first_value(conn.response, where.attribute)
        except CrlFetchError:
            raise
        except (ldap_errors.LDAPResponseTimeoutError, ldap_errors.LDAPSocketReceiveError) as exc:
            raise CrlFetchError(
                Reason.TIMEOUT,
                url,
                f"the directory at {where.host}:{where.port} did not answer within "
                f"{opts.total_timeout:g} s",
            ) from exc
        except ldap_errors.LDAPSocketOpenError as exc:
            raise CrlFetchError(
                Reason.RESPONDER_UNREACHABLE,
                url,
                f"cannot reach the directory at {where.host}:{where.port}: {_short(exc)}",
            ) from exc
        except (ldap_errors.LDAPException, OSError, ValueError) as exc:
            raise CrlFetchError(
                Reason.MALFORMED_RESPONSE,
                url,
                f"the LDAP exchange with {where.host}:{where.port} failed: {_short(exc)}",
            ) from exc
        finally:
            with contextlib.suppress(ldap_errors.LDAPException, OSError):
                conn.unbind()
        if value is None:
            raise CrlFetchError(
                Reason.MALFORMED_RESPONSE,
                url,
                f"the entry {where.dn!r} has no {where.attribute} value",
            )
        if len(value) > opts.max_bytes:
            raise CrlFetchError(
                Reason.RESPONSE_TOO_LARGE,
                url,
                f"the CRL in {where.dn!r} is {len(value)} bytes; the limit is "
                f"{opts.max_bytes} bytes",
            )
        return value


def _first_value(response: object, attribute: str) -> bytes | None:
    """The first raw value of ``attribute`` (matched without case, ``;binary`` or not)."""
    if not isinstance(response, list):
        return None
    base = attribute.split(";", 1)[0].lower()
    for entry in response:
        if not isinstance(entry, dict) or entry.get("type") != "searchResEntry":
            continue
        raw = entry.get("raw_attributes") or {}
        for name, values in raw.items():
            if str(name).split(";", 1)[0].lower() == base and values:
                first = values[0]
                return bytes(first) if isinstance(first, bytes | bytearray) else None
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= 200 else text[:197] + "..."
