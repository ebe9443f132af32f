"""Simulcast: the SDP of a rid offer, layer producers bound by rid, a slot that switches
layers on the new layer's keyframe with one continuous output stream, and the downlink
estimate choosing layers (capped → low layer, cap lifted → a probe → high layer again)."""

from __future__ import annotations

import struct
from pathlib import Path

from ilvb.sfu.bandwidth import PROBE_S, UP_HOLD_S
from ilvb.sfu.rtp.rtcp import ReportBlock, build_rr
from ilvb.sfu.sdp import AcceptedTrack, build_publisher_answer, parse_publisher_offer
from ilvb.sfu.transport import LocalParams
from tests.sfu.test_router import VP8_DELTA, VP8_KEY, Room, addr, rtp

FIXTURES = Path(__file__).parent / "fixtures"
LOCAL = LocalParams("127.0.0.1", 40000, "ufrag", "p" * 22, "AB:" * 31 + "AB")
RID_EXT = 10


def simulcast_offer() -> str:
    """Chromium's offer with three rids on its video m-line (no SSRC lines, as Chromium)."""
    lines = (FIXTURES / "chromium_offer.sdp").read_text().splitlines()
    out = []
    for line in lines:
        if line.startswith("a=ssrc") and "1308669890" in line or "432265381" in line:
            continue
        out.append(line)
        if line == "a=rtcp-rsize" and out[-8:] and any("mid:1" in x for x in out[-30:]):
            out += ["a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f"]
    return "\r\n".join(out) + "\r\n"


def test_a_rid_offer_is_answered_with_recv_rids_and_the_rid_extensions() -> None:
    offer = parse_publisher_offer(simulcast_offer(), {"1": "camera"})
    (video,) = offer.tracks
    assert video.rids == ("q", "h", "f")
    assert (video.rid_ext, video.repaired_rid_ext) == (10, 11)
    assert video.rtx_payload_type is None  # no SSRC to bind RTX to
    answer = build_publisher_answer(offer, LOCAL)
    for line in (
        "a=rid:q recv",
        "a=rid:h recv",
        "a=rid:f recv",
        "a=simulcast:recv q;h;f",
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    ):
        assert line + "\r\n" in answer


def test_a_paused_rid_and_an_offer_without_simulcast_are_single_layers() -> None:
    paused = simulcast_offer().replace("a=simulcast:send q;h;f", "a=simulcast:send q;~h;f")
    (video,) = parse_publisher_offer(paused, {"1": "camera"}).tracks
    assert video.rids == ("q", "f")
    plain = (FIXTURES / "chromium_offer.sdp").read_text()
    (video,) = parse_publisher_offer(plain, {"1": "camera"}).tracks
    assert video.rids == ()


def sim_track() -> AcceptedTrack:
    return AcceptedTrack(
        "0", "video", "camera", "VP8", 120, 90000, None, "", ("goog-remb",), None, None, 4,
        rids=("q", "h", "f"), rid_ext=RID_EXT,
    )  # fmt: skip


def rid_ext(rid: str) -> bytes:
    body = bytes([(RID_EXT << 4) | (len(rid) - 1)]) + rid.encode()
    body += bytes(-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


class Publisher:
    """Three layers of one camera: SSRC 10/20/30 for q/h/f, 300/1000/3000 bytes a frame."""

    SIZES = {"q": 300, "h": 1000, "f": 3000}
    SSRCS = {"q": 10, "h": 20, "f": 30}

    def __init__(self, room: Room) -> None:
        self.room = room
        self.seq = {rid: 1000 * i for i, rid in enumerate(self.SIZES)}
        self.ts = {rid: 7_000_000 * (i + 1) for i, rid in enumerate(self.SIZES)}

    def frame(self, key: bool = False, rids: tuple[str, ...] = ("q", "h", "f")) -> None:
        send = self.room.router.members["alice"].send
        assert send is not None
        for rid in rids:
            self.seq[rid] += 1
            self.ts[rid] += 3000
            payload = (VP8_KEY if key else VP8_DELTA) + bytes(self.SIZES[rid])
            data = rtp(120, self.seq[rid], self.ts[rid], self.SSRCS[rid], payload, rid_ext(rid))
            send.on_rtp(data)


def start(room: Room, frames: int = 20) -> Publisher:
    room.publish("alice", sim_track())
    pub = Publisher(room)
    room.subscribe("bob", audio=0, video=1, views=(("alice", "camera"),))
    for i in range(frames):  # 30 fps
        pub.frame(key=i == 0)
        room.svc.t += 1 / 30
        room.router.slow_tick(room.svc.t, send_reports=False)
    return pub


def forwarded(room: Room) -> list[tuple[int, int]]:
    """(out seq, payload size) of what bob got since the last call."""
    got, _ = room.svc.take(addr("bob"))
    return [(v.seq, len(d) - v.header_len) for v, d in got if v is not None]


def test_layers_are_bound_by_rid_and_the_slot_starts_on_the_top_one() -> None:
    room = Room()
    start(room)
    track = room.router.members["alice"].producers["camera"]
    assert [(q.rid, q.ssrc) for q in track.layers] == [("q", 10), ("h", 20), ("f", 30)]
    assert all(q.rate_bps > 0 for q in track.layers)
    sizes = {size for _, size in forwarded(room)}
    assert sizes == {len(VP8_DELTA) + 3000, len(VP8_KEY) + 3000}  # only the top layer


def test_a_layer_switch_waits_for_the_new_layers_keyframe_and_keeps_the_sequence() -> None:
    room = Room()
    pub = start(room)
    slot = room.router.members["bob"].video_slots[0]
    low = room.router.members["alice"].producers["camera"].layers[0]
    forwarded(room)
    assert slot.switch_layer(low, room.svc.t)
    pub.frame()  # no keyframe yet: still the top layer
    pub.frame(key=True, rids=("q",))  # the low layer's keyframe: the switch
    pub.frame(rids=("q", "h", "f"))
    got = forwarded(room)
    sizes = [size for _, size in got]
    assert sizes == [len(VP8_DELTA) + 3000, len(VP8_KEY) + 300, len(VP8_DELTA) + 300]
    seqs = [seq for seq, _ in got]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]  # no gap across the switch
    assert slot.layer is low and slot.layer_switches == 1 and slot.pending is None


