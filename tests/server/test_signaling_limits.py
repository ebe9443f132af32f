"""Request rate limits over the socket: the call-number probe, shared user budgets, ids."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ilvb.config import SignalingSettings
from ilvb.errors import LimitExceeded
from ilvb.server.ratelimit import TokenBucket, take
from tests.conftest import AppEnv
from tests.server.peer import Peer

DEFAULTS = SignalingSettings()


def test_the_call_number_probe_is_rate_limited_after_the_documented_budget(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        prober = Peer(ws, "prober")
        prober.hello(env.ticket("prober"))
        codes = []
        for number in range(100_000, 100_000 + 3 * DEFAULTS.connection_enter_burst):
            frame = prober.call("room.enter", {"room": number, "kind": "call"})
            codes.append(frame["error"]["code"])
            if frame["error"]["code"] == "rate_limited":
                limited = frame
                break
        burst = DEFAULTS.connection_enter_burst
        assert codes == ["room_not_found"] * burst + ["rate_limited"]
        assert limited["id"] is not None
        assert (
            0 < limited["error"]["details"]["retry_after_s"] <= 1 / DEFAULTS.connection_enters_per_s
        )
        # Other requests still go through; enters come back at the documented rate.
        assert "time" in prober.request("ping")
        time.sleep(1.05 / DEFAULTS.connection_enters_per_s)
        again = prober.call("room.enter", {"room": 100_000, "kind": "call"})
        assert again["error"]["code"] == "room_not_found"


def test_a_users_connections_share_one_budget(make_app_env: Callable[..., AppEnv]) -> None:
    # Slow refills keep the counts exact on a loaded machine.
    env = make_app_env(signaling={"user_enters_per_s": 0.01, "connection_enters_per_s": 0.01})
    per_conn = DEFAULTS.connection_enter_burst
    with TestClient(env.app) as client:
        codes: list[str] = []
        for _ in range(DEFAULTS.user_enter_burst // per_conn + 1):
            with client.websocket_connect("/ws") as ws:
                peer = Peer(ws, "mallory")
                peer.hello(env.ticket("mallory"))
                for number in range(per_conn):
                    codes.append(peer.call("room.enter", {"room": number + 1, "kind": "call"})[
                        "error"]["code"])  # fmt: skip
        assert codes.count("room_not_found") == DEFAULTS.user_enter_burst
        assert codes[DEFAULTS.user_enter_burst] == "rate_limited"
        # Another user of the same app has its own budget.
        with client.websocket_connect("/ws") as ws:
            other = Peer(ws, "alice")
            other.hello(env.ticket("alice"))
            assert other.call("room.enter", {"room": 1, "kind": "call"})["error"]["code"] == (
                "room_not_found"
            )


def test_a_request_flood_is_refused_then_cut_with_4429(make_app_env: Callable[..., AppEnv]) -> None:
    # A slow refill keeps the count exact on a loaded machine.
    env = make_app_env(signaling={"max_refused_in_a_row": 50, "connection_requests_per_s": 0.01})
    burst = DEFAULTS.connection_request_burst
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        peer = Peer(ws, "flood")
        peer.hello(env.ticket("flood"))
        for i in range(burst + 60):
            ws.send_text(json.dumps({"id": i, "type": "ping"}))
        codes = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                frame = peer.recv()
                codes.append(frame.get("error", {}).get("code", "ok"))
        assert closed.value.code == 4429
        # hello took one token: burst - 1 pings answered, then 50 refusals and the cut.
        assert codes[: burst - 1] == ["ok"] * (burst - 1)
        assert codes[burst - 1 :] == ["rate_limited"] * 50


def test_token_bucket_refills_at_its_rate_and_refuses_without_charging() -> None:
    a, b = TokenBucket(2.0, 3, now=0.0), TokenBucket(100.0, 1, now=0.0)
    take([a, b], 0.0, "x")
    with pytest.raises(LimitExceeded) as info:
        take([a, b], 0.0, "x")  # b is empty: a is not charged
    assert info.value.code == "rate_limited"
    assert a.tokens == 2.0
    take([a, b], 0.01, "x")
    take([a], 0.01, "x")
    with pytest.raises(LimitExceeded):
        take([a], 0.01, "x")
    take([a], 0.52, "x")  # 2 per second: one more after half a second


@pytest.mark.parametrize("bad_id", [2**53, -(2**53), 2**70, "x" * 65, 1.5, True])
def test_a_request_id_outside_the_documented_range_is_refused_not_executed(
    make_app_env: Callable[..., AppEnv], bad_id: object
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        peer = Peer(ws, "p")
        peer.hello(env.ticket("p"))
        ws.send_text(json.dumps({"id": bad_id, "type": "room.enter", "data": {"room": "r"}}))
        frame = peer.recv()
        assert frame["type"] == "error" and frame["id"] is None
        assert frame["error"]["code"] == "invalid_argument"
        assert frame["error"]["message"].startswith("id")
        assert peer.request("ping")  # the connection goes on
        assert peer.error("room.members").code == "not_in_room"  # the enter did not happen
        assert peer.call("ping")["id"] is not None


def test_an_over_long_ticket_in_hello_closes_the_connection(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        peer = Peer(ws, "p")
        frame = peer.call("hello", {"protocol": 1, "ticket": "a" * 9000})
        assert frame["error"]["code"] == "ticket_malformed"
        with pytest.raises(WebSocketDisconnect) as closed:
            peer.recv()
        assert closed.value.code == 4401
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        peer = Peer(ws, "p")
        frame = peer.call("hello", {"protocol": 1, "ticket": env.ticket("p"), "resume": 5})
        assert frame["error"]["code"] == "invalid_argument"
        with pytest.raises(WebSocketDisconnect) as closed:
            peer.recv()
        assert closed.value.code == 4400
