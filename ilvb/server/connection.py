"""One WebSocket's outgoing side: a non-blocking frame queue drained by a writer task.

Room fan-out calls :meth:`Connection.send` for every member and must never wait on a slow
client, so frames are queued; a client that falls ``max_bytes`` (8 MiB) or ``max_frames``
(20,000 frames) behind is disconnected (close code 4429, ``CLOSE_LIMIT_EXCEEDED``: "slow
consumer") and enters the disconnect window like any lost connection. The signaling session
also stops reading a client's requests while more than ``signaling.pushback_bytes`` of replies
wait for it (:meth:`Connection.drained`), so a client that sends without reading is held, then
cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from starlette.websockets import WebSocket

from ilvb.errors import CLOSE_LIMIT_EXCEEDED

log = logging.getLogger(__name__)

# Frames / bytes queued for one client before it counts as a slow consumer (the defaults of
# signaling.max_queued_frames and signaling.max_queued_bytes).
MAX_QUEUED_FRAMES = 20_000
MAX_QUEUED_BYTES = 8 * 1024 * 1024
# How long a stuck client's close frame may wait for room in the socket, seconds.
CLOSE_FRAME_TIMEOUT_S = 5.0


class Connection:
    """Queued text frames to one WebSocket (implements :class:`ilvb.rooms.member.Outbox`)."""

    def __init__(
        self,
        ws: WebSocket,
        max_frames: int | None = None,
        on_overflow: Callable[[], None] | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.ws = ws
        self.max_frames = MAX_QUEUED_FRAMES if max_frames is None else max_frames
        self.max_bytes = MAX_QUEUED_BYTES if max_bytes is None else max_bytes
        self.on_overflow = on_overflow
        self.overflowed = False
        self._frames: deque[str] = deque()
        # Characters queued: frames are ASCII JSON (ensure_ascii), so characters are bytes.
        self._bytes = 0
        self._drain_below: int | None = None
        self._drained = asyncio.Event()
        self._ready = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self.closed = False
        self.sent = 0
        self._task = asyncio.get_running_loop().create_task(self._write(), name="ws-writer")

    def send(self, frame: str) -> None:
        """Queue a frame; never blocks."""
        if self.closed or self._close is not None:
            return
        if len(self._frames) >= self.max_frames or self._bytes + len(frame) > self.max_bytes:
            log.warning(
                "slow consumer: %d frames, %d bytes queued, disconnecting",
                len(self._frames),
                self._bytes,
            )
            self.overflow()
            return
        self._frames.append(frame)
        self._bytes += len(frame)
        self._ready.set()

    def overflow(self) -> None:
        """Drop what is queued and close with 4429 ("slow consumer")."""
        if self.overflowed:
            return
        self._frames.clear()
        self._bytes = 0
        self.overflowed = True
        self.close(CLOSE_LIMIT_EXCEEDED, "slow consumer")
        if self.on_overflow is not None:
            self.on_overflow()

    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._frames)

    def queued_bytes(self) -> int:
        """Bytes waiting to be written."""
        return self._bytes

    async def drained(self, below: int, timeout_s: float) -> bool:
        """Wait until at most ``below`` bytes are queued; False after ``timeout_s``."""
        if self._bytes <= below:
            return True
        self._drain_below = below
        self._drained.clear()
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
        except TimeoutError:
            return self._bytes <= below
        finally:
            self._drain_below = None
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close after the queued frames are written."""
        if self._close is None and not self.closed:
            self._close = (code, reason)
            self._ready.set()

    async def aclose(self, flush_timeout_s: float = 1.0) -> None:
        """Let the writer send what is queued and the close frame (bounded), then stop it."""
        if self._close is None and not self.closed:
            self.close()
        if not self._task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), flush_timeout_s)
        stuck = not self._task.done()
        self.closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        if stuck and self._close is not None:
            # The client stopped reading: give the close frame a few seconds more, so that a
            # client that reads again soon learns why (4429) instead of seeing a dropped socket.
            code, reason = self._close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(code, reason), CLOSE_FRAME_TIMEOUT_S)

    async def _write(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._frames:
                    frame = self._frames.popleft()
                    self._bytes -= len(frame)
                    if self._drain_below is not None and self._bytes <= self._drain_below:
                        self._drained.set()
                    await self.ws.send_text(frame)
                    self.sent += 1
                if self._close is not None:
                    code, reason = self._close
                    with contextlib.suppress(Exception):
                        await self.ws.close(code, reason)
                    self.closed = True
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away under us
            log.debug("websocket writer stopped: %s", exc)
            self.closed = True
