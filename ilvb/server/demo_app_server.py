"""The demo app's own "app server" for the scenario pages (``/class``, ``/live``): INSECURE by
design, like ``POST /demo/ticket``, and mounted only with a demo app (``ilvb serve --demo``).

A real app's server authenticates its users its own way, then calls ilvb's REST with a server
token. This router plays that part for the demo app: it accepts the caller's demo login ticket
(``Authorization: Bearer``), requires a role with the stage right (``rooms.stage_roles``) and
a ticket for the room in question when the ticket names one, and forwards the request to the
REST API (``/v1/apps/{demo app}/…``) with a fresh server token, in process (ASGI). Only these
calls go through:

- ``POST`` / ``DELETE /demo/rooms/{room}/live`` (bypass live: the HLS URL for the page);
- ``POST /demo/rooms/{room}/recordings``, ``POST /demo/recordings/{id}/stop``,
  ``GET /demo/recordings/{id}`` and ``…/files/{name}`` (the replay page, ``/replay``: any demo
  ticket).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from ilvb.auth.app_auth import bearer_token
from ilvb.auth.tickets import sign_server_token, verify_ticket
from ilvb.errors import NotFound, PermissionDenied, Unauthenticated

router = APIRouter(tags=["demo"], include_in_schema=False)
FORWARD_TIMEOUT_S = 60.0
REPLAY_PAGE = Path(__file__).resolve().parent.parent / "web" / "static" / "replay.html"


async def _forward(
    request: Request, method: str, path: str, room: str | None = None, *, stage: bool = True
) -> Response:
    app_id = request.app.state.demo_app_id
    record = await request.app.state.store.get_app(app_id) if app_id else None
    if record is None:
        raise NotFound("app_not_found", "the demo app does not exist")
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated(message="send Authorization: Bearer <demo login ticket>")
    claims = verify_ticket(token, record.secret, app_id=record.app_id)
    if stage and claims.role not in request.app.state.settings.rooms.stage_roles:
        raise PermissionDenied(message="only a host or teacher may do that")
    if room is not None and claims.room is not None and str(claims.room) != room:
        raise PermissionDenied("ticket_wrong_room", "the ticket is for another room")
    body = await request.body()
    headers = {"Authorization": f"Bearer {sign_server_token(record.app_id, record.secret)}"}
    if body:
        headers["content-type"] = "application/json"
    transport = httpx.ASGITransport(app=request.app)
    # The caller's own base URL, so that URLs in the reply (the HLS playlist) point where it can go.
    base = str(request.base_url).rstrip("/")
    async with httpx.AsyncClient(transport=transport, base_url=base) as http:
        reply = await http.request(
            method,
            f"/v1/apps/{record.app_id}{path}",
            content=body,
            headers=headers,
            timeout=FORWARD_TIMEOUT_S,
        )
    return Response(
        content=reply.content,
        status_code=reply.status_code,
        media_type=reply.headers.get("content-type", "application/json"),
    )


@router.get("/replay", include_in_schema=False)
async def replay_page() -> Response:
    """The replay page: plays a recording's file (``?recording=ID``)."""
    return FileResponse(REPLAY_PAGE)


@router.post("/demo/rooms/{room}/live")
async def start_live(room: str, request: Request) -> Response:
    """Start bypass live of ``room`` (the body as ``POST …/rooms/{room}/live``)."""
    return await _forward(request, "POST", f"/rooms/{quote(room, safe='')}/live", room)


@router.delete("/demo/rooms/{room}/live")
async def stop_live(room: str, request: Request) -> Response:
    """Stop bypass live of ``room``."""
    return await _forward(request, "DELETE", f"/rooms/{quote(room, safe='')}/live", room)


@router.post("/demo/rooms/{room}/recordings")
async def start_recording(room: str, request: Request) -> Response:
    """Start a recording of ``room`` (``{"mode": "tracks" | "composite"}``)."""
    return await _forward(request, "POST", f"/rooms/{quote(room, safe='')}/recordings", room)


@router.post("/demo/recordings/{recording_id}/stop")
async def stop_recording(recording_id: str, request: Request) -> Response:
    """Stop a recording."""
    return await _forward(request, "POST", f"/recordings/{quote(recording_id, safe='')}/stop")


@router.get("/demo/recordings/{recording_id}")
async def get_recording(recording_id: str, request: Request) -> Response:
    """A recording with its files (any demo ticket: the replay page's students)."""
    return await _forward(
        request, "GET", f"/recordings/{quote(recording_id, safe='')}", stage=False
    )


@router.get("/demo/recordings/{recording_id}/files/{name}")
async def get_recording_file(recording_id: str, name: str, request: Request) -> Response:
    """One file of a recording, whole (the replay page plays it from a Blob)."""
    rid, file = quote(recording_id, safe=""), quote(name, safe="")
    return await _forward(request, "GET", f"/recordings/{rid}/files/{file}", stage=False)
