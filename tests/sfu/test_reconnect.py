"""The media path watch and ICE restart of the SFU: a silent transport reports its path lost after
1.5 s and back with the next valid packet, keepalives go out twice a second, an ICE restart keeps
DTLS and answers both credential generations until the new one is used, a NAT rebinding moves
the path after a valid check, and the router reports a member's lost path once."""

from __future__ import annotations

from dataclasses import replace

from ilvb.sfu.api import MediaPathChanged, TransportClosed
from ilvb.sfu.ice import PATH_LOST_S, IceLiteResponder
from ilvb.sfu.rtp.rtcp import ReceiverReport, parse_rtcp
from ilvb.sfu.transport import KEEPALIVE_S, REBIND_S
from tests.sfu.test_ice import CLIENT, OTHER, Clock, binding, make_transport
from tests.sfu.test_router import REMOTE, Room, video_track

RTCP = bytes([0x80, 201, 0, 1, 0, 0, 0, 9])


class Plain:
    @staticmethod
    def protect(b: bytes) -> bytes:
        return b

    unprotect = protect_rtcp = unprotect_rtcp = protect


def check(ufrag: str, pwd: str, nominate: bool = False, remote: str = "cli") -> bytes:
    """A Binding request from the client whose SDP ufrag is ``remote``."""
    return binding(ufrag, pwd, nominate, username=f"{ufrag}:{remote}")


def connected_transport(clock: Clock):  # type: ignore[no-untyped-def]
    t, sent = make_transport(clock)
    ice = IceLiteResponder()
    ice.register(t)
    t.on_ufrags = lambda tr, added, removed: (ice.unregister(tr, removed), ice.register(tr))
    assert ice.handle(check(t.ice_params.ufrag, t.ice_params.pwd, nominate=True), CLIENT)
    t.connect(REMOTE)
    t._rx = t._tx = Plain()  # type: ignore[assignment]
    t.state = "connected"
    return t, sent, ice


def test_a_silent_path_is_lost_after_1_5_s_and_back_with_the_next_packet() -> None:
    clock = Clock()
    t, _, _ = connected_transport(clock)
    seen: list[bool] = []
    t.on_path = lambda _t, ok: seen.append(ok)
    t.handle_srtp(RTCP)
    clock.t += PATH_LOST_S - 0.1
    t.tick(clock.t)
    assert seen == [] and not t.path_lost
    clock.t += 0.2
    t.tick(clock.t)
    t.tick(clock.t + 1)
    assert seen == [False] and t.path_lost  # reported once
    t.handle_srtp(RTCP)
    assert seen == [False, True] and not t.path_lost
    assert t.state == "connected"  # far from consent expiry: nothing closes


def test_a_stun_check_alone_also_brings_the_path_back() -> None:
    clock = Clock()
    t, _, ice = connected_transport(clock)
    seen: list[bool] = []
    t.on_path = lambda _t, ok: seen.append(ok)
    clock.t += PATH_LOST_S + 0.1
    t.tick(clock.t)
    assert ice.handle(check(t.ice_params.ufrag, t.ice_params.pwd), CLIENT)
    assert seen == [False, True]


def test_keepalive_receiver_reports_twice_a_second_once_connected() -> None:
    clock = Clock()
    t, sent = make_transport(clock)
    t.tick(clock.t)
    assert sent == []  # not connected: nothing
    t, sent, _ = connected_transport(clock)
    t.keepalive_ssrc = 77
    for _ in range(int(2.0 / 0.02)):
        clock.t += 0.02
        t.tick(clock.t)
    rrs = [parse_rtcp(d) for d, a in sent if a == CLIENT]
    assert 2.0 / KEEPALIVE_S - 1 <= len(rrs) <= 2.0 / KEEPALIVE_S + 1
    assert all(isinstance(r[0], ReceiverReport) and r[0].ssrc == 77 for r in rrs)
    assert all(r[0].reports == [] for r in rrs)


def test_ice_restart_answers_both_generations_until_the_new_one_is_used() -> None:
    clock = Clock()
    t, _, ice = connected_transport(clock)
    old = t.ice_params
    dtls = t.dtls
    local = t.restart_ice()
    new = t.ice_params
    assert local.ice_ufrag == new.ufrag != old.ufrag and local.ice_pwd == new.pwd
    assert local.fingerprint == t.local.fingerprint and t.dtls is dtls  # DTLS untouched
    # until the client's answer names its new ufrag, any is accepted on the new generation
    assert ice.handle(check(new.ufrag, new.pwd, remote="other"), OTHER) is not None
    t2, _, ice2 = connected_transport(clock)  # the same with the answer applied first
    old2 = t2.ice_params
    t2.restart_ice()
    t2.set_remote_ice(replace(REMOTE, ice_ufrag="cli2"))
    assert ice2.handle(check(old2.ufrag, old2.pwd), CLIENT)  # the old generation still works
    assert ice2.handle(check(t2.ice_params.ufrag, t2.ice_params.pwd), CLIENT) is None
    assert ice2.handle(check(t2.ice_params.ufrag, t2.ice_params.pwd, remote="cli2"), CLIENT)
    # the new generation is in use: the old one is retired
    assert ice2.handle(check(old2.ufrag, old2.pwd), CLIENT) is None
    assert ice2.faults.counts["stun.unknown_ufrag"] == 1
    assert t2.ice_ufrags() == [t2.ice_params.ufrag] and t2.ice_restarts == 1


