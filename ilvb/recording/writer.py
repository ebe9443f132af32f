"""TrackWriter: encoded frames of one track into a streamable file, no transcoding (PyAV mux).

VP8 and Opus go into WebM, H.264 into Matroska (``.mkv``, Annex B in, the muxer writes the
``avcC`` configuration from the first keyframe's SPS/PPS). Timestamps are milliseconds on the
room's clock (0 = the recording's start), so the files of one recording line up.

The file is opened at the first frame (video: the first keyframe, whose header gives the size);
the muxer closes a cluster at least every second and writes each packet through, so a recorder
killed with SIGKILL leaves a file that plays up to its last second or so. :meth:`close` writes
the cues and the duration.
"""

from __future__ import annotations

import fractions
from pathlib import Path
from typing import Any

import av

from ilvb.recording.rtp import EncodedFrame

MS = fractions.Fraction(1, 1000)
# muxer options: a cluster at most every second, every packet written through (crash safety)
MUX_OPTIONS = {"cluster_time_limit": "1000", "cluster_size_limit": "2097152", "flush_packets": "1"}
OPUS_HEAD = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"  # 2 ch, pre-skip 312, 48 kHz


def container_of(codec: str) -> tuple[str, str]:
    """(muxer name, file extension) for a codec."""
    return ("matroska", "mkv") if codec.upper() == "H264" else ("webm", "webm")


class _Bits:
    """Exp-Golomb bit reader over an RBSP (H.264 §7.2)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3] if self.pos >> 3 < len(self.data) else 0
        self.pos += 1
        return (byte >> (7 - ((self.pos - 1) & 7))) & 1

    def bits(self, n: int) -> int:
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0 and zeros < 32:
            zeros += 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def h264_size(sps: bytes) -> tuple[int, int] | None:
    """Width and height from an H.264 SPS NAL unit (H.264 §7.3.2.1.1)."""
    rbsp = bytearray()
    zeros = 0
    for b in sps[1:]:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        zeros = zeros + 1 if b == 0 else 0
        rbsp.append(b)
    try:
        r = _Bits(bytes(rbsp))
        profile = r.bits(8)
        r.bits(16)  # constraint flags, level
        r.ue()  # sps id
        chroma = 1
        if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            chroma = r.ue()
            if chroma == 3:
                r.bit()
            r.ue()
            r.ue()
            r.bit()
            if r.bit():  # scaling matrices
                for i in range(8 if chroma != 3 else 12):
                    if r.bit():
                        last = nxt = 8
                        for _ in range(16 if i < 6 else 64):
                            if nxt:
                                nxt = (last + r.se() + 256) % 256
                            last = nxt or last
        r.ue()  # log2_max_frame_num
        poc_type = r.ue()
        if poc_type == 0:
            r.ue()
        elif poc_type == 1:
            r.bit()
            r.se()
            r.se()
            for _ in range(r.ue()):
                r.se()
        r.ue()  # max_num_ref_frames
        r.bit()
        w_mbs = r.ue() + 1
        h_units = r.ue() + 1
        frame_mbs_only = r.bit()
        if not frame_mbs_only:
            r.bit()
        r.bit()
        crop = (0, 0, 0, 0)
        if r.bit():
            crop = (r.ue(), r.ue(), r.ue(), r.ue())
        sub_w = 2 if chroma in (1, 2) else 1
        sub_h = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
        width = w_mbs * 16 - sub_w * (crop[0] + crop[1])
        height = h_units * 16 * (2 - frame_mbs_only) - sub_h * (crop[2] + crop[3])
    except IndexError:
        return None
    return (width, height) if width > 0 and height > 0 else None


class TrackWriter:
    """One track's file; frames in, :meth:`close` at the end (idempotent)."""

    def __init__(self, path: Path, codec: str, sps: bytes | None = None) -> None:
        self.codec = codec.upper() if codec.lower() != "opus" else "opus"
        self.path = path
        self.format, _ = container_of(self.codec)
        self._out: Any = None
        self._stream: Any = None
        self.frames = 0
        self.first_pts: float | None = None
        self.last_pts: float | None = None
        self.closed = False
        self._last_ms = -1

    def write(
        self, frame: EncodedFrame, size: tuple[int, int] | None = None, sps: bytes | None = None,
        pps: bytes | None = None,
    ) -> None:
        """Mux one frame (the file opens at the first one)."""
        if self.closed:
            return
        if self._out is None:
            self._open(size, sps, pps)
        ms = max(int(round(frame.pts_s * 1000)), self._last_ms + 1, 0)
        self._last_ms = ms
        packet = av.Packet(frame.data)
        packet.stream = self._stream
        packet.time_base = MS
        packet.pts = packet.dts = ms
        packet.is_keyframe = frame.keyframe
        if self.codec == "opus":
            packet.duration = 20
        self._out.mux(packet)
        self.frames += 1
        if self.first_pts is None:
            self.first_pts = ms / 1000
        self.last_pts = ms / 1000

    def _open(
        self, size: tuple[int, int] | None, sps: bytes | None, pps: bytes | None
    ) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        out = av.open(str(self.path), "w", format=self.format, options=dict(MUX_OPTIONS))
        stream: Any
        if self.codec == "opus":
            stream = out.add_stream("opus", rate=48000)
            stream.codec_context.layout = "stereo"
            stream.codec_context.extradata = OPUS_HEAD
        else:
            stream = out.add_stream("vp8" if self.codec == "VP8" else "h264", rate=30)
            if self.codec == "H264" and sps is not None:
                size = size or h264_size(sps)
                extradata = b"\x00\x00\x00\x01" + sps
                if pps is not None:
                    extradata += b"\x00\x00\x00\x01" + pps
                stream.codec_context.extradata = extradata
            width, height = size or (640, 480)
            stream.width, stream.height = width, height
        stream.time_base = MS
        self._out, self._stream = out, stream

    def close(self) -> None:
        """Finish the file (cues, duration). Idempotent; a file with no frame is not created."""
        if self.closed:
            return
        self.closed = True
        if self._out is not None:
            self._out.close()
