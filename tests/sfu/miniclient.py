"""A minimal WebRTC client for SFU tests: STUN Binding (controlling, USE-CANDIDATE), DTLS client,
SRTP — no aiortc, no codecs. Talks to a worker's real UDP socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

from aioice import stun

from ilvb.sfu.dtls import DtlsCertificate, DtlsSrtp
from ilvb.sfu.ice import IceParams
from ilvb.sfu.transport import LocalParams, RemoteParams


class MiniClient(asyncio.DatagramProtocol):
    """One client transport: ``remote_params`` for the SFU, ``connect(local)`` to reach it."""

    def __init__(self) -> None:
        self.ice = IceParams.generate()
        self.cert = DtlsCertificate.generate()
        self.server: tuple[str, int] | None = None
        self.udp: asyncio.DatagramTransport | None = None
        self.connected = asyncio.Event()
        self.stun_ok = asyncio.Event()
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []
        self.dtls = DtlsSrtp(self.cert, self._send, self.connected.set, lambda r: None)

    def remote_params(self) -> RemoteParams:
        """What the SFU learns from this client's SDP (we are the DTLS client)."""
        return RemoteParams(
            self.ice.ufrag, self.ice.pwd, (("sha-256", self.cert.fingerprint),), "server"
        )

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.udp, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))

    def _send(self, data: bytes) -> None:
        assert self.udp is not None and self.server is not None
        self.udp.sendto(data, self.server)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        b = data[0]
        if b < 4:
            self.stun_ok.set()
        elif 19 < b < 64:
            self.dtls.handle(data)
        elif 127 < b < 192 and self.dtls.rx is not None:
            if 191 < data[1] < 224:
                self.rtcp.append(self.dtls.rx.unprotect_rtcp(data))
            else:
                self.rtp.append(self.dtls.rx.unprotect(data))

    def binding(self, local: LocalParams) -> bytes:
        req = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        req.attributes["USERNAME"] = f"{local.ice_ufrag}:{self.ice.ufrag}"
        req.attributes["PRIORITY"] = 1
        req.attributes["ICE-CONTROLLING"] = 7
        req.attributes["USE-CANDIDATE"] = None
        req.add_message_integrity(local.ice_pwd.encode())
        return bytes(req)

    async def connect(self, local: LocalParams, within: float = 10.0) -> None:
        """ICE check, then the DTLS handshake as client, retransmitting on the DTLS timer."""
        self.server = (local.ip, local.port)
        deadline = time.monotonic() + within
        while not self.stun_ok.is_set():
            self._send(self.binding(local))
            try:
                await asyncio.wait_for(self.stun_ok.wait(), 0.2)
            except TimeoutError:
                assert time.monotonic() < deadline, "no STUN answer"
        self.dtls.set_remote([("sha-256", local.fingerprint)], "client")
        self.dtls.kick()
        while not self.connected.is_set():
            try:
                await asyncio.wait_for(self.connected.wait(), 0.05)
            except TimeoutError:
                assert time.monotonic() < deadline, "no DTLS"
                self.dtls.poll(time.monotonic())

    def send_rtp(self, packet: bytes) -> None:
        assert self.dtls.tx is not None
        self._send(self.dtls.tx.protect(packet))

    def send_rtcp(self, packet: bytes) -> None:
        assert self.dtls.tx is not None
        self._send(self.dtls.tx.protect_rtcp(packet))

    def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
