"""OverviewService: the read model behind the dashboard, the lists, the detail page and metrics.

One object over the read-model modules (:mod:`.certificates`,
:mod:`.dashboard`, :mod:`.history`); it holds the list-totals cache and no
logic of its own. Nothing here writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.services.inventory import CertificateRecord
from certwarden.services.readmodel import certificates, dashboard, history
from certwarden.services.readmodel.certificates import CertificateQuery, Page
from certwarden.services.readmodel.dashboard import (
    ChannelFigures,
    Counts,
    ServiceStateRecord,
    TimelineBucket,
)
from certwarden.services.readmodel.history import OcspCheckRecord
from certwarden.services.readmodel.totals import Totals
from certwarden.services.shared.alerts import AlertRecord

__all__ = ["OverviewService"]


class OverviewService:
    """Queries behind the dashboard, the certificate list, the detail page and metrics."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._totals = Totals(db)

    # ---------------------------------------------------------- certificates

    def search(self, query: CertificateQuery, *, window: timedelta) -> Page:
        """One page of certificates matching ``query``, with the total count.

        The page's IDs are found on the indexes alone (a deep offset walks index
        entries, not rows); only those rows are then read in full.
        """
        return certificates.search(self._db, self._clock, self._totals, query, window=window)

    def record(self, certificate_id: int) -> CertificateRecord:
        """One certificate by ID in a single query (the API's detail read)."""
        return certificates.record(self._db, certificate_id)

    def chain(self, certificate_id: int, *, depth: int = 10) -> list[CertificateRecord]:
        """The issuers of a certificate as found in the inventory, nearest first."""
        return certificates.chain(self._db, certificate_id, depth=depth)

    def issued(
        self, certificate_id: int, *, limit: int = 20
    ) -> tuple[list[CertificateRecord], int]:
        """Certificates in the inventory issued by this one (a page and the total)."""
        return certificates.issued(self._db, certificate_id, limit=limit)

    # --------------------------------------------------------------- history

    def ocsp_history(
        self, certificate_id: int, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[OcspCheckRecord], int]:
        """Recorded revocation checks of one certificate, newest first, and their total."""
        return history.ocsp_history(self._db, certificate_id, limit=limit, offset=offset)

    def ocsp_response(self, certificate_id: int, check_id: int) -> bytes | None:
        """The raw OCSP response kept as evidence for one check, if any."""
        return history.ocsp_response(self._db, certificate_id, check_id)

    def ocsp_check_counts(self) -> dict[str, int]:
        """How many revocation checks were recorded, per status."""
        return history.ocsp_check_counts(self._db)

    # ------------------------------------------------------------- dashboard

    def counts(self, *, window: timedelta) -> Counts:
        """How many certificates are in each expiry state and each revocation state."""
        return dashboard.counts(self._db, self._clock, window=window)

    def timeline(self, *, weeks: int = 26) -> list[TimelineBucket]:
        """Expiries per week for the coming ``weeks``, after a bucket of expired ones."""
        return dashboard.timeline(self._db, self._clock, weeks=weeks)

    def data_version(self) -> int | None:
        """A counter that changes whenever anything is committed to the database
        (SQLite); None where it cannot be told (PostgreSQL, or failing)."""
        return self._totals.version()

    def metric_rows(self) -> list[tuple[str, str, str, str, str, datetime, datetime, str | None]]:
        """``(store, subject CN, issuer CN, serial, sha256, notBefore, notAfter, status)`` for all."""
        return dashboard.metric_rows(self._db)

    def alerts(
        self, *, limit: int = 100, offset: int = 0, kind: str | None = None
    ) -> tuple[list[AlertRecord], int]:
        """The alert log, newest first, and how many alerts match."""
        return dashboard.alerts(self._db, limit=limit, offset=offset, kind=kind)

    def service_states(self) -> list[ServiceStateRecord]:
        """Every background service's persisted state (the Control Center's table)."""
        return dashboard.service_states(self._db)

    def outbox_counts(self) -> dict[str, int]:
        """Notices in the outbox per state (pending also counts those failing and retrying)."""
        return dashboard.outbox_counts(self._db)

    def outbox_failing(self) -> int:
        """Pending notices that have failed at least once (being retried)."""
        return dashboard.outbox_failing(self._db)

    def channel_figures(self) -> list[ChannelFigures]:
        """Each notification channel's outbox: waiting, retrying, delivered."""
        return dashboard.channel_figures(self._db)
