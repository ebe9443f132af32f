"""Per-track recording of a Chromium publisher, VP8 and H.264: a canvas whose every frame carries
its index (the Python SDK's frame tag layout) and a gated 440 Hz WebAudio tone, recorded by the
server's recorder process and read back with ffprobe and PyAV."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.integration.media_checks import judge
from tests.recording.media import dominant, ffprobe, onsets, read_audio, read_video
from tests.web.conftest import ServerProcess
from tests.web.pagekit import join

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

FPS = 15
MARKER = 0x4C
RECORD_S = 10.0

# Draws frame tags like ilvb.client.sources.tagged_frame (8×4 blocks, 16-bit index, 8-bit
# marker, 8-bit check) into a 256×128 canvas, one captured frame per draw (requestFrame); the
# tone is switched on every 30 frames and off 15 frames later; the draw times are kept.
PUBLISH_JS = """async ([codec, marker, fps]) => {
  const canvas = document.createElement('canvas');
  canvas.width = 256; canvas.height = 128;
  const g = canvas.getContext('2d');
  const video = canvas.captureStream(0).getVideoTracks()[0];
  const ctx = new AudioContext({sampleRate: 48000});
  await ctx.resume();
  const osc = ctx.createOscillator();
  osc.frequency.value = 440;
  const gain = ctx.createGain();
  gain.gain.value = 0;
  const dest = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  window.rec = {times: [], onFrames: []};
  window.recEvents = [];
  for (const name of ['recording.started', 'recording.stopped']) {
    c.on(name, (d) => window.recEvents.push(
      [name, d.recording_id, c.recordings.has(d.recording_id)]));
  }
  let i = 0;
  const draw = () => {
    const index = i & 0xffff;
    const check = ((index & 0xff) ^ (index >> 8) ^ marker ^ 0xa5) & 0xff;
    const word = ((index << 16) | (marker << 8) | check) >>> 0;
    for (let b = 0; b < 32; b++) {
      const bit = (word >>> (31 - b)) & 1;
      g.fillStyle = bit ? 'rgb(235,235,235)' : 'rgb(16,16,16)';
      g.fillRect((b % 8) * 32, Math.floor(b / 8) * 32, 32, 32);
    }
    if (i % 30 === 0) {
      gain.gain.setValueAtTime(0.5, ctx.currentTime);
      window.rec.onFrames.push(i);
    }
    if (i % 30 === 15) gain.gain.setValueAtTime(0, ctx.currentTime);
    video.requestFrame();
    window.rec.times.push(performance.now() / 1000);
    i++;
  };
  draw();
  window.rec.timer = setInterval(draw, 1000 / fps);
  await c.publish('microphone', {track: dest.stream.getAudioTracks()[0]});
  await c.publish('camera', {track: video, codec});
  return 0;
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess()
    yield proc
    proc.close()


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_track_recording_of_a_chromium_publisher(new_page, server, codec) -> None:
    room = f"rec-{codec.lower()}-{uuid.uuid4().hex[:6]}"
    page = await new_page(f"{server.origin}/demo")
    await join(page, "web", room)
    await page.evaluate(PUBLISH_JS, [codec, MARKER, FPS])
    key = (Path(server.data_dir) / "admin-key").read_text().strip()
    async with httpx.AsyncClient(
        base_url=server.origin, headers={"X-Admin-Key": key}, timeout=30
    ) as http:
        app_id = (
            await http.post("/demo/ticket", json={"user": "x", "room": room})
        ).json()["app_id"]
        for _ in range(100):
            stats = (await http.get(f"/v1/apps/{app_id}/rooms/{room}/senders")).json()
            if stats["members"] and stats["members"][0]["sending"]["video"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the media itself reaches the SFU
        reply = await http.post(
            f"/v1/apps/{app_id}/rooms/{room}/recordings", json={"mode": "tracks"}
        )
        assert reply.status_code == 201, reply.text
        rid = reply.json()["recording_id"]
        await asyncio.sleep(RECORD_S)
        stopped = (await http.post(f"/v1/apps/{app_id}/recordings/{rid}/stop")).json()
    times = await page.evaluate("window.rec.times")
    on_frames = await page.evaluate("window.rec.onFrames")
    await page.evaluate("clearInterval(window.rec.timer)")

    assert stopped["state"] == "stopped", stopped
    truth = stopped["stopped_at"] - stopped["started_at"]
    ext = "mkv" if codec == "H264" else "webm"
    files = {f["name"]: f for f in stopped["files"]}
    assert set(files) == {f"web-camera.{ext}", "web-microphone.webm"}, files
    folder = Path(server.data_dir) / "recordings" / app_id / rid
    cam, mic = folder / f"web-camera.{ext}", folder / "web-microphone.webm"
    assert [s["codec_name"] for s in ffprobe(cam)["streams"]] == [codec.lower()]
    assert [s["codec_name"] for s in ffprobe(mic)["streams"]] == ["opus"]
    for path in (cam, mic):
        duration = float(ffprobe(path)["format"]["duration"])
        assert abs(duration - truth) <= 0.5, (path.name, duration, truth)

    frames = read_video(cam)
    tags = [(t, i) for t, i, m in frames.tags if m == MARKER]
    verdict = judge([i for _, i in tags])
    assert verdict.in_order and verdict.duplicates == 0, verdict
    assert verdict.present >= 0.95, verdict
    assert abs(verdict.span / FPS - truth) <= 0.6, (verdict, truth)

    audio = read_audio(mic)
    assert abs(dominant(audio.samples[: audio.rate * 8], audio.rate) - 440.0) < 3

    # A/V sync: recording time − page time of each video frame is one shift; each tone onset
    # (switched on in the same draw as frame k) must sit at frame k's page time + that shift.
    # The page's own switch lands on the next WebAudio render quantum, behind the audio thread's
    # buffer: ~10 ms of jitter that is the page's, so the offset is judged by its median.
    shift = float(np.median([t - times[i] for t, i in tags if i < len(times)]))
    found = onsets(audio, 0.05)
    assert len(found) >= 3, found
    errors = []
    for t in found:
        k = min(on_frames, key=lambda f: abs(times[f] + shift - t) if f < len(times) else 1e9)
        errors.append(round(t - (times[k] + shift), 4))
    assert abs(float(np.median(errors))) <= 0.040, json.dumps(errors)
    assert max(abs(e) for e in errors) <= 0.070, json.dumps(errors)
    # the page saw both recording events, and its SDK kept the running recording while it ran
    seen = await page.evaluate("window.recEvents")
    assert seen == [["recording.started", rid, True], ["recording.stopped", rid, False]], seen
