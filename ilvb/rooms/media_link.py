"""One room's link to the media plane: opens its router, applies commands in order, closes it.

The router is opened when the room is created (first entry) and closed when the room is
destroyed. Fire-and-forget commands (enable/disable a source, subscription changes, member
removal) run one at a time in the order the room issued them, so the SFU never sees a stale
subscription overtake a newer one. A failing command is logged, never fatal to the room.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ilvb.errors import Unavailable
from ilvb.sfu.api import MediaPlane, RouterEventHandler, RouterHandle

log = logging.getLogger(__name__)

Command = Callable[[RouterHandle], Awaitable[None]]
_CLOSE = object()


class RouterLink:
    """Owns a room's :class:`RouterHandle` for the room's lifetime."""

    def __init__(self, media: MediaPlane, room_id: str, on_event: RouterEventHandler) -> None:
        self._media = media
        self._room_id = room_id
        self._on_event = on_event
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._opened: asyncio.Future[RouterHandle] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"router:{room_id}")
        self.closed = False

    async def router(self) -> RouterHandle:
        """The open router; ``media_unavailable`` if it could not be opened."""
        return await asyncio.shield(self._opened)

    def post(self, command: Command) -> None:
        """Queue a command for the router (ignored after close)."""
        if not self.closed:
            self._queue.put_nowait(command)

    def close(self) -> None:
        """Close the router after the queued commands ran. Idempotent."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(_CLOSE)

    async def idle(self) -> None:
        """Wait until every queued command ran (tests)."""
        await self._queue.join()

    async def wait_closed(self) -> None:
        """Wait for the router task to finish."""
        await asyncio.shield(self._task)

    async def _run(self) -> None:
        router: RouterHandle | None = None
        try:
            router = await self._media.open_router(self._room_id, self._on_event)
            self._opened.set_result(router)
        except Exception as exc:  # the media plane failed: the room lives on without media
            log.warning("room %s: cannot open a router: %s", self._room_id, exc)
            self._opened.set_exception(
                Unavailable("media_unavailable", "the media plane cannot serve this room")
            )
            self._opened.exception()  # mark retrieved
        while True:
            command = await self._queue.get()
            try:
                if command is _CLOSE:
                    if router is not None:
                        await router.close()
                    return
                if router is not None:
                    await command(router)
            except Exception:
                log.exception("room %s: media command failed", self._room_id)
            finally:
                self._queue.task_done()
