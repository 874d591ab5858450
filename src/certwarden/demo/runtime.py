"""``serve --demo``: the demo PKI, its OCSP responder and a captured-mail inbox,
wired into the real services so a newcomer sees them work within a minute.

    demo = start_demo(data_dir=..., clock=..., inventory=..., monitor=...,
                      revocation=..., outbox=...)
    ...                     # the server runs; the loop checks and delivers
    demo.stop()

What it does, every start: builds the demo PKI once (``DATA_DIR/demo-pki``)
and imports it into the ``demo-…`` stores; starts the demo OCSP responder on
loopback (on the port the certificates name when it is free, else on another
one, which the Certificate Revocation settings then name as the configured
URI); starts a real SMTP server on loopback and points the outbox at it; runs
the Certificate Expiry Monitor once. The settings are written only once both
servers are up; when the start fails after that (the monitor run, or the web
server that was to follow, see :meth:`DemoRuntime.undo_settings`) they are
put back as they were, so they never name a demo server that is not running. On the first start only (a fresh demo
PKI), it also turns on OCSP, the scheduled revocation check and e-mail
notices, so later changes an administrator makes are kept.

It builds no service of its own: it is handed the composition root's, and the
composition root never imports it (only the ``serve`` command does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from certwarden.adapters.db.models import Setting
from certwarden.clock import Clock
from certwarden.core.revocation_settings import REVOCATION_SECTION
from certwarden.demo.mail import DemoMailbox
from certwarden.demo.pki import DemoPki, build_demo_pki, import_demo
from certwarden.demo.responder import DemoResponder, load_responder_keys
from certwarden.services.inventory import InventoryService
from certwarden.services.monitor import MonitorService
from certwarden.services.revocation import RevocationService
from certwarden.services.shared.outbox import SMTP_SECTION, OutboxService
from certwarden.services.shared.settings_store import load_section, save_section

__all__ = ["DEMO_RECIPIENT", "DemoRuntime", "start_demo"]

log = logging.getLogger("certwarden.demo")

DEMO_RECIPIENT = "pki-team@demo.certwarden.test"
DEMO_SENDER = "certwarden-demo@localhost.localdomain"


@dataclass
class DemoRuntime:
    pki: DemoPki
    responder: DemoResponder
    mailbox: DemoMailbox
    fresh: bool
    notes: list[str] = field(default_factory=list)
    # The settings sections as they were before this start wrote them.
    previous: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    revocation: RevocationService | None = None

    def stop(self) -> None:
        self.responder.stop()
        self.mailbox.stop()

    def undo_settings(self) -> None:
        """Put back the settings this start wrote (a start that then failed)."""
        if self.revocation is None or not self.previous:
            return
        service = self.revocation
        with service.db.session() as s:
            for section, value in self.previous.items():
                if value is not None:
                    save_section(s, section, value, service.clock.now())
                elif (row := s.get(Setting, section)) is not None:
                    s.delete(row)  # it had not been written before: back to the defaults
        self.previous = {}
        log.info("demo: the settings it wrote were put back (the start did not complete)")


def start_demo(
    *,
    data_dir: Path,
    clock: Clock,
    inventory: InventoryService,
    monitor: MonitorService,
    revocation: RevocationService,
    outbox: OutboxService,
) -> DemoRuntime:
    directory = data_dir / "demo-pki"
    fresh = not (directory / "manifest.json").exists()
    pki = build_demo_pki(directory, clock.now())
    import_demo(inventory, pki)
    notes: list[str] = []

    wanted = str(pki.manifest().get("ocsp_url") or "")
    wanted_port = urlsplit(wanted).port or 0
    keys = load_responder_keys(pki)
    try:
        responder = DemoResponder(keys, clock, port=wanted_port).start()
    except OSError:
        responder = DemoResponder(keys, clock, port=0).start()
    try:
        mailbox = DemoMailbox(clock).start()
    except BaseException:
        responder.stop()
        raise
    runtime = DemoRuntime(pki, responder, mailbox, fresh, notes, revocation=revocation)
    with revocation.db.session() as s:
        runtime.previous = {name: load_section(s, name) for name in _WRITTEN}
    try:
        _configure(runtime, wanted, monitor=monitor, revocation=revocation, outbox=outbox)
        monitor.run_now()
    except BaseException:
        runtime.stop()
        runtime.undo_settings()
        raise
    return runtime


# The sections _configure writes (what undo_settings puts back).
_WRITTEN = (SMTP_SECTION, "monitor", REVOCATION_SECTION)


def _configure(
    runtime: DemoRuntime,
    wanted_url: str,
    *,
    monitor: MonitorService,
    revocation: RevocationService,
    outbox: OutboxService,
) -> None:
    responder, mailbox, notes = runtime.responder, runtime.mailbox, runtime.notes
    outbox.update_smtp_settings(
        {
            "host": "127.0.0.1",
            "port": mailbox.port,
            "security": "none",
            "username": "",
            "password": "",
            "from_address": DEMO_SENDER,
        }
    )
    notes.append(f"Captured-mail SMTP server: 127.0.0.1:{mailbox.port}.")
    changes: dict[str, object] = {}
    if runtime.fresh:
        changes.update(
            enable_ocsp=True,
            enable_revocation_check=True,
            check_every=1,
            check_every_unit="hours",
        )
        monitor.update_settings(
            {"email_enabled": True, "emails": DEMO_RECIPIENT, "lsc_enabled": True}
        )
    if responder.url == wanted_url:
        if runtime.fresh:
            changes.update(responder_source="certificate", configured_uri="")
        notes.append(f"Demo OCSP responder: {responder.url} (the URI in the demo certificates).")
    else:
        # The certificates' port is taken: name the responder's real address instead.
        changes.update(responder_source="configured", configured_uri=responder.url)
        notes.append(
            f"Demo OCSP responder: {responder.url} (set as the configured OCSP URI, because "
            f"{wanted_url} was not free)."
        )
    if changes:
        revocation.update_settings(changes)
    log.info("demo ready: %s", " ".join(notes))
