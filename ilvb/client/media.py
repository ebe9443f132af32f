"""The client's two media transports (docs/protocol.md "Media negotiation").

- Send: an aiortc ``RTCPeerConnection`` the client offers on; each published source is one
  ``sendonly`` transceiver, announced as ``transport.send.offer {sdp, sources: {mid: source}}``.
  Publishing another source renegotiates the same connection. Each m-line sends a
  :class:`~ilvb.client.switch.TrackSwitch`, so unpublishing pauses it and publishing again
  feeds it a new track with continuous timestamps.
- Receive: the server offers fixed slots (``a0…``, ``v0…``), the client answers; decoded frames
  go to :class:`~ilvb.client.remote.RemoteMedia`.

``answer_filter`` / ``offer_filter`` let tests rewrite the server's SDP before it is applied
(e.g. point the client at a UDP impairment proxy instead of the SFU's port).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from ilvb.client.playout import install as install_audio_buffer
from ilvb.client.remote import RemoteMedia
from ilvb.client.switch import TrackSwitch
from ilvb.errors import InvalidArgument, InvalidState

log = logging.getLogger(__name__)

Request = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
SdpFilter = Callable[[str], str]


class MediaSession:
    """The send and receive peer connections of one client in one room."""

    def __init__(self, request: Request, remote: RemoteMedia) -> None:
        self._request = request
        self.remote = remote
        self.send_pc: RTCPeerConnection | None = None
        self.recv_pc: RTCPeerConnection | None = None
        self.sending: dict[str, RTCRtpTransceiver] = {}  # source -> transceiver
        self.switches: dict[str, TrackSwitch] = {}  # source -> the track its m-line sends
        self.answer_filter: SdpFilter | None = None  # applied to the send answer
        self.offer_filter: SdpFilter | None = None  # applied to the receive offer
        # received audio through ilvb.client.playout's adaptive buffer (False: aiortc's own)
        self.adaptive_audio = True
        self._lock = asyncio.Lock()

    async def publish(self, source: str, track: MediaStreamTrack, codec: str | None = None) -> None:
        """Send ``track`` as ``source`` (the server granted ``media.publish`` already).

        ``codec`` (``"VP8"``, ``"H264"``, ``"opus"`` …) restricts the offer to that codec;
        by default every codec aiortc has is offered and the server picks.
        """
        kind = "audio" if source == "microphone" else "video"
        if track.kind != kind:
            raise InvalidArgument(message=f"{source} needs a {kind} track, not {track.kind}")
        async with self._lock:
            switch = self.switches.get(source)
            if switch is not None:
                # Published before: the m-line's switch takes the new track (pts stay continuous).
                switch.set(track)
            else:
                if self.send_pc is None:
                    self.send_pc = new_peer_connection()
                switch = TrackSwitch(kind)
                switch.set(track)
                transceiver = self.send_pc.addTransceiver(switch, direction="sendonly")
                self.sending[source] = transceiver
                self.switches[source] = switch
                if codec is not None:
                    transceiver.setCodecPreferences(codec_preferences(kind, codec))
            # Always (re)announce: the server maps mids to sources from each offer.
            await self._negotiate_send()

    def replace(self, source: str, track: MediaStreamTrack) -> None:
        """Send ``track`` instead of the current one for ``source``; no renegotiation."""
        switch = self.switches.get(source)
        if switch is None or switch.source is None:
            raise InvalidState(message=f"{source} is not being sent")
        if track.kind != switch.kind:
            raise InvalidArgument(message=f"{source} needs a {switch.kind} track")
        switch.set(track)

    async def unpublish(self, source: str) -> None:
        """Stop sending ``source`` (the transceiver stays, without a track)."""
        switch = self.switches.get(source)
        if switch is not None:
            switch.set(None)

    async def _negotiate_send(self) -> None:
        pc = self.send_pc
        assert pc is not None
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        sources = {t.mid: src for src, t in self.sending.items() if t.mid is not None}
        reply = await self._request(
            "transport.send.offer", {"sdp": pc.localDescription.sdp, "sources": sources}
        )
        sdp = str(reply.get("sdp", ""))
        if self.answer_filter is not None:
            sdp = self.answer_filter(sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def active_sources(self) -> list[str]:
        """Sources with a track now (published and not unpublished)."""
        return [src for src, switch in self.switches.items() if switch.source is not None]

    async def restart_send(self, sources: list[str]) -> None:
        """A new send peer connection for ``sources`` (the server lost the old transport).

        Their current tracks move to new switches on the new connection, with the same codec
        preferences; the other sources are dropped. The server granted each one again.
        """
        async with self._lock:
            old, old_sending = self.send_pc, self.sending
            tracks = {src: sw.source for src, sw in self.switches.items() if src in sources}
            for switch in self.switches.values():
                switch.stop()  # the old sender stops it anyway; a stopped track cannot move
            self.send_pc, self.sending, self.switches = None, {}, {}
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.close()
            live = {src: track for src, track in tracks.items() if track is not None}
            if not live:
                return
            self.send_pc = new_peer_connection()
            for source, track in live.items():
                switch = TrackSwitch(track.kind)
                switch.set(track)
                transceiver = self.send_pc.addTransceiver(switch, direction="sendonly")
                codecs = getattr(old_sending.get(source), "_preferred_codecs", None)
                if codecs:
                    transceiver.setCodecPreferences(list(codecs))
                self.sending[source] = transceiver
                self.switches[source] = switch
            await self._negotiate_send()

    async def restart_receive(self) -> None:
        """A new receive peer connection (the server lost the old transport)."""
        async with self._lock:
            old, self.recv_pc = self.recv_pc, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        await self.open_receive()

    async def open_receive(self) -> None:
        """Negotiate the receive transport once (server offers, client answers)."""
        async with self._lock:
            if self.recv_pc is not None:
                return
            reply = await self._request("transport.recv.open", {})
            pc = new_peer_connection()
            self.recv_pc = pc
            sdp = str(reply.get("sdp", ""))
            if self.offer_filter is not None:
                sdp = self.offer_filter(sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            for transceiver in pc.getTransceivers():
                if transceiver.mid is None:
                    continue
                transceiver.direction = "recvonly"
                if self.adaptive_audio and transceiver.kind == "audio":
                    install_audio_buffer(transceiver.receiver)
                self.remote.attach(transceiver.mid, transceiver.kind, transceiver.receiver.track)  # type: ignore[arg-type]
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            await self._request("transport.recv.answer", {"sdp": pc.localDescription.sdp})

    def receiver_stats_pc(self) -> RTCPeerConnection:
        """The receive peer connection (for ``getStats()`` in tests)."""
        if self.recv_pc is None:
            raise InvalidState(message="the receive transport is not open")
        return self.recv_pc

    async def close(self) -> None:
        """Close both peer connections. Idempotent."""
        for pc in (self.send_pc, self.recv_pc):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()
        for switch in self.switches.values():
            switch.stop()
        self.send_pc = None
        self.recv_pc = None
        self.sending.clear()
        self.switches.clear()
        await self.remote.reset()


def codec_preferences(kind: str, codec: str) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities for ``codec`` (by MIME subtype, any case) of ``kind``."""
    wanted = f"{kind}/{codec}".lower()
    found = [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() == wanted]
    if not found:
        raise InvalidArgument(message=f"no {kind} codec {codec!r} here")
    return found


def new_peer_connection() -> RTCPeerConnection:
    """A peer connection that bundles every m-line on one transport (the SFU's single port).

    aiortc's default "balanced" policy gives the 2nd…nth m-line of a kind the transport of the
    1st one, and when the BUNDLE group is applied only that 1st one moves to the bundle
    transport: the others keep an orphaned transport, never start receiving, and their packets
    are mis-routed by payload type to the 1st receiver (two video slots then decode garbage).
    """
    return RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
