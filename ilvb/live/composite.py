"""The server side of a room composite: :class:`CompositeRunner` admits and starts
:class:`CompositeJob` s, each driving one recorder process (:mod:`ilvb.live.recorder`).

How the recorder gets the room's media: the job opens a receive transport on the room's
router for a recorder id ``~rec-<job>``, which is not a room member — no member list, no
enter/exit events, no sender or member caps count it — and hands the SFU's SDP offer to the
recorder process, which answers like any receiving client (DTLS-SRTP over loopback, aiortc).
The job follows the room through ``room.observer``: when members start or stop sending it
picks the views (screen shares first, then cameras, in entry order, at most four) and tells
both the router (the recorder's subscription; audio: every sender, the loudest
``audio_slots``) and the recorder (which slot goes in which cell). The room closing stops the
job.

Admission (:meth:`CompositeRunner.admit`): a job costs its measured CPU per second of output
(cores at real time) once it has run a few seconds, the learned cost of its resolution before; a new
job is refused with ``composite_capacity`` when the sum would pass ``live.cpu_budget_cores``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ilvb.config import LiveSettings
from ilvb.errors import InvalidArgument, InvalidState, Unavailable
from ilvb.rooms.events import MemberExited, MemberStateChanged, RoomClosed
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.room import Room
from ilvb.sfu.api import RouterHandle, Source, Subscription

log = logging.getLogger(__name__)

VIDEO_SLOTS = 4
ANSWER_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
# A job's CPU rate counts once it ran this long (start-up is dearer than the steady state).
MEASURE_AFTER_S = 3.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
RESOLUTIONS = {"640x480": (640, 480), "1280x720": (1280, 720)}


@dataclass(frozen=True)
class JobOutputs:
    """What a composite writes: a Matroska file, an HLS directory, RTMP pushes."""

    file: Path | None = None
    hls_dir: Path | None = None
    rtmp: tuple[str, ...] = ()


@dataclass
class JobStats:
    """The recorder's last report."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    frames: int = 0
    skipped_frames: int = 0
    media_frames: dict[str, int] = field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    pids: list[int] = field(default_factory=list)
    keyframe_requests: int = 0


ExitCallback = Callable[["CompositeJob", str], None]


def pick_views(room: Room) -> list[tuple[str, Source]]:
    """The views a composite shows: screen shares first, then cameras, entry order, ≤ 4."""
    senders = room.senders()
    screens = [(m.user_id, "screen") for m in senders if "screen" in m.sending - m.muted]
    cameras = [(m.user_id, "camera") for m in senders if "camera" in m.sending - m.muted]
    views: list[tuple[str, Source]] = [*screens, *cameras]  # type: ignore[list-item]
    return views[:VIDEO_SLOTS]


