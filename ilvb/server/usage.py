"""The usage recorder: per app and per minute, the peak of concurrent participants, written to
the store for billing and business data.

It watches rooms only through their observers (``manager.observer`` → ``room.observer``): on
every entry and exit it updates the app's current counts, multi-person rooms and two-person calls
apart, and the minute's peak of each. At each minute's end (on the rooms clock) it writes one
sample per app that had anyone in that minute, stamped with the minute's start. A server that
stops writes the minute so far; a second sample of one minute after a restart is harmless, since
metering takes the largest sample of each minute. At most the current minute is lost on SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from ilvb.rooms.clock import Clock, TimerHandle
from ilvb.rooms.events import MemberEntered, MemberExited, RoomClosed, RoomCreated
from ilvb.rooms.manager import RoomManager
from ilvb.store.interfaces import AppStore

log = logging.getLogger(__name__)

MINUTE_S = 60.0


@dataclass
class _Counts:
    multi: int = 0
    call: int = 0
    peak_multi: int = 0
    peak_call: int = 0

    def reset_peaks(self) -> None:
        self.peak_multi, self.peak_call = self.multi, self.call


class UsageRecorder:
    """Records per-minute participant peaks of every app; :meth:`close` writes the last minute."""

    def __init__(self, manager: RoomManager, store: AppStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._counts: dict[str, _Counts] = {}
        self._minute = self._minute_of(clock.time())
        self._timer: TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._closed = False
        # Timers of a manual clock may fire on another thread (tests): writes go to this loop.
        self._loop = asyncio.get_running_loop()
        manager.observer.on(RoomCreated, self._room_created)
        self._schedule()

    def current(self, app_id: str) -> tuple[int, int]:
        """The app's participants now: (multi-person rooms, two-person calls)."""
        c = self._counts.get(app_id)
        return (c.multi, c.call) if c else (0, 0)

    async def close(self) -> None:
        """Write the minute so far, then wait for every write. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._flush(self._minute)
        await asyncio.sleep(0)  # let the scheduled writes start
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # ------------------------------------------------------------------ room events

    def _room_created(self, event: RoomCreated) -> None:
        room = event.room
        room.observer.on(MemberEntered, self._entered)
        room.observer.on(MemberExited, self._exited)
        room.observer.on(RoomClosed, self._room_closed)

    def _room_closed(self, event: RoomClosed) -> None:
        event.room.observer.off(MemberEntered, self._entered)
        event.room.observer.off(MemberExited, self._exited)
        event.room.observer.off(RoomClosed, self._room_closed)

    def _entered(self, event: MemberEntered) -> None:
        self._change(event.room.app_id, event.room.kind, +1)

    def _exited(self, event: MemberExited) -> None:
        self._change(event.room.app_id, event.room.kind, -1)

    def _change(self, app_id: str, kind: str, delta: int) -> None:
        self._roll()
        c = self._counts.setdefault(app_id, _Counts())
        if kind == "call":
            c.call = max(0, c.call + delta)
            c.peak_call = max(c.peak_call, c.call)
        else:
            c.multi = max(0, c.multi + delta)
            c.peak_multi = max(c.peak_multi, c.multi)

    # ------------------------------------------------------------------ minutes

    @staticmethod
    def _minute_of(t: float) -> float:
        return math.floor(t / MINUTE_S) * MINUTE_S

    def _schedule(self) -> None:
        if self._closed:
            return
        delay = self._minute + MINUTE_S - self._clock.time()
        self._timer = self._clock.call_later(max(delay, 0.001), self._tick)

    def _tick(self) -> None:
        self._roll()
        self._schedule()

    def _roll(self) -> None:
        """If the clock has moved into a later minute, write the finished one."""
        minute = self._minute_of(self._clock.time())
        if minute <= self._minute:
            return
        self._flush(self._minute)
        self._minute = minute
        for app_id, c in list(self._counts.items()):
            c.reset_peaks()
            if c.multi == 0 and c.call == 0:
                del self._counts[app_id]

    def _flush(self, minute: float) -> None:
        for app_id, c in self._counts.items():
            if c.peak_multi or c.peak_call:
                self._loop.call_soon_threadsafe(
                    self._start_write, app_id, c.peak_multi, c.peak_call, minute
                )

    def _start_write(self, app_id: str, multi: int, call: int, minute: float) -> None:
        task = self._loop.create_task(self._write(app_id, multi, call, minute))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, app_id: str, multi: int, call: int, minute: float) -> None:
        try:
            await self._store.record_usage(app_id, multi, call, timestamp=minute)
        except Exception:  # an app deleted meanwhile, a database hiccup: log, go on
            log.warning("usage: could not record app %s at %s", app_id, minute, exc_info=True)
