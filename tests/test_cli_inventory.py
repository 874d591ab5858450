"""The inventory through the ``certwarden`` CLI: what an administrator scripts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import T0, Cli
from tests.pki_files import broken_base64_pem, der, p12, pem, random_bytes, small_pki, write

PKI = small_pki(T0)


def test_import_directory_then_list_json(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write(folder / "root.pem", pem(PKI.root.cert))
    write(folder / "sub.der", der(PKI.sub.cert))
    write(folder / "leaves.pem", pem(*(leaf.cert for leaf in PKI.leaves)))
    write(folder / "bad" / "garbage.bin", random_bytes())
    write(folder / "bad" / "broken.pem", broken_base64_pem(PKI.root.cert))

    result = cli("import", "--store", "tomcat", str(folder))
    assert result.code == 1, result  # some input rejected
    assert (
        f"rejected {folder / 'bad' / 'broken.pem'}: PEM block 1 (CERTIFICATE) has broken base64"
        in result.stderr.replace("\n", " ")
    )
    assert (
        f"rejected {folder / 'bad' / 'garbage.bin'}: is neither PEM nor DER"
        in result.stderr.replace("\n", " ")
    )
    assert "6 imported, 0 duplicate(s), 2 rejected, from 5 file(s)" in result.stdout

    listed = json.loads(cli("list", "--json").stdout)
    by_cn = {c["subject_cn"]: c for c in listed}
    assert [c["days_left"] for c in listed] == sorted(c["days_left"] for c in listed)
    assert by_cn["Test Root"]["role"] == "root"
    assert by_cn["Test Issuing CA"]["role"] == "intermediate"
    assert by_cn["Test Issuing CA"]["issuer_id"] == by_cn["Test Root"]["id"]
    for n in range(4):
        leaf = by_cn[f"leaf{n}.test"]
        assert leaf["role"] == "leaf"
        assert leaf["issuer_sha256"] == by_cn["Test Issuing CA"]["sha256"]
        assert leaf["not_after"].endswith("Z")
    assert by_cn["leaf0.test"]["expired"] is True


def test_all_good_import_exits_zero_and_json_report(cli: Cli, tmp_path: Path) -> None:
    f = write(tmp_path / "leaf.pem", pem(PKI.leaves[1].cert))
    result = cli("import", "--store", "tomcat", "--json", str(f))
    assert result.code == 0, result
    report = json.loads(result.stdout)
    assert report["imported"][0]["subject"] == "CN=leaf1.test,O=certwarden dev PKI"
    again = json.loads(cli("import", "--store", "tomcat", "--json", str(f)).stdout)
    assert again["imported"] == [] and len(again["duplicates"]) == 1


def test_pkcs12_password_from_env_and_file(cli: Cli, tmp_path: Path) -> None:
    f = write(tmp_path / "bundle.p12", p12(PKI.leaves[2], [PKI.sub.cert], b"hunter2"))
    pw = write(tmp_path / "pw.txt", b"hunter2\n")
    assert cli("import", "--store", "tomcat", "--password-file", str(pw), str(f)).code == 0
    result = cli(
        "import", "--store", "CAPF", "--password-env", "P12_PW", str(f), env={"P12_PW": "nope"}
    )
    assert result.code == 1
    assert "wrong PKCS#12 password" in result.stderr
    missing = cli("import", "--store", "CAPF", "--password-env", "UNSET_VAR_X", str(f))
    assert missing.code == 1 and "UNSET_VAR_X" in missing.stderr


def test_filters_show_export_delete(cli: Cli, tmp_path: Path) -> None:
    cli(
        "import",
        "--store",
        "tomcat",
        str(write(tmp_path / "l.pem", pem(*(leaf.cert for leaf in PKI.leaves)))),
    )
    soon = json.loads(cli("list", "--expiring-within", "30d", "--json").stdout)
    assert [c["subject_cn"] for c in soon] == ["leaf1.test"]
    expired = json.loads(cli("list", "--expired", "--json").stdout)
    assert [c["subject_cn"] for c in expired] == ["leaf0.test"]
    shown = json.loads(cli("show", soon[0]["sha256"], "--json").stdout)
    assert shown["id"] == soon[0]["id"]
    out = tmp_path / "x.der"
    assert cli("export", str(shown["id"]), "--format", "der", "-o", str(out)).code == 0
    assert out.read_bytes() == der(PKI.leaves[1].cert)
    pem_out = cli("export", str(shown["id"]))
    assert pem_out.stdout.startswith("-----BEGIN CERTIFICATE-----")
    assert cli("delete", str(shown["id"])).code == 0
    gone = cli("show", str(shown["id"]))
    assert gone.code == 1 and f"no certificate with ID {shown['id']}" in gone.stderr


def test_usage_errors_exit_two(cli: Cli) -> None:
    assert cli("list", "--expiring-within", "soon").code == 2
    assert cli("export", "1", "--format", "jks").code == 2
    assert cli("frobnicate").code == 2


def test_stores_commands(cli: Cli, tmp_path: Path) -> None:
    assert cli("stores", "create", "partners").code == 0
    assert cli("stores", "create", "partners").code == 1
    cli("import", "--store", "partners", str(write(tmp_path / "l.pem", pem(PKI.leaves[1].cert))))
    stores = {s["name"]: s for s in json.loads(cli("stores", "list", "--json").stdout)}
    assert stores["partners"]["certificates"] == 1 and stores["tomcat"]["builtin"] is True
    refused = cli("stores", "delete", "partners")
    assert refused.code == 1 and "--force" in refused.stderr
    assert cli("stores", "delete", "partners", "--force").code == 0


def test_nonexistent_path_is_named(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", str(tmp_path / "nope.pem"))
    assert result.code == 1
    assert f"rejected {tmp_path / 'nope.pem'}: does not exist" in result.stderr.replace("\n", " ")


def test_demo_run_prints_inventory(cli: Cli) -> None:
    result = cli("demo", "run")
    assert result.code == 0, result
    assert "expired.demo.test" in result.stdout and "SEP00AABBCC0001" in result.stdout
    listed = json.loads(cli("list", "--store", "demo-servers", "--json").stdout)
    assert any(c["expired"] for c in listed) and any(c["days_left"] > 900 for c in listed)
    assert json.loads(cli("list", "--lsc", "--json").stdout)[0]["store"] == "demo-lsc"
    # A second run reuses the PKI: nothing doubled.
    again = cli("demo", "run")
    assert "20 already there" in again.stdout
