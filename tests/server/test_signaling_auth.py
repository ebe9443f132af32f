"""Tickets on the signaling socket: refused with their code, then the socket closes (4401)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ilvb.auth.tickets import sign_ticket
from tests.conftest import AppEnv
from tests.server.peer import Peer


def refused(client: TestClient, ticket: str, protocol: int = 1) -> tuple[str, int]:
    """Send hello; return (error code, close code)."""
    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        frame = peer.call("hello", {"protocol": protocol, "ticket": ticket})
        assert frame["type"] == "error"
        with pytest.raises(WebSocketDisconnect) as info:
            peer.recv()
        return frame["error"]["code"], info.value.code


def test_bad_tickets_are_refused_with_distinct_codes(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    app = env.record
    with TestClient(env.app) as client:
        expired = sign_ticket(app.app_id, app.secret, "u", ttl_s=5, now=time.time() - 60)
        forged = sign_ticket(app.app_id, "not-the-secret-0123456789abcdefghij", "u")
        other_app = sign_ticket("app_unknown", app.secret, "u")
        assert refused(client, expired) == ("ticket_expired", 4401)
        assert refused(client, forged) == ("ticket_bad_signature", 4401)
        assert refused(client, other_app) == ("ticket_wrong_app", 4401)
        assert refused(client, "nonsense") == ("ticket_malformed", 4401)
        assert refused(client, env.ticket("u"), protocol=2) == ("unsupported_protocol", 4400)


def test_room_restricted_ticket(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.hello(env.ticket("alice", room="math"))
        assert peer.error("room.enter", {"room": "music"}).code == "ticket_wrong_room"
        assert peer.request("room.enter", {"room": "math"})["room"] == "math"


def test_audience_ticket_may_not_publish_nor_grant_itself(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.hello(env.ticket("viewer", role="audience"))
        me = peer.request("room.enter", {"room": "r"})["me"]
        assert me["role"] == "audience"
        assert me["permissions"] == {"audio": False, "video": False, "screen": False}
        assert peer.error("media.publish", {"source": "camera"}).code == "permission_denied"
        assert peer.error("permissions.set", {"video": True}).code == "permission_denied"


def test_second_hello_is_refused_without_closing(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.hello(env.ticket("alice"))
        assert peer.error("hello", {"protocol": 1, "ticket": "x"}).code == "invalid_state"
        assert "time" in peer.request("ping")
