"""What administrators see of the CRLs: every distribution point known, its
freshness and the certificates that name it; and one CRL fetched now to show.

    rows = list_crls(db, now)                 # certwarden crl list, /security/crls, metrics
    crl = run_sync(lambda: fetch_to_show(url, settings))   # certwarden crl show URL (a Crl)

It must not judge CRLs or write anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from certwarden.adapters.crl_http import (
    AiohttpCrlFetcher,
    CrlFetcher,
    CrlFetchError,
    CrlFetchOptions,
)
from certwarden.adapters.crl_ldap import LdapCrlFetcher
from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow
from certwarden.core.revocation_settings import RevocationSettings
from certwarden.errors import InputError
from certwarden.services.revocation import crl_store
from certwarden.services.revocation.crl_core import Crl, CrlLoadError, load_crl
from certwarden.services.revocation.crl_store import CrlRecord

__all__ = ["CrlView", "fetch_to_show", "list_crls"]


@dataclass(frozen=True)
class CrlView:
    """One distribution point: what is held, how fresh, and how many certificates name it."""

    record: CrlRecord
    certificates: int
    freshness: str

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {**self.record.to_json(now), "certificates": self.certificates}


def list_crls(db: Database, now: datetime) -> list[CrlView]:
    """Every CRL URL fetched so far, and every one a stored certificate names."""
    with db.session() as s:
        records = {r.url: r for r in crl_store.list_records(s)}
        covered: Counter[str] = Counter()
        for (uris,) in s.execute(select(CertificateRow.crl_uris)):
            for uri in set(uris or ()):
                covered[str(uri)] += 1
    for url in covered:
        records.setdefault(
            url,
            CrlRecord(url, None, None, None, None, None, None, None, None, None, None, None, None),
        )
    return [
        CrlView(records[url], covered.get(url, 0), records[url].fresh_at(now))
        for url in sorted(records)
    ]


async def fetch_to_show(url: str, settings: RevocationSettings) -> Crl:
    """The CRL at ``url`` now, within the size cap (not judged: nothing says whose it is).

    Raises:
        InputError: not an http(s)/ldap URL, the fetch failed, or the bytes are no CRL.
    """
    options = CrlFetchOptions(
        max_bytes=settings.crl_max_bytes,
        connect_timeout=min(settings.connect_timeout, settings.crl_timeout),
        total_timeout=settings.crl_timeout,
    )
    lowered = url.lower()
    fetcher: CrlFetcher
    if lowered.startswith(("http://", "https://")):
        fetcher = AiohttpCrlFetcher(options)
    elif lowered.startswith(("ldap://", "ldaps://")):
        fetcher = LdapCrlFetcher(options)
    else:
        raise InputError(f"{url!r} is not an http(s):// or ldap:// URL")
    try:
        fetched = await fetcher.fetch(url)
    except CrlFetchError as exc:
        raise InputError(f"{exc.code.value}: {exc.detail}") from exc
    finally:
        await fetcher.aclose()
    try:
        return load_crl(fetched.body or b"", max_bytes=settings.crl_max_bytes, source=url)
    except CrlLoadError as exc:
        raise InputError(f"{url}: {exc.reason.value}: {exc.detail}") from exc
