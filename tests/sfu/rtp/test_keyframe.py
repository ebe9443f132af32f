"""Keyframe detection on real VP8 / H.264 RTP payloads (PyAV encoders, aiortc packetizers)."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from ilvb.sfu.rtp.keyframe import is_h264_keyframe, is_keyframe, is_vp8_keyframe, keyframe_detector

GOP = 5
FRAMES = 12


def encoded_frames(codec: str) -> list[tuple[bool, list[bytes]]]:
    """(encoder says keyframe, RTP payloads) for FRAMES frames with a keyframe every GOP."""
    cc = av.CodecContext.create(codec, "w")
    cc.width, cc.height = 160, 120
    cc.pix_fmt = "yuv420p"
    cc.time_base = fractions.Fraction(1, 30)
    cc.framerate = 30
    cc.gop_size = GOP
    if codec == "libx264":
        cc.options = {"tune": "zerolatency", "preset": "ultrafast"}
        packer = H264Encoder()
    else:
        packer = Vp8Encoder()
    rng = np.random.RandomState(3)
    out = []
    for i in range(FRAMES):
        img = rng.randint(0, 255, (120, 160, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        frame.time_base = cc.time_base
        for packet in cc.encode(frame):
            payloads, _ = packer.pack(packet)
            out.append((packet.is_keyframe, payloads))
    return out


@pytest.fixture(scope="module")
def vp8_frames() -> list[tuple[bool, list[bytes]]]:
    return encoded_frames("libvpx")


@pytest.fixture(scope="module")
def h264_frames() -> list[tuple[bool, list[bytes]]]:
    return encoded_frames("libx264")


def test_vp8_first_packet_of_each_keyframe_is_detected(vp8_frames) -> None:
    assert len(vp8_frames) == FRAMES
    keys = [is_keyframe("VP8", payloads[0]) for _, payloads in vp8_frames]
    assert keys == [is_key for is_key, _ in vp8_frames]
    assert keys[0] and keys[GOP] and sum(keys) >= 2


def test_vp8_continuation_packets_are_not_keyframe_starts(vp8_frames) -> None:
    key_payloads = next(p for k, p in vp8_frames if k)
    assert len(key_payloads) > 1, "keyframe should span several packets"
    assert not any(is_vp8_keyframe(p) for p in key_payloads[1:])


def test_h264_keyframes_are_detected_in_stap_a_or_fu_a(h264_frames) -> None:
    assert len(h264_frames) == FRAMES
    for is_key, payloads in h264_frames:
        assert any(is_keyframe("H264", p) for p in payloads) == is_key
        if not is_key:
            continue
        assert is_keyframe("h264", payloads[0])
        types = {p[0] & 0x1F for p in payloads}
        assert types & {24, 28}, "expected aggregated SPS/PPS or fragmented IDR"


def test_h264_fu_a_middle_fragments_are_not_keyframe_starts(h264_frames) -> None:
    key_payloads = next(p for k, p in h264_frames if k)
    fu = [p for p in key_payloads if p[0] & 0x1F == 28]
    starts = [p for p in fu if p[1] & 0x80]
    middles = [p for p in fu if not p[1] & 0x80]
    assert starts and middles
    assert all(is_h264_keyframe(p) for p in starts)
    assert not any(is_h264_keyframe(p) for p in middles)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x65, 0x88]), True),  # single NAL IDR
        (bytes([0x67, 0x42]), True),  # single NAL SPS
        (bytes([0x68, 0xCE]), False),  # PPS alone
        (bytes([0x41, 0x9A]), False),  # non-IDR slice
        (bytes([0x78, 0x00, 0x02, 0x68, 0xCE, 0x00, 0x02, 0x65, 0x88]), True),  # STAP-A PPS+IDR
        (bytes([0x78, 0x00, 0x02, 0x68, 0xCE, 0x00, 0x02, 0x41, 0x9A]), False),  # STAP-A no key
        (bytes([0x78, 0x00, 0x09, 0x67]), False),  # STAP-A size past the end
        (bytes([0x7C, 0x85, 0xB8]), True),  # FU-A start of IDR
        (bytes([0x7C, 0x05, 0xB8]), False),  # FU-A middle of IDR
        (bytes([0x7C, 0x81, 0xB8]), False),  # FU-A start of non-IDR
        (bytes([0x7C]), False),  # FU-A without FU header
        (b"", False),
    ],
)
def test_h264_handcrafted_payloads(payload: bytes, expected: bool) -> None:
    assert is_h264_keyframe(payload) is expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x10, 0x50, 0x06, 0x00]), True),  # S=1 PID=0, no X, key frame tag
        (bytes([0x10, 0x51, 0x06, 0x00]), False),  # P bit set: inter frame
        (bytes([0x00, 0x50]), False),  # S=0: continuation
        (bytes([0x11, 0x50]), False),  # PID=1: not the first partition
        (bytes([0x90, 0x80, 0x05, 0x50]), True),  # X, I with 7-bit picture id
        (bytes([0x90, 0x80, 0x85, 0x01, 0x50]), True),  # X, I with 15-bit picture id
        (bytes([0x90, 0xE0, 0x85, 0x01, 0x07, 0x20, 0x50]), True),  # X, I(15) L T
        (bytes([0x90, 0xE0, 0x85, 0x01, 0x07, 0x20, 0x51]), False),
        (bytes([0x90, 0x80, 0x85]), False),  # truncated before the frame tag
        (bytes([0x90]), False),
        (b"", False),
    ],
)
def test_vp8_handcrafted_payloads(payload: bytes, expected: bool) -> None:
    assert is_vp8_keyframe(payload) is expected


def test_unknown_codecs_never_report_keyframes() -> None:
    assert not is_keyframe("opus", bytes([0x10, 0x50]))
    assert keyframe_detector("video/VP8") is is_vp8_keyframe
    assert keyframe_detector("H264") is is_h264_keyframe
