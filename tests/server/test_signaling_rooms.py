"""Room rules over the socket: calls, limits, listening, permissions, internal id privacy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
from starlette.testclient import TestClient

from ilvb.sfu.api import NullMediaPlane
from tests.conftest import AppEnv
from tests.server.peer import Peer


class Harness:
    """An app, a TestClient and a peer factory that records every peer."""

    def __init__(self, env: AppEnv, client: TestClient, stack: ExitStack) -> None:
        self.env = env
        self.client = client
        self.stack = stack
        self.peers: list[Peer] = []
        self.rest_bodies: list[str] = []

    def peer(self, user: str, room: str | int | None = None, **claims: object) -> Peer:
        peer = Peer(self.stack.enter_context(self.client.websocket_connect("/ws")), user)
        peer.hello(self.env.ticket(user, **claims))
        if room is not None:
            peer.request("room.enter", {"room": room})
        self.peers.append(peer)
        return peer

    def rest(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.env.server_token()}"}
        url = f"/v1/apps/{self.env.app_id}/rooms{path}"
        response = self.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
        self.rest_bodies.append(response.text)
        return response


@pytest.fixture
def h(make_app_env: Callable[..., AppEnv]) -> Iterator[Harness]:
    env = make_app_env()
    with TestClient(env.app) as client, ExitStack() as stack:
        yield Harness(env, client, stack)


def test_call_room_allocation_third_refused_and_leaving_ends_it(h: Harness) -> None:
    caller = h.peer("caller")
    created = caller.request("room.enter", {"room": 0, "kind": "call"})
    number, token = created["room"], created["call_token"]
    assert isinstance(number, int) and number > 0
    callee = h.peer("callee")
    third = h.peer("third")
    # The number alone does not let anyone in (the same answer as for an unused number).
    assert third.error("room.enter", {"room": number, "kind": "call"}).code == "room_not_found"
    joined = callee.request("room.enter", {"room": number, "kind": "call", "token": token})
    assert joined["room"] == number and "call_token" not in joined
    full = third.error("room.enter", {"room": number, "kind": "call", "token": token})
    assert full.code == "call_full"
    assert caller.next_event("members.entered")["members"][0]["user_id"] == "callee"
    callee.request("room.exit")
    assert caller.next_event("call.ended") == {"reason": "left"}
    assert caller.next_event("room.exited") == {"reason": "call_ended"}
    assert caller.error("room.members").code == "not_in_room"
    assert third.error("room.enter", {"room": number, "kind": "call"}).code == "room_not_found"
    assert h.rest("GET", "").json() == {"rooms": []}


def test_call_fields_are_refused_outside_call_creation(h: Harness) -> None:
    peer = h.peer("p")
    bad = [
        {"room": "r", "callee": "bob"},
        {"room": "r", "token": "t"},
        {"room": 5, "kind": "call", "callee": "bob"},
    ]
    for data in bad:
        assert peer.error("room.enter", data).code == "invalid_argument"


def test_sender_caps_over_the_socket(h: Harness) -> None:
    peers = [h.peer(f"u{i}", room="r") for i in range(7)]
    for peer in peers[:6]:
        peer.request("media.publish", {"source": "microphone"})
    error = peers[6].error("media.publish", {"source": "microphone"})
    assert error.code == "audio_sender_limit"
    assert "limit 6" in error.message
    for peer in peers[:4]:
        peer.request("media.publish", {"source": "camera"})
    assert peers[4].error("media.publish", {"source": "camera"}).code == "video_sender_limit"


def test_views_and_listening_over_the_socket(h: Harness) -> None:
    me = h.peer("me", room="r")
    others = [h.peer(f"o{i}", room="r") for i in range(5)]
    ids = [o.name for o in others]
    assert len(me.request("view.request", {"user_ids": ids[:4]})["views"]) == 4
    assert me.error("view.request", {"user_ids": [ids[4]]}).code == "view_limit"
    assert me.request("view.cancel", {"user_ids": [ids[0]]})["views"][0]["user_id"] == ids[1]
    me.request("media.publish", {"source": "camera"})
    assert me.error("view.request", {"user_ids": [ids[0]]}).code == "view_limit"
    assert me.request("view.cancel")["views"] == []
    assert me.request("listen.stop", {"user_ids": [ids[0], ids[1]]}) == {
        "not_listening": [ids[0], ids[1]]
    }
    assert me.request("listen.resume", {"user_ids": [ids[0]]}) == {"not_listening": [ids[1]]}
    media = h.env.media
    assert isinstance(media, NullMediaPlane)
    h.client.portal.call(h.env.app.state.rooms.idle)  # type: ignore[union-attr]
    (router,) = media.routers.values()
    assert router.subscriptions["me"].audio_from == frozenset()
    assert not any(uid in router.subscriptions for uid in ids)


def test_permissions_set_by_the_member(h: Harness) -> None:
    me = h.peer("me", room="r", screen=False)
    other = h.peer("other", room="r")
    me.request("media.publish", {"source": "microphone"})
    state = me.request("permissions.set", {"audio": False})
    assert state["permissions"]["audio"] is False and state["sending"]["audio"] is False
    assert me.next_event("permissions.changed")["by"] == "self"
    seen = other.next_event("member.state")
    while seen["permissions"]["audio"]:
        seen = other.next_event("member.state")
    assert seen["sending"]["audio"] is False
    assert me.error("permissions.set", {"screen": True}).code == "permission_denied"
    assert me.request("permissions.set", {"audio": True})["permissions"]["audio"] is True


def test_media_negotiation_is_refused_without_a_grant_and_passes_through(h: Harness) -> None:
    me = h.peer("me", room="r")
    offer = {"sdp": "v=0\r\n", "sources": {"0": "camera"}}
    assert me.error("transport.send.offer", offer).code == "permission_denied"
    me.request("media.publish", {"source": "camera"})
    # The null media plane cannot negotiate: its error reaches the client as is.
    assert me.error("transport.send.offer", offer).code == "media_unavailable"
    assert me.error("transport.recv.open").code == "media_unavailable"
    assert me.error("transport.recv.answer", {"sdp": "v=0\r\n"}).code == "media_unavailable"


def test_internal_room_ids_never_reach_a_client(h: Harness) -> None:
    a = h.peer("a", room="r")
    b = h.peer("b", room="r")
    a.request("media.publish", {"source": "camera"})
    b.request("view.request", {"user_ids": ["a"]})
    b.request("room.members")
    b.request("member.get", {"user_id": "a"})
    b.request("room.senders")
    h.rest("GET", "")
    h.rest("GET", "/r")
    h.rest("GET", "/r/members")
    h.rest("POST", "/r/members/a/permissions", json={"video": False})
    b.request("room.exit")
    a.request("room.exit")
    a.request("room.enter", {"room": "r"})  # a second incarnation
    caller = h.peer("caller")
    number = caller.request("room.enter", {"room": 0, "kind": "call", "callee": "callee"})["room"]
    callee = h.peer("callee")
    callee.request("room.enter", {"room": number, "kind": "call"})
    callee.request("room.exit")
    for peer in h.peers:
        peer.sync()
    media = h.env.media
    assert isinstance(media, NullMediaPlane)
    internal_ids = list(media.routers)
    assert len(internal_ids) == 3
    everything = [f for p in h.peers for f in p.frames] + h.rest_bodies
    assert len(everything) > 40
    for internal_id in internal_ids:
        assert not any(internal_id in text for text in everything), internal_id
    assert not any("rm_" in text for text in everything)


def test_kick_with_ban_keeps_the_member_out_until_the_ban_ends(h: Harness) -> None:
    h.peer("alice", room="r")
    bob = h.peer("bob", room="r")
    assert h.rest("POST", "/r/members/bob/kick", json={"ban_s": 600}).status_code == 200
    assert bob.next_event("room.exited") == {"reason": "kicked"}
    refused = bob.error("room.enter", {"room": "r"})
    assert refused.code == "banned"
    assert 590 < refused.details["retry_after_s"] <= 600
    # The ban outlives the room's incarnation and is per room and per user.
    h.rest("DELETE", "/r")
    assert bob.error("room.enter", {"room": "r"}).code == "banned"
    bob.request("room.enter", {"room": "other"})
    bob.request("room.exit")
    h.peer("carol", room="r")
    for bad in ({"ban_s": -1}, {"ban_s": "600"}, {"ban_s": 10**9}, {"ban": 5}):
        assert h.rest("POST", "/r/members/carol/kick", json=bad).status_code == 400
    assert h.rest("DELETE", "/r/bans/bob").status_code == 200
    assert h.rest("DELETE", "/r/bans/bob").status_code == 404
    assert bob.request("room.enter", {"room": "r"})["room"] == "r"


def test_a_kick_without_ban_lets_the_member_back_in(h: Harness) -> None:
    h.peer("alice", room="r")
    bob = h.peer("bob", room="r")
    assert h.rest("POST", "/r/members/bob/kick").status_code == 200
    assert bob.next_event("room.exited") == {"reason": "kicked"}
    assert bob.request("room.enter", {"room": "r"})["room"] == "r"
