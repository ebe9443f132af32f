"""The control plane on a real uvicorn server over real WebSockets."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer
from tests.integration.conftest import AsyncPeer, open_peer, ws_peer


def seen(peer: AsyncPeer) -> tuple[list[str], list[str]]:
    entered = [m["user_id"] for e in peer.events_named("members.entered") for m in e["members"]]
    exited = [u for e in peer.events_named("members.exited") for u in e["user_ids"]]
    return entered, exited


async def test_200_members_each_get_every_enter_and_exit_exactly_once(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(rooms={"event_batch_ms": 20, "event_batch_min_members": 50})
    n = 200
    peers = await asyncio.gather(*(open_peer(server, f"u{i:03}") for i in range(n)))
    # Enter one after the other so the expected order is known.
    for peer in peers:
        await peer.request("room.enter", {"room": "big"})
    leavers = random.Random(3).sample(peers, 30)
    for peer in leavers:
        await peer.request("room.exit")
    stayers = [p for p in peers if p not in leavers]
    order = [p.name for p in peers]
    leave_order = [p.name for p in leavers]

    def expected(peer: AsyncPeer) -> tuple[list[str], list[str]]:
        i = order.index(peer.name)
        return order[i + 1 :], [u for u in leave_order if u != peer.name]

    # Poll until every stayer has all events (batches flush within event_batch_ms).
    for peer in stayers:
        want_in, want_out = expected(peer)
        await peer.wait_for(
            lambda p, a=len(want_in), b=len(want_out): len(seen(p)[0]) >= a and len(seen(p)[1]) >= b
        )
    # A final round trip after the batch window: nothing more may arrive.
    await asyncio.sleep(0.1)
    await asyncio.gather(*(p.request("ping") for p in stayers))
    for peer in stayers:
        want_in, want_out = expected(peer)
        got_in, got_out = seen(peer)
        assert got_in == want_in, peer.name
        assert sorted(got_out) == sorted(want_out), peer.name
        assert len(got_out) == len(set(got_out)), peer.name
    # Batching coalesced events: far fewer frames than events.
    total_events = sum(len(p.events) for p in stayers)
    total_items = sum(len(seen(p)[0]) + len(seen(p)[1]) for p in stayers)
    assert total_events < total_items / 2
    await asyncio.gather(*(p.close() for p in peers))


async def test_abrupt_disconnect_then_resume_on_a_new_socket(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(rooms={"disconnect_timeout_s": 30})
    async with ws_peer(server, "alice") as alice:
        await alice.request("room.enter", {"room": "r"})
        bob = await open_peer(server, "bob")
        session = bob.hello_data["session"]
        await bob.request("room.enter", {"room": "r"})
        await bob.request("media.publish", {"source": "microphone"})
        bob.ws.transport.abort()  # the network goes away: no close handshake
        await alice.wait_for(
            lambda p: any(
                s["user_id"] == "bob" and not s["connected"] for s in p.events_named("member.state")
            )
        )
        async with ws_peer(server, "bob") as probe:  # a plain hello does not resume
            assert probe.hello_data["resumed"] is False
        bob2 = await open_peer(server, "bob", resume=session)
        assert bob2.hello_data["resumed"] is True
        assert bob2.hello_data["me"]["sending"]["audio"] is True
        await alice.wait_for(lambda p: p.events_named("member.state")[-1]["connected"] is True)
        assert alice.events_named("members.exited") == []
        assert (await bob2.request("room.members"))["total"] == 2
        await bob2.close()


async def test_rest_and_healthz_on_a_real_server(live_server: LiveServer) -> None:
    async with ws_peer(live_server, "alice") as alice:
        await alice.request("room.enter", {"room": "math"})
        async with httpx.AsyncClient(base_url=live_server.base_url) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            headers = {"Authorization": f"Bearer {live_server.server_token()}"}
            rooms = (await http.get(f"/v1/apps/{live_server.app_id}/rooms", headers=headers)).json()
            assert [r["room"] for r in rooms["rooms"]] == ["math"]
            kick = await http.post(
                f"/v1/apps/{live_server.app_id}/rooms/math/members/alice/kick", headers=headers
            )
            assert kick.status_code == 200
        await alice.wait_for(lambda p: p.events_named("room.exited") == [{"reason": "kicked"}])
