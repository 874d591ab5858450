"""The composition root: builds every part of certwarden from its configuration.

This is the only module that decides which clock, database and outside systems
are real. Services are built lazily, once, on first use.
"""

from __future__ import annotations

import logging
import os
import platform
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from certwarden.adapters.db import Database, default_database_url
from certwarden.adapters.db.engine import sqlite_file
from certwarden.clock import Clock, ManualClock, SystemClock
from certwarden.errors import ConfigurationError

# Services are imported where they are built: a command loads only what it
# uses (the CLI starts in a fraction of the time it would take to import the
# HTTP, TLS and mail stacks every time).
if TYPE_CHECKING:
    from certwarden.adapters.smtp import SmtpSettings, SmtpTransport
    from certwarden.services.accounts import UserService
    from certwarden.services.ari import AriService
    from certwarden.services.changes import Changes
    from certwarden.services.cluster import ClusterService
    from certwarden.services.cluster.keeper import LeaseKeeper
    from certwarden.services.inventory import InventoryService, ParseLimits
    from certwarden.services.monitor import MonitorService
    from certwarden.services.readmodel import OverviewService
    from certwarden.services.revocation import RevocationService, UploadCheck
    from certwarden.services.shared.channels import ChannelService
    from certwarden.services.shared.keyring import Keyring
    from certwarden.services.shared.outbox import OutboxService
    from certwarden.services.tls import TlsGuard
    from certwarden.services.tls.connections import ConnectionRegistry
    from certwarden.services.tls.endpoints import EndpointService
    from certwarden.services.tls.probe import ProbeService
    from certwarden.services.tls.syslog import SyslogForwarder

__all__ = [
    "App",
    "AppConfig",
    "build_app",
    "instance_lock_directory",
    "load_config",
    "prepare_data_dir",
]

# A loud name on purpose: it freezes certwarden's notion of "now" (tests, demos).
FIXED_NOW_ENV = "CERTWARDEN_TESTING_FIXED_NOW"
LEASE_ENV = "CERTWARDEN_CLUSTER_LEASE_SECONDS"
CHUNK_ENV = "CERTWARDEN_REVOCATION_CHUNK_SIZE"
IDLE_TRANSACTION_ENV = "CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS"
# The data directory holds the database (password hashes), the secret file
# (session signing, the sealed SMTP password) and the demo PKI's keys: its
# owner only, whatever the umask.
DATA_DIR_MODE = 0o700
SECRET_FILE_ENV = "CERTWARDEN_SECRET_FILE"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class AppConfig:
    data_dir: Path
    database_url: str
    fixed_now: datetime | None = None
    # Several instances on one database: how long a job's lease lasts without renewal.
    lease_seconds: int = 30
    # Certificates per chunk of a scheduled revocation run (None: the default,
    # services/revocation/chunks.py CHUNK_SIZE).
    chunk_size: int | None = None
    # None: <data_dir>/secret.key
    secret_file: Path | None = None
    # PostgreSQL: a session whose transaction waits this long for certwarden is
    # ended by the server (a paused instance's row locks do not stall the
    # others for ever). None: twice the lease, at least 10 s; 0: the server's own.
    idle_transaction_seconds: int | None = None

    @property
    def idle_transaction_timeout(self) -> int:
        """The seconds in effect (0: not set by certwarden)."""
        if self.idle_transaction_seconds is not None:
            return self.idle_transaction_seconds
        return max(2 * self.lease_seconds, 10)

    @property
    def secret_path(self) -> Path:
        from certwarden.adapters.secret_file import SECRET_FILE_NAME

        return self.secret_file or self.data_dir / SECRET_FILE_NAME

    # How long one upload may take to parse, and how many at once (None: the defaults).
    upload_limits: ParseLimits | None = None


