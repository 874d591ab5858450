"""Issue 11 item 3: finding PEM blocks costs time linear in the text.

The audit's file: 8,000 ``BEGIN CERTIFICATE`` lines without an END (224 KB)
froze the server for 8 s, because the old pattern rescanned to the end of the
text from every BEGIN. Work is measured deterministically, as the number of
machine instructions the process executes (valgrind's cachegrind), never by a
clock: doubling the lines must about double the instructions, as it does for a
linear scan, while the old pattern quadruples them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certwarden.core.parsing import load_certificates
from certwarden.core.pem import pem_blocks
from certwarden.errors import ParseError
from tests.conftest import T0
from tests.pki_files import pem, small_pki

# The pattern certwarden used before; pem_blocks must find exactly what it found.
OLD_PATTERN = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.DOTALL)
LONE_BEGIN = b"-----BEGIN CERTIFICATE-----\n"
PKI = small_pki(T0)

_FRAGMENTS = [
    b"-----", b"-", b"BEGIN ", b"END ", b"A", b"B", b"A-----", b"\n", b"x", b" ", b"#",
    b"-----BEGIN A-----", b"-----END A-----", b"-----BEGIN B-----", b"-----END B-----",
    b"-----BEGIN CERTIFICATE-----\n", b"-----END CERTIFICATE-----\n", b"MIIB",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=16))
def test_the_blocks_are_exactly_those_the_old_pattern_found(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert pem_blocks(data) == OLD_PATTERN.findall(data)


def test_a_real_bundle_splits_into_its_blocks() -> None:
    data = pem(PKI.leaves[0].cert, PKI.sub.cert) + PKI.leaves[0].key_pem()
    assert [label for label, _ in pem_blocks(data)] == [b"CERTIFICATE"] * 2 + [b"PRIVATE KEY"]


def test_the_audit_file_is_rejected_with_its_problem() -> None:
    data = LONE_BEGIN * 8000
    assert len(data) == 224_000
    with pytest.raises(ParseError, match="no complete BEGIN/END block"):
        load_certificates(data, "lone-begins.pem")
    # A good certificate after the lone BEGINs: the first BEGIN swallows
    # everything up to its END, as before, and the block's base64 is broken.
    with pytest.raises(ParseError, match=r"PEM block 1 .* broken base64"):
        load_certificates(data + pem(PKI.leaves[1].cert), "lone-begins.pem")


def _instructions(code: str, *args: str) -> int:
    """Machine instructions a Python process running ``code`` executes (valgrind)."""
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", code, *args],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    assert found, done.stderr
    return int(found.group(1).replace(",", ""))


_SPLIT = """
import re, sys
from certwarden.core.pem import pem_blocks
OLD = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \\1-----", re.DOTALL)
split = pem_blocks if sys.argv[1] == "new" else OLD.findall
split(b"-----BEGIN CERTIFICATE-----\\n" * int(sys.argv[2]))
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_doubling_the_lines_doubles_the_work_not_squares_it() -> None:
    base = _instructions(_SPLIT, "new", "0")
    at_8000 = _instructions(_SPLIT, "new", "8000") - base
    at_16000 = _instructions(_SPLIT, "new", "16000") - base
    # The meter sees quadratic work: the old pattern, at a sixteenth of the lines.
    old_500 = _instructions(_SPLIT, "old", "500") - base
    old_1000 = _instructions(_SPLIT, "old", "1000") - base
    assert old_1000 / old_500 > 3.5, (old_500, old_1000)
    assert at_8000 > 0
    assert at_16000 / at_8000 < 2.3, (at_8000, at_16000)
    # And in absolute terms: 8,000 lines cost less than the old pattern's 500.
    assert at_8000 < old_500
