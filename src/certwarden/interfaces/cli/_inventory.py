"""Inventory commands: stores, import, list, show, export, delete."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from certwarden.core.durations import parse_duration
from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError
from certwarden.interfaces.cli._context import (
    cli_actor,
    console,
    console_err,
    get_app,
    print_json,
)
from certwarden.interfaces.cli._layout import Cell, Col, fit_table, print_fields
from certwarden.interfaces.cli._safe import safe
from certwarden.services.inventory import CertificateRecord, ImportReport, ListFilter

if TYPE_CHECKING:
    from certwarden.composition import App

stores_app = typer.Typer(
    help="Trust stores: list, create, delete, empty (built-in stores: empty only).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(stores_app, name="stores")
    app.command("import")(import_)
    app.command("list")(list_)
    app.command("show")(show)
    app.command("export")(export)
    app.command("delete")(delete)


@stores_app.command("list")
def stores_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List trust stores with their certificate counts."""
    stores = get_app(ctx).inventory.list_stores()
    if as_json:
        print_json([s.to_json() for s in stores])
        return
    cols = [
        Col("store", "name", min_width=12),
        Col("certificates", "key", justify="right"),
        Col("built in", "key"),
        Col("description", "text"),
    ]
    rows = [
        [s.name, str(s.certificates), "yes" if s.builtin else "", s.description] for s in stores
    ]
    console.print(fit_table(console, cols, rows))


@stores_app.command("create")
def stores_create(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="What the store is for.")] = "",
) -> None:
    """Create a trust store."""
    get_app(ctx).changes.create_store(cli_actor(), name, description)
    console.print(f"created store {safe(name)}")


@stores_app.command("delete")
def stores_delete(
    ctx: typer.Context,
    name: str,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete the certificates it holds.")
    ] = False,
) -> None:
    """Delete a trust store (a non-empty one only with --force).

    The appliance's built-in stores (tomcat, tomcat-trust, CallManager, ...) and a
    store a setting names (the trusted-responder store) cannot be deleted: empty them.
    """
    removed = get_app(ctx).changes.delete_store(cli_actor(), name, force=force)
    console.print(
        f"deleted store {safe(name)}" + (f" and its {removed} certificate(s)" if removed else "")
    )


@stores_app.command("empty")
def stores_empty(ctx: typer.Context, name: str) -> None:
    """Delete every certificate a store holds (built-in stores too); the store stays."""
    removed = get_app(ctx).changes.empty_store(cli_actor(), name)
    console.print(f"emptied store {name}: {removed} certificate(s) deleted")


def _password(password_file: Path | None, password_env: str | None) -> bytes | None:
    if password_file and password_env:
        raise typer.BadParameter("give --password-file or --password-env, not both")
    if password_file:
        try:
            return password_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise InputError(
                f"{password_file}: cannot read the password file: {exc.strerror}"
            ) from exc
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise InputError(
                f"environment variable {password_env} (from --password-env) is not set"
            )
        return value.encode()
    return None


def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files and directories (recursive).")],
    store: Annotated[
        str, typer.Option("--store", "-s", help="Target trust store.")
    ] = "tomcat-trust",
    lsc: Annotated[bool, typer.Option("--lsc", help="Mark the certificates as LSCs.")] = False,
    password_file: Annotated[
        Path | None, typer.Option(help="File holding the PKCS#12 password.")
    ] = None,
    password_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the PKCS#12 password.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Store certificates even when the upload check refuses them."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Import certificates (PEM, DER, PKCS#7, PKCS#12). Exit code 1 when any file is rejected."""
    app = get_app(ctx)
    password = _password(password_file, password_env)
    report = _run_import(
        app, paths, store=store, lsc=lsc, password=password, force=force, quiet=as_json
    )
    if as_json:
        print_json(report.to_json())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _run_import(
    app: App,
    paths: list[Path],
    *,
    store: str,
    lsc: bool,
    password: bytes | None,
    force: bool,
    quiet: bool,
) -> ImportReport:
    inventory = app.inventory
    show_bar = sys.stderr.isatty() and not quiet and any(p.is_dir() for p in paths)
    if show_bar:
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console_err,
            transient=True,
        ) as progress:
            total = sum(
                1 for p in paths for f in (p.rglob("*") if p.is_dir() else [p]) if f.is_file()
            )
            task = progress.add_task("import", total=total)
            prepared = inventory.prepare(
                paths,
                store=store,
                lsc=lsc,
                password=password,
                how="cli",
                progress=lambda n: progress.advance(task, n),
            )
    else:
        prepared = inventory.prepare(paths, store=store, lsc=lsc, password=password, how="cli")
    return app.changes.commit_import(cli_actor(), prepared, force=force)


def _print_report(report: ImportReport, *, limit: int = 50) -> None:
    """Each certificate imported (the first ``limit``), every duplicate and rejection."""
    for item in report.imported[:limit]:
        console.print(f"[green]imported[/] #{item.id} {item.role:<12} {safe(item.subject)}")
    if len(report.imported) > limit:
        console.print(
            f"[green]imported[/] ... and {len(report.imported) - limit} more (see certwarden list)"
        )
    for dup in report.duplicates[:limit]:
        console.print(
            f"[yellow]duplicate[/] {safe(dup.subject)} already in {safe(dup.store)} (#{dup.id})"
            f" from {safe(dup.source)}"
        )
    if len(report.duplicates) > limit:
        console.print(f"[yellow]duplicate[/] ... and {len(report.duplicates) - limit} more")
    for note in report.notes:
        console.print(f"[dim]note:[/] {safe(note)}")
    for bad in report.rejected:
        console_err.print(f"[red]rejected[/] {safe(bad.source)}: {safe(bad.problem)}")
    console.print(
        f"{len(report.imported)} imported, {len(report.duplicates)} duplicate(s), "
        f"{len(report.rejected)} rejected, from {report.files} file(s)"
    )


