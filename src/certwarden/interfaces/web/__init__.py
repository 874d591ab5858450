"""The web interface: REST API, admin UI and metrics (FastAPI + Jinja2).

``create_app(app)`` builds the ASGI application; nothing is built at import.

* :mod:`.app` — the application: routers, middleware, error handling
* :mod:`.api` — the REST API under ``/api/v1``, one module per resource
* :mod:`.pages` — the server-rendered UI, one module per area
* :mod:`.actions` — the changes the API and the pages share (each with its audit entry)
* :mod:`.login`, :mod:`.security` — signing in and out; sessions, tokens, CSRF, the gate
* :mod:`.context`, :mod:`.rendering` — what routes depend on; templates, navigation, flash
* :mod:`.schemas`, :mod:`.metrics` — the OpenAPI models; Prometheus ``/metrics``
"""

from certwarden.interfaces.web.app import create_app

__all__ = ["create_app"]
