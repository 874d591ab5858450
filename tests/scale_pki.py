"""Many leaves of one issuing CA behind a real ``openssl ocsp``, built fast.

For the cluster's scale test and ``bench/cluster_scale.py``: one leaf key for
all (key generation is not what is measured), one issuing CA, every tenth
leaf revoked (keyCompromise) in the responder's ``index.txt``, a delegated
responder certificate; the files written once into a directory, and the
responder started on the port the leaves' AIA names (readiness is a real OCSP
request, never a bare TCP connect).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certwarden.demo.devpki import DevCA
from tests.ocsp_responders import (
    IndexEntry,
    OpensslResponder,
    ResponderIndex,
    free_port,
    start_openssl_responder,
    write_key,
    write_pem,
)

__all__ = ["ScalePki", "build_scale_pki"]

DAY = timedelta(days=1)


@dataclass
class ScalePki:
    directory: Path
    ca: DevCA
    leaves: list[x509.Certificate]
    revoked: set[int]  # serial numbers
    port: int

    @property
    def chain(self) -> Path:
        return self.directory / "chain.pem"

    @property
    def bundle(self) -> Path:
        return self.directory / "leaves.pem"

    def start_responder(self, multi: int = 2) -> OpensslResponder:
        return start_openssl_responder(
            index=self.directory / "index.txt",
            ca=self.directory / "ca.pem",
            signer=self.directory / "responder.pem",
            signer_key=self.directory / "responder.key",
            probe_cert=self.leaves[1],
            probe_issuer=self.ca.cert,
            multi=multi,
            ndays=1,
            port=self.port,
        )


def build_scale_pki(directory: Path, now: datetime, leaves: int) -> ScalePki:
    """``leaves`` certificates valid at ``now`` (the responder stamps the wall clock)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    root = DevCA.root("Scale Root", not_before=now - 400 * DAY, not_after=now + 3650 * DAY)
    ca = root.child_ca("Scale Issuing CA", not_before=now - 300 * DAY, not_after=now + 1800 * DAY)
    responder = ca.issue_ocsp_responder(
        "Scale OCSP", not_before=now - DAY, not_after=now + 300 * DAY
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certs = [
        ca.issue(
            f"device{i:06d}.scale.test",
            not_before=now - 10 * DAY,
            not_after=now + 200 * DAY,
            ocsp_url=url,
            key=key,
        ).cert
        for i in range(leaves)
    ]
    revoked = {c.serial_number for i, c in enumerate(certs) if i % 10 == 0}
    ResponderIndex(
        [
            IndexEntry(c, now - DAY, "keyCompromise")
            if c.serial_number in revoked
            else IndexEntry(c)
            for c in certs
        ]
    ).write(directory / "index.txt")
    write_pem(directory / "ca.pem", ca.cert)
    write_pem(directory / "chain.pem", ca.cert, root.cert)
    write_pem(directory / "responder.pem", responder.cert)
    write_key(directory / "responder.key", responder)
    write_pem(directory / "leaves.pem", *certs)
    return ScalePki(directory, ca, certs, revoked, port)
