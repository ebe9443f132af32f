"""Compound RTCP parsing into typed items, builders round-tripping, malformed input."""

from __future__ import annotations

import struct

from aiortc.rtp import RtcpPacket, RtcpRtpfbPacket, RtcpSdesPacket
from hypothesis import given
from hypothesis import strategies as st

from ilvb.sfu.rtp import rtcp
from ilvb.sfu.rtp.packet import is_rtcp
from ilvb.sfu.rtp.rtcp import (
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SenderReport,
    Unknown,
    build_fir,
    build_nack,
    build_pli,
    build_remb,
    build_rr,
    build_sr,
    ntp_middle32,
    ntp_timestamp,
    parse_rtcp,
    rtt_from_report,
)

BLOCK = ReportBlock(
    ssrc=0x1111, fraction_lost=25, packets_lost=-3, highest_seq=70000, jitter=12, lsr=5, dlsr=6
)


def test_pli_round_trips() -> None:
    data = build_pli(1, 2)
    assert is_rtcp(data)
    assert parse_rtcp(data) == [Pli(sender_ssrc=1, media_ssrc=2)]


def test_fir_round_trips_with_target_in_fci() -> None:
    data = build_fir(1, 0xABCDEF01, 300)
    # RFC 5104: the header's media SSRC is 0
    assert struct.unpack_from("!L", data, 8)[0] == 0
    assert parse_rtcp(data) == [Fir(sender_ssrc=1, media_ssrc=0xABCDEF01, seq_nr=300 & 0xFF)]


def test_nack_round_trips_sparse_and_dense_losses() -> None:
    seqs = [100, 101, 105, 116, 117, 140, 1000]
    data = build_nack(9, 10, seqs)
    (item,) = parse_rtcp(data)
    assert item == Nack(sender_ssrc=9, media_ssrc=10, lost=seqs)
    # 100..116 fit one PID+BLP item; 117, 140, 1000 need one each
    assert len(data) == 12 + 4 * 4


def test_nack_across_wraparound_packs_into_one_item() -> None:
    data = build_nack(9, 10, [65534, 65535, 0, 3])
    assert len(data) == 16
    (item,) = parse_rtcp(data)
    assert isinstance(item, Nack) and item.lost == [65534, 65535, 0, 3]


def test_nack_parsed_by_aiortc_matches() -> None:
    data = build_nack(1, 2, [5, 7, 30])
    (pkt,) = RtcpPacket.parse(data)
    assert isinstance(pkt, RtcpRtpfbPacket) and pkt.lost == [5, 7, 30]


def test_nack_of_nothing_is_empty() -> None:
    assert build_nack(1, 2, []) == b""


def test_sr_round_trips_with_report_blocks() -> None:
    ntp = ntp_timestamp(1_700_000_000.25)
    data = build_sr(0xAA, ntp, 123456, 1000, 1_200_000, [BLOCK])
    (item,) = parse_rtcp(data)
    assert item == SenderReport(0xAA, ntp, 123456, 1000, 1_200_000, [BLOCK])
    assert ntp >> 32 == 1_700_000_000 + 2_208_988_800 and ntp & 0xFFFFFFFF == 1 << 30


def test_rr_round_trips() -> None:
    data = build_rr(0xBB, [BLOCK, ReportBlock(2, 0, 0, 1, 0, 0, 0)])
    (item,) = parse_rtcp(data)
    assert item == ReceiverReport(0xBB, [BLOCK, ReportBlock(2, 0, 0, 1, 0, 0, 0)])
    assert parse_rtcp(build_rr(0xBB)) == [ReceiverReport(0xBB, [])]


def test_remb_round_trips() -> None:
    data = build_remb(3, 1_500_000, [10, 11])
    (item,) = parse_rtcp(data)
    assert isinstance(item, Remb) and item.ssrcs == [10, 11] and item.sender_ssrc == 3
    # REMB mantissa has 18 bits: exact for this value after the shift
    assert abs(item.bitrate - 1_500_000) <= 1_500_000 >> 17


def test_compound_packet_yields_items_in_order_with_unknowns() -> None:
    sdes = bytes(RtcpSdesPacket(chunks=[]))
    bye = struct.pack("!BBHL", 0x81, 203, 1, 0x77)
    compound = build_rr(1, [BLOCK]) + sdes + build_pli(1, 2) + build_nack(1, 2, [4]) + bye
    items = parse_rtcp(compound)
    assert [type(i) for i in items] == [ReceiverReport, Unknown, Pli, Nack, Bye]
    assert items[1] == Unknown(packet_type=202, fmt=0, body=b"")
    assert items[4] == Bye([0x77])