def test_a_restart_on_top_of_an_unanswered_one_retires_the_unanswered_ufrag() -> None:
    clock = Clock()
    t, _, ice = connected_transport(clock)
    first = t.ice_params
    t.restart_ice()
    unanswered = t.ice_params
    t.restart_ice()
    assert t.ice_ufrags() == [t.ice_params.ufrag, first.ufrag]
    assert ice.handle(check(unanswered.ufrag, unanswered.pwd), CLIENT) is None
    assert ice.handle(check(first.ufrag, first.pwd), CLIENT)


def test_a_rebinding_moves_the_path_once_the_old_address_is_silent() -> None:
    clock = Clock()
    t, sent, ice = connected_transport(clock)
    u, p = t.ice_params.ufrag, t.ice_params.pwd
    t.handle_srtp(RTCP)
    ice.handle(check(u, p), OTHER)  # an unnominated check while the path works: no move
    assert t.remote_addr == CLIENT
    clock.t += REBIND_S + 0.1  # the client's packets now come from OTHER (dropped: unknown)
    ice.handle(check(u, p), OTHER)
    assert t.remote_addr == OTHER
    sent.clear()
    assert t.send_rtcp(RTCP) and sent == [(RTCP, OTHER)]


def test_the_router_reports_a_member_lost_when_all_its_transports_are_and_back_once() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    sub = room.subscribe("alice", views=())
    room.svc.t += PATH_LOST_S + 0.1
    pub.last_stun = room.svc.t  # only the send transport still hears something
    pub.tick(room.svc.t)
    sub.tick(room.svc.t)
    assert not [e for e in room.events if isinstance(e, MediaPathChanged)]
    room.svc.t += PATH_LOST_S + 0.1
    pub.tick(room.svc.t)
    sub.tick(room.svc.t)
    assert [e for e in room.events if isinstance(e, MediaPathChanged)] == [
        MediaPathChanged("alice", True)
    ]
    sub.handle_srtp(RTCP)
    pub.handle_srtp(RTCP)
    assert [e for e in room.events if isinstance(e, MediaPathChanged)] == [
        MediaPathChanged("alice", True),
        MediaPathChanged("alice", False),
    ]


def test_a_lost_member_whose_transports_close_is_no_longer_lost() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    room.svc.t += PATH_LOST_S + 0.1
    pub.tick(room.svc.t)
    pub.close("consent_expired")
    path = [e for e in room.events if isinstance(e, MediaPathChanged)]
    assert path == [MediaPathChanged("alice", True), MediaPathChanged("alice", False)]
    assert TransportClosed("alice", "send", "consent_expired") in room.events


def test_an_offer_with_new_ice_credentials_and_the_same_certificate_restarts_ice() -> None:
    room = Room()
    pub = room.publish("alice", video_track())
    old = pub.local
    local, _ = room.router.negotiate_send(
        "alice", replace(REMOTE, ice_ufrag="cli2"), [video_track()]
    )
    assert room.router.members["alice"].send is pub and pub.state == "connected"
    assert local.ice_ufrag != old.ice_ufrag and local.fingerprint == old.fingerprint
    assert pub.remote is not None and pub.remote.ice_ufrag == "cli2"
    assert "camera" in room.router.members["alice"].producers  # the producer lives on


def test_restart_receive_gives_new_credentials_and_the_answer_sets_the_client_s() -> None:
    room = Room()
    sub = room.subscribe("bob", views=())
    first = sub.local
    local, specs = room.router.restart_receive("bob")
    assert local.ice_ufrag != first.ice_ufrag and local.fingerprint == first.fingerprint
    assert [s.mid for s in specs] == ["a0", "v0"]
    room.router.accept_receive_answer("bob", replace(REMOTE, ice_ufrag="cli3"), {})
    assert room.router.members["bob"].recv is sub and sub.remote.ice_ufrag == "cli3"  # type: ignore[union-attr]
    assert sub.state == "connected"


def test_restart_receive_without_a_negotiated_receive_transport_is_invalid_state() -> None:
    import pytest

    from ilvb.errors import InvalidState

    room = Room()
    with pytest.raises(InvalidState):
        room.router.restart_receive("nobody")
    room.router.offer_receive("carol", 1, 1)
    with pytest.raises(InvalidState):
        room.router.restart_receive("carol")
