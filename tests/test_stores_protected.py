"""The appliance's stores are protected: built-in stores are emptied, never
deleted (CLI, API and UI); a store a setting names cannot be deleted while it
is named; and no setting changes because a store disappeared."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from certwarden.adapters.db.models import Store
from certwarden.composition import App
from certwarden.errors import ConflictError
from tests.conftest import T0, Cli
from tests.pki_files import pem, small_pki, write
from tests.web_support import ADMIN_PASSWORD, WebSetup, asgi_client, csrf_of, login, make_setup

PKI = small_pki(T0)
BUILT_IN = [
    "tomcat", "tomcat-trust", "CallManager", "CallManager-trust", "ipsec",
    "ipsec-trust", "CAPF", "CAPF-trust", "lsc",
]  # fmt: skip


def _counts(app: App) -> dict[str, int]:
    return {s.name: s.certificates for s in app.inventory.list_stores()}


def test_cli_refuses_to_delete_a_built_in_store_even_with_force(cli: Cli, tmp_path: Path) -> None:
    f = write(tmp_path / "leaf.pem", pem(PKI.leaves[1].cert))
    assert cli("import", "--store", "tomcat", str(f)).code == 0
    result = cli("stores", "delete", "tomcat", "--force")
    assert result.code == 1, result
    message = " ".join(result.stderr.split())
    assert "'tomcat' is one of the appliance's built-in stores and cannot be deleted" in message
    listed = {
        s["name"]: s["certificates"] for s in json.loads(cli("stores", "list", "--json").stdout)
    }
    assert listed["tomcat"] == 1
    # Emptying is allowed: the certificates go, the store stays.
    emptied = cli("stores", "empty", "tomcat")
    assert emptied.code == 0 and "1 certificate(s) deleted" in emptied.stdout
    assert '"name": "tomcat"' in cli("stores", "list", "--json").stdout
    assert cli("import", "--store", "tomcat", str(f)).code == 0  # imports still work


@pytest.mark.parametrize("name", BUILT_IN)
def test_no_built_in_store_can_be_deleted(app: App, name: str) -> None:
    with pytest.raises(ConflictError, match="built-in"):
        app.inventory.delete_store(name, force=True)
    assert name in _counts(app)


def test_a_store_named_by_a_setting_is_kept_while_named(app: App, tmp_path: Path) -> None:
    app.inventory.create_store("ocsp-signers")
    app.inventory.import_paths(
        [write(tmp_path / "r.pem", pem(PKI.root.cert))], store="ocsp-signers"
    )
    app.revocation.update_settings({"trusted_responder_store": "ocsp-signers"})
    with pytest.raises(ConflictError, match="trusted-responder store") as refused:
        app.inventory.delete_store("ocsp-signers", force=True)
    assert "choose another store there first" in refused.value.diagnostics()
    assert _counts(app)["ocsp-signers"] == 1
    assert app.revocation.settings().trusted_responder_store == "ocsp-signers"
    # Named elsewhere, it can go.
    app.revocation.update_settings({"trusted_responder_store": "tomcat-trust"})
    assert app.inventory.delete_store("ocsp-signers", force=True) == 1


async def test_api_and_ui_refuse_and_empty(app: App, tmp_path: Path) -> None:
    setup: WebSetup = make_setup(app)
    app.inventory.import_paths([write(tmp_path / "r.pem", pem(PKI.root.cert))], store="CAPF")
    async with asgi_client(setup.web, setup.admin_token) as api:
        refused = await api.delete("/api/v1/stores/CAPF?force=true")
        assert refused.status_code == 409
        assert "built-in" in refused.json()["detail"]
        assert _counts(app)["CAPF"] == 1
        emptied = await api.delete("/api/v1/stores/CAPF/certificates")
        assert emptied.status_code == 200 and emptied.json()["certificates_removed"] == 1
        assert _counts(app)["CAPF"] == 0
    app.inventory.import_paths([write(tmp_path / "r.pem", pem(PKI.root.cert))], store="CAPF-trust")
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        page = (await browser.get("/stores")).text
        assert 'action="/stores/CAPF-trust/empty"' in page
        assert 'action="/stores/CAPF-trust/delete"' not in page  # no Delete button
        forged = await browser.post(
            "/stores/CAPF-trust/delete", data={"csrf_token": csrf, "force": "true"}
        )
        assert forged.status_code == 409
        assert _counts(app)["CAPF-trust"] == 1
        done = await browser.post("/stores/CAPF-trust/empty", data={"csrf_token": csrf})
        assert done.status_code == 303
        assert _counts(app)["CAPF-trust"] == 0 and "CAPF-trust" in _counts(app)


async def test_saving_the_revocation_page_keeps_a_vanished_store(app: App) -> None:
    """Data from before the protection (the store deleted under the setting): the
    page shows the stored name and saving it keeps it, instead of picking another."""
    setup = make_setup(app)
    app.inventory.create_store("gone-signers")
    app.revocation.update_settings({"trusted_responder_store": "gone-signers"})
    with app.db.session() as s:  # as an older version could leave it
        s.execute(sa.delete(Store).where(Store.name == "gone-signers"))
    async with asgi_client(setup.web) as browser:
        await login(browser, "admin", ADMIN_PASSWORD)
        page = (await browser.get("/security/revocation")).text
        selected = re.search(
            r'name="trusted_responder_store".*?<option value="([^"]+)" selected', page, re.S
        )
        assert selected and selected.group(1) == "gone-signers"
        assert "gone-signers (no such store)" in page
        form = {
            "csrf_token": csrf_of(page),
            "enable_ocsp": "true",
            "responder_source": "certificate",
            "trusted_responder_store": selected.group(1),
            "check_every": "24",
            "check_every_unit": "hours",
        }
        saved = await browser.post("/security/revocation", data=form)
        assert saved.status_code == 303, saved.text
    assert app.revocation.settings().trusted_responder_store == "gone-signers"
    assert app.revocation.settings().enable_ocsp is True
