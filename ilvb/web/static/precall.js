// Pre-call test: microphone (level moves), speaker (a test tone is played and
// measured), camera (frames arrive and are not black). Each result is shown to the person and
// kept in window.precall.results for tests.
import { Devices, IlvbError } from "./ilvb.js";

/** @type {(id: string) => any} an element by id (form controls, media elements) */
const $ = (id) => document.getElementById(id);
const devices = new Devices();
/** @type {Record<string, {ok: boolean, text: string}>} */
const results = {};
/** @type {any} */ (window).precall = { devices, results, testMicrophone, testSpeaker, testCamera };

/** @param {string} name @param {boolean} ok @param {string} text */
function report(name, ok, text) {
  results[name] = { ok, text };
  const el = $(`${name}-result`);
  el.dataset.ok = String(ok);
  el.textContent = text;
}

/** @param {unknown} e */
function showError(e) {
  const err = e instanceof IlvbError ? e : new IlvbError("internal_error", String(e));
  $("error").textContent = `${err.message} (${err.code})`;
  $("error").hidden = false;
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** Open the chosen microphone for `ms` and report the loudest peak seen. */
async function testMicrophone(ms = 1500) {
  await devices.openMicrophone($("mic-select").value || undefined);
  let peak = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const level = devices.microphoneLevel();
    $("mic-level").value = level;
    peak = Math.max(peak, level);
    await sleep(20);
  }
  devices.closeMicrophone();
  const ok = peak > 0.01;
  report("mic", ok, ok ? `OK: peak level ${peak.toFixed(2)}` : "No sound from the microphone");
  return { ok, peak };
}

/** Play a 440 Hz tone on the chosen speaker for `ms` and measure what is played. */
async function testSpeaker(ms = 2000) {
  const ctx = devices.audioContext;
  const osc = ctx.createOscillator();
  osc.frequency.value = 440;
  const dest = ctx.createMediaStreamDestination();
  osc.connect(dest);
  osc.start();
  const stop = devices.play(dest.stream.getAudioTracks()[0]);
  let peak = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const level = devices.speakerLevel();
    $("speaker-level").value = level;
    peak = Math.max(peak, level);
    await sleep(20);
  }
  osc.stop();
  stop();
  const ok = peak > 0.05;
  report("speaker", ok, ok ? `Played: peak level ${peak.toFixed(2)}` : "Nothing was played");
  return { ok, peak };
}

/** Open the chosen camera and check that frames arrive and are not black. */
async function testCamera(ms = 1500) {
  const track = await devices.openCamera($("cam-select").value || undefined);
  const video = $("cam-preview");
  video.srcObject = new MediaStream([track]);
  await video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  const g = /** @type {CanvasRenderingContext2D} a new canvas always has one */ (
    canvas.getContext("2d", { willReadFrequently: true }));
  let frames = 0;
  let brightest = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      g.drawImage(video, 0, 0);
      const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
      let sum = 0;
      for (let i = 0; i < px.length; i += 4 * 97) sum += px[i] + px[i + 1] + px[i + 2];
      brightest = Math.max(brightest, sum / (px.length / (4 * 97)) / 3);
      frames++;
    }
    await sleep(100);
  }
  const ok = frames > 0 && brightest > 10;
  const s = track.getSettings();
  report("cam", ok, ok ? `OK: ${s.width}×${s.height} @ ${s.frameRate} fps` : "No picture from the camera");
  return { ok, frames, brightest, width: s.width, height: s.height };
}

async function fill() {
  for (const [id, type] of [["mic-select", "microphone"], ["speaker-select", "speaker"], ["cam-select", "camera"]]) {
    const list = await devices.list(/** @type {"microphone"|"camera"|"speaker"} */ (type));
    $(id).replaceChildren(...list.map((d) => new Option(d.name, d.id)));
  }
}

const guard = (/** @type {() => Promise<unknown>} */ fn) => async () => { $("error").hidden = true; try { await fn(); } catch (e) { showError(e); } };
$("mic-test").onclick = guard(() => testMicrophone());
$("speaker-test").onclick = guard(() => testSpeaker());
$("cam-test").onclick = guard(() => testCamera());
$("speaker-select").onchange = guard(() => devices.setSpeaker($("speaker-select").value));
devices.on("devicechange", () => fill());
fill().catch(showError);
