"""The trust-store inventory: stores, importing and issuer linking, reads and deletes.

    from certwarden.services.inventory import InventoryService, ListFilter

Modules, one job each:

* :mod:`.records` — the values (CertificateRecord, StoreInfo, ImportReport ...);
* :mod:`.stores` — trust stores;
* :mod:`.importing` — prepare (parse, no writes) and commit (one transaction);
* :mod:`.pipeline` — the CPU-heavy part of an import, over processes when big;
* :mod:`.bounded` — uploads parsed in a worker process, with a deadline, a few at once;
* :mod:`.issuers` — issuer links, confirmed by the signature;
* :mod:`.reads` — list, look up, export and delete certificates;
* :mod:`.service` — :class:`InventoryService`, the one handle over all of them.

The package knows nothing of revocation, the monitor or the interfaces.
"""

from certwarden.services.inventory.bounded import ParseLimits
from certwarden.services.inventory.records import (
    RECORD_COLUMNS,
    CertificateRecord,
    ImportedCertificate,
    ImportReport,
    ListFilter,
    PreparedCertificate,
    PreparedImport,
    Rejection,
    StoreInfo,
)
from certwarden.services.inventory.service import InventoryService
from certwarden.services.inventory.stores import LSC_STORE

__all__ = [
    "LSC_STORE",
    "RECORD_COLUMNS",
    "CertificateRecord",
    "ImportReport",
    "ImportedCertificate",
    "InventoryService",
    "ListFilter",
    "ParseLimits",
    "PreparedCertificate",
    "PreparedImport",
    "Rejection",
    "StoreInfo",
]
