"""Issue 11 item 10: processes that start together or die early leave no damage.

* A ``kill -9`` of ``certwarden import`` while its worker processes parse must
  not leave those workers behind (they used to block forever on their queue).
* Two processes starting on a new database at once both come up: migrations
  take a lock (SQLite: flock; PostgreSQL: an advisory lock). Without it one of
  the two died with "table ... already exists" or a duplicate key.

All with real processes: the CLI, and small scripts that build the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certwarden.adapters.db.engine import HEAD_REVISION
from tests.conftest import POSTGRES_URL, T0, _postgres_available
from tests.pki_files import pem, small_pki, write

CERTWARDEN = Path(sys.executable).parent / "certwarden"


def _children(parent: int) -> set[int]:
    """PIDs whose parent is ``parent`` (from /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_exit_when_the_import_is_killed(tmp_path: Path) -> None:
    pki = small_pki(T0)
    block = pem(*(leaf.cert for leaf in pki.leaves))
    for n in range(6):  # 6 x ~2 MB: parsed by worker processes, for seconds
        write(tmp_path / "in" / f"bundle{n}.pem", block * 800)
    env = {**os.environ, "CERTWARDEN_DATA_DIR": str(tmp_path / "data")}
    importer = subprocess.Popen(
        [CERTWARDEN, "import", tmp_path / "in", "--store", "tomcat-trust"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and importer.poll() is None and time.monotonic() < deadline:
            workers |= _children(importer.pid)
            time.sleep(0.05)
        assert workers, "the import never started worker processes"
        assert importer.poll() is None, "the import finished before it could be killed"
        importer.send_signal(signal.SIGKILL)
        importer.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in workers if _alive(pid)]
        assert survivors == [], f"workers outlived the killed import: {survivors}"
    finally:
        for pid in workers:  # only the workers this test started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if importer.poll() is None:
            importer.kill()


_ORPHAN = textwrap.dedent(
    """
    import os, time
    from certwarden.services.inventory.pipeline import _watch_parent
    me = os.getpid()  # before the fork (as the pool passes it): the child may start late
    child = os.fork()
    if child == 0:
        _watch_parent(me)  # returns only by exiting the process
        os._exit(3)
    print(child, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_the_watchdog_used_where_there_is_no_prctl_ends_an_orphan() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the watchdog did not end the orphaned worker"
    finally:
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


_MIGRATE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from certwarden.composition import build_app, load_config
    print("ready", flush=True)
    sys.stdin.readline()  # the start line: both processes migrate at once
    app = build_app(load_config(data_dir=Path(sys.argv[1]), database_url=sys.argv[2]))
    print(app.db.current_revision(), flush=True)
    app.close()
    """
)


def _start_together(data_dir: Path, url: str) -> list[tuple[int, str, str]]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, str(data_dir), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for p in processes:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in processes:
            assert p.stdin is not None
            p.stdin.write("\n")
            p.stdin.flush()
        outcomes = []
        for p in processes:
            out, err = p.communicate(timeout=120)
            outcomes.append((p.returncode, out, err))
        return outcomes
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()


@pytest.mark.slow
def test_two_processes_migrate_a_new_sqlite_database_at_once(tmp_path: Path) -> None:
    for attempt in range(4):  # without the lock, most attempts failed
        data_dir = tmp_path / f"data{attempt}"
        for code, out, err in _start_together(data_dir, ""):
            assert code == 0, err
            assert out.strip() == HEAD_REVISION
    assert (data_dir / "certwarden.db.migrate-lock").exists()


@pytest.fixture
def fresh_schemas() -> Iterator[list[str]]:
    why = _postgres_available()
    if why is not None:
        if os.environ.get("CERTWARDEN_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {why}")
        pytest.skip(why)
    import sqlalchemy as sa

    schemas = [f"cw_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schemas
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_processes_migrate_a_new_postgres_schema_at_once(
    tmp_path: Path, fresh_schemas: list[str]
) -> None:
    for schema in fresh_schemas:
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        for code, out, err in _start_together(tmp_path, url):
            assert code == 0, err
            assert out.strip() == HEAD_REVISION


def test_an_older_release_refuses_a_database_a_newer_one_migrated(tmp_path: Path) -> None:
    """A rolling upgrade: an instance still on the previous release that restarts
    after a newer one migrated the database says so, and changes nothing."""
    import sqlalchemy as sa

    from certwarden.adapters.db import Database
    from certwarden.errors import StorageError

    db = Database(f"sqlite:///{tmp_path / 'cw.db'}")
    try:
        db.upgrade()
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
        with pytest.raises(StorageError, match=r"'0099_from_the_future'.*upgrade this instance"):
            db.upgrade()
        assert db.current_revision() == "0099_from_the_future"
    finally:
        db.dispose()
