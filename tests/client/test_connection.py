"""Connection: request/response matching, typed errors, events, heartbeats, resume."""

from __future__ import annotations

import asyncio

import pytest

from ilvb.client.connection import Connection
from ilvb.client.events import Event, EventHub
from ilvb.errors import LimitExceeded, NotFound, Unauthenticated, Unavailable
from tests.client.fake_server import FakeServer
from tests.client.polling import poll


async def test_hello_fills_identity_and_session() -> None:
    async with FakeServer() as server:
        conn = await Connection.open(server.url, "good")
        assert (conn.user_id, conn.app_id, conn.session) == ("alice", "app_1", "sess-1")
        assert server.hellos == [{"protocol": 1, "ticket": "good", "platform": "python"}]
        await conn.close()


async def test_bad_ticket_raises_typed_error() -> None:
    async with FakeServer() as server:
        with pytest.raises(Unauthenticated) as info:
            await Connection.open(server.url, "forged")
        assert info.value.code == "ticket_bad_signature"


async def test_unreachable_server_raises_unavailable() -> None:
    with pytest.raises(Unavailable):
        await Connection.open("ws://127.0.0.1:9/ws", "good")


async def test_responses_are_matched_by_id_even_out_of_order() -> None:
    async with FakeServer() as server:

        async def slow(data):
            await asyncio.sleep(0.3)
            return {"who": "slow", "echo": data}

        async def fast(data):
            return {"who": "fast", "echo": data}

        server.handlers.update({"slow": slow, "fast": fast})
        conn = await Connection.open(server.url, "good")
        slow_reply, fast_reply = await asyncio.gather(
            conn.request("slow", {"n": 1}), conn.request("fast", {"n": 2})
        )
        assert slow_reply == {"who": "slow", "echo": {"n": 1}}
        assert fast_reply == {"who": "fast", "echo": {"n": 2}}
        ids = [r["id"] for r in server.requests]
        assert len(ids) == len(set(ids))
        await conn.close()


async def test_error_replies_are_rebuilt_as_typed_errors() -> None:
    async with FakeServer() as server:

        def publish(data):
            raise LimitExceeded("audio_sender_limit", "6 members already send audio (limit 6)")

        server.handlers["media.publish"] = publish
        conn = await Connection.open(server.url, "good")
        with pytest.raises(LimitExceeded) as info:
            await conn.request("media.publish", {"source": "microphone"})
        assert info.value.code == "audio_sender_limit"
        assert "limit 6" in info.value.message
        with pytest.raises(Exception) as unknown:
            await conn.request("no.such", {})
        assert getattr(unknown.value, "code", None) == "unknown_type"
        await conn.close()


async def test_member_not_found_is_not_found() -> None:
    async with FakeServer() as server:

        def get(data):
            raise NotFound("member_not_found", f"no member {data['user_id']}")

        server.handlers["member.get"] = get
        conn = await Connection.open(server.url, "good")
        with pytest.raises(NotFound, match="no member zed"):
            await conn.request("member.get", {"user_id": "zed"})
        await conn.close()


async def test_events_reach_callbacks_and_iterators_in_order() -> None:
    async with FakeServer() as server:
        hub = EventHub()
        seen: list[Event] = []
        hub.on("members.entered", seen.append)
        stream = hub.iterate()
        only_state = hub.iterate(["member.state"])
        conn = await Connection.open(server.url, "good", hub)
        for i in range(5):
            await server.event("members.entered", {"members": [{"user_id": f"u{i}"}]})
        await server.event("member.state", {"user_id": "u1"})
        got = [await stream.next(5) for _ in range(6)]
        assert [e.name for e in got] == ["members.entered"] * 5 + ["member.state"]
        assert [e.data["members"][0]["user_id"] for e in got[:5]] == [f"u{i}" for i in range(5)]
        assert (await only_state.next(5)).data == {"user_id": "u1"}
        assert only_state.queue.empty()  # a filtered stream holds only what it asked for
        await poll(lambda: len(seen) == 5)
        await conn.close()
        # The iterator ends once the hub closes.
        hub.close()
        rest = [e.name async for e in stream]
        assert rest == ["connection.closed"]