def load_config(
    *,
    data_dir: Path | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> AppConfig:
    """Configuration from arguments, then ``CERTWARDEN_*`` variables, then defaults."""
    env = os.environ if environ is None else environ
    directory = data_dir or Path(env.get("CERTWARDEN_DATA_DIR") or "var")
    url = database_url or env.get("CERTWARDEN_DATABASE_URL") or ""
    fixed: datetime | None = None
    if raw := env.get(FIXED_NOW_ENV):
        try:
            fixed = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{FIXED_NOW_ENV}={raw!r} is not an ISO-8601 time") from exc
        if fixed.tzinfo is None:
            raise ConfigurationError(f"{FIXED_NOW_ENV}={raw!r} needs a UTC offset, e.g. Z")
    lease = 30
    if raw := env.get(LEASE_ENV):
        if not raw.strip().isdigit() or not 2 <= int(raw) <= 3600:
            raise ConfigurationError(f"{LEASE_ENV}={raw!r}: give whole seconds from 2 to 3600")
        lease = int(raw)
    chunk: int | None = None
    if raw := env.get(CHUNK_ENV):
        if not raw.strip().isdigit() or not 10 <= int(raw) <= 100_000:
            raise ConfigurationError(
                f"{CHUNK_ENV}={raw!r}: give a whole number of certificates from 10 to 100000"
            )
        chunk = int(raw)
    idle: int | None = None
    if (raw := env.get(IDLE_TRANSACTION_ENV)) is not None and raw.strip():
        if not raw.strip().isdigit() or int(raw) > 86_400:
            raise ConfigurationError(
                f"{IDLE_TRANSACTION_ENV}={raw!r}: give whole seconds from 0 (PostgreSQL's own "
                "setting) to 86400"
            )
        idle = int(raw)
        if 0 < idle <= lease:
            raise ConfigurationError(
                f"{IDLE_TRANSACTION_ENV}={raw!r} must be longer than the lease ({lease} s, "
                f"{LEASE_ENV}), or 0"
            )
    secret = Path(env[SECRET_FILE_ENV]) if env.get(SECRET_FILE_ENV) else None
    return AppConfig(
        data_dir=directory,
        database_url=url,
        fixed_now=fixed,
        lease_seconds=lease,
        chunk_size=chunk,
        secret_file=secret,
        idle_transaction_seconds=idle,
    )


class App:
    """Everything, wired. Interfaces hold one of these."""

    def __init__(self, config: AppConfig, clock: Clock, database: Database) -> None:
        self.config = config
        self.clock = clock
        self.db = database

    @cached_property
    def inventory(self) -> InventoryService:
        from certwarden.services.inventory import InventoryService

        if self.config.upload_limits is None:
            return InventoryService(self.db, self.clock)
        return InventoryService(self.db, self.clock, upload_limits=self.config.upload_limits)

    @cached_property
    def monitor(self) -> MonitorService:
        from certwarden.services.monitor import MonitorService

        # Each run first probes the monitored TLS endpoints (their certificates
        # join the inventory, so the run sees what they serve now).
        return MonitorService(self.db, self.clock, before_run=self.endpoints.probe_all)

    @cached_property
    def outbox(self) -> OutboxService:
        from certwarden.services.shared.outbox import OutboxService

        # CERTWARDEN_SMTP_* variables override the stored SMTP settings.
        return OutboxService(
            self.db,
            self.clock,
            environ=os.environ,
            transport_factory=self._smtp_transport,
            keyring=self.keyring,
        )

    def _smtp_transport(self, settings: SmtpSettings) -> SmtpTransport:
        from certwarden.adapters.smtp import SmtpTransport

        # Mail delivery checks the mail server's certificate like every TLS client.
        return SmtpTransport(settings, server_chain_check=self.tls.smtp_chain_check)

    @cached_property
    def channels(self) -> ChannelService:
        """Notification channels (Apprise URLs, stored sealed) and their outbox."""
        from certwarden.adapters.apprise_notify import AppriseSender
        from certwarden.services.shared.channels import ChannelService

        return ChannelService(self.db, self.clock, keyring=self.keyring, sender=AppriseSender())

    @cached_property
    def keyring(self) -> Keyring:
        """Keys from the secret file (read, or created 0600, on first use)."""
        from certwarden.services.shared.keyring import Keyring

        return Keyring(self._load_secret, self.db, self.clock)

    def _load_secret(self) -> bytes:
        from certwarden.adapters.secret_file import load_or_create_secret

        path = self.config.secret_path
        if self.config.secret_file is None:
            prepare_data_dir(path.parent)
        return load_or_create_secret(path)

    @cached_property
    def users(self) -> UserService:
        from certwarden.services.accounts import UserService

        return UserService(self.db, self.clock, keyring=self.keyring)

    @cached_property
    def overview(self) -> OverviewService:
        from certwarden.services.readmodel import OverviewService

        return OverviewService(self.db, self.clock)

    @cached_property
    def revocation(self) -> RevocationService:
        from certwarden.services.revocation import CHUNK_SIZE, RevocationService

        return RevocationService(
            self.db, self.clock, chunk_size=self.config.chunk_size or CHUNK_SIZE
        )

    @cached_property
    def upload(self) -> UploadCheck:
        """Imports with the revocation check on upload (``commit_checked``)."""
        from certwarden.services.revocation import UploadCheck

        return UploadCheck(self.inventory, self.revocation)

    @cached_property
    def tls(self) -> TlsGuard:
        """The client-side revocation check for TLS connections (services/tls/guard.py)."""
        from certwarden.services.tls import TlsGuard

        return TlsGuard(self.db, self.clock, self.revocation)

    @cached_property
    def connections(self) -> ConnectionRegistry:
        """Long-lived TLS connections, re-checked by ``tick`` (the server loop)."""
        from certwarden.services.tls.connections import ConnectionRegistry

        return ConnectionRegistry(self.tls, self.db, self.clock)

    @cached_property
    def syslog(self) -> SyslogForwarder:
        from certwarden.services.tls.syslog import SyslogForwarder

        return SyslogForwarder(
            self.db, self.clock, self.tls, self.connections, hostname=platform.node() or "-"
        )

    @cached_property
    def probe(self) -> ProbeService:
        from certwarden.services.tls.probe import ProbeService

        return ProbeService(self.db, self.clock, self.tls, self.revocation, self.inventory)

    @cached_property
    def endpoints(self) -> EndpointService:
        from certwarden.services.tls.endpoints import EndpointService

        return EndpointService(self.db, self.clock, self.probe, self.inventory, self.revocation)

    @cached_property
    def cluster(self) -> ClusterService:
        """This instance among those sharing the database: its node and job leases."""
        from certwarden.services.cluster import ClusterService

        lease = timedelta(seconds=self.config.lease_seconds)
        return ClusterService(self.db, self.clock, lease=lease)

    @cached_property
    def keeper(self) -> LeaseKeeper:
        """Renews the lease of the job in progress while it outlasts the lease.
        Off on SQLite: one instance, nobody to take a job over."""
        from certwarden.services.cluster.keeper import LeaseKeeper

        return LeaseKeeper(self.cluster, self.clock, active=self.db.dialect != "sqlite")

    @cached_property
    def ari(self) -> AriService:
        """ACME Renewal Information (RFC 9773): the CA's suggested renewal windows."""
        from certwarden.services.ari import AriService

        return AriService(self.db, self.clock)

    @cached_property
    def changes(self) -> Changes:
        """Every administrator's change, with its audit entry (UI, API and CLI alike)."""
        from certwarden.services.changes import Changes

        return Changes(self)

    def close(self) -> None:
        if "syslog" in self.__dict__:
            self.syslog.close("certwarden is shutting down")
        self.db.dispose()


def prepare_data_dir(directory: Path) -> list[str]:
    """Create ``directory`` 0700, or tighten an existing one that others can enter.

    Returns (and logs as warnings) what was tightened.
    """
    try:
        # mkdir's mode is masked by the umask, which can only take bits away.
        directory.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the data directory {directory}: {exc.strerror}"
        ) from exc
    if mode & 0o077 == 0:
        return []
    try:
        directory.chmod(DATA_DIR_MODE)
    except OSError as exc:
        note = (
            f"the data directory {directory} is open to other users (mode {mode:04o}) "
            f"and could not be tightened: {exc.strerror}"
        )
    else:
        note = (
            f"tightened the permissions of the data directory {directory} from "
            f"{mode:04o} to {DATA_DIR_MODE:04o} (it holds the secret file and the password hashes)"
        )
    logging.getLogger("certwarden.storage").warning("%s", note)
    return [note]


