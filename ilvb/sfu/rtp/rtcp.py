"""Compound RTCP parsing into small typed items, and builders for what the SFU sends.

RFC 3550 §6 (SR, RR, BYE), RFC 4585 §6 (generic NACK, PLI), RFC 5104 §4.3.1 (FIR),
draft-alvestrand-rmcat-remb (REMB). Plain ``struct`` code: the media worker imports this, and
must not import aiortc (whose package import pulls in PyAV and the codecs). It walks the compound
framing itself so that

* malformed framing (bad version, truncated length, bad padding) gives ``[]`` instead of an
  exception — RTCP comes from the network, a peer must not be able to crash the worker;
* a sub-packet whose body is malformed is skipped, the others are still returned;
* unknown packet types (SDES, APP, XR, transport-cc …) come back as :class:`Unknown` so callers
  can count them.

Which RTCP ends at the SFU and which is relayed is the router's business (see
``docs/internals/forwarding.md``); here are only the bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ilvb.sfu.rtp.seq import seq_add, seq_diff

RTCP_SR = 200
RTCP_RR = 201
RTCP_BYE = 203
RTCP_RTPFB = 205
RTCP_PSFB = 206

PSFB_PLI = 1
PSFB_FIR = 4
PSFB_AFB = 15  # application layer feedback: REMB
RTPFB_NACK = 1

_HDR = struct.Struct("!BBH")
_TWO_SSRC = struct.Struct("!LL")
_SENDER_INFO = struct.Struct("!LQLLL")  # ssrc, NTP, RTP ts, packets, octets
_REPORT_BLOCK = struct.Struct("!LB3sLLLL")  # ssrc, fraction, lost (24 bit signed), seq, ...
_REMB_HEAD = struct.Struct("!4sBBH")
_FIR_ENTRY = struct.Struct("!LB3x")
_NACK_ITEM = struct.Struct("!HH")
# seconds between the NTP epoch (1900) and the Unix epoch (1970)
NTP_UNIX_OFFSET = 2_208_988_800


@dataclass(frozen=True, slots=True)
class Pli:
    """Picture Loss Indication (RFC 4585 §6.3.1): ``media_ssrc`` needs a keyframe."""

    sender_ssrc: int
    media_ssrc: int


@dataclass(frozen=True, slots=True)
class Fir:
    """Full Intra Request (RFC 5104 §4.3.1), one per FCI entry; ``media_ssrc`` from the FCI."""

    sender_ssrc: int
    media_ssrc: int
    seq_nr: int


@dataclass(frozen=True, slots=True)
class Nack:
    """Generic NACK (RFC 4585 §6.2.1): ``lost`` seqs of ``media_ssrc``, in packet order."""

    sender_ssrc: int
    media_ssrc: int
    lost: list[int]


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR: the sender's NTP/RTP timestamp pair and counts, plus any report blocks."""

    ssrc: int
    ntp_ts: int
    rtp_ts: int
    packets: int
    octets: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR: reception report blocks from ``ssrc``."""

    ssrc: int
    reports: list[ReportBlock]


@dataclass(frozen=True, slots=True)
class Remb:
    """Receiver Estimated Maximum Bitrate, bits per second, for ``ssrcs``."""

    bitrate: int
    ssrcs: list[int]
    sender_ssrc: int = 0


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE: these sources leave."""

    ssrcs: list[int]


@dataclass(frozen=True, slots=True)
class Unknown:
    """Any other RTCP packet (SDES, APP, XR, transport-cc, other feedback formats)."""

    packet_type: int
    fmt: int
    body: bytes


RtcpItem = Pli | Fir | Nack | SenderReport | ReceiverReport | Remb | Bye | Unknown


def _blocks(body: bytes, pos: int, count: int) -> list[ReportBlock]:
    """``count`` report blocks from ``body[pos:]``; raises ValueError when they do not fit."""
    if len(body) < pos + _REPORT_BLOCK.size * count:
        raise ValueError("truncated report blocks")
    blocks = []
    for _ in range(count):
        ssrc, fraction, lost, seq, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(body, pos)
        pos += _REPORT_BLOCK.size
        blocks.append(
            ReportBlock(
                ssrc, fraction, int.from_bytes(lost, "big", signed=True), seq, jitter, lsr, dlsr
            )
        )
    return blocks


