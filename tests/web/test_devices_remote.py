"""Web SDK devices checked at the receiving side, in real Chromium through the real server: app-fed
external audio plus an accompaniment arrive at another page at their own levels, found by an FFT
of that page's output mix (``devices.outputStream()``); a colour-inverting pre-processing hook
(``ProcessedVideo``) shows in the remote member's decoded frames; ``frameStream()`` gives the
remote frames; ``opened()``, ``get()`` and ``setSpeaker()``; camera zoom is reported unsupported on
a camera without the control."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from tests.web.pagekit import join, poll, sample

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

EXTERNAL_HZ, EXTERNAL_AMP = 440.0, 0.3
MUSIC_HZ, MUSIC_AMP, MUSIC_VOLUME = 1500.0, 0.4, 0.5  # accompaniment at volume 0.5: 0.2

SEND_AUDIO_JS = """async ([hz, amp, musicHz, musicAmp, musicVolume]) => {
  const ext = await c.devices.openExternalAudio({sampleRate: 48000});
  let n = 0;
  window.feed = setInterval(() => {          // keep ~100 ms queued: a steady tone
    while (ext.queuedSeconds < 0.1) {
      const f = new Float32Array(960);
      for (let i = 0; i < 960; i++, n++) f[i] = amp * Math.sin(2 * Math.PI * hz * n / 48000);
      ext.push(f);
    }
  }, 10);
  const music = new AudioContext();
  const osc = music.createOscillator(); osc.frequency.value = musicHz;
  const gain = music.createGain(); gain.gain.value = musicAmp; osc.connect(gain);
  const dest = music.createMediaStreamDestination(); gain.connect(dest); osc.start();
  const acc = c.devices.openAccompaniment(dest.stream.getAudioTracks()[0]);
  acc.volume = musicVolume;
  await c.publish('microphone');
  return (await c.devices.opened()).map(d => d.type);
}"""

# Magnitudes (linear) at two frequencies in the receiving page's output mix, averaged over 1 s.
OUTPUT_PEAKS_JS = """async ([f1, f2]) => {
  const ctx = c.devices.audioContext;
  if (!window.mixAnalyser) {
    const src = ctx.createMediaStreamSource(c.devices.outputStream());
    window.mixAnalyser = ctx.createAnalyser(); mixAnalyser.fftSize = 8192;
    mixAnalyser.smoothingTimeConstant = 0; src.connect(mixAnalyser);
  }
  const a = mixAnalyser, bins = new Float32Array(a.frequencyBinCount);
  const hz = ctx.sampleRate / a.fftSize;
  const at = (f) => { let m = -Infinity;
    for (let b = Math.floor(f / hz) - 2; b <= Math.ceil(f / hz) + 2; b++) m = Math.max(m, bins[b]);
    return m; };
  const sums = [0, 0, 0]; const n = 20;
  for (let i = 0; i < n; i++) {
    a.getFloatFrequencyData(bins);
    sums[0] += 10 ** (at(f1) / 20); sums[1] += 10 ** (at(f2) / 20);
    sums[2] += 10 ** (at((f1 + f2) / 2 + 130) / 20);   // a frequency nobody sends
    await new Promise(r => setTimeout(r, 50));
  }
  return sums.map(s => s / n);
}"""


def db(x: float) -> float:
    return 20 * math.log10(max(x, 1e-12))


async def test_external_audio_and_accompaniment_reach_the_other_pages_output_mix(
    new_page, ilvb_origin
):
    room = "dev-" + uuid.uuid4().hex[:8]
    sender = await new_page(f"{ilvb_origin}/demo")
    listener = await new_page(f"{ilvb_origin}/demo")
    await join(sender, "singer", room, receive=False)
    await join(listener, "fan", room)
    opened = await sender.evaluate(
        SEND_AUDIO_JS, [EXTERNAL_HZ, EXTERNAL_AMP, MUSIC_HZ, MUSIC_AMP, MUSIC_VOLUME]
    )
    assert "microphone" not in opened  # external audio replaced the microphone device

    async def both_heard() -> list[float] | None:
        tone, music, gap = await listener.evaluate(OUTPUT_PEAKS_JS, [EXTERNAL_HZ, MUSIC_HZ])
        return [tone, music, gap] if db(tone) - db(gap) > 20 and db(music) - db(gap) > 20 else None

    tone, music, gap = await poll(both_heard, within=20, every=0.5)
    # the set levels: 0.3 for the tone, 0.4 x 0.5 = 0.2 for the accompaniment -> 3.5 dB apart
    expected = db(EXTERNAL_AMP) - db(MUSIC_AMP * MUSIC_VOLUME)
    print(f"tone {db(tone):.1f} dB, accompaniment {db(music):.1f} dB, gap {db(gap):.1f} dB")
    assert abs((db(tone) - db(music)) - expected) < 3.0, (db(tone), db(music), expected)
    # the listener's speaker: choose one by id, get() finds it, it is listed as opened
    speakers = await listener.evaluate("c.devices.list('speaker')")
    chosen = speakers[-1]["id"]
    await listener.evaluate(f"c.devices.setSpeaker({chosen!r})")
    assert await listener.evaluate("c.devices.speakerDeviceId") == chosen
    assert (await listener.evaluate(f"c.devices.get({chosen!r})"))["type"] == "speaker"
    err = await listener.evaluate("c.devices.setSpeaker('nope').then(() => null, e => e.code)")
    assert err == "device_unavailable"
    await poll(both_heard, within=10, every=0.5)  # still heard after the switch
    await sender.evaluate("clearInterval(feed)")


# Pearson correlation of the remote frame's luma with the sender's raw camera luma (same grid).
RAW_LUMA_JS = """async ([w, h]) => {
  const v = document.createElement('video'); v.muted = true;
  v.srcObject = new MediaStream([rawCamera]); await v.play();
  const cv = new OffscreenCanvas(w, h); const g = cv.getContext('2d');
  g.drawImage(v, 0, 0, w, h);
  const img = g.getImageData(0, 0, w, h), luma = [];
  for (let y = 0; y < h; y += 4) for (let x = 0; x < w; x += 4) {
    const i = 4 * (y * w + x);
    luma.push(Math.round(0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2]));
  }
  v.srcObject = null;
  return luma;
}"""

INVERT_AND_PUBLISH_JS = """async () => {
  window.rawCamera = await c.devices.openCamera();
  window.processed = new sdk.ProcessedVideo(rawCamera, (frame) => {
    const cv = new OffscreenCanvas(frame.displayWidth, frame.displayHeight);
    const g = cv.getContext('2d'); g.filter = 'invert(1)'; g.drawImage(frame, 0, 0);
    return new VideoFrame(cv, {timestamp: frame.timestamp});
  });
  await c.publish('camera', {track: processed.track});
  const zoom = await c.devices.setZoom(2).then(() => 'zoomed', e => e.code);
  return zoom;
}"""


def correlation(a: list[int], b: list[int]) -> float:
    n = min(len(a), len(b))
    ma, mb = sum(a[:n]) / n, sum(b[:n]) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a[:n], b[:n], strict=True))
    va = sum((x - ma) ** 2 for x in a[:n])
    vb = sum((y - mb) ** 2 for y in b[:n])
    return cov / math.sqrt(va * vb) if va and vb else 0.0


async def test_a_pre_processing_hook_shows_in_the_remote_members_frames(new_page, ilvb_origin):
    room = "proc-" + uuid.uuid4().hex[:8]
    sender = await new_page(f"{ilvb_origin}/demo")
    viewer = await new_page(f"{ilvb_origin}/demo")
    await join(sender, "painter", room, receive=False)
    await join(viewer, "critic", room)
    zoom = await sender.evaluate(INVERT_AND_PUBLISH_JS)
    assert zoom == "unsupported_feature"  # Chromium's fake camera has no zoom control
    await viewer.evaluate("c.requestViews(['painter'], 'camera')")

    async def remote() -> dict[str, Any] | None:
        s = await sample(viewer, "painter")
        return s if s and s["width"] >= 320 and s["mean"] > 1 else None

    got = await poll(remote, within=20)
    raw = await sender.evaluate(RAW_LUMA_JS, [got["width"], got["height"]])
    r = correlation(got["luma"], raw)
    inverted = correlation(got["luma"], [255 - x for x in raw])
    mean_remote, mean_raw = sum(got["luma"]) / len(got["luma"]), sum(raw) / len(raw)
    print(f"remote vs raw camera: r = {r:.2f}, mean luma {mean_remote:.0f} vs raw {mean_raw:.0f}")
    # Measured: r -0.56 to -0.58 with the hook, +0.40 without; mean luma 152 against a raw 83
    # (inverted: 172). The remote frame is the inverted picture, not the camera's.
    assert r < -0.3 and inverted > 0.3, (r, inverted)
    assert abs(mean_remote - (255 - mean_raw)) < abs(mean_remote - mean_raw) / 2
    assert await sender.evaluate("processed.frames") > 10
    # frameStream(): the remote frames as VideoFrames
    frames = await viewer.evaluate(
        """async () => {
          const reader = c.remoteVideo('painter', 'camera').frameStream().getReader();
          const sizes = [];
          for (let i = 0; i < 3; i++) {
            const {value} = await reader.read(); sizes.push(value.displayWidth); value.close();
          }
          reader.cancel(); return sizes;
        }"""
    )
    assert frames == [got["width"]] * 3