class CompositeJob:
    """One recorder process making one room's composite."""

    def __init__(
        self,
        runner: CompositeRunner,
        room: Room,
        outputs: JobOutputs,
        resolution: str,
    ) -> None:
        self.job_id = "cmp_" + secrets.token_hex(6)
        self.member_id = "~rec-" + self.job_id
        self.app_id = room.app_id
        self.room = room
        self.outputs = outputs
        self.resolution = resolution
        self.width, self.height = RESOLUTIONS[resolution]
        self.stats = JobStats()
        self.started_at = time.monotonic()
        self.t0 = time.time()
        self.exit_reason: str | None = None
        self.rtmp: tuple[str, ...] = tuple(outputs.rtmp)
        self._runner = runner
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._exited = asyncio.Event()
        self._on_exit: list[ExitCallback] = []
        self._views: list[tuple[str, Source]] = []
        self._stopping = False
        self._stop_reason = "stopped"
        self._stderr: list[str] = []
        self._rate_mark: tuple[float, float] | None = None  # (frames, cpu) a few seconds ago
        self._fps = float(runner.settings.fps)
        self.cpu_rate = 0.0

    # -- the seam --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """The recorder process is up and not stopping."""
        return self._proc is not None and self.exit_reason is None

    @property
    def pid(self) -> int | None:
        """The recorder process's pid."""
        return self._proc.pid if self._proc is not None else None

    def cpu_seconds(self) -> float:
        """CPU seconds of the recorder and its ffmpeg processes so far."""
        return self.stats.cpu_s

    async def wait(self) -> int | None:
        """Until the recorder process ended; its exit code (None if it never started)."""
        await self._exited.wait()
        return self._proc.returncode if self._proc is not None else None

    def files(self) -> list[Path]:
        """The composite file (once it exists)."""
        f = self.outputs.file
        return [f] if f is not None and f.is_file() else []

    def on_exit(self, callback: ExitCallback) -> None:
        """``callback(job, reason)`` once when the recorder ended (``stopped``, ``room_closed``,
        ``recorder_exited`` …)."""
        if self.exit_reason is not None:
            callback(self, self.exit_reason)
        else:
            self._on_exit.append(callback)

    async def stop(self, reason: str = "stopped") -> None:
        """Stop the composite; outputs end cleanly. Idempotent."""
        if not self._stopping:
            self._stopping = True
            self._stop_reason = reason
            self._detach()
            self._send({"type": "stop"})
        try:
            await asyncio.wait_for(self._exited.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            if self._proc is not None and self._proc.returncode is None:
                self._proc.kill()
            await self._exited.wait()

    def set_rtmp(self, urls: Sequence[str]) -> None:
        """Push to exactly these RTMP URLs from now on."""
        self.rtmp = tuple(urls)
        self._send({"type": "rtmp", "urls": list(urls)})

    def info(self) -> dict[str, Any]:
        """The job's state for REST and logs."""
        return {
            "job_id": self.job_id,
            "resolution": self.resolution,
            "running": self.running,
            "cpu_s": round(self.stats.cpu_s, 3),
            "cpu_cores": round(self.cpu_rate, 3),
            "frames": self.stats.frames,
            "skipped_frames": self.stats.skipped_frames,
            "views": [{"user_id": u, "source": s} for u, s in self._views],
            "sinks": self.stats.sinks,
        }

    # -- start -----------------------------------------------------------------------------

    async def _start(self, settings: LiveSettings) -> None:
        room = self.room
        if room.link is None:
            raise Unavailable("media_unavailable", "the room has no media")
        router = await room.link.router()
        offer = await router.offer_receive(
            self.member_id, audio_slots=room.limits.audio_slots, video_slots=VIDEO_SLOTS
        )
        boot = f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); " + (
            "import asyncio; from ilvb.live.recorder import main; asyncio.run(main())"
        )
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", boot,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )  # fmt: skip
        self._reader = asyncio.get_running_loop().create_task(self._read())
        asyncio.get_running_loop().create_task(self._read_stderr())
        self._send(
            {
                "type": "start",
                "offer": offer,
                "width": self.width,
                "height": self.height,
                "fps": settings.fps,
                "preset": settings.preset,
                "threads": settings.encoder_threads,
                "ffmpeg": settings.ffmpeg,
                "file": str(self.outputs.file) if self.outputs.file else None,
                "hls_dir": str(self.outputs.hls_dir) if self.outputs.hls_dir else None,
                "hls_segment_s": settings.hls_segment_s,
                "hls_list_size": settings.hls_list_size,
                "rtmp": list(self.outputs.rtmp),
            }
        )
        try:
            answer = await asyncio.wait_for(asyncio.shield(self._answer), ANSWER_TIMEOUT_S)
        except (TimeoutError, RuntimeError) as exc:
            await self._abort(router)
            raise Unavailable("recorder_failed", f"the recorder did not start: {exc}") from exc
        await router.accept_receive_answer(self.member_id, answer)
        self.t0 = time.time()  # the wall clock the outputs count from (about)
        room.observer.on(MemberStateChanged, self._room_changed)
        room.observer.on(MemberExited, self._room_changed)
        room.observer.on(RoomClosed, self._room_closed)
        self._relayout()

    async def _abort(self, router: RouterHandle) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
        with contextlib.suppress(Exception):
            await router.remove_member(self.member_id)
        await self._exited.wait()

    # -- following the room ----------------------------------------------------------------

    def _room_changed(self, event: MemberStateChanged | MemberExited) -> None:
        self._relayout()

    def _room_closed(self, event: RoomClosed) -> None:
        asyncio.get_running_loop().create_task(self.stop("room_closed"))

    def _relayout(self) -> None:
        if self._stopping:
            return
        views = pick_views(self.room)
        if views == self._views:
            return
        self._views = views
        sub = Subscription(audio_from=None, views=tuple(views))
        member_id = self.member_id

        async def subscribe(router: RouterHandle) -> None:
            await router.set_subscription(member_id, sub)

        self.room.post(subscribe)
        slots = [
            {"mid": f"v{i}", "user_id": user, "source": source}
            for i, (user, source) in enumerate(views)
        ]
        self._send({"type": "layout", "views": slots})

    def _detach(self) -> None:
        room = self.room
        room.observer.off(MemberStateChanged, self._room_changed)
        room.observer.off(MemberExited, self._room_changed)
        room.observer.off(RoomClosed, self._room_closed)
        member_id = self.member_id

        async def remove(router: RouterHandle) -> None:
            await router.remove_member(member_id)

        room.post(remove)

    # -- the recorder's pipes --------------------------------------------------------------

    def _send(self, msg: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        proc.stdin.write((json.dumps(msg) + "\n").encode())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        while True:
            line = await stdout.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("type")
            if kind == "answer" and not self._answer.done():
                self._answer.set_result(str(msg["sdp"]))
            elif kind in ("stats", "stopped"):
                self._take_stats(msg)
            elif kind == "error":
                log.warning("composite %s: %s", self.job_id, msg.get("message"))
            elif kind == "sink":
                log.info("composite %s: sink %s %s %s", self.job_id, msg.get("name"),
                         msg.get("state"), msg.get("error", ""))  # fmt: skip
        code = await self._proc.wait()
        if not self._answer.done():
            self._answer.set_exception(RuntimeError(f"recorder exited ({code})"))
        reason = self._stop_reason if self._stopping else None
        if reason is None:
            reason = "recorder_exited"
            tail = " | ".join(self._stderr[-5:])
            log.warning("composite %s: recorder exited %s: %s", self.job_id, code, tail)
        elif any("failed" in line for line in self._stderr):
            log.warning("composite %s: %s", self.job_id, " | ".join(self._stderr[-20:]))
            self._detach()
        self._finish(reason)

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            self._stderr.append(line.decode("utf-8", "replace").rstrip())
            del self._stderr[:-50]

    def _take_stats(self, msg: dict[str, Any]) -> None:
        s = self.stats
        s.cpu_s = float(msg.get("cpu_s", s.cpu_s))
        s.wall_s = float(msg.get("wall_s", s.wall_s))
        s.frames = int(msg.get("frames", s.frames))
        s.skipped_frames = int(msg.get("skipped_frames", s.skipped_frames))
        s.media_frames = dict(msg.get("media_frames", {}))
        s.sinks = dict(msg.get("sinks", {}))
        s.pids = [int(p) for p in msg.get("pids", [])]
        s.keyframe_requests = int(msg.get("keyframe_requests", 0))
        now = time.monotonic()
        if now - self.started_at >= MEASURE_AFTER_S:
            # Cost = CPU per second of composite *output* (frames ÷ fps), not per wall second:
            # on a starved machine a job that falls behind would otherwise look cheap.
            if self._rate_mark is None:
                self._rate_mark = (float(s.frames), s.cpu_s)
            elif s.frames - self._rate_mark[0] >= 2 * self._fps:
                frames, cpu = self._rate_mark
                self.cpu_rate = (s.cpu_s - cpu) / ((s.frames - frames) / self._fps)
                self._rate_mark = (float(s.frames), s.cpu_s)
                self._runner.learn(self.resolution, self.cpu_rate)

    def _finish(self, reason: str) -> None:
        if self.exit_reason is not None:
            return
        self.exit_reason = reason
        self._runner.forget(self)
        self._exited.set()
        for callback in self._on_exit:
            try:
                callback(self, reason)
            except Exception:
                log.exception("composite %s: exit listener failed", self.job_id)


class CompositeRunner:
    """Starts composite jobs on this node, within its CPU budget."""

    def __init__(self, rooms: RoomManager, settings: LiveSettings) -> None:
        self.rooms = rooms
        self.settings = settings
        self.jobs: dict[str, CompositeJob] = {}
        # Learned cost (cores) of one composite per resolution, seeded from the settings.
        self.cost: dict[str, float] = {
            "640x480": settings.cost_640x480_cores,
            "1280x720": settings.cost_1280x720_cores,
        }

    def load(self) -> float:
        """Cores the running jobs take (measured, or their resolution's cost while young)."""
        return sum(
            job.cpu_rate if job._rate_mark is not None and job.cpu_rate > 0 else
            self.cost[job.resolution]
            for job in self.jobs.values()
        )  # fmt: skip

    def admit(self, resolution: str) -> None:
        """Raise ``composite_capacity`` when one more job of ``resolution`` would not fit."""
        need = self.cost[resolution]
        load = self.load()
        budget = self.settings.cpu_budget_cores
        if len(self.jobs) >= self.settings.max_jobs or load + need > budget:
            raise Unavailable(
                "composite_capacity",
                f"this node cannot take another {resolution} composite "
                f"(running {len(self.jobs)}: {load:.2f} of {budget:.2f} cores, "
                f"one more needs {need:.2f})",
            )

    async def start(self, taps: Any, output_dir: Path) -> CompositeJob:
        """A composite recording of ``taps.app_id``'s room ``taps.room_key`` (the business id;
        ``taps.room`` is the Room) into ``output_dir/composite.mkv`` — the recordings
        service's entry point."""
        await asyncio.to_thread(output_dir.mkdir, parents=True, exist_ok=True)
        outputs = JobOutputs(file=output_dir / "composite.mkv")
        room = getattr(taps, "room_key", None)
        if room is None:
            room = taps.room if isinstance(taps.room, str | int) else taps.room.display
        return await self.start_job(str(taps.app_id), room, outputs)

    async def start_job(
        self,
        app_id: str,
        room: str | int,
        outputs: JobOutputs,
        *,
        resolution: str | None = None,
    ) -> CompositeJob:
        """Start a composite of a live room (``room_not_found``, ``room_no_senders``,
        ``composite_capacity``, ``recorder_failed``)."""
        live = self.rooms.get(app_id, room)
        if not live.senders():
            raise InvalidState("room_no_senders", f"nobody sends media in room {room!r}")
        res = resolution or self.settings.resolution
        if res not in RESOLUTIONS:
            raise InvalidArgument(message=f"resolution must be one of {list(RESOLUTIONS)}")
        self.admit(res)
        job = CompositeJob(self, live, outputs, res)
        self.jobs[job.job_id] = job
        try:
            await job._start(self.settings)
        except BaseException:
            self.forget(job)
            raise
        return job

    def learn(self, resolution: str, cores: float) -> None:
        """Move the resolution's cost towards a measured rate (slowly: one job is noisy)."""
        if cores > 0:
            old = self.cost[resolution]
            self.cost[resolution] = max(old * 0.8 + cores * 0.2, cores if cores > old else 0.0)

    def forget(self, job: CompositeJob) -> None:
        """Drop an ended job from the books."""
        self.jobs.pop(job.job_id, None)

    async def close(self) -> None:
        """Stop every job."""
        await asyncio.gather(*(j.stop("shutdown") for j in list(self.jobs.values())),
                             return_exceptions=True)  # fmt: skip
