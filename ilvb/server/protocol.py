"""Signaling message models (docs/protocol.md, version 1): every request's ``data`` is validated
here in strict mode, so a wrong field type is an ``invalid_argument`` reply, never a crash."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from ilvb.errors import InvalidArgument

PROTOCOL_VERSION = 1

# Integer ids must be exact in JavaScript (|id| < 2^53); a frame with another id is refused.
MAX_INT_ID = 2**53 - 1
RequestId = (
    Annotated[StrictInt, Field(ge=-MAX_INT_ID, le=MAX_INT_ID)]
    | Annotated[StrictStr, Field(max_length=64)]
)
SourceName = Literal["microphone", "camera", "screen"]
UserId = Annotated[StrictStr, Field(min_length=1, max_length=256)]
UserIds = Annotated[list[UserId], Field(max_length=64)]
RoomId = (
    Annotated[StrictStr, Field(min_length=1, max_length=128)]
    | Annotated[StrictInt, Field(ge=0, le=2**53)]
)
Sdp = Annotated[StrictStr, Field(min_length=1, max_length=60_000)]


class _Data(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class Envelope(BaseModel):
    """The outer frame of a request."""

    model_config = ConfigDict(strict=True, extra="ignore")

    id: RequestId | None = None
    type: Annotated[StrictStr, Field(max_length=64)]
    data: dict[str, Any] = Field(default_factory=dict)


class Hello(_Data):
    """``hello``: protocol version, a login ticket (or ``app_id`` + an OpenID Connect
    ``id_token``), optional resume token."""

    protocol: StrictInt
    # Its length (at most 8192) is checked with the ticket: an over-long one is ticket_malformed.
    ticket: StrictStr | None = None
    # Instead of a ticket: an ID token of one of the app's identity providers (docs/identity.md).
    id_token: StrictStr | None = None
    app_id: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    resume: Annotated[StrictStr, Field(max_length=128)] | None = None
    # Which SDK this is: picks the member's quality profile (absent: "web").
    platform: Literal["web", "python", "android", "ios", "pc"] | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> Hello:
        if (self.ticket is None) == (self.id_token is None):
            raise ValueError("send exactly one of ticket and id_token")
        if self.id_token is not None and self.app_id is None:
            raise ValueError("an id_token needs the app_id")
        return self


class SessionRefresh(_Data):
    """``session.refresh``: a new login ticket (or ID token) for the same app and user."""

    ticket: StrictStr | None = None
    id_token: StrictStr | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> SessionRefresh:
        if (self.ticket is None) == (self.id_token is None):
            raise ValueError("send exactly one of ticket and id_token")
        return self


class Empty(_Data):
    """A request without fields."""


class RoomEnter(_Data):
    """``room.enter``; for a call, ``callee`` (with number 0) or ``token`` (to join)."""

    room: RoomId
    kind: Literal["room", "call"] = "room"
    callee: UserId | None = None
    token: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None


class RoomMembers(_Data):
    """``room.members``: one page."""

    cursor: Annotated[StrictStr, Field(max_length=32)] | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=500)] = 100


class MemberGet(_Data):
    """``member.get``."""

    user_id: UserId


class MediaSource(_Data):
    """``media.publish`` / ``media.unpublish``."""

    source: SourceName


class MediaMute(_Data):
    """``media.mute``."""

    source: SourceName
    muted: StrictBool


class ViewRequest(_Data):
    """``view.request``."""

    user_ids: Annotated[list[UserId], Field(min_length=1, max_length=16)]
    source: Literal["camera", "screen"] = "camera"


class ViewCancel(_Data):
    """``view.cancel`` (no ``user_ids`` = all)."""

    user_ids: UserIds | None = None


class ListenStop(_Data):
    """``listen.stop``."""

    user_ids: Annotated[list[UserId], Field(min_length=1, max_length=64)]


class ListenResume(_Data):
    """``listen.resume`` (no ``user_ids`` = everyone)."""

    user_ids: UserIds | None = None


class PermissionsSet(_Data):
    """``permissions.set``: flags to change."""

    audio: StrictBool | None = None
    video: StrictBool | None = None
    screen: StrictBool | None = None

    def changes(self) -> dict[str, bool]:
        """Only the flags that were given."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class SendOffer(_Data):
    """``transport.send.offer``."""

    sdp: Sdp
    sources: Annotated[
        dict[Annotated[StrictStr, Field(max_length=32)], SourceName], Field(max_length=16)
    ]


class RecvAnswer(_Data):
    """``transport.recv.answer``."""

    sdp: Sdp


# A quality report's keys name profile fields ("video.width", "audio.agc"); values are scalars.
ReportKey = Annotated[StrictStr, Field(min_length=1, max_length=64)]
ReportValue = StrictBool | StrictInt | Annotated[
    StrictFloat, Field(allow_inf_nan=False)
] | Annotated[StrictStr, Field(max_length=64)] | None


class QualityReport(_Data):
    """``quality.report``: what the SDK applied of profile ``version``, and what its platform
    cannot honour (field names)."""

    version: Annotated[StrictInt, Field(ge=0, le=2**31)]
    applied: Annotated[dict[ReportKey, ReportValue], Field(max_length=64)]
    unsupported: Annotated[list[ReportKey], Field(max_length=64)] = Field(default_factory=list)


REQUEST_MODELS: dict[str, type[_Data]] = {
    "hello": Hello,
    "ping": Empty,
    "session.refresh": SessionRefresh,
    "room.enter": RoomEnter,
    "room.exit": Empty,
    "room.members": RoomMembers,
    "room.senders": Empty,
    "member.get": MemberGet,
    "media.publish": MediaSource,
    "media.unpublish": MediaSource,
    "media.mute": MediaMute,
    "view.request": ViewRequest,
    "view.cancel": ViewCancel,
    "listen.stop": ListenStop,
    "listen.resume": ListenResume,
    "permissions.set": PermissionsSet,
    "transport.send.offer": SendOffer,
    "transport.recv.open": Empty,
    "transport.recv.answer": RecvAnswer,
    "transport.recv.restart": Empty,
    "quality.report": QualityReport,
}


def parse_envelope(obj: Any) -> Envelope:
    """Validate the outer frame; ``invalid_json`` for a non-object, ``invalid_argument`` else."""
    if not isinstance(obj, dict):
        raise InvalidArgument("invalid_json", "a frame must be one JSON object")
    try:
        return Envelope.model_validate(obj)
    except ValidationError as exc:
        raise InvalidArgument(message=describe(exc)) from exc


def parse_data(kind: str, data: dict[str, Any]) -> _Data:
    """Validate a request's ``data``; ``unknown_type`` / ``invalid_argument`` on failure."""
    model = REQUEST_MODELS.get(kind)
    if model is None:
        raise InvalidArgument("unknown_type", f"unknown request type {kind[:64]!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(message=describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    """One line naming the first bad field."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "frame"
    return f"{where}: {first.get('msg', 'invalid')}"[:300]


def _register_stage() -> None:
    """Add the stage and host-control requests (:mod:`ilvb.server.protocol_stage`)."""
    from ilvb.server.protocol_stage import MODELS

    REQUEST_MODELS.update(MODELS)


_register_stage()
