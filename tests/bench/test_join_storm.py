"""bench/join_storm.py end to end at a small size: it starts and ends its own server, every
member hears of every later member exactly once, and it prints the one result line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "join_storm.py"
RESULT = re.compile(
    r"^members=(\d+) join_p50_ms=([\d.]+) join_p99_ms=([\d.]+) cpu_ms_per_join=([\d.]+)$"
)


@pytest.mark.parametrize("client", [[], ["--lite-client"]], ids=["websockets", "lite"])
def test_small_storm_reports_exact_fan_out_and_stops_its_server(
    tmp_path: Path, client: list[str]
) -> None:
    out = tmp_path / "storm.json"
    args = ["--members", "60", "--concurrency", "5", "--out", str(out), *client]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    m = RESULT.match(lines[-1])
    assert m, lines[-1]
    assert int(m.group(1)) == 60
    assert float(m.group(4)) > 0  # the server's CPU was measured
    result = json.loads(out.read_text())
    assert result["entry_notices_expected"] == 60 * 59 // 2
    assert result["entry_notices_seen"] == result["entry_notices_expected"]
    assert result["entry_notices_exact"] is True
    assert result["join_errors"] == 0
    assert result["join_p50_ms"] <= result["join_p99_ms"] <= result["join_max_ms"]
    pid = int(re.search(r"server pid (\d+)", proc.stdout).group(1))  # type: ignore[union-attr]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
