"""hls.js (npm, pinned) in Debian's Chromium plays a room's HLS bypass live: the picture
advances and shows the publisher's frame tags in order; a Web SDK member of the room gets
``live.started`` and ``live.stopped``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from ilvb.client import Client, SyntheticVideoSource, ToneSource
from tests.live.hls_page import PlayerOrigin, read_tag
from tests.web.pagekit import join, poll

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_hlsjs_in_chromium_plays_the_live_composite(make_server: Any, new_page: Any) -> None:
    server = make_server(media="default", demo=True)
    client = await Client.connect(server.ws_url, server.ticket("host"))
    try:
        await client.enter("show", receive=False)
        member = await new_page(server.base_url + "/healthz")
        await join(member, "student", "show", receive=False)
        await member.evaluate(
            "() => { window.live = []; for (const n of ['live.started', 'live.stopped'])"
            " window.c.on(n, (d) => window.live.push([n, d])); }"
        )
        await client.publish_video(SyntheticVideoSource(marker=9, fps=15, width=320, height=240))
        await client.publish_audio(ToneSource(500, amplitude=0.3))
        headers = {"Authorization": f"Bearer {server.server_token()}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            live = f"/v1/apps/{server.app_id}/rooms/show/live"
            reply = await http.post(live, json={"hls": True}, timeout=30)
            assert reply.status_code == 201, reply.text
            url = reply.json()["hls_url"]
            with PlayerOrigin() as origin:
                page = await new_page(origin.url)
                await page.evaluate("(u) => window.play(u)", url)
                tags: list[tuple[int, int]] = []
                states: list[dict[str, Any]] = []
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and len({i for i, _ in tags}) < 12:
                    state = await page.evaluate("window.state()")
                    assert state["errors"] == [], state
                    states.append(state)
                    tag = await read_tag(page)
                    if tag is not None:
                        tags.append(tag)
                    await asyncio.sleep(0.1)
                playing = [s for s in states if s["width"] > 0]
                assert playing, states[-1:]
                assert playing[-1]["width"] == 640
                assert playing[-1]["time"] > playing[0]["time"] + 0.5
                assert playing[-1]["frames"] > playing[0]["frames"]
                # The picture is the publisher's: its marker, indices advancing in order.
                assert {m for _, m in tags} == {9}, tags[:5]
                indices = [i for i, _ in tags]
                assert len(set(indices)) >= 12 and indices == sorted(indices)
            assert (await http.delete(live)).status_code == 200
        events = await poll(
            lambda: member.evaluate("() => window.live.length >= 2 && window.live"), within=15
        )
        assert events == [
            ["live.started", {"hls": True, "rtmp": 0}],
            ["live.stopped", {"reason": "stopped"}],
        ]
    finally:
        await client.close()
