"""One WebSocket's outgoing side: a non-blocking frame queue drained by a writer task.

Room fan-out calls :meth:`Connection.send` for every member and must never wait on a slow
client, so frames are queued; a client that falls ``max_frames`` behind is disconnected
(close code 4429, ``CLOSE_LIMIT_EXCEEDED``: "slow consumer") and enters the disconnect window
like any lost connection.
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

# Frames queued for one client before it counts as a slow consumer.
MAX_QUEUED_FRAMES = 20_000


class Connection:
    """Queued text frames to one WebSocket (implements :class:`ilvb.rooms.member.Outbox`)."""

    def __init__(
        self,
        ws: WebSocket,
        max_frames: int | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self.ws = ws
        self.max_frames = MAX_QUEUED_FRAMES if max_frames is None else max_frames
        self.on_overflow = on_overflow
        self.overflowed = False
        self._frames: deque[str] = deque()
        self._ready = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self.closed = False
        self.sent = 0
        self._task = asyncio.get_running_loop().create_task(self._write(), name="ws-writer")

    def send(self, frame: str) -> None:
        """Queue a frame; never blocks."""
        if self.closed or self._close is not None:
            return
        if len(self._frames) >= self.max_frames:
            log.warning("slow consumer: %d frames queued, disconnecting", len(self._frames))
            self._frames.clear()
            self.overflowed = True
            self.close(CLOSE_LIMIT_EXCEEDED, "slow consumer")
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self._frames.append(frame)
        self._ready.set()

    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._frames)

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
            # The client stopped reading: try the close frame once more, briefly.
            code, reason = self._close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(code, reason), flush_timeout_s)

    async def _write(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._frames:
                    await self.ws.send_text(self._frames.popleft())
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
