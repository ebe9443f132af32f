"""Bypass live over REST: HLS served by ilvb (valid playlist and segments), room events, the
error codes of bad requests, nothing left running or written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from ilvb.auth.tickets import sign_server_token
from ilvb.client import Client, SyntheticVideoSource, ToneSource
from tests.integration.harness import LiveServer
from tests.live.probe import codecs, ffprobe


@asynccontextmanager
async def rest(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    base = server.url.replace("ws://", "http://").removesuffix("/ws")
    token = sign_server_token(server.app_id, server.secret)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        yield http


async def publisher(server: LiveServer, room: str = "show") -> Client:
    client = await server.client("host")
    await client.enter(room, receive=False)
    await client.publish_video(SyntheticVideoSource(marker=3, fps=15, width=320, height=240))
    await client.publish_audio(ToneSource(600, amplitude=0.3))
    return client


def code(reply: httpx.Response) -> tuple[int, str]:
    body: dict[str, Any] = reply.json()
    return reply.status_code, str(body["error"]["code"])


async def test_hls_playlist_and_segments_are_valid_and_the_room_hears_start_and_stop(
    tmp_path: Path,
) -> None:
    async with LiveServer() as server, rest(server) as http:
        host = await publisher(server)
        events = host.events(["live.started", "live.stopped"])
        reply = await http.post(f"/v1/apps/{server.app_id}/rooms/show/live", json={"hls": True})
        assert reply.status_code == 201, reply.text
        url = reply.json()["hls_url"]
        token = url.split("/")[-2]
        assert len(token) == 43 and url.endswith("/index.m3u8")
        started = await asyncio.wait_for(anext(events), 10)
        assert started.data == {"hls": True, "rtmp": 0}

        async def segments() -> list[str]:
            got = await http.get(url, headers={"Authorization": ""})
            if got.status_code != 200:
                return []
            return [line for line in got.text.splitlines() if line.endswith(".ts")]

        names: list[str] = []
        for _ in range(200):  # poll until three 1 s segments are listed
            names = await segments()
            if len(names) >= 3:
                break
            await asyncio.sleep(0.1)
        assert len(names) >= 3, names
        playlist = (await http.get(url)).text
        assert "#EXT-X-TARGETDURATION:1" in playlist and "#EXT-X-ENDLIST" not in playlist
        assert (await http.get(url)).headers["access-control-allow-origin"] == "*"
        info = await asyncio.to_thread(ffprobe, url)
        assert codecs(info) == {"video": "h264", "audio": "aac"}
        seg_url = url.rsplit("/", 1)[0] + "/" + names[-2]
        seg = await http.get(seg_url)
        assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t"
        local = tmp_path / names[-2]  # a whole segment as a player gets it
        await asyncio.to_thread(local.write_bytes, seg.content)
        segment = await asyncio.to_thread(ffprobe, local)
        assert codecs(segment) == {"video": "h264", "audio": "aac"}, segment
        assert 0.5 <= float(segment["format"]["duration"]) <= 2.1, segment
        # The playlist rolls: old segments leave it once more are written.
        first = names[0]
        for _ in range(150):
            if first not in await segments():
                break
            await asyncio.sleep(0.1)
        assert first not in await segments()
        state = (await http.get(f"/v1/apps/{server.app_id}/rooms/show/live")).json()
        assert state["job"]["cpu_s"] > 0 and state["job"]["frames"] > 0

        assert (await http.delete(f"/v1/apps/{server.app_id}/rooms/show/live")).status_code == 200
        stopped = await asyncio.wait_for(anext(events), 10)
        assert stopped.data == {"reason": "stopped"}
        assert code(await http.get(url)) == (404, "live_not_found")
        assert server.app.state.composites.jobs == {}
        assert list((server.settings.server.data_dir / "live" / "hls").iterdir()) == []


async def test_bad_live_requests_get_clear_codes_and_leave_nothing_running() -> None:
    async with LiveServer() as server, rest(server) as http:
        live = f"/v1/apps/{server.app_id}/rooms/show/live"
        assert code(await http.post(live, json={"hls": True})) == (404, "room_not_found")
        quiet = await server.client("quiet")
        await quiet.enter("show", receive=False)
        assert code(await http.post(live, json={"hls": True})) == (409, "room_no_senders")
        await publisher(server)
        for bad in ["http://example.com/live/x", "rtmp://host/live x", "rtmp://", "not a url"]:
            assert code(await http.post(live, json={"rtmp": [bad]})) == (400, "rtmp_url_invalid")
        assert code(await http.post(live, json={})) == (400, "invalid_argument")
        assert code(await http.post(live, json={"hls": True, "x": 1})) == (400, "invalid_argument")
        assert code(await http.delete(live)) == (404, "live_not_found")
        assert code(await http.patch(live, json={"rtmp": []})) == (404, "live_not_found")
        assert server.app.state.composites.jobs == {}
        # A second start of a live room.
        assert (await http.post(live, json={"hls": True})).status_code == 201
        assert code(await http.post(live, json={"hls": True})) == (409, "live_already_started")
        assert len(server.app.state.composites.jobs) == 1
        # Without credentials, or another app's.
        anon = await http.post(live, json={"hls": True}, headers={"Authorization": ""})
        assert anon.status_code == 401
        hls = (await http.get(live)).json()["hls_url"]
        base = hls.rsplit("/", 2)[0]
        assert code(await http.get(base + "/" + "A" * 43 + "/index.m3u8")) == (
            404,
            "live_not_found",
        )
        token = hls.split("/")[-2]
        for name in ["../../../../etc/passwd", "..%2f..%2fetc%2fpasswd", "index.m3u8.tmp", "x.ts"]:
            assert (await http.get(f"{base}/{token}/{name}")).status_code == 404
        assert (await http.delete(live)).status_code == 200
        assert server.app.state.composites.jobs == {}
