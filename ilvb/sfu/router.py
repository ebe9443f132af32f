"""Router: one room's media on one worker (mediasoup: Router).

Owns each member's send transport (with its producers) and receive transport (with its fixed
slots and their consumers), the room's :class:`AudioSelector`, and the slot assignment:

* video slots follow ``Subscription.views`` in order (slot ``v{i}`` ← ``views[i]``);
* audio slots carry the selector's pick among ``audio_from`` (never the listener itself); a
  member already in a slot keeps it, newcomers take free slots, so a speaker never hops slots.

Every slot change switches the slot's munger source (a new :class:`Consumer`), asks the producer
for a keyframe at once, and emits ``("slot", SlotEvent)``. A receive slot is only fed once the
transport is DTLS-connected and the answer told us the subscriber's payload types.

Everything here runs on the worker's loop; the worker (or the in-process media plane) calls the
command methods and receives events through ``emit``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ilvb.sfu.api import ProducerInfo, RouterOptions, SlotEvent, Subscription
from ilvb.sfu.consumer import Consumer, ReceiveSlot
from ilvb.sfu.dtls import DtlsCertificate
from ilvb.sfu.faults import FaultLog
from ilvb.sfu.producer import FEEDBACK_SSRC, Producer
from ilvb.sfu.rtp.packet import get_extension, parse_rtp
from ilvb.sfu.rtp.rtcp import (
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    SenderReport,
    build_rr,
    parse_rtcp,
)
from ilvb.sfu.sdp import AcceptedTrack, SlotSpec
from ilvb.sfu.selection import AudioSelector
from ilvb.sfu.transport import Addr, LocalParams, RemoteParams, WebRtcTransport

logger = logging.getLogger(__name__)

CLOCK_RATE = {"audio": 48000, "video": 90000}


class WorkerServices(Protocol):
    """What a router borrows from its worker: the socket, the certificate, the demux tables."""

    certificate: DtlsCertificate
    announced_ip: str
    announced_port: int
    port: int
    keyframe_interval_s: float
    nack_cache_packets: int

    def now(self) -> float: ...
    def sendto(self, data: bytes, addr: Addr) -> None: ...
    def add_transport(self, transport: WebRtcTransport) -> None: ...
    def remove_transport(self, transport: WebRtcTransport) -> None: ...


@dataclass
class MemberMedia:
    """One member's transports, producers and receive slots in this router."""

    member_id: str
    send: WebRtcTransport | None = None
    recv: WebRtcTransport | None = None
    producers: dict[str, Producer] = field(default_factory=dict)  # source -> producer
    by_ssrc: dict[int, Producer] = field(default_factory=dict)
    by_mid: dict[str, Producer] = field(default_factory=dict)
    audio_slots: list[ReceiveSlot] = field(default_factory=list)
    video_slots: list[ReceiveSlot] = field(default_factory=list)
    slot_by_ssrc: dict[int, ReceiveSlot] = field(default_factory=dict)
    slot_specs: list[SlotSpec] = field(default_factory=list)
    recv_negotiated: bool = False
    subscription: Subscription = field(default_factory=Subscription)
    mid_ext: int | None = None


