"""Signaling over /ws: handshake, rooms, events, media rules, errors (docs/protocol.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from starlette.testclient import TestClient

from ilvb.sfu.api import NullMediaPlane, Subscription
from tests.conftest import AppEnv
from tests.server.peer import Peer


@pytest.fixture
def env(make_app_env: Callable[..., AppEnv]) -> AppEnv:
    return make_app_env()


@pytest.fixture
def client(env: AppEnv) -> Iterator[TestClient]:
    with TestClient(env.app) as c:
        yield c


@pytest.fixture
def peers(env: AppEnv, client: TestClient) -> Iterator[Callable[..., Peer]]:
    """Factory: ``peers("alice", room="r1")`` → a peer that said hello (and entered ``room``)."""
    stack = ExitStack()

    def make(
        user: str, room: str | int | None = None, kind: str = "room", **claims: object
    ) -> Peer:
        peer = Peer(stack.enter_context(client.websocket_connect("/ws")), user)
        peer.hello(env.ticket(user, **claims))
        if room is not None:
            peer.request("room.enter", {"room": room, "kind": kind})
        return peer

    with stack:
        yield make


def test_hello_returns_session_and_heartbeat(env: AppEnv, client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        data = Peer(ws).hello(env.ticket("alice"))
    assert data["protocol"] == 1
    assert data["user_id"] == "alice"
    assert data["app_id"] == env.app_id
    assert data["heartbeat_interval_s"] == env.settings.server.heartbeat_interval_s
    assert data["resumed"] is False
    assert isinstance(data["session"], str) and len(data["session"]) >= 16


def test_requests_before_hello_are_unauthenticated(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        assert peer.error("room.enter", {"room": "r"}).code == "unauthenticated"
        assert peer.error("ping").code == "unauthenticated"


def test_enter_sends_event_then_response_and_others_see_it(peers: Callable[..., Peer]) -> None:
    alice = peers("alice", room="r1")
    bob = peers("bob")
    frame = bob.call("room.enter", {"room": "r1"})
    assert frame["type"] == "response"
    assert frame["data"]["room"] == "r1"
    assert frame["data"]["member_count"] == 2
    assert frame["data"]["audio_slots"] == 6 and frame["data"]["video_slots"] == 4
    assert bob.events_named("room.entered")[0]["me"]["user_id"] == "bob"
    entered = alice.next_event("members.entered")
    assert [m["user_id"] for m in entered["members"]] == ["bob"]


def test_exit_notifies_the_others(peers: Callable[..., Peer]) -> None:
    alice = peers("alice", room="r1")
    bob = peers("bob", room="r1")
    assert bob.request("room.exit") == {}
    assert bob.events_named("room.exited") == [{"reason": "left"}]
    assert alice.next_event("members.exited") == {"user_ids": ["bob"], "reason": "left"}
    assert bob.error("room.exit").code == "not_in_room"


def test_publish_broadcasts_member_state(peers: Callable[..., Peer]) -> None:
    alice = peers("alice", room="r1")
    bob = peers("bob", room="r1")
    assert alice.request("media.publish", {"source": "microphone"}) == {"source": "microphone"}
    state = bob.next_event("member.state")
    assert state["user_id"] == "alice"
    assert state["sending"] == {"audio": True, "video": False, "screen": False}
    senders = bob.request("room.senders")["members"]
    assert [m["user_id"] for m in senders] == ["alice"]
    assert bob.request("member.get", {"user_id": "alice"})["sending"]["audio"] is True


def test_bad_frames_get_errors_and_the_connection_keeps_working(
    env: AppEnv, peers: Callable[..., Peer]
) -> None:
    alice = peers("alice", room="r1")
    cases = [
        ("not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        ('"text"', "invalid_json", None),
        (json.dumps({"id": 5, "type": "no.such"}), "unknown_type", 5),
        (json.dumps({"id": "x", "type": 7}), "invalid_argument", "x"),
        (
            json.dumps({"id": 6, "type": "media.publish", "data": {"source": 3}}),
            "invalid_argument",
            6,
        ),
        (
            json.dumps(
                {"id": 7, "type": "media.mute", "data": {"source": "camera", "muted": "yes"}}
            ),
            "invalid_argument",
            7,
        ),
        (
            json.dumps({"id": 8, "type": "room.members", "data": {"limit": 0}}),
            "invalid_argument",
            8,
        ),
        (json.dumps({"id": 9, "type": "room.members", "data": []}), "invalid_argument", 9),
        (json.dumps({"id": [1], "type": "ping"}), "invalid_argument", None),
    ]
    for text, code, request_id in cases:
        alice.send_raw(text)
        frame = alice.recv()
        while frame["type"] == "event":
            frame = alice.recv()
        assert frame["type"] == "error", text
        assert frame["error"]["code"] == code, text
        assert frame["id"] == request_id, text
    assert "time" in alice.request("ping")
    assert alice.request("room.members")["total"] == 1


def test_oversized_frame_is_refused_and_the_connection_survives(
    env: AppEnv, peers: Callable[..., Peer]
) -> None:
    alice = peers("alice", room="r1")
    limit = env.settings.server.ws_max_message_bytes
    alice.send_raw(json.dumps({"id": 1, "type": "ping", "data": {"pad": "x" * limit}}))
    frame = alice.recv()
    assert frame["type"] == "error" and frame["error"]["code"] == "message_too_large"
    assert "time" in alice.request("ping")


def test_media_plane_is_told_about_subscriptions_and_removal(
    env: AppEnv, peers: Callable[..., Peer], client: TestClient
) -> None:
    alice = peers("alice", room="r1")
    bob = peers("bob", room="r1")
    bob.request("media.publish", {"source": "camera"})
    views = alice.request("view.request", {"user_ids": ["bob"]})["views"]
    assert views == [{"user_id": "bob", "source": "camera", "mid": "v0"}]
    media = env.media
    assert isinstance(media, NullMediaPlane)
    (router,) = media.routers.values()
    client.portal.call(env.app.state.rooms.idle)  # type: ignore[union-attr]
    assert router.subscriptions["alice"] == Subscription(None, (("bob", "camera"),))
    assert router.enabled[("bob", "camera")] is True
    bob.request("room.exit")
    client.portal.call(env.app.state.rooms.idle)  # type: ignore[union-attr]
    assert "bob" in router.removed
    assert router.subscriptions["alice"] == Subscription(None, ())
