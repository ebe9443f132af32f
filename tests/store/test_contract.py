"""The AppStore contract, run against every implementation (in-memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ilvb.errors import InvalidArgument, NotFound
from ilvb.store.interfaces import AppStore, IdentityProvider, UsageSample
from ilvb.store.memory import MemoryAppStore
from ilvb.store.sql import SqlAppStore
from tests.store.conftest import reset_postgres


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_kind(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """Which store and its database URL (PostgreSQL: the suite's own server, see conftest)."""
    if request.param == "memory":
        return ("memory", None)
    if request.param == "sqlite":
        return ("sql", f"sqlite+aiosqlite:///{tmp_path / 'ilvb.db'}")
    return ("postgresql", request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(store_kind: tuple[str, str | None]) -> AsyncIterator[AppStore]:
    kind, url = store_kind
    s: AppStore
    if url is None:
        s = MemoryAppStore()
    else:
        if kind == "postgresql":
            await reset_postgres(url)
        s = SqlAppStore(url)
    await s.open()
    yield s
    await s.close()


async def test_create_gives_fresh_ids_and_secrets(store: AppStore) -> None:
    a = await store.create_app("one")
    b = await store.create_app("two")
    assert a.app_id != b.app_id
    assert a.secret != b.secret
    assert len(a.secret) >= 40  # 256 bits, URL-safe base64
    assert (a.name, a.enabled, a.audio_sender_cap, a.video_sender_cap) == ("one", True, None, None)
    assert await store.get_app(a.app_id) == a


async def test_list_is_oldest_first(store: AppStore) -> None:
    created = [await store.create_app(f"app{i}") for i in range(5)]
    assert [a.app_id for a in await store.list_apps()] == [a.app_id for a in created]


async def test_unknown_app_is_none_or_app_not_found(store: AppStore) -> None:
    assert await store.get_app("app_nope") is None
    with pytest.raises(NotFound) as err:
        await store.rotate_secret("app_nope")
    assert err.value.code == "app_not_found"
    with pytest.raises(NotFound) as err:
        await store.update_app("app_nope", name="x")
    assert err.value.code == "app_not_found"


async def test_rotate_replaces_only_the_secret(store: AppStore) -> None:
    app = await store.create_app("rot")
    rotated = await store.rotate_secret(app.app_id)
    assert rotated.secret != app.secret
    assert (rotated.app_id, rotated.name, rotated.created_at) == (
        app.app_id,
        app.name,
        app.created_at,
    )
    assert await store.get_app(app.app_id) == rotated


async def test_update_changes_only_given_fields(store: AppStore) -> None:
    app = await store.create_app("before")
    after = await store.update_app(app.app_id, name="after", video_sender_cap=2)
    assert (after.name, after.video_sender_cap, after.audio_sender_cap, after.enabled) == (
        "after",
        2,
        None,
        True,
    )
    after = await store.update_app(app.app_id, enabled=False)
    assert (after.name, after.video_sender_cap, after.enabled) == ("after", 2, False)
    assert after.secret == app.secret
    assert await store.get_app(app.app_id) == after


async def test_admin_key_hash_starts_empty_and_can_be_replaced(store: AppStore) -> None:
    assert await store.get_admin_key_hash() is None
    await store.set_admin_key_hash("sha256:1")
    await store.set_admin_key_hash("sha256:2")
    assert await store.get_admin_key_hash() == "sha256:2"


async def test_usage_samples_are_kept_per_app_and_window(store: AppStore) -> None:
    a = await store.create_app("a")
    b = await store.create_app("b")
    await store.record_usage(a.app_id, 12, 0, timestamp=200.0)
    await store.record_usage(a.app_id, 10, 4, timestamp=100.0)
    await store.record_usage(b.app_id, 99, timestamp=150.0)
    await store.record_usage(a.app_id, 1)
    samples = await store.usage(a.app_id, 100.0, 200.0)
    assert samples == [UsageSample(a.app_id, 100.0, 10, 4)]
    window = await store.usage(a.app_id, 0, time.time() + 1)
    assert [(s.timestamp, s.participants) for s in window][:2] == [(100.0, 10), (200.0, 12)]
    assert len(window) == 3 and window[2].call_participants == 0
    assert [s.participants for s in await store.usage(b.app_id, 0, 1000)] == [99]


async def test_usage_refuses_an_unknown_app_and_negative_counts(store: AppStore) -> None:
    app = await store.create_app("a")
    with pytest.raises(NotFound) as err:
        await store.record_usage("app_missing", 1)
    assert err.value.code == "app_not_found"
    for counts in ((-1, 0), (0, -1)):
        with pytest.raises(InvalidArgument):
            await store.record_usage(app.app_id, *counts)
    assert await store.usage(app.app_id, 0, time.time() + 1) == []


async def test_identity_providers_are_replaced_in_order_and_kept(store: AppStore) -> None:
    app = await store.create_app("idp")
    other = await store.create_app("other")
    assert await store.get_identity_providers(app.app_id) == []
    first = IdentityProvider("https://id.example.com", "client-1")
    second = IdentityProvider(
        "http://127.0.0.1:9000/realm",
        "client-2",
        algorithms=("ES256", "RS256"),
        user_claim="openid",
        role_claim="ilvb_role",
        default_role="speaker",
    )
    assert await store.set_identity_providers(app.app_id, [second, first]) == [second, first]
    assert await store.get_identity_providers(app.app_id) == [second, first]
    assert await store.get_identity_providers(other.app_id) == []
    await store.set_identity_providers(app.app_id, [first])
    assert await store.get_identity_providers(app.app_id) == [first]
    await store.set_identity_providers(app.app_id, [])
    assert await store.get_identity_providers(app.app_id) == []


async def test_identity_providers_refuse_unknown_app_and_repeated_issuer(store: AppStore) -> None:
    app = await store.create_app("idp")
    one = IdentityProvider("https://id.example.com", "client-1")
    await store.set_identity_providers(app.app_id, [one])
    with pytest.raises(NotFound) as err:
        await store.set_identity_providers("app_nope", [one])
    assert err.value.code == "app_not_found"
    with pytest.raises(InvalidArgument) as bad:
        await store.set_identity_providers(
            app.app_id, [one, IdentityProvider("https://id.example.com", "client-2")]
        )
    assert bad.value.code == "invalid_identity_provider"
    assert await store.get_identity_providers(app.app_id) == [one]  # unchanged
