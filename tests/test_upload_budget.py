"""Issue 11 item 2, the server's part: an upload is parsed in a worker process
within a deadline, a few at a time, so that one upload can never stop
``/health`` (or the background loop) of a running server.

The hostile upload: PKCS#12 files whose key derivations each sit at the
iteration bound (allowed, so each costs its full work) — many of them in one
request, which no per-file bound can stop.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from certwarden.clock import ManualClock
from certwarden.composition import AppConfig, build_app
from certwarden.core.pkcs12_cost import MAX_ITERATIONS
from certwarden.errors import BusyError, ParseBudgetError
from certwarden.services.inventory import ParseLimits
from certwarden.services.inventory.bounded import ParseBudget
from certwarden.services.inventory.pipeline import Job
from tests.conftest import T0
from tests.hostile_files import rewrite_integers, small_p12
from tests.pki_files import pem, small_pki
from tests.web_support import make_setup, serve_in_thread

PKI = small_pki(T0)


def _costly_p12() -> bytes:
    """A PKCS#12 whose MAC and encryption ask for exactly the allowed maximum."""
    data = small_p12(PKI.leaves[1], b"pw", rounds=3001)
    return rewrite_integers(data, lambda _p, v: MAX_ITERATIONS if v in (2048, 3001) else None)


COSTLY = _costly_p12()


def _files(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", (f"costly-{i:02d}.p12", COSTLY, "application/x-pkcs12")) for i in range(count)
    ]


def _served(tmp_path: Path, limits: ParseLimits):  # type: ignore[no-untyped-def]
    app = build_app(
        AppConfig(data_dir=tmp_path / "data", database_url="", upload_limits=limits),
        clock=ManualClock(T0),
    )
    return app, make_setup(app)


def test_health_answers_while_a_hostile_upload_is_parsed(tmp_path: Path) -> None:
    app, setup = _served(tmp_path, ParseLimits(seconds=300, concurrent=2))
    answer: dict[str, httpx.Response] = {}
    try:
        with serve_in_thread(setup.web) as served:
            headers = {"authorization": f"Bearer {setup.admin_token}"}

            def upload() -> None:
                answer["upload"] = httpx.post(
                    f"{served.base_url}/api/v1/certificates",
                    headers=headers,
                    files=_files(40),
                    data={"store": "tomcat-trust", "password": "pw"},
                    timeout=300,
                )

            uploader = threading.Thread(target=upload)
            started = time.monotonic()
            uploader.start()
            time.sleep(0.3)  # the request is in, its parse begins
            latencies: list[float] = []
            during = 0  # answers that came while the upload was still being parsed
            with httpx.Client(base_url=served.base_url, timeout=10) as client:
                while uploader.is_alive() and len(latencies) < 40:
                    t = time.monotonic()
                    health = client.get("/health")
                    latencies.append(time.monotonic() - t)
                    assert health.status_code == 200
                    during += uploader.is_alive()
                    time.sleep(0.05)
            uploader.join(timeout=300)
            elapsed = time.monotonic() - started
    finally:
        app.close()
    assert during >= 5, f"only {during} health checks before the upload ended ({elapsed:.1f} s)"
    assert max(latencies) < 1.0, f"/health took up to {max(latencies):.2f} s during the upload"
    report = answer["upload"]
    assert report.status_code == 422, report.text  # every file fails its MAC
    assert len(report.json()["report"]["rejected"]) == 40


def test_an_upload_over_its_deadline_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    app, setup = _served(tmp_path, ParseLimits(seconds=0.5, concurrent=1))
    good = pem(PKI.leaves[0].cert)
    try:
        with serve_in_thread(setup.web) as served:
            headers = {"authorization": f"Bearer {setup.admin_token}"}
            response = httpx.post(
                f"{served.base_url}/api/v1/certificates",
                headers=headers,
                files=[("files", ("good.pem", good, "application/x-pem-file")), *_files(60)],
                data={"store": "tomcat-trust", "password": "pw"},
                timeout=60,
            )
            assert httpx.get(f"{served.base_url}/health").status_code == 200
            stored_after_refusal = len(app.inventory.list())
            # The slot is free again: a small upload goes through.
            small = httpx.post(
                f"{served.base_url}/api/v1/certificates",
                headers=headers,
                files=[("files", ("good.pem", good, "application/x-pem-file"))],
                data={"store": "tomcat-trust"},
                timeout=60,
            )
    finally:
        app.close()
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "longer than 0.5 s" in detail and "costly-00.p12" in detail and "good.pem" in detail
    assert "nothing was stored" in detail
    assert small.status_code == 201, small.text
    assert stored_after_refusal == 0


def test_the_worker_is_killed_at_the_deadline() -> None:
    import multiprocessing

    budget = ParseBudget(ParseLimits(seconds=0.3, concurrent=1))
    jobs = [Job(f"costly-{i}.p12", 0, COSTLY, b"pw") for i in range(80)]
    started = time.monotonic()
    with pytest.raises(ParseBudgetError) as info:
        budget.digest(jobs)
    assert time.monotonic() - started < 5  # stopped, not waited for (80 files take ~10 s)
    assert info.value.seconds == 0.3
    assert not [p for p in multiprocessing.active_children() if p.name == "certwarden-parse"]


def test_a_parse_finding_every_slot_taken_is_refused_as_busy() -> None:
    budget = ParseBudget(ParseLimits(seconds=0.3, concurrent=1))
    budget._slots.acquire()  # another upload holds the only slot for longer than 0.3 s
    try:
        started = time.monotonic()
        with pytest.raises(BusyError) as info:
            budget.digest([Job("second.p12", 0, COSTLY, b"pw")])
        assert 0.25 < time.monotonic() - started < 3
    finally:
        budget._slots.release()
    assert "try again" in str(info.value) and info.value.retry_after >= 1


def test_small_uploads_parse_in_the_worker_like_inline() -> None:
    budget = ParseBudget(ParseLimits(seconds=60, concurrent=1))
    data = pem(PKI.leaves[0].cert, PKI.sub.cert)
    [digested] = budget.digest([Job("two.pem", 0, data, None)])
    assert digested.problem is None and len(digested.items) == 2
    assert digested.items[0][1].subject_cn == "leaf0.test"
