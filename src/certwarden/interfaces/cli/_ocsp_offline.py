"""``certwarden ocsp verify-response`` and ``certwarden ocsp show``: offline tools.

Both read a saved DER response (the evidence a check stores, or what an
administrator captured during an incident) and never touch the network or
the database. Neither ever shows a traceback for bad bytes: unreadable input
is a clear error naming the file. The judging itself is
:func:`certwarden.core.ocsp.offline.judge_saved_response`.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509

from certwarden.core.ocsp import MalformedResponseError, parse_response
from certwarden.core.ocsp.offline import OfflineVerdict, describe_response, judge_saved_response
from certwarden.core.parsing import load_certificates
from certwarden.errors import InputError, ParseError
from certwarden.interfaces.cli._context import (
    console,
    parse_at,
    print_json,
    read_certificates,
    read_file,
)
from certwarden.interfaces.cli._ocsp import ocsp_app
from certwarden.interfaces.cli._safe import neutralise, safe

_PEM_RESPONSE = re.compile(rb"-----BEGIN OCSP RESPONSE-----(.*?)-----END OCSP RESPONSE-----", re.S)


def _say(text: str, *, markup: bool = False) -> None:
    # soft_wrap: long hashes and names stay on one line, whatever the terminal width.
    # Plain text (markup off) still has its control characters made visible;
    # a markup line escapes its values itself (_safe.safe).
    console.print(text if markup else neutralise(text), markup=markup, soft_wrap=True)


def _response_bytes(path: Path) -> bytes:
    """The DER of a saved response (a PEM "OCSP RESPONSE" block is accepted too)."""
    data = read_file(path, "response file")
    match = _PEM_RESPONSE.search(data)
    if match:
        try:
            return base64.b64decode(b"".join(match.group(1).split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ParseError(
                path, f"the OCSP RESPONSE PEM block has broken base64 ({exc})"
            ) from exc
    return data


@ocsp_app.command("verify-response")
def verify_response_cmd(
    response: Annotated[Path, typer.Argument(help="The saved OCSP response (DER).")],
    issuer: Annotated[
        list[Path],
        typer.Option(
            "--issuer",
            help="A CA certificate the response may answer for (repeat: a trust store).",
        ),
    ],
    cert: Annotated[
        Path | None,
        typer.Option("--cert", help="Also check the response answers for this certificate, fresh."),
    ] = None,
    trusted_responder: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-responder",
            help="A designated OCSP signing certificate (Trusted Responder Model).",
        ),
    ] = None,
    other: Annotated[
        list[Path] | None,
        typer.Option(
            "--other",
            help="Untrusted certificates to search for the signer (e.g. a delegated "
            "responder the response omits); they must still be authorised.",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Judge as of this ISO-8601 time (default: now)."),
    ] = None,
    allow_legacy: Annotated[
        bool,
        typer.Option(
            "--allow-legacy-signatures",
            help="Accept SHA-1 signatures (response and responder certificate); MD5 never.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable verdict.")] = False,
) -> None:
    """Judge a saved OCSP response offline. Exit code 0 only when it is trusted."""
    now = parse_at(at)
    der = _response_bytes(response)
    issuers = read_certificates(issuer, "issuer certificate")
    target: x509.Certificate | None = None
    if cert is not None:
        loaded = load_certificates(read_file(cert, "certificate"), str(cert)).certificates
        if len(loaded) != 1:
            raise InputError(f"{cert}: holds {len(loaded)} certificates; --cert takes exactly one")
        target = loaded[0]
    verdict = judge_saved_response(
        der,
        issuers=issuers,
        now=now,
        cert=target,
        trusted_responders=read_certificates(
            trusted_responder or [], "trusted responder certificate"
        ),
        other_certs=read_certificates(other or [], "certificate"),
        accept_legacy_signatures=allow_legacy,
    )
    if as_json:
        print_json({"file": str(response), **verdict.to_json()})
    else:
        _print_verdict(response, verdict)
    if not verdict.trusted:
        raise typer.Exit(1)


def _print_verdict(path: Path, verdict: OfflineVerdict) -> None:
    data = verdict.to_json()
    word = "[bold green]TRUSTED[/]" if verdict.trusted else "[bold red]NOT TRUSTED[/]"
    _say(f"{safe(path)}: {word} at {safe(data['at'])}", markup=True)
    if verdict.parsed is not None:
        _print_response(describe_response(verdict.parsed), judged=verdict)
    if verdict.certificate is not None:
        result = verdict.certificate
        _say(
            f"certificate (--cert): {result.status.value}"
            + (f" ({result.reason.value})" if result.reason else "")
            + (f" — {result.detail}" if result.detail else "")
        )
    if verdict.problems:
        _say("reasons:")
        for problem in verdict.problems:
            _say(f"  - [{problem.reason.value}] {problem.text}")
    for note in verdict.notes:
        _say(f"note: {note}")


def _print_response(data: dict[str, Any], judged: OfflineVerdict | None = None) -> None:
    _say(f"response status: {data['response_status']}")
    if data["response_status"] != "successful":
        return
    rid = data["responder_id"]
    responder = f"name {rid['name']}" if rid["by"] == "name" else f"key hash {rid['key_hash']}"
    _say(f"responder: {responder}")
    _say(f"produced at: {data['produced_at']}")
    _say(f"signature: {data['signature_algorithm']}")
    if data["nonce"]:
        _say(f"nonce: {data['nonce']}")
    for index, single in enumerate(data["responses"], start=1):
        cid = single["cert_id"]
        status = single["status"] + (" (on hold)" if single["on_hold"] else "")
        trusted = ""
        if judged is not None and index <= len(judged.singles):
            result = judged.singles[index - 1].result
            trusted = " (trusted)" if result is not None and result.validated else " (NOT trusted)"
        _say(f"single response #{index}: says {status}{trusted}")
        _say(
            f"  CertID: serial {cid['serial']}, {cid['hash_algorithm']}, issuer name hash "
            f"{cid['issuer_name_hash']}, issuer key hash {cid['issuer_key_hash']}",
        )
        _say(f"  this update: {single['this_update']}, next update: {single['next_update']}")
        if single["revoked_at"]:
            _say(
                f"  revoked at: {single['revoked_at']}, reason: {single['revocation_reason'] or '-'}"
            )
        if judged is not None and index <= len(judged.singles):
            verdict = judged.singles[index - 1]
            result = verdict.result
            if result is not None and result.validated:
                _say(f"  signer: {result.trust_model} (sha256 {result.signer_sha256})")
            for note in verdict.notes:
                _say(f"  freshness: {note}")
    for cert in data["certificates"]:
        _say(
            f"included certificate: {cert['subject']} issued by {cert['issuer']}, serial "
            f"{cert['serial']}, valid {cert['not_before']} to {cert['not_after']}, EKU "
            f"{', '.join(cert['extended_key_usage']) or '-'}, sha256 {cert['sha256']}",
        )


@ocsp_app.command("show")
def show_cmd(
    response: Annotated[Path, typer.Argument(help="The saved OCSP response (DER).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print what a saved OCSP response says, without judging it."""
    der = _response_bytes(response)
    try:
        parsed = parse_response(der)
    except MalformedResponseError as exc:
        if as_json:
            print_json({"file": str(response), "error": f"not a readable OCSP response: {exc}"})
            raise typer.Exit(1) from exc
        raise ParseError(response, f"not a readable OCSP response: {exc}") from exc
    data = describe_response(parsed)
    if as_json:
        print_json({"file": str(response), **data})
        return
    _say(
        f"{response}: contents only, not verified (judge it with `certwarden ocsp verify-response`)"
    )
    _print_response(data)
