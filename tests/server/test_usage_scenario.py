"""Usage end to end: a scripted 10-member room and a two-person call on the server's injected
clock for three minutes give exact per-minute figures, kept in SQLite across a restart."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ilvb.auth.admin import hash_admin_key, new_admin_key
from ilvb.auth.tickets import Privileges, TicketClaims
from ilvb.rooms.clock import ManualClock
from ilvb.server.app import create_app
from ilvb.sfu.api import NullMediaPlane
from ilvb.store.interfaces import AppRecord
from ilvb.store.sql import SqlAppStore
from tests.conftest import _settings, run_sync

MINUTE0 = 1_700_000_040.0  # a minute's start (divisible by 60)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _claims(app: AppRecord, user: str) -> TicketClaims:
    return TicketClaims(app.app_id, user, 0.0, 2e9, None, "student", Privileges(True, True, True))


async def _prepare(url: str) -> tuple[AppRecord, str]:
    store = SqlAppStore(url)
    await store.open()
    app = await store.create_app("school")
    key = new_admin_key()
    await store.set_admin_key_hash(hash_admin_key(key))
    await store.close()
    return app, key


def _server(url: str, clock: ManualClock) -> Iterator[TestClient]:
    settings = _settings({"server": {"database_url": url}})
    app = create_app(settings, store=SqlAppStore(url), media=NullMediaPlane(), clock=clock)
    with TestClient(app) as client:
        yield client


def _on_loop(client: TestClient) -> Callable[..., Any]:
    """Call ``fn(*args, **kw)`` on the server's event loop (rooms and timers live there)."""

    def call(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return client.portal.call(functools.partial(fn, *args, **kw))  # type: ignore[union-attr]

    return call


def _wait(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the minute's sample was not written in time"
        time.sleep(0.02)


def test_a_scripted_room_and_call_give_exact_minutes_that_survive_a_restart(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ilvb.db'}"
    app, key = run_sync(_prepare(url))
    clock = ManualClock(start=MINUTE0 + 5)
    query = f"from={_iso(MINUTE0)}&to={_iso(MINUTE0 + 3600)}"
    path = f"/v1/apps/{app.app_id}/usage?{query}"
    headers = {"X-Admin-Key": key}
    expected = [
        {"t": _iso(MINUTE0), "multi": 10, "call": 0},
        {"t": _iso(MINUTE0 + 60), "multi": 10, "call": 2},
        {"t": _iso(MINUTE0 + 120), "multi": 6, "call": 2},
    ]
    served = _server(url, clock)
    client = next(served)
    rooms: Any = client.app.state.rooms  # type: ignore[attr-defined]
    on_loop = _on_loop(client)
    # Minute 0: ten students enter the class.
    students = [on_loop(rooms.enter, app, _claims(app, f"s{i}"), "class") for i in range(10)]
    on_loop(clock.advance, 60)  # MINUTE0 + 65
    # Minute 1: a two-person call starts; four students leave (the minute's peak stays 10).
    caller = on_loop(rooms.enter, app, _claims(app, "c1"), 0, "call", callee="c2")
    on_loop(rooms.enter, app, _claims(app, "c2"), caller.room.display, "call")
    on_loop(clock.advance, 10)
    for member in students[:4]:
        on_loop(rooms.exit, member)
    _wait(lambda: len(client.get(path, headers=headers).json()["points"]) == 1)
    assert client.get(path, headers=headers).json()["points"] == expected[:1]
    on_loop(clock.advance, 50)  # MINUTE0 + 125
    # Minute 2: the call ends; six students are still in when the server stops.
    on_loop(rooms.exit, caller)
    _wait(lambda: len(client.get(path, headers=headers).json()["points"]) == 2)
    on_loop(clock.advance, 40)  # MINUTE0 + 165
    next(served, None)  # a graceful stop writes the minute so far

    restarted = _server(url, ManualClock(start=MINUTE0 + 300))
    client = next(restarted)
    minutes = client.get(path, headers=headers).json()
    assert minutes["points"] == expected
    # The billing peak: multi + call / 2 of the largest minute.
    assert minutes["peak"] == {"value": "11.0", "t": _iso(MINUTE0 + 60)}
    hours = client.get(path + "&step=hour", headers=headers).json()["points"]
    assert hours == [{"t": _iso(MINUTE0 - MINUTE0 % 3600), "multi": 10, "call": 2}]
    next(restarted, None)
