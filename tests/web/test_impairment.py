"""A call through an impaired network: Chromium → SFU → Chromium with both legs through the
impairment relay (bench/impair.py), measured at the viewer as bench/impairment.py does.

The thresholds are what bench/impairment.py measured on this machine (docs/benchmarks.md,
section 5), with a margin for a loaded 2-core machine; they are not the product's targets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bench.glass import CHROMIUM, CHROMIUM_ARGS, ROOT
from bench.impair import profile
from bench.impairment import Setup, measure_condition

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

WINDOW_S = 15.0
WARMUP_S = 3.0
# Measured with bench/impairment.py (20 s windows, load 10-19 on 2 cores) and this test
# (15 s) after the limiter, keyframe-on-give-up, RED, RTX and audio NACK upstream: 30 % loss
# -> audio concealed 3.9-6.3 % (24-27 % before), decoded 14.4-15.3 fps (10.2-15.2 before),
# longest freeze 517-1350 ms (up to 4-6 s before); 800 ms jitter -> concealed 1.9-4.0 %,
# longest freeze 650-870 ms (0.7-1.5 s before), SFU out/in packets 0.69-0.97 (1.20-1.27
# before). Thresholds: those figures plus a margin (concealment at the 10 % target).
# With the camera profile at 30 fps (bench.impairment.CAMERA_FPS; the template's 15 capped the
# source) and NACK answers repeated on the lossy downlink: decoded 25.5-29.4 fps and longest
# freeze 350-900 ms at load 6-20 (up to 1470 ms without the repeats), but 18.7 fps and one
# 3.9 s freeze in this test at load 17 with the whole suite running beside it.
AUDIO_CONCEALED_30_PCT = 10.0
FPS_DECODED_30 = 15.0
LONGEST_FREEZE_30_MS = 2000.0
AUDIO_CONCEALED_J800_PCT = 10.0
LONGEST_FREEZE_J800_MS = 2000.0
SFU_OUT_PER_IN_J800 = 1.0
# The adaptive playout delay (ilvb/web/static/ilvb/playout.js) stood at its 300 ms cap at the
# end of every 30 % loss window measured; at least two 100 ms steps up.
PLAYOUT_TARGET_30_MS = 200.0
# Shown fps at 30 % loss, 30 fps camera: 17.1-24.3 at load 6-20 with the repeated answers, 12.1
# in this test beside the suite (11.5-18.5 without them; 8.2-12.0 with a 15 fps camera); the
# threshold keeps a margin under the loaded figure.
FPS_SHOWN_30 = 10.0


@pytest_asyncio.fixture(loop_scope="session")
async def glass_browser() -> AsyncIterator[object]:
    """Chromium with the benchmark's flags (its pages come from Playwright's router and must
    reach the server on 127.0.0.1); a missing Chromium fails the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def setup() -> AsyncIterator[Setup]:
    """``ilvb serve`` announcing a relay's port as its ICE candidate, and that relay."""
    s = Setup("this tree", ROOT, seed=3)
    await s.start()
    yield s
    s.stop()


async def test_thirty_percent_loss_on_both_legs_keeps_audio_and_video_going(
    glass_browser: object, setup: Setup
) -> None:
    r = await measure_condition(
        glass_browser, setup.origin, setup.relay, profile(0.30), WINDOW_S, WARMUP_S
    )
    print(r)
    assert r["relay_lost_up"] > 0 and r["relay_lost_down"] > 0  # both legs were impaired
    assert r["audio_samples_received"] > 0.9 * 48_000 * WINDOW_S  # audio played all along
    assert r["audio_concealed_pct"] <= AUDIO_CONCEALED_30_PCT, r
    assert r["fps_decoded"] >= FPS_DECODED_30, r
    assert r["fps_shown"] >= FPS_SHOWN_30, r
    assert r["longest_freeze_ms"] <= LONGEST_FREEZE_30_MS, r
    # the Web SDK raised its playout delay for the repairs (playout.js; 300 ms measured)
    assert r["jitter_target_ms"] >= PLAYOUT_TARGET_30_MS, r


async def test_800_ms_jitter_on_both_legs_has_no_long_freeze_and_no_retransmission_storm(
    glass_browser: object, setup: Setup
) -> None:
    r = await measure_condition(
        glass_browser, setup.origin, setup.relay, profile(0.0, 800.0), WINDOW_S, WARMUP_S
    )
    print(r)
    assert r["audio_concealed_pct"] <= AUDIO_CONCEALED_J800_PCT, r
    assert r["longest_freeze_ms"] <= LONGEST_FREEZE_J800_MS, r
    assert r["sfu_out_per_in"] <= SFU_OUT_PER_IN_J800, r
