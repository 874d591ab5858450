"""deploy/systemd/certwarden.service: hardened, and valid for the systemd that runs it.

``systemd-analyze verify`` (where installed) checks every key and that the
command exists (the unit is checked with ExecStart pointing at this
checkout's certwarden, as an installation would have it); ``systemd-analyze
security --offline`` scores its exposure. The directives an operations team
looks for are asserted by name, and the command line's options must be
options ``certwarden serve`` has.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "systemd" / "certwarden.service"
INSTALLED = "/opt/certwarden/.venv/bin/certwarden"


def _directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_the_unit_is_hardened() -> None:
    d = _directives()
    assert d.get("DynamicUser") == ["yes"] or d.get("User"), "a dedicated or dynamic user"
    expected = {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "StateDirectory": "certwarden",
        "StateDirectoryMode": "0700",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert d.get(key) == [value], (key, d.get(key))
    assert "CERTWARDEN_DATA_DIR=%S/certwarden" in d["Environment"]  # the state directory


def test_exec_start_uses_options_serve_has() -> None:
    (command,) = _directives()["ExecStart"]
    argv = shlex.split(command)
    assert argv[:2] == [INSTALLED, "serve"]
    options = [a.split("=")[0] for a in argv[2:] if a.startswith("--")]
    assert "--log-format" in options
    helped = subprocess.run(
        [sys.executable, "-c", "from certwarden.interfaces.cli import main; main()",
         "serve", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    for option in options:
        assert re.search(rf"(^|\s){re.escape(option)}[\s,]", helped), option


def _installed_copy(tmp_path: Path) -> Path:
    certwarden = Path(sys.executable).with_name("certwarden")
    if not certwarden.exists():
        pytest.skip(f"no certwarden executable beside {sys.executable} to point ExecStart at")
    copy = tmp_path / "certwarden.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED, str(certwarden)))
    return copy


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(_installed_copy(tmp_path))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # Unknown keys are only warnings (exit 0): any output is a finding.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert not result.stdout.strip(), result.stdout


def test_systemd_analyze_security_rates_the_unit_well(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(_installed_copy(tmp_path))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    # 0 is fully locked down, 10 is unprotected; systemd calls below 2 "OK".
    assert float(match.group(1)) < 2.0, match.group(0)
