"""ReceptionStats: RFC 3550 loss, extended seq, jitter and LSR/DLSR for receiver reports."""

from __future__ import annotations

from ilvb.sfu.rtp.rtcp import build_rr, ntp_middle32, ntp_timestamp, parse_rtcp
from ilvb.sfu.rtp.stats import ReceptionStats


def test_no_report_before_first_packet() -> None:
    assert ReceptionStats(90000).report_block(1, 0.0) is None


def test_loss_fraction_and_cumulative_per_interval() -> None:
    s = ReceptionStats(48000)
    # 100 packets, every 10th lost
    for i in range(100):
        if i % 10 != 9:
            s.on_packet(i, i * 960, i * 0.02)
    block = s.report_block(0xA, 2.0)
    assert block is not None
    # highest received is 98 -> expected 99, received 90
    assert block.highest_seq == 98 and block.packets_lost == 9
    assert block.fraction_lost == (9 << 8) // 99
    # next interval: only 99 (found missing now) lost out of 99..149
    for i in range(100, 150):
        s.on_packet(i, i * 960, i * 0.02)
    block = s.report_block(0xA, 3.0)
    assert block is not None and block.fraction_lost == (1 << 8) // 51
    assert block.packets_lost == 10
    # an interval without loss: fraction 0, cumulative unchanged
    for i in range(150, 160):
        s.on_packet(i, i * 960, i * 0.02)
    block = s.report_block(0xA, 4.0)
    assert block is not None and block.fraction_lost == 0 and block.packets_lost == 10


def test_extended_highest_counts_wraparound_cycles() -> None:
    s = ReceptionStats(90000)
    for i in range(20):
        s.on_packet((65530 + i) & 0xFFFF, i * 3000, i * 0.033)
    assert s.extended_highest == 65530 + 19 and s.lost == 0
    block = s.report_block(1, 1.0)
    assert block is not None and block.highest_seq == 65549 and block.highest_seq >> 16 == 1


def test_reordering_and_duplicates_do_not_move_highest_back() -> None:
    s = ReceptionStats(90000)
    for seq in (1, 2, 4, 3, 4, 5):
        s.on_packet(seq, 0, 0.0)
    assert s.extended_highest == 5
    assert s.lost == -1  # one duplicate: RFC 3550 allows negative loss


def test_jitter_is_zero_for_perfect_pacing_and_grows_with_variation() -> None:
    s = ReceptionStats(90000)
    for i in range(50):
        s.on_packet(i, i * 3000, 10.0 + i / 30)
    assert s.jitter <= 1
    j = ReceptionStats(90000)
    for i in range(200):
        wobble = 0.010 if i % 2 else 0.0  # every other packet 10 ms late
        j.on_packet(i, i * 3000, 10.0 + i / 30 + wobble)
    # |D| = 900 ticks each step: the estimate converges towards 900
    assert 800 < j.jitter <= 900


def test_lsr_dlsr_from_the_last_sender_report() -> None:
    s = ReceptionStats(90000)
    s.on_packet(1, 0, 5.0)
    ntp = ntp_timestamp(1_700_000_000.0)
    s.on_sender_report(ntp, 5.0)
    block = s.report_block(7, 5.5)
    assert block is not None
    assert block.lsr == ntp_middle32(ntp) and block.dlsr == 32768  # 0.5 s in 1/65536 s
    # round trip through the RR builder / parser
    (rr,) = parse_rtcp(build_rr(0x1F5F5F5F, [block]))
    assert rr.reports == [block]  # type: ignore[union-attr]
