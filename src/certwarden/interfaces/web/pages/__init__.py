"""The web admin UI: server-rendered pages over the same services as the API.

Forms post back to the server and work without JavaScript. Every
state-changing request must carry the session's CSRF token (checked once, for
the whole router, by :func:`.forms.csrf_protect`). Changes are redirected
(post/redirect/get) with a one-time message; a form with bad fields is shown
again with each error next to its field (:class:`.forms.FormPage`).

One module per area, each with its own router, assembled here:

* :mod:`.dashboard` — the dashboard (its chart is drawn by :mod:`.charts`)
* :mod:`.upload`, :mod:`.certificates`, :mod:`.stores` — the inventory
* :mod:`.monitor`, :mod:`.revocation`, :mod:`.mail`, :mod:`.notifications` — the Security settings; :mod:`.crls`
* :mod:`.operations` — Control Center, alert log, notice outbox, captured mail
* :mod:`.tls` — monitored TLS endpoints, syslog forwarding
* :mod:`.account`, :mod:`.admin` — your account; users, API tokens, audit log
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from certwarden.interfaces.web.pages import (
    account,
    admin,
    certificates,
    crls,
    dashboard,
    mail,
    monitor,
    notifications,
    operations,
    revocation,
    stores,
    tls,
    upload,
)
from certwarden.interfaces.web.pages.forms import csrf_protect

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
# Upload before certificates: /certificates/upload must be matched before
# /certificates/{cert_id} would take "upload" for an ID.
for _module in (
    dashboard,
    upload,
    certificates,
    stores,
    operations,
    account,
    admin,
    monitor,
    revocation,
    crls,
    mail,
    notifications,
    tls,
):
    router.include_router(_module.router)
