"""Webhook REST: the endpoint of an app (set, read, removed, validated), the pull cursor, auth."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.testclient import TestClient

from ilvb.auth.tickets import sign_server_token
from tests.conftest import AppEnv


def test_endpoint_set_read_removed_and_validated(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    auth = {"Authorization": f"Bearer {env.server_token()}"}
    path = f"/v1/apps/{env.app_id}/webhooks"
    with TestClient(env.app) as client:
        assert client.get(path, headers=auth).json() == {"url": None, "enabled": False}
        r = client.put(path, json={"url": "https://hooks.example.test/ilvb"}, headers=auth)
        assert r.status_code == 200, r.text
        assert client.get(path, headers=auth).json() == {
            "url": "https://hooks.example.test/ilvb",
            "enabled": True,
        }
        for bad in ("ftp://x.test/h", "https:///nohost", "not a url"):
            r = client.put(path, json={"url": bad}, headers=auth)
            assert r.status_code == 400, bad
            assert r.json()["error"]["code"] == "invalid_argument"
        assert (
            client.put(path, json={"url": "https://h.test/x", "x": 1}, headers=auth).status_code
            == 400
        )
        assert client.delete(path, headers=auth).status_code == 204
        assert client.get(path, headers=auth).json()["url"] is None
        # the admin key works too; nothing, or another app's token, does not
        admin = {"X-Admin-Key": env.admin_key}
        assert client.get(path, headers=admin).status_code == 200
        assert client.get(path).status_code == 401
        other = sign_server_token("app_other", "x" * 32)
        assert client.get(path, headers={"Authorization": f"Bearer {other}"}).status_code == 401


def test_events_are_pulled_from_a_cursor(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    auth = {"Authorization": f"Bearer {env.server_token()}"}
    path = f"/v1/apps/{env.app_id}/webhooks/events"
    with TestClient(env.app) as client:
        assert client.get(path, headers=auth).json() == {"events": [], "next": 0}
        with client.websocket_connect("/ws") as ws:
            ws.send_json(
                {"id": 1, "type": "hello", "data": {"protocol": 1, "ticket": env.ticket("ann")}}
            )
            while ws.receive_json().get("id") != 1:
                pass
            ws.send_json({"id": 2, "type": "room.enter", "data": {"room": "hall"}})
            while ws.receive_json().get("id") != 2:
                pass
            ws.send_json({"id": 3, "type": "room.exit", "data": {}})
            while ws.receive_json().get("id") != 3:
                pass
        events: list[dict[str, object]] = []
        for _ in range(200):
            events = client.get(path, headers=auth).json()["events"]
            if len(events) == 4:
                break
            time.sleep(0.02)
        assert [e["type"] for e in events] == [
            "room.started", "member.joined", "member.left", "room.ended"
        ]  # fmt: skip
        page = client.get(path, params={"after": events[0]["id"], "limit": 2}, headers=auth).json()
        assert [e["id"] for e in page["events"]] == [events[1]["id"], events[2]["id"]]
        assert page["next"] == events[2]["id"]
        assert client.get(path, params={"limit": 0}, headers=auth).status_code == 400
        assert client.get(path).status_code == 401
