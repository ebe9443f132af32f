"""Revocation over real signaling: ticket expiry during a session, session.refresh, resume with
a new ticket (room restriction, ceiling), a disabled app and a rotated secret."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.conftest import AppEnv
from tests.server.peer import Peer


def _closed_code(peer: Peer) -> tuple[int, list[dict[str, object]]]:
    """Read until the server closes; the close code and the events seen on the way."""
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            peer.recv()
    return closed.value.code, peer.events


def test_a_2s_ticket_cannot_keep_publishing(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a, "alice")
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        with client.websocket_connect("/ws") as ws_b:
            bob = Peer(ws_b, "bob")
            hello = bob.hello(env.ticket("bob", ttl_s=2))
            assert hello["expires_at"] == pytest.approx(time.time() + 2, abs=1.5)
            bob.request("room.enter", {"room": "r"})
            bob.request("media.publish", {"source": "microphone"})
            started = time.monotonic()
            code, events = _closed_code(bob)
            assert code == 4401
            assert 1.0 < time.monotonic() - started < 4.0
            exited = [e["data"] for e in events if e["event"] == "room.exited"]
            assert exited == [{"reason": "ticket_expired"}]
        left = alice.next_event("members.exited")
        assert left == {"user_ids": ["bob"], "reason": "ticket_expired"}
        assert [m["user_id"] for m in alice.request("room.senders")["members"]] == []
        room = env.app.state.rooms.find(env.app_id, "r")
        assert room is not None and "bob" not in room.members


def test_session_refresh_extends_the_session(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        bob = Peer(ws, "bob")
        bob.hello(env.ticket("bob", ttl_s=2))
        bob.request("room.enter", {"room": "r"})
        refreshed = bob.request("session.refresh", {"ticket": env.ticket("bob", ttl_s=60)})
        assert refreshed["expires_at"] > time.time() + 50
        assert bob.error("session.refresh", {"ticket": env.ticket("mallory")}).code == (
            "invalid_argument"
        )
        assert bob.error("session.refresh", {"ticket": "junk"}).code == "ticket_malformed"
        time.sleep(2.5)
        assert bob.request("room.members")["total"] == 1  # still in, connection open


def _away(client: TestClient, env: AppEnv, **claims: object) -> tuple[Peer, str]:
    """Bob enters room r, publishes his microphone and drops the connection (in the window)."""
    with client.websocket_connect("/ws") as ws:
        bob = Peer(ws, "bob")
        session = bob.hello(env.ticket("bob", **claims))["session"]
        bob.request("room.enter", {"room": "r"})
        bob.request("media.publish", {"source": "microphone"})
    return bob, session


def test_resume_clamps_permissions_to_the_new_ticket(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a, "alice")
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        _bob, session = _away(client, env)
        with client.websocket_connect("/ws") as ws:
            bob = Peer(ws, "bob")
            hello = bob.hello(env.ticket("bob", role="audience"), resume=session)
            assert hello["resumed"] is True
            me = bob.request("member.get", {"user_id": "bob"})
            assert me["role"] == "audience"
            assert me["permissions"] == {"audio": False, "video": False, "screen": False}
            assert me["sending"]["audio"] is False
            assert bob.error("media.publish", {"source": "microphone"}).code == "permission_denied"
            assert bob.error("permissions.set", {"audio": True}).code == "permission_denied"


def test_resume_with_a_ticket_for_another_room_does_not_keep_the_old_room(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a, "alice")
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        _bob, session = _away(client, env)
        with client.websocket_connect("/ws") as ws:
            bob = Peer(ws, "bob")
            hello = bob.hello(env.ticket("bob", room="elsewhere", role="audience"), resume=session)
            assert hello["resumed"] is False and "room" not in hello
            assert bob.next_event("room.exited") == {"reason": "ticket_wrong_room"}
            assert bob.error("room.members").code == "not_in_room"
            assert bob.error("room.enter", {"room": "r"}).code == "ticket_wrong_room"
        assert alice.next_event("members.exited") == {
            "user_ids": ["bob"],
            "reason": "ticket_wrong_room",
        }


@pytest.mark.parametrize("change", ["disable", "rotate"])
def test_disabling_an_app_or_rotating_its_secret_ends_its_sessions(
    make_app_env: Callable[..., AppEnv], change: str
) -> None:
    env = make_app_env(auth={"revalidate_interval_s": 0.2})
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        bob = Peer(ws, "bob")
        bob.hello(env.ticket("bob"))
        bob.request("room.enter", {"room": "r"})
        bob.request("media.publish", {"source": "microphone"})
        if change == "disable":
            changed = client.portal.call(lambda: env.store.update_app(env.app_id, enabled=False))  # type: ignore[union-attr]
        else:
            changed = client.portal.call(lambda: env.store.rotate_secret(env.app_id))  # type: ignore[union-attr]
        assert changed is not None
        started = time.monotonic()
        code, events = _closed_code(bob)
        assert code == 4401 and time.monotonic() - started < 3.0
        assert [e["data"] for e in events if e["event"] == "room.exited"] == [{"reason": "revoked"}]
        assert env.app.state.rooms.find(env.app_id, "r") is None


def test_a_rotation_grace_lets_sessions_move_to_the_new_secret(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env(auth={"revalidate_interval_s": 0.2, "revoke_grace_s": 1.0})
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws_a:
        alice = Peer(ws_a, "alice")
        alice.hello(env.ticket("alice"))
        alice.request("room.enter", {"room": "r"})
        with client.websocket_connect("/ws") as ws_b:
            bob = Peer(ws_b, "bob")
            bob.hello(env.ticket("bob"))
            bob.request("room.enter", {"room": "r"})
            rotated = client.portal.call(lambda: env.store.rotate_secret(env.app_id))  # type: ignore[union-attr]
            env.record = rotated  # tickets from now on are signed with the new secret
            time.sleep(0.5)
            bob.request("session.refresh", {"ticket": env.ticket("bob")})  # within the grace
            code, _events = _closed_code(alice)  # alice did not refresh
            assert code == 4401
            time.sleep(0.5)
            assert bob.request("room.members")["total"] == 1
