"""RecordingService: start, stop, list and delete recordings; their state; their room events.

One service per server (``app.state.recordings``). A recording belongs to one room incarnation
and one mode; at most one running recording per room and mode. Its files go to
``<root>/<app_id>/<recording_id>/``; its row (state, times, reason, CPU) to the store, so a
recording that was running when the server stopped or crashed shows ``interrupted`` after the
next start, with whatever files it wrote. A recorder process that dies while recording makes the
recording ``interrupted`` too; the room goes on.

Room events (docs/protocol.md): ``recording.started`` ``{recording_id, mode}`` and
``recording.stopped`` ``{recording_id, mode, state, reason}`` to every member of the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ilvb.errors import IlvbError, InvalidArgument, InvalidState, NotFound, Unavailable
from ilvb.recording.files import FileInfo, describe, file_in
from ilvb.recording.jobs import CompositeRunner, RecordingJob
from ilvb.recording.store import (
    RUNNING_STATES,
    AutoRecordStore,
    MemoryAutoRecordStore,
    MemoryRecordingStore,
    RecordingRecord,
    RecordingStore,
)
from ilvb.recording.taps import RoomTaps
from ilvb.recording.tracks import TrackJob
from ilvb.rooms.events import RoomClosed, RoomCreated
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.room import Room

logger = logging.getLogger(__name__)

MODES = ("tracks", "composite")


def new_recording_id() -> str:
    """A fresh, unguessable recording id."""
    return "rec_" + secrets.token_hex(10)


@dataclass
class _Running:
    record: RecordingRecord
    room: Room
    taps: RoomTaps
    job: RecordingJob | None = None
    watcher: asyncio.Task[None] | None = None
    stopping: asyncio.Task[RecordingRecord] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RecordingService:
    """Recordings of every app on this node (see the module docstring)."""

    def __init__(
        self,
        rooms: RoomManager,
        root: Path,
        *,
        store: RecordingStore | None = None,
        settings: AutoRecordStore | None = None,
        composite: CompositeRunner | None = None,
        media: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rooms = rooms
        self.root = root
        self.store: RecordingStore = store if store is not None else MemoryRecordingStore()
        self.settings: AutoRecordStore = (
            settings if settings is not None else MemoryAutoRecordStore()
        )
        self.composite = composite
        self.media = media
        self.clock = clock
        self.running: dict[str, _Running] = {}
        self._closed = False
        self._auto_tasks: set[asyncio.Task[None]] = set()

    # -- life -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Mark recordings a previous server process left running as ``interrupted``; watch
        new rooms for automatic recording."""
        for row in await self.store.interrupt_running(self.clock()):
            logger.info("recording %s was running at the last stop: interrupted", row.recording_id)
        self.rooms.observer.on(RoomCreated, self._room_created)

    async def close(self) -> None:
        """Server shutdown: each running recording's files are closed; it shows
        ``interrupted`` (the server stopped under it)."""
        self._closed = True
        self.rooms.observer.off(RoomCreated, self._room_created)
        for task in list(self._auto_tasks):
            task.cancel()
        await asyncio.gather(
            *(self._end(r, "interrupted", "server_stopped") for r in list(self.running.values())),
            return_exceptions=True,
        )

    # -- commands -------------------------------------------------------------------------

    async def start(
        self, app_id: str, room_key: str, mode: str, kind: str = "room"
    ) -> RecordingRecord:
        """Start recording a live room in ``mode`` (``tracks`` | ``composite``)."""
        if mode not in MODES:
            raise InvalidArgument(message=f"mode must be one of {', '.join(MODES)}")
        if self._closed:
            raise Unavailable(message="the server is stopping")
        room = self.rooms.find(app_id, room_key, kind)  # type: ignore[arg-type]
        if room is None or room.closed:
            raise NotFound("room_not_found", f"no live room {room_key!r}")
        for r in self.running.values():
            if r.room is room and r.record.mode == mode:
                raise InvalidState(
                    "recording_already_running",
                    f"the room is already recorded in {mode} mode",
                    details={"recording_id": r.record.recording_id},
                )
        if mode == "composite" and self.composite is None:
            raise Unavailable(
                "recording_mode_unavailable", "this server has no composite recorder"
            )
        if not self.media or room.link is None:
            raise Unavailable("recording_mode_unavailable", "this server runs without media")
        if not room.senders():
            raise InvalidState("room_no_senders", "nobody in the room sends audio or video")
        now = self.clock()
        record = RecordingRecord(
            new_recording_id(), app_id, room.key, room.kind, mode, "starting", now
        )
        await self.store.put(record)
        taps = RoomTaps(room)
        running = _Running(record, room, taps)
        self.running[record.recording_id] = running
        out_dir = self.directory(app_id, record.recording_id)
        try:
            if mode == "tracks":
                job = TrackJob(taps, out_dir)
                running.job = job
                await job.start()
            else:
                assert self.composite is not None
                running.job = await self.composite.start(taps, out_dir)
        except BaseException as exc:
            self.running.pop(record.recording_id, None)
            taps.detach()
            if running.job is not None:
                with contextlib.suppress(Exception):
                    await running.job.stop()
            failed = replace(
                record, state="failed", stopped_at=self.clock(), reason="start_failed"
            )
            await self.store.put(failed)
            if not any(out_dir.iterdir()) if out_dir.is_dir() else False:
                out_dir.rmdir()
            if isinstance(exc, IlvbError):
                raise
            raise Unavailable(message=f"the recorder did not start: {exc}") from exc
        t0 = getattr(running.job, "t0", 0.0) or now
        record = replace(record, state="recording", started_at=t0)
        running.record = record
        await self.store.put(record)
        rid = record.recording_id
        room.observer.on(RoomClosed, lambda _event: self._room_gone(rid))
        running.watcher = asyncio.create_task(self._watch(running))
        room.broadcast("recording.started", {"recording_id": record.recording_id, "mode": mode})
        return record

    async def stop(self, app_id: str, recording_id: str) -> RecordingRecord:
        """Stop a recording (its files are complete when this returns); a stopped one is
        returned as it is."""
        running = self.running.get(recording_id)
        if running is None or running.record.app_id != app_id:
            record = await self.store.get(app_id, recording_id)
            if record is None:
                raise NotFound("recording_not_found", f"no recording {recording_id!r}")
            return record
        return await self._end(running, "stopped", "stopped")

    async def get(self, app_id: str, recording_id: str) -> RecordingRecord:
        """One recording (``recording_not_found``)."""
        running = self.running.get(recording_id)
        if running is not None and running.record.app_id == app_id:
            return running.record
        record = await self.store.get(app_id, recording_id)
        if record is None:
            raise NotFound("recording_not_found", f"no recording {recording_id!r}")
        return record

    async def list_recordings(self, app_id: str) -> list[RecordingRecord]:
        """The app's recordings, newest first."""
        rows = await self.store.for_app(app_id)
        running = self.running
        return [running[r.recording_id].record if r.recording_id in running else r for r in rows]

    async def delete(self, app_id: str, recording_id: str) -> None:
        """Delete a recording and its files (a running one is stopped first)."""
        await self.get(app_id, recording_id)
        if recording_id in self.running:
            await self.stop(app_id, recording_id)
        directory = self.directory(app_id, recording_id)
        if directory.is_dir():
            shutil.rmtree(directory)
        await self.store.delete(app_id, recording_id)

    async def files(self, record: RecordingRecord) -> list[FileInfo]:
        """The recording's files (what a killed recorder left plays up to its last flush);
        probed in a thread, so a long file does not hold up the event loop."""
        directory = self.directory(record.app_id, record.recording_id)

        def probe() -> list[FileInfo]:
            if not directory.is_dir():
                return []
            paths = sorted(p for p in directory.iterdir() if p.is_file() and p.stat().st_size)
            return [describe(p) for p in paths]

        return await asyncio.to_thread(probe)

    def file_path(self, record: RecordingRecord, name: str) -> Path:
        """The path of one file (``invalid_file_name``, ``recording_file_not_found``)."""
        return file_in(self.directory(record.app_id, record.recording_id), name)

    def directory(self, app_id: str, recording_id: str) -> Path:
        """Where a recording's files are."""
        return self.root / app_id / recording_id

    def job(self, recording_id: str) -> RecordingJob | None:
        """The running job of a recording (tests, benchmarks)."""
        running = self.running.get(recording_id)
        return running.job if running is not None else None

    # -- automatic recording ----------------------------------------------------------------

    async def auto_mode(self, app_id: str) -> str | None:
        """The app's automatic recording mode (None: off)."""
        return await self.settings.auto_mode(app_id)

    async def set_auto_mode(self, app_id: str, mode: str | None) -> None:
        """Record every room of the app from its first sender on (``mode``), or not (None)."""
        if mode is not None and mode not in MODES:
            raise InvalidArgument(message=f"mode must be one of {', '.join(MODES)} or null")
        await self.settings.set_auto_mode(app_id, mode)

    def _room_created(self, event: RoomCreated) -> None:
        task = asyncio.get_running_loop().create_task(self._auto_record(event.room))
        self._auto_tasks.add(task)
        task.add_done_callback(self._auto_tasks.discard)

    async def _auto_record(self, room: Room) -> None:
        mode = await self.settings.auto_mode(room.app_id)
        if mode is None:
            return
        # the first sender starts it: wait (polling the room, cheap) while the room lives
        while not room.closed and not self._closed:
            if room.senders() and room.link is not None:
                try:
                    await self.start(room.app_id, room.key, mode, room.kind)
                except IlvbError as exc:
                    if exc.code != "room_no_senders":
                        logger.warning("automatic recording of %s failed: %s", room.key, exc)
                        return
                else:
                    return
            await asyncio.sleep(0.5)

    # -- endings ----------------------------------------------------------------------------

    def _end(self, running: _Running, state: str, reason: str) -> asyncio.Future[RecordingRecord]:
        """End a recording once (later callers wait for the same ending)."""
        if running.stopping is None:
            running.stopping = asyncio.get_running_loop().create_task(
                self._finish(running, state, reason)
            )
        return asyncio.shield(running.stopping)

    def _room_gone(self, recording_id: str) -> None:
        running = self.running.get(recording_id)
        if running is not None:
            self._end(running, "stopped", "room_closed")

    async def _watch(self, running: _Running) -> None:
        """The job ended on its own (the recorder died): the recording is interrupted."""
        assert running.job is not None
        code = await running.job.wait()
        if running.record.recording_id in self.running and running.stopping is None:
            logger.warning(
                "recorder of %s exited (%s): interrupted", running.record.recording_id, code
            )
            self._end(running, "interrupted", "recorder_died")

    async def _finish(self, running: _Running, state: str, reason: str) -> RecordingRecord:
        record = running.record
        if record.state not in RUNNING_STATES:
            return record
        running.record = record = replace(record, state="stopping")
        await self.store.put(record)
        if running.job is not None:
            try:
                await running.job.stop()
            except Exception:
                logger.exception("recording %s: stop failed", record.recording_id)
        cpu = running.job.cpu_seconds() if running.job is not None else 0.0
        running.taps.detach()
        running.record = record = replace(
            record, state=state, stopped_at=self.clock(), reason=reason, cpu_s=cpu
        )
        await self.store.put(record)
        self.running.pop(record.recording_id, None)
        if running.watcher is not None and running.watcher is not asyncio.current_task():
            running.watcher.cancel()
        if not running.room.closed:
            running.room.broadcast(
                "recording.stopped",
                {
                    "recording_id": record.recording_id,
                    "mode": record.mode,
                    "state": state,
                    "reason": reason,
                },
            )
        return record
