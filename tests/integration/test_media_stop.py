"""Issue 4, must-show 5: a permission revoke, an exit and a disconnect past the window (short
in the test) each stop forwarding; 50 enter/exit cycles leave no transport, producer or consumer
behind in the SFU."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from ilvb.auth.tickets import sign_server_token
from ilvb.client import Client, SyntheticVideoSource, ToneSource
from tests.integration.harness import LiveServer
from tests.integration.media_checks import VideoLog, record_video, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DISCONNECT_S = 2.0
QUIET_S = 1.5


async def flowing(server: LiveServer, room: str) -> tuple[Client, Client, VideoLog]:
    """A publisher sending video to one viewer, frames already arriving."""
    pub = await server.client("pub")
    sub = await server.client("sub")
    await pub.enter(room)
    await sub.enter(room)
    log = record_video(sub)
    await pub.publish_video(SyntheticVideoSource(marker=3, fps=15))
    await sub.request_views(["pub"])
    await wait_until(lambda: len(log.indices(3)) >= 10, 15, "video flowing")
    return pub, sub, log


async def assert_stops(log: VideoLog, since: float, within_s: float) -> None:
    """No frame arrives at the viewer from ``within_s`` after ``since`` for ``QUIET_S``."""
    await wait_until(lambda: time.monotonic() >= since + within_s, within_s + 1, "stop deadline")
    quiet_from = time.monotonic()
    await asyncio.sleep(QUIET_S)
    late = [t for t, _, _ in log.frames if t >= quiet_from]
    assert not late, f"{len(late)} frames still arrived {within_s:.1f}+ s after the stop"


async def test_permission_revoke_stops_forwarding_within_a_second() -> None:
    async with LiveServer() as server:
        pub, _, log = await flowing(server, "revoke")
        revoked_at = time.monotonic()
        state = await pub.set_permissions(video=False)
        assert state["permissions"]["video"] is False and state["sending"]["video"] is False
        await assert_stops(log, revoked_at, 1.0)
        stats = await server.router_stats("revoke")
        assert stats["producers"] == 0, stats


async def test_exit_stops_forwarding() -> None:
    async with LiveServer() as server:
        pub, _, log = await flowing(server, "leave")
        left_at = time.monotonic()
        await pub.exit()
        await assert_stops(log, left_at, 1.0)
        stats = await server.router_stats("leave")
        assert (stats["producers"], stats["members"]) == (0, 1), stats


async def test_disconnect_past_the_window_stops_forwarding() -> None:
    async with LiveServer(rooms={"disconnect_timeout_s": DISCONNECT_S}) as server:
        pub, sub, log = await flowing(server, "gone")
        exited = sub.events(["members.exited"])
        dropped_at = time.monotonic()
        # The signaling socket dies and is not resumed; pub's media keeps being sent.
        await pub.connection.drop(resume=False)
        event = await exited.next(DISCONNECT_S + 10)
        assert event.data["user_ids"] == ["pub"] and event.data["reason"] == "timeout"
        assert time.monotonic() - dropped_at >= DISCONNECT_S * 0.9
        await assert_stops(log, time.monotonic(), 1.0)
        assert pub.media.send_pc is not None  # the publisher really kept sending


async def test_fifty_enter_exit_cycles_leak_nothing() -> None:
    # 50 cycles (enter, views, publish, exit) in a few seconds are past the default request and
    # room.enter budgets (those stop call-number probing and floods); this test is about leaks,
    # so it gets room in every bucket.
    budget = {
        f"{who}_{what}": value
        for who in ("connection", "user")
        for what, value in (
            ("enter_burst", 1000),
            ("enters_per_s", 1000.0),
            ("request_burst", 10000),
            ("requests_per_s", 10000.0),
        )
    }
    async with LiveServer(signaling=budget) as server:
        host = await server.client("host")
        await host.enter("cycles")
        await host.publish_audio(ToneSource(500, 0.3))
        await host.publish_video(SyntheticVideoSource(marker=1, fps=10))
        baseline = await server.router_stats("cycles")
        (worker_before,) = await server.worker_stats()
        guest = await server.client("guest")
        for i in range(50):
            await guest.enter("cycles")  # negotiates the receive transport
            if i % 10 == 0:
                await guest.request_views(["host"])
            if i % 5 == 0:
                await guest.publish_audio(ToneSource(700, 0.2))
            if i == 0:  # a cycle really allocates SFU objects
                during = await server.router_stats("cycles")
                assert during["members"] == baseline["members"] + 1, during
                assert during["transports"] >= baseline["transports"] + 2, during
                assert during["producers"] == baseline["producers"] + 1, during
            await guest.exit()
        # Removal reaches the router asynchronously: poll until the counts settle (≤ 5 s).
        keys = ("members", "transports", "producers", "consumers")
        deadline = time.monotonic() + 5
        while True:
            after = await server.router_stats("cycles")
            (worker_after,) = await server.worker_stats()
            same = all(after[k] == baseline[k] for k in keys)
            if same and worker_after["transports"] == worker_before["transports"]:
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"leak: before {baseline} / {worker_before}, after {after} / {worker_after}"
                )
            await asyncio.sleep(0.1)


async def test_app_server_revoke_over_rest_stops_forwarding() -> None:
    async with LiveServer() as server:
        pub, _, log = await flowing(server, "rest-revoke")
        told = pub.events(["permissions.changed"])
        base = server.url.replace("ws://", "http://").removesuffix("/ws")
        token = sign_server_token(server.app_id, server.secret)
        revoked_at = time.monotonic()
        async with httpx.AsyncClient(base_url=base) as http:
            reply = await http.post(
                f"/v1/apps/{server.app_id}/rooms/rest-revoke/members/pub/permissions",
                json={"video": False},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert reply.status_code == 200, reply.text
        assert reply.json()["permissions"]["video"] is False
        event = await told.next(5)
        assert event.data["by"] == "server" and event.data["permissions"]["video"] is False
        await assert_stops(log, revoked_at, 1.0)
