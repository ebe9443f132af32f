"""Depacketizing without decoding: VP8 and H.264 frames come back byte for byte; reordering is
undone; a lost packet drops its frame (and video until the next keyframe) but never stalls the
output; Opus (and RED) frames map through the sender report onto the recording's clock."""

from __future__ import annotations

import fractions
import struct

import av
import numpy as np
import pytest

from ilvb.client.sources import tagged_frame
from ilvb.recording.rtp import ClockMap, EncodedFrame, TrackReceiver, vp8_size
from ilvb.recording.writer import h264_size

SSRC = 0x1234ABCD
T0 = 1_000_000.0  # the recording's start, Unix seconds


def rtp(seq: int, ts: int, payload: bytes, marker: bool, pt: int = 96) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, SSRC) + payload


def sender_report(ntp_unix: float, rtp_ts: int) -> bytes:
    sec = int(ntp_unix) + 2_208_988_800
    frac = int((ntp_unix % 1) * 2**32)
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, SSRC, sec, frac, rtp_ts, 0, 0)


def encoded(codec: str, n: int, gop: int) -> list[tuple[bytes, bool]]:
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = 256, 128, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 15)
    ctx.gop_size = gop
    if codec == "libx264":
        ctx.options = {"tune": "zerolatency", "preset": "ultrafast", "bf": "0"}
    out = []
    for i in range(n):
        frame = tagged_frame(i, 3, noise=30, rng=np.random.default_rng(i))
        frame.pts = i
        out += [(bytes(p), p.is_keyframe) for p in ctx.encode(frame)]
    out += [(bytes(p), p.is_keyframe) for p in ctx.encode(None)]
    return out


def vp8_packets(frames: list[tuple[bytes, bool]], mtu: int = 400) -> list[tuple[int, bytes, bool]]:
    """(frame index, payload, marker) with a one-byte RFC 7741 descriptor."""
    out = []
    for i, (data, _) in enumerate(frames):
        chunks = [data[j : j + mtu] for j in range(0, len(data), mtu)]
        for k, chunk in enumerate(chunks):
            out.append((i, bytes([0x10 if k == 0 else 0x00]) + chunk, k == len(chunks) - 1))
    return out


def h264_packets(frames: list[tuple[bytes, bool]], mtu: int = 400) -> list[tuple[int, bytes, bool]]:
    """RFC 6184: small NAL units as STAP-A, big ones as FU-A."""
    out: list[tuple[int, bytes, bool]] = []
    for i, (data, _) in enumerate(frames):
        nals = nal_units(data)
        small = [n for n in nals if len(n) < 100]
        big = [n for n in nals if len(n) >= 100]
        payloads: list[bytes] = []
        if small:
            payloads.append(bytes([24]) + b"".join(struct.pack("!H", len(n)) + n for n in small))
        for n in big:
            head, body = n[0], n[1:]
            parts = [body[j : j + mtu] for j in range(0, len(body), mtu)]
            for k, part in enumerate(parts):
                fu = (0x80 if k == 0 else 0) | (0x40 if k == len(parts) - 1 else 0) | (head & 0x1F)
                payloads.append(bytes([(head & 0xE0) | 28, fu]) + part)
        for k, p in enumerate(payloads):
            out.append((i, p, k == len(payloads) - 1))
    return out


def run(
    receiver: TrackReceiver,
    packets: list[tuple[int, bytes, bool]],
    drop: frozenset[int] = frozenset(),
    swap: frozenset[int] = frozenset(),
    fps: float = 15.0,
) -> list[EncodedFrame]:
    """Feed packets 1/fps apart per frame (the SR first), with some dropped or swapped."""
    order = list(range(len(packets)))
    for s in sorted(swap):
        order[s], order[s + 1] = order[s + 1], order[s]
    out = receiver.feed(sender_report(T0 + 0.5, 90_000), T0 + 0.5)
    for n in order:
        if n in drop:
            continue
        i, payload, marker = packets[n]
        arrival = T0 + 0.5 + i / fps
        out += receiver.feed(rtp(n, 90_000 + int(i * 90_000 / fps), payload, marker), arrival)
        out += receiver.poll(arrival)
    return out + receiver.flush()


