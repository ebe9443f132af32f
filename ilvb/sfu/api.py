"""The contract between the control plane and the media plane.

The control plane (``ilvb.rooms`` / ``ilvb.server``) decides *who may send and who receives
what*; the media plane (``ilvb.sfu``) moves the packets. The control plane only ever talks to
the media plane through these two interfaces, so ``sfu`` never imports ``rooms`` and the rooms
can be tested with a media plane that forwards nothing.

Identities: ``room_id`` is the control plane's internal room id (never shown to clients);
``member_id`` is the member's user id inside that room. ``source`` is one of
``"microphone"``, ``"camera"``, ``"screen"``.

Receive slots: each member's receive transport is negotiated once with fixed slots: ``audio_slots``
audio m-lines (mids ``a0``, ``a1`` …, = the app's audio-sender cap) and ``video_slots`` video
m-lines (mids ``v0`` … ``v3``). The SFU switches which producer feeds which slot by rewriting
SSRC / sequence numbers / timestamps, so no renegotiation happens when speakers or views change.
Every slot change is reported through ``on_event`` as a :class:`SlotChanged` so the control plane
can tell the client which member it is now hearing or seeing in that slot.

Events (:data:`RouterEvent`, delivered to the ``on_event`` given to ``open_router``, on the control
plane's loop): :class:`SlotChanged`; :class:`ProducerClosed` and :class:`TransportClosed` when the
SFU closed one on its own account (never as the echo of a command); :class:`MediaPathChanged` when
a member's media path is lost (nothing heard for 1.5 s) or back; :class:`WorkerDied` once per
router when its worker process died — the handle is dead from then on, the room must be opened
again. Nothing else crosses the planes.

Taps (:meth:`RouterHandle.open_tap`): a recorder on the same host takes a producer's packets as
a plain subscriber — unencrypted RTP to a loopback UDP port (mediasoup's PlainTransport) — and
does any depacketizing and muxing in its own process; the SFU never decodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Source = Literal["microphone", "camera", "screen"]
SOURCES: tuple[Source, ...] = ("microphone", "camera", "screen")


def source_kind(source: str) -> Literal["audio", "video"]:
    """``microphone`` is audio; ``camera`` and ``screen`` are video."""
    return "audio" if source == "microphone" else "video"


@dataclass(frozen=True)
class ProducerInfo:
    """One incoming track the SFU accepted from a publisher's send transport."""

    mid: str
    source: Source
    kind: Literal["audio", "video"]
    codec: str  # "opus", "VP8", "H264"
    ssrc: int


@dataclass(frozen=True)
class TapInfo:
    """A plain tap (:meth:`RouterHandle.open_tap`): what a recorder needs to depacketize.

    ``red_payload_type``: set when the audio comes RFC 2198 RED-wrapped under that PT too.
    """

    tap_id: str
    member_id: str
    source: Source
    kind: Literal["audio", "video"]
    codec: str  # "opus", "VP8", "H264"
    payload_type: int
    clock_rate: int
    ssrc: int
    red_payload_type: int | None = None


@dataclass(frozen=True)
class SendAnswer:
    """The SFU's SDP answer to a publisher's offer, and the producers that now exist."""

    sdp: str
    producers: Sequence[ProducerInfo]


@dataclass(frozen=True)
class Subscription:
    """What one member may receive; the SFU applies it within one second.

    ``audio_from``: members whose audio this member listens to (``None`` = everyone). The SFU
    forwards at most ``audio_slots`` of them, the loudest, never the member's own.
    ``views``: (member_id, source) pairs in slot order, at most ``video_slots``.
    """

    audio_from: frozenset[str] | None = None
    views: tuple[tuple[str, Source], ...] = ()


@dataclass(frozen=True)
class SlotChanged:
    """A receive slot of ``member_id`` now carries ``source_member``'s ``source`` (or nothing)."""

    member_id: str
    mid: str
    kind: Literal["audio", "video"]
    source_member: str | None
    source: Source | None


@dataclass(frozen=True)
class RouterOptions:
    """What a room tells its router when it is opened.

    ``audio_slots``: the loudest audio senders forwarded to each listener (the room's
    ``RoomLimits.audio_slots``, 1..16); the router's audio selector picks at most this many.
    """

    audio_slots: int = 6

    def __post_init__(self) -> None:
        if not 1 <= self.audio_slots <= 64:
            raise ValueError("audio_slots must be 1..64")


