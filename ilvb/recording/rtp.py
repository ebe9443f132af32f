"""From a tap's datagrams to encoded frames on the room's wall clock, without decoding.

:class:`TrackReceiver` takes every datagram a tap (:meth:`ilvb.sfu.api.RouterHandle.open_tap`)
sends — the publisher's RTP unchanged and its RTCP sender reports — and yields
:class:`EncodedFrame` s:

* a reorder buffer keyed by the extended sequence number puts packets back in order; a hole
  that stays open for ``max_wait_s`` (or a buffer over ``max_packets``) is skipped, the frame it
  damaged is dropped and, for video, frames are dropped until the next keyframe
  (:attr:`TrackReceiver.keyframe_wanted` asks for one) — a loss never stalls the output;
* depacketizing: VP8 (RFC 7741: the payload descriptor removed), H.264 (RFC 6184: single NAL,
  STAP-A, FU-A → Annex B with start codes), Opus (RFC 7587: one packet is one frame; RFC 2198
  RED: the primary block);
* timing: a frame's RTP timestamp is mapped through the stream's sender report (NTP ↔ RTP) to
  the publisher's wall clock and from there to the recorder's by one offset per publisher (so
  a publisher's audio and video keep their relative timing exactly), then made relative to the
  recording's start ``t0``. Frames wait up to ``sr_wait_s`` for the first sender report; after
  that the arrival time of the first frame anchors the stream instead.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)
H264_START = b"\x00\x00\x00\x01"


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded frame: ``pts_s`` seconds after the recording's start."""

    data: bytes
    pts_s: float
    keyframe: bool


@dataclass
class ClockMap:
    """Per publisher: recorder wall time − publisher NTP time, fixed by the first mapping."""

    offsets: dict[str, float] = field(default_factory=dict)

    def offset(self, member_id: str, candidate: float) -> float:
        """The member's offset (the first candidate offered becomes it)."""
        return self.offsets.setdefault(member_id, candidate)


def vp8_payload(payload: bytes) -> tuple[bytes, bool, bool] | None:
    """RFC 7741: (VP8 data, starts a frame, is a keyframe) or None when malformed."""
    n = len(payload)
    if n < 1:
        return None
    b0 = payload[0]
    pos = 1
    if b0 & 0x80:
        if n < 2:
            return None
        x = payload[1]
        pos = 2
        if x & 0x80:  # I: picture id
            if n <= pos:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            pos += 1
        if x & 0x30:  # T or K: TID/KEYIDX byte
            pos += 1
    if pos >= n:
        return None
    start = bool(b0 & 0x10) and (b0 & 0x07) == 0
    key = start and not payload[pos] & 0x01
    return payload[pos:], start, key


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe's header (RFC 6386 §9.1)."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    w, h = struct.unpack_from("<HH", frame, 6)
    return w & 0x3FFF, h & 0x3FFF


def h264_nals(payload: bytes) -> tuple[list[bytes], bool, bool] | None:
    """RFC 6184 payload → (NAL units or FU fragments, FU start, FU end) — see :class:`_H264`."""
    if not payload:
        return None
    nal_type = payload[0] & 0x1F
    if 1 <= nal_type <= 23:
        return [payload], True, True
    if nal_type == 24:  # STAP-A
        nals: list[bytes] = []
        pos = 1
        while pos + 2 <= len(payload):
            size = struct.unpack_from("!H", payload, pos)[0]
            pos += 2
            if size == 0 or pos + size > len(payload):
                return None
            nals.append(payload[pos : pos + size])
            pos += size
        return nals, True, True
    if nal_type == 28 and len(payload) >= 2:  # FU-A
        indicator, header = payload[0], payload[1]
        start, end = bool(header & 0x80), bool(header & 0x40)
        head = bytes([(indicator & 0xE0) | (header & 0x1F)]) if start else b""
        return [head + payload[2:]], start, end
    return None


def red_primary(payload: bytes) -> bytes | None:
    """RFC 2198: the primary (last) block of a RED payload."""
    pos = 0
    lengths: list[int] = []
    while pos < len(payload) and payload[pos] & 0x80:
        if pos + 4 > len(payload):
            return None
        lengths.append(struct.unpack_from("!H", payload, pos + 2)[0] & 0x3FF)
        pos += 4
    pos += 1  # the primary's one-byte header
    pos += sum(lengths)
    return payload[pos:] if pos <= len(payload) else None


