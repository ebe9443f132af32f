"""One room's link to the media plane: opens its router, applies commands in order, closes it.

The router is opened when the room is created (first entry) and closed when the room is
destroyed. Fire-and-forget commands (enable/disable a source, subscription changes, member
removal) run one at a time in the order the room issued them, so the SFU never sees a stale
subscription overtake a newer one. A failing command is logged, never fatal to the room.

When the router's worker died, :meth:`RouterLink.reopen` places the room again
(``open_router`` until a worker takes it), runs the room's re-apply commands on the new router
before any later command, then calls ``on_reopened``. Negotiation calls waiting in
:meth:`RouterLink.router` get the new router.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ilvb.errors import Unavailable
from ilvb.sfu.api import MediaPlane, RouterEventHandler, RouterHandle, RouterOptions

log = logging.getLogger(__name__)

Command = Callable[[RouterHandle], Awaitable[None]]
_CLOSE = object()
_REOPEN = object()
# How often and how long a re-open tries to place the room again (a dead worker is replaced
# after 0.5 s; with one worker there is nowhere else to go until then).
REOPEN_RETRY_S = 0.2
REOPEN_GIVE_UP_S = 30.0


class RouterLink:
    """Owns a room's :class:`RouterHandle` for the room's lifetime."""

    def __init__(
        self,
        media: MediaPlane,
        room_id: str,
        on_event: RouterEventHandler,
        options: RouterOptions = RouterOptions(),
    ) -> None:
        self._media = media
        self._room_id = room_id
        self._on_event = on_event
        self._options = options  # the room's router options, the same at every (re-)open
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._opened: asyncio.Future[RouterHandle] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"router:{room_id}")
        self.closed = False
        self.reopening = False
        self.reopens = 0  # completed re-opens (tests, logs)
        self._reapply: Callable[[], list[Command]] = list
        self._on_reopened: Callable[[], None] = _nothing

    async def router(self) -> RouterHandle:
        """The open router; ``media_unavailable`` if it could not be opened."""
        return await asyncio.shield(self._opened)

    def post(self, command: Command) -> None:
        """Queue a command for the router (ignored after close)."""
        if not self.closed:
            self._queue.put_nowait(command)

    def reopen(self, reapply: Callable[[], list[Command]], on_reopened: Callable[[], None]) -> None:
        """Place the room on a worker again (its router died). Idempotent while pending.

        ``reapply()`` is called once the new router is open and returns the commands that
        rebuild the room's media state there; they run before any command posted later.
        """
        if self.closed or self.reopening:
            return
        self.reopening = True
        self._reapply, self._on_reopened = reapply, on_reopened
        if self._opened.done():
            self._opened = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_REOPEN)

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
            router = await self._media.open_router(self._room_id, self._on_event, self._options)
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
                    if not self._opened.done():
                        self._opened.set_exception(
                            Unavailable("media_unavailable", "the room was closed")
                        )
                        self._opened.exception()
                    return
                if command is _REOPEN:
                    router = await self._reopen(router)
                    continue
                if router is not None:
                    await command(router)
            except Exception:
                log.exception("room %s: media command failed", self._room_id)
            finally:
                self._queue.task_done()

    async def _reopen(self, old: RouterHandle | None) -> RouterHandle | None:
        if old is not None:
            try:
                await old.close()
            except Exception:
                log.debug("room %s: closing the dead router failed", self._room_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REOPEN_GIVE_UP_S
        router: RouterHandle | None = None
        while not self.closed:
            try:
                router = await self._media.open_router(self._room_id, self._on_event, self._options)
                break
            except Exception as exc:
                if loop.time() >= deadline:
                    log.error("room %s: cannot re-open its router: %s", self._room_id, exc)
                    break
                await asyncio.sleep(REOPEN_RETRY_S)
        self.reopening = False
        if router is None:
            if not self._opened.done():
                self._opened.set_exception(
                    Unavailable("media_unavailable", "the media plane cannot serve this room")
                )
                self._opened.exception()
            return None
        self._opened.set_result(router)
        for command in self._reapply():
            try:
                await command(router)
            except Exception:
                log.exception("room %s: re-applying media state failed", self._room_id)
        self.reopens += 1
        log.warning("room %s: router re-opened", self._room_id)
        try:
            self._on_reopened()
        except Exception:
            log.exception("room %s: on_reopened failed", self._room_id)
        return router


def _nothing() -> None:
    return None
