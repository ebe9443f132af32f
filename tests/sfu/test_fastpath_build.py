"""The C fast path is optional only where it cannot be built: with gcc and the Python headers
present (CI, the README's set-up), ``pip install -e .`` must have built and loaded it, or the
fast-path tests would silently skip."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

from ilvb.sfu import fastpath

can_build = (
    shutil.which("gcc") is not None
    and (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()
)


@pytest.mark.skipif(not can_build, reason="no gcc or no Python headers: pure-Python path only")
def test_fast_path_is_built_and_passes_its_self_check_where_it_can_be() -> None:
    assert fastpath.AVAILABLE, f"C fast path not loaded: {fastpath.IMPORT_ERROR}"