def _unpack_remb(fci: bytes) -> tuple[int, list[int]]:
    """(bitrate bps, ssrcs) of a REMB FCI; raises ValueError when malformed."""
    if len(fci) < _REMB_HEAD.size:
        raise ValueError("short REMB")
    _, count, b5, low = _REMB_HEAD.unpack_from(fci)
    if len(fci) < _REMB_HEAD.size + 4 * count:
        raise ValueError("truncated REMB")
    mantissa = ((b5 & 0x03) << 16) | low
    ssrcs = list(struct.unpack_from(f"!{count}L", fci, _REMB_HEAD.size))
    return mantissa << (b5 >> 2), ssrcs


def _items(packet_type: int, count: int, body: bytes) -> list[RtcpItem]:
    """Typed items of one sub-packet (``body`` without header and padding); may raise."""
    if packet_type == RTCP_PSFB:
        ssrc, media_ssrc = _TWO_SSRC.unpack_from(body)
        fci = body[8:]
        if count == PSFB_PLI:
            return [Pli(ssrc, media_ssrc)]
        if count == PSFB_FIR:
            return [
                Fir(ssrc, *_FIR_ENTRY.unpack_from(fci, pos))
                for pos in range(0, len(fci) - len(fci) % 8, 8)
            ]
        if count == PSFB_AFB and fci[:4] == b"REMB":
            bitrate, ssrcs = _unpack_remb(fci)
            return [Remb(bitrate, ssrcs, ssrc)]
    elif packet_type == RTCP_RTPFB and count == RTPFB_NACK:
        ssrc, media_ssrc = _TWO_SSRC.unpack_from(body)
        lost: list[int] = []
        for pos in range(8, len(body) - 3, 4):
            pid, blp = _NACK_ITEM.unpack_from(body, pos)
            lost.append(pid)
            lost.extend(seq_add(pid, bit + 1) for bit in range(16) if blp >> bit & 1)
        return [Nack(ssrc, media_ssrc, lost)]
    elif packet_type == RTCP_SR:
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        reports = _blocks(body, _SENDER_INFO.size, count)
        return [SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports)]
    elif packet_type == RTCP_RR:
        (ssrc,) = struct.unpack_from("!L", body)
        return [ReceiverReport(ssrc, _blocks(body, 4, count))]
    elif packet_type == RTCP_BYE:
        return [Bye(list(struct.unpack_from(f"!{count}L", body)))]
    return [Unknown(packet_type, count, body)]


def parse_rtcp(data: bytes) -> list[RtcpItem]:
    """The items of a compound RTCP packet; ``[]`` when its framing is malformed. Never raises."""
    items: list[RtcpItem] = []
    pos = 0
    n = len(data)
    while pos < n:
        # 1. common header: V=2, P, count/fmt, type, length in 32-bit words minus one
        if pos + 4 > n:
            return []
        b0, packet_type, words = _HDR.unpack_from(data, pos)
        if b0 >> 6 != 2:
            return []
        start = pos + 4
        end = start + 4 * words
        if end > n:
            return []
        body = data[start:end]
        # 2. padding (only legal on the last packet, tolerated anywhere)
        if b0 & 0x20:
            if not body or not body[-1] or body[-1] > len(body):
                return []
            body = body[: -body[-1]]
        pos = end
        # 3. the body: a bad one is skipped, the rest of the compound still counts
        try:
            items.extend(_items(packet_type, b0 & 0x1F, body))
        except (ValueError, struct.error, IndexError):
            continue
    return items


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """A PLI asking ``media_ssrc``'s sender for a keyframe."""
    return _psfb(PSFB_PLI, sender_ssrc, media_ssrc, b"")


def build_fir(sender_ssrc: int, media_ssrc: int, seq_nr: int) -> bytes:
    """A FIR for ``media_ssrc`` (header media SSRC 0, target in the FCI, RFC 5104 §4.3.1.2).

    ``seq_nr`` must increase (mod 256) for every new request, and repeat for a retransmission.
    """
    fci = _FIR_ENTRY.pack(media_ssrc, seq_nr & 0xFF)
    return _psfb(PSFB_FIR, sender_ssrc, 0, fci)