class Router:
    """One room: members' transports, producers, consumers and the slot assignment."""

    def __init__(
        self,
        room_id: str,
        services: WorkerServices,
        emit: Callable[[str, Any], None],
        options: RouterOptions = RouterOptions(),
        faults: FaultLog | None = None,
    ) -> None:
        self.room_id = room_id
        self._w = services
        self._emit = emit
        self.options = options
        # the worker's (shared by its routers): one member's failing periodic work is counted
        self.faults = faults if faults is not None else FaultLog(logger)
        self.members: dict[str, MemberMedia] = {}
        self.closed = False
        # picks at most options.audio_slots senders per listener (the room's audio_slots)
        self.selector = AudioSelector(options.audio_slots)
        self._used_ssrcs: set[int] = set()
        # counters that outlive members
        self.rtp_in_unknown = 0
        self.nacks_answered = 0
        self.plis_relayed = 0
        self.slot_switches = 0

    # -- commands ------------------------------------------------------------------------------

    def negotiate_send(
        self, member_id: str, remote: RemoteParams, tracks: list[AcceptedTrack]
    ) -> tuple[LocalParams, list[ProducerInfo]]:
        """Create or update the member's send transport and its producers."""
        m = self._member(member_id)
        if m.send is not None and m.send.remote is not None and m.send.remote != remote:
            # a new peer connection (new ICE credentials / certificate): start over
            old, m.send = m.send, None
            for source in list(m.producers):
                self._close_producer(m, source, notify=False)
            old.close("renegotiated")
            self._w.remove_transport(old)
        if m.send is None or m.send.state == "closed":
            m.send = self._new_transport(m, "send")
            m.send.connect(remote)
        now = self._w.now()
        wanted = {t.source: t for t in tracks}
        for source in list(m.producers):
            t = wanted.get(source)
            old_p = m.producers[source]
            if (
                t is None
                or t.codec != old_p.codec
                or t.payload_type != old_p.payload_type
                or t.mid != old_p.mid
                or (t.ssrc is not None and t.ssrc != old_p.ssrc)  # a new track on the m-line
            ):
                self._close_producer(m, source, notify=False)
        infos: list[ProducerInfo] = []
        for t in tracks:
            p = m.producers.get(t.source)
            if p is None:
                p = Producer(
                    member_id,
                    t.source,
                    t.kind,
                    t.codec,
                    t.payload_type,
                    t.clock_rate,
                    t.ssrc,
                    t.mid,
                    m.send,
                    audio_level_ext=t.audio_level_ext,
                    mid_ext=t.mid_ext,
                    cache_size=self._w.nack_cache_packets,
                    keyframe_interval_s=self._w.keyframe_interval_s,
                    on_level=self.selector.update,
                    remb="goog-remb" in t.feedback,
                    fast_fd=getattr(self._w, "fast_fd", None),
                    red_payload_type=t.red_payload_type,
                    rtx_payload_type=t.rtx_payload_type,
                )
                m.producers[t.source] = p
                if t.ssrc is not None:
                    m.by_ssrc[t.ssrc] = p
                if t.rtx_ssrc is not None:
                    m.by_ssrc[t.rtx_ssrc] = p  # RFC 4588 retransmissions
                m.by_mid[t.mid] = p
            if t.mid_ext is not None:
                m.mid_ext = t.mid_ext
            infos.append(ProducerInfo(t.mid, t.source, t.kind, t.codec, p.ssrc or 0))  # type: ignore[arg-type]
        self._assign_all(now)
        return m.send.local, infos

    def offer_receive(
        self, member_id: str, audio_slots: int, video_slots: int
    ) -> tuple[LocalParams, list[SlotSpec]]:
        """Create (once) the member's receive transport and its fixed slots."""
        m = self._member(member_id)
        if m.recv is not None and m.recv.state != "closed":
            if not m.recv_negotiated:
                return m.recv.local, m.slot_specs  # a retried request: the same offer
            # the member opens a new receive transport (e.g. a new peer connection)
            old, m.recv = m.recv, None
            for slot in m.audio_slots + m.video_slots:
                slot.close()
                self._used_ssrcs.discard(slot.ssrc)
            old.close("reopened")
            self._w.remove_transport(old)
        m.recv = self._new_transport(m, "recv")
        m.audio_slots, m.video_slots, m.slot_specs, m.slot_by_ssrc = [], [], [], {}
        m.recv_negotiated = False
        cname = f"ilvb-{random.getrandbits(40):010x}"
        for kind, count, prefix in (("audio", audio_slots, "a"), ("video", video_slots, "v")):
            for i in range(count):
                ssrc = self._new_ssrc()
                slot = ReceiveSlot(f"{prefix}{i}", kind, ssrc, CLOCK_RATE[kind], m.recv)
                (m.audio_slots if kind == "audio" else m.video_slots).append(slot)
                m.slot_by_ssrc[ssrc] = slot
                m.slot_specs.append(SlotSpec(slot.mid, kind, ssrc, cname))  # type: ignore[arg-type]
        return m.recv.local, m.slot_specs

    def accept_receive_answer(
        self, member_id: str, remote: RemoteParams, payload_types: dict[str, dict[str, int]]
    ) -> None:
        """The subscriber's answer: connect DTLS and learn each slot's payload types."""
        m = self._member(member_id)
        if m.recv is None:
            from ilvb.errors import InvalidState

            raise InvalidState("invalid_state", "no receive transport: call offer_receive first")
        for slot in m.audio_slots + m.video_slots:
            slot.payload_types = dict(payload_types.get(slot.mid, {}))
        m.recv.connect(remote)
        m.recv_negotiated = True
        self._assign(m, self._w.now())

    def set_source_enabled(self, member_id: str, source: str, enabled: bool) -> None:
        """Start/stop forwarding one source of a member (mute, revoke)."""
        m = self.members.get(member_id)
        p = m.producers.get(source) if m else None
        if p is None or p.enabled == enabled:
            return
        p.enabled = enabled
        if not enabled:
            for c in list(p.consumers):
                c.close()
        self._assign_all(self._w.now())

    def set_subscription(self, member_id: str, subscription: Subscription) -> None:
        """Replace what ``member_id`` receives."""
        m = self._member(member_id)
        m.subscription = subscription
        self._assign(m, self._w.now())

    def remove_member(self, member_id: str) -> None:
        """Close everything of a member and re-route the others. Idempotent."""
        m = self.members.pop(member_id, None)
        if m is None:
            return
        self._teardown(m)
        self.selector.remove(member_id)
        self._assign_all(self._w.now())

    def stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks."""
        transports = producers = paused = consumers = 0
        packets_in = packets_out = nacks_sent = plis_sent = retransmits = 0
        for m in self.members.values():
            for t in (m.send, m.recv):
                if t is not None and t.state != "closed":
                    transports += 1
                    packets_in += t.rtp_in
                    packets_out += t.rtp_out
            for p in m.producers.values():
                if p.enabled:
                    producers += 1  # a disabled (muted / revoked) producer forwards nothing
                else:
                    paused += 1
                consumers += len(p.consumers)
                nacks_sent += p.nacks_sent
                plis_sent += p.plis_sent
            for s in m.audio_slots + m.video_slots:
                retransmits += s.retransmits
        return {
            "audio_slots": self.selector.slots,
            "members": len(self.members),
            "transports": transports,
            "producers": producers,
            "producers_paused": paused,
            "consumers": consumers,
            "packets_in": packets_in,
            "packets_out": packets_out,
            "nacks_sent": nacks_sent,
            "nacks_answered": self.nacks_answered,
            "retransmits": retransmits,
            "plis_sent": plis_sent,
            "plis_relayed": self.plis_relayed,
            "slot_switches": self.slot_switches,
            "rtp_in_unknown": self.rtp_in_unknown,
        }

    def close(self) -> None:
        """Close every member's media. Idempotent."""
        if self.closed:
            return
        self.closed = True
        # Unregister everyone first, as remove_member does: a transport closed by the teardown
        # then finds no member to re-route or report (O(members) instead of O(members²)).
        members = list(self.members.values())
        self.members.clear()
        for m in members:
            self._teardown(m)

    # -- timers (the worker calls these) --------------------------------------------------------

    def tick(self, now: float) -> None:
        """Fast timer (~20 ms): NACKs to publishers."""
        for m in self.members.values():
            for p in m.producers.values():
                if p.nack is not None:
                    try:
                        p.tick(now)
                    except Exception as exc:
                        self._member_failed("router.member_tick", exc, m)

    def slow_tick(self, now: float, send_reports: bool) -> None:
        """Slow timer (~200 ms): audio re-selection, keyframe re-requests, sender reports."""
        reselect = self.selector.poll(now)
        for m in list(self.members.values()):
            try:
                self._member_slow_tick(m, now, reselect, send_reports)
            except Exception as exc:  # isolated: the other members still get theirs
                self._member_failed("router.member_slow_tick", exc, m)

    def _member_slow_tick(
        self, m: MemberMedia, now: float, reselect: bool, send_reports: bool
    ) -> None:
        if reselect:
            self._assign_audio(m, now)
        for slot in m.video_slots:
            c = slot.consumer
            if c is not None and c.waiting_keyframe:
                c.producer.request_keyframe(now)  # throttled: ≤ 1/s per producer
        if send_reports and m.send is not None and m.send.state == "connected":
            blocks = [b for p in m.producers.values() if (b := p.report_block(now))]
            if blocks:
                m.send.send_rtcp(build_rr(FEEDBACK_SSRC, blocks[:31]))
            for p in m.producers.values():
                p.send_remb()
        if send_reports and m.recv is not None and m.recv.state == "connected":
            for slot in m.audio_slots + m.video_slots:
                sr = slot.sender_report(now)
                if sr is not None:
                    m.recv.send_rtcp(sr)

    def _member_failed(self, kind: str, exc: Exception, m: MemberMedia) -> None:
        self.faults.failed(kind, exc, f"member {m.member_id} of router {self.room_id}")

    # -- packets -------------------------------------------------------------------------------

    def _on_send_rtp(self, m: MemberMedia, data: bytes) -> None:
        """Decrypted RTP from a publisher: find the producer and fan out (hot path)."""
        view = parse_rtp(data)
        if view is None:
            return
        p = m.by_ssrc.get(view.ssrc)
        if p is None:
            p = self._learn_ssrc(m, data, view)
            if p is None:
                self.rtp_in_unknown += 1
                return
        if view.payload_type != p.payload_type and view.payload_type != p.red_payload_type:
            if view.payload_type == p.rtx_payload_type:
                p.on_rtx(data, view, self._w.now())
            return  # else an unnegotiated codec
        p.on_rtp(data, view, self._w.now())

    def _learn_ssrc(self, m: MemberMedia, data: bytes, view: Any) -> Producer | None:
        """RFC 8843 §9.2: an unknown SSRC is bound by its mid extension, else by payload type."""
        p = None
        by_mid = False
        if m.mid_ext is not None:
            mid = get_extension(data, view, m.mid_ext)
            if mid is not None:
                p = m.by_mid.get(mid.decode("ascii", "replace"))
                by_mid = p is not None
        if p is None:
            matches = [q for q in m.producers.values() if q.payload_type == view.payload_type]
            p = matches[0] if len(matches) == 1 else None
        if p is None or view.payload_type != p.payload_type:
            return None
        if p.ssrc is not None and p.ssrc != view.ssrc:
            if not by_mid:
                return None  # bound to another SSRC and nothing says this one replaces it
            m.by_ssrc.pop(p.ssrc, None)  # the mid says so: the sender switched SSRC
        p.ssrc = view.ssrc
        m.by_ssrc[view.ssrc] = p
        return p

    def _on_send_rtcp(self, m: MemberMedia, data: bytes) -> None:
        """RTCP from a publisher: its SRs feed the LSR/DLSR of our receiver reports."""
        now = self._w.now()
        for pkt in parse_rtcp(data):
            if isinstance(pkt, SenderReport):
                p = m.by_ssrc.get(pkt.ssrc)
                if p is not None:
                    p.on_sender_report(pkt.ntp_ts, now)

    def _on_recv_rtcp(self, m: MemberMedia, data: bytes) -> None:
        """RTCP from a subscriber: NACK → cache, PLI/FIR → producer (throttled), RR → the
        slot's RTT and loss."""
        now = self._w.now()
        for pkt in parse_rtcp(data):
            if isinstance(pkt, Nack):
                slot = m.slot_by_ssrc.get(pkt.media_ssrc)
                if slot is not None:
                    self.nacks_answered += slot.on_nack(pkt.lost, now)
            elif isinstance(pkt, (ReceiverReport, SenderReport)):
                for block in pkt.reports:
                    slot = m.slot_by_ssrc.get(block.ssrc)
                    if slot is not None:
                        slot.on_report(block, now)
            elif isinstance(pkt, (Pli, Fir)):
                for ssrc in _media_ssrcs(pkt):
                    slot = m.slot_by_ssrc.get(ssrc)
                    if slot is not None and slot.consumer is not None:
                        if slot.consumer.producer.request_keyframe(now):
                            self.plis_relayed += 1

    # -- slot assignment -------------------------------------------------------------------------

    def _assign_all(self, now: float) -> None:
        for m in list(self.members.values()):
            self._assign(m, now)

    def _assign(self, m: MemberMedia, now: float) -> None:
        if not self._recv_ready(m):
            return
        views = m.subscription.views
        for i, slot in enumerate(m.video_slots):
            producer = None
            if i < len(views):
                owner = self.members.get(views[i][0])
                producer = owner.producers.get(views[i][1]) if owner else None
            self._set_slot(m, slot, producer, now)
        self._assign_audio(m, now)

    def _assign_audio(self, m: MemberMedia, now: float) -> None:
        if not m.audio_slots or not self._recv_ready(m):
            return
        allowed = m.subscription.audio_from
        eligible = frozenset(
            other.member_id
            for other in self.members.values()
            if other.member_id != m.member_id
            and (allowed is None or other.member_id in allowed)
            and (p := other.producers.get("microphone")) is not None
            and p.enabled
        )
        picks = self.selector.select(m.member_id, allowed, now)[: len(m.audio_slots)]
        wanted = [self.members[x].producers["microphone"] for x in picks if x in eligible]
        # keep speakers in the slot they already have; newcomers take the free slots
        keep = {id(p) for p in wanted}
        free = []
        for slot in m.audio_slots:
            c = slot.consumer
            if c is not None and id(c.producer) in keep:
                keep.discard(id(c.producer))
            else:
                free.append(slot)
        newcomers = [p for p in wanted if id(p) in keep]
        for slot in free:
            self._set_slot(m, slot, newcomers.pop(0) if newcomers else None, now)

    def _set_slot(
        self, m: MemberMedia, slot: ReceiveSlot, producer: Producer | None, now: float
    ) -> None:
        if producer is not None and (not producer.enabled or producer.closed):
            producer = None
        pt = slot.payload_types.get(producer.codec) if producer is not None else None
        if producer is not None and pt is None:
            # counted, logged once: a subscriber's answer decides this, and the audio slots
            # are re-assigned up to 10 times a second
            self.faults.dropped(
                "slot.codec_not_accepted",
                f"slot {slot.mid} of {m.member_id}: codec {producer.codec} not accepted",
            )
            producer = None
        current = slot.consumer
        if current is not None and current.producer is producer and not current.closed:
            return
        if current is not None:
            current.close()
        if producer is not None:
            assert pt is not None
            Consumer(producer, slot, pt, slot.payload_types.get("red"))
            self.slot_switches += 1
            if producer.kind == "video":
                producer.request_keyframe(now, force=True)
        # consumers also close underneath us (producer closed): report what the slot carries now
        announced = (producer.member_id, producer.source) if producer is not None else None
        if announced == slot.announced:
            return
        slot.announced = announced
        event = SlotEvent(
            member_id=m.member_id,
            mid=slot.mid,
            kind=slot.kind,  # type: ignore[arg-type]
            source_member=producer.member_id if producer else None,
            source=producer.source if producer else None,  # type: ignore[arg-type]
        )
        self._safe_emit("slot", event)

    @staticmethod
    def _recv_ready(m: MemberMedia) -> bool:
        return m.recv is not None and m.recv_negotiated and m.recv.state == "connected"

    # -- life -----------------------------------------------------------------------------------

    def _member(self, member_id: str) -> MemberMedia:
        if self.closed:
            from ilvb.errors import InvalidState

            raise InvalidState("invalid_state", f"router {self.room_id} is closed")
        m = self.members.get(member_id)
        if m is None:
            m = self.members[member_id] = MemberMedia(member_id)
        return m

    def _new_ssrc(self) -> int:
        while True:
            ssrc = random.getrandbits(32)
            if ssrc and ssrc not in self._used_ssrcs:
                self._used_ssrcs.add(ssrc)
                return ssrc

    def _new_transport(self, m: MemberMedia, kind: str) -> WebRtcTransport:
        w = self._w
        fast = getattr(w, "fast_fd", None) is not None  # the C fast path (ilvb.sfu.fastpath)
        ip, port = w.announced_ip, w.announced_port  # a relay's address in tests
        t = WebRtcTransport(w.certificate, w.sendto, ip, port, w.now, kind, fast)  # type: ignore[arg-type]
        if kind == "send":
            t.on_rtp = lambda data: self._on_send_rtp(m, data)
            t.on_rtcp = lambda data: self._on_send_rtcp(m, data)
        else:
            t.on_rtcp = lambda data: self._on_recv_rtcp(m, data)
            t.on_connected = lambda: self._assign(m, w.now())
        t.on_closed = lambda reason: self._transport_closed(m, t, reason)
        w.add_transport(t)
        return t

    def _transport_closed(self, m: MemberMedia, t: WebRtcTransport, reason: str) -> None:
        """A transport died (consent expired, DTLS failure) or was closed by us."""
        self._w.remove_transport(t)
        if self.members.get(m.member_id) is not m or (t is not m.send and t is not m.recv):
            return  # closed by remove_member / close, or replaced by a newer transport
        logger.info(
            "router %s: %s transport of %s closed (%s)", self.room_id, t.kind, m.member_id, reason
        )
        if t is m.send:
            for source in list(m.producers):
                self._close_producer(m, source, notify=True)
            m.send = None
        elif t is m.recv:
            for slot in m.audio_slots + m.video_slots:
                slot.close()
            m.recv = None
            m.recv_negotiated = False
        self._safe_emit(
            "transport_closed", {"member_id": m.member_id, "transport": t.kind, "reason": reason}
        )
        self._assign_all(self._w.now())

    def _close_producer(self, m: MemberMedia, source: str, notify: bool) -> None:
        p = m.producers.pop(source, None)
        if p is None:
            return
        p.close()
        m.by_mid.pop(p.mid, None)
        for ssrc in [s for s, q in m.by_ssrc.items() if q is p]:
            del m.by_ssrc[ssrc]
        if notify:
            self._safe_emit("producer_closed", {"member_id": m.member_id, "source": source})

    def _teardown(self, m: MemberMedia) -> None:
        for source in list(m.producers):
            self._close_producer(m, source, notify=False)
        for slot in m.audio_slots + m.video_slots:
            slot.close()
            self._used_ssrcs.discard(slot.ssrc)
        for t in (m.send, m.recv):
            if t is not None:
                t.close("member_removed")
                self._w.remove_transport(t)
        m.send = m.recv = None

    def _safe_emit(self, name: str, payload: Any) -> None:
        try:
            self._emit(name, payload)
        except Exception:
            logger.exception("router %s: %s listener failed", self.room_id, name)


def _media_ssrcs(pkt: Any) -> list[int]:
    """PLI names one media SSRC; FIR (RFC 5104 §4.3.1) lists its targets in the FCI."""
    ssrcs = list(getattr(pkt, "ssrcs", ()) or ())
    media = getattr(pkt, "media_ssrc", None)
    if media:
        ssrcs.append(media)
    return ssrcs
