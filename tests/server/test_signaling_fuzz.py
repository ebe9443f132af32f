"""Property test: random frames never produce internal_error, always get one reply each, and
never break the room invariants."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ilvb.rooms.manager import RoomManager
from ilvb.server.protocol import REQUEST_MODELS
from tests.conftest import AppEnv
from tests.server.peer import Peer

FIELDS = [
    "room", "kind", "cursor", "limit", "user_id", "user_ids", "source", "muted",
    "audio", "video", "screen", "sdp", "sources", "protocol", "ticket", "resume",
]  # fmt: skip
SOURCES = ["microphone", "camera", "screen"]
USERS = ["a", "b", "c", "fuzz"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(SOURCES + USERS + ["room", "call", "0", "r"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)
plausible = {
    "room": st.one_of(st.sampled_from(["r", "s", 0, 1, "0"]), values),
    "kind": st.one_of(st.sampled_from(["room", "call"]), values),
    "user_ids": st.one_of(st.lists(st.sampled_from(USERS), max_size=5), values),
    "user_id": st.one_of(st.sampled_from(USERS), values),
    "source": st.one_of(st.sampled_from(SOURCES), values),
    "sources": st.one_of(
        st.dictionaries(st.sampled_from(["0", "1"]), st.sampled_from(SOURCES)), values
    ),
}
data_dicts = st.dictionaries(
    st.sampled_from(FIELDS),
    st.deferred(lambda: st.sampled_from(FIELDS).flatmap(lambda f: plausible.get(f, values))),
    max_size=4,
)
requests = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(sorted(REQUEST_MODELS)), st.text(max_size=10), values)},
    optional={"data": st.one_of(data_dicts, values), "extra": values},
)
user_lists = st.lists(st.sampled_from(USERS), min_size=1, max_size=5)
flags = st.dictionaries(st.sampled_from(["audio", "video", "screen"]), st.booleans(), max_size=3)
valid_data = {
    "room.enter": st.fixed_dictionaries(
        {"room": st.sampled_from(["r", "s", 0, 1]), "kind": st.sampled_from(["room", "call"])}
    ),
    "room.exit": st.just({}),
    "room.members": st.fixed_dictionaries(
        {}, optional={"limit": st.integers(1, 5), "cursor": st.sampled_from(["1", "2", "x"])}
    ),
    "room.senders": st.just({}),
    "member.get": st.fixed_dictionaries({"user_id": st.sampled_from(USERS)}),
    "media.publish": st.fixed_dictionaries({"source": st.sampled_from(SOURCES)}),
    "media.unpublish": st.fixed_dictionaries({"source": st.sampled_from(SOURCES)}),
    "media.mute": st.fixed_dictionaries(
        {"source": st.sampled_from(SOURCES), "muted": st.booleans()}
    ),
    "view.request": st.fixed_dictionaries(
        {"user_ids": user_lists}, optional={"source": st.sampled_from(["camera", "screen"])}
    ),
    "view.cancel": st.fixed_dictionaries({}, optional={"user_ids": user_lists}),
    "listen.stop": st.fixed_dictionaries({"user_ids": user_lists}),
    "listen.resume": st.fixed_dictionaries({}, optional={"user_ids": user_lists}),
    "permissions.set": flags,
    "transport.send.offer": st.fixed_dictionaries(
        {
            "sdp": st.just("v=0\r\n"),
            "sources": st.dictionaries(st.sampled_from(["0", "1"]), st.sampled_from(SOURCES)),
        }
    ),
    "transport.recv.open": st.just({}),
    "transport.recv.answer": st.just({"sdp": "v=0\r\n"}),
}
valid_requests = st.sampled_from(sorted(valid_data)).flatmap(
    lambda t: valid_data[t].map(lambda d: {"type": t, "data": d})
)
frames = st.one_of(
    valid_requests.map(lambda r: ("object", r)),
    valid_requests.map(lambda r: ("object", r)),
    valid_requests.map(lambda r: ("object", r)),
    requests.map(lambda r: ("object", r)),
    values.map(lambda v: ("any", v)),
    st.text(max_size=30).map(lambda t: ("raw", t)),
)


def check_invariants(rooms: RoomManager) -> None:
    """Every room's indexes agree with its members."""
    for app_rooms in rooms._rooms.values():
        for room in app_rooms.values():
            assert room.members, "an empty room was not destroyed"
            assert not room.closed
            for uid, member in room.members.items():
                assert member.room is room and member.user_id == uid
                assert len(member.views) <= room.limits.max_views
                if member.sends_video:
                    assert len(member.views) <= room.limits.max_views - 1
                assert member.sending <= {"microphone", "camera", "screen"}
            audio = {u for u, m in room.members.items() if "microphone" in m.sending}
            video = {u for u, m in room.members.items() if m.sends_video}
            assert room.audio_senders == audio
            assert room.video_senders == video
            assert len(audio) <= room.limits.audio_senders
            assert len(video) <= room.limits.video_senders
            if room.kind == "call":
                assert len(room.members) <= 2


def test_random_frames_never_crash_or_corrupt(make_app_env: Callable[..., AppEnv]) -> None:
    # Request budgets out of the way: this test is about frame contents, not rates.
    unlimited = {f"{who}_{what}": 10**6 for who in ("connection", "user") for what in (
        "requests_per_s", "request_burst", "enters_per_s", "enter_burst")}  # fmt: skip
    env = make_app_env(signaling=unlimited)
    rooms_state: dict[str, Any] = {}
    with (
        TestClient(env.app) as client,
        client.websocket_connect("/ws") as ws_a,
        client.websocket_connect("/ws") as ws_b,
        client.websocket_connect("/ws") as ws_c,
    ):
        fuzz = Peer(ws_a, "fuzz")
        fuzz.hello(env.ticket("fuzz"))
        other = Peer(ws_b, "a")
        other.hello(env.ticket("a"))
        other.request("room.enter", {"room": "r"})
        other.request("media.publish", {"source": "camera"})
        speaker = Peer(ws_c, "b")
        speaker.hello(env.ticket("b"))
        speaker.request("room.enter", {"room": "r"})
        speaker.request("media.publish", {"source": "microphone"})
        rooms_state["counter"] = 1000

        @settings(
            max_examples=300,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(st.lists(frames, min_size=1, max_size=6))
        def run(batch: list[tuple[str, Any]]) -> None:
            for kind, value in batch:
                rooms_state["counter"] += 1
                request_id = rooms_state["counter"]
                if kind == "object":
                    value = dict(value, id=request_id)
                    text = json.dumps(value)
                elif kind == "any":
                    text = json.dumps(value)
                    request_id = None
                else:
                    text = value
                    request_id = None
                fuzz.send_raw(text)
                # Exactly one reply per frame; ids we did not set come back null.
                frame = fuzz.recv()
                while frame["type"] == "event":
                    frame = fuzz.recv()
                assert frame["type"] in ("response", "error"), frame
                if kind == "object":
                    assert frame["id"] == request_id, (text, frame)
                elif isinstance(value, dict) and frame["id"] is not None:
                    assert frame["id"] == value.get("id")
                if frame["type"] == "error":
                    assert frame["error"]["code"] != "internal_error", (text, frame)
                    assert frame["error"]["code"] != "ticket_malformed" or (
                        "hello" in text or "session.refresh" in text
                    )
            client.portal.call(lambda: _async_check(env))  # type: ignore[union-attr]

        run()
        # Both connections still work.
        assert "time" in fuzz.request("ping")
        assert other.request("room.members")["total"] >= 1


async def _async_check(env: AppEnv) -> None:
    check_invariants(env.app.state.rooms)
