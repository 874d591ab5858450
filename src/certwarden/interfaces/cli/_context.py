"""Shared CLI plumbing: building the app once per command, consoles, JSON output."""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from cryptography import x509
from rich.console import Console

from certwarden.clock import SystemClock
from certwarden.composition import App, AppConfig, build_app, load_config
from certwarden.core.parsing import load_certificates
from certwarden.errors import InputError
from certwarden.interfaces.cli._safe import neutralise
from certwarden.services.accounts.audit import Actor

__all__ = [
    "CliState",
    "cli_actor",
    "cli_state",
    "console",
    "console_err",
    "get_app",
    "offline_now",
    "parse_at",
    "print_json",
    "read_certificates",
    "read_file",
]

# No highlighting and no :emoji: codes: what is printed is what the data says
# (values are escaped with _safe.safe or printed as rich.text.Text).
log = logging.getLogger("certwarden.storage")
# The SQLite file in the data directory (adapters/db/engine.default_database_url).
DATABASE_FILE = "certwarden.db"

console = Console(highlight=False, emoji=False)
console_err = Console(stderr=True, highlight=False, emoji=False)


@dataclass
class CliState:
    data_dir: Path | None = None
    database_url: str | None = None
    _app: App | None = field(default=None, repr=False)

    def config(self) -> AppConfig:
        return load_config(data_dir=self.data_dir, database_url=self.database_url)

    def app(self) -> App:
        if self._app is None:
            config = self.config()
            database = config.data_dir / DATABASE_FILE
            fresh = not config.database_url and not database.exists()
            self._app = build_app(config)
            if fresh:
                # A mistyped --data-dir, or a command run outside the checkout,
                # would otherwise look like an inventory that lost everything.
                log.warning(
                    "created a new empty database at %s (no database was there; "
                    "give --data-dir or set CERTWARDEN_DATA_DIR for another one)",
                    neutralise(database.resolve()),
                )
        return self._app


def cli_state(ctx: typer.Context) -> CliState:
    """The root options (--data-dir, --database-url) of this command."""
    state = ctx.find_root().obj
    if not isinstance(state, CliState):  # invoked without the root callback (tests)
        state = CliState()
        ctx.find_root().obj = state
    return state


def get_app(ctx: typer.Context) -> App:
    """The wired :class:`App` for this command (built on first use)."""
    app = cli_state(ctx).app()
    ctx.call_on_close(app.close)
    return app


# json.dumps escapes C0 controls; these it would write raw (C1 controls, which
# some terminals obey, and the bidirectional overrides). They can only occur
# inside strings, where a \u escape means the same character.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def cli_actor() -> Actor:
    """How the audit log names a change made here: ``cli`` and the OS user."""
    return Actor.cli()


def print_json(value: Any) -> None:
    """Stable JSON on stdout: sorted keys, two-space indent, UTF-8, no raw controls."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write(_JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


# ----------------------------------------------- offline tools (ocsp/crl verify)


def offline_now() -> datetime:
    """Now for the offline tools: the frozen test time when one is configured, else the
    wall clock (they build no app, so no injected clock)."""
    return load_config().fixed_now or SystemClock().now()


def parse_at(value: str | None) -> datetime:
    """``--at``: an ISO-8601 time with a UTC offset, or now."""
    if value is None:
        return offline_now()
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--at {value!r} is not an ISO-8601 time") from exc
    if when.tzinfo is None:
        raise InputError(f"--at {value!r} needs a UTC offset, e.g. 2026-07-01T00:00Z")
    return when


def read_file(path: Path, what: str) -> bytes:
    """The bytes of ``path``, or an InputError naming the file and the problem."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc


def read_certificates(paths: list[Path], what: str) -> list[x509.Certificate]:
    """Every certificate in ``paths`` (PEM, DER, PKCS#7, PKCS#12 without a password)."""
    out: list[x509.Certificate] = []
    for path in paths:
        out.extend(load_certificates(read_file(path, what), str(path)).certificates)
    return out