def build_nack(sender_ssrc: int, media_ssrc: int, seqs: Iterable[int]) -> bytes:
    """A generic NACK for ``seqs`` (any order, wraparound-safe): PID + 16-bit BLP items.

    Seqs are ordered relative to the first one given (so a run across 65535 -> 0 packs into one
    item). Returns ``b""`` for no seqs.
    """
    seqs = list(seqs)
    if not seqs:
        return b""
    ref = seqs[0]
    # sort by signed distance from the first seq, then pack runs of up to 17 seqs per item
    ordered = sorted({seq_diff(s, ref) for s in seqs})
    payload = bytearray(struct.pack("!LL", sender_ssrc, media_ssrc))
    pid = ordered[0]
    blp = 0
    for d in ordered[1:]:
        bit = d - pid - 1
        if bit < 16:
            blp |= 1 << bit
        else:
            payload += _NACK_ITEM.pack(seq_add(ref, pid), blp)
            pid = d
            blp = 0
    payload += _NACK_ITEM.pack(seq_add(ref, pid), blp)
    return _HDR.pack(0x80 | RTPFB_NACK, RTCP_RTPFB, len(payload) // 4) + payload


def _psfb(fmt: int, sender_ssrc: int, media_ssrc: int, fci: bytes) -> bytes:
    """A payload-specific feedback packet (RFC 4585 §6.1); ``fci`` is a multiple of 4 bytes."""
    return (
        _HDR.pack(0x80 | fmt, RTCP_PSFB, 2 + len(fci) // 4)
        + _TWO_SSRC.pack(sender_ssrc, media_ssrc)
        + fci
    )


def _pack_blocks(reports: Sequence[ReportBlock]) -> bytes:
    return b"".join(
        _REPORT_BLOCK.pack(
            b.ssrc,
            b.fraction_lost & 0xFF,
            (b.packets_lost & 0xFFFFFF).to_bytes(3, "big"),
            b.highest_seq & 0xFFFFFFFF,
            b.jitter & 0xFFFFFFFF,
            b.lsr & 0xFFFFFFFF,
            b.dlsr & 0xFFFFFFFF,
        )
        for b in reports
    )


def build_rr(ssrc: int, reports: Sequence[ReportBlock] = ()) -> bytes:
    """An RR from ``ssrc`` with up to 31 report blocks."""
    assert len(reports) <= 31, "at most 31 report blocks per RR"
    return (
        _HDR.pack(0x80 | len(reports), RTCP_RR, 1 + 6 * len(reports))
        + struct.pack("!L", ssrc)
        + _pack_blocks(reports)
    )


def build_sr(
    ssrc: int,
    ntp_time: int,
    rtp_ts: int,
    packets: int,
    octets: int,
    reports: Sequence[ReportBlock] = (),
) -> bytes:
    """An SR; ``ntp_time`` is the 64-bit NTP timestamp (see :func:`ntp_timestamp`)."""
    assert len(reports) <= 31, "at most 31 report blocks per SR"
    info = _SENDER_INFO.pack(
        ssrc,
        ntp_time & 0xFFFFFFFFFFFFFFFF,
        rtp_ts & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )
    header = _HDR.pack(0x80 | len(reports), RTCP_SR, 6 + 6 * len(reports))
    return header + info + _pack_blocks(reports)


def build_remb(sender_ssrc: int, bitrate: int, ssrcs: Sequence[int]) -> bytes:
    """A REMB (PSFB fmt 15, media SSRC 0) announcing ``bitrate`` bps for ``ssrcs``."""
    exponent = 0
    while bitrate >= 1 << 18:  # 6-bit exponent, 18-bit mantissa
        bitrate >>= 1
        exponent += 1
    fci = _REMB_HEAD.pack(b"REMB", len(ssrcs), exponent << 2 | bitrate >> 16, bitrate & 0xFFFF)
    fci += struct.pack(f"!{len(ssrcs)}L", *ssrcs)
    return _psfb(PSFB_AFB, sender_ssrc, 0, fci)


def ntp_timestamp(unix_seconds: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point since 1900) for a Unix time."""
    return int((unix_seconds + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the ``LSR`` value of a report block."""
    return (ntp >> 16) & 0xFFFFFFFF


def rtt_from_report(block: ReportBlock, now_ntp: int) -> float | None:
    """Round-trip time in seconds from a report block about our SR (RFC 3550 §6.4.1).

    ``now_ntp`` is the 64-bit NTP time at which the report arrived. ``None`` when the block
    references no SR (``lsr == 0``).
    """
    if block.lsr == 0:
        return None
    rtt = (ntp_middle32(now_ntp) - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt >= 0x80000000:  # negative: clock skew or a bogus report
        return 0.0
    return rtt / 65536.0
