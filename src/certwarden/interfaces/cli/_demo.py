"""``certwarden demo``: a throwaway PKI to try certwarden on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certwarden.demo.pki import build_demo_pki, import_demo
from certwarden.interfaces.cli._context import cli_actor, console, get_app
from certwarden.interfaces.cli._inventory import _table
from certwarden.interfaces.cli._safe import safe
from certwarden.services.inventory import ListFilter

demo_app = typer.Typer(
    help="A demo PKI to try certwarden on (throwaway keys).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")


def _init(ctx: typer.Context, directory: Path | None) -> None:
    app = get_app(ctx)
    target = directory or app.config.data_dir / "demo-pki"
    pki = build_demo_pki(target, app.clock.now())
    reports = import_demo(app.inventory, pki)
    imported = sum(len(r.imported) for r in reports)
    dups = sum(len(r.duplicates) for r in reports)
    if imported:
        app.changes.record(
            cli_actor(), "demo.import", "demo-…", {"imported_count": imported, "pki": str(target)}
        )
    console.print(
        f"demo PKI in {safe(target)}: {imported} certificate(s) imported"
        + (f", {dups} already there" if dups else "")
    )


@demo_app.command("init")
def init(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write the PKI [default: DATA_DIR/demo-pki]."),
    ] = None,
) -> None:
    """Build the demo PKI (once) and import it into the demo-… stores."""
    _init(ctx, directory)


@demo_app.command("run")
def run(ctx: typer.Context) -> None:
    """Build and import the demo PKI, then print the inventory with days to expiry."""
    _init(ctx, None)
    app = get_app(ctx)
    records = [r for r in app.inventory.list(ListFilter()) if r.store.startswith("demo-")]
    console.print(_table(records, app.clock.now()))
