"""The ``certwarden`` command line.

Each command group lives in its own module and registers itself on the root
app here. Errors: every :class:`~certwarden.errors.CertwardenError` is caught
once, in :func:`main`, and printed as its diagnostics.

Exit codes: 0 success, 1 some input rejected (or a check failed), 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from certwarden.errors import CertwardenError
from certwarden.interfaces.cli import (
    _ari,
    _cluster,
    _crl,
    _demo,
    _inventory,
    _monitor,
    _ocsp,
    _revocation,
    _serve,
    _tls,
    _users,
)
from certwarden.interfaces.cli._context import CliState, console_err


class _Root(TyperGroup):
    """Catches certwarden errors once, for every command, and prints their diagnostics."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CertwardenError as exc:
            console_err.print(
                f"[bold red]error:[/] {exc.diagnostics()}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=_Root,
    name="certwarden",
    help="Keeps watch over X.509 certificates: inventory, expiry notices, OCSP revocation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="CERTWARDEN_DATA_DIR",
            help="Directory for the embedded SQLite database and state. [default: ./var]",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="CERTWARDEN_DATABASE_URL",
            help="SQLAlchemy URL of another database (e.g. postgresql+psycopg://...).",
        ),
    ] = None,
) -> None:
    ctx.obj = CliState(data_dir=data_dir, database_url=database_url)


_inventory.register(app)
_crl.register(app)
_demo.register(app)
_monitor.register(app)
_ocsp.register(app)
_revocation.register(app)
_serve.register(app)
_tls.register(app)
_users.register(app)
_ari.register(app)
_cluster.register(app)


def main() -> None:
    """Console entry point."""
    app()
