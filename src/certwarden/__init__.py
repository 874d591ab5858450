"""certwarden: keeps watch over X.509 certificates.

Layers (imports only ever point down):

- ``certwarden.core``: pure logic (certificate facts, parsing, expiry rules, OCSP
  request building and response validation, revocation policy). No I/O, no clock.
- ``certwarden.adapters``: one module per outside system (SQL, HTTP, SMTP, files).
- ``certwarden.services``: use cases built from the two (imports, monitor runs, checks).
- ``certwarden.composition``: the one place that builds everything from settings
  and reads the wall clock.
- ``certwarden.interfaces``: CLI, REST API and web UI.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
