"""``certwarden export``: clear errors instead of tracebacks, nothing overwritten unasked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import T0, Cli
from tests.monitor_helpers import make_pem


@pytest.fixture
def cert_id(cli: Cli, tmp_path: Path) -> str:
    path = tmp_path / "leaf.pem"
    path.write_bytes(make_pem("export.test", T0 + timedelta(days=90)))
    result = cli("import", "--json", str(path))
    assert result.code == 0, result
    return str(json.loads(result.stdout)["imported"][0]["id"])


def test_export_into_a_missing_directory_is_refused(cli: Cli, cert_id: str, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "cert.pem"
    result = cli("export", cert_id, "-o", str(target))
    assert result.code == 1, result
    assert f"the directory {target.parent} does not exist" in result.stderr
    assert "Traceback" not in result.stderr and not target.exists()


def test_export_onto_a_directory_is_refused(cli: Cli, cert_id: str, tmp_path: Path) -> None:
    result = cli("export", cert_id, "-o", str(tmp_path))
    assert result.code == 1, result
    assert "is a directory; name a file in it" in result.stderr


def test_export_over_a_file_needs_force(cli: Cli, cert_id: str, tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_text("keep me")
    refused = cli("export", cert_id, "-o", str(target))
    assert refused.code == 1, refused
    assert "the file exists; give --force to replace it" in refused.stderr
    assert target.read_text() == "keep me"
    forced = cli("export", cert_id, "-o", str(target), "--force")
    assert forced.code == 0, forced
    assert target.read_text().startswith("-----BEGIN CERTIFICATE-----")
    fresh = tmp_path / "new.der"
    assert cli("export", cert_id, "--format", "der", "-o", str(fresh)).code == 0
    assert fresh.read_bytes()[:1] == b"\x30"  # a DER SEQUENCE


def _export_to(stdout: int, data_dir: Path, cert_id: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "CERTWARDEN_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-c", "from certwarden.interfaces.cli import main; main()",
         "export", cert_id, "--format", "der"],
        stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_der_to_a_terminal_is_refused_and_to_a_pipe_written(cli: Cli, cert_id: str) -> None:
    main, replica = os.openpty()  # a real terminal on stdout
    try:
        result = _export_to(replica, cli.data_dir, cert_id)
    finally:
        os.close(replica)
        os.close(main)
    assert result.returncode == 1, result
    assert b"DER is binary and stdout is a terminal; give -o FILE" in result.stderr
    piped = _export_to(subprocess.PIPE, cli.data_dir, cert_id)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout[:1] == b"\x30"
