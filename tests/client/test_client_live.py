"""The SDK against the real control plane (create_app, no media plane): protocol conformance."""

from __future__ import annotations

import asyncio
import time

import pytest

from ilvb.client import Client
from ilvb.errors import InvalidArgument, InvalidState, NotFound, Unauthenticated, Unavailable
from ilvb.sfu.api import NullMediaPlane
from tests.integration.harness import LiveServer


async def test_enter_members_and_events_against_the_real_server() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        seen = alice.events(["members.entered", "members.exited"])
        reply = await alice.enter("r1", receive=False)
        assert reply["me"]["user_id"] == "alice" and reply["audio_slots"] == 6
        await bob.enter("r1", receive=False)
        entered = await seen.next(5)
        assert [m["user_id"] for m in entered.data["members"]] == ["bob"]
        assert [m["user_id"] async for m in alice.members(page_size=1)] == ["alice", "bob"]
        assert (await alice.member("bob"))["connected"] is True
        with pytest.raises(NotFound):
            await alice.member("nobody")
        with pytest.raises(InvalidState) as info:
            await alice.enter("r2", receive=False)
        assert info.value.code == "already_in_room"
        await bob.exit()
        exited = await seen.next(5)
        assert exited.data["user_ids"] == ["bob"] and exited.data["reason"] == "left"


async def test_two_person_call_number_is_allocated() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        number = await alice.enter_call(receive=False)
        assert number > 0
        assert await bob.enter_call(number, token=alice.call_token, receive=False) == number
        ended = bob.events(["call.ended", "room.exited"])
        await alice.exit()
        assert (await ended.next(5)).name == "call.ended"
        assert (await ended.next(5)).name == "room.exited"


async def test_bad_ticket_and_missing_media_are_typed_errors() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        with pytest.raises(Unauthenticated) as info:
            await Client.connect(server.url, server.ticket("eve")[:-4] + "AAAA")
        assert info.value.code == "ticket_bad_signature"
        alice = await server.client("alice")
        await alice.enter("r1", receive=False)
        with pytest.raises(Unavailable) as media:
            await alice.media.open_receive()
        assert media.value.code == "media_unavailable"
        assert alice.media.recv_pc is None


async def test_resume_keeps_the_member_in_its_room() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        await alice.enter("r1", receive=False)
        await bob.enter("r1", receive=False)
        watch = bob.events(["members.exited", "member.state"])
        back = alice.events(["connection.resumed"])
        await alice.connection.drop(resume=True)
        resumed = await back.next(15)
        assert resumed.data == {"resumed": True}
        assert [m["user_id"] async for m in alice.members()] == ["alice", "bob"]
        # bob never saw alice exit (at most connected false → true state changes).
        while not watch.queue.empty():
            assert (await watch.next(1)).name == "member.state"


async def test_close_leaves_the_room_at_once() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        await alice.enter("r1", receive=False)
        await bob.enter("r1", receive=False)
        seen = alice.events(["members.exited"])
        await bob.close()
        event = await seen.next(5)
        assert event.data == {"user_ids": ["bob"], "reason": "left"}


async def test_enter_on_a_server_without_media_reports_an_error_event() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        alice = await server.client("alice")
        errors = alice.events(["error"])
        reply = await alice.enter("r1")
        assert reply["room"] == "r1" and alice.room == "r1"
        event = await errors.next(5)
        assert isinstance(event.data["error"], Unavailable)
        assert event.data["error"].code == "media_unavailable"


async def test_heartbeats_keep_a_quiet_member_connected() -> None:
    # The server drops a connection silent for 3 intervals; 0.2 s intervals make that 0.6 s.
    async with LiveServer(
        media_plane=NullMediaPlane(),
        server={"heartbeat_interval_s": 0.2},
        rooms={"disconnect_timeout_s": 1.0},
    ) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        assert alice.connection.heartbeat_interval_s == 0.2
        await alice.enter("r1", receive=False)
        await bob.enter("r1", receive=False)
        changes = alice.events(["members.exited", "member.state"])
        await asyncio.sleep(2.5)  # bob sends nothing but heartbeats
        assert changes.queue.empty(), changes.queue
        assert (await alice.member("bob"))["connected"] is True


async def test_refresh_gives_the_session_a_new_ticket() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        alice = await server.client("alice")
        fresh = server.ticket("alice", ttl_s=600)
        expires = await alice.refresh(fresh)
        assert expires > time.time() + 500
        assert alice.connection.ticket == fresh  # what a reconnect will present
        with pytest.raises(InvalidArgument) as info:
            await alice.refresh(server.ticket("bob"))
        assert info.value.code == "invalid_argument"
