"""Devices in real Chromium: fake device lists, microphone volume and level, camera switching,
external audio/video, speaker level, and the pre-call test page."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

LOAD_SDK = """async () => {
  const sdk = await import('/sdk/ilvb.js');
  window.sdk = sdk;
  window.devices = new sdk.Devices();
  return Object.keys(sdk);
}"""

# The loudest peak of the microphone level seen over `ms` (sampled every 10 ms).
MIC_PEAK = """async (ms) => {
  let peak = 0; const end = performance.now() + ms;
  while (performance.now() < end) {
    peak = Math.max(peak, devices.microphoneLevel());
    await new Promise(r => setTimeout(r, 10));
  }
  return peak;
}"""


async def sdk_page(new_page, static_origin):
    page = await new_page(f"{static_origin}/sdk/precall.html")
    exports = await page.evaluate(LOAD_SDK)
    assert {"Client", "Devices", "IlvbError", "SCREEN_MODES"} <= set(exports)
    return page


async def test_device_lists_show_chromium_fake_devices(new_page, static_origin):
    page = await sdk_page(new_page, static_origin)
    # Labels are only visible once the page has media permission.
    await page.evaluate(
        "navigator.mediaDevices.getUserMedia({audio: true, video: true})"
        ".then(s => s.getTracks().forEach(t => t.stop()))"
    )
    info = await page.evaluate("""async () => ({
      mics: await devices.list('microphone'), cams: await devices.list('camera'),
      speakers: await devices.list('speaker'),
      counts: [await devices.count('microphone'), await devices.count('camera'),
               await devices.count('speaker')],
      all: (await devices.list()).length,
    })""")
    mic_names = [d["name"] for d in info["mics"]]
    cam_names = [d["name"] for d in info["cams"]]
    speaker_names = [d["name"] for d in info["speakers"]]
    assert "Fake Default Audio Input" in mic_names and "Fake Audio Input 1" in mic_names
    assert cam_names and all(n.startswith("fake_device_") for n in cam_names)
    assert "Fake Default Audio Output" in speaker_names
    assert info["counts"] == [len(mic_names), len(cam_names), len(speaker_names)]
    assert info["all"] == sum(info["counts"])
    assert all(d["type"] == "microphone" and d["id"] for d in info["mics"])
    assert not any(d["opened"] for d in info["mics"] + info["cams"])


async def test_microphone_volume_zero_gives_a_silent_level(new_page, static_origin):
    page = await sdk_page(new_page, static_origin)
    await page.evaluate("devices.openMicrophone()")
    # Chromium's fake microphone beeps (80 ms every 500 ms): at volume 1 the level rises.
    loud = await page.evaluate(MIC_PEAK, 1500)
    assert loud > 0.05, loud
    opened = await page.evaluate(
        "devices.list('microphone').then(l => l.filter(d => d.opened).length)"
    )
    assert opened == 1
    await page.evaluate("devices.microphoneVolume = 0")
    assert await page.evaluate("devices.microphoneVolume") == 0
    await page.wait_for_timeout(100)
    silent = await page.evaluate(MIC_PEAK, 1200)
    assert silent < 1e-4, silent
    # Half volume halves the peak (digital gain applied before sending).
    await page.evaluate("devices.microphoneVolume = 0.5")
    half = await page.evaluate(MIC_PEAK, 1200)
    assert 0.3 * loud < half < 0.7 * loud, (loud, half)
    err = await page.evaluate(
        "(() => { try { devices.microphoneVolume = 7; } catch (e) { return [e.name, e.code]; } })()"
    )
    assert err == ["IlvbError", "invalid_argument"]


async def test_opening_a_camera_closes_the_other_one(new_page, static_origin):
    page = await sdk_page(new_page, static_origin)
    states = await page.evaluate("""async () => {
      const first = await devices.openCamera();
      const second = await devices.openCamera();
      const s = second.getSettings();
      const canvas = document.createElement('canvas'); canvas.width = 320; canvas.height = 240;
      const ext = devices.openExternalVideo(canvas, 15);
      return {first: first.readyState, second: second.readyState, ext: ext.readyState,
              size: [s.width, s.height], cam: devices.cameraDeviceId,
              opened: (await devices.list('camera')).filter(d => d.opened).length};
    }""")
    assert states["first"] == "ended"
    assert states["size"] == [640, 480]
    assert states["second"] == "ended"  # external video replaced the camera
    assert states["ext"] == "live" and states["cam"] == "external"
    assert states["opened"] == 0


async def test_external_audio_is_sent_through_the_microphone_chain(new_page, static_origin):
    page = await sdk_page(new_page, static_origin)
    peak = await page.evaluate("""async () => {
      const ext = await devices.openExternalAudio({sampleRate: 48000});
      let peak = 0;
      for (let f = 0; f < 50; f++) {          // 50 frames of 20 ms: a 0.5 amplitude 440 Hz tone
        const frame = new Float32Array(960);
        for (let i = 0; i < 960; i++)
          frame[i] = 0.5 * Math.sin(2 * Math.PI * 440 * (f * 960 + i) / 48000);
        ext.push(frame);
        if (ext.queuedSeconds > 0.1) await new Promise(r => setTimeout(r, 15));
        peak = Math.max(peak, devices.microphoneLevel());
      }
      return peak;
    }""")
    assert 0.4 < peak <= 0.55, peak
    assert await page.evaluate("devices.microphoneTrack.readyState") == "live"


async def test_external_audio_works_under_the_servers_content_security_policy(
    new_page, ilvb_origin
):
    # The audio worklet is a module like any script: a blob: URL would be refused by
    # script-src 'self', so the SDK loads it from /sdk/.
    page = await new_page(f"{ilvb_origin}/precall", enforce_csp=True)
    refused: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    await page.wait_for_function("window.precall !== undefined")
    peak = await page.evaluate("""async () => {
      const devices = window.precall.devices;
      const ext = await devices.openExternalAudio({sampleRate: 48000});
      let peak = 0;
      for (let f = 0; f < 50; f++) {
        const frame = new Float32Array(960).fill(0.5);
        ext.push(frame);
        if (ext.queuedSeconds > 0.1) await new Promise(r => setTimeout(r, 15));
        peak = Math.max(peak, devices.microphoneLevel());
      }
      return peak;
    }""")
    assert refused == []
    assert 0.4 < peak <= 0.55, peak


async def test_precall_page_checks_microphone_speaker_and_camera(new_page, static_origin):
    page = await new_page(f"{static_origin}/precall")
    await page.wait_for_function("document.getElementById('mic-select').options.length > 0")
    mic = await page.evaluate("precall.testMicrophone(1500)")
    speaker = await page.evaluate("precall.testSpeaker(1000)")
    cam = await page.evaluate("precall.testCamera(1000)")
    assert mic["ok"] and mic["peak"] > 0.05, mic
    assert speaker["ok"] and speaker["peak"] > 0.5, speaker
    assert cam["ok"] and cam["frames"] > 3 and [cam["width"], cam["height"]] == [640, 480], cam
    assert await page.inner_text("#cam-result") == "OK: 640×480 @ 15 fps"


async def test_devicechange_reports_added_and_removed_devices(new_page, static_origin):
    page = await sdk_page(new_page, static_origin)
    # Chromium's fake devices cannot be unplugged: stand in for the OS by changing what
    # enumerateDevices returns, then fire the browser's devicechange event.
    change = await page.evaluate(
        """async () => {
          await devices.watch();
          const real = navigator.mediaDevices.enumerateDevices.bind(navigator.mediaDevices);
          const before = await real();
          const headset = {kind: 'audioinput', deviceId: 'usb-headset', label: 'USB Headset',
                           groupId: 'g1'};
          navigator.mediaDevices.enumerateDevices = async () =>
            [...before.filter(d => d.kind !== 'videoinput'), headset];
          const got = devices.once('devicechange');
          navigator.mediaDevices.dispatchEvent(new Event('devicechange'));
          const e = await got;
          return {added: e.added.map(d => [d.type, d.name]),
                  removed: e.removed.map(d => d.type),
                  mics: await devices.count('microphone'), cams: await devices.count('camera')};
        }"""
    )
    assert change["added"] == [["microphone", "USB Headset"]]
    assert change["removed"] and set(change["removed"]) == {"camera"}
    assert change["cams"] == 0 and change["mics"] >= 2


async def test_speaker_volume_zero_plays_silence(new_page, static_origin):
    page = await new_page(f"{static_origin}/precall")
    await page.wait_for_function("document.getElementById('speaker-select').options.length > 0")
    await page.evaluate("precall.devices.speakerVolume = 0")
    speaker = await page.evaluate("precall.testSpeaker(800)")
    assert not speaker["ok"] and speaker["peak"] < 1e-4, speaker
    assert await page.inner_text("#speaker-result") == "Nothing was played"


async def test_accompaniment_is_mixed_into_what_is_sent_with_its_own_volume(
    new_page, static_origin
):
    page = await sdk_page(new_page, static_origin)
    got = await page.evaluate(
        """async () => {
          // "Music": a steady 0.4-amplitude tone as an audio track.
          const music = new AudioContext();
          const osc = music.createOscillator(); const amp = music.createGain();
          amp.gain.value = 0.4; osc.connect(amp);
          const dest = music.createMediaStreamDestination(); amp.connect(dest); osc.start();
          const peak = async (fn) => { let p = 0;
            for (let i = 0; i < 40; i++) {
              p = Math.max(p, fn()); await new Promise(r => setTimeout(r, 10)); }
            return p; };
          const acc = devices.openAccompaniment(dest.stream.getAudioTracks()[0]);
          const sentTrack = devices.microphoneTrack.readyState;
          const full = [await peak(() => acc.level()), await peak(() => devices.sentLevel()),
                        await peak(() => devices.microphoneLevel())];
          acc.volume = 0.5;
          await new Promise(r => setTimeout(r, 100));  // let the analysers' window refill
          const half = [await peak(() => acc.level()), await peak(() => devices.sentLevel())];
          acc.close();
          return {full, half, sentTrack, after: devices.accompaniment};
        }"""
    )
    acc, sent, mic = got["full"]
    assert 0.3 < acc < 0.5 and 0.3 < sent < 0.5 and mic == 0, got
    assert 0.15 < got["half"][0] < 0.25 and 0.15 < got["half"][1] < 0.25, got
    assert got["sentTrack"] == "live" and got["after"] is None
