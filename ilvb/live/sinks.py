"""The outputs of a composite: ffmpeg processes that copy the encoded MPEG-TS stream, without
transcoding, into a Matroska file, an HLS stream or an RTMP push.

The recorder's one encoder writes MPEG-TS (H.264 with its parameter sets before every
keyframe, ADTS AAC) in whole 188-byte packets; each :class:`Sink` gets every chunk on its
stdin. A sink that falls more than ``MAX_BACKLOG_BYTES`` behind loses chunks (a stalled RTMP
server never slows the file or HLS). A restartable sink (RTMP) that exits is started again
after a back-off — 0.25 s doubling to :data:`MAX_BACKOFF_S`, reset once a push stayed up
:data:`STABLE_S` — and picks the stream up at the next keyframe (one per second), so an RTMP
server that restarts gets the push again within about ``MAX_BACKOFF_S`` + 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

TS_PACKET = 188
MAX_BACKLOG_BYTES = 8 * 1024 * 1024
FIRST_BACKOFF_S = 0.25
MAX_BACKOFF_S = 2.0
STABLE_S = 10.0
MAX_URL_CHARS = 1024
_URL_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


def rtmp_url_problem(url: object) -> str | None:
    """Why ``url`` is not an RTMP push URL we accept (None when it is).

    ``rtmp://host[:port]/app[/stream…]`` or ``rtmps://…``: printable ASCII without spaces
    (librtmp-style ``key=value`` options after a space are refused), a host, an application
    path, at most :data:`MAX_URL_CHARS` characters.
    """
    if not isinstance(url, str) or not url:
        return "not a string"
    if len(url) > MAX_URL_CHARS:
        return f"longer than {MAX_URL_CHARS} characters"
    if not _URL_CHARS.fullmatch(url):
        return "spaces or non-printable characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("rtmp", "rtmps"):
        return "the scheme must be rtmp or rtmps"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    if not parts.path.strip("/"):
        return "no application path (rtmp://host/app/stream)"
    return None


class Sink:
    """One ffmpeg copying the composite's MPEG-TS to an output; restarted if ``restart``."""

    def __init__(
        self,
        name: str,
        output_args: Sequence[str],
        *,
        ffmpeg: str = "ffmpeg",
        restart: bool = False,
        on_state: Callable[[Sink], None] | None = None,
    ) -> None:
        self.name = name
        self.output_args = list(output_args)
        self.ffmpeg = ffmpeg
        self.restart = restart
        self.state = "starting"  # starting | live | retrying | stopped | failed
        self.restarts = 0
        self.dropped_bytes = 0
        self.last_error = ""
        self._on_state = on_state
        self._proc: asyncio.subprocess.Process | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._backoff = FIRST_BACKOFF_S

    @property
    def pid(self) -> int | None:
        """The running ffmpeg's pid."""
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def start(self) -> None:
        """Start the ffmpeg (and, for a restartable sink, keep it running)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sink:{self.name}")

    def write(self, chunk: bytes) -> None:
        """Give the sink the next chunk of the stream (dropped while it is down or backed up)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        transport = proc.stdin.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            self.dropped_bytes += len(chunk)
            return
        proc.stdin.write(chunk)

    async def close(self, timeout_s: float = 10.0) -> None:
        """End the stream (stdin EOF: ffmpeg finishes its output) and wait. Idempotent."""
        self._closing = True
        proc = self._proc
        if proc is not None and proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                if proc is not None and proc.returncode is None:
                    proc.kill()
                with contextlib.suppress(Exception):
                    await self._task
        self._set_state("stopped")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_state is not None:
                try:
                    self._on_state(self)
                except Exception:
                    log.exception("sink %s: state listener failed", self.name)

    async def _run(self) -> None:
        while not self._closing:
            started = time.monotonic()
            code = await self._run_once()
            if self._closing:
                return
            if not self.restart:
                self._set_state("failed")
                log.warning("sink %s: ffmpeg exited %s: %s", self.name, code, self.last_error)
                return
            if time.monotonic() - started >= STABLE_S:
                self._backoff = FIRST_BACKOFF_S
            self._set_state("retrying")
            log.info(
                "sink %s: exited %s (%s), again in %.2f s",
                self.name,
                code,
                self.last_error,
                self._backoff,
            )
            await asyncio.sleep(self._backoff)
            self._backoff = min(MAX_BACKOFF_S, self._backoff * 2)
            self.restarts += 1

    async def _run_once(self) -> int | None:
        argv = [
            self.ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "info", "-nostats",
            "-fflags", "+genpts+discardcorrupt", "-analyzeduration", "2000000",
            "-f", "mpegts", "-i", "pipe:0", "-map", "0", "-c", "copy", *self.output_args,
        ]  # fmt: skip
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            self.last_error = str(exc)
            return None
        proc = self._proc
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                break
            text = line.decode("utf-8", "replace").strip()
            if text.startswith("Output #0"):
                self._set_state("live")
            elif "rror" in text or "failed" in text or "refused" in text:
                self.last_error = text[-300:]
        return await proc.wait()
