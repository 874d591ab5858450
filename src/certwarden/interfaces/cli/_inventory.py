"""Inventory commands: stores, import, list, show, export, delete."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from certwarden.core.durations import parse_duration
from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError
from certwarden.interfaces.cli._context import console, console_err, get_app, print_json
from certwarden.services.inventory import CertificateRecord, ImportReport, ListFilter

if TYPE_CHECKING:
    from certwarden.composition import App

stores_app = typer.Typer(help="Trust stores: list, create, delete.", no_args_is_help=True)


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
    table = Table("store", "certificates", "built in", "description")
    for s in stores:
        table.add_row(s.name, str(s.certificates), "yes" if s.builtin else "", s.description)
    console.print(table)


@stores_app.command("create")
def stores_create(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="What the store is for.")] = "",
) -> None:
    """Create a trust store."""
    get_app(ctx).inventory.create_store(name, description)
    console.print(f"created store {name}")


@stores_app.command("delete")
def stores_delete(
    ctx: typer.Context,
    name: str,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete the certificates it holds.")
    ] = False,
) -> None:
    """Delete a trust store (a non-empty one only with --force)."""
    removed = get_app(ctx).inventory.delete_store(name, force=force)
    console.print(
        f"deleted store {name}" + (f" and its {removed} certificate(s)" if removed else "")
    )


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
    upload = getattr(app, "upload", None)
    if upload is not None:
        return upload.commit_checked(prepared, force=force)  # type: ignore[no-any-return]
    return inventory.commit(prepared)


def _print_report(report: ImportReport, *, limit: int = 50) -> None:
    """Each certificate imported (the first ``limit``), every duplicate and rejection."""
    for item in report.imported[:limit]:
        console.print(f"[green]imported[/] #{item.id} {item.role:<12} {item.subject}")
    if len(report.imported) > limit:
        console.print(
            f"[green]imported[/] ... and {len(report.imported) - limit} more (see certwarden list)"
        )
    for dup in report.duplicates[:limit]:
        console.print(
            f"[yellow]duplicate[/] {dup.subject} already in {dup.store} (#{dup.id}) from {dup.source}"
        )
    if len(report.duplicates) > limit:
        console.print(f"[yellow]duplicate[/] ... and {len(report.duplicates) - limit} more")
    for note in report.notes:
        console.print(f"[dim]note:[/] {note}")
    for bad in report.rejected:
        console_err.print(f"[red]rejected[/] {bad.source}: {bad.problem}")
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


def _table(records: list[CertificateRecord], now: datetime) -> Table:
    table = Table(
        "id", "store", "role", "subject", "not after (UTC)", "days left", "revocation", "sha256"
    )
    for r in records:
        days = r.days_left(now)
        style = "red" if days < 0 else "yellow" if days <= 30 else ""
        table.add_row(
            str(r.id),
            r.store + (" (LSC)" if r.is_lsc and r.store != "lsc" else ""),
            r.role,
            r.subject_cn or r.subject,
            (iso_z(r.not_after) or "").replace("T", " ").rstrip("Z"),
            f"[{style}]{days:.1f}[/]" if style else f"{days:.1f}",
            r.revocation_status or "not checked",
            r.sha256[:16],
        )
    return table


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
    table = Table("field", "value", show_header=False)
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        table.add_row(key, "-" if value is None else str(value))
    console.print(table)
    if record.weak_signature:
        console.print(
            f"[yellow]weak signature:[/] signed with {escape(record.signature_algorithm)} "
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
) -> None:
    """Export one certificate as PEM or DER."""
    if fmt not in {"pem", "der"}:
        raise typer.BadParameter(f"{fmt!r} is not a format; use pem or der", param_hint="--format")
    der = get_app(ctx).inventory.der(ref)
    if fmt == "pem":
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        data = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    else:
        data = der
    if output is None:
        if fmt == "der" and sys.stdout.isatty():
            raise typer.BadParameter("DER is binary; give -o FILE or redirect stdout")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        console_err.print(f"wrote {output}")


def delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="ID-or-SHA256")],
) -> None:
    """Delete one certificate."""
    record = get_app(ctx).inventory.delete(ref)
    console.print(f"deleted #{record.id} {record.subject} from {record.store}")
