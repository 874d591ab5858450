"""The form pages (one helper, :class:`FormPage`, behind every one): a refused
form comes back with the status of the refusal, each message beside its field
and what was typed still in the fields, and nothing stored; a saved one
redirects back with a one-time message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from certwarden.composition import App
from certwarden.errors import ConflictError, InvalidFieldsError
from certwarden.interfaces.web.pages.forms import Refusal
from tests.web_support import ADMIN_PASSWORD, WebSetup, asgi_client, login, make_setup


@pytest.fixture
def setup(app: App) -> WebSetup:
    return make_setup(app)


def _stored(app: App) -> dict[str, Any]:
    """Every settings section the Security pages change, as stored."""
    return {
        "monitor": app.monitor.settings().to_json(),
        "revocation": app.revocation.settings().to_dict(),
        "params": app.revocation.params().to_dict(),
        "smtp": app.outbox.stored_smtp_settings().to_json(),
        "stores": [s.name for s in app.inventory.list_stores()],
        "users": [u.username for u in app.users.list_users()],
        "tokens": [t.id for t in app.users.list_tokens()],
    }


# (page, form, status, the field with the error, (a field, what was typed in it))
REFUSED = [
    pytest.param(
        "/security/monitor",
        {"start_days": "0", "frequency_number": "2", "frequency_unit": "days", "emails": ""},
        422,
        "start_days",
        ("start_days", "0"),
        id="monitor-start-days",
    ),
    pytest.param(
        "/security/revocation",
        {"enable_ocsp": "true", "responder_source": "configured", "configured_uri": "ftp://x"},
        422,
        "configured_uri",
        ("configured_uri", "ftp://x"),
        id="revocation-uri",
    ),
    pytest.param(
        "/security/enterprise",
        {"certificate_validity_check": "true", "validity_check_frequency_hours": "0"},
        422,
        "validity_check_frequency_hours",
        ("validity_check_frequency_hours", "0"),
        id="enterprise-frequency",
    ),
    pytest.param(
        "/security/mail",
        {"host": "mail.example.org", "port": "abc", "security": "starttls", "password": "pw-1"},
        422,
        "port",
        ("host", "mail.example.org"),
        id="mail-port",
    ),
    pytest.param(
        "/stores",
        {"name": "bad name!", "description": "d"},
        422,
        "name",
        ("name", "bad name!"),
        id="store",
    ),
    pytest.param(
        "/stores",
        {"name": "tomcat", "description": "again"},
        409,
        "name",
        ("description", "again"),
        id="store-exists",
    ),
    pytest.param(
        "/admin/users",
        {"username": "viewer", "password": "long-enough-1", "role": "viewer"},
        409,
        "username",
        ("username", "viewer"),
        id="user-exists",
    ),
    pytest.param(
        "/admin/users",
        {"username": "bob", "password": "short", "role": "viewer"},
        422,
        "password",
        ("username", "bob"),
        id="user-password",
    ),
    pytest.param(
        "/admin/tokens",
        {"name": "grafana", "username": "ghost"},
        422,
        "username",
        ("name", "grafana"),
        id="token-owner",
    ),
]


@pytest.mark.parametrize(("path", "form", "status", "field", "kept"), REFUSED)
async def test_a_refused_form_shows_each_error_beside_its_field_and_stores_nothing(
    setup: WebSetup,
    path: str,
    form: dict[str, str],
    status: int,
    field: str,
    kept: tuple[str, str],
) -> None:
    before = _stored(setup.app)
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        response = await browser.post(path, data={"csrf_token": csrf, **form})
    assert response.status_code == status
    assert f'id="e-{field}" role="alert"' in response.text
    assert f'id="f-{field}"' in response.text and 'aria-invalid="true"' in response.text
    name, typed = kept
    assert re.search(
        f'id="f-{name}" name="{name}" type="[a-z]+" value="{re.escape(typed)}"', response.text
    )
    assert "pw-1" not in response.text  # a typed password is never shown again
    assert _stored(setup.app) == before


# (page, form, the flash after the redirect, what is stored afterwards)
SAVED: list[Any] = [
    pytest.param(
        "/security/monitor",
        {"start_days": "20", "frequency_number": "2", "frequency_unit": "days", "emails": ""},
        "Certificate Monitor settings saved.",
        lambda app: app.monitor.settings().start_days == 20,
        id="monitor",
    ),
    pytest.param(
        "/security/enterprise",
        {"certificate_validity_check": "true", "validity_check_frequency_hours": "12"},
        "Enterprise parameters saved.",
        lambda app: app.revocation.params().to_dict()["validity_check_frequency_hours"] == 12,
        id="enterprise",
    ),
    pytest.param(
        "/security/common-criteria",
        {"common_criteria": "true", "confirm": "yes"},  # confirmed (test_web_ux: unconfirmed)
        "Common Criteria mode is now on.",
        lambda app: app.revocation.security().common_criteria,
        id="common-criteria",
    ),
    pytest.param(
        "/stores",
        {"name": "edge", "description": "edge routers"},
        "Created store edge.",
        lambda app: "edge" in [s.name for s in app.inventory.list_stores()],
        id="store",
    ),
    pytest.param(
        "/admin/users",
        {"username": "bob", "password": "long-enough-1", "role": "admin"},
        "Added admin bob.",
        lambda app: app.users.get("bob").role == "admin",
        id="user",
    ),
]


@pytest.mark.parametrize(("path", "form", "flash", "stored"), SAVED)
async def test_a_saved_form_redirects_back_with_a_message(
    setup: WebSetup,
    path: str,
    form: dict[str, str],
    flash: str,
    stored: Callable[[App], bool],
) -> None:
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        response = await browser.post(path, data={"csrf_token": csrf, **form})
        assert response.status_code == 303 and response.headers["location"] == path
        assert flash in (await browser.get(path)).text
        assert flash not in (await browser.get(path)).text  # one time only
    assert stored(setup.app)


def test_a_refusal_without_a_field_must_be_a_settings_error() -> None:
    assert Refusal(InvalidFieldsError).errors(InvalidFieldsError({"a": "bad"})) == {"a": "bad"}
    assert Refusal(ConflictError, 409, "name").errors(ConflictError("taken")) == {"name": "taken"}
    with pytest.raises(TypeError, match="ConflictError needs the field"):
        Refusal(ConflictError, 409)
