"""Pre-encoded media for the benchmark publisher, and the RTP packets built from it.

A short clip is encoded once at start-up (640×480 VP8 ~30 fps with aiortc's ``Vp8Encoder`` on
synthetic moving frames, Opus 20 ms with aiortc's ``OpusEncoder`` on a tone) and then looped with
fresh sequence numbers and timestamps, so the benchmark's client costs no encoding.

Every packet carries an 8-byte trailer after its codec payload: ``MAGIC`` (4 bytes) and a 32-bit
tag. The publisher notes the send time of each tag; a subscriber reads the tag back after SRTP
unprotect, so latency is ``arrival - send`` on the same monotonic clock and delivery is counted
per tag (SFUs rewrite SSRC, sequence numbers and timestamps, but never payloads). The trailer is
invisible to SFUs (they read only the VP8 payload descriptor / first bytes); nobody decodes.
"""

from __future__ import annotations

import fractions
import math
import struct
from dataclasses import dataclass, field

MAGIC = b"ILVB"
TRAILER_LEN = 8
VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
AUDIO_PTIME_S = 0.020
ONE_BYTE_EXT_PROFILE = 0xBEDE

_HEADER = struct.Struct("!BBHII")
_TRAILER = struct.Struct("!4sI")


@dataclass
class Clip:
    """Encoded frames: ``video[i]`` is the list of RTP payloads of frame ``i`` (frame 0 is a
    keyframe); ``audio[j]`` is one 20 ms Opus packet."""

    video: list[list[bytes]]
    audio: list[bytes]
    fps: float
    width: int = 640
    height: int = 480

    @property
    def video_bitrate_bps(self) -> float:
        """Average bitrate of the looped video."""
        total = sum(len(p) for frame in self.video for p in frame)
        return 8 * total * self.fps / max(1, len(self.video))

    @property
    def video_packets_per_s(self) -> float:
        """Average RTP packets per second of the looped video."""
        return sum(len(f) for f in self.video) * self.fps / max(1, len(self.video))


def encode_clip(
    seconds: float = 2.0,
    fps: float = 30.0,
    bitrate_bps: int = 1_000_000,
    width: int = 640,
    height: int = 480,
) -> Clip:
    """Encode ``seconds`` of synthetic 640×480 VP8 video and Opus audio (done once)."""
    import av
    import numpy as np
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.codecs.vpx import Vp8Encoder

    venc = Vp8Encoder()
    venc.target_bitrate = bitrate_bps
    frames: list[list[bytes]] = []
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(7)
    for i in range(int(seconds * fps)):
        # A moving gradient plus a little noise: realistic residuals, stable bitrate.
        y = ((xx + 4 * i) ^ (yy + 2 * i)) & 0xFF
        y = (y + rng.integers(0, 3, size=y.shape)).astype(np.uint8)
        u = np.full((height // 2, width // 2), (64 + 3 * i) & 0xFF, dtype=np.uint8)
        v = np.full((height // 2, width // 2), (192 - 2 * i) & 0xFF, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(
            np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(height * 3 // 2, width),
            format="yuv420p",
        )
        payloads, _ = venc.encode(frame, force_keyframe=(i == 0))
        frames.append(payloads)

    aenc = OpusEncoder()
    aenc.codec.bit_rate = 32_000
    audio: list[bytes] = []
    samples = int(AUDIO_CLOCK * AUDIO_PTIME_S)
    n_packets = int(round(seconds / AUDIO_PTIME_S))
    for j in range(n_packets):
        t = (np.arange(samples) + j * samples) / AUDIO_CLOCK
        pcm = (8000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        af = av.AudioFrame.from_ndarray(
            np.repeat(pcm, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        af.sample_rate = AUDIO_CLOCK
        af.pts = j * samples
        af.time_base = fractions.Fraction(1, AUDIO_CLOCK)
        payloads, _ = aenc.encode(af)
        audio.extend(payloads)
    return Clip(video=frames, audio=audio, fps=fps, width=width, height=height)


@dataclass
class HeaderExtensions:
    """Negotiated one-byte header-extension ids (0 = not negotiated)."""

    mid: int = 0
    audio_level: int = 0

    def build(self, mid: str, audio_level: int | None) -> bytes:
        """The RFC 8285 one-byte extension block (with its 4-byte header), or b''."""
        body = b""
        if audio_level is not None and self.audio_level:
            body += bytes([(self.audio_level << 4), 0x80 | (audio_level & 0x7F)])
        if self.mid and mid:
            raw = mid.encode()
            body += bytes([(self.mid << 4) | (len(raw) - 1)]) + raw
        if not body:
            return b""
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("!HH", ONE_BYTE_EXT_PROFILE, len(body) // 4) + body


@dataclass
class RtpStream:
    """One outgoing RTP stream: fresh seq/timestamp per packet, fixed SSRC and payload type."""

    ssrc: int
    payload_type: int
    extension: bytes = b""
    seq: int = 0
    timestamp: int = 0

    def packet(self, payload: bytes, marker: bool, tag: int, timestamp: int | None = None) -> bytes:
        """Build one plaintext RTP packet (payload + tag trailer) and advance ``seq``.

        ``timestamp`` defaults to the stream's current one (a paced frame passes its own).
        """
        first = 0x90 if self.extension else 0x80
        ts = self.timestamp if timestamp is None else timestamp
        header = _HEADER.pack(
            first, (0x80 if marker else 0) | self.payload_type, self.seq, ts, self.ssrc
        )
        self.seq = (self.seq + 1) & 0xFFFF
        return header + self.extension + payload + _TRAILER.pack(MAGIC, tag)


def read_tag(packet: bytes) -> int | None:
    """The tag of a plaintext RTP packet built by :class:`RtpStream`, or None."""
    if len(packet) < 12 + TRAILER_LEN:
        return None
    magic, tag = _TRAILER.unpack_from(packet, len(packet) - TRAILER_LEN)
    return tag if magic == MAGIC else None


def rtp_ssrc(packet: bytes) -> int:
    """SSRC of an RTP packet (clear in SRTP too)."""
    return int.from_bytes(packet[8:12], "big")


def is_rtcp(packet: bytes) -> bool:
    """RFC 5761 demultiplexing: RTCP packet types 192–223 in the second byte."""
    return len(packet) > 1 and 192 <= packet[1] <= 223


@dataclass
class SendLog:
    """Send time (monotonic s) of every tag, and which tags were audio."""

    times: list[float] = field(default_factory=list)
    kinds: bytearray = field(default_factory=bytearray)  # 0 audio, 1 video

    def next_tag(self, now: float, video: bool) -> int:
        """Allocate the tag of a packet sent at ``now``."""
        self.times.append(now)
        self.kinds.append(1 if video else 0)
        return len(self.times) - 1

    def tags_between(self, t0: float, t1: float) -> range:
        """Tags whose send time is in ``[t0, t1)`` (times are increasing)."""
        import bisect

        return range(bisect.bisect_left(self.times, t0), bisect.bisect_left(self.times, t1))
