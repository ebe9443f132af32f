"""Loss recovery through the router: repeated NACKs answered once per subscriber RTT, the RTT
learned from the subscriber's RRs, NACK answers repeated on a lossy downlink, the worst
downstream audio loss reported to the publisher, and a keyframe asked for as soon as a
publisher's packet is given up."""

from __future__ import annotations

import time

from ilvb.sfu.api import Subscription
from ilvb.sfu.consumer import answer_copies
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
    REMOTE,
    VP8_DELTA,
    VP8_KEY,
    Room,
    addr,
    audio_track,
    connect,
    level_ext,
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


def test_answer_copies_grow_with_the_downlink_loss() -> None:
    assert [answer_copies(f) for f in (0, 12, 13, 50, 51, 255)] == [1, 1, 2, 2, 3, 3]


def test_a_lossy_subscriber_gets_each_nack_answer_in_several_identical_copies() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    sub = room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 10, 0, 1000, VP8_KEY))
    for seq in range(11, 14):
        pub.handle_srtp(rtp(120, seq, 3000 * seq, 1000, VP8_DELTA))
    room.svc.take(addr("bob"))
    slot_ssrc = room.slot_ssrc("bob", "v0")
    sub.handle_srtp(build_nack(0x4444, slot_ssrc, [12]))
    assert len(room.svc.take(addr("bob"))[0]) == 1  # no loss reported yet: one answer
    for _ in range(12):  # the smoothed loss climbs over the reports to 30 %
        sub.handle_srtp(_rr_about(slot_ssrc, 77))
    room.svc.t += 1.0
    sub.handle_srtp(build_nack(0x4444, slot_ssrc, [13]))
    copies = room.svc.take(addr("bob"))[0]
    assert len(copies) == 3 and len({d for _, d in copies}) == 1  # the same packet 3 times
    assert room.router.rtcp.nacks_answered == 2  # answers, not copies
    slot = next(s for s in room.router.members["bob"].video_slots if s.ssrc == slot_ssrc)
    assert slot.copies_sent == 2


def test_no_copies_while_the_subscribers_jitter_says_its_loss_is_reordering() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    sub = room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 10, 0, 1000, VP8_KEY))
    for seq in range(11, 14):
        pub.handle_srtp(rtp(120, seq, 3000 * seq, 1000, VP8_DELTA))
    room.svc.take(addr("bob"))
    slot_ssrc = room.slot_ssrc("bob", "v0")
    jittery = build_rr(0x4444, [ReportBlock(slot_ssrc, 77, 0, 0, 9000, 0, 0)])  # 100 ms
    for _ in range(12):
        sub.handle_srtp(jittery)
    sub.handle_srtp(build_nack(0x4444, slot_ssrc, [12]))
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


def _red_room() -> tuple[Room, object]:
    from dataclasses import replace

    room = Room()
    pub = room.publish("alice", replace(audio_track(2000), red_payload_type=63))
    return room, pub


