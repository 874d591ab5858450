"""Big imports fan out over processes: same records, same issuer links, same errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from certwarden.composition import App
from certwarden.demo.devpki import new_key
from certwarden.services.inventory import InventoryService, ListFilter
from certwarden.services.inventory.pipeline import PARALLEL_BYTES, pem_slices
from tests.conftest import T0
from tests.pki_files import DAY, broken_base64_pem, pem, small_pki, write

N = 1800


@pytest.fixture(scope="module")
def bundle() -> tuple[bytes, bytes, bytes]:
    pki = small_pki(T0)
    key = new_key()
    leaves = [
        pki.sub.issue(f"SEP{i:08d}", not_before=T0 - DAY, not_after=T0 + (i % 90) * DAY, key=key)
        for i in range(N)
    ]
    data = pem(*(leaf.cert for leaf in leaves))
    assert len(data) > PARALLEL_BYTES
    bad = broken_base64_pem(leaves[1500].cert)
    marker = pem(leaves[1500].cert)
    return pem(pki.root.cert, pki.sub.cert), data, data.replace(marker, bad)


def test_pem_slices_keep_every_block_and_numbers() -> None:
    data = b"".join(f"-----BEGIN X-----\n{i}\n-----END X-----\n".encode() for i in range(10))
    parts = pem_slices(data, 4)
    assert [first for _, _, first in parts] == [1, 5, 9]
    assert b"".join(data[start:end] for start, end, _ in parts) == data


def test_parallel_import_matches_serial(app: App, tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    chain, data, _ = bundle
    app.inventory.import_paths([write(tmp_path / "chain.pem", chain)], store="CAPF-trust")
    parallel = InventoryService(app.db, app.clock, workers=2)
    report = parallel.import_paths([write(tmp_path / "phones.pem", data)], store="lsc")
    assert len(report.imported) == N and not report.rejected
    issuing = next(
        r for r in app.inventory.list(ListFilter(store="CAPF-trust")) if r.role == "intermediate"
    )
    phones = app.inventory.list(ListFilter(store="lsc"))
    assert len(phones) == N
    assert all(p.issuer_id == issuing.id and p.is_lsc for p in phones)
    serial = InventoryService(app.db, app.clock, workers=1)
    again = serial.import_paths([tmp_path / "phones.pem"], store="lsc")
    assert len(again.duplicates) == N


def test_parallel_import_rejects_a_bad_block_by_number(app: App, tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    _, _, broken = bundle
    parallel = InventoryService(app.db, app.clock, workers=2)
    report = parallel.import_paths([write(tmp_path / "phones.pem", broken)], store="lsc")
    assert report.imported == ()
    assert [r.problem.split(" has ")[0] for r in report.rejected] == [
        "PEM block 1501 (CERTIFICATE)"
    ]
    assert app.inventory.list(ListFilter(store="lsc")) == []
