"""A host live stream in real Chromium: the host publishes camera and microphone, two viewers
raise a hand and are invited on stage as co-hosts, 50 Python SDK viewers follow; the host then
records the room per track (the files list all three speakers) and starts bypass live, which
hls.js plays in a page outside the room.

To fit this loaded 2-core machine, 2 viewers decode and must hear all three speakers (the
host's fake-device audio, the co-hosts' tones by FFT) and see the host's camera; the other 48
are signaling-only (``receive=False``) and must see all three as senders in their
``member.state`` events.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from ilvb.client import Client
from ilvb.client.sources import ToneSource
from tests.integration.media_checks import AudioLog, record_audio
from tests.live.hls_page import PlayerOrigin
from tests.web.pagekit import poll

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

VIEWERS = 50
DECODING = 2
TONES = {"co1": 660.0, "co2": 990.0}

HOST_JS = """async ([room]) => {
  const sdk = await import('/sdk/ilvb.js');
  const res = await fetch('/demo/ticket', {method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({user: 'host', room, role: 'host'})});
  const {ticket} = await res.json();
  window.hostTicket = ticket;
  window.c = await sdk.Client.connect(location.origin, ticket);
  window.hands = [];
  c.on('hand.raised', (d) => hands.push(d.user_id));
  await c.enter(room, {receive: false});
  await c.publish('microphone');
  await c.publish('camera');
  return 0;
}"""


async def viewer(origin: str, user: str, room: str, decode: bool) -> Client:
    async with httpx.AsyncClient(base_url=origin) as http:
        body = {"user": user, "room": room, "role": "audience", "audio": True, "video": True}
        reply = await http.post("/demo/ticket", json=body)
        reply.raise_for_status()
    ws_url = origin.replace("http://", "ws://") + "/ws"
    client = await Client.connect(ws_url, reply.json()["ticket"])
    await client.enter(room, receive=decode)
    return client


def senders_seen(client: Client) -> set[str]:
    """Members this client saw sending audio, from its member.state events."""
    seen: set[str] = set()

    def on_state(event: Any) -> None:
        if event.data.get("sending", {}).get("audio"):
            seen.add(event.data["user_id"])
        else:
            seen.discard(event.data["user_id"])

    client.on("member.state", on_state)
    return seen


async def test_a_live_stream_with_two_cohosts_invited_from_the_audience(
    new_page: Any, ilvb_origin: str
) -> None:
    started = time.monotonic()
    room = f"live-{uuid.uuid4().hex[:6]}"
    page = await new_page(f"{ilvb_origin}/demo")
    await page.evaluate(HOST_JS, [room])
    names = ["co1", "co2"] + [f"v{i:02}" for i in range(VIEWERS)]
    clients = list(
        await asyncio.gather(
            *(viewer(ilvb_origin, n, room, 2 <= i < 2 + DECODING) for i, n in enumerate(names))
        )
    )
    try:
        cohosts, viewers = clients[:2], clients[2:]
        seen = [senders_seen(v) for v in viewers]
        for v, s in zip(viewers, seen, strict=True):  # those sending before it entered
            s |= {m["user_id"] for m in await v.senders() if m["sending"]["audio"]}
        watchers = viewers[:DECODING]
        audio: dict[str, AudioLog] = {w.user_id: record_audio(w) for w in watchers}
        video: dict[str, int] = {w.user_id: 0 for w in watchers}
        for w in watchers:

            def count(uid: str, _frame: Any, me: str = w.user_id) -> None:
                if uid == "host":
                    video[me] += 1

            w.on_frame("video", count)
            await w.request_views(["host"])
        for co in cohosts:
            invited = co.events(["stage.invited"])
            await co.raise_hand()
            await page.wait_for_function(f"hands.includes('{co.user_id}')")
            await page.evaluate(f"c.inviteToStage('{co.user_id}', {{audio: true}}).then(() => 0)")
            await co.accept_invite((await invited.next(10)).data["invite_id"])
            await co.publish_audio(ToneSource(TONES[co.user_id], amplitude=0.5))

        async def all_heard() -> bool:
            for log in audio.values():
                for user, hz in TONES.items():
                    tone = [f for f, r in log.of(user) if abs(f - hz) < 40 and r > 0.01]
                    if len(tone) < 25:
                        return False
                if len([r for _, r in log.of("host") if r > 0.001]) < 25:
                    return False
            return all(n >= 10 for n in video.values())

        await poll(all_heard, within=40)

        async def all_see_three() -> bool:
            return all({"host", "co1", "co2"} <= s for s in seen)

        await poll(all_see_three, within=20)
        await record_and_broadcast(page, ilvb_origin, room, new_page)
        print(f"live scenario: {time.monotonic() - started:.1f} s, video frames {video}")
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def record_and_broadcast(page: Any, origin: str, room: str, new_page: Any) -> None:
    """The host, through the demo app's server: a per-track recording lists all three
    speakers' tracks, and bypass live plays in hls.js for a viewer outside the room."""
    ticket = await page.evaluate("hostTicket")
    auth = {"Authorization": f"Bearer {ticket}"}
    async with httpx.AsyncClient(base_url=origin, headers=auth, timeout=60) as http:
        started = await http.post(f"/demo/rooms/{room}/recordings", json={"mode": "tracks"})
        assert started.status_code == 201, started.text
        rec_id = started.json()["recording_id"]
        live = await http.post(f"/demo/rooms/{room}/live", json={"hls": True})
        assert live.status_code == 201, live.text
        with PlayerOrigin() as player_origin:
            player = await new_page(player_origin.url)
            await player.evaluate("(u) => window.play(u)", live.json()["hls_url"])

            async def advancing() -> bool:
                state = await player.evaluate("window.state()")
                assert state["errors"] == [], state
                return state["width"] == 640 and state["time"] > 1.0

            await poll(advancing, within=60, every=0.5)
        assert (await http.delete(f"/demo/rooms/{room}/live")).status_code == 200
        stopped = await http.post(f"/demo/recordings/{rec_id}/stop")
        assert stopped.status_code == 200, stopped.text
        files = [f["name"] for f in stopped.json()["files"]]
        for speaker in ("host", "co1", "co2"):
            assert any(name.startswith(f"{speaker}-microphone") for name in files), files
        assert any(name.startswith("host-camera") for name in files), files
