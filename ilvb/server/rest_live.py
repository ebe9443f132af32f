"""REST for bypass live (docs/recording.md): the app's server starts, changes and stops a
room's HLS stream and RTMP pushes; players fetch the HLS files by their unguessable URL.

- ``POST /v1/apps/{app_id}/rooms/{room}/live`` ``{"hls": true, "rtmp": ["rtmp://…"]}`` → 201
  ``LiveInfo`` with ``hls_url``; ``GET`` the same path → ``LiveInfo``; ``PATCH`` with
  ``{"rtmp": […]}`` replaces the push URLs while live; ``DELETE`` stops it.
- ``GET /live/hls/{token}/{index.m3u8 | segNNNNNN.ts}``: no credentials (the token is the
  capability; with ``hls_ttl_s`` also ``exp`` and ``sig``), CORS open so any page can play it.

Same credentials as the rooms REST (the app's server token or the admin key).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ilvb.errors import IlvbError
from ilvb.live.service import LiveService, LiveSession
from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import AppId, Done, RoomKey

_ERRORS = error_responses(
    {
        400: "invalid_argument / rtmp_url_invalid",
        401: "app_signature_required / admin_key_required",
        404: "app_not_found / room_not_found / live_not_found",
        409: "live_already_started / room_no_senders",
        503: "composite_capacity / recorder_failed / media_unavailable",
    }
)

router = APIRouter(prefix="/v1/apps/{app_id}/rooms", tags=["live"], responses=_ERRORS)
hls_router = APIRouter(tags=["live"])


class LiveStart(BaseModel):
    """What to stream: HLS, RTMP pushes, or both."""

    model_config = ConfigDict(extra="forbid")

    hls: bool = False
    rtmp: list[str] = Field(default_factory=list, max_length=20)
    resolution: Literal["640x480", "1280x720"] | None = None
    # Playback URL valid this long (signed); None = valid while live (unguessable token).
    hls_ttl_s: float | None = Field(None, ge=10, le=7 * 86400)


class LiveChange(BaseModel):
    """The full set of RTMP push URLs from now on."""

    model_config = ConfigDict(extra="forbid")

    rtmp: list[str] = Field(max_length=20)


class RtmpState(BaseModel):
    """One RTMP push: ``starting`` | ``live`` | ``retrying`` | ``stopped``."""

    url: str
    state: str


class LiveInfo(BaseModel):
    """A room's bypass live."""

    room: str | int
    hls_url: str | None
    hls_expires_at: float | None
    rtmp: list[RtmpState]
    started_at: float
    job: dict[str, Any] | None


def _live(request: Request) -> LiveService:
    return request.app.state.live  # type: ignore[no-any-return]


def _info(request: Request, session: LiveSession) -> dict[str, Any]:
    url = None
    if session.hls:
        base = str(request.base_url).rstrip("/")
        url = base + _live(request).hls_url_path(session)
    return session.info(url)


@router.post("/{room}/live", response_model=LiveInfo, status_code=201)
async def start_live(
    request: Request, app_id: AppId, room: RoomKey, body: LiveStart
) -> dict[str, Any]:
    """Start the room's composite as HLS and/or RTMP pushes; the room hears ``live.started``."""
    session = await _live(request).start(
        app_id,
        room,
        hls=body.hls,
        rtmp=body.rtmp,
        resolution=body.resolution,
        hls_ttl_s=body.hls_ttl_s,
    )
    return _info(request, session)


@router.get("/{room}/live", response_model=LiveInfo)
async def get_live(request: Request, app_id: AppId, room: RoomKey) -> dict[str, Any]:
    """The room's live state: HLS URL, each RTMP push's state, the job's CPU."""
    return _info(request, _live(request).get(app_id, room))


@router.patch("/{room}/live", response_model=LiveInfo)
async def change_live(
    request: Request, app_id: AppId, room: RoomKey, body: LiveChange
) -> dict[str, Any]:
    """Replace the RTMP push URLs while live (new ones start, missing ones stop)."""
    return _info(request, await _live(request).set_rtmp(app_id, room, body.rtmp))


@router.delete("/{room}/live", response_model=Done)
async def stop_live(request: Request, app_id: AppId, room: RoomKey) -> dict[str, Any]:
    """Stop the room's live; the room hears ``live.stopped``."""
    await _live(request).stop(app_id, room)
    return {}


_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


@hls_router.get("/live/hls/{token}/{name}", include_in_schema=False)
async def hls_file(
    request: Request,
    token: str,
    name: str,
    exp: Annotated[str | None, Query(max_length=16)] = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A playlist or segment of a live HLS stream (``live_not_found`` otherwise); every reply,
    errors too, allows any origin (players on the app's own pages)."""
    cors = {"Access-Control-Allow-Origin": "*"}
    try:
        path = _live(request).hls_file(token, name, exp, sig)
    except IlvbError as exc:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status, headers=cors)
    # Read whole: ffmpeg replaces the playlist (rename) and deletes old segments at any time,
    # so a file's size at stat() may not be its size at read().
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except OSError:
        gone = {"error": {"code": "live_not_found", "message": "no longer available"}}
        return JSONResponse(gone, status_code=404, headers=cors)
    playlist = name.endswith(".m3u8")
    headers = {**cors, "Cache-Control": "no-cache, no-store" if playlist else "max-age=60"}
    return Response(body, media_type=_TYPES[path.suffix], headers=headers)