def instance_lock_directory(config: AppConfig) -> Path | None:
    """Where ``serve`` locks its SQLite database (the data directory, or the directory
    of a SQLite file given by URL); None for other databases (PostgreSQL: many
    instances share one). The directory is created when it is the data directory."""
    if not config.database_url:
        prepare_data_dir(config.data_dir)
        return config.data_dir
    path = sqlite_file(config.database_url)
    return path.parent if path is not None else None


def build_app(config: AppConfig, *, clock: Clock | None = None, migrate: bool = True) -> App:
    """Build the app; create the data directory and bring the schema up to date."""
    if clock is None:
        clock = ManualClock(config.fixed_now) if config.fixed_now else SystemClock()
    url = config.database_url
    if not url:
        prepare_data_dir(config.data_dir)
        url = default_database_url(config.data_dir)
    database = Database(url, idle_transaction_seconds=config.idle_transaction_timeout)
    app = App(config, clock, database)
    if migrate:
        database.upgrade()
        _seal_clear_secrets(app)
    return app


def _seal_clear_secrets(app: App) -> None:
    """An SMTP password stored in clear text (before sealing) is sealed now.

    A cheap read first: the mail stack is loaded only when there is one.
    """
    from certwarden.core.keys import is_sealed
    from certwarden.errors import StorageError
    from certwarden.services.shared.settings_store import load_section

    try:
        with app.db.session() as s:
            password = (load_section(s, "smtp") or {}).get("password")
        if password and not is_sealed(password):
            app.outbox.seal_clear_password()
    except StorageError as exc:  # a read-only database: serve anyway, say so
        logging.getLogger("certwarden.storage").warning(
            "could not seal the stored SMTP password: %s", exc.diagnostics()[:300]
        )
