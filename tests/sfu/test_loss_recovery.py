"""Loss recovery through the router: repeated NACKs answered once per subscriber RTT, the RTT
learned from the subscriber's RRs, the worst downstream audio loss reported to the publisher,
and a keyframe asked for as soon as a publisher's packet is given up."""

from __future__ import annotations

import time

from ilvb.sfu.rtp.nack import MAX_AGE_S
from ilvb.sfu.rtp.rtcp import (
    Pli,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    build_nack,
    build_rr,
    ntp_middle32,
    ntp_timestamp,
)
from tests.sfu.test_router import (
    VP8_DELTA,
    VP8_KEY,
    Room,
    addr,
    audio_track,
    rtp,
    video_track,
)


def _rr_about(ssrc: int, fraction: int, rtt_s: float | None = None) -> bytes:
    """A subscriber's RR block about ``ssrc``; with ``rtt_s`` it echoes an SR as if sent
    ``rtt_s`` ago with no hold time (LSR = then, DLSR = 0)."""
    lsr = ntp_middle32(ntp_timestamp(time.time() - rtt_s)) if rtt_s is not None else 0
    return build_rr(0x4444, [ReportBlock(ssrc, fraction, 0, 0, 0, lsr, 0)])


def test_a_nack_repeated_within_the_subscribers_rtt_is_answered_once() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    sub = room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 10, 0, 1000, VP8_KEY))
    for seq in range(11, 16):
        pub.handle_srtp(rtp(120, seq, 3000 * seq, 1000, VP8_DELTA))
    room.svc.take(addr("bob"))
    slot_ssrc = room.slot_ssrc("bob", "v0")
    sub.handle_srtp(_rr_about(slot_ssrc, 0, rtt_s=0.5))  # a 500 ms path
    slot = next(s for s in room.router.members["bob"].video_slots if s.ssrc == slot_ssrc)
    assert slot.rtt.samples == 1 and 0.45 < slot.rtt.srtt < 0.55

    def resent_after_nack(dt: float) -> int:
        room.svc.t += dt
        sub.handle_srtp(build_nack(0x4444, slot_ssrc, [12, 13]))
        return len(room.svc.take(addr("bob"))[0])

    assert resent_after_nack(0.0) == 2
    assert resent_after_nack(0.1) == 0  # the receiver re-asks every 100 ms: still in flight
    assert resent_after_nack(0.1) == 0
    assert resent_after_nack(1.0) == 2  # more than srtt + 2 rttvar later: it was lost
    assert slot.limiter.suppressed == 4


def test_without_an_rtt_sample_repeated_nacks_are_answered() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    sub = room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 10, 0, 1000, VP8_KEY))
    pub.handle_srtp(rtp(120, 11, 3000, 1000, VP8_DELTA))
    room.svc.take(addr("bob"))
    slot_ssrc = room.slot_ssrc("bob", "v0")
    for _ in range(2):
        room.svc.t += 0.1
        sub.handle_srtp(build_nack(0x4444, slot_ssrc, [11]))
        assert len(room.svc.take(addr("bob"))[0]) == 1


def test_publisher_rr_for_audio_carries_the_worst_subscriber_loss_video_its_own() -> None:
    room = Room()
    pub = room.publish("alice", audio_track(2000), video_track(1000))
    subs = {
        name: room.subscribe(name, audio=1, video=1, views=(("alice", "camera"),))
        for name in ("bob", "carol")
    }
    for seq in range(1, 40):
        pub.handle_srtp(rtp(109, seq, 960 * seq, 2000, b"\xfc" + b"o" * 20))
        pub.handle_srtp(rtp(120, seq, 3000 * seq, 1000, VP8_KEY if seq == 1 else VP8_DELTA))
    room.svc.t += 0.2
    room.router.slow_tick(room.svc.t, send_reports=True)
    subs["bob"].handle_srtp(_rr_about(room.slot_ssrc("bob", "a0"), 26))  # 10 %
    subs["carol"].handle_srtp(_rr_about(room.slot_ssrc("carol", "a0"), 77))  # 30 %
    subs["carol"].handle_srtp(_rr_about(room.slot_ssrc("carol", "v0"), 128))
    room.svc.take(addr("alice"))
    room.svc.t += 1.0
    room.router.slow_tick(room.svc.t, send_reports=True)
    _, rtcp = room.svc.take(addr("alice"))
    (rr,) = [i for i in rtcp if isinstance(i, ReceiverReport)]
    by_ssrc = {b.ssrc: b.fraction_lost for b in rr.reports}
    assert by_ssrc == {2000: 77, 1000: 0}
    # reports older than the window stop counting
    room.svc.t += 10.0
    room.router.slow_tick(room.svc.t, send_reports=True)
    _, rtcp = room.svc.take(addr("alice"))
    (rr,) = [i for i in rtcp if isinstance(i, ReceiverReport)]
    assert {b.ssrc: b.fraction_lost for b in rr.reports}[2000] == 0
    assert not any(isinstance(i, SenderReport) for i in rtcp)


def test_a_packet_given_up_upstream_asks_the_publisher_for_a_keyframe_at_once() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 1, 0, 1000, VP8_KEY))
    room.svc.t += 2.0  # the subscriber's keyframe request is long past its throttle
    pub.handle_srtp(rtp(120, 3, 3000, 1000, VP8_DELTA))  # seq 2 never comes
    room.svc.take(addr("alice"))
    t0 = room.svc.t
    plis = 0
    while room.svc.t < t0 + MAX_AGE_S + 0.1:
        room.svc.t += 0.02
        room.router.tick(room.svc.t)
        plis += sum(isinstance(i, Pli) for i in room.svc.take(addr("alice"))[1])
    p = room.router.members["alice"].producers["camera"]
    assert p.nack is not None and p.nack.lost == 1
    assert plis == 1 and p.keyframes_after_give_up == 1
