"""Enter/exit fan-out: every member gets every event exactly once, in batches, at O(n) cost."""

from __future__ import annotations

import asyncio
import random

import pytest

from ilvb.rooms.member import Member
from tests.rooms.helpers import APP, RecordingOutbox, claims, make_manager, room_of


def seen_by(box: RecordingOutbox) -> tuple[list[str], list[str]]:
    """User ids in members.entered and members.exited events, in order."""
    entered = [m["user_id"] for e in box.events("members.entered") for m in e["members"]]
    exited = [u for e in box.events("members.exited") for u in e["user_ids"]]
    return entered, exited


async def wait_flushed(manager, app_id: str = APP.app_id) -> None:  # type: ignore[no-untyped-def]
    for _ in range(1000):  # up to 10 s on a loaded machine
        rooms = manager.rooms(app_id)
        if all(room.batcher.pending() == 0 for room in rooms):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("batches were not flushed")


async def test_every_member_of_a_200_member_room_gets_every_event_exactly_once() -> None:
    manager, _, _ = make_manager(event_batch_ms=5, event_batch_min_members=20)
    rng = random.Random(7)
    boxes: dict[str, RecordingOutbox] = {}
    members: dict[str, Member] = {}
    history: list[tuple[str, str]] = []  # ("enter"|"exit", user) in order
    for i in range(200):
        user = f"u{i:03}"
        boxes[user] = RecordingOutbox()
        members[user] = manager.enter(APP, claims(user), "big", "room", boxes[user])
        history.append(("enter", user))
        if i % 10 == 9:
            await asyncio.sleep(0.006)  # let some batches flush mid-storm
    leavers = rng.sample(sorted(members), 40)
    for user in leavers[:20]:
        manager.exit(members[user])
        history.append(("exit", user))
    await wait_flushed(manager)
    for user in leavers[20:]:
        manager.exit(members[user])
        history.append(("exit", user))
    await wait_flushed(manager)
    room = manager.get(APP.app_id, "big")
    assert room.batcher.flushes < len(history)  # events were coalesced
    for user, box in boxes.items():
        # What this member should see: everything after its own entry, until its exit.
        start = history.index(("enter", user))
        end = history.index(("exit", user)) if ("exit", user) in history else len(history)
        want_in = [u for kind, u in history[start + 1 : end] if kind == "enter"]
        want_out = [u for kind, u in history[start + 1 : end] if kind == "exit"]
        got_in, got_out = seen_by(box)
        assert got_in == want_in, user
        assert got_out == want_out, user


async def test_a_join_storm_costs_linear_sends_not_quadratic() -> None:
    manager, _, _ = make_manager(event_batch_ms=20, event_batch_min_members=10)
    boxes = []
    for i in range(800):
        box = RecordingOutbox()
        manager.enter(APP, claims(f"u{i}"), "storm", "room", box)
        boxes.append(box)
    await wait_flushed(manager)
    total_frames = sum(len(b.frames) for b in boxes)
    # Without batching this would be ~320,000 frames (one per join per member).
    assert total_frames < 10 * len(boxes)
    entered = sum(text.count('"user_id"') for b in boxes for text in b.frames)
    assert entered == 800 * 799 // 2


async def test_a_state_event_flushes_pending_entries_first() -> None:
    manager, _, _ = make_manager(event_batch_ms=10_000, event_batch_min_members=1)
    box = RecordingOutbox()
    manager.enter(APP, claims("old"), "r", "room", box)
    newcomer = manager.enter(APP, claims("new"), "r", "room", RecordingOutbox())
    assert box.names() == []  # still batched
    room_of(newcomer).publish(newcomer, "microphone")
    assert box.names() == ["members.entered", "member.state"]


async def test_a_disconnected_member_gets_nothing_queued() -> None:
    manager, _, _ = make_manager()
    box = RecordingOutbox()
    away = manager.enter(APP, claims("away"), "r", "room", box)
    manager.disconnect(away)
    before = len(box.frames)
    manager.enter(APP, claims("other"), "r", "room", RecordingOutbox())
    assert len(box.frames) == before


async def test_mixed_batch_suffixes_are_cut_at_the_right_op() -> None:
    manager, _, _ = make_manager(event_batch_ms=10_000, event_batch_min_members=1)
    boxes = {}
    members = {}
    for user in ["a", "b", "c"]:
        boxes[user] = RecordingOutbox()
        members[user] = manager.enter(APP, claims(user), "r", "room", boxes[user])
    manager.exit(members["b"])  # b gets the pending entry of c before its room.exited
    for user in ["d", "e"]:
        boxes[user] = RecordingOutbox()
        members[user] = manager.enter(APP, claims(user), "r", "room", boxes[user])
    manager.exit(members["a"])
    room = manager.get(APP.app_id, "r")
    room.batcher.flush()
    assert seen_by(boxes["b"]) == (["c"], [])
    assert boxes["b"].names()[-1] == "room.exited"
    assert seen_by(boxes["a"]) == (["b", "c", "d", "e"], ["b"])
    assert seen_by(boxes["c"]) == (["d", "e"], ["b", "a"])
    assert boxes["c"].names() == ["members.exited", "members.entered", "members.exited"]
    assert seen_by(boxes["d"]) == (["e"], ["a"])
    assert seen_by(boxes["e"]) == ([], ["a"])