def test_red_is_forwarded_as_red_to_a_subscriber_that_takes_it_and_as_opus_otherwise() -> None:
    from ilvb.sfu.rtp.red import build_red, parse_red

    room, pub = _red_room()
    # bob takes RED (63) with Opus numbered like the publisher; carol only Opus, as 100;
    # dave takes RED but numbers Opus 101: block PTs are re-labelled
    for name, pts in (("bob", {"opus": 109, "red": 63}), ("carol", {"opus": 100})):
        room.router.offer_receive(name, 1, 0)
        room.router.accept_receive_answer(name, REMOTE, {"a0": pts})
        connect(room.router.members[name].recv, addr(name))
        room.router.set_subscription(name, Subscription(audio_from=("alice",)))
    room.router.offer_receive("dave", 1, 0)
    room.router.accept_receive_answer("dave", REMOTE, {"a0": {"opus": 101, "red": 62}})
    connect(room.router.members["dave"].recv, addr("dave"))
    room.router.set_subscription("dave", Subscription(audio_from=("alice",)))
    for seq in range(1, 30):  # alice speaks (RFC 6464 level 10): she gets the slots
        room.svc.t += 0.02
        pub.handle_srtp(rtp(109, seq, 960 * seq, 2000, b"o", level_ext(1, 10)))  # type: ignore[attr-defined]
        room.router.slow_tick(room.svc.t, send_reports=False)
    for name in ("bob", "carol", "dave"):
        room.svc.take(addr(name))
    red = build_red(109, b"frame-2", ((109, 960, b"frame-1"),))
    pub.handle_srtp(rtp(63, 30, 1920, 2000, red))  # type: ignore[attr-defined]
    pub.handle_srtp(rtp(109, 31, 2880, 2000, b"plain"))  # type: ignore[attr-defined]
    pub.handle_srtp(rtp(63, 32, 3840, 2000, b"\x80\x00"))  # type: ignore[attr-defined]  malformed
    got = {n: room.svc.take(addr(n))[0] for n in ("bob", "carol", "dave")}
    bob = [(v.payload_type, d[v.header_len : v.payload_end]) for v, d in got["bob"]]
    assert bob == [(63, red), (109, b"plain")]
    carol = [(v.payload_type, d[v.header_len : v.payload_end]) for v, d in got["carol"]]
    assert carol == [(100, b"frame-2"), (100, b"plain")]
    (v, d), (v2, _) = got["dave"]
    blocks = parse_red(d[v.header_len : v.payload_end])
    assert v.payload_type == 62 and v2.payload_type == 101
    assert blocks is not None and [b.payload_type for b in blocks] == [101, 101]


def test_an_rtx_retransmission_is_unwrapped_into_the_cache_and_forwarded() -> None:
    from dataclasses import replace

    from ilvb.sfu.rtp.rtcp import Nack

    room = Room()
    pub = room.publish("alice", replace(video_track(), rtx_payload_type=121, rtx_ssrc=1001))
    room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 1, 0, 1000, VP8_KEY))
    pub.handle_srtp(rtp(120, 3, 6000, 1000, VP8_DELTA))  # seq 2 lost
    room.svc.take(addr("bob"))
    room.svc.take(addr("alice"))
    room.svc.t += 0.02
    room.router.tick(room.svc.t)
    nacks = [i for i in room.svc.take(addr("alice"))[1] if isinstance(i, Nack)]
    assert nacks and nacks[0].lost == [2]
    # the publisher answers on RTX: PT 121, its RTX SSRC, own seq 500, OSN 2 + payload
    room.svc.t += 0.012
    pub.handle_srtp(rtp(121, 500, 3000, 1001, (2).to_bytes(2, "big") + b"\x00late-frame"))
    p = room.router.members["alice"].producers["camera"]
    assert p.rtx_packets == 1 and p.nack is not None and p.nack.recovered == 1
    assert p.nack.rtt.samples == 1 and abs(p.nack.rtt.srtt - 0.012) < 1e-6
    cached = p.cache.get(2) if p.cache is not None else None
    assert cached is not None and cached[12:] == b"\x00late-frame" and cached[1] & 0x7F == 120
    ((view, data),) = room.svc.take(addr("bob"))[0]  # forwarded in the slot's own numbering
    assert data[view.header_len :] == b"\x00late-frame" and view.payload_type == 96
    pub.handle_srtp(rtp(121, 501, 0, 1001, b"\x00"))  # a padding-sized probe: dropped
    assert p.rtx_packets == 1


def test_audio_that_agreed_nack_is_cached_and_nacked_upstream() -> None:
    from dataclasses import replace

    from ilvb.sfu.rtp.rtcp import Nack

    room = Room()
    pub = room.publish("alice", replace(audio_track(2000), feedback=("nack",)))
    for seq in (1, 2, 4):
        pub.handle_srtp(rtp(109, seq, 960 * seq, 2000, b"opus"))
    room.svc.take(addr("alice"))
    room.svc.t += 0.02
    room.router.tick(room.svc.t)
    nacks = [i for i in room.svc.take(addr("alice"))[1] if isinstance(i, Nack)]
    assert nacks and nacks[0].media_ssrc == 2000 and nacks[0].lost == [3]
    p = room.router.members["alice"].producers["microphone"]
    assert p.cache is not None and p.cache.get(2) is not None
    plain = Room()
    q = plain.publish("alice", audio_track(2000))
    assert plain.router.members["alice"].producers["microphone"].nack is None and q
