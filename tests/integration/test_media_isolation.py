"""One member's bad input or one failing object must not starve other rooms on the worker.

Reproduces the attack of a publisher whose offer carries an out-of-range SSRC (the SDP path now
refuses it with ``invalid_sdp``), then injects what would have slipped through before — a router
whose ticks raise and a member whose periodic work raises — on the same worker, ahead of another
app's room: that room's listener still gets its audio slot and decodes the speaker's tone, and
the log holds one line per kind of failure instead of a traceback per tick.
"""

from __future__ import annotations

import logging
import re
import struct
from collections import Counter
from typing import Any

import pytest

from ilvb.auth.tickets import sign_ticket
from ilvb.client import Client, ToneSource
from ilvb.errors import InvalidArgument
from ilvb.sfu.plane import LocalWorker
from ilvb.sfu.router import MemberMedia
from tests.integration.harness import LiveServer
from tests.integration.media_checks import record_audio, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


class BrokenRouter:
    """A router whose periodic work always fails as the bad-SSRC one did."""

    room_id = "rm_broken"
    ticks = 0

    def tick(self, now: float) -> None:
        self.ticks += 1
        raise struct.error("'I' format requires 0 <= number <= 4294967295")

    def slow_tick(self, now: float, send_reports: bool) -> None:
        raise struct.error("'I' format requires 0 <= number <= 4294967295")

    def traffic(self) -> Counter[str]:
        """Its counters (the worker's stats read them): nothing forwarded."""
        return Counter()

    def close(self) -> None:
        pass


class ExplodingSlots(list[Any]):
    """A member's slot list that fails when the slow tick walks it."""

    def __iter__(self) -> Any:
        raise struct.error("'I' format requires 0 <= number <= 4294967295")


def with_bad_ssrcs(client: Client) -> None:
    """Rewrite every send offer of ``client``: its SSRCs become 99999999999."""
    original = client.media._request

    async def request(kind: str, data: dict[str, Any]) -> dict[str, Any]:
        if kind == "transport.send.offer":
            data = {**data, "sdp": re.sub(r"a=ssrc:\d+ ", "a=ssrc:99999999999 ", data["sdp"])}
        return await original(kind, data)

    client.media._request = request  # type: ignore[method-assign]


async def test_bad_ssrc_publisher_and_failing_objects_do_not_starve_another_apps_room(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ilvb.sfu")
    async with LiveServer() as server:
        worker_handle = server.media.workers[0]  # type: ignore[attr-defined]
        assert isinstance(worker_handle, LocalWorker)
        worker = worker_handle.worker

        # app A: the attacker's offer is refused, with a message that names the attribute
        app_a = await server.store.create_app("app-a")
        mallory = await Client.connect(
            server.url, sign_ticket(app_a.app_id, app_a.secret, "mallory")
        )
        server.clients.append(mallory)
        await mallory.enter("evil")
        with_bad_ssrcs(mallory)
        with pytest.raises(InvalidArgument) as err:
            await mallory.publish_audio(ToneSource(300.0))
        assert err.value.code == "invalid_sdp"
        assert "SSRC must be 0..4294967295" in err.value.message, err.value.message

        # what would have slipped through: a failing router ahead of app B's room
        broken = BrokenRouter()
        worker.routers[broken.room_id] = broken  # type: ignore[assignment]

        # app B (the harness app): a speaker and a listener on the same worker
        speaker = await server.client("speaker")
        listener = await server.client("listener")
        await speaker.enter("class")
        await listener.enter("class")
        live = server.app.state.rooms.get(server.app_id, "class", "room")
        handle = await live.link.router()
        router = worker.routers[handle.room_id]
        # ... and a member of app B's own room whose periodic work fails, ahead of the others
        ghost = MemberMedia("ghost")
        ghost.video_slots = ExplodingSlots()
        router.members = {"ghost": ghost, **router.members}

        audio = record_audio(listener)
        await speaker.publish_audio(ToneSource(440.0, amplitude=0.5))
        await wait_until(
            lambda: "speaker" in listener.remote.who("audio").values(), 15, "an audio slot"
        )
        await wait_until(
            lambda: (
                sum(1 for f, rms in audio.of("speaker") if rms > 0.05 and abs(f - 440) < 60) >= 50
            ),
            20,
            "1 s of the speaker's tone, decoded",
        )
        assert broken.ticks >= 50, broken.ticks  # the failures kept happening meanwhile
        faults = worker.stats()["faults"]
        assert faults["router.tick"] >= 50 and faults["router.slow_tick"] >= 5, faults
        assert faults["router.member_slow_tick"] >= 5, faults

    # no traceback storm: one traceback per kind of failure, a handful of lines in all
    sfu = [r for r in caplog.records if r.name.startswith("ilvb.sfu")]
    tracebacks = [r for r in sfu if r.exc_info]
    assert len(tracebacks) == 3, [r.getMessage() for r in tracebacks]
    about_faults = [r for r in sfu if "failed" in r.getMessage() or "counted" in r.getMessage()]
    assert len(about_faults) <= 6, [r.getMessage() for r in about_faults]
