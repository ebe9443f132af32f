"""The media plane seen from the control plane: SFU workers and the routers placed on them.

:func:`create_media_plane` builds a :class:`WorkerMediaPlane`. With ``workers=0`` one
:class:`~ilvb.sfu.worker.Worker` runs inside this process on this loop (tests, tiny installs);
otherwise each worker is a process (``python -m ilvb.sfu.worker``) reached over a
:class:`~ilvb.sfu.channel.Channel` on a socketpair. A room is placed on the worker with the fewest
routers. SDP is parsed and written here (:mod:`ilvb.sfu.sdp`); workers only see dataclasses.

A worker process that dies is reported once to each of its routers' owners
(:class:`~ilvb.sfu.api.WorkerDied`); those router handles answer ``media_unavailable`` from then
on, and a fresh process takes its place: the control plane re-opens the room (``open_router``)
to place it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ilvb.config import MediaSettings
from ilvb.errors import Unavailable
from ilvb.sfu.api import (
    MediaPlane,
    RouterEvent,
    RouterEventHandler,
    RouterOptions,
    SendAnswer,
    Source,
    Subscription,
    TapInfo,
    WorkerDied,
)
from ilvb.sfu.channel import Channel
from ilvb.sfu.sdp import (
    SlotSpec,
    build_publisher_answer,
    build_receive_offer,
    parse_publisher_offer,
    parse_receive_answer,
)
from ilvb.sfu.worker import Worker, WorkerConfig

logger = logging.getLogger(__name__)


# A dead worker process is replaced after this delay (its rooms are not: they re-open).
RESPAWN_DELAY_S = 0.5


class WorkerHandle:
    """One worker, in-process or a process: ``call`` a command, route its events."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.routers: dict[str, WorkerRouter] = {}
        self.alive = True
        self.pid: int | None = None
        self.port = 0

    async def start(self, config: WorkerConfig) -> None:
        raise NotImplementedError

    async def call(self, method: str, *args: Any) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def on_router_event(self, room_id: str, event: RouterEvent) -> None:
        router = self.routers.get(room_id)
        if router is not None:
            router.deliver(event)


class LocalWorker(WorkerHandle):
    """A worker on this loop: commands are direct calls."""

    async def start(self, config: WorkerConfig) -> None:
        self.worker = Worker(config, self.on_router_event)
        await self.worker.start()
        self.port = self.worker.port
        self.pid = os.getpid()

    async def call(self, method: str, *args: Any) -> Any:
        if not self.alive:
            raise Unavailable("media_unavailable", "media worker is closed")
        return self.worker.command(method, args)

    async def close(self) -> None:
        self.alive = False
        await self.worker.close()


