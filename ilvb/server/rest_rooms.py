"""REST for an app's server (and admins) over live rooms: list, info, members, kick,
permissions, close; the stage (invite, take off stage, raised hands) and the host controls
(mute a member, stop its screen share, mute all, lock).

Under ``/v1/apps/{app_id}/rooms``. Credentials: ``Authorization: Bearer <server token>`` signed
with that app's secret (:func:`ilvb.auth.tickets.sign_server_token`), or the admin key
(``X-Admin-Key`` or as a bearer token). A server token of another app is refused with
``app_signature_required``. Call rooms are addressed with ``?kind=call``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ilvb.auth.admin import authenticate_admin
from ilvb.auth.app_auth import app_from_request, bearer_token
from ilvb.errors import NotFound, Unauthenticated
from ilvb.rooms import controls
from ilvb.rooms.bans import MAX_BAN_S
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.permissions import Permissions
from ilvb.rooms.room import Room
from ilvb.server.console_auth import SESSION_COOKIE, check_app
from ilvb.server.rest_errors import error_responses
from ilvb.server.sessions import SessionRecord

Kind = Literal["room", "call"]


class Flags(BaseModel):
    """Per-source booleans."""

    audio: bool
    video: bool
    screen: bool


class MemberStateModel(BaseModel):
    """A member's state (the MemberState of docs/protocol.md)."""

    user_id: str
    role: str
    entered_at: float
    permissions: Flags
    sending: Flags
    muted: Flags
    connected: bool
    reconnecting: bool
    on_stage: bool
    hand_raised: bool


class RoomLimitsModel(BaseModel):
    """A room's caps."""

    audio_senders: int
    video_senders: int
    max_views: int
    max_members: int


class RoomInfo(BaseModel):
    """A live room (the internal id is never exposed)."""

    room: str | int
    kind: Kind
    member_count: int
    created_at: float
    audio_senders: int
    video_senders: int
    locked: bool
    limits: RoomLimitsModel


class RoomList(BaseModel):
    """Live rooms of an app."""

    rooms: list[RoomInfo]


class MemberPage(BaseModel):
    """One page of members in entry order."""

    members: list[MemberStateModel]
    next_cursor: str | None
    total: int


class SenderList(BaseModel):
    """Members sending audio, video or screen."""

    members: list[MemberStateModel]


class PermissionsChange(BaseModel):
    """Flags to change; omitted ones keep their value. Revoking stops that source."""

    model_config = ConfigDict(extra="forbid", strict=True)

    audio: bool | None = None
    video: bool | None = None
    screen: bool | None = None


class KickOptions(BaseModel):
    """Optional body of a kick: ban the member from the room for ``ban_s`` seconds."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ban_s: Annotated[float, Field(gt=0, le=MAX_BAN_S, allow_inf_nan=False)] | None = None


class StageInviteBody(BaseModel):
    """Invite a member on stage; ``permissions`` default to audio + video. The app's server
    may grant beyond the member's ticket (its ceiling moves)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(min_length=1, max_length=256)
    permissions: PermissionsChange | None = None


class InviteModel(BaseModel):
    """A stage invitation."""

    invite_id: str
    user_id: str
    by: str | None
    permissions: Flags
    expires_at: float
    status: str


class InviteReply(BaseModel):
    """The invitation made."""

    invite: InviteModel


class Hand(BaseModel):
    """A raised hand."""

    user_id: str
    raised_at: float


class HandList(BaseModel):
    """Raised hands in the order they went up."""

    hands: list[Hand]


class MutedList(BaseModel):
    """The members whose microphone was muted."""

    muted: list[str]


class LockBody(BaseModel):
    """Lock (no new entries) or unlock the room."""

    model_config = ConfigDict(extra="forbid", strict=True)

    locked: bool = True


class LockState(BaseModel):
    """Whether the room is locked."""

    locked: bool


class Done(BaseModel):
    """An empty success."""


