"""TLS peers judged by their revocation status, and the clients built on that.

    guard.py        TlsGuard: the check after a handshake (staple, cache, live answer)
    snapshot.py     the settings a check is judged with, read together
    staple.py       a stapled response, judged like any response
    refusal.py      a refused peer: its alert and ConnectionRefusedByPolicy
    refused_peers.py  the peers refused until their status allows, shared by the instances
    connections.py  ConnectionRegistry: long-lived connections, re-checked while open
    probe.py        ProbeService: what an endpoint presents (``certwarden probe``)
    endpoints.py    EndpointService: monitored endpoints as a source of certificates
    syslog.py       SyslogForwarder: alerts to a syslog server over TLS (RFC 5425)

Every module here asks the revocation engine
(:mod:`certwarden.services.revocation`) for statuses; none of them judges an
OCSP response itself (that is :mod:`certwarden.core.ocsp`'s job) or opens a
socket itself (that is :mod:`certwarden.adapters.tls`'s).
"""

from __future__ import annotations

from certwarden.services.tls.connections import (
    ConnectionRegistry,
    LongLivedConnection,
    RecheckReport,
)
from certwarden.services.tls.endpoints import (
    ENDPOINT_STORE,
    EndpointProbe,
    EndpointRecord,
    EndpointService,
)
from certwarden.services.tls.guard import Snapshot, TlsGuard
from certwarden.services.tls.probe import ProbedCertificate, ProbeReport, ProbeService
from certwarden.services.tls.syslog import ForwardReport, SyslogForwarder

__all__ = [
    "ENDPOINT_STORE",
    "ConnectionRegistry",
    "EndpointProbe",
    "EndpointRecord",
    "EndpointService",
    "ForwardReport",
    "LongLivedConnection",
    "ProbeReport",
    "ProbeService",
    "ProbedCertificate",
    "RecheckReport",
    "Snapshot",
    "SyslogForwarder",
    "TlsGuard",
]
