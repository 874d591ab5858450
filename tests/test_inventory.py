"""The inventory: stores, imports (every format), issuer links, roles, duplicates,
listing filters, export and delete, and bad input that changes nothing stored."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from certwarden.composition import App
from certwarden.errors import ConflictError, InputError, NotFoundError
from certwarden.services.inventory import ListFilter
from tests.conftest import T0
from tests.pki_files import (
    DAY,
    broken_base64_pem,
    csr_pem,
    der,
    p7b,
    p12,
    pem,
    random_bytes,
    small_pki,
    write,
)


def snapshot(app: App) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table: 'nothing stored changed' is this staying equal."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with app.db.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


@pytest.fixture
def pki():  # type: ignore[no-untyped-def]
    return small_pki(T0)


def test_default_stores_exist_after_first_migration(app: App) -> None:
    names = {s.name for s in app.inventory.list_stores()}
    assert names == {
        "tomcat", "tomcat-trust", "CallManager", "CallManager-trust", "ipsec",
        "ipsec-trust", "CAPF", "CAPF-trust", "lsc",
    }  # fmt: skip


def test_store_create_and_delete(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    app.inventory.create_store("edge-proxies", "Envoy fleet")
    with pytest.raises(ConflictError, match="already exists"):
        app.inventory.create_store("edge-proxies")
    with pytest.raises(InputError, match="not valid"):
        app.inventory.create_store("../etc")
    app.inventory.import_paths(
        [write(tmp_path / "a.pem", pem(pki.leaves[1].cert))], store="edge-proxies"
    )
    with pytest.raises(ConflictError, match="holds 1 certificate"):
        app.inventory.delete_store("edge-proxies")
    assert app.inventory.delete_store("edge-proxies", force=True) == 1
    with pytest.raises(NotFoundError, match="no store named 'edge-proxies'"):
        app.inventory.delete_store("edge-proxies")


def test_import_links_issuers_and_derives_roles(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    # Leaves first, CAs later: links are made whichever arrives first.
    app.inventory.import_paths(
        [write(tmp_path / "leaves.pem", pem(*(leaf.cert for leaf in pki.leaves)))], store="tomcat"
    )
    report = app.inventory.import_paths(
        [write(tmp_path / "chain.p7b", p7b(pki.sub.cert, pki.root.cert, pki.responder.cert))],
        store="tomcat-trust",
    )
    assert len(report.imported) == 3
    records = {r.subject_cn: r for r in app.inventory.list()}
    root, sub = records["Test Root"], records["Test Issuing CA"]
    assert (root.role, sub.role, records["leaf1.test"].role) == ("root", "intermediate", "leaf")
    assert root.issuer_id is None
    assert sub.issuer_id == root.id and sub.issuer_sha256 == root.sha256
    for leaf in ("leaf0.test", "leaf1.test", "leaf2.test", "leaf3.test", "Test OCSP"):
        assert records[leaf].issuer_id == sub.id, leaf
    assert records["Test OCSP"].ocsp_signing is True
    assert records["Test OCSP"].extended_key_usage == ("OCSPSigning",)


def test_issuer_link_requires_the_signature(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    from certwarden.demo.devpki import DevCA

    # Same name as the real issuing CA, different key: must not be linked.
    impostor = DevCA.root("Test Issuing CA", not_before=T0 - DAY, not_after=T0 + 900 * DAY)
    app.inventory.import_paths(
        [write(tmp_path / "i.pem", pem(impostor.cert))], store="tomcat-trust"
    )
    app.inventory.import_paths([write(tmp_path / "l.pem", pem(pki.leaves[1].cert))], store="tomcat")
    leaf = app.inventory.list(ListFilter(store="tomcat"))[0]
    assert leaf.issuer_id is None


def test_every_field_is_recorded(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    leaf = pki.leaves[2]
    app.inventory.import_paths([write(tmp_path / "leaf.der", der(leaf.cert))], store="CallManager")
    record = app.inventory.list()[0]
    data = record.to_json(T0)
    assert data["subject"] == "CN=leaf2.test,O=certwarden dev PKI"
    assert data["issuer_cn"] == "Test Issuing CA"
    assert data["serial"] == format(leaf.cert.serial_number, "x")
    assert data["not_after"] == (T0 + 45 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["days_left"] == 45.0
    assert data["sans"] == ["DNS:leaf2.test"]
    assert (data["key_type"], data["key_size"]) == ("EC secp256r1", 256)
    assert data["signature_algorithm"] == "ecdsa-with-SHA256"
    assert data["is_ca"] is False
    assert data["key_usage"] == ["digital_signature"]
    assert data["extended_key_usage"] == ["serverAuth", "clientAuth"]
    assert data["ocsp_uris"] == ["http://127.0.0.1:9/ocsp"]
    assert len(data["sha256"]) == 64 and data["sha256"] == data["sha256"].lower()
    assert len(data["sha1"]) == 40
    assert data["store"] == "CallManager" and data["lsc"] is False
    assert data["source"] == "cli" and data["source_detail"].endswith("leaf.der")
    assert data["imported_at"] == "2026-06-01T12:00:00Z"
    assert data["revocation"]["status"] == "not_checked"


def test_duplicates_are_reported_not_doubled(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    f = write(tmp_path / "leaf.pem", pem(pki.leaves[1].cert, pki.leaves[1].cert))
    first = app.inventory.import_paths([f], store="tomcat")
    assert len(first.imported) == 1 and len(first.duplicates) == 1
    second = app.inventory.import_paths([f], store="tomcat")
    assert len(second.imported) == 0 and len(second.duplicates) == 2
    # The same certificate in another store is a separate record.
    third = app.inventory.import_paths([f], store="tomcat-trust")
    assert len(third.imported) == 1
    assert len(app.inventory.list()) == 2


def test_lsc_store_and_flag(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    app.inventory.import_paths([write(tmp_path / "a.pem", pem(pki.leaves[1].cert))], store="lsc")
    app.inventory.import_paths(
        [write(tmp_path / "b.pem", pem(pki.leaves[2].cert))], store="CAPF", lsc=True
    )
    app.inventory.import_paths([write(tmp_path / "c.pem", pem(pki.leaves[3].cert))], store="CAPF")
    assert {r.subject_cn for r in app.inventory.list(ListFilter(lsc=True))} == {
        "leaf1.test",
        "leaf2.test",
    }
    assert {r.subject_cn for r in app.inventory.list(ListFilter(lsc=False))} == {"leaf3.test"}


def test_expiry_filters_respect_inclusive_not_after(app: App, tmp_path: Path, pki, clock) -> None:  # type: ignore[no-untyped-def]
    app.inventory.import_paths(
        [write(tmp_path / "l.pem", pem(*(leaf.cert for leaf in pki.leaves)))], store="tomcat"
    )
    names = lambda flt: [r.subject_cn for r in app.inventory.list(flt)]  # noqa: E731
    assert names(ListFilter(expired=True)) == ["leaf0.test"]
    assert names(ListFilter(expiring_within=timedelta(days=30))) == ["leaf1.test"]
    assert names(ListFilter(expiring_within=timedelta(days=30), expired=True)) == [
        "leaf0.test",
        "leaf1.test",
    ]
    # At exactly notAfter a certificate is still valid (RFC 5280 4.1.2.5).
    clock.set(T0 + 10 * DAY)
    assert names(ListFilter(expired=True)) == ["leaf0.test"]
    clock.advance(timedelta(seconds=1))
    assert names(ListFilter(expired=True)) == ["leaf0.test", "leaf1.test"]


def test_show_export_delete(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    app.inventory.import_paths([write(tmp_path / "l.pem", pem(pki.leaves[1].cert))], store="tomcat")
    record = app.inventory.list()[0]
    assert app.inventory.get(record.sha256).id == record.id
    assert app.inventory.get(record.sha256[:12].upper()).id == record.id
    assert app.inventory.der(record.id) == der(pki.leaves[1].cert)
    with pytest.raises(InputError, match="neither a certificate ID nor a SHA-256"):
        app.inventory.get("not-a-ref")
    app.inventory.delete(record.id)
    with pytest.raises(NotFoundError, match=f"no certificate with ID {record.id}"):
        app.inventory.get(record.id)


BAD_FILES = {
    "random.bin": lambda pki: random_bytes(),
    "truncated.der": lambda pki: der(pki.leaves[1].cert)[:180],
    "broken.pem": lambda pki: broken_base64_pem(pki.leaves[1].cert),
    "key.pem": lambda pki: pki.leaves[1].key_pem(),
    "empty.crt": lambda pki: b"",
    "wrong-password.p12": lambda pki: p12(pki.leaves[1], [], b"right"),
    "request.csr": lambda pki: csr_pem(pki.leaves[1]),
}
PROBLEMS = {
    "random.bin": "neither PEM nor DER",
    "truncated.der": "truncated or malformed DER",
    "broken.pem": "broken base64",
    "key.pem": "private key, not a certificate",
    "empty.crt": "the file is empty",
    "wrong-password.p12": "wrong PKCS#12 password",
    "request.csr": "certificate signing request",
}


@pytest.mark.parametrize("name", [*BAD_FILES, "missing.pem"])
def test_bad_input_changes_nothing(app: App, tmp_path: Path, pki, name: str) -> None:  # type: ignore[no-untyped-def]
    app.inventory.import_paths(
        [write(tmp_path / "good" / "a.pem", pem(pki.leaves[2].cert))], store="tomcat"
    )
    before = snapshot(app)
    path = tmp_path / "bad" / name
    if name in BAD_FILES:
        write(path, BAD_FILES[name](pki))
    report = app.inventory.import_paths([path], store="tomcat", password=b"wrong")
    assert [r.source for r in report.rejected] == [str(path)]
    problem = PROBLEMS.get(name, "does not exist")
    assert problem in report.rejected[0].problem
    assert snapshot(app) == before


def test_mixed_directory_imports_good_and_names_every_bad(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "incoming"
    write(folder / "chain" / "root.pem", pem(pki.root.cert))
    write(folder / "chain" / "sub.der", der(pki.sub.cert))
    write(folder / "leaf.p7b", p7b(pki.leaves[1].cert))
    for name, make in BAD_FILES.items():
        write(folder / "junk" / name, make(pki))
    report = app.inventory.import_paths([folder], store="tomcat", password=b"nope")
    assert sorted(i.subject for i in report.imported) == sorted(
        c.subject.rfc4514_string() for c in (pki.root.cert, pki.sub.cert, pki.leaves[1].cert)
    )
    assert {Path(r.source).name: r.problem for r in report.rejected}.keys() == BAD_FILES.keys()
    for r in report.rejected:
        assert PROBLEMS[Path(r.source).name] in r.problem
    assert report.files == 3 + len(BAD_FILES)
    assert json.loads(json.dumps(report.to_json()))["rejected"][0]["file"].startswith(str(folder))


def test_failed_commit_stores_nothing(app: App, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    app.inventory.create_store("vanishing")
    prepared = app.inventory.prepare(
        [write(tmp_path / "l.pem", pem(pki.leaves[1].cert))], store="vanishing"
    )
    before = snapshot(app)
    app.inventory.delete_store("vanishing", force=True)  # the target vanishes before commit
    after_delete = snapshot(app)
    with pytest.raises(NotFoundError):
        app.inventory.commit(prepared)
    assert snapshot(app) == after_delete
    assert before != after_delete
