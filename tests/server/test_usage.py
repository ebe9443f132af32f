"""The usage recorder: per-minute peaks of each app, rooms and calls apart, written to the store."""

from __future__ import annotations

import asyncio

from ilvb.server.usage import UsageRecorder
from ilvb.store.memory import MemoryAppStore
from tests.rooms.helpers import APP, OTHER_APP, claims, enter, make_manager

MINUTE0 = 1_700_000_040.0  # a minute's start (divisible by 60)
T0 = MINUTE0 + 40  # 40 s into it


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def _store() -> MemoryAppStore:
    store = MemoryAppStore()
    await store.open()
    for record in (APP, OTHER_APP):
        store._apps[record.app_id] = record  # noqa: SLF001 - the fixed test apps
    return store


async def test_each_minute_records_its_peak_not_its_end() -> None:
    manager, _, clock = make_manager()
    clock.now = T0
    store = await _store()
    recorder = UsageRecorder(manager, store, clock)
    members = [enter(manager, f"u{i}")[0] for i in range(5)]
    for m in members[:4]:
        manager.exit(m)  # peak 5 in the first minute, 1 at its end
    clock.advance(30)  # into the next minute: the first one is written
    await _settle()
    samples = await store.usage(APP.app_id, 0, 2e9)
    assert [(s.timestamp, s.participants, s.call_participants) for s in samples] == [
        (MINUTE0, 5, 0)
    ]
    clock.advance(60)  # a quiet minute with one member still in: peak 1
    await _settle()
    samples = await store.usage(APP.app_id, 0, 2e9)
    assert [s.participants for s in samples] == [5, 1]
    await recorder.close()


async def test_calls_and_apps_are_counted_apart_and_close_writes_the_minute_so_far() -> None:
    manager, _, clock = make_manager()
    clock.now = T0
    store = await _store()
    recorder = UsageRecorder(manager, store, clock)
    enter(manager, "a", "lobby")
    caller = manager.enter(APP, claims("c1"), 0, "call", None, callee="c2")
    assert caller.room is not None
    manager.enter(OTHER_APP, claims("x"), "r", "room", None)
    assert recorder.current(APP.app_id) == (1, 1)
    await recorder.close()
    app_samples = await store.usage(APP.app_id, 0, 2e9)
    other = await store.usage(OTHER_APP.app_id, 0, 2e9)
    assert [(s.participants, s.call_participants) for s in app_samples] == [(1, 1)]
    assert [(s.participants, s.call_participants) for s in other] == [(1, 0)]
    assert app_samples[0].timestamp == MINUTE0


async def test_an_idle_server_writes_nothing() -> None:
    manager, _, clock = make_manager()
    clock.now = T0
    store = await _store()
    recorder = UsageRecorder(manager, store, clock)
    clock.advance(600)
    await recorder.close()
    assert await store.usage(APP.app_id, 0, 2e9) == []
