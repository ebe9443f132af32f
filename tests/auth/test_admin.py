"""The admin key: created once, only its hash stored, checked in constant time on requests."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from ilvb.auth.admin import (
    check_admin_key,
    ensure_admin_key,
    hash_admin_key,
    require_admin,
    reset_admin_key,
)
from ilvb.errors import IlvbError
from ilvb.store.memory import MemoryAppStore


async def test_first_call_creates_a_key_and_later_calls_return_none() -> None:
    store = MemoryAppStore()
    key = await ensure_admin_key(store)
    assert key is not None and len(key) >= 40
    stored = await store.get_admin_key_hash()
    assert stored == hash_admin_key(key)
    assert key not in stored  # the key itself is never stored
    assert await ensure_admin_key(store) is None
    assert await store.get_admin_key_hash() == stored


async def test_reset_makes_the_old_key_stop_working() -> None:
    store = MemoryAppStore()
    old = await ensure_admin_key(store)
    new = await reset_admin_key(store)
    stored = await store.get_admin_key_hash()
    assert new != old
    assert check_admin_key(new, stored)
    assert not check_admin_key(old, stored)


@pytest.mark.parametrize("presented", [None, "", "wrong", "x" * 10_000])
def test_check_refuses_missing_wrong_or_huge_keys(presented: str | None) -> None:
    assert not check_admin_key(presented, hash_admin_key("the-key"))


def test_check_refuses_everything_before_a_key_exists() -> None:
    assert not check_admin_key("anything", None)


@pytest.fixture
async def client() -> tuple[httpx.AsyncClient, str]:
    store = MemoryAppStore()
    key = await ensure_admin_key(store)
    assert key is not None
    app = FastAPI()
    app.state.store = store

    @app.exception_handler(IlvbError)
    async def _err(_request: Request, exc: IlvbError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    @app.get("/secret")
    async def secret(_: Annotated[None, Depends(require_admin)]) -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test"), key


async def test_dependency_accepts_bearer_and_header(client: tuple[httpx.AsyncClient, str]) -> None:
    http, key = client
    async with http:
        r = await http.get("/secret", headers={"Authorization": f"Bearer {key}"})
        assert (r.status_code, r.json()) == (200, {"ok": True})
        r = await http.get("/secret", headers={"X-Admin-Key": key})
        assert (r.status_code, r.json()) == (200, {"ok": True})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic abc"},
        {"X-Admin-Key": "wrong"},
        {"Authorization": "Bearer "},
    ],
)
async def test_dependency_refuses_with_admin_key_required(
    client: tuple[httpx.AsyncClient, str], headers: dict[str, str]
) -> None:
    http, _key = client
    async with http:
        r = await http.get("/secret", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "admin_key_required"
