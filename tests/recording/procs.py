"""Which recorder processes this test process started (children running the recorder)."""

from __future__ import annotations

import os
from pathlib import Path


def recorder_children() -> list[int]:
    """PIDs of live child processes of this process running ``ilvb.recording.recorder``."""
    me = os.getpid()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == me and state != b"Z" and b"ilvb.recording.recorder" in cmdline:
            out.append(int(entry.name))
    return out


def files_under(root: Path) -> set[Path]:
    """Every file below ``root``."""
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()
