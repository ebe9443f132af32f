"""Router: slot assignment, consumers, munger continuity, keyframe gating, PLI relay, NACK
answers, audio selection, revocation and leaks — on fake sockets and identity "SRTP"."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from ilvb.sfu.api import (
    ProducerClosed,
    RouterEvent,
    RouterOptions,
    SlotChanged,
    Subscription,
    TransportClosed,
)
from ilvb.sfu.dtls import DtlsCertificate
from ilvb.sfu.producer import FEEDBACK_SSRC
from ilvb.sfu.router import Router
from ilvb.sfu.rtp.packet import parse_rtp
from ilvb.sfu.rtp.rtcp import Nack, Pli, build_nack, build_pli, parse_rtcp
from ilvb.sfu.sdp import AcceptedTrack
from ilvb.sfu.transport import RemoteParams, WebRtcTransport

CERT = DtlsCertificate.generate()
REMOTE = RemoteParams("cli", "p" * 22, (("sha-256", "AA"),), "server")
VP8_KEY = b"\x10\x00\x9d\x01\x2a" + b"K" * 40
VP8_DELTA = b"\x10\x01" + b"D" * 40
VP8_CONT = b"\x00" + b"C" * 40  # not the start of a frame


class Plain:
    """Identity SRTP: the tests read and write plain RTP."""

    @staticmethod
    def protect(b: bytes) -> bytes:
        return b

    unprotect = protect_rtcp = unprotect_rtcp = protect


class Services:
    """A fake worker: a settable clock and a list of sent datagrams."""

    certificate = CERT
    announced_ip = "127.0.0.1"
    announced_port = 40000
    port = 40000
    keyframe_interval_s = 1.0
    nack_cache_packets = 256
    fast_fd = None  # the pure-Python path

    def __init__(self) -> None:
        self.t = 100.0
        self.sent: list[tuple[tuple[str, int], bytes]] = []
        self.transports: set[WebRtcTransport] = set()

    def now(self) -> float:
        return self.t

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((addr, data))

    def add_transport(self, t: WebRtcTransport) -> None:
        self.transports.add(t)

    def remove_transport(self, t: WebRtcTransport) -> None:
        self.transports.discard(t)

    def take(self, addr: tuple[str, int]) -> tuple[list[Any], list[Any]]:
        """(RTP views+bytes, RTCP items) sent to ``addr`` since the last take."""
        rtp, rtcp = [], []
        keep = []
        for a, data in self.sent:
            if a != addr:
                keep.append((a, data))
            elif 191 < data[1] < 224:
                rtcp.extend(parse_rtcp(data))
            else:
                rtp.append((parse_rtp(data), data))
        self.sent = keep
        return rtp, rtcp


def addr(name: str) -> tuple[str, int]:
    return ("127.0.0.1", 41000 + sum(map(ord, name)) % 1000)


def connect(t: WebRtcTransport, a: tuple[str, int]) -> None:
    """Pretend ICE and DTLS completed."""
    t.remote_addr = a
    t._rx = t._tx = Plain()  # type: ignore[assignment]
    t.state = "connected"
    t.on_connected()


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, ext: bytes = b"") -> bytes:
    b0 = 0x80 | (0x10 if ext else 0)
    return struct.pack("!BBHII", b0, pt, seq & 0xFFFF, ts, ssrc) + ext + payload


def level_ext(ext_id: int, level: int) -> bytes:
    return struct.pack("!HH", 0xBEDE, 1) + bytes([ext_id << 4, 0x80 | level, 0, 0])


def video_track(ssrc: int | None = 1000, mid_ext: int | None = None) -> AcceptedTrack:
    return AcceptedTrack(
        "0", "video", "camera", "VP8", 120, 90000, None, "", (), ssrc, None, mid_ext
    )


def audio_track(ssrc: int) -> AcceptedTrack:
    return AcceptedTrack("1", "audio", "microphone", "opus", 109, 48000, 2, "", (), ssrc, 1, None)


class Room:
    def __init__(self, options: RouterOptions = RouterOptions()) -> None:
        self.svc = Services()
        self.events: list[RouterEvent] = []
        self.router = Router("room", self.svc, self.events.append, options)

    def publish(self, member: str, *tracks: AcceptedTrack) -> WebRtcTransport:
        self.router.negotiate_send(member, REMOTE, list(tracks))
        t = self.router.members[member].send
        assert t is not None
        connect(t, addr(member))
        return t

    def subscribe(self, member: str, audio: int = 1, video: int = 1, **sub: Any) -> WebRtcTransport:
        self.router.offer_receive(member, audio, video)
        pts = {f"a{i}": {"opus": 111} for i in range(audio)}
        pts.update({f"v{i}": {"VP8": 96, "H264": 102} for i in range(video)})
        self.router.accept_receive_answer(member, REMOTE, pts)
        t = self.router.members[member].recv
        assert t is not None
        connect(t, addr(member))
        self.router.set_subscription(member, Subscription(**sub))
        return t

    def slot_ssrc(self, member: str, mid: str) -> int:
        m = self.router.members[member]
        return next(s.ssrc for s in m.audio_slots + m.video_slots if s.mid == mid)

    def slots(self) -> list[SlotChanged]:
        return [e for e in self.events if isinstance(e, SlotChanged)]


def test_video_is_forwarded_from_the_first_keyframe_with_the_slot_ssrc_and_subscriber_pt() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    _, rtcp = room.svc.take(addr("alice"))
    assert any(isinstance(i, Pli) and i.media_ssrc == 1000 for i in rtcp)  # new consumer: PLI now
    for seq in (1, 2, 3):
        pub.handle_srtp(rtp(120, seq, 3000 * seq, 1000, VP8_DELTA))
    assert room.svc.take(addr("bob"))[0] == []  # no keyframe yet: nothing decodable to send
    pub.handle_srtp(rtp(120, 4, 12000, 1000, VP8_KEY))
    pub.handle_srtp(rtp(120, 5, 12000, 1000, VP8_CONT))
    pub.handle_srtp(rtp(120, 6, 15000, 1000, VP8_DELTA))
    out, _ = room.svc.take(addr("bob"))
    views = [v for v, _ in out]
    assert [v.ssrc for v in views] == [room.slot_ssrc("bob", "v0")] * 3
    assert [v.payload_type for v in views] == [96, 96, 96]
    assert [v.seq for v in views] == [4, 5, 6]
    assert [v.timestamp for v in views] == [12000, 12000, 15000]
    assert out[0][1][12:] == VP8_KEY  # payload untouched
    assert SlotChanged("bob", "v0", "video", "alice", "camera") in room.slots()


def test_view_switch_keeps_one_continuous_stream_and_asks_the_new_source_for_a_keyframe() -> None:
    room = Room()
    alice = room.publish("alice", video_track(1000))
    carol = room.publish("carol", video_track(2000))
    room.subscribe("bob", views=(("alice", "camera"),))
    alice.handle_srtp(rtp(120, 100, 9000, 1000, VP8_KEY))
    alice.handle_srtp(rtp(120, 101, 12000, 1000, VP8_DELTA))
    room.svc.take(addr("carol"))
    room.svc.t += 0.5
    room.router.set_subscription("bob", Subscription(views=(("carol", "camera"),)))
    assert room.slots()[-1] == SlotChanged("bob", "v0", "video", "carol", "camera")
    _, rtcp = room.svc.take(addr("carol"))
    assert any(isinstance(i, Pli) and i.media_ssrc == 2000 for i in rtcp)
    alice.handle_srtp(rtp(120, 102, 15000, 1000, VP8_DELTA))  # old source: no longer forwarded
    carol.handle_srtp(rtp(120, 7000, 500, 2000, VP8_DELTA))  # new source, not a keyframe yet
    carol.handle_srtp(rtp(120, 7001, 3500, 2000, VP8_KEY))
    carol.handle_srtp(rtp(120, 7002, 6500, 2000, VP8_DELTA))
    out, _ = room.svc.take(addr("bob"))
    views = [v for v, _ in out]
    assert {v.ssrc for v in views} == {room.slot_ssrc("bob", "v0")}
    assert [v.seq for v in views] == [100, 101, 102, 103]  # no gap across the switch
    ts = [v.timestamp for v in views]
    assert ts[2] - ts[1] >= 0.5 * 90000 * 0.9  # advanced by the wall time of the switch
    assert ts[3] - ts[2] == 3000  # the new source's own spacing
    assert room.router.stats()["slot_switches"] == 2


def test_subscriber_nack_is_answered_from_the_cache_with_the_same_rewritten_packet() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    sub = room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 10, 0, 1000, VP8_KEY))
    for seq in range(11, 16):
        pub.handle_srtp(rtp(120, seq, 3000 * seq, 1000, VP8_DELTA + bytes([seq])))
    out, _ = room.svc.take(addr("bob"))
    original = {v.seq: data for v, data in out}
    slot_ssrc = room.slot_ssrc("bob", "v0")
    sub.handle_srtp(build_nack(0x1234, slot_ssrc, [12, 14, 999]))
    resent, _ = room.svc.take(addr("bob"))
    assert [data for _, data in resent] == [original[12], original[14]]
    assert room.router.stats()["nacks_answered"] == 2


def test_publisher_losses_are_nacked_upstream() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    room.svc.take(addr("alice"))
    for seq in (1, 2, 5):
        pub.handle_srtp(rtp(120, seq, 0, 1000, VP8_DELTA))
    room.svc.t += 0.1
    room.router.tick(room.svc.t)
    _, rtcp = room.svc.take(addr("alice"))
    nacks = [i for i in rtcp if isinstance(i, Nack)]
    assert nacks and nacks[0].media_ssrc == 1000 and sorted(nacks[0].lost) == [3, 4]
    assert nacks[0].sender_ssrc == FEEDBACK_SSRC


def test_subscriber_pli_is_relayed_at_most_once_per_second() -> None:
    room = Room()
    room.publish("alice", video_track())
    sub = room.subscribe("bob", views=(("alice", "camera"),))
    room.svc.t += 2
    room.svc.take(addr("alice"))
    slot_ssrc = room.slot_ssrc("bob", "v0")
    for _ in range(3):
        sub.handle_srtp(build_pli(0x1234, slot_ssrc))
    _, rtcp = room.svc.take(addr("alice"))
    assert len([i for i in rtcp if isinstance(i, Pli)]) == 1
    room.svc.t += 1.1
    sub.handle_srtp(build_pli(0x1234, slot_ssrc))
    _, rtcp = room.svc.take(addr("alice"))
    assert len([i for i in rtcp if isinstance(i, Pli)]) == 1
    assert room.router.stats()["plis_relayed"] == 2


def test_disabling_a_source_stops_forwarding_at_once_and_frees_the_slot() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 1, 0, 1000, VP8_KEY))
    assert len(room.svc.take(addr("bob"))[0]) == 1
    room.router.set_source_enabled("alice", "camera", False)
    pub.handle_srtp(rtp(120, 2, 3000, 1000, VP8_KEY))
    assert room.svc.take(addr("bob"))[0] == []
    assert room.slots()[-1] == SlotChanged("bob", "v0", "video", None, None)
    stats = room.router.stats()
    assert (stats["producers"], stats["producers_paused"], stats["consumers"]) == (0, 1, 0)
    room.router.set_source_enabled("alice", "camera", True)
    pub.handle_srtp(rtp(120, 3, 6000, 1000, VP8_KEY))
    out, _ = room.svc.take(addr("bob"))
    assert [v.seq for v, _ in out] == [2]  # continuous after the pause
    assert room.router.stats()["consumers"] == 1


def test_unknown_ssrc_is_bound_by_its_mid_extension() -> None:
    room = Room()
    pub = room.publish("alice", video_track(ssrc=None, mid_ext=3))
    room.subscribe("bob", views=(("alice", "camera"),))
    mid_ext = struct.pack("!HH", 0xBEDE, 1) + bytes([3 << 4, ord("0"), 0, 0])
    pub.handle_srtp(rtp(120, 1, 0, 4242, VP8_KEY, ext=mid_ext))
    out, _ = room.svc.take(addr("bob"))
    assert len(out) == 1 and out[0][0].ext_profile == -1  # extensions are not forwarded
    assert room.router.members["alice"].producers["camera"].ssrc == 4242


def test_each_listener_hears_the_six_loudest_never_itself() -> None:
    room = Room()
    senders = [f"s{i}" for i in range(8)]
    transports = {s: room.publish(s, audio_track(5000 + i)) for i, s in enumerate(senders)}
    for s in ["listener", "s0"]:
        room.subscribe(s, audio=6, video=0)
    for step in range(60):  # 1.2 s of 20 ms packets, s0 loudest (level 10) … s7 quietest
        room.svc.t += 0.02
        for i, s in enumerate(senders):
            ext = level_ext(1, 10 + 8 * i)
            transports[s].handle_srtp(rtp(109, step, 960 * step, 5000 + i, b"opus", ext))
        room.router.slow_tick(room.svc.t, send_reports=False)

    def hearing(member: str) -> set[str]:
        slots = room.router.members[member].audio_slots
        return {s.consumer.producer.member_id for s in slots if s.consumer is not None}

    assert hearing("listener") == {"s0", "s1", "s2", "s3", "s4", "s5"}
    assert hearing("s0") == {"s1", "s2", "s3", "s4", "s5", "s6"}
    # audio_from restricts the candidates
    room.router.set_subscription("listener", Subscription(audio_from=frozenset({"s6", "s7"})))
    assert hearing("listener") == {"s6", "s7"}


def test_the_router_options_audio_slots_cap_what_each_listener_hears() -> None:
    room = Room(RouterOptions(audio_slots=8))
    senders = [f"s{i}" for i in range(9)]
    transports = {s: room.publish(s, audio_track(5000 + i)) for i, s in enumerate(senders)}
    for s in ["listener", "s0"]:
        room.subscribe(s, audio=8, video=0)
    for step in range(60):  # s0 loudest (level 10) … s8 quietest (level 74)
        room.svc.t += 0.02
        for i, s in enumerate(senders):
            ext = level_ext(1, 10 + 8 * i)
            transports[s].handle_srtp(rtp(109, step, 960 * step, 5000 + i, b"opus", ext))
        room.router.slow_tick(room.svc.t, send_reports=False)

    def hearing(member: str) -> set[str]:
        slots = room.router.members[member].audio_slots
        return {s.consumer.producer.member_id for s in slots if s.consumer is not None}

    assert hearing("listener") == set(senders[:8])
    assert hearing("s0") == set(senders[1:])


def test_transport_death_closes_producers_and_emits_events() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    room.svc.t += 31
    room.router.members["bob"].recv.last_seen = room.svc.t  # type: ignore[union-attr]
    pub.tick(room.svc.t)
    assert ProducerClosed("alice", "camera") in room.events
    assert TransportClosed("alice", "send", "consent_expired") in room.events
    assert room.slots()[-1] == SlotChanged("bob", "v0", "video", None, None)
    stats = room.router.stats()
    assert (stats["producers"], stats["consumers"], stats["transports"]) == (0, 0, 1)


def test_fifty_join_leave_cycles_leak_no_transport_consumer_or_slot() -> None:
    room = Room()
    pub = room.publish("host", video_track())
    seq = 0
    for i in range(50):
        guest = f"g{i % 3}"
        room.subscribe(guest, views=(("host", "camera"),))
        seq += 1
        pub.handle_srtp(rtp(120, seq, seq * 3000, 1000, VP8_KEY))
        room.router.remove_member(guest)
        room.router.remove_member(guest)  # idempotent
    stats = room.router.stats()
    assert (stats["members"], stats["transports"], stats["consumers"]) == (1, 1, 0)
    assert len(room.svc.transports) == 1
    assert pub in room.svc.transports
    assert room.router.members["host"].producers["camera"].consumers == []


def test_commands_on_a_closed_router_raise_invalid_state() -> None:
    from ilvb.errors import InvalidState

    room = Room()
    room.publish("alice", video_track())
    room.router.close()
    room.router.close()
    assert room.svc.transports == set()
    with pytest.raises(InvalidState):
        room.router.offer_receive("bob", 1, 1)


def test_slow_timer_sends_sender_reports_to_subscribers_and_remb_to_publishers() -> None:
    from dataclasses import replace

    from ilvb.sfu.rtp.rtcp import Remb, SenderReport

    room = Room()
    pub = room.publish("alice", replace(video_track(), feedback=("nack", "goog-remb")))
    room.subscribe("bob", views=(("alice", "camera"),))
    for seq in range(1, 4):
        pub.handle_srtp(rtp(120, seq, 90000 + seq, 1000, VP8_KEY))
    room.svc.take(addr("bob"))
    room.svc.take(addr("alice"))
    room.svc.t += 0.5
    room.router.slow_tick(room.svc.t, send_reports=True)
    _, to_bob = room.svc.take(addr("bob"))
    srs = [i for i in to_bob if isinstance(i, SenderReport)]
    assert len(srs) == 1 and srs[0].ssrc == room.slot_ssrc("bob", "v0")
    assert srs[0].packets == 3 and srs[0].octets == 3 * len(VP8_KEY)
    assert srs[0].rtp_ts - 90003 == 45000  # extrapolated by the 0.5 s since the last packet
    _, to_alice = room.svc.take(addr("alice"))
    rembs = [i for i in to_alice if isinstance(i, Remb)]
    assert rembs and rembs[0].ssrcs == [1000] and rembs[0].bitrate > 1_000_000


def test_receiver_reports_to_the_publisher_count_losses_and_echo_its_sender_report() -> None:
    from ilvb.sfu.rtp.rtcp import ReceiverReport, build_sr, ntp_middle32

    room = Room()
    pub = room.publish("alice", video_track())
    for seq in (65530, 65531, 65533, 65534, 0, 1, 2, 4):  # 2 lost, across the wrap
        pub.handle_srtp(rtp(120, seq, 0, 1000, VP8_DELTA))
    ntp = 0x1234567890ABCDEF
    pub.handle_srtp(build_sr(1000, ntp, 0, 8, 100))
    room.svc.take(addr("alice"))
    room.svc.t += 0.25
    room.router.slow_tick(room.svc.t, send_reports=True)
    _, rtcp = room.svc.take(addr("alice"))
    (rr,) = [i for i in rtcp if isinstance(i, ReceiverReport)]
    (block,) = rr.reports
    assert block.ssrc == 1000 and block.highest_seq == 0x10000 + 4
    assert block.packets_lost == 3 and block.fraction_lost == (3 << 8) // 11
    assert block.lsr == ntp_middle32(ntp) and block.dlsr == 65536 // 4


def test_a_new_peer_connection_replaces_the_transports_quietly() -> None:
    from dataclasses import replace

    room = Room()
    pub = room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    first_recv = room.router.members["bob"].recv
    # a retried offer_receive before the answer gets the same transport; after it, a new one
    new_pc = replace(REMOTE, ice_ufrag="new", fingerprints=(("sha-256", "BB"),))
    room.router.negotiate_send("alice", new_pc, [video_track()])
    new_pub = room.router.members["alice"].send
    assert new_pub is not pub and pub.state == "closed" and pub not in room.svc.transports
    local, _ = room.router.offer_receive("bob", 1, 1)
    assert local.ice_ufrag != first_recv.local.ice_ufrag  # type: ignore[union-attr]
    assert room.router.offer_receive("bob", 1, 1)[0] == local
    assert not [e for e in room.events if isinstance(e, (TransportClosed, ProducerClosed))]
    assert room.router.stats()["transports"] == 2 and len(room.svc.transports) == 2


def test_a_keyframe_request_before_the_publisher_connects_is_retried_by_the_timer() -> None:
    room = Room()
    room.router.negotiate_send("alice", REMOTE, [video_track()])  # DTLS not up yet
    room.subscribe("bob", views=(("alice", "camera"),))
    producer = room.router.members["alice"].producers["camera"]
    assert producer.plis_sent == 0  # could not be sent
    connect(room.router.members["alice"].send, addr("alice"))  # type: ignore[arg-type]
    room.svc.t += 0.1
    room.router.slow_tick(room.svc.t, send_reports=False)
    _, rtcp = room.svc.take(addr("alice"))
    assert [i.media_ssrc for i in rtcp if isinstance(i, Pli)] == [1000]
    assert producer.plis_sent == 1


def test_padding_only_probes_are_not_forwarded_and_leave_no_seq_gap() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 1, 0, 1000, VP8_KEY))
    probe = bytearray(rtp(120, 2, 0, 1000, bytes(99) + bytes([100])))
    probe[0] |= 0x20  # P bit: the whole payload is padding
    pub.handle_srtp(bytes(probe))
    pub.handle_srtp(rtp(120, 3, 3000, 1000, VP8_DELTA))
    out, _ = room.svc.take(addr("bob"))
    assert [v.seq for v, _ in out] == [1, 2]  # the probe took no output seq


def test_a_new_ssrc_on_the_same_mline_is_followed() -> None:
    room = Room()
    pub = room.publish("alice", video_track(ssrc=1000, mid_ext=3))
    room.subscribe("bob", views=(("alice", "camera"),))
    mid_ext = struct.pack("!HH", 0xBEDE, 1) + bytes([3 << 4, ord("0"), 0, 0])
    pub.handle_srtp(rtp(120, 1, 0, 1000, VP8_KEY))
    pub.handle_srtp(rtp(120, 50, 0, 2000, VP8_KEY))  # another SSRC, no mid: ignored
    pub.handle_srtp(rtp(120, 70, 0, 3000, VP8_KEY, ext=mid_ext))  # the mid binds it
    out, _ = room.svc.take(addr("bob"))
    assert len(out) == 2 and room.router.members["alice"].producers["camera"].ssrc == 3000
    # a re-offer naming a new SSRC for the m-line (re-published track) replaces the producer
    old = room.router.members["alice"].producers["camera"]
    room.router.negotiate_send("alice", REMOTE, [video_track(ssrc=4000)])
    new = room.router.members["alice"].producers["camera"]
    assert new is not old and old.closed and new.ssrc == 4000
    pub.handle_srtp(rtp(120, 9, 0, 4000, VP8_KEY))
    out, _ = room.svc.take(addr("bob"))
    assert len(out) == 1


def test_close_tears_down_quietly_without_rerouting_the_members_still_inside() -> None:
    """close() is the room going away: no transport_closed per member and no slot re-assignment
    for members about to be closed too (that was O(members²) at 300 subscribers)."""
    room = Room()
    room.publish("host", video_track())
    for i in range(20):
        room.subscribe(f"s{i}", views=(("host", "camera"),))
    room.events.clear()
    assigned = 0
    real_assign = room.router.slots.assign

    def counting_assign(m: Any, now: float) -> None:
        nonlocal assigned
        assigned += 1
        real_assign(m, now)

    room.router.slots.assign = counting_assign  # type: ignore[method-assign]
    room.router.close()
    assert assigned == 0
    assert [e for e in room.events if isinstance(e, (TransportClosed, SlotChanged))] == []
    assert room.svc.transports == set()
    assert room.router.members == {}


def test_a_removed_member_s_transports_close_silently_and_only_its_own_closes_report() -> None:
    """mediasoup's close rule: transports the router closes (member removed) do not call back;
    a transport that dies on its own (consent expired) tells the router once."""
    room = Room()
    pub = room.publish("alice", video_track())
    sub = room.subscribe("bob", views=(("alice", "camera"),))
    fired: list[str] = []
    for t in (pub, sub):
        inner = t.on_closed
        t.on_closed = lambda reason, inner=inner: (fired.append(reason), inner(reason))  # type: ignore[misc]
    room.events.clear()
    room.router.remove_member("bob")
    assert sub.state == "closed" and fired == [] and sub not in room.svc.transports
    assert [e for e in room.events if isinstance(e, TransportClosed)] == []
    room.svc.t += 31  # alice's consent expires: her own close reports once
    pub.tick(room.svc.t)
    pub.tick(room.svc.t)
    assert fired == ["consent_expired"] and pub not in room.svc.transports
    closed = [e for e in room.events if isinstance(e, TransportClosed)]
    assert closed == [TransportClosed("alice", "send", "consent_expired")]


def test_the_observer_sees_producers_consumers_and_slots_and_survives_a_failing_listener(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ilvb.sfu.observer import ConsumerAdded, ConsumerClosed, ObserverEvent, ProducerAdded

    room = Room()
    seen: list[ObserverEvent] = []

    def broken(event: ObserverEvent) -> None:
        raise RuntimeError("a metrics bug")

    room.router.observer.subscribe(broken)  # first: the next listener must still run
    unsubscribe = room.router.observer.subscribe(seen.append)
    room.publish("alice", video_track())
    room.subscribe("bob", views=(("alice", "camera"),))
    assert seen == [
        ProducerAdded("alice", "camera", "video", "VP8", 1000),
        ConsumerAdded("bob", "v0", "alice", "camera", "VP8"),
        SlotChanged("bob", "v0", "video", "alice", "camera"),
    ]
    assert "observer listener failed" in caplog.text
    seen.clear()
    room.router.set_subscription("bob", Subscription(views=()))  # a command empties the slot
    assert seen == [
        ConsumerClosed("bob", "v0", "alice", "camera"),
        SlotChanged("bob", "v0", "video", None, None),
    ]
    room.router.set_subscription("bob", Subscription(views=(("alice", "camera"),)))
    seen.clear()
    room.router.remove_member("alice")  # closed by a command: the observer still sees it
    assert seen == [
        ConsumerClosed("bob", "v0", "alice", "camera"),
        ProducerClosed("alice", "camera"),
        SlotChanged("bob", "v0", "video", None, None),
    ]
    # the owner's events are unchanged: a command's closes are not reported to it
    assert not [e for e in room.events if isinstance(e, ProducerClosed)]
    unsubscribe()
    seen.clear()
    room.router.close()
    assert seen == []


def test_the_remb_to_a_publisher_stays_within_its_send_cap() -> None:
    from dataclasses import replace

    from ilvb.sfu.producer import REMB_BPS
    from ilvb.sfu.rtp.rtcp import Remb

    room = Room()
    room.router.set_send_cap("alice", 600_000)  # before publishing: kept for its producers
    pub = room.publish("alice", replace(video_track(), feedback=("nack", "goog-remb")))
    room.subscribe("bob", views=(("alice", "camera"),))
    pub.handle_srtp(rtp(120, 1, 90001, 1000, VP8_KEY))

    def announced() -> list[int]:
        room.svc.take(addr("alice"))
        room.svc.t += 1.0
        room.router.slow_tick(room.svc.t, send_reports=True)
        _, to_alice = room.svc.take(addr("alice"))
        return [i.bitrate for i in to_alice if isinstance(i, Remb)]

    assert announced() == [600_000]
    room.router.set_send_cap("alice", 300_000)  # a pushed profile change
    assert announced() == [300_000]
    room.router.set_send_cap("alice", None)
    assert announced() == [REMB_BPS]
