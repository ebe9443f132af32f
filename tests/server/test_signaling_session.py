"""Heartbeats, the disconnect window and resume over real signaling connections."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.conftest import AppEnv
from tests.server.peer import Peer


def test_resume_inside_the_window_is_seamless(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a, "alice")
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        with client.websocket_connect("/ws") as ws_b:
            bob = Peer(ws_b, "bob")
            session = bob.hello(env.ticket("bob"))["session"]
            bob.request("room.enter", {"room": "r"})
            bob.request("media.publish", {"source": "microphone"})
        state = alice.next_event("member.state")
        while state["connected"]:
            state = alice.next_event("member.state")
        assert state["user_id"] == "bob"
        with client.websocket_connect("/ws") as ws_b2:
            bob2 = Peer(ws_b2, "bob")
            hello = bob2.hello(env.ticket("bob"), resume=session)
            assert hello["resumed"] is True
            assert hello["room"] == "r"
            assert hello["me"]["sending"]["audio"] is True
            back = alice.next_event("member.state")
            assert back["user_id"] == "bob" and back["connected"] is True
            alice.sync()
            assert alice.events_named("members.exited") == []
            # The resumed connection works as the member.
            assert bob2.request("room.members")["total"] == 2
            bob2.request("room.exit")
            assert alice.next_event("members.exited") == {"user_ids": ["bob"], "reason": "left"}


def test_member_is_removed_after_the_window(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env(rooms={"disconnect_timeout_s": 0.3})
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a)
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        with client.websocket_connect("/ws") as ws_b:
            bob = Peer(ws_b)
            session = bob.hello(env.ticket("bob"))["session"]
            bob.request("room.enter", {"room": "r"})
        assert alice.next_event("members.exited") == {"user_ids": ["bob"], "reason": "timeout"}
        with client.websocket_connect("/ws") as ws_b2:
            late = Peer(ws_b2).hello(env.ticket("bob"), resume=session)
            assert late["resumed"] is False
            assert "room" not in late


def test_resume_needs_the_same_user(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a)
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        with client.websocket_connect("/ws") as ws_b:
            bob = Peer(ws_b)
            session = bob.hello(env.ticket("bob"))["session"]
            bob.request("room.enter", {"room": "r"})
            with client.websocket_connect("/ws") as ws_m:
                mallory = Peer(ws_m).hello(env.ticket("mallory"), resume=session)
                assert mallory["resumed"] is False
            assert bob.request("room.members")["total"] == 2


def test_resume_while_the_old_connection_is_open_replaces_it(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_old:
        old = Peer(ws_old)
        session = old.hello(env.ticket("bob"))["session"]
        old.request("room.enter", {"room": "r"})
        with client.websocket_connect("/ws") as ws_new:
            new = Peer(ws_new)
            assert new.hello(env.ticket("bob"), resume=session)["resumed"] is True
            with pytest.raises(WebSocketDisconnect) as info:
                while True:
                    old.recv()
            assert info.value.code == 4409
            assert new.request("room.members")["total"] == 1


def test_silent_connection_is_closed_and_enters_the_window(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env(server={"heartbeat_interval_s": 0.5})
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a)
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        with client.websocket_connect("/ws") as ws_b:
            bob = Peer(ws_b)
            bob.hello(env.ticket("bob"))
            bob.request("room.enter", {"room": "r"})
            # alice keeps pinging; bob stays silent and is seen as disconnected.
            deadline = time.monotonic() + 20
            while True:
                alice.sync()
                states = [s for s in alice.events_named("member.state") if s["user_id"] == "bob"]
                if states and states[-1]["connected"] is False:
                    break
                assert time.monotonic() < deadline, "bob was never marked disconnected"
                time.sleep(0.05)
            with pytest.raises(WebSocketDisconnect) as info:
                while True:
                    bob.recv()
            assert info.value.code == 4408
        assert alice.request("member.get", {"user_id": "bob"})["connected"] is False
