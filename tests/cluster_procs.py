"""Real ``certwarden serve`` processes on one real PostgreSQL database, for the
cluster tests and ``bench/cluster_scale.py``.

    def test_x(database_url, tmp_path):
        with Instances(database_url, tmp_path, count=3, extra_env={...}) as cluster:
            cluster.wait_healthy()
            data = cluster.status()              # ``cluster status --json``
            cluster.cli("tokens", "list")        # any command, as its own process
            os.kill(cluster.holder_pid("monitor"), signal.SIGKILL)

``database_url`` names a fresh schema of the test database (dropped after the
test), or skips with the reason when no PostgreSQL answers. Each instance's
connections carry ``application_name=cw-<schema>-nodeN``, so a test can tell
from ``pg_stat_activity`` which process is inside which transaction. Every
instance on one database gets the same secret file (serve refuses another).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import POSTGRES_URL, _postgres_available
from tests.web_support import free_port

__all__ = [
    "ADMIN_PASSWORD",
    "CERTWARDEN",
    "Instances",
    "cluster_secret_file",
    "database_url",
    "serve_env",
    "wait_for",
]

CERTWARDEN = Path(sys.executable).parent / "certwarden"
ADMIN_PASSWORD = "cluster-admin-password"  # the first administrator's, in serve_env
T = TypeVar("T")


@pytest.fixture
def database_url() -> Iterator[str]:
    why = _postgres_available()
    if why is not None:
        if os.environ.get("CERTWARDEN_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {why}")
        pytest.skip(why)
    import sqlalchemy as sa

    schema = f"cw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            # A paused or killed instance's session must not keep the schema alive.
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE :name AND pid <> pg_backend_pid()"
                ),
                {"name": f"cw-{schema}-%"},
            )
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def cluster_secret_file(database_url: str) -> Path:
    """One secret file for every instance on ``database_url`` (serve refuses another)."""
    import hashlib
    import secrets
    import tempfile

    name = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"certwarden-test-cluster-{name}.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def serve_env(database_url: str, lease: int | None = None, **extra: str) -> dict[str, str]:
    """An instance's environment: none of the caller's ``CERTWARDEN_*``, the
    database, its secret file, the lease (``None``: the default) and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARDEN_")}
    env.update(
        CERTWARDEN_DATABASE_URL=database_url,
        CERTWARDEN_SECRET_FILE=str(cluster_secret_file(database_url)),
        CERTWARDEN_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    if lease is not None:
        env["CERTWARDEN_CLUSTER_LEASE_SECONDS"] = str(lease)
    env.update(extra)
    return env


def wait_for(what: str, check: Callable[[], T], timeout: float, step: float = 0.3) -> T:
    """Poll ``check`` until it returns something true; AssertionError naming
    ``what`` after ``timeout`` s (also usable outside pytest: the bench)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(step)


def application_name(database_url: str, index: int) -> str:
    schema = database_url.rsplit("search_path%3D", 1)[-1]
    return f"cw-{schema}-node{index}"


class Instances:
    """``count`` serve processes, each with its own data directory, port and
    log (``serveN.log`` in ``tmp_path``); ``lease`` None: the default lease."""

    def __init__(
        self,
        database_url: str,
        tmp_path: Path,
        *,
        count: int = 3,
        lease: int | None = 3,
        interval: float = 0.5,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.count = count
        self.lease = lease
        self.interval = interval
        self.extra_env = extra_env or {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.bases: list[str] = []

    def env(self, index: int | None = None) -> dict[str, str]:
        url = self.database_url
        if index is not None:
            url = f"{url}&application_name={application_name(self.database_url, index)}"
        # The secret file is the database's, whatever each instance's URL adds.
        secret = {"CERTWARDEN_SECRET_FILE": str(cluster_secret_file(self.database_url))}
        return serve_env(url, self.lease, **(secret | self.extra_env))

    def start(self) -> Instances:
        # Started together: migrations take a lock, so one migrates and the others wait.
        for i in range(self.count):
            port = free_port()
            args = [str(CERTWARDEN), "--data-dir", str(self.tmp_path / f"node{i}"),
                    "serve", "--port", str(port), "--interval", str(self.interval)]  # fmt: skip
            with (self.tmp_path / f"serve{i}.log").open("ab") as log:
                process = subprocess.Popen(
                    args, stdout=log, stderr=subprocess.STDOUT, env=self.env(i)
                )
            self.processes.append(process)
            self.bases.append(f"http://127.0.0.1:{port}")
        return self

    def wait_healthy(self, timeout: float = 90) -> None:
        for i, base in enumerate(self.bases):

            def healthy(base: str = base, i: int = i) -> bool:
                if self.processes[i].poll() is not None:
                    raise AssertionError(f"serve {i} exited: {self.log(i)[-2000:]}")
                try:
                    return httpx.get(f"{base}/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(f"serve {i} answered", healthy, timeout)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``certwarden ARGS`` as its own process on the same database (checked)."""
        return subprocess.run(
            [str(CERTWARDEN), "--data-dir", str(self.tmp_path / "cli"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def status(self) -> dict[str, Any]:
        """``certwarden cluster status --json``."""
        return json.loads(self.cli("cluster", "status", "--json").stdout)  # type: ignore[no-any-return]

    def holders(self) -> dict[str, str | None]:
        return {lease["job"]: lease["holder"] for lease in self.status()["leases"]}

    def wait_all_held(self, timeout: float = 60) -> dict[str, Any]:
        """Every instance alive and every job held; the status then."""

        def ready() -> dict[str, Any] | None:
            data = self.status()
            alive = [n for n in data["nodes"] if n["state"] == "alive"]
            held = {lease["job"]: lease["holder"] for lease in data["leases"]}
            jobs = {"monitor", "revocation", "outbox", "syslog", "ari"}
            if len(alive) == self.count and jobs <= set(held) and all(held[j] for j in jobs):
                return data
            return None

        return wait_for(f"{self.count} nodes, every job held", ready, timeout)

    def holder_pid(self, job: str) -> int | None:
        """The pid of ``job``'s current holder, read straight from the database
        (quicker than ``cluster status``: no process to start)."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as c:
                pid = c.execute(
                    sa.text(
                        "SELECT n.pid FROM cluster_leases l JOIN cluster_nodes n "
                        "ON n.node_id = l.holder WHERE l.job = :job AND l.expires_at > now()"
                    ),
                    {"job": job},
                ).scalar()
        finally:
            engine.dispose()
        return int(pid) if pid is not None else None

    def index_of_pid(self, pid: int) -> int:
        return next(i for i, p in enumerate(self.processes) if p.pid == pid)

    def log(self, index: int) -> str:
        return (self.tmp_path / f"serve{index}.log").read_text(errors="replace")

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)  # a paused one must hear the SIGTERM
                p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def __enter__(self) -> Instances:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
