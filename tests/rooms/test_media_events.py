"""Media-plane failures reach the room: closed producers and transports, a dead worker.

A fake media plane fires the typed events ``ilvb.sfu`` fires (``ProducerClosed``,
``TransportClosed``, ``WorkerDied``) and records what each router was told.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from ilvb.config import RoomSettings
from ilvb.errors import Unavailable
from ilvb.rooms import media_link
from ilvb.rooms.clock import ManualClock
from ilvb.rooms.manager import RoomManager
from ilvb.rooms.member import Member
from ilvb.sfu.api import (
    MediaPathChanged,
    NullRouter,
    ProducerClosed,
    RouterEventHandler,
    RouterOptions,
    SendAnswer,
    Source,
    Subscription,
    TransportClosed,
    WorkerDied,
)
from tests.client.polling import poll
from tests.rooms.helpers import APP, RecordingOutbox, claims, room_of

pytestmark = pytest.mark.timeout(30)


class FakeRouter(NullRouter):
    """Records every command in order; negotiation answers a dummy SDP."""

    def __init__(self, room_id: str) -> None:
        super().__init__(room_id)
        self.calls: list[tuple[Any, ...]] = []

    async def negotiate_send(
        self, member_id: str, offer_sdp: str, sources: dict[str, Source]
    ) -> SendAnswer:
        self.calls.append(("negotiate_send", member_id))
        return SendAnswer(f"answer-from-{id(self)}", [])

    async def set_source_enabled(self, member_id: str, source: Source, enabled: bool) -> None:
        self.calls.append(("enabled", member_id, source, enabled))

    async def set_subscription(self, member_id: str, subscription: Subscription) -> None:
        self.calls.append(("subscription", member_id, subscription))


class FakePlane:
    """Keeps each router's event handler; ``fail_opens`` makes the next opens fail."""

    def __init__(self) -> None:
        self.opened: list[FakeRouter] = []
        self.handlers: dict[str, RouterEventHandler] = {}
        self.fail_opens = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def open_router(
        self, room_id: str, on_event: RouterEventHandler, options: RouterOptions = RouterOptions()
    ) -> FakeRouter:
        await asyncio.sleep(0.01)
        if self.fail_opens > 0:
            self.fail_opens -= 1
            raise Unavailable("media_unavailable", "no media worker is running")
        router = FakeRouter(room_id)
        self.opened.append(router)
        self.handlers[room_id] = on_event
        return router

    def kill(self, router: FakeRouter) -> None:
        """Report the death of the worker holding ``router``, as WorkerMediaPlane does: once,
        to that router's handler."""
        handler = self.handlers.get(router.room_id)
        if handler is not None:
            handler(WorkerDied("channel closed", 4242))


@dataclass
class Setup:
    manager: RoomManager
    plane: FakePlane
    pub: Member
    sub: Member
    pub_box: RecordingOutbox
    sub_box: RecordingOutbox

    def on_event(self) -> RouterEventHandler:
        assert self.pub.room is not None
        return self.plane.handlers[self.pub.room.internal_id]


async def setup() -> Setup:
    plane = FakePlane()
    manager = RoomManager(RoomSettings(), plane, clock=ManualClock())  # type: ignore[arg-type]
    pub_box, sub_box = RecordingOutbox(), RecordingOutbox()
    pub = manager.enter(APP, claims("pub"), "r", "room", pub_box)
    sub = manager.enter(APP, claims("sub"), "r", "room", sub_box)
    room_of(pub).publish(pub, "camera")
    room_of(pub).publish(pub, "microphone")
    room_of(sub).request_views(sub, ["pub"])
    await manager.idle()
    pub_box.frames.clear()
    sub_box.frames.clear()
    return Setup(manager, plane, pub, sub, pub_box, sub_box)


