"""Issue 4, must-show 3: a UDP impairment proxy drops 10 % of the publisher's packets on the
way to the SFU; NACK recovery keeps ≥ 95 % of the video frames decodable at the subscriber."""

from __future__ import annotations

import time

import pytest

from bench.impair import ImpairmentRelay, profile, rewrite_candidates
from ilvb.client import SyntheticVideoSource
from tests.integration.harness import LiveServer
from tests.integration.media_checks import judge, record_video, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

FPS = 15
WINDOW_S = 6.0
MARK = 0x5A


async def test_nack_recovers_ten_percent_publisher_loss() -> None:
    async with LiveServer(media={"workers": 1}) as server:
        (worker,) = await server.worker_stats()
        proxy = ImpairmentRelay(("127.0.0.1", worker["port"]), up=profile(0.10), seed=4)
        await proxy.start()
        try:
            pub = await server.client("pub")
            sub = await server.client("sub")
            await pub.enter("lossy")
            await sub.enter("lossy")
            # Only the publisher's send transport goes through the proxy.
            pub.media.answer_filter = lambda sdp: rewrite_candidates(sdp, proxy.address)
            log = record_video(sub)
            # Noisy 320×240 frames fill the encoder's bitrate: several packets per frame.
            video = SyntheticVideoSource(marker=MARK, fps=FPS, width=320, height=240, noise=30)
            await pub.publish_video(video)
            await sub.request_views(["pub"])

            await wait_until(lambda: log.indices(MARK), 15, "first decoded frame")
            start = time.monotonic()
            dropped_before = proxy.stats("up").lost
            await wait_until(lambda: time.monotonic() - start >= WINDOW_S, WINDOW_S + 1, "window")

            verdict = judge(log.indices(MARK, since=start))
            dropped = proxy.stats("up").lost - dropped_before
            media = proxy.stats("up").impaired_seen
            stats = await server.router_stats("lossy")
            print(f"proxy dropped {dropped} up-packets in the window; {verdict}; sfu {stats}")
            assert dropped >= 20, "the proxy did not impair the publisher's stream"
            assert 0.06 <= proxy.stats("up").lost / media <= 0.14
            assert verdict.in_order and verdict.duplicates == 0, verdict
            assert verdict.span >= WINDOW_S * FPS * 0.8, verdict
            assert verdict.present >= 0.95, verdict
            assert stats["nacks_sent"] > 0, stats  # recovery went through the SFU's NACKs
        finally:
            proxy.close()
