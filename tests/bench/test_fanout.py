"""bench/fanout.py end to end on a small N: both servers forward every tagged packet."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess

import pytest

from bench import fanout, netns

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root (netns)"
    ),
]


def _args(server: str) -> argparse.Namespace:
    return argparse.Namespace(
        server=server,
        subscribers=2,
        seconds=1.5,
        workers=1,
        json=None,
        janus_debug=3,
        janus_event_loops=1,
        nice=0,
        rt=0,
        pacing=2.5,
        keep_logs="",
        profile=None,
        ilvb_src=None,
        baseline_s=0.5,
        warmup_s=0.5,
    )


def _names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("server", ["ilvb", "janus"])
def test_fanout_delivers_every_packet_to_each_subscriber_and_cleans_up(server: str) -> None:
    if server == "janus" and shutil.which("janus") is None:
        pytest.skip("janus is not installed")
    r = fanout.run(_args(server))
    assert r["server"] == server and r["connected_subscribers"] == 2
    # ~150 packets/s from the publisher, each tagged; every one reaches both subscribers.
    assert r["expected_pkts"] >= 2 * 100
    assert r["delivered_ratio"] >= 0.99
    assert r["srtp_errors"] == 0
    assert r["server_cpu_s"] > 0 and r["cpu_us_per_pkt"] > 0
    assert r["latency_p50_ms"] > 0
    line = fanout.summary_line(r)
    assert line.startswith("subscribers=2 cpu_us_per_pkt=") and "added_p99_ms=" in line
    # the run's namespace (named after this process) is gone; namespaces of other processes'
    # benchmarks running at the same time on this machine are not this run's business
    assert f"ilvbbench{os.getpid()}" not in _names()
    assert netns._LIVE == set()
