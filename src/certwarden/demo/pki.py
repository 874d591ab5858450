"""The demo PKI: a root, an intermediate, a delegated OCSP responder, leaves and
LSCs with expiries spread from already expired to years away.

Written as files under ``<data dir>/demo-pki`` (keys in ``private/``: throwaway
demo keys, never imported) and imported into stores named ``demo-…``. Built
once; later runs reuse the files, so the demo inventory stays put. Times are
passed in (no clock is read); nothing here starts a server (:mod:`.runtime` does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from certwarden.demo.devpki import DevCA, Issued
from certwarden.services.inventory import ImportReport, InventoryService

__all__ = ["DEMO_OCSP_URL", "DEMO_STORES", "DemoPki", "build_demo_pki", "import_demo"]

DEMO_STORES = {
    "demo-trust": "Demo: root, intermediate and the delegated OCSP responder",
    "demo-servers": "Demo: server certificates",
    "demo-lsc": "Demo: Locally Significant Certificates of phones",
}
DEMO_OCSP_URL = "http://127.0.0.1:8888/ocsp"
# (common name, lifetime already used in days, days still to go)
_LEAVES = (
    ("expired.demo.test", 400, -10),
    ("tomorrow.demo.test", 364, 0.5),
    ("week.demo.test", 360, 5),
    ("month.demo.test", 345, 20),
    ("quarter.demo.test", 320, 45),
    ("half-year.demo.test", 200, 200),
    ("years.demo.test", 30, 1000),
    ("revoked.demo.test", 100, 265),
    ("onhold.demo.test", 100, 265),
)
_LSC_DAYS_LEFT = (-3, 2, 25, 60, 180, 365, 700, 1500)
# The phone whose certificate the demo responder claims not to know (status "unknown").
_LSC_UNKNOWN_TO_RESPONDER = 6


@dataclass(frozen=True)
class DemoPki:
    directory: Path

    @property
    def trust_dir(self) -> Path:
        return self.directory / "trust"

    @property
    def servers_dir(self) -> Path:
        return self.directory / "servers"

    @property
    def lsc_dir(self) -> Path:
        return self.directory / "lsc"

    @property
    def private_dir(self) -> Path:
        return self.directory / "private"

    def manifest(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.directory / "manifest.json").read_text())
        return data


def _write(issued: Issued, public: Path, private: Path, name: str) -> None:
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    (public / f"{name}.pem").write_bytes(issued.cert_pem())
    key = private / f"{name}.key"
    key.write_bytes(issued.key_pem())
    key.chmod(0o600)


def build_demo_pki(directory: Path, now: datetime, *, ocsp_url: str = DEMO_OCSP_URL) -> DemoPki:
    """Create the demo PKI files in ``directory`` unless they exist already."""
    pki = DemoPki(directory)
    if (directory / "manifest.json").exists():
        return pki
    day = timedelta(days=1)
    root = DevCA.root(
        "certwarden Demo Root CA", not_before=now - 400 * day, not_after=now + 7300 * day
    )
    sub = root.child_ca(
        "certwarden Demo Issuing CA", not_before=now - 400 * day, not_after=now + 3650 * day
    )
    responder = sub.issue_ocsp_responder(
        "certwarden Demo OCSP Responder", not_before=now - 30 * day, not_after=now + 335 * day
    )
    _write(root.issued, pki.trust_dir, pki.private_dir, "root-ca")
    _write(sub.issued, pki.trust_dir, pki.private_dir, "issuing-ca")
    _write(responder, pki.trust_dir, pki.private_dir, "ocsp-responder")
    revoked: list[dict[str, object]] = []
    for name, used, left in _LEAVES:
        leaf = sub.issue(
            name,
            not_before=now - used * day,
            not_after=now + left * day,
            sans=[name],
            ocsp_url=ocsp_url,
        )
        _write(leaf, pki.servers_dir, pki.private_dir, name)
        if name.startswith(("revoked", "onhold")):
            revoked.append(
                {
                    "serial": format(leaf.cert.serial_number, "x"),
                    "reason": "keyCompromise" if name.startswith("revoked") else "certificateHold",
                    "revoked_at": (now - 3 * day).isoformat(),
                }
            )
    unknown: list[str] = []
    for index, left in enumerate(_LSC_DAYS_LEFT, start=1):
        lsc = sub.issue(
            f"SEP00AABBCC{index:04d}",
            not_before=now - 30 * day,
            not_after=now + left * day,
            ocsp_url=ocsp_url,
        )
        _write(lsc, pki.lsc_dir, pki.private_dir, f"phone-{index:02d}")
        if index == _LSC_UNKNOWN_TO_RESPONDER:
            unknown.append(format(lsc.cert.serial_number, "x"))
    (directory / "manifest.json").write_text(
        json.dumps(
            {
                "created_at": now.isoformat(),
                "ocsp_url": ocsp_url,
                "revoked": revoked,
                # Serials the demo OCSP responder answers "unknown" for.
                "unknown": unknown,
            },
            indent=2,
        )
    )
    return pki


def import_demo(inventory: InventoryService, pki: DemoPki) -> list[ImportReport]:
    """Import the demo PKI into the ``demo-…`` stores (duplicates are reported, not doubled)."""
    for name, description in DEMO_STORES.items():
        inventory.ensure_store(name, description)
    return [
        inventory.import_paths([pki.trust_dir], store="demo-trust", how="demo"),
        inventory.import_paths([pki.servers_dir], store="demo-servers", how="demo"),
        inventory.import_paths([pki.lsc_dir], store="demo-lsc", lsc=True, how="demo"),
    ]
