"""Media failures recover end to end (real SFU, Python SDKs on loopback).

- A media worker process killed with SIGKILL: the room is re-opened on the replacement worker,
  both SDKs renegotiate on ``transport.closed`` (``media_restarted``) and the subscriber decodes
  the publisher's frames again; the member list is unchanged.
- A publisher's send transport closed by DTLS close_notify: the SFU closes its producers, the
  others see ``sending.video`` false, and the publisher's SDK asks again and re-offers, so the
  video comes back.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from ilvb.client import Client, SyntheticVideoSource
from ilvb.client.events import Event
from tests.integration.harness import LiveServer
from tests.integration.media_checks import VideoLog, record_video, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

MARKER = 5


async def flowing(server: LiveServer, room: str) -> tuple[Client, Client, VideoLog]:
    """A publisher sending video to one viewer, frames already arriving."""
    pub = await server.client("pub")
    sub = await server.client("sub")
    await pub.enter(room)
    await sub.enter(room)
    log = record_video(sub)
    await pub.publish_video(SyntheticVideoSource(marker=MARKER, fps=15))
    await sub.request_views(["pub"])
    await wait_until(lambda: len(log.indices(MARKER)) >= 10, 20, "video flowing")
    return pub, sub, log


def watch(client: Client, name: str) -> list[dict[str, object]]:
    """Collect the data of every ``name`` event of ``client`` from now on."""
    seen: list[dict[str, object]] = []

    def add(event: Event) -> None:
        seen.append(dict(event.data))

    client.on(name, add)
    return seen


async def test_killed_worker_the_room_reopens_and_video_flows_again() -> None:
    async with LiveServer(media={"workers": 1}) as server:
        pub, sub, log = await flowing(server, "phoenix")
        before = [m["user_id"] async for m in sub.members()]
        pid = (await server.router_stats("phoenix"))["worker_pid"]
        # Only ever the worker process this server spawned.
        assert pid != os.getpid() and psutil.Process(pid).ppid() == os.getpid()
        closed = {name: watch(c, "transport.closed") for name, c in (("pub", pub), ("sub", sub))}
        restored = watch(sub, "transport.restored")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()

        await wait_until(
            lambda: (
                len(log.indices(MARKER, since=killed_at)) >= 15
                and bool(restored)
                and log.frames[-1][0] > killed_at
            ),
            30,
            "video decoded again after the worker died",
        )
        recovered_s = time.monotonic() - killed_at
        stats = await server.router_stats("phoenix")
        assert stats["worker_pid"] != pid, "the room is still on the dead worker"
        assert stats["producers"] == 1 and stats["consumers"] >= 1, stats
        assert psutil.pid_exists(stats["worker_pid"])
        for name in ("pub", "sub"):
            assert closed[name] == [{"transport": "both", "reason": "media_restarted"}], name
        after = [m["user_id"] async for m in sub.members()]
        assert after == before == ["pub", "sub"]
        state = await sub.member("pub")
        assert state["sending"]["video"] is True and state["connected"] is True
        # frames after the restart are the publisher's, in order, and readable
        fresh = log.indices(MARKER, since=killed_at + 0.5)
        assert fresh == sorted(fresh) and len(set(fresh)) == len(fresh)
        assert log.unreadable() == 0
        print(f"recovered in {recovered_s:.1f} s, {len(fresh)} frames since")


async def test_closed_send_transport_others_see_the_sender_stop_then_it_republishes() -> None:
    async with LiveServer() as server:
        pub, sub, log = await flowing(server, "dtls")
        states = watch(sub, "member.state")
        closed = watch(pub, "transport.closed")
        assert pub.media.send_pc is not None
        # The publisher's DTLS says close_notify: the SFU closes the send transport.
        await pub.media.send_pc.close()
        closed_at = time.monotonic()
        await wait_until(
            lambda: any(s["user_id"] == "pub" and not s["sending"]["video"] for s in states),
            10,
            "the subscriber sees pub stop sending video",
        )
        assert closed and closed[0]["transport"] == "send"
        assert closed[0]["reason"] == "dtls_closed"
        # The SDK asked for its camera again and re-offered on a new peer connection.
        await wait_until(
            lambda: any(s["user_id"] == "pub" and s["sending"]["video"] for s in states),
            15,
            "pub sending video again",
        )
        await wait_until(
            lambda: len(log.indices(MARKER, since=closed_at + 0.2)) >= 10,
            15,
            "video decoded again after the re-offer",
        )
        stats = await server.router_stats("dtls")
        assert stats["producers"] == 1, stats