class ProcessWorker(WorkerHandle):
    """A worker process; its death is noticed when the channel closes."""

    def __init__(self, index: int, on_died: Callable[[WorkerHandle, str], None]) -> None:
        super().__init__(index)
        self._on_died = on_died
        self._proc: asyncio.subprocess.Process | None = None
        self._channel: Channel | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._closing = False

    async def start(self, config: WorkerConfig) -> None:
        parent, child = socket.socketpair()
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ilvb.sfu.worker",
                "--fd",
                str(child.fileno()),
                "--config",
                json.dumps(asdict(config)),
                pass_fds=(child.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            child.close()
        self.pid = self._proc.pid
        reader, writer = await asyncio.open_connection(sock=parent)
        self._channel = Channel(reader, writer, on_event=self._on_event)
        task = self._channel.start()
        task.add_done_callback(lambda _t: self._channel_closed())
        ready = await asyncio.wait_for(self._ready, 30.0)
        self.port = int(ready["port"])

    def _on_event(self, name: str, payload: Any) -> None:
        if name == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(payload)
        elif name == "router_event":
            self.on_router_event(*payload)

    def _channel_closed(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(Unavailable("media_unavailable", "worker failed to start"))
        if self.alive:
            self.alive = False
            if not self._closing:
                self._on_died(self, "channel closed")

    async def call(self, method: str, *args: Any) -> Any:
        if not self.alive or self._channel is None:
            raise Unavailable("media_unavailable", "media worker is gone")
        return await self._channel.request(method, *args)

    async def close(self) -> None:
        self._closing = True
        self.alive = False
        if self._channel is not None:
            await self._channel.close()
        if self._proc is not None and self._proc.returncode is None:
            try:
                await asyncio.wait_for(self._proc.wait(), 5.0)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()

    def kill_for_testing(self) -> None:
        """SIGKILL the worker process (tests of worker death)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()


class WorkerRouter:
    """RouterHandle for one room on one worker: SDP here, media over there."""

    def __init__(self, room_id: str, worker: WorkerHandle, on_event: RouterEventHandler) -> None:
        self.room_id = room_id
        self.worker = worker
        self._on_event = on_event
        self._slots: dict[str, list[SlotSpec]] = {}
        self.closed = False

    def deliver(self, event: RouterEvent) -> None:
        """An event of this router (on the control plane's loop)."""
        try:
            self._on_event(event)
        except Exception:
            logger.exception("router %s: on_event(%s) failed", self.room_id, event)

    async def _call(self, method: str, *args: Any) -> Any:
        if self.closed:
            raise Unavailable("media_unavailable", f"router {self.room_id} is closed")
        return await self.worker.call(method, self.room_id, *args)

    async def negotiate_send(
        self, member_id: str, offer_sdp: str, sources: dict[str, Source]
    ) -> SendAnswer:
        offer = parse_publisher_offer(offer_sdp, dict(sources))
        local, infos = await self._call(
            "negotiate_send", member_id, offer.remote, list(offer.tracks)
        )
        return SendAnswer(build_publisher_answer(offer, local), infos)

    async def offer_receive(self, member_id: str, audio_slots: int, video_slots: int) -> str:
        if (
            not (0 <= audio_slots <= 64 and 0 <= video_slots <= 64)
            or audio_slots + video_slots == 0
        ):
            from ilvb.errors import InvalidArgument

            raise InvalidArgument(message="slot counts must be 0..64, not both 0")
        local, specs = await self._call("offer_receive", member_id, audio_slots, video_slots)
        self._slots[member_id] = list(specs)
        return build_receive_offer(local, list(specs))

    async def restart_receive(self, member_id: str) -> str:
        local, specs = await self._call("restart_receive", member_id)
        self._slots[member_id] = list(specs)
        return build_receive_offer(local, list(specs))

    async def accept_receive_answer(self, member_id: str, answer_sdp: str) -> None:
        specs = self._slots.get(member_id)
        if specs is None:
            from ilvb.errors import InvalidState

            raise InvalidState(message="no receive offer for this member")
        answer = parse_receive_answer(answer_sdp, specs)
        await self._call("accept_receive_answer", member_id, answer.remote, answer.payload_types)

    async def set_source_enabled(self, member_id: str, source: Source, enabled: bool) -> None:
        await self._call("set_source_enabled", member_id, source, enabled)

    async def set_subscription(self, member_id: str, subscription: Subscription) -> None:
        await self._call("set_subscription", member_id, subscription)

    async def set_send_cap(self, member_id: str, max_bps: int | None) -> None:
        await self._call("set_send_cap", member_id, max_bps)

    async def remove_member(self, member_id: str) -> None:
        self._slots.pop(member_id, None)
        if self.closed or not self.worker.alive:
            return
        await self._call("remove_member", member_id)

    async def open_tap(
        self, tap_id: str, member_id: str, source: Source, addr: tuple[str, int]
    ) -> TapInfo:
        info: TapInfo = await self._call("open_tap", tap_id, member_id, source, tuple(addr))
        return info

    async def close_tap(self, tap_id: str) -> None:
        if self.closed or not self.worker.alive:
            return
        await self._call("close_tap", tap_id)

    async def live_taps(self) -> list[str]:
        taps: list[str] = await self._call("live_taps")
        return taps

    async def request_keyframe(self, tap_id: str) -> None:
        await self._call("request_tap_keyframe", tap_id)

    async def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = await self._call("stats")
        out["worker"] = await self.worker.call("worker_stats")
        out["worker_pid"] = self.worker.pid
        return out

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.worker.routers.pop(self.room_id, None)
        if self.worker.alive:
            try:
                await self.worker.call("close_router", self.room_id)
            except Unavailable:
                pass


class WorkerMediaPlane:
    """N workers; rooms placed on the least-loaded one."""

    def __init__(self, settings: MediaSettings) -> None:
        self.settings = settings
        self.workers: list[WorkerHandle] = []
        self._respawns: set[asyncio.Task[None]] = set()
        self._started = False
        self._lock = asyncio.Lock()

    def _config(self, index: int) -> WorkerConfig:
        s = self.settings
        return WorkerConfig(
            bind_ip=s.bind_ip,
            announced_ip=s.announced_ip,
            announced_port=s.announced_port + index if s.announced_port else 0,
            port=s.udp_port + index if s.udp_port else 0,
            keyframe_interval_s=s.keyframe_request_interval_s,
            nack_cache_packets=s.nack_cache_packets,
            fastpath=s.fastpath,
        )

    async def start(self) -> None:
        async with self._lock:
            if self._started:
                return
            self._started = True
            if self.settings.workers == 0:
                handles: list[WorkerHandle] = [LocalWorker(0)]
            else:
                handles = [
                    ProcessWorker(i, self._worker_died) for i in range(self.settings.workers)
                ]
            try:
                await asyncio.gather(*(h.start(self._config(h.index)) for h in handles))
            except BaseException:
                for h in handles:
                    try:
                        await h.close()
                    except Exception:
                        pass
                raise
            self.workers = handles

    async def close(self) -> None:
        self._started = False
        for task in list(self._respawns):
            task.cancel()
        for w in self.workers:
            for router in list(w.routers.values()):
                router.closed = True
            w.routers.clear()
            await w.close()
        self.workers = []
        self._started = False

    async def open_router(
        self, room_id: str, on_event: RouterEventHandler, options: RouterOptions = RouterOptions()
    ) -> WorkerRouter:
        if not self._started:
            await self.start()
        for w in self.workers:
            if room_id in w.routers:
                return w.routers[room_id]
        alive = [w for w in self.workers if w.alive]
        if not alive:
            raise Unavailable("media_unavailable", "no media worker is running")
        worker = min(alive, key=lambda w: len(w.routers))
        await worker.call("open_router", room_id, options)
        router = WorkerRouter(room_id, worker, on_event)
        worker.routers[room_id] = router
        return router

    def _worker_died(self, worker: WorkerHandle, reason: str) -> None:
        logger.error("media worker %s (pid %s) died: %s", worker.index, worker.pid, reason)
        routers = list(worker.routers.values())
        worker.routers.clear()
        for router in routers:  # each room's owner is told once; the handle is dead for good
            router.closed = True
            router.deliver(WorkerDied(reason, worker.pid))
        if self._started:
            task = asyncio.get_running_loop().create_task(self._respawn(worker))
            self._respawns.add(task)
            task.add_done_callback(self._respawns.discard)

    async def _respawn(self, dead: WorkerHandle) -> None:
        """Start a replacement for a dead worker process (same index, same port)."""
        await asyncio.sleep(RESPAWN_DELAY_S)
        if not self._started or dead not in self.workers:
            return
        fresh = ProcessWorker(dead.index, self._worker_died)
        try:
            await fresh.start(self._config(dead.index))
        except asyncio.CancelledError:
            await fresh.close()  # the plane closed while the replacement was starting
            raise
        except Exception:
            logger.exception("media worker %s could not be restarted", dead.index)
            await fresh.close()
            return
        if not self._started or dead not in self.workers:
            await fresh.close()
            return
        self.workers[self.workers.index(dead)] = fresh
        logger.warning("media worker %s restarted (pid %s)", fresh.index, fresh.pid)

    async def stats(self) -> dict[str, Any]:
        """Per-worker counters (:class:`~ilvb.sfu.api.MediaPlaneStats`), each with its
        ``index``; a worker that does not answer is left out."""
        out = []
        for w in self.workers:
            if w.alive:
                try:
                    one = await w.call("worker_stats")
                except Unavailable:
                    continue
                out.append({"index": w.index, **one})
        return {"workers": out, "configured": len(self.workers)}


def create_media_plane(settings: MediaSettings) -> MediaPlane:
    """Build the media plane for these settings (``workers=0``: one worker in this process)."""
    return WorkerMediaPlane(settings)