async def test_the_batch_window_grows_with_the_room() -> None:
    manager, _, _ = make_manager(event_batch_ms=50, event_batch_min_members=10)
    for i in range(3000):
        manager.enter(APP, claims(f"u{i}"), "r", "room", None)
    batcher = manager.get(APP.app_id, "r").batcher
    assert batcher.window_s() == pytest.approx(0.3)  # 0.1 ms per member, above 50 ms
    small, _, _ = make_manager(event_batch_ms=50, event_batch_min_members=10)
    for i in range(20):
        small.enter(APP, claims(f"u{i}"), "r", "room", None)
    assert small.get(APP.app_id, "r").batcher.window_s() == pytest.approx(0.05)


async def test_a_large_batch_is_handed_out_in_slices_and_stays_ordered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ilvb.rooms import fanout

    monkeypatch.setattr(fanout, "SLICE_MEMBERS", 8)
    manager, _, _ = make_manager(event_batch_ms=10_000, event_batch_min_members=10)
    boxes = []
    members = []
    for i in range(3 * fanout.SLICE_MEMBERS):
        box = RecordingOutbox()
        members.append(manager.enter(APP, claims(f"u{i:04}"), "r", "room", box))
        boxes.append(box)
    room = manager.get(APP.app_id, "r")
    room.batcher.flush()
    served = sum(1 for b in boxes[:-1] if b.frames)
    assert 0 < served < len(boxes) - 1  # only the first slice so far
    await asyncio.sleep(0)  # one loop iteration: the next slice
    assert sum(1 for b in boxes[:-1] if b.frames) > served
    # A newer room event completes the in-flight delivery first, for everyone.
    leaver = members[-2]
    manager.exit(leaver)  # mid-delivery: it still gets its share before room.exited
    assert boxes[-2].names()[-2:] == ["members.entered", "room.exited"]
    room_of(members[0]).publish(members[0], "microphone")
    for box, member in zip(boxes, members, strict=True):
        if member is leaver:
            continue
        names = box.names()
        if member is members[-1]:
            assert names == ["members.exited", "member.state"]
        else:
            assert names[-1] == "member.state"
            assert names.index("members.entered") < names.index("member.state")
    await wait_flushed(manager)


async def test_a_mass_disconnect_costs_one_frame_per_remaining_member_not_one_per_loss() -> None:
    manager, _, _ = make_manager(event_batch_ms=20, event_batch_min_members=50)
    boxes = [RecordingOutbox() for _ in range(100)]
    members = [
        manager.enter(APP, claims(f"u{i:03}"), "big", "room", box) for i, box in enumerate(boxes)
    ]
    await wait_flushed(manager)
    for box in boxes:
        box.frames.clear()
    lost = members[::2]  # a network cut drops half the room at once
    for member in lost:
        manager.disconnect(member)
    await wait_flushed(manager)
    total = sum(len(box.frames) for box in boxes)
    # Unbatched: one member.state per loss to every member still connected, 99+98+…+50 = 3725.
    assert total == 50
    for box in boxes[1::2]:
        (batch,) = box.events("members.state")
        assert [s["user_id"] for s in batch["members"]] == [m.user_id for m in lost]
        assert all(s["connected"] is False for s in batch["members"])
    for member in lost[:3]:
        manager.reconnect(member, boxes[members.index(member)])
    await wait_flushed(manager)
    back = boxes[1].events("members.state")[-1]["members"]
    assert [(s["user_id"], s["connected"]) for s in back] == [(m.user_id, True) for m in lost[:3]]
    await manager.close()


async def test_a_connection_change_in_a_small_room_is_one_plain_member_state() -> None:
    manager, _, _ = make_manager(event_batch_ms=20, event_batch_min_members=50)
    alice_box, bob_box = RecordingOutbox(), RecordingOutbox()
    manager.enter(APP, claims("alice"), "r", "room", alice_box)
    bob = manager.enter(APP, claims("bob"), "r", "room", bob_box)
    manager.disconnect(bob)  # below 50 members: flushed at once, as member.state
    assert alice_box.names()[-1] == "member.state"
    assert alice_box.events("member.state")[-1]["connected"] is False
    assert alice_box.events("members.state") == []
    await manager.close()
