"""Channel between the media plane (control-plane process) and one worker process.

Frames are length-prefixed pickles over a stream socket (one end of a socketpair): requests
``("req", id, method, args)`` get exactly one ``("res", id, ok, value)``; workers push
``("evt", 0, name, payload)`` at any time. A typed :class:`~ilvb.errors.IlvbError` raised by a
handler travels as its dict form and is rebuilt on the other side (mediasoup ``Channel.ts``).
Both ends trust each other (same user, a private socketpair), which is why pickle is fine here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import struct
from collections.abc import Callable
from typing import Any

from ilvb.errors import IlvbError, Unavailable, error_from_dict

logger = logging.getLogger(__name__)

_LEN = struct.Struct("!I")
MAX_FRAME = 16 * 1024 * 1024


class ChannelClosed(Unavailable):
    """The other end of the channel is gone (worker died or exited): ``media_unavailable``."""

    default_code = "media_unavailable"


Handler = Callable[[str, tuple[Any, ...]], Any]
EventHandler = Callable[[str, Any], None]


class Channel:
    """Request/response plus events over an asyncio stream pair."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_request: Handler | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.closed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Start the read loop; the task ends when the peer closes."""
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        return self._task

    async def request(self, method: str, *args: Any, wait_s: float = 30.0) -> Any:
        """Call ``method`` on the other end and wait for its result (or its typed error)."""
        if self.closed:
            raise ChannelClosed(message="media worker is gone")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._send(("req", rid, method, args))
            return await asyncio.wait_for(fut, wait_s)
        finally:
            self._pending.pop(rid, None)

    def emit(self, name: str, payload: Any) -> None:
        """Push an event to the other end (fire and forget)."""
        if not self.closed:
            self._send(("evt", 0, name, payload))

    def _send(self, frame: tuple[Any, ...]) -> None:
        data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LEN.pack(len(data)) + data)

    async def _read_loop(self) -> None:
        try:
            while True:
                header = await self._reader.readexactly(4)
                (length,) = _LEN.unpack(header)
                if length > MAX_FRAME:
                    raise ValueError(f"channel frame of {length} bytes")
                frame = pickle.loads(await self._reader.readexactly(length))
                self._dispatch(frame)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, EOFError) as exc:
            logger.debug("channel closed: %r", exc)
        finally:
            self._close_pending()

    def _dispatch(self, frame: tuple[Any, ...]) -> None:
        kind = frame[0]
        if kind == "res":
            _, rid, ok, value = frame
            fut = self._pending.get(rid)
            if fut is not None and not fut.done():
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(error_from_dict(value))
        elif kind == "evt":
            if self._on_event is not None:
                try:
                    self._on_event(frame[2], frame[3])
                except Exception:
                    logger.exception("channel event handler failed")
        elif kind == "req":
            asyncio.get_running_loop().create_task(self._answer(frame[1], frame[2], frame[3]))

    async def _answer(self, rid: int, method: str, args: tuple[Any, ...]) -> None:
        try:
            if self._on_request is None:
                raise IlvbError(message="this end serves no requests")
            value = self._on_request(method, args)
            if asyncio.iscoroutine(value):
                value = await value
            self._send(("res", rid, True, value))
        except IlvbError as exc:
            self._send(("res", rid, False, exc.to_dict()))
        except Exception as exc:
            logger.exception("channel request %s failed", method)
            self._send(("res", rid, False, {"code": "internal_error", "message": repr(exc)}))

    def _close_pending(self) -> None:
        self.closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ChannelClosed(message="media worker is gone"))
        self._pending.clear()

    async def close(self) -> None:
        """Close our end; pending requests fail with ``media_unavailable``."""
        self.closed = True
        try:
            self._writer.close()
        except Exception:
            pass
        if self._task is not None:
            self._task.cancel()
        self._close_pending()
