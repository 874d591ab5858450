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
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from certwarden.errors import CertwardenError, InvalidFieldsError
from certwarden.interfaces.cli import (
    _alerts,
    _ari,
    _audit,
    _channels,
    _cluster,
    _crl,
    _demo,
    _inventory,
    _mail,
    _monitor,
    _ocsp,
    _revocation,
    _serve,
    _thresholds,
    _tls,
    _users,
)
from certwarden.interfaces.cli._context import CliState, console_err
from certwarden.interfaces.cli._help import plain_help
from certwarden.interfaces.cli._options import fields_failed
from certwarden.interfaces.cli._safe import neutralise, safe

# Field names of the services -> what the CLI calls them, for errors no command
# mapped itself (settings commands map their own: MONITOR_FLAGS, SMTP_FLAGS ...).
CLI_FIELDS = {
    "username": "USERNAME",
    "password": "the password (--password-env, --password-file or the prompt)",
    "current_password": "the current password",
    "role": "--role",
    "name": "--name",
}


class _Root(TyperGroup):
    """Catches certwarden errors once, for every command, and prints their diagnostics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_help(self)  # option names whole, types as words (see _help.py)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ClickException as exc:
            # A usage error may quote what was typed: no control character reaches the terminal.
            exc.message = neutralise(exc.message, multiline=True)
            raise
        except InvalidFieldsError as exc:
            # Fields a command did not map itself (users, tokens): named as the CLI names them.
            raise fields_failed(exc, CLI_FIELDS) from exc
        except CertwardenError as exc:
            console_err.print(
                f"[bold red]error:[/] {safe(exc.diagnostics(), multiline=True)}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=_Root,
    name="certwarden",
    help="Keeps watch over X.509 certificates: inventory, expiry notices, OCSP revocation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
_mail.register(app)
_alerts.register(app)
_ocsp.register(app)
_revocation.register(app)
_serve.register(app)
_tls.register(app)
_users.register(app)
_ari.register(app)
_audit.register(app)
_cluster.register(app)
_thresholds.register(app)
_channels.register(app)


def main() -> None:
    """Console entry point."""
    app()
