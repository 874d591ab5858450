"""The Certificate Expiry Monitor: runs, schedule and simulation.

    from certwarden.services.monitor import MonitorService, RunReport

Modules, one job each:

* :mod:`.reports` — the values: service status, run and simulation reports, the status view;
* :mod:`.selection` — which certificates are monitored, due, renewed, first to expire;
* :mod:`.schedule` — settings, the persisted state and the next run; start, restart, stop;
* :mod:`.runs` — the scheduled tick, "run now" and the run (one transaction);
* :mod:`.simulation` — what-if over simulated days, on a scratch copy, writing nothing;
* :mod:`.service` — :class:`MonitorService`, the one handle over all of them.

The rules (schedule, what is due, the digest text) are pure and live in
:mod:`certwarden.core.expiry`. A run queues its digest in the outbox; it
never sends mail itself.
"""

from certwarden.services.monitor.reports import (
    SERVICE_NAME,
    SERVICE_TITLE,
    MonitorStatus,
    Notice,
    RunReport,
    ServiceStatus,
    SimulationReport,
)
from certwarden.services.monitor.schedule import MONITOR_SECTION
from certwarden.services.monitor.service import MonitorService

__all__ = [
    "MONITOR_SECTION",
    "SERVICE_NAME",
    "SERVICE_TITLE",
    "MonitorService",
    "MonitorStatus",
    "Notice",
    "RunReport",
    "ServiceStatus",
    "SimulationReport",
]
