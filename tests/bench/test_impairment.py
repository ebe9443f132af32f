"""bench/impairment.py's arithmetic: freezes from shown-frame gaps, deltas of getStats, the
markdown section kept between its markers."""

from __future__ import annotations

import pytest

from bench.impair import LinkStats
from bench.impairment import existing_section, freeze_threshold_ms, splice, summarize, table


def test_freeze_threshold_follows_chromiums_rule_on_the_median_gap() -> None:
    assert freeze_threshold_ms([66.7] * 10) == pytest.approx(216.7)  # 15 fps: +150 ms wins
    assert freeze_threshold_ms([100.0] * 10 + [900.0]) == 300.0  # 3 × median wins
    assert freeze_threshold_ms([5000.0]) == pytest.approx(1000 / 15 + 150)


def test_summarize_counts_shown_frames_freezes_concealment_and_relay_ratio() -> None:
    t0 = 1000.0
    # 10 s window: a frame every 100 ms, except a hole from 3 s to 4.5 s
    shown = [t0 + i * 100.0 for i in range(100) if not 30 < i < 45]
    before = {
        "video": {"framesDecoded": 10, "totalFreezesDuration": 0.0},
        "audio": {"totalSamplesReceived": 48_000, "concealedSamples": 100},
    }
    after = {
        "video": {"framesDecoded": 110, "totalFreezesDuration": 1.0},
        "audio": {"totalSamplesReceived": 528_000, "concealedSamples": 48_100},
    }
    up, down = LinkStats(impaired_seen=1000), LinkStats(impaired_seen=1500)
    r = summarize(10.0, t0, shown, [30.0, 40.0, 50.0], before, after, up, down)
    assert r["fps_shown"] == pytest.approx(len(shown) / 10.0)
    assert r["fps_decoded"] == 10.0
    assert r["longest_freeze_ms"] == pytest.approx(1500.0)
    assert r["frozen_pct"] == pytest.approx(15.0)
    assert r["chromium_frozen_pct"] == pytest.approx(10.0)
    assert r["audio_concealed_pct"] == pytest.approx(10.0)
    assert r["glass_p50_ms"] == 40.0 and r["sfu_out_per_in"] == 1.5
    r["label"] = "x"
    assert "| x | " in table([r])[2]


def test_nothing_shown_is_one_freeze_over_the_whole_window() -> None:
    r = summarize(20.0, 0.0, [], [], {}, {}, LinkStats(), LinkStats())
    assert r["fps_shown"] == 0 and r["longest_freeze_ms"] == 20_000.0
    assert r["frozen_pct"] == 100.0


def test_section_is_replaced_in_place_or_appended() -> None:
    sec = "<!-- impairment:begin -->\nnew\n<!-- impairment:end -->"
    doc = "# t\n\nA\n<!-- impairment:begin -->\nold\n<!-- impairment:end -->\nB\n"
    assert splice(doc, sec) == "# t\n\nA\n" + sec + "\nB\n"
    assert splice("# t\n", sec) == "# t\n\n" + sec + "\n"
    assert existing_section(doc) == "<!-- impairment:begin -->\nold\n<!-- impairment:end -->"
    assert existing_section("# t\n") is None


def test_verdicts_compare_each_target_with_the_run() -> None:
    from bench.impairment import verdicts

    rows = [
        {
            "condition": "loss30",
            "audio_concealed_pct": 9.0,
            "fps_shown": 6.0,
            "longest_freeze_ms": 800.0,
        },
    ]
    out = verdicts(rows)
    assert out[2:] == [
        "| 30 % loss: audio concealed ≤ 10 % | 9.0 | met |",
        "| 30 % loss: ≥ 15 fps shown | 6.0 | not met |",
        "| 30 % loss: no freeze > 1 s | 800.0 | met |",
    ]
