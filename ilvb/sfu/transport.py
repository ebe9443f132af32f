"""WebRtcTransport: one ICE-lite + DTLS-SRTP path to one client on the worker's shared socket.

It owns its SRTP sessions. The worker demultiplexes datagrams (RFC 7983: STUN 0..3, DTLS 20..63,
RTP/RTCP 128..191) and hands each one to the transport that owns the source address (or, for STUN,
the ufrag). Decrypted RTP goes to ``on_rtp``, decrypted RTCP to ``on_rtcp``; ``send_rtp`` and
``send_rtcp`` protect and send to the selected remote address. Nothing is sent before DTLS is
connected and the peer's fingerprint verified.

Path watch: a connected transport that hears nothing valid for :data:`~ilvb.sfu.ice.PATH_LOST_S`
reports its path lost (``on_path(t, False)``) and back with the next valid packet
(``on_path(t, True)``); it sends an empty RTCP receiver report every :data:`KEEPALIVE_S` so the
client can tell a dead path from a quiet one. ICE restart (:meth:`WebRtcTransport.restart_ice`)
changes only the ICE credentials: DTLS and the SRTP keys stay. A valid check from a new address
moves the path there when it is nominated, or when the current address has sent nothing for
:data:`REBIND_S` (a NAT rebinding: the client's packets now come from another port).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pylibsrtp

from ilvb.sfu import fastpath
from ilvb.sfu.dtls import DtlsCertificate, DtlsRole, DtlsSrtp
from ilvb.sfu.ice import CONSENT_TIMEOUT_S, PATH_LOST_S, IceParams

logger = logging.getLogger(__name__)

Addr = tuple[str, int]
_ids = itertools.count(1)

# An empty RTCP receiver report this often on every connected transport: the client's path
# watch then hears something at least twice a second even when no media flows to it.
KEEPALIVE_S = 0.5
# A valid check from a new address takes the path without nomination once the current address
# has been silent this long (NAT rebinding; the client's own checks carry no USE-CANDIDATE).
REBIND_S = 1.0


def empty_rr(ssrc: int) -> bytes:
    """RFC 3550 §6.4.2: a receiver report with no report blocks (8 bytes)."""
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


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
        # ICE restart: the previous generation is answered until a check uses the new one;
        # ``_ice_pending`` while the client's new ufrag is not known yet (our offer is out)
        self._prev_ice: IceParams | None = None
        self._prev_remote_ufrag: str | None = None
        self._ice_pending = False
        self.ice_restarts = 0
        self.last_seen = now()  # last valid DTLS / SRTP / SRTCP
        self.last_stun = self.last_seen  # last valid Binding request
        self.path_lost = False
        self.keepalive_ssrc = 1
        self._next_keepalive = 0.0
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
        # the path was lost (False) or is back (True)
        self.on_path: Callable[[WebRtcTransport, bool], None] = lambda t, ok: None
        # ICE restart: ufrags to answer from now on, ufrags retired (the worker's responder)
        self.on_ufrags: Callable[[WebRtcTransport, list[str], list[str]], None] = (
            lambda t, added, removed: None
        )
        # counters
        self.rtp_in = self.rtp_out = self.rtcp_in = self.rtcp_out = self.srtp_errors = 0

    # -- signaling ----------------------------------------------------------------------------

    def connect(self, remote: RemoteParams) -> None:
        """Apply the client's SDP parameters (may come after ICE/DTLS already started)."""
        self.remote = remote
        self._ice_pending = False
        self.dtls.set_remote(list(remote.fingerprints), remote.dtls_role)
        self._kick_client()

    def same_dtls(self, remote: RemoteParams) -> bool:
        """``remote`` keeps the negotiated certificate and role (an ICE restart, not a new
        peer connection)."""
        r = self.remote
        return r is not None and (r.fingerprints, r.dtls_role) == (
            remote.fingerprints,
            remote.dtls_role,
        )

    # -- ICE ----------------------------------------------------------------------------------

    def ice_ufrags(self) -> list[str]:
        """The local ufrags answered now (current first)."""
        prev = self._prev_ice
        return [self.ice_params.ufrag] if prev is None else [self.ice_params.ufrag, prev.ufrag]

    def ice_credentials(self, ufrag: str) -> tuple[str, str | None] | None:
        """(local pwd, expected client ufrag or None) for one of :meth:`ice_ufrags`."""
        if ufrag == self.ice_params.ufrag:
            remote = None if self._ice_pending or self.remote is None else self.remote.ice_ufrag
            return self.ice_params.pwd, remote
        prev = self._prev_ice
        if prev is not None and ufrag == prev.ufrag:
            return prev.pwd, self._prev_remote_ufrag
        return None

    def restart_ice(self) -> LocalParams:
        """RFC 8445 §9: new local credentials (DTLS and SRTP stay). The previous ones are still
        answered until the client's first check with the new ufrag; the client's new ufrag
        comes with :meth:`set_remote_ice` (any is accepted until then)."""
        if self._ice_pending:
            # a restart on top of an unanswered one: the client never used that one
            removed = [self.ice_params.ufrag]
        else:
            removed = [self._prev_ice.ufrag] if self._prev_ice is not None else []
            self._prev_ice = self.ice_params
            self._prev_remote_ufrag = self.remote.ice_ufrag if self.remote else None
        self.ice_params = IceParams.generate()
        self.local = dataclasses.replace(
            self.local, ice_ufrag=self.ice_params.ufrag, ice_pwd=self.ice_params.pwd
        )
        self._ice_pending = True
        self._nominated = False  # the new generation nominates afresh
        self.ice_restarts += 1
        self.on_ufrags(self, [self.ice_params.ufrag], removed)
        return self.local

    def set_remote_ice(self, remote: RemoteParams) -> None:
        """The client's credentials after an ICE restart (its certificate is unchanged)."""
        self.remote = remote
        self._ice_pending = False

    def on_ice_binding(self, addr: Addr, nominated: bool, ufrag: str = "") -> None:
        """A valid Binding request: refresh consent and maybe switch the remote address."""
        now = self._now()
        self.last_stun = now
        prev = self._prev_ice
        if prev is not None and ufrag == self.ice_params.ufrag:
            self._prev_ice = self._prev_remote_ufrag = None  # the new generation is in use
            self.on_ufrags(self, [], [prev.ufrag])
        if addr not in self.addrs:
            self.addrs.add(addr)
            self.on_addr(self, addr)
        if (
            nominated
            or not self._nominated
            or self.remote_addr is None
            or (addr != self.remote_addr and now - self.last_seen > REBIND_S)
        ):
            if addr != self.remote_addr and self.remote_addr is not None:
                logger.debug("transport %s: path moves to %s:%d", self.id, *addr)
            self.remote_addr = addr
            self._nominated = self._nominated or nominated
        if self.path_lost:
            self._path_back()
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
        if self.path_lost:
            self._path_back()

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
                if self.path_lost:
                    self._path_back()
                self.on_rtcp(plain)
            else:
                plain = rx.unprotect(data)
                self.rtp_in += 1
                self.last_seen = self._now()
                if self.path_lost:
                    self._path_back()
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
        """Timers: DTLS retransmission, consent freshness, the path watch and keepalives."""
        if self.state == "closed":
            return
        self.dtls.poll(now)
        silent = now - max(self.last_seen, self.last_stun)
        if silent > CONSENT_TIMEOUT_S:
            self.close("consent_expired")
            return
        if self.state != "connected":
            return
        if silent > PATH_LOST_S and not self.path_lost:
            self.path_lost = True
            logger.info("transport %s (%s): path lost, %.1f s silent", self.id, self.kind, silent)
            self._tell_path(False)
        if now >= self._next_keepalive:
            self._next_keepalive = now + KEEPALIVE_S
            self.send_rtcp(empty_rr(self.keepalive_ssrc))

    def _path_back(self) -> None:
        self.path_lost = False
        logger.info("transport %s (%s): path back", self.id, self.kind)
        self._tell_path(True)

    def _tell_path(self, ok: bool) -> None:
        try:
            self.on_path(self, ok)
        except Exception:  # a failing listener must not break the packet path
            logger.exception("transport on_path listener failed")

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