class TrackReceiver:
    """One tap's datagrams → encoded frames (see the module docstring)."""

    def __init__(
        self,
        member_id: str,
        codec: str,
        payload_type: int,
        clock_rate: int,
        ssrc: int,
        t0: float,
        clocks: ClockMap,
        *,
        red_payload_type: int | None = None,
        max_wait_s: float = 0.25,
        max_packets: int = 512,
        sr_wait_s: float = 4.0,
    ) -> None:
        self.member_id = member_id
        self.codec = codec.upper() if codec.lower() != "opus" else "opus"
        self.is_video = self.codec in ("VP8", "H264")
        self.payload_type = payload_type
        self.red_payload_type = red_payload_type
        self.clock_rate = clock_rate
        self.ssrc = ssrc
        self.t0 = t0
        self.clocks = clocks
        self.max_wait_s = max_wait_s
        self.max_packets = max_packets
        self.sr_wait_s = sr_wait_s
        # reorder buffer: extended seq → (arrival, marker, ext timestamp, payload)
        self._buf: dict[int, tuple[float, bool, int, bytes]] = {}
        self._next: int | None = None  # the next extended seq to hand out
        self._last_seq_ext: int | None = None
        self._last_ts_ext: int | None = None
        # the frame being assembled
        self._parts: list[bytes] = []
        self._frame_ts: int | None = None
        self._frame_ok = True
        self._frame_key = False
        self._frame_arrival = 0.0
        self._need_key = self.is_video
        self.keyframe_wanted = self.is_video
        # timing
        self._sr: tuple[float, int] | None = None  # (NTP seconds, RTP ts) of the last SR
        self._anchor: tuple[float, int] | None = None  # (pts_s, ext ts) once fixed
        self._pending: list[tuple[int, float, bytes, bool]] = []  # frames waiting for an anchor
        self._first_arrival: float | None = None
        self.last_pts = -1.0
        # counters
        self.packets = 0
        self.lost = 0
        self.frames = 0
        self.dropped_frames = 0
        self.size: tuple[int, int] | None = None
        self.sps: bytes | None = None
        self.pps: bytes | None = None

    # -- input ------------------------------------------------------------------------------

    def feed(self, data: bytes, arrival: float) -> list[EncodedFrame]:
        """One datagram (RTP or RTCP) at recorder wall time ``arrival``."""
        if len(data) < 8 or data[0] >> 6 != 2:
            return []
        pt = data[1] & 0x7F
        if 64 <= pt <= 95:  # RTCP (RFC 5761 §4)
            self._on_rtcp(data, arrival)
            return self._release(arrival)
        parsed = _parse_rtp(data)
        if parsed is None:
            return []
        ssrc, seq, ts, marker, payload = parsed
        if ssrc != self.ssrc or pt not in (self.payload_type, self.red_payload_type):
            return []
        if pt == self.red_payload_type and pt != self.payload_type:
            primary = red_primary(payload)
            if primary is None:
                return []
            payload = primary
        self.packets += 1
        seq_ext = self._extend_seq(seq)
        ts_ext = self._extend_ts(ts)
        if self._next is None:
            self._next = seq_ext
        if seq_ext < self._next or seq_ext in self._buf:
            return self._release(arrival)  # late or duplicate
        self._buf[seq_ext] = (arrival, marker, ts_ext, payload)
        return self._drain(arrival)

    def poll(self, now: float) -> list[EncodedFrame]:
        """Timers: skip holes older than ``max_wait_s``, give up waiting for a sender report."""
        return self._drain(now)

    def flush(self) -> list[EncodedFrame]:
        """End of stream: whatever can still be handed out, in order."""
        out: list[EncodedFrame] = []
        while self._buf:
            out += self._skip_hole()
            out += self._take_contiguous()
        if self._parts and self._frame_ok:
            self._finish_frame()
        if self._anchor is None and self._pending:
            self._anchor_at(self._pending[0][1], self._pending[0][0])
        return out + self._release(None)

    # -- reorder buffer ---------------------------------------------------------------------

    def _drain(self, now: float) -> list[EncodedFrame]:
        out = self._take_contiguous()
        while self._buf and (
            len(self._buf) > self.max_packets
            or now - min(self._buf.values(), key=lambda v: v[0])[0] > self.max_wait_s
        ):
            out += self._skip_hole()
            out += self._take_contiguous()
        return out + self._release(now)

    def _take_contiguous(self) -> list[EncodedFrame]:
        assert self._next is not None or not self._buf
        while self._next is not None and self._next in self._buf:
            arrival, marker, ts_ext, payload = self._buf.pop(self._next)
            self._next += 1
            self._packet(arrival, marker, ts_ext, payload)
        return []

    def _skip_hole(self) -> list[EncodedFrame]:
        if not self._buf:
            return []
        first = min(self._buf)
        assert self._next is not None
        self.lost += first - self._next
        self._next = first
        if self.is_video:  # the frame under assembly (or the next) lost a packet: dropped
            self._frame_ok = False
        return []

    # -- depacketizing ---------------------------------------------------------------------

    def _packet(self, arrival: float, marker: bool, ts_ext: int, payload: bytes) -> None:
        if self._frame_ts is not None and ts_ext != self._frame_ts:
            # a new timestamp without the old frame's marker: the end was lost
            if self._parts and self._frame_ok and not self.is_video:
                self._finish_frame()
            else:
                self._abandon_frame()
        if self._frame_ts is None:
            self._frame_ts = ts_ext
            self._frame_arrival = arrival
            self._parts = []
            self._frame_key = False
        if self.codec == "opus":
            self._parts = [payload]
            self._finish_frame()
            return
        if self.codec == "VP8":
            got = vp8_payload(payload)
            if got is None:
                self._frame_ok = False
                return
            data, start, key = got
            if not self._parts and not start:
                self._frame_ok = False  # the frame's first packet is missing
            if start and key:
                self._frame_key = True
            self._parts.append(data)
        else:
            got_nals = h264_nals(payload)
            if got_nals is None:
                self._frame_ok = False
                return
            nals, fu_start, _ = got_nals
            if fu_start:
                for nal in nals:
                    self._note_nal(nal)
                    self._parts.append(H264_START + nal)
            elif self._parts:
                self._parts[-1] += nals[0]
            else:
                self._frame_ok = False
        if marker:
            self._finish_frame()

    def _note_nal(self, nal: bytes) -> None:
        t = nal[0] & 0x1F
        if t == 5:
            self._frame_key = True
        elif t == 7:
            self.sps = nal
        elif t == 8:
            self.pps = nal

    def _abandon_frame(self) -> None:
        self.dropped_frames += 1
        if self.is_video:
            self._need_key = True
            self.keyframe_wanted = True
        self._reset_frame()

    def _reset_frame(self) -> None:
        self._parts = []
        self._frame_ts = None
        self._frame_ok = True
        self._frame_key = False

    def _finish_frame(self) -> None:
        if not self._frame_ok or not self._parts or self._frame_ts is None:
            self._abandon_frame()
            return
        key = self._frame_key or not self.is_video
        data = b"".join(self._parts)
        if self.is_video and self._need_key and not key:
            self.dropped_frames += 1
            self._reset_frame()
            return
        if self.is_video and key:
            self._need_key = False
            self.keyframe_wanted = False
            if self.codec == "VP8" and self.size is None:
                self.size = vp8_size(data)
        if self._first_arrival is None:
            self._first_arrival = self._frame_arrival
        self._pending.append((self._frame_ts, self._frame_arrival, data, key))
        self._reset_frame()

    # -- timing ----------------------------------------------------------------------------

    def _on_rtcp(self, data: bytes, arrival: float) -> None:
        pos = 0
        while pos + 4 <= len(data):
            length = (struct.unpack_from("!H", data, pos + 2)[0] + 1) * 4
            if data[pos + 1] == 200 and pos + 20 <= len(data):  # SR
                ssrc, sec, frac, rtp_ts = struct.unpack_from("!IIII", data, pos + 4)
                if ssrc == self.ssrc:
                    self._sr = (sec - NTP_EPOCH_OFFSET + frac / 2**32, rtp_ts)
                    if self._anchor is None and self._pending:
                        self._anchor_by_sr(arrival)
            pos += length

    def _anchor_by_sr(self, arrival: float) -> None:
        assert self._sr is not None
        ntp, sr_ts = self._sr
        ts_ext, frame_arrival, _, _ = self._pending[0]
        delta = ((ts_ext - sr_ts + 2**31) % 2**32 - 2**31) / self.clock_rate
        sender_time = ntp + delta
        offset = self.clocks.offset(self.member_id, frame_arrival - sender_time)
        self._anchor = (sender_time + offset - self.t0, ts_ext)

    def _anchor_at(self, arrival: float, ts_ext: int) -> None:
        self._anchor = (arrival - self.t0, ts_ext)

    def _release(self, now: float | None) -> list[EncodedFrame]:
        if not self._pending:
            return []
        if self._anchor is None:
            if self._sr is not None:
                self._anchor_by_sr(self._pending[0][1])
            elif now is None or now - self._pending[0][1] >= self.sr_wait_s:
                self._anchor_at(self._pending[0][1], self._pending[0][0])
            else:
                return []
        assert self._anchor is not None
        base_pts, base_ts = self._anchor
        out: list[EncodedFrame] = []
        for ts_ext, _, data, key in self._pending:
            pts = base_pts + (ts_ext - base_ts) / self.clock_rate
            if pts <= self.last_pts:
                pts = self.last_pts + 0.001  # never backwards (a timestamp reset)
            self.last_pts = pts
            self.frames += 1
            out.append(EncodedFrame(data, pts, key))
        self._pending = []
        return out

    def _extend_seq(self, seq: int) -> int:
        last = self._last_seq_ext
        if last is None:
            ext = seq + (1 << 16)
        else:
            ext = last + ((seq - last + 0x8000) & 0xFFFF) - 0x8000
        if last is None or ext > last:
            self._last_seq_ext = ext
        return ext

    def _extend_ts(self, ts: int) -> int:
        last = self._last_ts_ext
        if last is None:
            ext = ts + (1 << 32)
        else:
            ext = last + ((ts - last + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        if last is None or ext > last:
            self._last_ts_ext = ext
        return ext


def _parse_rtp(data: bytes) -> tuple[int, int, int, bool, bytes] | None:
    """(ssrc, seq, timestamp, marker, payload) of an RTP packet (RFC 3550 §5.1)."""
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if pos + 4 > len(data):
            return None
        pos += 4 + 4 * struct.unpack_from("!H", data, pos + 2)[0]
    end = len(data)
    if b0 & 0x20:  # padding
        end -= data[-1]
    if pos > end:
        return None
    return ssrc, seq, ts, bool(b1 & 0x80), data[pos:end]


FrameSink = Callable[[EncodedFrame], None]
