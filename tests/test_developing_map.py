"""DEVELOPING.md's map names every module of the package (issue: the map matches the tree).

A module is named when its stem appears as a word in the map block (``validate.py``,
or ``validate`` in a list such as ``(overview, accounts, ...)``), under its
package's heading line. Leaving a new module out of the map fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "certwarden"
SKIP = {"__init__", "__main__", "env"}  # package markers, python -m, Alembic's env


def _map_text() -> str:
    text = (ROOT / "DEVELOPING.md").read_text(encoding="utf-8")
    start = text.index("src/certwarden/")
    return text[start : text.index("```", start)]


def _modules() -> list[Path]:
    return sorted(
        p
        for p in PACKAGE.rglob("*.py")
        if p.stem not in SKIP and "versions" not in p.parts and "templates" not in p.parts
    )


def test_every_module_is_in_the_map() -> None:
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _map_text()))
    missing = [str(p.relative_to(PACKAGE)) for p in _modules() if p.stem not in words]
    assert not missing, f"DEVELOPING.md's map does not name: {', '.join(missing)}"


def test_every_module_named_with_py_exists() -> None:
    text = re.sub(r"\b(?:tests|bench)/[\w/]*\.py\b", "", _map_text())  # not the package
    named = set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\.py\b", text))
    stems = {p.stem for p in PACKAGE.rglob("*.py")}
    gone = sorted(named - stems - {"fakeca", "test_import_parallel"})
    assert not gone, f"DEVELOPING.md's map names modules that do not exist: {', '.join(gone)}"


def test_no_module_over_600_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if "versions" not in p.parts
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert not long, f"modules over 600 lines (split them by job): {long}"
