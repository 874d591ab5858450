"""Shared CLI plumbing: building the app once per command, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from certwarden.composition import App, AppConfig, build_app, load_config
from certwarden.services.accounts.audit import Actor

__all__ = [
    "CliState",
    "cli_actor",
    "cli_state",
    "console",
    "console_err",
    "get_app",
    "print_json",
]

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)


@dataclass
class CliState:
    data_dir: Path | None = None
    database_url: str | None = None
    _app: App | None = field(default=None, repr=False)

    def config(self) -> AppConfig:
        return load_config(data_dir=self.data_dir, database_url=self.database_url)

    def app(self) -> App:
        if self._app is None:
            self._app = build_app(self.config())
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


def cli_actor() -> Actor:
    """How the audit log names a change made here: ``cli`` and the OS user."""
    return Actor.cli()


def print_json(value: Any) -> None:
    """Stable JSON on stdout: sorted keys, two-space indent, UTF-8."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
