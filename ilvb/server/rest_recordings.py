"""REST for an app's server (and admins) over cloud recordings (:mod:`ilvb.recording`).

- ``POST /v1/apps/{app_id}/rooms/{room}/recordings`` ``{"mode": "tracks"|"composite"}`` → 201
  ``{"recording_id", "state"}``;
- ``GET /v1/apps/{app_id}/recordings`` (newest first), ``GET …/recordings/{id}`` (state and
  files), ``POST …/recordings/{id}/stop``, ``DELETE …/recordings/{id}`` (stops, deletes files);
- ``GET …/recordings/{id}/files/{name}``: the file, with HTTP range requests;
- ``GET``/``PUT /v1/apps/{app_id}/recording-settings`` ``{"auto_mode": "tracks"|"composite"|null}``:
  record every new room of the app from its first sender on.

Same credentials as the rooms REST: the app's server token or the admin key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from ilvb.recording.files import check_name
from ilvb.recording.service import RecordingService
from ilvb.recording.store import RecordingRecord
from ilvb.server.rest_errors import error_responses
from ilvb.server.rest_rooms import AppId, Kind, RoomKey

_ERRORS = error_responses(
    {
        400: "invalid_argument / invalid_file_name",
        401: "app_signature_required / admin_key_required",
        404: "app_not_found / room_not_found / recording_not_found / recording_file_not_found",
        409: "recording_already_running / room_no_senders",
        503: "recording_mode_unavailable / media_unavailable",
    }
)

router = APIRouter(prefix="/v1/apps/{app_id}", tags=["recordings"], responses=_ERRORS)

RecordingKey = Annotated[str, Path(min_length=1, max_length=64)]
Mode = Literal["tracks", "composite"]


class StartBody(BaseModel):
    """Which kind of recording: one file per track, or the room's composite."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Mode = "tracks"


class Started(BaseModel):
    """A recording that started."""

    recording_id: str
    state: str


class RecordingFile(BaseModel):
    """One file of a recording."""

    name: str
    url: str
    bytes: int
    duration_s: float | None
    format: str


class RecordingModel(BaseModel):
    """A recording and its files."""

    recording_id: str
    room: str
    kind: str
    mode: str
    state: str
    started_at: float
    stopped_at: float | None
    reason: str | None
    cpu_s: float
    files: list[RecordingFile]


class RecordingList(BaseModel):
    """An app's recordings, newest first."""

    recordings: list[RecordingModel]


class RecordingSettings(BaseModel):
    """Automatic recording: every new room recorded in ``auto_mode`` (null: off)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    auto_mode: Mode | None = None


class Done(BaseModel):
    """An empty success."""


def _service(request: Request) -> RecordingService:
    return request.app.state.recordings  # type: ignore[no-any-return]


async def _model(service: RecordingService, record: RecordingRecord) -> dict[str, Any]:
    base = f"/v1/apps/{record.app_id}/recordings/{record.recording_id}/files/"
    return {
        "recording_id": record.recording_id,
        "room": record.room,
        "kind": record.kind,
        "mode": record.mode,
        "state": record.state,
        "started_at": record.started_at,
        "stopped_at": record.stopped_at,
        "reason": record.reason,
        "cpu_s": round(record.cpu_s, 3),
        "files": [
            {
                "name": f.name,
                "url": base + f.name,
                "bytes": f.bytes,
                "duration_s": f.duration_s,
                "format": f.format,
            }
            for f in await service.files(record)
        ],
    }


@router.post("/rooms/{room}/recordings", status_code=201, response_model=Started)
async def start_recording(
    request: Request,
    app_id: AppId,
    room: RoomKey,
    body: StartBody,
    kind: Annotated[Kind, Query()] = "room",
) -> dict[str, Any]:
    """Start recording a live room: ``tracks`` (each producer to its own file, no
    transcoding) or ``composite`` (the room mixed and laid out into one file)."""
    record = await _service(request).start(app_id, room, body.mode, kind)
    return {"recording_id": record.recording_id, "state": record.state}


@router.get("/recordings", response_model=RecordingList)
async def list_recordings(request: Request, app_id: AppId) -> dict[str, Any]:
    """The app's recordings, newest first, with their files."""
    service = _service(request)
    return {
        "recordings": [await _model(service, r) for r in await service.list_recordings(app_id)]
    }


@router.get("/recordings/{recording_id}", response_model=RecordingModel)
async def get_recording(request: Request, app_id: AppId, recording_id: RecordingKey) -> Any:
    """One recording: its state and files (``interrupted`` ones list what was written)."""
    service = _service(request)
    return await _model(service, await service.get(app_id, recording_id))


@router.post("/recordings/{recording_id}/stop", response_model=RecordingModel)
async def stop_recording(request: Request, app_id: AppId, recording_id: RecordingKey) -> Any:
    """Stop a recording; its files are complete when this answers."""
    service = _service(request)
    return await _model(service, await service.stop(app_id, recording_id))


@router.delete("/recordings/{recording_id}", response_model=Done)
async def delete_recording(
    request: Request, app_id: AppId, recording_id: RecordingKey
) -> dict[str, Any]:
    """Delete a recording and its files (a running one is stopped first)."""
    await _service(request).delete(app_id, recording_id)
    return {}


@router.get(
    "/recordings/{recording_id}/files/{name:path}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "range"}},
)
async def download_file(
    request: Request, app_id: AppId, recording_id: RecordingKey, name: str
) -> FileResponse:
    """One file of a recording; ``Range: bytes=…`` answers 206 with that part."""
    service = _service(request)
    check_name(name)
    record = await service.get(app_id, recording_id)
    path = service.file_path(record, name)
    media = "video/webm" if path.suffix == ".webm" else "video/x-matroska"
    return FileResponse(path, media_type=media, filename=path.name)


@router.get("/recording-settings", response_model=RecordingSettings)
async def get_settings(request: Request, app_id: AppId) -> dict[str, Any]:
    """The app's automatic recording setting."""
    return {"auto_mode": await _service(request).auto_mode(app_id)}


@router.put("/recording-settings", response_model=RecordingSettings)
async def put_settings(request: Request, app_id: AppId, body: RecordingSettings) -> dict[str, Any]:
    """Record every new room of the app automatically (from its first sender on), or not."""
    await _service(request).set_auto_mode(app_id, body.auto_mode)
    return {"auto_mode": body.auto_mode}
