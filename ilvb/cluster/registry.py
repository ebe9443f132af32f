"""The node registry in Redis, and the placement answer "where do I go for (app, room)".

Keys (``<p>`` = ``cluster.key_prefix``, ``ilvb``):

* ``<p>:node:<node_id>`` — JSON ``{"node_id", "region", "url", "rooms", "members", "cpu",
  "at"}``, written every ``heartbeat_s`` with a TTL of ``ttl_s``: a node that stops
  heartbeating (killed, partitioned) disappears from Redis by itself after ``ttl_s``;
* ``<p>:nodes`` — a set of node ids (an index; ids whose node key expired are skipped and
  removed);
* ``<p>:room:<app_id>:<kind>:<room>`` — the id of the node serving that live room, with the
  same TTL, refreshed by the heartbeat while the room lives, deleted when it closes.

:meth:`NodeRegistry.place` answers: the node already serving the room, while it is alive;
else the live node with the lowest load in the client's region; else the lowest load anywhere.
Load = members + 1000 × CPU fraction (a busy CPU outweighs a few hundred idle members). A
room is on one node at a time (no cascade between nodes): two members of one room placed at
the same moment on two nodes before either registered it is possible; the second node's room
write loses (``SET NX``) and the registry then keeps pointing at the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ilvb.config import ClusterSettings
from ilvb.rooms.events import RoomClosed, RoomCreated
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.room import Room

log = logging.getLogger(__name__)
CPU_WEIGHT = 1000.0


@dataclass(frozen=True)
class NodeInfo:
    """One node as registered."""

    node_id: str
    region: str
    url: str
    rooms: int = 0
    members: int = 0
    cpu: float = 0.0  # fraction of the machine, 0..1
    at: float = 0.0

    @property
    def load(self) -> float:
        """What placement minimises."""
        return self.members + CPU_WEIGHT * self.cpu


@dataclass(frozen=True)
class Placement:
    """Where a client goes for a room, and why (``serves_room``, ``region``, ``load``,
    ``single_node``)."""

    node_id: str
    region: str
    url: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """The REST body."""
        return asdict(self)


class NodeRegistry:
    """This node's registration and the cluster view, on ``redis`` (a ``redis.asyncio`` client)."""

    def __init__(
        self,
        settings: ClusterSettings,
        manager: RoomManager,
        redis: Any,
        *,
        node_id: str,
        url: str,
        cpu: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.redis = redis
        self.node_id = node_id
        self.url = url
        self._cpu = cpu
        self._p = settings.key_prefix
        self._task: asyncio.Task[None] | None = None
        self._rooms: set[str] = set()  # room keys this node registered
        self._live: set[Room] = set()  # the rooms live here (from the room events)
        self._writes: set[asyncio.Task[None]] = set()
        manager.observer.on(RoomCreated, self._room_created)

    # -- keys ------------------------------------------------------------------------------

    def _node_key(self, node_id: str) -> str:
        return f"{self._p}:node:{node_id}"

    def _room_key(self, app_id: str, kind: str, room: str) -> str:
        return f"{self._p}:room:{app_id}:{kind}:{room}"

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register now (fails if Redis is unreachable), then heartbeat in the background."""
        await self.heartbeat()
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="cluster:beat")

    async def close(self) -> None:
        """Stop heartbeating and deregister (graceful stop: others stop sending members here)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        with contextlib.suppress(Exception):
            await self.redis.delete(self._node_key(self.node_id))
            await self.redis.srem(f"{self._p}:nodes", self.node_id)
            for key in list(self._rooms):
                await self._delete_if_ours(key)

    def info(self) -> NodeInfo:
        """This node, as it registers."""
        return NodeInfo(
            self.node_id,
            self.settings.region,
            self.url,
            rooms=len(self._live),
            members=sum(len(r) for r in self._live),
            cpu=self._cpu(),
            at=time.time(),
        )

    async def heartbeat(self) -> None:
        """Write this node's record and refresh its rooms' keys (TTL ``ttl_s``)."""
        ttl = self.settings.ttl_s
        pipe = self.redis.pipeline()
        pipe.set(self._node_key(self.node_id), json.dumps(asdict(self.info())), px=int(ttl * 1000))
        pipe.sadd(f"{self._p}:nodes", self.node_id)
        for key in self._rooms:
            pipe.set(key, self.node_id, px=int(ttl * 1000))
        await pipe.execute()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self.heartbeat()
            except Exception as exc:  # Redis away for a moment: try again next beat
                log.warning("cluster: heartbeat failed: %s", exc)

    # -- rooms ------------------------------------------------------------------------------

    def _room_created(self, event: RoomCreated) -> None:
        room = event.room
        self._live.add(room)
        room.observer.on(RoomClosed, self._room_closed)
        self._spawn(self._register_room(room))

    def _room_closed(self, event: RoomClosed) -> None:
        room = event.room
        self._live.discard(room)
        room.observer.off(RoomClosed, self._room_closed)
        key = self._room_key(room.app_id, room.kind, room.key)
        self._rooms.discard(key)
        self._spawn(self._delete_if_ours(key))

    async def _register_room(self, room: Room) -> None:
        key = self._room_key(room.app_id, room.kind, room.key)
        ttl_ms = int(self.settings.ttl_s * 1000)
        if await self.redis.set(key, self.node_id, px=ttl_ms, nx=True):
            self._rooms.add(key)
            return
        owner = await self.redis.get(key)
        owner = owner.decode() if isinstance(owner, bytes) else owner
        if owner == self.node_id or not await self.redis.exists(self._node_key(str(owner))):
            await self.redis.set(key, self.node_id, px=ttl_ms)  # its node is dead: take it
            self._rooms.add(key)
        else:
            log.warning("cluster: room %s is also live on node %s", key, owner)

    async def _delete_if_ours(self, key: str) -> None:
        owner = await self.redis.get(key)
        owner = owner.decode() if isinstance(owner, bytes) else owner
        if owner == self.node_id:
            await self.redis.delete(key)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._writes.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cluster: a room registration failed: %s", task.exception())

    async def idle(self) -> None:
        """Wait for pending room registrations (tests)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    # -- the cluster view ---------------------------------------------------------------------

    async def nodes(self) -> list[NodeInfo]:
        """Every live node (its key not expired), this one included."""
        ids = sorted(
            i.decode() if isinstance(i, bytes) else str(i)
            for i in await self.redis.smembers(f"{self._p}:nodes")
        )
        if not ids:
            return []
        raw = await self.redis.mget([self._node_key(i) for i in ids])
        out = []
        for node_id, value in zip(ids, raw, strict=True):
            if value is None:
                await self.redis.srem(f"{self._p}:nodes", node_id)  # expired: dead
                continue
            out.append(NodeInfo(**json.loads(value)))
        return out

    async def place(self, app_id: str, kind: str, room: str, region: str | None) -> Placement:
        """The node for a member of (app, room) coming from ``region`` (see module docstring)."""
        nodes = {n.node_id: n for n in await self.nodes()}
        owner = await self.redis.get(self._room_key(app_id, kind, room))
        owner = owner.decode() if isinstance(owner, bytes) else owner
        if owner is not None and owner in nodes:
            n = nodes[owner]
            return Placement(n.node_id, n.region, n.url, "serves_room")
        if not nodes:
            me = self.info()
            return Placement(me.node_id, me.region, me.url, "single_node")
        near = [n for n in nodes.values() if region and n.region == region]
        pool, reason = (near, "region") if near else (list(nodes.values()), "load")
        best = min(pool, key=lambda n: (n.load, n.node_id))
        return Placement(best.node_id, best.region, best.url, reason)
