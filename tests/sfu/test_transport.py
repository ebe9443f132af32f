"""WebRtcTransport: DTLS over the transport in both roles, SRTP in/out, RTP/RTCP demux (RFC 5761),
nothing sent before keys, bad SRTP counted and dropped, close idempotent."""

from __future__ import annotations

from ilvb.sfu.dtls import DtlsCertificate, DtlsSrtp
from ilvb.sfu.transport import RemoteParams, WebRtcTransport

CLIENT = ("127.0.0.1", 45000)
RTP = bytes([0x80, 96, 0, 5, 0, 0, 0, 1, 0, 0, 0, 9]) + b"x" * 50
RTCP = bytes([0x80, 201, 0, 1, 0, 0, 0, 9])


class Harness:
    """A transport and a peer DtlsSrtp wired through lists."""

    def __init__(self, server_role: str = "server") -> None:
        self.to_client: list[bytes] = []
        self.t = WebRtcTransport(
            DtlsCertificate.generate(),
            lambda d, a: self.to_client.append(d),
            "127.0.0.1",
            5000,
            lambda: 1.0,
        )
        self.got_rtp: list[bytes] = []
        self.got_rtcp: list[bytes] = []
        self.connected = 0
        self.closed: list[str] = []
        self.t.on_rtp = self.got_rtp.append
        self.t.on_rtcp = self.got_rtcp.append
        self.t.on_connected = self._up
        self.t.on_closed = self.closed.append
        self.peer_cert = DtlsCertificate.generate()
        self.to_server: list[bytes] = []
        self.peer = DtlsSrtp(self.peer_cert, self.to_server.append, lambda: None, lambda r: None)
        peer_role = "client" if server_role == "server" else "server"
        self.server_role = server_role
        self.peer_role = peer_role

    def _up(self) -> None:
        self.connected += 1

    def remote(self) -> RemoteParams:
        fp = (("sha-256", self.peer_cert.fingerprint),)
        return RemoteParams("cli", "p" * 22, fp, self.server_role)  # type: ignore[arg-type]

    def pump(self) -> None:
        for _ in range(10):
            while self.to_server:
                self.t.handle_dtls(self.to_server.pop(0), CLIENT)
            while self.to_client:
                self.peer.handle(self.to_client.pop(0))

    def handshake(self) -> None:
        self.t.on_ice_binding(CLIENT, nominated=True)
        self.t.connect(self.remote())
        self.peer.set_remote([("sha-256", self.t.local.fingerprint)], self.peer_role)  # type: ignore[arg-type]
        self.peer.kick()
        self.pump()


def test_server_role_handshake_then_srtp_both_ways() -> None:
    h = Harness()
    assert not h.t.send_rtp(RTP)  # no keys yet: nothing leaves
    h.handshake()
    assert h.connected == 1 and h.t.state == "connected"
    h.t.handle_srtp(h.peer.tx.protect(RTP))  # type: ignore[union-attr]
    h.t.handle_srtp(h.peer.tx.protect_rtcp(RTCP))  # type: ignore[union-attr]
    assert h.got_rtp == [RTP] and h.got_rtcp == [RTCP]
    assert h.t.send_rtp(RTP) and h.t.send_rtcp(RTCP)
    assert h.peer.rx.unprotect(h.to_client[-2]) == RTP  # type: ignore[union-attr]
    assert h.peer.rx.unprotect_rtcp(h.to_client[-1]) == RTCP  # type: ignore[union-attr]
    assert (h.t.rtp_in, h.t.rtcp_in, h.t.rtp_out, h.t.rtcp_out) == (1, 1, 1, 1)


def test_client_role_waits_for_the_ice_address_before_its_client_hello() -> None:
    h = Harness(server_role="client")
    h.t.connect(h.remote())
    h.peer.set_remote([("sha-256", h.t.local.fingerprint)], "server")
    assert h.to_client == []  # nowhere to send yet
    h.t.on_ice_binding(CLIENT, nominated=True)
    assert h.to_client and h.to_client[0][0] == 22  # the ClientHello
    h.pump()
    assert h.connected == 1


def test_bad_srtp_is_counted_and_dropped() -> None:
    h = Harness()
    h.handshake()
    h.t.handle_srtp(RTP)  # not protected
    h.t.handle_srtp(h.peer.tx.protect(RTP)[:-3])  # type: ignore[union-attr]  # truncated tag
    assert h.got_rtp == [] and h.t.srtp_errors == 2


def test_rtcp_mux_demux_by_second_byte() -> None:
    h = Harness()
    h.handshake()
    marked = bytes([0x80, 0x80 | 96, 0, 6]) + RTP[4:]  # marker bit + PT 96 = 224: RTP
    psfb = bytes([0x81, 206, 0, 2, 0, 0, 0, 9, 0, 0, 0, 7])  # PLI
    for packet in (marked, RTP):
        h.t.handle_srtp(h.peer.tx.protect(packet))  # type: ignore[union-attr]
    for packet in (psfb, RTCP):
        h.t.handle_srtp(h.peer.tx.protect_rtcp(packet))  # type: ignore[union-attr]
    assert h.got_rtp == [marked, RTP] and h.got_rtcp == [psfb, RTCP]


def test_close_is_idempotent_and_stops_sending() -> None:
    h = Harness()
    h.handshake()
    h.t.close("bye")
    h.t.close("again")
    assert h.closed == ["bye"] and h.t.state == "closed"
    assert not h.t.send_rtp(RTP)


def test_a_close_by_the_router_is_silent() -> None:
    h = Harness()
    h.handshake()
    h.t.router_closed()
    h.t.close("later")  # already closed: nobody is told either
    assert h.closed == [] and h.t.state == "closed"
    assert not h.t.send_rtp(RTP)
