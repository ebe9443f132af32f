"""Router: one room's media on one worker (mediasoup: Router).

Owns each member's :class:`~ilvb.sfu.member.MemberMedia` — its send transport (with its
producers) and its receive transport (with its fixed slots and their consumers) — and the room's
:class:`AudioSelector`. The jobs are split by module:

* here: the commands of :class:`~ilvb.sfu.api.RouterHandle` and the life of members and
  transports (create, replace, remove, close);
* :mod:`ilvb.sfu.slots`: which producer feeds which receive slot (``slot`` events);
* :mod:`ilvb.sfu.router_rtcp`: RTCP that ends here, is relayed, or is originated.

Close rule (mediasoup's): a transport that closes on its own account (consent expired, DTLS
failed) tells the router (``on_closed`` → :meth:`Router._transport_closed`, which reports
:class:`~ilvb.sfu.api.TransportClosed`); a transport the router closes (member removed,
replaced, router closed) is closed silently (:meth:`WebRtcTransport.router_closed`), so nothing
echoes back up.

Events: the owner gets typed :data:`~ilvb.sfu.api.RouterEvent` s through ``emit`` (slot changes,
and the closes the SFU decided on its own); :attr:`Router.observer` (:mod:`ilvb.sfu.observer`)
gets every change, for metrics and recording.

Everything here runs on the worker's loop; the worker (or the in-process media plane) calls the
command methods and receives events through ``emit``.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from ilvb.sfu.api import (
    MediaPathChanged,
    ProducerClosed,
    ProducerInfo,
    RouterEvent,
    RouterOptions,
    SlotChanged,
    Subscription,
    TapInfo,
    TransportClosed,
)
from ilvb.sfu.bandwidth import sample_uplink
from ilvb.sfu.consumer import Consumer, ReceiveSlot
from ilvb.sfu.dtls import DtlsCertificate
from ilvb.sfu.faults import FaultLog
from ilvb.sfu.member import MemberMedia
from ilvb.sfu.observer import Observer, consumer_added, consumer_closed, producer_added
from ilvb.sfu.producer import FEEDBACK_SSRC, Producer
from ilvb.sfu.router_rtcp import RouterRtcp
from ilvb.sfu.rtp.packet import parse_rtp
from ilvb.sfu.sdp import AcceptedTrack, SlotSpec
from ilvb.sfu.selection import AudioSelector
from ilvb.sfu.slots import SlotAssigner
from ilvb.sfu.tap import PlainTap, check_loopback
from ilvb.sfu.traffic import member_traffic, producer_traffic, slot_traffic, transport_traffic
from ilvb.sfu.transport import Addr, LocalParams, RemoteParams, WebRtcTransport

logger = logging.getLogger(__name__)

CLOCK_RATE = {"audio": 48000, "video": 90000}

__all__ = ["MemberMedia", "Router", "WorkerServices"]


class WorkerServices(Protocol):
    """What a router borrows from its worker: the socket, the certificate, the demux tables."""

    certificate: DtlsCertificate
    announced_ip: str
    announced_port: int
    port: int
    keyframe_interval_s: float
    nack_cache_packets: int
    # the socket's fd when the C fast path (ilvb.sfu.fastpath) forwards, else None
    fast_fd: int | None

    def now(self) -> float: ...
    def sendto(self, data: bytes, addr: Addr) -> None: ...
    def add_transport(self, transport: WebRtcTransport) -> None: ...
    def remove_transport(self, transport: WebRtcTransport) -> None: ...


class Router:
    """One room: members' transports, producers, consumers and the slot assignment."""

    def __init__(
        self,
        room_id: str,
        services: WorkerServices,
        emit: Callable[[RouterEvent], None],
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
        # every change, for metrics and recording (ilvb.sfu.observer); emit is the owner's
        self.observer = Observer(f"router {room_id}")
        self.slots = SlotAssigner(
            self.members, self.selector, self._announce_slot, self.faults, self._switched
        )
        self.rtcp = RouterRtcp(services.now)
        self._used_ssrcs: set[int] = set()
        self.rtp_in_unknown = 0  # RTP whose SSRC no producer could claim
        # plain loopback subscribers (recorders): tap id → (producer, tap)
        self.taps: dict[str, tuple[Producer, PlainTap]] = {}
        # counts of closed transports, producers and slots (ilvb.sfu.traffic)
        self.retired: Counter[str] = Counter()

    # -- commands ------------------------------------------------------------------------------

    def negotiate_send(
        self, member_id: str, remote: RemoteParams, tracks: list[AcceptedTrack]
    ) -> tuple[LocalParams, list[ProducerInfo]]:
        """Create or update the member's send transport and its producers."""
        m = self._member(member_id)
        if m.send is not None and m.send.remote is not None and m.send.remote != remote:
            if m.send.state != "closed" and m.send.same_dtls(remote):
                # new ICE credentials, same certificate: an ICE restart (RFC 8445 §9)
                m.send.restart_ice()
                m.send.set_remote_ice(remote)
            else:
                self._drop_send(m)  # a new peer connection (new certificate)
        if m.send is None or m.send.state == "closed":
            m.send = self._new_transport(m, "send")
            m.send.connect(remote)
        now = self._w.now()
        wanted = {t.source: t for t in tracks}
        for source, old in list(m.producers.items()):
            t = wanted.get(source)
            if (
                t is None
                or t.codec != old.codec
                or t.payload_type != old.payload_type
                or t.mid != old.mid
                or (t.ssrc is not None and t.ssrc != old.ssrc)  # a new track on the m-line
                or t.rids != tuple(q.rid for q in old.layers)  # other simulcast encodings
            ):
                self._close_producer(m, source)
        infos: list[ProducerInfo] = []
        for t in tracks:
            p = m.producers.get(t.source) or self._produce(m, m.send, t)
            if t.mid_ext is not None:
                m.mid_ext = t.mid_ext
            infos.append(ProducerInfo(t.mid, t.source, t.kind, t.codec, p.ssrc or 0))  # type: ignore[arg-type]
        self.slots.assign_all(now)
        return m.send.local, infos

    def offer_receive(
        self, member_id: str, audio_slots: int, video_slots: int
    ) -> tuple[LocalParams, list[SlotSpec]]:
        """Create (once) the member's receive transport and its fixed slots."""
        m = self._member(member_id)
        if m.recv is not None and m.recv.state != "closed":
            if not m.recv_negotiated:
                return m.recv.local, m.slot_specs  # a retried request: the same offer
            self._drop_recv(m)  # the member opens a new receive transport (new peer connection)
        recv = self._new_transport(m, "recv")
        slots = [
            ReceiveSlot(f"{prefix}{i}", kind, self._new_ssrc(), CLOCK_RATE[kind], recv, member_id)
            for kind, count, prefix in (("audio", audio_slots, "a"), ("video", video_slots, "v"))
            for i in range(count)
        ]
        m.open_slots(recv, slots, cname=f"ilvb-{random.getrandbits(40):010x}")
        return recv.local, m.slot_specs

    def restart_receive(self, member_id: str) -> tuple[LocalParams, list[SlotSpec]]:
        """ICE restart of the member's receive transport: new local credentials, same slots."""
        m = self._member(member_id)
        if m.recv is None or m.recv.state == "closed" or not m.recv_negotiated:
            from ilvb.errors import InvalidState

            raise InvalidState("invalid_state", "no receive transport to restart: open one")
        return m.recv.restart_ice(), m.slot_specs

    def accept_receive_answer(
        self, member_id: str, remote: RemoteParams, payload_types: dict[str, dict[str, int]]
    ) -> None:
        """The subscriber's answer: connect DTLS and learn each slot's payload types (after
        an ICE restart: its new ICE credentials)."""
        m = self._member(member_id)
        if m.recv is None:
            from ilvb.errors import InvalidState

            raise InvalidState("invalid_state", "no receive transport: call offer_receive first")
        for slot in m.slots:
            slot.payload_types = dict(payload_types.get(slot.mid, {}))
        if m.recv_negotiated and m.recv.same_dtls(remote):
            m.recv.set_remote_ice(remote)  # the answer to an ICE restart
        else:
            m.recv.connect(remote)
        m.recv_negotiated = True
        self.slots.assign(m, self._w.now())

    def set_source_enabled(self, member_id: str, source: str, enabled: bool) -> None:
        """Start/stop forwarding one source of a member (mute, revoke)."""
        m = self.members.get(member_id)
        p = m.producers.get(source) if m else None
        if p is None or p.enabled == enabled:
            return
        for s in (p, *p.layers):
            s.enabled = enabled
        # a disabled producer feeds no slot: the re-assignment empties (or refills) them at once
        self.slots.assign_all(self._w.now())

    def set_subscription(self, member_id: str, subscription: Subscription) -> None:
        """Replace what ``member_id`` receives."""
        m = self._member(member_id)
        m.subscription = subscription
        self.slots.assign(m, self._w.now())

    def set_send_cap(self, member_id: str, max_bps: int | None) -> None:
        """Cap the REMB ``member_id``'s producers announce (bits/s; ``None``: no cap)."""
        m = self._member(member_id)
        m.send_cap_bps = max_bps
        for p in m.producers.values():
            p.send_cap_bps = max_bps

    def remove_member(self, member_id: str) -> None:
        """Close everything of a member and re-route the others. Idempotent."""
        m = self.members.pop(member_id, None)
        if m is None:
            return
        self._teardown(m)
        self.selector.remove(member_id)
        self.slots.assign_all(self._w.now())

    def open_tap(
        self, tap_id: str, member_id: str, source: str, addr: tuple[str, int]
    ) -> TapInfo:
        """Send ``member_id``'s ``source`` producer, unchanged, to a loopback ``addr``."""
        from ilvb.errors import InvalidState, NotFound

        addr = check_loopback(addr)
        if tap_id in self._live_taps():
            raise InvalidState(message=f"tap {tap_id!r} is already open")
        m = self.members.get(member_id)
        p = m.producers.get(source) if m is not None else None
        if p is not None and p.layers:  # simulcast: the top layer being sent
            p = next((q for q in reversed(p.layers) if q.ssrc is not None), p)
        if p is None or p.closed or p.ssrc is None:
            raise NotFound(message=f"{member_id!r} sends no {source} yet")
        tap = PlainTap(tap_id, addr, p.codec, p.kind, self._w.sendto)
        p.taps.append(tap)
        self.taps[tap_id] = (p, tap)
        p.request_keyframe(self._w.now(), force=True)
        return TapInfo(
            tap_id,
            member_id,
            source,  # type: ignore[arg-type]
            p.kind,  # type: ignore[arg-type]
            p.codec,
            p.payload_type,
            p.clock_rate,
            p.ssrc,
            p.red_payload_type,
        )

    def close_tap(self, tap_id: str) -> None:
        """Stop a tap. Idempotent."""
        entry = self.taps.pop(tap_id, None)
        if entry is not None:
            p, tap = entry
            tap.closed = True
            if tap in p.taps:
                p.taps.remove(tap)

    def live_taps(self) -> list[str]:
        """Ids of the taps still sending (a tap dies with its producer)."""
        return sorted(self._live_taps())

    def request_tap_keyframe(self, tap_id: str) -> None:
        """Ask the tap's publisher for a keyframe (throttled by the producer)."""
        entry = self.taps.get(tap_id)
        if entry is not None:
            entry[0].request_keyframe(self._w.now())

    def _live_taps(self) -> set[str]:
        for tap_id, (_, tap) in list(self.taps.items()):
            if tap.closed:
                del self.taps[tap_id]
        return set(self.taps)

    def stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks."""
        totals: Counter[str] = Counter()
        for m in self.members.values():
            totals.update(m.counters())
        keys = ("transports", "producers", "producers_paused", "consumers", "packets_in")
        return {
            "audio_slots": self.selector.slots,
            "members": len(self.members),
            **{k: totals[k] for k in keys},
            "packets_out": totals["packets_out"],
            "nacks_sent": totals["nacks_sent"],
            "nacks_answered": self.rtcp.nacks_answered,
            "retransmits": totals["retransmits"],
            "plis_sent": totals["plis_sent"],
            "plis_relayed": self.rtcp.plis_relayed,
            "slot_switches": self.slots.switches,
            "rtp_in_unknown": self.rtp_in_unknown,
            "taps": len(self._live_taps()),
        }

    def traffic(self) -> Counter[str]:
        """Cumulative traffic of this router (:mod:`ilvb.sfu.traffic`): closed and live."""
        out = self.retired + Counter(nacks_received=self.rtcp.nacks_answered)
        for m in self.members.values():
            out.update(member_traffic(m))
        return out

    def close(self) -> None:
        """Close every member's media, silently (the room is going away). Idempotent."""
        if self.closed:
            return
        self.closed = True
        # Unregister everyone first, as remove_member does, so nobody is re-routed for members
        # about to be closed too (O(members), not O(members²)).
        members = list(self.members.values())
        self.members.clear()
        for tap_id in list(self.taps):
            self.close_tap(tap_id)
        for m in members:
            self._teardown(m)

    # -- timers (the worker calls these) --------------------------------------------------------

    def tick(self, now: float) -> None:
        """Fast timer (~20 ms): NACKs to publishers."""
        for m in self.members.values():
            for track in m.producers.values():
                for p in track.layers or (track,):
                    if p.nack is not None:
                        try:
                            p.tick(now)
                        except Exception as exc:
                            self._member_failed("router.member_tick", exc, m)
            if m.downlink.probe_until > now:
                try:
                    m.downlink.probe_tick(m, now)
                except Exception as exc:
                    self._member_failed("router.probe_tick", exc, m)

    def slow_tick(self, now: float, send_reports: bool) -> None:
        """Slow timer (~200 ms): audio re-selection, keyframe re-requests, sender reports."""
        reselect = self.selector.poll(now)
        for p, tap in self.taps.values():
            if tap.waiting_keyframe and not tap.closed:
                p.request_keyframe(now)
        try:
            self._bandwidth(now, send_reports)
        except Exception as exc:
            self.faults.failed("router.bandwidth", exc, f"router {self.room_id}")
        for m in list(self.members.values()):
            try:
                self._member_slow_tick(m, now, reselect, send_reports)
            except Exception as exc:  # isolated: the other members still get theirs
                self._member_failed("router.member_slow_tick", exc, m)

    def _member_slow_tick(
        self, m: MemberMedia, now: float, reselect: bool, send_reports: bool
    ) -> None:
        if reselect:
            self.slots.assign_audio(m, now)
        self.rtcp.rerequest_keyframes(m, now)
        if send_reports:
            self.rtcp.send_reports(m, now)
        else:
            self.rtcp.send_video_srs(m, now)

    def _bandwidth(self, now: float, send_reports: bool) -> None:
        """Rates of every stream, uplink samples (a congested one sends its REMB at once),
        each subscriber's layers, and with the reports what each track's REMB announces."""
        # each member's part is isolated (counted as its slow tick failing), as the rest is
        for m in self.members.values():
            try:
                for track in m.producers.values():
                    for s in track.streams():
                        s.measure(now)
                    if track.is_video and sample_uplink(track, now):
                        self._set_wanted(track)
                        track.send_remb()
            except Exception as exc:
                self._member_failed("router.member_slow_tick", exc, m)
        for m in self.members.values():
            if m.recv is not None and m.recv_negotiated and m.recv.state == "connected":
                try:
                    m.downlink.allocate(m, now)
                except Exception as exc:
                    self._member_failed("router.member_slow_tick", exc, m)
        if not send_reports:
            return
        # what the subscribers take: the best estimate among those viewing a track
        best: dict[int, float] = {}
        for m in self.members.values():
            try:
                for slot in m.video_slots:
                    c = slot.consumer
                    if c is not None:
                        track = c.producer.parent or c.producer
                        bps = m.downlink.estimate_bps
                        best[id(track)] = max(best.get(id(track), 0.0), bps)
            except Exception as exc:
                self._member_failed("router.member_slow_tick", exc, m)
        for m in self.members.values():
            try:
                for track in m.producers.values():
                    if track.is_video:
                        track.subscribers_bps = best.get(id(track))
                        self._set_wanted(track)
            except Exception as exc:
                self._member_failed("router.member_slow_tick", exc, m)

    @staticmethod
    def _set_wanted(track: Producer) -> None:
        """The REMB of ``track``: its uplink estimate, within what its subscribers take (a
        simulcast track keeps every layer: its subscribers pick among them)."""
        up = track.uplink.bwe.estimate_bps if track.uplink is not None else None
        subs = None if track.layers else track.subscribers_bps
        values = [v for v in (up, subs) if v is not None]
        track.wanted_bps = min(values) if values else None

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
            p = m.learn_ssrc(data, view)
            if p is None:
                self.rtp_in_unknown += 1
                return
        if view.payload_type != p.payload_type and view.payload_type != p.red_payload_type:
            if view.payload_type == p.rtx_payload_type:
                p.on_rtx(data, view, self._w.now())
            return  # else an unnegotiated codec
        p.on_rtp(data, view, self._w.now())

    # -- life -----------------------------------------------------------------------------------

    def _member(self, member_id: str) -> MemberMedia:
        if self.closed:
            from ilvb.errors import InvalidState

            raise InvalidState("invalid_state", f"router {self.room_id} is closed")
        m = self.members.get(member_id)
        if m is None:
            m = self.members[member_id] = MemberMedia(member_id)
        return m

    def _produce(self, m: MemberMedia, send: WebRtcTransport, t: AcceptedTrack) -> Producer:
        """A new producer on ``m``'s send transport for the accepted track ``t``."""
        w = self._w
        p = Producer.for_track(
            m.member_id,
            t,
            send,
            cache_size=w.nack_cache_packets,
            keyframe_interval_s=w.keyframe_interval_s,
            on_level=self.selector.update,
            fast_fd=w.fast_fd,
        )
        p.send_cap_bps = m.send_cap_bps
        m.add_producer(p, rtx_ssrc=t.rtx_ssrc)
        if self.observer.listeners:
            self.observer.emit(producer_added(p))
        return p

    def _close_producer(self, m: MemberMedia, source: str) -> Producer | None:
        """Close one producer of ``m`` (its consumers close with it) and tell the observer."""
        p = m.producers.get(source)
        if p is None:
            return None
        consumers = list(p.consumers)
        self.retired.update(producer_traffic(p))
        m.close_producer(source)
        if self.observer.listeners:
            for c in consumers:
                self.observer.emit(consumer_closed(c))
            self.observer.emit(ProducerClosed(m.member_id, source))  # type: ignore[arg-type]
        return p

    def _close_slots(self, m: MemberMedia) -> None:
        """Close ``m``'s receive slots (their consumers first) and free their SSRCs."""
        if self.observer.listeners:
            for slot in m.slots:
                if slot.consumer is not None:
                    self.observer.emit(consumer_closed(slot.consumer))
        self.retired.update(slot_traffic(m.slots))
        self._used_ssrcs.difference_update(m.close_slots())

    def _new_ssrc(self) -> int:
        while True:
            ssrc = random.getrandbits(32)
            if ssrc and ssrc not in self._used_ssrcs:
                self._used_ssrcs.add(ssrc)
                return ssrc

    def _new_transport(self, m: MemberMedia, kind: str) -> WebRtcTransport:
        w = self._w
        fast = w.fast_fd is not None  # the C fast path (ilvb.sfu.fastpath)
        ip, port = w.announced_ip, w.announced_port  # a relay's address in tests
        t = WebRtcTransport(w.certificate, w.sendto, ip, port, w.now, kind, fast)  # type: ignore[arg-type]
        if kind == "send":
            t.on_rtp = lambda data: self._on_send_rtp(m, data)
            t.on_rtcp = lambda data: self.rtcp.on_publisher_rtcp(m, data)
        else:
            t.on_rtcp = lambda data: self.rtcp.on_subscriber_rtcp(m, data)
            t.on_connected = lambda: self.slots.assign(m, w.now())
        t.on_closed = lambda reason: self._transport_closed(m, t, reason)
        t.on_path = lambda _t, ok: self._path_changed(m, t if ok else None)
        t.keepalive_ssrc = FEEDBACK_SSRC
        w.add_transport(t)
        return t

    def _path_changed(self, m: MemberMedia, back: WebRtcTransport | None = None) -> None:
        """A transport of ``m`` lost its path or got it back (``back``): the member's path is
        lost when every connected transport of it is; tell the owner when that changes. A path
        back asks for keyframes: what was sent into it meanwhile is gone (send: its subscribers
        missed this publisher's frames; recv: this subscriber missed its slots' frames)."""
        if back is not None:
            now = self._w.now()
            if back is m.send:
                for p in m.producers.values():
                    p.request_keyframe(now, force=True)
            elif back is m.recv:
                for slot in m.video_slots:
                    if slot.consumer is not None:
                        slot.consumer.producer.request_keyframe(now, force=True)
        live = [t for t in (m.send, m.recv) if t is not None and t.state == "connected"]
        lost = bool(live) and all(t.path_lost for t in live)
        if lost != m.path_lost and self.members.get(m.member_id) is m:
            m.path_lost = lost
            self._safe_emit(MediaPathChanged(m.member_id, lost))

    def _transport_closed(self, m: MemberMedia, t: WebRtcTransport, reason: str) -> None:
        """A transport closed on its own account (consent expired, DTLS failure).

        Only a member's current transport can get here: the ones the router closes (replaced,
        member removed, router closed) close silently.
        """
        self._w.remove_transport(t)
        logger.info(
            "router %s: %s transport of %s closed (%s)", self.room_id, t.kind, m.member_id, reason
        )
        if t is m.send or t is m.recv:
            self.retired.update(transport_traffic(t))
        if t is m.send:
            m.send = None
            for source in list(m.producers):
                self._close_producer(m, source)
                self._safe_emit(ProducerClosed(m.member_id, source))  # type: ignore[arg-type]
        elif t is m.recv:
            m.recv = None
            self._close_slots(m)
        self._path_changed(m)  # a member left without a connected transport is not "lost"
        self._safe_emit(TransportClosed(m.member_id, t.kind, reason))  # type: ignore[arg-type]
        self.slots.assign_all(self._w.now())

    def _drop_send(self, m: MemberMedia) -> None:
        """Close the member's send transport and its producers (silently: we decided)."""
        for source in list(m.producers):
            self._close_producer(m, source)
        if m.send is not None:
            self.retired.update(transport_traffic(m.send))
            m.send.router_closed()
            self._w.remove_transport(m.send)
            m.send = None

    def _drop_recv(self, m: MemberMedia) -> None:
        """Close the member's receive transport and its slots (silently: we decided)."""
        self._close_slots(m)
        if m.recv is not None:
            self.retired.update(transport_traffic(m.recv))
            m.recv.router_closed()
            self._w.remove_transport(m.recv)
            m.recv = None

    def _teardown(self, m: MemberMedia) -> None:
        self._drop_send(m)
        self._drop_recv(m)

    def _announce_slot(self, event: SlotChanged) -> None:
        self._safe_emit(event)
        if self.observer.listeners:
            self.observer.emit(event)

    def _switched(
        self, m: MemberMedia, slot: ReceiveSlot, old: Consumer | None, new: Consumer | None
    ) -> None:
        """A slot's consumer changed (the slot assigner's hook): tell the observer."""
        if self.observer.listeners:
            if old is not None:
                self.observer.emit(consumer_closed(old))
            if new is not None:
                self.observer.emit(consumer_added(new))

    def _safe_emit(self, event: RouterEvent) -> None:
        try:
            self._emit(event)
        except Exception:
            logger.exception("router %s: on_event(%s) failed", self.room_id, event)
