"""An online class end to end in real Chromium: the teacher shares a screen (clear mode), 20
Python SDK students watch, one raises a hand, is invited, accepts and is heard (FFT) by the
others, and is taken off stage (its audio stops within 1 s); a fifth video seat is refused at
accept (``video_sender_limit``); a declined and an expired invitation change nothing.

To fit this loaded 2-core machine, 3 students decode (the teacher's screen and the student's
tone); the other 17 are signaling-only (enter, events, stage requests) and say so by entering
with ``receive=False``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ilvb.client import Client
from ilvb.client.sources import ToneSource
from ilvb.errors import IlvbError
from tests.integration.media_checks import AudioLog, record_audio
from tests.web.pagekit import inbound, poll

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

STUDENTS = 20
DECODING = 3  # students 0-2 decode; the rest are signaling-only
TONE_HZ = 880.0
INVITE_TTL_S = 4.0

TEACHER_JS = """async ([room]) => {
  const sdk = await import('/sdk/ilvb.js');
  const res = await fetch('/demo/ticket', {method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({user: 'teacher', room, role: 'teacher'})});
  const {ticket} = await res.json();
  window.c = await sdk.Client.connect(location.origin, ticket);
  window.seen = [];
  for (const name of ['hand.raised', 'stage.accepted', 'stage.declined', 'stage.expired'])
    c.on(name, (d) => seen.push([name, d.user_id]));
  await c.enter(room);
  await c.publish('screen', {mode: 'clear'});
  return 0;
}"""


@pytest.fixture(scope="module")
def class_origin() -> Iterator[str]:
    """A server whose stage invitations expire after 4 s (the expired-invite step)."""
    from tests.web.conftest import ServerProcess

    server = ServerProcess({"ILVB_ROOMS__STAGE_INVITE_TTL_S": str(INVITE_TTL_S)})
    yield server.origin
    server.close()


async def student(origin: str, user: str, room: str, decode: bool) -> Client:
    async with httpx.AsyncClient(base_url=origin) as http:
        body = {"user": user, "room": room, "role": "audience", "audio": True, "video": True}
        reply = await http.post("/demo/ticket", json=body)
        reply.raise_for_status()
    client = await Client.connect(
        origin.replace("http://", "ws://") + "/ws", reply.json()["ticket"]
    )
    await client.enter(room, receive=decode)
    return client


def tone_frames(log: AudioLog, user: str, since: float = 0.0) -> list[float]:
    """Arrival times of ``user``'s frames carrying the tone."""
    return [
        t
        for t, u, freq, rms in log.frames
        if u == user and t >= since and abs(freq - TONE_HZ) < 40 and rms > 0.01
    ]


async def test_a_class_with_a_screen_share_a_raised_hand_and_the_stage(
    new_page: Any, class_origin: str
) -> None:
    started = time.monotonic()
    room = f"class-{uuid.uuid4().hex[:6]}"
    page = await new_page(f"{class_origin}/demo")
    await page.evaluate(TEACHER_JS, [room])
    names = [f"s{i:02}" for i in range(STUDENTS)]
    clients = list(
        await asyncio.gather(
            *(student(class_origin, n, room, i < DECODING) for i, n in enumerate(names))
        )
    )
    try:
        await _run_class(page, clients)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    print(f"class scenario: {time.monotonic() - started:.1f} s")


