"""The ``certwarden ocsp`` command group: standalone OCSP tools for incidents.

Only the group lives here; its commands live in their own modules, which
attach themselves to :data:`ocsp_app` when imported (``_ocsp_offline``:
``verify-response`` and ``show``).
"""

from __future__ import annotations

import typer

__all__ = ["ocsp_app", "register"]

ocsp_app = typer.Typer(
    help="Standalone OCSP tools: ask a responder, judge or show a saved response.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    # Importing a command module attaches its commands to ocsp_app.
    from certwarden.interfaces.cli import _ocsp_offline  # noqa: F401

    app.add_typer(ocsp_app, name="ocsp")