def nal_units(annex_b: bytes) -> list[bytes]:
    """The NAL units of an Annex B stream."""
    units = annex_b.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [n for n in units if n]


def receiver(codec: str) -> TrackReceiver:
    return TrackReceiver("m", codec, 96, 90_000, SSRC, T0, ClockMap())


@pytest.mark.parametrize(("codec", "encoder"), [("VP8", "libvpx"), ("H264", "libx264")])
def test_frames_come_back_byte_for_byte_on_the_recording_clock(codec: str, encoder: str) -> None:
    frames = encoded(encoder, 30, gop=10)
    packets = vp8_packets(frames) if codec == "VP8" else h264_packets(frames)
    out = run(receiver(codec), packets, swap=frozenset({3, 20}))
    assert len(out) == len(frames)
    for (data, key), got in zip(frames, out, strict=True):
        if codec == "VP8":
            assert got.data == data
        else:  # the same NAL units (start codes may be 3 or 4 bytes long)
            assert nal_units(got.data) == nal_units(data)
        assert got.keyframe == key
    # frame i was sent at T0 + 0.5 + i/15 by the sender's clock: that is its time in the file
    assert [round(f.pts_s, 4) for f in out] == [round(0.5 + i / 15, 4) for i in range(30)]


def test_a_lost_packet_drops_video_until_the_next_keyframe_and_never_stalls() -> None:
    frames = encoded("libvpx", 45, gop=15)
    packets = vp8_packets(frames)
    lost = next(n for n, (i, _, _) in enumerate(packets) if i == 5)  # the first packet of frame 5
    out = run(receiver("VP8"), packets, drop=frozenset({lost}))
    kept = [round((f.pts_s - 0.5) * 15) for f in out]
    assert kept == [*range(5), *range(15, 45)], kept
    assert out[5].keyframe


def test_a_hole_that_never_fills_is_skipped_in_time() -> None:
    frames = encoded("libvpx", 20, gop=100)
    r = receiver("VP8")
    packets = vp8_packets(frames)
    got = r.feed(sender_report(T0, 90_000), T0)
    for n, (i, payload, marker) in enumerate(packets):
        if i == 10 and n != 0 and packets[n - 1][0] == 9:
            continue  # frame 10's first packet never comes
        got += r.feed(rtp(n, 90_000 + i * 6000, payload, marker), T0 + i / 15)
    # no more packets: time passes; the hole is given up after max_wait_s
    got += r.poll(T0 + 20 / 15 + 1.0)
    assert len(got) == 10 and r.keyframe_wanted and r.lost == 1


def test_opus_and_red_frames_follow_the_sender_report() -> None:
    r = TrackReceiver("m", "opus", 111, 48_000, SSRC, T0, ClockMap(), red_payload_type=63)
    out = r.feed(sender_report(T0 + 2.0, 480_000), T0 + 2.01)
    out += r.feed(rtp(1, 480_000, b"\x01\x02", True, pt=111), T0 + 2.02)
    red = bytes([0x80 | 111, 0x03, 0xC0, 0x02]) + bytes([111]) + b"\x09\x09" + b"\x03\x04"
    out += r.feed(rtp(2, 480_960, red, True, pt=63), T0 + 2.04)
    # sender time 2.0 s arrived 20 ms later on the recorder's clock: that offset is the member's
    assert [(f.data, round(f.pts_s, 3)) for f in out] == [(b"\x01\x02", 2.02), (b"\x03\x04", 2.04)]


def test_sizes_from_bitstream_headers() -> None:
    vp8 = encoded("libvpx", 1, gop=1)[0][0]
    assert vp8_size(vp8) == (256, 128)
    h264 = encoded("libx264", 1, gop=1)[0][0]
    sps = next(n for n in h264.split(b"\x00\x00\x01") if n and n[0] & 0x1F == 7)
    assert h264_size(sps.rstrip(b"\x00")) == (256, 128)