def list_(
    ctx: typer.Context,
    store: Annotated[str | None, typer.Option("--store", "-s", help="Only this store.")] = None,
    lsc: Annotated[
        bool | None, typer.Option("--lsc/--no-lsc", help="Only LSCs / only non-LSCs.")
    ] = None,
    expiring_within: Annotated[
        str | None,
        typer.Option(help="Only certificates not yet expired that expire within this (30d, 12h)."),
    ] = None,
    expired: Annotated[bool, typer.Option("--expired", help="Only expired certificates.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List certificates, soonest expiry first. --expiring-within and --expired combine (OR)."""
    window = None
    if expiring_within is not None:
        try:
            window = parse_duration(expiring_within)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--expiring-within") from exc
    app = get_app(ctx)
    records = app.inventory.list(
        ListFilter(store=store, lsc=lsc, expiring_within=window, expired=expired)
    )
    now = app.clock.now()
    if as_json:
        print_json([r.to_json(now) for r in records])
        return
    console.print(_table(records, now))


LIST_COLUMNS = (
    Col("id", "key", justify="right"),
    Col("store", "name", min_width=8),
    Col("role", "name", min_width=6, optional=2),
    Col("subject", "name", min_width=12, weight=2),
    Col("not after (UTC)", "key"),
    Col("days left", "key", justify="right"),
    Col("revocation", "key"),
    Col("sha256", "key", optional=3),
)


def _table(records: list[CertificateRecord], now: datetime) -> Table:
    rows: list[list[str | Cell]] = []
    for r in records:
        days = r.days_left(now)
        style = "red" if days < 0 else "yellow" if days <= 30 else ""
        rows.append(
            [
                str(r.id),
                r.store + (" (LSC)" if r.is_lsc and r.store != "lsc" else ""),
                r.role,
                r.subject_cn or r.subject,
                iso_z(r.not_after) or "",
                Cell(f"{days:.1f}", style),
                r.revocation_status or "not checked",
                r.sha256[:16],
            ]
        )
    return fit_table(console, LIST_COLUMNS, rows)


def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="ID-or-SHA256")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show every recorded field of one certificate."""
    app = get_app(ctx)
    record = app.inventory.get(ref)
    data = record.to_json(app.clock.now())
    if as_json:
        print_json(data)
        return
    fields: list[tuple[str, str | Cell]] = []
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        fields.append((key, "-" if value is None else str(value)))
    print_fields(console, fields)
    if record.weak_signature:
        console.print(
            f"[yellow]weak signature:[/] signed with {safe(record.signature_algorithm)} "
            "(SHA-1 or MD5); "
            "revocation checks report weak_signature_algorithm unless legacy signatures are "
            "accepted (certwarden revocation settings set --legacy-signatures accept; never in "
            "Common Criteria mode)",
            markup=True,
            highlight=False,
        )


def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="ID-or-SHA256")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="pem or der.")] = "pem",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default stdout).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --output file if it exists.")
    ] = False,
) -> None:
    """Export one certificate as PEM or DER (DER to a file or a pipe, not a terminal)."""
    if fmt not in {"pem", "der"}:
        raise typer.BadParameter(f"{fmt!r} is not a format; use pem or der", param_hint="--format")
    if output is None and fmt == "der" and sys.stdout.isatty():
        raise InputError(
            "DER is binary and stdout is a terminal; give -o FILE, or redirect stdout "
            "(certwarden export --format der ID > cert.der)"
        )
    if output is not None:
        _check_output(output, force=force)
    der = get_app(ctx).inventory.der(ref)
    if fmt == "pem":
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        data = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    else:
        data = der
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        with output.open("wb" if force else "xb") as f:
            f.write(data)
    except FileExistsError as exc:
        raise InputError(f"-o {output}: the file exists; give --force to replace it") from exc
    except OSError as exc:
        raise InputError(f"-o {output}: cannot write the file: {exc.strerror}") from exc
    console_err.print(f"wrote {safe(output)}", soft_wrap=True)


def _check_output(output: Path, *, force: bool) -> None:
    """Refuse, before anything is read or written, an --output that cannot be a new file."""
    if output.is_dir():
        raise InputError(
            f"-o {output}: is a directory; name a file in it (-o {output / 'cert.pem'})"
        )
    parent = output.parent
    if not parent.is_dir():
        raise InputError(f"-o {output}: the directory {parent} does not exist")
    if output.exists() and not force:
        raise InputError(f"-o {output}: the file exists; give --force to replace it")


def delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="ID-or-SHA256")],
) -> None:
    """Delete one certificate."""
    record = get_app(ctx).changes.delete_certificate(cli_actor(), ref)
    console.print(f"deleted #{record.id} {safe(record.subject)} from {safe(record.store)}")
