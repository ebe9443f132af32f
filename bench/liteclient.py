"""A lightweight WebRTC endpoint for the benchmarks, used against both ilvb and Janus.

One :class:`LitePeer` is one ICE + DTLS-SRTP transport: ICE as a full agent with aioice (it
also works against ICE-lite servers), DTLS with pyOpenSSL memory BIOs (RFC 5764 key export),
SRTP with pylibsrtp. The aioice sockets' ``datagram_received`` is wrapped so DTLS and RTP
bypass aioice's queue; once ICE is done the nominated socket is read with ``recvmsg`` and
``SO_TIMESTAMPNS``, so every packet's arrival time is the kernel's receive time (converted to
``time.monotonic()``, the clock the publisher stamps with), whatever the client's own load.

:class:`LitePublisher` loops a pre-encoded clip (``bench.litemedia``); :class:`LiteSubscriber`
counts packets per SSRC and records ``(tag, arrival)`` but never decodes.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import secrets
import socket
import struct
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

import aioice
import aioice.ice
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

from bench.litemedia import (
    AUDIO_CLOCK,
    AUDIO_PTIME_S,
    VIDEO_CLOCK,
    Clip,
    HeaderExtensions,
    RtpStream,
    SendLog,
    is_rtcp,
    read_tag,
    rtp_ssrc,
)
from bench.litesdp import EXT_AUDIO_LEVEL, EXT_MID, LocalParams, RemoteParams

log = logging.getLogger("bench.liteclient")

SRTP_PROFILE = b"SRTP_AES128_CM_SHA1_80"
SRTP_KEY_LEN = 16
SRTP_SALT_LEN = 14
RCVBUF_BYTES = 4 * 1024 * 1024
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; SCM_TIMESTAMPNS is the same
_TIMESPEC = struct.Struct("@qq")
DTLS_TIMEOUT_S = 10.0

_cert: tuple[Any, Any, str] | None = None


def _certificate() -> tuple[Any, Any, str]:
    """One self-signed ECDSA P-256 certificate per process: (key, cert, sha-256 fingerprint)."""
    global _cert
    if _cert is None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(8))])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        fp = cert.fingerprint(hashes.SHA256()).hex().upper()
        _cert = (key, cert, ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)))
    return _cert


def _ssl_context() -> SSL.Context:
    key, cert, _ = _certificate()
    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *a: True)
    ctx.use_certificate(cert)
    ctx.use_privatekey(key)
    ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA")
    ctx.set_tlsext_use_srtp(SRTP_PROFILE)
    return ctx


def use_only_address(ip: str) -> None:
    """Make aioice gather host candidates on ``ip`` only (it skips 127.0.0.1 otherwise)."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [ip]  # type: ignore[assignment]


