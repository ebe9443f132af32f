"""A quality profile pushed to a publishing Chromium member is applied without rejoining."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.pagekit import join, poll
from tests.web.test_console import Console

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# The camera's outbound-rtp: frame size, bytes sent, and the sender's encoding caps.
OUTBOUND_JS = """async () => {
  const pc = window.c.sendPc;
  if (!pc) return null;
  const sender = pc.getSenders().find((s) => s.track && s.track.kind === 'video');
  const enc = sender.getParameters().encodings[0] || {};
  for (const r of (await sender.getStats()).values()) {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      return {frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0,
        bytesSent: r.bytesSent, t: performance.now(), maxBitrate: enc.maxBitrate || null};
    }
  }
  return null;
}"""

MIC_SETTINGS_JS = """() => {
  const s = window.c.devices.microphoneDeviceTrack.getSettings();
  return {agc: s.autoGainControl, ns: s.noiseSuppression, aec: s.echoCancellation};
}"""


@pytest.fixture
def console() -> Iterator[Console]:
    c = Console()
    yield c
    c.close()


async def _kbps_over(page: Any, seconds: float) -> float:
    a = await page.evaluate(OUTBOUND_JS)
    await page.wait_for_timeout(seconds * 1000)
    b = await page.evaluate(OUTBOUND_JS)
    return (b["bytesSent"] - a["bytesSent"]) * 8 / (b["t"] - a["t"])  # bits per ms = kbps


async def test_a_pushed_profile_change_resizes_and_caps_the_camera_and_is_reported(
    new_page: Any, console: Console
) -> None:
    page = await new_page()
    await page.goto(f"{console.origin}/demo")
    entered = await join(page, "pub", "q")
    assert entered["quality"]["profile"]["video"]["width"] == 640
    await page.evaluate("c.publish('microphone').then(() => c.publish('camera')).then(() => 0)")
    app = await page.evaluate("c.appId")
    before = await poll(
        lambda: page.evaluate(
            f"({OUTBOUND_JS})().then((s) => s && s.frameWidth === 640 ? s : null)"
        ),
        within=20,
    )
    assert before["maxBitrate"] == 800_000
    assert await page.evaluate(MIC_SETTINGS_JS) == {"agc": True, "ns": True, "aec": True}
    kbps_before = await _kbps_over(page, 1.0)

    change = {
        "template": "realtime_call",
        "video": {"width": 320, "height": 240, "bitrate_kbps": 300},
        "audio": {"agc": False, "ns": False, "aec": False},
    }
    r = console.rest("PUT", f"/v1/apps/{app}/quality/web/*", change)
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    pushed_at = time.monotonic()
    after = await poll(
        lambda: page.evaluate(
            f"({OUTBOUND_JS})().then((s) => s && s.frameWidth === 320 ? s : null)"
        ),
        within=2.0,
        every=0.1,
    )
    resized_s = time.monotonic() - pushed_at
    assert after["frameHeight"] == 240 and after["maxBitrate"] == 300_000
    kbps_after = await _kbps_over(page, 1.0)
    assert time.monotonic() - pushed_at < 3.5
    assert kbps_after < 400, (kbps_before, kbps_after)
    assert await page.evaluate(MIC_SETTINGS_JS) == {"agc": False, "ns": False, "aec": False}
    print(
        f"resized in {resized_s:.2f} s; outbound {kbps_before:.0f} kbps before, "
        f"{kbps_after:.0f} kbps after"
    )

    url = f"/v1/apps/{app}/rooms/q/members/pub/quality"

    async def reported() -> Any:
        report = console.rest("GET", url).json()["report"]
        return report if report and report["version"] == version else None

    report = await poll(reported, within=5)
    applied = report["applied"]
    assert applied["video.width"] == 320 and applied["video.height"] == 240
    assert applied["video.bitrate_kbps"] == 300
    assert applied["audio.agc"] is False and applied["audio.aec"] is False
    assert {"video.min_qp", "video.max_qp", "video.gop"} <= set(report["unsupported"])
