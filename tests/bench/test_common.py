"""bench.common: the one percentile definition, process stopping, CPU time, py-spy parsing."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.common import (
    cpu_seconds,
    cpu_split,
    percentile,
    read_profile,
    run_child,
    stop_process,
    summarize_profile,
    track,
)


def test_percentile_is_nearest_rank_on_unsorted_values() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0]
    assert percentile(values, 50) == 5.0  # rank ceil(0.5 * 10) = 5
    assert percentile(values, 51) == 6.0  # rank 6
    assert percentile(values, 90) == 9.0
    assert percentile(values, 99) == 10.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    hundred = [float(i) for i in range(1, 101)]
    assert percentile(hundred, 99) == 99.0 and percentile(hundred, 99.9) == 100.0
    assert percentile([7.0], 50) == 7.0


def test_percentile_of_nothing_is_nan_and_out_of_range_is_an_error() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_stop_process_escalates_to_sigkill_and_forgets_the_process() -> None:
    # A child that ignores SIGTERM: stop_process must still end it, by PID.
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print(1, flush=True); time.sleep(60)"
    )
    proc = track(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE))
    assert proc.stdout is not None and proc.stdout.readline()
    t0 = time.monotonic()
    rc = stop_process(proc, timeout=0.5)
    assert rc == -signal.SIGKILL and time.monotonic() - t0 < 5
    assert stop_process(proc) == rc  # idempotent


def test_run_child_returns_output_and_stops_an_overrun() -> None:
    assert run_child([sys.executable, "-c", "print('hi')"], 30) == (0, "hi\n", "")
    rc, _out, err = run_child([sys.executable, "-c", "import time; time.sleep(60)"], 0.5)
    assert rc != 0 and "stopped after" in err


def test_cpu_split_counts_a_busy_child() -> None:
    code = (
        "import time\nt = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\ntime.sleep(60)"
    )
    proc = track(subprocess.Popen([sys.executable, "-c", code]))
    try:
        deadline = time.monotonic() + 20
        while cpu_seconds([proc.pid]) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        user, system = cpu_split([proc.pid, proc.pid])  # a PID given twice is counted once
        assert 0.3 <= user + system < 5
    finally:
        stop_process(proc)
    assert cpu_split([proc.pid]) == (0.0, 0.0)  # gone: skipped


def test_profile_counts_self_and_total_samples(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text("main;loop;send 3\nmain;loop;recv 1\nmain;idle 4\ngarbage\n")
    prof = read_profile(raw)
    assert prof is not None and prof.samples == 8
    assert prof.top("self", 1) == [("idle", 50.0)]
    assert dict(prof.top("total"))["loop"] == 50.0
    assert prof.top("total", keep=lambda f: f == "send") == [("send", 37.5)]
    summary = summarize_profile(raw, top=2)
    assert summary["total"][0] == ("main", 100.0)
    assert "py-spy samples: 8" in raw.with_suffix(".top.txt").read_text()
    assert (
        read_profile(tmp_path / "missing.txt") is None and summarize_profile(tmp_path / "x") == {}
    )
