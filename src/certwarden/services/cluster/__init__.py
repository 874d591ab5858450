"""Several instances on one database: nodes, job leases with fencing (:mod:`.service`)."""

from certwarden.services.cluster.service import (
    DEFAULT_LEASE,
    JOBS,
    ClusterService,
    ClusterStatus,
    Lease,
    LeaseInfo,
    NodeInfo,
)

__all__ = [
    "DEFAULT_LEASE",
    "JOBS",
    "ClusterService",
    "ClusterStatus",
    "Lease",
    "LeaseInfo",
    "NodeInfo",
]
