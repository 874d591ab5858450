"""Issue 11 item 1 (file permissions): the data directory is 0700 and the
database files (db, -wal, -shm) 0600 whatever the umask; a too-open directory
or database found at start is tightened, and the log says so.

The database holds the session-signing key and every password hash; under a
022 umask they used to be created 0755/0644, readable by every local user.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from certwarden.composition import AppConfig, build_app

CERTWARDEN = Path(sys.executable).parent / "certwarden"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_data_dir_and_its_database_files_are_private(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "var"
    app = build_app(AppConfig(data_dir=data, database_url=""))
    try:
        with app.db.engine.connect() as connection:  # WAL and SHM exist while it is open
            connection.execute(text("CREATE TABLE scratch (x INTEGER)"))
            connection.execute(text("INSERT INTO scratch VALUES (1)"))
            connection.commit()
            files = {p.name: _mode(p) for p in data.iterdir()}
            assert {"certwarden.db", "certwarden.db-wal", "certwarden.db-shm"} <= set(files)
            assert files == dict.fromkeys(files, 0o600), files
        assert _mode(data) == 0o700
    finally:
        app.close()


def test_the_cli_tightens_an_existing_open_data_dir_and_says_so(
    tmp_path: Path, umask_022: None
) -> None:
    data = tmp_path / "var"
    env = {**os.environ, "CERTWARDEN_DATA_DIR": str(data), "COLUMNS": "500"}
    first = subprocess.run(
        [CERTWARDEN, "stores", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert first.returncode == 0, first
    assert "tightened" not in first.stderr  # created private: nothing to say
    data.chmod(0o755)
    (data / "certwarden.db").chmod(0o644)
    again = subprocess.run(
        [CERTWARDEN, "stores", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert again.returncode == 0, again
    assert (
        f"tightened the permissions of the data directory {data} from 0755 to 0700" in again.stderr
    )
    assert f"tightened the permissions of {data / 'certwarden.db'} from 0644 to 0600" in (
        again.stderr
    )
    assert (_mode(data), _mode(data / "certwarden.db")) == (0o700, 0o600)


def test_wal_and_shm_left_open_are_tightened_too(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "var"
    build_app(AppConfig(data_dir=data, database_url="")).close()
    for name in ("certwarden.db-wal", "certwarden.db-shm"):
        (data / name).write_bytes(b"")
        (data / name).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="certwarden.storage"):
        build_app(AppConfig(data_dir=data, database_url="")).close()
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "certwarden.db-wal from 0644 to 0600" in said
    assert "certwarden.db-shm from 0644 to 0600" in said


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A directory every user can enter (pytest's own tmp_path is 0700 at the top)."""
    parent = Path(tempfile.mkdtemp(prefix="certwarden-perm-", dir="/tmp"))
    parent.chmod(0o755)
    try:
        yield parent
    finally:
        shutil.rmtree(parent)


@pytest.mark.skipif(os.geteuid() != 0, reason="reading as another user needs root to switch")
def test_another_local_user_cannot_read_the_database(open_parent: Path, umask_022: None) -> None:
    data = open_parent / "var"
    build_app(AppConfig(data_dir=data, database_url="")).close()
    seen = subprocess.run(["ls", str(open_parent)], user="nobody", capture_output=True, text=True)
    assert seen.returncode == 0 and "var" in seen.stdout, seen  # the parent is no barrier
    for target in (data / "certwarden.db", data):
        done = subprocess.run(
            ["cat" if target.is_file() else "ls", str(target)],
            user="nobody", capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode != 0
        assert "Permission denied" in done.stderr
