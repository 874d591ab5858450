"""Login lockout, sessions and token revocation across three real ``certwarden serve``
processes on one real PostgreSQL database, over HTTP (issue 14, item 4).

Failed logins sent in turn to each instance lock the name after five in all,
and every instance refuses it; a session opened on one works on another (the
same secret file) and ends on all when signed out on one; a token revoked by
the CLI is refused by every instance within a few seconds (the bound is one
second of the shared counter; the wait here tolerates a loaded machine).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.cluster_procs import ADMIN_PASSWORD, Instances, database_url, wait_for

__all__ = ["database_url"]  # the fixture, from tests/cluster_procs.py

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

USER_LIMIT = 5  # UserService.USER_LIMIT
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _login(base: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
    own = client is None
    client = client or httpx.Client(base_url=base, timeout=30)
    try:
        form = client.get("/login")
        return client.post(
            "/login",
            data={
                "username": "admin",
                "password": password,
                "csrf_token": _csrf(form.text),
                "next": "/",
            },
        )
    finally:
        if own:
            client.close()


def test_lockout_sessions_and_token_revocation_across_three_instances(
    database_url: str,
    tmp_path: Path,
) -> None:
    # One secret file for all (Instances' default): session cookies verify on every instance.
    with Instances(database_url, tmp_path, count=3) as cluster:
        cluster.wait_healthy()
        a, b, c = cluster.bases

        # A session opened on A serves on B, and signing out on B ends it on A and C.
        with httpx.Client(base_url=a, timeout=30) as browser:
            assert _login(a, ADMIN_PASSWORD, browser).status_code == 303
            cookies = dict(browser.cookies)
        pages = {base: httpx.get(f"{base}/account", cookies=cookies, timeout=30) for base in (a, b)}
        assert {base: r.status_code for base, r in pages.items()} == {a: 200, b: 200}
        out = httpx.post(
            f"{b}/logout", data={"csrf_token": _csrf(pages[b].text)}, cookies=cookies, timeout=30
        )
        assert out.status_code == 303
        for base in (a, b, c):
            after = httpx.get(f"{base}/account", cookies=cookies, timeout=30)
            assert after.status_code in (303, 307, 302, 401), (base, after.status_code)

        # A token works on all three; revoked by the CLI, it is refused by all three.
        made = cluster.cli("tokens", "create", "admin", "--name", "ci", "--json")
        token = json.loads(made.stdout)
        bearer = {"authorization": f"Bearer {token['token']}"}
        for base in (a, b, c):
            for _ in range(3):  # verified, then from each instance's cache
                assert httpx.get(f"{base}/api/v1/me", headers=bearer, timeout=30).status_code == 200
        cluster.cli("tokens", "revoke", str(token["id"]))
        revoked_at = time.monotonic()
        refused: dict[str, float] = {}

        def all_refuse() -> bool:
            for base in (a, b, c):
                code = httpx.get(f"{base}/api/v1/me", headers=bearer, timeout=30).status_code
                if code == 401:
                    refused.setdefault(base, time.monotonic() - revoked_at)
                else:
                    assert base not in refused, f"{base} took a revoked token back"
            return len(refused) == 3

        wait_for("every instance refuses the revoked token", all_refuse, 30)
        print("token refused after (s):", {k: round(v, 2) for k, v in refused.items()})

        # Failed logins, in turn on each instance: the lockout comes after five in all.
        codes = [_login(cluster.bases[i % 3], "wrong password here").status_code for i in range(5)]
        assert codes == [401] * USER_LIMIT
        # Locked on every instance, even with the right password; Retry-After says how long.
        for base in (a, b, c):
            locked = _login(base, ADMIN_PASSWORD)
            assert locked.status_code == 429, (base, locked.status_code)
            assert int(locked.headers["retry-after"]) > 0
        # Unlocked with the CLI (another process): every instance signs in again.
        cluster.cli("users", "unlock", "admin")
        assert _login(c, ADMIN_PASSWORD).status_code == 303
