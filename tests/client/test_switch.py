"""TrackSwitch: continuous timestamps across source changes, pause, blocked and ended sources."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ilvb.client.remote import read_frame_tag
from ilvb.client.sources import ExternalVideoSource, SyntheticVideoSource, ToneSource
from ilvb.client.switch import TrackSwitch


class Ended(MediaStreamTrack):
    """A source that has nothing more (a file played to its end)."""

    kind = "video"

    async def recv(self):  # type: ignore[no-untyped-def]
        raise MediaStreamError


async def test_video_pts_keep_increasing_when_the_source_restarts_at_zero() -> None:
    switch = TrackSwitch("video")
    switch.set(SyntheticVideoSource(marker=1, fps=200))
    first = [await switch.recv() for _ in range(5)]
    switch.set(SyntheticVideoSource(marker=2, fps=200))  # its pts start at 0 again
    second = [await switch.recv() for _ in range(5)]
    pts = [f.pts for f in first + second]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), pts
    assert [read_frame_tag(f).marker for f in first + second] == [1] * 5 + [2] * 5  # type: ignore[union-attr]
    # The first frame after the switch comes one 30 fps frame after the last one.
    assert second[0].pts - first[-1].pts == 3000


def restart_then_encode(encoder: Vp8Encoder, frames: list) -> None:  # type: ignore[type-arg]
    """Encode like aiortc's sender does after a bandwidth change re-created the codec."""
    for i, frame in enumerate(frames):
        if i == 10:
            encoder.target_bitrate = 1_500_000  # REMB: the codec is re-created at this pts
        encoder.encode(frame, force_keyframe=(i == 12))


async def test_the_vp8_encoder_accepts_frames_across_a_switch() -> None:
    old, new = SyntheticVideoSource(marker=1, fps=200), SyntheticVideoSource(marker=2, fps=200)
    # Without the switch: pts restart at 0 below the re-created codec's first pts → libvpx
    # refuses the frame (the sender's loop would die there).
    raw = [await old.recv() for _ in range(12)] + [await new.recv()]
    with pytest.raises(av.error.InvalidDataError):
        restart_then_encode(Vp8Encoder(), raw)
    # Through the switch the same change of source encodes fine.
    switch = TrackSwitch("video")
    switch.set(SyntheticVideoSource(marker=1, fps=200))
    frames = [await switch.recv() for _ in range(12)]
    switch.set(SyntheticVideoSource(marker=2, fps=200))
    frames += [await switch.recv() for _ in range(3)]
    restart_then_encode(Vp8Encoder(), frames)


async def test_paused_switch_gives_nothing_until_a_source_is_set() -> None:
    switch = TrackSwitch("video")
    waiting = asyncio.ensure_future(switch.recv())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    switch.set(SyntheticVideoSource(marker=9, fps=200))
    frame = await asyncio.wait_for(waiting, 5)
    assert read_frame_tag(frame).marker == 9  # type: ignore[union-attr]
    switch.set(None)
    paused = asyncio.ensure_future(switch.recv())
    await asyncio.sleep(0.1)
    assert not paused.done()
    paused.cancel()


async def test_a_blocked_source_is_abandoned_when_replaced() -> None:
    switch = TrackSwitch("video")
    switch.set(ExternalVideoSource())  # the app never pushes
    waiting = asyncio.ensure_future(switch.recv())
    await asyncio.sleep(0.1)
    switch.set(SyntheticVideoSource(marker=5, fps=200))
    frame = await asyncio.wait_for(waiting, 5)
    assert read_frame_tag(frame).marker == 5  # type: ignore[union-attr]


async def test_an_ended_source_pauses_instead_of_ending_the_sender() -> None:
    switch = TrackSwitch("video")
    switch.set(Ended())
    waiting = asyncio.ensure_future(switch.recv())
    await asyncio.sleep(0.1)
    assert not waiting.done() and switch.source is None
    switch.set(SyntheticVideoSource(marker=6, fps=200))
    assert read_frame_tag(await asyncio.wait_for(waiting, 5)).marker == 6  # type: ignore[union-attr]


async def test_audio_is_sample_continuous_across_sources() -> None:
    switch = TrackSwitch("audio")
    switch.set(ToneSource(440))
    a = [await switch.recv() for _ in range(3)]
    switch.set(ToneSource(880))
    b = [await switch.recv() for _ in range(3)]
    assert [f.pts for f in a + b] == [960 * i for i in range(6)]


async def test_stopped_switch_ends() -> None:
    switch = TrackSwitch("video")
    switch.stop()
    with pytest.raises(MediaStreamError):
        await switch.recv()
