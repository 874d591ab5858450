"""The ``certwarden crl`` command group: the CRLs certwarden knows, and CRL tools.

Only the group lives here; its commands live in their own modules, which
attach themselves to :data:`crl_app` when imported (``_crl_service``: ``list``
and ``show URL``).
"""

from __future__ import annotations

import typer

__all__ = ["crl_app", "register"]

crl_app = typer.Typer(
    help="Certificate Revocation Lists: the ones known, and showing one.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    # Importing a command module attaches its commands to crl_app.
    from certwarden.interfaces.cli import _crl_service  # noqa: F401

    app.add_typer(crl_app, name="crl")
