"""Stage and host controls over the socket and REST: each step's events and state, the errors
(with the request id) that leave the room unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.peer import Peer
from tests.server.test_signaling_rooms import Harness, h  # noqa: F401  (fixture)

STUDENT = {"role": "audience", "audio": True, "video": True}


@pytest.fixture
def klass(h: Harness) -> Iterator[tuple[Harness, Peer, Peer, Peer]]:  # noqa: F811
    teacher = h.peer("teacher", "class", role="teacher")
    s1 = h.peer("s1", "class", **STUDENT)
    s2 = h.peer("s2", "class", **STUDENT)
    yield h, teacher, s1, s2


def test_hand_invite_accept_publish_and_remove(klass: tuple[Harness, Peer, Peer, Peer]) -> None:
    hx, teacher, s1, s2 = klass
    assert s1.error("media.publish", {"source": "microphone"}).code == "permission_denied"
    s1.request("hand.raise")
    assert teacher.next_event("hand.raised") == {"user_id": "s1"}
    assert teacher.request("hand.list")["hands"][0]["user_id"] == "s1"
    assert hx.rest("GET", "/class/hands").json()["hands"][0]["user_id"] == "s1"
    invite = teacher.request("stage.invite", {"user_id": "s1"})["invite"]
    assert invite["permissions"] == {"audio": True, "video": True, "screen": False}
    assert s1.next_event("stage.invited")["invite_id"] == invite["invite_id"]
    accepted = s1.request("stage.accept", {"invite_id": invite["invite_id"]})
    assert accepted["me"]["on_stage"] is True and accepted["me"]["hand_raised"] is False
    assert s1.next_event("permissions.changed")["by"] == "stage"
    assert teacher.next_event("stage.accepted")["user_id"] == "s1"
    s1.request("media.publish", {"source": "microphone"})
    state = teacher.request("member.get", {"user_id": "s1"})
    assert state["on_stage"] and state["sending"]["audio"]
    off = teacher.request("stage.remove", {"user_id": "s1"})
    assert off["on_stage"] is False and off["sending"]["audio"] is False
    assert s1.next_event("stage.removed") == {"user_id": "s1", "by": "teacher"}
    assert s1.error("media.publish", {"source": "microphone"}).code == "permission_denied"


def test_errors_carry_the_request_id_and_change_nothing(
    klass: tuple[Harness, Peer, Peer, Peer],
) -> None:
    hx, teacher, s1, s2 = klass
    invite = teacher.request("stage.invite", {"user_id": "s1"})["invite"]
    before = hx.rest("GET", "/class/members").json()
    frame = teacher.call("stage.invite", {"user_id": "ghost"})
    assert frame["type"] == "error" and frame["id"] is not None
    assert frame["error"]["code"] == "member_not_found"
    assert s2.error("stage.invite", {"user_id": "s1"}).code == "stage_right_required"
    assert s2.error("stage.accept", {"invite_id": invite["invite_id"]}).code == (
        "invite_not_for_you"
    )
    assert s2.error("member.mute", {"user_id": "s1"}).code == "stage_right_required"
    assert s2.error("room.lock").code == "stage_right_required"
    assert s2.error("hand.list").code == "stage_right_required"
    assert teacher.error("stage.remove", {"user_id": "s2"}).code == "not_on_stage"
    assert teacher.error(
        "stage.invite", {"user_id": "s1", "permissions": {"audio": "yes"}}
    ).code == ("invalid_argument")
    assert hx.rest("GET", "/class/members").json() == before
    s1.request("stage.accept", {"invite_id": invite["invite_id"]})
    assert s1.error("stage.accept", {"invite_id": invite["invite_id"]}).code == (
        "invite_already_answered"
    )


def test_rest_invite_grants_beyond_the_ticket_and_host_controls(h: Harness) -> None:  # noqa: F811
    host = h.peer("host", "live", role="host")
    viewer = h.peer("v", "live", role="audience")  # priv: nothing
    assert host.error("stage.invite", {"user_id": "v"}).code == "permission_denied"
    body = {"user_id": "v", "permissions": {"audio": True, "screen": True}}
    reply = h.rest("POST", "/live/stage/invite", json=body)
    assert reply.status_code == 200, reply.text
    invite = reply.json()["invite"]
    assert invite["by"] is None
    viewer.request("stage.accept", {"invite_id": invite["invite_id"]})
    viewer.request("media.publish", {"source": "microphone"})
    viewer.request("media.publish", {"source": "screen"})
    assert h.rest("POST", "/live/members/v/mute").json()["muted"]["audio"] is True
    assert viewer.next_event("control.muted") == {"source": "microphone", "by": None}
    stopped = host.request("member.stop_screen", {"user_id": "v"})
    assert stopped["sending"]["screen"] is False
    assert viewer.next_event("control.screen_stopped") == {"by": "host"}
    viewer.request("media.mute", {"source": "microphone", "muted": False})
    assert h.rest("POST", "/live/mute_all").json() == {"muted": ["v"]}
    assert h.rest("POST", "/live/lock", json={"locked": True}).json() == {"locked": True}
    assert viewer.next_event("room.locked") == {"locked": True, "by": None}
    late = h.peer("late")
    assert late.error("room.enter", {"room": "live"}).code == "room_locked"
    assert h.rest("GET", "/live").json()["locked"] is True
    off = h.rest("POST", "/live/members/v/stage/remove")
    assert off.json()["on_stage"] is False and off.json()["sending"]["audio"] is False
    assert h.rest("POST", "/live/members/host/stage/remove").json()["error"]["code"] == (
        "not_on_stage"
    )
    assert host.request("room.lock", {"locked": False}) == {"locked": False}
    late.request("room.enter", {"room": "live"})
