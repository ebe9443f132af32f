"""PlainTap: a producer's packets, unencrypted, to a recorder on this host (mediasoup's
PlainTransport, send-only).

A tap is an ordinary subscriber that needs no ICE, DTLS or SRTP: the SFU sends every RTP packet
of one producer *as the publisher sent it* (its SSRC, sequence numbers, timestamps and payload
type; RTX already unwrapped into the original packet) and the publisher's RTCP sender reports
of that stream to one UDP address on the loopback network. Nothing is decoded or muxed here: a
recorder process (``ilvb.recording``) does that. The tap asks the publisher for a keyframe when
it opens and again (throttled by the producer) until a keyframe went out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from ilvb.errors import InvalidArgument
from ilvb.sfu.rtp.keyframe import keyframe_detector
from ilvb.sfu.rtp.packet import RtpView

Addr = tuple[str, int]


def check_loopback(addr: Addr) -> Addr:
    """``addr`` as ``(host, port)`` when it is a loopback address (127.0.0.0/8, ::1)."""
    host, port = addr
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidArgument(message=f"tap address {host!r} is not an IP address") from None
    if not ip.is_loopback or not 0 < int(port) < 65536:
        raise InvalidArgument(message="a tap sends to a loopback address and port only")
    return (str(ip), int(port))


class PlainTap:
    """One producer → one loopback UDP address, packets unchanged."""

    __slots__ = ("tap_id", "addr", "_is_key", "_send", "waiting_keyframe", "packets", "closed")

    def __init__(
        self, tap_id: str, addr: Addr, codec: str, kind: str, send: Callable[[bytes, Addr], None]
    ) -> None:
        self.tap_id = tap_id
        self.addr = addr
        self._is_key = keyframe_detector(codec)
        self._send = send
        self.waiting_keyframe = kind == "video"
        self.packets = 0
        self.closed = False

    def send(self, data: bytes, view: RtpView) -> None:
        """Forward one RTP packet (hot path: one ``sendto``)."""
        if self.waiting_keyframe:
            if self._is_key(data[view.header_len : view.payload_end]):
                self.waiting_keyframe = False
        self.packets += 1
        self._send(data, self.addr)

    def send_rtcp(self, data: bytes) -> None:
        """Forward the publisher's RTCP (its sender reports) for this stream."""
        self._send(data, self.addr)
