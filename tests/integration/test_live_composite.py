"""A room composite from real SDK publishers through the SFU into a recorder process."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from ilvb.client import SyntheticVideoSource, ToneSource
from ilvb.errors import InvalidState, NotFound
from ilvb.live import CompositeJob, CompositeRunner, JobOutputs
from tests.integration.harness import LiveServer
from tests.integration.media_checks import wait_until
from tests.live.probe import codecs, ffprobe, spectrum_peaks, tile_tags, tone_level

SIZE = (640, 480)
SRC = (320, 240)


async def publish(server: LiveServer, user: str, marker: int, tone_hz: float) -> None:
    client = await server.client(user)
    await client.enter("class", receive=False)
    await client.publish_video(SyntheticVideoSource(marker=marker, fps=15, width=320, height=240))
    await client.publish_audio(ToneSource(tone_hz, amplitude=0.3))


async def run_composite(server: LiveServer, out: Path, seconds: float) -> CompositeJob:
    runner: CompositeRunner = server.app.state.composites
    job = await runner.start_job(server.app_id, "class", JobOutputs(file=out))
    # Both views decode in the recorder before the clock starts counting.
    await wait_until(
        lambda: len([n for n in job.stats.media_frames.values() if n > 10]) >= 4,
        15,
        "2 audio and 2 video slots decoded",
    )
    await asyncio.sleep(seconds)
    await job.stop()
    return job


async def test_composite_of_two_publishers_shows_both_tiles_and_mixes_both_tones(
    tmp_path: Path,
) -> None:
    async with LiveServer() as server:
        await publish(server, "alice", marker=11, tone_hz=440)
        await publish(server, "bob", marker=22, tone_hz=1000)
        out = tmp_path / "composite.mkv"
        job = await run_composite(server, out, seconds=3)
        assert job.exit_reason == "stopped"
        assert job.cpu_seconds() > 0
        info = ffprobe(out)
        assert codecs(info) == {"video": "h264", "audio": "aac"}
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == SIZE
        # Each cell shows its publisher's frames, in order.
        alice, bob = tile_tags(out, ["camera", "camera"], SRC, since_s=1.0)
        assert len(alice) > 30 and len(bob) > 30
        assert {m for m, _ in alice} == {11} and {m for m, _ in bob} == {22}
        assert [i for _, i in alice] == sorted(i for _, i in alice)
        freqs, spectrum, _ = spectrum_peaks(out, since_s=1.0)
        a, b = tone_level(freqs, spectrum, 440), tone_level(freqs, spectrum, 1000)
        control = tone_level(freqs, spectrum, 700)  # no one sends 700 Hz
        assert a > 100 and b > 100 and control * 5 < min(a, b), (a, b, control)
        # The recorder is not a member: nobody saw it enter.
        room = server.app.state.rooms.get(server.app_id, "class")
        assert sorted(room.members) == ["alice", "bob"]
        assert server.app.state.composites.jobs == {}


async def test_composite_refuses_unknown_rooms_and_rooms_without_senders(tmp_path: Path) -> None:
    async with LiveServer() as server:
        runner: CompositeRunner = server.app.state.composites
        with pytest.raises(NotFound) as unknown:
            await runner.start_job(server.app_id, "nowhere", JobOutputs(file=tmp_path / "x.mkv"))
        assert unknown.value.code == "room_not_found"
        viewer = await server.client("viewer")
        await viewer.enter("quiet", receive=False)
        with pytest.raises(InvalidState) as quiet:
            await runner.start_job(server.app_id, "quiet", JobOutputs(file=tmp_path / "x.mkv"))
        assert quiet.value.code == "room_no_senders"
        assert runner.jobs == {} and not (tmp_path / "x.mkv").exists()


async def test_room_closing_stops_the_composite(tmp_path: Path) -> None:
    async with LiveServer() as server:
        await publish(server, "alice", marker=5, tone_hz=500)
        runner: CompositeRunner = server.app.state.composites
        job = await runner.start_job(server.app_id, "class", JobOutputs(file=tmp_path / "c.mkv"))
        reasons: list[str] = []
        job.on_exit(lambda j, reason: reasons.append(reason))
        await wait_until(lambda: job.stats.frames > 30, 15, "composite frames")
        server.app.state.rooms.close_room(server.app.state.rooms.get(server.app_id, "class"))
        assert await asyncio.wait_for(job.wait(), 20) == 0
        assert reasons == ["room_closed"] and runner.jobs == {}
        assert codecs(ffprobe(tmp_path / "c.mkv")) == {"video": "h264", "audio": "aac"}


async def test_a_recorder_killed_with_sigkill_leaves_a_playable_file(tmp_path: Path) -> None:
    async with LiveServer() as server:
        await publish(server, "alice", marker=5, tone_hz=500)
        runner: CompositeRunner = server.app.state.composites
        out = tmp_path / "c.mkv"
        job = await runner.start_job(server.app_id, "class", JobOutputs(file=out))
        await wait_until(lambda: job.stats.frames > 90, 20, "3 s of composite")
        written = job.stats.frames / 30
        assert job.pid is not None
        os.kill(job.pid, signal.SIGKILL)
        assert await asyncio.wait_for(job.wait(), 20) == -signal.SIGKILL
        assert job.exit_reason == "recorder_exited" and runner.jobs == {}
        # ffmpeg saw end-of-file and closed the file: it plays up to about the kill.
        info = await asyncio.to_thread(ffprobe, out)
        assert codecs(info) == {"video": "h264", "audio": "aac"}
        assert float(info["format"]["duration"]) > written - 2.0
        # The room goes on.
        assert sorted(server.app.state.rooms.get(server.app_id, "class").members) == ["alice"]
