"""``/placement`` over HTTP: alone (no Redis) a node sends clients to itself; in cluster mode it
registers at start, answers from the registry, and deregisters when it stops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import redis

from ilvb.auth.tickets import sign_server_token, sign_ticket


def test_a_single_node_without_redis_sends_clients_to_itself(
    make_server: Callable[..., Any],
) -> None:
    server = make_server()
    ticket = sign_ticket(server.app_id, server.secret, "ann")
    r = httpx.get(
        f"{server.base_url}/placement",
        params={"room": "hall"},
        headers={"Authorization": f"Bearer {ticket}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["reason"] == "single_node"
    assert r.json()["url"] == server.base_url
    assert httpx.get(f"{server.base_url}/placement", params={"room": "hall"}).status_code == 401
    narrow = sign_ticket(server.app_id, server.secret, "ann", room="other")
    r = httpx.get(
        f"{server.base_url}/placement",
        params={"room": "hall"},
        headers={"Authorization": f"Bearer {narrow}"},
        timeout=10,
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "ticket_wrong_room"


def test_a_cluster_node_registers_and_answers_from_redis(
    make_server: Callable[..., Any], redis_url: str
) -> None:
    server = make_server(
        cluster={
            "redis_url": redis_url,
            "node_id": "n1",
            "region": "eu",
            "public_url": "https://n1.example.test",
        }
    )
    probe = redis.Redis.from_url(redis_url)
    try:
        assert probe.exists("ilvb:node:n1")
        assert probe.ttl("ilvb:node:n1") > 0  # it expires unless heartbeated
        token = sign_server_token(server.app_id, server.secret)
        r = httpx.get(
            f"{server.base_url}/v1/apps/{server.app_id}/placement",
            params={"room": "hall", "region": "eu"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "node_id": "n1",
            "region": "eu",
            "url": "https://n1.example.test",
            "reason": "region",
        }
        server.stop()
        assert not probe.exists("ilvb:node:n1")  # a graceful stop deregisters
    finally:
        probe.close()