async def test_producer_closed_stops_that_source_like_an_unpublish() -> None:
    s = await setup()
    s.on_event()(ProducerClosed("pub", "camera"))
    assert s.pub.sending == {"microphone"}
    (state,) = s.sub_box.events("member.state")
    assert state["user_id"] == "pub"
    assert state["sending"] == {"audio": True, "video": False, "screen": False}
    assert s.pub_box.events("member.state") == [state]  # the member sees itself stop too
    assert s.pub.room is not None and "pub" not in s.pub.room.video_senders
    await s.manager.idle()
    assert s.plane.opened[0].calls[-1] == ("enabled", "pub", "camera", False)
    # a repeat, a source not sent and an unknown member change nothing
    s.on_event()(ProducerClosed("pub", "camera"))
    s.on_event()(ProducerClosed("sub", "microphone"))
    s.on_event()(ProducerClosed("ghost", "camera"))
    assert len(s.sub_box.events("member.state")) == 1
    assert s.pub_box.events("transport.closed") == []
    await s.manager.close()


async def test_send_transport_closed_stops_every_source_and_tells_the_member() -> None:
    s = await setup()
    s.on_event()(TransportClosed("pub", "send", "consent_expired"))
    assert s.pub.sending == set()
    (state,) = s.sub_box.events("member.state")
    assert state["user_id"] == "pub"
    assert state["sending"] == {"audio": False, "video": False, "screen": False}
    assert s.pub_box.events("transport.closed") == [
        {"transport": "send", "reason": "consent_expired"}
    ]
    assert s.sub_box.events("transport.closed") == []  # only the member itself is told
    room = s.pub.room
    assert room is not None and not room.audio_senders and not room.video_senders
    # The SDK asks again and renegotiates: the sources are granted as before.
    room_of(s.pub).publish(s.pub, "camera")
    assert s.pub.sending == {"camera"}
    await s.manager.close()


async def test_recv_transport_closed_only_tells_the_member() -> None:
    s = await setup()
    s.on_event()(TransportClosed("sub", "recv", "unanswered"))
    s.on_event()(TransportClosed("pub", "recv", "dtls_closed"))
    assert s.sub_box.events("transport.closed") == [{"transport": "recv", "reason": "unanswered"}]
    assert s.pub_box.events("transport.closed") == [{"transport": "recv", "reason": "dtls_closed"}]
    assert s.pub.sending == {"camera", "microphone"}  # receiving is not sending
    assert s.sub_box.events("member.state") == [] and s.pub_box.events("member.state") == []
    assert s.sub.views == [("pub", "camera")]
    await s.manager.close()


async def test_worker_death_reopens_the_room_reapplies_state_and_tells_everyone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(media_link, "REOPEN_RETRY_S", 0.01)
    s = await setup()
    room_of(s.pub).mute(s.pub, "microphone", True)
    room_of(s.sub).stop_listening(s.sub, ["pub"])
    await s.manager.idle()
    s.pub_box.frames.clear()
    s.sub_box.frames.clear()
    assert s.pub.room is not None and s.pub.room.link is not None
    room, link = s.pub.room, s.pub.room.link
    old = s.plane.opened[0]
    s.plane.fail_opens = 3  # the replacement worker is not up yet
    s.plane.kill(old)
    # a negotiation arriving meanwhile waits for the new router
    answer = asyncio.ensure_future(s.manager.negotiate_send(s.pub, "offer", {"0": "camera"}))
    await poll(lambda: link.reopens == 1, 10, "the room re-opened")
    assert len(s.plane.opened) == 2
    new = s.plane.opened[1]
    assert await asyncio.wait_for(answer, 10) == f"answer-from-{id(new)}"
    assert await link.router() is new
    # every member's subscription and every enabled (unmuted) source, before anything else
    reapplied = new.calls[:3]
    assert ("subscription", "pub", room.subscription(s.pub)) in reapplied
    assert ("subscription", "sub", room.subscription(s.sub)) in reapplied
    assert room.subscription(s.sub).views == (("pub", "camera"),)
    assert room.subscription(s.sub).audio_from is not None
    assert "pub" not in room.subscription(s.sub).audio_from
    assert ("enabled", "pub", "camera", True) in reapplied
    assert not any(c[:3] == ("enabled", "pub", "microphone") for c in new.calls)
    # each member is told once, after the new router is ready; nothing else changed
    for box in (s.pub_box, s.sub_box):
        assert box.events("transport.closed") == [
            {"transport": "both", "reason": "media_restarted"}
        ]
        assert box.events("member.state") == [] and box.events("members.exited") == []
    assert [m.user_id for m in room.members.values()] == ["pub", "sub"]
    assert s.pub.sending == {"camera", "microphone"}
    # commands after the restart go to the new router
    room_of(s.pub).unpublish(s.pub, "camera")
    await s.manager.idle()
    assert new.calls[-1] == ("enabled", "pub", "camera", False)
    assert old.calls[-1] != ("enabled", "pub", "camera", False)
    await s.manager.close()
    assert new.closed


