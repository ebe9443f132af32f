"""The README, docs and code describe ilvb on its own terms: they cite no requirements file kept
outside the repository (by name, by section number, or by a path out of the tree)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = {".py", ".pyi", ".js", ".ts", ".html", ".css", ".md", ".toml", ".sh", ".c"}
CITATION = re.compile(r"\bMISSION\b|\.\./shared/")


def citations(files: dict[str, str]) -> list[str]:
    """``path:line`` of every line that cites the outside requirements file."""
    return [
        f"{name}:{n}"
        for name, text in files.items()
        for n, line in enumerate(text.splitlines(), 1)
        if CITATION.search(line)
    ]


def _product_files() -> dict[str, str]:
    paths = [ROOT / "README.md", *(ROOT / "docs").rglob("*"), *(ROOT / "ilvb").rglob("*")]
    paths += [*(ROOT / "bench").rglob("*"), *(ROOT / "examples").rglob("*")]
    paths += [*(ROOT / "scripts").rglob("*")]
    return {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8", errors="replace")
        for p in paths
        if p.is_file() and p.suffix in TEXT
    }


def test_no_file_cites_an_outside_requirements_file() -> None:
    files = _product_files()
    assert len(files) > 50
    assert citations(files) == []


def test_the_check_finds_a_citation_but_not_a_longer_word() -> None:
    files = {
        "a.py": "# rules (MISSION §3)\nPERMISSION_DENIED = 1\n",
        "b.md": "see ../shared/NOTES.md\n",
    }
    assert citations(files) == ["a.py:1", "b.md:1"]
