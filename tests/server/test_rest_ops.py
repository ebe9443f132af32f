"""Liveness, readiness and the credential of ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from ilvb.sfu.api import NullMediaPlane
from tests.conftest import AppEnv


def test_healthz_and_readyz_when_started(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {
            "status": "ready",
            "checks": {"started": "ok", "store": "ok", "media": "ok"},
        }


class _DeadWorkers(NullMediaPlane):
    """A media plane configured with two workers of which none runs."""

    async def stats(self) -> dict[str, object]:
        return {"workers": [], "configured": 2}


def test_readyz_is_503_without_a_running_media_worker(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env(media=_DeadWorkers())
    with TestClient(env.app) as client:
        r = client.get("/readyz")
        assert r.status_code == 503
        body = r.json()["error"]
        assert body["code"] == "not_ready"
        assert body["details"]["checks"]["media"] == "0 of 2 workers running"
        assert client.get("/healthz").status_code == 200  # alive all the same


def test_readyz_is_503_when_the_store_fails(make_app_env: Callable[..., AppEnv]) -> None:
    env = make_app_env()

    async def broken() -> str:
        raise OSError("database gone")

    with TestClient(env.app) as client:
        env.store.get_admin_key_hash = broken  # type: ignore[method-assign]
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["error"]["details"]["checks"]["store"] == "unavailable: OSError"


def test_metrics_needs_the_token_or_the_admin_key(make_app_env: Callable[..., AppEnv]) -> None:
    token = "t" * 32
    env = make_app_env(metrics={"token": token})
    with TestClient(env.app) as client:
        r = client.get("/metrics")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "metrics_credential_required"
        assert (
            client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 32}).status_code
            == 401
        )
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "ilvb_rooms" in ok.text
        assert client.get("/metrics", headers={"X-Admin-Key": env.admin_key}).status_code == 200
        # an app's server token is not a metrics credential
        app_token = env.server_token()
        assert (
            client.get("/metrics", headers={"Authorization": f"Bearer {app_token}"}).status_code
            == 401
        )


def test_metrics_without_a_token_configured_takes_only_the_admin_key(
    make_app_env: Callable[..., AppEnv],
) -> None:
    env = make_app_env()
    with TestClient(env.app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
        assert (
            client.get("/metrics", headers={"Authorization": f"Bearer {env.admin_key}"}).status_code
            == 200
        )


def test_open_on_loopback_lets_a_local_scraper_in(make_server: Callable[..., object]) -> None:
    import httpx

    server = make_server(metrics={"open_on_loopback": True})
    r = httpx.get(f"{server.base_url}/metrics", timeout=10)  # type: ignore[attr-defined]
    assert r.status_code == 200 and "ilvb_members" in r.text
