"""Admin REST for apps: the admin key is required, create/list/show/rotate/patch, bad input."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ilvb.auth.admin import ensure_admin_key
from ilvb.auth.tickets import sign_ticket, verify_ticket
from ilvb.config import load_settings
from ilvb.errors import Unauthenticated
from ilvb.server.app import create_app
from ilvb.server.rest_apps import AppDetails, AppPatch, AppSummary
from ilvb.sfu.api import NullMediaPlane
from ilvb.store.interfaces import AppChanges, AppRecord
from ilvb.store.sql import SqlAppStore

ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/apps", {"name": "x"}),
    ("GET", "/v1/apps", None),
    ("GET", "/v1/apps/{app_id}", None),
    ("POST", "/v1/apps/{app_id}/rotate", None),
    ("PATCH", "/v1/apps/{app_id}", {"name": "y"}),
]


class Admin:
    """A TestClient with the admin key and the pre-made test app."""

    def __init__(self, client: TestClient, key: str, app_id: str, secret: str) -> None:
        self.client, self.key, self.app_id, self.secret = client, key, app_id, secret

    def call(self, method: str, path: str, body: Any = None, key: str | None = "default") -> Any:
        headers = {} if key is None else {"X-Admin-Key": self.key if key == "default" else key}
        return self.client.request(
            method, path.format(app_id=self.app_id), json=body, headers=headers
        )


@pytest.fixture
def admin(make_app_env: Callable[..., Any]) -> Iterator[Admin]:
    env = make_app_env()
    with TestClient(env.app) as client:
        yield Admin(client, env.admin_key, env.record.app_id, env.record.secret)


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("key", [None, "wrong-key", ""])
def test_every_endpoint_refuses_without_the_admin_key(
    admin: Admin, method: str, path: str, body: Any, key: str | None
) -> None:
    r = admin.call(method, path, body, key=key)
    assert r.status_code == 401
    assert error_code(r) == "admin_key_required"


def test_a_user_ticket_or_app_token_is_not_an_admin_key(admin: Admin) -> None:
    ticket = sign_ticket(admin.app_id, admin.secret, "mallory")
    r = admin.client.get("/v1/apps", headers={"Authorization": f"Bearer {ticket}"})
    assert (r.status_code, error_code(r)) == (401, "admin_key_required")


def test_the_key_is_checked_before_the_body(admin: Admin) -> None:
    r = admin.client.post("/v1/apps", content=b"{not json", headers={"X-Admin-Key": "nope"})
    assert (r.status_code, error_code(r)) == (401, "admin_key_required")


def test_bearer_form_is_accepted(admin: Admin) -> None:
    r = admin.client.get("/v1/apps", headers={"Authorization": f"Bearer {admin.key}"})
    assert r.status_code == 200


def test_create_list_show(admin: Admin) -> None:
    r = admin.call("POST", "/v1/apps", {"name": "  classroom  "})
    assert r.status_code == 201
    created = r.json()
    assert created["name"] == "classroom"
    assert created["app_id"].startswith("app_") and len(created["secret"]) >= 40
    assert created["created_at"] > 0 and created["enabled"] is True
    # The new secret signs tickets the server accepts.
    claims = verify_ticket(
        sign_ticket(created["app_id"], created["secret"], "u"), created["secret"]
    )
    assert claims.app_id == created["app_id"]

    listed = admin.call("GET", "/v1/apps").json()["apps"]
    assert [a["app_id"] for a in listed] == [admin.app_id, created["app_id"]]
    assert all("secret" not in a for a in listed)

    shown = admin.call("GET", f"/v1/apps/{created['app_id']}").json()
    assert shown == created


def test_rotate_invalidates_tickets_signed_with_the_old_secret(admin: Admin) -> None:
    old_ticket = sign_ticket(admin.app_id, admin.secret, "alice")
    r = admin.call("POST", "/v1/apps/{app_id}/rotate")
    assert r.status_code == 200
    new_secret = r.json()["secret"]
    assert new_secret != admin.secret
    assert admin.call("GET", "/v1/apps/{app_id}").json()["secret"] == new_secret

    with pytest.raises(Unauthenticated) as err:
        verify_ticket(old_ticket, new_secret)
    assert err.value.code == "ticket_bad_signature"
    # And the server itself refuses it on hello, while a new-secret ticket gets in.
    with admin.client.websocket_connect("/ws") as ws:
        ws.send_json({"id": 1, "type": "hello", "data": {"protocol": 1, "ticket": old_ticket}})
        reply = ws.receive_json()
    assert (reply["type"], reply["error"]["code"]) == ("error", "ticket_bad_signature")
    with admin.client.websocket_connect("/ws") as ws:
        ticket = sign_ticket(admin.app_id, new_secret, "alice")
        ws.send_json({"id": 1, "type": "hello", "data": {"protocol": 1, "ticket": ticket}})
        reply = ws.receive_json()
    assert (reply["type"], reply["data"]["user_id"]) == ("response", "alice")


def test_patch_accepts_integral_floats_as_json_schema_does(admin: Admin) -> None:
    r = admin.call("PATCH", "/v1/apps/{app_id}", {"audio_sender_cap": 3.0})
    assert (r.status_code, r.json()["audio_sender_cap"]) == (200, 3)


def test_patch_changes_only_the_given_fields(admin: Admin) -> None:
    r = admin.call("PATCH", "/v1/apps/{app_id}", {"audio_sender_cap": 2, "video_sender_cap": 1})
    assert r.status_code == 200
    body = r.json()
    assert (body["audio_sender_cap"], body["video_sender_cap"], body["enabled"]) == (2, 1, True)
    assert "secret" not in body  # PATCH never changes the secret, so it does not send it
    r = admin.call("PATCH", "/v1/apps/{app_id}", {"name": "renamed"})
    assert (r.json()["name"], r.json()["audio_sender_cap"]) == ("renamed", 2)
    assert admin.call("GET", "/v1/apps/{app_id}").json()["name"] == "renamed"


def test_disabling_an_app_refuses_its_tickets(admin: Admin) -> None:
    assert admin.call("PATCH", "/v1/apps/{app_id}", {"enabled": False}).json()["enabled"] is False
    ticket = sign_ticket(admin.app_id, admin.secret, "alice")
    with admin.client.websocket_connect("/ws") as ws:
        ws.send_json({"id": 1, "type": "hello", "data": {"protocol": 1, "ticket": ticket}})
        reply = ws.receive_json()
    assert reply["error"]["code"] == "ticket_wrong_app"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/apps/app_missing"), ("POST", "/v1/apps/app_missing/rotate")],
)
def test_unknown_app_is_404_app_not_found(admin: Admin, method: str, path: str) -> None:
    r = admin.call(method, path)
    assert (r.status_code, error_code(r)) == (404, "app_not_found")


def test_patch_unknown_app_is_404(admin: Admin) -> None:
    r = admin.call("PATCH", "/v1/apps/app_missing", {"name": "x"})
    assert (r.status_code, error_code(r)) == (404, "app_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 5},
        {"name": None},
        {"name": "x" * 201},
        {"name": "ok", "extra": 1},
        {"name": "invoice\u202egnp.exe"},  # right-to-left override
        {"name": "pay\u200bpal"},  # zero-width space
        {"name": "a\u2066b\u2069"},  # bidi isolate
        {"name": "\ufeffdemo"},  # zero-width no-break space
        {"name": "line\u2028break"},
        ["name"],
        "classroom",
    ],
)
def test_bad_create_bodies_are_400_invalid_argument(admin: Admin, body: Any) -> None:
    before = admin.call("GET", "/v1/apps").json()
    r = admin.call("POST", "/v1/apps", body)
    assert (r.status_code, error_code(r)) == (400, "invalid_argument")
    assert admin.call("GET", "/v1/apps").json() == before  # nothing was created


def test_non_json_body_is_400(admin: Admin) -> None:
    r = admin.client.post(
        "/v1/apps",
        content=b"\xff{name",
        headers={"X-Admin-Key": admin.key, "Content-Type": "application/json"},
    )
    assert (r.status_code, error_code(r)) == (400, "invalid_argument")


@pytest.mark.parametrize(
    "body",
    [
        {"audio_sender_cap": 0},
        {"audio_sender_cap": 65},
        {"video_sender_cap": "3"},
        {"video_sender_cap": 2.5},
        {"video_sender_cap": True},
        {"audio_sender_cap": 1e300},
        {"enabled": "yes"},
        {"name": ""},
        {"name": "de\u200dmo"},  # zero-width joiner
        {"secret": "mine"},
        {"app_id": "app_other"},
    ],
)
def test_bad_patch_bodies_are_400_and_change_nothing(admin: Admin, body: Any) -> None:
    before = admin.call("GET", "/v1/apps/{app_id}").json()
    r = admin.call("PATCH", "/v1/apps/{app_id}", body)
    assert (r.status_code, error_code(r)) == (400, "invalid_argument")
    assert admin.call("GET", "/v1/apps/{app_id}").json() == before


def test_openapi_documents_the_admin_endpoints(admin: Admin) -> None:
    spec = admin.client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/v1/apps"]) >= {"get", "post"}
    assert set(paths["/v1/apps/{app_id}"]) >= {"get", "patch"}
    assert "post" in paths["/v1/apps/{app_id}/rotate"]
    create = paths["/v1/apps"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]
    assert {"201", "400", "401"} <= set(create["responses"])
    assert create.get("security"), "the admin key scheme is declared"


def _sql_app(db: Path) -> tuple[Any, SqlAppStore]:
    settings = load_settings(server={"data_dir": str(db.parent), "port": 0})
    store = SqlAppStore(f"sqlite+aiosqlite:///{db}")
    return create_app(settings, store=store, media=NullMediaPlane()), store


def test_apps_created_over_rest_survive_a_restart_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "ilvb.db"
    # The admin key is created the way `ilvb serve` does it, before the server starts.
    bootstrap = SqlAppStore(f"sqlite+aiosqlite:///{db}")

    async def make_key() -> str | None:
        await bootstrap.open()
        try:
            return await ensure_admin_key(bootstrap)
        finally:
            await bootstrap.close()

    key = asyncio.run(make_key())
    assert key is not None
    headers = {"Authorization": f"Bearer {key}"}
    app, _ = _sql_app(db)
    with TestClient(app) as client:
        created = client.post("/v1/apps", json={"name": "kept"}, headers=headers).json()
        client.post(f"/v1/apps/{created['app_id']}/rotate", headers=headers)
        rotated = client.get(f"/v1/apps/{created['app_id']}", headers=headers).json()
    app, _ = _sql_app(db)
    with TestClient(app) as client:
        again = client.get(f"/v1/apps/{created['app_id']}", headers=headers)
        assert again.status_code == 200
        assert again.json() == rotated
        assert rotated["secret"] != created["secret"]


def test_the_api_models_follow_the_app_record() -> None:
    record = [f.name for f in dataclasses.fields(AppRecord)]
    assert sorted(AppDetails.model_fields) == sorted(record)
    assert sorted(AppSummary.model_fields) == sorted(set(record) - {"secret"})
    assert sorted(AppPatch.model_fields) == sorted(AppChanges.__annotations__)
    app = AppRecord("app_x", "x", "s3cret", 1.5, audio_sender_cap=3)
    assert AppDetails.of(app).model_dump() == dataclasses.asdict(app)
