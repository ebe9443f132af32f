"""A quality profile pushed to a publishing Python SDK member changes what its encoder sends."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ilvb.client import SyntheticVideoSource
from ilvb.client.quality import sender_encoder
from tests.integration.harness import LiveServer
from tests.integration.media_checks import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def _count_video_bytes(client: Any) -> list[tuple[float, int]]:
    """(arrival, payload bytes) of every video RTP packet ``client``'s receive transport gets
    from now on (wrapping aiortc's receivers' packet handler)."""
    seen: list[tuple[float, int]] = []
    pc = client.media.recv_pc
    assert pc is not None
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if transceiver.kind != "video":
            continue
        original = receiver._handle_rtp_packet

        async def counted(packet: Any, arrival_time_ms: int, original: Any = original) -> None:
            seen.append((time.monotonic(), len(packet.payload)))
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = counted
    return seen


def _kbps(seen: list[tuple[float, int]], start: float, end: float) -> float:
    return sum(n for t, n in seen if start <= t < end) * 8 / (end - start) / 1000


async def test_a_pushed_profile_resizes_paces_and_caps_the_python_publishers_video() -> None:
    async with LiveServer() as server:
        quality = server.app.state.quality
        await quality.put(
            server.app_id,
            "python",
            "*",
            {"video": {"width": 640, "height": 480, "fps": 15, "bitrate_kbps": 800}},
        )
        pub = await server.client("pub")
        sub = await server.client("sub")
        entered = await pub.enter("q")
        assert entered["quality"]["profile"]["video"]["width"] == 640
        await sub.enter("q")
        sizes: list[tuple[float, int, int]] = []
        sub.on_frame("video", lambda uid, f: sizes.append((time.monotonic(), f.width, f.height)))
        # The source makes 1280x960 at 30 fps with noise; the profile says what is sent.
        await pub.publish_video(SyntheticVideoSource(5, fps=30, width=1280, height=960, noise=40))
        await sub.request_views(["pub"])
        await wait_until(lambda: any(s[1:] == (640, 480) for s in sizes), 20, "640x480 frames")
        sender = pub.media.sending["camera"].sender
        # (a REMB sets aiortc's encoder bitrate directly; the SDK takes it back down to the
        # profile's before the next frame is encoded, so read it between frames)
        await wait_until(
            lambda: sender_encoder(sender).target_bitrate <= 800_000, 2, "the 800 kbps target"
        )
        received = _count_video_bytes(sub)
        measured = time.monotonic()
        await wait_until(lambda: time.monotonic() - measured > 2.5, 4, "2.5 s of video")
        kbps_before = _kbps(received, measured + 0.5, time.monotonic())

        changed = await quality.put(
            server.app_id,
            "python",
            "*",
            {"video": {"width": 320, "height": 240, "fps": 10, "bitrate_kbps": 300}},
        )
        pushed = time.monotonic()
        await wait_until(
            lambda: any(t > pushed and (w, h) == (320, 240) for t, w, h in sizes),
            2.0,
            "320x240 frames within 2 s of the push",
        )
        encoder = sender_encoder(sender)
        await wait_until(lambda: encoder.target_bitrate <= 300_000, 2, "the 300 kbps target")
        assert encoder.codec is None or (encoder.codec.width, encoder.codec.height) == (320, 240)
        settled = time.monotonic()
        await wait_until(lambda: time.monotonic() - settled > 2.0, 3, "2 s of frames")
        late = [(w, h) for t, w, h in sizes if t > settled]
        assert late and set(late) == {(320, 240)}
        fps = len(late) / (time.monotonic() - settled)
        assert 6 <= fps <= 12, fps
        # What the other member receives: the encoder's bitrate followed the profile.
        kbps_after = _kbps(received, settled, time.monotonic())
        print(f"received {kbps_before:.0f} kbps before, {kbps_after:.0f} kbps after the push")
        assert kbps_after < 400 and kbps_after < 0.75 * kbps_before, (kbps_before, kbps_after)
        report = pub.quality.last_report
        assert report is not None and report["version"] == changed.version
        assert report["applied"]["video.width"] == 320
        assert report["applied"]["video.bitrate_kbps"] == 300
        assert {"video.min_qp", "video.gop"} <= set(report["unsupported"])
        live = server.app.state.rooms.get(server.app_id, "q", "room").member("pub")
        assert live.session.quality_report["version"] == changed.version