async def _run_class(page: Any, clients: list[Client]) -> None:
    watchers = clients[:DECODING]
    speaker = clients[5]
    # The decoding students watch the teacher's screen share.
    screen_frames: dict[str, list[tuple[int, int]]] = {c.user_id: [] for c in watchers}
    for c in watchers:
        c.on_frame(
            "video",
            lambda uid, f, me=c.user_id: (
                screen_frames[me].append((f.width, f.height)) if uid == "teacher" else None
            ),
        )
        await c.request_views(["teacher"], source="screen")
    audio = {c.user_id: record_audio(c) for c in watchers}
    await poll(lambda: _all_have(screen_frames, 5), within=40)
    for frames in screen_frames.values():
        width, height = frames[-1]
        assert width >= 640 and height >= 360, f"screen arrived at {width}x{height}"
    assert (await speaker.member("teacher"))["sending"]["screen"] is True

    # A raised hand reaches the teacher; the teacher invites, the student accepts and speaks.
    invited = speaker.events(["stage.invited", "stage.removed"])
    await speaker.raise_hand()
    await page.wait_for_function("seen.some(([n, u]) => n === 'hand.raised' && u === 's05')")
    assert [h["user_id"] for h in await page.evaluate("c.hands()")] == ["s05"]
    await page.evaluate("c.inviteToStage('s05', {audio: true}).then(() => 0)")
    invite = (await invited.next(10)).data
    me = await speaker.accept_invite(invite["invite_id"])
    assert me["on_stage"] and me["permissions"]["audio"] and not me["hand_raised"]
    await page.wait_for_function("seen.some(([n, u]) => n === 'stage.accepted' && u === 's05')")
    await speaker.publish_audio(ToneSource(TONE_HZ, amplitude=0.5))
    heard_from = time.monotonic()
    await poll(lambda: _heard(audio, "s05", heard_from, 25), within=30)
    # The teacher's browser hears it too: the slot carrying s05 gains audio energy.
    mid = await poll(lambda: page.evaluate("c.remoteAudio('s05')?.mid || null"), within=10)
    energy = (await inbound(page))[mid]["totalAudioEnergy"]
    await poll(lambda: _energy_above(page, mid, energy + 0.01), within=10)

    # Off stage: its audio stops within 1 s at every decoding student.
    await page.evaluate("c.removeFromStage('s05').then(() => 0)")
    removed_at = time.monotonic()
    assert (await invited.next(10)).name == "stage.removed"
    await asyncio.sleep(2.5)
    for user, log in audio.items():
        late = tone_frames(log, "s05", since=removed_at + 1.0)
        assert not late, f"{user} still heard s05 {late[-1] - removed_at:.2f} s after removal"
        last = max(tone_frames(log, "s05"))
        print(f"{user}: last tone frame {last - removed_at:+.2f} s after stage.remove")
    state = await clients[0].member("s05")
    assert state["on_stage"] is False and state["sending"]["audio"] is False

    # A fifth video seat: the screen share plus three students on stage with video fill 4.
    for c in clients[6:9]:
        got = c.events(["stage.invited"])
        await page.evaluate(f"c.inviteToStage('{c.user_id}', {{video: true}}).then(() => 0)")
        await c.accept_invite((await got.next(10)).data["invite_id"])
    fifth = clients[9]
    got = fifth.events(["stage.invited"])
    await page.evaluate("c.inviteToStage('s09', {video: true}).then(() => 0)")
    pending = (await got.next(10)).data
    with pytest.raises(IlvbError) as refused:
        await fifth.accept_invite(pending["invite_id"])
    assert refused.value.code == "video_sender_limit"
    assert (await fifth.member("s09"))["on_stage"] is False
    await fifth.decline_invite(pending["invite_id"])

    # A declined and an expired invitation change nothing.
    before = [m async for m in clients[0].members()]
    streams, invites = [], []
    for c in clients[10:12]:
        streams.append(c.events(["stage.invited", "stage.expired"]))
        await page.evaluate(f"c.inviteToStage('{c.user_id}').then(() => 0)")
        invites.append((await streams[-1].next(10)).data)
    await clients[10].decline_invite(invites[0]["invite_id"])
    expired = await streams[1].next(INVITE_TTL_S + 10)
    assert expired.name == "stage.expired"
    with pytest.raises(IlvbError) as late_accept:
        await clients[11].accept_invite(invites[1]["invite_id"])
    assert late_accept.value.code == "invite_expired"
    await page.wait_for_function("seen.some(([n, u]) => n === 'stage.expired' && u === 's11')")
    after = [m async for m in clients[0].members()]
    assert after == before


async def _all_have(frames: dict[str, list[Any]], n: int) -> bool:
    return all(len(f) >= n for f in frames.values())


async def _heard(audio: dict[str, AudioLog], user: str, since: float, n: int) -> bool:
    return all(len(tone_frames(log, user, since)) >= n for log in audio.values())


async def _energy_above(page: Any, mid: str, floor: float) -> bool:
    return bool((await inbound(page))[mid]["totalAudioEnergy"] > floor)
