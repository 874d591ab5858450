"""One server per SQLite database: an exclusive lock file beside it.

    lock = InstanceLock.acquire(Path("var"))   # ConfigurationError when another holds it
    ...                                        # serve
    lock.release()                             # or let the process end

``certwarden serve`` takes an exclusive, non-blocking ``flock`` on
``certwarden.lock`` in the directory of its SQLite database before it
migrates or writes anything; a second server on the same directory is refused
at once, with the first one's process ID. The kernel drops the lock when the
holder dies, so a crash never leaves a stale lock behind (the file stays; its
content is only informative). PostgreSQL, made for several instances, takes
no such lock. Commands other than ``serve`` (imports, settings) take none
either: they are meant to run beside the server.
"""

from __future__ import annotations

import os
from pathlib import Path

from certwarden.errors import ConfigurationError

__all__ = ["LOCK_FILE", "InstanceLock"]

LOCK_FILE = "certwarden.lock"


class InstanceLock:
    """A held lock (see the module docstring)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> InstanceLock:
        """Lock ``directory`` for this process.

        Raises:
            ConfigurationError: another process holds it, or the file cannot be opened.
        """
        import fcntl  # POSIX; certwarden's server runs on Linux and the BSDs

        path = directory / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(f"cannot open the lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ConfigurationError(
                f"another certwarden server is already running on the data directory "
                f"{directory}{f' (process {holder})' if holder else ''}: it holds {path}. "
                "Stop it first, or give this one another --data-dir; nothing was changed."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
