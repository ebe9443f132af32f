"""GET /v1/apps/{app_id}/usage: buckets, the billing peak, credentials and bad ranges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

T = datetime(2026, 11, 3, 10, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def env_client(make_app_env: Callable[..., Any]) -> Iterator[tuple[Any, TestClient]]:
    env = make_app_env()
    with TestClient(env.app) as client:
        for dt, multi, call in [(0, 2, 0), (30, 5, 0), (60, 1, 4), (3600, 3, 0)]:
            asyncio.run(env.store.record_usage(env.app_id, multi, call, timestamp=T + dt))
        yield env, client


def _get(env: Any, client: TestClient, query: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or env.server_token()}"}
    return client.get(f"/v1/apps/{env.app_id}/usage?{query}", headers=headers)


def test_minutes_hours_and_the_billing_peak(env_client: tuple[Any, TestClient]) -> None:
    env, client = env_client
    q = "from=2026-11-03T10:00:00Z&to=2026-11-03T12:00:00Z"
    minutes = _get(env, client, q + "&step=minute").json()
    assert minutes["points"] == [
        {"t": "2026-11-03T10:00:00Z", "multi": 5, "call": 0},
        {"t": "2026-11-03T10:01:00Z", "multi": 1, "call": 4},
        {"t": "2026-11-03T11:00:00Z", "multi": 3, "call": 0},
    ]
    assert minutes["peak"] == {"value": "5.0", "t": "2026-11-03T10:00:00Z"}
    hours = _get(env, client, q + "&step=hour").json()
    assert hours["points"] == [
        {"t": "2026-11-03T10:00:00Z", "multi": 5, "call": 4},
        {"t": "2026-11-03T11:00:00Z", "multi": 3, "call": 0},
    ]
    day = _get(env, client, "from=2026-11-01&to=2026-11-05&step=day").json()
    assert day["points"] == [{"t": "2026-11-03T00:00:00Z", "multi": 5, "call": 4}]


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday&to=2026-11-04",
        "from=2026-11-01&to=2026-11-02&step=week",
        "to=2026-11-03",
    ],
)
def test_bad_queries_are_invalid_argument(env_client: tuple[Any, TestClient], query: str) -> None:
    env, client = env_client
    r = _get(env, client, query)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_argument"


def test_reversed_and_overlong_ranges(env_client: tuple[Any, TestClient]) -> None:
    env, client = env_client
    reversed_ = _get(env, client, "from=2026-11-04&to=2026-11-03").json()
    assert reversed_["points"] == [] and reversed_["truncated"] is False
    long = _get(env, client, "from=2026-01-01&to=2026-11-03T12:00:00Z&step=minute").json()
    assert long["truncated"] is True and long["from"] == "2026-11-01T12:00:00Z"
    assert len(long["points"]) == 3  # the samples of 3 Nov are inside the newest two days


def test_usage_needs_the_apps_credential(env_client: tuple[Any, TestClient]) -> None:
    env, client = env_client
    r = client.get(f"/v1/apps/{env.app_id}/usage?from=2026-11-03&to=2026-11-04")
    assert r.status_code == 401
    admin = client.get(
        f"/v1/apps/{env.app_id}/usage?from=2026-11-03&to=2026-11-04",
        headers={"X-Admin-Key": env.admin_key},
    )
    assert admin.status_code == 200 and len(admin.json()["points"]) == 3  # minutes by default
