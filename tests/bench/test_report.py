"""The benchmark report: ratios (ilvb ÷ Janus), target verdicts, markdown and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import render, streams_per_core_row, write_report
from bench.run_all import compute_ratios


def _row(
    n: int,
    cpu_us: float,
    cpu_pct: float,
    p50: float = 0.5,
    p99: float = 1.5,
    delivered: float = 1.0,
) -> dict[str, Any]:
    return {
        "subscribers": n,
        "cpu_us_per_pkt": cpu_us,
        "server_cpu_pct": cpu_pct,
        "delivered_ratio": delivered,
        "added_p50_ms": p50,
        "added_p99_ms": p99,
        "baseline_p50_ms": 0.05,
        "forwarded_pkts_per_s": 150.0 * n,
        "setup_s": 1.0,
        "publisher_video_pkts": 1000,
        "publisher_audio_pkts": 500,
        "seconds": 10.0,
    }


def _results() -> dict[str, Any]:
    return {
        "machine": {"cpus": 2},
        "settings": {"rt_priority": 10},
        "workloads": {
            "fanout": {
                "ilvb": [_row(10, 30.0, 5.0), _row(50, 15.0, 12.0, p50=0.6, p99=1.8)],
                "janus": [
                    _row(10, 20.0, 4.0),
                    _row(50, 20.0, 16.0),
                    {"subscribers": 100, "error": "boom\nlast line"},
                ],
            }
        },
    }


def test_ratios_divide_ilvb_by_janus_per_n_and_headline_the_largest_common_n() -> None:
    ratios = compute_ratios(_results()["workloads"]["fanout"])
    assert ratios["cpu_per_pkt_by_subscribers"] == {"10": 1.5, "50": 0.75}
    assert ratios["cpu_per_pkt"] == 0.75 and ratios["cpu_per_pkt_at_subscribers"] == 50
    assert abs(ratios["cpu_per_pkt_geomean"] - (1.5 * 0.75) ** 0.5) < 1e-9
    assert ratios["added_p50_by_subscribers"]["50"] == 0.6 / 0.5


def test_ratios_are_absent_when_a_server_has_no_figures() -> None:
    assert "cpu_per_pkt" not in compute_ratios({"ilvb": [_row(10, 30.0, 5.0)], "janus": []})


def test_streams_per_core_uses_the_largest_run_within_80_percent() -> None:
    ilvb = {100: _row(100, 16.0, 24.0), 300: _row(300, 16.0, 72.0), 400: _row(400, 17.0, 95.0)}
    target, measured, verdict = streams_per_core_row(ilvb)
    assert "measured: 300 streams" in measured
    # 150 pkt/s per stream at 16 µs/pkt -> 0.8e6 / 2400 = 333 streams at 80 %.
    assert "333" in measured and verdict == "NOT met"
    ilvb = {300: _row(300, 5.0, 30.0)}
    assert streams_per_core_row(ilvb)[2] == "met"  # 0.8e6 / 750 = 1067


def test_render_lists_targets_failures_and_both_servers(tmp_path: Path) -> None:
    results = _results()
    results["ratios"] = compute_ratios(results["workloads"]["fanout"])
    text = render(results, ["cpu_per_pkt.png"], "top frames")
    assert "cpu_per_pkt = 0.75" in text
    assert "| 50 | ilvb | 15.00 | nan + nan | 12.0 |" in text and "| 50 | janus | 20.00 |" in text
    assert "| 100 | janus | failed: last line" in text
    assert "SFU-added latency p50 < 2 ms, p99 < 5 ms at 50 subscribers | p50 0.60 ms" in text
    assert "![cpu_per_pkt](bench/cpu_per_pkt.png)" in text and "top frames" in text
    write_report(results, tmp_path / "b.md", tmp_path / "png")
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "added_latency.png",
        "cpu_per_pkt.png",
        "delivered.png",
        "server_cpu.png",
    ]
    assert (tmp_path / "b.md").read_text().startswith("# Benchmarks")


def test_best_of_keeps_the_least_disturbed_round_and_lists_all() -> None:
    from bench.run_all import best_of

    best = best_of([_row(50, 18.0, 14.0), _row(50, 15.0, 12.0), _row(50, 21.0, 16.0)])
    assert best["cpu_us_per_pkt"] == 15.0 and best["server_cpu_pct"] == 12.0
    assert best["rounds"] == 3 and best["cpu_us_per_pkt_all"] == [18.0, 15.0, 21.0]
