"""SDK features end to end through the real SFU: external capture, mute, listen stop/resume,
unpublish, and a signaling resume that leaves the media flowing."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from ilvb.client import (
    ExternalAudioSource,
    ExternalVideoSource,
    SyntheticVideoSource,
    ToneSource,
    tagged_frame,
)
from ilvb.errors import InvalidState
from tests.integration.harness import LiveServer
from tests.integration.media_checks import record_audio, record_video, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


async def test_external_capture_reaches_the_viewer() -> None:
    async with LiveServer() as server:
        pub = await server.client("pub")
        sub = await server.client("sub")
        await pub.enter("ext")
        await sub.enter("ext")
        video_log, audio_log = record_video(sub), record_audio(sub)
        mic, cam = ExternalAudioSource(), ExternalVideoSource()
        await pub.publish_audio(mic)
        await pub.publish_video(cam)
        await sub.request_views(["pub"])

        async def capture() -> None:
            # The app's own capture loop: 20 ms of 660 Hz PCM, and a tagged frame every 66 ms.
            t = np.arange(960) / 48000
            for i in range(400):
                pcm = (np.sin(2 * np.pi * 660 * (t + i * 0.02)) * 16000).astype(np.int16)
                mic.push(pcm.tobytes())
                if i % 3 == 0:
                    raw = tagged_frame(i // 3, 77).to_ndarray(format="yuv420p").tobytes()
                    cam.push(raw, 256, 128)
                await asyncio.sleep(0.02)

        task = asyncio.ensure_future(capture())
        try:
            await wait_until(lambda: len(video_log.indices(77)) >= 20, 20, "20 pushed frames")
            await wait_until(lambda: len(audio_log.of("pub")) >= 50, 10, "1 s of pushed audio")
        finally:
            task.cancel()
        indices = video_log.indices(77)
        assert indices == sorted(set(indices))
        loud = [f for f, rms in audio_log.of("pub") if rms > 0.1]
        assert sum(abs(f - 660) <= 60 for f in loud) >= 0.8 * len(loud) > 0


async def test_mute_and_listen_stop_silence_only_what_they_should() -> None:
    async with LiveServer() as server:
        a = await server.client("a")
        b = await server.client("b")
        listener = await server.client("listener")
        for c in (a, b, listener):
            await c.enter("quiet")
        log = record_audio(listener)
        await a.publish_audio(ToneSource(500, 0.4))
        await b.publish_audio(ToneSource(1500, 0.4))

        def hears(user_id: str, since: float) -> int:
            return sum(1 for _, rms in log.of(user_id, since) if rms > 0.05)

        t0 = time.monotonic()
        await wait_until(lambda: hears("a", t0) > 25 and hears("b", t0) > 25, 15, "both heard")

        # a mutes itself: nobody hears a, b still heard.
        await a.mute("microphone", True)
        t1 = time.monotonic() + 1.0
        await asyncio.sleep(2.0)
        assert hears("a", t1) == 0 and hears("b", t1) > 25
        await a.mute("microphone", False)
        t2 = time.monotonic()
        await wait_until(lambda: hears("a", t2) > 25, 10, "a heard again after unmute")

        # The listener stops listening to b: only it is affected.
        assert await listener.listen_stop(["b"]) == ["b"]
        t3 = time.monotonic() + 1.0
        await asyncio.sleep(2.0)
        assert hears("b", t3) == 0 and hears("a", t3) > 25
        assert "b" not in listener.remote.who("audio").values()
        assert await listener.listen_resume() == []
        t4 = time.monotonic()
        await wait_until(lambda: hears("b", t4) > 25, 10, "b heard again after listen_resume")


async def test_unpublish_stops_and_republish_resumes_video() -> None:
    async with LiveServer() as server:
        pub = await server.client("pub")
        sub = await server.client("sub")
        await pub.enter("again")
        await sub.enter("again")
        log = record_video(sub)
        await pub.publish_video(SyntheticVideoSource(marker=11, fps=15))
        await sub.request_views(["pub"])
        await wait_until(lambda: len(log.indices(11)) >= 10, 15, "first video")
        await pub.unpublish("camera")
        state = await sub.member("pub")
        assert state["sending"]["video"] is False
        quiet_from = time.monotonic() + 1.0
        await asyncio.sleep(2.0)
        assert not [t for t, _, _ in log.frames if t >= quiet_from]
        await pub.publish_video(SyntheticVideoSource(marker=12, fps=15))
        await sub.request_views(["pub"])
        await wait_until(lambda: len(log.indices(12)) >= 10, 10, "video after re-publish")


async def test_signaling_resume_keeps_media_flowing() -> None:
    async with LiveServer() as server:
        pub = await server.client("pub")
        sub = await server.client("sub")
        await pub.enter("resume")
        await sub.enter("resume")
        log = record_video(sub)
        await pub.publish_video(SyntheticVideoSource(marker=21, fps=15))
        await sub.request_views(["pub"])
        await wait_until(lambda: len(log.indices(21)) >= 10, 15, "video flowing")
        exited = sub.events(["members.exited"])
        resumed = pub.events(["connection.resumed"])
        await pub.connection.drop(resume=True)
        assert (await resumed.next(15)).data["resumed"] is True
        since = time.monotonic()
        await wait_until(lambda: len(log.indices(21, since=since)) >= 15, 10, "video after resume")
        assert exited.queue.empty(), "the resume looked like an exit to the others"
        assert (await pub.member("pub"))["sending"]["video"] is True


async def test_h264_camera_and_vp8_screen_share_are_both_forwarded() -> None:
    async with LiveServer() as server:
        pub = await server.client("pub")
        sub = await server.client("sub")
        await pub.enter("codecs")
        await sub.enter("codecs")
        log = record_video(sub)
        await pub.publish_video(SyntheticVideoSource(marker=31, fps=15), codec="H264")
        await pub.publish_video(
            SyntheticVideoSource(marker=32, fps=15), source="screen", codec="VP8"
        )
        assert "H264" in pub.media.send_pc.remoteDescription.sdp  # type: ignore[union-attr]
        await sub.request_views(["pub"], source="camera")
        views = await sub.request_views(["pub"], source="screen")
        assert sorted(v["source"] for v in views) == ["camera", "screen"]
        await wait_until(
            lambda: len(log.indices(31)) >= 15 and len(log.indices(32)) >= 15,
            20,
            "15 frames each of the H.264 camera and the VP8 screen",
        )
        for marker in (31, 32):
            indices = log.indices(marker)
            assert indices == sorted(set(indices)), marker


async def test_two_person_call_media_and_its_end() -> None:
    async with LiveServer() as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        number = await alice.enter_call(callee="bob")
        assert await bob.enter_call(number) == number
        alice_log, bob_log = record_video(alice), record_video(bob)
        await alice.publish_video(SyntheticVideoSource(marker=41, fps=15))
        await bob.publish_video(SyntheticVideoSource(marker=42, fps=15))
        await alice.request_views(["bob"])
        await bob.request_views(["alice"])
        await wait_until(
            lambda: len(alice_log.indices(42)) >= 10 and len(bob_log.indices(41)) >= 10,
            15,
            "both see each other",
        )
        ended = bob.events(["call.ended", "room.exited"])
        await alice.exit()
        assert (await ended.next(5)).name == "call.ended"
        assert (await ended.next(5)).data["reason"] == "call_ended"
        await wait_until(lambda: bob.room is None and bob.media.recv_pc is None, 5, "bob out")


async def test_replace_track_switches_the_camera_without_renegotiation() -> None:
    async with LiveServer() as server:
        pub = await server.client("pub")
        sub = await server.client("sub")
        await pub.enter("swap")
        await sub.enter("swap")
        log = record_video(sub)
        with pytest.raises(InvalidState):
            pub.replace_track("camera", SyntheticVideoSource(marker=52))
        await pub.publish_video(SyntheticVideoSource(marker=51, fps=15))
        await sub.request_views(["pub"])
        await wait_until(lambda: len(log.indices(51)) >= 10, 15, "first camera")
        offers = pub.media.send_pc.localDescription.sdp  # type: ignore[union-attr]
        pub.replace_track("camera", SyntheticVideoSource(marker=52, fps=15))
        await wait_until(lambda: len(log.indices(52)) >= 10, 10, "second camera")
        assert pub.media.send_pc.localDescription.sdp == offers  # type: ignore[union-attr]
        switched = next(i for i, (_, _, tag) in enumerate(log.frames) if tag and tag.marker == 52)
        assert all(tag and tag.marker == 52 for _, _, tag in log.frames[switched:])
        assert log.unreadable() == 0