class Dtls:
    """The DTLS-SRTP handshake of one transport (RFC 5764), on pyOpenSSL memory BIOs.

    ``feed()`` takes DTLS records from the socket; records to send go to ``send``. Handshake
    messages are retransmitted on OpenSSL's timer. ``done`` resolves once the peer's certificate
    matched the SDP fingerprint and the SRTP sessions ``tx``/``rx`` exist.
    """

    def __init__(self, client: bool, fingerprint: str, send: Callable[[bytes], None]) -> None:
        self.client = client
        self.fingerprint = fingerprint.upper()
        self.send = send
        self.ssl = SSL.Connection(_ssl_context())
        if client:
            self.ssl.set_connect_state()
        else:
            self.ssl.set_accept_state()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.tx: Session | None = None
        self.rx: Session | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Begin the handshake (the client sends its ClientHello)."""
        if self.client:
            self._step()

    def feed(self, data: bytes) -> None:
        """One DTLS datagram from the peer."""
        self.ssl.bio_write(data)
        if self.done.done():
            try:
                self.ssl.recv(1500)  # post-handshake records (e.g. a retransmitted Finished)
            except SSL.Error:
                pass
            self._flush()
            return
        self._step()

    def close(self) -> None:
        """Stop retransmitting."""
        if self._timer:
            self._timer.cancel()
        if not self.done.done():
            self.done.set_exception(ConnectionError("DTLS closed before the handshake ended"))

    def _step(self) -> None:
        try:
            self.ssl.do_handshake()
        except SSL.WantReadError:
            self._flush()
            self._arm()
            return
        except SSL.Error as exc:
            self._flush()
            if not self.done.done():
                self.done.set_exception(ConnectionError(f"DTLS handshake failed: {exc}"))
            return
        self._flush()
        if self._timer:
            self._timer.cancel()
        if not self.done.done():
            try:
                self._finish()
            except Exception as exc:  # noqa: BLE001 - surfaced through the future
                self.done.set_exception(exc)
            else:
                self.done.set_result(None)

    def _finish(self) -> None:
        cert = self.ssl.get_peer_certificate(as_cryptography=True)
        if cert is None:
            raise ConnectionError("DTLS peer sent no certificate")
        fp = cert.fingerprint(hashes.SHA256()).hex().upper()
        fp = ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))
        if fp != self.fingerprint:
            raise ConnectionError("DTLS peer certificate does not match the SDP fingerprint")
        if self.ssl.get_selected_srtp_profile() != SRTP_PROFILE:
            raise ConnectionError("no SRTP profile negotiated")
        km = self.ssl.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (SRTP_KEY_LEN + SRTP_SALT_LEN)
        )
        k, s = SRTP_KEY_LEN, SRTP_SALT_LEN
        client_key = km[0:k] + km[2 * k : 2 * k + s]
        server_key = km[k : 2 * k] + km[2 * k + s : 2 * k + 2 * s]
        tx_key, rx_key = (client_key, server_key) if self.client else (server_key, client_key)
        self.tx = Session(self._policy(tx_key, Policy.SSRC_ANY_OUTBOUND))
        self.rx = Session(self._policy(rx_key, Policy.SSRC_ANY_INBOUND))

    @staticmethod
    def _policy(key: bytes, ssrc_type: int) -> Policy:
        policy = Policy(
            key=key, ssrc_type=ssrc_type, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        )
        policy.allow_repeat_tx = True
        policy.window_size = 1024
        return policy

    def _flush(self) -> None:
        while True:
            try:
                data = self.ssl.bio_read(1500)
            except SSL.Error:
                return
            if not data:
                return
            self.send(data)

    def _arm(self) -> None:
        if self._timer:
            self._timer.cancel()
        timeout = self.ssl.DTLSv1_get_timeout()
        if timeout is not None:
            self._timer = asyncio.get_running_loop().call_later(max(timeout, 0.01), self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self.done.done():
            return
        try:
            self.ssl.DTLSv1_handle_timeout()
        except SSL.Error:
            pass
        self._flush()
        self._arm()


class LitePeer:
    """One ICE + DTLS-SRTP transport to an SFU (or to another LitePeer for the baseline).

    ``on_rtp(plain, arrival)`` and ``on_rtcp(plain)`` are called from the socket callback.
    """

    def __init__(self, controlling: bool, use_kernel_timestamps: bool = True) -> None:
        self.use_kernel_timestamps = use_kernel_timestamps
        self.ice = aioice.Connection(ice_controlling=controlling, components=1, use_ipv6=False)
        self.dtls: Dtls | None = None
        self.on_rtp: Callable[[bytes, float], None] | None = None
        self.on_rtcp: Callable[[bytes], None] | None = None
        self.srtp_errors = 0
        self.early_packets = 0
        self.kernel_timestamps = False
        self._target: tuple[Any, tuple[str, int]] | None = None
        self._originals: dict[int, Callable[[bytes, tuple[Any, ...]], None]] = {}
        self._owned_socks: list[socket.socket] = []
        self._early_dtls: list[tuple[bytes, Any, tuple[str, int]]] = []

    async def gather(self, setup: str) -> LocalParams:
        """Gather host candidates, hook the sockets, return what goes into our SDP."""
        await self.ice.gather_candidates()
        for protocol in self.ice._protocols:
            self._hook(protocol)
        return LocalParams(
            ufrag=self.ice.local_username,
            pwd=self.ice.local_password,
            fingerprint=f"sha-256 {_certificate()[2]}",
            candidates=[c.to_sdp() for c in self.ice.local_candidates],
            setup=setup,
        )

    async def connect(
        self, remote: RemoteParams, dtls_client: bool, limit_s: float = DTLS_TIMEOUT_S
    ) -> None:
        """Run ICE then the DTLS handshake; SRTP is ready when this returns."""
        fps = [v for (alg, v) in remote.fingerprints if alg.lower() == "sha-256"]
        if not fps:
            raise ConnectionError("remote SDP has no sha-256 fingerprint")
        self.dtls = Dtls(dtls_client, fps[0], self._send)
        self.ice.remote_username = remote.ufrag
        self.ice.remote_password = remote.pwd
        self.ice.remote_is_lite = remote.ice_lite
        for cand in remote.candidates:
            await self.ice.add_remote_candidate(cand)  # type: ignore[arg-type]
        await self.ice.add_remote_candidate(None)
        await asyncio.wait_for(self.ice.connect(), limit_s)
        pair = self.ice._nominated[1]
        self._target = (pair.protocol.transport, pair.remote_addr)
        if self.use_kernel_timestamps:
            self._take_over_reading(pair.protocol)
        for data, _t, _a in self._early_dtls:
            self.dtls.feed(data)
        self._early_dtls.clear()
        self.dtls.start()
        await asyncio.wait_for(self.dtls.done, limit_s)

    def send_rtp(self, plain: bytes) -> None:
        """Protect and send one RTP packet."""
        assert self.dtls is not None and self.dtls.tx is not None
        self._send(self.dtls.tx.protect(plain))

    def send_rtcp(self, plain: bytes) -> None:
        """Protect and send one RTCP compound packet."""
        assert self.dtls is not None and self.dtls.tx is not None
        self._send(self.dtls.tx.protect_rtcp(plain))

    async def close(self) -> None:
        """Close DTLS timers and ICE sockets (idempotent)."""
        if self.dtls:
            self.dtls.close()
        loop = asyncio.get_running_loop()
        for sock in self._owned_socks:
            loop.remove_reader(sock.fileno())
            sock.close()
        self._owned_socks.clear()
        await self.ice.close()

    def _send(self, data: bytes) -> None:
        if self._target is not None:
            transport, addr = self._target
            transport.sendto(data, addr)

    def _hook(self, protocol: Any) -> None:
        sock = protocol.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RCVBUF_BYTES)
            except OSError:
                pass
        original = protocol.datagram_received
        self._originals[id(protocol)] = original

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            self._dispatch(data, addr, protocol, time.monotonic())

        protocol.datagram_received = datagram_received

    def _dispatch(self, data: bytes, addr: tuple[Any, ...], protocol: Any, arrival: float) -> None:
        first = data[0] if data else 0
        if 128 <= first < 192:
            dtls = self.dtls
            if dtls is None or dtls.rx is None:
                self.early_packets += 1
                return
            try:
                if is_rtcp(data):
                    plain = dtls.rx.unprotect_rtcp(data)
                    if self.on_rtcp:
                        self.on_rtcp(plain)
                else:
                    plain = dtls.rx.unprotect(data)
                    if self.on_rtp:
                        self.on_rtp(plain, arrival)
            except SrtpError:
                self.srtp_errors += 1
        elif 20 <= first < 64:
            if self._target is None:
                self._target = (protocol.transport, (addr[0], addr[1]))
            if self.dtls is None:
                self._early_dtls.append((data, protocol, (addr[0], addr[1])))
            else:
                self.dtls.feed(data)
        else:
            self._originals[id(protocol)](data, addr)

    def _take_over_reading(self, protocol: Any) -> None:
        """Read the nominated socket with ``recvmsg`` and kernel receive timestamps.

        The arrival time of a packet is then when the kernel received it, not when this
        (possibly busy) event loop got round to it, so client load does not inflate latency.
        asyncio's transport stops reading (``pause_reading``); a dup of the socket is read.
        """
        transport = protocol.transport
        tsock = transport.get_extra_info("socket")
        if tsock is None or not hasattr(transport, "pause_reading"):
            return
        sock = socket.socket(fileno=os.dup(tsock.fileno()))
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        transport.pause_reading()
        loop = asyncio.get_running_loop()
        offset = _realtime_offset()
        recvmsg = sock.recvmsg
        dispatch = self._dispatch
        monotonic = time.monotonic
        unpack = _TIMESPEC.unpack_from

        def read_ready() -> None:
            for _ in range(512):
                try:
                    data, anc, _flags, addr = recvmsg(2048, 64)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                arrival = 0.0
                for level, kind, cdata in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = unpack(cdata)
                        arrival = sec + nsec * 1e-9 - offset
                dispatch(data, addr, protocol, arrival or monotonic())

        loop.add_reader(sock.fileno(), read_ready)
        self._owned_socks.append(sock)
        self.kernel_timestamps = True


def _realtime_offset() -> float:
    """``time.time() - time.monotonic()`` (kernel timestamps are CLOCK_REALTIME)."""
    best = None
    for _ in range(5):
        m0 = time.monotonic()
        rt = time.time()
        m1 = time.monotonic()
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, rt - (m0 + m1) / 2)
    assert best is not None
    return best[1]


class LitePublisher:
    """Sends the looped clip (Opus every 20 ms, a VP8 frame every 1/fps s) on one LitePeer.

    Every packet is tagged; ``log`` holds the send time of each tag. PLI/FIR from the SFU make
    the next frame a keyframe (the clip's frame 0), at most one per second.
    """

    def __init__(
        self,
        peer: LitePeer,
        clip: Clip,
        log: SendLog,
        audio_ssrc: int | None = None,
        video_ssrc: int | None = None,
        pacing_factor: float = 2.5,
    ) -> None:
        self.peer = peer
        self.pacing_factor = pacing_factor
        self._video_queue: deque[tuple[bytes, bool, int]] = deque()
        self.clip = clip
        self.log = log
        self.audio_ssrc = audio_ssrc or secrets.randbits(32) | 1
        self.video_ssrc = video_ssrc or secrets.randbits(32) | 1
        self.audio = RtpStream(
            self.audio_ssrc, 111, seq=secrets.randbits(16), timestamp=secrets.randbits(32)
        )
        self.video = RtpStream(
            self.video_ssrc, 96, seq=secrets.randbits(16), timestamp=secrets.randbits(32)
        )
        self.audio_mid = "0"
        self.video_mid = "1"
        self.keyframe_requests = 0
        self._exts_audio = HeaderExtensions()
        self._exts_video = HeaderExtensions()
        self._frame = 0
        self._apkt = 0
        self._want_keyframe = False
        self._last_keyframe = 0.0
        peer.on_rtcp = self._on_rtcp

    def configure(self, answer: RemoteParams) -> None:
        """Take payload types and header-extension ids from the SFU's answer."""
        for m in answer.media:
            if m.kind == "audio" and "opus" in m.payload_types:
                self.audio.payload_type = m.payload_types["opus"]
                self.audio_mid = m.mid
                self._exts_audio = HeaderExtensions(
                    m.extmap.get(EXT_MID, 0), m.extmap.get(EXT_AUDIO_LEVEL, 0)
                )
            elif m.kind == "video" and "vp8" in m.payload_types:
                self.video.payload_type = m.payload_types["vp8"]
                self.video_mid = m.mid
                self._exts_video = HeaderExtensions(m.extmap.get(EXT_MID, 0), 0)
        self.audio.extension = self._exts_audio.build(self.audio_mid, 30)
        self.video.extension = self._exts_video.build(self.video_mid, None)

    async def run(self, seconds: float) -> None:
        """Send for ``seconds`` on a fixed schedule (late ticks are caught up, not skipped).

        Audio goes out at once; video packets go through a pacer at ``pacing_factor`` × the
        clip's bitrate, as a browser's pacer does (0 = whole frames in one burst).
        """
        monotonic = time.monotonic
        start = monotonic()
        end = start + seconds
        next_audio = next_video = next_paced = start
        frame_s = 1.0 / self.clip.fps
        pacing_bps = self.pacing_factor * self.clip.video_bitrate_bps
        queue = self._video_queue
        while True:
            now = monotonic()
            if now >= end:
                return
            while next_audio <= now:
                self._send_audio()
                next_audio += AUDIO_PTIME_S
            while next_video <= now:
                self._queue_frame()
                next_video += frame_s
            if pacing_bps <= 0:
                while queue:
                    self._send_queued()
            else:
                while queue and next_paced <= now:
                    size = self._send_queued()
                    next_paced = max(next_paced, now - 0.005) + 8 * size / pacing_bps
            wake = min(next_audio, next_video)
            if queue:
                wake = min(wake, next_paced)
            await asyncio.sleep(max(0.0, wake - monotonic()))

    def _send_audio(self) -> None:
        payload = self.clip.audio[self._apkt % len(self.clip.audio)]
        self._apkt += 1
        tag = self.log.next_tag(time.monotonic(), video=False)
        self.peer.send_rtp(self.audio.packet(payload, self._apkt == 1, tag))
        self.audio.timestamp = (
            self.audio.timestamp + int(AUDIO_CLOCK * AUDIO_PTIME_S)
        ) & 0xFFFFFFFF

    def _queue_frame(self) -> None:
        if self._want_keyframe:
            self._want_keyframe = False
            self._frame = 0
        payloads = self.clip.video[self._frame % len(self.clip.video)]
        self._frame += 1
        last = len(payloads) - 1
        ts = self.video.timestamp
        for i, payload in enumerate(payloads):
            self._video_queue.append((payload, i == last, ts))
        self.video.timestamp = (ts + int(VIDEO_CLOCK / self.clip.fps)) & 0xFFFFFFFF

    def _send_queued(self) -> int:
        payload, marker, ts = self._video_queue.popleft()
        tag = self.log.next_tag(time.monotonic(), video=True)
        self.peer.send_rtp(self.video.packet(payload, marker, tag, ts))
        return len(payload)

    def _on_rtcp(self, plain: bytes) -> None:
        # Walk the compound packet; PSFB (206) FMT 1 = PLI, FMT 4 = FIR.
        pos = 0
        while pos + 4 <= len(plain):
            fmt = plain[pos] & 0x1F
            ptype = plain[pos + 1]
            length = (int.from_bytes(plain[pos + 2 : pos + 4], "big") + 1) * 4
            if ptype == 206 and fmt in (1, 4):
                now = time.monotonic()
                self.keyframe_requests += 1
                if now - self._last_keyframe >= 1.0:
                    self._last_keyframe = now
                    self._want_keyframe = True
            pos += length


class LiteSubscriber:
    """Counts received RTP packets per SSRC and records ``(tag, arrival)``; never decodes."""

    def __init__(self, peer: LitePeer) -> None:
        self.peer = peer
        self.counts: dict[int, int] = {}
        self.tags = array("I")
        self.arrivals = array("d")
        peer.on_rtp = self.on_rtp

    def on_rtp(self, plain: bytes, arrival: float) -> None:
        """Count one packet (called from the socket callback)."""
        ssrc = rtp_ssrc(plain)
        self.counts[ssrc] = self.counts.get(ssrc, 0) + 1
        tag = read_tag(plain)
        if tag is not None:
            self.tags.append(tag)
            self.arrivals.append(arrival)

    @property
    def received(self) -> int:
        """RTP packets received in total."""
        return sum(self.counts.values())


async def connect_pair(
    clip: Clip, log: SendLog
) -> tuple[LitePublisher, LiteSubscriber, LitePeer, LitePeer]:
    """Publisher and subscriber connected directly (no SFU): the latency baseline.

    Uses the same ICE, DTLS, SRTP and socket path as the benchmark proper.
    """
    from bench.litesdp import build_publish_offer, build_receive_answer, parse_remote

    a, b = LitePeer(controlling=True), LitePeer(controlling=False)
    la = await a.gather("actpass")
    lb = await b.gather("active")
    pub = LitePublisher(a, clip, log)
    offer = build_publish_offer(la, pub.audio_ssrc, pub.video_ssrc)
    # The "server" side answers recvonly, so flip the offer's directions for its parser.
    answer = build_receive_answer(lb, offer.replace("a=sendonly", "a=sendrecv"))
    ra, rb = parse_remote(answer), parse_remote(offer)
    pub.configure(ra)
    sub = LiteSubscriber(b)
    await asyncio.gather(a.connect(ra, dtls_client=False), b.connect(rb, dtls_client=True))
    return pub, sub, a, b
