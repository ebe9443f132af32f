"""The ``tracks`` mode: one recorder process per recording, one file per producer.

:class:`TrackJob` starts ``python -m ilvb.recording.recorder`` and keeps its tracks in step
with the room: once a second (and at once when a member's sources change) every source a
member sends gets a tap to a port the recorder bound, and a tap whose producer went away (the
member unpublished or left) has its file closed. A member who publishes again gets a new file
(``alice-camera-2.webm``). Keyframe requests the recorder asks for go to the SFU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ilvb.errors import IlvbError, NotFound, Unavailable
from ilvb.recording.taps import RoomTaps, TrackRef
from ilvb.recording.writer import container_of

logger = logging.getLogger(__name__)

SYNC_INTERVAL_S = 1.0
STOP_TIMEOUT_S = 15.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def track_file_stem(ref: TrackRef) -> str:
    """``<member>-<source>`` with anything but ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    member = _UNSAFE.sub("_", ref.member_id).lstrip(".") or "_"
    return f"{member[:80]}-{ref.source}"


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a live process (Linux ``/proc``), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class _Tap:
    tap_id: str
    ref: TrackRef
    track: str  # the recorder's name for it
    file_name: str


class TrackJob:
    """One ``tracks`` recording (implements :class:`~ilvb.recording.jobs.RecordingJob`)."""

    def __init__(self, taps: RoomTaps, output_dir: Path) -> None:
        self.taps = taps
        self.output_dir = output_dir
        self.t0 = 0.0  # the recording's clock: set when the recorder is ready
        self.proc: asyncio.subprocess.Process | None = None
        self._open: dict[TrackRef, _Tap] = {}
        self._by_track: dict[str, _Tap] = {}
        self._waiting: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._names: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._stopping = False
        self._cpu = 0.0
        self._off: Any = None
        self.tracks_opened = 0
        self._seq = 0

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the recorder process and tap what the room sends now."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ilvb.recording.recorder",
            "--dir",
            str(self.output_dir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[("ready", "None")] = ready
        self._reader = asyncio.create_task(self._read_events())
        try:
            self.t0 = float((await asyncio.wait_for(ready, 30))["t0"])
        except TimeoutError:
            raise Unavailable(message="the recorder process did not start") from None
        finally:
            self._waiting.pop(("ready", "None"), None)
        self._off = self.taps.on_change(self._kick.set)
        await self.sync()
        self._loop_task = asyncio.create_task(self._sync_loop())

    async def stop(self) -> None:
        """Close the taps, let the recorder finish its files, wait for it to exit."""
        if self._stopping:
            await self.wait()
            return
        self._stopping = True
        if self._off is not None:
            self._off()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
        for tap in list(self._open.values()):
            await self.taps.close(tap.tap_id)
        self._open.clear()
        self._sample_cpu()
        self._send({"op": "stop"})
        proc = self.proc
        if proc is not None:
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                logger.warning("recorder %s did not stop in time: killed", proc.pid)
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 2)

    async def wait(self) -> int | None:
        """The recorder's exit code, once it exited."""
        if self.proc is None:
            return None
        return await self.proc.wait()

    def files(self) -> list[Path]:
        """The track files in the output directory."""
        if not self.output_dir.is_dir():
            return []
        return sorted(p for p in self.output_dir.iterdir() if p.is_file())

    def cpu_seconds(self) -> float:
        """CPU time of the recorder process (its last sample once it exited)."""
        self._sample_cpu()
        return self._cpu

    @property
    def pid(self) -> int | None:
        """The recorder process id."""
        return self.proc.pid if self.proc is not None else None

    def _sample_cpu(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            cpu = process_cpu_seconds(self.proc.pid)
            if cpu is not None:
                self._cpu = cpu

    # -- keeping the tracks in step with the room --------------------------------------------

    async def _sync_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), SYNC_INTERVAL_S)
            self._kick.clear()
            if self.proc is None or self.proc.returncode is not None:
                return
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the room's media may be re-opening: try again
                logger.info("recording sync failed (%s); retrying", exc)

    async def sync(self) -> None:
        """Open taps for new producers, close files of producers that went away."""
        async with self._sync_lock:
            if self._stopping or self.taps.closed:
                return
            self._sample_cpu()
            wanted = set(self.taps.tracks())
            live = await self.taps.live() if self._open else set()
            for ref, tap in list(self._open.items()):
                if ref not in wanted or tap.tap_id not in live:
                    del self._open[ref]
                    await self.taps.close(tap.tap_id)
                    self._send({"op": "end", "track": tap.track})
            for ref in sorted(wanted - set(self._open), key=lambda r: (r.member_id, r.source)):
                await self._open_track(ref)

    async def _open_track(self, ref: TrackRef) -> None:
        self._seq += 1
        track = f"t{self._seq}"
        bound = await self._request({"op": "bind", "track": track}, ("bound", track))
        try:
            info = await self.taps.open(ref, ("127.0.0.1", int(bound["port"])))
        except NotFound:
            self._send({"op": "end", "track": track})  # no producer yet: next round
            return
        except IlvbError:
            self._send({"op": "end", "track": track})
            raise
        file_name = self._file_name(ref, info.codec)
        tap = _Tap(info.tap_id, ref, track, file_name)
        self._open[ref] = tap
        self._by_track[track] = tap
        self.tracks_opened += 1
        self._send(
            {
                "op": "start",
                "track": track,
                "file": file_name,
                "member": ref.member_id,
                "codec": info.codec,
                "pt": info.payload_type,
                "red_pt": info.red_payload_type,
                "clock_rate": info.clock_rate,
                "ssrc": info.ssrc,
            }
        )

    def _file_name(self, ref: TrackRef, codec: str) -> str:
        stem = track_file_stem(ref)
        _, ext = container_of(codec)
        n = 1
        while True:
            base = stem if n == 1 else f"{stem}-{n}"
            taken = base in self._names or any(
                p.stem == base for p in self.output_dir.iterdir()
            )
            if not taken:
                self._names.add(base)
                return base + "." + ext
            n += 1

    # -- the recorder's pipes -------------------------------------------------------------

    def _send(self, msg: dict[str, Any]) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        try:
            proc.stdin.write((json.dumps(msg) + "\n").encode())
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass

    async def _request(self, msg: dict[str, Any], key: tuple[str, str]) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[key] = fut
        self._send(msg)
        try:
            return await asyncio.wait_for(fut, 10)
        except TimeoutError:
            raise Unavailable(message="the recorder process does not answer") from None
        finally:
            self._waiting.pop(key, None)

    async def _read_events(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            ev = msg.get("ev")
            fut = self._waiting.get((str(ev), str(msg.get("track"))))
            if fut is not None and not fut.done():
                fut.set_result(msg)
            elif ev == "keyframe":
                tap = self._by_track.get(str(msg.get("track")))
                if tap is not None and tap.ref in self._open:
                    asyncio.create_task(self._keyframe(tap.tap_id))
            elif ev == "error":
                logger.warning("recorder: %s", msg.get("message"))
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(Unavailable(message="the recorder process exited"))

    async def _keyframe(self, tap_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.taps.request_keyframe(tap_id)


