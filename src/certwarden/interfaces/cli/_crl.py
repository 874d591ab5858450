"""The ``certwarden crl`` command group: ``show`` and ``verify`` a saved CRL, offline;
``show URL`` fetches one first, and ``list`` (``_crl_service``) shows those certwarden holds.

``verify`` and ``show FILE`` touch neither the network nor the database. Any bytes give a clear error
naming the file (never a traceback). ``verify`` exits 0 only when the CRL is
trusted (and, with ``--cert``, gives a validated answer for the certificate),
printing every reason otherwise, like ``certwarden ocsp verify-response``.
Other ``crl`` commands attach themselves to :data:`crl_app`.

Text from the CRL (names, URIs) is printed without markup and with control
characters escaped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509

from certwarden.core.crl import Crl, CrlParseError, load_crl
from certwarden.core.crl.offline import CrlVerdict, judge_saved_crl
from certwarden.core.ocsp.results import describe, iso_z
from certwarden.core.parsing import load_certificates
from certwarden.errors import InputError
from certwarden.interfaces.cli._context import (
    console,
    get_app,
    parse_at,
    print_json,
    read_certificates,
    read_file,
)

__all__ = ["crl_app", "register"]

crl_app = typer.Typer(
    help="CRL tools: show or verify a saved certificate revocation list.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    # Importing a command module attaches its commands to crl_app.
    from certwarden.interfaces.cli import _crl_service  # noqa: F401

    app.add_typer(crl_app, name="crl")


def _clean(text: str) -> str:
    """Control characters (and DEL) as \\x escapes: CRL text is data."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _say(text: str) -> None:
    console.print(_clean(text), markup=False, soft_wrap=True)


def _load(path: Path) -> Crl:
    return load_crl(read_file(path, "CRL file"), source=str(path))


_URL_SCHEMES = ("http://", "https://", "ldap://", "ldaps://")


@crl_app.command("show")
def show_cmd(
    ctx: typer.Context,
    where: Annotated[
        str,
        typer.Argument(
            metavar="FILE|URL", help="The CRL (DER or PEM), or an http(s):// or ldap:// URL."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print what a CRL says (issuer, number, times, IDP, entries), without judging it.

    A URL is fetched now (the Certificate Revocation settings' size cap and
    timeout); nothing is stored."""
    crl_file = Path(where)
    try:
        if where.lower().startswith(_URL_SCHEMES):
            crl = get_app(ctx).revocation.fetch_crl(where)
        else:
            crl = _load(crl_file)
    except CrlParseError as exc:
        if as_json:
            print_json({"file": where, "error": exc.problem, "reason": str(exc.reason)})
            raise typer.Exit(1) from exc
        raise
    if as_json:
        print_json({"file": where, **crl.to_json()})
        return
    _say(f"{where}: contents only, not verified (judge it with `certwarden crl verify`)")
    _print_crl(crl.to_json(entries=False))
    _say(f"entries: {len(crl.index)}")
    # One entry at a time (a CRL of a million entries is not held as a list),
    # written plainly: every part is certwarden's own text (hex, times, reason
    # names), and rich's per-line layout would take minutes for a million.
    out = sys.stdout
    for entry in crl.index.entries():
        extra = f", invalid since {iso_z(entry.invalidity_date)}" if entry.invalidity_date else ""
        out.write(f"  {entry.serial:x}  {iso_z(entry.revoked_at)}  {entry.reason or '-'}{extra}\n")
    out.flush()


def _print_crl(data: dict[str, Any]) -> None:
    _say(f"issuer: {data['issuer']}")
    kind = (
        f"delta of #{data['delta_base_number']}"
        if data["delta_base_number"] is not None
        else "complete"
    )
    _say(f"number: {data['number'] if data['number'] is not None else '-'} ({kind})")
    _say(f"this update: {data['this_update']}, next update: {data['next_update'] or '-'}")
    _say(f"signature: {data['signature_algorithm']}")
    _say(f"sha256: {data['sha256']}")
    idp = data["issuing_distribution_point"]
    if idp is None:
        _say("issuing distribution point: - (covers every certificate of the issuer)")
    else:
        only = [
            k.removeprefix("only_contains_")
            for k, v in idp.items()
            if k.startswith("only_contains") and v
        ]
        _say(
            "issuing distribution point: "
            + (", ".join(idp["full_name"]) or idp["relative_name"] or "(no name)")
            + (f"; only {', '.join(only)}" if only else "")
            + (
                f"; reasons {', '.join(idp['only_some_reasons'])}"
                if idp["only_some_reasons"]
                else ""
            )
            + ("; indirect" if idp["indirect_crl"] else "")
        )
    if data["freshest_crl"]:
        _say(f"delta CRLs at: {', '.join(data['freshest_crl'])}")
    if data["unknown_critical_extensions"]:
        _say(f"unknown critical extensions: {', '.join(data['unknown_critical_extensions'])}")


@crl_app.command("verify")
def verify_cmd(
    crl_file: Annotated[Path, typer.Argument(metavar="FILE", help="The CRL (DER or PEM).")],
    issuer: Annotated[
        list[Path],
        typer.Option(
            "--issuer", help="The CA certificate whose CRL this is (repeat: several CAs)."
        ),
    ],
    cert: Annotated[
        Path | None,
        typer.Option("--cert", help="Also give the CRL's answer for this certificate."),
    ] = None,
    delta: Annotated[
        list[Path] | None,
        typer.Option("--delta", help="A delta CRL to apply on top (RFC 5280 5.2.4)."),
    ] = None,
    crl_issuer: Annotated[
        list[Path] | None,
        typer.Option("--crl-issuer", help="An indirect CRL issuer's certificate (RFC 5280 6.3.3)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Judge as of this ISO-8601 time (default: now)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable verdict.")] = False,
) -> None:
    """Judge a saved CRL offline. Exit code 0 only when it is trusted."""
    now = parse_at(at)
    crl = _load(crl_file)
    deltas = [_load(p) for p in delta or []]
    issuers = read_certificates(issuer, "issuer certificate")
    target: x509.Certificate | None = None
    if cert is not None:
        loaded = load_certificates(read_file(cert, "certificate"), str(cert)).certificates
        if len(loaded) != 1:
            raise InputError(f"{cert}: holds {len(loaded)} certificates; --cert takes exactly one")
        target = loaded[0]
    verdict = judge_saved_crl(
        crl,
        issuers=issuers,
        now=now,
        cert=target,
        deltas=deltas,
        crl_issuers=read_certificates(crl_issuer or [], "CRL issuer certificate"),
    )
    if as_json:
        print_json({"file": str(crl_file), **verdict.to_json()})
    else:
        _print_verdict(crl_file, verdict)
    if not verdict.trusted:
        raise typer.Exit(1)


def _print_verdict(path: Path, verdict: CrlVerdict) -> None:
    data = verdict.to_json()
    word = "TRUSTED" if verdict.trusted else "NOT TRUSTED"
    _say(f"{path}: {word} at {data['at']}")
    _print_crl(data["crl"])
    _say(f"entries: {data['crl']['entry_count']}")
    if data["signer"]:
        _say(f"signed by: {data['signer']} (sha256 {data['signer_sha256']})")
    if verdict.certificate is not None:
        result = verdict.certificate
        _say(f"certificate (--cert): {describe(result)}")
    if verdict.problems:
        _say("reasons:")
        for problem in verdict.problems:
            _say(f"  - [{problem.reason.value}] {problem.text}")
