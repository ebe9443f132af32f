"""SDK log bundles and crash reports: uploaded by clients, listed by the app's server.

- ``POST /client-logs`` — a client uploads a bundle (logs, recent media stats, environment, or a
  crash report) with its login ticket (``Authorization: Bearer <ticket>``). It is outside
  ``/v1`` because it takes a user's ticket, not the app's server token or the admin key.
- ``GET /v1/apps/{app_id}/logs`` / ``GET /v1/apps/{app_id}/logs/{bundle_id}`` — the app server
  (server token) or the operator (admin key) lists and reads them.

Bundles are JSON files under ``<data_dir>/client-logs/<app_id>/``; an upload that would take an
app over its quota (``log_quota_bytes``, default 20 MiB) fails with ``log_quota_exceeded``.
The SDK redacts secrets before uploading; the server stores what it got.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from ilvb.auth.app_auth import bearer_token
from ilvb.auth.tickets import ticket_app_id, verify_ticket
from ilvb.errors import LimitExceeded, NotFound, Unauthenticated
from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import app_access

LOG_QUOTA_BYTES = 20 * 1024 * 1024
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LogBundle(BaseModel):
    """What a client uploads (bounded: the whole body is also under ``max_body_bytes``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["logs", "crash"] = "logs"
    session_id: Annotated[str, Field(max_length=64)] | None = None
    room: Annotated[str, Field(max_length=128)] | None = None
    created_at: float | None = None
    logs: Annotated[str, Field(max_length=4 * 1024 * 1024)] = ""
    stats: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    crash: dict[str, Any] | None = None


router = APIRouter(tags=["client logs"])


def _dir(request: Request, app_id: str) -> FsPath:
    if not _SAFE_ID.match(app_id):  # app ids are generated; never a path element otherwise
        raise NotFound("app_not_found", f"no app {app_id!r}")
    base = FsPath(request.app.state.settings.server.data_dir) / "client-logs" / app_id
    return base


def _used(directory: FsPath) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.json")) if directory.is_dir() else 0


@router.post(
    "/client-logs",
    status_code=201,
    responses=error_responses(
        {
            400: "invalid_argument",
            401: "ticket_malformed / ticket_bad_signature / ticket_expired",
            429: "log_quota_exceeded",
        }
    ),
)
async def upload(request: Request, bundle: LogBundle) -> dict[str, Any]:
    """Store a bundle from the holder of a login ticket; returns its id."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated(message="send Authorization: Bearer <login ticket>")
    app = await request.app.state.store.get_app(ticket_app_id(token))
    if app is None:
        raise Unauthenticated("ticket_wrong_app", "the ticket's app does not exist")
    claims = verify_ticket(token, app.secret, app_id=app.app_id)
    directory = _dir(request, app.app_id)
    record = {
        "id": uuid.uuid4().hex,
        "app_id": app.app_id,
        "user_id": claims.user_id,
        "received_at": time.time(),
        **bundle.model_dump(),
    }
    data = json.dumps(record).encode()
    quota = int(getattr(request.app.state, "log_quota_bytes", LOG_QUOTA_BYTES))
    used = _used(directory)
    if used + len(data) > quota:
        raise LimitExceeded(
            "log_quota_exceeded",
            f"the app's log storage is full ({used} of {quota} bytes)",
            {"used_bytes": used, "quota_bytes": quota},
        )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{record['id']}.json"
    path.write_bytes(data)
    path.chmod(0o600)
    return {"id": record["id"], "bytes": len(data)}


AppId = Annotated[str, Depends(app_access)]


@router.get(
    "/v1/apps/{app_id}/logs",
    responses=error_responses(
        {400: "invalid_argument", 401: "app_signature_required", 404: "app_not_found"}
    ),
)
async def list_logs(request: Request, app_id: AppId) -> dict[str, Any]:
    """Every stored bundle of the app, newest first (without the log text)."""
    directory = _dir(request, app_id)
    entries = []
    for path in directory.glob("*.json") if directory.is_dir() else []:
        record = json.loads(path.read_bytes())
        entries.append(
            {
                key: record.get(key)
                for key in ("id", "kind", "user_id", "session_id", "room", "received_at")
            }
            | {"bytes": path.stat().st_size}
        )
    entries.sort(key=lambda e: e["received_at"] or 0, reverse=True)
    quota = int(getattr(request.app.state, "log_quota_bytes", LOG_QUOTA_BYTES))
    return {"bundles": entries, "used_bytes": _used(directory), "quota_bytes": quota}


@router.get(
    "/v1/apps/{app_id}/logs/{bundle_id}",
    responses=error_responses(
        {400: "invalid_argument", 401: "app_signature_required", 404: "not_found"}
    ),
)
async def get_log(
    request: Request,
    app_id: AppId,
    bundle_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
) -> dict[str, Any]:
    """One stored bundle, in full."""
    path = _dir(request, app_id) / f"{bundle_id}.json"
    if not path.is_file():
        raise NotFound(message=f"no log bundle {bundle_id}")
    return json.loads(path.read_bytes())  # type: ignore[no-any-return]
