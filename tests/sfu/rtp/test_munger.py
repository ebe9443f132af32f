"""RtpMunger: continuous output seq/timestamps across source switches; state after each packet."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ilvb.sfu.rtp.munger import MAX_REORDER, MIN_SWITCH_STEP_S, DropReason, RtpMunger
from ilvb.sfu.rtp.seq import seq_diff

VIDEO = 90000


def test_first_packet_keeps_its_values_by_default() -> None:
    m = RtpMunger(1, VIDEO)
    assert m.last_out_seq is None and m.out_to_in(5) is None
    assert m.rewrite(100, 5000, 0.0) == (100, 5000)
    assert m.last_out_seq == 100 and m.last_out_ts == 5000 and m.generation == 0


def test_initial_values_fix_the_first_output() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=7, initial_ts=1_000)
    assert m.rewrite(40000, 123456, 0.0) == (7, 1000)
    assert m.rewrite(40001, 126456, 0.033) == (8, 4000)


def test_in_order_stream_maps_by_constant_offset_across_wraparound() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=65534, initial_ts=2**32 - 3000)
    seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1]
    outs = []
    for i, s in enumerate(seqs):
        r = m.rewrite(s, 3000 * i, i / 30)
        assert r is not None
        outs.append(r)
        assert m.last_out_seq == r[0]
    assert [o[0] for o in outs] == [65534, 65535, 0, 1, 2, 3, 4, 5]
    assert [o[1] for o in outs] == [(2**32 - 3000 + 3000 * i) % 2**32 for i in range(8)]


def test_loss_keeps_the_gap_so_receiver_can_nack() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=10)
    assert m.rewrite(500, 0, 0.0) == (10, 0)
    assert m.rewrite(503, 0, 0.0) == (13, 0)  # 501, 502 lost
    assert m.last_out_seq == 13
    # the late packet fills its own hole
    assert m.rewrite(501, 0, 0.01) == (11, 0)
    assert m.last_out_seq == 13  # newest stays 13
    assert m.out_to_in(12) == (0, 502)  # never received, still mappable


def test_reordered_packets_keep_relative_positions() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    order = [100, 102, 101, 104, 103, 105]
    outs = [m.rewrite(s, 0, 0.0) for s in order]
    assert [o[0] for o in outs if o] == [0, 2, 1, 4, 3, 5]


def test_duplicates_are_dropped_newest_and_older() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    assert m.rewrite(100, 0, 0.0) == (0, 0)
    assert m.rewrite(101, 0, 0.0) == (1, 0)
    assert m.rewrite(101, 0, 0.0) is None
    assert m.last_drop is DropReason.DUPLICATE
    assert m.rewrite(100, 0, 0.0) is None
    assert m.last_drop is DropReason.DUPLICATE
    assert m.drops[DropReason.DUPLICATE] == 2
    # a hole filled once, then its duplicate dropped
    assert m.rewrite(103, 0, 0.0) == (3, 0)
    assert m.rewrite(102, 0, 0.0) == (2, 0)
    assert m.rewrite(102, 0, 0.0) is None


def test_packets_older_than_the_window_are_dropped() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    m.rewrite(1000, 0, 0.0)
    assert m.rewrite(1000 + MAX_REORDER + 2, 0, 0.0) == (MAX_REORDER + 2, 0)
    assert m.rewrite(1001, 0, 0.0) is None and m.last_drop is DropReason.TOO_OLD
    assert m.rewrite(1002, 0, 0.0) == (2, 0)  # exactly MAX_REORDER behind: still accepted


def test_switch_continues_seq_and_advances_ts_by_wall_time() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=1000, initial_ts=50_000)
    assert m.rewrite(7, 111, 10.0) == (1000, 50_000)
    assert m.rewrite(8, 3111, 10.033) == (1001, 53_000)
    assert m.switch_source() == 1
    # new source: completely different numbers, arrives 100 ms after the last packet
    out = m.rewrite(40_000, 999_999_999, 10.133)
    assert out == (1002, 53_000 + 9000)
    assert m.generation == 1 and m.last_out_seq == 1002
    # the new source's own timing is kept from here on
    assert m.rewrite(40_001, 999_999_999 + 3000, 10.166) == (1003, 65_000)
    assert m.out_to_in(1003) == (1, 40_001)
    assert m.out_to_in(1001) == (0, 8)


def test_switch_advances_ts_by_at_least_the_minimum_step() -> None:
    m = RtpMunger(1, 48000, initial_seq=0, initial_ts=0)
    m.rewrite(1, 0, 5.0)
    m.switch_source()
    # same instant (or a clock that went backwards): still a new timestamp
    assert m.rewrite(900, 7, 5.0) == (1, round(MIN_SWITCH_STEP_S * 48000))
    m.switch_source()
    assert m.rewrite(60000, 7, 4.0) == (2, 2 * round(MIN_SWITCH_STEP_S * 48000))


def test_switch_across_output_wraparound() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=65535, initial_ts=2**32 - 100)
    m.rewrite(10, 0, 0.0)
    m.switch_source()
    out = m.rewrite(30000, 0, 1.0)
    assert out == (0, (2**32 - 100 + VIDEO) % 2**32)
    assert m.out_to_in(65535) == (0, 10) and m.out_to_in(0) == (1, 30000)


def test_switch_twice_without_packets_between_uses_latest_generation() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0, initial_ts=0)
    m.rewrite(5, 0, 0.0)
    assert m.switch_source() == 1
    assert m.switch_source() == 2
    assert m.rewrite(700, 0, 0.02) == (1, 1800)
    assert m.out_to_in(1) == (2, 700)
    assert m.out_to_in(0) == (0, 5)


def test_switch_twice_with_packets_keeps_every_generation_mappable() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0, initial_ts=0)
    for s in (10, 11, 12):
        m.rewrite(s, 0, 0.0)
    m.switch_source()
    for s in (500, 501):
        m.rewrite(s, 0, 0.1)
    m.switch_source()
    for s in (9000, 9001, 9002):
        m.rewrite(s, 0, 0.2)
    assert m.last_out_seq == 7
    assert [m.out_to_in(o) for o in range(8)] == [
        (0, 10),
        (0, 11),
        (0, 12),
        (1, 500),
        (1, 501),
        (2, 9000),
        (2, 9001),
        (2, 9002),
    ]
    assert m.out_to_in(8) is None  # not sent yet


def test_late_packet_of_new_source_older_than_switch_point_is_dropped() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    m.rewrite(10, 0, 0.0)
    m.rewrite(11, 0, 0.0)
    m.switch_source()
    assert m.rewrite(500, 0, 0.1) == (2, 9000)
    # 499 of the new source: its output (1) would collide with the old source's packet
    assert m.rewrite(499, 0, 0.1) is None and m.last_drop is DropReason.BEFORE_SWITCH
    # the generation continues normally
    assert m.rewrite(502, 0, 0.1) == (4, 9000)
    assert m.rewrite(501, 0, 0.1) == (3, 9000)


def test_unlabelled_late_packets_of_old_source_that_look_older_are_dropped() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    for s in (20000, 20001, 20003):
        m.rewrite(s, 0, 0.0)
    m.switch_source()
    assert m.rewrite(30000, 0, 0.1) == (4, 9000)
    # 20002 of the old source arrives late: 9998 behind the new base
    assert m.rewrite(20002, 0, 0.1) is None
    assert m.last_drop is DropReason.BEFORE_SWITCH
    assert m.last_out_seq == 4


def test_labelled_late_packets_of_old_source_are_dropped_whatever_their_seq() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    m.switch_source(source=0xAAAA)
    m.rewrite(100, 0, 0.0, source=0xAAAA)
    m.rewrite(101, 0, 0.0, source=0xAAAA)
    m.switch_source(source=0xBBBB)
    assert m.rewrite(50, 0, 0.1, source=0xBBBB) == (2, 9000)
    # seq 102 looks *newer* than 50: only the label can tell it belongs to the old source
    assert m.rewrite(102, 0, 0.1, source=0xAAAA) is None
    assert m.last_drop is DropReason.WRONG_SOURCE
    assert m.rewrite(51, 0, 0.1, source=0xBBBB) == (3, 9000)
    assert m.drops[DropReason.WRONG_SOURCE] == 1


def test_out_to_in_rejects_seqs_beyond_the_window_and_forgotten_generations() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    m.rewrite(0, 0, 0.0)
    m.rewrite(MAX_REORDER + 5, 0, 0.0)
    assert m.out_to_in(MAX_REORDER + 5) == (0, MAX_REORDER + 5)
    assert m.out_to_in(4) is None  # older than the window
    assert m.out_to_in(5) == (0, 5)
    # many quick switches: every generation inside the window stays mappable ...
    m2 = RtpMunger(1, VIDEO, initial_seq=0)
    m2.rewrite(0, 0, 0.0)
    for g in range(1, 12):
        m2.switch_source()
        m2.rewrite(g * 100, 0, g * 0.1)
    assert m2.out_to_in(11) == (11, 1100)
    assert m2.out_to_in(0) == (0, 0)
    # ... and generations that fell out of the window are forgotten
    m2.rewrite(1100 + MAX_REORDER, 0, 2.0)
    assert m2.out_to_in(11) == (11, 1100)
    assert m2.out_to_in(10) is None
    # the table itself is trimmed at the next switch
    m2.switch_source()
    m2.rewrite(7, 0, 2.1)
    assert [g[0] for g in m2._gens] == [11, 12]


def test_long_run_with_loss_reorder_and_wrap_matches_reference_offsets() -> None:
    """Every forwarded packet keeps out - in constant within a generation (mod 2**16)."""
    import random

    rng = random.Random(7)
    m = RtpMunger(1, VIDEO, initial_seq=1234)
    base = 65000
    arrivals = [(base + i) & 0xFFFF for i in range(3000) if rng.random() > 0.05]
    # swap some neighbours to reorder
    for i in range(0, len(arrivals) - 1, 17):
        arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
    offset = (1234 - arrivals[0]) & 0xFFFF
    seen = set()
    for s in arrivals:
        r = m.rewrite(s, 0, 0.0)
        if s == arrivals[0]:
            assert r is not None
        if r is None:
            continue
        assert r[0] == (s + offset) & 0xFFFF
        assert r[0] not in seen
        seen.add(r[0])
    # only reordered packets that were "before the first packet" can be dropped
    assert len(seen) >= len(arrivals) - 1


def test_out_timestamp_rebuilds_a_retransmission_of_an_older_generation() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0, initial_ts=1000)
    m.rewrite(10, 500, 0.0)
    m.rewrite(11, 3500, 0.033)
    m.switch_source()
    assert m.rewrite(77, 10, 0.1) == (2, 4000 + round(0.067 * VIDEO))
    gen, in_seq = m.out_to_in(1) or (None, None)
    assert (gen, in_seq) == (0, 11)
    assert m.out_timestamp(0, 3500) == 4000
    assert m.out_timestamp(1, 10) == 4000 + round(0.067 * VIDEO)
    assert m.out_timestamp(5, 10) is None


# (src, in seq, in ts, t, expected (out seq, out ts) or DropReason); None src = switch_source()
# (src, in seq, in ts, t, expected (out seq, out ts) or DropReason, state after the packet:
# (hi_in, hi_out, seq_offset, ts_offset) with signed offsets); src None = switch_source()
Row = tuple[
    str | None, int, int, float, tuple[int, int] | DropReason | None, tuple[int, int, int, int]
]
A0 = (-4890, -899000)
B1 = (-11895, -7765107)
A2 = (-4901, -926180)
DOC_TRACE: list[Row] = [
    ("A", 4990, 900000, 10.000, (100, 1000), (4990, 65636, *A0)),
    ("A", 4991, 900000, 10.001, (101, 1000), (4991, 65637, *A0)),
    ("A", 4993, 903000, 10.034, (103, 4000), (4993, 65639, *A0)),
    ("A", 4992, 900000, 10.036, (102, 1000), (4993, 65639, *A0)),
    ("A", 4994, 906000, 10.067, (104, 7000), (4994, 65640, *A0)),
    ("A", 4994, 906000, 10.068, DropReason.DUPLICATE, (4994, 65640, *A0)),
    (None, 0, 0, 10.070, None, (4994, 65640, *A0)),
    ("B", 12000, 7777777, 10.130, (105, 12670), (12000, 65641, *B1)),
    ("B", 12001, 7777777, 10.131, (106, 12670), (12001, 65642, *B1)),
    ("B", 11999, 7774777, 10.133, DropReason.BEFORE_SWITCH, (12001, 65642, *B1)),
    ("A", 4995, 909000, 10.134, DropReason.BEFORE_SWITCH, (12001, 65642, *B1)),
    ("B", 12003, 7780777, 10.165, (108, 15670), (12003, 65644, *B1)),
    (None, 0, 0, 10.166, None, (12003, 65644, *B1)),
    ("A", 5010, 954000, 10.300, (109, 27820), (5010, 65645, *A2)),
    ("A", 5011, 957000, 10.333, (110, 30820), (5011, 65646, *A2)),
]


def test_trace_in_forwarding_doc() -> None:
    """The numeric trace of docs/internals/forwarding.md §2, row by row, with internal state."""
    from ilvb.sfu.rtp.seq import ts_diff

    m = RtpMunger(0x5107A0, VIDEO, initial_seq=100, initial_ts=1000)
    for row, (src, seq, ts, t, expected, state) in enumerate(DOC_TRACE, 1):
        if src is None:
            m.switch_source()
        else:
            got = m.rewrite(seq, ts, t)
            if isinstance(expected, DropReason):
                assert got is None and m.last_drop is expected, f"row {row}"
            else:
                assert got == expected, f"row {row}"
        internal = (m._hi_in, m._hi_out, seq_diff(m._seq_offset, 0), ts_diff(m._ts_offset, 0))
        assert internal == state, f"row {row}"
    assert [m.out_to_in(o) for o in (100, 104, 105, 107, 108, 109, 110, 111)] == [
        (0, 4990),
        (0, 4994),
        (1, 12000),
        (1, 12002),
        (1, 12003),
        (2, 5010),
        (2, 5011),
        None,
    ]
    assert m.out_timestamp(0, 903000) == 4000
    assert m.out_timestamp(0, 900000) == 1000


@st.composite
def switching_streams(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """(generation marker, seq, ts) arrivals: several sources, each with loss, reorder, dups."""
    events: list[tuple[int, int, int]] = []
    for gen in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, 65535))
        ts0 = draw(st.integers(0, 2**32 - 1))
        n = draw(st.integers(1, 60))
        seqs = [i for i in range(n) if draw(st.booleans()) or i == 0]
        # local reordering and duplicates
        for _ in range(draw(st.integers(0, 5))):
            if len(seqs) > 2:
                i = draw(st.integers(0, len(seqs) - 2))
                seqs[i], seqs[i + 1] = seqs[i + 1], seqs[i]
        for _ in range(draw(st.integers(0, 3))):
            seqs.append(draw(st.sampled_from(seqs)))
        events += [(gen, (start + i) & 0xFFFF, (ts0 + 3000 * i) & 0xFFFFFFFF) for i in seqs]
    return events


@settings(max_examples=80, deadline=None)
@given(switching_streams())
def test_output_is_unique_continuous_and_maps_back(events: list[tuple[int, int, int]]) -> None:
    m = RtpMunger(1, VIDEO, initial_seq=65500)
    gen_of_marker: dict[int, int] = {}
    sent: dict[int, tuple[int, int]] = {}  # out seq -> (generation, in seq)
    newest_out = None
    t = 0.0
    for marker, seq, ts in events:
        t += 0.001
        if marker not in gen_of_marker:
            gen_of_marker[marker] = m.switch_source() if gen_of_marker else m.generation
            first = True
        else:
            first = False
        r = m.rewrite(seq, ts, t)
        if first:
            # the first packet of every source is forwarded, right after the newest output
            assert r is not None
            if newest_out is not None:
                assert r[0] == (newest_out + 1) & 0xFFFF
        if r is None:
            continue
        out_seq, _ = r
        assert out_seq not in sent, "two packets got the same output seq"
        sent[out_seq] = (gen_of_marker[marker], seq)
        if newest_out is None or seq_diff(out_seq, newest_out) > 0:
            newest_out = out_seq
    assert newest_out is not None and m.last_out_seq == newest_out
    for out_seq, origin in sent.items():
        assert m.out_to_in(out_seq) == origin


def _packet(seq: int, ts: int, *, marker: bool = False, csrc: bool = False) -> bytes:
    import struct

    b0 = 0x90 | (1 if csrc else 0)
    head = struct.pack("!BBHII", b0, (0x80 if marker else 0) | 96, seq, ts, 0xABC)
    if csrc:
        head += struct.pack("!I", 0xC5C5)
    return head + struct.pack("!HHBBH", 0xBEDE, 1, 0x10, 0x85, 0) + b"payload"


@settings(max_examples=60, deadline=None)
@given(switching_streams(), st.booleans())
def test_forward_equals_rewrite_then_rewrite_rtp(
    events: list[tuple[int, int, int]], csrc: bool
) -> None:
    from ilvb.sfu.rtp.packet import parse_rtp, rewrite_rtp

    a = RtpMunger(0x55, VIDEO, initial_seq=3)
    b = RtpMunger(0x55, VIDEO, initial_seq=3)
    current = None
    t = 0.0
    for marker, seq, ts in events:
        t += 0.002
        if marker != current:
            if current is not None:
                a.switch_source()
                b.switch_source()
            current = marker
        data = _packet(seq, ts, marker=seq % 3 == 0, csrc=csrc)
        view = parse_rtp(data)
        assert view is not None
        got = a.forward(data, view, 100, t)
        mapped = b.rewrite(seq, ts, t)
        expected = (
            None
            if mapped is None
            else rewrite_rtp(
                data, view, payload_type=100, seq=mapped[0], timestamp=mapped[1], ssrc=0x55
            )
        )
        assert got == expected
        assert a.last_drop == b.last_drop and a.last_out_seq == b.last_out_seq


def test_forward_drops_like_rewrite_and_labels_sources() -> None:
    from ilvb.sfu.rtp.packet import parse_rtp

    m = RtpMunger(7, VIDEO, initial_seq=0, initial_ts=0)
    m.switch_source(source=1)
    first = _packet(10, 0)
    view = parse_rtp(first)
    assert view is not None
    out = m.forward(first, view, 101, 0.0, source=1)
    ov = parse_rtp(out or b"")
    assert ov is not None and (ov.payload_type, ov.seq, ov.timestamp, ov.ssrc) == (101, 0, 0, 7)
    assert ov.ext_profile == -1  # extensions dropped
    assert m.forward(first, view, 101, 0.0, source=1) is None
    assert m.last_drop is DropReason.DUPLICATE
    assert m.forward(first, view, 101, 0.0, source=2) is None
    assert m.last_drop is DropReason.WRONG_SOURCE


# -- skip(): padding-only packets dropped without a hole ----------------------------------------


def test_skip_closes_the_gap_of_a_dropped_padding_packet() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0, initial_ts=0)
    assert m.rewrite(10, 0, 0.0) == (0, 0)
    assert m.rewrite(11, 0, 0.0) == (1, 0)
    assert m.skip(12) is True
    assert m.last_out_seq == 1  # nothing sent for 12
    assert m.rewrite(13, 3000, 0.03) == (2, 3000)
    assert [m.out_to_in(o) for o in (0, 1, 2, 3)] == [(0, 10), (0, 11), (0, 13), None]


def test_a_burst_of_padding_is_one_gap() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    m.rewrite(10, 0, 0.0)
    assert all(m.skip(s) for s in (11, 12, 13))
    assert m.rewrite(14, 0, 0.0) == (1, 0)
    assert len(m._ranges) == 2 and m._ranges[-1][3] == 3  # one range, three skipped seqs
    for s in (11, 12, 13):
        assert m.rewrite(s, 0, 0.0) is None and m.last_drop is DropReason.SKIPPED


def test_packets_lost_before_a_skip_keep_their_output_seq_when_they_arrive() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    m.rewrite(10, 0, 0.0)  # out 0
    m.rewrite(12, 0, 0.0)  # out 2 (11 lost)
    assert m.skip(13)
    assert m.rewrite(14, 0, 0.0) == (3, 0)
    assert m.out_to_in(1) == (0, 11)  # the subscriber NACKs 1: it maps to the lost 11
    assert m.rewrite(11, 0, 0.0) == (1, 0)  # late 11 fills exactly that hole
    assert m.rewrite(11, 0, 0.0) is None and m.last_drop is DropReason.DUPLICATE


def test_skip_refuses_a_packet_that_is_not_next_in_order() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0)
    m.rewrite(10, 0, 0.0)
    assert m.skip(12) is False  # 11 missing: compacting here would shift 11's output seq
    assert m.skip(10) is False  # not newer
    assert m.rewrite(12, 0, 0.0) == (2, 0)


def test_skip_before_a_generation_starts_consumes_nothing() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=0, initial_ts=0)
    m.rewrite(10, 0, 0.0)
    m.switch_source(source=2)
    assert m.skip(500, source=2) is True
    assert m.skip(9, source=1) is True  # late packet of the old source: just dropped
    assert m.rewrite(501, 0, 0.1, source=2) == (1, 9000)
    assert m.out_to_in(1) == (1, 501)


def test_skip_across_wraparound() -> None:
    m = RtpMunger(1, VIDEO, initial_seq=100)
    m.rewrite(65534, 0, 0.0)
    assert m.skip(65535)
    assert m.rewrite(0, 0, 0.0) == (101, 0)
    assert m.skip(1)
    assert m.rewrite(2, 0, 0.0) == (102, 0)
    assert m.out_to_in(101) == (0, 0) and m.out_to_in(102) == (0, 2)


@st.composite
def padded_streams(draw: st.DrawFn) -> list[tuple[int, int, bool]]:
    """(generation marker, seq, is padding) arrivals with loss, reordering and duplicates."""
    events: list[tuple[int, int, bool]] = []
    for gen in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, 65535))
        n = draw(st.integers(1, 80))
        padding = [draw(st.integers(0, 3)) == 0 for _ in range(n)]
        order = [i for i in range(n) if draw(st.integers(0, 4)) > 0 or i == 0]
        for _ in range(draw(st.integers(0, 8))):
            if len(order) > 2:
                i = draw(st.integers(1, len(order) - 2))
                order[i], order[i + 1] = order[i + 1], order[i]
        for _ in range(draw(st.integers(0, 4))):
            order.append(draw(st.sampled_from(order)))
        padding[order[0]] = False  # a generation starts with media
        events += [(gen, (start + i) & 0xFFFF, padding[i]) for i in order]
    return events


@settings(max_examples=100, deadline=None)
@given(padded_streams())
def test_skip_keeps_exact_gaps_between_forwarded_packets(
    events: list[tuple[int, int, bool]],
) -> None:
    """Within a generation, out_b - out_a == (in_b - in_a) - (seqs skipped between them)."""
    m = RtpMunger(1, VIDEO, initial_seq=40000)
    gens: dict[int, int] = {}
    sent: dict[int, tuple[int, int, int]] = {}  # out seq -> (marker, in seq, out ext)
    skipped: dict[int, set[int]] = {}
    for marker, seq, pad in events:
        if marker not in gens:
            gens[marker] = m.switch_source() if gens else 0
            skipped[marker] = set()
        if pad and m.skip(seq):
            skipped[marker].add(seq)
            continue
        r = m.rewrite(seq, 0, 0.0)
        if r is None:
            continue
        assert r[0] not in sent
        assert seq not in skipped[marker]
        sent[r[0]] = (marker, seq, r[0])
    for out_seq, (marker, seq, _) in sent.items():
        assert m.out_to_in(out_seq) == (gens[marker], seq)
    by_gen: dict[int, list[tuple[int, int]]] = {}
    for out_seq, (marker, seq, _) in sent.items():
        by_gen.setdefault(marker, []).append((seq, out_seq))
    for marker, pairs in by_gen.items():
        base_in, base_out = pairs[0]
        for seq, out_seq in pairs[1:]:
            din = seq_diff(seq, base_in)
            lo, hi = (base_in, seq) if din > 0 else (seq, base_in)
            n_skipped = sum(1 for s in skipped[marker] if 0 < seq_diff(s, lo) < seq_diff(hi, lo))
            expected = din - n_skipped if din > 0 else din + n_skipped
            assert seq_diff(out_seq, base_out) == expected


def test_skip_trace_in_forwarding_doc() -> None:
    """The table of docs/internals/forwarding.md §2.1, row by row."""
    m = RtpMunger(1, VIDEO, initial_seq=200, initial_ts=0)
    assert m.rewrite(7000, 0, 0.0) == (200, 0)
    assert m.rewrite(7002, 3000, 0.033) == (202, 3000)
    assert m.skip(7003) is True
    assert [(r[0], seq_diff(r[1] & 0xFFFF, 0), r[3]) for r in m._ranges] == [
        (7000, -6800, 0),
        (7004, -6801, 1),
    ]
    assert m.skip(7004) is True
    assert [(r[0], seq_diff(r[1] & 0xFFFF, 0), r[3]) for r in m._ranges][-1] == (7005, -6802, 2)
    assert m.rewrite(7005, 6000, 0.066) == (203, 6000)
    assert m.rewrite(7001, 0, 0.07) == (201, 0)
    assert m.rewrite(7004, 0, 0.07) is None and m.last_drop is DropReason.SKIPPED
    assert [m.out_to_in(o) for o in range(200, 205)] == [
        (0, 7000),
        (0, 7001),
        (0, 7002),
        (0, 7005),
        None,
    ]
