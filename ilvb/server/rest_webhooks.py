"""Webhook REST: an app's endpoint, and its events pulled from a cursor (docs/operations.md).

- ``PUT /v1/apps/{app_id}/webhooks`` ``{"url", "enabled"}`` — where the app's events go;
- ``GET`` the same path — the endpoint (``url`` null when none); ``DELETE`` — remove it;
- ``GET /v1/apps/{app_id}/webhooks/events?after=<id>&limit=<n>`` — the app's events with an
  ``id`` above ``after``, oldest first, and ``next``: the cursor for the following call. Every
  event is there, delivered or not, for ``webhooks.retention_s`` (7 days).

The app's server token or the admin key. Deliveries are signed with the app's secret.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import app_access
from ilvb.webhooks.service import WebhookService
from ilvb.webhooks.store import WebhookStore

router = APIRouter(tags=["webhooks"])
MAX_CURSOR = 2**62  # event ids are a SQL BIGINT: a larger cursor fails the schema (400)
AppId = Annotated[str, Depends(app_access)]
_ERRORS = error_responses(
    {400: "invalid_argument", 401: "app_signature_required", 404: "app_not_found"}
)


class EndpointBody(BaseModel):
    """Body of ``PUT /v1/apps/{app_id}/webhooks``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://[^/\s?#]+")
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL")
        return url


def _store(request: Request) -> WebhookStore:
    store: WebhookStore = request.app.state.webhook_store
    return store


@router.put("/v1/apps/{app_id}/webhooks", responses=_ERRORS)
async def put_endpoint(request: Request, app_id: AppId, body: EndpointBody) -> dict[str, Any]:
    """Set the app's webhook endpoint."""
    await _store(request).set_endpoint(app_id, body.url, body.enabled)
    service: WebhookService | None = getattr(request.app.state, "webhooks", None)
    if service is not None:
        service.endpoint_changed(app_id)
    return {"url": body.url, "enabled": body.enabled}


@router.get("/v1/apps/{app_id}/webhooks", responses=_ERRORS)
async def get_endpoint(request: Request, app_id: AppId) -> dict[str, Any]:
    """The app's webhook endpoint (``url`` null when none)."""
    endpoint = await _store(request).get_endpoint(app_id)
    if endpoint is None:
        return {"url": None, "enabled": False}
    return {"url": endpoint.url, "enabled": endpoint.enabled}


@router.delete("/v1/apps/{app_id}/webhooks", status_code=204, responses=_ERRORS)
async def delete_endpoint(request: Request, app_id: AppId) -> Response:
    """Remove the app's endpoint: events are still written, only pullable."""
    await _store(request).set_endpoint(app_id, None)
    service: WebhookService | None = getattr(request.app.state, "webhooks", None)
    if service is not None:
        service.endpoint_changed(app_id)
    return Response(status_code=204)


@router.get("/v1/apps/{app_id}/webhooks/events", responses=_ERRORS)
async def pull_events(
    request: Request,
    app_id: AppId,
    after: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The app's events after the cursor ``after``, oldest first; ``next`` continues."""
    events = await _store(request).events_after(app_id, after, limit)
    return {
        "events": [e.wire() for e in events],
        "next": events[-1].seq if events else after,
    }