async def test_a_batched_members_state_reaches_the_app_as_one_member_state_each() -> None:
    async with FakeServer() as server:
        hub = EventHub()
        stream = hub.iterate()
        conn = await Connection.open(server.url, "good", hub)
        states = [{"user_id": f"u{i}", "connected": False} for i in range(3)]
        await server.event("members.state", {"members": states})
        await server.event("member.state", {"user_id": "u0", "connected": True})
        got = [await stream.next(5) for _ in range(4)]
        assert [e.name for e in got] == ["member.state"] * 4
        assert [e.data for e in got] == states + [{"user_id": "u0", "connected": True}]
        await conn.close()
        hub.close()


async def test_failing_callback_does_not_stop_others() -> None:
    async with FakeServer() as server:
        hub = EventHub()
        seen: list[str] = []

        def bad(ev: Event) -> None:
            raise RuntimeError("app bug")

        async def good(ev: Event) -> None:
            seen.append(ev.name)

        hub.on("slot", bad)
        hub.on("slot", good)
        conn = await Connection.open(server.url, "good", hub)
        await server.event("slot", {"mid": "a0"})
        await poll(lambda: seen == ["slot"])
        await conn.close()


async def test_heartbeat_pings_at_the_announced_interval() -> None:
    async with FakeServer(heartbeat_interval_s=0.05) as server:
        conn = await Connection.open(server.url, "good")
        await poll(lambda: server.pings() >= 3)
        await conn.close()


async def test_resume_after_a_dropped_socket() -> None:
    async with FakeServer() as server:
        server.handlers["room.members"] = lambda data: {"members": [], "next_cursor": None}
        hub = EventHub()
        stream = hub.iterate(["connection.lost", "connection.resumed"])
        conn = await Connection.open(server.url, "good", hub)
        server.drop()
        assert (await stream.next(5)).name == "connection.lost"
        resumed = await stream.next(10)
        assert resumed.name == "connection.resumed" and resumed.data == {"resumed": True}
        assert server.hellos[-1] == {
            "protocol": 1,
            "ticket": "good",
            "platform": "python",
            "resume": "sess-1",
        }
        assert (await conn.request("room.members", {}))["members"] == []
        await conn.close()


async def test_request_in_flight_at_a_drop_fails_unavailable() -> None:
    async with FakeServer() as server:
        never = asyncio.Event()

        async def hang(data):
            await never.wait()
            return {}

        server.handlers["hang"] = hang
        conn = await Connection.open(server.url, "good")
        pending = asyncio.ensure_future(conn.request("hang", {}))
        await poll(lambda: any(r.get("type") == "hang" for r in server.requests))
        server.drop()
        with pytest.raises(Unavailable) as info:
            await pending
        assert info.value.code == "unavailable"
        never.set()
        await conn.close()


async def test_refused_resume_closes_with_the_error() -> None:
    async with FakeServer() as server:
        hub = EventHub()
        closed = hub.iterate(["connection.closed"])
        conn = await Connection.open(server.url, "good", hub)
        server.accept_resume = False
        server.drop()
        event = await closed.next(10)
        assert isinstance(event.data["error"], Unauthenticated)
        assert conn.closed
        with pytest.raises(Unavailable) as info:
            await conn.request("ping")
        assert info.value.code == "unavailable"


async def test_close_fails_requests_in_flight_and_later_ones_as_unavailable() -> None:
    async with FakeServer() as server:
        never = asyncio.Event()

        async def hang(data):
            await never.wait()
            return {}

        server.handlers["hang"] = hang
        conn = await Connection.open(server.url, "good")
        pending = asyncio.ensure_future(conn.request("hang", {}))
        await poll(lambda: any(r.get("type") == "hang" for r in server.requests))
        await conn.close()
        for attempt in (pending, conn.request("ping")):
            with pytest.raises(Unavailable) as info:
                await attempt
            assert info.value.code == "unavailable"
        never.set()


async def test_drop_without_resume_stays_gone() -> None:
    async with FakeServer() as server:
        conn = await Connection.open(server.url, "good")
        await conn.drop(resume=False)
        await asyncio.sleep(0.3)
        assert len(server.hellos) == 1
        assert conn.closed


async def test_request_without_reply_in_time_fails_with_timeout() -> None:
    async with FakeServer() as server:
        never = asyncio.Event()

        async def hang(data):
            await never.wait()
            return {}

        server.handlers["hang"] = hang
        conn = await Connection.open(server.url, "good")
        with pytest.raises(Unavailable) as info:
            await conn.request("hang", {}, timeout_s=0.2)
        assert info.value.code == "timeout"
        assert not conn.closed  # a time-out is not a lost connection
        assert (await conn.request("ping"))["time"] is not None
        never.set()
        await conn.close()
