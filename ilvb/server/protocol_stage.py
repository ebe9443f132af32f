"""Signaling message models of the stage and the host controls (docs/protocol.md, "Stage and
room controls"), registered into :data:`ilvb.server.protocol.REQUEST_MODELS`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, StrictStr

from ilvb.server.protocol import Empty, UserId, _Data

InviteId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class Grants(_Data):
    """What an invitation grants (omitted flags: not granted)."""

    audio: StrictBool = False
    video: StrictBool = False
    screen: StrictBool = False


class StageInvite(_Data):
    """``stage.invite``: the invitee and, optionally, what it may send (default audio+video)."""

    user_id: UserId
    permissions: Grants | None = None


class InviteAnswer(_Data):
    """``stage.accept`` / ``stage.decline``."""

    invite_id: InviteId


class TargetMember(_Data):
    """``stage.remove``, ``member.mute``, ``member.stop_screen``, ``hand.lower`` (another's)."""

    user_id: UserId


class HandLower(_Data):
    """``hand.lower``: mine, or (with the stage right) another member's."""

    user_id: UserId | None = None


class RoomLock(_Data):
    """``room.lock``."""

    locked: StrictBool = True


MODELS: dict[str, type[_Data]] = {
    "stage.invite": StageInvite,
    "stage.accept": InviteAnswer,
    "stage.decline": InviteAnswer,
    "stage.remove": TargetMember,
    "hand.raise": Empty,
    "hand.lower": HandLower,
    "hand.list": Empty,
    "member.mute": TargetMember,
    "member.stop_screen": TargetMember,
    "room.mute_all": Empty,
    "room.lock": RoomLock,
}
