"""The Python SDK's stage and host controls against the real control plane (no media)."""

from __future__ import annotations

import pytest

from ilvb.errors import InvalidState, LimitExceeded, PermissionDenied
from ilvb.sfu.api import NullMediaPlane
from tests.integration.harness import LiveServer

STUDENT = {"role": "audience", "audio": True, "video": True}


async def test_raise_hand_invite_accept_and_take_off_stage() -> None:
    async with LiveServer(media_plane=NullMediaPlane()) as server:
        teacher = await server.client("teacher", role="teacher")
        student = await server.client("s1", **STUDENT)
        await teacher.enter("class", receive=False)
        await student.enter("class", receive=False)
        hands = teacher.events(["hand.raised"])
        await student.raise_hand()
        assert (await hands.next(5)).data == {"user_id": "s1"}
        assert [h["user_id"] for h in await teacher.hands()] == ["s1"]
        invited = student.events(["stage.invited"])
        invite = await teacher.invite_to_stage("s1", video=False)
        got = await invited.next(5)
        assert got.data["invite_id"] == invite["invite_id"]
        assert got.data["permissions"] == {"audio": True, "video": False, "screen": False}
        me = await student.accept_invite(invite["invite_id"])
        assert me["on_stage"] and me["permissions"]["audio"] and not me["permissions"]["video"]
        with pytest.raises(InvalidState) as info:
            await student.accept_invite(invite["invite_id"])
        assert info.value.code == "invite_already_answered"
        removed = student.events(["stage.removed"])
        state = await teacher.remove_from_stage("s1")
        assert state["on_stage"] is False
        assert (await removed.next(5)).data == {"user_id": "s1", "by": "teacher"}
        with pytest.raises(PermissionDenied) as denied:
            await student.invite_to_stage("teacher")
        assert denied.value.code == "stage_right_required"


async def test_controls_and_a_full_stage() -> None:
    async with LiveServer(media_plane=NullMediaPlane(), rooms={"video_sender_cap": 1}) as server:
        host = await server.client("host", role="host")
        a = await server.client("a", **STUDENT)
        b = await server.client("b", **STUDENT)
        for c in (host, a, b):
            await c.enter("live", receive=False)
        await a.accept_invite((await host.invite_to_stage("a"))["invite_id"])
        declined = await host.invite_to_stage("b")
        assert (await b.decline_invite(declined["invite_id"]))["status"] == "declined"
        second = await host.invite_to_stage("b")
        with pytest.raises(LimitExceeded) as full:
            await b.accept_invite(second["invite_id"])
        assert full.value.code == "video_sender_limit"
        assert (await host.member("b"))["on_stage"] is False
        assert await host.mute_all() == []
        assert await host.lock_room() is True
        late = await server.client("late")
        with pytest.raises(PermissionDenied) as locked:
            await late.enter("live", receive=False)
        assert locked.value.code == "room_locked"
        assert await host.lock_room(False) is False
