"""The inventory on a real PostgreSQL server (skipped with a reason where none answers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from certwarden.composition import App
from certwarden.services.inventory import ListFilter
from tests.conftest import T0
from tests.pki_files import pem, small_pki, write

pytestmark = pytest.mark.postgres


def test_import_link_list_delete_on_postgres(pg_app: App, tmp_path: Path) -> None:
    pki = small_pki(T0)
    f = write(
        tmp_path / "all.pem", pem(pki.root.cert, pki.sub.cert, *(leaf.cert for leaf in pki.leaves))
    )
    report = pg_app.inventory.import_paths([f], store="tomcat")
    assert len(report.imported) == 6
    again = pg_app.inventory.import_paths([f], store="tomcat")
    assert len(again.duplicates) == 6 and not again.imported
    records = {r.subject_cn: r for r in pg_app.inventory.list()}
    assert records["leaf1.test"].issuer_id == records["Test Issuing CA"].id
    assert records["Test Root"].role == "root"
    assert records["leaf1.test"].not_after.tzinfo is not None
    expired = pg_app.inventory.list(ListFilter(expired=True))
    assert [r.subject_cn for r in expired] == ["leaf0.test"]
    pg_app.inventory.delete(records["Test Issuing CA"].id)
    assert pg_app.inventory.get(records["leaf1.test"].id).issuer_id is None
