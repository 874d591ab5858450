"""The REST API, ``/api/v1``: everything the web UI does, behind API tokens.

Every handler calls the same services as the UI and the CLI and answers with
their ``to_json()`` shapes, so field names match ``certwarden ... --json``.
Lists are paginated (``limit``/``offset``, with ``total``). Errors are
``{"detail": ...}``: 401 without a valid token, 403 for a viewer attempting
a change, 404 for what does not exist, 409 for a conflict, 422 for bad input
(with ``errors`` naming each bad settings field).

A session cookie is accepted too (the interactive docs use it), but then a
request that changes anything must carry the session's CSRF token in an
``X-CSRF-Token`` header.

One module per resource, each with its own router; this package puts them
under ``/api/v1`` with the token scheme, the CSRF rule and the 401 answer:

* :mod:`.overview` — health, dashboard, background services
* :mod:`.accounts` — me, users, tokens, audit log
* :mod:`.stores` — trust stores
* :mod:`.certificates` — search, upload, records, export, chain, deletion
* :mod:`.revocation` — OCSP check history, checks on demand, revocation settings
* :mod:`.monitor` — the Certificate Expiry Monitor: settings, status, control
* :mod:`.notices` — alert log, outbox, mail server settings, demo mail
* :mod:`.channels` — notification channels (Apprise) and their outbox
* :mod:`.tls` — monitored TLS endpoints, syslog forwarding settings
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from certwarden.interfaces.web.api import (
    accounts,
    certificates,
    channels,
    monitor,
    notices,
    overview,
    revocation,
    stores,
    tls,
)
from certwarden.interfaces.web.api.common import bearer, csrf_for_cookie_sessions, problems

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(bearer), Depends(csrf_for_cookie_sessions)],
    responses=problems(),
)
for _module in (
    overview,
    accounts,
    stores,
    certificates,
    revocation,
    monitor,
    notices,
    channels,
    tls,
):
    router.include_router(_module.router)
