"""REST over live rooms for the app's server and admins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from starlette.testclient import TestClient

from ilvb.auth.tickets import sign_server_token
from tests.conftest import AppEnv
from tests.server.peer import Peer


class Rest:
    """A TestClient, an app env and peers."""

    def __init__(self, env: AppEnv, client: TestClient, stack: ExitStack) -> None:
        self.env = env
        self.client = client
        self.stack = stack
        self.base = f"/v1/apps/{env.app_id}/rooms"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env.server_token()}"}

    def get(self, path: str = "", **kw: object):  # type: ignore[no-untyped-def]
        return self.client.get(self.base + path, headers=self.auth(), **kw)  # type: ignore[arg-type]

    def post(self, path: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.post(self.base + path, headers=self.auth(), **kw)  # type: ignore[arg-type]

    def peer(self, user: str, room: str = "r") -> Peer:
        peer = Peer(self.stack.enter_context(self.client.websocket_connect("/ws")), user)
        peer.hello(self.env.ticket(user))
        peer.request("room.enter", {"room": room})
        return peer


@pytest.fixture
def rest(make_app_env: Callable[..., AppEnv]) -> Iterator[Rest]:
    env = make_app_env()
    with TestClient(env.app) as client, ExitStack() as stack:
        yield Rest(env, client, stack)


def test_credentials_are_required(rest: Rest) -> None:
    rest.peer("alice")
    env = rest.env
    no_auth = rest.client.get(rest.base)
    assert no_auth.status_code == 401
    assert no_auth.json()["error"]["code"] == "app_signature_required"
    login_ticket = rest.client.get(
        rest.base, headers={"Authorization": f"Bearer {env.ticket('alice')}"}
    )
    assert login_ticket.json()["error"]["code"] == "app_signature_required"
    forged = sign_server_token(env.app_id, "wrong-secret-0123456789abcdefghijkl")
    bad = rest.client.get(rest.base, headers={"Authorization": f"Bearer {forged}"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "app_signature_required"
    wrong_admin = rest.client.get(rest.base, headers={"X-Admin-Key": "nope"})
    assert wrong_admin.status_code == 401
    assert wrong_admin.json()["error"]["code"] == "admin_key_required"
    admin = rest.client.get(rest.base, headers={"X-Admin-Key": env.admin_key})
    assert admin.status_code == 200 and admin.json()["rooms"][0]["room"] == "r"
    bearer_admin = rest.client.get(rest.base, headers={"Authorization": f"Bearer {env.admin_key}"})
    assert bearer_admin.status_code == 200


def test_another_apps_token_is_refused(rest: Rest) -> None:
    other = rest.client.portal.call(rest.env.store.create_app, "other")  # type: ignore[union-attr]
    token = sign_server_token(other.app_id, other.secret)
    response = rest.client.get(rest.base, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "app_signature_required"
    # Its own rooms are fine (and empty).
    own = rest.client.get(
        f"/v1/apps/{other.app_id}/rooms", headers={"Authorization": f"Bearer {token}"}
    )
    assert own.json() == {"rooms": []}
    unknown = rest.client.get(
        "/v1/apps/app_nope/rooms", headers={"X-Admin-Key": rest.env.admin_key}
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "app_not_found"


def test_room_info_members_paging_and_member_state(rest: Rest) -> None:
    peers = [rest.peer(f"u{i:02}") for i in range(7)]
    peers[3].request("media.publish", {"source": "microphone"})
    info = rest.get("/r").json()
    assert info["member_count"] == 7 and info["audio_senders"] == 1
    assert info["limits"]["audio_senders"] == 6
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = rest.get("/r/members", params=params).json()
        assert page["total"] == 7
        seen += [m["user_id"] for m in page["members"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"u{i:02}" for i in range(7)]
    assert [m["user_id"] for m in rest.get("/r/senders").json()["members"]] == ["u03"]
    assert rest.get("/r/members/u03").json()["sending"]["audio"] is True
    missing = rest.get("/r/members/ghost")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "member_not_found"
    no_room = rest.get("/nope")
    assert no_room.status_code == 404 and no_room.json()["error"]["code"] == "room_not_found"
    bad = rest.get("/r/members", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_argument"
    bad_cursor = rest.get("/r/members", params={"cursor": "abc"})
    assert bad_cursor.status_code == 400


def test_revoking_video_stops_it_and_everyone_sees_the_state(rest: Rest) -> None:
    alice = rest.peer("alice")
    bob = rest.peer("bob")
    alice.request("media.publish", {"source": "camera"})
    response = rest.post("/r/members/alice/permissions", json={"video": False})
    assert response.status_code == 200
    assert response.json()["sending"]["video"] is False
    assert alice.next_event("permissions.changed") == {
        "permissions": {"audio": True, "video": False, "screen": True},
        "by": "server",
    }
    state = bob.next_event("member.state")
    while state["sending"]["video"]:
        state = bob.next_event("member.state")
    assert state["user_id"] == "alice" and state["permissions"]["video"] is False
    assert alice.error("media.publish", {"source": "camera"}).code == "permission_denied"
    assert alice.error("permissions.set", {"video": True}).code == "permission_denied"
    bad = rest.post("/r/members/alice/permissions", json={"video": "no"})
    assert bad.status_code == 400


def test_kick_and_close(rest: Rest) -> None:
    alice = rest.peer("alice")
    bob = rest.peer("bob")
    assert rest.post("/r/members/bob/kick").json() == {}
    assert bob.next_event("room.exited") == {"reason": "kicked"}
    assert alice.next_event("members.exited") == {"user_ids": ["bob"], "reason": "kicked"}
    response = rest.client.delete(rest.base + "/r", headers=rest.auth())
    assert response.status_code == 200
    assert alice.next_event("room.exited") == {"reason": "room_closed"}
    assert rest.get("").json() == {"rooms": []}
    assert alice.error("room.members").code == "not_in_room"


def test_openapi_lists_the_room_endpoints(rest: Rest) -> None:
    spec = rest.client.get("/openapi.json").json()
    paths = spec["paths"]
    assert "/v1/apps/{app_id}/rooms/{room}/members" in paths
    assert "post" in paths["/v1/apps/{app_id}/rooms/{room}/members/{user_id}/permissions"]
