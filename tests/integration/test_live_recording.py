"""A ``composite`` recording through the recordings REST runs the composite recorder: the
recording's file is a Matroska H.264 + AAC composite of the room."""

from __future__ import annotations

import asyncio

from tests.integration.harness import LiveServer
from tests.integration.test_live_hls import publisher, rest


async def test_a_composite_recording_writes_the_rooms_composite_file() -> None:
    async with LiveServer() as server, rest(server) as http:
        await publisher(server)
        app = f"/v1/apps/{server.app_id}"
        reply = await http.post(f"{app}/rooms/show/recordings", json={"mode": "composite"})
        assert reply.status_code == 201, reply.text
        rid = reply.json()["recording_id"]
        assert len(server.app.state.composites.jobs) == 1
        job = next(iter(server.app.state.composites.jobs.values()))
        for _ in range(300):  # 3 s of composite written
            if job.stats.frames >= 90:
                break
            await asyncio.sleep(0.1)
        assert job.stats.frames >= 90, job.stats
        stopped = (await http.post(f"{app}/recordings/{rid}/stop")).json()
        assert stopped["state"] == "stopped", stopped
        files = {f["name"]: f for f in stopped["files"]}
        assert "composite.mkv" in files, stopped
        assert files["composite.mkv"]["format"] == "matroska"
        assert files["composite.mkv"]["duration_s"] > 2.0
        assert server.app.state.composites.jobs == {}
