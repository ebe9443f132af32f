"""Reconnect of the Web SDK in Chromium: two pages reach the SFU through the impairment relay
(the SFU announces the relay's port as its candidate). The relay blackholes alice for 3 s: every
flow but bob's — both of her transports, STUN and DTLS too, and any socket her ICE restart
opens. Alice's page detects it within 2 s (``media.reconnecting``) and restarts ICE on both
transports in the room; bob sees her ``member.state`` ``reconnecting`` and never an exit;
within 2 s of the path returning her video is shown at bob's again, and bob's at hers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bench.glass import ROOT
from bench.impairment import Setup
from tests.web.pagekit import join, poll

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

OUTAGE_S = 3.0
# The targets: detected within 2 s of the cut, media back within 2 s of its end.
DETECT_S = 2.0
RECOVER_S = 2.0
# Alice's own video at bob's after the cut: 0.05-0.10 s in 10 runs of the final code (load 5-20 on
# 2 cores); an earlier revision, which reset the publisher's NACK state on a lost path, once took
# 3.3 s. The 2 s holds in this direction too.
PUBLISHER_RECOVER_S = RECOVER_S
MARK = 0x2B

# Record, in page time (performance.now()), the reconnect events, member states, exits and
# every frame shown of the other member's video.
WATCH_JS = """(other) => {
  window.rec = {events: [], states: [], exits: [], frames: []};
  for (const name of ['media.reconnecting', 'media.reconnected']) {
    c.on(name, (d) => rec.events.push([name, performance.now(), d]));
  }
  c.on('member.state', (m) => rec.states.push([m.user_id, performance.now(), m.reconnecting]));
  c.on('members.exited', (d) => rec.exits.push(d));
  const v = c.remoteVideo(other);
  v.onFrame(() => rec.frames.push(performance.now()));
  return v.mid;
}"""


@pytest_asyncio.fixture(loop_scope="session")
async def relayed() -> AsyncIterator[Setup]:
    """``ilvb serve`` announcing a relay's port as its ICE candidate, and that relay."""
    s = Setup("this tree", ROOT, seed=5)
    await s.start()
    yield s
    s.stop()


async def _frames_after(page: Any, t: float) -> float | None:
    return await page.evaluate("(t) => rec.frames.find((f) => f > t) ?? null", t)


async def test_a_three_second_blackhole_is_detected_and_recovered_in_the_room(
    new_page: Any, relayed: Setup
) -> None:
    room = "reconnect-" + uuid.uuid4().hex[:8]
    relay = relayed.relay
    alice = await new_page(f"{relayed.origin}/demo")
    bob = await new_page(f"{relayed.origin}/demo")
    await join(alice, "alice", room)
    await alice.evaluate("c.publish('camera').then(() => 0)")
    await alice.wait_for_function("c.sendPc.connectionState === 'connected'", timeout=30000)
    alices = set(relay.flows)
    await join(bob, "bob", room)
    await bob.evaluate("c.publish('camera').then(() => 0)")
    for page, other in ((alice, "bob"), (bob, "alice")):
        await page.evaluate(f"c.requestViews(['{other}']).then(() => 0)")
    for page, other in ((alice, "bob"), (bob, "alice")):
        await page.wait_for_function(f"c.remoteVideo('{other}') !== null", timeout=30000)
        await page.evaluate(WATCH_JS, other)
    for page in (alice, bob):
        await page.wait_for_function("rec.frames.length > 10", timeout=30000)
    bobs = [f for a, f in relay.flows.items() if a not in alices]
    assert alices and bobs
    await asyncio.sleep(1.0)

    cut_a, cut_b = (
        await alice.evaluate("performance.now()"),
        await bob.evaluate("performance.now()"),
    )
    relay.set_blackhole(True)  # every flow, and any new one (alice's restart may open some)
    for f in bobs:
        f.up.blackhole = f.down.blackhole = False
    await asyncio.sleep(OUTAGE_S)
    back_a, back_b = (
        await alice.evaluate("performance.now()"),
        await bob.evaluate("performance.now()"),
    )
    relay.set_blackhole(False)

    await poll(lambda: _frames_after(bob, back_b), within=15)
    await poll(lambda: _frames_after(alice, back_a), within=15)
    await alice.wait_for_function(
        "rec.events.some(([n]) => n === 'media.reconnected')", timeout=15000
    )
    await bob.wait_for_function(
        "rec.states.some(([u, t, r]) => u === 'alice' && r === false)", timeout=15000
    )
    a = await alice.evaluate("rec")
    b = await bob.evaluate("rec")
    (lost_at,) = [t for n, t, _ in a["events"] if n == "media.reconnecting"]
    (reconnected,) = [d for n, _, d in a["events"] if n == "media.reconnected"]
    sfu_lost_at = next(t for u, t, r in b["states"] if u == "alice" and r)
    figures = {
        "detect_s": (lost_at - cut_a) / 1000,
        "sfu_detect_s": (sfu_lost_at - cut_b) / 1000,
        "alice_video_at_bob_s": ((await _frames_after(bob, back_b)) - back_b) / 1000,
        "bob_video_at_alice_s": ((await _frames_after(alice, back_a)) - back_a) / 1000,
        "outage_ms": reconnected["outage_ms"],
        "ice_restarts": reconnected["ice_restarts"],
    }
    print(f"web reconnect: {figures}")
    assert not [e for e in b["events"] if e[0] == "media.reconnecting"]  # bob's path was fine
    assert reconnected["transport"] == "both" and reconnected["ice_restarts"] >= 2, figures
    assert b["exits"] == [] and a["exits"] == []  # nobody left the room
    members = await bob.evaluate("c.allMembers().then((ms) => ms.map((m) => m.user_id))")
    assert sorted(members) == ["alice", "bob"]
    assert figures["detect_s"] <= DETECT_S, figures
    assert figures["sfu_detect_s"] <= DETECT_S, figures
    assert figures["alice_video_at_bob_s"] <= PUBLISHER_RECOVER_S, figures
    assert figures["bob_video_at_alice_s"] <= RECOVER_S, figures
