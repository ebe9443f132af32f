"""Client: request shapes, member paging, calls, slot bookkeeping, event iteration."""

from __future__ import annotations

import asyncio

import pytest

from ilvb.client import Client
from ilvb.errors import InvalidArgument, PermissionDenied
from tests.client.fake_server import FakeServer
from tests.client.polling import poll


def member(user_id: str) -> dict:
    return {"user_id": user_id, "sending": {"audio": False, "video": False, "screen": False}}


async def test_members_pages_through_everyone() -> None:
    everyone = [member(f"u{i:03}") for i in range(250)]

    def members(data):
        start = int(data.get("cursor") or 0)
        limit = data["limit"]
        page = everyone[start : start + limit]
        nxt = start + limit if start + limit < len(everyone) else None
        return {"members": page, "next_cursor": nxt and str(nxt), "total": len(everyone)}

    async with FakeServer() as server:
        server.handlers["room.members"] = members
        client = await Client.connect(server.url, "good")
        got = [m["user_id"] async for m in client.members(page_size=100)]
        assert got == [m["user_id"] for m in everyone]
        calls = [r["data"] for r in server.requests if r["type"] == "room.members"]
        assert calls == [
            {"limit": 100},
            {"limit": 100, "cursor": "100"},
            {"limit": 100, "cursor": "200"},
        ]
        await client.close()


async def test_enter_call_returns_the_allocated_number() -> None:
    async with FakeServer() as server:
        server.handlers["room.enter"] = lambda d: {
            "room": 4711 if d["room"] == 0 else d["room"],
            "kind": d["kind"],
            "me": member("alice"),
            "member_count": 1,
            "audio_slots": 6,
            "video_slots": 4,
            **({"call_token": "tok"} if d["room"] == 0 else {}),
        }
        client = await Client.connect(server.url, "good")
        number = await client.enter_call(receive=False, callee="bob")
        assert number == 4711
        assert (client.room, client.kind, client.audio_slots) == (4711, "call", 6)
        assert client.call_token == "tok"
        assert server.requests[-1]["data"] == {"room": 0, "kind": "call", "callee": "bob"}
        server.handlers["room.exit"] = lambda d: {}
        await client.exit()
        assert await client.enter_call(4711, token="tok", receive=False) == 4711
        assert server.requests[-1]["data"] == {"room": 4711, "kind": "call", "token": "tok"}
        await client.close()


async def test_requests_have_protocol_shapes() -> None:
    async with FakeServer() as server:
        for name in (
            "view.request",
            "view.cancel",
            "listen.stop",
            "listen.resume",
            "media.mute",
            "permissions.set",
            "member.get",
            "room.senders",
        ):
            server.handlers[name] = lambda d: {
                "views": [],
                "not_listening": ["bob"],
                "members": [],
                "user_id": "bob",
            }
        client = await Client.connect(server.url, "good")
        await client.request_views(["bob", "carol"])
        await client.cancel_views()
        await client.cancel_views(["bob"])
        assert await client.listen_stop(["bob"]) == ["bob"]
        await client.listen_resume()
        await client.mute("microphone", True)
        await client.set_permissions(video=False)
        assert (await client.member("bob"))["user_id"] == "bob"
        assert await client.senders() == []
        sent = [(r["type"], r.get("data")) for r in server.requests[1:]]
        assert sent == [
            ("view.request", {"user_ids": ["bob", "carol"], "source": "camera"}),
            ("view.cancel", {}),
            ("view.cancel", {"user_ids": ["bob"]}),
            ("listen.stop", {"user_ids": ["bob"]}),
            ("listen.resume", {}),
            ("media.mute", {"source": "microphone", "muted": True}),
            ("permissions.set", {"video": False}),
            ("member.get", {"user_id": "bob"}),
            ("room.senders", {}),
        ]
        await client.close()


async def test_publish_is_refused_before_any_media_is_negotiated() -> None:
    async with FakeServer() as server:

        def refuse(d):
            raise PermissionDenied("permission_denied", "no audio permission")

        server.handlers["media.publish"] = refuse
        client = await Client.connect(server.url, "good")
        from ilvb.client import ToneSource

        with pytest.raises(PermissionDenied):
            await client.publish_audio(ToneSource())
        assert client.media.send_pc is None
        assert not any(r["type"] == "transport.send.offer" for r in server.requests)
        with pytest.raises(InvalidArgument):
            await client.publish("desk", ToneSource())
        await client.close()


async def test_slot_events_update_who_is_in_each_slot() -> None:
    async with FakeServer() as server:
        client = await Client.connect(server.url, "good")
        slots = client.events(["slot"])
        for mid, kind, user_id, source in [
            ("a0", "audio", "bob", "microphone"),
            ("v1", "video", "carol", "camera"),
            ("a0", "audio", None, None),
        ]:
            await server.event(
                "slot", {"mid": mid, "kind": kind, "user_id": user_id, "source": source}
            )
        for _ in range(3):
            await slots.next(5)
        assert client.remote.who() == {"v1": "carol"}
        assert client.remote.who("audio") == {}
        await client.close()


async def test_events_iterator_and_wait_for() -> None:
    async with FakeServer() as server:
        client = await Client.connect(server.url, "good")
        got: list[str] = []
        client.on("members.exited", lambda ev: got.append(ev.data["user_ids"][0]))
        waiter = asyncio.ensure_future(
            client.wait_for("members.exited", lambda ev: ev.data["user_ids"] == ["carol"])
        )
        await asyncio.sleep(0.05)
        await server.event("members.exited", {"user_ids": ["bob"], "reason": "left"})
        await server.event("members.exited", {"user_ids": ["carol"], "reason": "timeout"})
        event = await waiter
        assert event.data["reason"] == "timeout"
        assert got == ["bob", "carol"]
        await client.close()


async def test_room_exited_event_clears_the_room() -> None:
    async with FakeServer() as server:
        server.handlers["room.enter"] = lambda d: {"room": d["room"], "kind": "room", "me": {}}
        client = await Client.connect(server.url, "good")
        await client.enter("r1", receive=False)
        assert client.room == "r1"
        await server.event("room.exited", {"reason": "kicked"})
        await poll(lambda: client.room is None)
        await client.close()


async def test_a_refused_resume_ends_the_room_locally() -> None:
    async with FakeServer() as server:
        server.handlers["room.enter"] = lambda d: {"room": d["room"], "kind": "room", "me": {}}
        client = await Client.connect(server.url, "good")
        await client.enter("r1", receive=False)
        server.accept_resume = False
        server.drop()
        await poll(lambda: client.room is None, 10)
        assert client.connection.closed
        await client.close()
