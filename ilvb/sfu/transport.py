"""WebRtcTransport: one ICE-lite + DTLS-SRTP path to one client on the worker's shared socket.

It owns its SRTP sessions. The worker demultiplexes datagrams (RFC 7983: STUN 0..3, DTLS 20..63,
RTP/RTCP 128..191) and hands each one to the transport that owns the source address (or, for STUN,
the ufrag). Decrypted RTP goes to ``on_rtp``, decrypted RTCP to ``on_rtcp``; ``send_rtp`` and
``send_rtcp`` protect and send to the selected remote address. Nothing is sent before DTLS is
connected and the peer's fingerprint verified.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pylibsrtp

from ilvb.sfu import fastpath
from ilvb.sfu.dtls import DtlsCertificate, DtlsRole, DtlsSrtp
from ilvb.sfu.ice import CONSENT_TIMEOUT_S, IceParams

logger = logging.getLogger(__name__)

Addr = tuple[str, int]
_ids = itertools.count(1)


@dataclass(frozen=True)
class LocalParams:
    """What the SDP needs from our side of a transport."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: str  # sha-256
    ip: str
    port: int


@dataclass(frozen=True)
class RemoteParams:
    """What the client's SDP tells the transport: its ICE credentials, fingerprints, our role."""

    ice_ufrag: str
    ice_pwd: str
    fingerprints: tuple[tuple[str, str], ...]
    dtls_role: DtlsRole  # the role WE play


