"""Media path watch and ICE restart of the Python SDK (docs/protocol.md, "Media path loss and
ICE restart"; the Web SDK's reconnect.js does the same).

:class:`PathWatch` counts the datagrams each peer connection receives (media, RTCP, STUN
responses, and the SFU's keepalive receiver report twice a second) every
:data:`POLL_S`. A connection that received nothing for :data:`LOST_AFTER_S` has lost its path:
the client emits ``media.reconnecting`` and restarts ICE on it without leaving the room:

- send: an offer with new ICE credentials (the same certificate) in ``transport.send.offer``;
- receive: ``transport.recv.restart`` for the server's offer, answered with new credentials.

aiortc cannot restart ICE itself, so the new credentials are set on its aioice connection
directly; DTLS and SRTP keep running on it. The connection then sends a nominating Binding
request every :data:`CHECK_EVERY_S` on its selected pair (aioice's own consent checks come only
every ~5 s), so the first check after the path returns — also from a new address, after a NAT
rebinding — moves the SFU's path back at once. When every lost connection receives again the
client emits ``media.reconnected`` (``outage_ms``: from the last datagram before to the first
after). While the path works, a plain check every :data:`KEEPALIVE_S` keeps the SFU's own watch
hearing a connection that sends nothing else. A restart that fails (signaling down too) is
retried every :data:`RESTART_RETRY_S`; the checks meanwhile use the credentials in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCPeerConnection

from ilvb.client.events import Event

log = logging.getLogger(__name__)

POLL_S = 0.25
LOST_AFTER_S = 1.5
# A Binding request this often on each connected pair: the SFU's own watch (1.5 s) hears a
# receive-only connection too (aiortc sends RTCP only for streams it receives, and consent
# checks every ~5 s).
KEEPALIVE_S = 0.5
CHECK_EVERY_S = 0.2
RESTART_RETRY_S = 5.0

Request = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
_ICE_CHARS = string.ascii_letters + string.digits
_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)\r?$", re.MULTILINE)
_PWD = re.compile(r"^a=ice-pwd:(\S+)\r?$", re.MULTILINE)


def ice_credentials(sdp: str) -> tuple[str, str]:
    """The first ``a=ice-ufrag`` / ``a=ice-pwd`` of ``sdp`` (BUNDLE: one transport)."""
    u, p = _UFRAG.search(sdp), _PWD.search(sdp)
    if u is None or p is None:
        raise ValueError("the SDP has no ICE credentials")
    return u.group(1), p.group(1)


def with_ice_credentials(sdp: str, ufrag: str, pwd: str) -> str:
    """``sdp`` with every ``a=ice-ufrag`` / ``a=ice-pwd`` line replaced."""

    def cr(m: re.Match[str]) -> str:
        return "\r" if m.group(0).endswith("\r") else ""

    sdp = _UFRAG.sub(lambda m: f"a=ice-ufrag:{ufrag}{cr(m)}", sdp)
    return _PWD.sub(lambda m: f"a=ice-pwd:{pwd}{cr(m)}", sdp)


def new_credentials() -> tuple[str, str]:
    """Fresh random ICE credentials (8 and 24 ice-chars)."""
    ufrag = "".join(secrets.choice(_ICE_CHARS) for _ in range(8))
    return ufrag, "".join(secrets.choice(_ICE_CHARS) for _ in range(24))


def _dtls(pc: RTCPeerConnection | None) -> Any:
    """The one (bundled) DTLS transport of ``pc``, or None before it has one."""
    if pc is None:
        return None
    for tr in pc.getTransceivers():
        dtls = tr.receiver.transport if tr.receiver is not None else None
        if dtls is not None:
            return dtls
    return None


def _received(dtls: Any) -> int:
    """Datagrams the DTLS transport has read from ICE (every kind of packet)."""
    return int(getattr(dtls, "_RTCDtlsTransport__rx_packets", 0))


def _ice(dtls: Any) -> Any:
    """The aioice connection under a DTLS transport."""
    return dtls.transport._connection


class _Watched:
    """What the watch knows about one peer connection."""

    def __init__(self) -> None:
        self.pc: RTCPeerConnection | None = None
        self.count = -1
        self.heard_at = 0.0  # monotonic time the count last changed
        self.lost = False
        self.lost_since = 0.0  # heard_at when it was found lost
        self.restarted = False
        self.next_restart = 0.0


class PathWatch:
    """Watches a :class:`~ilvb.client.media.MediaSession`'s two peer connections."""

    def __init__(
        self,
        media: Any,
        request: Request,
        emit: Callable[[Event], None],
        *,
        lost_after_s: float = LOST_AFTER_S,
    ) -> None:
        self.media = media
        self._request = request
        self._emit = emit
        self.lost_after_s = lost_after_s
        self.ice_restarts = 0  # completed ICE restarts (tests, logs)
        self._watched = {"send": _Watched(), "recv": _Watched()}
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._reconnecting = False
        self._episode: set[str] = set()  # the transports lost since media.reconnecting
        self._outage = 0.0
        self._next_keepalive = 0.0

    def start(self) -> None:
        """Start watching (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop watching and any restart in progress."""
        for task in [self._task, *self._jobs]:
            if task is not None:
                task.cancel()
        for task in [self._task, *self._jobs]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = None
        self._jobs.clear()

    @property
    def reconnecting(self) -> bool:
        """Some connection has lost its path and has not received since."""
        return self._reconnecting

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                self.poll(time.monotonic())
            except Exception:  # the watch must outlive a torn-down connection
                log.exception("path watch failed")

    def poll(self, now: float) -> None:
        """One look at both connections."""
        pcs = {"send": self.media.send_pc, "recv": self.media.recv_pc}
        newly_lost: list[str] = []
        back: list[tuple[str, float]] = []
        for kind, w in self._watched.items():
            pc = pcs[kind]
            dtls = _dtls(pc)
            if pc is not w.pc:
                self._watched[kind] = w = _Watched()  # a new (or no) connection: start over
                w.pc = pc
            if dtls is None or dtls.state != "connected":
                continue
            count = _received(dtls)
            if count != w.count:
                if w.lost:
                    back.append((kind, now - w.lost_since))
                    w.lost = False
                w.count, w.heard_at = count, now
            elif not w.lost and w.count >= 0 and now - w.heard_at > self.lost_after_s:
                w.lost, w.lost_since, w.restarted, w.next_restart = True, w.heard_at, False, 0.0
                newly_lost.append(kind)
            if w.lost and now >= w.next_restart:
                w.next_restart = now + RESTART_RETRY_S
                self._spawn(self._restart(kind, w, dtls))
        if now >= self._next_keepalive:
            self._next_keepalive = now + KEEPALIVE_S
            for w in self._watched.values():
                dtls = _dtls(w.pc)
                if not w.lost and dtls is not None and dtls.state == "connected":
                    conn = _ice(dtls)
                    pair = conn._nominated.get(1)
                    if pair is not None and conn.remote_password:
                        self._spawn(self._check(conn, pair, nominate=False))
        lost = [k for k, w in self._watched.items() if w.lost]
        self._episode.update(newly_lost)
        self._outage = max([self._outage, *(o for _, o in back)])
        if newly_lost and not self._reconnecting:
            self._reconnecting = True
            which = "both" if len(newly_lost) == 2 else newly_lost[0]
            log.info("media path lost (%s): restarting ICE", which)
            self._emit(Event("media.reconnecting", {"transport": which}))
        if back and not lost and self._reconnecting:
            self._reconnecting = False
            which = "both" if len(self._episode) == 2 else next(iter(self._episode))
            outage, self._outage = self._outage, 0.0
            self._episode = set()
            log.info("media path back (%s) after %.0f ms", which, outage * 1000)
            self._emit(
                Event(
                    "media.reconnected",
                    {
                        "transport": which,
                        "outage_ms": round(outage * 1000.0),
                        "ice_restarts": self.ice_restarts,
                    },
                )
            )

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _restart(self, kind: str, w: _Watched, dtls: Any) -> None:
        """Restart ICE on one connection (once per loss, retried), then check until it hears."""
        conn = _ice(dtls)
        if not w.restarted:
            try:
                await self._ice_restart(kind, w.pc, conn)
                w.restarted = True
                self.ice_restarts += 1
            except Exception as exc:  # signaling down, transport gone: checks still run below
                log.info("ICE restart of the %s transport failed: %s", kind, exc)
        # Nominating checks until the path is back (or the next retry takes over).
        deadline = time.monotonic() + RESTART_RETRY_S
        while w.lost and time.monotonic() < deadline and w.pc is not None:
            pair = conn._nominated.get(1)
            if pair is not None and conn.remote_password:
                self._spawn(self._check(conn, pair))
            await asyncio.sleep(CHECK_EVERY_S)

    @staticmethod
    async def _check(conn: Any, pair: Any, nominate: bool = True) -> None:
        request = conn.build_request(pair, nominate=nominate)
        with contextlib.suppress(Exception):  # a lost check is the normal case here
            await pair.protocol.request(
                request,
                pair.remote_addr,
                integrity_key=conn.remote_password.encode("utf8"),
                retransmissions=0,
            )

    async def _ice_restart(self, kind: str, pc: RTCPeerConnection | None, conn: Any) -> None:
        """New credentials both sides, over signaling; then set them on aioice."""
        if pc is None or pc.localDescription is None:
            raise RuntimeError("no negotiated connection")
        ufrag, pwd = new_credentials()
        async with self.media._lock:  # no renegotiation in between
            local = with_ice_credentials(pc.localDescription.sdp, ufrag, pwd)
            if kind == "send":
                sources = {t.mid: s for s, t in self.media.sending.items() if t.mid is not None}
                offer = {"sdp": local, "sources": sources}
                reply = await self._request("transport.send.offer", offer)
                remote_ufrag, remote_pwd = ice_credentials(str(reply.get("sdp", "")))
            else:
                reply = await self._request("transport.recv.restart", {})
                remote_ufrag, remote_pwd = ice_credentials(str(reply.get("sdp", "")))
                await self._request("transport.recv.answer", {"sdp": local})
            conn._local_username, conn._local_password = ufrag, pwd
            conn.remote_username, conn.remote_password = remote_ufrag, remote_pwd
        log.info("ICE restarted on the %s transport (%s)", kind, ufrag)