@dataclass(frozen=True)
class ProducerClosed:
    """The SFU closed ``member_id``'s producer of ``source`` (its send transport died)."""

    member_id: str
    source: Source


@dataclass(frozen=True)
class TransportClosed:
    """``member_id``'s ``send`` or ``recv`` transport closed on its own account.

    ``reason``: ``consent_expired`` (no ICE for 30 s, also an unanswered transport),
    ``dtls_closed``, ``dtls_failed`` …; a closed send transport's producers are gone too.
    """

    member_id: str
    transport: Literal["send", "recv"]
    reason: str


@dataclass(frozen=True)
class MediaPathChanged:
    """``member_id``'s media path was lost (``lost``: every connected transport of it silent
    for ``ilvb.sfu.ice.PATH_LOST_S``) or is back (a valid packet arrived again, or its last
    connected transport closed: then a :class:`TransportClosed` comes too)."""

    member_id: str
    lost: bool


@dataclass(frozen=True)
class WorkerDied:
    """The worker holding this router died (``reason``); its media is gone, reported once."""

    reason: str
    worker_pid: int | None = None


RouterEvent = SlotChanged | ProducerClosed | TransportClosed | MediaPathChanged | WorkerDied
# on_event(event): called on the control plane's event loop; a failing handler is logged.
RouterEventHandler = Callable[[RouterEvent], None]


class RouterHandle(Protocol):
    """One room's media on one worker (mediasoup: Router), from ``MediaPlane.open_router``."""

    room_id: str

    async def negotiate_send(
        self, member_id: str, offer_sdp: str, sources: dict[str, Source]
    ) -> SendAnswer:
        """Answer a publisher's SDP offer. ``sources`` maps each sending m-line's mid to its source.

        Producers appear for the mapped m-lines; m-lines not in ``sources`` are rejected (port 0)
        or set inactive. Renegotiation (a second offer) updates the same send transport.
        """
        ...

    async def offer_receive(self, member_id: str, audio_slots: int, video_slots: int) -> str:
        """Create (once) the member's receive transport and return the SFU's SDP offer."""
        ...

    async def accept_receive_answer(self, member_id: str, answer_sdp: str) -> None:
        """Complete the receive transport's negotiation with the member's SDP answer (also the
        answer to :meth:`restart_receive`'s offer)."""
        ...

    async def restart_receive(self, member_id: str) -> str:
        """ICE restart of the member's receive transport: the SFU's offer with new ICE
        credentials (same slots, same DTLS); the member answers with accept_receive_answer."""
        ...

    async def set_source_enabled(self, member_id: str, source: Source, enabled: bool) -> None:
        """Start/stop forwarding a member's source (mute, unpublish, permission revoked)."""
        ...

    async def set_subscription(self, member_id: str, subscription: Subscription) -> None:
        """Replace what ``member_id`` receives (listen/unlisten, views)."""
        ...

    async def set_send_cap(self, member_id: str, max_bps: int | None) -> None:
        """Cap what the SFU's bandwidth feedback (REMB) tells ``member_id``'s publisher it may
        send, in bits per second (the quality profile's ``network.max_send_kbps``); ``None``:
        no cap. Kept for producers published later."""
        ...

    async def remove_member(self, member_id: str) -> None:
        """Close the member's transports, producers and consumers. Idempotent."""
        ...

    async def open_tap(
        self, tap_id: str, member_id: str, source: Source, addr: tuple[str, int]
    ) -> TapInfo:
        """Send ``member_id``'s ``source`` as a plain subscriber would get it, to a loopback UDP
        ``addr`` (a recorder): RTP unchanged and unencrypted, plus the publisher's sender
        reports of that stream; a keyframe is requested at once. ``not_found`` while the
        member has no such producer; the tap closes with its producer."""
        ...

    async def close_tap(self, tap_id: str) -> None:
        """Stop a tap. Idempotent."""
        ...

    async def live_taps(self) -> list[str]:
        """Ids of the taps still sending (one whose producer closed is gone)."""
        ...

    async def request_keyframe(self, tap_id: str) -> None:
        """Ask the tap's publisher for a keyframe (throttled)."""
        ...

    async def stats(self) -> dict[str, Any]:
        """Counters for tests and the console: transports, producers, consumers, packets."""
        ...

    async def close(self) -> None:
        """Close everything of this room. Idempotent."""
        ...