def test_transport_cc_and_app_are_unknown() -> None:
    tcc = struct.pack("!BBHLL", 0x80 | 15, 205, 2, 1, 2)
    app = struct.pack("!BBHL4s", 0x80, 204, 2, 1, b"name")
    items = parse_rtcp(tcc + app)
    assert [(i.packet_type, i.fmt) for i in items if isinstance(i, Unknown)] == [
        (205, 15),
        (204, 0),
    ]


def test_malformed_framing_gives_empty_list() -> None:
    pli = build_pli(1, 2)
    assert parse_rtcp(b"") == []
    assert parse_rtcp(b"\x81\xce") == []  # short header
    assert parse_rtcp(b"\x41" + pli[1:]) == []  # version 1
    assert parse_rtcp(pli[:-1]) == []  # truncated
    assert parse_rtcp(pli + b"\x81\xce\x00\x09") == []  # second packet claims too much
    bad_pad = bytearray(build_pli(1, 2))
    bad_pad[0] |= 0x20
    bad_pad[-1] = 0  # padding count 0
    assert parse_rtcp(bytes(bad_pad)) == []


def test_bad_body_is_skipped_but_others_kept() -> None:
    short_pli = struct.pack("!BBHL", 0x81, 206, 1, 1)  # PLI without media SSRC
    bad_rr = struct.pack("!BBHL", 0x82, 201, 1, 1)  # RR claiming 2 blocks, has none
    assert parse_rtcp(short_pli + bad_rr + build_pli(5, 6)) == [Pli(5, 6)]


def test_padding_on_last_packet_is_removed() -> None:
    body = struct.pack("!LL", 1, 2) + b"\x00\x00\x00\x04"
    padded = struct.pack("!BBH", 0xA1, 206, len(body) // 4) + body
    assert parse_rtcp(padded) == [Pli(1, 2)]


@given(st.binary(max_size=80))
def test_parse_never_raises(data: bytes) -> None:
    assert isinstance(parse_rtcp(data), list)


@given(st.lists(st.integers(0, 65535), min_size=1, max_size=40).map(lambda s: sorted(set(s))))
def test_build_nack_covers_exactly_the_given_seqs(seqs: list[int]) -> None:
    (item,) = parse_rtcp(build_nack(1, 2, seqs))
    assert isinstance(item, Nack) and set(item.lost) == set(seqs)


def test_rtt_from_report_block() -> None:
    sent = ntp_timestamp(1000.0)
    arrived = ntp_timestamp(1000.5)
    # the receiver held our SR for 0.2 s before reporting
    block = ReportBlock(1, 0, 0, 0, 0, lsr=ntp_middle32(sent), dlsr=int(0.2 * 65536))
    rtt = rtt_from_report(block, arrived)
    assert rtt is not None and abs(rtt - 0.3) < 0.001
    assert rtt_from_report(ReportBlock(1, 0, 0, 0, 0, 0, 0), arrived) is None


def test_our_builders_match_aiortc_bytes_for_sr_rr_pli_remb() -> None:
    """The struct packing is independent of aiortc; its encoder is the reference here."""
    from aiortc.rtp import (
        RtcpPsfbPacket,
        RtcpReceiverInfo,
        RtcpRrPacket,
        RtcpSenderInfo,
        RtcpSrPacket,
        pack_remb_fci,
    )

    block = rtcp.ReportBlock(0x1234, 25, -3, 70_000, 12, 0xABCD0000, 655)
    info = RtcpReceiverInfo(
        ssrc=0x1234,
        fraction_lost=25,
        packets_lost=-3,
        highest_sequence=70_000,
        jitter=12,
        lsr=0xABCD0000,
        dlsr=655,
    )
    sender = RtcpSenderInfo(
        ntp_timestamp=0x0102030405060708, rtp_timestamp=90_000, packet_count=7, octet_count=900
    )
    assert rtcp.build_sr(9, 0x0102030405060708, 90_000, 7, 900, [block]) == bytes(
        RtcpSrPacket(ssrc=9, sender_info=sender, reports=[info])
    )
    assert rtcp.build_rr(9, [block]) == bytes(RtcpRrPacket(ssrc=9, reports=[info]))
    assert rtcp.build_pli(1, 2) == bytes(RtcpPsfbPacket(fmt=1, ssrc=1, media_ssrc=2))
    fci = pack_remb_fci(2_500_000, [5, 6])
    assert rtcp.build_remb(3, 2_500_000, [5, 6]) == bytes(
        RtcpPsfbPacket(fmt=15, ssrc=3, media_ssrc=0, fci=fci)
    )
    # and what aiortc builds, we parse to the same values
    (parsed,) = rtcp.parse_rtcp(bytes(RtcpRrPacket(ssrc=9, reports=[info])))
    assert parsed == rtcp.ReceiverReport(9, [block])
