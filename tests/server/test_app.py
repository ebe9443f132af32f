"""The app factory: health, static SDK and demo pages, the demo ticket endpoint, error shapes."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from ilvb.auth.tickets import verify_ticket
from ilvb.server.app import STATIC_DIR
from tests.conftest import AppEnv


def test_healthz_and_static_pages(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        for path, name in (
            ("/sdk/ilvb.js", "ilvb.js"),
            ("/demo", "demo.html"),
            ("/precall", "precall.html"),
        ):
            response = client.get(path)
            if (STATIC_DIR / name).is_file():
                assert response.status_code == 200, path
                assert response.content == (STATIC_DIR / name).read_bytes()
            else:
                assert response.status_code == 404, path
        assert client.get("/sdk/missing.js").status_code == 404


def test_demo_ticket_only_when_enabled(make_app_env: Callable[..., AppEnv]) -> None:
    plain = make_app_env()
    with TestClient(plain.app) as client:
        assert client.post("/demo/ticket", json={"user": "a"}).status_code in (404, 405)
    demo = make_app_env(demo=True)
    with TestClient(demo.app) as client:
        body = client.post("/demo/ticket", json={"user": "alice", "room": "r1"}).json()
        assert body["app_id"] == demo.app_id
        claims = verify_ticket(body["ticket"], demo.record.secret, app_id=demo.app_id)
        assert claims.user_id == "alice" and claims.room == "r1"
        bad = client.post("/demo/ticket", json={"user": ""})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_argument"
        garbage = client.post(
            "/demo/ticket", content=b"{", headers={"content-type": "application/json"}
        )
        assert garbage.status_code == 400


def test_lifespan_opens_and_closes_the_media_plane(make_app_env: Callable[..., AppEnv]) -> None:
    events: list[str] = []

    class Recording:
        async def start(self) -> None:
            events.append("start")

        async def close(self) -> None:
            events.append("close")

        async def open_router(self, room_id, on_event, options=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("no media here")

    env = make_app_env(media=Recording())
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        from tests.server.peer import Peer

        peer = Peer(ws)
        peer.hello(env.ticket("a"))
        peer.request("room.enter", {"room": "r"})
        # A media plane that cannot open a router: media requests fail cleanly.
        assert peer.error("transport.recv.open").code == "media_unavailable"
        peer.request("media.publish", {"source": "microphone"})
        assert peer.request("room.members")["total"] == 1
    assert events == ["start", "close"]
