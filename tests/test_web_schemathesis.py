"""Property-based API check: schemathesis generates requests from the served
OpenAPI document (with a valid admin token) and no answer may be a 5xx.

Bounded: a few examples per operation, so the whole module runs in well under
a minute. Left out of the generation, because a random value there would send
certwarden to a random host (the SMTP server, the OCSP responder) or revoke the
token the run itself uses: PATCH /settings/smtp, PATCH /settings/revocation,
DELETE /tokens/{token_id}. test_web_api.py covers them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from certwarden.clock import ManualClock
from certwarden.composition import AppConfig, build_app
from certwarden.demo.pki import build_demo_pki, import_demo
from tests.web_support import Served, make_setup, serve_in_thread

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    directory: Path = tmp_path_factory.mktemp("schemathesis")
    app = build_app(AppConfig(data_dir=directory / "data", database_url=""), clock=ManualClock(NOW))
    setup = make_setup(app)
    import_demo(app.inventory, build_demo_pki(directory / "pki", NOW))
    try:
        with serve_in_thread(setup.web) as served:
            yield served, setup.admin_token
    finally:
        app.close()


EXCLUDED = {
    ("PATCH", "/api/v1/settings/smtp"),
    ("PATCH", "/api/v1/settings/revocation"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
}


def test_no_generated_request_gets_a_server_error(api: tuple[Served, str]) -> None:
    served, token = api
    auth = {"Authorization": f"Bearer {token}"}
    loaded = schemathesis.openapi.from_url(f"{served.base_url}/api/openapi.json", headers=auth)
    problems: list[str] = []
    tried = 0
    for result in loaded.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        tried += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=served.base_url, headers=auth)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (
                f"{label} -> {response.status_code}: {response.text[:300]}"
            )
            assert response.status_code != 401, f"the run's token stopped working after {label}"

        try:
            check()
        except AssertionError as exc:
            problems.append(str(exc).splitlines()[0])
    assert tried >= 40
    assert not problems, "\n".join(problems)