async def test_worker_death_of_another_room_leaves_this_one_alone() -> None:
    s = await setup()
    other = FakeRouter("rm_somewhere_else")
    s.plane.kill(other)
    await s.manager.idle()
    assert len(s.plane.opened) == 1
    assert s.pub_box.events("transport.closed") == []
    await s.manager.close()


async def test_a_member_away_gets_the_missed_transport_closed_after_its_resume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(media_link, "REOPEN_RETRY_S", 0.01)
    s = await setup()
    s.manager.disconnect(s.sub)  # inside the disconnect window: no outbox
    s.on_event()(TransportClosed("sub", "recv", "consent_expired"))
    assert s.pub.room is not None and s.pub.room.link is not None
    link = s.pub.room.link
    s.plane.kill(s.plane.opened[0])
    await poll(lambda: link.reopens == 1, 10, "the room re-opened")
    assert s.sub_box.events("transport.closed") == []
    assert s.pub_box.events("transport.closed") == [
        {"transport": "both", "reason": "media_restarted"}
    ]
    back = RecordingOutbox()
    s.manager.reconnect(s.sub, back)
    assert back.events("transport.closed") == []  # not before the hello response
    s.manager.flush_media_notice(s.sub)
    s.manager.flush_media_notice(s.sub)  # once only
    assert back.events("transport.closed") == [{"transport": "both", "reason": "media_restarted"}]
    await s.manager.close()


async def test_missed_notices_of_both_transports_merge() -> None:
    s = await setup()
    s.manager.disconnect(s.pub)
    s.on_event()(TransportClosed("pub", "recv", "a"))
    s.on_event()(TransportClosed("pub", "send", "b"))
    back = RecordingOutbox()
    s.manager.reconnect(s.pub, back)
    s.manager.flush_media_notice(s.pub)
    assert back.events("transport.closed") == [{"transport": "both", "reason": "b"}]
    assert s.pub.sending == set()
    await s.manager.close()


async def test_a_lost_media_path_shows_as_reconnecting_to_everyone_and_ends_when_back() -> None:
    s = await setup()
    sending = set(s.pub.sending)
    s.on_event()(MediaPathChanged("pub", True))
    (state,) = s.sub_box.events("member.state")
    assert state["user_id"] == "pub" and state["reconnecting"] is True
    assert state["connected"] is True  # its signaling is fine: not in the disconnect window
    s.on_event()(MediaPathChanged("pub", True))  # a repeat changes nothing
    s.on_event()(MediaPathChanged("ghost", True))
    s.on_event()(MediaPathChanged("pub", False))
    assert [e["reconnecting"] for e in s.sub_box.events("member.state")] == [True, False]
    assert s.sub_box.events("members.exited") == []  # it never left
    assert s.pub.sending == sending  # nothing was stopped
    await s.manager.close()
