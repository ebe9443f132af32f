"""A real ``ilvb serve`` on SQLite SIGKILLed in the middle of delivering: nothing is lost.

48 events are written (4 rooms: 5 members enter and leave) while a slow receiver takes 0.3 s per
delivery, so at the kill most are still pending. After a restart on the same data directory
every event of the outbox reaches the receiver, the events of each room in order; only an
attempt that was in flight at the kill may come twice (the receiver drops a known ``id``). The
REST pull API gives the same events from a cursor, and an app's server token is enough for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from ilvb.auth.tickets import sign_server_token, sign_ticket
from tests.server.serve_process import serve
from tests.webhooks.receiver import ThreadReceiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
ROOMS, USERS = 4, 5
TOTAL = ROOMS * (1 + USERS + USERS + 1)
FAST_RETRY = {
    "ILVB_WEBHOOKS__RETRY_INITIAL_S": "0.05",
    "ILVB_WEBHOOKS__RETRY_MAX_S": "0.3",
}


async def member_session(ws_url: str, app_id: str, secret: str, user: str, room: str,
                         entered: asyncio.Event, leave: asyncio.Event) -> None:  # fmt: skip
    async with websockets.connect(ws_url) as ws:
        ticket = sign_ticket(app_id, secret, user)

        async def request(i: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
            await ws.send(json.dumps({"id": i, "type": kind, "data": data}))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("id") == i:
                    assert frame["type"] == "response", frame
                    return dict(frame["data"])

        await request(1, "hello", {"protocol": 1, "ticket": ticket})
        await request(2, "room.enter", {"room": room})
        entered.set()
        await leave.wait()
        await request(3, "room.exit", {})


async def script(ws_url: str, app_id: str, secret: str) -> None:
    for r in range(ROOMS):
        leave = asyncio.Event()
        tasks, marks = [], []
        for u in range(USERS):  # one after the other: the joins' order is known
            entered = asyncio.Event()
            tasks.append(
                asyncio.create_task(
                    member_session(ws_url, app_id, secret, f"u{u}", f"room{r}", entered, leave)
                )
            )
            await asyncio.wait_for(entered.wait(), 20)
            marks.append(entered)
        leave.set()
        await asyncio.gather(*tasks)


def pull_all(base: str, app_id: str, secret: str) -> list[dict[str, Any]]:
    token = sign_server_token(app_id, secret)
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = httpx.get(
            f"{base}/v1/apps/{app_id}/webhooks/events",
            params={"after": after, "limit": 20},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["events"]
        if not page["events"]:
            return out
        after = page["next"]


def test_sigkill_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    env = {**os.environ, **FAST_RETRY}
    with serve(tmp_path, env=env) as first:
        base = f"http://127.0.0.1:{first.port}"
        admin = {"Authorization": f"Bearer {first.admin_key}"}
        app = httpx.post(f"{base}/v1/apps", json={"name": "hooks"}, headers=admin, timeout=10)
        assert app.status_code == 201, app.text
        app_id, secret = app.json()["app_id"], app.json()["secret"]
        receiver = ThreadReceiver(secret, delay_s=0.3)
        try:
            put = httpx.put(
                f"{base}/v1/apps/{app_id}/webhooks",
                json={"url": receiver.url},
                headers={"Authorization": f"Bearer {sign_server_token(app_id, secret)}"},
                timeout=10,
            )
            assert put.status_code == 200, put.text
            asyncio.run(script(f"ws://127.0.0.1:{first.port}/ws", app_id, secret))
            deadline = time.monotonic() + 20
            while len(pulled := pull_all(base, app_id, secret)) < TOTAL:
                assert time.monotonic() < deadline, f"only {len(pulled)} events in the outbox"
                time.sleep(0.05)
            delivered_before = len(receiver.events())
            os.kill(first.pid, signal.SIGKILL)
            first.server.proc.wait(10)
            assert delivered_before < TOTAL, "the kill came after the last delivery"
            with serve(tmp_path, env=env) as second:
                deadline = time.monotonic() + 60
                while len({e["id"] for e in receiver.events()}) < TOTAL:
                    assert time.monotonic() < deadline, "deliveries did not resume"
                    time.sleep(0.1)
                base2 = f"http://127.0.0.1:{second.port}"
                assert pull_all(base2, app_id, secret) == pulled
            got = receiver.events()
        finally:
            receiver.stop()

    ids = [e["id"] for e in got]
    assert sorted(set(ids)) == [e["id"] for e in pulled], "every event, none invented"
    assert len(ids) - len(set(ids)) <= ROOMS, "only attempts in flight at the kill come twice"
    first_seen: dict[str, list[int]] = {}
    seen: set[int] = set()
    for e in got:
        if e["id"] not in seen:
            seen.add(e["id"])
            first_seen.setdefault(e["data"]["room"], []).append(e["id"])
    assert len(first_seen) == ROOMS
    for room, room_ids in first_seen.items():
        assert room_ids == sorted(room_ids), room
        types = [next(p["type"] for p in pulled if p["id"] == i) for i in room_ids]
        assert types == ["room.started", *["member.joined"] * USERS,
                         *["member.left"] * USERS, "room.ended"], room  # fmt: skip
