"""Helpers shared by the Certificate Expiry Monitor tests: certificates with
chosen expiry times (from the dev PKI), imported through the real inventory."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from certwarden.composition import App
from certwarden.demo.devpki import DevCA
from tests.conftest import T0


@cache
def monitor_ca() -> DevCA:
    return DevCA.root(
        "Monitor Test Root",
        not_before=T0 - timedelta(days=400),
        not_after=T0 + timedelta(days=3650),
    )


def make_pem(cn: str, expires_at: datetime, not_before: datetime | None = None) -> bytes:
    issued = monitor_ca().issue(
        cn, not_before=not_before or T0 - timedelta(days=300), not_after=expires_at
    )
    return issued.cert_pem()


def add_cert(
    app: App,
    cn: str,
    expires_at: datetime,
    *,
    store: str = "tomcat-trust",
    lsc: bool = False,
    not_before: datetime | None = None,
) -> tuple[int, str]:
    """Import one leaf expiring at ``expires_at`` (valid from ``not_before``,
    300 days before T0 by default); returns (id, sha256)."""
    prepared = app.inventory.prepare_bytes(
        [(f"{cn}.pem", make_pem(cn, expires_at, not_before))], store=store, lsc=lsc
    )
    report = app.inventory.commit(prepared)
    assert len(report.imported) == 1, report
    item = report.imported[0]
    return item.id, item.sha256


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600