class MediaPlane(Protocol):
    """The set of SFU workers, seen from the control plane."""

    async def start(self) -> None:
        """Start workers (idempotent)."""
        ...

    async def close(self) -> None:
        """Stop workers and close all routers."""
        ...

    async def open_router(
        self, room_id: str, on_event: RouterEventHandler, options: RouterOptions = RouterOptions()
    ) -> RouterHandle:
        """Place a room on a worker and return its router (``options`` apply when it is new)."""
        ...


@runtime_checkable
class MediaPlaneStats(Protocol):
    """A media plane that reports its workers' counters (metrics read it through this)."""

    async def stats(self) -> dict[str, Any]:
        """``{"workers": [...]}``: per live worker ``index``, ``pid``, ``cpu_seconds`` (CPU
        time of its process), ``routers``, ``transports``, ``members`` and ``traffic`` — the
        cumulative counters of :mod:`ilvb.sfu.traffic` (``packets_in``, ``bytes_in``,
        ``packets_out``, ``payload_bytes_out``, ``packets_lost``, ``nacks_sent``,
        ``nacks_received``, ``retransmits``), which only grow while the worker lives;
        ``"configured"``: how many workers the plane runs when all are up (0: no media)."""
        ...


@dataclass
class NullRouter:
    """A router that forwards nothing: for control-plane tests and ``--no-media``.

    It answers negotiation requests with ``media_unavailable``; everything else is accepted and
    recorded so control-plane tests can assert what the media plane was told.
    """

    room_id: str
    options: RouterOptions = RouterOptions()
    on_event: RouterEventHandler | None = None
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    enabled: dict[tuple[str, str], bool] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    send_caps: dict[str, int | None] = field(default_factory=dict)
    closed: bool = False

    async def negotiate_send(
        self, member_id: str, offer_sdp: str, sources: dict[str, Source]
    ) -> SendAnswer:
        from ilvb.errors import Unavailable

        raise Unavailable("media_unavailable", "this server runs without a media plane")

    async def offer_receive(self, member_id: str, audio_slots: int, video_slots: int) -> str:
        from ilvb.errors import Unavailable

        raise Unavailable("media_unavailable", "this server runs without a media plane")

    async def accept_receive_answer(self, member_id: str, answer_sdp: str) -> None:
        from ilvb.errors import Unavailable

        raise Unavailable("media_unavailable", "this server runs without a media plane")

    async def restart_receive(self, member_id: str) -> str:
        from ilvb.errors import Unavailable

        raise Unavailable("media_unavailable", "this server runs without a media plane")

    async def set_source_enabled(self, member_id: str, source: Source, enabled: bool) -> None:
        self.enabled[(member_id, source)] = enabled

    async def set_subscription(self, member_id: str, subscription: Subscription) -> None:
        self.subscriptions[member_id] = subscription

    async def set_send_cap(self, member_id: str, max_bps: int | None) -> None:
        self.send_caps[member_id] = max_bps

    async def remove_member(self, member_id: str) -> None:
        self.removed.append(member_id)
        self.subscriptions.pop(member_id, None)

    async def open_tap(
        self, tap_id: str, member_id: str, source: Source, addr: tuple[str, int]
    ) -> TapInfo:
        from ilvb.errors import Unavailable

        raise Unavailable("media_unavailable", "this server runs without a media plane")

    async def close_tap(self, tap_id: str) -> None:
        return None

    async def live_taps(self) -> list[str]:
        return []

    async def request_keyframe(self, tap_id: str) -> None:
        return None

    async def stats(self) -> dict[str, Any]:
        return {"transports": 0, "producers": 0, "consumers": 0}

    async def close(self) -> None:
        self.closed = True

    def emit_for_testing(self, event: RouterEvent) -> None:
        """Deliver ``event`` to the room's handler, as a real media plane would."""
        if self.on_event is not None:
            self.on_event(event)


class NullMediaPlane:
    """A media plane with no workers; routers are :class:`NullRouter`."""

    def __init__(self) -> None:
        self.routers: dict[str, NullRouter] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for router in list(self.routers.values()):
            await router.close()
        self.routers.clear()

    async def stats(self) -> dict[str, Any]:
        """No workers."""
        return {"workers": [], "configured": 0}

    async def open_router(
        self, room_id: str, on_event: RouterEventHandler, options: RouterOptions = RouterOptions()
    ) -> NullRouter:
        router = NullRouter(room_id, options=options, on_event=on_event)
        self.routers[room_id] = router
        return router
