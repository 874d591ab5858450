"""Shared CLI plumbing: building the app once per command, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from certwarden.composition import App, build_app, load_config

__all__ = ["CliState", "console", "console_err", "get_app", "print_json"]

# No highlighting and no :emoji: codes: what is printed is what the data says
# (values are escaped with _safe.safe or printed as rich.text.Text).
console = Console(highlight=False, emoji=False)
console_err = Console(stderr=True, highlight=False, emoji=False)


@dataclass
class CliState:
    data_dir: Path | None = None
    database_url: str | None = None
    _app: App | None = field(default=None, repr=False)

    def app(self) -> App:
        if self._app is None:
            self._app = build_app(
                load_config(data_dir=self.data_dir, database_url=self.database_url)
            )
        return self._app


def get_app(ctx: typer.Context) -> App:
    """The wired :class:`App` for this command (built on first use)."""
    state = ctx.find_root().obj
    if not isinstance(state, CliState):  # invoked without the root callback (tests)
        state = CliState()
        ctx.find_root().obj = state
    app = state.app()
    ctx.call_on_close(app.close)
    return app


def print_json(value: Any) -> None:
    """Stable JSON on stdout: sorted keys, two-space indent, UTF-8."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
