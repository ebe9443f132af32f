"""Media-plane events over real signaling connections: ``transport.closed`` and the
``member.state`` of a stopped sender reach the right clients; a member away gets the notice it
missed right after the ``hello`` response of its resume."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.testclient import TestClient

from ilvb.sfu.api import NullMediaPlane, ProducerClosed, RouterEvent, TransportClosed
from tests.conftest import AppEnv
from tests.server.peer import Peer


def test_transport_closed_reaches_the_member_and_a_resumed_one(
    make_app_env: Callable[..., AppEnv],
) -> None:
    plane = NullMediaPlane()
    env = make_app_env(media=plane)
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:

        def fire(event: RouterEvent) -> None:
            (router,) = plane.routers.values()  # the null plane's for-testing handle
            client.portal.call(router.emit_for_testing, event)  # type: ignore[union-attr]

        alice = Peer(ws_a, "alice")
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        alice.request("media.publish", {"source": "camera"})
        with client.websocket_connect("/ws") as ws_b:
            bob = Peer(ws_b, "bob")
            session = bob.hello(env.ticket("bob"))["session"]
            bob.request("room.enter", {"room": "r"})
        state = alice.next_event("member.state")
        while state["user_id"] != "bob" or state["connected"]:
            state = alice.next_event("member.state")

        # alice's send transport: she is told, and her camera stops for everyone
        fire(ProducerClosed("alice", "camera"))
        fire(TransportClosed("alice", "send", "x1"))
        mine = alice.next_event("member.state")
        assert mine["user_id"] == "alice" and mine["sending"]["video"] is False
        assert alice.next_event("transport.closed") == {"transport": "send", "reason": "x1"}
        # bob is away: his notice waits for his resume
        fire(TransportClosed("bob", "recv", "x2"))
        alice.sync()
        assert alice.events_named("transport.closed") == [{"transport": "send", "reason": "x1"}]

        with client.websocket_connect("/ws") as ws_b2:
            bob2 = Peer(ws_b2, "bob")
            assert bob2.hello(env.ticket("bob"), resume=session)["resumed"] is True
            bob2.sync()
            kinds = [json.loads(f).get("event") or json.loads(f)["type"] for f in bob2.frames]
            assert kinds.index("response") < kinds.index("transport.closed"), kinds
            assert bob2.events_named("transport.closed") == [{"transport": "recv", "reason": "x2"}]
            assert bob2.request("member.get", {"user_id": "alice"})["sending"]["video"] is False