def report(room: Room, loss: float, rtt_s: float) -> None:
    """bob's RR about its video slot: ``loss`` and an RTT of ``rtt_s`` (LSR/DLSR forged)."""
    import time

    from ilvb.sfu.rtp.rtcp import ntp_middle32, ntp_timestamp

    slot = room.router.members["bob"].video_slots[0]
    lsr = (ntp_middle32(ntp_timestamp(time.time())) - int(rtt_s * 65536)) & 0xFFFFFFFF
    block = ReportBlock(slot.ssrc, int(loss * 256), 0, 0, 0, lsr, 0)
    recv = room.router.members["bob"].recv
    assert recv is not None
    recv.on_rtcp(build_rr(0x1234, [block]))


def run(room: Room, pub: Publisher, seconds: float, loss: float, rtt_s: float) -> None:
    """30 fps of all three layers; an RR every second with ``loss`` and ``rtt_s``."""
    for i in range(int(seconds * 30)):
        pub.frame(key=i % 30 == 0)
        room.svc.t += 1 / 30
        room.router.tick(room.svc.t)
        room.router.slow_tick(room.svc.t, send_reports=i % 30 == 0)
        if i % 30 == 15:
            report(room, loss, rtt_s)


def test_random_loss_alone_keeps_the_top_layer() -> None:
    room = Room()
    pub = start(room)
    run(room, pub, 2.0, 0.0, 0.02)
    run(room, pub, 6.0, 0.30, 0.02)  # 30 % loss, the RTT unchanged: not congestion
    slot = room.router.members["bob"].video_slots[0]
    assert slot.layer is not None and slot.layer.rid == "f"


def test_congestion_takes_the_low_layer_and_a_probe_brings_the_top_one_back() -> None:
    room = Room()
    pub = start(room)
    bob = room.router.members["bob"]
    slot = bob.video_slots[0]
    run(room, pub, 2.0, 0.0, 0.02)
    run(room, pub, 3.0, 0.5, 0.25)  # a full queue: loss and 230 ms of queuing
    assert slot.layer is not None and slot.layer.rid == "q", bob.downlink.estimate_bps
    assert room.svc.t - slot.layer_changed_at < 3.0
    probes_before = bob.downlink.probes
    run(room, pub, 10.0, 0.0, 0.02)  # the cap is gone
    assert bob.downlink.probes > probes_before  # padding went out to test the path
    assert bob.downlink.probe_bytes > 0
    assert slot.layer is not None and slot.layer.rid == "f", bob.downlink.estimate_bps
    assert UP_HOLD_S + PROBE_S < 10.0


def test_the_publishers_remb_follows_its_congested_uplink() -> None:
    room = Room()
    pub = start(room, frames=30)
    track = room.router.members["alice"].producers["camera"]
    room.router.slow_tick(room.svc.t, send_reports=True)
    assert track.last_remb_bps == 3_000_000
    # the uplink queues: frames arrive ever later, and every fourth packet is lost
    for i in range(90):
        pub.ts = {k: v - 300 for k, v in pub.ts.items()}  # 3.3 ms later each frame
        if i % 4:
            pub.frame()
        else:
            for rid in pub.seq:
                pub.seq[rid] += 1
        room.svc.t += 1 / 30
        room.router.slow_tick(room.svc.t, send_reports=i % 30 == 0)
    assert track.last_remb_bps < 0.85 * 8 * 4300 * 30 * 1.1, track.last_remb_bps
