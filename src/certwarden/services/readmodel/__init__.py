"""The read model: what the dashboard, the certificate lists, the detail page and
the metrics show.

    from certwarden.services.readmodel import OverviewService, CertificateQuery

Modules, one job each:

* :mod:`.states` — the expiry state and the revocation state, side by side, never mixed;
* :mod:`.certificates` — filtered pages with totals, one record, issuer chains;
* :mod:`.totals` — list totals reused until the database changes (SQLite);
* :mod:`.history` — the revocation checks recorded for a certificate, and their evidence;
* :mod:`.dashboard` — counts by state, the expiry timeline, service states, alerts, outbox;
* :mod:`.service` — :class:`OverviewService`, the one handle over all of them.

Nothing here writes: the use cases (inventory, monitor, revocation) do.
"""

from certwarden.services.readmodel.certificates import MAX_LIMIT, SORTS, CertificateQuery, Page
from certwarden.services.readmodel.dashboard import (
    ChannelFigures,
    Counts,
    ServiceStateRecord,
    TimelineBucket,
)
from certwarden.services.readmodel.history import OcspCheckRecord
from certwarden.services.readmodel.service import OverviewService
from certwarden.services.readmodel.states import STATES, ExpiryState, RevocationState

__all__ = [
    "MAX_LIMIT",
    "SORTS",
    "STATES",
    "CertificateQuery",
    "ChannelFigures",
    "Counts",
    "ExpiryState",
    "OcspCheckRecord",
    "OverviewService",
    "Page",
    "RevocationState",
    "ServiceStateRecord",
    "TimelineBucket",
]
