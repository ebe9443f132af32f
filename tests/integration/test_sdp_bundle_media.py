"""A JSEP max-bundle offer (every m-line but the first with port 0 and a=bundle-only, no
transport attributes of its own) publishes audio and video that a subscriber decodes: aiortc
publishes, its offer rewritten into that form before the SFU sees it."""

from __future__ import annotations

import pytest
from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription

from ilvb.config import MediaSettings
from ilvb.sfu.plane import WorkerMediaPlane
from tests.integration.test_sfu_aiortc import (
    CounterTrack,
    assert_increasing,
    collect_audio,
    collect_video,
    config,
    loopback_only,
    subscribe,
)
from tests.sfu.test_sdp_bundle import max_bundle

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
__all__ = ["loopback_only"]  # the autouse fixture: aioice gathers 127.0.0.1 only


async def test_max_bundle_offer_publishes_audio_and_video_that_are_decoded() -> None:
    plane = WorkerMediaPlane(MediaSettings(workers=0))
    await plane.start()
    pcs: list[RTCPeerConnection] = []
    try:
        router = await plane.open_router("bundle-only", lambda n, p: None)
        pub = RTCPeerConnection(config())
        pcs.append(pub)
        pub.addTransceiver(CounterTrack(), direction="sendonly")
        pub.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await pub.setLocalDescription(await pub.createOffer())
        offer = max_bundle(pub.localDescription.sdp)
        assert "m=audio 0 " in offer and "a=bundle-only" in offer
        mids = [t.mid for t in pub.getTransceivers()]
        answer = await router.negotiate_send(
            "alice", offer, {mids[0]: "camera", mids[1]: "microphone"}
        )
        assert {p.source for p in answer.producers} == {"camera", "microphone"}
        assert "m=audio 0 " not in answer.sdp  # the audio line is accepted, not rejected
        await pub.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        sub, tracks = await subscribe(router, "bob", (("alice", "camera"),))
        pcs.append(sub)
        assert_increasing(await collect_video(tracks["video"], 30, within=20))
        assert await collect_audio(tracks["audio"], 20, within=10) == 20
        stats = await router.stats()
        assert stats["producers"] == 2 and stats["consumers"] == 2, stats
    finally:
        for pc in pcs:
            await pc.close()
        await plane.close()
