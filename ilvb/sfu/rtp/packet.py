"""Zero-copy RTP header parsing and per-consumer header rewriting (RFC 3550 §5.1, RFC 8285).

The SFU never builds an ``aiortc.rtp.RtpPacket`` on the forwarding path: :func:`parse_rtp` reads
the fixed header with one ``struct`` call and returns an :class:`RtpView` of offsets into the
original bytes, and :func:`rewrite_rtp` writes the outgoing packet (new payload type, sequence
number, timestamp, SSRC; header extensions dropped or remapped) around the untouched payload.

Layout of an RTP packet, with the offsets an :class:`RtpView` records::

    0           12          12+4*CC      ext_start                ext_end     payload_end   len
    | fixed hdr | CSRC list | ext hdr (4) | elements + zero padding | payload   | RTP padding |
                            ^ profile, length in 32-bit words        ^ header_len (= ext_end)

RFC 5761 demultiplexing (:func:`is_rtcp`): on a bundled port, a second byte in 192..223 is RTCP
(RTCP packet types 192..223 / RTP payload types 64..95 with the marker bit, which are forbidden).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ilvb.sfu.rtp.seq import SEQ_MASK, TS_MASK

RTP_VERSION = 2
FIXED_HEADER_LEN = 12
ONE_BYTE_PROFILE = 0xBEDE
# RFC 8285 §4.3: 0x100 followed by 4 "appbits".
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000

_FIXED = struct.Struct("!BBHII")
_EXT_HDR = struct.Struct("!HH")
_OSN = struct.Struct("!H")


class RtpView(NamedTuple):
    """Parsed fixed header plus offsets into the packet it came from (no payload copy).

    ``ext_profile`` is ``-1`` when the packet has no header extension; then ``ext_start ==
    ext_end`` (= end of the CSRC list). ``header_len`` is the payload offset; the payload is
    ``data[header_len:payload_end]`` and ``len(data) - payload_end`` bytes of padding follow.
    """

    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    csrc_count: int
    header_len: int
    ext_profile: int
    ext_start: int
    ext_end: int
    payload_end: int

    @property
    def payload_len(self) -> int:
        """Payload bytes without padding; ``0`` for a padding-only packet (a BWE probe)."""
        return self.payload_end - self.header_len


_new_view = tuple.__new__
_ZEROS = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")


def padding_len(data: bytes, view: RtpView) -> int:
    """Bytes of RTP padding at the end of ``data`` (0 when the P bit is clear)."""
    return len(data) - view.payload_end


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: True when a bundled datagram is RTCP (second byte 192..223)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse_rtp(data: bytes) -> RtpView | None:
    """Parse an RTP packet's header; ``None`` when it is malformed.

    Malformed: shorter than 12 bytes, version != 2, a CSRC list, header extension or padding
    count that runs past the end of the packet (or a zero padding count).
    """
    n = len(data)
    # 1. fixed header
    if n < FIXED_HEADER_LEN:
        return None
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        return None
    # 2. CSRC list
    cc = b0 & 0x0F
    pos = FIXED_HEADER_LEN + 4 * cc
    if pos > n:
        return None
    # 3. header extension: 4-byte header then ``length`` 32-bit words
    if b0 & 0x10:
        if pos + 4 > n:
            return None
        profile, words = _EXT_HDR.unpack_from(data, pos)
        ext_start = pos + 4
        pos = ext_start + 4 * words
        if pos > n:
            return None
        ext_end = pos
    else:
        profile = -1
        ext_start = ext_end = pos
    # 4. padding: the last byte counts the padding bytes, itself included
    end = n
    if b0 & 0x20:
        pad = data[n - 1] if n > pos else 0
        if pad == 0 or pos + pad > n:
            return None
        end = n - pad
    # tuple.__new__ skips NamedTuple's Python-level __new__ (3x cheaper per packet)
    return _new_view(
        RtpView, (b1 & 0x7F, b1 >= 0x80, seq, ts, ssrc, cc, pos, profile, ext_start, ext_end, end)
    )


def _iter_extensions(data: bytes, view: RtpView) -> list[tuple[int, int, int]]:
    """The (id, start, end) of each header extension element; stops at the first malformed one."""
    out: list[tuple[int, int, int]] = []
    pos = view.ext_start
    end = view.ext_end
    profile = view.ext_profile
    if profile == ONE_BYTE_PROFILE:
        while pos < end:
            b = data[pos]
            if b == 0:  # padding byte
                pos += 1
                continue
            ext_id = b >> 4
            if ext_id == 15:  # RFC 8285 §4.2: stop processing
                break
            length = (b & 0x0F) + 1
            start = pos + 1
            pos = start + length
            if pos > end:
                break
            out.append((ext_id, start, pos))
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while pos < end:
            ext_id = data[pos]
            if ext_id == 0:  # padding byte
                pos += 1
                continue
            if pos + 2 > end:
                break
            length = data[pos + 1]
            start = pos + 2
            pos = start + length
            if pos > end:
                break
            out.append((ext_id, start, pos))
    return out


def get_extension(data: bytes, view: RtpView, ext_id: int) -> bytes | None:
    """The value of header extension ``ext_id`` (one-byte or two-byte profile), or ``None``."""
    if view.ext_profile < 0:
        return None
    pos = view.ext_start
    end = view.ext_end
    if view.ext_profile == ONE_BYTE_PROFILE:
        # hot for audio level: scan inline instead of building the element list
        while pos < end:
            b = data[pos]
            if b == 0:
                pos += 1
                continue
            eid = b >> 4
            if eid == 15:
                return None
            stop = pos + 2 + (b & 0x0F)
            if stop > end:
                return None
            if eid == ext_id:
                return data[pos + 1 : stop]
            pos = stop
        return None
    for eid, start, stop in _iter_extensions(data, view):
        if eid == ext_id:
            return data[start:stop]
    return None


def _remapped_extensions(data: bytes, view: RtpView, keep: dict[int, int]) -> bytes:
    """A one-byte-profile extension block (header included) with only ``keep``'s elements.

    Elements are renumbered ``in_id -> out_id``. Elements longer than 16 bytes (possible with the
    two-byte profile) or mapped to an id outside 1..14 cannot be written in one-byte form and are
    dropped. Returns ``b""`` when nothing is kept.
    """
    body = bytearray()
    if view.ext_profile == ONE_BYTE_PROFILE:
        # hot for audio (RFC 6464 level kept): scan inline, copy element bytes as they are
        pos = view.ext_start
        end = view.ext_end
        while pos < end:
            b = data[pos]
            if b == 0:  # padding byte
                pos += 1
                continue
            eid = b >> 4
            if eid == 15:  # stop processing
                break
            stop = pos + 2 + (b & 0x0F)
            if stop > end:
                break
            out_id = keep.get(eid)
            if out_id is not None and 1 <= out_id <= 14:
                body.append((out_id << 4) | (b & 0x0F))
                body += data[pos + 1 : stop]
            pos = stop
        if not body:
            return b""
        body += _ZEROS[-len(body) & 3]
        return _EXT_HDR.pack(ONE_BYTE_PROFILE, len(body) >> 2) + body
    for eid, start, stop in _iter_extensions(data, view):
        out_id = keep.get(eid)
        length = stop - start
        if out_id is None or not 1 <= out_id <= 14 or not 1 <= length <= 16:
            continue
        body.append((out_id << 4) | (length - 1))
        body += data[start:stop]
    if not body:
        return b""
    # pad the elements to a 32-bit boundary with zero (padding) bytes
    body += bytes(-len(body) & 3)
    return _EXT_HDR.pack(ONE_BYTE_PROFILE, len(body) // 4) + body


def rewrite_rtp(
    data: bytes,
    view: RtpView,
    *,
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    marker: bool | None = None,
    keep_extensions: dict[int, int] | None = None,
) -> bytes:
    """Build the outgoing packet: new fixed header fields around the unchanged payload.

    CSRCs are copied. Header extensions are dropped (X bit cleared) unless ``keep_extensions``
    maps incoming ids to outgoing ids; then only those elements are written, in one-byte form.
    The payload and any padding are copied unchanged (P bit kept). ``marker=None`` keeps the
    incoming marker bit.
    """
    # V, P and CC as received (parse_rtp checked them); X cleared unless extensions are kept
    b0 = data[0] & 0xEF
    b1 = (payload_type & 0x7F) | (0x80 if (view.marker if marker is None else marker) else 0)
    seq &= SEQ_MASK
    timestamp &= TS_MASK
    # common case: no extension kept -> one concatenation (two with CSRCs)
    if keep_extensions is None or view.ext_profile < 0:
        header = _FIXED.pack(b0, b1, seq, timestamp, ssrc)
        if b0 & 0x0F:
            csrc_end = FIXED_HEADER_LEN + 4 * (b0 & 0x0F)
            return header + data[FIXED_HEADER_LEN:csrc_end] + data[view.header_len :]
        return header + data[view.header_len :]
    ext = _remapped_extensions(data, view, keep_extensions)
    csrcs = data[FIXED_HEADER_LEN : FIXED_HEADER_LEN + 4 * view.csrc_count]
    header = _FIXED.pack(b0 | 0x10 if ext else b0, b1, seq, timestamp, ssrc)
    return b"".join((header, csrcs, ext, data[view.header_len :]))


def build_rtx(
    data: bytes,
    view: RtpView,
    *,
    payload_type: int,
    seq: int,
    ssrc: int,
    original_seq: int,
    timestamp: int,
    marker: bool | None = None,
) -> bytes:
    """An RFC 4588 §4 retransmission of ``data`` on an RTX stream.

    RTX payload type, the RTX stream's own ``seq`` and ``ssrc``; ``timestamp`` and marker as
    the (rewritten) original; payload = original seq (2 bytes, ``original_seq`` = the seq the
    receiver knows it by) + original payload. Extensions and padding are dropped.
    """
    cc = data[0] & 0x0F
    b1 = (payload_type & 0x7F) | (0x80 if (view.marker if marker is None else marker) else 0)
    header = _FIXED.pack(0x80 | cc, b1, seq & SEQ_MASK, timestamp & TS_MASK, ssrc)
    csrcs = data[FIXED_HEADER_LEN : FIXED_HEADER_LEN + 4 * cc] if cc else b""
    osn = _OSN.pack(original_seq & SEQ_MASK)
    return b"".join((header, csrcs, osn, data[view.header_len : view.payload_end]))


def unwrap_rtx(data: bytes, view: RtpView, *, payload_type: int, ssrc: int) -> bytes | None:
    """The original packet carried by an RFC 4588 RTX packet, or ``None`` for padding-only
    RTX (bandwidth probes) and packets too short to hold the original seq.

    ``payload_type`` / ``ssrc`` are the original stream's; the original seq comes from the
    first two payload bytes. CSRCs and header extensions are kept, padding is dropped.
    """
    start = view.header_len
    if view.payload_end - start < 2:
        return None
    (osn,) = _OSN.unpack_from(data, start)
    b1 = (payload_type & 0x7F) | (0x80 if view.marker else 0)
    # V, X and CC as received, P cleared
    header = _FIXED.pack(data[0] & 0xDF, b1, osn, view.timestamp, ssrc)
    return b"".join((header, data[FIXED_HEADER_LEN:start], data[start + 2 : view.payload_end]))
