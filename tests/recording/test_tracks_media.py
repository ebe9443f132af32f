"""Per-track recording of a Python SDK publisher (VP8 frame tags + a gated tone), for real:
server, SFU tap, recorder process, files read back with ffprobe and PyAV."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from av import AudioFrame

from ilvb.client import SyntheticVideoSource, ToneSource
from ilvb.client.sources import AUDIO_RATE
from tests.integration.media_checks import judge, record_video, wait_until
from tests.recording.media import (
    dominant,
    ffprobe,
    last_packet_s,
    onsets,
    read_audio,
    read_video,
    recording_server,
    rest,
    wait_state,
)
from tests.recording.procs import recorder_children

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FPS = 15.0
TONE_HZ = 440.0
RECORD_S = 10.0


class GatedTone(ToneSource):
    """The tone on for a second, off for a second, by sample count: onset n is at
    ``start + 2 n`` seconds of this source's own clock."""

    def __init__(self) -> None:
        super().__init__(TONE_HZ, 0.5)
        self.started: float | None = None

    async def recv(self) -> AudioFrame:
        second = self._samples // AUDIO_RATE
        self.amplitude = 0.5 if second % 2 == 0 else 0.0
        frame = await super().recv()
        if self.started is None:
            self.started = self._start
        return frame


async def publish(server, room: str):  # type: ignore[no-untyped-def]
    pub = await server.client("pub")
    await pub.enter(room)
    video = SyntheticVideoSource(marker=7, fps=FPS)
    tone = GatedTone()
    await pub.publish_audio(tone)
    await pub.publish_video(video)

    async def flowing() -> bool:
        stats = await server.router_stats(room)
        return stats["producers"] == 2 and stats["packets_in"] > 50

    deadline = time.monotonic() + 15
    while not await flowing():
        assert time.monotonic() < deadline, "the publisher's media never reached the SFU"
        await asyncio.sleep(0.1)
    return pub, video, tone


async def test_track_recording_of_a_python_publisher(tmp_path: Path) -> None:
    async with recording_server(tmp_path) as server, rest(server) as http:
        _, video, tone = await publish(server, "class")
        reply = await http.post(
            f"/v1/apps/{server.app_id}/rooms/class/recordings", json={"mode": "tracks"}
        )
        assert reply.status_code == 201, reply.text
        rec = reply.json()
        assert rec["state"] == "recording" and rec["recording_id"].startswith("rec_")
        path = f"/v1/apps/{server.app_id}/recordings/{rec['recording_id']}"
        await asyncio.sleep(RECORD_S)
        stopped = (await http.post(path + "/stop")).json()
        assert stopped["state"] == "stopped", stopped
        truth = stopped["stopped_at"] - stopped["started_at"]
        files = {f["name"]: f for f in stopped["files"]}
        assert set(files) == {"pub-camera.webm", "pub-microphone.webm"}, files
        root = Path(server.settings.recording.resolved_directory(server.settings.server.data_dir))
        folder = root / server.app_id / rec["recording_id"]

        cam, mic = folder / "pub-camera.webm", folder / "pub-microphone.webm"
        cam_probe, mic_probe = ffprobe(cam), ffprobe(mic)
        assert [s["codec_name"] for s in cam_probe["streams"]] == ["vp8"]
        assert [s["codec_name"] for s in mic_probe["streams"]] == ["opus"]
        for probe in (cam_probe, mic_probe):
            duration = float(probe["format"]["duration"])
            assert abs(duration - truth) <= 0.5, (duration, truth)
        for f in files.values():  # the media itself, first packet to last, is as long
            assert abs(f["duration_s"] - truth) <= 0.5, (files, truth)

        frames = read_video(cam)
        verdict = judge([i for _, i, m in frames.tags if m == 7])
        assert verdict.in_order and verdict.duplicates == 0, verdict
        assert verdict.present >= 0.95, verdict
        assert abs(verdict.span / FPS - truth) <= 0.5, (verdict, truth)

        audio = read_audio(mic)
        loud = [t for t, r in audio.frames if r > 0.1]
        assert loud, "no tone in the recording"
        assert abs(dominant(audio.samples[: audio.rate * 8], audio.rate) - TONE_HZ) < 3

        # A/V sync: the recording's time of video frame k, less its capture time, is the same
        # shift as an audio onset's recording time less its capture time (one clock: the test's)
        assert video._start is not None and tone.started is not None
        shifts = [t - (video._start + i / FPS) for t, i, _ in frames.tags]
        shift = float(np.median(shifts))
        found = onsets(audio, 0.1)
        assert len(found) >= 3, found
        errors = []
        for t in found:
            n = round((t - shift - tone.started) / 2.0)
            errors.append(t - (tone.started + 2 * n + shift))
        assert max(abs(e) for e in errors) <= 0.040, errors


async def test_sigkill_of_the_recorder_leaves_playable_files_and_the_room_goes_on(
    tmp_path: Path,
) -> None:
    async with recording_server(tmp_path) as server, rest(server) as http:
        await publish(server, "kill")
        viewer = await server.client("viewer")
        await viewer.enter("kill")
        seen = record_video(viewer)
        await viewer.request_views(["pub"])
        app = f"/v1/apps/{server.app_id}"
        rec = (await http.post(f"{app}/rooms/kill/recordings", json={"mode": "tracks"})).json()
        path = f"{app}/recordings/{rec['recording_id']}"
        job = server.app.state.recordings.job(rec["recording_id"])
        await asyncio.sleep(5.0)
        os.kill(job.pid, signal.SIGKILL)
        killed_at = time.time() - job.t0  # on the recording's clock
        body = await wait_state(http, path, "interrupted", 10)
        assert body["reason"] == "recorder_died", body
        assert recorder_children() == []
        files = {f["name"]: f for f in body["files"]}
        assert set(files) == {"pub-camera.webm", "pub-microphone.webm"}, files
        folder = server.settings.recording.resolved_directory(
            Path(server.settings.server.data_dir)
        ) / server.app_id / rec["recording_id"]
        for name, f in files.items():
            end = last_packet_s(folder / name)
            assert end >= killed_at - 3.0, (name, end, killed_at)
            assert f["duration_s"] is not None and f["duration_s"] >= killed_at - 3.5, f
        frames = read_video(folder / "pub-camera.webm")
        verdict = judge([i for _, i, m in frames.tags if m == 7])
        assert verdict.in_order and verdict.present >= 0.95, verdict
        audio = read_audio(folder / "pub-microphone.webm")
        assert any(r > 0.1 for _, r in audio.frames)

        # the room and the server go on: the viewer still gets frames, a new recording starts
        after = time.monotonic()
        await wait_until(lambda: len(seen.indices(7, since=after)) >= 10, 10, "frames after")
        again = await http.post(f"{app}/rooms/kill/recordings", json={"mode": "tracks"})
        assert again.status_code == 201, again.text
        await asyncio.sleep(2.0)
        done = (await http.post(f"{app}/recordings/{again.json()['recording_id']}/stop")).json()
        assert done["state"] == "stopped" and len(done["files"]) == 2, done
        assert (await server.router_stats("kill"))["taps"] == 0
