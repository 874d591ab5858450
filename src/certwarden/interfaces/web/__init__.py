"""The web interface: REST API, admin UI and metrics (FastAPI + Jinja2).

``create_app(app)`` builds the ASGI application; nothing is built at import.
"""

from certwarden.interfaces.web.app import create_app

__all__ = ["create_app"]
