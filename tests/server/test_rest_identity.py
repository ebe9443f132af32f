"""GET/PUT /v1/apps/{app_id}/identity-providers: stored per app, validated, credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

GOOD = {
    "issuer": "https://id.example.com",
    "audience": "client-1",
    "algorithms": ["RS256", "ES256"],
    "role_claim": "ilvb_role",
}


@pytest.fixture
def env_client(make_app_env: Callable[..., Any]) -> Iterator[tuple[Any, TestClient]]:
    env = make_app_env()
    with TestClient(env.app) as client:
        yield env, client


def _url(env: Any) -> str:
    return f"/v1/apps/{env.app_id}/identity-providers"


def test_put_replaces_and_get_reads_back_with_defaults(env_client: tuple[Any, TestClient]) -> None:
    env, client = env_client
    auth = {"Authorization": f"Bearer {env.server_token()}"}
    assert client.get(_url(env), headers=auth).json() == {"providers": []}
    second = {"issuer": "http://127.0.0.1:9000", "audience": "c2"}
    r = client.put(_url(env), headers=auth, json={"providers": [GOOD, second]})
    assert r.status_code == 200
    expected = [
        {**GOOD, "user_claim": "sub", "default_role": "audience"},
        {
            **second,
            "algorithms": ["RS256"],
            "user_claim": "sub",
            "role_claim": None,
            "default_role": "audience",
        },
    ]
    assert r.json() == {"providers": expected}
    admin = {"X-Admin-Key": env.admin_key}
    assert client.get(_url(env), headers=admin).json() == {"providers": expected}
    assert client.put(_url(env), headers=admin, json={"providers": []}).status_code == 200
    assert client.get(_url(env), headers=auth).json() == {"providers": []}


@pytest.mark.parametrize(
    "change",
    [
        {"algorithms": ["HS256"]},
        {"algorithms": ["none"]},
        {"algorithms": ["RS256", "HS512"]},
        {"issuer": "ftp://id.example.com"},
        {"issuer": "https://id.example.com/?x=1"},
        {"issuer": "not a url"},
    ],
)
def test_symmetric_algorithms_and_bad_issuers_are_refused(
    env_client: tuple[Any, TestClient], change: dict[str, Any]
) -> None:
    env, client = env_client
    auth = {"Authorization": f"Bearer {env.server_token()}"}
    r = client.put(_url(env), headers=auth, json={"providers": [{**GOOD, **change}]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_identity_provider"
    assert client.get(_url(env), headers=auth).json() == {"providers": []}


def test_a_repeated_issuer_and_malformed_bodies_are_refused(
    env_client: tuple[Any, TestClient],
) -> None:
    env, client = env_client
    auth = {"Authorization": f"Bearer {env.server_token()}"}
    r = client.put(_url(env), headers=auth, json={"providers": [GOOD, GOOD]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_identity_provider"
    for body in (
        {"providers": [{**GOOD, "extra": 1}]},
        {"providers": [{"issuer": "x"}]},
        {"providers": [GOOD] * 9},
        {"providers": [{**GOOD, "audience": 5}]},
    ):
        r = client.put(_url(env), headers=auth, json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_argument", body


def test_identity_providers_need_the_apps_credential(env_client: tuple[Any, TestClient]) -> None:
    env, client = env_client
    assert client.get(_url(env)).status_code == 401
    r = client.put(_url(env), json={"providers": [GOOD]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "app_signature_required"
    r = client.get("/v1/apps/app_nope/identity-providers", headers={"X-Admin-Key": env.admin_key})
    assert r.status_code == 404 and r.json()["error"]["code"] == "app_not_found"
