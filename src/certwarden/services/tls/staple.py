"""A server's stapled OCSP response, judged like any response (RFC 6066 8, RFC 6960).

It must not fetch anything or decide about the connection: it says how the
staple holds up; the guard decides what to make of it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cryptography import x509

from certwarden.core.ocsp import (
    MalformedResponseError,
    NonceMode,
    Reason,
    RevocationResult,
    cert_id_for,
    parse_response,
    verify_parsed,
)
from certwarden.core.tls import PeerChain
from certwarden.services.tls.snapshot import Snapshot

__all__ = ["judge_staple"]


def judge_staple(
    peer: PeerChain, issuer: x509.Certificate, *, now: datetime, snapshot: Snapshot
) -> RevocationResult | None:
    """How the stapled response holds up (None when none was sent).

    The same RFC 6960 validation as any response, minus the nonce (a
    staple is fetched by the server, so it cannot echo ours). The CertID
    hash is the one the staple uses; every other field must match.
    """
    der = peer.stapled_response
    if not der:
        return None
    try:
        parsed = parse_response(der)
    except MalformedResponseError as exc:
        return RevocationResult.could_not_tell(
            Reason.MALFORMED_RESPONSE,
            f"the stapled response could not be parsed: {exc}",
            raw_response=der,
        )
    algorithm = snapshot.revocation.hash_algorithm
    for single in parsed.singles:
        if single.serial_number == peer.leaf.serial_number and single.cert_id is not None:
            algorithm = single.cert_id.hash_algorithm
            break
    (result,) = verify_parsed(
        parsed,
        cert_ids=[cert_id_for(peer.leaf, issuer, algorithm)],
        issuers=[issuer],
        now=now,
        trusted_responders=snapshot.trusted_responders,
        # A staple carries no nonce of ours; freshness as the settings say.
        options=replace(snapshot.options, nonce_mode=NonceMode.OFF),
    )
    return result
