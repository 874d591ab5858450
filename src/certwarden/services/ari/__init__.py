"""ACME Renewal Information (RFC 9773): when the CA wants a certificate renewed.

* :mod:`.records` — RenewalInfo (one certificate's window), AriReport (a round);
* :mod:`.service` — AriService: directories per store or issuer, rounds
  (``tick``), reads.
"""

from certwarden.services.ari.records import AriReport, RenewalInfo
from certwarden.services.ari.service import SECTION, AriService

__all__ = ["SECTION", "AriReport", "AriService", "RenewalInfo"]
