"""Sources and read-back helpers: tags survive VP8, tones are measurable, pushes are checked."""

from __future__ import annotations

import asyncio
import fractions
import math

import av
import numpy as np
import pytest

from ilvb.client.remote import audio_tone, read_frame_tag
from ilvb.client.sources import (
    ExternalAudioSource,
    ExternalVideoSource,
    GainTrack,
    SyntheticVideoSource,
    ToneSource,
    tagged_frame,
)
from ilvb.errors import InvalidArgument


def test_tag_reads_back_from_the_raw_frame() -> None:
    for index, marker in [(0, 0), (1, 7), (65535, 255), (12345, 42)]:
        tag = read_frame_tag(tagged_frame(index, marker))
        assert tag is not None and (tag.index, tag.marker) == (index, marker)


def test_noise_does_not_change_the_tag() -> None:
    frame = tagged_frame(4242, 17, width=320, height=240, noise=60)
    luma = frame.to_ndarray(format="gray")
    assert luma.std() > 80  # blocks plus visible texture
    tag = read_frame_tag(frame)
    assert tag is not None and (tag.index, tag.marker) == (4242, 17)


def test_garbled_frame_reads_as_none() -> None:
    frame = tagged_frame(100, 3)
    array = frame.to_ndarray(format="yuv420p")
    array[:32, :32] = 255 - array[:32, :32]  # flip the first bit's block
    assert read_frame_tag(av.VideoFrame.from_ndarray(array, format="yuv420p")) is None


def test_tags_survive_low_bitrate_vp8() -> None:
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 256, 128, "yuv420p"
    enc.bit_rate = 150_000
    enc.time_base = fractions.Fraction(1, 15)
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    dec = av.CodecContext.create("libvpx", "r")
    read = []
    for i in range(60):
        frame = tagged_frame(i, 9)
        frame.pts = i
        for packet in enc.encode(frame):
            for decoded in dec.decode(packet):
                read.append(read_frame_tag(decoded))
    assert len(read) >= 55
    assert all(t is not None and t.marker == 9 for t in read)
    indices = [t.index for t in read if t is not None]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)


def test_frame_size_must_fit_the_grid() -> None:
    with pytest.raises(InvalidArgument):
        tagged_frame(1, 1, width=100, height=50)


async def test_synthetic_video_counts_frames() -> None:
    src = SyntheticVideoSource(marker=5, fps=100)
    tags = [read_frame_tag(await src.recv()) for _ in range(3)]
    assert [(t.index, t.marker) for t in tags if t] == [(0, 5), (1, 5), (2, 5)]
    src.stop()


async def test_tone_has_its_frequency_and_level() -> None:
    src = ToneSource(frequency=1000, amplitude=0.25)
    frame = await src.recv()
    assert frame.samples == 960 and frame.sample_rate == 48000
    freq, rms = audio_tone(frame)
    assert abs(freq - 1000) <= 50
    assert rms == pytest.approx(0.25 / math.sqrt(2), rel=0.05)
    src.amplitude = 0.0
    _, silent = audio_tone(await src.recv())
    assert silent < 1e-3
    src.stop()


async def test_external_audio_frames_come_out_in_push_order() -> None:
    src = ExternalAudioSource()
    for level in (100, 200):
        src.push(np.full(960, level, dtype=np.int16).tobytes())
    first, second = await src.recv(), await src.recv()
    assert first.to_ndarray()[0, 0] == 100 and second.to_ndarray()[0, 0] == 200
    assert (first.pts, second.pts) == (0, 960)
    src.stop()


def test_external_audio_rejects_bad_frames() -> None:
    src = ExternalAudioSource()
    with pytest.raises(InvalidArgument):
        src.push(b"\x00" * 3)  # not whole samples
    with pytest.raises(InvalidArgument):
        src.push(b"\x00" * 2 * 48)  # 1 ms
    with pytest.raises(InvalidArgument):
        ExternalAudioSource(sample_rate=12345)


async def test_external_video_round_trips_i420() -> None:
    src = ExternalVideoSource()
    raw = tagged_frame(77, 1).to_ndarray(format="yuv420p").tobytes()
    src.push(raw, 256, 128)
    frame = await asyncio.wait_for(src.recv(), 5)
    tag = read_frame_tag(frame)
    assert tag is not None and tag.index == 77
    with pytest.raises(InvalidArgument):
        src.push(raw[:-1], 256, 128)
    with pytest.raises(InvalidArgument):
        src.push(raw, 255, 128)
    src.stop()


async def test_gain_scales_the_signal_and_meters_its_peak() -> None:
    levels: list[float] = []
    track = GainTrack(ToneSource(1000, amplitude=0.4), volume=0.5)
    track.on_level = levels.append
    _, rms = audio_tone(await track.recv())
    assert rms == pytest.approx(0.2 / math.sqrt(2), rel=0.05)
    assert track.peak == pytest.approx(0.2, rel=0.05) and levels == [track.peak]
    track.volume = 4.0  # 1.6 × full scale: clipped, not wrapped around
    frame = await track.recv()
    assert track.peak == pytest.approx(1.0, abs=0.01)
    assert frame.to_ndarray().max() == 32767
    with pytest.raises(InvalidArgument):
        track.volume = 5.0
    with pytest.raises(InvalidArgument):
        GainTrack(SyntheticVideoSource())
    track.stop()
