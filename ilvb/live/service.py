"""Bypass live: one composite per room streamed as HLS (served by ilvb) and pushed over RTMP.

``LiveService.start`` validates the request (at least one output; RTMP URLs per
:func:`~ilvb.live.sinks.rtmp_url_problem`), starts a :class:`~ilvb.live.composite.CompositeJob`
whose HLS sink writes under ``<data_dir>/live/hls/<token>/``, and tells the room
``live.started``. The token (32 random bytes, URL-safe) is the playback capability: the
playlist is ``/live/hls/<token>/index.m3u8`` and nothing else names it. With
``hls_ttl_s`` the URL also carries ``?exp=<unix time>&sig=<HMAC>`` and is refused after that
time. The RTMP set can be replaced while live (:meth:`LiveService.set_rtmp`). When the job ends
— stop, the room closing, the recorder dying — the room hears ``live.stopped`` and the HLS
files are deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ilvb.config import LiveSettings
from ilvb.errors import InvalidArgument, InvalidState, NotFound, Unavailable
from ilvb.live.composite import CompositeJob, CompositeRunner, JobOutputs
from ilvb.live.sinks import rtmp_url_problem

log = logging.getLogger(__name__)

HLS_FILE = re.compile(r"^(index\.m3u8|seg\d{6}\.ts)$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
# POST /live returns once the playlist exists (the first 1 s segment), at most this late.
PLAYLIST_WAIT_S = 15.0


@dataclass
class LiveSession:
    """One room's bypass live."""

    app_id: str
    room: str | int
    token: str
    hls: bool
    hls_dir: Path
    rtmp: tuple[str, ...]
    expires_at: float | None = None
    job: CompositeJob | None = None
    started_at: float = field(default_factory=time.time)

    def info(self, hls_url: str | None) -> dict[str, Any]:
        """The ``LiveInfo`` REST object."""
        sinks = self.job.stats.sinks if self.job is not None else {}
        return {
            "room": self.room,
            "hls_url": hls_url,
            "hls_expires_at": self.expires_at,
            "rtmp": [
                {"url": u, "state": sinks.get(f"rtmp:{u}", {}).get("state", "starting")}
                for u in self.rtmp
            ],
            "started_at": self.started_at,
            "job": self.job.info() if self.job is not None else None,
        }


