"""Issue 4, must-show 1: one Python publisher → SFU → three Python subscribers.

The publisher sends synthetic video whose pixels carry the frame index and a 1 kHz tone; each
subscriber decodes what the SFU forwards and reads the indices back: in order, no duplicates,
≥ 90 % of the sent indices present over ≥ 5 s; audio arrives with energy well above silence
at the sent frequency. No decoder or encoder is ever constructed by SFU code (every aiortc
codec construction in the process is recorded with its stack); clients construct theirs.
"""

from __future__ import annotations

import time

import pytest

from ilvb.client import SyntheticVideoSource, ToneSource
from tests.integration.harness import LiveServer
from tests.integration.media_checks import CodecSpy, judge, record_audio, record_video, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

FPS = 15
WINDOW_S = 5.0
TONE_HZ = 1000.0


async def test_publisher_to_three_subscribers_arrives_intact() -> None:
    spy = CodecSpy().install()
    try:
        await run_fanout(spy)
    finally:
        spy.uninstall()


async def run_fanout(spy: CodecSpy) -> None:
    """The scenario; the SFU worker runs in this process so ``spy`` sees it."""
    async with LiveServer(media={"workers": 0}) as server:
        pub = await server.client("pub")
        await pub.enter("fan")
        subs = [await server.client(f"sub{i}") for i in range(3)]
        video_logs, audio_logs = [], []
        for sub in subs:
            await sub.enter("fan")
            video_logs.append(record_video(sub))
            audio_logs.append(record_audio(sub))
        video = SyntheticVideoSource(marker=42, fps=FPS)
        await pub.publish_audio(ToneSource(TONE_HZ, amplitude=0.5))
        await pub.publish_video(video)
        for sub in subs:
            await sub.request_views(["pub"])

        # Media starts flowing to every subscriber, then we watch for WINDOW_S seconds.
        await wait_until(
            lambda: all(log.indices(42) for log in video_logs), 15, "first frame at every sub"
        )
        # Then watch until every subscriber has ≥ 5 s of content (a loaded machine is slower).
        start = time.monotonic()
        sent_before = video.frames_sent
        need = int(WINDOW_S * FPS)

        def long_enough() -> bool:
            return all(
                (ix := log.indices(42, since=start)) and ix[-1] - ix[0] + 1 >= need
                for log in video_logs
            )

        await wait_until(long_enough, 30, f"{need} frames of content at every subscriber")
        sent_in_window = video.frames_sent - sent_before
        window_s = time.monotonic() - start

        for i, log in enumerate(video_logs):
            verdict = judge(log.indices(42, since=start))
            print(f"sub{i}: {verdict} present={verdict.present:.3f} sent={sent_in_window}")
            assert verdict.in_order and verdict.duplicates == 0, (i, verdict)
            assert verdict.span >= 0.9 * sent_in_window, (i, verdict, sent_in_window)
            assert verdict.present >= 0.9, (i, verdict)
            assert all(uid == "pub" for _, uid, _ in log.frames)

        for i, log in enumerate(audio_logs):
            frames = log.of("pub", since=start)
            assert len(frames) >= 0.8 * window_s * 50, (i, len(frames), window_s)
            loud = [f for f, rms in frames if rms > 0.1]
            assert len(loud) >= 0.9 * len(frames), (i, len(loud), len(frames))
            on_tone = [f for f in loud if abs(f - TONE_HZ) <= 60]
            assert len(on_tone) >= 0.9 * len(loud), (i, len(on_tone))

        stats = await server.router_stats("fan")
        assert stats["producers"] == 2 and stats["consumers"] == 6, stats
        # Clients built 1 audio + 1 video encoder and 3 × (audio + video) decoders; SFU none.
        names = [name for name, _ in spy.made]
        assert sum(n.endswith("Decoder") for n in names) >= 6, names
        assert sum(n.endswith("Encoder") for n in names) >= 2, names
        assert spy.by_sfu() == [], spy.by_sfu()


async def test_sfu_worker_process_imports_no_codec_module() -> None:
    async with LiveServer(media={"workers": 1}) as server:
        workers = await server.worker_stats()
        assert workers and all(w["codec_modules"] == [] for w in workers), workers
