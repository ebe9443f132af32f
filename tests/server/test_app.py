"""The app factory: health, static SDK and demo pages, the demo ticket endpoint, error shapes."""

from __future__ import annotations

import posixpath
import re
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


def test_every_web_sdk_module_the_entry_point_loads_is_served(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client:
        seen: set[str] = set()
        todo = ["ilvb.js"]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            response = client.get(f"/sdk/{name}")
            assert response.status_code == 200, name
            assert "javascript" in response.headers["content-type"], name
            base = posixpath.dirname(name)
            for spec in re.findall(r'(?:from "|new URL\(")(\./[^"]+)"', response.text):
                todo.append(posixpath.normpath(posixpath.join(base, spec)))
        assert {"ilvb/client.js", "ilvb/feed-worklet.js"} <= seen


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


def test_every_reply_carries_the_security_headers(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env(demo=True)
    with TestClient(env.app) as client:
        replies = [
            client.get("/demo"),
            client.get("/precall"),
            client.get("/sdk/ilvb.js"),
            client.get("/healthz"),
            client.get("/docs"),
            client.get("/openapi.json"),
            client.get("/v1/apps"),  # 401
            client.get("/no/such/page"),  # 404
        ]
        for r in replies:
            csp = r.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, r.url
            assert "unsafe-eval" not in csp
            assert r.headers.get("x-frame-options") == "DENY", r.url
            assert r.headers.get("x-content-type-options") == "nosniff", r.url
            assert r.headers.get("referrer-policy") == "no-referrer", r.url


def test_replies_carrying_secrets_are_not_stored(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env(demo=True)
    admin = {"X-Admin-Key": env.admin_key}
    with TestClient(env.app) as client:
        created = client.post("/v1/apps", json={"name": "n"}, headers=admin)
        app_id = created.json()["app_id"]
        for r in (
            created,
            client.get(f"/v1/apps/{app_id}", headers=admin),
            client.post(f"/v1/apps/{app_id}/rotate", headers=admin),
            client.post("/demo/ticket", json={"user": "a"}),
        ):
            assert r.status_code in (200, 201)
            assert r.headers.get("cache-control") == "no-store", r.url


def test_options_lists_every_method_of_the_path(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client:
        r = client.options("/v1/apps")
        assert r.status_code == 204
        assert r.headers["allow"] == "GET, OPTIONS, POST"
        r = client.options(f"/v1/apps/{env.app_id}")
        assert r.headers["allow"] == "GET, OPTIONS, PATCH"
        # A wrong method names them all as well (the router named only the first route's).
        r = client.delete("/v1/apps", headers={"X-Admin-Key": env.admin_key})
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, OPTIONS, POST"
        assert client.options("/no/such/path").status_code == 404


def test_typescript_declarations_are_served_as_text(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    if not (STATIC_DIR / "ilvb.d.ts").is_file():
        return
    with TestClient(env.app) as client:
        r = client.get("/sdk/ilvb.d.ts")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        js = client.get("/sdk/ilvb.js")
        assert js.headers["content-type"].startswith("text/javascript")


def test_api_docs_load_no_third_party_script(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert srcs and all(s.startswith("/docs/") for s in srcs), srcs
        assert "<script>" not in page.text  # no inline script: the CSP allows none
        for src in srcs:
            assert client.get(src).status_code == 200, src
        assert "/openapi.json" in client.get("/docs/init.js").text
        assert client.get("/redoc").status_code == 404
        assert client.get("/openapi.json").json()["paths"]
