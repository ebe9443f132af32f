"""Nodes in one real Redis: registration with a heartbeat and a TTL, and placement by room,
region and load; a node that stops heartbeating is dead after the TTL; a graceful stop leaves
at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from ilvb.cluster.registry import NodeRegistry
from ilvb.config import ClusterSettings, RoomSettings
from ilvb.rooms.manager import RoomManager
from ilvb.sfu.api import NullMediaPlane
from tests.rooms.helpers import APP, claims

pytestmark = pytest.mark.timeout(60)
FAST = {"heartbeat_s": 0.2, "ttl_s": 1.0}


@pytest.fixture
async def make_node(redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    made: list[tuple[NodeRegistry, RoomManager]] = []

    async def make(node_id: str, region: str, cpu: float = 0.0) -> tuple[NodeRegistry, RoomManager]:
        manager = RoomManager(RoomSettings(), NullMediaPlane())
        registry = NodeRegistry(
            ClusterSettings(redis_url=redis_url, region=region, **FAST),
            manager,
            aioredis.from_url(redis_url),
            node_id=node_id,
            url=f"https://{node_id}.example.test",
            cpu=lambda: cpu,
        )
        await registry.start()
        made.append((registry, manager))
        return registry, manager

    yield make
    for registry, manager in made:
        await registry.close()
        await manager.close()
        await registry.redis.aclose()


async def test_placement_by_room_region_and_load_and_a_dead_node(make_node: Any) -> None:
    a, rooms_a = await make_node("a", "eu", cpu=0.5)
    b, rooms_b = await make_node("b", "eu")
    c, _ = await make_node("c", "us")
    assert [n.node_id for n in await a.nodes()] == ["a", "b", "c"]

    # the room lives on b: everyone goes there, whatever their region
    members = [rooms_b.enter(APP, claims(f"u{i}"), "x") for i in range(3)]
    await b.idle()
    await b.heartbeat()
    for region in ("eu", "us", None):
        p = await c.place(APP.app_id, "room", "x", region)
        assert (p.node_id, p.reason, p.url) == ("b", "serves_room", "https://b.example.test")

    # a new room: the region's node with the lowest load (a: 500 for its CPU, b: 3 members)
    assert (await a.place(APP.app_id, "room", "y", "eu")).node_id == "b"
    for m in members:
        rooms_b.exit(m)
    await b.idle()
    rooms_a.enter(APP, claims("v"), "z")
    await a.idle()
    await a.heartbeat()
    await b.heartbeat()
    p = await a.place(APP.app_id, "room", "y", "eu")
    assert (p.node_id, p.reason) == ("b", "region")
    p = await a.place(APP.app_id, "room", "y", "us")
    assert (p.node_id, p.reason, p.region) == ("c", "region", "us")
    # no node in that region: the lowest load anywhere
    p = await a.place(APP.app_id, "room", "y", "ap")
    assert p.reason == "load" and p.node_id in ("b", "c")
    # the closed room x no longer pins anyone to b
    assert (await c.place(APP.app_id, "room", "x", "us")).node_id == "c"

    # c stops heartbeating (as if SIGKILLed): gone after the TTL, not before
    assert c._task is not None
    c._task.cancel()
    stopped = time.monotonic()
    assert "c" in [n.node_id for n in await a.nodes()]
    while "c" in [n.node_id for n in await a.nodes()]:
        assert time.monotonic() - stopped < 5, "a dead node stayed registered"
        await asyncio.sleep(0.05)
    assert time.monotonic() - stopped >= 0.5  # alive until its TTL ran out
    p = await a.place(APP.app_id, "room", "y", "us")
    assert p.reason == "load" and p.node_id == "b"

    # a graceful stop deregisters at once; the room a served is free again
    await a.close()
    assert [n.node_id for n in await b.nodes()] == ["b"]
    assert (await b.place(APP.app_id, "room", "z", "eu")).reason == "region"


async def test_a_room_already_served_elsewhere_is_not_taken_over(make_node: Any) -> None:
    a, rooms_a = await make_node("a", "eu")
    b, rooms_b = await make_node("b", "eu")
    rooms_a.enter(APP, claims("first"), "shared")
    await a.idle()
    rooms_b.enter(APP, claims("second"), "shared")  # placed wrongly (raced): b does not steal
    await b.idle()
    assert (await b.place(APP.app_id, "room", "shared", "eu")).node_id == "a"