async def app_access(
    request: Request, app_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> str:
    """Admin key, a server token of ``app_id``, or a console session of the account owning
    it; returns the app id."""
    token = bearer_token(request)
    if (
        token is None
        and not request.headers.get("x-admin-key")
        and SESSION_COOKIE in (request.cookies)
    ):
        await check_app(request, app_id)
        if await request.app.state.store.get_app(app_id) is None:
            raise NotFound("app_not_found", f"no app {app_id!r}")
        return app_id
    if request.headers.get("x-admin-key") or (token is not None and token.count(".") != 2):
        await authenticate_admin(request)
        if await request.app.state.store.get_app(app_id) is None:
            raise NotFound("app_not_found", f"no app {app_id!r}")
        return app_id
    app = await app_from_request(request)
    if app is None:
        raise Unauthenticated(
            "app_signature_required",
            "send Authorization: Bearer <server token signed with the app key> or the admin key",
        )
    if app.app_id != app_id:
        raise Unauthenticated("app_signature_required", "the token was signed for another app")
    return app_id


_ERRORS = error_responses(
    {
        400: "invalid_argument",
        401: "app_signature_required / admin_key_required",
        404: "app_not_found / room_not_found / member_not_found",
        409: "invite_pending / already_on_stage / not_on_stage",
    }
)

router = APIRouter(prefix="/v1/apps/{app_id}/rooms", tags=["rooms"], responses=_ERRORS)

AppId = Annotated[str, Depends(app_access)]
RoomKey = Annotated[str, Path(min_length=1, max_length=128)]
UserKey = Annotated[str, Path(min_length=1, max_length=256)]
KindQuery = Annotated[Kind, Query()]


def _rooms(request: Request) -> RoomManager:
    return request.app.state.rooms  # type: ignore[no-any-return]


def _room(request: Request, app_id: str, room: str, kind: Kind) -> Room:
    return _rooms(request).get(app_id, room, kind)


@router.get("", response_model=RoomList)
async def list_rooms(request: Request, app_id: AppId) -> dict[str, Any]:
    """The app's live rooms and calls."""
    return {"rooms": [room.info() for room in _rooms(request).rooms(app_id)]}


@router.get("/{room}", response_model=RoomInfo)
async def room_info(
    request: Request, app_id: AppId, room: RoomKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """One live room."""
    return _room(request, app_id, room, kind).info()


@router.get("/{room}/members", response_model=MemberPage)
async def room_members(
    request: Request,
    app_id: AppId,
    room: RoomKey,
    kind: KindQuery = "room",
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Members in entry order, one page; pass ``next_cursor`` back for the next page."""
    return _room(request, app_id, room, kind).member_page(cursor, limit)


@router.get("/{room}/senders", response_model=SenderList)
async def room_senders(
    request: Request, app_id: AppId, room: RoomKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Members sending audio, video or screen."""
    return _room(request, app_id, room, kind).sender_list()


@router.get("/{room}/members/{user_id}", response_model=MemberStateModel)
async def member_state(
    request: Request, app_id: AppId, room: RoomKey, user_id: UserKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """One member's state."""
    return _room(request, app_id, room, kind).member(user_id).state()


class QualityReportModel(BaseModel):
    """What a member's SDK applied of its quality profile (its last ``quality.report``)."""

    version: int
    applied: dict[str, bool | int | float | str | None]
    unsupported: list[str]
    at: float = Field(description="when the server received it (seconds since the epoch)")


class MemberQuality(BaseModel):
    """A member's last quality report, or null before its SDK has sent one."""

    report: QualityReportModel | None


@router.get("/{room}/members/{user_id}/quality", response_model=MemberQuality)
async def member_quality(
    request: Request, app_id: AppId, room: RoomKey, user_id: UserKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """What the member's SDK applied of its quality profile (its last ``quality.report``: the
    profile version, what it applied, what its platform cannot honour)."""
    record = _room(request, app_id, room, kind).member(user_id).session
    return {"report": record.quality_report if isinstance(record, SessionRecord) else None}


@router.post("/{room}/members/{user_id}/kick", response_model=Done)
async def kick_member(
    request: Request,
    app_id: AppId,
    room: RoomKey,
    user_id: UserKey,
    kind: KindQuery = "room",
    body: KickOptions | None = None,
) -> dict[str, Any]:
    """Remove a member (it gets ``room.exited`` with reason ``kicked``); with ``ban_s`` it may
    not enter this room again for that long (``banned``)."""
    ban_s = body.ban_s if body is not None else None
    _rooms(request).kick(_room(request, app_id, room, kind).member(user_id), ban_s=ban_s)
    return {}


@router.delete("/{room}/bans/{user_id}", response_model=Done)
async def lift_ban(
    request: Request, app_id: AppId, room: RoomKey, user_id: UserKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """End a kick-with-ban early (``not_found`` when the user is not banned)."""
    if not _rooms(request).bans.lift((app_id, kind, room), user_id):
        raise NotFound(message=f"{user_id!r} is not banned from {room!r}")
    return {}


@router.post("/{room}/members/{user_id}/permissions", response_model=MemberStateModel)
async def set_permissions(
    request: Request,
    app_id: AppId,
    room: RoomKey,
    user_id: UserKey,
    body: PermissionsChange,
    kind: KindQuery = "room",
) -> dict[str, Any]:
    """Change a member's permissions (also its ceiling); revoking stops that source at once."""
    target = _room(request, app_id, room, kind)
    member = target.member(user_id)
    changes = {k: v for k, v in body.model_dump().items() if v is not None}
    target.set_permissions(member, changes, "server")
    return member.state()


@router.delete("/{room}", response_model=Done)
async def close_room(
    request: Request, app_id: AppId, room: RoomKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Close a room: everyone gets ``room.exited`` with reason ``room_closed``."""
    _rooms(request).close_room(_room(request, app_id, room, kind))
    return {}


@router.post("/{room}/stage/invite", response_model=InviteReply)
async def stage_invite(
    request: Request, app_id: AppId, room: RoomKey, body: StageInviteBody, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Invite a member on stage; it gets ``stage.invited`` and accepts over signaling."""
    target = _room(request, app_id, room, kind)
    grants = None
    if body.permissions is not None:
        flags = body.permissions.model_dump()
        grants = Permissions(**{k: bool(v) for k, v in flags.items()})
    return {"invite": target.stage.invite(None, body.user_id, grants).to_dict()}


@router.post("/{room}/members/{user_id}/stage/remove", response_model=MemberStateModel)
async def stage_remove(
    request: Request, app_id: AppId, room: RoomKey, user_id: UserKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Take a member off stage: its sources stop, its permissions return to the ticket's."""
    return _room(request, app_id, room, kind).stage.remove(None, user_id).state()


@router.get("/{room}/hands", response_model=HandList)
async def hand_list(
    request: Request, app_id: AppId, room: RoomKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Raised hands, oldest first."""
    return {"hands": _room(request, app_id, room, kind).stage.hands()}


@router.post("/{room}/members/{user_id}/mute", response_model=MemberStateModel)
async def mute_member(
    request: Request, app_id: AppId, room: RoomKey, user_id: UserKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Mute a member's microphone (it gets ``control.muted``; it may unmute itself)."""
    return controls.mute_member(_room(request, app_id, room, kind), None, user_id).state()


@router.post("/{room}/members/{user_id}/stop_screen", response_model=MemberStateModel)
async def stop_screen(
    request: Request, app_id: AppId, room: RoomKey, user_id: UserKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Stop a member's screen share (it gets ``control.screen_stopped``)."""
    return controls.stop_screen(_room(request, app_id, room, kind), None, user_id).state()


@router.post("/{room}/mute_all", response_model=MutedList)
async def mute_all(
    request: Request, app_id: AppId, room: RoomKey, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Mute every microphone being sent."""
    return {"muted": controls.mute_all(_room(request, app_id, room, kind), None)}


@router.post("/{room}/lock", response_model=LockState)
async def lock_room(
    request: Request, app_id: AppId, room: RoomKey, body: LockBody, kind: KindQuery = "room"
) -> dict[str, Any]:
    """Lock the room (new entries get ``room_locked``) or unlock it."""
    target = _room(request, app_id, room, kind)
    controls.lock(target, None, body.locked)
    return {"locked": target.locked}
