"""Operations endpoints: liveness ``/healthz``, readiness ``/readyz``, Prometheus ``/metrics``.

``/healthz`` answers 200 while the process serves HTTP (restart it when it does not).
``/readyz`` answers 200 when the node can take members: started and not stopping, the store
answers, and (with a media plane) at least one media worker runs; else 503 ``not_ready`` with
``details.checks``. Both are open (they tell nothing about rooms or apps).

``/metrics`` (:mod:`ilvb.metrics.node`) needs a credential: the admin key, or
``metrics.token`` as a bearer token; ``metrics.open_on_loopback`` lets a scraper on this host in
without one. Without a valid one: 401 ``metrics_credential_required``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ilvb.auth.admin import check_admin_key, presented_admin_key
from ilvb.config import MetricsSettings
from ilvb.errors import Unauthenticated, Unavailable
from ilvb.metrics.node import CONTENT_TYPE, NodeMetrics
from ilvb.sfu.api import MediaPlaneStats

router = APIRouter(tags=["operations"])
# Longest wait for each readiness check.
READY_CHECK_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: 200 while the server runs."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, Any]:
    """Readiness: 200 when this node can take members now, else 503 ``not_ready``."""
    checks = await readiness(request)
    if any(v != "ok" for v in checks.values()):
        raise Unavailable("not_ready", "this node cannot take members now", {"checks": checks})
    return {"status": "ready", "checks": checks}


async def readiness(request: Request) -> dict[str, str]:
    """Each check's outcome: ``ok``, or why not."""
    state = request.app.state
    checks = {"started": "ok" if getattr(state, "ready", False) else "not started or stopping"}
    try:
        await asyncio.wait_for(state.store.get_admin_key_hash(), READY_CHECK_TIMEOUT_S)
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unavailable: {type(exc).__name__}"
    media = state.media
    if isinstance(media, MediaPlaneStats):
        try:
            stats = await asyncio.wait_for(media.stats(), READY_CHECK_TIMEOUT_S)
            running, configured = len(stats.get("workers", [])), int(stats.get("configured", 0))
            ok = configured == 0 or running > 0
            checks["media"] = "ok" if ok else f"{running} of {configured} workers running"
        except Exception as exc:
            checks["media"] = f"unavailable: {type(exc).__name__}"
    return checks


@router.get("/metrics", include_in_schema=False)  # Prometheus text, not the REST API
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this node (text format); needs the admin key or the metrics
    token (``metrics.token``)."""
    await authenticate_scraper(request)
    node: NodeMetrics | None = getattr(request.app.state, "metrics", None)
    if node is None:
        raise Unavailable("not_ready", "the server is not started")
    await node.refresh()
    return Response(node.render(), media_type=CONTENT_TYPE)


async def authenticate_scraper(request: Request) -> None:
    """The metrics token, the admin key, or (when allowed) a loopback peer."""
    settings: MetricsSettings = request.app.state.settings.metrics
    if settings.open_on_loopback and _is_loopback(request):
        return
    presented = presented_admin_key(request)
    if (
        presented
        and settings.token
        and hmac.compare_digest(presented.encode(), settings.token.encode())
    ):
        return
    if check_admin_key(presented, await request.app.state.store.get_admin_key_hash()):
        return
    raise Unauthenticated(
        "metrics_credential_required",
        "/metrics needs the metrics token or the admin key (Authorization: Bearer …)",
    )


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