class LiveService:
    """The live sessions of this node, by (app, room)."""

    def __init__(self, runner: CompositeRunner, settings: LiveSettings, data_dir: Path) -> None:
        self.runner = runner
        self.settings = settings
        self.hls_root = (data_dir / "live" / "hls").resolve()
        self.sessions: dict[tuple[str, str], LiveSession] = {}
        self._by_token: dict[str, LiveSession] = {}
        self._key = secrets.token_bytes(32)  # signs expiring playback URLs (this process)

    def check_rtmp(self, urls: Sequence[object]) -> tuple[str, ...]:
        """The URLs, de-duplicated in order; ``rtmp_url_invalid`` / ``invalid_argument``."""
        if len(urls) > self.settings.max_rtmp_urls:
            raise InvalidArgument(
                message=f"at most {self.settings.max_rtmp_urls} RTMP URLs per live room"
            )
        out: list[str] = []
        for url in urls:
            problem = rtmp_url_problem(url)
            if problem is not None:
                shown = url[:80] if isinstance(url, str) else type(url).__name__
                raise InvalidArgument("rtmp_url_invalid", f"RTMP URL {shown!r}: {problem}")
            assert isinstance(url, str)
            if url not in out:
                out.append(url)
        return tuple(out)

    def get(self, app_id: str, room: str | int) -> LiveSession:
        """The room's live session, or ``live_not_found``."""
        session = self.sessions.get((app_id, str(room)))
        if session is None or session.job is None:
            raise NotFound("live_not_found", f"room {room!r} is not live")
        return session

    async def start(
        self,
        app_id: str,
        room: str | int,
        *,
        hls: bool,
        rtmp: Sequence[object] = (),
        resolution: str | None = None,
        hls_ttl_s: float | None = None,
    ) -> LiveSession:
        """Start the room's bypass live (``live_already_started``, ``room_not_found``,
        ``room_no_senders``, ``rtmp_url_invalid``, ``composite_capacity`` …)."""
        urls = self.check_rtmp(rtmp)
        if not hls and not urls:
            raise InvalidArgument(message="nothing to do: give hls: true or rtmp URLs")
        key = (app_id, str(room))
        if key in self.sessions:
            raise InvalidState("live_already_started", f"room {room!r} is live already")
        token = secrets.token_urlsafe(32)
        hls_dir = self.hls_root / token
        session = LiveSession(app_id, room, token, hls, hls_dir, urls)
        if hls and hls_ttl_s is not None:
            session.expires_at = time.time() + hls_ttl_s
        self.sessions[key] = session  # reserved while starting: a second start is refused
        try:
            if hls:
                hls_dir.mkdir(parents=True, exist_ok=False)
            outputs = JobOutputs(hls_dir=hls_dir if hls else None, rtmp=urls)
            job = await self.runner.start_job(app_id, room, outputs, resolution=resolution)
        except BaseException:
            self.sessions.pop(key, None)
            shutil.rmtree(hls_dir, ignore_errors=True)
            raise
        session.job = job
        self._by_token[token] = session
        job.on_exit(lambda j, reason: self._ended(session, reason))
        if hls:  # the URL we hand out plays at once: wait for the first segment's playlist
            playlist = hls_dir / "index.m3u8"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PLAYLIST_WAIT_S
            # ffmpeg (another process) writes it: nothing to wait on but the file itself
            while job.running and loop.time() < deadline and not playlist.is_file():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        if not job.running:
            raise Unavailable("recorder_failed", f"the composite ended: {job.exit_reason}")
        job.room.broadcast("live.started", {"hls": hls, "rtmp": len(urls)})
        return session

    async def set_rtmp(self, app_id: str, room: str | int, rtmp: Sequence[object]) -> LiveSession:
        """Push to exactly these RTMP URLs from now on (added ones start, missing ones stop)."""
        urls = self.check_rtmp(rtmp)
        session = self.get(app_id, room)
        assert session.job is not None
        if not urls and not session.hls:
            raise InvalidArgument(message="without HLS a live room needs an RTMP URL; stop it")
        session.rtmp = urls
        session.job.set_rtmp(urls)
        return session

    async def stop(self, app_id: str, room: str | int) -> None:
        """Stop the room's bypass live (``live_not_found``)."""
        session = self.get(app_id, room)
        assert session.job is not None
        await session.job.stop()

    def hls_url_path(self, session: LiveSession) -> str:
        """The playlist's path (signed when the session expires)."""
        path = f"/live/hls/{session.token}/index.m3u8"
        if session.expires_at is not None:
            exp = int(session.expires_at)
            path += f"?exp={exp}&sig={self._sign(session.token, exp)}"
        return path

    def _sign(self, token: str, exp: int) -> str:
        mac = hmac.new(self._key, f"{token}:{exp}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def hls_file(self, token: str, name: str, exp: str | None, sig: str | None) -> Path:
        """The file behind an HLS URL, or ``live_not_found`` (unknown token, name, expired)."""
        session = self._by_token.get(token) if TOKEN.match(token) else None
        if session is None or not session.hls or not HLS_FILE.match(name):
            raise NotFound("live_not_found", "no such live stream")
        if session.expires_at is not None:
            if exp is None or sig is None or not exp.isdigit() or len(exp) > 12:
                raise NotFound("live_not_found", "no such live stream")
            good = hmac.compare_digest(self._sign(token, int(exp)), sig)
            if not good or int(exp) < time.time():
                raise NotFound("live_not_found", "this playback URL expired")
        path = session.hls_dir / name
        if not path.is_file():
            raise NotFound("live_not_found", "not yet written")
        return path

    def _ended(self, session: LiveSession, reason: str) -> None:
        self.sessions.pop((session.app_id, str(session.room)), None)
        self._by_token.pop(session.token, None)
        shutil.rmtree(session.hls_dir, ignore_errors=True)
        job = session.job
        if job is not None and not job.room.closed:
            job.room.broadcast("live.stopped", {"reason": reason})
        log.info("live %s/%s ended: %s", session.app_id, session.room, reason)

    async def close(self) -> None:
        """Stop every live session (server shutdown)."""
        jobs = [s.job for s in self.sessions.values() if s.job is not None]
        await asyncio.gather(*(j.stop("shutdown") for j in jobs), return_exceptions=True)