class WebRtcTransport:
    """ICE-lite + DTLS + SRTP for one client. ``state``: new, connected, closed."""

    def __init__(
        self,
        certificate: DtlsCertificate,
        sendto: Callable[[bytes, Addr], None],
        local_ip: str,
        local_port: int,
        now: Callable[[], float],
        kind: Literal["send", "recv"] = "send",
        fastpath: bool = False,
    ) -> None:
        self.id = f"t{next(_ids)}"
        self.fastpath = fastpath  # key a C SRTP context (ilvb.sfu.fastpath) for outgoing RTP
        self.kind = kind
        self.ice_params = IceParams.generate()
        self.local = LocalParams(
            self.ice_params.ufrag,
            self.ice_params.pwd,
            certificate.fingerprint,
            local_ip,
            local_port,
        )
        self._sendto = sendto
        self._now = now
        self.remote: RemoteParams | None = None
        self.remote_addr: Addr | None = None
        self.addrs: set[Addr] = set()  # every address that passed a check (for demux)
        self._nominated = False
        self.last_seen = now()
        self.state = "new"
        self.dtls = DtlsSrtp(certificate, self._send_dtls, self._dtls_connected, self._dtls_failed)
        self._rx: pylibsrtp.Session | None = None
        self._tx: pylibsrtp.Session | None = None
        # the C fast path's handle on ``_tx``'s libsrtp context (ilvb.sfu.fastpath): forwarded
        # packets, NACK answers and RTCP share one context, so every SSRC keeps one ROC
        self.fast_tx: Any = None
        # callbacks, set by the owner
        self.on_rtp: Callable[[bytes], None] = lambda data: None
        self.on_rtcp: Callable[[bytes], None] = lambda data: None
        self.on_connected: Callable[[], None] = lambda: None
        self.on_closed: Callable[[str], None] = lambda reason: None
        self.on_addr: Callable[[WebRtcTransport, Addr], None] = lambda t, a: None
        # counters
        self.rtp_in = self.rtp_out = self.rtcp_in = self.rtcp_out = self.srtp_errors = 0

    # -- signaling ----------------------------------------------------------------------------

    def connect(self, remote: RemoteParams) -> None:
        """Apply the client's SDP parameters (may come after ICE/DTLS already started)."""
        self.remote = remote
        self.dtls.set_remote(list(remote.fingerprints), remote.dtls_role)
        self._kick_client()

    # -- ICE ----------------------------------------------------------------------------------

    def on_ice_binding(self, addr: Addr, nominated: bool) -> None:
        """A valid Binding request: refresh consent and maybe switch the remote address."""
        self.last_seen = self._now()
        if addr not in self.addrs:
            self.addrs.add(addr)
            self.on_addr(self, addr)
        if nominated or not self._nominated or self.remote_addr is None:
            self.remote_addr = addr
            self._nominated = self._nominated or nominated
        self._kick_client()

    def _kick_client(self) -> None:
        # As DTLS client we may only speak once we know where the peer is.
        if self.dtls.role == "client" and self.remote_addr is not None:
            self.dtls.kick()

    # -- DTLS ---------------------------------------------------------------------------------

    def handle_dtls(self, data: bytes, addr: Addr) -> None:
        """A DTLS record from ``addr``."""
        self.last_seen = self._now()
        if self.remote_addr is None:
            self.remote_addr = addr
        self.dtls.handle(data)

    def _send_dtls(self, data: bytes) -> None:
        if self.remote_addr is not None:
            self._sendto(data, self.remote_addr)

    def _dtls_connected(self) -> None:
        self._rx, self._tx = self.dtls.rx, self.dtls.tx
        if self.fastpath:
            self.fast_tx = fastpath.tx_for(self._tx)
        self.state = "connected"
        logger.debug("transport %s connected (%s)", self.id, self.dtls.role)
        self.on_connected()

    def _dtls_failed(self, reason: str) -> None:
        self.close(reason)

    # -- SRTP ---------------------------------------------------------------------------------

    def handle_srtp(self, data: bytes) -> None:
        """An SRTP or SRTCP packet from the client: unprotect and dispatch."""
        rx = self._rx
        if rx is None:
            return  # not keyed yet
        try:
            if 191 < data[1] < 224:  # RFC 5761 §4 (rtp.packet.is_rtcp, inlined: per packet)
                plain = rx.unprotect_rtcp(data)
                self.rtcp_in += 1
                self.last_seen = self._now()
                self.on_rtcp(plain)
            else:
                plain = rx.unprotect(data)
                self.rtp_in += 1
                self.last_seen = self._now()
                self.on_rtp(plain)
        except pylibsrtp.Error:
            self.srtp_errors += 1  # replay, auth failure, garbage

    def send_rtp(self, packet: bytes) -> bool:
        """Protect and send one plain RTP packet. False when not connected."""
        tx = self._tx
        addr = self.remote_addr
        if tx is None or addr is None:
            return False
        try:
            self._sendto(tx.protect(packet), addr)
        except pylibsrtp.Error:
            self.srtp_errors += 1
            return False
        self.rtp_out += 1
        return True

    def send_rtcp(self, packet: bytes) -> bool:
        """Protect and send one plain RTCP (compound) packet. False when not connected."""
        tx = self._tx
        addr = self.remote_addr
        if tx is None or addr is None:
            return False
        try:
            self._sendto(tx.protect_rtcp(packet), addr)
        except pylibsrtp.Error:
            self.srtp_errors += 1
            return False
        self.rtcp_out += 1
        return True

    # -- life ---------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Timers: DTLS retransmission and consent freshness."""
        if self.state == "closed":
            return
        self.dtls.poll(now)
        if now - self.last_seen > CONSENT_TIMEOUT_S:
            self.close("consent_expired")

    def close(self, reason: str = "closed") -> None:
        """Close on its own account (consent expired, DTLS failed) and tell the owner once
        (``on_closed``). Idempotent."""
        if not self._shut():
            return
        try:
            self.on_closed(reason)
        except Exception:  # a failing listener must not break the worker
            logger.exception("transport on_closed listener failed")

    def router_closed(self) -> None:
        """Closed by its owner (member removed, replaced, router closed): nobody is told.

        Idempotent. The owner already knows, so ``on_closed`` is not called (mediasoup's
        close rule: a self-initiated close tells the parent, a parent-initiated one is silent).
        """
        self._shut()

    def _shut(self) -> bool:
        """Close DTLS and drop the keys; False if it was closed already."""
        if self.state == "closed":
            return False
        self.state = "closed"
        self.dtls.close()
        self._rx = self._tx = self.fast_tx = None
        return True
