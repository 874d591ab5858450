"""The demo: a throwaway PKI, its OCSP responder, a captured-mail inbox, and their wiring.

* :mod:`.devpki` — a small throwaway-PKI builder (DevCA), also the base of the tests' FakeCA;
* :mod:`.pki` — the demo's PKI (root, issuing CA, delegated responder, leaves, LSCs) and its import;
* :mod:`.responder` — a real OCSP responder on loopback for the demo PKI;
* :mod:`.mail` — a real SMTP server on loopback that keeps what it receives;
* :mod:`.runtime` — ``serve --demo``: all of the above wired into the real services.

The demo sits beside the composition root, not under it: it may use the
services, adapters and core, and only the ``serve`` and ``demo`` commands (and
the tests) import it; nothing in the product does (import-linter holds it).
Never use its keys for anything real.
"""
