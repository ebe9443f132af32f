"""Bypass live pushed over RTMP to a real nginx-rtmp: ffprobe pulls H.264 + AAC with advancing
frames; URLs added and removed while live; nginx restarted mid-stream gets the push again
within 5 s."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.integration.harness import LiveServer
from tests.integration.test_live_hls import publisher, rest
from tests.live.nginx_rtmp import NginxRtmp


def pull(url: str, seconds: float = 2.0) -> dict[str, Any]:
    """ffprobe reading ``seconds`` of the stream from nginx: codecs and packet times."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-read_intervals", f"%+{seconds}", "-of", "json",
         "-show_entries", "packet=pts_time,stream_index:stream=index,codec_name", url],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def check_stream(info: dict[str, Any]) -> None:
    """H.264 and AAC, and video packets whose times advance by more than a second."""
    streams = {s["index"]: s["codec_name"] for s in info["streams"]}
    assert sorted(streams.values()) == ["aac", "h264"], streams
    video = next(i for i, c in streams.items() if c == "h264")
    times = [float(p["pts_time"]) for p in info["packets"] if p["stream_index"] == video]
    assert len(times) > 20 and times[-1] - times[0] > 1.0, times[:5]
    assert times == sorted(times)


async def until(predicate: Any, timeout_s: float) -> float:
    """Seconds until ``predicate()`` held (fails after ``timeout_s``)."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout_s, "timed out"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_rtmp_push_reaches_nginx_survives_its_restart_and_follows_url_changes(
    tmp_path: Path,
) -> None:
    nginx = NginxRtmp(tmp_path / "nginx")
    nginx.start()
    try:
        async with LiveServer() as server, rest(server) as http:
            await publisher(server)
            live = f"/v1/apps/{server.app_id}/rooms/show/live"
            reply = await http.post(live, json={"rtmp": [nginx.url("one")]})
            assert reply.status_code == 201, reply.text
            assert reply.json()["hls_url"] is None
            await until(lambda: nginx.publishes("one") == 1, 20)
            check_stream(await asyncio.to_thread(pull, nginx.url("one")))

            # nginx dies and comes back on the same port: the push resumes within 5 s.
            await asyncio.to_thread(nginx.stop)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(nginx.start)
            back_after = await until(lambda: nginx.publishes("one") == 2, 10)
            print(f"push back {back_after:.2f} s after nginx restarted")
            assert back_after <= 5.0, back_after
            check_stream(await asyncio.to_thread(pull, nginx.url("one")))
            state = (await http.get(live)).json()
            assert state["rtmp"] == [{"url": nginx.url("one"), "state": "live"}]

            # A second URL added while live, then the first removed.
            urls = [nginx.url("one"), nginx.url("two")]
            assert (await http.patch(live, json={"rtmp": urls})).status_code == 200
            await until(lambda: nginx.publishes("two") == 1, 10)
            assert (await http.patch(live, json={"rtmp": [nginx.url("two")]})).status_code == 200
            await until(lambda: nginx.publisher_left("one"), 10)
            check_stream(await asyncio.to_thread(pull, nginx.url("two")))
            assert nginx.publishes("one") == 2

            assert (await http.delete(live)).status_code == 200
            assert server.app.state.composites.jobs == {}
    finally:
        nginx.stop()
