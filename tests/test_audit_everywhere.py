"""Every change is audited, from every interface: the CLI's imports, deletes,
store changes, settings, Common Criteria, endpoints and users are recorded with
actor ``cli`` and the operating-system user; ``certwarden audit list`` shows them;
the UI and the API record the same actions through the same service calls."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from certwarden.composition import App
from certwarden.services.accounts import Actor
from tests.conftest import T0, Cli
from tests.pki_files import pem, small_pki, write
from tests.web_support import WebSetup, asgi_client, make_setup

PKI = small_pki(T0)


def _entries(cli: Cli, *args: str) -> list[dict[str, object]]:
    result = cli("audit", "list", "--json", *args)
    assert result.code == 0, result
    entries: list[dict[str, object]] = json.loads(result.stdout)
    return entries


def test_cli_import_is_in_the_audit_log_with_actor_cli(cli: Cli, tmp_path: Path) -> None:
    f = write(tmp_path / "leaf.pem", pem(PKI.leaves[1].cert))
    assert cli("import", "--store", "tomcat", str(f)).code == 0
    [entry] = _entries(cli)
    assert entry["actor"] == "cli"
    assert entry["action"] == "certificate.import"
    assert entry["target"] == "tomcat"
    details = entry["details"]
    assert isinstance(details, dict)
    assert details["os_user"] == getpass.getuser()
    assert details["files"] == [str(f)]
    assert details["imported_count"] == 1
    assert str(entry["at"]).endswith("Z")


def test_every_cli_change_is_recorded(cli: Cli, tmp_path: Path) -> None:
    f = write(tmp_path / "leaf.pem", pem(PKI.leaves[1].cert))
    commands = [
        (["stores", "create", "partners"], "store.create", "partners"),
        (["import", "--store", "partners", str(f)], "certificate.import", "partners"),
        (["delete", "1"], "certificate.delete", "#1"),
        (["stores", "empty", "tomcat"], "store.empty", "tomcat"),
        (["stores", "delete", "partners"], "store.delete", "partners"),
        (["monitor", "settings", "set", "--start-days", "45"], "settings.monitor", "monitor"),
        (["monitor", "stop"], "monitor.stop", "certificate-expiry-monitor"),
        (["monitor", "start"], "monitor.start", "certificate-expiry-monitor"),
        (["monitor", "restart"], "monitor.restart", "certificate-expiry-monitor"),
        (["smtp", "settings", "set", "--host", "mail.example.org"], "settings.smtp", "smtp"),
        (
            ["revocation", "settings", "set", "--nonce", "require"],
            "settings.revocation",
            "revocation",
        ),
        (["params", "set", "--validity-frequency", "12"], "settings.params", "params"),
        (["security", "common-criteria", "on"], "settings.security", "security"),
        (["security", "common-criteria", "off"], "settings.security", "security"),
        (["endpoints", "add", "127.0.0.1:1"], "endpoint.add", "127.0.0.1:1"),
        (["endpoints", "remove", "127.0.0.1:1"], "endpoint.remove", "127.0.0.1:1"),
        (
            ["users", "add", "carol", "--role", "viewer", "--password-env", "PW"],
            "user.create",
            "carol",
        ),
        (["users", "remove", "carol"], "user.remove", "carol"),
    ]
    for args, _, _ in commands:
        result = cli(*args, env={"PW": "a-long-password-1"})
        assert result.code == 0, (args, result)
    entries = _entries(cli, "--limit", "100")
    recorded = [(e["action"], e["target"]) for e in reversed(entries)]
    assert recorded == [(action, target) for _, action, target in commands]
    assert {e["actor"] for e in entries} == {"cli"}
    assert all(isinstance(e["details"], dict) and e["details"]["os_user"] for e in entries)
    by_action = {e["action"]: e["details"] for e in entries}
    assert by_action["settings.revocation"] == {"nonce": "require", "os_user": getpass.getuser()}
    security = [e["details"] for e in entries if e["action"] == "settings.security"]
    assert [d["common_criteria"] for d in security] == [False, True]  # newest first

    table = cli("audit", "list", "--limit", "2")
    assert table.code == 0 and "users" not in table.stdout
    assert "user.remove" in table.stdout and "2 of" in table.stdout


def test_a_refused_change_records_nothing(cli: Cli) -> None:
    assert cli("stores", "delete", "tomcat", "--force").code == 1
    assert cli("revocation", "settings", "set", "--nonce", "sometimes").code == 1
    assert _entries(cli) == []


async def test_api_changes_go_through_the_same_service_call(app: App) -> None:
    setup: WebSetup = make_setup(app)
    async with asgi_client(setup.web, setup.admin_token) as api:
        assert (await api.post("/api/v1/stores", json={"name": "edge"})).status_code == 201
        assert (await api.delete("/api/v1/stores/edge")).status_code == 200
    app.changes.create_store(Actor.cli(), "from-cli")
    items, _ = app.users.list_audit()
    assert [(i.actor, i.action, i.target) for i in reversed(items)] == [
        ("admin (token #1)", "store.create", "edge"),
        ("admin (token #1)", "store.delete", "edge"),
        ("cli", "store.create", "from-cli"),
    ]
    assert "os_user" not in items[1].details and items[0].details["os_user"]
